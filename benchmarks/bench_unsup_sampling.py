#!/usr/bin/env python
"""Unsupervised GraphSAGE pair sampling: our tensor samplers vs a faithful Python-set
re-implementation of the reference sampler, same batch and graph, one run.

1. Cora, batch 512: time per batch of the reference (random-walk positives collected in Python,
   negatives = random nodes outside a per-node Python-set BFS of ``--num-hops``) and of ours
   (:class:`WalkPositiveSampler` + :class:`FarNegativeSampler`; its one-time build, the cached
   all-pairs bitset, is timed separately; the uncached path is timed too). Target: >= 50x.
2. A synthetic graph of 1,000,000 nodes and 10,000,000 edges (``edge_index`` columns: 5M random
   node pairs in both directions), batch 1024, in a subprocess: build time, time per batch and
   peak extra memory (RSS high-water above the RSS with the graph loaded; the high-water mark is
   reset through ``/proc/self/clear_refs``). Target: <= 1 GB extra.

CPU only. ``run(argv)`` returns the results as rows for ``benchmarks/run_all.py``.

    PYG_COURSE_DATA=/work/shared/data python benchmarks/bench_unsup_sampling.py
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import time

import torch

from pyg_course.sampling import CSRGraph, FarNegativeSampler, WalkPositiveSampler, far_negatives


class ReferenceSampler:
    """The reference re-implementation's sampler (``UnsupervisedLoss`` of the well-known
    PyTorch GraphSAGE port), with the adjacency as Python sets: positives from random walks
    collected pair by pair, negatives from the complement of a per-node BFS ball."""

    def __init__(self, edge_index, num_nodes, train_nodes=None):
        self.adj_lists = [set() for _ in range(num_nodes)]
        for a, b in edge_index.t().tolist():
            self.adj_lists[a].add(b)
            self.adj_lists[b].add(a)
        self.train_nodes = set(range(num_nodes)) if train_nodes is None else set(train_nodes)

    def get_negative_nodes(self, nodes, num_neg, num_hops):
        out = {}
        for node in nodes:
            neighbors, frontier = {node}, {node}
            for _ in range(num_hops):
                current = set()
                for outer in frontier:
                    current |= self.adj_lists[int(outer)]
                frontier = current - neighbors
                neighbors |= current
            far_nodes = self.train_nodes - neighbors
            # random.sample(set) as in the original (Python < 3.11 converted it to a tuple).
            out[node] = (random.sample(tuple(far_nodes), num_neg) if num_neg < len(far_nodes)
                         else list(far_nodes))
        return out

    def get_positive_nodes(self, nodes, num_walks, walk_len):
        out = {}
        for node in nodes:
            if len(self.adj_lists[int(node)]) == 0:
                continue
            cur_pairs = []
            for _ in range(num_walks):
                curr_node = node
                for _ in range(walk_len):
                    next_node = random.choice(list(self.adj_lists[int(curr_node)]))
                    if next_node != node and next_node in self.train_nodes:
                        cur_pairs.append((node, next_node))
                    curr_node = next_node
            out[node] = cur_pairs
        return out


def median_time(fn, reps):
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_cora(args):
    from pyg_course.datasets import load_dataset

    data = load_dataset("Cora")
    n = data.num_nodes
    torch.manual_seed(0)
    random.seed(0)
    nodes = torch.randperm(n)[: args.batch_size]
    W, L, Q, k = args.num_walks, args.walk_length, args.num_negatives, args.num_hops

    ref = ReferenceSampler(data.edge_index, n)
    node_list = nodes.tolist()
    ref_pos = median_time(lambda: ref.get_positive_nodes(node_list, W, L), args.ref_reps)
    ref_neg = median_time(lambda: ref.get_negative_nodes(node_list, Q, k), args.ref_reps)

    start = time.perf_counter()
    graph = CSRGraph(data.edge_index, n)
    pos = WalkPositiveSampler(graph, n, W, L)
    far = FarNegativeSampler(graph, n, k, undirected=True)
    build = time.perf_counter() - start
    far_nocache = FarNegativeSampler(graph, n, k, undirected=True, cache=False)
    ours_pos = median_time(lambda: pos.walks(nodes), args.reps)
    ours_neg = median_time(lambda: far.sample(nodes, Q), args.reps)
    ours_neg_nocache = median_time(lambda: far_nocache.sample(nodes, Q), max(3, args.reps // 5))
    # the one-shot function: builds its sampler (CSR, no bitset) and samples, every call
    ours_neg_oneshot = median_time(lambda: far_negatives(data.edge_index, nodes, Q, k, n),
                                   max(3, args.reps // 5))

    ref_total, ours_total = ref_pos + ref_neg, ours_pos + ours_neg
    ms = 1e3
    print(f"\nCora ({n} nodes), batch {len(nodes)}: {W} walks x {L} steps, {Q} negatives "
          f"beyond {k} hops; torch threads {torch.get_num_threads()}")
    print(f"{'':28s}{'reference (ms)':>16s}{'ours (ms)':>12s}{'speed-up':>10s}")
    print(f"{'positives':28s}{ref_pos * ms:16.2f}{ours_pos * ms:12.2f}{ref_pos / ours_pos:9.1f}x")
    print(f"{'negatives (cached bitset)':28s}{ref_neg * ms:16.2f}{ours_neg * ms:12.2f}"
          f"{ref_neg / ours_neg:9.1f}x")
    print(f"{'negatives (no cache)':28s}{ref_neg * ms:16.2f}{ours_neg_nocache * ms:12.2f}"
          f"{ref_neg / ours_neg_nocache:9.1f}x")
    print(f"{'far_negatives() one call':28s}{ref_neg * ms:16.2f}{ours_neg_oneshot * ms:12.2f}"
          f"{ref_neg / ours_neg_oneshot:9.1f}x")
    print(f"{'batch total (cached)':28s}{ref_total * ms:16.2f}{ours_total * ms:12.2f}"
          f"{ref_total / ours_total:9.1f}x   (target >= 50x)")
    print(f"one-time build of our samplers (CSR + {k}-hop bitset of all nodes): "
          f"{build * ms:.1f} ms = {build / ref_total:.2f} reference batches")
    return {"ref_pos_ms": ref_pos * ms, "ref_neg_ms": ref_neg * ms, "ours_pos_ms": ours_pos * ms,
            "ours_neg_ms": ours_neg * ms, "ours_neg_nocache_ms": ours_neg_nocache * ms,
            "ours_neg_oneshot_ms": ours_neg_oneshot * ms,
            "build_ms": build * ms, "speedup_total": ref_total / ours_total}


def _status():
    fields = dict(line.split(":", 1) for line in open("/proc/self/status"))
    return (int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024)


def big_child(args):
    """Runs in a subprocess so that its RSS high-water mark is its own."""
    torch.set_num_threads(args.threads)
    N, E = args.big_nodes, args.big_edges
    gen = torch.Generator().manual_seed(0)
    half = torch.randint(N, (2, E // 2), generator=gen)
    edge_index = torch.cat([half, half.flip(0)], 1)
    del half
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset the RSS high-water mark to the current RSS
        reset = True
    except OSError:
        reset = False
    base = _status()[0]
    start = time.perf_counter()
    graph = CSRGraph(edge_index, N)
    pos = WalkPositiveSampler(graph, N, args.num_walks, args.walk_length)
    far = FarNegativeSampler(graph, N, args.num_hops, undirected=True)
    build = time.perf_counter() - start
    t_pos, t_neg = [], []
    for b in range(args.big_batches):
        nodes = torch.randperm(N, generator=torch.Generator().manual_seed(b))[: args.big_batch]
        start = time.perf_counter()
        pos.walks(nodes)
        t_pos.append(time.perf_counter() - start)
        start = time.perf_counter()
        far.sample(nodes, args.num_negatives)
        t_neg.append(time.perf_counter() - start)
    rss, hwm = _status()
    print(json.dumps({"build_s": build, "pos_s": statistics.median(t_pos),
                      "neg_s": statistics.median(t_neg), "base_rss_mb": base,
                      "extra_peak_mb": hwm - base, "hwm_reset": reset,
                      "fallback": far.num_fallback, "anchors": far.num_anchors,
                      "cached": far._bits is not None}))


def bench_big(args):
    cmd = [sys.executable, __file__, "--big-child"] + [
        f"--{k.replace('_', '-')}={v}" for k, v in vars(args).items()
        if k not in ("big_child", "skip_big", "skip_cora")]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"\nSynthetic graph: {args.big_nodes:,} nodes, {args.big_edges:,} edges, batch "
          f"{args.big_batch}, {args.big_batches} batches (median), torch threads {args.threads}")
    print(f"  build (CSR sort + walk counts): {res['build_s']:.2f} s")
    print(f"  positives per batch: {res['pos_s'] * 1e3:.1f} ms")
    print(f"  far negatives per batch: {res['neg_s'] * 1e3:.1f} ms "
          f"(fallback anchors: {res['fallback']} of {res['anchors']})")
    print(f"  peak extra memory: {res['extra_peak_mb']:.0f} MB above the {res['base_rss_mb']:.0f}"
          f" MB with the graph loaded (target <= 1024 MB)"
          + ("" if res["hwm_reset"] else "  [high-water mark could not be reset]"))
    return res


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument("--num-walks", type=int, default=10)
    p.add_argument("--walk-length", type=int, default=5)
    p.add_argument("--num-negatives", type=int, default=20)
    p.add_argument("--num-hops", type=int, default=5)
    p.add_argument("--reps", type=int, default=20, help="repetitions of ours (median)")
    p.add_argument("--ref-reps", type=int, default=3, help="repetitions of the reference")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (1: same single core as the Python reference)")
    p.add_argument("--big-nodes", type=int, default=1_000_000)
    p.add_argument("--big-edges", type=int, default=10_000_000)
    p.add_argument("--big-batch", type=int, default=1024)
    p.add_argument("--big-batches", type=int, default=3)
    p.add_argument("--skip-cora", action="store_true")
    p.add_argument("--skip-big", action="store_true")
    p.add_argument("--big-child", action="store_true", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.big_child:
        return big_child(args)
    torch.set_num_threads(args.threads)
    results = {}
    if not args.skip_cora:
        results["cora"] = bench_cora(args)
    if not args.skip_big:
        results["big"] = bench_big(args)
    return results


def run(argv=None) -> list:
    """:func:`main`, its results as rows for ``benchmarks/run_all.py`` (ours / the reference;
    the reference is not run on the large graph, where those rows have ours alone)."""
    from run_all import row

    args = parse_args(argv)
    results = main(argv)
    rows = []
    if "cora" in results:
        r = {k: v / 1e3 for k, v in results["cora"].items() if k.endswith("_ms")}
        case = f"Cora, batch {args.batch_size}: "
        peer = "Python-set reference sampler"
        rows += [row("unsup_sampling", case + "walk positives", r["ours_pos_ms"], peer,
                     r["ref_pos_ms"]),
                 row("unsup_sampling", case + f"far negatives (> {args.num_hops} hops, cached)",
                     r["ours_neg_ms"], peer, r["ref_neg_ms"]),
                 row("unsup_sampling", case + "far negatives (no cache)",
                     r["ours_neg_nocache_ms"], peer, r["ref_neg_ms"]),
                 row("unsup_sampling", case + "far_negatives() one call (builds its sampler)",
                     r["ours_neg_oneshot_ms"], peer, r["ref_neg_ms"]),
                 row("unsup_sampling", case + "batch total (cached)",
                     r["ours_pos_ms"] + r["ours_neg_ms"], peer, r["ref_pos_ms"] + r["ref_neg_ms"]),
                 row("unsup_sampling", "Cora: one-time build of our samplers", r["build_ms"])]
    if "big" in results:
        r = results["big"]
        case = f"{args.big_nodes:,} nodes / {args.big_edges:,} edges, batch {args.big_batch}: "
        rows += [row("unsup_sampling", case + "build", r["build_s"], ours_mem_mb=r["extra_peak_mb"],
                     note="memory: peak extra over build and batches"),
                 row("unsup_sampling", case + "walk positives", r["pos_s"]),
                 row("unsup_sampling", case + "far negatives", r["neg_s"])]
    return rows


if __name__ == "__main__":
    main()
