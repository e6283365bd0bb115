"""Smoke test of scripts/oversmoothing.py: a short sweep writes its CSV and PNG."""

import csv
import math
from pathlib import Path

import pytest
import torch

from pyg_course.testing.scripts import load_script

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "oversmoothing.py"


@pytest.fixture(autouse=True)
def _one_thread():
    # Many small sparse products: one intra-op thread is faster on a shared CI runner.
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _load():
    return load_script(SCRIPT)


def test_short_sweep(cora, tmp_path):
    out = tmp_path / "os"
    rows = _load().main(["--depths", "2", "4", "--remedies", "plain", "gcnii", "--epochs", "30",
                         "--gcnii-epochs", "3", "--patience", "100", "--out", str(out),
                         "--no-progress", "--device", "cpu"])
    assert out.with_suffix(".png").stat().st_size > 0
    with open(out.with_suffix(".csv")) as f:
        table = {(r["remedy"], int(r["depth"])): r for r in csv.DictReader(f)}
    assert set(table) == {("plain", 2), ("plain", 4), ("gcnii", 2), ("gcnii", 4)}
    assert all(math.isfinite(float(r[k])) for r in table.values()
               for k in ("test_acc", "mad", "mad_gap", "dirichlet", "dirichlet_normalized"))
    two = table[("plain", 2)]
    assert float(two["test_acc"]) > 65.0  # a 2-layer GCN learns Cora in 30 epochs
    assert 0.0 < float(two["mad"]) <= 2.0
    assert len(rows) == 4
    # --resume with the same settings keeps the finished cells and runs none again.
    again = _load().main(["--depths", "2", "4", "--remedies", "plain", "gcnii", "--epochs", "30",
                          "--gcnii-epochs", "3", "--patience", "100", "--resume",
                          "--out", str(out), "--no-progress", "--device", "cpu"])
    assert len(again) == 4


QUICK = ["--quick", "--depths", "2", "--remedies", "plain", "--no-progress", "--device", "cpu"]


def test_resume_refuses_cells_of_other_settings(cora, tmp_path):
    out = str(tmp_path / "os")
    _load().main(QUICK + ["--out", out])
    before = (tmp_path / "os.csv").read_text()
    # A Cora quick row is no CiteSeer result: resume names what differs, trains nothing.
    with pytest.raises(SystemExit) as exc:
        _load().main(QUICK + ["--resume", "--dataset", "CiteSeer", "--hidden", "8", "--out", out])
    msg = str(exc.value.code)
    assert "--dataset 'Cora' there, 'CiteSeer' here" in msg and "--hidden 64 there, 8 here" in msg
    assert "--lr" not in msg and "\n" not in msg
    assert (tmp_path / "os.csv").read_text() == before
    # Flags that --quick overrides, the device and the name's case do not make cells differ.
    rows = _load().main(QUICK + ["--resume", "--epochs", "60", "--device", "auto", "--dataset",
                                 "cora", "--out", out])
    assert len(rows) == 1 and (tmp_path / "os.csv").read_text() == before


def test_resume_refuses_a_foreign_csv(tmp_path):
    (tmp_path / "x.csv").write_text("a,b\n1,2\n")
    with pytest.raises(SystemExit, match="no column .*remedy"):
        _load().main(QUICK + ["--dataset", "CSBM", "--resume", "--out", str(tmp_path / "x")])
    assert (tmp_path / "x.csv").read_text() == "a,b\n1,2\n"


@pytest.mark.parametrize("argv, message", [
    (["--mode", "minibatch"], "not used by the sweep: --mode"),
    (["--num-layers", "3"], "not used by the sweep: --num-layers"),
    (["--batch-size", "64"], "not used by the sweep: --batch-size"),
    (["--runs", "0"], "--runs: must be at least 1"),
    (["--depths", "0"], "--depths: must be at least 1"),
])
def test_bad_options_are_refused_before_training(tmp_path, capsys, argv, message):
    # (CSBM, one quick cell: without the check the call would train and return.)
    with pytest.raises(SystemExit) as exc:
        _load().main(QUICK + ["--dataset", "CSBM", "--out", str(tmp_path / "os"), *argv])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "os.csv").exists()


def test_out_as_a_folder(tmp_path):
    # A trailing separator (or an existing folder) names a folder, not hidden files ".csv".
    rows = _load().main(QUICK + ["--dataset", "CSBM", "--out", f"{tmp_path / 'new'}/"])
    assert sorted(p.name for p in (tmp_path / "new").iterdir()) == \
        ["oversmoothing.csv", "oversmoothing.png"]
    # An existing folder without the separator: the same files, resumed.
    again = _load().main(QUICK + ["--dataset", "CSBM", "--resume", "--out", str(tmp_path / "new")])
    assert len(again) == len(rows) == 1
    assert sorted(p.name for p in (tmp_path / "new").iterdir()) == \
        ["oversmoothing.csv", "oversmoothing.png"]


def test_help_describes_the_whole_first_paragraph(capsys):
    with pytest.raises(SystemExit):
        _load().main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "each depth and each remedy (residual, PairNorm, DropEdge, JK, GCNII)." in text
    assert "--mode" not in text and "--num-layers" not in text
