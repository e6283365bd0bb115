#!/usr/bin/env python
"""Over-smoothing sweep: test accuracy, MAD, MADGap and Dirichlet energy of the last hidden
layer of a deep GCN for each dataset, depth and remedy (residual, JK, DropEdge, JK + DropEdge,
PairNorm, GCNII), several seeds per cell.

    python scripts/oversmoothing.py                                  # the whole sweep
    python scripts/oversmoothing.py --datasets Cora --remedies gcnii --depths 64   # one cell

With no tuning flag every cell trains with the published settings of its method (see
``settings_of``); a flag such as ``--lr`` overrides them for every cell of the GCN family.
Writes ``<out>.csv`` (one row per dataset x remedy x depth: ``runs``, the mean and sample std
of the test accuracy, the smoothing measures and the epoch time) and ``<out>.png`` (one row of
panels per dataset: accuracy with a band of one std and the published cells as hollow markers,
MAD, normalised Dirichlet energy, MADGap).
Every finished seed is appended to ``<out>.seeds.csv`` at once, so ``--resume`` continues an
interrupted sweep from its last finished seed; it refuses files made with other settings. An
``--out`` that ends with a path separator or names an existing folder writes
``<out>/oversmoothing.csv``, ``.seeds.csv`` and ``.png``.
"""

from __future__ import annotations

import argparse
import csv
import inspect
import json
import multiprocessing
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import torch
from torch_geometric import seed_everything
from torch_geometric.data import Data
from tqdm import tqdm

from pyg_course.datasets import DATASETS, num_classes
from pyg_course.metrics.smoothing import smoothing_report
from pyg_course.nn.models.deep_gnn import JK_READOUTS, REMEDIES, WEIGHT_INITS, DeepGNN
from pyg_course.train import Trainer
from pyg_course.train.argtypes import (
    nonnegative_float,
    on_off,
    out_prefix,
    positive_int,
    probability,
)
from pyg_course.train.cli import (
    RESUME_FREE,
    dataset,
    flag,
    load_or_exit,
    normalize_features,
    training_parser,
)
from pyg_course.train.loop import TrainConfig
from pyg_course.utils.stats import mean_std

MEASURED = ["test_acc", "val_acc", "best_epoch", "mad", "mad_neighbors", "mad_gap", "dirichlet",
            "dirichlet_normalized", "epoch_time"]
FIELDS = ["dataset", "remedy", "depth", "runs", "test_acc", "test_acc_std", "val_acc",
          "best_epoch", "mad", "mad_neighbors", "mad_gap", "dirichlet", "dirichlet_normalized",
          "epoch_time", "settings"]
SEED_FIELDS = ["dataset", "remedy", "depth", "seed", *MEASURED, "settings"]
#: Options of the shared training parser that the sweep does not offer, and why: giving one
#: is an error that says so.
OMIT = {"dataset": "--dataset (the sweep's datasets are --datasets)",
        "num_layers": "--num-layers (the sweep's depths are --depths)",
        "mode": "--mode (the sweep trains full-batch only)",
        "num_neighbors": "--num-neighbors (full-batch only)",
        "batch_size": "--batch-size (full-batch only)",
        "sampler": "--sampler (full-batch only)",
        "num_workers": "--num-workers (full-batch only)"}
#: Options that say where the sweep reads and writes, or which cells it runs, not what a cell
#: is: everything else goes into a row's ``settings``, and ``--resume`` refuses files whose
#: settings differ.
NOT_SETTINGS = {*RESUME_FREE, "datasets", "depths", "remedies", "jobs"}
#: Published test accuracy (%) per dataset, remedy and depth 2, 4, 8, 16, 32, 64 (None: no
#: published cell), drawn as hollow markers in the accuracy panels: the DropEdge study's
#: semi-supervised table (Rong et al., ICLR 2020, public Planetoid split) and, for GCNII, its
#: paper (Chen et al., ICML 2020).
PUBLISHED = {
    "Cora": {"plain": (81.1, 80.4, 69.5, 64.9, 60.3, 28.7),
             "dropedge": (82.8, 82.0, 75.8, 75.7, 62.5, 49.5),
             "residual": (None, 78.8, 75.6, 72.2, 76.6, 61.1),
             "jk": (None, 80.2, 80.7, 80.2, 81.1, 71.5),
             "jk+dropedge": (None, 83.3, 82.6, 83.0, 82.5, 83.2),
             "gcnii": (None, None, None, None, None, 85.5)},
    "CiteSeer": {"plain": (70.8, 67.6, 30.2, 18.3, 25.0, 20.0),
                 "dropedge": (72.3, 70.6, 61.4, 57.2, 41.6, 34.4),
                 "jk": (None, 68.7, 67.7, 69.8, 68.2, 63.4),
                 "jk+dropedge": (None, 72.6, 71.8, 72.6, 70.8, 72.2),
                 "gcnii": (None, None, None, None, 73.4, None)},
}
PUBLISHED_DEPTHS = (2, 4, 8, 16, 32, 64)
MEASURES = [("test_acc", "test accuracy (%)", False), ("mad", "MAD (last hidden)", False),
            ("dirichlet_normalized", "normalised Dirichlet energy", True),
            ("mad_gap", "MADGap", False)]

