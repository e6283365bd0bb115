#!/usr/bin/env python
"""The DropEdge repository's deep GCN and its training loop, written again in plain torch (no
PyG layer, no code of this package's models or trainer): an independent reference for the
over-smoothing sweep (``scripts/oversmoothing.py``), trained with the repository's own
semi-supervised settings.

    python scripts/dropedge_recipe.py --dataset Cora --depth 32 --dropedge   # GCN + DropEdge
    python scripts/dropedge_recipe.py --dataset Cora --depth 32 --bn         # with BatchNorm
    python scripts/dropedge_recipe.py --dataset CiteSeer --depth 16 --jknet --dropedge

The model is the repository's ``mutigcn`` backbone: a GCN layer in -> hidden, ``depth - 2``
hidden GCN layers, a GCN layer hidden -> classes; ReLU and dropout after every layer but the
last, none on the input features; weights and biases drawn uniformly in
:math:`\\pm 1/\\sqrt{\\text{fan-out}}`. Adam with one L2 penalty on every parameter, 400 epochs.
The adjacency is :math:`\\hat{D}^{-1/2}(A + I)\\hat{D}^{-1/2}` with row sums as degrees; DropEdge
keeps ``keep`` of the adjacency's directed entries, drawn afresh every epoch, and normalises
what it kept. Features are row-normalised. ``--bn`` puts a BatchNorm after every convolution
(the repository's ``withbn``), ``--residual`` adds every hidden layer's input to its output
(its ResGCN with one-layer blocks).

``--jknet`` builds the repository's JKNet instead (its ``densegcn`` block): an input
convolution, ``depth - 2`` hidden convolutions each fed the previous one's output, and an
output *convolution* (not a linear map) over the concatenation of the input convolution's and
every hidden convolution's output; ReLU and dropout after every convolution but the last.
``--withloop`` gives every convolution a second weight for the node's own features,
:math:`\\hat{A} H W + H W_{\\text{self}} + b` (the repository's ``withloop``, on in its
CiteSeer JKNet scripts).

The defaults are the repository's ``script/semi-supervised/<dataset>_GCN.sh`` (hidden 128;
Cora: lr 0.007, L2 1e-5, dropout 0.8, DropEdge keeps 0.4 of the entries; CiteSeer: lr 0.01,
L2 5e-4, dropout 0.3, keeps 0.2); with ``--jknet``, ``<dataset>_JKNet.sh`` (CiteSeer: hidden
128, lr 0.006, L2 1e-3, dropout 0.8, keeps 0.5, ``withloop``). Each seed prints the test
accuracy at the repository's checkpoint, the epoch of lowest validation loss on the training
forward pass (dropout and DropEdge on), and at the epoch of best validation accuracy (the
sweep's selection).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import statistics
import time
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.utils import remove_self_loops, to_undirected
from tqdm import tqdm

from pyg_course.train.argtypes import nonnegative_float, positive_int, probability
from pyg_course.train.cli import dataset, load_or_exit, normalize_features

#: ``script/semi-supervised/<dataset>_GCN.sh`` of the DropEdge repository: ``keep`` is its
#: ``--sampling_percent`` (the ``_nodrop`` scripts keep everything, the rest is the same).
RECIPES = {"Cora": dict(hidden=128, lr=0.007, weight_decay=1e-5, dropout=0.8, keep=0.4,
                        withloop=False),
           "CiteSeer": dict(hidden=128, lr=0.01, weight_decay=5e-4, dropout=0.3, keep=0.2,
                            withloop=False)}
#: ``script/semi-supervised/citeseer_JKNet.sh`` (``densegcn``, ``--withloop``).
JK_RECIPES = {"CiteSeer": dict(hidden=128, lr=0.006, weight_decay=1e-3, dropout=0.8, keep=0.5,
                               withloop=True)}


def normalized_adjacency(edge_index: Tensor, num_nodes: int) -> Tensor:
    """:math:`\\hat{D}^{-1/2}(A + I)\\hat{D}^{-1/2}` as a sparse CSR matrix, :math:`\\hat{D}` the
    row sums of :math:`A + I` (for a directed subset of entries, as DropEdge leaves, too)."""
    loops = torch.arange(num_nodes)
    row = torch.cat([edge_index[0], loops])
    col = torch.cat([edge_index[1], loops])
    deg = torch.zeros(num_nodes).index_add_(0, row, torch.ones(row.numel()))
    d = deg.pow(-0.5)
    adj = torch.sparse_coo_tensor(torch.stack([row, col]), d[row] * d[col],
                                  (num_nodes, num_nodes), check_invariants=True).coalesce()
    with warnings.catch_warnings():  # CSR's "beta" notice: nothing for a user to act on
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return adj.to_sparse_csr()


def drop_entries(edge_index: Tensor, keep: float, generator: torch.Generator) -> Tensor:
    """``int(E * keep)`` of the ``E`` directed entries, uniformly without replacement."""
    perm = torch.randperm(edge_index.size(1), generator=generator)
    return edge_index[:, perm[:int(edge_index.size(1) * keep)]]


class GraphConvolution(torch.nn.Module):
    """:math:`\\hat{A} H W + b` (``withloop``: :math:`+ H W_{\\text{self}}`), every parameter
    uniform in :math:`\\pm 1/\\sqrt{\\text{fan-out}}`."""

    def __init__(self, in_features: int, out_features: int, withloop: bool = False):
        super().__init__()
        bound = 1.0 / math.sqrt(out_features)
        self.weight = torch.nn.Parameter(torch.empty(in_features, out_features)
                                         .uniform_(-bound, bound))
        self.self_weight = None
        if withloop:
            self.self_weight = torch.nn.Parameter(torch.empty(in_features, out_features)
                                                  .uniform_(-bound, bound))
        self.bias = torch.nn.Parameter(torch.empty(out_features).uniform_(-bound, bound))

    def forward(self, h: Tensor, adj: Tensor) -> Tensor:
        out = adj @ (h @ self.weight) + self.bias
        return out if self.self_weight is None else out + h @ self.self_weight


class RecipeGCN(torch.nn.Module):
    """The repository's ``mutigcn`` backbone of ``depth`` graph convolutions."""

    def __init__(self, in_features: int, hidden: int, classes: int, depth: int, dropout: float,
                 bn: bool = False, residual: bool = False, withloop: bool = False):
        super().__init__()
        sizes = [in_features] + [hidden] * (depth - 1) + [classes]
        self.convs = torch.nn.ModuleList(GraphConvolution(sizes[i], sizes[i + 1], withloop)
                                         for i in range(depth))
        self.norms = torch.nn.ModuleList(
            torch.nn.BatchNorm1d(sizes[i + 1]) if bn else torch.nn.Identity()
            for i in range(depth))
        self.dropout = dropout
        self.residual = residual

    def forward(self, x: Tensor, adj: Tensor) -> Tensor:
        h = x
        layers = list(zip(self.convs, self.norms))
        for i, (conv, norm) in enumerate(layers[:-1]):
            out = F.relu(norm(conv(h, adj)))
            if self.residual and i > 0:
                out = out + h
            h = F.dropout(out, self.dropout, self.training)
        conv, norm = layers[-1]
        return F.log_softmax(norm(conv(h, adj)), dim=1)


