#!/usr/bin/env python
"""Train DeepWalk node embeddings, save them, evaluate them with a linear probe, plot them.

    python scripts/train_deepwalk.py --dataset Cora --out runs/deepwalk_cora
    python scripts/train_deepwalk.py --dataset BlogCatalog --out runs/deepwalk_blog

Single-label graphs: logistic regression on the public split (KarateClub: on its two factions,
stratified half/half). BlogCatalog: one-vs-rest logistic regression, top-k labels, micro- and
macro-F1 at 10%, 50% and 90% of the nodes for training.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time

import numpy as np
import torch

from pyg_course.datasets import DATASETS
from pyg_course.metrics import evaluate_node_embeddings
from pyg_course.nn.models import DeepWalk
from pyg_course.train import train_deepwalk
from pyg_course.train.argtypes import out_folder_error
from pyg_course.train.cli import load_or_exit
from pyg_course.train.loop import resolve_device
from pyg_course.utils.checks import check_int, check_real
from pyg_course.utils.stats import mean_std

#: Per-dataset defaults (found on the validation split / the 50% ratio; see docs/results).
#: Sparse citation graphs: DGL's SparseAdam loop, one walk per node per epoch. BlogCatalog (dense,
#: hubs of degree ~4,000) and KarateClub: word2vec's SGD (``train_deepwalk(optimizer="sgd")``);
#: BlogCatalog: 40 walks per node, two passes over them, damped repeated rows (seed 0: micro/
#: macro-F1 0.408/0.267 at 50% in 173 s on one thread, against 0.394/0.253 in 376 s for one pass
#: over 80 walks with per-position negatives; docs/results/deepwalk.md).
PRESETS = {
    "BlogCatalog": dict(walks_per_node=40, passes=2, repeat_damping=0.25, epochs=1,
                        optimizer="sgd", fast_neg=False),
    "KarateClub": dict(walks_per_node=20, emb_dim=16, walk_length=20, window_size=3, epochs=5,
                       lr=0.1, optimizer="sgd"),
}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--dataset", default="Cora", help=", ".join(DATASETS.values()))
    p.add_argument("--root", default=None, help="folder holding <Name>/raw/")
    p.add_argument("--emb-dim", type=int, default=None, help="default 128 (KarateClub 16)")
    p.add_argument("--walk-length", type=int, default=None, help="nodes per walk (default 40)")
    p.add_argument("--window-size", type=int, default=None, help="default 10")
    p.add_argument("--walks-per-node", type=int, default=None,
                   help="per epoch (default 1; BlogCatalog 40)")
    p.add_argument("--negative-size", type=int, default=5)
    p.add_argument("--neg-weight", type=float, default=1.0)
    p.add_argument("--fast-neg", action=argparse.BooleanOptionalAction, default=None,
                   help="negatives from the batch's walks (--no-fast-neg: degree^0.75 over all "
                        "nodes; the default for BlogCatalog)")
    p.add_argument("--p", type=float, default=1.0, help="node2vec return parameter")
    p.add_argument("--q", type=float, default=1.0, help="node2vec in-out parameter")
    p.add_argument("--epochs", type=int, default=None,
                   help="default 10; each epoch draws walks_per_node fresh walks per node")
    p.add_argument("--passes", type=int, default=None,
                   help="sgd: passes over each epoch's walks, reshuffled (gensim's epochs over "
                        "a fixed corpus; default 1, BlogCatalog 2)")
    p.add_argument("--shared-negatives", action=argparse.BooleanOptionalAction, default=True,
                   help="sgd: walk_length negatives per walk shared by its positions "
                        "(--no-shared-negatives: negative_size per position, word2vec's draw)")
    p.add_argument("--batch-size", type=int, default=None,
                   help="walks per step (default 32 for sgd, 128 for adam)")
    p.add_argument("--optimizer", choices=["sgd", "adam"], default=None,
                   help="sgd: word2vec's per-pair SGD, linearly decayed lr; adam: DGL's "
                        "documented SparseAdam loop (default adam; sgd for BlogCatalog and "
                        "KarateClub)")
    p.add_argument("--lr", type=float, default=None,
                   help="initial lr (default 0.025 for sgd, 0.01 for adam)")
    p.add_argument("--seed", type=int, default=0, help="seed of the first run")
    p.add_argument("--runs", type=int, default=1,
                   help="seeds --seed, --seed+1, ...; results.json gets their mean ± std "
                        "(the first seed's embeddings are saved and plotted)")
    p.add_argument("--hs", action=argparse.BooleanOptionalAction, default=None,
                   help="hierarchical softmax over a Huffman tree of the nodes (the original "
                        "DeepWalk's objective) instead of negative sampling (default: off)")
    p.add_argument("--repeat-damping", type=float, default=None,
                   help="sgd: a node met n times in a batch moves by its summed gradient / "
                        "n^RHO (1: average, 0: sum as sequential word2vec; default 1, BlogCatalog "
                        "0.25)")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--repeats", type=int, default=10, help="random splits (multi-label)")
    p.add_argument("--plot", choices=["pca", "tsne", "none"], default="pca")
    p.add_argument("--out", default=None,
                   help="folder for embedding.pt/.npy, results.json and embedding.png")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return p


def check_args(p: argparse.ArgumentParser, args: argparse.Namespace) -> torch.device:
    """Every option checked before any data is loaded or any epoch is trained: a bad one is
    ``p.error`` (exit status 2, one line naming the option). Returns the device."""
    ints = [("--emb-dim", args.emb_dim, 1), ("--walk-length", args.walk_length, 2),
            ("--window-size", args.window_size, 1), ("--walks-per-node", args.walks_per_node, 1),
            ("--negative-size", args.negative_size, 0), ("--epochs", args.epochs, 1),
            ("--passes", args.passes, 1), ("--batch-size", args.batch_size, 1),
            ("--runs", args.runs, 1), ("--repeats", args.repeats, 1),
            ("--threads", args.threads, 1)]
    reals = [("--neg-weight", args.neg_weight, 0.0, True), ("--p", args.p, 0.0, False),
             ("--q", args.q, 0.0, False), ("--lr", args.lr, 0.0, False)]
    try:
        for flag, value, low in ints:
            if value is not None:
                check_int(f"argument {flag}", "value", value, low)
        for flag, value, low, include_low in reals:
            if value is not None and not math.isfinite(value):
                p.error(f"argument {flag}: must be a finite number, got {value}")
            if value is not None:
                check_real(f"argument {flag}", "value", value, low, include_low=include_low)
        check_real("argument --repeat-damping", "value", args.repeat_damping, 0.0, 1.0,
                   include_high=True)
    except (TypeError, ValueError) as exc:
        p.error(str(exc))
    if args.walk_length < args.window_size + 1:
        p.error(f"argument --walk-length: must be >= --window-size + 1 (DeepWalk's constraint), "
                f"got {args.walk_length} with --window-size {args.window_size}")
    if args.passes > 1 and args.optimizer != "sgd":
        p.error(f"argument --passes: must be 1 with --optimizer adam, got {args.passes}")
    why = out_folder_error(args.out) if args.out is not None else None
    if why:
        p.error(f"argument --out: {args.out}: {why}")
    try:
        return resolve_device(args.device)
    except (RuntimeError, ValueError) as exc:
        p.error(f"argument --device: {exc}")


def plot_embedding(emb: torch.Tensor, labels: torch.Tensor, path: str, method: str,
                   title: str) -> None:
    """2-D PCA or t-SNE of the embeddings, one colour per class."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = emb.double().numpy()
    if method == "tsne":
        from sklearn.manifold import TSNE

        xy = TSNE(2, init="pca", random_state=0).fit_transform(x)
    else:
        from sklearn.decomposition import PCA

        xy = PCA(2, random_state=0).fit_transform(x)
    fig, ax = plt.subplots(figsize=(5, 5))
    sc = ax.scatter(xy[:, 0], xy[:, 1], c=labels.numpy(), cmap="tab10", s=40 if len(x) < 100
                    else 6)
    ax.legend(*sc.legend_elements(), title="class", fontsize=7, loc="best")
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _print_run(name: str, seed: int, evaluation: dict, train_time: float, losses: list) -> None:
    if evaluation["protocol"] == "multilabel":
        for r in evaluation["results"]:
            print(f"{name} seed {seed}, train ratio {r['train_ratio']:.0%}: micro-F1 "
                  f"{r['micro']:.4f} ± {r['micro_std']:.4f}, macro-F1 {r['macro']:.4f} ± "
                  f"{r['macro_std']:.4f}")
    else:
        print(f"{name} seed {seed}, linear probe on {evaluation['label']} "
              f"({evaluation['split']} split): test accuracy {100 * evaluation['accuracy']:.2f}")
    print(f"trained in {train_time:.1f} s, final loss {losses[-1]:.4f}", flush=True)


