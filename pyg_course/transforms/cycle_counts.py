r"""Number of cycles of length 3..k through each node, from powers of the adjacency matrix."""

from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.transforms import BaseTransform

from pyg_course.transforms.shared import set_node_features, simple_undirected
from pyg_course.utils.sparse import to_csr

SUPPORTED_LENGTHS = (3, 4, 5)


def cycle_counts(edge_index: Tensor, num_nodes: int, max_length: int = 5,
                 chunk_size: int = 1024) -> Tensor:
    r"""Simple cycles of length :math:`3, \dots,` ``max_length`` through each node of the simple
    undirected graph underlying ``edge_index``; ``max_length`` :math:`\le 5`.

    With :math:`\mathbf{A}` the adjacency matrix, :math:`d_i` the degree and
    :math:`w_\ell(i) = (\mathbf{A}^\ell)_{ii}` the closed walks of length :math:`\ell` from
    :math:`i`, a closed walk counts each cycle through :math:`i` twice (two directions), and the
    walks that are not cycles are subtracted in closed form:

    .. math::
        c_3(i) &= \tfrac{1}{2} w_3(i) \\
        c_4(i) &= \tfrac{1}{2}\big(w_4(i) - d_i^2 - \textstyle\sum_{j \in \mathcal{N}(i)}
                 (d_j - 1)\big) \\
        c_5(i) &= \tfrac{1}{2}\big(w_5(i) - 2 d_i w_3(i)
                 - 2 \textstyle\sum_j A_{ij} d_j (\mathbf{A}^2)_{ij}
                 - \textstyle\sum_{j} A_{ij} w_3(j) + 5 w_3(i)\big)

    A closed walk of length 4 that is not a 4-cycle walks an edge back and forth twice
    (:math:`d_i^2` ways from :math:`i`, :math:`d_j - 1` through each neighbour :math:`j`). One of
    length 5 is a triangle with one edge walked back and forth: the spike starts at :math:`i`
    (before or after the triangle, :math:`2 d_i w_3(i)`), at another triangle vertex
    (:math:`2 \sum_j A_{ij} d_j (A^2)_{ij}`), or leads from :math:`i` to a triangle elsewhere
    (:math:`\sum_j A_{ij} w_3(j)`); the :math:`10` closed 5-walks inside each of the
    :math:`w_3(i)/2` triangles through :math:`i` have two such spikes and were subtracted
    twice. Longer cycles need many more correction terms and are not supported.

    Rows of :math:`\mathbf{A}^\ell` are computed ``chunk_size`` nodes at a time by sparse-dense
    products: memory :math:`O(\text{chunk\_size} \cdot |V|)`, time
    :math:`O(\ell \, |V| \, |E|)`; no Python loop over nodes.

    Returns:
        float64 tensor :math:`(|V|, \text{max\_length} - 2)`, column :math:`\ell - 3` holding
        :math:`c_\ell`.
    """
    if max_length not in SUPPORTED_LENGTHS:
        raise ValueError(f"cycle_counts: max_length must be one of {SUPPORTED_LENGTHS} "
                         f"(closed-form corrections exist up to 5-cycles), got {max_length}")
    ei = simple_undirected(edge_index, num_nodes, "cycle_counts")
    adj = to_csr(torch.sparse_coo_tensor(ei, torch.ones(ei.size(1), dtype=torch.float64),
                                         (num_nodes, num_nodes),
                                         check_invariants=False).coalesce())
    deg = torch.bincount(ei[0], minlength=num_nodes).to(torch.float64)
    walks = torch.zeros(max_length + 1, num_nodes, dtype=torch.float64)
    spike = torch.zeros(num_nodes, dtype=torch.float64)  # sum_j A_ij d_j (A^2)_ij
    for start in range(0, num_nodes, chunk_size):
        rows = torch.arange(start, min(start + chunk_size, num_nodes))
        local = torch.arange(rows.numel())
        p = torch.zeros(num_nodes, rows.numel(), dtype=torch.float64)
        p[rows, local] = 1.0
        powers = []
        for ell in range(1, max_length + 1):
            p = adj @ p  # column b holds row rows[b] of A^ell (A is symmetric)
            walks[ell, rows] = p[rows, local]
            if ell <= 2:
                powers.append(p)
        if max_length >= 5:
            spike[rows] = (powers[0] * deg.view(-1, 1) * powers[1]).sum(dim=0)
    w3 = walks[3]
    out = [w3 / 2]
    if max_length >= 4:
        out.append((walks[4] - deg.pow(2) - (adj @ deg.view(-1, 1)).view(-1) + deg) / 2)
    if max_length >= 5:
        around = (adj @ w3.view(-1, 1)).view(-1)
        out.append((walks[5] - 2 * deg * w3 - 2 * spike - around + 5 * w3) / 2)
    return torch.stack(out, dim=1).round()


class CycleCounts(BaseTransform):
    r"""Appends to ``data.x`` the number of cycles of length :math:`3, \dots, k` through each node
    (:func:`cycle_counts`; :math:`k \le 5`), a structural feature for graphs without useful node
    features (Bouritsas et al., "Improving Graph Neural Network Expressivity via Subgraph
    Isomorphism Counting").

    Args:
        max_length (int): :math:`k \in \{3, 4, 5\}`. (default: ``5``)
        log (bool): store :math:`\log(1 + c)` instead of the counts. (default: ``False``)
        cat (bool): concatenate to an existing ``data.x`` instead of replacing it.
            (default: ``True``)
    """

    def __init__(self, max_length: int = 5, log: bool = False, cat: bool = True):
        if max_length not in SUPPORTED_LENGTHS:
            raise ValueError(f"CycleCounts: max_length must be one of {SUPPORTED_LENGTHS}, "
                             f"got {max_length}")
        self.max_length = max_length
        self.log = log
        self.cat = cat

    def forward(self, data: Data) -> Data:
        counts = cycle_counts(data.edge_index, data.num_nodes, self.max_length).float()
        if self.log:
            counts = counts.log1p()
        return set_node_features(data, counts, self.cat)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(max_length={self.max_length})"
