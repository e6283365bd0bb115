#!/usr/bin/env python
"""Ours vs PyG's SAGEConv: mini-batch training epoch and per-layer forward+backward time.

Both sides get the same mini-batches (sampled once by PyG's NeighborLoader, then replayed) and
the same weights (our state dict loaded into PyG's ``SAGEConv(aggr="mean")`` /
``SAGEConv(aggr="max", project=True)`` with ``strict=True``). Timings alternate between the two
implementations and report the median over ``--repeats``; the ratio is ours / PyG (lower is
better; target <= 1.1). ``run(argv)`` returns the same as rows for ``benchmarks/run_all.py``,
with the peak memory of one call of each timed function.

    python benchmarks/bench_sage.py                      # Cora + 200k-node / 4M-edge graph
    python benchmarks/bench_sage.py --graphs synthetic --aggrs mean --repeats 5
    python benchmarks/bench_sage.py --device cuda
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from run_all import peak_memory_mb, row
from torch_geometric.data import Data
from torch_geometric.loader import NeighborLoader
from torch_geometric.nn import SAGEConv as PyGSAGEConv

from pyg_course.nn import SAGEConv
from pyg_course.train import resolve_device

PYG_KWARGS = {"mean": dict(aggr="mean"), "pool": dict(aggr="max", project=True)}


class Stack(torch.nn.Module):
    """Two SAGE layers with ReLU between them, built from either implementation."""

    def __init__(self, make_conv, sizes):
        super().__init__()
        self.convs = torch.nn.ModuleList(make_conv(a, b) for a, b in zip(sizes[:-1], sizes[1:]))

    def forward(self, x, edge_index):
        for i, conv in enumerate(self.convs):
            x = conv(x, edge_index)
            if i < len(self.convs) - 1:
                x = x.relu()
        return x


def synthetic_graph(num_nodes: int, num_edges: int, num_features: int, num_classes: int,
                    seed: int = 0) -> Data:
    g = torch.Generator().manual_seed(seed)
    edge_index = torch.randint(0, num_nodes, (2, num_edges), generator=g)
    x = torch.randn(num_nodes, num_features, generator=g)
    y = torch.randint(0, num_classes, (num_nodes,), generator=g)
    return Data(x=x, edge_index=edge_index, y=y, num_nodes=num_nodes)


def load_graph(name: str, args) -> Data:
    if name == "cora":
        from pyg_course.datasets import load_dataset

        data = load_dataset("Cora", root=args.root)
        data.train_nodes = data.train_mask.nonzero().view(-1)  # the public split's 140 nodes
        return data
    data = synthetic_graph(args.nodes, args.edges, args.features, 16)
    data.train_nodes = torch.randperm(args.nodes, generator=torch.Generator().manual_seed(1))[
        : args.train_nodes]
    return data


def timed(fn, repeats: int, warmup: int = 1, min_time: float = 0.1) -> list:
    """Seconds per call; calls shorter than ``min_time`` are looped and averaged."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        t = time.perf_counter() - start
        if t < min_time:
            n = int(min_time / max(t, 1e-6)) + 1
            start = time.perf_counter()
            for _ in range(n):
                fn()
            t = (time.perf_counter() - start) / n
        times.append(t)
    return times


def synchronized(fn, device: torch.device):
    """``fn`` followed by a CUDA synchronisation on a GPU, so that timings cover the kernels."""
    if device.type != "cuda":
        return fn

    def call():
        fn()
        torch.cuda.synchronize(device)
    return call


def compare(name: str, fn_ours, fn_pyg, repeats: int, device=None) -> dict:
    device = torch.device(device or "cpu")
    fn_ours, fn_pyg = synchronized(fn_ours, device), synchronized(fn_pyg, device)
    ours, pyg = [], []
    fn_ours(), fn_pyg()  # warm-up
    for _ in range(repeats):  # alternate, so that load changes hit both sides alike
        ours += timed(fn_ours, 1, warmup=0)
        pyg += timed(fn_pyg, 1, warmup=0)
    o, p = statistics.median(ours), statistics.median(pyg)
    print(f"  {name:<34} ours {1e3 * o:9.2f} ms   PyG {1e3 * p:9.2f} ms   ratio {o / p:5.2f}",
          flush=True)
    return {"ours": o, "pyg": p, "ratio": o / p, "ours_mem": peak_memory_mb(fn_ours, device),
            "pyg_mem": peak_memory_mb(fn_pyg, device)}


