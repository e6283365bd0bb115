"""SAGEConv: dense float64 references for every aggregator, parity with PyG, input forms,
gradcheck and clear errors."""

import itertools

import pytest
import torch
from torch_geometric.nn import SAGEConv as PyGSAGEConv
from torch_sparse import SparseTensor

from pyg_course.nn import SAGEConv

# 7 nodes: duplicate edge 0->1 (twice), self-loop 2->2, directed edges, nodes 5 and 6 isolated
# (6 has an outgoing edge only, so it is isolated as a target).
EDGES = torch.tensor([[0, 0, 1, 2, 3, 4, 2, 6, 3],
                      [1, 1, 0, 2, 2, 2, 1, 4, 4]])
N = 7


def dense_adj(edge_index, num_dst, num_src):
    """A[i, j] = number of edges j -> i (duplicates count twice)."""
    a = torch.zeros(num_dst, num_src, dtype=torch.float64)
    a.index_put_((edge_index[1], edge_index[0]), torch.ones(edge_index.size(1),
                                                            dtype=torch.float64), accumulate=True)
    return a


def dense_reference(conv, x_src, x_dst, edge_index):
    """The layer's formula written densely in float64."""
    x_dst_raw = x_dst
    a = dense_adj(edge_index, x_dst.size(0), x_src.size(0))
    deg = a.sum(1, keepdim=True)
    if conv.project:  # pool always projects
        x_src = torch.relu(x_src @ conv.lin.weight.t() + conv.lin.bias)
        x_dst = torch.relu(x_dst @ conv.lin.weight.t() + conv.lin.bias) if conv.aggr == "gcn" \
            else x_dst
    if conv.aggr == "mean":
        agg = (a @ x_src) / deg.clamp(min=1)
    elif conv.aggr == "gcn":
        agg = (a @ x_src + x_dst) / (deg + 1)
    elif conv.aggr in ("max", "pool"):
        h = x_src
        masked = torch.where(a.unsqueeze(-1) > 0, h.unsqueeze(0), torch.tensor(float("-inf"),
                                                                               dtype=h.dtype))
        agg = masked.max(1).values
        agg = torch.where(torch.isinf(agg), torch.zeros_like(agg), agg)
    else:  # lstm, evaluation order: ascending source index
        agg = torch.zeros(x_dst.size(0), conv.lstm.hidden_size, dtype=torch.float64)
        for i in range(x_dst.size(0)):
            src = torch.sort(edge_index[0][edge_index[1] == i]).values
            if src.numel():
                _, (h, _) = conv.lstm(x_src[src].unsqueeze(0))
                agg[i] = h[-1, 0]
    out = agg @ conv.lin_l.weight.t()
    if conv.lin_l.bias is not None:
        out = out + conv.lin_l.bias
    if conv.root_weight:
        out = out + x_dst_raw @ conv.lin_r.weight.t()
    if conv.normalize:
        out = out / out.norm(dim=-1, keepdim=True).clamp(min=1e-12)
    return out


@pytest.mark.parametrize("aggr", ["mean", "max", "gcn", "pool", "lstm"])
@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize("out_channels", [3, 8])  # 3 < 5: mean/gcn transform before aggregating
def test_dense_reference(aggr, normalize, out_channels):
    conv = SAGEConv(5, out_channels, aggr=aggr, normalize=normalize).double().eval()
    x = torch.randn(N, 5, dtype=torch.float64)
    out = conv(x, EDGES)
    ref = dense_reference(conv, x, x, EDGES)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, ref, atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize("aggr", ["mean", "max", "gcn", "lstm"])