#: The GCN family's settings (plain, residual, JK, DropEdge, JK + DropEdge, PairNorm): Kipf &
#: Welling's GCN with its L2 penalty on the first layer only, hidden 64 as in the deep-GCN
#: studies, dropout 0.5, at most 400 epochs as in the DropEdge study, and Adam's lr halved to
#: 0.005 (at 0.01 stacks of 16 layers stall; the results page has the measurements).
GCN_FAMILY = dict(hidden=64, dropout=0.5, lr=0.005, weight_decay=5e-4, deep_weight_decay=0.0,
                  epochs=400, patience=100)
#: Per dataset and remedy, the settings that replace :data:`GCN_FAMILY`'s, each with the
#: deepest cell it applies to. JKNet on CiteSeer trains with the DropEdge repository's CiteSeer
#: JKNet script (``citeseer_JKNet.sh``, 16 layers: hidden 128, dropout 0.8, lr 0.006, L2 1e-3
#: on every layer), which reaches a higher validation accuracy than the family's settings at
#: every depth; JKNet + DropEdge does so up to the script's 16 layers, and deeper those settings
#: collapse it (validation accuracy 56.3 at 32 layers and 26.7 at 64, against 67.8 and 67.0
#: with the family's), so its 32- and 64-layer cells keep the family's. JKNet up to 32 layers
#: and JKNet + DropEdge at every depth also take the repository's JKNet architecture,
#: :data:`REPO_JKNET`, which reaches the higher validation accuracy there (JKNet + DropEdge at
#: 32 and 64 layers with the family's settings); with the script's settings it collapses JKNet
#: at 64 layers and JKNet + DropEdge at 32 (validation accuracy near 30; the results page has
#: the measurements).
JKNET_CITESEER = dict(hidden=128, dropout=0.8, lr=0.006, weight_decay=1e-3,
                      deep_weight_decay=1e-3)
#: The DropEdge repository's JKNet as its CiteSeer scripts build it: a graph convolution over
#: the concatenation as output layer, a root weight in every convolution (``--withloop``), no
#: dropout on the input features, every weight and bias uniform in ``1/sqrt(out)``; its
#: DropEdge samples the adjacency's directed entries.
REPO_JKNET = dict(jk_readout="conv", root_weight=True, input_dropout=False, weight_init="pygcn")
#: GCN + DropEdge on CiteSeer up to 4 layers: the DropEdge repository's CiteSeer GCN script
#: (``citeseer_GCN.sh``: hidden 128, dropout 0.3, lr 0.01, L2 5e-4 on every parameter, 400
#: epochs without early stopping) and its GCN (no input dropout, its uniform initialisation,
#: DropEdge on directed entries), which reach the higher validation accuracy there (73.4 and
#: 69.9 at 2 and 4 layers against 72.4 and 67.8 with the family's settings); at 8 layers they
#: collapse it (validation accuracy 27.2 against 40.5).
DROPEDGE_CITESEER = dict(hidden=128, dropout=0.3, lr=0.01, weight_decay=5e-4,
                         deep_weight_decay=5e-4, patience=400, input_dropout=False,
                         weight_init="pygcn", dropedge_undirected=False)