def bench_graph(name: str, data: Data, args) -> dict:
    loader = NeighborLoader(data, num_neighbors=args.num_neighbors, batch_size=args.batch_size,
                            input_nodes=data.train_nodes, shuffle=True,
                            generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    batches = [b.to(args.device) for b in loader]
    num_edges = sum(b.edge_index.size(1) for b in batches)
    print(f"{name}: {data.num_nodes} nodes, {data.edge_index.size(1)} edges, "
          f"{data.num_features} features; {len(batches)} mini-batches of {args.batch_size} "
          f"seeds, num_neighbors={args.num_neighbors}, {num_edges} sampled edges", flush=True)
    num_classes = int(data.y.max()) + 1
    sizes = [data.num_features, args.hidden, num_classes]
    results = {}
    for aggr in args.aggrs:
        torch.manual_seed(0)
        ours = Stack(lambda a, b, aggr=aggr: SAGEConv(a, b, aggr=aggr), sizes)
        pyg = Stack(lambda a, b, aggr=aggr: PyGSAGEConv(a, b, **PYG_KWARGS[aggr]), sizes)
        pyg.load_state_dict(ours.state_dict(), strict=True)
        ours, pyg = ours.to(args.device), pyg.to(args.device)

        def epoch(model, opt, batches=batches):
            for b in batches:
                opt.zero_grad()
                out = model(b.x, b.edge_index)[: b.batch_size]
                F.cross_entropy(out, b.y[: b.batch_size]).backward()
                opt.step()

        opt_ours = torch.optim.Adam(ours.parameters(), lr=1e-3)
        opt_pyg = torch.optim.Adam(pyg.parameters(), lr=1e-3)
        results[f"{aggr} epoch"] = compare(f"{aggr}: mini-batch training epoch",
                                           lambda m=ours, o=opt_ours: epoch(m, o),
                                           lambda m=pyg, o=opt_pyg: epoch(m, o), args.repeats,
                                           args.device)

        # One layer on the largest sampled bipartite block: (x_src, x_dst) -> dst outputs.
        b = max(batches, key=lambda b: b.edge_index.size(1))
        for layer in range(len(sizes) - 1):
            torch.manual_seed(1)
            conv = SAGEConv(sizes[layer], sizes[layer + 1], aggr=aggr)
            ref = PyGSAGEConv(sizes[layer], sizes[layer + 1], **PYG_KWARGS[aggr])
            ref.load_state_dict(conv.state_dict(), strict=True)
            conv, ref = conv.to(args.device), ref.to(args.device)
            x = torch.randn(b.num_nodes, sizes[layer], device=args.device, requires_grad=True)
            ei = b.edge_index

            def fwd_bwd(layer_module, x=x, ei=ei):
                layer_module(x, ei).sum().backward()

            results[f"{aggr} layer{layer + 1}"] = compare(
                f"{aggr}: layer {layer + 1} fwd+bwd ({sizes[layer]}->{sizes[layer + 1]})",
                lambda c=conv: fwd_bwd(c), lambda c=ref: fwd_bwd(c), args.repeats, args.device)
    return results


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--graphs", nargs="+", default=["cora", "synthetic"],
                   choices=["cora", "synthetic"])
    p.add_argument("--aggrs", nargs="+", default=["mean", "pool"], choices=["mean", "pool"])
    p.add_argument("--root", default=None, help="data folder (default: $PYG_COURSE_DATA)")
    p.add_argument("--nodes", type=int, default=200_000)
    p.add_argument("--edges", type=int, default=4_000_000)
    p.add_argument("--features", type=int, default=128)
    p.add_argument("--train-nodes", type=int, default=2048,
                   help="seed nodes of one synthetic epoch")
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--num-neighbors", type=int, nargs="+", default=[25, 10])
    p.add_argument("--batch-size", type=int, default=1024)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)
    args.device = resolve_device(args.device)
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads"
          + (f", device {args.device}" if args.device.type != "cpu" else "") + "; median of "
          f"{args.repeats} alternating repeats; ratio = ours / PyG")
    all_results = {}
    for name in args.graphs:
        all_results[name] = bench_graph(name, load_graph(name, args), args)
    print("\nsummary (ours / PyG, target <= 1.1):")
    for name, res in all_results.items():
        for key, r in res.items():
            flag = "ok" if r["ratio"] <= 1.1 else "MISSED"
            print(f"  {name:<10} {key:<14} {r['ratio']:5.2f}  {flag}")
    return all_results


def run(argv=None) -> list:
    """:func:`main`, its results as rows for ``benchmarks/run_all.py``."""
    args = parse_args(argv)
    graph_names = {"cora": "Cora", "synthetic": f"synthetic {args.nodes:,} nodes / "
                                                 f"{args.edges:,} edges"}
    rows = []
    for name, res in main(argv).items():
        for key, r in res.items():
            aggr, what = key.split(" ", 1)
            what = ("mini-batch training epoch" if what == "epoch"
                    else f"layer {what[len('layer'):]} fwd+bwd")
            peer = "PyG SAGEConv(aggr='mean')" if aggr == "mean" else \
                "PyG SAGEConv(aggr='max', project=True)"
            rows.append(row("sage", f"{graph_names[name]}: {aggr} {what}", r["ours"], peer,
                            r["pyg"], r["ours_mem"], r["pyg_mem"]))
    return rows


if __name__ == "__main__":
    main()
