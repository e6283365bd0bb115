#!/usr/bin/env python
"""Neighbour-sampled GraphSAGE at ogbn-products' scale, ours vs PyG: sampling, a training
epoch, layer-wise inference and peak memory, against the number of nodes.

The model and settings of PyG's and OGB's ogbn-products examples: GraphSAGE with 3 layers,
hidden size 256, dropout 0.5, fan-out 15/10/5, batches of 1024 training nodes, Adam with lr
0.003; layer-wise inference over all nodes with one-hop loaders of 4096 nodes
(``num_neighbors=[-1]``). Two pipelines on the same graph:

- **ours**: :class:`pyg_course.sampling.NeighborSampler` inside PyG's ``NeighborLoader``
  (``neighbor_sampler=``) and :class:`pyg_course.nn.models.GraphSAGE`, which trims each
  layer's input to the hops it still needs (``num_sampled_nodes_per_hop``);
- **PyG**: ``NeighborLoader`` with its default sampler (``torch_sparse`` where pyg-lib is not
  installed) and ``torch_geometric.nn.models.GraphSAGE``, untrimmed (that sampler gives no
  per-hop counts), as a user gets it.

Measured per pipeline and size: sampler setup (building both loaders), sampling alone (one
epoch of the training loader, nothing else), one training epoch (sampling, forward, backward,
step), layer-wise inference over all nodes, and the peak memory: the process's resident-set
high-water mark (``torch.cuda.max_memory_allocated`` on CUDA) while the pipeline runs, graph
included, building it excluded. Each pipeline and size runs in its own subprocess, so the
high-water marks are separate and only one graph is ever in memory; the subprocess builds the
graph from the seed (:func:`pyg_course.datasets.synthetic_products`, the same graph for both
pipelines; not timed) or reads the real ogbn-products (``--root``). Prints a table per size
with the ratio ours / PyG (lower is better) and the curves over sizes with their growth
exponent (the slope of log time against log nodes); writes ``scale.csv``, ``scale.json``
(with the machine) and ``scale.png`` (log-log curves; with ``--max-batches``, sampling and
training times scaled from the timed batches to the whole epoch, as for the exponents) under
``--out``.

    python benchmarks/bench_scale.py                      # 1e4, 1e5, 1e6, 2,449,029 nodes
    python benchmarks/bench_scale.py --sizes 1e4 1e5      # small sizes: minutes on a laptop
    python benchmarks/bench_scale.py --device cuda
    python benchmarks/bench_scale.py --root ~/data        # <root>/ogbn_products, OGB's layout
    python benchmarks/bench_scale.py --quick              # 2e3 and 1e4 nodes, 3 batches

Measured on a 2-core CPU machine with 24 GB and ``--threads 2`` at 2,449,029 nodes
(``--sizes 2.449029e6 --skip-inference``, 1 h 43 min for both pipelines, building the graph
twice included): one training epoch of 192 batches takes 1,679 s for ours and 3,916 s for
PyG's pipeline (0.43), sampling alone for the epoch 36.3 s and 195.3 s (0.19), and the peak
resident memory is 7.6 GiB and 12.1 GiB (0.63), the graph's tensors 2.8 GiB of it. Layer-wise
inference over all 2,449,029 nodes (``--max-batches 1``, 35 minutes) takes 361 s for ours at
10.1 GiB peak; PyG's pipeline is killed by the kernel's out-of-memory killer at 22.8 GiB
resident, so at this size PyG's pipeline fits that machine only with ``--skip-inference`` (a
killed pipeline is reported as failed and the run goes on).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from run_all import (
    fmt_mem,
    fmt_time,
    machine_info,
    peak_memory_mb,
    reset_rss_high_water,
    row,
    rss_mb,
)
from torch_geometric.loader import NeighborLoader
from torch_geometric.nn.models import GraphSAGE as PyGGraphSAGE
from tqdm.auto import tqdm

from pyg_course.datasets import load_ogbn_products, synthetic_products
from pyg_course.nn.models import GraphSAGE
from pyg_course.train import resolve_device
from pyg_course.train.loop import neighbor_loader

PIPELINES = ("ours", "pyg")
PIPELINE_NAMES = {"ours": "ours (pyg_course NeighborSampler + GraphSAGE, trimmed)",
                  "pyg": "PyG (NeighborLoader's sampler + PyG GraphSAGE)"}
PEER = "PyG NeighborLoader (default sampler) + PyG GraphSAGE"
#: The measures: key in a result, label, unit ("s" or "MiB").
MEASURES = [("setup_s", "sampler setup (both loaders)", "s"),
            ("sampling_s", "sampling alone (one epoch)", "s"),
            ("epoch_s", "training epoch", "s"),
            ("inference_s", "layer-wise inference", "s"),
            ("peak_mb", "peak memory", "MiB")]
#: Measures timed over the training loader's batches (``--max-batches`` limits them).
EPOCH_TIMES = ("sampling_s", "epoch_s")
CSV_FIELDS = ["nodes", "edges", "pipeline", "sampler", "device", "batches", "epoch_batches",
              "setup_s", "sampling_s", "epoch_s", "inference_s", "peak_mb", "rss_peak_mb",
              "sampling_mem_mb", "epoch_mem_mb", "inference_mem_mb", "base_rss_mb", "graph_mb",
              "build_s", "build_rss_peak_mb", "loss", "val_acc", "trimmed"]


# ---------------------------------------------------------------------------------------------
# One pipeline on one graph (runs in a subprocess).

def measured(fn, device: torch.device) -> dict:
    """Run ``fn()`` once: its seconds (CUDA synchronised), the extra peak memory it adds
    (:func:`run_all.peak_memory_mb`), the absolute resident-set high-water mark during it and,
    on CUDA, the peak of allocated GPU memory; ``value`` is what ``fn`` returned."""
    out = {}

    def call():
        reset = reset_rss_high_water()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        out["value"] = fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        out["s"] = time.perf_counter() - start
        out["rss_peak_mb"] = rss_mb("VmHWM") if reset else None

    out["mem_mb"] = peak_memory_mb(call, device)
    out["gpu_peak_mb"] = (torch.cuda.max_memory_allocated(device) / 2**20
                          if device.type == "cuda" else None)
    return out


def graph_mb(data) -> float:
    """MiB held by the graph's tensors."""
    return sum(v.numel() * v.element_size() for _, v in data if torch.is_tensor(v)) / 2**20


