"""The shared training loop: full batch or NeighborLoader mini-batches, checkpoints, seeds;
DeepWalk's own loops (:func:`train_deepwalk`)."""

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
    TrainConfig,
    Trainer,
    prepare_features,
    resolve_device,
)

__all__ = [
    "CheckpointError",
    "CheckpointWriter",
    "NonFiniteLossError",
    "TrainConfig",
    "Trainer",
    "load_checkpoint",
    "prepare_features",
    "resolve_device",
    "run_experiment",
    "save_atomic",
    "train_deepwalk",
]