GCN_FAMILY_PER = {"CiteSeer": {
    "dropedge": ((DROPEDGE_CITESEER, 4),),
    "jk": ((JKNET_CITESEER, 64), (REPO_JKNET, 32)),
    "jk+dropedge": ((JKNET_CITESEER, 16), ({**REPO_JKNET, "dropedge_undirected": False}, 64))}}
#: How the help texts name a remedy of :data:`GCN_FAMILY_PER`.
REMEDY_NAMES = {"dropedge": "GCN + DropEdge", "jk": "JKNet", "jk+dropedge": "JKNet + DropEdge"}
#: :class:`DeepGNN` options a cell's settings carry, besides its remedy's switches, where
#: :data:`GCN_FAMILY_PER` or a flag sets them (a cell without them uses DeepGNN's defaults).
ARCHITECTURE = ("jk_readout", "root_weight", "input_dropout", "weight_init",
                "dropedge_undirected")
#: :class:`DeepGNN`'s defaults of the :data:`ARCHITECTURE` options.
DEFAULTS = {k: inspect.signature(DeepGNN).parameters[k].default for k in ARCHITECTURE}
#: The GCN-family options whose default depends on the cell: ``None`` until given.
PER_CELL = ("hidden", "dropout", "lr", "weight_decay", "deep_weight_decay", "patience")
#: DropEdge's edge-drop rate per dataset and backbone: one minus ``--sampling_percent`` of the
#: DropEdge repository's semi-supervised scripts (GCN and JKNet).
DROPEDGE_RATE = {"Cora": {"dropedge": 0.6, "jk+dropedge": 0.6},
                 "CiteSeer": {"dropedge": 0.8, "jk+dropedge": 0.5}}
#: GCNII's settings per dataset (its repository's semi-supervised runs): alpha 0.1, Adam lr
#: 0.01, L2 0.01 on the convolutions and 5e-4 on the dense maps, 1,500 epochs, patience 100.
GCNII = {"Cora": dict(hidden=64, theta=0.5, dropout=0.6),
         "CiteSeer": dict(hidden=256, theta=0.6, dropout=0.7)}
GCNII_COMMON = dict(alpha=0.1, lr=0.01, conv_weight_decay=0.01, weight_decay=5e-4,
                    epochs=1500, patience=100)


def spelled(value) -> str:
    """A setting as the command line spells it: ``on``/``off``, ``%g`` for numbers."""
    if isinstance(value, bool):
        return "on" if value else "off"
    return f"{value:g}" if isinstance(value, (int, float)) else str(value)


def per_cell(key: str) -> str:
    """Where :data:`GCN_FAMILY_PER` sets ``key``: ``"<remedy> on <dataset> up to <L> layers:
    <value>"`` per entry, joined by ``"; "``."""
    return "; ".join(f"{REMEDY_NAMES[remedy]} on {name} up to {deepest} layers: "
                     + spelled(per[key])
                     for name, remedies in GCN_FAMILY_PER.items()
                     for remedy, entries in remedies.items()
                     for per, deepest in entries if key in per)


def per_cell_help(key: str) -> str:
    """The help text of GCN-family option ``key``: its default depends on the cell."""
    what = {"hidden": "hidden channels", "dropout": "dropout probability, in [0, 1)",
            "lr": "Adam's learning rate", "weight_decay": "L2 penalty of the first layer",
            "deep_weight_decay": "L2 penalty of every layer after the first",
            "patience": "early stopping: epochs without val improvement"}[key]
    return f"{what}, GCN family (default: {spelled(GCN_FAMILY[key])}; {per_cell(key)})"


