"""The one training loop every ``scripts/train_*.py`` uses: full batch or neighbour-sampled
mini-batches (PyG's ``NeighborLoader``), model selection on validation accuracy, optional early
stopping, tqdm progress, and an atomic checkpoint every epoch that ``--resume`` continues from."""

from __future__ import annotations

import copy
import inspect
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
from torch_geometric.nn import GCNConv as PyGGCNConv
from torch_geometric.nn.models.basic_gnn import BasicGNN
from torch_geometric.sampler import BaseSampler
from torch_geometric.sampler import NeighborSampler as PyGNeighborSampler
from torch_geometric.utils import is_torch_sparse_tensor
from tqdm.auto import tqdm

from pyg_course.datasets import check_features
from pyg_course.nn.conv import GCNConv
from pyg_course.sampling import NeighborSampler
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



#: The neighbour samplers a mini-batch run can use: ours (:class:`~pyg_course.sampling.
#: NeighborSampler`, vectorised torch on the graph's device, seeded by its own generator) and
#: PyG's own (``torch_sparse``'s, on the CPU, drawing from torch's global generator).
SAMPLERS = ("pyg_course", "pyg")

#: The notice PyG gives whenever it builds a ``NeighborSampler`` without ``pyg-lib``. pyg-lib
#: publishes no wheels on PyPI, so the ``torch_sparse`` sampler is the one a pip installation
#: has, and the notice leaves a user nothing to act on; it is silenced around the one call
#: below only, every other warning is left as it is.
_NO_PYG_LIB = "Using 'NeighborSampler' without a 'pyg-lib' installation is deprecated"


def make_sampler(data: Data, num_neighbors: Sequence[int], kind: str = "pyg_course",
                 share_memory: bool = False, seed: Optional[int] = None) -> BaseSampler:
    """The neighbour sampler of ``kind`` (one of :data:`SAMPLERS`) over ``data``, for
    ``NeighborLoader(..., neighbor_sampler=...)``. Ours is seeded with ``seed``, by default
    from torch's global generator when built; PyG's draws from that generator at every batch
    (``seed`` is not used)."""
    if kind == "pyg":
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_NO_PYG_LIB, category=UserWarning)
            return PyGNeighborSampler(data, num_neighbors=list(num_neighbors),
                                      share_memory=share_memory)
    if kind != "pyg_course":
        raise ValueError(f"sampler must be one of {', '.join(SAMPLERS)}, got {kind!r}")
    return NeighborSampler(data, list(num_neighbors), seed=seed)


def neighbor_loader(data: Data, num_neighbors: Sequence[int], kind: str = "pyg_course",
                    seed: Optional[int] = None, graph_of: Optional[BaseSampler] = None,
                    **kwargs) -> NeighborLoader:
    """``torch_geometric.loader.NeighborLoader(data, num_neighbors, **kwargs)`` drawing its
    subgraphs with :func:`make_sampler`'s sampler of ``kind`` (and ``seed``). ``graph_of``:
    a sampler of ours already built over ``data`` (another loader's ``node_sampler``), whose
    converted graph the new sampler shares (:meth:`NeighborSampler.sibling`) instead of
    converting ``data`` again."""
    if kind == "pyg_course" and isinstance(graph_of, NeighborSampler):
        node_sampler = graph_of.sibling(num_neighbors, seed=seed)
    else:
        node_sampler = make_sampler(data, num_neighbors, kind,
                                    share_memory=kwargs.get("num_workers", 0) > 0, seed=seed)
    return NeighborLoader(data, num_neighbors=list(num_neighbors), neighbor_sampler=node_sampler,
                          **kwargs)


def sampling_data(data: Data, config: TrainConfig, device: torch.device) -> Data:
    """The graph the mini-batch loaders sample from: ``data`` itself, or for our sampler on a
    GPU without worker processes (which cannot use CUDA) a copy moved there once, so that
    batches are drawn and gathered on the GPU."""
    if config.sampler == "pyg_course" and device.type == "cuda" and config.num_workers == 0:
        return data.to(device)
    return data


def trims_exactly(model: torch.nn.Module) -> bool:
    """Whether ``model`` takes ``num_sampled_nodes_per_hop`` / ``num_sampled_edges_per_hop``
    (its ``forward`` names them, or it is one of PyG's ``BasicGNN`` models, as ours are, whose
    ``forward`` passes ``**kwargs`` on) and gives the seeds the same outputs with them. Not a
    model with a GCN-normalised convolution: an edge's weight there depends on its source's
    degree, and trimming a layer's input drops edges into the sources."""
    params = inspect.signature(model.forward).parameters
    takes = "num_sampled_nodes_per_hop" in params or (
        isinstance(model, BasicGNN) and any(p.kind == p.VAR_KEYWORD for p in params.values()))
    return takes and not any(isinstance(m, (GCNConv, PyGGCNConv)) and m.normalize
                             for m in model.modules())