class RecipeJKNet(torch.nn.Module):
    """The repository's JKNet (``densegcn`` block) of ``depth`` graph convolutions."""

    def __init__(self, in_features: int, hidden: int, classes: int, depth: int, dropout: float,
                 withloop: bool = False):
        super().__init__()
        sizes = [in_features] + [hidden] * (depth - 1)
        self.convs = torch.nn.ModuleList(GraphConvolution(sizes[i], sizes[i + 1], withloop)
                                         for i in range(depth - 1))
        self.out = GraphConvolution(hidden * (depth - 1), classes, withloop)
        self.dropout = dropout

    def forward(self, x: Tensor, adj: Tensor) -> Tensor:
        hs, h = [], x
        for conv in self.convs:
            h = F.dropout(F.relu(conv(h, adj)), self.dropout, self.training)
            hs.append(h)
        return F.log_softmax(self.out(torch.cat(hs, dim=1), adj), dim=1)


def run_seed(data, args, recipe: dict, seed: int) -> dict:
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    n = data.num_nodes
    edge_index, _ = remove_self_loops(to_undirected(data.edge_index, num_nodes=n))
    adj = normalized_adjacency(edge_index, n)
    classes, withloop = int(data.y.max()) + 1, recipe["withloop"]
    if args.jknet:
        model = RecipeJKNet(data.num_features, recipe["hidden"], classes, args.depth,
                            recipe["dropout"], withloop=withloop)
    else:
        model = RecipeGCN(data.num_features, recipe["hidden"], classes, args.depth,
                          recipe["dropout"], bn=args.bn, residual=args.residual,
                          withloop=withloop)
    optimizer = torch.optim.Adam(model.parameters(), lr=recipe["lr"],
                                 weight_decay=recipe["weight_decay"])
    y, train, val, test = data.y, data.train_mask, data.val_mask, data.test_mask
    best = {"repo": (math.inf, 0.0, -1), "val_acc": (-math.inf, 0.0, -1)}
    start = time.perf_counter()
    for epoch in tqdm(range(args.epochs), desc=f"seed {seed}", disable=args.no_progress,
                      leave=False):
        model.train()
        optimizer.zero_grad()
        train_adj = adj
        if args.dropedge:
            train_adj = normalized_adjacency(drop_entries(edge_index, recipe["keep"], generator),
                                             n)
        out = model(data.x, train_adj)
        F.nll_loss(out[train], y[train]).backward()
        optimizer.step()
        train_val_loss = F.nll_loss(out[val], y[val]).item()
        model.eval()
        with torch.no_grad():
            pred = model(data.x, adj).argmax(1)
        val_acc = (pred[val] == y[val]).float().mean().item()
        test_acc = 100 * (pred[test] == y[test]).float().mean().item()
        if train_val_loss < best["repo"][0]:
            best["repo"] = (train_val_loss, test_acc, epoch)
        if val_acc > best["val_acc"][0]:
            best["val_acc"] = (val_acc, test_acc, epoch)
    return {"seed": seed, "test_acc_repo": best["repo"][1], "epoch_repo": best["repo"][2],
            "test_acc_val_acc": best["val_acc"][1], "epoch_val_acc": best["val_acc"][2],
            "seconds": time.perf_counter() - start}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", type=dataset, default="Cora", choices=list(RECIPES))
    p.add_argument("--root", default=None, help="data folder (default: the bundled copy)")
    p.add_argument("--depth", type=positive_int, default=32,
                   help="graph convolutions (at least 2)")
    p.add_argument("--dropedge", action="store_true",
                   help="DropEdge at the repository's rate (default: the _nodrop script)")
    p.add_argument("--bn", action="store_true", help="BatchNorm after every convolution")
    p.add_argument("--residual", action="store_true", help="a skip around every hidden layer")
    p.add_argument("--jknet", action="store_true",
                   help="the repository's JKNet (densegcn) with its JKNet script's settings")
    p.add_argument("--withloop", action=argparse.BooleanOptionalAction, default=None,
                   help="a self-feature weight in every convolution (default: the script's)")
    p.add_argument("--epochs", type=positive_int, default=400)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    for key, kind in (("hidden", positive_int), ("lr", nonnegative_float),
                      ("weight-decay", nonnegative_float), ("dropout", probability),
                      ("keep", probability)):
        p.add_argument(f"--{key}", type=kind, default=None,
                       help="default: the repository's script for the dataset")
    p.add_argument("--threads", type=positive_int, default=1)
    p.add_argument("--out", default=None, help="also write the seeds to this CSV file")
    p.add_argument("--no-progress", action="store_true")
    return p


