"""GATConv equals the masked dense N x N formulation, PyG's GATConv, and itself across input
forms; its softmax is stable for extreme logits."""

import pytest
import torch
import torch.nn.functional as F
from torch_geometric.nn import GATConv as PyGGATConv
from torch_geometric.typing import SparseTensor
from torch_geometric.utils import coalesce, scatter

from pyg_course.nn import GATConv
from pyg_course.nn.conv import edge_softmax

# 7 nodes: node 6 is isolated, 0 -> 1 appears twice (duplicate), 2 -> 3 has no reverse edge
# (directed), 4 has an existing self-loop (twice) that must be replaced by exactly one, node 5
# only sends.
EDGES = torch.tensor([
    [0, 0, 1, 2, 3, 1, 4, 4, 5, 5, 3],
    [1, 1, 0, 3, 1, 2, 4, 4, 4, 0, 2],
])
NUM_NODES = 7


def dense_gat(conv, x_src, x_dst, edge_index):
    r"""The masked dense formulation, per head: scores for every pair (i, j), -inf where there
    is no edge j -> i (nor self-loop), row softmax, then A X W. An edge that appears m times is
    m terms of the softmax, i.e. its logit is shifted by log m. Rows without any edge are 0."""
    H, C = conv.heads, conv.out_channels
    n_src, n_dst = x_src.size(0), x_dst.size(0)
    count = torch.zeros(n_dst, n_src, dtype=x_src.dtype)
    count.index_put_((edge_index[1], edge_index[0]), torch.ones(edge_index.size(1),
                     dtype=x_src.dtype), accumulate=True)
    if conv.add_self_loops:
        k = min(n_src, n_dst)
        count[torch.arange(k), torch.arange(k)] = 1.0
    w_src = conv.lin.weight if conv.lin is not None else conv.lin_src.weight
    w_dst = conv.lin.weight if conv.lin is not None else conv.lin_dst.weight
    h_src = (x_src @ w_src.t()).view(n_src, H, C)
    h_dst = (x_dst @ w_dst.t()).view(n_dst, H, C)
    s_src = (h_src * conv.att_src).sum(-1)                       # (n_src, H)
    s_dst = (h_dst * conv.att_dst).sum(-1)                       # (n_dst, H)
    e = F.leaky_relu(s_dst.t()[:, :, None] + s_src.t()[:, None, :], conv.negative_slope)
    logits = torch.where(count > 0, e + count.log(), torch.full_like(e, float("-inf")))
    alpha = torch.softmax(logits, dim=-1).nan_to_num(0.0)         # (H, n_dst, n_src)
    out = torch.einsum("hij,jhc->ihc", alpha, h_src)
    out = out.reshape(n_dst, H * C) if conv.concat else out.mean(1)
    if conv.res is not None:
        out = out + x_dst @ conv.res.weight.t()
    if conv.bias is not None:
        out = out + conv.bias
    return out, alpha, count


def edge_alpha_from_dense(alpha, count, edge_index):
    """Per-edge attention: a duplicate edge gets 1/m of the dense entry."""
    src, dst = edge_index
    return (alpha[:, dst, src] / count[dst, src]).t()


def make_conv(in_channels, out_channels, seed=0, **kwargs):
    torch.manual_seed(seed)
    conv = GATConv(in_channels, out_channels, **kwargs).double()
    with torch.no_grad():  # non-zero bias and larger attention vectors: nothing can hide
        if conv.bias is not None:
            conv.bias.normal_()
        conv.att_src.mul_(3.0)
        conv.att_dst.mul_(3.0)
    return conv


@pytest.mark.parametrize("fuse", [True, False])
@pytest.mark.parametrize("heads", [1, 4])
@pytest.mark.parametrize("concat", [True, False])
@pytest.mark.parametrize("add_self_loops", [True, False])
def test_equals_dense_reference(fuse, heads, concat, add_self_loops):
    conv = make_conv(5, 3, heads=heads, concat=concat, add_self_loops=add_self_loops)
    conv.fuse = fuse
    x = torch.randn(NUM_NODES, 5, dtype=torch.double)
    out, (ei, alpha) = conv(x, EDGES, return_attention_weights=True)
    ref_out, ref_alpha, count = dense_gat(conv, x, x, EDGES)
    assert out.shape == (NUM_NODES, heads * 3 if concat else 3)
    torch.testing.assert_close(out, ref_out, atol=1e-10, rtol=1e-10)
    torch.testing.assert_close(alpha, edge_alpha_from_dense(ref_alpha, count, ei),
                               atol=1e-12, rtol=1e-10)
    if add_self_loops:
        # old self-loops of node 4 removed, exactly one loop per node appended
        loops = ei[:, ei[0] == ei[1]]
        assert torch.equal(loops, torch.arange(NUM_NODES).repeat(2, 1))
        assert ei.size(1) == EDGES.size(1) - 2 + NUM_NODES
        # the isolated node attends only to itself
        torch.testing.assert_close(alpha[(ei[1] == 6)], torch.ones(1, heads, dtype=alpha.dtype))
    else:
        assert torch.equal(ei, EDGES)
        bias = conv.bias
        torch.testing.assert_close(out[6], bias)  # isolated, no loop: nothing to aggregate