def parser() -> argparse.ArgumentParser:
    p = training_parser(
        __doc__, omit=OMIT, runs=5, out="oversmoothing", epochs=GCN_FAMILY["epochs"],
        patience=None, hidden=None, dropout=None, lr=None, weight_decay=None,
        help={**{k: per_cell_help(k) for k in PER_CELL if k != "deep_weight_decay"},
              "out": "file prefix: writes <out>.csv, <out>.seeds.csv and <out>.png; a folder (a "
                     "name ending in a path separator, or an existing folder) gets "
                     "<out>/oversmoothing.*",
              "runs": "seeds per cell",
              "resume": "keep the finished seeds of an existing <out>.seeds.csv and train only "
                        "the missing ones; refuses files made with other settings"})
    g = p.add_argument_group("sweep")
    g.add_argument("--datasets", type=dataset, nargs="+", default=["Cora", "CiteSeer"])
    g.add_argument("--depths", type=positive_int, nargs="+", default=[2, 4, 8, 16, 32, 64])
    g.add_argument("--remedies", nargs="+", default=list(REMEDIES), choices=list(REMEDIES))
    g.add_argument("--deep-weight-decay", type=nonnegative_float, default=None,
                   help=per_cell_help("deep_weight_decay"))
    g.add_argument("--dropedge", type=probability, default=None,
                   help="DropEdge's edge-drop rate (default: the DropEdge study's, per dataset "
                        "and backbone)")
    a = p.add_argument_group(
        "architecture", "DeepGNN options of the GCN family; default: DeepGNN's, except where "
        "a cell takes the DropEdge repository's model (each option says where)")

    def architecture_help(key: str, what: str) -> str:
        return f"{what} (DeepGNN's {key}; default: {spelled(DEFAULTS[key])}; {per_cell(key)})"

    a.add_argument("--jk-readout", choices=JK_READOUTS, default=None,
                   help=architecture_help("jk_readout", "JKNet's output layer over the "
                                                        "concatenation"))
    for key, what in (("root_weight", "a root weight in every convolution"),
                      ("input_dropout", "dropout on the input features"),
                      ("dropedge_undirected", "DropEdge drops both directions of an edge "
                                              "together")):
        a.add_argument(flag(key), type=on_off, default=None, metavar="{on,off}",
                       help=architecture_help(key, what))
    a.add_argument("--weight-init", choices=WEIGHT_INITS, default=None,
                   help=architecture_help("weight_init", "initialisation of the convolutions"))
    g.add_argument("--gcnii-epochs", type=positive_int, default=GCNII_COMMON["epochs"])
    g.add_argument("--gcnii-patience", type=positive_int, default=GCNII_COMMON["patience"])
    g.add_argument("--gcnii-hidden", type=positive_int, default=None,
                   help="GCNII's width (default: 64 on Cora, 256 on CiteSeer)")
    g.add_argument("--gcnii-dropout", type=probability, default=None,
                   help="GCNII's dropout (default: 0.6 on Cora, 0.7 on CiteSeer)")
    g.add_argument("--gcnii-theta", type=nonnegative_float, default=None,
                   help="GCNII's lambda (default: 0.5 on Cora, 0.6 on CiteSeer)")
    g.add_argument("--gcnii-conv-weight-decay", type=nonnegative_float,
                   default=GCNII_COMMON["conv_weight_decay"])
    g.add_argument("--jobs", type=positive_int, default=1,
                   help="seeds trained side by side in as many processes (one thread each)")
    g.add_argument("--quick", action="store_true",
                   help="smoke test: 5 epochs per cell, no early stopping, one seed unless "
                        "--runs says otherwise (overrides --epochs, --patience, --gcnii-epochs "
                        "and --gcnii-patience)")
    return p


def settings_of(args, name: str, remedy: str, depth: int) -> dict:
    """The model and training settings of the cell of dataset ``name``, ``remedy`` and
    ``depth``."""
    if remedy == "gcnii":
        per = GCNII.get(name, GCNII["Cora"])
        pick = lambda flag, key: per[key] if flag is None else flag  # noqa: E731
        return dict(hidden=pick(args.gcnii_hidden, "hidden"), dropout=pick(args.gcnii_dropout,
                    "dropout"), theta=pick(args.gcnii_theta, "theta"),
                    alpha=GCNII_COMMON["alpha"], lr=GCNII_COMMON["lr"],
                    weight_decay=GCNII_COMMON["weight_decay"],
                    deep_weight_decay=args.gcnii_conv_weight_decay,
                    epochs=args.gcnii_epochs, patience=args.gcnii_patience)
    s = dict(GCN_FAMILY)
    for per, deepest in GCN_FAMILY_PER.get(name, {}).get(remedy, ()):
        if depth <= deepest:
            s.update(per)
    s.update({k: getattr(args, k) for k in PER_CELL if getattr(args, k) is not None},
             epochs=args.epochs)
    switches = REMEDIES[remedy]
    for key in ARCHITECTURE:
        value = getattr(args, key)
        if value is not None and (key != "jk_readout" or "jk" in switches) and (
                key != "dropedge_undirected" or "dropedge" in switches):
            s[key] = value
    if "dropedge" in switches:
        rates = DROPEDGE_RATE.get(name, DROPEDGE_RATE["Cora"])
        s["dropedge"] = rates[remedy] if args.dropedge is None else args.dropedge
    return s


