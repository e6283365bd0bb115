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
    # --resume keeps the finished cells and runs none again.
    again = _load().main(["--depths", "2", "4", "--remedies", "plain", "gcnii", "--resume",
                          "--out", str(out), "--no-progress", "--device", "cpu"])
    assert len(again) == 4
