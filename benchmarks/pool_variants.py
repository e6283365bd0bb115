#!/usr/bin/env python
"""Variants of the GraphSAGE training setup that ``scripts/train_sage.py`` has no option for:
label smoothing, a self-loop per node, unit-l2 feature rows, evaluating an exponential moving
average of the weights, and weight decay on the first layer only. The pool-aggregator
comparison in docs/results/sage.md ("What we tried") uses it.

    python benchmarks/pool_variants.py --l2-rows -- --dataset Cora --aggr pool --runs 10 ...

Everything after ``--`` goes to ``train_sage.py`` unchanged (not ``--ddp``, ``--resume`` or
``--unsupervised``: the variants live in a plain single-process run).
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import List, Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from pyg_course.train.argtypes import nonnegative_float, probability
from pyg_course.train.loop import Trainer


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--label-smoothing", type=probability, default=0.0,
                   help="cross-entropy label smoothing (training loss only)")
    p.add_argument("--self-loops", action="store_true",
                   help="add one self-loop per node, so the pool's max includes the node")
    p.add_argument("--l2-rows", action="store_true",
                   help="scale each feature row to unit l2 norm (after the script's own "
                        "preprocessing: give --no-normalize-features for raw features)")
    p.add_argument("--ema", type=probability, default=None,
                   help="evaluate (and select) an exponential moving average of the "
                        "parameters, updated after every epoch with this decay")
    p.add_argument("--first-layer-wd", type=nonnegative_float, default=None,
                   help="weight decay on the first layer only (no decay on the others), "
                        "instead of --weight-decay on every parameter")
    return p


def variant_trainer(args: argparse.Namespace) -> type:
    """A :class:`Trainer` with the loss, optimizer and evaluation that ``args`` ask for."""

    class VariantTrainer(Trainer):
        def __init__(self, model, data, config):
            optimizer = None
            if args.first_layer_wd is not None:
                first = [p for n, p in model.named_parameters() if n.startswith("convs.0.")]
                rest = [p for n, p in model.named_parameters() if not n.startswith("convs.0.")]
                optimizer = torch.optim.Adam(
                    [{"params": first, "weight_decay": args.first_layer_wd},
                     {"params": rest, "weight_decay": 0.0}], lr=config.lr)
            loss_fn = (functools.partial(F.cross_entropy, label_smoothing=args.label_smoothing)
                       if args.label_smoothing else F.cross_entropy)
            super().__init__(model, data, config, optimizer=optimizer, loss_fn=loss_fn)
            self.average: Optional[List[Tensor]] = None

        def train_epoch(self) -> float:
            loss = super().train_epoch()
            if args.ema is not None:
                params = [p.detach() for p in self.model.parameters()]
                if self.average is None:
                    self.average = [p.clone() for p in params]
                else:
                    for a, p in zip(self.average, params):
                        a.mul_(args.ema).add_(p, alpha=1 - args.ema)
            return loss

        def _record(self, metrics) -> bool:
            best_epoch = self.best["epoch"]
            stop = super()._record(metrics)
            if self.average is not None and self.best["epoch"] != best_epoch:
                names = [n for n, _ in self.model.named_parameters()]  # keep the evaluated
                self.best_state.update({n: a.cpu().clone() for n, a in zip(names, self.average)})
            return stop

        @torch.no_grad()
        def predict(self) -> Tensor:
            if self.average is None:
                return super().predict()
            params = list(self.model.parameters())
            current = [p.detach().clone() for p in params]
            for p, a in zip(params, self.average):
                p.copy_(a)
            try:
                return super().predict()
            finally:
                for p, c in zip(params, current):
                    p.copy_(c)

    return VariantTrainer


def transform(data, args: argparse.Namespace):
    """``data`` with the self-loops and feature scaling that ``args`` ask for."""
    if args.self_loops:
        from torch_geometric.utils import add_self_loops, remove_self_loops

        edge_index, _ = remove_self_loops(data.edge_index)
        data.edge_index, _ = add_self_loops(edge_index, num_nodes=data.num_nodes)
    if args.l2_rows:
        data.x = F.normalize(data.x, p=2.0, dim=1)
    return data


def train_sage() -> ModuleType:
    """A fresh copy of ``scripts/train_sage.py`` as a module (its ``__main__`` block does not
    run), so that replacing its functions here changes no other copy."""
    path = Path(__file__).resolve().parents[1] / "scripts" / "train_sage.py"
    spec = importlib.util.spec_from_file_location("train_sage", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv: Optional[List[str]] = None):
    argv = sys.argv[1:] if argv is None else list(argv)
    ours, rest = (argv[:argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv \
        else (argv, [])
    p = parser()
    args = p.parse_args(ours)
    for refused in ("--ddp", "--resume", "--unsupervised"):
        if refused in rest:
            p.error(f"{refused} is not supported here (the variants are not checkpointed)")
    script = train_sage()
    load = script.data_from_args
    script.data_from_args = lambda *a, **k: transform(load(*a, **k), args)
    script.run_experiment = functools.partial(script.run_experiment,
                                              trainer_cls=variant_trainer(args))
    return script.main(rest)


if __name__ == "__main__":
    main()
