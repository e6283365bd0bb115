"""Command-line arguments shared by every ``scripts/train_*.py``: the scripts stay thin.

Every option is checked when it is parsed (``type=`` functions below) and the rules between
options by :func:`check_args`, so that a bad command ends with argparse's one-line ``error:``
(exit status 2) before anything trains. Errors that only show later (a checkpoint of other
settings, a run whose loss diverged) are exceptions of :data:`USER_ERRORS`, which
:func:`run_main` prints the same way at a script's entry; ``main(argv)`` itself raises them.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import sys
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, NoReturn, Optional

import torch
from torch_geometric.data import Data

from pyg_course.datasets import DATASETS, load_dataset
from pyg_course.train.argtypes import (
    nonnegative_float,
    nonnegative_int,
    num_neighbors,
    out_folder_error,
    positive_float,
    positive_int,
    probability,
)
from pyg_course.train.checkpoint import CheckpointError
from pyg_course.train.loop import SAMPLERS, NonFiniteLossError, TrainConfig
from pyg_course.train.unsupervised import CHOICES, UnsupervisedConfig

#: Exceptions whose message tells the user what to change (they are raised with such messages
#: only): :func:`run_main` prints them as one line; every other exception keeps its traceback.
USER_ERRORS = (CheckpointError, NonFiniteLossError)

#: The options of :data:`~pyg_course.train.TrainConfig.RESUME_FREE` whose name on the command
#: line differs from the setting's.
_OPTION_OF = {"progress": "no_progress"}
#: Options that may change when an interrupted run is resumed: where it reads and writes
#: (``resume``, ``out``, ``root``) and the settings of
#: :data:`~pyg_course.train.TrainConfig.RESUME_FREE`, not what it computes (see
#: :func:`run_flags`).
RESUME_FREE = ("resume", "out", "root",
               *(_OPTION_OF.get(name, name) for name in TrainConfig.RESUME_FREE))


# ---------------------------------------------------------------------------- option types
def dataset(text: str) -> str:
    """``type=`` of ``--dataset``: a known name in any case, returned as its canonical name."""
    name = DATASETS.get(text.lower())
    if name is None:
        raise argparse.ArgumentTypeError(f"unknown dataset {text!r}; known datasets: "
                                         f"{', '.join(DATASETS.values())}")
    return name


def device(text: str) -> str:
    """``type=`` of ``--device``: ``auto``, or a device that torch knows and this machine has."""
    if text == "auto":
        return text
    try:
        dev = torch.device(text)
    except (RuntimeError, ValueError):
        raise argparse.ArgumentTypeError(
            f"expected cpu, cuda, cuda:N or auto, got {text!r}") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise argparse.ArgumentTypeError(f"device {text!r} requested but CUDA is not "
                                             f"available on this machine (use cpu or auto)")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise argparse.ArgumentTypeError(f"device {text!r} requested but this machine has "
                                             f"{torch.cuda.device_count()} CUDA device(s)")
    return text


# ---------------------------------------------------------------------------- the parser
class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default once, as the script sets it: not where the help text already
    states it, not for on/off flags, and a ``None`` default as the option's ``none_means``
    text (e.g. ``--patience``: "off") or not at all."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if ("%(default)" in text or "(default" in text or not action.option_strings
                or action.nargs == 0 or action.default is argparse.SUPPRESS):
            return text
        if action.default is None:
            none_means = getattr(action, "none_means", None)
            return f"{text} (default: {none_means})" if none_means else text
        return f"{text} (default: %(default)s)"


def first_paragraph(doc: str) -> str:
    """The first paragraph of a docstring, on one line: a script's ``--help`` description."""
    return " ".join(doc.strip().split("\n\n")[0].split())