def main(argv=None) -> list:
    p = parser()
    args = p.parse_args(argv)
    if args.depth < 2:
        p.error(f"--depth must be at least 2, got {args.depth}")
    torch.set_num_threads(args.threads)
    if args.jknet and (args.bn or args.residual):
        p.error("--jknet is its own architecture: no --bn or --residual")
    if args.jknet and args.dataset not in JK_RECIPES:
        p.error(f"--jknet: the JKNet script's settings are known for {', '.join(JK_RECIPES)}")
    recipe = dict(JK_RECIPES[args.dataset] if args.jknet else RECIPES[args.dataset])
    for key in recipe:
        if getattr(args, key) is not None:
            recipe[key] = getattr(args, key)
    data = normalize_features(load_or_exit(args.dataset, args.root, parser=p))
    print(f"{args.dataset}, {args.depth} layers, {'JKNet' if args.jknet else 'GCN'}, "
          f"dropedge={args.dropedge}, bn={args.bn}, residual={args.residual}: "
          f"{json.dumps(recipe)}", flush=True)
    rows = []
    for seed in args.seeds:
        rows.append(run_seed(data, args, recipe, seed))
        print(json.dumps({k: round(v, 2) if isinstance(v, float) else v
                          for k, v in rows[-1].items()}), flush=True)
    for key, what in (("test_acc_repo", "lowest training-pass validation loss"),
                      ("test_acc_val_acc", "best validation accuracy")):
        values = [r[key] for r in rows]
        std = statistics.stdev(values) if len(values) > 1 else 0.0
        print(f"test accuracy at the {what}: {statistics.fmean(values):.1f} ± {std:.1f}")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        with open(args.out, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    return rows


if __name__ == "__main__":
    main()
