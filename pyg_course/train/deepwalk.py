r"""Training loops of :class:`~pyg_course.nn.models.DeepWalk`: word2vec's SGD
(:meth:`~pyg_course.nn.models.DeepWalk.sgd_step` with a linearly decayed learning rate, optionally
several passes over each epoch's walks) and DGL's documented ``SparseAdam`` loop;
:class:`DeepWalkTrainer` runs them under :func:`~pyg_course.train.run_experiment` (several
seeds, results files, resumable per epoch) and scores the embeddings with
:func:`~pyg_course.metrics.evaluate_node_embeddings`."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Dict, List, Optional

import torch
from torch import Tensor
from torch_geometric.data import Data
from tqdm.auto import tqdm

from pyg_course.metrics import evaluate_node_embeddings
from pyg_course.nn.models.deepwalk import DeepWalk
from pyg_course.train.checkpoint import rng_state, set_rng_state
from pyg_course.train.loop import RunTrainer, TrainConfig, check_loss, cpu_copy
from pyg_course.utils.checks import check_int, check_real


def train_deepwalk(model: DeepWalk, epochs: int = 1, lr: Optional[float] = None,
                   batch_size: Optional[int] = None, progress: bool = False,
                   num_workers: int = 0, optimizer: str = "sgd",
                   min_lr_ratio: float = 1e-4, passes: int = 1) -> list:
    r"""Train ``model``; every epoch starts ``walks_per_node`` walks from every node.

    * ``optimizer="sgd"`` (default): word2vec's recipe,
      :meth:`~pyg_course.nn.models.DeepWalk.sgd_step` (sparse per-pair SGD on the summed loss)
      with the learning rate decayed linearly from ``lr`` (default ``0.025``, word2vec's) to
      ``lr * min_lr_ratio`` over all steps; batches of ``batch_size`` walks (default ``32``:
      larger batches sum more occurrences of a hub into one step). Walks are drawn for many
      batches at once. ``passes > 1`` trains on each epoch's walks that many times, in a new
      order each time (gensim's ``epochs`` over a fixed corpus of walks): the epoch's walks are
      then held in memory, ``|V|`` x ``walks_per_node`` x ``walk_length`` node ids.
    * ``optimizer="adam"``: DGL's documented loop: :meth:`~pyg_course.nn.models.DeepWalk.loader`
      batches (default ``128``), the mean loss of
      :meth:`~pyg_course.nn.models.DeepWalk.forward`, :class:`~torch.optim.SparseAdam`
      (:class:`~torch.optim.Adam` when ``sparse=False``), ``lr`` default ``0.01``.

    ``epochs`` is an int ``>= 0``, ``batch_size`` an int ``>= 1``, ``lr`` finite and ``> 0``,
    ``min_lr_ratio`` in ``[0, 1]``; anything else is a ``ValueError`` (``TypeError`` for a
    non-number) before any training. Returns the mean loss of every epoch (per weighted pair
    for ``"sgd"``).
    """
    loop = deepwalk_loop(model, epochs, lr, batch_size, progress, num_workers, optimizer,
                         min_lr_ratio, passes)
    return [loop.epoch() for _ in range(loop.epochs)]


def deepwalk_loop(model: DeepWalk, epochs: int = 1, lr: Optional[float] = None,
                  batch_size: Optional[int] = None, progress: bool = False,
                  num_workers: int = 0, optimizer: str = "sgd", min_lr_ratio: float = 1e-4,
                  passes: int = 1):
    """The loop :func:`train_deepwalk` runs (same arguments, checked the same way), one
    :meth:`epoch` at a time, with ``state_dict`` / ``load_state_dict`` to resume it."""
    where = "train_deepwalk"
    if optimizer not in ("sgd", "adam"):
        raise ValueError(f"{where}: optimizer must be 'sgd' or 'adam', got {optimizer!r}")
    if isinstance(passes, bool) or int(passes) != passes or passes < 1:
        raise ValueError(f"{where}: passes must be an integer >= 1, got {passes}")
    epochs = check_int(where, "epochs", epochs, 0)
    if batch_size is not None:
        batch_size = check_int(where, "batch_size", batch_size)
    if lr is not None:
        check_real(where, "lr", lr, 0.0, include_low=False)
    check_real(where, "min_lr_ratio", min_lr_ratio, 0.0, 1.0, include_high=True)
    if optimizer == "adam":
        if passes != 1:
            raise ValueError("train_deepwalk: passes applies to optimizer='sgd' only")
        return _AdamLoop(model, epochs, 0.01 if lr is None else lr,
                         128 if batch_size is None else batch_size, progress, num_workers)
    return _SGDLoop(model, epochs, 0.025 if lr is None else float(lr),
                    32 if batch_size is None else int(batch_size), progress, min_lr_ratio,
                    passes)


class _SGDLoop:
    """word2vec's SGD: the learning rate decays linearly over the steps of all epochs."""

    def __init__(self, model: DeepWalk, epochs: int, lr: float, batch_size: int,
                 progress: bool, min_lr_ratio: float, passes: int):
        self.model, self.epochs, self.lr, self.batch_size = model, epochs, lr, batch_size
        self.progress, self.min_lr_ratio, self.passes = progress, min_lr_ratio, passes
        self.starts = torch.arange(model.num_nodes, device=model.device).repeat(
            model.walks_per_node)
        self.num_batches = -(-self.starts.numel() // batch_size)
        self.total_steps = max(epochs * passes * self.num_batches, 1)
        self.chunk = batch_size * max(1, 8192 // batch_size)  # walks sampled per call
        self.done, self.step = 0, 0

    def epoch(self) -> float:
        """Train one epoch; returns its mean loss per weighted pair."""
        self.model.train()
        order = self.starts[torch.randperm(self.starts.numel(), device=self.starts.device)]
        total, count = 0.0, 0
        bar = tqdm(total=self.num_batches * self.passes,
                   desc=f"DeepWalk epoch {self.done + 1}/{self.epochs}",
                   disable=not self.progress, leave=False)
        for walks in _walk_chunks(self.model, order, self.chunk, self.passes):
            for b0 in range(0, walks.size(0), self.batch_size):
                rate = self.lr * max(1.0 - self.step / self.total_steps, self.min_lr_ratio)
                loss = self.model.sgd_step(walks[b0:b0 + self.batch_size], rate)
                self.step += 1
                n = min(self.batch_size, walks.size(0) - b0)
                total += float(loss) * n
                count += n
                bar.update(1)
            bar.set_postfix(loss=f"{total / max(count, 1):.4f}")
        bar.close()
        self.done += 1
        return total / max(count, 1)

    def state_dict(self) -> Dict[str, Any]:
        return {"done": self.done, "step": self.step}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.done, self.step = state["done"], state["step"]


def _walk_chunks(model: DeepWalk, order: Tensor, chunk: int, passes: int):
    """Walks from the start nodes ``order``, ``chunk`` at a time; with ``passes > 1`` all of
    them at once, then handed out ``passes`` times, reshuffled after the first."""
    if passes == 1:
        for c0 in range(0, order.numel(), chunk):
            yield model.sample(order[c0:c0 + chunk])
        return
    corpus = torch.cat([model.sample(order[c0:c0 + chunk])
                        for c0 in range(0, order.numel(), chunk)])
    for p in range(passes):
        perm = torch.randperm(corpus.size(0), device=corpus.device) if p else None
        for c0 in range(0, corpus.size(0), chunk):
            yield corpus[c0:c0 + chunk] if perm is None else corpus[perm[c0:c0 + chunk]]


class _AdamLoop:
    """DGL's documented loop: the mean loss of ``model(batch_walk)``, ``SparseAdam``."""

    def __init__(self, model: DeepWalk, epochs: int, lr: float, batch_size: int,
                 progress: bool, num_workers: int):
        self.model, self.epochs, self.lr, self.progress = model, epochs, lr, progress
        params = list(model.parameters())
        self.optimizer = (torch.optim.SparseAdam(params, lr=lr) if model.sparse
                          else torch.optim.Adam(params, lr=lr))
        self.loader = model.loader(batch_size=batch_size, num_workers=num_workers)
        self.done = 0

    def epoch(self) -> float:
        """Train one epoch; returns its mean loss per walk."""
        self.model.train()
        total, count = 0.0, 0
        bar = tqdm(self.loader, desc=f"DeepWalk epoch {self.done + 1}/{self.epochs}",
                   disable=not self.progress, leave=False)
        for batch_walk in bar:
            loss = self.model(batch_walk)
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
            total += loss.item() * batch_walk.size(0)
            count += batch_walk.size(0)
            bar.set_postfix(loss=f"{total / count:.4f}")
        self.done += 1
        return total / max(count, 1)

    def state_dict(self) -> Dict[str, Any]:
        return {"done": self.done, "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.done = state["done"]
        self.optimizer.load_state_dict(state["optimizer"])


@dataclass
class DeepWalkConfig:
    """Settings of a DeepWalk run under :func:`~pyg_course.train.run_experiment`: the
    arguments of :func:`train_deepwalk` and of the evaluation
    (:func:`~pyg_course.metrics.evaluate_node_embeddings` of ``data[label]``, ``repeats``
    random splits per training ratio for multi-label graphs)."""

    #: Settings that may differ between an interrupted run and its resumption: those of
    #: :attr:`TrainConfig.RESUME_FREE <pyg_course.train.TrainConfig.RESUME_FREE>`.
    RESUME_FREE: ClassVar[tuple] = TrainConfig.RESUME_FREE

    epochs: int = 1
    lr: Optional[float] = None
    batch_size: Optional[int] = None
    optimizer: str = "sgd"
    passes: int = 1
    min_lr_ratio: float = 1e-4
    label: str = "y"
    repeats: int = 10
    num_workers: int = 0
    device: str = "auto"
    progress: bool = True

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)


class DeepWalkTrainer(RunTrainer):
    """Trains a :class:`~pyg_course.nn.models.DeepWalk` (built on ``data``) with the loop of
    :func:`train_deepwalk`, then scores its embeddings; the interface of
    :class:`~pyg_course.train.Trainer` that :func:`~pyg_course.train.run_experiment` drives.

    The result of :meth:`fit` holds ``evaluation`` (what
    :func:`~pyg_course.metrics.evaluate_node_embeddings` returned), ``losses`` (one per
    epoch), ``train_time_s``, and the scores as numbers: ``test_acc`` for a single-label probe,
    ``micro@R`` and ``macro@R`` (F1 at R % of the nodes for training) for a multi-label graph.

    Args:
        model: the DeepWalk module (on the device it trains on).
        data: the graph with its labels.
        config: a :class:`DeepWalkConfig`.
        seed: seed of the evaluation's splits and classifiers (default: torch's initial seed,
            i.e. the run's seed under :func:`~pyg_course.train.run_experiment`).
    """

    kind = "deepwalk"

    def __init__(self, model: DeepWalk, data: Data, config: DeepWalkConfig,
                 seed: Optional[int] = None):
        self.model, self.data, self.config = model, data, config
        self.seed = torch.initial_seed() if seed is None else seed
        self.loop = deepwalk_loop(model, config.epochs, config.lr, config.batch_size,
                                  config.progress, config.num_workers, config.optimizer,
                                  config.min_lr_ratio, config.passes)
        self.history: List[Dict[str, float]] = []

    def state_dict(self) -> Dict[str, Any]:
        return {"model": self.model.state_dict(), "loop": self.loop.state_dict(),
                "history": list(self.history), "rng": rng_state()}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.loop.load_state_dict(state["loop"])
        self.history = list(state["history"])
        set_rng_state(state["rng"])

    @property
    def best_state(self) -> Dict[str, Tensor]:
        """The trained module's weights (the embeddings among them), on the CPU."""
        return cpu_copy(self.model)

    def fit(self, checkpoint=None, desc: str = "DeepWalk") -> Dict[str, Any]:
        """Train the remaining epochs (``checkpoint`` is called with :meth:`state_dict` after
        each), then evaluate the embeddings."""
        while self.loop.done < self.loop.epochs:
            start = time.perf_counter()
            loss = self.loop.epoch()
            check_loss(loss, self.loop.done, self.loop.lr)
            self.history.append({"epoch": self.loop.done, "loss": loss,
                                 "time": time.perf_counter() - start})
            if checkpoint is not None:
                checkpoint(self.state_dict())
        evaluation = evaluate_node_embeddings(self.model.embedding().cpu(), self.data,
                                              label=self.config.label,
                                              repeats=self.config.repeats, seed=self.seed)
        scores = {}
        if evaluation["protocol"] == "multilabel":
            for r in evaluation["results"]:
                ratio = round(100 * r["train_ratio"])
                scores[f"micro@{ratio}"], scores[f"macro@{ratio}"] = r["micro"], r["macro"]
        else:
            scores["test_acc"] = evaluation["accuracy"]
        return {**scores, "evaluation": evaluation,
                "losses": [h["loss"] for h in self.history],
                "train_time_s": sum(h["time"] for h in self.history),
                "best_epoch": self.loop.done, "epochs_run": self.loop.done,
                "history": self.history}

    @staticmethod
    def summary_keys(result: Dict[str, Any]) -> List[str]:
        """The numbers of a result that the runner summarises as mean ± std over the runs."""
        return [k for k in result if k == "test_acc" or "@" in k] + ["train_time_s"]

    @staticmethod
    def describe(result: Dict[str, Any]) -> str:
        """One line on a finished run's ``result``."""
        ev = result["evaluation"]
        if ev["protocol"] == "multilabel":
            scores = ", ".join(f"{k} {result[k]:.4f}" for k in result if "@" in k)
        else:
            scores = (f"linear probe on {ev['label']} ({ev['split']} split): test accuracy "
                      f"{100 * ev['accuracy']:.2f}")
        return (f"{scores}; trained in {result['train_time_s']:.1f} s, final loss "
                f"{result['losses'][-1]:.4f}")
