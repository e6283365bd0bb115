#!/usr/bin/env python
"""Train the GAT of Veličković et al. (2018) on a Planetoid split; report test accuracy at the
best validation epoch as mean ± std over --runs seeds.

    python scripts/train_gat.py --dataset Cora --runs 10 --out runs/gat_cora --save-attention

Defaults are the paper's Cora settings: 8 heads x 8 hidden units, 1 averaged output head,
dropout 0.6 on inputs and attention, Adam lr 0.005, weight decay 5e-4, early stopping with
patience 100 (on validation accuracy and loss). ``--save-attention`` writes the attention of the
best model of the last run to ``--out/attention.pt`` and a plot of each node's attention
entropy against uniform attention's, log(in-degree), to ``--out/attention_entropy.png``.
"""

from pathlib import Path

import torch

from pyg_course.datasets import num_classes
from pyg_course.nn.models import GAT, attention_entropy
from pyg_course.train import run_experiment
from pyg_course.train.baselines import PyGGAT
from pyg_course.train.cli import config_from_args, data_from_args, training_parser


def save_attention(model, data, out: Path, title: str) -> dict:
    """Attention of ``model`` (eval mode, full graph) per layer, its per-node entropy, a plot."""
    model.eval()
    with torch.no_grad():
        _, attention = model(data.x, data.edge_index, return_attention_weights=True)
    layers = []
    for edge_index, alpha in attention:
        entropy, uniform = attention_entropy(edge_index, alpha, data.num_nodes)
        layers.append({"edge_index": edge_index, "alpha": alpha, "entropy": entropy,
                       "uniform_entropy": uniform})
    torch.save(layers, out / "attention.pt")
    plot_entropy(layers, out / "attention_entropy.png", title)
    return {f"layer{i + 1}": {"entropy_mean": float(layer["entropy"].mean()),
                              "uniform_entropy_mean": float(layer["uniform_entropy"].mean())}
            for i, layer in enumerate(layers)}


def plot_entropy(layers, path: Path, title: str) -> None:
    """Per layer: each node's learned attention entropy (mean over heads) against that of
    uniform attention, log(in-degree); points on the diagonal attend uniformly."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(layers), figsize=(5 * len(layers), 4.5), squeeze=False)
    for i, (ax, layer) in enumerate(zip(axes[0], layers)):
        entropy = layer["entropy"]
        learned = (entropy.mean(1) if entropy.dim() == 2 else entropy).numpy()
        uniform = layer["uniform_entropy"].numpy()
        top = float(max(learned.max(), uniform.max())) * 1.05
        ax.plot([0, top], [0, top], color="grey", lw=1, label="uniform attention")
        ax.scatter(uniform, learned, s=4, alpha=0.4, color="C3", label="nodes (mean over heads)")
        ax.set(xlabel="uniform entropy log(in-degree) (nats)", ylabel="learned entropy (nats)",
               title=f"layer {i + 1}: mean {learned.mean():.4f} vs uniform {uniform.mean():.4f}",
               xlim=(0, top), ylim=(0, top))
        ax.legend(loc="upper left")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    parser = training_parser(__doc__.splitlines()[0], lr=0.005, weight_decay=5e-4, patience=100,
                             hidden=8, dropout=0.6, epochs=1000)
    parser.add_argument("--heads", type=int, default=8, help="heads of each hidden layer")
    parser.add_argument("--output-heads", type=int, default=1,
                        help="heads of the output layer (averaged; the paper: 1, PubMed 8)")
    parser.add_argument("--impl", choices=["ours", "pyg"], default="ours",
                        help="train our GAT, or the same model built from PyG's GATConv")
    parser.add_argument("--save-attention", action="store_true",
                        help="write --out/attention.pt and --out/attention_entropy.png")
    args = parser.parse_args(argv)
    if args.save_attention and args.out is None:
        parser.error("--save-attention needs --out")
    if args.save_attention and args.impl == "pyg":
        parser.error("--save-attention works with --impl ours")
    data = data_from_args(args)
    config = config_from_args(args)

    def build():
        cls = GAT if args.impl == "ours" else PyGGAT
        return cls(data.num_features, args.hidden, args.num_layers, num_classes(data),
                   heads=args.heads, dropout=args.dropout, output_heads=args.output_heads)

    name = f"GAT {args.dataset}" + (" (PyG)" if args.impl == "pyg" else "")
    results = run_experiment(build, data, config, runs=args.runs, seed=args.seed, out=args.out,
                             resume=args.resume, name=name,
                             info={"model": repr(build()), "impl": args.impl})
    if args.save_attention:
        out = Path(args.out)
        model = build()
        model.load_state_dict(torch.load(out / "model.pt"))
        summary = save_attention(model, data, out, f"{name}: attention entropy per node "
                                                   f"(best model of the last run)")
        for layer, s in summary.items():
            print(f"{layer}: mean attention entropy {s['entropy_mean']:.3f} nats, uniform "
                  f"{s['uniform_entropy_mean']:.3f}")
    return results


if __name__ == "__main__":
    main()