@pytest.mark.parametrize("out_channels", [3, 8])
def test_dense_reference_project(aggr, out_channels):
    conv = SAGEConv(5, out_channels, aggr=aggr, project=True, aggr_channels=6).double().eval()
    assert conv.lin.weight.shape == (6, 5)
    x = torch.randn(N, 5, dtype=torch.float64)
    torch.testing.assert_close(conv(x, EDGES), dense_reference(conv, x, x, EDGES), atol=1e-10,
                               rtol=1e-10)
    x_dst = torch.randn(3, 5, dtype=torch.float64)
    ei = EDGES[:, EDGES[1] < 3]
    torch.testing.assert_close(conv((x, x_dst), ei), dense_reference(conv, x, x_dst, ei),
                               atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize("aggr", ["mean", "max", "gcn", "pool", "lstm"])
def test_dense_reference_bipartite(aggr):
    f_dst = 5 if aggr == "gcn" else 2
    conv = SAGEConv((5, f_dst), 4, aggr=aggr).double().eval()
    x_src = torch.randn(6, 5, dtype=torch.float64)
    x_dst = torch.randn(3, f_dst, dtype=torch.float64)
    ei = torch.tensor([[0, 5, 5, 2, 3, 4], [0, 0, 1, 1, 1, 0]])  # target 2 has no neighbours
    out = conv((x_src, x_dst), ei)
    assert out.shape == (3, 4)
    torch.testing.assert_close(out, dense_reference(conv, x_src, x_dst, ei), atol=1e-10,
                               rtol=1e-10)


@pytest.mark.parametrize("aggr", ["mean", "max", "gcn", "pool", "lstm"])
def test_isolated_nodes_get_zero_aggregate(aggr):
    conv = SAGEConv(4, 3, aggr=aggr).eval()
    x = torch.randn(5, 4)
    empty = torch.empty(2, 0, dtype=torch.long)
    out = conv(x, empty)
    assert torch.isfinite(out).all()
    expected = conv.lin_l(torch.zeros(5, conv.lin_l.in_channels))
    if aggr == "gcn":
        expected = conv.lin_l(x)  # the mean over {i} alone is x_i
    else:
        expected = expected + conv.lin_r(x)
    torch.testing.assert_close(out, expected)


@pytest.mark.parametrize("aggr", ["mean", "max", "gcn", "pool", "lstm"])
def test_input_forms_and_edge_order_agree(aggr):
    conv = SAGEConv(5, 3, aggr=aggr).eval()
    x = torch.randn(N, 5)
    out = conv(x, EDGES)
    adj = SparseTensor(row=EDGES[1], col=EDGES[0], sparse_sizes=(N, N))
    perm = torch.randperm(EDGES.size(1))
    # The duplicate edge becomes one entry of value 2 in a coalesced torch.sparse tensor (values
    # are ignored), so compare torch.sparse on the graph without duplicates.
    simple = EDGES[:, 1:]
    coo = torch.sparse_coo_tensor(simple.flip(0), torch.ones(simple.size(1)), (N, N))
    torch.testing.assert_close(conv(x, adj), out, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(conv(x, EDGES[:, perm]), out, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(conv(x, coo), conv(x, simple), atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(conv(x, coo.to_sparse_csr()), conv(x, simple), atol=1e-6,
                               rtol=1e-6)


@pytest.mark.parametrize("aggr", ["mean", "max", "gcn", "pool"])
def test_bipartite_sparse_adjacency(aggr):
    conv = SAGEConv((4, 4), 3, aggr=aggr)
    x_src, x_dst = torch.randn(6, 4), torch.randn(3, 4)
    ei = torch.tensor([[0, 5, 5, 2, 3], [0, 0, 1, 1, 1]])
    adj = SparseTensor(row=ei[1], col=ei[0], sparse_sizes=(3, 6))
    torch.testing.assert_close(conv((x_src, x_dst), adj), conv((x_src, x_dst), ei))


@pytest.mark.parametrize("ours,theirs", [
    (dict(aggr="mean"), dict(aggr="mean")),
    (dict(aggr="pool"), dict(aggr="max", project=True)),
    (dict(aggr="mean", normalize=True, bias=False), dict(aggr="mean", normalize=True,
                                                          bias=False)),
    (dict(aggr="mean", root_weight=False), dict(aggr="mean", root_weight=False)),
])
def test_pyg_parity(ours, theirs):
    pyg = PyGSAGEConv(8, 6, **theirs)
    conv = SAGEConv(8, 6, **ours)
    conv.load_state_dict(pyg.state_dict(), strict=True)
    x = torch.randn(N, 8)
    torch.testing.assert_close(conv(x, EDGES), pyg(x, EDGES), atol=1e-6, rtol=1e-6)
    adj = SparseTensor(row=EDGES[1], col=EDGES[0], sparse_sizes=(N, N))
    torch.testing.assert_close(conv(x, adj), pyg(x, adj), atol=1e-6, rtol=1e-6)
    # bipartite, as in a NeighborLoader mini-batch
    x_dst = x[:3]
    ei = EDGES[:, EDGES[1] < 3]
    torch.testing.assert_close(conv((x, x_dst), ei), pyg((x, x_dst), ei), atol=1e-6, rtol=1e-6)


def test_pyg_parity_on_cora_scale_graph():
    pyg = PyGSAGEConv(16, 8, aggr="max", project=True)
    conv = SAGEConv(16, 8, aggr="pool")
    conv.load_state_dict(pyg.state_dict(), strict=True)
    ei = torch.randint(0, 300, (2, 3000))
    x = torch.randn(300, 16)
    torch.testing.assert_close(conv(x, ei), pyg(x, ei), atol=1e-6, rtol=1e-6)


def _lstm_over(conv, seq):
    _, (h, _) = conv.lstm(seq.unsqueeze(0))
    return h[-1, 0]


def test_lstm_eval_order_invariant_and_train_order_random():
    conv = SAGEConv(4, 3, aggr="lstm", root_weight=False, bias=False).double()
    x = torch.randn(5, 4, dtype=torch.float64)
    ei = torch.tensor([[1, 2, 3, 4, 0], [0, 0, 0, 1, 1]])  # node 0 has 3 neighbours
    conv.eval()
    ref = conv(x, ei)
    for perm in itertools.permutations(range(5)):
        torch.testing.assert_close(conv(x, ei[:, list(perm)]), ref)
    # Training: each call takes a random order of the neighbours; every output is the LSTM over
    # one of the 3! orders, and more than one order shows up.
    conv.train()
    candidates = [conv.lin_l(_lstm_over(conv, x[list(p)])) for p in itertools.permutations([1, 2,
                                                                                           3])]
    seen = set()
    for _ in range(30):
        out0 = conv(x, ei)[0]
        match = [k for k, c in enumerate(candidates) if torch.allclose(out0, c, atol=1e-10)]
        assert len(match) == 1
        seen.add(match[0])
    assert len(seen) > 1


def test_lstm_gradients_flow():
    conv = SAGEConv(4, 3, aggr="lstm")
    x = torch.randn(N, 4, requires_grad=True)
    conv(x, EDGES).pow(2).sum().backward()
    for name, p in conv.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert x.grad[[0, 1, 2, 3, 4, 6]].abs().sum(1).gt(0).all()


@pytest.mark.parametrize("aggr", ["mean", "max", "gcn", "pool", "lstm"])
def test_gradcheck(aggr):
    conv = SAGEConv(3, 2, aggr=aggr).double().eval()
    x = torch.randn(N, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: conv(x, EDGES), (x,))


def test_lazy_in_channels_and_options():
    conv = SAGEConv(-1, 4)
    assert conv(torch.randn(N, 6), EDGES).shape == (N, 4)
    conv = SAGEConv(6, 4, aggr="gcn")
    assert not hasattr(conv, "lin_r")
    conv = SAGEConv(6, 4, root_weight=False, bias=False)
    assert not hasattr(conv, "lin_r") and conv.lin_l.bias is None
    assert SAGEConv(6, 4, aggr="lstm", aggr_channels=5).lstm.hidden_size == 5
    assert repr(SAGEConv(16, 32, aggr="lstm")) == "SAGEConv(16, 32, aggr=lstm)"  # PyG's format
    out = SAGEConv(6, 4, normalize=True)(torch.randn(N, 6), EDGES)
    torch.testing.assert_close(out.norm(dim=-1), torch.ones(N))


def test_bad_input():
    with pytest.raises(ValueError, match="'mean', 'max', 'gcn', 'pool', 'lstm'"):
        SAGEConv(4, 4, aggr="sum")
    conv = SAGEConv((4, 2), 3)
    with pytest.raises(ValueError, match="target features"):
        conv((torch.randn(5, 4), torch.randn(3, 4)), EDGES[:, :2])
    with pytest.raises(ValueError, match="source features"):
        conv((torch.randn(5, 3), torch.randn(3, 2)), EDGES[:, :2])
    with pytest.raises(IndexError, match="target node 4 but there are only 3"):
        conv((torch.randn(7, 4), torch.randn(3, 2)), EDGES)
    adj = SparseTensor(row=EDGES[1], col=EDGES[0], sparse_sizes=(N, N))
    with pytest.raises(ValueError, match="does not match 3 target"):
        conv((torch.randn(7, 4), torch.randn(3, 2)), adj)
    with pytest.raises(ValueError, match="same size"):
        SAGEConv((4, 2), 3, aggr="gcn")
    with pytest.raises(ValueError, match="explicit in_channels"):
        SAGEConv(-1, 3, aggr="pool")


def test_lstm_packed_recurrence_matches_torch_lstm_values_and_gradients():
    # Many sequence lengths (0 to 9), so sequences end at many different steps.
    torch.manual_seed(3)
    n = 40
    deg = torch.randint(0, 10, (n,))
    dst = torch.repeat_interleave(torch.arange(n), deg)
    src = torch.randint(0, n, (dst.numel(),))
    edge_index = torch.stack([src, dst])
    conv = SAGEConv(4, 3, aggr="lstm", aggr_channels=6).double().eval()
    x = torch.randn(n, 4, dtype=torch.float64, requires_grad=True)
    out = conv(x, edge_index)
    ref = dense_reference(conv, x, x, edge_index)
    torch.testing.assert_close(out, ref, atol=1e-10, rtol=1e-10)
    w = torch.randn_like(out)
    grads = torch.autograd.grad((out * w).sum(), [x, *conv.parameters()])
    ref_grads = torch.autograd.grad((ref * w).sum(), [x, *conv.parameters()])
    for g, r in zip(grads, ref_grads):
        torch.testing.assert_close(g, r, atol=1e-10, rtol=1e-10)


def test_lstm_aggregation_gradcheck():
    conv = SAGEConv(3, 2, aggr="lstm", aggr_channels=4).double().eval()
    x = torch.randn(N, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: conv(t, EDGES), (x,))


@pytest.mark.parametrize("aggr", ["mean", "max", "gcn", "pool", "lstm"])
@pytest.mark.parametrize("out_channels", [3, 8])  # 3 < 5: mean/gcn transform first
@pytest.mark.parametrize("layout", [torch.sparse_csr, torch.sparse_coo])
def test_sparse_features_equal_dense(aggr, out_channels, layout):
    torch.manual_seed(0)
    x = torch.randn(N, 5, dtype=torch.float64) * (torch.rand(N, 5) < 0.4)
    xs = x.to_sparse_csr() if layout == torch.sparse_csr else x.to_sparse()
    conv = SAGEConv(5, out_channels, aggr=aggr).double().eval()
    dense = conv(x, EDGES)
    sparse = conv(xs, EDGES)
    torch.testing.assert_close(sparse, dense, atol=1e-12, rtol=1e-12)
    w = torch.randn_like(dense)
    g_dense = torch.autograd.grad((conv(x, EDGES) * w).sum(), list(conv.parameters()))
    g_sparse = torch.autograd.grad((conv(xs, EDGES) * w).sum(), list(conv.parameters()))
    for a, b in zip(g_sparse, g_dense):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=1e-12)
    # bipartite: sparse sources and sparse targets
    torch.testing.assert_close(conv((xs, xs), EDGES), dense, atol=1e-12, rtol=1e-12)
