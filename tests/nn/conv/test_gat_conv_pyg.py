"""GATConv as a drop-in for PyG's GATConv: every behaviour of PyG's own GATConv tests (the
call forms, ``size``, ``(x_src, None)``, the attention it returns for each input form, empty
graphs, lazy channels, the options), checked against PyG's layer with the weights copied; and
the same numbers under ``torch.compile(fullgraph=True)`` for ``edge_index`` and
``SparseTensor`` input."""

import pathlib
import subprocess
import sys
import textwrap

import pytest
import torch
import torch._dynamo
from torch_geometric.nn import GATConv as PyGGATConv
from torch_geometric.typing import SparseTensor
from torch_geometric.utils import to_torch_csc_tensor

from pyg_course.nn import GATConv

# 4 source nodes, targets 0 and 1 (a graph on 4 nodes or a bipartite 4 -> 2 graph)
EDGES = torch.tensor([[0, 1, 2, 3], [0, 0, 1, 1]])


def pair(in_channels, out_channels, seed=0, **kwargs):
    """PyG's layer and ours with the same weights (non-zero bias, so it cannot hide)."""
    torch.manual_seed(seed)
    theirs = PyGGATConv(in_channels, out_channels, **kwargs)
    with torch.no_grad():
        for p in theirs.parameters():
            if not isinstance(p, torch.nn.parameter.UninitializedParameter):
                p.normal_()
    ours = GATConv(in_channels, out_channels, **kwargs)
    ours.load_state_dict(theirs.state_dict(), strict=True)
    return theirs, ours


def close(a, b):
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("fuse", [True, False])
@pytest.mark.parametrize("residual", [False, True])
def test_call_forms_of_a_graph(fuse, residual):
    torch.manual_seed(0)
    x = torch.randn(4, 8)
    theirs, ours = pair(8, 32, heads=2, residual=residual)
    ours.fuse = fuse
    assert str(ours) == str(theirs) == "GATConv(8, 32, heads=2)"
    out = ours(x, EDGES)
    assert out.shape == (4, 64)
    close(out, theirs(x, EDGES))
    close(ours(x, EDGES, size=(4, 4)), out)
    close(ours(x, EDGES, None, (4, 4)), out)  # PyG's positional order: edge_attr, size
    csr = to_torch_csc_tensor(EDGES, size=(4, 4)).t()
    close(ours(x, csr), out)
    adj_t = SparseTensor.from_edge_index(EDGES, sparse_sizes=(4, 4)).t()
    close(ours(x, adj_t), out)

    # attention: (edge_index, alpha) for edge_index input, with one self-loop per node
    out_a, (ei, alpha) = ours(x, EDGES, return_attention_weights=True)
    ref_out, (ref_ei, ref_alpha) = theirs(x, EDGES, return_attention_weights=True)
    close(out_a, out)
    assert ei.shape == (2, 7) and alpha.shape == (7, 2)
    assert torch.equal(ei, ref_ei)
    close(alpha, ref_alpha)
    # PyG's flag is tested for truth: False returns the output alone
    assert isinstance(ours(x, EDGES, return_attention_weights=False), torch.Tensor)

    # torch.sparse input: (adjacency holding the attention as values, the attention)
    out_s, (att, alpha_s) = ours(x, csr, return_attention_weights=True)
    _, (ref_att, _) = theirs(x, csr, return_attention_weights=True)
    close(out_s, out)
    assert att.layout == ref_att.layout == torch.sparse_csr
    assert att.shape == (4, 4, 2) and att._nnz() == 7
    close(att.to_dense(), ref_att.to_dense())
    close(alpha_s, att.values())

    # SparseTensor input: a SparseTensor holding the attention
    out_t, att_t = ours(x, adj_t, return_attention_weights=True)
    ref_att_t = theirs(x, adj_t, return_attention_weights=True)[1]
    close(out_t, out)
    assert isinstance(att_t, SparseTensor)
    assert att_t.sizes() == [4, 4, 2] and att_t.nnz() == 7
    for a, b in zip(att_t.coo(), ref_att_t.coo()):
        close(a, b)


