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
import os

import numpy as np
import torch

from pyg_course.nn.models import DeepWalk
from pyg_course.train import run_experiment
from pyg_course.train.argtypes import (
    nonnegative_float,
    nonnegative_int,
    out_folder_error,
    positive_float,
    positive_int,
    unit_interval,
)
from pyg_course.train.cli import load_or_exit, run_flags, training_parser
from pyg_course.train.deepwalk import DeepWalkConfig, DeepWalkTrainer
from pyg_course.train.loop import resolve_device

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
#: Options of the shared training parser that DeepWalk has no use for: it trains no GNN on
#: node features.
OMIT = ("no_normalize_features", "hidden", "num_layers", "dropout", "weight_decay", "patience",
        "mode", "num_neighbors", "num_workers", "sampler")


def parser() -> argparse.ArgumentParser:
    p = training_parser(
        __doc__, omit=OMIT, epochs=None, lr=None, batch_size=None,
        help={"epochs": "each epoch draws --walks-per-node fresh walks per node (default: 10; "
                        "BlogCatalog 1, KarateClub 5)",
              "lr": "initial lr (default: 0.025 for sgd, 0.01 for adam; KarateClub 0.1)",
              "batch_size": "walks per step (default: 32 for sgd, 128 for adam)",
              "runs": "seeds --seed, --seed+1, ...; results.json gets their mean ± std (the "
                      "last seed's embeddings are saved and plotted)",
              "out": "folder for embedding.pt/.npy, embedding.png, results.json, history.csv, "
                     "model.pt and checkpoint.pt"})
    g = p.add_argument_group("DeepWalk")
    g.add_argument("--emb-dim", type=positive_int, default=None,
                   help="embedding size (default: 128; KarateClub 16)")
    g.add_argument("--walk-length", type=positive_int, default=None,
                   help="nodes per walk, at least --window-size + 1 (default: 40; KarateClub 20)")
    g.add_argument("--window-size", type=positive_int, default=None,
                   help="skip-gram context on each side (default: 10; KarateClub 3)")
    g.add_argument("--walks-per-node", type=positive_int, default=None,
                   help="per epoch (default: 1; BlogCatalog 40, KarateClub 20)")
    g.add_argument("--negative-size", type=nonnegative_int, default=5,
                   help="negatives per positive pair")
    g.add_argument("--neg-weight", type=nonnegative_float, default=1.0,
                   help="weight of the negative pairs' loss")
    g.add_argument("--fast-neg", action=argparse.BooleanOptionalAction, default=None,
                   help="negatives from the batch's walks (--no-fast-neg: degree^0.75 over all "
                        "nodes; the default for BlogCatalog)")
    g.add_argument("--p", type=positive_float, default=1.0, help="node2vec return parameter")
    g.add_argument("--q", type=positive_float, default=1.0, help="node2vec in-out parameter")
    g.add_argument("--hs", action=argparse.BooleanOptionalAction, default=None,
                   help="hierarchical softmax over a Huffman tree of the nodes (the original "
                        "DeepWalk's objective) instead of negative sampling (default: off)")
    g = p.add_argument_group("DeepWalk training")
    g.add_argument("--optimizer", choices=["sgd", "adam"], default=None,
                   help="sgd: word2vec's per-pair SGD, linearly decayed lr; adam: DGL's "
                        "documented SparseAdam loop (default: adam; sgd for BlogCatalog and "
                        "KarateClub)")
    g.add_argument("--passes", type=positive_int, default=None,
                   help="sgd: passes over each epoch's walks, reshuffled (gensim's epochs over "
                        "a fixed corpus; default: 1; BlogCatalog 2)")
    g.add_argument("--shared-negatives", action=argparse.BooleanOptionalAction, default=True,
                   help="sgd: walk_length negatives per walk shared by its positions "
                        "(--no-shared-negatives: negative_size per position, word2vec's draw)")
    g.add_argument("--repeat-damping", type=unit_interval, default=None,
                   help="sgd: a node met n times in a batch moves by its summed gradient / "
                        "n^RHO (1: average, 0: sum as sequential word2vec; default: 1; "
                        "BlogCatalog 0.25)")
    g.add_argument("--threads", type=positive_int, default=None,
                   help="torch CPU threads (default: torch's)")
    g = p.add_argument_group("evaluation")
    g.add_argument("--repeats", type=positive_int, default=10, help="random splits (multi-label)")
    g.add_argument("--plot", choices=["pca", "tsne", "none"], default="pca",
                   help="2-D view of the embeddings saved as --out/embedding.png")
    return p


