"""LayerStack: the size checks every model shares, and the layer-wise inference of GraphSAGE and
GAT (exact for any batch order, clear errors for a loader that cannot give exact outputs,
evaluation mode without changing the caller's)."""

import pytest
import torch
from torch.utils.data import DataLoader as TorchDataLoader
from torch_geometric.data import HeteroData
from torch_geometric.loader import DataLoader, LinkNeighborLoader, NeighborLoader

from pyg_course.datasets import csbm
from pyg_course.nn.models import GAT, GCN, DeepGNN, GraphSAGE

N = 120


@pytest.fixture(scope="module")
def graph():
    return csbm(num_nodes=N, num_classes=3, num_features=8, num_val=20, num_test=40, seed=0)


def make(name, graph, dropout=0.0):
    torch.manual_seed(0)
    if name == "GraphSAGE":
        return GraphSAGE(graph.num_features, 8, 2, 3, dropout=dropout, input_dropout=dropout)
    return GAT(graph.num_features, 8, 2, 3, heads=2, dropout=dropout)


MODELS = ["GraphSAGE", "GAT"]


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("order", ["shuffle", "randperm"])
def test_inference_exact_for_any_batch_order(graph, name, order):
    """Each batch's rows go to its seed nodes, so shuffled batches (reshuffled for every
    layer) and permuted input nodes give the full-batch output row for row."""
    model = make(name, graph).eval()
    torch.manual_seed(1)
    if order == "shuffle":
        loader = NeighborLoader(graph, num_neighbors=[-1], batch_size=7, shuffle=True)
    else:
        loader = NeighborLoader(graph, num_neighbors=[-1], batch_size=7,
                                input_nodes=torch.randperm(N))
    torch.testing.assert_close(model.inference(loader, "cpu"), model(graph.x, graph.edge_index),
                               atol=1e-5, rtol=1e-5)


