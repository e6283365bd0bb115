"""Virtual edges between k-hop neighbours, at most a given number per node."""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.transforms import BaseTransform
from torch_geometric.utils import coalesce

from pyg_course.transforms.shared import simple_undirected
from pyg_course.utils.sparse import to_csr


def khop_virtual_edges(edge_index: Tensor, num_nodes: int, k: int = 2,
                       max_per_node: Optional[int] = None, chunk_size: int = 1024) -> Tensor:
    r"""The pairs :math:`(i, j)` at hop distance :math:`2 \le h(i, j) \le k` in the simple
    undirected graph (the new non-zeros of :math:`\mathbf{A} + \mathbf{A}^2 + \dots +
    \mathbf{A}^k`), both directions, at most ``max_per_node`` chosen per node.

    A node chooses its closest candidates first and, among those at the same distance, the
    ones joined to it by the most shortest paths (the strongest :math:`(\mathbf{A}^h)_{ij}`);
    remaining ties go to the lower index. The chosen pairs are then made undirected, so a
    node chosen by many others can end up with more than ``max_per_node`` virtual edges.
    Breadth-first search ``chunk_size`` nodes at a time: memory
    :math:`O(\text{chunk\_size} \cdot |V|)`.

    Returns:
        ``(2, E_new)`` coalesced edge index of the new edges only.
    """
    if k < 2:
        raise ValueError(f"khop_virtual_edges: k must be at least 2, got {k}")
    if max_per_node is not None and max_per_node < 1:
        raise ValueError(f"khop_virtual_edges: max_per_node must be positive, got {max_per_node}")
    ei = simple_undirected(edge_index, num_nodes, "khop_virtual_edges")
    adj = to_csr(torch.sparse_coo_tensor(ei, torch.ones(ei.size(1), dtype=torch.float64),
                                         (num_nodes, num_nodes),
                                         check_invariants=False).coalesce())
    new_src, new_dst = [], []
    for start in range(0, num_nodes, chunk_size):
        rows = torch.arange(start, min(start + chunk_size, num_nodes))
        local = torch.arange(rows.numel())
        hops = torch.full((num_nodes, rows.numel()), k + 1, dtype=torch.long)
        hops[rows, local] = 0
        paths = torch.zeros(num_nodes, rows.numel(), dtype=torch.float64)
        frontier = torch.zeros(num_nodes, rows.numel(), dtype=torch.float64)
        frontier[rows, local] = 1.0
        for h in range(1, k + 1):
            walk = adj @ frontier  # shortest-path counts spread one hop
            new = (walk > 0) & (hops > k)
            hops[new] = h
            frontier = torch.where(new, walk, torch.zeros_like(walk))
            paths = paths + frontier
        cand = (hops >= 2) & (hops <= k)
        if max_per_node is not None:
            # Closer first, then more shortest paths, then lower index.
            score = (k + 1 - hops).to(torch.float64) * (paths.max() + 2) + paths
            score = score - torch.arange(num_nodes, dtype=torch.float64).view(-1, 1) / (
                2.0 * num_nodes)
            score = torch.where(cand, score, torch.full_like(score, -torch.inf))
            top = score.topk(min(max_per_node, num_nodes), dim=0)
            chosen = torch.zeros_like(cand)
            chosen.scatter_(0, top.indices, torch.isfinite(top.values))
            cand = chosen & cand
        dst, b = cand.nonzero(as_tuple=True)
        new_src.append(rows[b])
        new_dst.append(dst)
    src = torch.cat(new_src)
    dst = torch.cat(new_dst)
    pairs = torch.stack([torch.cat([src, dst]), torch.cat([dst, src])])
    return coalesce(pairs, num_nodes=num_nodes)


class KHopVirtualEdges(BaseTransform):
    r"""Adds virtual edges between nodes within ``k`` hops (:func:`khop_virtual_edges`), at most
    ``max_per_node`` chosen per node: denser neighbourhoods for sparse graphs. With ``k=2`` and
    no cap this adds the same edges as PyG's :class:`~torch_geometric.transforms.TwoHop`
    (which has neither ``k > 2`` nor a cap).

    New edges get ``edge_weight`` 1, zero ``edge_attr`` and, when the data has an
    ``edge_type``, the type ``max + 1``; ``data.num_virtual_edges`` records how many were added.

    Args:
        k (int): largest hop distance joined. (default: ``2``)
        max_per_node (int, optional): virtual edges chosen per node. (default: ``None``, all)
    """

    def __init__(self, k: int = 2, max_per_node: Optional[int] = None):
        if k < 2:
            raise ValueError(f"KHopVirtualEdges: k must be at least 2, got {k}")
        self.k = k
        self.max_per_node = max_per_node

    def forward(self, data: Data) -> Data:
        n = data.num_nodes
        new = khop_virtual_edges(data.edge_index, n, self.k, self.max_per_node)
        new = new.to(data.edge_index.device)
        num_old, num_new = data.edge_index.size(1), new.size(1)
        for key, value in list(data.items()):
            if key in ("edge_index", "num_nodes") or not isinstance(value, Tensor):
                continue
            if value.dim() == 0 or not data.is_edge_attr(key):
                continue
            dim = data.__cat_dim__(key, value)
            if value.size(dim) != num_old:
                continue
            size = list(value.size())
            size[dim] = num_new
            fill = 1 if key == "edge_weight" else 0
            if key == "edge_type":
                fill = int(value.max()) + 1 if value.numel() else 1
            data[key] = torch.cat([value, value.new_full(size, fill)], dim=dim)
        data.edge_index = torch.cat([data.edge_index, new], dim=1)
        data.num_nodes = n
        data.num_virtual_edges = num_new
        return data

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(k={self.k}, max_per_node={self.max_per_node})"
