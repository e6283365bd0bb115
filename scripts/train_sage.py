#!/usr/bin/env python
"""Train GraphSAGE (Hamilton et al., 2017) with the mean, gcn, pool or lstm aggregator, full batch
or on neighbour-sampled mini-batches; report test accuracy at the best validation epoch as
mean ± std over --runs seeds.

    python scripts/train_sage.py --dataset Cora --aggr mean --mode minibatch --runs 10
    python scripts/train_sage.py --dataset Cora --aggr mean --impl pyg --runs 10  # PyG's SAGEConv
    torchrun --nproc_per_node 2 scripts/train_sage.py --ddp --aggr pool --out runs/sage_ddp
    python scripts/train_sage.py --unsupervised --dataset Cora        # unsupervised loss + probe
"""

from pyg_course.datasets import num_classes
from pyg_course.nn.models import GraphSAGE
from pyg_course.train import run_experiment
from pyg_course.train.baselines import PyGGraphSAGE
from pyg_course.train.cli import (
    add_unsupervised_args,
    changed,
    check_args,
    config_from_args,
    data_from_args,
    positive_int,
    probability,
    run_flags,
    run_main,
    training_parser,
)
from pyg_course.train.distributed import check_torchrun
from pyg_course.train.unsupervised import (
    UNSUPERVISED_SETTINGS,
    UnsupervisedConfig,
    UnsupervisedTrainer,
)

INPUT_DROPOUT = 0.5
#: Default hidden size of the pooling layer / LSTM. Pool: 64 (on Cora, 3 seeds: 79.3 with 64
#: vs 77.5 with PyG's in_channels = 1433; docs/results/sage.md); lstm: 128, as the paper's code.
AGGR_CHANNELS = {"pool": 64, "lstm": 128}
#: Options of supervised training that unsupervised training does not use.
SUPERVISED_ONLY = ("impl", "ddp", "mode", "patience", "input_dropout")


def parser():
    p = training_parser(__doc__, mode="minibatch", hidden=64, epochs=100)
    g = p.add_argument_group("GraphSAGE")
    g.add_argument("--aggr", choices=["mean", "gcn", "pool", "lstm"], default="mean",
                   help="neighbourhood aggregator")
    g.add_argument("--impl", choices=["ours", "pyg"], default="ours",
                   help="train our GraphSAGE, or the same model built from PyG's SAGEConv "
                        "(mean and pool only)")
    g.add_argument("--input-dropout", type=probability, default=INPUT_DROPOUT,
                   help="dropout on the input features")
    g.add_argument("--aggr-channels", type=positive_int, default=None,
                   help="hidden size of the pool layer / LSTM, for --aggr pool or lstm only "
                        "(default: 64 for pool, 128 for lstm; PyG's pool (--impl pyg) always "
                        "uses the input size)")
    g.add_argument("--jk", choices=["last", "cat", "max", "lstm"], default=None,
                   help="jumping knowledge over the layers' outputs (default: none)")
    g.add_argument("--normalize", action="store_true", help="l2-normalise each layer's output")
    g.add_argument("--ddp", action="store_true",
                   help="distributed data parallel; start with torchrun --nproc_per_node N")
    g.add_argument("--unsupervised", action="store_true",
                   help="train with the unsupervised GraphSAGE loss and report a linear probe")
    add_unsupervised_args(p)
    return p


