#!/usr/bin/env python
"""DeepWalk at scale: time per epoch (one walk from every node, walks included) of
``pyg_course.nn.DeepWalk`` on a random graph, for the word2vec SGD trainer and DGL's documented
SparseAdam loop, on the CPU or a GPU.

    python benchmarks/bench_deepwalk_scale.py --device cuda --nodes 1000000 --edges 10000000
    python benchmarks/bench_deepwalk_scale.py --nodes 100000 --edges 1000000   # CPU

The graph: ``--edges / 2`` uniformly random node pairs, both directions. Prints the epoch time,
walks per second and peak memory (``torch.cuda.max_memory_allocated`` on a GPU, the resident
high-water mark above the start on the CPU).
"""

from __future__ import annotations

import argparse
import resource
import time

import torch


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
    from pyg_course.nn.models.deepwalk import DeepWalk, train_deepwalk

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
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        model = DeepWalk(edge_index, num_nodes=n, emb_dim=args.emb_dim,
                         walk_length=args.walk_length, window_size=args.window_size,
                         hierarchical_softmax=args.hs and trainer == "sgd").to(device)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        _sync(device)
        start = time.perf_counter()
        losses = train_deepwalk(model, epochs=1, optimizer=trainer, batch_size=args.batch_size)
        _sync(device)
        elapsed = time.perf_counter() - start
        if device.type == "cuda":
            mem = torch.cuda.max_memory_allocated(device) / 2**20
        else:
            mem = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - rss0
        rows.append({"trainer": trainer, "epoch_s": elapsed, "walks_per_s": n / elapsed,
                     "peak_mem_mb": mem, "loss": losses[-1]})
        print(f"{trainer:5s} epoch {elapsed:8.2f} s  {n / elapsed:12,.0f} walks/s  "
              f"peak memory {mem:9.1f} MiB  loss {losses[-1]:.4f}", flush=True)
        del model
    return rows


if __name__ == "__main__":
    main()