def training_parser(description: str, *, omit: Iterable[str] = (),
                    help: Optional[Dict[str, str]] = None,
                    **defaults: Any) -> argparse.ArgumentParser:
    """An ``ArgumentParser`` with the options every training script takes; ``defaults``
    override the paper settings per script (e.g. ``lr=0.005`` for GAT). ``description`` may
    be the script's docstring: its first paragraph is used.

    A script says which shared options it has no use for by their ``dest`` in ``omit``: the
    parser does not offer them (giving one is argparse's "unrecognized arguments") and the
    parsed namespace has no such attribute. ``help`` maps a ``dest`` to the script's own help
    text of a shared option. A ``dest`` that is not a shared option, in ``omit`` or ``help``,
    or a default for an omitted option, is a ``ValueError``."""
    omit, texts = set(omit), dict(help or {})
    if omit & set(defaults):
        raise ValueError(f"training_parser: a default for an omitted option: "
                         f"{', '.join(sorted(omit & set(defaults)))}")
    p = argparse.ArgumentParser(description=first_paragraph(description),
                                formatter_class=HelpFormatter)
    shared: List[str] = []

    def add(group: Any, option: str, *, none_means: Optional[str] = None,
            **kwargs: Any) -> None:
        dest = option[2:].replace("-", "_")
        shared.append(dest)
        if dest in omit:
            return
        kwargs["help"] = texts.get(dest, kwargs["help"])
        action = group.add_argument(option, **kwargs)
        if none_means is not None:
            action.none_means = none_means

    g = p.add_argument_group("data")
    add(g, "--dataset", type=dataset, default="Cora",
        help=f"one of {', '.join(DATASETS.values())} (case-insensitive)")
    add(g, "--root", default=None,
        help="folder holding <Name>/raw/ (default: $PYG_COURSE_DATA, then the cache)")
    add(g, "--no-normalize-features", action="store_true",
        help="keep raw features (default: row-normalise non-negative features, as the GCN and "
             "GAT papers do)")
    g = p.add_argument_group("model")
    add(g, "--hidden", type=positive_int, default=16, help="hidden channels")
    add(g, "--num-layers", type=positive_int, default=2, help="number of layers")
    add(g, "--dropout", type=probability, default=0.5, help="dropout probability, in [0, 1)")
    g = p.add_argument_group("training")
    add(g, "--epochs", type=positive_int, default=200, help="maximum number of epochs")
    add(g, "--lr", type=positive_float, default=0.01, help="Adam's learning rate")
    add(g, "--weight-decay", type=nonnegative_float, default=5e-4, help="Adam's L2 penalty")
    add(g, "--patience", type=positive_int, default=None, none_means="off",
        help="early stopping: epochs without val improvement")
    add(g, "--mode", choices=["full", "minibatch"], default="full",
        help="full-batch training or neighbour-sampled mini-batches")
    add(g, "--num-neighbors", type=num_neighbors, nargs="+", default=[25, 10],
        help="neighbours sampled per layer in minibatch mode, one value per layer (-1: all)")
    add(g, "--batch-size", type=positive_int, default=512, help="seed nodes per mini-batch")
    add(g, "--num-workers", type=nonnegative_int, default=0,
        help="NeighborLoader worker processes")
    add(g, "--sampler", choices=list(SAMPLERS), default=None,
        none_means="pyg_course; pyg with --impl pyg",
        help="minibatch neighbour sampler: ours (vectorised torch, on the GPU with --device "
             "cuda) or PyG's (torch_sparse); --impl pyg runs PyG's whole pipeline")
    add(g, "--runs", type=positive_int, default=1, help="number of seeds")
    add(g, "--seed", type=nonnegative_int, default=0, help="seed of the first run")
    add(g, "--device", type=device, default="auto", help="cpu, cuda, cuda:N or auto")
    g = p.add_argument_group("output")
    add(g, "--out", default=None,
        help="folder for results.json, history.csv, curves.png, checkpoint.pt")
    add(g, "--resume", action="store_true", help="continue from --out/checkpoint.pt")
    add(g, "--no-progress", action="store_true", help="hide the progress bar")
    unknown = (omit | set(texts)) - set(shared)
    if unknown:
        raise ValueError(f"training_parser: no shared option {', '.join(sorted(unknown))}")
    p.set_defaults(**defaults)
    return p


# ---------------------------------------------------------------------------- checks
def flag(dest: str) -> str:
    """The option string of an argparse ``dest``: ``num_layers`` -> ``--num-layers``."""
    return "--" + dest.replace("_", "-")


