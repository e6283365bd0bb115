#!/usr/bin/env python
"""Time of one GCN training epoch (train step + evaluation), ours vs the same model built from
PyG's GCNConv as in PyG's examples/gcn.py, measured side by side in one process.

    python benchmarks/bench_gcn.py [--datasets Cora CiteSeer] [--epochs 100] [--device cpu]

Both models use cached normalisation, dropout 0.5 on the input and the hidden layer, Adam with
lr 0.01 / weight decay 5e-4, and the same train/evaluate code; the only difference is the
layer implementation and that ours gets the bag-of-words features as a sparse CSR matrix
(dropout and the first product then touch only the non-zeros, as in the original GCN code).
Prints the median epoch time of each and the ratio ours / PyG (target: <= 0.25). ``run(argv)``
returns the same as rows for ``benchmarks/run_all.py``, with the peak memory of one epoch.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from run_all import peak_memory_mb, row

from pyg_course.datasets import load_dataset, num_classes
from pyg_course.nn.models import GCN
from pyg_course.train import prepare_features, resolve_device
from pyg_course.train.baselines import PyGGCN
from pyg_course.train.cli import normalize_features


def epoch(model, optimizer, data):
    model.train()
    optimizer.zero_grad()
    out = model(data.x, data.edge_index)
    F.cross_entropy(out[data.train_mask], data.y[data.train_mask]).backward()
    optimizer.step()
    model.eval()
    with torch.no_grad():
        pred = model(data.x, data.edge_index).argmax(dim=-1)
    return [int((pred[m] == data.y[m]).sum()) for m in (data.train_mask, data.val_mask,
                                                         data.test_mask)]


def time_epochs(model, data, epochs, device):
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01, weight_decay=5e-4)
    for _ in range(5):  # warm-up (caches, allocator)
        epoch(model, optimizer, data)
    times = []
    for _ in range(epochs):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        epoch(model, optimizer, data)
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def epoch_peak_memory(model, data, device):
    """Extra peak memory (MiB) of one epoch, after one epoch that creates Adam's state."""
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01, weight_decay=5e-4)
    epoch(model, optimizer, data)
    return peak_memory_mb(lambda: epoch(model, optimizer, data), device)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", nargs="+", default=["Cora", "CiteSeer"])
    p.add_argument("--epochs", type=int, default=100, help="timed epochs per model (>= 3)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--root", default=None)
    args = p.parse_args(argv)
    if args.epochs < 3:
        p.error("--epochs must be at least 3 (three alternating rounds of epochs // 3)")
    device = resolve_device(args.device)
    rows = []
    print(f"device {device}, torch {torch.__version__}, threads {torch.get_num_threads()}")
    for name in args.datasets:
        data = normalize_features(load_dataset(name, root=args.root))
        c = num_classes(data)
        torch.manual_seed(0)
        ours = GCN(data.num_features, 16, 2, c, dropout=0.5, input_dropout=0.5,
                   cached=True).to(device)
        theirs = PyGGCN(data.num_features, 16, 2, c, dropout=0.5).to(device)
        ours_data = prepare_features(ours, data).to(device)
        theirs_data = data.to(device)
        # Interleave the two measurements so that machine load affects both alike.
        t_ours, t_theirs = [], []
        for _ in range(3):
            t_theirs.append(time_epochs(theirs, theirs_data, args.epochs // 3, device))
            t_ours.append(time_epochs(ours, ours_data, args.epochs // 3, device))
        a, b = min(t_ours), min(t_theirs)
        print(f"{name:10s} ours {1e3 * a:7.2f} ms/epoch   PyG {1e3 * b:7.2f} ms/epoch   "
              f"ratio ours/PyG {a / b:.3f}")
        mem_ours = epoch_peak_memory(ours, ours_data, device)
        mem_theirs = epoch_peak_memory(theirs, theirs_data, device)
        rows.append((name, a, b, mem_ours, mem_theirs))
    return rows


def run(argv=None) -> list:
    """:func:`main`, its results as rows for ``benchmarks/run_all.py``."""
    return [row("gcn", f"{name}: training epoch (train step + evaluation)", a,
                "PyG GCNConv (examples/gcn.py)", b, mem_a, mem_b)
            for name, a, b, mem_a, mem_b in main(argv)]


if __name__ == "__main__":
    main()