def build_graph(args, num_nodes):
    if args.root is not None:
        return load_ogbn_products(args.root)
    return synthetic_products(num_nodes, avg_degree=args.avg_degree, seed=args.seed)


#: The sampler of each pipeline, as :func:`pyg_course.train.loop.make_sampler` names it.
SAMPLER = {"ours": "pyg_course", "pyg": "pyg"}


def train_loader(pipeline: str, data, args) -> NeighborLoader:
    return neighbor_loader(data, args.num_neighbors, SAMPLER[pipeline], seed=args.seed,
                           batch_size=args.batch_size, input_nodes=data.train_mask,
                           shuffle=True, generator=torch.Generator().manual_seed(args.seed))


def inference_loader(pipeline: str, data, args) -> NeighborLoader:
    return neighbor_loader(data, [-1], SAMPLER[pipeline], batch_size=args.eval_batch_size,
                           shuffle=False)


def make_model(pipeline: str, data, args) -> torch.nn.Module:
    torch.manual_seed(args.seed)  # the same initial weights in both pipelines
    cls = GraphSAGE if pipeline == "ours" else PyGGraphSAGE
    return cls(data.num_features, args.hidden, len(args.num_neighbors),
               int(data.y.max()) + 1, dropout=args.dropout)


def run_pipeline(pipeline: str, num_nodes, args) -> dict:
    """Build the graph, then measure one pipeline on it; a dict of results."""
    device = resolve_device(args.device)
    torch.manual_seed(args.seed)
    reset_rss_high_water()
    base_rss_mb = rss_mb("VmRSS")  # the interpreter and the libraries
    start = time.perf_counter()
    data = build_graph(args, num_nodes)
    build_s = time.perf_counter() - start
    res = {"pipeline": pipeline, "nodes": data.num_nodes, "edges": data.num_edges,
           "device": str(device), "base_rss_mb": base_rss_mb, "build_s": build_s,
           "build_rss_peak_mb": rss_mb("VmHWM"), "graph_mb": graph_mb(data)}
    print(f"[{pipeline}] graph: {data.num_nodes:,} nodes, {data.num_edges:,} directed edges, "
          f"{int(data.train_mask.sum()):,} training nodes (built in {build_s:.1f} s)",
          flush=True)
    bar = dict(disable=args.no_progress, leave=False, dynamic_ncols=True)
    peaks = []

    def note(phase, m):
        peaks.append(m["gpu_peak_mb"] if device.type == "cuda" else m["rss_peak_mb"])
        res.setdefault("rss_peaks", []).append(m["rss_peak_mb"])
        if phase:
            res[f"{phase}_s"], res[f"{phase}_mem_mb"] = m["s"], m["mem_mb"]

    m = measured(lambda: train_loader(pipeline, data, args), device)
    loader, setup_s = m["value"], m["s"]
    note(None, m)
    res["batches"] = len(loader)
    res["sampler"] = f"{type(loader.node_sampler).__module__}.{type(loader.node_sampler).__name__}"
    limit = min(len(loader), args.max_batches or len(loader))
    res["epoch_batches"] = limit

    def sample():
        for i, _ in enumerate(tqdm(loader, total=limit, desc=f"{pipeline}: sampling", **bar)):
            if i + 1 == limit:
                break

    note("sampling", measured(sample, device))

    model = make_model(pipeline, data, args).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    trimmed = []

    def epoch():
        model.train()
        total = torch.zeros(())
        for i, batch in enumerate(tqdm(loader, total=limit, desc=f"{pipeline}: epoch", **bar)):
            batch = batch.to(device)
            nodes = getattr(batch, "num_sampled_nodes", None) if pipeline == "ours" else None
            edges = getattr(batch, "num_sampled_edges", None) if pipeline == "ours" else None
            trimmed.append(nodes is not None)
            optimizer.zero_grad()
            out = model(batch.x, batch.edge_index, num_sampled_nodes_per_hop=nodes,
                        num_sampled_edges_per_hop=edges)[:batch.batch_size]
            loss = F.cross_entropy(out, batch.y[:batch.batch_size])
            loss.backward()
            optimizer.step()
            total += loss.detach().cpu()
            if i + 1 == limit:
                break
        return float(total) / limit

    m = measured(epoch, device)
    note("epoch", m)
    res["loss"], res["trimmed"] = m["value"], all(trimmed)
    del loader

    if args.skip_inference:
        res["setup_s"] = setup_s
    else:
        m = measured(lambda: inference_loader(pipeline, data, args), device)
        note(None, m)
        res["setup_s"] = setup_s + m["s"]
        loader = m["value"]
        model.eval()
        progress = not args.no_progress
        m = measured(lambda: model.inference(loader, device, progress_bar=progress), device)
        note("inference", m)
        pred = m["value"].argmax(-1)
        res["val_acc"] = float((pred[data.val_mask] == data.y[data.val_mask]).float().mean())
    known = [p for p in peaks if p is not None]
    res["peak_mb"] = max(known) if known else None
    rss = [p for p in res.pop("rss_peaks") if p is not None]
    res["rss_peak_mb"] = max(rss) if rss else None
    return res