def changed(parser: argparse.ArgumentParser, args: argparse.Namespace,
            dests: Iterable[str]) -> List[str]:
    """The options among ``dests`` whose value is not the parser's default, as
    ``--flag value`` (``--flag`` for on/off flags): the options a command gave."""
    out = []
    for dest in dests:
        value = getattr(args, dest)
        if value != parser.get_default(dest):
            out.append(flag(dest) if isinstance(value, bool) else f"{flag(dest)} {value}")
    return out


def check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """The rules between the shared options (each option alone is checked when parsed); a
    broken rule ends the script with ``parser.error`` (one line, exit status 2)."""
    if args.mode == "minibatch" and len(args.num_neighbors) != args.num_layers:
        parser.error(f"--num-neighbors: give one value per layer ({args.num_layers} for "
                     f"--num-layers {args.num_layers}), got "
                     f"{' '.join(map(str, args.num_neighbors))}")
    if args.resume and args.out is None:
        parser.error("--resume needs --out, the folder holding checkpoint.pt")
    why = out_folder_error(args.out) if args.out is not None else None
    if why:
        parser.error(f"--out {args.out}: {why}")


def check_node_classification(data: Data, name: str) -> None:
    """Raise ``ValueError`` unless ``data`` has what the training scripts need: node features,
    one class per node and the train/val/test masks."""
    lacks = []
    if data.x is None:
        lacks.append("no node features")
    if data.y is None:
        lacks.append("no labels")
    elif data.y.dim() > 1:
        lacks.append("multi-label targets")
    masks = [s for s in ("train", "val", "test") if getattr(data, f"{s}_mask", None) is None]
    if masks:
        lacks.append(f"no {'/'.join(masks)} split")
    if lacks:
        lacks = ", ".join(lacks[:-1]) + " and " + lacks[-1] if len(lacks) > 1 else lacks[0]
        raise ValueError(f"{name} has {lacks}: the training scripts need node "
                         f"features, one class per node and a train/val/test split; use "
                         f"scripts/train_deepwalk.py for it")


def sampler_of(args: argparse.Namespace) -> str:
    """The mini-batch sampler of a command: ``--sampler``, by default ours, and PyG's for
    ``--impl pyg`` (PyG's model with PyG's sampler: its pipeline as a user gets it)."""
    if args.sampler is not None:
        return args.sampler
    return "pyg" if getattr(args, "impl", "ours") == "pyg" else "pyg_course"


def config_from_args(args: argparse.Namespace, cls: type = TrainConfig) -> TrainConfig:
    """The typed settings of a run from the parsed options: a :class:`TrainConfig`, or ``cls``
    (a subclass such as :class:`~pyg_course.train.unsupervised.UnsupervisedConfig`), which also
    takes the options named as its added fields."""
    extra = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls)
             if f.name not in {g.name for g in dataclasses.fields(TrainConfig)}}
    return cls(
        epochs=args.epochs, lr=args.lr, weight_decay=args.weight_decay, patience=args.patience,
        mode=args.mode, num_neighbors=args.num_neighbors, batch_size=args.batch_size,
        num_workers=args.num_workers, sampler=sampler_of(args), device=args.device,
        progress=not args.no_progress, **extra)


def run_flags(args: argparse.Namespace, free: Iterable[str] = ()) -> Dict[str, Any]:
    """Every option that defines the run, as ``{"--flag": value}``: the parsed options less
    :data:`RESUME_FREE` and ``free``. The checkpoint records them and ``--resume`` refuses to
    continue a run whose flags differ."""
    skip = set(RESUME_FREE) | set(free)
    return {flag(k): v for k, v in sorted(vars(args).items()) if k not in skip}


def load_or_exit(name: str, root: Optional[str] = None,
                 parser: Optional[argparse.ArgumentParser] = None,
                 check: Optional[Callable[[Data, str], None]] = None) -> Data:
    """``load_dataset(name, root)`` for a script: a missing, corrupt or unknown dataset (or
    one ``check(data, name)`` refuses with ``ValueError``) exits with the one-line message,
    through ``parser.error`` if given."""
    try:
        data = load_dataset(name, root=root)
        if check is not None:
            check(data, DATASETS.get(name.lower(), name))
    except (ValueError, FileNotFoundError) as exc:
        if parser is not None:
            parser.error(str(exc))
        raise SystemExit(f"error: {exc}") from None
    return data


