"""DeepGNN: 64 layers train without NaN for every remedy; the plain stack is the GCN."""

import pytest
import torch
import torch.nn.functional as F
from torch_geometric.utils import to_undirected

from pyg_course.metrics.smoothing import mad_gap
from pyg_course.nn.models import GCN, DeepGNN
from pyg_course.nn.models.deep_gnn import REMEDIES
from tests.helpers.dense import dense_adjacency, dense_gcn
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


def test_64_layer_repository_jknet_forward_backward_on_cora(cora):
    model = DeepGNN(cora.num_features, 16, 64, 7, jk="cat", jk_readout="conv", root_weight=True,
                    input_dropout=False, dropedge=0.5, dropedge_undirected=False).train()
    out = model(cora.x, cora.edge_index)
    F.cross_entropy(out[cora.train_mask], cora.y[cora.train_mask]).backward()
    assert out.shape == (cora.num_nodes, 7) and torch.isfinite(out).all()
    assert model.last_hidden.shape == (cora.num_nodes, 16 * 63)
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


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


def _sym_norm(A: torch.Tensor) -> torch.Tensor:
    """:math:`D^{-1/2}(A + I)D^{-1/2}`, :math:`D` the row sums of :math:`A + I` (the degree of
    the node that aggregates)."""
    A = A + torch.eye(A.size(0), dtype=A.dtype)
    d = A.sum(1).pow(-0.5)
    return d.view(-1, 1) * A * d.view(1, -1)


def test_jknet_with_conv_readout_and_root_weight_against_dense_formula():
    # The DropEdge repository's JKNet: depth - 1 hidden convolutions, each
    # relu(A H W + H W_root + b), and an output convolution over their concatenation.
    g = toy_graph("isolated")
    n = g.num_nodes
    x = torch.randn(n, 3, dtype=torch.float64)
    model = DeepGNN(3, 4, 4, 2, jk="cat", jk_readout="conv", root_weight=True).double().eval()
    A = _sym_norm(dense_adjacency(g.edge_index, n))

    def layer(i, h):
        conv = model.convs[i]
        return A @ h @ conv.lin.weight.T + conv.bias + h @ model.roots[i].weight.T

    hs, h = [], x
    for i in range(3):
        h = torch.relu(layer(i, h))
        hs.append(h)
    assert len(model.convs) == 4 and model.convs[-1].in_channels == 12
    torch.testing.assert_close(model(x, g.edge_index), layer(3, torch.cat(hs, 1)))
    torch.testing.assert_close(model.last_hidden, torch.cat(hs, 1))
    # The same without root weights is the plain GCN formula in every layer.
    plain = DeepGNN(3, 4, 3, 2, jk="max", jk_readout="conv").double().eval()
    h1 = torch.relu(dense_gcn(x, g.edge_index, plain.convs[0].lin.weight, plain.convs[0].bias))
    h2 = torch.relu(dense_gcn(h1, g.edge_index, plain.convs[1].lin.weight, plain.convs[1].bias))
    out = dense_gcn(torch.maximum(h1, h2), g.edge_index, plain.convs[2].lin.weight,
                    plain.convs[2].bias)
    torch.testing.assert_close(plain(x, g.edge_index), out)


def test_root_weight_on_the_plain_stack_and_sparse_and_lazy_input():
    g = toy_graph("path")
    n = g.num_nodes
    x = torch.randn(n, 3, dtype=torch.float64)
    model = DeepGNN(3, 4, 2, 2, root_weight=True).double().eval()
    A = _sym_norm(dense_adjacency(g.edge_index, n))
    c0, c1, r0, r1 = *model.convs, *model.roots
    h = torch.relu(A @ x @ c0.lin.weight.T + c0.bias + x @ r0.weight.T)
    ref = A @ h @ c1.lin.weight.T + c1.bias + h @ r1.weight.T
    torch.testing.assert_close(model(x, g.edge_index), ref)
    torch.testing.assert_close(model(x.to_sparse_csr(), g.edge_index), ref)
    lazy = DeepGNN(-1, 4, 2, 2, root_weight=True)
    assert lazy(x.float(), g.edge_index).shape == (n, 2)
    # The first layer's root weight is penalised with the first layer.
    first, rest = model.param_groups(5e-4, 0.0)
    assert {id(p) for p in first["params"]} == {id(p) for p in (*c0.parameters(), r0.weight)}
    assert len(first["params"]) + len(rest["params"]) == len(list(model.parameters()))


