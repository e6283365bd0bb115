"""Unsupervised GraphSAGE training (Hamilton et al., 2017): random-walk positives, far-node
negatives, one neighbour-sampled subgraph and one forward pass per step, then a linear probe.

One step, for a batch of anchor nodes :math:`B`:

1. positives :math:`(B, P)` from random-walk co-occurrence
   (:class:`~pyg_course.sampling.WalkPositiveSampler`) and negatives :math:`(B, Q)` more than
   ``--neg-hops`` hops away (:class:`~pyg_course.sampling.FarNegativeSampler`) or from the
   degree\\ :sup:`0.75` unigram (:class:`~pyg_course.sampling.UnigramNegativeSampler`), all on
   the model's device;
2. ONE ``NeighborLoader`` subgraph for the union of anchors, positives and negatives (seed
   order = the sorted union), ONE forward pass, embeddings gathered back by ``return_inverse``;
3. :class:`~pyg_course.nn.UnsupervisedSAGELoss` and an Adam step.

After training, :meth:`GraphSAGE.inference` embeds every node and
:func:`~pyg_course.metrics.linear_probe` (logistic regression, ``C`` chosen on the validation
nodes) scores them on the public split. ``runs`` seeds give mean ± std.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import torch
from torch import Tensor
from torch_geometric import seed_everything
from torch_geometric.data import Data
from torch_geometric.loader import NeighborLoader
from torch_geometric.utils import is_undirected
from tqdm.auto import tqdm

from pyg_course.metrics import linear_probe
from pyg_course.nn.models import GraphSAGE
from pyg_course.nn.unsup_loss import UnsupervisedSAGELoss
from pyg_course.sampling import (
    CSRGraph,
    FarNegativeSampler,
    UnigramNegativeSampler,
    WalkPositiveSampler,
)
from pyg_course.train.checkpoint import (
    CheckpointWriter,
    check_resumable,
    load_checkpoint,
    pack,
    rng_state,
    save_atomic,
    set_rng_state,
    unpack,
)
from pyg_course.train.cli import (
    changed,
    data_from_args,
    nonnegative_float,
    nonnegative_int,
    positive_int,
    run_flags,
)
from pyg_course.train.experiment import write_history
from pyg_course.train.loop import (
    NonFiniteLossError,
    check_loss,
    neighbor_loader,
    neighbor_sampler,
    resolve_device,
)
from pyg_course.utils.stats import mean_std


def add_unsupervised_args(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the options of unsupervised training to ``parser`` (a
    :func:`~pyg_course.train.cli.training_parser`)."""
    g = parser.add_argument_group("unsupervised (with --unsupervised)")
    g.add_argument("--walk-length", type=positive_int, default=5,
                   help="steps of each positive-sampling random walk")
    g.add_argument("--num-walks", type=positive_int, default=10,
                   help="random walks per batch node for positives")
    g.add_argument("--num-positives", type=positive_int, default=1,
                   help="positives kept per batch node and step (drawn from its walks)")
    g.add_argument("--num-negatives", type=positive_int, default=20,
                   help="negatives per batch node (Q of the loss)")
    g.add_argument("--neg-dist", choices=["far", "unigram"], default="far",
                   help="far: uniform over nodes more than --neg-hops away; "
                        "unigram: degree^0.75 (the official GraphSAGE)")
    g.add_argument("--neg-hops", type=nonnegative_int, default=5,
                   help="far negatives are more than this many hops from the anchor")
    g.add_argument("--neg-candidates", choices=["all", "train"], default="all",
                   help="pool of negative candidates: all nodes or the training nodes")
    g.add_argument("--loss", choices=["sage", "margin"], default="sage",
                   help="sage: -log σ(pos) - Q·E log σ(-neg); margin: max(0, neg - pos + m)")
    g.add_argument("--similarity", choices=["dot", "cosine"], default="cosine",
                   help="pair score of the loss (cosine = dot product of the L2-normalised "
                        "embeddings, as the original)")
    g.add_argument("--margin", type=nonnegative_float, default=1.0,
                   help="margin of --loss margin")
    g.add_argument("--probe-every", type=nonnegative_int, default=0,
                   help="also probe every this many epochs and report test accuracy at the "
                        "best validation epoch (0: probe the final embeddings only)")
    return parser


#: The options :func:`add_unsupervised_args` adds.
OPTIONS = tuple(a.dest for a in add_unsupervised_args(argparse.ArgumentParser())._actions
                if a.dest != "help")
#: Options of the supervised training scripts that unsupervised training does not use.
SUPERVISED_ONLY = ("impl", "ddp", "mode", "patience", "input_dropout")


