"""scripts/oversmoothing.py: a short sweep writes its CSV, per-seed CSV and PNG, resumes from its
last finished seed, and trains each cell with its method's published settings."""

import csv
import json
import math
from pathlib import Path

import pytest
import torch

from tests.helpers.scripts import load_script

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "oversmoothing.py"


@pytest.fixture(autouse=True)
def _one_thread():
    # Many small sparse products: one intra-op thread is faster on a shared CI runner.
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


QUICK = ["--quick", "--depths", "2", "--remedies", "plain", "--no-progress", "--device", "cpu"]


def _load():
    return load_script(SCRIPT)


def test_short_sweep(cora, tmp_path):
    out = tmp_path / "os"
    argv = ["--datasets", "Cora", "--depths", "2", "4", "--remedies", "plain", "gcnii",
            "--epochs", "30", "--gcnii-epochs", "3", "--patience", "100", "--runs", "1",
            "--out", str(out), "--no-progress", "--device", "cpu"]
    rows = _load().main(argv)
    assert out.with_suffix(".png").stat().st_size > 0
    with open(out.with_suffix(".csv")) as f:
        reader = csv.DictReader(f)
        table = {(r["remedy"], int(r["depth"])): r for r in reader}
    # The documented columns, one row per dataset x remedy x depth.
    assert reader.fieldnames == ["dataset", "remedy", "depth", "runs", "test_acc",
                                 "test_acc_std", "val_acc", "best_epoch", "mad",
                                 "mad_neighbors", "mad_gap", "dirichlet",
                                 "dirichlet_normalized", "epoch_time", "settings"]
    assert set(table) == {("plain", 2), ("plain", 4), ("gcnii", 2), ("gcnii", 4)}
    assert all(r["dataset"] == "Cora" and r["runs"] == "1" for r in table.values())
    assert all(math.isfinite(float(r[k])) for r in table.values()
               for k in ("test_acc", "mad", "mad_gap", "dirichlet", "dirichlet_normalized",
                         "epoch_time"))
    two = table[("plain", 2)]
    assert float(two["test_acc"]) > 65.0  # a 2-layer GCN learns Cora in 30 epochs
    assert 0.0 < float(two["mad"]) <= 2.0
    assert len(rows) == 4
    # --resume with the same settings keeps the finished cells and runs none again.
    again = _load().main(argv + ["--resume"])
    assert len(again) == 4


def test_resume_continues_from_the_last_finished_seed(tmp_path, monkeypatch):
    script = _load()
    out = tmp_path / "os"
    argv = QUICK + ["--datasets", "CSBM", "--runs", "3", "--out", str(out)]
    rows = script.main(argv)
    seeds = (tmp_path / "os.seeds.csv").read_text().splitlines()
    assert len(seeds) == 1 + 3 and rows[0]["runs"] == 3
    # Interrupted after the first two seeds of the cell: its row is not written yet.
    (tmp_path / "os.seeds.csv").write_text("\n".join(seeds[:3]) + "\n")
    (tmp_path / "os.csv").write_text((tmp_path / "os.csv").read_text().splitlines()[0] + "\n")
    trained = []
    run_seed = script.run_seed
    monkeypatch.setattr(script, "run_seed", lambda data, remedy, depth, seed, s, args:
                        trained.append(seed) or run_seed(data, remedy, depth, seed, s, args))
    again = script.main(argv + ["--resume"])
    assert trained == [2]
    # The resumed cell has the numbers of the uninterrupted one (seeded runs).
    for key in ("test_acc", "test_acc_std", "mad"):
        assert again[0][key] == pytest.approx(rows[0][key], rel=1e-5)


def test_sample_std_over_seeds():
    seeds = [dict(test_acc=a, **{k: 0.0 for k in _load().MEASURED if k != "test_acc"})
             for a in (80.0, 82.0, 84.0)]
    row = _load().cell_row("Cora", "plain", 2, seeds, "{}")
    assert row["test_acc"] == 82.0 and row["test_acc_std"] == pytest.approx(2.0)  # n - 1


