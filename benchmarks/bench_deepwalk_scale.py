#!/usr/bin/env python
"""DeepWalk at scale: time per epoch (one walk from every node, walks included) of
``pyg_course.nn.DeepWalk`` on a random graph, for the word2vec SGD trainer and DGL's documented
SparseAdam loop, on the CPU or a GPU.

    python benchmarks/bench_deepwalk_scale.py --device cuda --nodes 1000000 --edges 10000000
    python benchmarks/bench_deepwalk_scale.py --nodes 100000 --edges 1000000   # CPU

The graph: ``--edges / 2`` uniformly random node pairs, both directions. Prints the epoch time,
walks per second and the peak memory training adds (``peak_memory_mb`` of ``run_all.py``:
``torch.cuda.max_memory_allocated`` on a GPU, the resident high-water mark on the CPU).
"""

from __future__ import annotations

import argparse
import time

import torch
from run_all import peak_memory_mb, row

from pyg_course.nn.models import DeepWalk
from pyg_course.train import train_deepwalk


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--nodes", type=int, default=1_000_000)
    p.add_argument("--edges", type=int, default=10_000_000, help="directed edges (both ways)")
    p.add_argument("--trainers", nargs="+", default=["sgd", "adam"], choices=["sgd", "adam"])
    p.add_argument("--hs", action="store_true", help="hierarchical softmax (sgd)")
    p.add_argument("--batch-size", type=int, default=None,
                   help="walks per step (default: the trainer's)")
    p.add_argument("--emb-dim", type=int, default=128)
    p.add_argument("--walk-length", type=int, default=40)
    p.add_argument("--window-size", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main(argv=None):
    args = parse_args(argv)
    device = torch.device(args.device)
    torch.manual_seed(args.seed)
    n, half = args.nodes, args.edges // 2
    pairs = torch.randint(n, (2, half))
    edge_index = torch.cat([pairs, pairs.flip(0)], 1)
    print(f"random graph: {n:,} nodes, {edge_index.size(1):,} directed edges; device {device}"
          + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""))
    rows = []
    for trainer in args.trainers:
        model = DeepWalk(edge_index, num_nodes=n, emb_dim=args.emb_dim,
                         walk_length=args.walk_length, window_size=args.window_size,
                         hierarchical_softmax=args.hs and trainer == "sgd").to(device)
        result = {}

        def train(model=model, trainer=trainer, result=result):
            _sync(device)
            start = time.perf_counter()
            result["losses"] = train_deepwalk(model, epochs=1, optimizer=trainer,
                                              batch_size=args.batch_size)
            _sync(device)
            result["elapsed"] = time.perf_counter() - start

        mem = peak_memory_mb(train, device)
        elapsed, losses = result["elapsed"], result["losses"]
        rows.append({"trainer": trainer, "epoch_s": elapsed, "walks_per_s": n / elapsed,
                     "peak_mem_mb": mem, "loss": losses[-1]})
        mem_text = "n/a" if mem is None else f"{mem:9.1f} MiB"
        print(f"{trainer:5s} epoch {elapsed:8.2f} s  {n / elapsed:12,.0f} walks/s  "
              f"peak extra memory {mem_text}  loss {losses[-1]:.4f}", flush=True)
        del model
    return rows


def run(argv=None) -> list:
    """:func:`main`, as rows for ``benchmarks/run_all.py`` (no peer: time per epoch only)."""
    args = parse_args(argv)
    out = []
    for r in main(argv):
        case = (f"{args.nodes:,} nodes / {args.edges:,} edges: one epoch, trainer "
                f"{r['trainer']}, batch {args.batch_size or 'default'}"
                + (", hierarchical softmax" if args.hs and r["trainer"] == "sgd" else ""))
        out.append(row("deepwalk_scale", case, r["epoch_s"], ours_mem_mb=r["peak_mem_mb"],
                       note=f"{r['walks_per_s']:,.0f} walks/s"))
    return out


if __name__ == "__main__":
    main()