def check_args(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """The rules between options, once the preset has filled the ``None`` defaults (each
    option alone is checked when parsed): a broken one is ``p.error`` (exit status 2, one line
    naming the option), before any data is loaded."""
    if args.walk_length < args.window_size + 1:
        p.error(f"argument --walk-length: must be >= --window-size + 1 (DeepWalk's constraint), "
                f"got {args.walk_length} with --window-size {args.window_size}")
    if args.passes > 1 and args.optimizer != "sgd":
        p.error(f"argument --passes: must be 1 with --optimizer adam, got {args.passes}")
    why = out_folder_error(args.out) if args.out is not None else None
    if why:
        p.error(f"argument --out: {args.out}: {why}")


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


def main(argv=None) -> dict:
    p = parser()
    args = p.parse_args(argv)
    name = args.dataset
    preset = dict(emb_dim=128, walk_length=40, window_size=10, walks_per_node=1, epochs=10,
                  optimizer="adam", fast_neg=True, hs=False, repeat_damping=1.0, passes=1)
    preset.update(PRESETS.get(name, {}))
    for key in preset:
        if getattr(args, key) is None:
            setattr(args, key, preset[key])
    check_args(p, args)
    device = resolve_device(args.device)
    data = load_or_exit(args.dataset, args.root)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    label = "faction" if name == "KarateClub" and "faction" in data else "y"

    def build() -> DeepWalk:
        return DeepWalk(data, emb_dim=args.emb_dim, walk_length=args.walk_length,
                        window_size=args.window_size, neg_weight=args.neg_weight,
                        negative_size=args.negative_size, fast_neg=args.fast_neg,
                        walks_per_node=args.walks_per_node, p=args.p, q=args.q,
                        hierarchical_softmax=args.hs, repeat_damping=args.repeat_damping,
                        shared_negatives=args.shared_negatives).to(device)

    config = DeepWalkConfig(epochs=args.epochs, lr=args.lr, batch_size=args.batch_size,
                            optimizer=args.optimizer, passes=args.passes, label=label,
                            repeats=args.repeats, device=str(device),
                            progress=not args.no_progress)
    model = build()
    results = run_experiment(build, data, config, runs=args.runs, seed=args.seed, out=args.out,
                             resume=args.resume, flags=run_flags(args, free=("threads", "plot")),
                             trainer_cls=DeepWalkTrainer, name=f"DeepWalk {name}",
                             info={"script": "train_deepwalk.py"})
    first = results["runs"][0]
    results.update(dataset=name, model=repr(model), args=vars(args),
                   train_time_s=first["train_time_s"], losses=first["losses"],
                   evaluation=first["evaluation"])
    if args.out:
        # The last run's embeddings: its weights are the experiment's model.pt.
        model.load_state_dict(torch.load(os.path.join(args.out, "model.pt")))
        emb = model.embedding().detach().cpu()
        torch.save(emb, os.path.join(args.out, "embedding.pt"))
        np.save(os.path.join(args.out, "embedding.npy"), emb.numpy())
        saved = {k: v for k, v in results.items() if k != "history"}
        with open(os.path.join(args.out, "results.json"), "w") as f:
            json.dump(saved, f, indent=2, default=str)
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