def child_main(args) -> None:
    """Subprocess entry: one pipeline on one size, its results as JSON into ``args.child``."""
    if args.threads:
        torch.set_num_threads(args.threads)
    res = run_pipeline(args.pipeline, args.size, args)
    Path(args.child).write_text(json.dumps(res, indent=2))


# ---------------------------------------------------------------------------------------------
# The driver: one subprocess per pipeline and size, then tables, the CSV and the plot.

def child_command(args, pipeline: str, size, json_path: str) -> list:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", json_path,
           "--pipeline", pipeline, "--size", str(size or 0), "--device", args.device,
           "--seed", str(args.seed), "--avg-degree", repr(args.avg_degree),
           "--hidden", str(args.hidden), "--dropout", repr(args.dropout), "--lr", repr(args.lr),
           "--batch-size", str(args.batch_size), "--eval-batch-size", str(args.eval_batch_size),
           "--num-neighbors", *map(str, args.num_neighbors)]
    if args.root is not None:
        cmd += ["--root", str(args.root)]
    for flag, value in (("--max-batches", args.max_batches), ("--threads", args.threads)):
        if value:
            cmd += [flag, str(value)]
    for flag in ("skip_inference", "no_progress"):
        if getattr(args, flag):
            cmd.append("--" + flag.replace("_", "-"))
    return cmd