def build_model(args, num_features: int, out_channels=None):
    """The model: ``--num-layers`` SAGE layers with ``--aggr``, ReLU and dropout between them.
    Supervised (``out_channels`` classes): dropout ``--input-dropout`` on the input features.
    Unsupervised (``out_channels=None``): the encoder, whose last layer's ``--hidden`` outputs
    are the embeddings, without input dropout."""
    if args.impl == "pyg":
        return PyGGraphSAGE(num_features, args.hidden, args.num_layers, out_channels,
                            dropout=args.dropout, aggr=args.aggr,
                            input_dropout=args.input_dropout)
    aggr_channels = args.aggr_channels
    if aggr_channels is None and args.aggr in AGGR_CHANNELS:
        aggr_channels = AGGR_CHANNELS[args.aggr]
    input_dropout = args.input_dropout if out_channels is not None else 0.0
    return GraphSAGE(num_features, args.hidden, args.num_layers, out_channels,
                     dropout=args.dropout, aggr=args.aggr, jk=args.jk, normalize=args.normalize,
                     aggr_channels=aggr_channels, input_dropout=input_dropout)


def check_unsupervised_args(parser, args) -> None:
    """``parser.error`` (one line, exit status 2) where an option given would be ignored:
    :data:`SUPERVISED_ONLY` with ``--unsupervised`` (it trains our GraphSAGE on
    neighbour-sampled mini-batches in one process), the unsupervised options without it."""
    if args.unsupervised:
        given = changed(parser, args, SUPERVISED_ONLY)
        if given:
            parser.error(f"not used by --unsupervised (it trains our GraphSAGE on "
                         f"neighbour-sampled mini-batches in one process): {', '.join(given)}")
    else:
        given = changed(parser, args, UNSUPERVISED_SETTINGS)
        if given:
            parser.error(f"only used with --unsupervised: {', '.join(given)}")


def run_unsupervised(args, data):
    """Unsupervised GraphSAGE (``--unsupervised``): the shared runner with
    :class:`~pyg_course.train.unsupervised.UnsupervisedTrainer`."""
    return run_experiment(lambda: build_model(args, data.num_features), data,
                          config_from_args(args, UnsupervisedConfig), runs=args.runs,
                          seed=args.seed, out=args.out, resume=args.resume,
                          flags=run_flags(args), trainer_cls=UnsupervisedTrainer,
                          name=f"unsupervised GraphSAGE {args.dataset}",
                          info={"script": "train_sage.py", "aggr": args.aggr})


def main(argv=None):
    p = parser()
    args = p.parse_args(argv)
    check_args(p, args)
    check_unsupervised_args(p, args)
    if args.aggr_channels is not None and args.aggr not in AGGR_CHANNELS:
        p.error(f"--aggr-channels is the hidden size of --aggr pool or lstm, not of --aggr "
                f"{args.aggr}")
    if args.impl == "pyg":
        if args.jk or args.normalize or args.aggr_channels is not None or args.ddp:
            p.error("--impl pyg takes none of --jk, --normalize, --aggr-channels, --ddp")
        try:
            PyGGraphSAGE(1, 1, 1, 1, aggr=args.aggr)
        except ValueError as exc:
            p.error(f"--impl pyg --aggr {args.aggr}: {exc}")
    if args.ddp:
        try:
            check_torchrun()
        except RuntimeError as exc:
            p.error(str(exc))
    data = data_from_args(args, parser=p, node_classification=True)
    if args.unsupervised:
        return run_unsupervised(args, data=data)
    config = config_from_args(args)

    def build():
        return build_model(args, data.num_features, num_classes(data))

    kwargs = dict(runs=args.runs, seed=args.seed, out=args.out, resume=args.resume,
                  flags=run_flags(args),
                  name=f"GraphSAGE-{args.aggr} {args.dataset}"
                       + (" (PyG)" if args.impl == "pyg" else ""),
                  info={"model": repr(build()), "aggr": args.aggr, "script": "train_sage.py",
                        "ddp": args.ddp,
                        "impl": args.impl})
    if not args.ddp:
        return run_experiment(build, data, config, **kwargs)

    from pyg_course.train.distributed import DistributedTrainer, distributed, world_size

    with distributed(args.device):
        kwargs["info"]["world_size"] = world_size()
        return run_experiment(build, data, config, trainer_cls=DistributedTrainer, **kwargs)


if __name__ == "__main__":
    run_main(main)
