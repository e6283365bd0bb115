"""Random-walk positives: pairs lie on walks of the anchor that follow existing edges."""

import pytest
import torch

from pyg_course.sampling import WalkPositiveSampler, walk_positives
from tests.helpers.graphs import TOY_GRAPHS


def edge_set(edge_index):
    return set(map(tuple, edge_index.t().tolist()))


def random_graph(seed, n=40, e=60):
    ei = torch.randint(n, (2, e), generator=torch.Generator().manual_seed(seed))
    return torch.cat([ei, ei.flip(0)], 1), n


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_positives_lie_on_walks_along_edges(seed):
    ei, n = random_graph(seed)
    edges = edge_set(ei)
    nodes = torch.arange(n)
    W, L = 4, 3
    pos, mask = walk_positives(ei, nodes, W, L, num_nodes=n)
    assert pos.shape == mask.shape == (n, W * L)
    walks = torch.cat([nodes.repeat_interleave(W).view(n, W, 1), pos.view(n, W, L)], 2)
    for u in range(n):
        for w in walks[u].tolist():
            assert w[0] == u
            for a, b in zip(w[:-1], w[1:]):
                assert (a, b) in edges or (a == b and not any(s == a for s, _ in edges))
    # A pair is positive exactly when the visited node differs from the anchor.
    assert torch.equal(mask, pos != nodes.unsqueeze(1))


def test_sampled_positives_are_cooccurrences():
    ei, n = random_graph(4)
    sampler = WalkPositiveSampler(ei, n, num_walks=5, walk_length=2)
    nodes = torch.arange(n)
    torch.manual_seed(3)
    cooc, valid = sampler.walks(nodes)
    torch.manual_seed(3)
    pos, mask = sampler.sample(nodes, 6)
    assert pos.shape == mask.shape == (n, 6)
    for u in range(n):
        allowed = set(cooc[u][valid[u]].tolist())
        assert bool(mask[u].any()) == bool(allowed)
        for v, m in zip(pos[u].tolist(), mask[u].tolist()):
            if m:
                assert v != u and v in allowed


def test_isolated_nodes_have_no_pairs():
    g = TOY_GRAPHS["isolated"]  # nodes 3 and 4 are isolated
    sampler = WalkPositiveSampler(g.edge_index, g.num_nodes, num_walks=3, walk_length=4)
    pos, mask = sampler.walks(torch.tensor([3, 4, 1]))
    assert (pos[:2] == torch.tensor([[3], [4]])).all() and not mask[:2].any()
    assert mask[2].view(3, 4)[:, 0].all()  # node 1's first step goes to 0 or 2
    assert set(pos[2][mask[2]].tolist()) <= {0, 2}
    pos, mask = sampler.sample(torch.tensor([3, 4]), 2)
    assert not mask.any() and (pos == torch.tensor([[3], [4]])).all()


def test_same_seed_same_positives():
    ei, n = random_graph(5)
    out = []
    for _ in range(2):
        torch.manual_seed(7)
        out.append(WalkPositiveSampler(ei, n, 3, 3).sample(torch.arange(n), 4))
    assert torch.equal(out[0][0], out[1][0]) and torch.equal(out[0][1], out[1][1])


def test_bad_arguments():
    ei, n = random_graph(0)
    with pytest.raises(ValueError, match="num_walks"):
        WalkPositiveSampler(ei, n, num_walks=0)
    with pytest.raises(ValueError, match="num_positives"):
        WalkPositiveSampler(ei, n).sample(torch.arange(3), 0)
