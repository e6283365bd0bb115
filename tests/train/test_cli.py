"""The shared command line: option types, the rules between options, the flags a checkpoint
records, and how a script's entry prints the errors a user can fix."""

import argparse

import pytest
import torch
from torch_geometric.data import Data

from pyg_course.datasets import csbm
from pyg_course.train import cli
from pyg_course.train.argtypes import unit_interval
from pyg_course.train.checkpoint import CheckpointError


@pytest.mark.parametrize("kind, good, bad", [
    (cli.positive_int, {"1": 1, "64": 64}, ["0", "-3", "1.5", "x"]),
    (cli.nonnegative_int, {"0": 0, "7": 7}, ["-1", "x"]),
    (cli.positive_float, {"0.01": 0.01, "1e-3": 1e-3}, ["0", "-1", "inf", "nan", "x"]),
    (cli.nonnegative_float, {"0": 0.0, "5e-4": 5e-4}, ["-1", "inf", "nan"]),
    (cli.probability, {"0": 0.0, "0.5": 0.5}, ["1", "1.5", "-0.1", "nan"]),
    (unit_interval, {"0": 0.0, "0.25": 0.25, "1": 1.0}, ["1.5", "-0.1", "nan", "x"]),
    (cli.num_neighbors, {"-1": -1, "1": 1, "25": 25}, ["0", "-5", "-2"]),
    (cli.dataset, {"cora": "Cora", "CITESEER": "CiteSeer", "csbm": "CSBM"}, ["Coraa"]),
    (cli.device, {"auto": "auto", "cpu": "cpu"}, ["gpu", "cuda:x"]),
])
def test_option_types(kind, good, bad):
    for text, value in good.items():
        assert kind(text) == value
    for text in bad:
        with pytest.raises(argparse.ArgumentTypeError):
            kind(text)


def test_cuda_device_without_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(argparse.ArgumentTypeError, match="CUDA is not available"):
        cli.device("cuda:0")


def test_help_shows_each_default_once():
    p = cli.training_parser("First sentence\nwraps here.\n\n    example command\n")
    p.add_argument("--size", type=int, default=3, help="a size")
    p.add_argument("--mentioned", default=None, help="x (default: the best)")
    text = " ".join(p.format_help().split())
    assert "First sentence wraps here." in text and "example command" not in text
    assert "a size (default: 3)" in text and "x (default: the best)" in text
    assert "(default: off)" in text and "(default: None)" not in text
    assert "(default: False)" not in text
    p.set_defaults(patience=20)
    assert "epochs without val improvement (default: 20)" in " ".join(p.format_help().split())


def test_omitted_options_do_not_exist_and_help_texts_are_the_scripts(capsys):
    p = cli.training_parser("t", omit=("mode", "num_neighbors"), hidden=8,
                            help={"hidden": "units per head"})
    text = " ".join(p.format_help().split())
    assert "--mode" not in text and "--num-neighbors" not in text
    assert "--hidden HIDDEN units per head (default: 8)" in text
    args = p.parse_args([])
    assert not hasattr(args, "mode") and not hasattr(args, "num_neighbors")
    assert args.hidden == 8 and args.batch_size == 512
    with pytest.raises(SystemExit) as exc:
        p.parse_args(["--mode", "minibatch"])
    assert exc.value.code == 2
    assert "error: unrecognized arguments: --mode minibatch" in capsys.readouterr().err


@pytest.mark.parametrize("kwargs, message", [
    (dict(omit=("hiden",)), "no shared option hiden"),
    (dict(help={"heads": "x"}), "no shared option heads"),
    (dict(omit=("patience",), patience=10), "a default for an omitted option: patience"),
])
def test_training_parser_refuses_what_it_does_not_have(kwargs, message):
    with pytest.raises(ValueError, match=message):
        cli.training_parser("t", **kwargs)


def _args(argv):
    p = cli.training_parser("t")
    return p, p.parse_args(argv)


def test_check_args_accepts_the_defaults_and_full_batch_any_num_neighbors(tmp_path):
    for argv in ([], ["--num-layers", "3"], ["--out", str(tmp_path / "new" / "dir")],
                 ["--mode", "minibatch", "--num-layers", "3", "--num-neighbors", "5", "-1", "2"]):
        cli.check_args(*_args(argv))


def test_run_flags_leave_out_what_may_change_on_resume():
    _, args = _args(["--hidden", "8", "--device", "cpu", "--out", "x", "--resume",
                     "--num-workers", "2", "--no-progress", "--root", "/data"])
    flags = cli.run_flags(args)
    assert flags["--hidden"] == 8 and flags["--dataset"] == "Cora"
    assert not {"--device", "--out", "--resume", "--num-workers", "--no-progress",
                "--root"} & set(flags)
    assert "--runs" in flags and "--runs" not in cli.run_flags(args, free=("runs",))


def test_node_classification_data():
    cli.check_node_classification(csbm(num_nodes=100, num_val=10, num_test=10), "CSBM")
    data = Data(edge_index=torch.zeros(2, 0, dtype=torch.long), y=torch.zeros(4, 3),
                num_nodes=4)
    with pytest.raises(ValueError, match="^G has no node features, multi-label targets and no "
                                         "train/val/test split: .* use scripts/train_deepwalk"):
        cli.check_node_classification(data, "G")


def test_run_main_prints_user_errors_and_keeps_tracebacks_of_bugs(capsys):
    def fails(exc):
        def main(argv):
            raise exc
        return main

    with pytest.raises(SystemExit) as exit_:
        cli.run_main(fails(CheckpointError("resume: the checkpoint x differs")), prog="s.py")
    assert exit_.value.code == 2
    assert capsys.readouterr().err == "s.py: error: resume: the checkpoint x differs\n"
    with pytest.raises(KeyError):  # a bug: not turned into a one-liner
        cli.run_main(fails(KeyError("test_acc")), prog="s.py")
    with pytest.raises(SystemExit) as exit_:
        cli.run_main(lambda argv: None)
    assert exit_.value.code == 0


def test_the_sampler_is_ours_by_default_and_pygs_for_pygs_pipeline():
    p = cli.training_parser("test")
    p.add_argument("--impl", choices=["ours", "pyg"], default="ours")
    assert cli.config_from_args(p.parse_args([])).sampler == "pyg_course"
    assert cli.config_from_args(p.parse_args(["--impl", "pyg"])).sampler == "pyg"
    assert cli.config_from_args(p.parse_args(["--sampler", "pyg"])).sampler == "pyg"
    assert cli.config_from_args(
        p.parse_args(["--impl", "pyg", "--sampler", "pyg_course"])).sampler == "pyg_course"
    no_impl = cli.training_parser("test")
    assert cli.config_from_args(no_impl.parse_args([])).sampler == "pyg_course"
    with pytest.raises(SystemExit):
        p.parse_args(["--sampler", "dgl"])