def run_child(args, pipeline: str, size) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        json_path = os.path.join(tmp, "result.json")
        proc = subprocess.run(child_command(args, pipeline, size, json_path))
        if proc.returncode == 0 and os.path.exists(json_path):
            return json.loads(Path(json_path).read_text())
    why = (f"killed by signal {-proc.returncode} (out of memory?)" if proc.returncode < 0
           else f"exit status {proc.returncode}")
    return {"pipeline": pipeline, "nodes": size, "failed": why}


def fmt(value, unit: str) -> str:
    if value is None:
        return "—"
    return fmt_time(value) if unit == "s" else fmt_mem(value)


def ratio(ours: dict, pyg: dict, key: str):
    a, b = ours.get(key), pyg.get(key)
    return a / b if a is not None and b else None


def print_size_table(ours: dict, pyg: dict, args) -> None:
    ref = ours if "failed" not in ours else pyg
    if "failed" in ref:
        print(f"\n{ref.get('nodes') or 'ogbn-products'} nodes: both pipelines failed "
              f"(ours: {ours['failed']}; PyG: {pyg['failed']})")
        return
    batches, used = ref["batches"], ref["epoch_batches"]
    print(f"\n{ref['nodes']:,} nodes, {ref['edges']:,} directed edges, device {args.device}; "
          f"{batches} training batches of {args.batch_size}"
          + (f" ({used} timed)" if used < batches else "")
          + "; ratio = ours / PyG, lower is better")
    for name, res in (("ours", ours), ("PyG", pyg)):
        if "failed" in res:
            print(f"  {name} failed: {res['failed']}")
    print(f"  {'measure':<32} {'ours':>11} {'PyG':>11} {'ours/PyG':>9}")
    for key, label, unit in MEASURES:
        r = ratio(ours, pyg, key)
        print(f"  {label:<32} {fmt(ours.get(key), unit):>11} {fmt(pyg.get(key), unit):>11} "
              f"{'—' if r is None else f'{r:.2f}':>9}")
    print(f"  {'process before the graph':<32} {fmt(ours.get('base_rss_mb'), 'MiB'):>11} "
          f"{fmt(pyg.get('base_rss_mb'), 'MiB'):>11}")
    print(f"  {'graph tensors':<32} {fmt(ref.get('graph_mb'), 'MiB'):>11}")
    accs = [res.get("val_acc") for res in (ours, pyg)]
    print(f"  {'validation accuracy':<32} " + " ".join(
        f"{'—' if a is None else f'{a:.3f}':>11}" for a in accs))
    if "failed" not in ours and not ours.get("trimmed"):
        print("  note: our sampler's batches carried no per-hop counts: ours ran untrimmed")


def growth_exponent(points: list):
    """Least-squares slope of log(value) against log(nodes); ``None`` under two points."""
    points = [(math.log(n), math.log(v)) for n, v in points if v and v > 0]
    if len(points) < 2:
        return None
    mx = sum(p[0] for p in points) / len(points)
    my = sum(p[1] for p in points) / len(points)
    var = sum((p[0] - mx) ** 2 for p in points)
    return sum((p[0] - mx) * (p[1] - my) for p in points) / var if var else None


