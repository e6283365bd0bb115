"""The fused attention-weighted sum of GATConv (``gat_aggregate``): its forward and both
gradients against the sum over edges written out, for every edge case of a graph; its sparse
structure built once per graph and rebuilt when the graph changes; the compiled formulas
against the eager ones; and the whole layer compiled against eager, fused and unfused."""

import pytest
import torch
import torch._dynamo
from torch_geometric.typing import SparseTensor

from pyg_course.nn import GATConv
from pyg_course.nn.conv import gat_conv
from pyg_course.nn.conv.gat_conv import attention_grad, gat_aggregate, head_blocks

# 5 sources -> 4 targets: a duplicate edge (1 -> 0 twice), existing self-loops (0 -> 0,
# 2 -> 2), source 4 and target 3 without edges
SRC = torch.tensor([1, 1, 0, 2, 4, 3, 2, 0])
DST = torch.tensor([0, 0, 0, 2, 1, 1, 1, 2])


def edges_with_loops(src, dst, num_loops):
    loops = torch.arange(num_loops)
    return torch.cat([src, loops]), torch.cat([dst, loops])


def reference(alpha, x, src, dst, num_dst, num_loops):
    """The sum over the edges (then the self-loops), one message per edge."""
    src, dst = edges_with_loops(src, dst, num_loops)
    out = x.new_zeros(num_dst, x.size(1), x.size(2))
    return out.index_add(0, dst, alpha.unsqueeze(-1) * x[src])


@pytest.mark.parametrize("num_src,num_dst", [(5, 4), (4, 5), (5, 5)])
@pytest.mark.parametrize("num_loops", [0, 4])
@pytest.mark.parametrize("heads,channels", [(1, 1), (3, 3), (2, 8), (2, 17)])
def test_forward_and_gradients_equal_the_sum_over_edges(num_src, num_dst, num_loops, heads,
                                                        channels):
    torch.manual_seed(0)
    keep = (SRC < num_src) & (DST < num_dst)
    src, dst = SRC[keep], DST[keep]
    num_edges = src.numel() + num_loops
    alpha = torch.rand(num_edges, heads, dtype=torch.float64, requires_grad=True)
    x = torch.randn(num_src, heads, channels, dtype=torch.float64, requires_grad=True)
    grad = torch.randn(num_dst, heads, channels, dtype=torch.float64)

    out = gat_aggregate(alpha, x, src, dst, num_dst, num_loops)
    expected = reference(alpha, x, src, dst, num_dst, num_loops)
    torch.testing.assert_close(out, expected)
    got = torch.autograd.grad(out, (alpha, x), grad)
    want = torch.autograd.grad(expected, (alpha, x), grad)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b)
    assert torch.autograd.gradcheck(
        lambda a, h: gat_aggregate(a, h, src, dst, num_dst, num_loops), (alpha, x),
        fast_mode=True)


@pytest.mark.parametrize("num_src,num_dst", [(0, 0), (0, 3), (3, 0), (4, 3)])
def test_empty_graphs(num_src, num_dst):
    empty = torch.empty(0, dtype=torch.long)
    alpha = torch.rand(0, 2, requires_grad=True)
    x = torch.randn(num_src, 2, 3, requires_grad=True)
    out = gat_aggregate(alpha, x, empty, empty, num_dst, 0)
    assert out.shape == (num_dst, 2, 3) and not out.any()
    out.sum().backward()
    assert alpha.grad.shape == (0, 2) and x.grad.shape == x.shape and not x.grad.any()


@pytest.mark.parametrize("channels", [1, 3, 7, 8, 17])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_attention_grad_compiled_equals_eager(channels, dtype):
    """Under compile the attention gradient is written with gathers; in eager mode it is a
    sampled product (short rows zero-padded): both are the dot product per edge and head."""
    torch.manual_seed(1)
    grad = torch.randn(4, 3, channels, dtype=dtype)
    x = torch.randn(5, 3, channels, dtype=dtype)
    eager = attention_grad(grad, x, SRC, DST, 4)
    src, dst = edges_with_loops(SRC, DST, 4)
    torch.testing.assert_close(eager, (grad[dst] * x[src]).sum(-1))
    torch._dynamo.reset()
    compiled = torch.compile(attention_grad, backend="aot_eager", fullgraph=True)
    torch.testing.assert_close(compiled(grad, x, SRC, DST, 4), eager)
    torch._dynamo.reset()


@pytest.fixture
def builds(monkeypatch):
    """The arguments of every build of a graph's sparse structure, in order."""
    calls = []
    build = gat_conv._build_head_blocks

    def counting(*args):
        calls.append(args)
        return build(*args)

    monkeypatch.setattr(gat_conv, "_build_head_blocks", counting)
    return calls


