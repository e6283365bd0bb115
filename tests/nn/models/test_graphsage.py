"""GraphSAGE: PyG parity, layer-wise inference equals the full-batch forward, JK, training."""

import pytest
import torch
import torch.nn.functional as F
from torch_geometric.loader import NeighborLoader
from torch_geometric.nn.models import GraphSAGE as PyGGraphSAGE

from pyg_course.datasets import csbm
from pyg_course.nn.models import GraphSAGE


@pytest.fixture(scope="module")
def graph():
    return csbm(num_nodes=600, num_classes=3, num_val=100, num_test=300, seed=0)


def test_pyg_graphsage_state_dict_loads(graph):
    pyg = PyGGraphSAGE(graph.num_features, 16, 2, 3, dropout=0.5)
    ours = GraphSAGE(graph.num_features, 16, 2, 3, dropout=0.5)
    ours.load_state_dict(pyg.state_dict(), strict=True)
    pyg.eval(), ours.eval()
    torch.testing.assert_close(ours(graph.x, graph.edge_index),
                               pyg(graph.x, graph.edge_index), atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("aggr", ["mean", "gcn", "pool", "lstm"])
@pytest.mark.parametrize("jk", [None, "cat"])
def test_inference_equals_full_batch(graph, aggr, jk):
    model = GraphSAGE(graph.num_features, 8, 3, 3, dropout=0.5, aggr=aggr, jk=jk,
                      aggr_channels=8 if aggr == "lstm" else None).eval()
    loader = NeighborLoader(graph, num_neighbors=[-1], batch_size=64, shuffle=False)
    full = model(graph.x, graph.edge_index)
    out = model.inference(loader, "cpu")
    assert out.shape == (graph.num_nodes, 3)
    torch.testing.assert_close(out, full, atol=1e-5, rtol=1e-5)


def test_inference_rejects_multi_hop_loader(graph):
    model = GraphSAGE(graph.num_features, 8, 2, 3).eval()
    loader = NeighborLoader(graph, num_neighbors=[-1, -1], batch_size=64, shuffle=False)
    with pytest.raises(ValueError, match="one-hop loader"):
        model.inference(loader)


def test_dropout_only_in_training(graph):
    model = GraphSAGE(graph.num_features, 16, 2, 3, dropout=0.5)
    model.train()
    a, b = model(graph.x, graph.edge_index), model(graph.x, graph.edge_index)
    assert not torch.allclose(a, b)
    model.eval()
    torch.testing.assert_close(model(graph.x, graph.edge_index), model(graph.x, graph.edge_index))


def test_input_dropout(graph):
    """Input dropout acts on the features before the first layer, in training only: with
    p = 1 every input is zeroed, so the training output is the model applied to zeros."""
    model = GraphSAGE(graph.num_features, 16, 2, 3, input_dropout=1.0)
    model.train()
    zeros = torch.zeros_like(graph.x)
    torch.testing.assert_close(model(graph.x, graph.edge_index),
                               model(zeros, graph.edge_index))
    model.eval()
    assert not torch.allclose(model(graph.x, graph.edge_index), model(zeros, graph.edge_index))
    loader = NeighborLoader(graph, num_neighbors=[-1], batch_size=128, shuffle=False)
    torch.testing.assert_close(model.inference(loader, "cpu"), model(graph.x, graph.edge_index),
                               atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("aggr", ["mean", "gcn", "pool", "lstm"])
def test_learns_csbm(graph, aggr):
    """A few full-batch epochs must separate a well-separated CSBM far above chance (1/3)."""
    model = GraphSAGE(graph.num_features, 16, 2, 3, aggr=aggr,
                      aggr_channels=16 if aggr == "lstm" else None)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(30):
        opt.zero_grad()
        out = model(graph.x, graph.edge_index)
        F.cross_entropy(out[graph.train_mask], graph.y[graph.train_mask]).backward()
        opt.step()
    model.eval()
    pred = model(graph.x, graph.edge_index).argmax(-1)
    acc = (pred[graph.test_mask] == graph.y[graph.test_mask]).float().mean()
    assert acc > 0.7


def test_bad_arguments():
    with pytest.raises(ValueError, match="num_layers"):
        GraphSAGE(4, 8, 0)
    with pytest.raises(ValueError, match="SAGEConv: unsupported aggr 'sum'"):
        GraphSAGE(4, 8, 2, aggr="sum")
    # PyG's repr; the aggregator is the layers' (model.aggr, and each conv's repr)
    model = GraphSAGE(4, 8, 2, 3, aggr="pool")
    assert repr(model) == "GraphSAGE(4, 3, num_layers=2)" and model.aggr == "pool"


def test_sparse_bag_of_words_features_equal_dense_and_drop_only_non_zeros():
    torch.manual_seed(0)
    x = (torch.rand(30, 12) < 0.1).float()
    edge_index = torch.randint(0, 30, (2, 90))
    model = GraphSAGE(12, 8, 2, 3, aggr="mean", input_dropout=0.5).eval()
    assert GraphSAGE.supports_sparse_features
    torch.testing.assert_close(model(x.to_sparse_csr(), edge_index), model(x, edge_index))
    model.train()
    torch.manual_seed(1)
    out = model(x.to_sparse_csr(), edge_index)  # training mode: sparse dropout, finite
    assert torch.isfinite(out).all() and out.shape == (30, 3)


@pytest.mark.parametrize("jk", ["CAT", "Max", "bogus", ""])
def test_jk_mode_must_be_a_lower_case_mode(jk):
    # 'CAT' would pass PyG's (lower-casing) JumpingKnowledge but size the readout for one
    # layer (a shape error in forward); the others would raise a bare AssertionError.
    with pytest.raises(ValueError, match="jk must be None or one of 'last', 'cat', 'max', "
                                         "'lstm'"):
        GraphSAGE(4, 8, 2, 3, jk=jk)


@pytest.mark.parametrize("arg, p", [("dropout", 1.5), ("dropout", -0.1),
                                    ("input_dropout", -1), ("input_dropout", float("nan"))])
def test_dropout_range_checked_at_construction(arg, p):
    with pytest.raises(ValueError, match=rf"GraphSAGE: {arg} must lie in \[0, 1\]"):
        GraphSAGE(4, 8, 2, 3, **{arg: p})
    with pytest.raises(TypeError, match=f"GraphSAGE: {arg} must be a number"):
        GraphSAGE(4, 8, 2, 3, **{arg: "0.5"})