@pytest.mark.parametrize("fuse", [True, False])
@pytest.mark.parametrize("residual", [False, True])
def test_bipartite_call_forms(fuse, residual):
    torch.manual_seed(1)
    x1, x2 = torch.randn(4, 8), torch.randn(2, 16)
    theirs, ours = pair((8, 16), 32, heads=2, residual=residual)
    ours.fuse = fuse
    assert str(ours) == str(theirs) == "GATConv((8, 16), 32, heads=2)"
    csr = to_torch_csc_tensor(EDGES, size=(4, 2)).t()
    adj_t = SparseTensor.from_edge_index(EDGES, sparse_sizes=(4, 2)).t()

    out1 = ours((x1, x2), EDGES)
    assert out1.shape == (2, 64)
    close(out1, theirs((x1, x2), EDGES))
    close(ours((x1, x2), EDGES, size=(4, 2)), out1)
    close(ours((x1, x2), csr), out1)
    close(ours((x1, x2), adj_t), out1)

    # no target features: no target score, no residual; the size comes from `size` or the
    # adjacency
    out2 = ours((x1, None), EDGES, size=(4, 2))
    assert out2.shape == (2, 64)
    close(out2, theirs((x1, None), EDGES, size=(4, 2)))
    assert not torch.allclose(out2, out1)
    close(ours((x1, None), csr), out2)
    close(ours((x1, None), adj_t), out2)
    # ... or, for edge_index without size, the targets are the first |V_s| nodes (as PyG)
    out3 = ours((x1, None), EDGES)
    assert out3.shape == (4, 64)
    close(out3, theirs((x1, None), EDGES))


@pytest.mark.parametrize("heads,concat,residual", [
    (1, True, False), (3, True, True), (3, False, False), (2, False, True)])
@pytest.mark.parametrize("options", [
    {}, {"negative_slope": 0.5, "bias": False}, {"add_self_loops": False},
    {"dropout": 0.6}])
def test_pyg_parity_options(heads, concat, residual, options):
    torch.manual_seed(2)
    n = 30
    edge_index = torch.randint(0, n, (2, 120))
    x = torch.randn(n, 6)
    theirs, ours = pair(6, 5, heads=heads, concat=concat, residual=residual, **options)
    theirs.eval()
    ours.eval()  # attention dropout is random in training: compare in eval mode
    ref_out, (ref_ei, ref_alpha) = theirs(x, edge_index, return_attention_weights=True)
    for fuse in (True, False):
        ours.fuse = fuse
        out, (ei, alpha) = ours(x, edge_index, return_attention_weights=True)
        close(out, ref_out)
        assert torch.equal(ei, ref_ei)
        close(alpha, ref_alpha)


def test_pyg_parity_bipartite_attention():
    torch.manual_seed(3)
    x_src, x_dst = torch.randn(9, 6), torch.randn(5, 4)
    edge_index = torch.stack([torch.randint(0, 9, (40,)), torch.randint(0, 5, (40,))])
    theirs, ours = pair((6, 4), 3, heads=4, concat=False, residual=True)
    for x in ((x_src, x_dst), (x_src, None)):
        ref_out, (ref_ei, ref_alpha) = theirs(x, edge_index, size=(9, 5),
                                              return_attention_weights=True)
        for fuse in (True, False):
            ours.fuse = fuse
            out, (ei, alpha) = ours(x, edge_index, size=(9, 5), return_attention_weights=True)
            close(out, ref_out)
            assert torch.equal(ei, ref_ei)
            close(alpha, ref_alpha)


