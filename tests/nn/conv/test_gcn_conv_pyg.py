"""GCNConv and gcn_norm as drop-ins for PyG's: options, input forms, flow, static graphs,
torch.compile and degenerate graphs, checked against PyG's layer and dense float64 formulas."""

import copy
import inspect

import pytest
import torch
import torch_geometric.nn as pyg_nn
from torch.overrides import TorchFunctionMode
from torch_geometric.nn.conv.gcn_conv import gcn_norm as pyg_gcn_norm
from torch_geometric.utils import to_torch_coo_tensor, to_torch_csc_tensor
from torch_sparse import SparseTensor

from pyg_course.nn import GCNConv
from pyg_course.nn.conv.gcn_conv import gcn_norm
from tests.helpers.dense import propagate_dense

# Directed edges, a duplicate (3 -> 0 twice), a self-loop at 2, node 3 only sends, node 4 only
# receives, node 5 is isolated.
EDGE_INDEX = torch.tensor([[0, 1, 1, 2, 3, 3, 2], [1, 0, 2, 2, 0, 0, 4]])
NUM_NODES = 6
# The graph of PyG's own tests: a star around node 0.
STAR = torch.tensor([[0, 0, 0, 1, 2, 3], [1, 2, 3, 0, 0, 0]])


def _dense_reference(x, edge_index, weight, bias, edge_weight=None, improved=False,
                     add_self_loops=True, normalize=True, flow="source_to_target",
                     loops="remaining"):
    r"""``D^-1/2 (A + fill I) D^-1/2 X W^T + b`` in float64, with ``A[i, j]`` the summed
    weight of the messages ``j -> i`` (``edge_index[0] -> edge_index[1]`` for
    ``source_to_target``, the reverse otherwise) and ``D`` its row sums. ``loops``: how the
    self-loops meet existing ones ("remaining": a node with one keeps it, "replace", "add")."""
    n = x.size(-2)
    w = torch.ones(edge_index.size(1)) if edge_weight is None else edge_weight
    src, dst = edge_index if flow == "source_to_target" else edge_index.flip(0)
    A = torch.zeros(n, n, dtype=torch.float64)
    A.index_put_((dst, src), w.double(), accumulate=True)
    if add_self_loops:
        fill = 2.0 if improved else 1.0
        diag = torch.diagonal(A).clone()
        has_loop = torch.zeros(n, dtype=torch.bool)
        has_loop[src[src == dst]] = True
        new_diag = {"remaining": torch.where(has_loop, diag, torch.full_like(diag, fill)),
                    "replace": torch.full_like(diag, fill), "add": diag + fill}[loops]
        A = A - torch.diag(diag) + torch.diag(new_diag)
    return propagate_dense(A, x, weight, bias, normalize)


def _ours(in_c=4, out_c=3, dtype=torch.float64, **kwargs):
    torch.manual_seed(0)
    conv = GCNConv(in_c, out_c, **kwargs).to(dtype)
    if conv.bias is not None:
        with torch.no_grad():  # a non-zero bias, so that a dropped or doubled bias is caught
            conv.bias.uniform_(-1, 1)
    return conv


def _pair(in_c=4, out_c=3, **kwargs):
    ours = _ours(in_c, out_c, dtype=torch.float32, **kwargs)
    theirs = pyg_nn.GCNConv(in_c, out_c, **kwargs)
    theirs.load_state_dict(ours.state_dict(), strict=True)
    return ours, theirs


def _adj_t(edge_index, value, n, form):
    src, dst = edge_index
    if form == "sparse_tensor":
        return SparseTensor(row=dst, col=src, value=value, sparse_sizes=(n, n))
    value = torch.ones(edge_index.size(1)) if value is None else value
    coo = torch.sparse_coo_tensor(torch.stack([dst, src]), value, (n, n)).coalesce()
    return {"coo": coo, "csr": coo.to_sparse_csr(), "csc": coo.to_sparse_csc()}[form]


