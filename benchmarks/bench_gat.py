#!/usr/bin/env python
"""Forward + backward time and peak memory of one GAT layer: ours vs PyG's GATConv vs the dense
(masked N x N) formulation, on Cora and on random graphs of 50,000 and 500,000 nodes.

    PYG_COURSE_DATA=/work/shared/data python benchmarks/bench_gat.py
    PYG_COURSE_DATA=/work/shared/data python benchmarks/bench_gat.py --device cuda

Every (graph, implementation) pair runs in a fresh subprocess. Time is the median of
``--repeats`` forward+backward passes after one warm-up pass (none on 500k nodes, where a
pass takes a minute). Peak memory is the process's
resident-set high-water mark (``getrusage``) minus its resident size once the graph, the
features and the layer exist, i.e. the memory the forward and backward passes add; it sees
torch's allocations, which ``tracemalloc`` would not. The dense formulation is skipped when its
N x N x heads score tensors would not fit in the available memory. On a GPU (``--device cuda``)
the passes end with a synchronisation and peak memory is ``torch.cuda.max_memory_allocated``
above the memory allocated before them. ``run(argv)`` returns the results as rows for
``benchmarks/run_all.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

GRAPHS = {"cora": None, "50k": 50_000, "500k": 500_000}
IMPLS = ("ours", "pyg", "dense")


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def available_bytes(device: str = "cpu") -> int:
    if device.startswith("cuda"):
        import torch

        return torch.cuda.mem_get_info(torch.device(device))[0]
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0


def dense_bytes(n: int, heads: int) -> int:
    """Lower bound of the dense formulation's memory: about six N x N x heads float32 tensors
    (scores, LeakyReLU, masked logits, softmax, and their gradients) and the N x N mask."""
    return 6 * n * n * heads * 4 + n * n


def load_graph(name: str, in_channels: int, avg_degree: int, seed: int = 0):
    import torch

    if name == "cora":
        from pyg_course.datasets import load_dataset

        data = load_dataset("Cora")
        return data.x, data.edge_index
    n = GRAPHS[name]
    g = torch.Generator().manual_seed(seed)
    edge_index = torch.randint(0, n, (2, n * avg_degree), generator=g)
    x = torch.randn(n, in_channels, generator=g)
    return x, edge_index


class DenseGAT:
    """The masked dense formulation with the weights of a GATConv: N x N scores per head,
    -inf outside the adjacency plus self-loops, row softmax, A X W (concatenated heads)."""

    def __init__(self, conv):
        self.conv = conv

    def __call__(self, x, edge_index):
        import torch
        import torch.nn.functional as F

        conv, n = self.conv, x.size(0)
        H, C = conv.heads, conv.out_channels
        mask = torch.zeros(n, n, dtype=torch.bool, device=x.device)
        mask[edge_index[1], edge_index[0]] = True
        mask.fill_diagonal_(True)
        h = conv.lin(x).view(n, H, C)
        s_src = (h * conv.att_src).sum(-1).t()
        s_dst = (h * conv.att_dst).sum(-1).t()
        e = F.leaky_relu(s_dst[:, :, None] + s_src[:, None, :], conv.negative_slope)
        alpha = torch.softmax(e.masked_fill(~mask, float("-inf")), dim=-1)
        out = torch.einsum("hij,jhc->ihc", alpha, h).reshape(n, H * C)
        return out + conv.bias


def worker(args) -> dict:
    """Measure one (graph, implementation) pair; runs inside its own process."""
    import torch
    from torch_geometric.nn import GATConv as PyGGATConv

    from pyg_course.nn import GATConv
    from pyg_course.train import resolve_device

    device = resolve_device(args.device)
    cuda = device.type == "cuda"
    torch.manual_seed(0)
    x, edge_index = load_graph(args.graph, args.in_channels, args.avg_degree)
    n = x.size(0)
    if args.impl == "dense":
        need, free = dense_bytes(n, args.heads), available_bytes(str(device))
        if need > 0.8 * free:
            return {"skipped": f"needs >= {need / 2**30:.0f} GiB for N x N x heads scores "
                               f"(N = {n}), {free / 2**30:.0f} GiB available"}
    conv = (PyGGATConv if args.impl == "pyg" else GATConv)(
        x.size(1), args.out_channels, heads=args.heads).to(device)
    model = DenseGAT(conv) if args.impl == "dense" else conv
    x, edge_index = x.to(device), edge_index.to(device)
    x.requires_grad_(True)

    def step():
        out = model(x, edge_index)
        out.sum().backward()
        x.grad = None
        conv.zero_grad(set_to_none=True)
        if cuda:
            torch.cuda.synchronize(device)

    if cuda:
        torch.cuda.synchronize(device)
        base = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
    else:
        base = rss_bytes()
    times = []
    for _ in range(args.warmup + args.repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    peak = (torch.cuda.max_memory_allocated(device) if cuda
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    return {"nodes": n, "edges": int(edge_index.size(1)),
            "time": statistics.median(times[args.warmup:]), "mem": max(peak - base, 0)}


def measure(graph: str, impl: str, args) -> dict:
    cmd = [sys.executable, __file__, "--worker", "--graph", graph, "--impl", impl,
           "--repeats", str(args.repeats_for[graph]), "--warmup", str(int(graph != "500k")),
           "--heads", str(args.heads),
           "--in-channels", str(args.in_channels), "--out-channels", str(args.out_channels),
           "--avg-degree", str(args.avg_degree), "--device", args.device]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        reason = "killed (out of memory?)" if proc.returncode < 0 else proc.stderr.strip()[-300:]
        return {"failed": reason}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def fmt_mem(b: float) -> str:
    return f"{b / 2**20:.0f} MiB" if b < 2**30 else f"{b / 2**30:.2f} GiB"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--graphs", nargs="+", default=list(GRAPHS), choices=list(GRAPHS))
    p.add_argument("--impls", nargs="+", default=list(IMPLS), choices=list(IMPLS))
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--in-channels", type=int, default=64,
                   help="feature size of the random graphs (Cora keeps its 1433)")
    p.add_argument("--out-channels", type=int, default=8, help="channels per head")
    p.add_argument("--avg-degree", type=int, default=10)
    p.add_argument("--repeats", type=int, default=None,
                   help="timed passes per measurement (default: 5, 3 on 50k, 2 on 500k)")
    p.add_argument("--warmup", type=int, default=1, help=argparse.SUPPRESS)
    p.add_argument("--json", default=None, help="also write the results here")
    p.add_argument("--device", default="cpu")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--graph", help=argparse.SUPPRESS)
    p.add_argument("--impl", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args)))
        return None
    default = {"cora": 5, "50k": 3, "500k": 2}
    args.repeats_for = {g: args.repeats or default[g] for g in GRAPHS}

    print(f"GAT layer forward+backward: heads={args.heads}, {args.out_channels} channels per "
          f"head, random graphs with {args.in_channels} features and average in-degree "
          f"{args.avg_degree}; torch threads={os.environ.get('OMP_NUM_THREADS', 'default')}"
          + (f"; device {args.device}" if args.device != "cpu" else ""))
    results = {}
    header = (f"{'graph':>6} {'impl':>6} {'time (s)':>10} {'peak mem':>11} "
              f"{'time/PyG':>9} {'mem/PyG':>8}")
    print(header)
    print("-" * len(header))
    for graph in args.graphs:
        res = {impl: measure(graph, impl, args) for impl in args.impls}
        results[graph] = res
        ref = res.get("pyg", {})
        for impl, r in res.items():
            if "time" not in r:
                print(f"{graph:>6} {impl:>6}  {r.get('skipped') or 'FAILED: ' + r['failed']}")
                continue
            ratio_t = f"{r['time'] / ref['time']:.2f}" if "time" in ref else "-"
            ratio_m = f"{r['mem'] / ref['mem']:.2f}" if ref.get("mem") else "-"
            print(f"{graph:>6} {impl:>6} {r['time']:>10.3f} {fmt_mem(r['mem']):>11} "
                  f"{ratio_t:>9} {ratio_m:>8}", flush=True)
    targets = []
    for graph, res in results.items():
        if "time" in res.get("ours", {}) and "time" in res.get("pyg", {}):
            t = res["ours"]["time"] / res["pyg"]["time"]
            m = res["ours"]["mem"] / max(res["pyg"]["mem"], 1)
            targets.append(f"{graph}: time {t:.2f} ({'ok' if t <= 1.1 else 'MISSED'} <= 1.1), "
                           f"memory {m:.2f} ({'ok' if m <= 1.0 else 'MISSED'} <= 1.0)")
    if targets:
        print("ours / PyG:  " + ";  ".join(targets))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return results


def _mib(r: dict):
    return r["mem"] / 2**20 if "mem" in r else None


def _problem(r: dict) -> str:
    if "failed" in r:
        return "failed: " + (r["failed"].strip().splitlines() or ["?"])[-1]
    return r.get("skipped", "")


def run(argv=None) -> list:
    """:func:`main`, its results as rows for ``benchmarks/run_all.py``: ours against PyG's
    GATConv and against the dense formulation, per graph."""
    from run_all import row

    args = parse_args(argv)
    peers = {"pyg": "PyG GATConv", "dense": "dense GAT (masked N x N)"}
    rows = []
    for graph, res in main(argv).items():
        ours = res.get("ours", {})
        size = next((f"{r['nodes']:,} nodes / {r['edges']:,} edges" for r in res.values()
                     if "nodes" in r), "")
        case = (f"{'Cora' if graph == 'cora' else graph} ({size}): layer fwd+bwd, "
                f"{args.heads} heads")
        for impl in [i for i in ("pyg", "dense") if i in res] or [None]:
            peer = res.get(impl, {})
            notes = [f"{who}: {_problem(r)}" for who, r in (("ours", ours), (impl, peer))
                     if _problem(r)]
            rows.append(row("gat", case, ours.get("time"), peers.get(impl), peer.get("time"),
                            _mib(ours), _mib(peer), note="; ".join(notes)))
    return rows


if __name__ == "__main__":
    main()
