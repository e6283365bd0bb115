#!/usr/bin/env python
"""One full-batch training step (forward + backward + Adam) of GCN, GraphSAGE and GAT, eager and
``torch.compile``-d, ours vs PyG's model of the same name built with the same call, measured
side by side in one process.

    python benchmarks/bench_compile.py [--graphs cora synthetic] [--models gcn sage gat]
                                       [--repeats 10] [--device cpu] [--interleave]

Both sides get the same call (``GCN(F, 64, 2, C)``, ``GraphSAGE(F, 64, 2, C)``,
``GAT(F, 64, 2, C, heads=8)``), the same graph and the same features. Self-loops are added to
the graph once beforehand and GCN/GAT run with ``add_self_loops=False`` on both sides, the
setting under which PyG's models compile without graph breaks. Ours compiles with
``fullgraph=True``; PyG's with the default (graph breaks allowed, none expected).
``synthetic`` is the uniform random graph of ``bench_sage.py`` (200,000 nodes, 4,000,000 edges,
128 features by default).

Prints, per graph and model, the median step time of each of the four variants, the ratios
ours / PyG (eager and compiled) and the compile time (the first compiled step). By default each
variant is timed in one block of steps; ``--interleave`` builds all four first and then runs one
step of each in turn, so that a machine shared with other work slows all of them alike.
``run(argv)`` returns the same as rows for ``benchmarks/run_all.py``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
import torch_geometric.nn.models as pyg_models
from bench_sage import synthetic_graph
from run_all import peak_memory_mb, row
from torch_geometric.utils import add_remaining_self_loops

from pyg_course.datasets import load_dataset
from pyg_course.nn import models as our_models
from pyg_course.train import resolve_device

MODELS = {  # name -> (class name, keyword arguments beyond (F, hidden, 2, C))
    "gcn": ("GCN", {"add_self_loops": False}),
    "sage": ("GraphSAGE", {}),
    "gat": ("GAT", {"heads": 8, "add_self_loops": False}),
}


def load_graph(name: str, args):
    if name == "cora":
        data = load_dataset("Cora", root=args.root)
    else:
        data = synthetic_graph(args.nodes, args.edges, args.features, 16)
    data.edge_index = add_remaining_self_loops(data.edge_index, num_nodes=data.num_nodes)[0]
    return data


def make_step(model, data):
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    y = data.y

    def step():
        optimizer.zero_grad()
        out = model(data.x, data.edge_index)
        F.cross_entropy(out, y).backward()
        optimizer.step()

    return step


def timed(step, repeats: int, device: torch.device) -> float:
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_model(key: str, data, args) -> dict:
    cls_name, kwargs = MODELS[key]
    c = int(data.y.max()) + 1
    sizes = (data.num_features, args.hidden, 2, c)
    result = {}
    steps = {}
    for impl, module in (("ours", our_models), ("pyg", pyg_models)):
        for compiled in (False, True):
            torch.manual_seed(0)
            model = getattr(module, cls_name)(*sizes, **kwargs).to(args.device)
            if compiled:
                if not args.interleave:  # (a reset would drop the other compiled model)
                    torch._dynamo.reset()
                model = torch.compile(model, fullgraph=impl == "ours")
            step = make_step(model, data)
            start = time.perf_counter()
            step()  # eager: warm-up; compiled: the compilation
            first = time.perf_counter() - start
            step()
            name = f"{impl} {'compiled' if compiled else 'eager'}"
            result[name + " first"] = first
            if args.interleave:
                steps[name] = step
            else:
                result[name] = timed(step, args.repeats, args.device)
                result[name + " mem"] = peak_memory_mb(step, args.device)
    if steps:  # one step of each variant in turn, so that a change in load hits all four
        times = {name: [] for name in steps}
        for _ in range(args.repeats):
            for name, step in steps.items():
                times[name].append(timed(step, 1, args.device))
        for name, step in steps.items():
            result[name] = statistics.median(times[name])
            result[name + " mem"] = peak_memory_mb(step, args.device)
    return result


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--graphs", nargs="+", default=["cora", "synthetic"],
                   choices=["cora", "synthetic"])
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    p.add_argument("--root", default=None, help="data folder (default: $PYG_COURSE_DATA)")
    p.add_argument("--nodes", type=int, default=200_000)
    p.add_argument("--edges", type=int, default=4_000_000)
    p.add_argument("--features", type=int, default=128)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--device", default="cpu")
    p.add_argument("--interleave", action="store_true",
                   help="build the four variants first, then time one step of each in turn "
                        "(ratios robust to a machine whose load changes during the run)")
    args = p.parse_args(argv)
    if args.repeats < 1:
        p.error("--repeats must be at least 1")
    args.device = resolve_device(args.device)
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}; "
          f"median of {args.repeats} steps; ratio = ours / PyG")
    results = {}
    for graph in args.graphs:
        data = load_graph(graph, args).to(args.device)
        print(f"{graph}: {data.num_nodes:,} nodes, {data.edge_index.size(1):,} edges "
              f"(self-loops included), {data.num_features} features")
        for key in args.models:
            r = bench_model(key, data, args)
            results[(graph, key)] = r
            for mode in ("eager", "compiled"):
                ours, pyg = r[f"ours {mode}"], r[f"pyg {mode}"]
                print(f"  {MODELS[key][0]:<9} {mode:<8} ours {ours * 1e3:9.2f} ms   "
                      f"PyG {pyg * 1e3:9.2f} ms   ratio {ours / pyg:5.2f}")
            print(f"  {'':<9} compile  ours {r['ours compiled first']:6.1f} s      "
                  f"PyG {r['pyg compiled first']:6.1f} s")
    return results


def run(argv=None) -> list:
    """:func:`main`, its results as rows for ``benchmarks/run_all.py``."""
    args = parse_args(argv)
    names = {"cora": "Cora", "synthetic": f"synthetic {args.nodes:,} nodes"}
    rows = []
    for (graph, key), r in main(argv).items():
        model = MODELS[key][0]
        for mode in ("eager", "compiled"):
            note = (f"compile {r['ours compiled first']:.0f} s vs "
                    f"{r['pyg compiled first']:.0f} s" if mode == "compiled" else "")
            rows.append(row("compile", f"{names[graph]}: {model} train step, {mode}",
                            r[f"ours {mode}"], f"PyG {model}, {mode}", r[f"pyg {mode}"],
                            r[f"ours {mode} mem"], r[f"pyg {mode} mem"], note=note))
    return rows


if __name__ == "__main__":
    main()
