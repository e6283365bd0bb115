"""Far-node and unigram negatives: every far negative checked against a plain BFS."""

import pytest
import torch

from pyg_course.sampling import (
    FarNegativeSampler,
    UnigramNegativeSampler,
    far_negatives,
    unigram_negatives,
)
from tests.helpers.graphs import TOY_GRAPHS, bfs_dist


def random_graph(seed, num_nodes, num_edges, blocks=1):
    """Random edges inside ``blocks`` disjoint node ranges (blocks > 1: disconnected)."""
    g = torch.Generator().manual_seed(seed)
    size = num_nodes // blocks
    block = torch.randint(blocks, (num_edges,), generator=g)
    ei = torch.randint(size, (2, num_edges), generator=g) + block * size
    return ei


def check_far(edge_index, num_nodes, nodes, neg, fallback, k, pool=None):
    pool = set(range(num_nodes)) if pool is None else set(pool)
    for i, u in enumerate(nodes.tolist()):
        dist = bfs_dist(edge_index, num_nodes, u)
        far = {v for v in pool if dist.get(v, k + 1) > k}
        assert bool(fallback[i]) == (not far), (u, far)
        for v in neg[i].tolist():
            assert v in pool
            if far:
                assert v in far, f"negative {v} of {u} is {dist.get(v)} <= {k} hops away"


@pytest.mark.parametrize("cache", [True, False])
@pytest.mark.parametrize("seed,num_nodes,num_edges,blocks,k", [
    (0, 60, 70, 1, 3), (1, 60, 60, 3, 2), (2, 80, 90, 4, 5), (3, 40, 25, 1, 1),
    (4, 50, 120, 2, 0), (5, 30, 0, 1, 5),
])
def test_far_negatives_match_bfs(cache, seed, num_nodes, num_edges, blocks, k):
    ei = random_graph(seed, num_nodes, num_edges, blocks)
    nodes = torch.randint(num_nodes, (25,), generator=torch.Generator().manual_seed(seed))
    sampler = FarNegativeSampler(ei, num_nodes, k, cache=cache)
    neg, fb = sampler.sample(nodes, 12, return_fallback=True)
    assert neg.shape == (25, 12) and neg.dtype == torch.long
    check_far(ei, num_nodes, nodes, neg, fb, k)
    assert sampler.num_fallback == int(fb.sum()) and sampler.num_anchors == 25


@pytest.mark.parametrize("cache", [True, False])
def test_candidates_and_chunking(cache):
    ei = random_graph(7, 70, 90, blocks=2)
    pool = torch.arange(0, 70, 3)
    nodes = torch.arange(0, 70, 2)
    # A tiny budget forces one anchor / candidate per chunk.
    sampler = FarNegativeSampler(ei, 70, 3, candidates=pool, max_bytes=1 if not cache else
                                 2 ** 20, cache=cache)
    neg, fb = sampler.sample(nodes, 4, return_fallback=True)
    check_far(ei, 70, nodes, neg, fb, 3, pool=pool.tolist())
    mask = torch.zeros(70, dtype=torch.bool)
    mask[pool] = True
    torch.manual_seed(0)
    a = far_negatives(ei, nodes, 6, num_hops=3, num_nodes=70, candidates=mask)
    torch.manual_seed(0)
    b = far_negatives(ei, nodes, 6, num_hops=3, num_nodes=70, candidates=pool)
    assert torch.equal(a, b)


def test_rejection_only_path_is_exact():
    """With many rounds the meet-in-the-middle test alone fills the rows; still all far."""
    ei = random_graph(11, 200, 260)
    nodes = torch.arange(200)
    sampler = FarNegativeSampler(ei, 200, 4, cache=False, rounds=20, oversample=4)
    neg, fb = sampler.sample(nodes, 10, return_fallback=True)
    check_far(ei, 200, nodes, neg, fb, 4)


def test_uniform_over_far_nodes():
    # Path 0-1-...-9: from node 0 with k = 2 the far nodes are 3..9, each with prob. 1/7.
    src = torch.arange(9)
    ei = torch.stack([torch.cat([src, src + 1]), torch.cat([src + 1, src])])
    for cache in (True, False):
        torch.manual_seed(0)
        sampler = FarNegativeSampler(ei, 10, num_hops=2, cache=cache)
        neg = sampler.sample(torch.tensor([0]), 7000)
        counts = torch.bincount(neg.view(-1), minlength=10)
        assert counts[:3].sum() == 0
        assert (counts[3:] - 1000).abs().max() < 150, counts


def test_same_seed_same_samples():
    ei = random_graph(3, 100, 150)
    nodes = torch.arange(0, 100, 2)
    for cache in (True, False):
        out = []
        for _ in range(2):
            torch.manual_seed(42)
            out.append(FarNegativeSampler(ei, 100, 3, cache=cache).sample(nodes, 9))
        assert torch.equal(out[0], out[1])
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    assert torch.equal(FarNegativeSampler(ei, 100, 3, generator=g1).sample(nodes, 9),
                       FarNegativeSampler(ei, 100, 3, generator=g2).sample(nodes, 9))