def test_published_settings_per_dataset():
    script = _load()
    args = script.parser().parse_args([])
    assert args.runs == 5 and args.datasets == ["Cora", "CiteSeer"]
    assert script.settings_of(args, "Cora", "gcnii", 16)["hidden"] == 64
    citeseer = script.settings_of(args, "CiteSeer", "gcnii", 16)
    assert (citeseer["hidden"], citeseer["theta"], citeseer["dropout"]) == (256, 0.6, 0.7)
    assert script.settings_of(args, "Cora", "dropedge", 16)["dropedge"] == 0.6
    assert script.settings_of(args, "CiteSeer", "dropedge", 16)["dropedge"] == 0.8
    assert "dropedge" not in script.settings_of(args, "Cora", "jk", 16)
    flagged = script.parser().parse_args(["--dropedge", "0.2", "--gcnii-hidden", "32"])
    assert script.settings_of(flagged, "CiteSeer", "jk+dropedge", 16)["dropedge"] == 0.2
    assert script.settings_of(flagged, "CiteSeer", "gcnii", 16)["hidden"] == 32
    # JKNet on CiteSeer, with and without DropEdge: the DropEdge repository's citeseer_JKNet.sh
    # (hidden 128, dropout 0.8, lr 0.006, L2 1e-3 on every layer, DropEdge keeps half) and,
    # up to its 16 layers, the repository's JKNet (output convolution, --withloop, no input
    # dropout, its uniform initialisation, DropEdge on directed entries).
    jknet = dict(hidden=128, dropout=0.8, lr=0.006, weight_decay=1e-3, deep_weight_decay=1e-3,
                 epochs=400, patience=100)
    repo = dict(jk_readout="conv", root_weight=True, input_dropout=False, weight_init="pygcn")
    repo_dropedge = {**repo, "dropedge_undirected": False, "dropedge": 0.5}
    assert script.settings_of(args, "CiteSeer", "jk", 16) == {**jknet, **repo}
    assert script.settings_of(args, "CiteSeer", "jk+dropedge", 16) == {**jknet, **repo_dropedge}
    gcn = dict(hidden=64, dropout=0.5, lr=0.005, weight_decay=5e-4, deep_weight_decay=0.0,
               epochs=400, patience=100)
    assert script.settings_of(args, "Cora", "jk", 16) == gcn
    # The script trains 16 layers; with DropEdge its settings collapse deeper stacks (results
    # page), so those cells keep the family's.
    assert script.settings_of(args, "CiteSeer", "jk", 2) == {**jknet, **repo}
    assert script.settings_of(args, "CiteSeer", "jk", 32) == {**jknet, **repo}
    assert script.settings_of(args, "CiteSeer", "jk", 64) == jknet
    assert script.settings_of(args, "CiteSeer", "jk+dropedge", 2) == {**jknet, **repo_dropedge}
    assert script.settings_of(args, "CiteSeer", "jk+dropedge", 32) == {**gcn, **repo_dropedge}
    assert script.settings_of(args, "CiteSeer", "jk+dropedge", 64) == {**gcn, **repo_dropedge}
    assert script.settings_of(args, "CiteSeer", "plain", 16) == gcn
    # GCN + DropEdge on CiteSeer up to 4 layers: the repository's citeseer_GCN.sh (hidden 128,
    # dropout 0.3, lr 0.01, L2 5e-4 on every parameter, 400 epochs without early stopping,
    # DropEdge keeps a fifth) and its GCN (no input dropout, its initialisation, directed
    # DropEdge); deeper, the family's.
    gcn_script = dict(hidden=128, dropout=0.3, lr=0.01, weight_decay=5e-4,
                      deep_weight_decay=5e-4, epochs=400, patience=400, input_dropout=False,
                      weight_init="pygcn", dropedge_undirected=False, dropedge=0.8)
    assert script.settings_of(args, "CiteSeer", "dropedge", 2) == gcn_script
    assert script.settings_of(args, "CiteSeer", "dropedge", 4) == gcn_script
    assert script.settings_of(args, "CiteSeer", "dropedge", 8) == {**gcn, "dropedge": 0.8}
    assert script.settings_of(args, "Cora", "dropedge", 4) == {**gcn, "dropedge": 0.6}
    flagged = script.parser().parse_args(["--patience", "50", "--input-dropout", "on"])
    assert script.settings_of(flagged, "CiteSeer", "dropedge", 4) == {
        **gcn_script, "patience": 50, "input_dropout": True}
    assert script.settings_of(flagged, "Cora", "plain", 4) == {**gcn, "patience": 50,
                                                              "input_dropout": True}
    # A flag replaces one setting of every GCN-family cell and leaves the cell's others.
    flagged = script.parser().parse_args(["--hidden", "32", "--deep-weight-decay", "0"])
    assert script.settings_of(flagged, "CiteSeer", "jk", 16) == {**jknet, **repo, "hidden": 32,
                                                              "deep_weight_decay": 0.0}
    assert script.settings_of(flagged, "Cora", "plain", 16) == {**gcn, "hidden": 32}
    # An architecture flag sets its DeepGNN option in every GCN-family cell it applies to.
    flagged = script.parser().parse_args(["--jk-readout", "linear", "--root-weight", "off",
                                          "--dropedge-undirected", "on"])
    assert script.settings_of(flagged, "CiteSeer", "jk+dropedge", 16) == {
        **jknet, **repo_dropedge, "jk_readout": "linear", "root_weight": False,
        "dropedge_undirected": True}
    assert script.settings_of(flagged, "Cora", "plain", 16) == {**gcn, "root_weight": False}
    assert script.settings_of(flagged, "Cora", "dropedge", 16) == {
        **gcn, "root_weight": False, "dropedge_undirected": True, "dropedge": 0.6}


