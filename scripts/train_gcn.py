#!/usr/bin/env python
"""Train the GCN of Kipf & Welling (2017) on a Planetoid split; report test accuracy at the best
validation epoch as mean ± std over --runs seeds.

    python scripts/train_gcn.py --dataset Cora --runs 10 --out runs/gcn_cora
"""

from pyg_course.datasets import num_classes
from pyg_course.nn.models import GCN
from pyg_course.train import run_experiment
from pyg_course.train.baselines import PyGGCN
from pyg_course.train.cli import (
    check_args,
    config_from_args,
    data_from_args,
    run_flags,
    run_main,
    training_parser,
)


def make_parser():
    parser = training_parser(__doc__)
    parser.add_argument("--impl", choices=["ours", "pyg"], default="ours",
                        help="train our GCN, or the same model built from PyG's GCNConv")
    return parser


def build_model(args, num_features: int, out_channels: int):
    """The paper's GCN: dropout on the input features and between the layers; the normalised
    adjacency is cached in full-batch (transductive) training only."""
    cached = args.mode == "full"
    if args.impl == "pyg":
        return PyGGCN(num_features, args.hidden, args.num_layers, out_channels,
                      dropout=args.dropout, cached=cached)
    return GCN(num_features, args.hidden, args.num_layers, out_channels, dropout=args.dropout,
               input_dropout=args.dropout, cached=cached)


def main(argv=None):
    parser = make_parser()
    args = parser.parse_args(argv)
    check_args(parser, args)
    data = data_from_args(args, parser=parser, node_classification=True)
    config = config_from_args(args)

    def build():
        return build_model(args, data.num_features, num_classes(data))

    name = f"GCN {args.dataset}" + (" (PyG)" if args.impl == "pyg" else "")
    return run_experiment(build, data, config, runs=args.runs, seed=args.seed, out=args.out,
                          resume=args.resume, name=name, flags=run_flags(args),
                          info={"model": repr(build()), "impl": args.impl})


if __name__ == "__main__":
    run_main(main)
