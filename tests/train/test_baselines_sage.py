"""PyGGraphSAGE (the ``--impl pyg`` peer of scripts/train_sage.py): our GraphSAGE and the one
built from PyG's SAGEConv compute the same function in training mode too (dropout, gradients)."""

import pytest
import torch

from pyg_course.datasets import csbm
from pyg_course.nn.models import GraphSAGE
from pyg_course.train.baselines import PyGGraphSAGE


@pytest.fixture(scope="module")
def graph():
    return csbm(num_nodes=300, num_classes=3, num_val=50, num_test=100, seed=0)


@pytest.mark.parametrize("aggr", ["mean", "pool"])
@pytest.mark.parametrize("input_dropout", [0.0, 0.5])
def test_training_step_matches_ours(graph, aggr, input_dropout):
    pyg = PyGGraphSAGE(graph.num_features, 16, 2, 3, dropout=0.5, aggr=aggr,
                       input_dropout=input_dropout)
    ours = GraphSAGE(graph.num_features, 16, 2, 3, dropout=0.5, aggr=aggr,
                     input_dropout=input_dropout)
    ours.load_state_dict(pyg.state_dict(), strict=True)
    grads = []
    for model in (ours, pyg):
        model.train()
        torch.manual_seed(1)  # the same dropout masks in both
        out = model(graph.x, graph.edge_index)
        loss = torch.nn.functional.cross_entropy(out[graph.train_mask], graph.y[graph.train_mask])
        loss.backward()
        grads.append((out.detach(), {k: p.grad for k, p in model.named_parameters()}))
    (out_a, g_a), (out_b, g_b) = grads
    torch.testing.assert_close(out_a, out_b, atol=1e-6, rtol=1e-6)
    assert g_a.keys() == g_b.keys()
    for name in g_a:
        torch.testing.assert_close(g_a[name], g_b[name], atol=1e-6, rtol=1e-5)
    assert any(float(g.abs().sum()) > 0 for g in g_a.values())
    # and the training masks really were random (a second draw differs)
    ours.eval()
    assert not torch.allclose(out_a, ours(graph.x, graph.edge_index))


@pytest.mark.parametrize("aggr", ["gcn", "lstm", "max"])
def test_unfaithful_aggregators_are_rejected(aggr):
    with pytest.raises(ValueError, match="'mean', 'pool'"):
        PyGGraphSAGE(8, 4, 2, 3, aggr=aggr)


@pytest.mark.parametrize("aggr", ["mean", "pool"])
def test_edge_index_goes_through_sparse_adjacency_with_the_same_result(graph, aggr):
    # The peer hands an edge_index to PyG's layers as a SparseTensor adj_t; PyG's own
    # edge_index path (message per edge) must give the same numbers.
    model = PyGGraphSAGE(graph.num_features, 16, 2, 3, aggr=aggr).double().eval()
    x = graph.x.double()
    h = x
    for i, conv in enumerate(model.convs):
        h = conv(h, graph.edge_index)
        h = h.relu() if i < len(model.convs) - 1 else h
    torch.testing.assert_close(model(x, graph.edge_index), h, atol=1e-10, rtol=1e-10)
    with pytest.raises(IndexError, match="PyGGraphSAGE: edge_index has source node 300"):
        model(x, torch.tensor([[0, graph.num_nodes], [1, 2]]))
