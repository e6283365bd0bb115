#!/usr/bin/env python
"""Train the GAT of Veličković et al. (2018) on a Planetoid split; report test accuracy at the
best validation epoch as mean ± std over --runs seeds.

    python scripts/train_gat.py --dataset Cora --runs 10 --out runs/gat_cora --save-attention

Defaults are the paper's Cora settings: 8 heads x 8 hidden units, 1 averaged output head,
dropout 0.6 on inputs and attention, ELU, Adam lr 0.005, weight decay 5e-4, early stopping with
patience 100 (on validation accuracy and loss). ``--hidden`` counts the units of one head, as
the paper does: the hidden layers are ``--hidden x --heads`` wide (the ``hidden_channels`` of
``GAT``, the total width). ``--save-attention`` writes the attention of the
best model of the last run to ``--out/attention.pt`` and a plot of each node's attention
entropy against uniform attention's, log(in-degree), to ``--out/attention_entropy.png``.
"""

from pathlib import Path

import torch

from pyg_course.datasets import num_classes
from pyg_course.metrics.attention import save_attention
from pyg_course.nn.models import GAT
from pyg_course.train import run_experiment
from pyg_course.train.baselines import PyGGAT
from pyg_course.train.cli import (
    check_args,
    config_from_args,
    data_from_args,
    positive_int,
    run_flags,
    run_main,
    training_parser,
)


def make_parser():
    parser = training_parser(
        __doc__, lr=0.005, weight_decay=5e-4, patience=100, hidden=8, dropout=0.6, epochs=1000,
        help={"hidden": "hidden units per head (a hidden layer is --hidden x --heads wide)"})
    g = parser.add_argument_group("GAT")
    g.add_argument("--heads", type=positive_int, default=8, help="heads of each hidden layer")
    g.add_argument("--output-heads", type=positive_int, default=1,
                   help="heads of the output layer (averaged; the paper: 1, PubMed 8)")
    g.add_argument("--impl", choices=["ours", "pyg"], default="ours",
                   help="train our GAT, or the same model built from PyG's GATConv")
    g.add_argument("--save-attention", action="store_true",
                   help="write --out/attention.pt and --out/attention_entropy.png")
    return parser


def build_model(args, num_features: int, out_channels: int):
    """The paper's GAT: ``--heads`` heads of ``--hidden`` units each in the hidden layers,
    ``--output-heads`` averaged output heads, dropout on every layer's input and on the
    attention, ELU."""
    if args.impl == "pyg":
        return PyGGAT(num_features, args.hidden, args.num_layers, out_channels,
                      heads=args.heads, dropout=args.dropout, output_heads=args.output_heads)
    return GAT(num_features, args.hidden * args.heads, args.num_layers, out_channels,
               heads=args.heads, output_heads=args.output_heads, dropout=args.dropout,
               input_dropout=args.dropout, act="elu")


def main(argv=None):
    parser = make_parser()
    args = parser.parse_args(argv)
    check_args(parser, args)
    if args.save_attention and args.out is None:
        parser.error("--save-attention needs --out")
    if args.save_attention and args.impl == "pyg":
        parser.error("--save-attention works with --impl ours")
    data = data_from_args(args, parser=parser, node_classification=True)
    config = config_from_args(args)

    def build():
        return build_model(args, data.num_features, num_classes(data))

    name = f"GAT {args.dataset}" + (" (PyG)" if args.impl == "pyg" else "")
    results = run_experiment(build, data, config, runs=args.runs, seed=args.seed, out=args.out,
                             resume=args.resume, name=name,
                             flags=run_flags(args, free=("save_attention",)),
                             info={"model": repr(build()), "impl": args.impl,
                                   "heads": args.heads, "output_heads": args.output_heads})
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
    run_main(main)
