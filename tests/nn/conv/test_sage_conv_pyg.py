"""SAGEConv as a drop-in for PyG's: PyG's calls and state dicts, ``(x_src, None)`` and ``size``,
repr, torch.compile without graph breaks, empty graphs, sync-free checks and the deliberate
differences (refused with a clear error)."""

import pytest
import torch
import torch._dynamo as dynamo
from torch.utils._python_dispatch import TorchDispatchMode
from torch_geometric.nn import SAGEConv as PyGSAGEConv
from torch_geometric.nn.aggr import MLPAggregation
from torch_sparse import SparseTensor

from pyg_course.nn import SAGEConv

EDGES = torch.tensor([[0, 0, 1, 2, 3, 4, 2, 6, 3],
                      [1, 1, 0, 2, 2, 2, 1, 4, 4]])
N = 7
AGGRS = ["mean", "max", "gcn", "pool", "lstm"]


def adj_t(edge_index, num_src, num_dst):
    return SparseTensor(row=edge_index[1], col=edge_index[0], sparse_sizes=(num_dst, num_src))


def csr_adj_t(edge_index, num_src, num_dst):
    """A SparseTensor that stores only ``rowptr`` and ``col`` (no ``row``)."""
    adj = adj_t(edge_index, num_src, num_dst)
    rowptr, col, _ = adj.csr()
    return SparseTensor(rowptr=rowptr, col=col, sparse_sizes=(num_dst, num_src))


def close(a, b, tol=1e-6):
    torch.testing.assert_close(a, b, atol=tol, rtol=tol)


# ----------------------------------------------------------------- PyG's calls and weights
@pytest.mark.parametrize("ours,theirs", [
    (dict(aggr="mean"), dict(aggr="mean")),
    (dict(aggr="max"), dict(aggr="max")),
    (dict(aggr="mean", project=True), dict(aggr="mean", project=True)),
    (dict(aggr="max", project=True), dict(aggr="max", project=True)),
    (dict(aggr="pool"), dict(aggr="max", project=True)),
    (dict(aggr="max", normalize=True), dict(aggr="max", normalize=True)),
    (dict(aggr="max", root_weight=False), dict(aggr="max", root_weight=False)),
    (dict(aggr="mean", project=True, bias=False), dict(aggr="mean", project=True, bias=False)),
])
@pytest.mark.parametrize("out_channels", [32, 4])  # 4 < 8: mean transforms before aggregating
def test_loads_pyg_state_dict_and_matches(ours, theirs, out_channels):
    torch.manual_seed(0)
    pyg = PyGSAGEConv(8, out_channels, **theirs)
    conv = SAGEConv(8, out_channels, **ours)
    conv.load_state_dict(pyg.state_dict(), strict=True)
    x = torch.randn(N, 8)
    close(conv(x, EDGES), pyg(x, EDGES))
    close(conv(x, adj_t(EDGES, N, N)), pyg(x, adj_t(EDGES, N, N)))
    close(conv(x, EDGES, size=(N, N)), pyg(x, EDGES, size=(N, N)))
    # bipartite, as in a mini-batch, and without target features
    ei = EDGES[:, EDGES[1] < 3]
    close(conv((x, x[:3]), ei), pyg((x, x[:3]), ei))
    close(conv((x, None), ei, (N, 3)), pyg((x, None), ei, (N, 3)))
    close(conv((x, None), adj_t(ei, N, 3)), pyg((x, None), adj_t(ei, N, 3)))


@pytest.mark.parametrize("theirs", [dict(aggr="mean"), dict(aggr="max"),
                                    dict(aggr="mean", project=True),
                                    dict(aggr="max", project=True, root_weight=False)])
