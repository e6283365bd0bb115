"""GeneralConv: each configuration against its dense formula, GCN and SAGE parity, input forms."""

import pytest
import torch
from torch_geometric.nn import SAGEConv as PyGSAGEConv
from torch_geometric.typing import SparseTensor

from pyg_course.nn import GCNConv, GeneralConv
from tests.helpers.dense import dense_adjacency, dense_gcn
from tests.helpers.graphs import toy_graph

GRAPHS = ["path", "isolated", "self_loops", "duplicates", "directed", "star"]


def _weighted_reduce(x, edge_index, w, n, aggr):
    """Dense loop reference: a_i = reduce over edges j->i of w_e * x_j (0 without in-edges)."""
    out = torch.zeros(n, x.size(1), dtype=torch.float64)
    for i in range(n):
        sel = (edge_index[1] == i).nonzero().view(-1)
        if sel.numel() == 0:
            continue
        msgs = w[sel].view(-1, 1) * x[edge_index[0, sel]]
        out[i] = {"sum": msgs.sum(0), "mean": msgs.mean(0), "max": msgs.max(0).values}[aggr]
    return out


@pytest.mark.parametrize("graph", ["self_loops", "duplicates", "directed"])
@pytest.mark.parametrize("message", ["linear", "identity"])
@pytest.mark.parametrize("aggr", ["sum", "mean", "max"])
@pytest.mark.parametrize("combine", ["concat", "add", "none"])
def test_dense_reference(graph, message, aggr, combine):
    g = toy_graph(graph)
    n = g.num_nodes
    x = torch.randn(n, 4, dtype=torch.float64)
    w = torch.rand(g.edge_index.size(1), dtype=torch.float64) + 0.5
    conv = GeneralConv(4, 4, message=message, aggr=aggr, combine=combine).double()
    torch.nn.init.normal_(conv.bias)
    h = conv.lin_msg(x) if message == "linear" else x
    a = _weighted_reduce(h, g.edge_index, w, n, aggr)
    if combine == "concat":
        ref = torch.cat([x, a], 1) @ conv.lin_upd.weight.t()
    elif combine == "add":
        ref = x @ conv.lin_self.weight.t() + a
    else:
        ref = a
    ref = ref + conv.bias
    out = conv(x, g.edge_index, w)
    torch.testing.assert_close(out, ref, rtol=1e-10, atol=1e-10)
    # Fused sparse path: SparseTensor and torch.sparse give the same numbers.
    adj = SparseTensor(row=g.edge_index[1], col=g.edge_index[0], value=w, sparse_sizes=(n, n))
    torch.testing.assert_close(conv(x, adj), ref, rtol=1e-10, atol=1e-10)
    if aggr == "sum" or graph != "duplicates":  # torch.sparse merges duplicate edges
        torch.testing.assert_close(conv(x, adj.to_torch_sparse_coo_tensor()), ref,
                                   rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("graph", GRAPHS)
def test_gcn_configuration_equals_gcnconv(graph):
    g = toy_graph(graph)
    x = torch.randn(g.num_nodes, 5, dtype=torch.float64)
    gcn = GCNConv(5, 3).double()
    torch.nn.init.normal_(gcn.bias)
    gen = GeneralConv(5, 3, message="linear", aggr="sum", combine="none", normalize=True).double()
    gen.lin_msg.weight.data.copy_(gcn.lin.weight)
    gen.bias.data.copy_(gcn.bias)
    ref = dense_gcn(x, g.edge_index, gcn.lin.weight, gcn.bias)
    torch.testing.assert_close(gen(x, g.edge_index), ref, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(gcn(x, g.edge_index), ref, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("graph", GRAPHS)
def test_sage_configurations_equal_pyg_sageconv(graph):
    g = toy_graph(graph)
    x = torch.randn(g.num_nodes, 5)
    sage = PyGSAGEConv(5, 3, aggr="mean")
    ref = sage(x, g.edge_index)
    concat = GeneralConv(5, 3, message="identity", aggr="mean", combine="concat")
    concat.lin_upd.weight.data.copy_(torch.cat([sage.lin_r.weight, sage.lin_l.weight], 1))
    concat.bias.data.copy_(sage.lin_l.bias)
    torch.testing.assert_close(concat(x, g.edge_index), ref, rtol=1e-6, atol=1e-6)
    add = GeneralConv(5, 3, message="linear", aggr="mean", combine="add")
    add.lin_msg.weight.data.copy_(sage.lin_l.weight)
    add.lin_self.weight.data.copy_(sage.lin_r.weight)
    add.bias.data.copy_(sage.lin_l.bias)
    torch.testing.assert_close(add(x, g.edge_index), ref, rtol=1e-6, atol=1e-6)


def test_max_aggregation_against_dense_mask():
    g = toy_graph("star")
    x = torch.randn(g.num_nodes, 3, dtype=torch.float64)
    conv = GeneralConv(3, 3, message="identity", aggr="max", combine="none", bias=False)
    A = dense_adjacency(g.edge_index, g.num_nodes) > 0
    ref = torch.where(A.unsqueeze(-1), x.unsqueeze(0), torch.tensor(-torch.inf)).amax(1)
    torch.testing.assert_close(conv(x, g.edge_index), ref)


def test_edge_order_and_gradcheck():
    g = toy_graph("duplicates")
    x = torch.randn(g.num_nodes, 3, dtype=torch.float64, requires_grad=True)
    conv = GeneralConv(3, 2, message="linear", aggr="mean", combine="concat").double()
    perm = torch.randperm(g.edge_index.size(1))
    torch.testing.assert_close(conv(x, g.edge_index), conv(x, g.edge_index[:, perm]))
    assert torch.autograd.gradcheck(lambda t: conv(t, g.edge_index), (x,))


def test_bad_arguments():
    with pytest.raises(ValueError, match="aggr"):
        GeneralConv(3, 3, aggr="lstm")
    with pytest.raises(ValueError, match="out_channels must equal in_channels"):
        GeneralConv(3, 4, message="identity", combine="add")
    conv = GeneralConv(3, 4)
    with pytest.raises(ValueError, match="expected 3 input channels"):
        conv(torch.randn(4, 5), toy_graph("path").edge_index)
    with pytest.raises(IndexError, match="only 3"):
        conv(torch.randn(3, 3), toy_graph("path").edge_index)
    assert "combine='concat'" in repr(conv)