def check_unsupervised_args(parser: argparse.ArgumentParser, args: argparse.Namespace,
                            unsupervised: bool) -> None:
    """``parser.error`` (one line, exit status 2) where an option given would be ignored:
    :data:`SUPERVISED_ONLY` with ``unsupervised`` (it trains our GraphSAGE on neighbour-sampled
    mini-batches in one process), :data:`OPTIONS` without it."""
    if unsupervised:
        given = changed(parser, args, [d for d in SUPERVISED_ONLY if hasattr(args, d)])
        if given:
            parser.error(f"not used by --unsupervised (it trains our GraphSAGE on "
                         f"neighbour-sampled mini-batches in one process): {', '.join(given)}")
    else:
        given = changed(parser, args, OPTIONS)
        if given:
            parser.error(f"only used with --unsupervised: {', '.join(given)}")


class UnsupervisedTrainer:
    """Trains one :class:`GraphSAGE` encoder without labels (see the module docstring).

    Args:
        model: a :class:`GraphSAGE` (or any model with ``forward(x, edge_index, n_id)`` and
            ``inference(loader, device)``).
        data: the graph; labels and masks are used by :meth:`probe` only.
        args: the parsed options (shared ones of :mod:`pyg_course.train.cli` and those of
            :func:`add_unsupervised_args`).
    """

    def __init__(self, model: torch.nn.Module, data: Data, args: argparse.Namespace):
        self.args = args
        self.device = resolve_device(args.device)
        self.model = model.to(self.device)
        self.data = data
        self.optimizer = torch.optim.Adam(model.parameters(), lr=args.lr,
                                          weight_decay=args.weight_decay)
        self.loss_fn = UnsupervisedSAGELoss(args.loss, args.similarity, margin=args.margin)
        edge_index = data.edge_index.to(self.device)
        n = data.num_nodes
        graph = CSRGraph(edge_index, n)  # one sorted copy, shared by both samplers
        self.positives = WalkPositiveSampler(graph, n, args.num_walks, args.walk_length)
        cand = data.train_mask if args.neg_candidates == "train" else None
        if args.neg_dist == "far":
            self.negatives = FarNegativeSampler(graph, n, args.neg_hops, candidates=cand,
                                                undirected=is_undirected(edge_index,
                                                                         num_nodes=n))
        else:
            self.negatives = UnigramNegativeSampler(edge_index, n, candidates=cand)
        # Built once: the CSC conversion of the graph is reused by every step's loader.
        self.neighbor_sampler = neighbor_sampler(data, num_neighbors=list(args.num_neighbors))
        self.eval_loader = neighbor_loader(data, num_neighbors=[-1], batch_size=4096,
                                           shuffle=False, num_workers=args.num_workers)
        self.epoch = 0
        self.history: List[Dict[str, float]] = []

    def step(self, anchors: Tensor) -> float:
        """One optimisation step on the anchor nodes ``anchors``; returns the loss."""
        a = self.args
        anchors = anchors.to(self.device)
        B = anchors.numel()
        pos, pos_mask = self.positives.sample(anchors, a.num_positives)
        neg = self.negatives.sample(anchors, a.num_negatives)
        union, inv = torch.unique(torch.cat([anchors, pos.view(-1), neg.view(-1)]),
                                  return_inverse=True)
        loader = NeighborLoader(self.data, num_neighbors=list(a.num_neighbors),
                                input_nodes=union.cpu(), batch_size=union.numel(),
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
        for lo in range(0, perm.numel(), self.args.batch_size):
            anchors = perm[lo:lo + self.args.batch_size]
            total += self.step(anchors) * anchors.numel()
        return total / max(perm.numel(), 1)

    @torch.no_grad()
    def embed(self) -> Tensor:
        """Embeddings of every node (layer-wise inference, full neighbourhoods), on the CPU."""
        self.model.eval()
        return self.model.inference(self.eval_loader, self.device)

    def probe(self, seed: int = 0) -> Dict[str, float]:
        """Logistic-regression probe on the public split: test/val/train accuracy and ``C``."""
        d = self.data
        return linear_probe(self.embed(), d.y, d.train_mask, d.test_mask, val_mask=d.val_mask,
                            seed=seed, return_details=True)

    def state_dict(self) -> Dict[str, Any]:
        return {"epoch": self.epoch, "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(), "history": pack(self.history),
                "rng": rng_state(), "num_fallback": getattr(self.negatives, "num_fallback", 0),
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

    def fit(self, checkpoint=None, desc: str = "unsupervised", seed: int = 0) -> Dict[str, Any]:
        """Train ``args.epochs`` epochs and probe the embeddings. With ``--probe-every n`` the
        probe also runs every ``n`` epochs and the result is the test accuracy at the epoch of
        best validation accuracy (OGB's protocol); otherwise it is the final epoch's.
        ``checkpoint`` is called with :meth:`state_dict` after every epoch."""
        a = self.args
        bar = tqdm(total=a.epochs, initial=self.epoch, desc=desc, disable=a.no_progress,
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
                p = self.probe(seed)
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


def build_model(data: Data, args: argparse.Namespace) -> GraphSAGE:
    """The encoder: ``--num-layers`` SAGE layers of width ``--hidden`` (the embedding size),
    with the script's ``--aggr`` / ``--aggr-channels`` / ``--jk`` / ``--normalize`` if given."""
    aggr = getattr(args, "aggr", None) or "mean"
    kwargs = {}
    aggr_channels = getattr(args, "aggr_channels", None)
    if aggr_channels is None and aggr == "lstm":
        aggr_channels = 128
    if aggr_channels is not None:
        kwargs["aggr_channels"] = aggr_channels
    if getattr(args, "normalize", False):
        kwargs["normalize"] = True
    return GraphSAGE(data.num_features, args.hidden, args.num_layers, dropout=args.dropout,
                     aggr=aggr, jk=getattr(args, "jk", None), **kwargs)


def run_unsupervised(args: argparse.Namespace, data: Optional[Data] = None) -> Dict[str, Any]:
    """Train unsupervised GraphSAGE ``args.runs`` times (seeds ``args.seed, args.seed+1,
    ...``) and probe the embeddings: test accuracy mean ± std, ``results.json``,
    ``history.csv`` and an atomic ``checkpoint.pt`` in ``args.out`` (``args.resume``
    continues from it).

    Args:
        args: parsed options (:func:`~pyg_course.train.cli.training_parser` +
            :func:`add_unsupervised_args`).
        data: the graph; default: loaded from ``args.dataset`` / ``args.root``.
    """
    if data is None:
        data = data_from_args(args)
    for split in ("train", "val", "test"):
        if getattr(data, f"{split}_mask", None) is None:
            raise ValueError(f"unsupervised GraphSAGE: the probe needs data.{split}_mask")
    runs, seed = args.runs, args.seed
    if runs < 1 or args.epochs < 1:
        raise ValueError(f"runs and epochs must be at least 1, got {runs} and {args.epochs}")
    out = Path(args.out) if args.out else None
    ckpt_path = out / "checkpoint.pt" if out else None
    # Every option that defines the run; --runs may grow on resume.
    flags = run_flags(args, free=("runs",))
    record = {"kind": "unsupervised", "flags": flags}
    state = None
    if args.resume:
        if out is None:
            raise ValueError("resume needs an output folder (--out) holding checkpoint.pt")
        state = load_checkpoint(ckpt_path)
        if state is None:
            print(f"resume: no checkpoint in {out}, starting from scratch")
        else:
            check_resumable(state, ckpt_path, "unsupervised", flags)
    completed: List[Dict[str, Any]] = unpack(state["completed"]) if state else []
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    name = f"unsupervised GraphSAGE {getattr(args, 'dataset', '')}".strip()

    for r in range(len(completed), runs):
        seed_everything(seed + r)
        trainer = UnsupervisedTrainer(build_model(data, args), data, args)
        if state is not None and state.get("trainer") is not None and state["run"] == r:
            trainer.load_state_dict(state["trainer"])

        packed = pack(completed)

        def save(trainer_state, r=r, packed=packed):
            writer.submit({"run": r, "completed": packed, "trainer": trainer_state,
                           **record}, ckpt_path)

        start = time.perf_counter()
        label = f"{name} run {r + 1}/{runs}"
        try:
            with CheckpointWriter() as writer:
                result = trainer.fit(checkpoint=save if out else None, desc=label,
                                     seed=seed + r)
        except NonFiniteLossError as exc:
            raise NonFiniteLossError(f"{label} (seed {seed + r}): {exc}") from None
        result.update(seed=seed + r, time=time.perf_counter() - start)
        completed.append(result)
        if out is not None:
            torch.save(trainer.model.state_dict(), out / "model.pt")
            save_atomic({"run": r + 1, "completed": pack(completed), "trainer": None,
                         **record}, ckpt_path)
        print(f"{label} (seed {seed + r}): probe test "
              f"{100 * result['test_acc']:.2f}, val {100 * result['val_acc']:.2f} at epoch "
              f"{result['best_epoch']} "
              f"(loss {result['final_loss']:.4f}, far-negative fallback "
              f"{100 * result['neg_fallback_rate']:.2f}% of anchors)")

    summary = {}
    for key in ("test_acc", "val_acc", "train_acc"):
        summary[f"{key}_mean"], summary[f"{key}_std"] = mean_std([c[key] for c in completed])
    results = {
        "name": name,
        "runs": [{k: v for k, v in c.items() if k != "history"} for c in completed],
        "summary": summary,
        "config": {k: v for k, v in vars(args).items()},
        "seed": seed,
        "machine": {"platform": platform.platform(), "torch": torch.__version__,
                    "device": str(resolve_device(args.device)),
                    "date": time.strftime("%Y-%m-%d %H:%M:%S")},
    }
    print(f"{name}: probe test accuracy {100 * summary['test_acc_mean']:.2f} ± "
          f"{100 * summary['test_acc_std']:.2f} over {len(completed)} run(s)")
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "results.json").write_text(json.dumps(results, indent=2, default=str))
        write_history(completed, out / "history.csv")
    results["history"] = [c["history"] for c in completed]
    return results
