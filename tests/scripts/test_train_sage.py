"""Smoke tests: scripts/train_sage.py end to end, as a user runs it."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pyg_course.train.checkpoint import CheckpointError
from tests.helpers.scripts import load_script

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
    assert res["info"]["model"] == "GraphSAGE(1433, 7, num_layers=2)"  # PyG's repr
    assert res["info"]["aggr"] == "mean"
    for name in ("history.csv", "curves.png", "checkpoint.pt", "model.pt"):
        assert (tmp_path / name).stat().st_size > 0


# lstm trains in tests/nn/models/test_graphsage.py and tests/train/test_resume.py
@pytest.mark.parametrize("aggr", ["gcn", "pool"])
def test_other_aggregators_full_batch(cora, aggr):
    extra = ["--aggr-channels", "32"] if aggr == "pool" else []
    res = _script().main(["--no-progress", "--dataset", "Cora", "--aggr", aggr, "--mode", "full",
                          "--epochs", "15", "--lr", "0.05", "--hidden", "16", *extra])
    assert res["summary"]["test_acc_mean"] > 0.5  # chance: about 0.3


# pool: PyGGraphSAGE's training step equals ours (tests/train/test_baselines_sage.py); PyG's
# pool projection is input-wide (1433 x 1433 on Cora), too slow for a smoke test
def test_pyg_impl(cora):
    res = _script().main(["--no-progress", "--dataset", "Cora", "--aggr", "mean", "--impl", "pyg",
                          "--mode", "minibatch", "--epochs", "8", "--lr", "0.05", "--hidden", "16"])
    assert res["summary"]["test_acc_mean"] > 0.6  # chance: about 0.3
    assert res["info"]["impl"] == "pyg" and "PyGGraphSAGE" in res["info"]["model"]


def _error(argv, capsys):
    """The one-line error (exit status 2) that ``main(argv)`` ends with."""
    with pytest.raises(SystemExit) as exc:
        _script().main(["--no-progress", "--dataset", "CSBM", "--epochs", "1", *argv])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "Traceback" not in err, err
    return err.strip().splitlines()[-1]


@pytest.mark.parametrize("aggr", ["gcn", "lstm"])
def test_pyg_impl_rejects_unfaithful_aggregators(aggr, capsys):
    assert "no faithful equivalent" in _error(["--aggr", aggr, "--impl", "pyg"], capsys)


@pytest.mark.parametrize("argv, message", [
    (["--aggr", "pool", "--aggr-channels", "0"], "--aggr-channels: must be at least 1, got 0"),
    (["--aggr-channels", "-4"], "--aggr-channels: must be at least 1, got -4"),
    (["--impl", "pyg", "--aggr-channels", "0"], "--aggr-channels: must be at least 1, got 0"),
    (["--impl", "pyg", "--aggr", "pool", "--aggr-channels", "8"], "--impl pyg takes none of"),
    (["--aggr", "mean", "--aggr-channels", "8"], "--aggr-channels is the hidden size of --aggr "
                                                 "pool or lstm, not of --aggr mean"),
    (["--input-dropout", "2"], "--input-dropout: must be in [0, 1), got 2"),
    (["--num-neighbors", "5"], "--num-neighbors: give one value per layer (2 for --num-layers 2)"),
    (["--num-neighbors", "5", "5", "5"], "one value per layer (2 for --num-layers 2), got 5 5 5"),
    (["--num-layers", "3"], "one value per layer (3 for --num-layers 3), got 25 10"),
    (["--num-neighbors", "0", "0"], "--num-neighbors: each value must be -1 (all) or at least 1"),
    (["--num-neighbors", "-5", "3"], "each value must be -1 (all) or at least 1, got -5"),
    (["--unsupervised", "--impl", "pyg"], "not used by --unsupervised"),
    (["--unsupervised", "--ddp"], "not used by --unsupervised"),
    (["--unsupervised", "--mode", "full"], "not used by --unsupervised (it trains our GraphSAGE "
                                           "on neighbour-sampled mini-batches in one process): "
                                           "--mode full"),
    (["--unsupervised", "--patience", "5"], "not used by --unsupervised"),
    (["--unsupervised", "--probe-every", "-1"], "--probe-every: must be at least 0, got -1"),
    (["--unsupervised", "--runs", "0"], "--runs: must be at least 1, got 0"),
    (["--unsupervised", "--num-negatives", "0"], "--num-negatives: must be at least 1, got 0"),
    (["--walk-length", "3"], "only used with --unsupervised: --walk-length 3"),
])
def test_bad_options_are_one_line_errors(argv, message, capsys):
    # Each of these trained before (silently ignoring the option or sampling nothing) or
    # failed later with a traceback.
    assert message in _error(argv, capsys)


def test_full_batch_ignores_num_neighbors(monkeypatch):
    module = _script()
    monkeypatch.setattr(module, "run_experiment", lambda *a, **k: k["flags"])
    flags = module.main(["--mode", "full", "--num-layers", "3", "--dataset", "CSBM"])
    assert flags["--num-layers"] == 3 and flags["--num-neighbors"] == [25, 10]


def test_unsupervised_flag_dispatches(monkeypatch):
    module = _script()
    monkeypatch.setattr(module, "run_unsupervised",
                        lambda args, data: {"called": args.walk_length, "nodes": data.num_nodes})
    assert module.main(["--unsupervised", "--walk-length", "3", "--dataset", "CSBM"]) == \
        {"called": 3, "nodes": 2000}


def test_ddp_without_torchrun_is_a_clear_error(monkeypatch, capsys):
    for name in ("RANK", "WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    assert "start the script with torchrun" in _error(["--ddp"], capsys)


def test_resume_of_an_unsupervised_run_is_refused(tmp_path):
    out = str(tmp_path)
    unsup = ["--unsupervised", "--hidden", "8", "--batch-size", "1000", "--num-negatives", "2",
             "--neg-hops", "1", "--num-walks", "2", "--out", out]
    _script().main(["--no-progress", "--dataset", "CSBM", "--epochs", "1", *unsup])
    with pytest.raises(CheckpointError, match="written by unsupervised training"):
        _script().main(["--no-progress", "--dataset", "CSBM", "--epochs", "1", "--resume",
                        "--out", out])
    with pytest.raises(CheckpointError, match=r"other settings: --hidden 8 -> 16, "
                                              r"--num-walks 2 -> 3;"):
        _script().main(["--no-progress", "--dataset", "CSBM", "--epochs", "1", "--resume",
                        *unsup, "--hidden", "16", "--num-walks", "3"])


def old_sage(sizes, out_channels, dropout, input_dropout, jk, hidden, **conv_kwargs):
    """GraphSAGE as it was built before taking PyG's BasicGNN: explicit SAGEConv layers, ReLU
    and dropout between them (after every layer with jk), JK and a linear readout."""
    import torch
    from torch_geometric.nn import JumpingKnowledge

    from pyg_course.nn import SAGEConv
    from pyg_course.utils.sparse import sparse_dropout

    num_layers = len(sizes) - 1
    convs = torch.nn.ModuleList(SAGEConv(a, b, **conv_kwargs) for a, b in zip(sizes, sizes[1:]))
    modules = torch.nn.ModuleList([convs])
    if jk is not None:
        if jk != "last":
            modules.append(JumpingKnowledge(jk, hidden, num_layers))
        modules.append(torch.nn.Linear(num_layers * hidden if jk == "cat" else hidden,
                                       out_channels))

    def forward(x, edge_index, training):
        x = sparse_dropout(x, input_dropout, training)
        xs = []
        for i, conv in enumerate(convs):
            x = conv(x, edge_index)
            if i < num_layers - 1 or jk is not None:
                x = torch.nn.functional.dropout(x.relu(), dropout, training)
            xs.append(x)
        if jk is None:
            return x
        x = modules[1](xs) if jk != "last" else xs[-1]
        return modules[-1](x)

    return modules, forward


@pytest.mark.parametrize("argv", [[], ["--aggr", "pool", "--jk", "cat", "--num-layers", "3"],
                                  ["--aggr", "lstm", "--jk", "lstm", "--normalize"],
                                  ["--jk", "last", "--input-dropout", "0"]])
def test_model_is_the_model_as_before(argv, check_same_model):
    """Same parameters and, with the same seed, the same outputs as the explicit stack."""
    import torch

    script = _script()
    args = script.parser().parse_args(["--dataset", "CSBM", *argv])
    channels = {"pool": 64, "lstm": 128}.get(args.aggr)
    hidden = args.hidden
    sizes = [12] + [hidden] * (args.num_layers - 1) + [hidden if args.jk else 3]
    kwargs = dict(aggr=args.aggr, normalize=args.normalize, aggr_channels=channels)
    torch.manual_seed(0)
    old, old_forward = old_sage(sizes, 3, args.dropout, args.input_dropout, args.jk, hidden,
                                **kwargs)
    torch.manual_seed(0)
    check_same_model(old, old_forward, script.build_model(args, 12, 3))


@pytest.mark.parametrize("argv", [["--unsupervised"], ["--unsupervised", "--jk", "max"]])
def test_unsupervised_encoder_is_the_model_as_before(argv, check_same_model):
    import torch

    script = _script()
    args = script.parser().parse_args(["--dataset", "CSBM", *argv])
    hidden = args.hidden
    sizes = [12] + [hidden] * args.num_layers
    torch.manual_seed(0)
    old, old_forward = old_sage(sizes, hidden, args.dropout, 0.0, args.jk, hidden,
                                aggr=args.aggr)
    torch.manual_seed(0)
    check_same_model(old, old_forward, script.build_model(args, 12))