def test_bipartite_in_channels_matches_pyg(theirs):
    torch.manual_seed(1)
    pyg = PyGSAGEConv((8, 16), 32, **theirs)
    conv = SAGEConv((8, 16), 32, **theirs)
    conv.load_state_dict(pyg.state_dict(), strict=True)
    x_src, x_dst = torch.randn(4, 8), torch.randn(2, 16)
    ei = torch.tensor([[0, 1, 2, 3], [0, 0, 1, 1]])
    for args in [((x_src, x_dst), ei), ((x_src, x_dst), ei, (4, 2)), ((x_src, None), ei, (4, 2)),
                 ((x_src, x_dst), adj_t(ei, 4, 2)), ((x_src, None), adj_t(ei, 4, 2))]:
        close(conv(*args), pyg(*args))


def test_pyg_project_is_the_paper_pool():
    pyg = PyGSAGEConv(8, 6, aggr="max", project=True)
    conv = SAGEConv(8, 6, aggr="max", project=True)
    pool = SAGEConv(8, 6, aggr="pool")
    conv.load_state_dict(pyg.state_dict(), strict=True)
    pool.load_state_dict(pyg.state_dict(), strict=True)
    x = torch.randn(N, 8)
    close(pool(x, EDGES), conv(x, EDGES), tol=0)
    assert pool.project and conv.project and not SAGEConv(8, 6).project


def test_plain_max_is_max_of_raw_neighbour_features():
    conv = SAGEConv(3, 2, aggr="max", root_weight=False, bias=False).double()
    x = torch.randn(N, 3, dtype=torch.float64)
    agg = torch.zeros(N, 3, dtype=torch.float64)
    for i in range(N):
        nbrs = EDGES[0][EDGES[1] == i]
        if nbrs.numel():
            agg[i] = x[nbrs].max(0).values
    close(conv(x, EDGES), agg @ conv.lin_l.weight.t(), tol=1e-12)


# ----------------------------------------------------------------- PyG's test behaviours
@pytest.mark.parametrize("project", [False, True])
def test_pyg_calls_size_sparse_forms_and_missing_targets(project):
    torch.manual_seed(2)
    x1, x2 = torch.randn(4, 8), torch.randn(2, 16)
    ei = torch.tensor([[0, 1, 2, 3], [0, 0, 1, 1]])
    conv = SAGEConv(8, 32, project=project)
    assert str(conv) == "SAGEConv(8, 32, aggr=mean)"
    out = conv(x1, ei)
    assert out.shape == (4, 32)
    close(conv(x1, ei, size=(4, 4)), out)
    close(conv(x1, adj_t(ei, 4, 4)), out)
    csc = torch.sparse_coo_tensor(ei, torch.ones(4), (4, 4)).to_sparse_csc()
    close(conv(x1, csc.t()), out)

    conv = SAGEConv((8, 16), 32, project=project)
    assert str(conv) == "SAGEConv((8, 16), 32, aggr=mean)"
    out1 = conv((x1, x2), ei)
    out2 = conv((x1, None), ei, (4, 2))
    assert out1.shape == out2.shape == (2, 32)
    close(out1 - out2, conv.lin_r(x2))  # no target features: no root term
    close(conv((x1, x2), ei, (4, 2)), out1)
    close(conv((x1, x2), adj_t(ei, 4, 2)), out1)
    close(conv((x1, None), adj_t(ei, 4, 2)), out2)
    csc = torch.sparse_coo_tensor(ei, torch.ones(4), (4, 2)).to_sparse_csc()
    close(conv((x1, x2), csc.t()), out1)
    close(conv((x1, None), csc.t()), out2)


def test_pyg_lstm_call():
    x = torch.randn(4, 8)
    ei = torch.tensor([[0, 1, 2, 3], [0, 0, 1, 1]])
    conv = SAGEConv(8, 32, aggr="lstm").eval()  # training order is random by design
    assert str(conv) == "SAGEConv(8, 32, aggr=lstm)"
    out = conv(x, ei)
    assert out.shape == (4, 32)
    close(conv(x, adj_t(ei, 4, 4)), out)
    # Unsorted edges are sorted by the layer (PyG's LSTM aggregation refuses them).
    close(conv(x, ei[:, [2, 0, 3, 1]]), out)


