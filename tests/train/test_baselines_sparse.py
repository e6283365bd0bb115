"""PyG's peers take the sparse bag-of-words features the loop gives our models (GCNConv,
GATConv and SAGEConv(project=True) multiply the input by a weight first): same outputs and
gradients as with dense features, so the peer column measures PyG's layers, not the format."""

import copy

import pytest
import torch

from pyg_course.train import prepare_features
from pyg_course.train.baselines import PyGGAT, PyGGCN, PyGGraphSAGE


def _graph():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(60, 30, generator=g) * (torch.rand(60, 30, generator=g) < 0.08)
    edge_index = torch.randint(0, 60, (2, 240), generator=g)
    return x, edge_index


@pytest.mark.parametrize("build", [
    lambda: PyGGCN(30, 16, 2, 4, dropout=0.0),
    lambda: PyGGAT(30, 4, 2, 4, heads=2, dropout=0.0),
    lambda: PyGGraphSAGE(30, 16, 2, 4, aggr="pool"),
    lambda: PyGGraphSAGE(30, 16, 2, 4, aggr="mean"),
], ids=["gcn", "gat", "sage-pool", "sage-mean"])
def test_pyg_peer_sparse_features_equal_dense(build):
    torch.manual_seed(0)
    dense_model = build()
    sparse_model = copy.deepcopy(dense_model)
    x, edge_index = _graph()
    assert sparse_model.supports_sparse_features
    csr = x.to_sparse_csr()
    out_dense = dense_model(x, edge_index)
    out_sparse = sparse_model(csr, edge_index)
    torch.testing.assert_close(out_sparse, out_dense, atol=1e-5, rtol=1e-5)
    out_dense.square().sum().backward()
    out_sparse.square().sum().backward()
    for (name, a), b in zip(sparse_model.named_parameters(), dense_model.parameters()):
        assert a.grad is not None, name
        torch.testing.assert_close(a.grad, b.grad, atol=1e-5, rtol=1e-4, msg=name)


def test_pyg_mean_peer_drops_out_the_non_zeros_then_densifies():
    # PyG's mean SAGEConv aggregates the raw input before any product, so the peer densifies
    # the features after the sparse input dropout: the same masks as our model's.
    from torch_geometric.data import Data

    from pyg_course.nn.models import GraphSAGE

    x, edge_index = _graph()
    pyg = PyGGraphSAGE(30, 16, 2, 4, aggr="mean", input_dropout=0.5)
    ours = GraphSAGE(30, 16, 2, 4, aggr="mean", input_dropout=0.5)
    ours.load_state_dict(pyg.state_dict(), strict=True)
    csr = prepare_features(pyg, Data(x=x, edge_index=edge_index)).x
    assert csr.layout == torch.sparse_csr
    outs = []
    for model in (ours, pyg):
        torch.manual_seed(2)
        outs.append(model(csr, edge_index))
    torch.testing.assert_close(outs[0], outs[1], atol=1e-5, rtol=1e-5)
    pyg.eval()
    assert not torch.allclose(outs[1], pyg(csr, edge_index))  # the dropout really dropped
