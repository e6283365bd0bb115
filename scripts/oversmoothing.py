#!/usr/bin/env python
"""Over-smoothing sweep: test accuracy, MAD and Dirichlet energy of the last hidden layer of a
deep GCN for each depth and each remedy (residual, PairNorm, DropEdge, JK, GCNII).

    python scripts/oversmoothing.py --dataset Cora --depths 2 4 8 16 32 64 \
        --out docs/results/oversmoothing

Writes ``<out>.csv`` (one row per depth x remedy, appended as each cell finishes, so an
interrupted sweep keeps what it measured and ``--resume`` skips finished cells) and
``<out>.png`` (one panel per measure); an ``--out`` that ends with a path separator or names an
existing folder writes ``<out>/oversmoothing.csv`` and ``.png``. Every row records the settings
that produced it, and ``--resume`` refuses a CSV made with other settings. One seed per cell
unless ``--runs`` says otherwise.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import statistics
from pathlib import Path

import torch
from torch_geometric import seed_everything

from pyg_course.argtypes import out_prefix, positive_int
from pyg_course.datasets import DATASETS, num_classes
from pyg_course.metrics.smoothing import smoothing_report
from pyg_course.nn.models.deep_gnn import REMEDIES, DeepGNN
from pyg_course.train import Trainer
from pyg_course.train.cli import config_from_args, data_from_args, training_parser

FIELDS = ["dataset", "remedy", "depth", "runs", "test_acc", "test_acc_std", "val_acc",
          "best_epoch", "mad", "mad_neighbors", "mad_gap", "dirichlet", "dirichlet_normalized",
          "epoch_time", "settings"]
#: Options of the shared training parser that the sweep has no use for: the depth comes from
#: ``--depths`` and every cell trains full-batch. Giving one is an error.
UNUSED = {"num_layers": "--num-layers (the sweep's depths are --depths)",
          "mode": "--mode (the sweep trains full-batch only)",
          "num_neighbors": "--num-neighbors (full-batch only)",
          "batch_size": "--batch-size (full-batch only)",
          "num_workers": "--num-workers (full-batch only)"}
#: Options that say where the sweep reads and writes, not what a cell is: everything else goes
#: into a row's ``settings``, and ``--resume`` reuses only rows whose settings match.
NOT_SETTINGS = {"out", "resume", "no_progress", "device", "root", "depths", "remedies",
                *UNUSED}
MEASURES = [("test_acc", "test accuracy (%)", False), ("mad", "MAD (last hidden)", False),
            ("dirichlet_normalized", "normalised Dirichlet energy", True),
            ("mad_gap", "MADGap", False)]


def parser():
    p = training_parser(" ".join(__doc__.split("\n\n")[0].split()), hidden=64, dropout=0.5,
                        epochs=200, patience=50, lr=0.01, weight_decay=5e-4)
    p.unused_defaults = {}  # restored once main() has checked that none was given
    for action in p._actions:
        if action.dest in UNUSED:
            p.unused_defaults[action.dest] = action.default
            action.help, action.default = argparse.SUPPRESS, argparse.SUPPRESS
        elif action.dest == "out":
            action.help = ("file prefix: writes <out>.csv and <out>.png; a folder (a name ending "
                           "in a path separator, or an existing folder) gets "
                           "<out>/oversmoothing.csv and .png")
        elif action.dest == "patience":
            action.help = "early stopping: epochs without val improvement"
        elif action.dest == "resume":
            action.help = ("keep the rows of an existing <out>.csv and train only the missing "
                           "cells; refuses a CSV made with other settings")
    g = p.add_argument_group("sweep")
    g.add_argument("--depths", type=positive_int, nargs="+", default=[2, 4, 8, 16, 32, 64])
    g.add_argument("--remedies", nargs="+", default=list(REMEDIES), choices=list(REMEDIES))
    g.add_argument("--gcnii-epochs", type=positive_int, default=1500,
                   help="epochs of GCNII (the paper trains up to 1500 with patience 100)")
    g.add_argument("--gcnii-patience", type=int, default=100)
    g.add_argument("--gcnii-dropout", type=float, default=0.6)
    g.add_argument("--gcnii-conv-weight-decay", type=float, default=0.01)
    g.add_argument("--quick", action="store_true",
                   help="smoke test: 5 epochs per cell, no early stopping (overrides --epochs, "
                        "--patience, --gcnii-epochs and --gcnii-patience)")
    p.set_defaults(out="oversmoothing")
    return p


def run_cell(data, remedy, depth, args, config):
    """Train ``runs`` seeds of one depth x remedy cell with the shared Trainer; measure the
    last hidden layer of each best-validation model."""
    kw = dict(REMEDIES[remedy])
    gcnii = kw.get("gcnii", False)
    cfg = config
    if gcnii and not args.quick:
        cfg = dataclasses.replace(config, epochs=args.gcnii_epochs, patience=args.gcnii_patience)
    rows = []
    for r in range(args.runs):
        seed_everything(args.seed + r)
        model = DeepGNN(data.num_features, args.hidden, depth, num_classes(data),
                        dropout=args.gcnii_dropout if gcnii else args.dropout,
                        cached=not kw.get("dropedge"), **kw)
        optimizer = torch.optim.Adam(model.param_groups(
            args.gcnii_conv_weight_decay if gcnii else args.weight_decay, args.weight_decay),
            lr=args.lr)
        trainer = Trainer(model, data, cfg, optimizer=optimizer)
        result = trainer.fit(desc=f"{remedy} L={depth}")
        model.load_state_dict(trainer.best_state)
        d = trainer.data_device
        h = model.embed(d.x, d.edge_index)
        rows.append({"test_acc": 100 * result["test_acc"], "val_acc": 100 * result["val_acc"],
                     "best_epoch": result["best_epoch"],
                     "epoch_time": statistics.fmean(e["time"] for e in result["history"]),
                     **smoothing_report(h, d.edge_index)})
    out = {k: statistics.fmean(row[k] for row in rows) for k in rows[0]}
    out["test_acc_std"] = statistics.stdev(r["test_acc"] for r in rows) if len(rows) > 1 else 0.0
    return {"dataset": args.dataset, "remedy": remedy, "depth": depth, "runs": args.runs, **out,
            "settings": json.dumps(cell_settings(args), sort_keys=True)}


def cell_settings(args) -> dict:
    """Every option that shapes a cell's numbers besides its remedy and depth (not
    :data:`NOT_SETTINGS`); with ``--quick`` the epochs and patience it overrides are left out."""
    s = {k: v for k, v in vars(args).items() if k not in NOT_SETTINGS}
    s["dataset"] = DATASETS.get(str(args.dataset).lower(), args.dataset)
    if args.quick:
        for k in ("epochs", "patience", "gcnii_epochs", "gcnii_patience"):
            s.pop(k, None)
    return json.loads(json.dumps(s))


def finished_rows(csv_path: Path, settings: dict) -> list:
    """The rows of an earlier sweep to keep; exits with one line if the file is not such a CSV
    or was made with other settings."""
    with open(csv_path, newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
        missing = [k for k in FIELDS if k not in (reader.fieldnames or [])]
    if missing:
        raise SystemExit(f"error: --resume: {csv_path} has no column {', '.join(missing)} (not a "
                         f"sweep of this script, or one from before rows recorded their "
                         f"settings); remove it or pick another --out")

    def shown(d, k):
        return repr(d[k]) if k in d else "unset"

    for row in rows:
        try:
            theirs = json.loads(row["settings"])
            int(row["depth"])
            if not isinstance(theirs, dict):
                raise ValueError(f"settings {row['settings']!r} is not a JSON object")
        except (TypeError, ValueError) as exc:
            raise SystemExit(f"error: --resume: {csv_path} has an unreadable row "
                             f"({exc}); remove it or pick another --out") from None
        differ = [f"--{k.replace('_', '-')} {shown(theirs, k)} there, {shown(settings, k)} here"
                  for k in sorted(set(theirs) | set(settings)) if theirs.get(k) != settings.get(k)
                  or (k in theirs) != (k in settings)]
        if differ:
            raise SystemExit(f"error: --resume: {csv_path} was made with other settings ("
                             f"{'; '.join(differ)}); repeat them, or drop --resume to start over")
    return rows


def plot(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(MEASURES), figsize=(4.2 * len(MEASURES), 3.8))
    for ax, (key, label, log) in zip(axes, MEASURES):
        for remedy in dict.fromkeys(r["remedy"] for r in rows):
            pts = sorted((int(r["depth"]), float(r[key])) for r in rows if r["remedy"] == remedy)
            ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=remedy)
        ax.set_xscale("log", base=2)
        if log:
            ax.set_yscale("log")
        ax.set(xlabel="layers", title=label)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    p = parser()
    args = p.parse_args(argv)
    given = [flag for dest, flag in UNUSED.items() if hasattr(args, dest)]
    if given:
        p.error(f"not used by the sweep: {', '.join(given)}")
    if args.runs < 1:
        p.error(f"argument --runs: must be at least 1, got {args.runs}")
    for dest, default in p.unused_defaults.items():
        setattr(args, dest, default)
    if args.quick:
        args.epochs, args.patience = 5, None
    prefix = out_prefix(args.out, "oversmoothing")
    csv_path, png_path = Path(f"{prefix}.csv"), Path(f"{prefix}.png")
    done = []
    if args.resume and csv_path.is_file():
        done = finished_rows(csv_path, cell_settings(args))
    data = data_from_args(args)
    config = config_from_args(args)
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    if not done:
        with open(csv_path, "w", newline="") as f:
            csv.DictWriter(f, fieldnames=FIELDS).writeheader()
    finished = {(r["remedy"], int(r["depth"])) for r in done}
    rows = list(done)
    for remedy in args.remedies:
        for depth in args.depths:
            if (remedy, depth) in finished:
                continue
            row = run_cell(data, remedy, depth, args, config)
            rows.append(row)
            with open(csv_path, "a", newline="") as f:
                csv.DictWriter(f, fieldnames=FIELDS).writerow(
                    {k: f"{v:.6g}" if isinstance(v, float) else v for k, v in row.items()})
            print(f"{remedy:>9} L={depth:<3} test {row['test_acc']:6.2f}  MAD {row['mad']:.4f}  "
                  f"MADGap {row['mad_gap']:+.4f}  E_norm {row['dirichlet_normalized']:.4g}  "
                  f"(best epoch {row['best_epoch']:.0f}, {row['epoch_time']:.3f} s/epoch)",
                  flush=True)
    plot(rows, png_path)
    print(f"wrote {csv_path} and {png_path}")
    return rows


if __name__ == "__main__":
    main()
