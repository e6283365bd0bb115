#!/usr/bin/env python
"""Graph augmentation: feature augmentations on Cora/CiteSeer without their node features, and
virtual nodes / edges on a sparsified Cora; test accuracy of a GCN and a GraphSAGE.

    python scripts/augmentation.py --datasets Cora CiteSeer --runs 2 \
        --out docs/results/augmentation

Writes ``<out>.csv`` and ``<out>.md`` (test accuracy at the best validation epoch, mean ± std
over ``--runs`` seeds); an ``--out`` that ends with a path separator or names an existing folder
writes ``<out>/augmentation.csv`` and ``.md``.
"""

from __future__ import annotations

import argparse
import copy
import csv
from pathlib import Path

import torch
from torch_geometric.transforms import Compose
from torch_geometric.utils import degree, dropout_edge

from pyg_course.datasets import num_classes
from pyg_course.nn.models import GCN, GraphSAGE
from pyg_course.train import TrainConfig, run_experiment
from pyg_course.train.argtypes import out_prefix, probability
from pyg_course.train.cli import dataset, load_or_exit, training_parser
from pyg_course.transforms import (
    AddRandomWalkPE,
    ClusteringCoefficient,
    Constant,
    CycleCounts,
    KHopVirtualEdges,
    LocalDegreeProfile,
    OneHotDegree,
    OneHotNodeId,
    PageRank,
    VirtualNode,
)

#: Options of the shared training parser that the study has no use for: it trains two-layer
#: models full-batch on graphs it builds itself, and writes tables, not checkpoints.
OMIT = ("dataset", "no_normalize_features", "num_layers", "mode", "num_neighbors",
        "batch_size", "num_workers", "sampler", "resume", "no_progress")
FIELDS = ["experiment", "dataset", "augmentation", "model", "runs", "test_acc", "test_acc_std",
          "num_features", "num_edges"]


def feature_augmentations(max_degree: int):
    """name -> transform that builds ``x`` for a graph without features."""
    return {
        "constant": Constant(1.0),
        "one-hot id": OneHotNodeId(),
        "one-hot degree": OneHotDegree(max_degree),
        "degree profile (PyG LDP)": LocalDegreeProfile(),
        "clustering coefficient": ClusteringCoefficient(),
        "PageRank": PageRank(),
        "cycle counts 3-5": CycleCounts(5, log=True),
        "random-walk PE (PyG, 16)": AddRandomWalkPE(16, attr_name=None),
        "degree+LDP+clust.+PR+cycles": Compose([
            OneHotDegree(max_degree), LocalDegreeProfile(), ClusteringCoefficient(),
            PageRank(), CycleCounts(5, log=True)]),
    }


def standardize(x: torch.Tensor) -> torch.Tensor:
    """Zero mean, unit variance for every non-binary column (counts and scores of very
    different scales); 0/1 columns are left as they are."""
    x = x.float()
    binary = ((x == 0) | (x == 1)).all(dim=0)
    std = x.std(dim=0)
    scale = ~binary & (std > 0)
    x = x.clone()
    x[:, scale] = (x[:, scale] - x[:, scale].mean(dim=0)) / std[scale]
    return x


def without_features(data):
    data = copy.copy(data)
    data.num_nodes = data.y.size(0)
    data.x = None
    return data


def build(model: str, data, hidden: int, dropout: float):
    def make():
        if model == "GCN":
            return GCN(data.num_features, hidden, 2, num_classes(data), dropout=dropout,
                       input_dropout=dropout, cached=True)
        return GraphSAGE(data.num_features, hidden, 2, num_classes(data), dropout=dropout)
    return make


def run(data, model, args, config, name):
    res = run_experiment(build(model, data, args.hidden, args.dropout), data, config,
                         runs=args.runs, seed=args.seed, name=name)
    s = res["summary"]
    return 100 * s["test_acc_mean"], 100 * s["test_acc_std"]


def parser() -> argparse.ArgumentParser:
    names = list(feature_augmentations(1))
    p = training_parser(
        __doc__, omit=OMIT, hidden=64, patience=50, out="augmentation",
        help={"out": "file prefix: writes <out>.csv and <out>.md; a folder (a name ending in a "
                     "path separator, or an existing folder) gets <out>/augmentation.csv and "
                     ".md"})
    g = p.add_argument_group("augmentation")
    g.add_argument("--datasets", type=dataset, nargs="+", default=["Cora", "CiteSeer"],
                   help="graphs of the feature study, their features removed")
    g.add_argument("--models", nargs="+", default=["GCN", "GraphSAGE"],
                   choices=["GCN", "GraphSAGE"])
    g.add_argument("--augmentations", nargs="+", default=None, choices=names, metavar="NAME",
                   help="subset of the feature augmentations (default: all); quote names with "
                        "spaces: " + ", ".join(f"'{n}'" for n in names))
    g.add_argument("--drop-rates", type=probability, nargs="+", default=[0.5, 0.9],
                   help="fractions in [0, 1) of Cora's undirected edges removed for the "
                        "sparse-graph study")
    g.add_argument("--quick", action="store_true",
                   help="smoke test: 5 epochs, no early stopping")
    return p


