"""Unsupervised GraphSAGE training: a short Cora run must beat a floor that an untrained or
collapsed encoder misses (they probe at 32-50 %), results/resume files on CSBM."""

import json

import pytest
import torch

import pyg_course.train.experiment as experiment
import pyg_course.train.unsupervised as unsup
from pyg_course.datasets import csbm
from pyg_course.nn.models import GraphSAGE
from pyg_course.train import run_experiment
from pyg_course.train.checkpoint import CheckpointError
from pyg_course.train.cli import (
    add_unsupervised_args,
    config_from_args,
    normalize_features,
    run_flags,
    training_parser,
)
from pyg_course.train.loop import NonFiniteLossError


def parse(argv):
    parser = training_parser("test")
    parser.add_argument("--aggr", default="mean")
    add_unsupervised_args(parser)
    return parser.parse_args(argv)


def encoder(data, args):
    return GraphSAGE(data.num_features, args.hidden, args.num_layers, dropout=args.dropout,
                     aggr=args.aggr)


def run_unsupervised(args, data):
    """The shared runner with the unsupervised trainer, as ``train_sage.py --unsupervised``."""
    return run_experiment(lambda: encoder(data, args), data,
                          config_from_args(args, unsup.UnsupervisedConfig), runs=args.runs,
                          seed=args.seed, out=args.out, resume=args.resume,
                          flags=run_flags(args), trainer_cls=unsup.UnsupervisedTrainer,
                          name="unsupervised GraphSAGE")


def test_options_do_not_clash_with_the_shared_ones():
    args = parse(["--walk-length", "3", "--neg-dist", "unigram", "--loss", "margin"])
    assert (args.walk_length, args.neg_dist, args.loss, args.similarity) == (3, "unigram",
                                                                             "margin", "cosine")
    with pytest.raises(SystemExit):
        parse(["--neg-dist", "near"])


def test_short_cora_run_beats_probe_floor(cora):
    torch.set_num_threads(1)
    # One epoch (6 steps) of the documented settings probes at 75-77 % over 5 seeds.
    args = parse(["--epochs", "1", "--hidden", "128", "--dropout", "0", "--weight-decay", "0",
                  "--lr", "0.005", "--num-positives", "5", "--no-progress"])
    res = run_unsupervised(args, data=normalize_features(cora))
    run = res["runs"][0]
    assert run["test_acc"] >= 0.70, run
    assert run["neg_fallback_rate"] < 0.05


def test_step_uses_one_subgraph_and_one_forward(monkeypatch):
    data = csbm(num_nodes=300, num_val=50, num_test=100, seed=0)
    args = parse(["--hidden", "8", "--batch-size", "32", "--num-negatives", "4",
                  "--num-positives", "2", "--device", "cpu", "--no-progress"])
    trainer = unsup.UnsupervisedTrainer(encoder(data, args), data,
                                         config_from_args(args, unsup.UnsupervisedConfig))
    calls = []
    forward = trainer.model.forward
    monkeypatch.setattr(trainer.model, "forward",
                        lambda *a, **k: calls.append(a[0].size(0)) or forward(*a, **k))
    loss = trainer.step(torch.arange(32))
    assert len(calls) == 1 and loss == loss


def test_results_and_resume(tmp_path, monkeypatch):
    data = csbm(num_nodes=400, num_val=100, num_test=200, seed=1)
    argv = ["--epochs", "2", "--hidden", "16", "--batch-size", "128", "--num-negatives", "5",
            "--runs", "2", "--neg-hops", "2", "--probe-every", "1", "--device", "cpu",
            "--no-progress", "--out", str(tmp_path / "a")]
    full = run_unsupervised(parse(argv), data=data)
    saved = json.loads((tmp_path / "a" / "results.json").read_text())
    assert len(saved["runs"]) == 2 and "test_acc_mean" in saved["summary"]
    assert (tmp_path / "a" / "history.csv").is_file()

    # Interrupt the second experiment after its first checkpoint, then resume it.
    argv[-1] = str(tmp_path / "b")
    real_save, count = experiment.save_atomic, []

    def failing_save(obj, path):
        real_save(obj, path)
        count.append(1)
        if len(count) == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(experiment, "save_atomic", failing_save)
    with pytest.raises(KeyboardInterrupt):
        run_unsupervised(parse(argv), data=data)
    monkeypatch.setattr(experiment, "save_atomic", real_save)
    resumed = run_unsupervised(parse(argv + ["--resume"]), data=data)
    for a, b in zip(full["runs"], resumed["runs"]):
        assert a["test_acc"] == b["test_acc"] and a["final_loss"] == pytest.approx(
            b["final_loss"], rel=1e-6)


TINY = ["--epochs", "1", "--hidden", "8", "--batch-size", "400", "--num-negatives", "2",
        "--neg-hops", "1", "--num-walks", "2", "--device", "cpu", "--no-progress"]


def _tiny_data():
    return csbm(num_nodes=400, num_val=100, num_test=200, seed=1)


def test_non_finite_loss_stops_training(monkeypatch):
    monkeypatch.setattr(unsup.UnsupervisedTrainer, "step", lambda self, anchors: float("inf"))
    with pytest.raises(NonFiniteLossError, match=r"run 1/1 \(seed 4\): the training loss is inf "
                                                 r"at epoch 1: training diverged; lower the "
                                                 r"learning rate \(--lr, now 0.01\)"):
        run_unsupervised(parse(TINY + ["--seed", "4"]), data=_tiny_data())


def test_resume_names_the_setting_that_differs(tmp_path):
    data = _tiny_data()
    argv = TINY + ["--out", str(tmp_path)]
    first = run_unsupervised(parse(argv), data=data)
    with pytest.raises(CheckpointError) as exc:
        run_unsupervised(parse(argv + ["--resume", "--walk-length", "3", "--lr", "0.1"]),
                               data=data)
    assert str(exc.value) == (
        f"resume: the checkpoint {tmp_path / 'checkpoint.pt'} was written with other settings: "
        f"--lr 0.01 -> 0.1, --walk-length 5 -> 3; use the same arguments or another --out")
    # More runs, another device or no progress bar: resumes, keeping the finished run.
    more = run_unsupervised(parse(argv + ["--resume", "--runs", "2"]), data=data)
    assert more["runs"][0] == first["runs"][0] and len(more["runs"]) == 2


def test_bad_values_are_refused_when_parsed():
    for argv in (["--probe-every", "-1"], ["--num-negatives", "0"], ["--walk-length", "0"],
                 ["--margin", "nan"], ["--neg-hops", "-1"]):
        with pytest.raises(SystemExit):
            parse(argv)
