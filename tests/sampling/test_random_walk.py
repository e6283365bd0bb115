"""random_walk: walks follow edges, dead ends stay, uniform and node2vec transition
probabilities match their exact values, reproducible, clear errors on bad input."""

import pytest
import torch

from pyg_course.sampling import CSRGraph, random_walk


def _random_graph(num_nodes=30, num_edges=80, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, num_nodes, (2, num_edges), generator=g)


def _edge_set(edge_index):
    return set(map(tuple, edge_index.t().tolist()))


def test_shape_start_and_edges_only():
    ei = _random_graph()
    start = torch.arange(30).repeat(3)
    for p, q in [(1.0, 1.0), (0.25, 4.0), (4.0, 0.25)]:
        walks = random_walk(ei, start, 12, num_nodes=30, p=p, q=q)
        assert walks.shape == (90, 13) and walks.dtype == torch.long
        assert torch.equal(walks[:, 0], start)
        edges, out_deg = _edge_set(ei), torch.bincount(ei[0], minlength=30)
        for w in walks.tolist():
            for a, b in zip(w[:-1], w[1:]):
                assert (a, b) in edges or (a == b and out_deg[a] == 0)


def test_isolated_nodes_and_directed_dead_ends():
    # 0 -> 1 -> 2 (2 has no out-edge), 3 isolated, 4 only a target of nothing.
    ei = torch.tensor([[0, 1], [1, 2]])
    walks = random_walk(ei, torch.tensor([0, 2, 3, 4]), 4, num_nodes=5)
    assert walks.tolist() == [[0, 1, 2, 2, 2], [2] * 5, [3] * 5, [4] * 5]
    walks = random_walk(ei, torch.tensor([0, 3]), 4, num_nodes=5, p=0.5, q=2.0)
    assert walks.tolist() == [[0, 1, 2, 2, 2], [3] * 5]
    assert (random_walk(torch.empty(2, 0, dtype=torch.long), torch.arange(3), 2, num_nodes=3)
            == torch.arange(3).view(-1, 1)).all()


def test_uniform_step_distribution():
    # Node 0 has neighbours 1, 2, 2, 3 (a duplicate edge counts twice).
    ei = torch.tensor([[0, 0, 0, 0], [1, 2, 2, 3]])
    n = 40000
    nxt = random_walk(ei, torch.zeros(n, dtype=torch.long), 1, num_nodes=4)[:, 1]
    freq = torch.bincount(nxt, minlength=4).double() / n
    expected = torch.tensor([0.0, 0.25, 0.5, 0.25], dtype=torch.double)
    assert torch.allclose(freq, expected, atol=0.015)


@pytest.mark.parametrize("p,q", [(0.25, 1.0), (1.0, 0.25), (4.0, 2.0)])
def test_node2vec_second_order_distribution(p, q):
    # Undirected: 0-1, 1-2, 1-3, 0-3 (so 3 is a common neighbour of 0 and 1), 1-4.
    und = torch.tensor([[0, 1, 1, 0, 1], [1, 2, 3, 3, 4]])
    ei = torch.cat([und, und.flip(0)], 1)
    n = 60000
    # Force the first step 0 -> 1 by starting walks from a graph view: take walks that did.
    walks = random_walk(ei, torch.zeros(n, dtype=torch.long), 2, p=p, q=q)
    walks = walks[walks[:, 1] == 1]
    freq = torch.bincount(walks[:, 2], minlength=5).double() / walks.size(0)
    # From 1 (came from 0): back to 0 -> 1/p, to 3 (neighbour of 0) -> 1, to 2, 4 -> 1/q.
    alpha = torch.tensor([1 / p, 0.0, 1 / q, 1.0, 1 / q], dtype=torch.double)
    assert torch.allclose(freq, alpha / alpha.sum(), atol=0.015)


def test_reproducible_and_generator():
    ei = _random_graph()
    start = torch.arange(30)
    torch.manual_seed(7)
    a = random_walk(ei, start, 10, num_nodes=30, p=0.5, q=2.0)
    torch.manual_seed(7)
    b = random_walk(ei, start, 10, num_nodes=30, p=0.5, q=2.0)
    assert torch.equal(a, b)
    c = random_walk(ei, start, 10, num_nodes=30, generator=torch.Generator().manual_seed(3))
    d = random_walk(ei, start, 10, num_nodes=30, generator=torch.Generator().manual_seed(3))
    assert torch.equal(c, d)
    assert not torch.equal(a, random_walk(ei, start, 10, num_nodes=30, p=0.5, q=2.0))


def test_csr_graph_reuse_matches_edge_index():
    ei = _random_graph()
    graph = CSRGraph(ei, 30)
    assert graph.rowptr[-1] == ei.size(1) and graph.deg.sum() == ei.size(1)
    for v in range(30):  # sorted neighbour segments
        nbrs = graph.col[graph.rowptr[v]:graph.rowptr[v + 1]]
        assert nbrs.tolist() == sorted(ei[1][ei[0] == v].tolist())
    torch.manual_seed(1)
    a = random_walk(graph, torch.arange(30), 8, q=0.5)
    torch.manual_seed(1)
    b = random_walk(ei, torch.arange(30), 8, num_nodes=30, q=0.5)
    assert torch.equal(a, b)
    has = graph.has_edge(torch.tensor([int(ei[0, 0]), 0]), torch.tensor([int(ei[1, 0]), 0]))
    assert has[0] and bool(has[1]) == ((0, 0) in _edge_set(ei))


def test_bad_input():
    ei = torch.tensor([[0, 1], [1, 2]])
    with pytest.raises(ValueError, match="edge_index must have shape"):
        random_walk(torch.zeros(3, 2, dtype=torch.long), torch.tensor([0]), 2)
    with pytest.raises(TypeError, match="torch.long"):
        random_walk(ei.float(), torch.tensor([0]), 2)
    with pytest.raises(IndexError,
                       match="target node 2 but there are only 2 target nodes .*; pass num_nodes"):
        random_walk(ei, torch.tensor([0]), 2, num_nodes=2)
    with pytest.raises(IndexError, match="start node 5"):
        random_walk(ei, torch.tensor([5]), 2)
    with pytest.raises(IndexError, match="start node -1"):
        random_walk(ei, torch.tensor([-1]), 2)
    with pytest.raises(TypeError, match="integer"):
        random_walk(ei, torch.tensor([0.0]), 2)
    with pytest.raises(ValueError, match="walk_length"):
        random_walk(ei, torch.tensor([0]), 0)
    with pytest.raises(ValueError, match="p and q"):
        random_walk(ei, torch.tensor([0]), 2, q=0.0)
    with pytest.raises(ValueError, match="1-D"):
        random_walk(ei, torch.tensor([[0]]), 2)
