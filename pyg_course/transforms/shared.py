"""What the structural-feature transforms share: the simple undirected graph they measure,
and writing a measure into ``data.x``."""

from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.utils import coalesce, remove_self_loops, to_undirected

from pyg_course.utils.checks import check_edge_index


def simple_undirected(edge_index: Tensor, num_nodes: int, where: str) -> Tensor:
    """The simple undirected graph underlying ``edge_index``: both directions of every edge,
    no self-loops, no duplicates. Checks ``edge_index`` against ``num_nodes`` first (an index
    out of range would otherwise corrupt memory in the sparse products); ``where`` names the
    caller in the error."""
    check_edge_index(edge_index, num_nodes, num_nodes, where)
    edge_index, _ = remove_self_loops(edge_index)
    return coalesce(to_undirected(edge_index, num_nodes=num_nodes), num_nodes=num_nodes)


def set_node_features(data: Data, value: Tensor, cat: bool) -> Data:
    """``data.x = value``, or ``[data.x, value]`` when ``cat`` and ``data.x`` exists (on a copy
    made by :class:`BaseTransform`; the input ``Data`` is not touched)."""
    if cat and data.x is not None:
        x = data.x.view(-1, 1) if data.x.dim() == 1 else data.x
        data.x = torch.cat([x, value.to(x.device, x.dtype)], dim=-1)
    else:
        data.x = value
    return data