_DATA: dict = {}


def load(name: str, args) -> Data:
    """Dataset ``name`` as the sweep trains on it (row-normalised features unless
    ``--no-normalize-features``), loaded once per process."""
    if name not in _DATA:
        data = load_or_exit(name, args.root)
        data = data if args.no_normalize_features else normalize_features(data)
        data.name = DATASETS.get(name.lower(), name)
        _DATA[name] = data
    return _DATA[name]


def _worker_init(threads: int) -> None:
    torch.set_num_threads(threads)


def run_seed(name: str, remedy: str, depth: int, seed: int, s: dict, args) -> dict:
    """Train one seed of one cell of dataset ``name`` with the shared Trainer; measure the last
    hidden layer of the best-validation model."""
    data = load(name, args)
    kw = dict(REMEDIES[remedy])
    for key in ("dropedge", "alpha", "theta", *ARCHITECTURE):
        if key in s:
            kw[key] = s[key]
    seed_everything(seed)
    model = DeepGNN(data.num_features, s["hidden"], depth, num_classes(data),
                    dropout=s["dropout"], cached=not kw.get("dropedge"), **kw)
    optimizer = torch.optim.Adam(
        model.param_groups(s["weight_decay"], s["deep_weight_decay"]), lr=s["lr"])
    epochs, patience = (5, None) if args.quick else (s["epochs"], s["patience"])
    config = TrainConfig(epochs=epochs, lr=s["lr"], weight_decay=s["weight_decay"],
                         patience=patience, device=args.device, progress=not args.no_progress)
    trainer = Trainer(model, data, config, optimizer=optimizer)
    result = trainer.fit(desc=f"{name} {remedy} L={depth} seed {seed}")
    model.load_state_dict(trainer.best_state)
    d = trainer.data_device
    h = model.embed(d.x, d.edge_index)
    return {"test_acc": 100 * result["test_acc"], "val_acc": 100 * result["val_acc"],
            "best_epoch": result["best_epoch"],
            "epoch_time": statistics.fmean(e["time"] for e in result["history"]),
            **smoothing_report(h, d.edge_index)}


def cell_row(name: str, remedy: str, depth: int, seeds: list, settings: str) -> dict:
    """One CSV row from a cell's seeds: the means, and the sample std of the test accuracy."""
    out = {k: statistics.fmean(float(r[k]) for r in seeds) for k in MEASURED}
    _, out["test_acc_std"] = mean_std(float(r["test_acc"]) for r in seeds)
    return {"dataset": name, "remedy": remedy, "depth": depth, "runs": len(seeds), **out,
            "settings": settings}


def sweep_settings(args) -> dict:
    """Every option that shapes a cell's numbers besides its dataset, remedy and depth (not
    :data:`NOT_SETTINGS`); with ``--quick`` the epochs and patience it overrides are left
    out."""
    s = {k: v for k, v in vars(args).items() if k not in NOT_SETTINGS}
    if args.quick:
        for k in ("epochs", "patience", "gcnii_epochs", "gcnii_patience"):
            s.pop(k, None)
    return json.loads(json.dumps(s))


def differences(theirs: dict, mine: dict, name=str) -> list:
    """One ``"<name> <theirs> there, <mine> here"`` per setting that differs between a file's
    ``theirs`` and this run's ``mine`` (a missing one shown as ``unset``, ``None`` as
    ``default``)."""
    def shown(d, k):
        return "unset" if k not in d else "default" if d[k] is None else repr(d[k])

    return [f"{name(k)} {shown(theirs, k)} there, {shown(mine, k)} here"
            for k in sorted(set(theirs) | set(mine))
            if theirs.get(k) != mine.get(k) or (k in theirs) != (k in mine)]