def main(argv=None):
    p = parser()
    args = p.parse_args(argv)
    if args.quick:
        args.epochs, args.patience = 5, None
    config = TrainConfig(epochs=args.epochs, lr=args.lr, weight_decay=args.weight_decay,
                         patience=args.patience, device=args.device, progress=False)
    # Every dataset is loaded before anything trains: a missing one fails at once.
    bases = {name: load_or_exit(name, args.root) for name in args.datasets}
    cora = load_or_exit("Cora", args.root)
    rows = []

    def record(**row):
        rows.append(row)
        print(f"{row['experiment']:>9} {row['dataset']:>9} {row['augmentation']:>30} "
              f"{row['model']:>9}: {row['test_acc']:.2f} ± {row['test_acc_std']:.2f}",
              flush=True)

    for name, base in bases.items():
        bare = without_features(base)
        max_degree = int(degree(bare.edge_index[0], bare.num_nodes).max())
        augs = feature_augmentations(max_degree)
        for aug_name, transform in augs.items():
            if args.augmentations and aug_name not in args.augmentations:
                continue
            data = transform(bare)
            data.x = standardize(data.x)
            for model in args.models:
                acc, std = run(data, model, args, config, f"{name} {aug_name} {model}")
                record(experiment="features", dataset=name, augmentation=aug_name, model=model,
                       runs=args.runs, test_acc=acc, test_acc_std=std,
                       num_features=data.num_features, num_edges=data.edge_index.size(1))

    from torch_geometric.transforms import NormalizeFeatures

    cora = NormalizeFeatures()(cora)
    variants = {"none": None, "virtual node": VirtualNode(),
                "2-hop edges (cap 10)": KHopVirtualEdges(2, max_per_node=10),
                "3-hop edges (cap 10)": KHopVirtualEdges(3, max_per_node=10)}
    gen_state = torch.get_rng_state()
    for rate in args.drop_rates:
        torch.manual_seed(args.seed)
        sparse = copy.copy(cora)
        sparse.edge_index, _ = dropout_edge(cora.edge_index, p=rate, force_undirected=True)
        sparse.num_nodes = cora.num_nodes
        for var_name, transform in variants.items():
            data = sparse if transform is None else transform(sparse)
            for model in args.models:
                acc, std = run(data, model, args, config, f"Cora-{rate} {var_name} {model}")
                record(experiment=f"sparse {rate:g}", dataset="Cora", augmentation=var_name,
                       model=model, runs=args.runs, test_acc=acc, test_acc_std=std,
                       num_features=data.num_features, num_edges=data.edge_index.size(1))
    torch.set_rng_state(gen_state)

    out = out_prefix(args.out, "augmentation")
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{out}.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS)
        w.writeheader()
        w.writerows({k: f"{v:.4g}" if isinstance(v, float) else v for k, v in r.items()}
                    for r in rows)
    Path(f"{out}.md").write_text(markdown(rows, args))
    print(f"wrote {out}.csv and {out}.md")
    return rows


def markdown(rows, args) -> str:
    """One table per experiment: augmentations as rows, dataset x model as columns."""
    lines = []
    for exp in dict.fromkeys(r["experiment"] for r in rows):
        sel = [r for r in rows if r["experiment"] == exp]
        cols = list(dict.fromkeys((r["dataset"], r["model"]) for r in sel))
        title = ("Node features removed" if exp == "features"
                 else f"Cora with {float(exp.split()[1]):.0%} of its edges dropped")
        lines += [f"**{title}** (test accuracy %, {args.runs} seed(s))", "",
                  "| augmentation | " + " | ".join(f"{d} {m}" for d, m in cols) + " |",
                  "|---|" + "---:|" * len(cols)]
        for aug in dict.fromkeys(r["augmentation"] for r in sel):
            cells = []
            for d, m in cols:
                hit = [r for r in sel if (r["augmentation"], r["dataset"], r["model"]) ==
                       (aug, d, m)]
                cells.append(f"{hit[0]['test_acc']:.1f} ± {hit[0]['test_acc_std']:.1f}"
                             if hit else "")
            lines.append(f"| {aug} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