def test_bipartite_weights_with_one_tensor():
    """A layer built with (F, F) channels takes a single tensor, as PyG's does."""
    torch.manual_seed(4)
    x = torch.randn(6, 5)
    edge_index = torch.randint(0, 6, (2, 15))
    theirs, ours = pair((5, 5), 3, heads=2)
    close(ours(x, edge_index), theirs(x, edge_index))


def test_positional_constructor_order():
    # in, out, heads, concat, negative_slope, dropout, add_self_loops, edge_dim, fill_value,
    # bias, residual
    ours = GATConv(8, 4, 2, False, 0.3, 0.1, False, None, "mean", False, True)
    theirs = PyGGATConv(8, 4, 2, False, 0.3, 0.1, False, None, "mean", False, True)
    for name in ("heads", "concat", "negative_slope", "dropout", "add_self_loops",
                 "edge_dim", "fill_value", "residual"):
        assert getattr(ours, name) == getattr(theirs, name), name
    assert ours.bias is None and ours.res is not None
    ours.load_state_dict(theirs.state_dict(), strict=True)


@pytest.mark.parametrize("in_channels", [-1, (-1, -1)])
def test_lazy_in_channels(in_channels):
    torch.manual_seed(5)
    x_src, x_dst = torch.randn(7, 6), torch.randn(4, 3)
    x = (x_src, x_dst) if isinstance(in_channels, tuple) else x_src
    edge_index = torch.stack([torch.randint(0, 7, (20,)), torch.randint(0, 4, (20,))])
    theirs = PyGGATConv(in_channels, 5, heads=2, residual=True)
    ours = GATConv(in_channels, 5, heads=2, residual=True)
    assert str(ours) == str(theirs)
    expected = theirs(x, edge_index)
    ours(x, edge_index)  # initialises the lazy weights
    ours.load_state_dict(theirs.state_dict(), strict=True)
    close(ours(x, edge_index), expected)


def test_edge_features_are_refused():
    x = torch.randn(4, 8)
    with pytest.raises(NotImplementedError, match="edge features"):
        GATConv(8, 32, heads=2, edge_dim=1)
    with pytest.raises(NotImplementedError, match="edge features"):
        GATConv(8, 32, heads=2, edge_dim=4, fill_value=0.5)
    conv = GATConv(8, 32, heads=2)
    with pytest.raises(NotImplementedError, match="edge_attr"):
        conv(x, EDGES, torch.randn(4))
    with pytest.raises(NotImplementedError, match="edge_attr"):
        conv(x, EDGES, edge_attr=torch.randn(4, 4))
    # without edge features fill_value has no effect (as in PyG): accepted
    theirs, ours = pair(8, 32, heads=2, fill_value=0.5)
    close(ours(x, EDGES), theirs(x, EDGES))


def test_bad_size():
    conv = GATConv(8, 4)
    x = torch.randn(4, 8)
    with pytest.raises(ValueError, match="size=\\(4, 3\\) does not match"):
        conv(x, EDGES, size=(4, 3))
    with pytest.raises(ValueError, match="size=\\(5, 4\\) does not match"):
        conv(x, EDGES, size=(5, 4))
    with pytest.raises(IndexError, match="only 1 target nodes"):
        GATConv((8, 8), 4)((x, None), EDGES, size=(4, 1))


# ---------------------------------------------------------------- empty graphs

EMPTY_CASES = [(0, 0), (5, 5), (0, 3), (3, 0), (4, 3)]  # (source nodes, target nodes), 0 edges


def check_empty(fuse):
    """Every empty case against PyG: shape, values (bias, or the self-attention of the
    self-loops), and a finite backward."""
    for num_src, num_dst in EMPTY_CASES:
        for loops in (True, False):
            theirs, ours = pair((6, 6), 4, heads=2, residual=True, add_self_loops=loops)
            ours.fuse = fuse
            x_src = torch.randn(num_src, 6, requires_grad=True)
            x_dst = torch.randn(num_dst, 6, requires_grad=True)
            edge_index = torch.empty(2, 0, dtype=torch.long)
            out = ours((x_src, x_dst), edge_index)
            assert out.shape == (num_dst, 8)
            close(out, theirs((x_src, x_dst), edge_index))
            out.square().sum().backward()
            assert ours.bias.grad is not None and bool(torch.isfinite(ours.bias.grad).all())
            adj_t = SparseTensor(row=edge_index[1], col=edge_index[0],
                                 sparse_sizes=(num_dst, num_src))
            close(ours((x_src, x_dst), adj_t), out)
            if num_src == num_dst:
                close(ours(x_src, edge_index), theirs(x_src, edge_index))