def read_rows(path: Path, fields: list, settings: dict) -> list:
    """The rows of an earlier sweep's file; exits with one line if it is not such a file or
    was made with other settings."""
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
        missing = [k for k in fields if k not in (reader.fieldnames or [])]
    if missing:
        raise SystemExit(f"error: --resume: {path} has no column {', '.join(missing)} (not a "
                         f"file of this sweep); remove it or pick another --out")

    for row in rows:
        try:
            theirs = json.loads(row["settings"])["sweep"]
            int(row["depth"])
        except (TypeError, ValueError, KeyError) as exc:
            raise SystemExit(f"error: --resume: {path} has an unreadable row ({exc!r}); remove "
                             f"it or pick another --out") from None
        differ = differences(theirs, settings, name=lambda k: f"--{k.replace('_', '-')}")
        if differ:
            raise SystemExit(f"error: --resume: {path} was made with other settings ("
                             f"{'; '.join(differ)}); repeat them, or drop --resume to start over")
    return rows


def cell_settings(args, name: str, remedy: str, depth: int) -> dict:
    """:func:`settings_of` as a cell's rows record it: without the epochs and patience that
    ``--quick`` overrides."""
    s = settings_of(args, name, remedy, depth)
    return {k: v for k, v in s.items() if k not in ("epochs", "patience")} if args.quick else s


def same_cell(row: dict, settings: dict, path: Path) -> None:
    """Exits with one line if a resumed ``row`` of ``path`` was trained with other cell
    settings than ``settings`` (e.g. a method's defaults changed since)."""
    differ = differences(json.loads(row["settings"]).get("cell", {}), settings)
    if differ:
        raise SystemExit(f"error: --resume: {path} has a {row['dataset']} {row['remedy']} "
                         f"{row['depth']}-layer cell trained with other settings ("
                         f"{'; '.join(differ)}); remove its rows or drop --resume")


def _append(path: Path, fields: list, row: dict) -> None:
    with open(path, "a", newline="") as f:
        csv.DictWriter(f, fieldnames=fields).writerow(
            {k: f"{v:.6g}" if isinstance(v, float) else v for k, v in row.items()})


def _start(path: Path, fields: list) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        csv.DictWriter(f, fieldnames=fields).writeheader()