def data_from_args(args: argparse.Namespace, root: Optional[str] = None,
                   parser: Optional[argparse.ArgumentParser] = None,
                   node_classification: bool = False) -> Data:
    """Load ``--dataset`` from ``--root`` (:func:`load_or_exit`). With
    ``node_classification``, a dataset without node features, single-label classes or the
    train/val/test split is an error too."""
    data = load_or_exit(args.dataset, root or args.root, parser,
                        check_node_classification if node_classification else None)
    if not getattr(args, "no_normalize_features", True):
        data = normalize_features(data)
    return data


def normalize_features(data: Data) -> Data:
    """Row-normalise non-negative features to sum 1 (PyG's ``NormalizeFeatures``), as the
    GCN/GAT papers preprocess Planetoid's bag-of-words; features with negative entries (e.g.
    CSBM's Gaussians) are left as they are. Returns a copy."""
    if data.x is None or bool((data.x < 0).any()):
        return data
    from torch_geometric.transforms import NormalizeFeatures

    return NormalizeFeatures()(copy.copy(data))


def run_main(main: Callable[[Optional[List[str]]], Any], argv: Optional[List[str]] = None,
             prog: Optional[str] = None) -> NoReturn:
    """A script's entry point: ``main(argv)``, then exit 0; an error of :data:`USER_ERRORS`
    (raised by our code with a message that says what to change) is printed as
    ``<prog>: error: <message>`` and exits with status 2, as argparse's errors do. Any other
    exception is a bug and keeps its traceback."""
    try:
        main(argv)
    except USER_ERRORS as exc:
        prog = prog or Path(sys.argv[0]).name
        print(f"{prog}: error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    raise SystemExit(0)


# ---------------------------------------------------------------------------- unsupervised
def add_unsupervised_args(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the options of unsupervised GraphSAGE training (one per field of
    :class:`~pyg_course.train.unsupervised.UnsupervisedConfig` beyond the shared ones, with its
    defaults) to ``parser`` (a :func:`training_parser`)."""
    d = UnsupervisedConfig()
    g = parser.add_argument_group("unsupervised (with --unsupervised)")
    g.add_argument("--walk-length", type=positive_int, default=d.walk_length,
                   help="steps of each positive-sampling random walk")
    g.add_argument("--num-walks", type=positive_int, default=d.num_walks,
                   help="random walks per batch node for positives")
    g.add_argument("--num-positives", type=positive_int, default=d.num_positives,
                   help="positives kept per batch node and step (drawn from its walks)")
    g.add_argument("--num-negatives", type=positive_int, default=d.num_negatives,
                   help="negatives per batch node (Q of the loss)")
    g.add_argument("--neg-dist", choices=CHOICES["neg_dist"], default=d.neg_dist,
                   help="far: uniform over nodes more than --neg-hops away; "
                        "unigram: degree^0.75 (the official GraphSAGE)")
    g.add_argument("--neg-hops", type=nonnegative_int, default=d.neg_hops,
                   help="far negatives are more than this many hops from the anchor")
    g.add_argument("--neg-candidates", choices=CHOICES["neg_candidates"],
                   default=d.neg_candidates,
                   help="pool of negative candidates: all nodes or the training nodes")
    g.add_argument("--loss", choices=CHOICES["loss"], default=d.loss,
                   help="sage: -log σ(pos) - Q·E log σ(-neg); margin: max(0, neg - pos + m)")
    g.add_argument("--similarity", choices=CHOICES["similarity"], default=d.similarity,
                   help="pair score of the loss (cosine = dot product of the L2-normalised "
                        "embeddings, as the original)")
    g.add_argument("--margin", type=nonnegative_float, default=d.margin,
                   help="margin of --loss margin")
    g.add_argument("--probe-every", type=nonnegative_int, default=d.probe_every,
                   help="also probe every this many epochs and report test accuracy at the "
                        "best validation epoch (0: probe the final embeddings only)")
    return parser

