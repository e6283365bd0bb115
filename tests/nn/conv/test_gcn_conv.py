import pytest
import torch
import torch_geometric.nn as pyg_nn
from torch_sparse import SparseTensor

from pyg_course.nn import GCNConv
from pyg_course.nn.conv.gcn_conv import gcn_norm
from tests.helpers.dense import dense_gcn
from tests.helpers.graphs import TOY_GRAPHS


def _conv(in_c, out_c, **kw):
    conv = GCNConv(in_c, out_c, **kw).double()
    with torch.no_grad():  # a non-zero bias, so that a dropped bias is caught
        conv.bias.uniform_(-1, 1)
    return conv


@pytest.mark.parametrize("name", list(TOY_GRAPHS))
@pytest.mark.parametrize("improved", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
def test_matches_dense_formula(name, improved, weighted):
    g = TOY_GRAPHS[name]
    x = torch.randn(g.num_nodes, 3, dtype=torch.float64)
    ew = torch.rand(g.edge_index.size(1), dtype=torch.float64) + 0.1 if weighted else None
    conv = _conv(3, 4, improved=improved)
    out = conv(x, g.edge_index, ew)
    ref = dense_gcn(x, g.edge_index, conv.lin.weight, conv.bias, ew, improved=improved)
    torch.testing.assert_close(out, ref, rtol=1e-10, atol=1e-10)


def test_dense_formula_by_hand():
    # Path 0-1-2 with self-loops: degrees 2, 3, 2.
    ei = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
    x = torch.eye(3, dtype=torch.float64)
    conv = GCNConv(3, 3, bias=False).double()
    with torch.no_grad():
        conv.lin.weight.copy_(torch.eye(3))
    s2, s6 = 1 / 2, 1 / 6**0.5
    expected = torch.tensor([[s2, s6, 0], [s6, 1 / 3, s6], [0, s6, s2]], dtype=torch.float64)
    torch.testing.assert_close(conv(x, ei), expected)


@pytest.mark.parametrize("options", [{}, {"add_self_loops": False}, {"normalize": False},
                                     {"normalize": False, "add_self_loops": False}])
def test_options_match_dense_formula(options):
    g = TOY_GRAPHS["duplicates"]
    x = torch.randn(g.num_nodes, 3, dtype=torch.float64)
    conv = _conv(3, 2, **options)
    # As in PyG, add_self_loops defaults to normalize: no self-loops without normalisation.
    options = {"add_self_loops": options.get("normalize", True), **options}
    ref = dense_gcn(x, g.edge_index, conv.lin.weight, conv.bias, **options)
    torch.testing.assert_close(conv(x, g.edge_index), ref)


@pytest.mark.parametrize("name", ["path", "isolated", "directed", "star"])
@pytest.mark.parametrize("improved", [False, True])
def test_parity_with_pyg(name, improved):
    g = TOY_GRAPHS[name]
    x = torch.randn(g.num_nodes, 5)
    ew = torch.rand(g.edge_index.size(1)) + 0.5
    ours = GCNConv(5, 7, improved=improved)
    theirs = pyg_nn.GCNConv(5, 7, improved=improved)
    with torch.no_grad():
        ours.bias.uniform_(-1, 1)
    theirs.load_state_dict(ours.state_dict(), strict=True)
    ours.load_state_dict(theirs.state_dict(), strict=True)
    # PyG 2.8 ignores improved=True when no edge_weight is given (add_remaining_self_loops
    # drops the fill value without edge attributes): explicit unit weights show its intent.
    ones = torch.ones(g.edge_index.size(1))
    torch.testing.assert_close(ours(x, g.edge_index), theirs(x, g.edge_index, ones),
                               atol=1e-6, rtol=0)
    torch.testing.assert_close(ours(x, g.edge_index, ew), theirs(x, g.edge_index, ew),
                               atol=1e-6, rtol=0)
    if not improved:
        torch.testing.assert_close(ours(x, g.edge_index), theirs(x, g.edge_index),
                                   atol=1e-6, rtol=0)


def test_parity_with_pyg_on_cora(cora):
    ours, theirs = GCNConv(cora.num_features, 16), pyg_nn.GCNConv(cora.num_features, 16)
    theirs.load_state_dict(ours.state_dict(), strict=True)
    torch.testing.assert_close(ours(cora.x, cora.edge_index), theirs(cora.x, cora.edge_index),
                               atol=1e-6, rtol=0)


@pytest.mark.parametrize("name", list(TOY_GRAPHS))
def test_input_forms_agree(name):
    g = TOY_GRAPHS[name]
    n = g.num_nodes
    x = torch.randn(n, 3, dtype=torch.float64)
    ew = torch.rand(g.edge_index.size(1), dtype=torch.float64) + 0.1
    conv = _conv(3, 4)
    ref = conv(x, g.edge_index, ew)
    src, dst = g.edge_index
    # On graphs with self-loops the sparse forms differ as PyG's do (the SparseTensor diagonal
    # is replaced, the torch.sparse one added to): test_gcn_conv_pyg.py checks those.
    if not bool((src == dst).any()):
        adj_t = SparseTensor(row=dst, col=src, value=ew, sparse_sizes=(n, n))
        torch.testing.assert_close(conv(x, adj_t), ref)
        coo = torch.sparse_coo_tensor(torch.stack([dst, src]), ew, (n, n))
        torch.testing.assert_close(conv(x, coo), ref)
        torch.testing.assert_close(conv(x, coo.to_sparse_csr()), ref)
    # A sparse feature matrix gives the same result as the dense one.
    torch.testing.assert_close(conv(x.to_sparse(), g.edge_index, ew), ref)
    torch.testing.assert_close(conv(x.to_sparse_csr(), g.edge_index, ew), ref)


def test_edge_permutation_changes_nothing():
    g = TOY_GRAPHS["duplicates"]
    x = torch.randn(g.num_nodes, 3, dtype=torch.float64)
    ew = torch.rand(g.edge_index.size(1), dtype=torch.float64)
    conv = _conv(3, 4)
    perm = torch.randperm(g.edge_index.size(1))
    torch.testing.assert_close(conv(x, g.edge_index[:, perm], ew[perm]), conv(x, g.edge_index, ew))


def test_fused_and_unfused_paths_agree():
    g = TOY_GRAPHS["self_loops"]
    x = torch.randn(g.num_nodes, 3, dtype=torch.float64)
    plain, cached = _conv(3, 4), _conv(3, 4, cached=True)
    cached.load_state_dict(plain.state_dict())
    torch.testing.assert_close(cached(x, g.edge_index), plain(x, g.edge_index))


def test_gradcheck():
    g = TOY_GRAPHS["duplicates"]
    x = torch.randn(g.num_nodes, 3, dtype=torch.float64, requires_grad=True)
    ew = (torch.rand(g.edge_index.size(1), dtype=torch.float64) + 0.1).requires_grad_()
    conv = _conv(3, 2)
    assert torch.autograd.gradcheck(lambda x, w: conv(x, g.edge_index, w), (x, ew))
    cached = _conv(3, 2, cached=True)  # the fused sparse path, gradient w.r.t. x
    assert torch.autograd.gradcheck(lambda x: cached(x, g.edge_index), (x,))
    params = (conv.lin.weight, conv.bias)
    assert torch.autograd.gradcheck(
        lambda w, b: torch.nn.functional.linear(x.detach(), w) + b, params)


def test_cached_reuses_normalisation(monkeypatch):
    import pyg_course.nn.conv.gcn_conv as mod

    calls = []
    original = mod._normalize_edges
    monkeypatch.setattr(mod, "_normalize_edges",
                        lambda *a, **k: calls.append(1) or original(*a, **k))
    g = TOY_GRAPHS["path"]
    x = torch.randn(g.num_nodes, 3)
    conv = GCNConv(3, 2, cached=True)
    first = conv(x, g.edge_index)
    # A different edge_index is ignored once cached: the normalisation is not recomputed.
    torch.testing.assert_close(conv(x, g.edge_index.flip(1)), first)
    assert len(calls) == 1
    conv.reset_parameters()
    conv(x, g.edge_index)
    assert len(calls) == 2
    with pytest.raises(ValueError, match="built for 4 nodes"):
        conv(torch.randn(6, 3), g.edge_index)


def test_gcn_norm_rejects_negative_degree():
    ei = torch.tensor([[0, 1], [1, 0]])
    with pytest.raises(ValueError, match="negative weighted degree"):
        gcn_norm(ei, torch.tensor([-5.0, 1.0]), 2)


@pytest.mark.parametrize("edge_index, error, match", [
    (torch.tensor([0, 1, 2]), ValueError, r"shape \(2, num_edges\)"),
    (torch.tensor([[0, 1, 2], [1, 2, 0], [0, 0, 0]]), ValueError, r"shape \(2, num_edges\)"),
    (torch.tensor([[0.0, 1.0], [1.0, 0.0]]), TypeError, "torch.long"),
    (torch.tensor([[0, 1], [1, 4]]), IndexError, "target node 4 but there are only 4"),
    (torch.tensor([[0, 7], [1, 0]]), IndexError, "source node 7"),
    (torch.tensor([[0, -1], [1, 0]]), IndexError, "negative node index"),
])
def test_bad_edge_index(edge_index, error, match):
    with pytest.raises(error, match=match):
        GCNConv(3, 2)(torch.randn(4, 3), edge_index)


def test_bad_edge_weight_and_features():
    ei = torch.tensor([[0, 1], [1, 0]])
    with pytest.raises(ValueError, match=r"edge_weight must have shape \(2,\)"):
        GCNConv(3, 2)(torch.randn(2, 3), ei, torch.ones(3))
    with pytest.raises(ValueError, match="expected 3 input channels"):
        GCNConv(3, 2)(torch.randn(2, 4), ei)
    with pytest.raises(TypeError, match="floating point"):
        GCNConv(3, 2)(torch.ones(2, 3, dtype=torch.long), ei)
    with pytest.raises(ValueError, match="bipartite"):
        GCNConv(3, 2)((torch.randn(2, 3), torch.randn(2, 3)), ei)


def test_repr_and_state_dict_names():
    conv = GCNConv(16, 32, cached=True)
    assert repr(conv) == "GCNConv(16, 32, cached=True)"
    assert set(conv.state_dict()) == set(pyg_nn.GCNConv(16, 32).state_dict()) == {"lin.weight",
                                                                                  "bias"}


def test_fused_adjacency_matmul_and_its_gradient():
    from pyg_course.nn.conv.gcn_conv import _CSRMatmul, fused_adjacency
    from tests.helpers.dense import dense_adjacency

    g = TOY_GRAPHS["duplicates"]
    w = torch.rand(g.edge_index.size(1), dtype=torch.float64)
    adj_t = fused_adjacency(g.edge_index, w, g.num_nodes)
    dense = dense_adjacency(g.edge_index, g.num_nodes, w)
    torch.testing.assert_close(adj_t.to_dense(), dense)
    torch.testing.assert_close(adj_t.transposed.to_dense(), dense.t())
    x = torch.randn(g.num_nodes, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: _CSRMatmul.apply(x, adj_t, adj_t.transposed), (x,))


def test_learnable_sparse_adjacency_values_get_gradients():
    g = TOY_GRAPHS["path"]
    n = g.num_nodes
    x = torch.randn(n, 3, dtype=torch.float64)
    value = (torch.rand(g.edge_index.size(1), dtype=torch.float64) + 0.5).requires_grad_()
    conv = _conv(3, 2)

    def f(value):
        adj_t = SparseTensor(row=g.edge_index[1], col=g.edge_index[0], value=value,
                             sparse_sizes=(n, n))
        return conv(x, adj_t)

    torch.testing.assert_close(f(value), conv(x, g.edge_index, value))
    assert torch.autograd.gradcheck(f, (value,))