def test_loads_pyg_lstm_state_dict():
    torch.manual_seed(6)
    pyg = PyGSAGEConv(8, 16, aggr="lstm").eval()
    conv = SAGEConv(8, 16, aggr="lstm").eval()
    conv.load_state_dict(pyg.state_dict(), strict=True)
    x = torch.randn(N, 8)
    # PyG's LSTM reads the neighbours in the given order (sorted by target, then source here)
    # and pads every sequence with zeros to the largest degree: the two agree where every node
    # has the same number of neighbours.
    dst = torch.arange(N).repeat_interleave(2)
    src = torch.stack([(torch.arange(N) + 1) % N, (torch.arange(N) + 3) % N], 1).sort(1)
    ei = torch.stack([src.values.flatten(), dst])
    close(conv(x, ei), pyg(x, ei))
    close(conv(x, ei.flip(1)), pyg(x, ei))  # ours sorts by itself
    irregular = EDGES[:, torch.sort(EDGES[1] * N + EDGES[0]).indices]
    assert not torch.allclose(conv(x, irregular), pyg(x, irregular), atol=1e-4)


@pytest.mark.parametrize("aggr", AGGRS)
def test_size_gives_number_of_targets(aggr):
    conv = SAGEConv(5, 3, aggr=aggr, root_weight=False).eval()
    x = torch.randn(N, 5)
    ei = EDGES[:, EDGES[1] < 3]
    if aggr == "gcn":  # gcn needs the targets' features
        out = conv((x, x[:3]), ei, size=(N, 3))
        with pytest.raises(ValueError, match="needs the target features"):
            conv((x, None), ei, size=(N, 3))
    else:
        out = conv((x, None), ei, size=(N, 3))
        close(conv(x, ei, size=(N, 3)), out)
        assert conv((x, None), ei).shape == (N, 3)  # no size: as many targets as sources
    assert out.shape == (3, 3)
    close(out, conv((x, x[:3]), ei))


def test_size_mismatch_is_refused():
    conv = SAGEConv(5, 3)
    x = torch.randn(N, 5)
    with pytest.raises(ValueError, match="source nodes"):
        conv(x, EDGES, size=(N + 1, N))
    with pytest.raises(ValueError, match="target nodes"):
        conv((x, x[:3]), EDGES[:, EDGES[1] < 3], size=(N, 4))
    with pytest.raises(ValueError, match="target nodes"):
        conv(x, EDGES[:, EDGES[1] < 3], size=(N, 3))  # root term needs x_dst of 3 rows
    with pytest.raises(IndexError, match="target node 4 but there are only 3"):
        conv((x, None), EDGES, size=(N, 3))
    with pytest.raises(ValueError, match="does not match"):
        conv(x, adj_t(EDGES, N, N), size=(N, 3))


@pytest.mark.parametrize("kwargs,expected", [
    (dict(in_channels=8, out_channels=32), "SAGEConv(8, 32, aggr=mean)"),
    (dict(in_channels=(8, 16), out_channels=32, aggr="max"), "SAGEConv((8, 16), 32, aggr=max)"),
    (dict(in_channels=8, out_channels=32, aggr="mean", project=True),
     "SAGEConv(8, 32, aggr=mean)"),
    (dict(in_channels=8, out_channels=32, aggr="lstm"), "SAGEConv(8, 32, aggr=lstm)"),
])
def test_repr_is_pygs(kwargs, expected):
    assert repr(SAGEConv(**kwargs)) == expected == repr(PyGSAGEConv(**kwargs))
    assert repr(SAGEConv(8, 32, aggr="pool")) == "SAGEConv(8, 32, aggr=pool)"


# ----------------------------------------------------------------- deliberate differences
@pytest.mark.parametrize("aggr", ["sum", "min", ["mean", "max"],
                                  MLPAggregation(8, 8, max_num_elements=2, num_layers=1)])
