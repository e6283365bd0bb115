"""Smoke test of scripts/train_deepwalk.py: KarateClub end to end (train, save, probe, plot)."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.helpers.scripts import load_script

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
    assert s["test_acc_std"] == pytest.approx(np.std(accs, ddof=1))  # the sample std
    assert "DeepWalk" in results["model"] and results["args"]["hs"] is True
    # The saved embeddings are the last seed's.
    assert json.loads((tmp_path / "results.json").read_text())["summary"] == s
    assert not (tmp_path / "embedding.png").exists()


@pytest.mark.parametrize("flags,option", [
    (["--epochs", "0"], "--epochs"),
    (["--neg-weight", "nan"], "--neg-weight"),
    (["--neg-weight", "-1"], "--neg-weight"),
    (["--threads", "-1"], "--threads"),
    (["--threads", "0"], "--threads"),
    (["--batch-size", "0"], "--batch-size"),
    (["--batch-size", "-4"], "--batch-size"),
    (["--lr", "-1"], "--lr"),
    (["--lr", "inf"], "--lr"),
    (["--p", "nan"], "--p"),
    (["--walk-length", "3", "--window-size", "5"], "--walk-length"),
    (["--repeat-damping", "1.5"], "--repeat-damping"),
    (["--runs", "0"], "--runs"),
    (["--passes", "2", "--optimizer", "adam"], "--passes"),
    (["--device", "nonsense"], "--device"),
])
def test_bad_options_fail_up_front_in_one_line(flags, option, monkeypatch, capsys):
    script = _load_script()
    monkeypatch.setattr(script, "load_or_exit", lambda *a, **k: pytest.fail("data loaded"))
    with pytest.raises(SystemExit) as exc:
        script.main(["--dataset", "KarateClub", "--no-progress", *flags])
    assert exc.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]  # after argparse's usage lines
    assert f": error: argument {option}:" in last


def test_cuda_without_cuda_is_an_option_error(monkeypatch, capsys):
    script = _load_script()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(script, "load_or_exit", lambda *a, **k: pytest.fail("data loaded"))
    with pytest.raises(SystemExit) as exc:
        script.main(["--dataset", "KarateClub", "--device", "cuda"])
    assert exc.value.code == 2
    assert "argument --device: device 'cuda' requested but CUDA is not available" in \
        capsys.readouterr().err


@pytest.mark.parametrize("where", ["file", "below_file"])
def test_out_that_cannot_be_a_folder_fails_before_training(where, tmp_path, monkeypatch, capsys):
    script = _load_script()
    monkeypatch.setattr(script, "load_or_exit", lambda *a, **k: pytest.fail("data loaded"))
    (tmp_path / "file").write_text("taken")
    out = tmp_path / "file" if where == "file" else tmp_path / "file" / "run"
    with pytest.raises(SystemExit) as exc:
        script.main(["--dataset", "KarateClub", "--out", str(out)])
    assert exc.value.code == 2
    assert "argument --out" in capsys.readouterr().err


def test_dataset_names_and_the_options_it_offers(capsys):
    p = _load_script().parser()
    assert p.parse_args(["--dataset", "blogcatalog"]).dataset == "BlogCatalog"
    assert p.parse_args(["--dataset", "KARATECLUB"]).dataset == "KarateClub"
    text = p.format_help()
    assert "--walk-length" in text and "--batch-size" in text
    for unused in ("--hidden", "--num-layers", "--dropout", "--weight-decay", "--patience",
                   "--mode", "--num-neighbors", "--num-workers", "--no-normalize-features"):
        assert unused not in text
    with pytest.raises(SystemExit) as exc:
        p.parse_args(["--hidden", "8"])
    assert exc.value.code == 2 and "unrecognized arguments: --hidden 8" in capsys.readouterr().err


def test_resume_keeps_the_finished_runs_and_equals_a_fresh_experiment(tmp_path):
    threads = torch.get_num_threads()
    argv = ["--dataset", "KarateClub", "--threads", "1", "--no-progress", "--epochs", "2",
            "--plot", "none"]
    try:
        script = _load_script()
        fresh = script.main(argv + ["--runs", "2", "--out", str(tmp_path / "fresh")])
        script.main(argv + ["--runs", "1", "--out", str(tmp_path / "grown")])
        grown = script.main(argv + ["--runs", "2", "--out", str(tmp_path / "grown"), "--resume"])
    finally:
        torch.set_num_threads(threads)
    assert [r["test_acc"] for r in grown["runs"]] == [r["test_acc"] for r in fresh["runs"]]
    assert [r["losses"] for r in grown["runs"]] == [r["losses"] for r in fresh["runs"]]
    assert np.array_equal(np.load(tmp_path / "grown" / "embedding.npy"),
                          np.load(tmp_path / "fresh" / "embedding.npy"))