def test_resume_refuses_cells_of_other_settings(cora, tmp_path):
    out = str(tmp_path / "os")
    _load().main(QUICK + ["--datasets", "Cora", "--out", out])
    before = (tmp_path / "os.csv").read_text()
    with pytest.raises(SystemExit) as exc:
        _load().main(QUICK + ["--resume", "--datasets", "Cora", "--hidden", "8", "--out", out])
    msg = str(exc.value.code)
    assert "--hidden default there, 8 here" in msg
    assert "--lr" not in msg and "\n" not in msg
    assert (tmp_path / "os.csv").read_text() == before
    # Flags that --quick overrides, the device and the name's case do not make cells differ.
    rows = _load().main(QUICK + ["--resume", "--epochs", "60", "--device", "auto", "--datasets",
                                 "cora", "--out", out])
    assert len(rows) == 1 and (tmp_path / "os.csv").read_text() == before


@pytest.mark.parametrize("interrupted", [False, True])
def test_resume_refuses_a_cell_whose_defaults_changed(tmp_path, interrupted):
    # The same command, but a method's default settings changed since the files were written:
    # the recorded seeds and rows of that cell are not the cell's any more.
    out = tmp_path / "os"
    _load().main(QUICK + ["--datasets", "CSBM", "--out", str(out)])
    if interrupted:  # only the seed is there, not the row
        (tmp_path / "os.csv").write_text((tmp_path / "os.csv").read_text().splitlines()[0] + "\n")
    before = {f: (tmp_path / f).read_text() for f in ("os.csv", "os.seeds.csv")}
    script = _load()
    script.GCN_FAMILY["hidden"] = 16
    with pytest.raises(SystemExit) as exc:
        script.main(QUICK + ["--datasets", "CSBM", "--resume", "--out", str(out)])
    msg = str(exc.value.code)
    assert "CSBM plain 2-layer cell trained with other settings (hidden 64 there, 16 here)" in msg
    assert {f: (tmp_path / f).read_text() for f in before} == before


def test_resume_refuses_a_foreign_csv(tmp_path):
    (tmp_path / "x.csv").write_text("a,b\n1,2\n")
    with pytest.raises(SystemExit, match="no column .*remedy"):
        _load().main(QUICK + ["--datasets", "CSBM", "--resume", "--out", str(tmp_path / "x")])
    assert (tmp_path / "x.csv").read_text() == "a,b\n1,2\n"


