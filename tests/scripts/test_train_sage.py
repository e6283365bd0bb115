"""Smoke tests: scripts/train_sage.py end to end, as a user runs it."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pyg_course.testing.scripts import load_script

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "train_sage.py"


def _script():
    return load_script(SCRIPT)


def test_cora_minibatch_end_to_end(cora, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--no-progress", "--dataset", "Cora", "--aggr", "mean",
         "--mode", "minibatch", "--num-neighbors", "10", "5", "--batch-size", "64",
         "--epochs", "10", "--lr", "0.05", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=400, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads((tmp_path / "results.json").read_text())
    assert res["summary"]["test_acc_mean"] > 0.72  # an untrained / broken model: ~0.1-0.3
    assert res["config"]["mode"] == "minibatch" and res["config"]["num_neighbors"] == [10, 5]
    assert "aggr='mean'" in res["info"]["model"]
    for name in ("history.csv", "curves.png", "checkpoint.pt", "model.pt"):
        assert (tmp_path / name).stat().st_size > 0


# lstm trains in tests/nn/models/test_graphsage.py and tests/train/test_resume.py
@pytest.mark.parametrize("aggr", ["gcn", "pool"])
def test_other_aggregators_full_batch(cora, aggr):
    res = _script().main(["--no-progress", "--dataset", "Cora", "--aggr", aggr, "--mode", "full",
                          "--epochs", "15", "--lr", "0.05", "--hidden", "16",
                          "--aggr-channels", "32"])
    assert res["summary"]["test_acc_mean"] > 0.5  # chance: about 0.3


# pool: PyGGraphSAGE's training step equals ours (tests/train/test_baselines_sage.py); PyG's
# pool projection is input-wide (1433 x 1433 on Cora), too slow for a smoke test
def test_pyg_impl(cora):
    res = _script().main(["--no-progress", "--dataset", "Cora", "--aggr", "mean", "--impl", "pyg",
                          "--mode", "minibatch", "--epochs", "8", "--lr", "0.05", "--hidden", "16"])
    assert res["summary"]["test_acc_mean"] > 0.6  # chance: about 0.3
    assert res["info"]["impl"] == "pyg" and "PyGGraphSAGE" in res["info"]["model"]


@pytest.mark.parametrize("aggr", ["gcn", "lstm"])
def test_pyg_impl_rejects_unfaithful_aggregators(aggr):
    with pytest.raises(SystemExit, match="no faithful equivalent"):
        _script().main(["--no-progress", "--dataset", "CSBM", "--aggr", aggr, "--impl", "pyg"])


def test_unsupervised_flag_dispatches(monkeypatch):
    module = _script()
    monkeypatch.setattr(module, "run_unsupervised", lambda args: {"called": args.walk_length})
    assert module.main(["--unsupervised", "--walk-length", "3"]) == {"called": 3}


def test_ddp_without_torchrun_is_a_clear_error(monkeypatch):
    for name in ("RANK", "WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(RuntimeError, match="torchrun"):
        _script().main(["--ddp", "--dataset", "CSBM", "--epochs", "1", "--no-progress"])
