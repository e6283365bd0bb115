"""Command-line arguments shared by every ``scripts/train_*.py``: the scripts stay thin."""

from __future__ import annotations

import argparse
import copy
from typing import Any, Optional

from torch_geometric.data import Data

from pyg_course.datasets import DATASETS, load_dataset
from pyg_course.train.loop import TrainConfig


def training_parser(description: str, **defaults: Any) -> argparse.ArgumentParser:
    """An ``ArgumentParser`` with the options every training script takes; ``defaults``
    override the paper settings per script (e.g. ``lr=0.005`` for GAT)."""
    p = argparse.ArgumentParser(description=description,
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    g = p.add_argument_group("data")
    g.add_argument("--dataset", default="Cora",
                   help=f"one of {', '.join(DATASETS.values())} (case-insensitive)")
    g.add_argument("--root", default=None,
                   help="folder holding <Name>/raw/ (default: $PYG_COURSE_DATA, then the cache)")
    g.add_argument("--no-normalize-features", action="store_true",
                   help="keep raw features (default: row-normalise non-negative features, as the "
                        "GCN and GAT papers do)")
    g = p.add_argument_group("model")
    g.add_argument("--hidden", type=int, default=16, help="hidden channels")
    g.add_argument("--num-layers", type=int, default=2)
    g.add_argument("--dropout", type=float, default=0.5)
    g = p.add_argument_group("training")
    g.add_argument("--epochs", type=int, default=200)
    g.add_argument("--lr", type=float, default=0.01)
    g.add_argument("--weight-decay", type=float, default=5e-4)
    g.add_argument("--patience", type=int, default=None,
                   help="early stopping: epochs without val improvement (default: off)")
    g.add_argument("--mode", choices=["full", "minibatch"], default="full")
    g.add_argument("--num-neighbors", type=int, nargs="+", default=[25, 10],
                   help="neighbours sampled per layer in minibatch mode (-1: all)")
    g.add_argument("--batch-size", type=int, default=512)
    g.add_argument("--num-workers", type=int, default=0)
    g.add_argument("--runs", type=int, default=1, help="number of seeds")
    g.add_argument("--seed", type=int, default=0, help="seed of the first run")
    g.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto")
    g = p.add_argument_group("output")
    g.add_argument("--out", default=None,
                   help="folder for results.json, history.csv, curves.png, checkpoint.pt")
    g.add_argument("--resume", action="store_true", help="continue from --out/checkpoint.pt")
    g.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(**defaults)
    return p


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    return TrainConfig(
        epochs=args.epochs, lr=args.lr, weight_decay=args.weight_decay, patience=args.patience,
        mode=args.mode, num_neighbors=args.num_neighbors, batch_size=args.batch_size,
        num_workers=args.num_workers, device=args.device, progress=not args.no_progress)


def data_from_args(args: argparse.Namespace, root: Optional[str] = None) -> Data:
    """Load ``--dataset`` from ``--root``; exits with the loader's one-line message on error."""
    try:
        data = load_dataset(args.dataset, root=root or args.root)
    except (ValueError, FileNotFoundError) as exc:
        raise SystemExit(f"error: {exc}") from None
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
