"""Hierarchical softmax: the Huffman tree is an optimal prefix code (its use in DeepWalk's loss
and SGD step is checked against a float64 reference in tests/nn/models/test_deepwalk.py)."""

import heapq

import pytest
import torch

from pyg_course.nn.hierarchical_softmax import huffman_paths


def _heap_huffman_cost(weights):
    h = list(weights)
    heapq.heapify(h)
    cost = 0.0
    while len(h) > 1:
        a, b = heapq.heappop(h), heapq.heappop(h)
        cost += a + b
        heapq.heappush(h, a + b)
    return cost


@pytest.mark.parametrize("weights", [[5, 1, 1, 2, 8, 3, 3, 1], [1, 1], [2, 7, 1, 1, 9, 4, 4, 6, 1]])
def test_huffman_paths_is_an_optimal_prefix_code(weights):
    w = torch.tensor(weights, dtype=torch.double)
    path, code, mask = huffman_paths(w)
    n = len(weights)
    lens = mask.sum(1)
    # A full binary tree (Kraft equality), optimal weighted length, distinct root-to-leaf codes,
    # every path ends at the root (internal node n - 2) and uses internal nodes only.
    assert (2.0 ** -lens.double()).sum().item() == pytest.approx(1.0)
    assert (w * lens).sum().item() == pytest.approx(_heap_huffman_cost(weights))
    codes = {tuple(code[v, : lens[v]].tolist()) for v in range(n)}
    assert len(codes) == n
    assert all(path[v, lens[v] - 1] == n - 2 for v in range(n))
    assert path[mask].max() <= n - 2 and path[mask].min() >= 0
    assert (path[~mask] == 0).all() and (code[~mask] == 0).all()