def test_other_pyg_aggregators_are_refused(aggr):
    with pytest.raises(ValueError, match="valid aggregators are 'mean', 'max', 'gcn', 'pool'"):
        SAGEConv(8, 32, aggr=aggr)


def test_torchscript_is_refused_clearly():
    with pytest.raises(NotImplementedError, match="TorchScript.*torch.compile"):
        torch.jit.script(SAGEConv(8, 32))
    with pytest.raises(NotImplementedError, match="TorchScript"):
        torch.jit.script(torch.nn.Sequential(SAGEConv(8, 32)))


def test_project_needs_explicit_in_channels():
    with pytest.raises(ValueError, match="explicit in_channels"):
        SAGEConv(-1, 4, project=True)
    conv = SAGEConv(-1, 4, aggr="max")  # lazy, as PyG's
    assert conv(torch.randn(N, 6), EDGES).shape == (N, 4)


# ----------------------------------------------------------------- torch.compile
GRAPHS = {
    "edge_index": lambda: EDGES,
    "sparse_tensor": lambda: adj_t(EDGES, N, N),
    "sparse_tensor_rowptr_only": lambda: csr_adj_t(EDGES, N, N),
}


def _loss_and_grads(conv, x, adj):
    out = conv(x, adj)
    grads = torch.autograd.grad((out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum(),
                                [x, *conv.parameters()])
    return out, grads


@pytest.mark.parametrize("aggr,project,graph", [
    *[(aggr, project, graph) for aggr, project in [("mean", False), ("gcn", False),
                                                   ("pool", False), ("max", False),
                                                   ("mean", True)]
      for graph in ["edge_index", "sparse_tensor"]],
    ("gcn", False, "sparse_tensor_rowptr_only"),
    ("pool", False, "sparse_tensor_rowptr_only"),
])
def test_compiles_without_graph_breaks_with_eager_numbers(aggr, project, graph):
    torch.manual_seed(3)
    dynamo.reset()
    conv = SAGEConv(5, 3, aggr=aggr, project=project)
    x = torch.randn(N, 5, requires_grad=True)
    adj = GRAPHS[graph]()
    explanation = dynamo.explain(conv)(x, adj)
    assert explanation.graph_break_count == 0, explanation.break_reasons
    out, grads = _loss_and_grads(conv, x, adj)
    compiled = torch.compile(conv, backend="aot_eager", fullgraph=True)
    c_out, c_grads = _loss_and_grads(compiled, x, adj)
    close(c_out, out, tol=1e-5)
    for a, b in zip(c_grads, grads):
        close(a, b, tol=1e-5)


def test_compiles_bipartite_without_targets():
    dynamo.reset()
    conv = SAGEConv((5, 2), 3, aggr="pool")
    x_src, x_dst = torch.randn(N, 5), torch.randn(3, 2)
    ei = EDGES[:, EDGES[1] < 3]
    compiled = torch.compile(conv, backend="aot_eager", fullgraph=True)
    for args in [((x_src, x_dst), ei), ((x_src, None), ei, (N, 3)),
                 ((x_src, x_dst), adj_t(ei, N, 3)), ((x_src, None), adj_t(ei, N, 3))]:
        close(compiled(*args), conv(*args), tol=1e-5)


def test_compiles_with_inductor():
    torch.manual_seed(4)
    dynamo.reset()
    conv = SAGEConv(5, 3, aggr="gcn")
    x = torch.randn(N, 5, requires_grad=True)
    out, grads = _loss_and_grads(conv, x, adj_t(EDGES, N, N))
    c_out, c_grads = _loss_and_grads(torch.compile(conv, fullgraph=True), x,
                                     adj_t(EDGES, N, N))
    close(c_out, out, tol=1e-5)
    for a, b in zip(c_grads, grads):
        close(a, b, tol=1e-5)


@pytest.mark.parametrize("graph", ["edge_index", "sparse_tensor"])
def test_lstm_compiles_with_graph_breaks(graph):
    """The LSTM runs as many recurrence steps as the largest degree: a data-dependent loop, so
    it compiles with graph breaks (without fullgraph) and eager's numbers."""
    torch.manual_seed(5)
    dynamo.reset()
    conv = SAGEConv(5, 3, aggr="lstm").eval()
    x = torch.randn(N, 5, requires_grad=True)
    adj = GRAPHS[graph]()
    assert dynamo.explain(conv)(x, adj).graph_break_count > 0
    out, grads = _loss_and_grads(conv, x, adj)
    c_out, c_grads = _loss_and_grads(torch.compile(conv, backend="aot_eager"), x, adj)
    close(c_out, out, tol=1e-5)
    for a, b in zip(c_grads, grads):
        close(a, b, tol=1e-5)


# ----------------------------------------------------------------- empty graphs
EMPTY = {  # name: (num_src, num_dst)
    "no_nodes": (0, 0),
    "no_edges": (4, 4),
    "no_sources": (0, 3),
    "no_targets": (4, 0),
}


@pytest.mark.parametrize("aggr", AGGRS)
@pytest.mark.parametrize("case", list(EMPTY))
@pytest.mark.parametrize("form", ["edge_index", "sparse_tensor"])
def test_empty_graphs(aggr, case, form):
    num_src, num_dst = EMPTY[case]
    conv = SAGEConv(5, 3, aggr=aggr).double()
    x_src = torch.randn(num_src, 5, dtype=torch.float64, requires_grad=True)
    x_dst = torch.randn(num_dst, 5, dtype=torch.float64, requires_grad=True)
    ei = torch.empty(2, 0, dtype=torch.long)
    adj = ei if form == "edge_index" else adj_t(ei, num_src, num_dst)
    out = conv((x_src, x_dst), adj)
    assert out.shape == (num_dst, 3)
    # Nothing aggregates: the aggregate is zero (gcn: the mean over the node itself).
    if aggr == "gcn":
        expected = conv.lin_l(x_dst)
    else:
        expected = conv.lin_l(torch.zeros(num_dst, conv.lin_l.in_channels,
                                          dtype=torch.float64)) + conv.lin_r(x_dst)
    close(out, expected, tol=1e-12)
    out.sum().backward()
    assert x_src.grad is None or x_src.grad.abs().sum() == 0
    assert x_dst.grad.shape == x_dst.shape
    if case == "no_edges":
        out_single = conv(x_src, adj)
        assert out_single.shape == (num_src, 3)


def test_empty_graph_compiles():
    dynamo.reset()
    conv = SAGEConv(5, 3, aggr="pool")
    compiled = torch.compile(conv, backend="aot_eager", fullgraph=True)
    x = torch.randn(0, 5)
    ei = torch.empty(2, 0, dtype=torch.long)
    close(compiled(x, ei), conv(x, ei))
    close(compiled(x, adj_t(ei, 0, 0)), conv(x, adj_t(ei, 0, 0)))


# ----------------------------------------------------------------- no device sync per call
class _RecordOps(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.ops = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops.append(func.__name__)
        return func(*args, **(kwargs or {}))


# Ops that read a value back from the device (a sync on GPU) or have a data-dependent shape.
_SYNCING = ("_local_scalar_dense", "bincount", "nonzero", "masked_select", "unique")


@pytest.mark.parametrize("aggr", ["mean", "max", "gcn", "pool"])
@pytest.mark.parametrize("form", ["edge_index", "sparse_tensor"])
def test_checked_graph_is_not_synced_again(aggr, form):
    conv = SAGEConv(5, 3, aggr=aggr)
    x = torch.randn(N, 5)
    graph = EDGES.clone() if form == "edge_index" else adj_t(EDGES, N, N)
    conv(x, graph)  # first call checks the graph (and may read it back once)
    with _RecordOps() as rec:
        conv(x, graph)
    assert rec.ops  # the recorder sees the layer's ops
    syncing = [op for op in rec.ops if op.split(".")[0] in _SYNCING]
    assert not syncing, syncing