def _as_dense(result, n):
    """The normalised adjacency ``adj_t`` (``[target, source]``) of any gcn_norm result."""
    if isinstance(result, SparseTensor):  # duplicates summed, as a product sums them
        return result.matmul(torch.eye(n, dtype=result.dtype()))
    first, second = result
    if first.layout != torch.strided:
        assert second is None
        return first.to_dense()
    dense = torch.zeros(n, n, dtype=second.dtype)
    return dense.index_put_((first[1], first[0]), second, accumulate=True)


# --- dense float64 reference: flow x normalize x add_self_loops x improved x weights ---------

@pytest.mark.parametrize("flow", ["source_to_target", "target_to_source"])
@pytest.mark.parametrize("normalize, add_self_loops", [(True, None), (True, False),
                                                       (False, None), (False, False)])
@pytest.mark.parametrize("improved", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
def test_matches_dense_reference(flow, normalize, add_self_loops, improved, weighted):
    torch.manual_seed(1)
    x = torch.randn(NUM_NODES, 4, dtype=torch.float64)
    ew = torch.rand(EDGE_INDEX.size(1), dtype=torch.float64) + 0.1 if weighted else None
    conv = _ours(improved=improved, normalize=normalize, add_self_loops=add_self_loops,
                 flow=flow)
    ref = _dense_reference(x, EDGE_INDEX, conv.lin.weight, conv.bias, ew, improved,
                           add_self_loops=normalize if add_self_loops is None else add_self_loops,
                           normalize=normalize, flow=flow)
    torch.testing.assert_close(conv(x, EDGE_INDEX, ew), ref, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("form, loops", [("sparse_tensor", "replace"), ("coo", "add"),
                                         ("csr", "add")])
@pytest.mark.parametrize("normalize", [True, False])
def test_sparse_adjacency_matches_dense_reference(form, loops, normalize):
    torch.manual_seed(2)
    x = torch.randn(NUM_NODES, 4, dtype=torch.float64)
    ew = torch.rand(EDGE_INDEX.size(1), dtype=torch.float64) + 0.1
    conv = _ours(improved=True, normalize=normalize)
    ref = _dense_reference(x, EDGE_INDEX, conv.lin.weight, conv.bias, ew, improved=True,
                           add_self_loops=normalize, normalize=normalize, loops=loops)
    torch.testing.assert_close(conv(x, _adj_t(EDGE_INDEX, ew, NUM_NODES, form)), ref)


# --- flow ----------------------------------------------------------------------------------

def test_flow_is_honoured_also_when_set_later():
    torch.manual_seed(3)
    x = torch.randn(4, 16)
    edge_index = torch.tensor([[0, 0, 0], [1, 2, 3]])
    conv = GCNConv(16, 32, flow="source_to_target")
    out = conv(x, edge_index)
    conv.flow = "target_to_source"
    torch.testing.assert_close(conv(x, edge_index.flip(0)), out, atol=1e-6, rtol=0)
    reverse = GCNConv(16, 32, flow="target_to_source")
    reverse.load_state_dict(conv.state_dict())
    torch.testing.assert_close(reverse(x, edge_index.flip(0)), out, atol=1e-6, rtol=0)


@pytest.mark.parametrize("cached", [False, True])
def test_target_to_source_matches_pyg(cached):
    torch.manual_seed(4)
    x = torch.randn(NUM_NODES, 4)
    ew = torch.rand(EDGE_INDEX.size(1)) + 0.1
    ours, theirs = _pair(flow="target_to_source", cached=cached)
    torch.testing.assert_close(ours(x, EDGE_INDEX, ew), theirs(x, EDGE_INDEX, ew),
                               atol=1e-6, rtol=0)


def test_target_to_source_with_sparse_adjacency_is_refused():
    adj = _adj_t(STAR, None, 4, "sparse_tensor")
    conv = GCNConv(4, 2, flow="target_to_source")
    for a in (adj, adj.to_torch_sparse_coo_tensor()):
        with pytest.raises(ValueError, match="target_to_source"):
            conv(torch.randn(4, 4), a)


# --- normalize / add_self_loops defaults -----------------------------------------------------

def test_add_self_loops_defaults_to_normalize():
    assert inspect.signature(GCNConv).parameters["add_self_loops"].default is None
    assert GCNConv(4, 2).add_self_loops is True
    assert GCNConv(4, 2, normalize=False).add_self_loops is False
    assert GCNConv(4, 2, add_self_loops=False).add_self_loops is False
    with pytest.raises(ValueError, match="add_self_loops"):
        GCNConv(4, 2, normalize=False, add_self_loops=True)


@pytest.mark.parametrize("kwargs", [{"normalize": False}, {"add_self_loops": False},
                                    {"normalize": False, "cached": True}])
@pytest.mark.parametrize("weighted", [False, True])
def test_options_match_pyg(kwargs, weighted):
    torch.manual_seed(5)
    x = torch.randn(NUM_NODES, 4)
    ew = torch.rand(EDGE_INDEX.size(1)) + 0.1 if weighted else None
    ours, theirs = _pair(**kwargs)
    torch.testing.assert_close(ours(x, EDGE_INDEX, ew), theirs(x, EDGE_INDEX, ew),
                               atol=1e-6, rtol=0)
    adj = _adj_t(EDGE_INDEX, ew, NUM_NODES, "sparse_tensor")
    torch.testing.assert_close(ours(x, adj), theirs(x, adj), atol=1e-6, rtol=0)


# --- decomposed layers -----------------------------------------------------------------------

@pytest.mark.parametrize("kwargs", [{}, {"cached": True}, {"flow": "target_to_source"}])
def test_decomposed_layers_give_the_same_output(kwargs):
    torch.manual_seed(6)
    x = torch.randn(NUM_NODES, 16)
    conv = _ours(16, 32, dtype=torch.float32, **kwargs)
    decomposed = copy.deepcopy(conv)
    decomposed.decomposed_layers = 2
    built = GCNConv(16, 32, decomposed_layers=4, **kwargs)
    built.load_state_dict(conv.state_dict())
    out = conv(x, EDGE_INDEX)
    torch.testing.assert_close(decomposed(x, EDGE_INDEX), out)
    torch.testing.assert_close(built(x, EDGE_INDEX), out)


# --- gcn_norm --------------------------------------------------------------------------------

def test_gcn_norm_signature_is_pygs():
    ours = inspect.signature(gcn_norm).parameters
    theirs = inspect.signature(pyg_gcn_norm).parameters
    assert list(ours) == list(theirs)
    assert [p.default for p in ours.values()] == [p.default for p in theirs.values()]


@pytest.mark.parametrize("flow", ["source_to_target", "target_to_source"])
@pytest.mark.parametrize("improved", [False, True])
@pytest.mark.parametrize("add_self_loops", [False, True])
def test_gcn_norm_edge_index_matches_pyg(flow, improved, add_self_loops):
    ew = torch.rand(EDGE_INDEX.size(1)) + 0.1
    args = (NUM_NODES, improved, add_self_loops, flow)
    ei, w = gcn_norm(EDGE_INDEX, ew, *args)
    assert ei.dtype == EDGE_INDEX.dtype and w.shape == (ei.size(1),)
    torch.testing.assert_close(_as_dense((ei, w), NUM_NODES),
                               _as_dense(pyg_gcn_norm(EDGE_INDEX, ew, *args), NUM_NODES))
    # Without weights (PyG 2.8 applies improved only with given weights).
    if not improved:
        torch.testing.assert_close(
            _as_dense(gcn_norm(EDGE_INDEX, None, *args), NUM_NODES),
            _as_dense(pyg_gcn_norm(EDGE_INDEX, None, *args), NUM_NODES))
    # num_nodes inferred as in PyG (node 5 has no edge, so there are 5 nodes).
    ei, w = gcn_norm(EDGE_INDEX, ew, None, improved, add_self_loops, flow)
    torch.testing.assert_close(_as_dense((ei, w), 5),
                               _as_dense(pyg_gcn_norm(EDGE_INDEX, ew, None, improved,
                                                      add_self_loops, flow), 5))


@pytest.mark.parametrize("form", ["sparse_tensor", "coo", "csr"])
@pytest.mark.parametrize("improved", [False, True])
@pytest.mark.parametrize("add_self_loops", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
def test_gcn_norm_sparse_matches_pyg(form, improved, add_self_loops, weighted):
    ew = torch.rand(EDGE_INDEX.size(1)) + 0.1 if weighted else None
    adj = _adj_t(EDGE_INDEX, ew, NUM_NODES, form)
    ours = gcn_norm(adj, None, NUM_NODES, improved, add_self_loops)
    theirs = pyg_gcn_norm(adj, None, NUM_NODES, improved, add_self_loops)
    assert type(ours) is type(theirs)
    if form == "sparse_tensor":
        assert ours.sparse_sizes() == (NUM_NODES, NUM_NODES)
    else:
        assert ours[1] is None and ours[0].layout == adj.layout
    torch.testing.assert_close(_as_dense(ours, NUM_NODES), _as_dense(theirs, NUM_NODES))


def test_gcn_norm_csc_adjacency_keeps_its_layout():
    ew = torch.rand(EDGE_INDEX.size(1)) + 0.1
    adj, _ = gcn_norm(_adj_t(EDGE_INDEX, ew, NUM_NODES, "csc"))
    assert adj.layout == torch.sparse_csc
    reference, _ = pyg_gcn_norm(_adj_t(EDGE_INDEX, ew, NUM_NODES, "coo"))
    torch.testing.assert_close(adj.to_dense(), reference.to_dense())


@pytest.mark.parametrize("requires_grad", [False, True])
@pytest.mark.parametrize("layout", [torch.sparse_coo, torch.sparse_csr])
def test_gcn_norm_keeps_the_gradient_of_sparse_values(requires_grad, layout):
    edge_weight = torch.ones(STAR.size(1), requires_grad=requires_grad)
    adj = to_torch_coo_tensor(STAR, edge_weight)
    if layout == torch.sparse_csr:
        adj = adj.to_sparse_csr()
    out, none = gcn_norm(adj)
    assert none is None and out.requires_grad == requires_grad
    if requires_grad:
        out.to_dense().sum().backward()
        assert edge_weight.grad is not None and edge_weight.grad.abs().sum() > 0


def test_gcn_norm_rejects_negative_degree_and_bad_flow():
    ei = torch.tensor([[0, 1], [1, 0]])
    with pytest.raises(ValueError, match="negative weighted degree"):
        gcn_norm(ei, torch.tensor([-5.0, 1.0]), 2)
    with pytest.raises(ValueError, match="negative weighted degree"):
        GCNConv(3, 2)(torch.randn(2, 3), ei, torch.tensor([-5.0, 1.0]))
    with pytest.raises(ValueError, match="flow"):
        gcn_norm(ei, None, 2, flow="both")
    adj = _adj_t(ei, None, 2, "sparse_tensor")
    with pytest.raises(ValueError, match="transpose"):
        gcn_norm(adj, None, 2, flow="target_to_source")


def test_negative_weights_set_in_place_are_caught():
    ei = torch.tensor([[0, 1], [1, 0]])
    ew = torch.tensor([1.0, 1.0])
    conv = GCNConv(3, 2)
    conv(torch.randn(2, 3), ei, ew)
    ew[0] = -5.0
    with pytest.raises(ValueError, match="negative weighted degree"):
        conv(torch.randn(2, 3), ei, ew)
    # Negative weights whose degrees stay non-negative are fine.
    conv(torch.randn(2, 3), ei, torch.tensor([-0.5, 1.0]))


class _SyncCounter(TorchFunctionMode):
    """Counts the calls that read a tensor's value into Python (a device synchronisation)."""

    SYNCS = {"__bool__", "item", "tolist", "__int__", "__float__"}

    def __init__(self):
        super().__init__()
        self.calls = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        if name in self.SYNCS:
            self.calls.append(name)
        return func(*args, **(kwargs or {}))


def test_checked_graph_is_not_read_again():
    x = torch.randn(NUM_NODES, 4)
    ew = torch.rand(EDGE_INDEX.size(1)) + 0.1
    conv = GCNConv(4, 3)
    conv(x, EDGE_INDEX, ew)
    conv(x, EDGE_INDEX)
    with _SyncCounter() as counter:
        conv(x, EDGE_INDEX, ew)
        conv(x, EDGE_INDEX)
    assert counter.calls == []


# --- static graphs, sparse features, caching set later ----------------------------------------

@pytest.mark.parametrize("form", ["edge_index", "sparse_tensor", "coo"])
@pytest.mark.parametrize("cached", [False, True])
def test_static_graph_batch(form, cached):
    torch.manual_seed(7)
    x = torch.randn(3, 4, 16)
    ours, theirs = _pair(16, 32, cached=cached)
    adj = STAR if form == "edge_index" else _adj_t(STAR, None, 4, form)
    out = ours(x, adj)
    assert out.size() == (3, 4, 32)
    for b in range(3):
        torch.testing.assert_close(out[b], ours(x[b], adj), atol=1e-6, rtol=0)
    torch.testing.assert_close(out, theirs(x, STAR), atol=1e-6, rtol=0)
    out.sum().backward()
    assert ours.lin.weight.grad is not None


def test_pygs_input_forms_and_cached_set_later():
    torch.manual_seed(8)
    x = torch.randn(4, 16)
    value = torch.rand(STAR.size(1))
    adj1 = to_torch_csc_tensor(STAR, size=(4, 4))
    adj2 = to_torch_csc_tensor(STAR, value, size=(4, 4))
    adj3 = SparseTensor.from_edge_index(STAR, sparse_sizes=(4, 4))
    adj4 = SparseTensor.from_edge_index(STAR, value, (4, 4))
    ours, theirs = _pair(16, 32)
    assert str(ours) == str(theirs) == "GCNConv(16, 32)"
    out1, out2 = ours(x, STAR), ours(x, STAR, value)
    torch.testing.assert_close(out1, theirs(x, STAR), atol=1e-6, rtol=0)
    torch.testing.assert_close(out2, theirs(x, STAR, value), atol=1e-6, rtol=0)
    for adj, out in [(adj1.t(), out1), (adj2.t(), out2), (adj3.t(), out1), (adj4.t(), out2)]:
        torch.testing.assert_close(ours(x, adj), out, atol=1e-6, rtol=0)
    ours.cached = True
    ours(x, STAR)
    assert ours._cached_edge_index is not None
    torch.testing.assert_close(ours(x, STAR), out1, atol=1e-6, rtol=0)
    torch.testing.assert_close(ours(x, adj1.t()), out1, atol=1e-6, rtol=0)
    torch.testing.assert_close(ours(x, adj3.t()), out1, atol=1e-6, rtol=0)


def test_sparse_input_features():
    x = torch.sparse_coo_tensor(torch.tensor([[0, 0], [0, 1]]), torch.tensor([1.0, 1.0]),
                                (4, 16))
    ours, theirs = _pair(16, 32)
    out = ours(x, STAR)
    assert out.size() == (4, 32)
    torch.testing.assert_close(out, theirs(x.to_dense(), STAR), atol=1e-6, rtol=0)


# --- empty graphs ------------------------------------------------------------------------------

@pytest.mark.parametrize("num_nodes", [0, 3])
@pytest.mark.parametrize("form", ["edge_index", "sparse_tensor", "coo"])
@pytest.mark.parametrize("cached", [False, True])
def test_empty_graphs(num_nodes, form, cached):
    torch.manual_seed(9)
    x = torch.randn(num_nodes, 4, requires_grad=True)
    empty = torch.empty(2, 0, dtype=torch.long)
    adj = empty if form == "edge_index" else _adj_t(empty, None, num_nodes, form)
    conv = _ours(dtype=torch.float32, cached=cached)
    out = conv(x, adj)
    assert out.shape == (num_nodes, 3)
    # Only the self-loops remain: x W^T + b on every node.
    torch.testing.assert_close(out, x @ conv.lin.weight.t() + conv.bias)
    out.sum().backward()
    assert x.grad.shape == x.shape and conv.lin.weight.grad is not None
    no_loops = _ours(dtype=torch.float32, add_self_loops=False)
    torch.testing.assert_close(no_loops(x, adj), no_loops.bias.expand(num_nodes, 3))


# --- torch.compile -----------------------------------------------------------------------------

def _rowptr_only(adj: SparseTensor) -> SparseTensor:
    """The same matrix stored as CSR only (``storage._row`` is ``None``)."""
    rowptr, col, value = adj.csr()
    return SparseTensor(rowptr=rowptr, col=col, value=value, sparse_sizes=adj.sparse_sizes(),
                        is_sorted=True)


def _compile_inputs():
    ew = torch.rand(EDGE_INDEX.size(1)) + 0.1
    adj = _adj_t(EDGE_INDEX, ew, NUM_NODES, "sparse_tensor")
    return {
        "edge_index": (EDGE_INDEX, None),
        "weighted": (EDGE_INDEX, ew),
        "sparse_tensor": (adj, None),
        "sparse_tensor_no_value": (_adj_t(EDGE_INDEX, None, NUM_NODES, "sparse_tensor"), None),
        "sparse_tensor_rowptr": (_rowptr_only(adj), None),
    }


def _check_compiled(conv, x, adj, ew, backend="aot_eager"):
    torch._dynamo.reset()
    args = (x, adj) if ew is None else (x, adj, ew)
    eager_conv = copy.deepcopy(conv)
    explanation = torch._dynamo.explain(copy.deepcopy(conv))(*args)
    assert explanation.graph_break_count == 0, explanation.break_reasons
    torch._dynamo.reset()
    compiled = torch.compile(conv, backend=backend, fullgraph=True)
    for _ in range(2):  # the second call runs the cache, where there is one
        x_c, x_e = x.clone().requires_grad_(), x.clone().requires_grad_()
        out, ref = compiled(x_c, *args[1:]), eager_conv(x_e, *args[1:])
        torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
        out.square().sum().backward()
        ref.square().sum().backward()
        torch.testing.assert_close(x_c.grad, x_e.grad, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(conv.lin.weight.grad, eager_conv.lin.weight.grad,
                                   atol=1e-5, rtol=1e-5)
        assert (conv._cached_edge_index is not None) == (conv.cached and conv.normalize)
    torch._dynamo.reset()


@pytest.mark.parametrize("name, kwargs", [(name, {}) for name in _compile_inputs()] + [
    ("edge_index", {"cached": True}), ("sparse_tensor", {"cached": True}),
    ("weighted", {"improved": True}), ("sparse_tensor_no_value", {"normalize": False}),
    ("weighted", {"normalize": False}),
])
def test_compiles_without_graph_breaks(name, kwargs):
    torch.manual_seed(10)
    adj, ew = _compile_inputs()[name]
    x = torch.randn(NUM_NODES, 4)
    _check_compiled(_ours(dtype=torch.float32, **kwargs), x, adj, ew)


def test_compiles_static_graph_and_target_to_source():
    torch.manual_seed(11)
    _check_compiled(_ours(dtype=torch.float32), torch.randn(2, NUM_NODES, 4), EDGE_INDEX, None)
    _check_compiled(_ours(dtype=torch.float32, flow="target_to_source"),
                    torch.randn(NUM_NODES, 4), EDGE_INDEX, None)


def test_compiles_with_inductor():
    torch.manual_seed(12)
    adj, _ = _compile_inputs()["sparse_tensor"]
    _check_compiled(_ours(dtype=torch.float32), torch.randn(NUM_NODES, 4), adj, None,
                    backend="inductor")


@pytest.mark.parametrize("num_nodes", [0, 3])
@pytest.mark.parametrize("form", ["edge_index", "sparse_tensor"])
def test_compiles_empty_graphs(num_nodes, form):
    torch.manual_seed(13)
    empty = torch.empty(2, 0, dtype=torch.long)
    adj = empty if form == "edge_index" else _adj_t(empty, None, num_nodes, form)
    _check_compiled(_ours(dtype=torch.float32), torch.randn(num_nodes, 4), adj, None)
