"""GAT: the paper's architecture, equality with a stack of PyG GATConv layers, layer-wise
inference, attention entropy, training on a CSBM graph."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch_geometric.loader import NeighborLoader
from torch_geometric.nn import GATConv as PyGGATConv

from pyg_course.datasets import csbm
from pyg_course.metrics import attention_entropy
from pyg_course.nn.models import GAT
from pyg_course.train import TrainConfig, Trainer


@pytest.fixture(scope="module")
def graph():
    return csbm(num_nodes=600, num_classes=3, num_val=100, num_test=300, seed=0)


def paper_gat(in_channels, out_channels):
    """The paper's Cora GAT: 8 heads x 8 units (64 in total), 1 averaged output head, dropout
    0.6 on every layer's input and on the attention, ELU."""
    return GAT(in_channels, 64, 2, out_channels, heads=8, output_heads=1, dropout=0.6,
               input_dropout=0.6, act="elu")


def test_paper_cora_architecture():
    model = paper_gat(1433, 7)
    first, last = model.convs
    assert (first.heads, first.out_channels, first.concat, first.dropout) == (8, 8, True, 0.6)
    assert (last.heads, last.in_channels, last.out_channels, last.concat) == (1, 64, 7, False)
    assert last.dropout == 0.6 and model.dropout.p == 0.6 and model.input_dropout == 0.6
    # 1433*64 + 2*64 + 64 (layer 1) + 64*7 + 2*7 + 7 (layer 2): the paper's parameter count
    assert sum(p.numel() for p in model.parameters()) == 1433 * 64 + 3 * 64 + 64 * 7 + 3 * 7
    out = model(torch.randn(20, 1433), torch.randint(0, 20, (2, 60)))
    assert out.shape == (20, 7)


def test_equals_stack_of_pyg_layers(graph):
    model = GAT(graph.num_features, 16, 3, 3, heads=4, output_heads=2, act="elu").eval()
    sizes = [(graph.num_features, 4, 4, True), (16, 4, 4, True), (16, 3, 2, False)]
    pyg = [PyGGATConv(i, o, heads=h, concat=c) for i, o, h, c in sizes]
    for theirs, ours in zip(pyg, model.convs):
        theirs.load_state_dict(ours.state_dict(), strict=True)
    x = graph.x
    for i, conv in enumerate(pyg):
        x = conv(x, graph.edge_index)
        if i < 2:
            x = F.elu(x)
    torch.testing.assert_close(model(graph.x, graph.edge_index), x, atol=1e-6, rtol=1e-6)


def test_dropout_only_in_training(graph):
    model = GAT(graph.num_features, 8, 2, 3, dropout=0.6)
    model.train()
    assert not torch.allclose(model(graph.x, graph.edge_index), model(graph.x, graph.edge_index))
    model.eval()
    torch.testing.assert_close(model(graph.x, graph.edge_index),
                               model(graph.x, graph.edge_index))


def test_inference_equals_full_batch(graph):
    model = GAT(graph.num_features, 16, 2, 3, heads=4).eval()
    loader = NeighborLoader(graph, num_neighbors=[-1], batch_size=64, shuffle=False)
    out = model.inference(loader, "cpu")
    assert out.shape == (graph.num_nodes, 3)
    torch.testing.assert_close(out, model(graph.x, graph.edge_index), atol=1e-5, rtol=1e-5)


def test_attention_weights_per_layer(graph):
    model = GAT(graph.num_features, 16, 2, 3, heads=4, output_heads=1).eval()
    out, attention = model(graph.x, graph.edge_index, return_attention_weights=True)
    torch.testing.assert_close(out, model(graph.x, graph.edge_index))
    assert [alpha.size(1) for _, alpha in attention] == [4, 1]
    for edge_index, _ in attention:
        assert edge_index.size(1) == graph.edge_index.size(1) + graph.num_nodes


def test_attention_entropy_values():
    # node 0: 4 incoming edges, uniform; node 1: 2 incoming, one-hot; node 2: none
    edge_index = torch.tensor([[0, 1, 2, 3, 0, 2], [0, 0, 0, 0, 1, 1]])
    alpha = torch.tensor([0.25, 0.25, 0.25, 0.25, 1.0, 0.0])
    entropy, uniform = attention_entropy(edge_index, alpha, 3)
    torch.testing.assert_close(entropy, torch.tensor([math.log(4), 0.0, 0.0]))
    torch.testing.assert_close(uniform, torch.tensor([math.log(4), math.log(2), 0.0]))
    two_heads = torch.stack([alpha, torch.tensor([0.7, 0.1, 0.1, 0.1, 0.5, 0.5])], dim=1)
    entropy, _ = attention_entropy(edge_index, two_heads, 3)
    expected = -(0.7 * math.log(0.7) + 3 * 0.1 * math.log(0.1))
    torch.testing.assert_close(entropy[:, 1], torch.tensor([expected, math.log(2), 0.0]))


def test_learns_csbm(graph):
    torch.manual_seed(0)
    model = GAT(graph.num_features, 32, 2, 3, heads=4, dropout=0.2, act="elu")
    result = Trainer(model, graph, TrainConfig(epochs=15, lr=0.02, progress=False)).fit()
    # 3 classes: chance is 33% (an untrained model scores 38%); trained, well above 90%
    assert result["test_acc"] > 0.9


def test_bad_num_layers():
    with pytest.raises(ValueError, match="num_layers"):
        GAT(4, 8, 0, 2)


@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_bad_dropout(p):
    with pytest.raises(ValueError, match=r"GAT: dropout must lie in \[0, 1\]"):
        GAT(4, 8, 2, 2, dropout=p)
