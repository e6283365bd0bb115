#!/usr/bin/env python
"""Train the GCN of Kipf & Welling (2017) on a Planetoid split; report test accuracy at the best
validation epoch as mean ± std over --runs seeds.

    python scripts/train_gcn.py --dataset Cora --runs 10 --out runs/gcn_cora
"""

from pyg_course.datasets import num_classes
from pyg_course.nn.models import GCN
from pyg_course.train import run_experiment
from pyg_course.train.cli import config_from_args, data_from_args, training_parser


def main(argv=None):
    parser = training_parser(__doc__.splitlines()[0])
    args = parser.parse_args(argv)
    data = data_from_args(args)
    config = config_from_args(args)

    def build():
        # The normalised adjacency is cached in full-batch (transductive) training only.
        return GCN(data.num_features, args.hidden, args.num_layers, num_classes(data),
                   dropout=args.dropout, cached=args.mode == "full")

    results = run_experiment(build, data, config, runs=args.runs, seed=args.seed, out=args.out,
                             resume=args.resume, name=f"GCN {args.dataset}",
                             info={"model": repr(build()), "script": "train_gcn.py"})
    return results


if __name__ == "__main__":
    main()