def test_duplicate_edges_share_attention():
    conv = make_conv(5, 3, heads=2)
    x = torch.randn(NUM_NODES, 5, dtype=torch.double)
    _, (ei, alpha) = conv(x, EDGES, return_attention_weights=True)
    dup = ((ei[0] == 0) & (ei[1] == 1)).nonzero().view(-1)
    assert dup.numel() == 2
    torch.testing.assert_close(alpha[dup[0]], alpha[dup[1]])
    # each copy is one term of node 1's softmax: the pair and the other edges sum to 1
    into_1 = alpha[ei[1] == 1]
    assert into_1.size(0) == 4  # 0 -> 1 twice, 3 -> 1, the self-loop
    torch.testing.assert_close(into_1.sum(0), torch.ones(2, dtype=alpha.dtype))


@pytest.mark.parametrize("fuse", [True, False])
def test_attention_sums_to_one(fuse):
    torch.manual_seed(1)
    n = 60
    edge_index = torch.randint(0, n, (2, 300))
    conv = GATConv(8, 4, heads=3)
    conv.fuse = fuse
    x = torch.randn(n, 8)
    _, (ei, alpha) = conv(x, edge_index, return_attention_weights=True)
    assert alpha.shape == (ei.size(1), 3)
    assert bool((alpha > 0).all())
    sums = scatter(alpha, ei[1], dim=0, dim_size=n, reduce="sum")
    torch.testing.assert_close(sums, torch.ones(n, 3))


@pytest.mark.parametrize("fuse", [True, False])
def test_extreme_logits_are_stable(fuse):
    conv = GATConv(4, 2, heads=2).double()
    conv.fuse = fuse
    x = torch.randn(NUM_NODES, 4, dtype=torch.double)
    with torch.no_grad():
        h = (x @ conv.lin.weight.t()).view(NUM_NODES, 2, 2)
        scale = 1e4 / (h * conv.att_src).sum(-1).abs().max()
        conv.att_src.mul_(scale)
        conv.att_dst.mul_(scale)
    out, (ei, alpha) = conv(x, EDGES, return_attention_weights=True)
    with torch.no_grad():
        s = ((h * conv.att_src).sum(-1)[ei[0]] + (h * conv.att_dst).sum(-1)[ei[1]])
        logits = F.leaky_relu(s, 0.2)
    # the test means something: logits reach +-1e4 and a naive exp overflows / underflows
    assert logits.abs().max() >= 1e4 * 0.99
    assert bool(torch.isinf(logits.exp()).any())
    assert bool(torch.isfinite(out).all()) and bool(torch.isfinite(alpha).all())
    sums = scatter(alpha, ei[1], dim=0, dim_size=NUM_NODES, reduce="sum")
    torch.testing.assert_close(sums, torch.ones_like(sums))
    ref_out, _, _ = dense_gat(conv, x, x, EDGES)
    torch.testing.assert_close(out, ref_out)
    out.sum().backward()
    assert all(bool(torch.isfinite(p.grad).all()) for p in conv.parameters())


@pytest.mark.parametrize("concat", [True, False])
@pytest.mark.parametrize("heads", [1, 4])
@pytest.mark.parametrize("residual", [False, True])
def test_pyg_parity(concat, heads, residual):
    torch.manual_seed(2)
    n = 50
    edge_index = torch.randint(0, n, (2, 250))
    x = torch.randn(n, 16)
    theirs = PyGGATConv(16, 8, heads=heads, concat=concat, residual=residual)
    ours = GATConv(16, 8, heads=heads, concat=concat, residual=residual)
    ours.load_state_dict(theirs.state_dict(), strict=True)
    assert set(ours.state_dict()) == set(theirs.state_dict())
    out_t, (ei_t, alpha_t) = theirs(x, edge_index, return_attention_weights=True)
    for fuse in (True, False):
        ours.fuse = fuse
        out_o, (ei_o, alpha_o) = ours(x, edge_index, return_attention_weights=True)
        torch.testing.assert_close(out_o, out_t, atol=1e-6, rtol=1e-6)
        assert torch.equal(ei_o, ei_t)
        torch.testing.assert_close(alpha_o, alpha_t, atol=1e-6, rtol=1e-6)


