"""Unsupervised GraphSAGE training (Hamilton et al., 2017): random-walk positives, far-node
negatives, one neighbour-sampled subgraph and one forward pass per step, then a linear probe.

One step, for a batch of anchor nodes :math:`B`:

1. positives :math:`(B, P)` from random-walk co-occurrence
   (:class:`~pyg_course.sampling.WalkPositiveSampler`) and negatives :math:`(B, Q)` more than
   ``neg_hops`` hops away (:class:`~pyg_course.sampling.FarNegativeSampler`) or from the
   degree\\ :sup:`0.75` unigram (:class:`~pyg_course.sampling.UnigramNegativeSampler`), all on
   the model's device;
2. ONE ``NeighborLoader`` subgraph for the union of anchors, positives and negatives (seed
   order = the sorted union), ONE forward pass, embeddings gathered back by ``return_inverse``;
3. :class:`~pyg_course.nn.UnsupervisedSAGELoss` and an Adam step.

After training, :meth:`GraphSAGE.inference` embeds every node and
:func:`~pyg_course.metrics.linear_probe` (logistic regression, ``C`` chosen on the validation
nodes) scores them on the public split. :func:`~pyg_course.train.run_experiment` with
``trainer_cls=UnsupervisedTrainer`` and an :class:`UnsupervisedConfig` runs several seeds
(mean ± std), writes the results and resumes an interrupted experiment, as for supervised
training.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, fields
from typing import Any, Dict, List, Optional

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.loader import NeighborLoader
from torch_geometric.utils import is_undirected
from tqdm.auto import tqdm

from pyg_course.metrics import linear_probe
from pyg_course.nn.unsup_loss import UnsupervisedSAGELoss
from pyg_course.sampling import (
    CSRGraph,
    FarNegativeSampler,
    UnigramNegativeSampler,
    WalkPositiveSampler,
)
from pyg_course.train.checkpoint import pack, rng_state, set_rng_state, unpack
from pyg_course.train.loop import (
    SPLITS,
    RunTrainer,
    TrainConfig,
    check_loss,
    cpu_copy,
    make_sampler,
    neighbor_loader,
    resolve_device,
    sampler_state,
    sampling_data,
    set_sampler_state,
)

#: The allowed values of :class:`UnsupervisedConfig`'s categorical settings.
CHOICES = {"neg_dist": ("far", "unigram"), "neg_candidates": ("all", "train"),
            "loss": ("sage", "margin"), "similarity": ("dot", "cosine")}


@dataclass
class UnsupervisedConfig(TrainConfig):
    r"""Settings of unsupervised GraphSAGE training: those of :class:`TrainConfig` (``mode``
    and ``patience`` unused: training is always on neighbour-sampled mini-batches of anchors,
    for ``epochs`` epochs) and these.

    Args:
        walk_length: steps of each positive-sampling random walk.
        num_walks: random walks per anchor for positives.
        num_positives: positives kept per anchor and step (drawn from its walks).
        num_negatives: negatives per anchor (Q of the loss).
        neg_dist: ``"far"``: uniform over nodes more than ``neg_hops`` hops away;
            ``"unigram"``: degree\ :sup:`0.75` (the official GraphSAGE).
        neg_hops: far negatives are more than this many hops from the anchor.
        neg_candidates: pool of negatives: ``"all"`` nodes or the ``"train"`` nodes.
        loss: ``"sage"``: :math:`-\log\sigma(pos) - Q\,\mathbb{E}\log\sigma(-neg)`;
            ``"margin"``: :math:`\max(0, neg - pos + m)`.
        similarity: pair score, ``"dot"`` or ``"cosine"`` (the original's).
        margin: the margin :math:`m` of ``loss="margin"``.
        probe_every: also probe every this many epochs and report the test accuracy at the
            best validation epoch (0: probe the final embeddings only).
    """

    walk_length: int = 5
    num_walks: int = 10
    num_positives: int = 1
    num_negatives: int = 20
    neg_dist: str = "far"
    neg_hops: int = 5
    neg_candidates: str = "all"
    loss: str = "sage"
    similarity: str = "cosine"
    margin: float = 1.0
    probe_every: int = 0

    def __post_init__(self):
        super().__post_init__()
        for name, low in (("walk_length", 1), ("num_walks", 1), ("num_positives", 1),
                          ("num_negatives", 1), ("neg_hops", 0), ("probe_every", 0)):
            if getattr(self, name) < low:
                raise ValueError(f"{name} must be at least {low}, got {getattr(self, name)}")
        for name, choices in CHOICES.items():
            if getattr(self, name) not in choices:
                raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got "
                                 f"{getattr(self, name)!r}")
        if not self.margin >= 0:
            raise ValueError(f"margin must be a number >= 0, got {self.margin}")


#: The settings :class:`UnsupervisedConfig` adds to :class:`TrainConfig`.
UNSUPERVISED_SETTINGS = tuple(f.name for f in fields(UnsupervisedConfig)
                              if f.name not in {g.name for g in fields(TrainConfig)})


class UnsupervisedTrainer(RunTrainer):
    """Trains one :class:`GraphSAGE` encoder without labels (see the module docstring), with the
    interface of :class:`~pyg_course.train.Trainer` that
    :func:`~pyg_course.train.run_experiment` drives.

    Args:
        model: a :class:`GraphSAGE` (or any model with ``forward(x, edge_index, n_id)`` and
            ``inference(loader, device)``).
        data: the graph; labels and the train/val/test masks are used by :meth:`probe` only.
        config: an :class:`UnsupervisedConfig`.
        seed: seed of the probe's logistic regression (default: torch's initial seed, i.e. the
            run's seed under :func:`~pyg_course.train.run_experiment`).
    """

    kind = "unsupervised"

    def __init__(self, model: torch.nn.Module, data: Data, config: UnsupervisedConfig,
                 seed: Optional[int] = None):
        if not isinstance(config, UnsupervisedConfig):
            raise TypeError(f"UnsupervisedTrainer needs an UnsupervisedConfig, got "
                            f"{type(config).__name__}")
        for split in SPLITS:
            if getattr(data, f"{split}_mask", None) is None:
                raise ValueError(f"unsupervised GraphSAGE: the probe needs data.{split}_mask")
        self.config = config
        self.seed = torch.initial_seed() if seed is None else seed
        self.device = resolve_device(config.device)
        self.model = model.to(self.device)
        self.data = data
        self.optimizer = torch.optim.Adam(model.parameters(), lr=config.lr,
                                          weight_decay=config.weight_decay)
        self.loss_fn = UnsupervisedSAGELoss(config.loss, config.similarity, margin=config.margin)
        edge_index = data.edge_index.to(self.device)
        n = data.num_nodes
        graph = CSRGraph(edge_index, n)  # one sorted copy, shared by both samplers
        self.positives = WalkPositiveSampler(graph, n, config.num_walks, config.walk_length)
        cand = data.train_mask if config.neg_candidates == "train" else None
        if config.neg_dist == "far":
            self.negatives = FarNegativeSampler(graph, n, config.neg_hops, candidates=cand,
                                                undirected=is_undirected(edge_index,
                                                                         num_nodes=n))
        else:
            self.negatives = UnigramNegativeSampler(edge_index, n, candidates=cand)
        # Built once: the CSC conversion of the graph is reused by every step's loader.
        self.loader_data = sampling_data(data, config, self.device)
        self.neighbor_sampler = make_sampler(self.loader_data, config.num_neighbors,
                                            config.sampler)
        self.eval_loader = neighbor_loader(self.loader_data, [-1], config.sampler,
                                           graph_of=self.neighbor_sampler,
                                           batch_size=config.eval_batch_size, shuffle=False,
                                           num_workers=config.num_workers)
        self.epoch = 0
        self.history: List[Dict[str, float]] = []

    def step(self, anchors: Tensor) -> float:
        """One optimisation step on the anchor nodes ``anchors``; returns the loss."""
        a = self.config
        anchors = anchors.to(self.device)
        B = anchors.numel()
        pos, pos_mask = self.positives.sample(anchors, a.num_positives)
        neg = self.negatives.sample(anchors, a.num_negatives)
        union, inv = torch.unique(torch.cat([anchors, pos.view(-1), neg.view(-1)]),
                                  return_inverse=True)
        loader = NeighborLoader(self.loader_data, num_neighbors=list(a.num_neighbors),
                                input_nodes=union.to(self.loader_data.edge_index.device),
                                batch_size=union.numel(),
                                shuffle=False, neighbor_sampler=self.neighbor_sampler)
        batch = next(iter(loader)).to(self.device)
        self.model.train()
        self.optimizer.zero_grad()
        z = self.model(batch.x, batch.edge_index, n_id=batch.n_id)[: union.numel()]
        z_pos = z[inv[B:B + pos.numel()]].view(B, a.num_positives, -1)
        z_neg = z[inv[B + pos.numel():]].view(B, a.num_negatives, -1)
        loss = self.loss_fn(z[inv[:B]], z_pos, z_neg, pos_mask)
        loss.backward()
        self.optimizer.step()
        return float(loss.detach())

    def train_epoch(self) -> float:
        """One pass over all nodes as anchors, in shuffled batches; returns the mean loss."""
        perm = torch.randperm(self.data.num_nodes)
        total = 0.0
        for lo in range(0, perm.numel(), self.config.batch_size):
            anchors = perm[lo:lo + self.config.batch_size]
            total += self.step(anchors) * anchors.numel()
        return total / max(perm.numel(), 1)

    @torch.no_grad()
    def embed(self) -> Tensor:
        """Embeddings of every node (layer-wise inference, full neighbourhoods), on the CPU."""
        self.model.eval()
        return self.model.inference(self.eval_loader, self.device)

    def probe(self) -> Dict[str, float]:
        """Logistic-regression probe on the public split: test/val/train accuracy and ``C``."""
        d = self.data
        return linear_probe(self.embed(), d.y, d.train_mask, d.test_mask, val_mask=d.val_mask,
                            seed=self.seed, return_details=True)

    def state_dict(self) -> Dict[str, Any]:
        return {"epoch": self.epoch, "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(), "history": pack(self.history),
                "rng": rng_state(), "sampler_rng": sampler_state(self.neighbor_sampler),
                "num_fallback": getattr(self.negatives, "num_fallback", 0),
                "num_anchors": getattr(self.negatives, "num_anchors", 0)}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.epoch = state["epoch"]
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.history = unpack(state["history"])
        if hasattr(self.negatives, "num_fallback"):
            self.negatives.num_fallback = state["num_fallback"]
            self.negatives.num_anchors = state["num_anchors"]
        set_rng_state(state["rng"])
        set_sampler_state(self.neighbor_sampler, state.get("sampler_rng"))

    @property
    def best_state(self) -> Dict[str, Tensor]:
        """The encoder's weights (those of the last epoch), on the CPU."""
        return cpu_copy(self.model)

    @staticmethod
    def describe(result: Dict[str, Any]) -> str:
        """One line on a finished run's ``result`` (what :meth:`fit` returned)."""
        return (f"probe test {100 * result['test_acc']:.2f}, val {100 * result['val_acc']:.2f} "
                f"at epoch {result['best_epoch']} (loss {result['final_loss']:.4f}, "
                f"far-negative fallback {100 * result['neg_fallback_rate']:.2f}% of anchors)")

    def fit(self, checkpoint=None, desc: str = "unsupervised") -> Dict[str, Any]:
        """Train ``config.epochs`` epochs and probe the embeddings. With ``probe_every=n`` the
        probe also runs every ``n`` epochs and the result is the test accuracy at the epoch of
        best validation accuracy (OGB's protocol); otherwise it is the final epoch's.
        ``checkpoint`` is called with :meth:`state_dict` after every epoch."""
        a = self.config
        bar = tqdm(total=a.epochs, initial=self.epoch, desc=desc, disable=not a.progress,
                   leave=False, dynamic_ncols=True)
        nan = float("nan")
        while self.epoch < a.epochs:
            start = time.perf_counter()
            loss = self.train_epoch()
            check_loss(loss, self.epoch + 1, a.lr)
            self.epoch += 1
            rec = {"epoch": self.epoch, "loss": loss, "time": time.perf_counter() - start,
                   "val_acc": nan, "test_acc": nan, "train_acc": nan, "C": nan}
            if self.epoch == a.epochs or (a.probe_every and self.epoch % a.probe_every == 0):
                p = self.probe()
                rec.update(val_acc=p["val"], test_acc=p["test"], train_acc=p["train"], C=p["C"])
            self.history.append(rec)
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.3f}")
            if checkpoint is not None:
                checkpoint(self.state_dict())
        bar.close()
        probed = [h for h in self.history if h["val_acc"] == h["val_acc"]]  # not NaN
        best = max(probed, key=lambda h: h["val_acc"]) if a.probe_every else probed[-1]
        anchors = getattr(self.negatives, "num_anchors", 0)
        return {"test_acc": best["test_acc"], "val_acc": best["val_acc"],
                "train_acc": best["train_acc"], "C": best["C"], "best_epoch": best["epoch"],
                "last_test_acc": probed[-1]["test_acc"], "epochs_run": self.epoch,
                "final_loss": self.history[-1]["loss"],
                "neg_fallback_rate": (getattr(self.negatives, "num_fallback", 0) / anchors
                                      if anchors else 0.0),
                "history": self.history}