def test_structure_is_built_once_per_graph(builds):
    """The same index tensors (or views of the same memory) reuse the structure; an in-place
    edit or other tensors rebuild it, with the right numbers; inference tensors are never
    cached but give the same numbers."""
    edge_index = torch.stack([SRC, DST])
    first = head_blocks(edge_index[0], edge_index[1], 5, 4, 2, 3)
    assert head_blocks(edge_index[0], edge_index[1], 5, 4, 2, 3) is first
    assert len(builds) == 1
    head_blocks(edge_index[0], edge_index[1], 5, 4, 2, 2)  # other heads: other structure
    assert len(builds) == 2

    alpha = torch.rand(SRC.numel() + 2, 3, dtype=torch.float64)
    x = torch.randn(5, 3, 2, dtype=torch.float64)
    edge_index[0, 0] = 4  # in place: 4 -> 0 instead of 1 -> 0
    out = gat_aggregate(alpha, x, edge_index[0], edge_index[1], 4, 2)
    assert len(builds) == 3
    torch.testing.assert_close(out, reference(alpha, x, edge_index[0], edge_index[1], 4, 2))

    other = edge_index.clone()
    torch.testing.assert_close(gat_aggregate(alpha, x, other[0], other[1], 4, 2), out)
    assert len(builds) == 4

    with torch.inference_mode():
        frozen = edge_index.clone()
        for _ in range(2):
            torch.testing.assert_close(gat_aggregate(alpha, x, frozen[0], frozen[1], 4, 2), out)
    assert len(builds) == 6


def test_compiled_training_builds_the_structure_once(builds):
    """A compiled layer trained on one graph builds the structure of its edges and of their
    reverse (for the backward pass) in the first step only."""
    torch.manual_seed(2)
    conv = GATConv(6, 4, heads=2)
    x = torch.randn(5, 6, requires_grad=True)
    edge_index = torch.stack([SRC, DST])
    torch._dynamo.reset()
    compiled = torch.compile(conv, backend="aot_eager", fullgraph=True)
    for _ in range(3):
        compiled(x, edge_index).square().sum().backward()
    assert len(builds) == 2
    torch._dynamo.reset()


def graph_forms(num_src, num_dst):
    edge_index = torch.stack([SRC, DST])
    keep = (edge_index[0] < num_src) & (edge_index[1] < num_dst)
    edge_index = edge_index[:, keep]
    adj_t = SparseTensor(row=edge_index[1], col=edge_index[0], sparse_sizes=(num_dst, num_src))
    return {"edge_index": edge_index, "SparseTensor": adj_t}


@pytest.mark.parametrize("form", ["edge_index", "SparseTensor"])
@pytest.mark.parametrize("add_self_loops", [True, False])
@pytest.mark.parametrize("sizes", [(5, 5), (5, 4), (4, 5), "empty"])
def test_compiled_equals_eager_fused_and_unfused(form, add_self_loops, sizes):
    """Output and every gradient of the compiled layer (fused and unfused) equal eager's, for
    a graph with duplicate edges and own self-loops, bipartite graphs both ways, and a graph
    without edges."""
    torch.manual_seed(3)
    num_src, num_dst = (5, 5) if sizes == "empty" else sizes
    graph = graph_forms(num_src, num_dst)[form]
    if sizes == "empty":
        graph = (torch.empty(2, 0, dtype=torch.long) if form == "edge_index" else
                 SparseTensor(row=torch.empty(0, dtype=torch.long),
                              col=torch.empty(0, dtype=torch.long), sparse_sizes=(5, 5)))
    bipartite = num_src != num_dst
    conv = GATConv((6, 3) if bipartite else 6, 4, heads=2, residual=True,
                   add_self_loops=add_self_loops).double()
    with torch.no_grad():
        conv.bias.normal_()
    x_src = torch.randn(num_src, 6, dtype=torch.float64, requires_grad=True)
    x_dst = torch.randn(num_dst, 3, dtype=torch.float64, requires_grad=True)
    x = (x_src, x_dst) if bipartite else x_src
    inputs = [x_src, x_dst] if bipartite else [x_src]

    def run(fn, fuse):
        conv.fuse = fuse
        conv.zero_grad()
        for t in inputs:
            t.grad = None
        out = fn(x, graph)
        out.square().sum().backward()
        return [out.detach()] + [t.grad for t in inputs] + [p.grad for p in conv.parameters()]

    expected = run(conv, fuse=False)
    for fuse in (True, False):
        torch._dynamo.reset()
        compiled = torch.compile(conv, backend="aot_eager", fullgraph=True)
        for name, got in (("eager", run(conv, fuse)), ("compiled", run(compiled, fuse))):
            for a, b in zip(got, expected):
                torch.testing.assert_close(a, b, msg=f"{name}, fuse={fuse}")
    torch._dynamo.reset()


def test_compiled_with_inductor_and_short_rows():
    """The default backend, 3 heads of 7 channels averaged (the channels of Cora's output
    layer, shorter than a SIMD register): output and gradients equal eager's."""
    torch.manual_seed(4)
    conv = GATConv(6, 7, heads=3, concat=False)
    x = torch.randn(5, 6, requires_grad=True)
    edge_index = torch.stack([SRC, DST])
    expected = conv(x, edge_index)
    expected.square().sum().backward()
    grads = [x.grad] + [p.grad.clone() for p in conv.parameters()]
    conv.zero_grad()
    x.grad = None
    torch._dynamo.reset()
    out = torch.compile(conv, fullgraph=True)(x, edge_index)
    out.square().sum().backward()
    torch.testing.assert_close(out, expected)
    for a, b in zip([x.grad] + [p.grad for p in conv.parameters()], grads):
        torch.testing.assert_close(a, b)
    torch._dynamo.reset()
