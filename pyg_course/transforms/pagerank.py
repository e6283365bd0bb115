"""PageRank score as a node feature."""

from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.transforms import BaseTransform
from torch_geometric.utils import scatter

from pyg_course.transforms.shared import set_node_features
from pyg_course.utils.checks import check_edge_index


def pagerank(edge_index: Tensor, num_nodes: int, alpha: float = 0.85, tol: float = 1e-10,
             max_iter: int = 1000) -> Tensor:
    r"""PageRank by power iteration (networkx's convention, edges :math:`j \to i`):

    .. math::
        r_i \leftarrow \frac{1 - \alpha}{|V|} + \alpha \Big(\sum_{j \to i} \frac{r_j}{d^{out}_j}
        + \frac{1}{|V|} \sum_{j : d^{out}_j = 0} r_j\Big)

    until the :math:`\ell_1` change is below ``tol``; dangling nodes spread their score
    uniformly. Returns float64 scores summing to 1.
    """
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"pagerank: alpha must lie in (0, 1), got {alpha}")
    check_edge_index(edge_index, num_nodes, num_nodes, "pagerank")
    src, dst = edge_index
    out_deg = torch.bincount(src, minlength=num_nodes).to(torch.float64)
    dangling = out_deg == 0
    inv = torch.where(dangling, torch.zeros_like(out_deg), 1.0 / out_deg.clamp(min=1))
    r = torch.full((num_nodes,), 1.0 / num_nodes, dtype=torch.float64)
    for _ in range(max_iter):
        spread = scatter((r * inv)[src], dst, dim=0, dim_size=num_nodes, reduce="sum")
        new = (1 - alpha) / num_nodes + alpha * (spread + r[dangling].sum() / num_nodes)
        done = float((new - r).abs().sum()) < tol
        r = new
        if done:
            break
    return r


class PageRank(BaseTransform):
    r"""Appends each node's PageRank (:func:`pagerank`) to ``data.x``, multiplied by
    :math:`|V|` when ``scale`` (mean 1, so that its magnitude does not depend on the graph's
    size).

    Args:
        alpha (float): damping factor. (default: ``0.85``)
        scale (bool): multiply by :math:`|V|`. (default: ``True``)
        cat (bool): concatenate to an existing ``data.x`` instead of replacing it.
            (default: ``True``)
    """

    def __init__(self, alpha: float = 0.85, scale: bool = True, cat: bool = True):
        self.alpha = alpha
        self.scale = scale
        self.cat = cat

    def forward(self, data: Data) -> Data:
        r = pagerank(data.edge_index, data.num_nodes, self.alpha)
        if self.scale:
            r = r * data.num_nodes
        return set_node_features(data, r.float().view(-1, 1), self.cat)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(alpha={self.alpha})"