def whole_epoch(res: dict, key: str):
    """``res[key]``, with a time over the training loader's timed batches (``--max-batches``)
    scaled to all of the epoch's batches, so that growth exponents compare whole epochs."""
    value = res.get(key)
    if value is None or key not in EPOCH_TIMES or not res.get("epoch_batches"):
        return value
    return value * res["batches"] / res["epoch_batches"]


def print_curves(results: dict) -> None:
    sizes = sorted(results)
    print("\ncurves over sizes (growth: time ~ nodes^k, k fitted on log-log; sampling and "
          "training times scaled to the whole epoch where only some batches were timed)")
    for key, label, unit in MEASURES:
        print(f"  {label}")
        print(f"    {'nodes':>11} {'ours':>11} {'PyG':>11} {'ours/PyG':>9}")
        for n in sizes:
            ours, pyg = results[n]["ours"], results[n]["pyg"]
            r = ratio(ours, pyg, key)
            print(f"    {n:>11,} {fmt(ours.get(key), unit):>11} {fmt(pyg.get(key), unit):>11} "
                  f"{'—' if r is None else f'{r:.2f}':>9}")
        ks = [growth_exponent([(n, whole_epoch(results[n][p], key)) for n in sizes])
              for p in PIPELINES]
        if any(k is not None for k in ks):
            print("    growth k: " + ", ".join(f"{p} {'—' if k is None else f'{k:.2f}'}"
                                              for p, k in zip(PIPELINES, ks)))


