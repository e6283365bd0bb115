"""scripts/dropedge_recipe.py, the plain-torch reference of the DropEdge repository's deep GCN
and JKNet: its layers, adjacency and JKNet against the dense formulas in float64, its edge
dropping, and short seeded runs."""

import csv
from pathlib import Path

import pytest
import torch

from tests.helpers.scripts import load_script

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "dropedge_recipe.py"


@pytest.fixture(scope="module")
def recipe():
    return load_script(SCRIPT)


#: A 7-node graph with asymmetric entries (so that the adjacency's orientation is checked).
GRAPH = (7, torch.tensor([[0, 1, 1, 2, 3, 4, 5, 0], [1, 0, 2, 1, 4, 3, 6, 3]]))


def _dense_adj(ei, n):
    """:math:`\\hat{D}^{-1/2}(A + I)\\hat{D}^{-1/2}` with ``A[i, j] = 1`` for an entry
    ``i -> j`` and row sums as degrees (the repository's convention; the test graph is not
    symmetric, so the orientation is checked)."""
    A = torch.zeros(n, n, dtype=torch.float64)
    A[ei[0], ei[1]] = 1.0
    A_hat = A + torch.eye(n, dtype=torch.float64)
    d = A_hat.sum(1).pow(-0.5)
    return d[:, None] * A_hat * d[None, :]


def test_layer_is_the_dense_formula(recipe):
    torch.manual_seed(0)
    n, ei = GRAPH
    ref_adj = _dense_adj(ei, n)
    adj = recipe.normalized_adjacency(ei, n)
    assert torch.allclose(adj.to_dense().double(), ref_adj, atol=1e-6)
    conv = recipe.GraphConvolution(5, 3)
    bound = 1 / 3 ** 0.5
    assert conv.weight.abs().max() <= bound and conv.bias.abs().max() <= bound
    assert conv.bias.abs().max() > 0  # the repository draws its biases too
    h = torch.randn(n, 5)
    ref = ref_adj @ h.double() @ conv.weight.double() + conv.bias.double()
    assert torch.allclose(conv(h, adj).double(), ref, atol=1e-5)


def test_withloop_layer_and_jknet_are_the_dense_formulas(recipe):
    torch.manual_seed(0)
    n, ei = GRAPH
    ref_adj, adj = _dense_adj(ei, n), recipe.normalized_adjacency(ei, n)
    h = torch.randn(n, 5)
    conv = recipe.GraphConvolution(5, 3, withloop=True)
    assert conv.self_weight.abs().max() <= 1 / 3 ** 0.5
    W, S, b = conv.weight.double(), conv.self_weight.double(), conv.bias.double()
    ref = ref_adj @ h.double() @ W + h.double() @ S + b
    assert torch.allclose(conv(h, adj).double(), ref, atol=1e-5)

    # JKNet of depth 4: three convolutions 5 -> 6 -> 6 -> 6, each on the previous output, and
    # an output convolution over the concatenation of the three outputs (18 -> 3 classes).
    model = recipe.RecipeJKNet(5, 6, 3, depth=4, dropout=0.5, withloop=True).eval()
    assert [c.weight.shape for c in model.convs] == [(5, 6), (6, 6), (6, 6)]
    assert model.out.weight.shape == (18, 3)
    hs, x = [], h.double()
    for c in model.convs:
        x = torch.relu(ref_adj @ x @ c.weight.double() + x @ c.self_weight.double()
                       + c.bias.double())
        hs.append(x)
    H = torch.cat(hs, dim=1)
    o = model.out
    logits = ref_adj @ H @ o.weight.double() + H @ o.self_weight.double() + o.bias.double()
    with torch.no_grad():
        got = model(h, adj).double()
    assert torch.allclose(got, torch.log_softmax(logits, dim=1), atol=1e-5)
    plain = recipe.RecipeJKNet(5, 6, 3, depth=4, dropout=0.5)
    assert all(c.self_weight is None for c in [*plain.convs, plain.out])


def test_drop_entries_keeps_a_uniform_subset(recipe):
    ei = torch.stack([torch.arange(100), torch.arange(100).roll(1)])
    g = torch.Generator().manual_seed(0)
    kept = recipe.drop_entries(ei, 0.4, g)
    assert kept.size(1) == 40
    assert {tuple(e) for e in ei.t().tolist()} >= {tuple(e) for e in kept.t().tolist()}
    assert len({tuple(e) for e in kept.t().tolist()}) == 40  # without replacement
    counts = torch.zeros(100)
    for _ in range(400):
        counts[recipe.drop_entries(ei, 0.4, g)[0]] += 1
    assert (counts / 400 - 0.4).abs().max() < 0.12  # each entry kept with probability 0.4