def test_tiny_graphs_fall_back_as_documented():
    # One node, no edges: the candidate set is the anchor alone -> the anchor itself.
    neg, fb = far_negatives(torch.empty(2, 0, dtype=torch.long), torch.tensor([0]), 3,
                            num_nodes=1, return_fallback=True)
    assert neg.tolist() == [[0, 0, 0]] and fb.tolist() == [True]
    # Complete graph K4, k = 1: no far node, no non-neighbour -> any other node.
    ei = torch.tensor([[i, j] for i in range(4) for j in range(4) if i != j]).t()
    neg, fb = far_negatives(ei, torch.arange(4), 50, num_hops=1, return_fallback=True)
    assert fb.all()
    assert all(u not in row for u, row in enumerate(neg.tolist()))
    # Path 0-1-2-3, k = 5: no far node -> non-neighbours of the anchor.
    g = TOY_GRAPHS["path"]
    neg, fb = far_negatives(g.edge_index, torch.arange(4), 40, num_hops=5,
                            num_nodes=g.num_nodes, return_fallback=True)
    assert fb.all()
    assert set(neg[0].tolist()) == {2, 3} and set(neg[1].tolist()) == {3}
    # Isolated nodes: every other node is far.
    g = TOY_GRAPHS["isolated"]
    neg, fb = far_negatives(g.edge_index, torch.tensor([4]), 200, num_hops=5,
                            num_nodes=g.num_nodes, return_fallback=True)
    assert not fb.any() and set(neg[0].tolist()) == {0, 1, 2, 3}
    # Empty batch.
    assert far_negatives(g.edge_index, torch.empty(0, dtype=torch.long), 4,
                         num_nodes=5).shape == (0, 4)


def test_bad_input_is_named():
    ei = TOY_GRAPHS["path"].edge_index
    with pytest.raises(ValueError, match="outside"):
        far_negatives(ei, torch.tensor([7]), 2)
    with pytest.raises(ValueError, match="num_hops"):
        far_negatives(ei, torch.tensor([0]), 2, num_hops=-1)
    with pytest.raises(ValueError, match="candidate set is empty"):
        far_negatives(ei, torch.tensor([0]), 2, candidates=torch.empty(0, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\(2, E\)"):
        far_negatives(ei.t(), torch.tensor([0]), 2)
    with pytest.raises(ValueError, match="num_negatives"):
        far_negatives(ei, torch.tensor([0]), 0)


def test_unigram_follows_degree_power():
    g = TOY_GRAPHS["star"]  # hub 0 of degree 5, leaves of degree 1
    torch.manual_seed(0)
    neg = unigram_negatives(g.edge_index, torch.arange(6), 4000)
    assert neg.shape == (6, 4000)
    freq = torch.bincount(neg.view(-1), minlength=6).double() / neg.numel()
    w = torch.tensor([5.0, 1, 1, 1, 1, 1], dtype=torch.float64).pow(0.75)
    assert torch.allclose(freq, w / w.sum(), atol=0.01)
    # Restricted to candidates; zero-degree candidates only -> uniform over them.
    g = TOY_GRAPHS["isolated"]
    neg = UnigramNegativeSampler(g.edge_index, 5, candidates=torch.tensor([3, 4])).sample(
        torch.arange(5), 300)
    assert set(neg.view(-1).tolist()) == {3, 4}


@pytest.mark.parametrize("cache", [True, False])
def test_csr_graph_input_and_direction(cache):
    from pyg_course.sampling import CSRGraph

    # Directed edges only: distances ignore direction, whichever form the graph comes in.
    ei = random_graph(9, 60, 70, blocks=2)
    nodes = torch.arange(60)
    for graph, undirected in ((CSRGraph(ei, 60), False), (ei, False),
                              (CSRGraph(torch.cat([ei, ei.flip(0)], 1), 60), True)):
        neg, fb = FarNegativeSampler(graph, 60, 3, cache=cache, undirected=undirected).sample(
            nodes, 5, return_fallback=True)
        check_far(ei, 60, nodes, neg, fb, 3)


def test_one_call_grows_only_its_anchors_balls(monkeypatch):
    """``far_negatives`` never builds the all-pairs bitset (its cost is that of the anchors
    given), draws the same negatives as a sampler built without the cache, and every negative
    is farther than ``num_hops`` by BFS."""
    def no_bitset(self):
        raise AssertionError("far_negatives built the all-pairs bitset")

    monkeypatch.setattr(FarNegativeSampler, "_all_pairs_bits", no_bitset)
    ei = random_graph(13, 90, 110, blocks=2)
    nodes = torch.arange(0, 90, 4)
    neg, fb = far_negatives(ei, nodes, 7, num_hops=3, num_nodes=90, return_fallback=True,
                            generator=torch.Generator().manual_seed(5))
    check_far(ei, 90, nodes, neg, fb, 3)
    sampler = FarNegativeSampler(ei, 90, 3, cache=False,
                                 generator=torch.Generator().manual_seed(5))
    assert torch.equal(neg, sampler.sample(nodes, 7))
