"""The one training loop every ``scripts/train_*.py`` uses: full batch or neighbour-sampled
mini-batches (PyG's ``NeighborLoader``), model selection on validation accuracy, optional early
stopping, tqdm progress, and an atomic checkpoint every epoch that ``--resume`` continues from."""

from __future__ import annotations

import copy
import math
import time
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, ClassVar, Dict, List, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.loader import NeighborLoader
from torch_geometric.sampler import NeighborSampler
from torch_geometric.utils import is_torch_sparse_tensor
from tqdm.auto import tqdm

from pyg_course.datasets import check_features
from pyg_course.train.checkpoint import pack, rng_state, set_rng_state, unpack
from pyg_course.utils.sparse import index_rows, to_csr

SPLITS = ("train", "val", "test")


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite: the run diverged (see :func:`check_loss`)."""


def check_loss(loss: float, epoch: int, lr: float) -> None:
    """Raise :class:`NonFiniteLossError` if the training ``loss`` of ``epoch`` (1-based) is NaN
    or infinite: every later epoch, and the model selected from them, would be meaningless."""
    if not math.isfinite(loss):
        raise NonFiniteLossError(f"the training loss is {loss} at epoch {epoch}: training "
                                 f"diverged; lower the learning rate (--lr, now {lr:g})")



#: The notice PyG gives whenever it builds a ``NeighborSampler`` without ``pyg-lib``. pyg-lib
#: publishes no wheels on PyPI, so the ``torch_sparse`` sampler is the one a pip installation
#: has, and the notice leaves a user nothing to act on; it is silenced around the two calls
#: below only, every other warning is left as it is.
_NO_PYG_LIB = "Using 'NeighborSampler' without a 'pyg-lib' installation is deprecated"


def neighbor_loader(data: Data, **kwargs) -> NeighborLoader:
    """``torch_geometric.loader.NeighborLoader(data, **kwargs)``, without PyG's pyg-lib notice."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_NO_PYG_LIB, category=UserWarning)
        return NeighborLoader(data, **kwargs)