@pytest.mark.parametrize("sparse", [False, True])
def test_input_dropout_off_leaves_the_features_whole(sparse):
    # With dropout on, the 2-layer stack's hidden layer (the last conv's input, before its
    # dropout) sees the whole features only with input_dropout=False.
    g = toy_graph("star")
    x = torch.rand(g.num_nodes, 6) + 0.1
    x = x.to_sparse_csr() if sparse else x
    for input_dropout, same in ((False, True), (True, False)):
        torch.manual_seed(0)
        model = DeepGNN(6, 16, 2, 2, dropout=0.5, input_dropout=input_dropout)
        expected = model.embed(x, g.edge_index)
        model.train()(x, g.edge_index)
        assert torch.equal(model.last_hidden, expected) is same


def _training_adjacency(model, edge_index, n):
    """The adjacency of one training pass, dense, ``[target, source]``."""
    return model.train()._adjacency(edge_index, n, torch.float64).to_dense()


def test_dropedge_each_direction_on_its_own_renormalised():
    # dropedge_undirected=False keeps each directed entry with probability 1 - p; what is kept
    # is normalised as D^-1/2 (A_kept + I) D^-1/2 with the aggregating node's degree.
    edge_index = _ring_with_chords(200)
    n, m = 200, edge_index.size(1)
    A = dense_adjacency(edge_index, n)
    model = DeepGNN(3, 4, 2, 2, dropedge=0.3, dropedge_undirected=False)
    torch.manual_seed(0)
    kept, one_way = 0, 0
    for _ in range(20):
        adj = _training_adjacency(model, edge_index, n)
        A_kept = (adj > 0).double() - torch.eye(n, dtype=torch.float64)
        assert torch.all(A_kept <= A)  # only edges of the graph
        torch.testing.assert_close(adj, _sym_norm(A_kept))
        kept += int(A_kept.sum())
        one_way += int((A_kept != A_kept.T).sum())
    assert abs(kept / (20 * m) - 0.7) < 0.02
    assert abs(one_way / (20 * m) - 2 * 0.3 * 0.7) < 0.03  # each direction on its own
    # The default drops both directions together: the kept graph stays symmetric.
    undirected = DeepGNN(3, 4, 2, 2, dropedge=0.3)
    adj = _training_adjacency(undirected, edge_index, n)
    assert torch.equal(adj, adj.T) and (adj > 0).sum() < (A > 0).sum() + n


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
    (dict(jk="cat", jk_readout="gcn"), "jk_readout must be one of 'linear', 'conv', got 'gcn'"),
    (dict(jk_readout="conv"), "jk_readout needs jk"),
    (dict(gcnii=True, root_weight=True), "root_weight applies to the GCN family"),
])
def test_options_checked_at_construction(kwargs, message):
    with pytest.raises(ValueError, match=f"^DeepGNN: {message}"):
        DeepGNN(3, 4, 3, 2, **kwargs)


def test_pygcn_weight_init_draws_every_parameter_uniformly_by_fan_out():
    # Kipf's PyTorch GCN: weight and bias uniform in +-1/sqrt(out_channels).
    model = DeepGNN(500, 400, 3, 300, jk="cat", jk_readout="conv", root_weight=True,
                    weight_init="pygcn")
    for conv, root in zip(model.convs, model.roots):
        bound = conv.out_channels ** -0.5
        for w in (conv.lin.weight, conv.bias, root.weight):
            assert w.abs().max() <= bound
            assert w.std().item() == pytest.approx(bound / 3 ** 0.5, rel=0.05)
    assert model.convs[-1].in_channels == 800 and model.convs[-1].out_channels == 300
    glorot = DeepGNN(500, 400, 3, 300)
    assert torch.equal(glorot.convs[0].bias, torch.zeros(400))
    with pytest.raises(ValueError, match="^DeepGNN: weight_init must be one of 'glorot', 'pygcn'"):
        DeepGNN(3, 4, 3, 2, weight_init="kaiming")
    with pytest.raises(ValueError, match="^DeepGNN: weight_init='pygcn' needs"):
        DeepGNN(3, 4, 3, 2, gcnii=True, weight_init="pygcn")
    with pytest.raises(ValueError, match="^DeepGNN: weight_init='pygcn' needs"):
        DeepGNN(-1, 4, 3, 2, weight_init="pygcn")


def test_conv_readout_needs_two_layers():
    with pytest.raises(ValueError, match="^DeepGNN: num_layers must be at least 2"):
        DeepGNN(3, 4, 1, 2, jk="cat", jk_readout="conv")
    assert "jk_readout='conv'" in repr(DeepGNN(3, 4, 2, 2, jk="cat", jk_readout="conv"))


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
