"""The shared training loop: full batch or NeighborLoader mini-batches, checkpoints, seeds."""

from pyg_course.train.checkpoint import (
    CheckpointError,
    CheckpointWriter,
    load_checkpoint,
    save_atomic,
)
from pyg_course.train.experiment import mean_std, run_experiment
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
    "mean_std",
    "prepare_features",
    "resolve_device",
    "run_experiment",
    "save_atomic",
]
