"""Small graphs, each tagged with the corner case it exercises."""

from __future__ import annotations

from collections import deque
from typing import Dict, NamedTuple

import torch
from torch import Tensor


class ToyGraph(NamedTuple):
    edge_index: Tensor
    num_nodes: int
    tags: tuple


def _g(edges, num_nodes, *tags) -> ToyGraph:
    ei = torch.tensor(edges, dtype=torch.long).t().contiguous().view(2, -1)
    return ToyGraph(ei, num_nodes, tags)


#: name -> ToyGraph. Every graph is given as directed (source, target) pairs.
TOY_GRAPHS: Dict[str, ToyGraph] = {
    "path": _g([(0, 1), (1, 0), (1, 2), (2, 1), (2, 3), (3, 2)], 4, "undirected"),
    "isolated": _g([(0, 1), (1, 0), (1, 2), (2, 1)], 5, "isolated nodes"),
    "self_loops": _g([(0, 0), (0, 1), (1, 0), (2, 2), (1, 2), (2, 1)], 4, "self-loops",
                     "isolated nodes"),
    "duplicates": _g([(0, 1), (0, 1), (1, 0), (1, 2), (2, 1), (2, 1), (3, 0)], 4,
                     "duplicate edges", "directed"),
    "directed": _g([(0, 1), (1, 2), (2, 3), (3, 1), (4, 0)], 6, "directed", "isolated nodes",
                   "dead ends"),
    "star": _g([(0, i) for i in range(1, 6)] + [(i, 0) for i in range(1, 6)], 6, "hub"),
}


def toy_graph(name: str) -> ToyGraph:
    return TOY_GRAPHS[name]


def bfs_dist(edge_index, num_nodes, src):
    """Shortest-path hop counts from ``src``, edge direction ignored; unreachable: absent."""
    adj = [set() for _ in range(num_nodes)]
    for a, b in edge_index.t().tolist():
        adj[a].add(b)
        adj[b].add(a)
    dist, queue = {src: 0}, deque([src])
    while queue:
        u = queue.popleft()
        for v in adj[u]:
            if v not in dist:
                dist[v] = dist[u] + 1
                queue.append(v)
    return dist