def test_architecture_flags_reach_the_model_and_the_row(tmp_path, monkeypatch):
    script = _load()
    built = []

    class Recording(script.DeepGNN):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            built.append(self)

    monkeypatch.setattr(script, "DeepGNN", Recording)
    out = tmp_path / "os"
    script.main([*QUICK[:3], "--remedies", "jk+dropedge", *QUICK[5:], "--datasets", "CSBM",
                 "--jk-readout", "conv", "--root-weight", "on", "--input-dropout", "off",
                 "--weight-init", "pygcn", "--dropedge-undirected", "off", "--out", str(out)])
    model, = built
    assert (model.jk_readout, model.root_weight, model.input_dropout, model.weight_init,
            model.dropedge_undirected) == ("conv", True, False, "pygcn", False)
    assert len(model.roots) == len(model.convs) == 2
    with open(out.with_suffix(".csv")) as f:
        cell = json.loads(next(csv.DictReader(f))["settings"])["cell"]
    assert {k: cell[k] for k in script.ARCHITECTURE} == dict(
        jk_readout="conv", root_weight=True, input_dropout=False, weight_init="pygcn",
        dropedge_undirected=False)


@pytest.mark.parametrize("argv, message", [
    (["--mode", "minibatch"], "not used by the sweep: --mode"),
    (["--dataset", "Cora"], "not used by the sweep: --dataset"),
    (["--num-layers", "3"], "not used by the sweep: --num-layers"),
    (["--batch-size", "64"], "not used by the sweep: --batch-size"),
    (["--runs", "0"], "--runs: must be at least 1"),
    (["--depths", "0"], "--depths: must be at least 1"),
    (["--root-weight", "yes"], "--root-weight: expected on or off, got 'yes'"),
    (["--jk-readout", "gcn"], "--jk-readout: invalid choice: 'gcn'"),
])
def test_bad_options_are_refused_before_training(tmp_path, capsys, argv, message):
    # (CSBM, one quick cell: without the check the call would train and return.)
    with pytest.raises(SystemExit) as exc:
        _load().main(QUICK + ["--datasets", "CSBM", "--out", str(tmp_path / "os"), *argv])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "os.csv").exists()


def test_out_as_a_folder(tmp_path):
    # A trailing separator (or an existing folder) names a folder, not hidden files ".csv".
    rows = _load().main(QUICK + ["--datasets", "CSBM", "--out", f"{tmp_path / 'new'}/"])
    assert sorted(p.name for p in (tmp_path / "new").iterdir()) == \
        ["oversmoothing.csv", "oversmoothing.png", "oversmoothing.seeds.csv"]
    # An existing folder without the separator: the same files, resumed.
    again = _load().main(QUICK + ["--datasets", "CSBM", "--resume", "--out", str(tmp_path / "new")])
    assert len(again) == len(rows) == 1
    assert sorted(p.name for p in (tmp_path / "new").iterdir()) == \
        ["oversmoothing.csv", "oversmoothing.png", "oversmoothing.seeds.csv"]


def test_help_describes_the_whole_first_paragraph(capsys):
    with pytest.raises(SystemExit):
        _load().main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "for each dataset, depth and remedy (residual, JK, DropEdge, JK + DropEdge, PairNorm, " \
        "GCNII), several seeds per cell." in text
    assert "--mode" not in text and "--num-layers" not in text


def test_jobs_give_the_numbers_of_one_process(tmp_path):
    # Seeds trained side by side in spawned processes: the same rows as one after another.
    import subprocess
    import sys

    common = ["--quick", "--datasets", "CSBM", "--depths", "2", "3", "--remedies", "plain",
              "--runs", "2", "--no-progress", "--device", "cpu"]
    for jobs in ("1", "2"):
        subprocess.run([sys.executable, str(SCRIPT), *common, "--jobs", jobs, "--out",
                        str(tmp_path / jobs)], check=True, capture_output=True)

    def cells(name):
        with open(tmp_path / f"{name}.csv") as f:
            return {(r["remedy"], r["depth"]): (r["test_acc"], r["mad"]) for r in
                    csv.DictReader(f)}

    assert cells("1") == cells("2") and len(cells("1")) == 2


