"""Smoke test of scripts/augmentation.py on Cora: one feature augmentation, one sparse graph."""

import csv
from pathlib import Path

import pytest
import torch

from tests.helpers.scripts import load_script

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "augmentation.py"


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_short_run(cora, tmp_path):
    mod = load_script(SCRIPT)
    out = tmp_path / "aug"
    mod.main(["--datasets", "Cora", "--augmentations", "one-hot id", "--models", "GCN",
              "--drop-rates", "0.5", "--epochs", "40", "--patience", "100", "--device", "cpu",
              "--out", str(out)])
    with open(out.with_suffix(".csv")) as f:
        rows = {(r["experiment"], r["augmentation"]): r for r in csv.DictReader(f)}
    assert set(rows) == {("features", "one-hot id"), ("sparse 0.5", "none"),
                         ("sparse 0.5", "virtual node"), ("sparse 0.5", "2-hop edges (cap 10)"),
                         ("sparse 0.5", "3-hop edges (cap 10)")}
    # Without features a one-hot id still beats the majority class (~32%) transductively.
    assert float(rows[("features", "one-hot id")]["test_acc"]) > 45.0
    assert int(rows[("features", "one-hot id")]["num_features"]) == 2708
    # Half of Cora's edges plus its features still carry most of the signal.
    assert float(rows[("sparse 0.5", "none")]["test_acc"]) > 60.0
    # The virtual node adds 2 * 2708 edges, the 2-hop edges more than there were.
    none, vn = rows[("sparse 0.5", "none")], rows[("sparse 0.5", "virtual node")]
    assert int(vn["num_edges"]) == int(none["num_edges"]) + 2 * 2708
    assert "| one-hot id |" in out.with_suffix(".md").read_text()


# Small enough that a script without the checks below finishes quickly (and fails the test).
TINY = ["--datasets", "Cora", "--augmentations", "constant", "--models", "GCN", "--epochs", "1",
        "--device", "cpu"]


@pytest.mark.parametrize("argv, message", [
    (["--drop-rates", "1.5"], "--drop-rates: must be in [0, 1), got 1.5"),
    (["--drop-rates", "0.5", "-0.1"], "--drop-rates: must be in [0, 1), got -0.1"),
    (["--augmentations", "bogus"], "invalid choice: 'bogus'"),
    (["--runs", "0"], "--runs: must be at least 1"),
])
def test_bad_options_are_refused_before_training(cora, tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as exc:
        load_script(SCRIPT).main(TINY + ["--out", str(tmp_path / "aug"), *argv])
    assert exc.value.code == 2
    err = capsys.readouterr()
    assert message in err.err and err.out == ""  # nothing trained
    assert not (tmp_path / "aug.csv").exists()


def test_help_lists_the_augmentations_and_the_whole_description(capsys):
    with pytest.raises(SystemExit):
        load_script(SCRIPT).main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "'one-hot id'" in text and "'degree profile (PyG LDP)'" in text
    assert "test accuracy of a GCN and a GraphSAGE." in text


def test_missing_cora_fails_before_the_feature_study(tmp_path, capsys):
    # CSBM needs no files; Cora, for the sparse study, is not in the empty --root.
    with pytest.raises(SystemExit, match=r"^error: dataset 'Cora'.*missing"):
        load_script(SCRIPT).main(["--datasets", "CSBM", "--augmentations", "constant",
                                  "--models", "GCN", "--epochs", "1", "--device", "cpu",
                                  "--root", str(tmp_path), "--out", str(tmp_path / "aug")])
    assert capsys.readouterr().out == ""  # nothing trained


def test_out_as_a_folder(cora, tmp_path):
    load_script(SCRIPT).main(TINY + ["--drop-rates", "0.5", "--out", f"{tmp_path / 'new'}/"])
    assert sorted(p.name for p in (tmp_path / "new").iterdir()) == \
        ["augmentation.csv", "augmentation.md"]
