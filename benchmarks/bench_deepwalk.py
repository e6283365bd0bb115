#!/usr/bin/env python
"""DeepWalk on BlogCatalog: ours (pyg_course.nn.DeepWalk) vs the original recipe (uniform walks +
gensim skip-gram with hierarchical softmax), same walks per node, in one run.

    pip install gensim   # used by this benchmark only
    PYG_COURSE_DATA=/path/to/data python benchmarks/bench_deepwalk.py --threads 2

Prints the wall time to train (walks included) and micro/macro-F1 at a 50% training ratio
(one-vs-rest logistic regression, top-k labels) for both, and the ratios. CPU only.
``run(argv)`` returns the result as a row for ``benchmarks/run_all.py``, with the peak extra
memory of each training run (a row saying it was skipped where gensim is not installed).
"""

from __future__ import annotations

import argparse
import sys
import time

import torch
from run_all import peak_memory_mb, row

from pyg_course.datasets import load_dataset
from pyg_course.metrics import multilabel_f1
from pyg_course.nn.models import DeepWalk
from pyg_course.sampling import CSRGraph, random_walk
from pyg_course.train import train_deepwalk

#: Ours trains on the same walks as gensim, twice (reshuffled), with damped repeated rows: the
#: BlogCatalog preset of scripts/train_deepwalk.py at gensim's walk count
#: (docs/results/deepwalk.md).
PASSES = 2
REPEAT_DAMPING = 0.25


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="BlogCatalog")
    p.add_argument("--walks-per-node", type=int, default=10)
    p.add_argument("--walk-length", type=int, default=40, help="nodes per walk")
    p.add_argument("--window-size", type=int, default=10)
    p.add_argument("--emb-dim", type=int, default=128)
    p.add_argument("--optimizer", choices=["sgd", "adam"], default="sgd",
                   help="ours: word2vec SGD (default) or DGL's SparseAdam loop")
    p.add_argument("--lr", type=float, default=None, help="ours (default of train_deepwalk)")
    p.add_argument("--ours-walks-per-node", type=int, default=None,
                   help="walks per node for ours (default: --walks-per-node, the same walks "
                        "budget; more shows F1 at a comparable wall time)")
    p.add_argument("--hs", action="store_true",
                   help="ours with hierarchical softmax (default: negative sampling)")
    p.add_argument("--batch-size", type=int, default=None, help="ours")
    p.add_argument("--epochs", type=int, default=1,
                   help="gensim: epochs over its corpus of walks (1: the DeepWalk paper's "
                        "single pass); ours: epochs of fresh walks (walks_per_node per epoch)")
    p.add_argument("--gensim-epochs", type=int, default=None,
                   help="gensim's epochs when they should differ from --epochs (the "
                        "DeepWalk authors' script left gensim's default, 5)")
    p.add_argument("--passes", type=int, default=PASSES,
                   help="ours: passes over each epoch's walks (the same walks, reshuffled)")
    p.add_argument("--repeat-damping", type=float, default=REPEAT_DAMPING,
                   help="ours: a node met n times in a batch moves by its summed gradient / "
                        "n^RHO")
    p.add_argument("--per-position-negatives", action="store_true",
                   help="ours: negative_size negatives per position (word2vec's draw) instead "
                        "of walk_length per walk shared by its positions")
    p.add_argument("--threads", type=int, default=2, help="torch threads = gensim workers")
    p.add_argument("--repeats", type=int, default=5, help="random 50%% splits per model")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def gensim_epochs(args) -> int:
    return args.epochs if args.gensim_epochs is None else args.gensim_epochs


def gensim_deepwalk(edge_index, num_nodes, args):
    """The original recipe: corpus of uniform walks, Word2Vec(sg=1, hs=1, negative=0)."""
    from gensim.models import Word2Vec

    start = time.perf_counter()
    graph = CSRGraph(edge_index, num_nodes)
    starts = torch.arange(num_nodes).repeat(args.walks_per_node)
    starts = starts[torch.randperm(len(starts))]
    walks = random_walk(graph, starts, args.walk_length - 1)
    corpus = [[str(v) for v in w] for w in walks.tolist()]
    w2v = Word2Vec(corpus, vector_size=args.emb_dim, window=args.window_size, min_count=0,
                   sg=1, hs=1, negative=0, workers=args.threads, epochs=gensim_epochs(args),
                   seed=args.seed)
    elapsed = time.perf_counter() - start
    emb = torch.zeros(num_nodes, args.emb_dim)
    for v in range(num_nodes):
        if str(v) in w2v.wv.key_to_index:
            emb[v] = torch.from_numpy(w2v.wv[str(v)].copy())
    return emb, elapsed