def test_empty_graphs_unfused():
    check_empty(fuse=False)


def test_empty_graphs_fused_in_a_subprocess():
    """The fused path on empty graphs (where the sparse product is skipped) runs in a child
    process, so that a crash of a sparse kernel fails this test instead of killing pytest.
    Includes PyG's empty-graph test: 0 nodes, 0 edges."""
    here = str(pathlib.Path(__file__).parent)
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {here!r})
        from test_gat_conv_pyg import check_empty
        check_empty(fuse=True)
        print("fused empty ok")
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
    assert "fused empty ok" in proc.stdout


# ---------------------------------------------------------------- checks run once per graph

@pytest.mark.parametrize("form", ["edge_index", "SparseTensor", "torch.sparse"])
def test_graph_is_prepared_once(form, monkeypatch):
    """A graph passed again (same object, unmodified) is not checked nor rebuilt again: its
    edges, their checks (a device sync) and the self-loop handling happen once."""
    torch.manual_seed(6)
    n = 12
    edge_index = torch.randint(0, n, (2, 40))
    graph = {"edge_index": edge_index,
             "SparseTensor": SparseTensor(row=edge_index[1], col=edge_index[0],
                                          sparse_sizes=(n, n)),
             "torch.sparse": torch.sparse_coo_tensor(edge_index.flip(0), torch.ones(40),
                                                     (n, n)).coalesce()}[form]
    x = torch.randn(n, 5)
    conv = GATConv(5, 3, heads=2)
    calls = []
    edges_fn = GATConv._edges

    def counting(self, *args):
        calls.append(1)
        return edges_fn(self, *args)

    monkeypatch.setattr(GATConv, "_edges", counting)
    first = conv(x, graph)
    for _ in range(3):
        close(conv(x, graph), first)
    assert len(calls) == 1


# ---------------------------------------------------------------- torch.compile

def compile_graphs(n, edge_index):
    """The same graph as edge_index, as a SparseTensor holding rows, and as one holding only
    the CSR pointer (whose rows must be rebuilt without torch_sparse ops)."""
    adj_t = SparseTensor(row=edge_index[1], col=edge_index[0], sparse_sizes=(n, n))
    ptr_only = SparseTensor(rowptr=adj_t.storage.rowptr(), col=adj_t.storage.col(),
                            sparse_sizes=(n, n), is_sorted=True, trust_data=True)
    assert ptr_only.storage._row is None
    return {"edge_index": edge_index, "SparseTensor": adj_t, "SparseTensor(rowptr)": ptr_only}


# existing self-loops (0, 3 twice), a duplicate edge, an isolated node (7)
COMPILE_EDGES = torch.tensor([[0, 3, 3, 1, 1, 2, 4, 5, 6, 2],
                              [0, 3, 3, 2, 2, 1, 0, 4, 5, 6]])


@pytest.mark.parametrize("form,add_self_loops", [
    ("edge_index", True), ("SparseTensor", True), ("SparseTensor(rowptr)", True),
    ("edge_index", False)])