def plot(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    names = list(dict.fromkeys(r["dataset"] for r in rows))
    fig, axes = plt.subplots(len(names), len(MEASURES), squeeze=False,
                             figsize=(4.2 * len(MEASURES), 3.6 * len(names)))
    for axrow, name in zip(axes, names):
        mine = [r for r in rows if r["dataset"] == name]
        for ax, (key, label, log) in zip(axrow, MEASURES):
            # One colour per remedy in every panel and dataset, remedies in a fixed order.
            present = {r["remedy"] for r in mine}
            for i, remedy in enumerate(REMEDIES):
                if remedy not in present:
                    continue
                pts = sorted((int(r["depth"]), float(r[key]), float(r["test_acc_std"]))
                             for r in mine if r["remedy"] == remedy)
                depth = [p[0] for p in pts]
                value = [p[1] for p in pts]
                line, = ax.plot(depth, value, "o-", label=remedy, ms=3, color=f"C{i}")
                if key == "test_acc":
                    ax.fill_between(depth, [v - p[2] for v, p in zip(value, pts)],
                                    [v + p[2] for v, p in zip(value, pts)],
                                    color=line.get_color(), alpha=0.15, lw=0)
                    published = [(d, v) for d, v in zip(
                        PUBLISHED_DEPTHS, PUBLISHED.get(name, {}).get(remedy, ()))
                        if v is not None]
                    if published:
                        ax.plot(*zip(*published), "o--", mfc="none", ms=5, lw=0.6,
                                color=line.get_color(), label=f"_{remedy} published")
            ax.set_xscale("log", base=2)
            if log:
                ax.set_yscale("log")
            ax.set(xlabel="layers", title=f"{name}: {label}")
        handles, _ = axrow[0].get_legend_handles_labels()
        if any(PUBLISHED.get(name, {}).values()):
            handles.append(Line2D([], [], ls="--", marker="o", mfc="none", color="0.4",
                                  lw=0.6, label="published"))
        axrow[0].legend(handles=handles, fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    p = parser()
    # Before parsing: argparse would take --dataset for an abbreviation of --datasets.
    given = [why for dest, why in OMIT.items()
             if any(a == flag(dest) or a.startswith(f"{flag(dest)}=") for a in argv)]
    if given:
        p.error(f"not used by the sweep: {', '.join(given)}")
    args = p.parse_args(argv)
    if args.quick and "--runs" not in argv:
        args.runs = 1
    prefix = out_prefix(args.out, "oversmoothing")
    csv_path, seeds_path, png_path = (Path(f"{prefix}.csv"), Path(f"{prefix}.seeds.csv"),
                                      Path(f"{prefix}.png"))
    sweep = sweep_settings(args)
    done_rows, done_seeds = [], []
    if args.resume and csv_path.is_file():
        done_rows = read_rows(csv_path, FIELDS, sweep)
    if args.resume and seeds_path.is_file():
        done_seeds = read_rows(seeds_path, SEED_FIELDS, sweep)
    names = [load(name, args).name for name in args.datasets]  # fails early on a bad name
    rows = list(done_rows)
    finished = {(r["dataset"], r["remedy"], int(r["depth"])) for r in done_rows}
    for r in done_rows:
        if r["dataset"] in names and r["remedy"] in args.remedies:
            same_cell(r, cell_settings(args, r["dataset"], r["remedy"], int(r["depth"])),
                      csv_path)
    cells, tasks = {}, []
    for name in names:
        for remedy in args.remedies:
            for depth in args.depths:
                if (name, remedy, depth) in finished:
                    continue
                s = cell_settings(args, name, remedy, depth)
                settings = json.dumps({"sweep": sweep, "cell": s}, sort_keys=True)
                seeds = {int(r["seed"]): r for r in done_seeds if (r["dataset"], r["remedy"],
                         int(r["depth"])) == (name, remedy, depth)}
                for r in seeds.values():
                    same_cell(r, s, seeds_path)
                cells[(name, remedy, depth)] = (seeds, settings)
                tasks += [(name, remedy, depth, seed, s) for seed in
                          range(args.seed, args.seed + args.runs) if seed not in seeds]
    # Only now, with every resumed row and seed checked, are files written.
    if not done_rows:
        _start(csv_path, FIELDS)
    if not done_seeds:
        _start(seeds_path, SEED_FIELDS)
    t0 = time.perf_counter()

    wanted = range(args.seed, args.seed + args.runs)

    def write_cell(name, remedy, depth):
        seeds, settings = cells[(name, remedy, depth)]
        row = cell_row(name, remedy, depth, [seeds[k] for k in wanted], settings)
        rows.append(row)
        _append(csv_path, FIELDS, row)
        print(f"{name:>8} {remedy:>11} L={depth:<3} test {row['test_acc']:6.2f} ± "
              f"{row['test_acc_std']:5.2f}  MAD {row['mad']:.4f}  MADGap "
              f"{row['mad_gap']:+.4f}  E_norm {row['dirichlet_normalized']:.4g}  "
              f"({row['epoch_time']:.3f} s/epoch, {time.perf_counter() - t0:.0f} s so far)",
              flush=True)

    def finish(task, res):
        name, remedy, depth, seed, _ = task
        seeds, settings = cells[(name, remedy, depth)]
        seeds[seed] = res
        _append(seeds_path, SEED_FIELDS, {"dataset": name, "remedy": remedy, "depth": depth,
                                          "seed": seed, **res, "settings": settings})
        if all(k in seeds for k in wanted):
            write_cell(name, remedy, depth)

    for key, (seeds, _) in cells.items():  # every seed resumed: only the row is missing
        if all(k in seeds for k in wanted):
            write_cell(*key)
    # One intra-op thread per process: 64 layers of small products run several times faster
    # on one thread than on two that wait for each other; more cores run more seeds side by
    # side (--jobs), each seed seeded, so it gives the same numbers in any process.
    if args.jobs == 1 or len(tasks) <= 1:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            for task in tasks:
                finish(task, run_seed(*task, args))
        finally:
            torch.set_num_threads(threads)
    else:
        args.no_progress = True
        with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn"),
                                 initializer=_worker_init, initargs=(1,)) as pool:
            futures = {pool.submit(run_seed, *task, args): task for task in tasks}
            for future in tqdm(as_completed(futures), total=len(futures), desc="seeds",
                               disable=not sys.stderr.isatty()):
                finish(futures[future], future.result())
    plot(rows, png_path)
    print(f"wrote {csv_path} and {png_path}")
    return rows


if __name__ == "__main__":
    main()