def summarize(runs: list) -> dict:
    """Mean and sample std (``ddof=1``, :func:`~pyg_course.utils.stats.mean_std`) over seeds:
    ``test_acc_mean``/``_std`` for a probe, ``micro@50_mean``/``_std`` and
    ``macro@50_mean``/``_std`` (one pair per training ratio) for the multi-label protocol, and
    ``train_time_s_mean``/``_std``."""
    values = {"train_time_s": [r["train_time_s"] for r in runs]}
    for r in runs:
        ev = r["evaluation"]
        if ev["protocol"] == "multilabel":
            for res in ev["results"]:
                ratio = round(100 * res["train_ratio"])
                for metric in ("micro", "macro"):
                    values.setdefault(f"{metric}@{ratio}", []).append(res[metric])
        else:
            values.setdefault("test_acc", []).append(ev["accuracy"])
    out = {}
    for key, vals in values.items():
        out[f"{key}_mean"], out[f"{key}_std"] = mean_std(vals)
    return out


def main(argv=None) -> dict:
    p = parser()
    args = p.parse_args(argv)
    name = DATASETS.get(args.dataset.lower(), args.dataset)
    preset = dict(emb_dim=128, walk_length=40, window_size=10, walks_per_node=1, epochs=10,
                  optimizer="adam", fast_neg=True, hs=False, repeat_damping=1.0, passes=1)
    preset.update(PRESETS.get(name, {}))
    for key in preset:
        if getattr(args, key) is None:
            setattr(args, key, preset[key])
    device = check_args(p, args)
    data = load_or_exit(args.dataset, args.root)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    label = "faction" if name == "KarateClub" and "faction" in data else "y"

    runs, model, emb = [], None, None
    for seed in range(args.seed, args.seed + args.runs):
        torch.manual_seed(seed)
        model = DeepWalk(data, emb_dim=args.emb_dim, walk_length=args.walk_length,
                         window_size=args.window_size, neg_weight=args.neg_weight,
                         negative_size=args.negative_size, fast_neg=args.fast_neg,
                         walks_per_node=args.walks_per_node, p=args.p, q=args.q,
                         hierarchical_softmax=args.hs,
                         repeat_damping=args.repeat_damping,
                         shared_negatives=args.shared_negatives).to(device)
        start = time.perf_counter()
        losses = train_deepwalk(model, epochs=args.epochs, lr=args.lr,
                                batch_size=args.batch_size, optimizer=args.optimizer,
                                passes=args.passes, progress=not args.no_progress)
        train_time = time.perf_counter() - start
        run_emb = model.embedding().cpu()
        emb = run_emb if emb is None else emb  # the first seed's embeddings are saved
        evaluation = evaluate_node_embeddings(run_emb, data, label=label, repeats=args.repeats,
                                              seed=seed)
        runs.append({"seed": seed, "train_time_s": train_time, "losses": losses,
                     "evaluation": evaluation})
        _print_run(name, seed, evaluation, train_time, losses)
    summary = summarize(runs)
    results = {"dataset": name, "model": repr(model), "args": vars(args), "runs": runs,
               "summary": summary, "train_time_s": runs[0]["train_time_s"],
               "losses": runs[0]["losses"], "evaluation": runs[0]["evaluation"]}
    if args.runs > 1:
        print(f"{name}, {args.runs} seeds: " + ", ".join(
            f"{k[:-5]} {summary[k]:.4f} ± {summary[k[:-5] + '_std']:.4f}"
            for k in summary if k.endswith("_mean") and not k.startswith("train_time")))

    if args.out:
        os.makedirs(args.out, exist_ok=True)
        torch.save(emb, os.path.join(args.out, "embedding.pt"))
        np.save(os.path.join(args.out, "embedding.npy"), emb.numpy())
        with open(os.path.join(args.out, "results.json"), "w") as f:
            json.dump(results, f, indent=2)
        if args.plot != "none":
            colours = data[label]
            if colours.dim() == 2:  # multi-label: colour by the first label of each node
                colours = colours.argmax(1)
            plot_embedding(emb, colours, os.path.join(args.out, "embedding.png"), args.plot,
                           f"DeepWalk on {name} ({args.plot.upper()}, colour: {label})")
        print(f"saved embeddings, results and plot to {args.out}")
    return results


if __name__ == "__main__":
    main()