def ours_deepwalk(data, args):
    start = time.perf_counter()
    model = DeepWalk(data, emb_dim=args.emb_dim, walk_length=args.walk_length,
                     window_size=args.window_size,
                     walks_per_node=args.ours_walks_per_node or args.walks_per_node,
                     fast_neg=False, hierarchical_softmax=args.hs,
                     shared_negatives=not args.per_position_negatives,
                     repeat_damping=args.repeat_damping)
    train_deepwalk(model, epochs=args.epochs, lr=args.lr, batch_size=args.batch_size,
                   optimizer=args.optimizer, passes=args.passes)
    return model.embedding(), time.perf_counter() - start


def main(argv=None):
    args = parse(argv)
    try:
        import gensim  # noqa: F401
    except ImportError:
        sys.exit("bench_deepwalk.py needs gensim for the reference recipe: pip install gensim")
    torch.set_num_threads(args.threads)
    data = load_dataset(args.dataset)
    print(f"{args.dataset}: {data.num_nodes} nodes, {data.num_edges} edges; "
          f"{args.walks_per_node} walks/node of {args.walk_length} nodes"
          + (f" (ours: {args.ours_walks_per_node})" if args.ours_walks_per_node else "")
          + f", window "
          f"{args.window_size}, dim {args.emb_dim}; gensim {gensim_epochs(args)} epoch(s), "
          f"ours {args.epochs} epoch(s) x {args.passes} pass(es) over each epoch's walks; "
          f"{args.threads} threads/workers")
    rows = []
    for name, run in [("gensim (uniform walks + skip-gram HS)",
                       lambda: gensim_deepwalk(data.edge_index, data.num_nodes, args)),
                      ("pyg_course DeepWalk", lambda: ours_deepwalk(data, args))]:
        torch.manual_seed(args.seed)
        result = []
        mem = peak_memory_mb(lambda run=run, result=result: result.append(run()))
        emb, elapsed = result[0]
        f1 = multilabel_f1(emb, data.y, 0.5, repeats=args.repeats, seed=args.seed)
        rows.append((name, elapsed, f1, mem))
        print(f"{name:40s} train {elapsed:7.1f} s   micro-F1 {f1['micro']:.4f} ± "
              f"{f1['micro_std']:.4f}   macro-F1 {f1['macro']:.4f} ± {f1['macro_std']:.4f}",
              flush=True)
    (_, t_ref, f_ref, _), (_, t_ours, f_ours, _) = rows
    print(f"speed-up (gensim time / ours): {t_ref / t_ours:.2f}x;  micro-F1 ours - gensim: "
          f"{f_ours['micro'] - f_ref['micro']:+.4f};  macro-F1 ours - gensim: "
          f"{f_ours['macro'] - f_ref['macro']:+.4f}")
    return rows


def run(argv=None) -> list:
    """:func:`main`, its result as a row for ``benchmarks/run_all.py``."""
    args = parse(argv)
    ours_walks = (f" (ours {args.ours_walks_per_node})" if args.ours_walks_per_node else "")
    case = (f"{args.dataset}: train (walks included), {args.walks_per_node}{ours_walks} "
            f"walks/node x "
            f"{args.walk_length}, window {args.window_size}, dim {args.emb_dim}, ours "
            f"{args.passes} pass(es) over the walks, gensim {gensim_epochs(args)} epoch(s)")
    try:
        import gensim  # noqa: F401
    except ImportError:
        return [row("deepwalk", f"skipped: gensim not installed ({case})")]
    (_, t_ref, f_ref, m_ref), (_, t_ours, f_ours, m_ours) = main(argv)
    note = (f"micro/macro-F1 ours {f_ours['micro']:.3f}/{f_ours['macro']:.3f}, gensim "
            f"{f_ref['micro']:.3f}/{f_ref['macro']:.3f}")
    return [row("deepwalk", case, t_ours, "gensim Word2Vec (skip-gram, HS)", t_ref, m_ours,
                m_ref, note=note)]


if __name__ == "__main__":
    main()