def write_outputs(results: dict, args, argv) -> list:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    flat = [results[n][p] for n in sorted(results) for p in PIPELINES if p in results[n]]
    with open(out / "scale.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_FIELDS + ["failed"], extrasaction="ignore")
        writer.writeheader()
        writer.writerows(flat)
    report = {"machine": machine_info(args.device),
              "command": " ".join(["python", "benchmarks/bench_scale.py", *argv]),
              "results": flat}
    (out / "scale.json").write_text(json.dumps(report, indent=2) + "\n")
    paths = [out / "scale.csv", out / "scale.json"]
    if plot(results, out / "scale.png", args):
        paths.append(out / "scale.png")
    return paths


def plot(results: dict, path: Path, args) -> bool:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(MEASURES), figsize=(4 * len(MEASURES), 3.6))
    drawn = False
    for ax, (key, label, unit) in zip(axes, MEASURES):
        for p, style in zip(PIPELINES, ("o-", "s--")):
            pts = [(n, whole_epoch(results[n][p], key)) for n in sorted(results)]
            pts = [(n, v) for n, v in pts if v]
            if pts:
                ax.plot(*zip(*pts), style, label="ours" if p == "ours" else "PyG")
                drawn = True
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("nodes")
        ax.set_ylabel("MiB" if unit != "s" else "seconds per whole epoch"
                      if key in EPOCH_TIMES else "seconds")
        ax.set_title(label, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        if ax.get_lines():
            ax.legend()
    fig.suptitle(f"GraphSAGE 3x256, fan-out {'/'.join(map(str, args.num_neighbors))}, batch "
                 f"{args.batch_size}, device {args.device}", fontsize=10)
    fig.tight_layout()
    if drawn:
        fig.savefig(path, dpi=120)
    plt.close(fig)
    return drawn


def main(argv=None) -> dict:
    """Run every pipeline on every size; ``{nodes: {pipeline: results}}``."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    if args.child:
        child_main(args)
        return {}
    sizes = [None] if args.root is not None else args.sizes
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}; "
          f"GraphSAGE {len(args.num_neighbors)}x{args.hidden}, fan-out {args.num_neighbors}, "
          f"batch {args.batch_size}; "
          + (f"ogbn-products from {args.root}" if args.root is not None else
             f"synthetic_products(avg_degree={args.avg_degree}, seed={args.seed})"), flush=True)
    results = {}
    for i, size in enumerate(sizes):
        order = PIPELINES if i % 2 == 0 else PIPELINES[::-1]  # alternate who runs first
        pair = {p: run_child(args, p, size) for p in order if p in args.pipelines}
        for p in PIPELINES:
            pair.setdefault(p, {"pipeline": p, "nodes": size, "failed": "not run"})
        nodes = next((r["nodes"] for r in pair.values() if "failed" not in r), size or 0)
        results[nodes] = pair
        print_size_table(pair["ours"], pair["pyg"], args)
    print_curves(results)
    paths = write_outputs(results, args, argv)
    print("\nwrote " + ", ".join(str(p) for p in paths))
    return results


def result_rows(results: dict) -> list:
    """``{nodes: {pipeline: results}}`` (as :func:`main` returns) as rows for
    ``benchmarks/run_all.py``: one per size and measure; the memory columns of a time row are
    the extra peak memory of that step, those of the peak-memory row the whole pipeline's."""
    rows = []
    for nodes, pair in results.items():
        ours, pyg = pair["ours"], pair["pyg"]
        edges = next((r["edges"] for r in (ours, pyg) if "edges" in r), None)
        graph = f"{nodes:,} nodes / {edges:,} edges" if edges else f"{nodes:,} nodes"
        note = "; ".join(f"{p} failed: {r['failed']}" for p, r in pair.items() if "failed" in r)
        for key, label, unit in MEASURES:
            if unit == "s":
                mem = key.replace("_s", "_mem_mb")
                rows.append(row("scale", f"{graph}: {label}", ours.get(key), PEER, pyg.get(key),
                                ours.get(mem), pyg.get(mem), note=note))
            else:
                rows.append(row("scale", f"{graph}: {label} of the whole pipeline", None, PEER,
                                None, ours.get(key), pyg.get(key), note=note))
    return rows


def run(argv=None) -> list:
    """:func:`main`, its results as rows for ``benchmarks/run_all.py``."""
    return result_rows(main(argv))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=float, nargs="+", default=[1e4, 1e5, 1e6, 2.449029e6],
                   help="numbers of nodes of the synthetic graphs")
    p.add_argument("--avg-degree", type=float, default=50.5)
    p.add_argument("--root", default=None,
                   help="read the real ogbn-products from <root>/ogbn_products (one size)")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--pipelines", nargs="+", choices=PIPELINES, default=list(PIPELINES))
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--dropout", type=float, default=0.5)
    p.add_argument("--lr", type=float, default=0.003)
    p.add_argument("--num-neighbors", type=int, nargs="+", default=[15, 10, 5])
    p.add_argument("--batch-size", type=int, default=1024)
    p.add_argument("--eval-batch-size", type=int, default=4096)
    p.add_argument("--max-batches", type=int, default=None,
                   help="time only this many training batches (default: the whole epoch)")
    p.add_argument("--skip-inference", action="store_true")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--quick", action="store_true",
                   help="sizes 2e3 and 1e4, at most 3 training batches: seconds")
    p.add_argument("--no-progress", action="store_true", help="no tqdm bars")
    p.add_argument("--out", default="results/bench_scale",
                   help="folder for scale.csv, scale.json and scale.png")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    p.add_argument("--pipeline", choices=PIPELINES, default=None, help=argparse.SUPPRESS)
    p.add_argument("--size", type=int, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.sizes = [2e3, 1e4]
        args.max_batches = args.max_batches or 3
    args.sizes = [int(round(s)) for s in args.sizes]
    if any(s < 2 for s in args.sizes):
        p.error(f"--sizes: every size must be at least 2 nodes, got {args.sizes}")
    resolve_device(args.device)  # a CUDA request without CUDA fails here, not in a child
    return args


if __name__ == "__main__":
    sys.exit(1 if any("failed" in r for pair in main().values() for r in pair.values())
             else 0)
