"""Smoke tests: scripts/train_gcn.py end to end, as a user runs it."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from pyg_course.train.checkpoint import CheckpointError
from pyg_course.train.loop import NonFiniteLossError
from tests.helpers.scripts import load_script

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


# ------------------------------------------------------------------ in-process: main(argv)
TINY = ["--no-progress", "--dataset", "CSBM", "--epochs", "2"]


@pytest.fixture(scope="module")
def script():
    return load_script(SCRIPT)


def _error(script, argv, capsys):
    """The one-line error (exit status 2, no traceback) that ``main(argv)`` ends with."""
    with pytest.raises(SystemExit) as exc:
        script.main(TINY + argv)
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "Traceback" not in err, err
    return err.strip().splitlines()[-1]


@pytest.mark.parametrize("argv, message", [
    (["--patience", "0"], "--patience: must be at least 1, got 0"),
    (["--runs", "0"], "--runs: must be at least 1, got 0"),
    (["--runs", "-2"], "--runs: must be at least 1, got -2"),
    (["--epochs", "0"], "--epochs: must be at least 1, got 0"),
    (["--batch-size", "0"], "--batch-size: must be at least 1, got 0"),
    (["--batch-size", "-1"], "--batch-size: must be at least 1, got -1"),
    (["--num-workers", "-1"], "--num-workers: must be at least 0, got -1"),
    (["--seed", "-1"], "--seed: must be at least 0, got -1"),
    (["--weight-decay", "-1"], "--weight-decay: must be a finite number >= 0, got -1"),
    (["--weight-decay", "nan"], "--weight-decay: must be a finite number >= 0, got nan"),
    (["--lr", "-1"], "--lr: must be a finite number > 0, got -1"),
    (["--lr", "0"], "--lr: must be a finite number > 0, got 0"),
    (["--lr", "inf"], "--lr: must be a finite number > 0, got inf"),
    (["--hidden", "0"], "--hidden: must be at least 1, got 0"),
    (["--hidden", "x"], "--hidden: expected an integer, got 'x'"),
    (["--num-layers", "0"], "--num-layers: must be at least 1, got 0"),
    (["--dropout", "1"], "--dropout: must be in [0, 1), got 1"),
    (["--dropout", "1.5"], "--dropout: must be in [0, 1), got 1.5"),
    (["--device", "gpu"], "--device: expected cpu, cuda, cuda:N or auto, got 'gpu'"),
    (["--resume"], "--resume needs --out"),
    (["--mode", "minibatch", "--num-neighbors", "5"], "one value per layer (2 for --num-layers"),
    (["--dataset", "KarateClub"], "KarateClub has no val/test split"),
])
def test_bad_options_are_one_line_errors(script, capsys, argv, message):
    assert message in _error(script, argv, capsys)


def test_cuda_on_a_machine_without_it(script, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert "'cuda' requested but CUDA is not available" in _error(
        script, ["--device", "cuda"], capsys)


def test_out_that_is_a_file_is_refused_before_training(script, capsys, tmp_path):
    (tmp_path / "f").write_text("x")
    for out in (tmp_path / "f", tmp_path / "f" / "sub"):
        assert "is a file, not a folder" in _error(script, ["--out", str(out)], capsys)
    assert (tmp_path / "f").read_text() == "x"


def test_blogcatalog_points_to_deepwalk(script, capsys):
    line = _error(script, ["--dataset", "BlogCatalog"], capsys)
    assert "BlogCatalog has no node features, multi-label targets" in line
    assert "scripts/train_deepwalk.py" in line


def test_resume_refuses_other_model_and_data_flags(script, tmp_path):
    out = ["--out", str(tmp_path)]
    script.main(TINY + out)
    before = (tmp_path / "results.json").read_text()
    with pytest.raises(CheckpointError) as exc:
        script.main(TINY + out + ["--resume", "--hidden", "32", "--dropout", "0.2",
                                  "--no-normalize-features", "--impl", "pyg"])
    msg = str(exc.value)
    for diff in ("--hidden 16 -> 32", "--dropout 0.5 -> 0.2", "--impl ours -> pyg",
                 "--no-normalize-features False -> True"):
        assert diff in msg
    assert "\n" not in msg and "--epochs" not in msg
    assert (tmp_path / "results.json").read_text() == before
    # What may change on resume does not count: the device, the workers, the progress bar.
    again = script.main(TINY + out + ["--resume", "--device", "cpu", "--num-workers", "1"])
    assert json.loads(before)["runs"] == again["runs"]


@pytest.mark.parametrize("content", [b"", b"garbage", None])
def test_unreadable_checkpoint_names_the_file(script, tmp_path, content):
    out = ["--out", str(tmp_path)]
    ckpt = tmp_path / "checkpoint.pt"
    if content is None:  # truncated
        script.main(TINY + out)
        ckpt.write_bytes(ckpt.read_bytes()[:200])
    else:
        ckpt.write_bytes(content)
    with pytest.raises(CheckpointError, match=f"cannot read the checkpoint {ckpt} .*delete it, "
                                              "or run without --resume"):
        script.main(TINY + out + ["--resume"])


def test_diverged_training_stops_with_a_clear_error(script, tmp_path, capsys):
    # lr 1e30: the first step sends the weights to ~1e30, the next loss is NaN.
    argv = TINY + ["--epochs", "3", "--lr", "1e30", "--out", str(tmp_path)]
    with pytest.raises(NonFiniteLossError,
                       match=r"GCN CSBM run 1/1 \(seed 0\): the training loss is nan at epoch "
                             r"\d: training diverged; lower the learning rate \(--lr, now 1e\+30"):
        script.main(argv)
    assert not (tmp_path / "results.json").exists()
    # At the script's entry it is one line, exit status 2.
    with pytest.raises(SystemExit) as exc:
        script.run_main(script.main, argv, prog="train_gcn.py")
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.count("\n") == 1
    assert err.startswith("train_gcn.py: error: GCN CSBM run 1/1 (seed 0): the training loss is")


def test_help_shows_the_description_and_each_default_once(script, capsys):
    with pytest.raises(SystemExit):
        script.main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "report test accuracy at the best validation epoch as mean ± std over --runs seeds." \
        in text
    assert "--patience PATIENCE early stopping: epochs without val improvement (default: off)" \
        in text
    for default in ("--epochs EPOCHS maximum number of epochs (default: 200)",
                    "(default: 0.01)", "--num-layers NUM_LAYERS number of layers (default: 2)",
                    "in [0, 1) (default: 0.5)"):
        assert default in text
    assert "(default: None)" not in text and "(default: False)" not in text


@pytest.mark.parametrize("argv", [[], ["--hidden", "8", "--num-layers", "3", "--dropout", "0.3"]])
def test_model_is_the_paper_model_as_before(script, argv, check_same_model):
    """The script's GCN is the paper's model, with dropout on the input features and the
    hidden layers: same parameters and, with the same seed, the same outputs as the explicit
    layer stack."""
    from pyg_course.nn import GCNConv
    from pyg_course.utils.sparse import sparse_dropout

    args = script.make_parser().parse_args(["--dataset", "CSBM", *argv])
    sizes = [12] + [args.hidden] * (args.num_layers - 1) + [3]
    torch.manual_seed(0)
    convs = torch.nn.ModuleList(GCNConv(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
    torch.manual_seed(0)
    model = script.build_model(args, 12, 3)

    def old_forward(x, edge_index, training):
        h = sparse_dropout(x, args.dropout, training)
        for i, conv in enumerate(convs):
            h = conv(h, edge_index)
            if i < len(convs) - 1:
                h = torch.nn.functional.dropout(h.relu(), args.dropout, training)
        return h

    check_same_model(convs, old_forward, model)
