"""A virtual node joined to every node, or to every node of a given set."""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.transforms import BaseTransform
from torch_geometric.transforms import VirtualNode as PyGVirtualNode

from pyg_course.utils.checks import check_edge_index


class VirtualNode(BaseTransform):
    r"""Adds one virtual node, index :math:`|V|`, with an edge to and from each node of
    ``nodes`` (default: every node), so that any two of them are two hops apart: a shortcut
    for information in sparse or poorly connected graphs (Gilmer et al., 2017).

    With ``nodes=None`` this is PyG's :class:`torch_geometric.transforms.VirtualNode`, whose
    conventions it keeps for a subset too: the new node's features and other node-level
    attributes are zeros (masks ``False``), the new edges get ``edge_type`` 1 (node to virtual)
    and 2 (virtual to node) while the original ones keep theirs (0 if there was none), new
    ``edge_weight`` entries are 1 and other edge attributes 0.

    Args:
        nodes (Tensor, optional): boolean mask :math:`(|V|)` or index vector of the nodes to
            connect. (default: ``None``, all)
    """

    def __init__(self, nodes: Optional[Tensor] = None):
        self.nodes = nodes

    def forward(self, data: Data) -> Data:
        n = data.num_nodes
        check_edge_index(data.edge_index, n, n, "VirtualNode")
        num_old = data.edge_index.size(1)
        data = PyGVirtualNode().forward(data)
        if self.nodes is None:
            return data
        member = torch.zeros(n + 1, dtype=torch.bool)
        if self.nodes.dtype == torch.bool:
            if self.nodes.shape != (n,):
                raise ValueError(f"VirtualNode: nodes mask must have shape ({n},), "
                                 f"got {tuple(self.nodes.shape)}")
            member[:n] = self.nodes
        else:
            if self.nodes.numel() and (int(self.nodes.min()) < 0 or int(self.nodes.max()) >= n):
                raise IndexError(f"VirtualNode: node indices must lie in [0, {n})")
            member[self.nodes] = True
        row, col = data.edge_index
        keep = torch.ones(row.numel(), dtype=torch.bool)
        keep[num_old:] = member[row[num_old:]] | member[col[num_old:]]
        num_edges = row.numel()
        edge_keys = [key for key, value in data.items()
                     if isinstance(value, Tensor) and value.dim() > 0
                     and value.size(data.__cat_dim__(key, value)) == num_edges
                     and data.is_edge_attr(key)]
        index = keep.nonzero().view(-1)
        for key in edge_keys:
            data[key] = data[key].index_select(data.__cat_dim__(key, data[key]), index)
        return data

    def __repr__(self) -> str:
        which = "all" if self.nodes is None else f"{int(self._count())} nodes"
        return f"{self.__class__.__name__}({which})"

    def _count(self) -> int:
        return int(self.nodes.sum()) if self.nodes.dtype == torch.bool else self.nodes.numel()
