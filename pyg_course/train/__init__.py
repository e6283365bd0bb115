"""Training: one experiment runner (:func:`run_experiment`: seeds, results files, atomic
checkpoints, resume) over trainers with one interface (:class:`RunTrainer`): supervised
(:class:`Trainer`, full batch or NeighborLoader mini-batches), unsupervised GraphSAGE
(:class:`~pyg_course.train.unsupervised.UnsupervisedTrainer`) and DeepWalk
(:class:`~pyg_course.train.deepwalk.DeepWalkTrainer`, around :func:`train_deepwalk`)."""

from pyg_course.train.checkpoint import (
    CheckpointError,
    CheckpointWriter,
    load_checkpoint,
    save_atomic,
)
from pyg_course.train.deepwalk import train_deepwalk
from pyg_course.train.experiment import run_experiment
from pyg_course.train.loop import (
    NonFiniteLossError,
    RunTrainer,
    TrainConfig,
    Trainer,
    prepare_features,
    resolve_device,
)

__all__ = [
    "CheckpointError",
    "CheckpointWriter",
    "NonFiniteLossError",
    "RunTrainer",
    "TrainConfig",
    "Trainer",
    "load_checkpoint",
    "prepare_features",
    "resolve_device",
    "run_experiment",
    "save_atomic",
    "train_deepwalk",
]