def test_plot_gives_each_remedy_one_colour_in_every_panel(tmp_path, monkeypatch):
    """A remedy keeps its colour across measures and datasets, whichever remedies a dataset
    has and in whatever order its rows come."""
    import matplotlib.figure

    def row(dataset, remedy, depth, acc):
        return {"dataset": dataset, "remedy": remedy, "depth": depth, "test_acc": acc,
                "test_acc_std": 1.0, "mad": 0.5, "dirichlet_normalized": 10.0, "mad_gap": 0.1}

    rows = [row("Cora", "plain", 2, 80), row("Cora", "plain", 4, 70), row("Cora", "jk", 2, 81),
            row("CiteSeer", "jk", 2, 70), row("CiteSeer", "dropedge", 2, 69),
            row("CiteSeer", "plain", 2, 71)]
    saved = {}
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig",
                        lambda fig, *a, **k: saved.setdefault("fig", fig))
    _load().plot(rows, tmp_path / "plot.png")
    colours, published = {}, {}
    for ax in saved["fig"].axes:
        for line in ax.get_lines():
            label = line.get_label()
            if label.endswith(" published"):
                published[(ax.get_title(), label[1:-len(" published")])] = line
            else:
                colours.setdefault(label, set()).add(line.get_color())
    assert set(colours) == {"plain", "jk", "dropedge"}
    assert all(len(c) == 1 for c in colours.values()), colours
    assert len({c for cs in colours.values() for c in cs}) == 3
    # The published curves: accuracy panels only, in the remedy's colour, at the table's values
    # (the DropEdge study's Cora GCN column and CiteSeer DropEdge column, as printed).
    assert set(published) == {("Cora: test accuracy (%)", "plain"),
                              ("Cora: test accuracy (%)", "jk"),
                              ("CiteSeer: test accuracy (%)", "jk"),
                              ("CiteSeer: test accuracy (%)", "dropedge"),
                              ("CiteSeer: test accuracy (%)", "plain")}
    for (_, remedy), line in published.items():
        assert {line.get_color()} == colours[remedy]
    cora_gcn = published[("Cora: test accuracy (%)", "plain")]
    assert list(cora_gcn.get_xdata()) == [2, 4, 8, 16, 32, 64]
    assert list(cora_gcn.get_ydata()) == [81.1, 80.4, 69.5, 64.9, 60.3, 28.7]
    citeseer_jk = published[("CiteSeer: test accuracy (%)", "jk")]
    assert list(citeseer_jk.get_xdata()) == [4, 8, 16, 32, 64]
    assert list(citeseer_jk.get_ydata()) == [68.7, 67.7, 69.8, 68.2, 63.4]


def test_committed_results_are_the_default_command():
    # The results page says the default command reproduces every committed cell: each row and
    # seed of docs/results was made with the sweep's default settings and its cell's defaults,
    # five seeds per cell, every published cell present.
    import json

    script = _load()
    args = script.parser().parse_args([])
    results = SCRIPT.parents[1] / "docs" / "results"
    with open(results / "oversmoothing.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    with open(results / "oversmoothing.seeds.csv", newline="") as f:
        seeds = list(csv.DictReader(f))
    for row in rows + seeds:
        settings = json.loads(row["settings"])
        assert settings["sweep"] == script.sweep_settings(args), row["settings"]
        assert settings["cell"] == script.settings_of(args, row["dataset"], row["remedy"],
                                                      int(row["depth"])), \
            (row["dataset"], row["remedy"], row["depth"])
    def cell(r):
        return r["dataset"], r["remedy"], int(r["depth"])

    cells = [cell(r) for r in rows]
    assert len(cells) == len(set(cells)) and all(r["runs"] == "5" for r in rows)
    per_cell = {c: [] for c in cells}
    for s in seeds:
        per_cell[cell(s)].append(s)
    for row in rows:  # five seeds, and the row is their mean
        mine = per_cell[cell(row)]
        assert sorted(int(s["seed"]) for s in mine) == [0, 1, 2, 3, 4]
        accs = [float(s["test_acc"]) for s in mine]
        assert float(row["test_acc"]) == pytest.approx(sum(accs) / len(accs), abs=1e-3)
    published = {(name, remedy, depth) for name, per in script.PUBLISHED.items()
                 for remedy, accs in per.items()
                 for depth, acc in zip(script.PUBLISHED_DEPTHS, accs) if acc is not None}
    assert published <= set(cells)