def test_compile_matches_eager(form, add_self_loops):
    torch.manual_seed(7)
    n = 8
    graph = compile_graphs(n, COMPILE_EDGES)[form]
    _, conv = pair(5, 3, heads=2, residual=True, add_self_loops=add_self_loops)
    x = torch.randn(n, 5, requires_grad=True)
    torch._dynamo.reset()
    explain = torch._dynamo.explain(conv)(x, graph)
    assert explain.graph_break_count == 0, explain.break_reasons

    torch._dynamo.reset()
    compiled = torch.compile(conv, backend="aot_eager", fullgraph=True)
    grads = []
    outs = []
    for fn in (conv, compiled):
        conv.zero_grad()
        x.grad = None
        out = fn(x, graph)
        (out.square().sum()).backward()
        outs.append(out.detach())
        grads.append([x.grad] + [p.grad for p in conv.parameters()])
    close(outs[1], outs[0])
    for a, b in zip(*grads):
        close(b, a)

    # attention under compile: the input edges (own self-loops kept, with attention 0), then
    # one loop per node; the rest as eager's
    out, (ei, alpha) = compiled(x, COMPILE_EDGES, return_attention_weights=True)
    _, (ref_ei, ref_alpha) = conv(x, COMPILE_EDGES, return_attention_weights=True)
    if add_self_loops:
        own_loops = COMPILE_EDGES[0] == COMPILE_EDGES[1]
        assert torch.equal(ei[:, :COMPILE_EDGES.size(1)], COMPILE_EDGES)
        assert torch.equal(ei[:, COMPILE_EDGES.size(1):], torch.arange(n).repeat(2, 1))
        assert bool((alpha[:COMPILE_EDGES.size(1)][own_loops] == 0).all())
        keep = torch.cat([~own_loops, torch.ones(n, dtype=torch.bool)])
        ei, alpha = ei[:, keep], alpha[keep]
    assert torch.equal(ei, ref_ei)
    close(alpha, ref_alpha)
    torch._dynamo.reset()


@pytest.mark.parametrize("x_dst_given", [True, False])
def test_compile_bipartite(x_dst_given):
    torch.manual_seed(8)
    x_src, x_dst = torch.randn(6, 5), torch.randn(4, 3)
    edge_index = torch.tensor([[0, 1, 2, 5, 5, 3], [0, 0, 1, 1, 3, 3]])
    _, conv = pair((5, 3), 4, heads=3, concat=False, residual=True)
    x = (x_src, x_dst if x_dst_given else None)
    torch._dynamo.reset()
    explain = torch._dynamo.explain(conv)(x, edge_index, size=(6, 4))
    assert explain.graph_break_count == 0, explain.break_reasons
    torch._dynamo.reset()
    compiled = torch.compile(conv, backend="aot_eager", fullgraph=True)
    close(compiled(x, edge_index, size=(6, 4)), conv(x, edge_index, size=(6, 4)))
    torch._dynamo.reset()


def test_compile_empty_graph():
    _, conv = pair(5, 3, heads=2)
    x = torch.randn(4, 5)
    edge_index = torch.empty(2, 0, dtype=torch.long)
    torch._dynamo.reset()
    compiled = torch.compile(conv, backend="aot_eager", fullgraph=True)
    close(compiled(x, edge_index), conv(x, edge_index))
    torch._dynamo.reset()


def test_compile_inductor_sparse_tensor():
    """The default backend, forward and backward, SparseTensor input with self-loops."""
    torch.manual_seed(9)
    n = 8
    graph = compile_graphs(n, COMPILE_EDGES)["SparseTensor(rowptr)"]
    _, conv = pair(5, 3, heads=2)
    x = torch.randn(n, 5, requires_grad=True)
    expected = conv(x, graph)
    expected.sum().backward()
    expected_grad = x.grad.clone()
    x.grad = None
    torch._dynamo.reset()
    out = torch.compile(conv, fullgraph=True)(x, graph)
    out.sum().backward()
    close(out, expected)
    close(x.grad, expected_grad)
    torch._dynamo.reset()



def test_torchscript_is_refused():
    with pytest.raises(NotImplementedError, match="TorchScript"):
        torch.jit.script(GATConv(8, 4, heads=2))
