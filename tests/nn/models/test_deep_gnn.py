"""DeepGNN: 64 layers train without NaN for every remedy; the plain stack is the GCN."""

import pytest
import torch
import torch.nn.functional as F
from torch_geometric.utils import to_undirected

from pyg_course.metrics.smoothing import mad_gap
from pyg_course.nn.models import GCN, DeepGNN
from pyg_course.nn.models.deep_gnn import REMEDIES
from tests.helpers.dense import dense_adjacency
from tests.helpers.graphs import toy_graph


@pytest.fixture(autouse=True)
def _one_thread():
    # 64 layers of small sparse products: one intra-op thread is several times faster on a
    # loaded 2-core runner (the threads of one op spin waiting for each other).
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.mark.parametrize("remedy", list(REMEDIES))
def test_64_layers_forward_backward_on_cora(cora, remedy):
    model = DeepGNN(cora.num_features, 16, 64, 7, **REMEDIES[remedy])
    model.train()
    out = model(cora.x, cora.edge_index)
    loss = F.cross_entropy(out[cora.train_mask], cora.y[cora.train_mask])
    loss.backward()
    assert out.shape == (cora.num_nodes, 7) and torch.isfinite(out).all()
    width = 16 * 64 if remedy.startswith("jk") else 16
    assert model.last_hidden.shape == (cora.num_nodes, width)
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    # The first layer receives gradient through 64 layers (GCNII, residual) or at least a
    # finite one (plain: it vanishes, which is the point of the experiment).
    first = model.lin_in if model.gcnii else model.convs[0].lin
    assert torch.isfinite(first.weight.grad).all()


def _ring_with_chords(n: int, seed: int = 0) -> torch.Tensor:
    """A ring of ``n`` nodes plus a random perfect matching: connected, not bipartite, with
    many pairs more than 8 hops apart, and a small mixing time (propagation converges fast)."""
    g = torch.Generator().manual_seed(seed)
    ring = torch.stack([torch.arange(n), (torch.arange(n) + 1) % n])
    chords = torch.randperm(n, generator=g).view(2, -1)
    return to_undirected(torch.cat([ring, chords], 1), num_nodes=n)


