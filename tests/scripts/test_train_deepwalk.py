"""Smoke test of scripts/train_deepwalk.py: KarateClub end to end (train, save, probe, plot)."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from pyg_course.testing.scripts import load_script

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "train_deepwalk.py"


def _load_script():
    return load_script(SCRIPT)


def test_train_deepwalk_karate(tmp_path):
    threads = torch.get_num_threads()
    try:
        results = _load_script().main([
            "--dataset", "KarateClub", "--threads", "1", "--no-progress", "--out", str(tmp_path)])
    finally:
        torch.set_num_threads(threads)
    evaluation = results["evaluation"]
    assert evaluation["protocol"] == "probe" and evaluation["label"] == "faction"
    # The two factions separate; random 16-d vectors score about chance (~0.5) on this split.
    assert evaluation["accuracy"] >= 0.85
    assert results["losses"][-1] < results["losses"][0]
    emb = torch.load(tmp_path / "embedding.pt")
    assert emb.shape == (34, 16)
    assert np.array_equal(np.load(tmp_path / "embedding.npy"), emb.numpy())
    assert (tmp_path / "embedding.png").stat().st_size > 1000
    assert json.loads((tmp_path / "results.json").read_text())["dataset"] == "KarateClub"


def test_train_deepwalk_runs_seeds_and_hierarchical_softmax(tmp_path):
    threads = torch.get_num_threads()
    try:
        results = _load_script().main([
            "--dataset", "KarateClub", "--threads", "1", "--no-progress", "--runs", "2", "--hs",
            "--epochs", "2", "--plot", "none", "--out", str(tmp_path)])
    finally:
        torch.set_num_threads(threads)
    assert [r["seed"] for r in results["runs"]] == [0, 1]
    accs = [r["evaluation"]["accuracy"] for r in results["runs"]]
    s = results["summary"]
    assert s["test_acc_mean"] == pytest.approx(np.mean(accs))
    assert s["test_acc_std"] == pytest.approx(np.std(accs))
    assert "DeepWalk" in results["model"] and results["args"]["hs"] is True
    # The saved embeddings are the first seed's.
    assert json.loads((tmp_path / "results.json").read_text())["summary"] == s
    assert not (tmp_path / "embedding.png").exists()
