"""Structural feature transforms on hand-checked graphs and against networkx."""

import networkx as nx
import pytest
import torch
from torch_geometric.data import Data
from torch_geometric.utils import from_networkx, to_undirected

from pyg_course.transforms import (
    ClusteringCoefficient,
    Constant,
    CycleCounts,
    OneHotDegree,
    OneHotNodeId,
    PageRank,
    cycle_counts,
)


def _data(graph: nx.Graph, x=None) -> Data:
    d = from_networkx(graph)
    d.x = x
    d.num_nodes = graph.number_of_nodes()
    return d


def _brute_cycles(graph: nx.Graph, max_length: int) -> torch.Tensor:
    """Per-node simple cycles of each length, enumerated by networkx."""
    counts = torch.zeros(graph.number_of_nodes(), max_length - 2, dtype=torch.float64)
    for cyc in nx.simple_cycles(graph, length_bound=max_length):
        if len(cyc) >= 3:
            for v in cyc:
                counts[v, len(cyc) - 3] += 1
    return counts


def test_cycle_counts_hand_checked():
    # K4: every node lies on 3 triangles, 3 four-cycles and (4 nodes) no five-cycle.
    k4 = cycle_counts(from_networkx(nx.complete_graph(4)).edge_index, 4)
    assert k4.tolist() == [[3.0, 3.0, 0.0]] * 4
    # A 5-cycle: one five-cycle through every node, nothing shorter.
    c5 = cycle_counts(from_networkx(nx.cycle_graph(5)).edge_index, 5)
    assert c5.tolist() == [[0.0, 0.0, 1.0]] * 5
    # K5: triangles C(4,2)=6, four-cycles 3*C(4,3)=12, five-cycles 4!/2=12 through each node.
    k5 = cycle_counts(from_networkx(nx.complete_graph(5)).edge_index, 5)
    assert k5.tolist() == [[6.0, 12.0, 12.0]] * 5


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cycle_counts_match_enumeration(seed):
    g = nx.gnp_random_graph(14, 0.35, seed=seed)
    ei = from_networkx(g).edge_index
    ref = _brute_cycles(g, 5)
    torch.testing.assert_close(cycle_counts(ei, 14, 5, chunk_size=4), ref)
    torch.testing.assert_close(cycle_counts(ei, 14, 4), ref[:, :2])
    # Directed, duplicated, self-looped input means the same simple undirected graph.
    noisy = torch.cat([ei[:, ::2], ei[:, :5], torch.tensor([[0, 3], [0, 3]])], dim=1)
    noisy = torch.cat([noisy, ei[:, 1::2]], dim=1)
    torch.testing.assert_close(cycle_counts(noisy, 14, 5), ref)


def test_cycle_transform_and_bad_length():
    d = _data(nx.complete_graph(4), x=torch.ones(4, 2))
    out = CycleCounts(max_length=3)(d)
    assert out.x.tolist() == [[1.0, 1.0, 3.0]] * 4
    assert d.x.shape == (4, 2)  # input untouched
    with pytest.raises(ValueError, match="3, 4, 5"):
        CycleCounts(max_length=6)


def test_clustering_coefficient_against_networkx():
    g = nx.gnp_random_graph(20, 0.3, seed=3)
    g.add_node(20)  # isolated: coefficient 0
    d = _data(g)
    out = ClusteringCoefficient()(d)
    ref = torch.tensor([nx.clustering(g)[v] for v in range(21)], dtype=torch.float)
    torch.testing.assert_close(out.x.view(-1), ref)
    # Hand-checked: K4 -> 1 everywhere; a star -> 0.
    assert ClusteringCoefficient()(_data(nx.complete_graph(4))).x.view(-1).tolist() == [1.0] * 4
    assert ClusteringCoefficient()(_data(nx.star_graph(4))).x.sum() == 0


def test_pagerank_against_networkx_and_regular_graph():
    g = nx.gnp_random_graph(25, 0.15, seed=4, directed=True)
    d = _data(g)
    out = PageRank(scale=False)(d)
    pr = nx.pagerank(g, alpha=0.85, tol=1e-12)
    ref = torch.tensor([pr[v] for v in range(25)], dtype=torch.float)
    torch.testing.assert_close(out.x.view(-1), ref, rtol=1e-4, atol=1e-6)
    # On a regular graph every node has PageRank 1/N, i.e. 1 after scaling by N.
    reg = PageRank()(_data(nx.cycle_graph(7)))
    torch.testing.assert_close(reg.x.view(-1), torch.ones(7))


def test_one_hot_node_id_and_reused_pyg_transforms():
    d = _data(nx.path_graph(4))
    torch.testing.assert_close(OneHotNodeId()(d).x, torch.eye(4))
    assert torch.equal(OneHotNodeId(sparse=True, cat=False)(d).x.to_dense(), torch.eye(4))
    # Path degrees 1, 2, 2, 1 -> one-hot columns 1, 2, 2, 1.
    deg = OneHotDegree(max_degree=3)(d).x
    assert deg.argmax(1).tolist() == [1, 2, 2, 1]
    assert Constant(2.0)(d).x.view(-1).tolist() == [2.0] * 4
    assert d.x is None


@pytest.mark.parametrize("transform", [
    Constant(), OneHotNodeId(), OneHotDegree(5), ClusteringCoefficient(), PageRank(),
    CycleCounts(5)])
def test_input_not_modified(transform):
    ei = to_undirected(torch.tensor([[0, 1, 2, 3, 0], [1, 2, 3, 0, 2]]))
    x = torch.randn(4, 3)
    d = Data(x=x, edge_index=ei, num_nodes=4)
    before = (d.x.clone(), d.edge_index.clone(), set(d.keys()))
    out = transform(d)
    assert out is not d
    assert d.x is x and torch.equal(d.x, before[0]) and torch.equal(d.edge_index, before[1])
    assert set(d.keys()) == before[2]
    assert out.x.size(0) == 4 and out.x.size(1) > 3  # concatenated to the existing x