@pytest.mark.parametrize("extra", [[], ["--dropedge"], ["--bn", "--residual"]])
def test_short_seeded_run(recipe, cora, tmp_path, extra):
    out = tmp_path / "seeds.csv"
    argv = ["--dataset", "cora", "--depth", "4", "--epochs", "3", "--seeds", "0", "1",
            "--no-progress", *extra]
    rows = recipe.main(argv + ["--out", str(out)])
    again = recipe.main(argv)
    assert [r["test_acc_repo"] for r in rows] == [r["test_acc_repo"] for r in again]
    with open(out) as f:
        written = list(csv.DictReader(f))
    assert [int(r["seed"]) for r in written] == [0, 1]
    assert all(0 <= float(r["test_acc_val_acc"]) <= 100 for r in written)


def test_jknet_short_seeded_run_with_the_citeseer_script(recipe, capsys):
    argv = ["--dataset", "citeseer", "--depth", "4", "--epochs", "3", "--seeds", "0",
            "--no-progress", "--jknet", "--dropedge"]
    rows = recipe.main(argv)
    assert '"lr": 0.006' in capsys.readouterr().out  # citeseer_JKNet.sh's settings
    assert rows[0]["test_acc_repo"] == recipe.main(argv)[0]["test_acc_repo"]


@pytest.mark.parametrize("argv, message", [
    (["--jknet", "--bn"], "--jknet is its own architecture"),
    (["--jknet", "--dataset", "cora"], "the JKNet script's settings are known for CiteSeer"),
])
def test_jknet_bad_combinations_are_errors(recipe, capsys, argv, message):
    with pytest.raises(SystemExit):
        recipe.main(argv)
    assert message in capsys.readouterr().err


def test_bad_depth_is_an_error(recipe, capsys):
    with pytest.raises(SystemExit):
        recipe.main(["--depth", "1"])
    assert "--depth must be at least 2" in capsys.readouterr().err


def _symmetric_inputs(recipe):
    """:data:`GRAPH` with both directions of every entry, random float64 features of size 5,
    and the repository's normalised adjacency of that graph."""
    n, ei = GRAPH
    ei = torch.cat([ei, ei.flip(0)], 1).unique(dim=1)
    x = torch.rand(n, 5, dtype=torch.float64)
    return ei, x, recipe.normalized_adjacency(ei, n).to(torch.float64)


@pytest.mark.parametrize("depth", [2, 5])
def test_deep_gnn_with_the_repository_jknet_options_is_its_jknet(recipe, depth):
    # Same weights, same outputs: the package's DeepGNN built as the repository's JKNet
    # (output convolution over the concatenation, root weights, no input dropout) computes
    # what the plain-torch JKNet computes, on a symmetric graph.
    from pyg_course.nn.models import DeepGNN

    torch.manual_seed(0)
    ref = recipe.RecipeJKNet(5, 4, 3, depth, dropout=0.5, withloop=True).double().eval()
    ours = DeepGNN(5, 4, depth, 3, jk="cat", jk_readout="conv", root_weight=True,
                   input_dropout=False, weight_init="pygcn").double().eval()
    assert len(ours.convs) == len(ref.convs) + 1
    with torch.no_grad():
        for conv, root, theirs in zip(ours.convs, ours.roots, [*ref.convs, ref.out]):
            conv.lin.weight.copy_(theirs.weight.T)
            root.weight.copy_(theirs.self_weight.T)
            conv.bias.copy_(theirs.bias)
    ei, x, adj = _symmetric_inputs(recipe)
    torch.testing.assert_close(torch.log_softmax(ours(x, ei), 1), ref(x, adj))


@pytest.mark.parametrize("depth", [2, 5])
def test_deep_gnn_with_the_repository_gcn_options_is_its_gcn(recipe, depth):
    # Same weights, same outputs: DeepGNN without input dropout and with the repository's
    # initialisation computes the repository's GCN (mutigcn), in evaluation and, with the same
    # random stream, in training (dropout after every hidden ReLU, none on the input).
    from pyg_course.nn.models import DeepGNN

    torch.manual_seed(0)
    ref = recipe.RecipeGCN(5, 4, 3, depth, dropout=0.5).double()
    ours = DeepGNN(5, 4, depth, 3, dropout=0.5, input_dropout=False,
                   weight_init="pygcn").double()
    assert len(ours.convs) == len(ref.convs) and not ours.roots
    with torch.no_grad():
        for conv, theirs in zip(ours.convs, ref.convs):
            conv.lin.weight.copy_(theirs.weight.T)
            conv.bias.copy_(theirs.bias)
    ei, x, adj = _symmetric_inputs(recipe)
    for train in (False, True):
        ours.train(train)
        ref.train(train)
        torch.manual_seed(1)
        expected = ref(x, adj)
        torch.manual_seed(1)
        torch.testing.assert_close(torch.log_softmax(ours(x, ei), 1), expected)