def test_plain_gcn_loses_its_mad_gap_with_depth():
    # Over-smoothing itself: on a well-mixing graph, every extra propagation shrinks the
    # difference between remote and neighbouring nodes' representations (MADGap) towards 0.
    edge_index = _ring_with_chords(600)
    x = torch.randn(600, 16, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    gaps = []
    for depth in (2, 8, 32, 64):
        torch.manual_seed(0)
        model = DeepGNN(16, 32, depth, 4, dropout=0.0).double()
        gaps.append(float(mad_gap(model.embed(x, edge_index), edge_index)))
    assert gaps[0] > 0.05
    assert all(deep < shallow for shallow, deep in zip(gaps, gaps[1:])), gaps
    assert gaps[-1] < 1e-3 * gaps[0]


def test_param_groups_penalise_the_first_layer_and_gcnii_dense_maps():
    plain = DeepGNN(3, 4, 5, 2)
    first, rest = plain.param_groups(5e-4, 0.0)
    assert {id(p) for p in first["params"]} == {id(p) for p in plain.convs[0].parameters()}
    assert first["weight_decay"] == 5e-4 and rest["weight_decay"] == 0.0
    assert len(first["params"]) + len(rest["params"]) == len(list(plain.parameters()))
    gcnii = DeepGNN(3, 4, 5, 2, gcnii=True)
    dense, convs = gcnii.param_groups(5e-4, 0.01)
    assert {id(p) for p in convs["params"]} == {id(p) for p in gcnii.convs.parameters()}
    assert dense["weight_decay"] == 5e-4 and convs["weight_decay"] == 0.01
    assert len(dense["params"]) + len(convs["params"]) == len(list(gcnii.parameters()))


def test_plain_stack_equals_gcn_model():
    g = toy_graph("isolated")
    x = torch.randn(g.num_nodes, 4)
    deep = DeepGNN(4, 8, 3, 2, dropout=0.0).eval()
    gcn = GCN(4, 8, 3, 2, dropout=0.0).eval()
    gcn.load_state_dict(deep.state_dict(), strict=True)
    torch.testing.assert_close(deep(x, g.edge_index), gcn(x, g.edge_index))
    # The representation measured is the input of the last layer.
    assert deep.last_hidden.shape == (g.num_nodes, 8)
    # A torch.sparse feature matrix gives the same output.
    torch.testing.assert_close(deep(x.to_sparse_csr(), g.edge_index), gcn(x, g.edge_index))


def test_gcnii_against_dense_formula():
    g = toy_graph("path")
    n = g.num_nodes
    x = torch.randn(n, 3, dtype=torch.float64)
    model = DeepGNN(3, 4, 2, 2, dropout=0.0, gcnii=True, alpha=0.1, theta=0.5).double().eval()
    A = dense_adjacency(g.edge_index, n) + torch.eye(n, dtype=torch.float64)
    d = A.sum(1).pow(-0.5)
    A = d.view(-1, 1) * A * d.view(1, -1)
    h = h0 = torch.relu(model.lin_in(x))
    for ell, conv in enumerate(model.convs, start=1):
        beta = torch.log(torch.tensor(0.5 / ell + 1.0, dtype=torch.float64))
        s = 0.9 * (A @ h) + 0.1 * h0
        h = torch.relu((1 - beta) * s + beta * s @ conv.weight1)
    torch.testing.assert_close(model(x, g.edge_index), model.lin_out(h))


def test_dropedge_only_in_training_and_jk_shapes():
    g = toy_graph("star")
    x = torch.randn(g.num_nodes, 3)
    model = DeepGNN(3, 4, 4, 2, dropout=0.0, dropedge=0.9)
    ref = DeepGNN(3, 4, 4, 2, dropout=0.0)
    ref.load_state_dict(model.state_dict())
    model.eval(), ref.eval()
    torch.testing.assert_close(model(x, g.edge_index), ref(x, g.edge_index))
    model.train()
    outs = {tuple(model(x, g.edge_index).flatten().tolist()) for _ in range(8)}
    assert len(outs) > 1  # a different graph each training pass
    for mode, width in (("cat", 12), ("max", 4)):
        m = DeepGNN(3, 4, 3, 2, jk=mode)
        assert m(x, g.edge_index).shape == (g.num_nodes, 2)
        assert m.last_hidden.shape == (g.num_nodes, width)


def test_bad_arguments():
    with pytest.raises(ValueError, match="num_layers"):
        DeepGNN(3, 4, 1, 2)
    with pytest.raises(ValueError, match="cached"):
        DeepGNN(3, 4, 4, 2, dropedge=0.5, cached=True)
    with pytest.raises(ValueError, match="gcnii"):
        DeepGNN(3, 4, 4, 2, gcnii=True, residual=True)
    with pytest.raises(ValueError, match="jk"):
        DeepGNN(3, 4, 4, 2, jk="sum")
    assert "gcnii" in repr(DeepGNN(3, 4, 4, 2, gcnii=True))


@pytest.mark.parametrize("kwargs, message", [
    (dict(theta=-1), "theta must be > 0, got -1"),
    (dict(theta=0.0), "theta must be > 0"),
    (dict(alpha=5), r"alpha must lie in \[0, 1\], got 5"),
    (dict(alpha=-0.1), r"alpha must lie in \[0, 1\]"),
    (dict(dropout=1.5), r"dropout must lie in \[0, 1\), got 1.5"),
    (dict(dropout=1.0), r"dropout must lie in \[0, 1\)"),
    (dict(dropedge=1.0), r"dropedge must lie in \[0, 1\)"),
    (dict(pairnorm=True, pairnorm_scale=0.0), "pairnorm_scale must be > 0"),
    (dict(jk="CAT"), "jk must be None or one of 'cat', 'max', 'lstm', got 'CAT'"),
    (dict(jk=""), "jk must be None or one of"),
])
def test_options_checked_at_construction(kwargs, message):
    with pytest.raises(ValueError, match=f"^DeepGNN: {message}"):
        DeepGNN(3, 4, 3, 2, **kwargs)


def test_option_boundaries_accepted():
    for kwargs in (dict(alpha=0.0), dict(alpha=1.0), dict(theta=1e-3), dict(dropout=0.0)):
        DeepGNN(3, 4, 3, 2, gcnii=True, **kwargs)


def test_out_channels_required():
    # Unchecked, None would fail inside torch.empty, 0 channels would kill the interpreter
    # (SIGFPE) in forward, and hidden_channels=0 with gcnii would divide by zero.
    with pytest.raises(TypeError, match="DeepGNN: out_channels .* is required, got None"):
        DeepGNN(3, 4, 3, None)
    with pytest.raises(ValueError, match="DeepGNN: out_channels must be at least 1"):
        DeepGNN(3, 4, 3, 0)
    with pytest.raises(ValueError, match="DeepGNN: hidden_channels must be at least 1"):
        DeepGNN(3, 0, 3, 2, gcnii=True)


def test_embed_restores_mode_after_an_error():
    model = DeepGNN(3, 4, 3, 2).train()
    with pytest.raises(IndexError):
        model.embed(torch.randn(4, 3), torch.tensor([[0, 9], [1, 2]]))  # node 9 of 4
    assert model.training
