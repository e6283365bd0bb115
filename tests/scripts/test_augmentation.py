"""Smoke test of scripts/augmentation.py on Cora: one feature augmentation, one sparse graph."""

import csv
from pathlib import Path

import pytest
import torch

from pyg_course.testing.scripts import load_script

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
