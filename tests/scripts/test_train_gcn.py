"""Smoke tests: scripts/train_gcn.py end to end, as a user runs it."""

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "train_gcn.py"


def run(*args, env=None):
    return subprocess.run([sys.executable, str(SCRIPT), "--no-progress", *args],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


def test_cora_end_to_end(cora, tmp_path):
    proc = run("--dataset", "Cora", "--epochs", "60", "--runs", "2", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    res = json.loads((tmp_path / "results.json").read_text())
    assert len(res["runs"]) == 2 and res["summary"]["test_acc_mean"] > 0.75
    assert "test accuracy" in proc.stdout and "±" in proc.stdout
    for name in ("history.csv", "curves.png", "checkpoint.pt", "model.pt"):
        assert (tmp_path / name).stat().st_size > 0


def test_csbm_without_files(tmp_path):
    proc = run("--dataset", "CSBM", "--epochs", "50", "--out", str(tmp_path),
               env={"PYG_COURSE_DATA": str(tmp_path / "none")})
    assert proc.returncode == 0, proc.stderr
    # Homophily 0.8 plus informative features: a working GCN is far above chance (50%).
    assert json.loads((tmp_path / "results.json").read_text())["summary"]["test_acc_mean"] > 0.8


def test_resume_of_a_finished_experiment_retrains_nothing(cora, tmp_path):
    first = run("--epochs", "20", "--runs", "2", "--out", str(tmp_path))
    assert first.returncode == 0, first.stderr
    before = json.loads((tmp_path / "results.json").read_text())
    again = run("--epochs", "20", "--runs", "2", "--out", str(tmp_path), "--resume")
    assert again.returncode == 0, again.stderr
    assert "run 1/2" not in again.stdout and "run 2/2" not in again.stdout
    assert json.loads((tmp_path / "results.json").read_text())["runs"] == before["runs"]
    other = run("--epochs", "25", "--runs", "2", "--out", str(tmp_path), "--resume")
    assert other.returncode != 0 and "other settings" in other.stderr


def test_bad_input_is_a_clear_error(tmp_path):
    proc = run("--dataset", "Coraa")
    assert proc.returncode != 0 and "unknown dataset 'Coraa'" in proc.stderr
    proc = run("--dataset", "BlogCatalog", "--root", str(tmp_path))
    assert proc.returncode != 0
    assert "BlogCatalog" in proc.stderr and "PYG_COURSE_DATA" in proc.stderr