def neighbor_sampler(data: Data, **kwargs) -> NeighborSampler:
    """``torch_geometric.sampler.NeighborSampler(data, **kwargs)``, without PyG's pyg-lib
    notice."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_NO_PYG_LIB, category=UserWarning)
        return NeighborSampler(data, **kwargs)


@dataclass
class TrainConfig:
    """Settings of one training run (the paper's GCN settings by default).

    Args:
        epochs: maximum number of epochs.
        lr, weight_decay: Adam's learning rate and L2 penalty.
        patience: stop when neither validation accuracy rose nor validation loss fell for this
            many epochs (GAT's criterion); ``None`` trains all epochs.
        mode: ``"full"`` (full-batch) or ``"minibatch"`` (``NeighborLoader``).
        num_neighbors: neighbours sampled per layer in mini-batch mode (``-1``: all).
        batch_size: seed nodes per mini-batch.
        eval_batch_size: nodes per batch of layer-wise inference (models with ``inference``).
        num_workers: ``NeighborLoader`` worker processes.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"`` or ``"auto"`` (CUDA when available).
        progress: show a tqdm bar.
        checkpoint_every: write the checkpoint every this many epochs (when a path is given).

    :attr:`RESUME_FREE` names the settings that say where and how visibly a run computes, not
    what: an interrupted run may resume with other values of them.
    """

    #: Settings that may differ between an interrupted run and its resumption.
    RESUME_FREE: ClassVar[tuple] = ("progress", "device", "num_workers", "eval_batch_size",
                                    "checkpoint_every")

    epochs: int = 200
    lr: float = 0.01
    weight_decay: float = 5e-4
    patience: Optional[int] = None
    mode: str = "full"
    num_neighbors: Sequence[int] = field(default_factory=lambda: [25, 10])
    batch_size: int = 512
    eval_batch_size: int = 4096
    num_workers: int = 0
    device: str = "auto"
    progress: bool = True
    checkpoint_every: int = 1

    def __post_init__(self):
        if self.mode not in ("full", "minibatch"):
            raise ValueError(f"mode must be 'full' or 'minibatch', got {self.mode!r}")
        for name in ("epochs", "batch_size", "eval_batch_size", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.patience is not None and self.patience < 1:
            raise ValueError(f"patience must be at least 1 (or None: off), got {self.patience}")
        if self.num_workers < 0:
            raise ValueError(f"num_workers must be at least 0, got {self.num_workers}")
        self.num_neighbors = [int(n) for n in self.num_neighbors]
        if any(n != -1 and n < 1 for n in self.num_neighbors):
            raise ValueError(f"num_neighbors must be -1 (all) or at least 1 per layer, got "
                             f"{self.num_neighbors}")

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)


def resolve_device(spec: str | torch.device) -> torch.device:
    """``"auto"`` -> CUDA if available else CPU; a CUDA request without CUDA is an error."""
    if str(spec) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(spec)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {spec!r} requested but CUDA is not available")
    return device


def prepare_features(model: torch.nn.Module, data: Data, max_density: float = 0.1) -> Data:
    """Store sparse bag-of-words features as a CSR matrix when ``model`` can use them
    (``model.supports_sparse_features``), so that dropout and the first product touch only
    the non-zeros. Features that are already ``torch.sparse`` become CSR (any layout), or
    dense for a model that cannot use them. Returns a shallow copy; ``data`` is left as it is."""
    check_features(data.x, "training data")
    if data.x is None:
        return data
    sparse_ok = getattr(model, "supports_sparse_features", False)
    if is_torch_sparse_tensor(data.x):
        if data.x.layout == torch.sparse_csr and sparse_ok:
            return data
        data = copy.copy(data)
        data.x = to_csr(data.x) if sparse_ok else data.x.to_dense()
        return data
    if not sparse_ok:
        return data
    density = float((data.x != 0).sum()) / max(data.x.numel(), 1)
    if density > max_density:
        return data
    data = copy.copy(data)
    data.x = to_csr(data.x)
    return data


def _accuracy(logits: Tensor, y: Tensor) -> float:
    return float((logits.argmax(-1) == y).float().mean()) if y.numel() else float("nan")


def cpu_copy(module: torch.nn.Module) -> Dict[str, Tensor]:
    """A detached copy of ``module``'s ``state_dict`` on the CPU (a run's saved weights)."""
    return {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}


class RunTrainer:
    """The interface :func:`~pyg_course.train.run_experiment` drives: one run of one seed.

    A subclass is built as ``cls(model, data, config)`` and provides :attr:`kind` (recorded in
    the checkpoint: a resume refuses a checkpoint of another kind), :meth:`fit`,
    :meth:`state_dict` / :meth:`load_state_dict` (everything a resumed run needs, RNG
    included) and :attr:`best_state` (the weights saved as ``model.pt``). :meth:`describe` and
    :meth:`summary_keys` say what the runner prints and averages.
    """

    kind = "supervised"

    def fit(self, checkpoint: Optional[Callable[[Dict[str, Any]], None]] = None,
            desc: str = "train") -> Dict[str, Any]:
        """Train (continuing from :meth:`load_state_dict`'s state), calling ``checkpoint`` with
        :meth:`state_dict` after epochs; return the run's result with its ``history``."""
        raise NotImplementedError

    def state_dict(self) -> Dict[str, Any]:
        raise NotImplementedError

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        raise NotImplementedError

    @staticmethod
    def describe(result: Dict[str, Any]) -> str:
        """One line on a finished run's ``result`` (what :meth:`fit` returned)."""
        return (f"test {100 * result['test_acc']:.2f} at best val {100 * result['val_acc']:.2f} "
                f"(epoch {result['best_epoch']})")

    @staticmethod
    def summary_keys(result: Dict[str, Any]) -> List[str]:
        """The numbers of a result that the runner reports as mean ± std over the runs."""
        return ["test_acc", "val_acc", "train_acc"]


class Trainer(RunTrainer):
    """Trains ``model`` on the node-classification graph ``data`` (``x``, ``edge_index``, ``y``
    and ``train_mask``/``val_mask``/``test_mask``).

    ``model(x, edge_index)`` must return per-node logits. In mini-batch mode a model with
    ``inference(loader, device)`` (layer-wise inference, e.g. GraphSAGE) is evaluated with it;
    otherwise evaluation is one full-batch forward pass.

    A :class:`RunTrainer`, as :class:`~pyg_course.train.unsupervised.UnsupervisedTrainer` and
    :class:`~pyg_course.train.deepwalk.DeepWalkTrainer` are.
    """

    def __init__(self, model: torch.nn.Module, data: Data, config: TrainConfig,
                 optimizer: Optional[torch.optim.Optimizer] = None,
                 loss_fn: Callable[[Tensor, Tensor], Tensor] = F.cross_entropy):
        for split in SPLITS:
            if getattr(data, f"{split}_mask", None) is None:
                raise ValueError(f"training data has no {split}_mask")
        self.config = config
        self.device = resolve_device(config.device)
        self.model = model.to(self.device)
        self.loss_fn = loss_fn
        self.optimizer = optimizer or torch.optim.Adam(
            model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        self.data = prepare_features(model, data)
        # Sparse features in mini-batch mode: NeighborLoader cannot slice a CSR matrix, so the
        # loaders sample a copy of the graph without them and each batch gathers its rows
        # (``index_rows``); the first layer then costs the batch's non-zeros only.
        self.features: Optional[Tensor] = None
        self.loader_data = self.data
        if config.mode == "minibatch" and is_torch_sparse_tensor(self.data.x):
            self.features = self.data.x
            self.loader_data = copy.copy(self.data)
            self.loader_data.num_nodes = self.data.num_nodes
            del self.loader_data.x
        self.epoch = 0
        self.history: List[Dict[str, float]] = []
        self.best: Dict[str, float] = {"val_acc": -1.0, "val_loss": math.inf, "epoch": -1}
        self.best_state: Optional[Dict[str, Tensor]] = None
        self.bad_epochs = 0
        self._min_val_loss = math.inf

        # The module the training step calls: the model itself, or a wrapper of it (e.g.
        # DistributedDataParallel) that shares its parameters.
        self.train_module: torch.nn.Module = self.model
        if config.mode == "full":
            self.data_device = self.data.to(self.device)
        else:
            self.train_loader = self._make_train_loader()
            self.data_device = None
            if hasattr(model, "inference"):
                self.eval_loader = neighbor_loader(
                    self.loader_data, num_neighbors=[-1], batch_size=config.eval_batch_size,
                    shuffle=False, num_workers=config.num_workers)

    def _make_train_loader(self):
        """The mini-batch loader over the training nodes.

        Its randomness (the shuffle, each worker's seed, and the neighbour sampling of
        ``torch_sparse``, which draws from torch's global generator) all comes from torch's
        global RNG, which the checkpoint saves; workers are not persistent, so that every
        epoch's workers are seeded afresh from that RNG and a resumed run samples exactly
        the mini-batches of an uninterrupted one.
        """
        cfg = self.config
        return neighbor_loader(
            self.loader_data, num_neighbors=cfg.num_neighbors, batch_size=cfg.batch_size,
            input_nodes=self.data.train_mask, shuffle=True, num_workers=cfg.num_workers)

    # ------------------------------------------------------------------ steps
    def train_epoch(self) -> float:
        """One epoch of training; returns the mean training loss."""
        self.train_module.train()
        if self.config.mode == "full":
            d = self.data_device
            self.optimizer.zero_grad()
            out = self.train_module(d.x, d.edge_index)
            nodes = self._full_batch_train_nodes()
            loss = self.loss_fn(out[nodes], d.y[nodes])
            loss.backward()
            self.optimizer.step()
            return float(loss.detach())
        total, count = 0.0, 0
        for batch in self.train_loader:
            x = self.batch_features(batch).to(self.device)
            batch = batch.to(self.device)
            self.optimizer.zero_grad()
            out = self.train_module(x, batch.edge_index)[: batch.batch_size]
            loss = self.loss_fn(out, batch.y[: batch.batch_size])
            loss.backward()
            self.optimizer.step()
            total += float(loss.detach()) * batch.batch_size
            count += batch.batch_size
        return total / max(count, 1)

    def batch_features(self, batch: Data) -> Tensor:
        """A mini-batch's node features: ``batch.x``, or the rows of the sparse features."""
        return batch.x if self.features is None else index_rows(self.features, batch.n_id)

    def _full_batch_train_nodes(self) -> Tensor:
        """The nodes whose loss a full-batch step averages (all training nodes here; one
        rank's shard in distributed training)."""
        return self.data_device.train_mask

    @torch.no_grad()
    def predict(self) -> Tensor:
        """Logits for every node (evaluation mode)."""
        self.model.eval()
        if self.config.mode == "minibatch" and hasattr(self.model, "inference"):
            extra = {} if self.features is None else {"x": self.features}
            return self.model.inference(self.eval_loader, self.device, **extra)
        d = self.data_device if self.data_device is not None else self.data.to(self.device)
        return self.model(d.x, d.edge_index)

    @torch.no_grad()
    def evaluate(self) -> Dict[str, float]:
        """Loss and accuracy on the train, validation and test masks."""
        logits = self.predict().float().cpu()
        y = self.data.y.cpu()
        metrics = {}
        for split in SPLITS:
            mask = getattr(self.data, f"{split}_mask").cpu()
            metrics[f"{split}_acc"] = _accuracy(logits[mask], y[mask])
            metrics[f"{split}_loss"] = float(self.loss_fn(logits[mask], y[mask]))
        return metrics

    # ------------------------------------------------------------------ state
    def state_dict(self) -> Dict[str, Any]:
        return {
            "epoch": self.epoch,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "history": pack(self.history),
            "best": self.best,
            "best_state": self.best_state,
            "bad_epochs": self.bad_epochs,
            "min_val_loss": self._min_val_loss,
            "rng": rng_state(),
        }

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.epoch = state["epoch"]
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.history = unpack(state["history"])
        self.best = state["best"]
        self.best_state = state["best_state"]
        self.bad_epochs = state["bad_epochs"]
        self._min_val_loss = state["min_val_loss"]
        set_rng_state(state["rng"])

    # ------------------------------------------------------------------ loop
    def _record(self, metrics: Dict[str, float]) -> bool:
        """Update the best epoch and the early-stopping counter; True if training should stop."""
        best = self.best
        better = metrics["val_acc"] > best["val_acc"] or (
            metrics["val_acc"] == best["val_acc"] and metrics["val_loss"] < best["val_loss"])
        if better:
            self.best = {"epoch": self.epoch, **metrics}
            self.best_state = cpu_copy(self.model)
        improved = better or metrics["val_loss"] < self._min_val_loss
        self._min_val_loss = min(self._min_val_loss, metrics["val_loss"])
        self.bad_epochs = 0 if improved else self.bad_epochs + 1
        return self.config.patience is not None and self.bad_epochs >= self.config.patience

    def fit(self, checkpoint: Optional[Callable[[Dict[str, Any]], None]] = None,
            desc: str = "train") -> Dict[str, Any]:
        """Train until ``config.epochs`` or early stopping.

        Args:
            checkpoint: called with :meth:`state_dict` every ``checkpoint_every`` epochs
                (e.g. to :func:`~pyg_course.train.checkpoint.save_atomic` it).
            desc: label of the progress bar.

        Returns:
            ``{"best_epoch", "val_acc", "test_acc", "train_acc", "epochs_run", "history"}``:
            the accuracies are those of the epoch with the best validation accuracy.
        """
        cfg = self.config
        bar = tqdm(total=cfg.epochs, initial=self.epoch, desc=desc, disable=not cfg.progress,
                   leave=False, dynamic_ncols=True)
        stop = self.bad_epochs >= cfg.patience if cfg.patience is not None else False
        while self.epoch < cfg.epochs and not stop:
            start = time.perf_counter()
            loss = self.train_epoch()
            check_loss(loss, self.epoch + 1, self.optimizer.param_groups[0]["lr"])
            metrics = self.evaluate()
            metrics["loss"] = loss
            metrics["time"] = time.perf_counter() - start
            self.epoch += 1
            metrics["epoch"] = self.epoch
            self.history.append(metrics)
            stop = self._record(metrics)
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.3f}", val=f"{metrics['val_acc']:.3f}",
                            test=f"{self.best['test_acc']:.3f}")
            if checkpoint is not None and (self.epoch % cfg.checkpoint_every == 0 or stop
                                           or self.epoch == cfg.epochs):
                checkpoint(self.state_dict())
        bar.close()
        return {
            "best_epoch": self.best["epoch"],
            "val_acc": self.best["val_acc"],
            "test_acc": self.best["test_acc"],
            "train_acc": self.best["train_acc"],
            "epochs_run": self.epoch,
            "history": self.history,
        }

