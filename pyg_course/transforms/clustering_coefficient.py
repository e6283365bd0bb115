"""Local clustering coefficient as a node feature."""

from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.transforms import BaseTransform

from pyg_course.transforms.cycle_counts import cycle_counts
from pyg_course.transforms.shared import set_node_features, simple_undirected


def clustering_coefficient(edge_index: Tensor, num_nodes: int) -> Tensor:
    r""":math:`C_i = \frac{2 T_i}{d_i (d_i - 1)}` with :math:`T_i` the triangles through
    :math:`i` (:func:`~pyg_course.transforms.cycle_counts.cycle_counts`) and :math:`d_i` its
    degree in the simple undirected graph; :math:`0` for :math:`d_i < 2` (networkx's
    convention)."""
    ei = simple_undirected(edge_index, num_nodes, "clustering_coefficient")
    tri = cycle_counts(ei, num_nodes, max_length=3)[:, 0]
    deg = torch.bincount(ei[0], minlength=num_nodes).to(torch.float64)
    pairs = deg * (deg - 1)
    return torch.where(pairs > 0, 2 * tri / pairs.clamp(min=1), torch.zeros_like(pairs))


class ClusteringCoefficient(BaseTransform):
    r"""Appends each node's local clustering coefficient (:func:`clustering_coefficient`, the
    fraction of pairs of neighbours that are themselves connected) to ``data.x``.

    Args:
        cat (bool): concatenate to an existing ``data.x`` instead of replacing it.
            (default: ``True``)
    """

    def __init__(self, cat: bool = True):
        self.cat = cat

    def forward(self, data: Data) -> Data:
        c = clustering_coefficient(data.edge_index, data.num_nodes).float().view(-1, 1)
        return set_node_features(data, c, self.cat)