def test_pyg_parity_bipartite():
    torch.manual_seed(3)
    x_src, x_dst = torch.randn(30, 6), torch.randn(12, 4)
    edge_index = torch.stack([torch.randint(0, 30, (90,)), torch.randint(0, 12, (90,))])
    theirs = PyGGATConv((6, 4), 5, heads=2, residual=True)
    ours = GATConv((6, 4), 5, heads=2, residual=True)
    ours.load_state_dict(theirs.state_dict(), strict=True)
    expected = theirs((x_src, x_dst), edge_index)
    for fuse in (True, False):
        ours.fuse = fuse
        torch.testing.assert_close(ours((x_src, x_dst), edge_index), expected)


@pytest.mark.parametrize("fuse", [True, False])
def test_bipartite_equals_dense_and_full_graph(fuse):
    conv = make_conv(5, 3, heads=2, residual=True)
    conv.fuse = fuse
    x_src = torch.randn(9, 5, dtype=torch.double)
    x_dst = torch.randn(4, 5, dtype=torch.double)
    edge_index = torch.tensor([[0, 5, 8, 8, 2, 7, 1], [0, 0, 1, 1, 3, 3, 2]])
    out = conv((x_src, x_dst), edge_index)
    assert out.shape == (4, 6)
    torch.testing.assert_close(out, dense_gat(conv, x_src, x_dst, edge_index)[0])
    # a mini-batch whose targets are the first source nodes equals the full graph's rows
    full = conv(x_src, edge_index)
    torch.testing.assert_close(conv((x_src, x_src[:4]), edge_index), full[:4])


@pytest.mark.parametrize("fuse", [True, False])
def test_input_forms_agree(fuse):
    torch.manual_seed(4)
    n = 40
    # A sparse matrix holds one entry per (i, j): compare on a graph without duplicates.
    edge_index = coalesce(torch.randint(0, n, (2, 200)), num_nodes=n)
    num_edges = edge_index.size(1)
    x = torch.randn(n, 8, dtype=torch.double)
    conv = make_conv(8, 4, heads=3)
    conv.fuse = fuse
    expected = conv(x, edge_index)
    adj_t = SparseTensor(row=edge_index[1], col=edge_index[0], sparse_sizes=(n, n))
    coo = torch.sparse_coo_tensor(edge_index.flip(0), torch.rand(num_edges), (n, n))
    perm = torch.randperm(num_edges)
    for adj in (adj_t, coo, coo.coalesce().to_sparse_csr(), edge_index[:, perm],
                edge_index.int()):
        torch.testing.assert_close(conv(x, adj), expected, atol=1e-12, rtol=1e-10)
    # the returned attention refers to the returned edges, whatever the input form
    # (a SparseTensor input gets a SparseTensor of attention back, as in PyG)
    _, att = conv(x, adj_t, return_attention_weights=True)
    assert isinstance(att, SparseTensor) and att.sparse_sizes() == (n, n)
    dst, src, alpha = att.coo()
    ei = torch.stack([src, dst])
    _, ref_alpha, count = dense_gat(conv, x, x, edge_index)
    torch.testing.assert_close(alpha, edge_alpha_from_dense(ref_alpha, count, ei))


def test_fused_and_unfused_gradients_agree():
    torch.manual_seed(5)
    n = 30
    edge_index = torch.randint(0, n, (2, 120))
    x = torch.randn(n, 6, dtype=torch.double, requires_grad=True)
    conv = make_conv(6, 4, heads=2, residual=True)
    grads = []
    for fuse in (True, False):
        conv.fuse = fuse
        conv.zero_grad()
        x.grad = None
        (conv(x, edge_index) ** 2).sum().backward()
        grads.append([x.grad.clone()] + [p.grad.clone() for p in conv.parameters()])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("fuse", [True, False])
def test_gradcheck(fuse):
    conv = make_conv(3, 2, heads=2, residual=True)
    conv.fuse = fuse
    edge_index = torch.tensor([[0, 1, 2, 3, 3, 0], [1, 2, 1, 0, 0, 3]])
    x = torch.randn(5, 3, dtype=torch.double, requires_grad=True)
    names = [n for n, _ in conv.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_() for p in conv.parameters())

    def f(x, *ps):
        return torch.func.functional_call(conv, dict(zip(names, ps)), (x, edge_index))

    assert torch.autograd.gradcheck(f, (x, *params))


def test_attention_dropout():
    torch.manual_seed(6)
    n = 50
    edge_index = torch.randint(0, n, (2, 300))
    x = torch.randn(n, 8)
    conv = GATConv(8, 4, heads=2, dropout=0.5)
    conv.eval()
    out_eval, (_, alpha_eval) = conv(x, edge_index, return_attention_weights=True)
    torch.testing.assert_close(conv(x, edge_index), out_eval)  # deterministic in eval
    conv.train()
    _, (_, alpha_train) = conv(x, edge_index, return_attention_weights=True)
    dropped = alpha_train == 0
    assert 0.3 < float(dropped.float().mean()) < 0.7
    torch.testing.assert_close(alpha_train[~dropped], 2 * alpha_eval[~dropped])