def test_inference_sparse_features_shuffled(graph):
    """Sparse ``x=`` with a featureless loader graph (the trainer's mini-batch setup)."""
    model = make("GraphSAGE", graph).eval()
    bare = graph.clone()
    bare.num_nodes = N
    del bare.x
    torch.manual_seed(2)
    loader = NeighborLoader(bare, num_neighbors=[-1], batch_size=16, shuffle=True)
    torch.testing.assert_close(model.inference(loader, "cpu", x=graph.x.to_sparse_csr()),
                               model(graph.x, graph.edge_index), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", MODELS)
def test_inference_rejects_sampled_or_partial_loaders(graph, name):
    model = make(name, graph)
    sampled = NeighborLoader(graph, num_neighbors=[2], batch_size=7)
    with pytest.raises(ValueError, match="full neighbourhoods.*got \\[2\\]"):
        model.inference(sampled)
    partial = NeighborLoader(graph, num_neighbors=[-1], batch_size=7,
                             input_nodes=torch.arange(20))
    with pytest.raises(ValueError, match=f"{N - 20} of {N} nodes were not in any batch"):
        model.inference(partial)
    temporal = graph.clone()
    temporal.time = torch.zeros(N, dtype=torch.long)
    loader = NeighborLoader(temporal, num_neighbors=[-1], batch_size=7, time_attr="time",
                            input_time=torch.zeros(N, dtype=torch.long))
    with pytest.raises(ValueError, match="temporal"):
        model.inference(loader)


@pytest.mark.parametrize("name", MODELS)
def test_inference_rejects_other_loaders(graph, name):
    model = make(name, graph)
    hetero = HeteroData()
    hetero["a"].x = graph.x
    hetero["a", "to", "a"].edge_index = graph.edge_index
    others = [
        DataLoader([graph], batch_size=1),
        TorchDataLoader([graph]),
        [graph],
        graph,
        LinkNeighborLoader(graph, num_neighbors=[-1], batch_size=7),
        NeighborLoader(hetero, num_neighbors=[-1], batch_size=7, input_nodes="a"),
    ]
    for loader in others:
        with pytest.raises(TypeError, match="NeighborLoader\\(data, num_neighbors=\\[-1\\]"):
            model.inference(loader)


@pytest.mark.parametrize("name", MODELS)
def test_inference_checks_x(graph, name):
    model = make(name, graph)
    loader = NeighborLoader(graph, num_neighbors=[-1], batch_size=32)
    with pytest.raises(ValueError, match=f"x has {N - 1} rows but the loader's graph has {N}"):
        model.inference(loader, x=graph.x[:-1])
    with pytest.raises(ValueError, match=f"x has {N + 1} rows"):
        model.inference(loader, x=torch.cat([graph.x, graph.x[:1]]))


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("training", [True, False])
def test_inference_in_eval_mode_restores_callers_mode(graph, name, training):
    model = make(name, graph, dropout=0.5).train(training)
    loader = NeighborLoader(graph, num_neighbors=[-1], batch_size=32)
    out = model.inference(loader, "cpu")
    assert model.training is training and all(m.training is training for m in model.modules())
    assert not out.requires_grad
    torch.testing.assert_close(model.inference(loader, "cpu"), out)  # no dropout
    model.eval()
    torch.testing.assert_close(out, model(graph.x, graph.edge_index), atol=1e-5, rtol=1e-5)
    model.train(training)
    model.convs[0].train(not training)  # a submodule in the other mode keeps it
    with pytest.raises(ValueError):  # the modes are restored after an error too
        model.inference(NeighborLoader(graph, num_neighbors=[2], batch_size=32))
    assert model.training is training and model.convs[0].training is not training


CONSTRUCTORS = {
    "GCN": lambda *a: GCN(*a),
    "GraphSAGE": lambda *a: GraphSAGE(*a),
    "GAT": lambda *a: GAT(*a),
    "DeepGNN": lambda *a: DeepGNN(*a),
    "DeepGNN-gcnii": lambda *a: DeepGNN(*a, gcnii=True),
    "DeepGNN-jk": lambda *a: DeepGNN(*a, jk="cat"),
}


@pytest.mark.parametrize("model", list(CONSTRUCTORS))
@pytest.mark.parametrize("args, error, message", [
    ((3, 4, 2, 0), ValueError, "out_channels must be at least 1"),
    ((3, 0, 2, 2), ValueError, "hidden_channels must be at least 1"),
    ((0, 4, 2, 2), ValueError, "in_channels .*must be at least 1"),
    ((3, -4, 2, 2), ValueError, "hidden_channels must be at least 1"),
    ((3, 4, 0, 2), ValueError, "num_layers must be at least 1"),
    ((3, 4, 2.5, 2), TypeError, "num_layers must be an int, got 2.5"),
    ((3, 4, True, 2), TypeError, "num_layers must be an int, got True"),
    ((3, 4.0, 2, 2), TypeError, "hidden_channels must be an int"),
    (("3", 4, 2, 2), TypeError, "in_channels .*must be an int"),
    ((3, 4, 2, True), TypeError, "out_channels must be an int"),
])
def test_sizes_are_checked(model, args, error, message):
    with pytest.raises(error, match=f"^{model.split('-')[0]}: {message}"):
        CONSTRUCTORS[model](*args)


def test_out_channels_none_and_lazy_in_channels():
    for cls in (GCN, GraphSAGE, GAT):
        assert cls(3, 4, 2).out_channels == 4 == cls(3, 4, 2, None).convs[-1].out_channels
        model = cls(-1, 4, 2, 2)  # PyG's lazy in_channels still works
        assert model(torch.randn(5, 3), torch.tensor([[0, 1], [1, 2]])).shape == (5, 2)
    with pytest.raises(TypeError, match="DeepGNN: out_channels .* is required"):
        DeepGNN(3, 4, 2, None)
    assert DeepGNN(-1, 4, 2, 2)(torch.randn(5, 3), torch.tensor([[0, 1], [1, 2]])).shape == (5, 2)
    with pytest.raises(ValueError, match="gcnii needs an explicit in_channels"):
        DeepGNN(-1, 4, 2, 2, gcnii=True)
