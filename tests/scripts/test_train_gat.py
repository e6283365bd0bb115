"""Smoke tests: scripts/train_gat.py end to end, as a user runs it."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from pyg_course.train.checkpoint import CheckpointError
from tests.helpers.scripts import load_script

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "train_gat.py"


def run(*args, env=None):
    # One thread: these graphs are tiny, and OpenMP threads only contend on a loaded machine.
    return subprocess.run([sys.executable, str(SCRIPT), "--no-progress", *args],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})})


def test_cora_full_batch_with_attention(cora, tmp_path):
    proc = run("--dataset", "Cora", "--epochs", "15", "--out", str(tmp_path), "--save-attention")
    assert proc.returncode == 0, proc.stderr
    res = json.loads((tmp_path / "results.json").read_text())
    # 7 classes; after 15 epochs the paper's model is far above the 30% of the largest class
    assert res["summary"]["test_acc_mean"] > 0.7
    assert res["info"]["model"] == "GAT(1433, 7, num_layers=2)"  # PyG's repr
    assert res["info"]["heads"] == 8 and res["config"]["lr"] == 0.005
    layers = torch.load(tmp_path / "attention.pt")
    assert len(layers) == 2
    num_edges = cora.edge_index.size(1) + cora.num_nodes  # Cora has no self-loops
    assert layers[0]["alpha"].shape == (num_edges, 8) and layers[1]["alpha"].shape == (num_edges, 1)
    sums = torch.zeros(cora.num_nodes, 8).index_add_(0, layers[0]["edge_index"][1],
                                                     layers[0]["alpha"])
    torch.testing.assert_close(sums, torch.ones_like(sums))
    assert layers[0]["uniform_entropy"].shape == (cora.num_nodes,)
    assert (tmp_path / "attention_entropy.png").stat().st_size > 10_000
    assert "mean attention entropy" in proc.stdout


@pytest.fixture(scope="module")
def script():
    """The script as a module, to call ``main(argv)`` in-process (no interpreter start-up)."""
    return load_script(SCRIPT)


def test_csbm_minibatch(script, tmp_path, monkeypatch):
    monkeypatch.setenv("PYG_COURSE_DATA", str(tmp_path / "none"))
    results = script.main(["--no-progress", "--dataset", "CSBM", "--mode", "minibatch",
                           "--epochs", "5", "--batch-size", "20", "--dropout", "0.2",
                           "--out", str(tmp_path)])
    assert results["config"]["mode"] == "minibatch" and (tmp_path / "results.json").is_file()
    # two classes (chance 50%), informative features and homophilous edges
    assert results["summary"]["test_acc_mean"] > 0.8


def test_save_attention_needs_out(script, capsys):
    with pytest.raises(SystemExit) as exc:
        script.main(["--dataset", "CSBM", "--save-attention"])
    assert exc.value.code != 0 and "--save-attention needs --out" in capsys.readouterr().err


def test_help_shows_this_scripts_defaults_once(script, capsys):
    with pytest.raises(SystemExit):
        script.main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "report test accuracy at the best validation epoch as mean ± std over --runs seeds." \
        in text
    assert "epochs without val improvement (default: 100)" in text and "(default: off)" not in text
    for default in ("maximum number of epochs (default: 1000)", "learning rate (default: 0.005)",
                    "in [0, 1) (default: 0.6)", "heads of each hidden layer (default: 8)"):
        assert default in text


@pytest.mark.parametrize("argv, message", [
    (["--heads", "0"], "--heads: must be at least 1, got 0"),
    (["--output-heads", "-1"], "--output-heads: must be at least 1, got -1"),
    (["--patience", "0"], "--patience: must be at least 1, got 0"),
])
def test_bad_options_are_one_line_errors(script, capsys, argv, message):
    with pytest.raises(SystemExit) as exc:
        script.main(["--dataset", "CSBM", "--epochs", "1", *argv])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and message in err and "Traceback" not in err


def test_resume_refuses_other_heads(script, tmp_path):
    argv = ["--no-progress", "--dataset", "CSBM", "--epochs", "2", "--hidden", "4", "--heads",
            "2", "--out", str(tmp_path)]
    script.main(argv)
    with pytest.raises(CheckpointError, match="other settings: --heads 2 -> 3;"):
        script.main(argv + ["--resume", "--heads", "3"])
    # --save-attention only writes files after training: it may be added on resume
    script.main(argv + ["--resume", "--save-attention"])
    assert (tmp_path / "attention.pt").is_file()


def old_paper_gat(num_features, hidden_per_head, num_layers, out_channels, heads, output_heads,
                  dropout):
    """The script's model as it was built before ``GAT`` took PyG's signature: explicit
    GATConv layers of ``hidden_per_head`` units per head, dropout on every layer's input and
    on the attention, ELU between the layers."""
    from pyg_course.nn import GATConv

    convs, size = torch.nn.ModuleList(), num_features
    for _ in range(num_layers - 1):
        convs.append(GATConv(size, hidden_per_head, heads=heads, dropout=dropout))
        size = heads * hidden_per_head
    convs.append(GATConv(size, out_channels, heads=output_heads, concat=False, dropout=dropout))

    def forward(x, edge_index, training):
        from pyg_course.utils.sparse import sparse_dropout

        convs.train(training)
        for i, conv in enumerate(convs):
            x = conv(sparse_dropout(x, dropout, training), edge_index)
            if i < num_layers - 1:
                x = torch.nn.functional.elu(x)
        return x

    return convs, forward


@pytest.mark.parametrize("argv", [[], ["--hidden", "4", "--heads", "3", "--output-heads", "2",
                                       "--num-layers", "3", "--dropout", "0.3"]])
def test_model_is_the_paper_model_as_before(script, argv, check_same_model):
    """--hidden counts units per head: the script's model has the parameters, initial
    weights and (same seed) training and evaluation outputs of the explicit layer stack."""
    args = script.make_parser().parse_args(["--dataset", "CSBM", *argv])
    torch.manual_seed(0)
    convs, old_forward = old_paper_gat(12, args.hidden, args.num_layers, 3, args.heads,
                                       args.output_heads, args.dropout)
    torch.manual_seed(0)
    model = script.build_model(args, 12, 3)
    check_same_model(convs, old_forward, model, torch.rand(20, 12).to_sparse_csr())