def test_bad_input():
    with pytest.raises(ValueError, match="heads must be a positive integer"):
        GATConv(4, 2, heads=0)
    with pytest.raises(ValueError, match="heads must be a positive integer"):
        GATConv(4, 2, heads=-3)
    conv = GATConv(4, 2, heads=2)
    with pytest.raises(ValueError, match="expected 4 input channels"):
        conv(torch.randn(NUM_NODES, 5), EDGES)
    with pytest.raises(ValueError, match="expected 4 input channels"):
        conv((torch.randn(NUM_NODES, 4), torch.randn(3, 6)), EDGES)
    with pytest.raises(IndexError, match="only 7 source nodes"):
        conv(torch.randn(NUM_NODES, 4), torch.tensor([[7], [0]]))
    with pytest.raises(ValueError, match="shape \\(2, num_edges\\)"):
        conv(torch.randn(NUM_NODES, 4), EDGES.t())
    with pytest.raises(ValueError, match="does not match"):
        conv(torch.randn(NUM_NODES, 4), SparseTensor(row=EDGES[1], col=EDGES[0],
                                                     sparse_sizes=(9, 9)))
    with pytest.raises(ValueError, match="pair"):
        GATConv((4, 3), 2)(torch.randn(NUM_NODES, 4), EDGES)


def test_repr():
    assert repr(GATConv(8, 8, heads=8)) == "GATConv(8, 8, heads=8)"
    # PyG's repr: in/out channels and heads only, whatever the other options
    assert repr(GATConv(64, 7, heads=1, concat=False)) == "GATConv(64, 7, heads=1)"
    assert repr(GATConv((8, 16), 32, heads=2, residual=True)) == "GATConv((8, 16), 32, heads=2)"


@pytest.mark.parametrize("fuse", [True, False])
def test_structure_is_reused_for_the_same_unmodified_edge_index(fuse):
    """The edges after self-loop handling (and the sorted CSR adjacency) are built once per
    graph tensor; an in-place edit of that tensor, or another tensor, rebuilds them."""
    torch.manual_seed(0)
    conv = GATConv(5, 3, heads=2)
    conv.fuse = fuse
    x = torch.randn(NUM_NODES, 5, dtype=torch.float64)
    conv = conv.double()
    edge_index = EDGES.clone()
    first = conv(x, edge_index)
    structure = conv._structure_cache[2]
    second = conv(x, edge_index)
    assert conv._structure_cache[2] is structure  # reused
    torch.testing.assert_close(first, second)
    (second.square().sum()).backward()  # the backward's transpose is built on the cached one
    torch.testing.assert_close(conv(x, edge_index), dense_gat(conv, x, x, edge_index)[0])

    edge_index[0, 0] = 6  # in place: 6 -> 1 instead of 0 -> 1
    edited = conv(x, edge_index)
    assert conv._structure_cache[2] is not structure
    torch.testing.assert_close(edited, dense_gat(conv, x, x, edge_index)[0])
    assert not torch.allclose(edited, first)

    other = EDGES.clone()  # same values, another tensor: rebuilt, same numbers as the first
    torch.testing.assert_close(conv(x, other), first)
    assert conv._structure_cache[0] is other


@pytest.mark.parametrize("sorted_with_ptr", [False, True])
def test_edge_softmax_equals_a_dense_softmax_per_target(sorted_with_ptr):
    """Each target's incoming logits against ``torch.softmax`` over that target's edges alone
    (float64), per head, with logits large enough to overflow an unshifted exponent; a target
    without edges gets nothing. Both reductions: the scatter over the edge list and, for edges
    sorted by target, the segment reduction over a CSR pointer."""
    torch.manual_seed(0)
    index = torch.tensor([2, 0, 2, 2, 0, 3, 3, 2])  # node 1 receives nothing
    logits = torch.randn(index.numel(), 3, dtype=torch.float64) * 400
    ptr = None
    if sorted_with_ptr:
        index, order = torch.sort(index, stable=True)
        logits = logits[order]
        ptr = torch.cat([torch.zeros(1, dtype=torch.long),
                         torch.bincount(index, minlength=4).cumsum(0)])
    alpha = edge_softmax(logits, index, 4, ptr)
    assert torch.isfinite(alpha).all()
    for node in range(4):
        rows = index == node
        if rows.any():
            torch.testing.assert_close(alpha[rows], torch.softmax(logits[rows], dim=0))