def sampler_state(sampler: Any) -> Optional[Tensor]:
    """The generator state of our ``sampler`` (a loader's ``node_sampler``); ``None`` for
    PyG's, whose draws come from torch's global generator, which checkpoints save anyway."""
    return sampler.get_state() if isinstance(sampler, NeighborSampler) else None


def set_sampler_state(sampler: Any, state: Optional[Tensor]) -> None:
    """Restore :func:`sampler_state`'s state (nothing for ``None``)."""
    if state is not None:
        sampler.set_state(state)


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
        sampler: the mini-batch neighbour sampler, one of :data:`SAMPLERS`: ``"pyg_course"``
            (ours; on CUDA it samples on the GPU when ``num_workers`` is 0) or ``"pyg"``.
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
    sampler: str = "pyg_course"
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
        if self.sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {', '.join(SAMPLERS)}, got "
                             f"{self.sampler!r}")
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
        if config.mode == "minibatch":
            self.loader_data = sampling_data(self.loader_data, config, self.device)
        # Trimming (each layer computes only the nodes the next one needs) takes the per-hop
        # counts that our sampler gives, for models with as many layers as sampled hops.
        self.trim = (config.mode == "minibatch"
                     and getattr(model, "num_layers", None) == len(config.num_neighbors)
                     and trims_exactly(model))
        self.epoch = 0
        self.history: List[Dict[str, float]] = []
        self.best: Dict[str, float] = {"val_acc": -1.0, "val_loss": math.inf, "epoch": -1}
        self.best_state: Optional[Dict[str, Tensor]] = None
        self.bad_epochs = 0
        self._min_val_loss = math.inf

        # The module the training step calls: the model itself, or a wrapper of it (e.g.
        # DistributedDataParallel) that shares its parameters.
        self.train_module: torch.nn.Module = self.model
        self.train_loader: Optional[NeighborLoader] = None
        #: The training loader's neighbour sampler (``None`` in full-batch mode).
        self.node_sampler: Optional[BaseSampler] = None
        if config.mode == "full":
            self.data_device = self.data.to(self.device)
        else:
            self.train_loader = self._make_train_loader()
            self.node_sampler = self.train_loader.node_sampler
            self.data_device = None
            if hasattr(model, "inference"):
                self.eval_loader = neighbor_loader(
                    self.loader_data, [-1], config.sampler, graph_of=self.node_sampler,
                    batch_size=config.eval_batch_size, shuffle=False,
                    num_workers=config.num_workers)

    def _make_train_loader(self):
        """The mini-batch loader over the training nodes.

        Its randomness is the shuffle and each epoch's worker seeds (from torch's global RNG)
        and the sampler's draws: our sampler's own generator, seeded from the global RNG when
        built and re-seeded in each worker from the worker's seed, or, for PyG's sampler,
        torch's global RNG itself. The checkpoint saves both generators; workers are not
        persistent, so every epoch's workers are seeded afresh and a resumed run samples exactly
        the mini-batches of an uninterrupted one.
        """
        cfg = self.config
        return neighbor_loader(
            self.loader_data, cfg.num_neighbors, cfg.sampler, batch_size=cfg.batch_size,
            input_nodes=self.data.train_mask.to(self.loader_data.edge_index.device),
            shuffle=True, num_workers=cfg.num_workers)

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
            trim = {}
            if self.trim and getattr(batch, "num_sampled_nodes", None) is not None:
                trim = dict(num_sampled_nodes_per_hop=batch.num_sampled_nodes,
                            num_sampled_edges_per_hop=batch.num_sampled_edges)
            out = self.train_module(x, batch.edge_index, **trim)[: batch.batch_size]
            loss = self.loss_fn(out, batch.y[: batch.batch_size])
            loss.backward()
            self.optimizer.step()
            total += float(loss.detach()) * batch.batch_size
            count += batch.batch_size
        return total / max(count, 1)

    def batch_features(self, batch: Data) -> Tensor:
        """A mini-batch's node features: ``batch.x``, or the rows of the sparse features."""
        if self.features is None:
            return batch.x
        return index_rows(self.features, batch.n_id.to(self.features.device))

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
            "sampler_rng": sampler_state(self.node_sampler),
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
        set_sampler_state(self.node_sampler, state.get("sampler_rng"))

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

