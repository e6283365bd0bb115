"""One-hot node identity as node features."""

from __future__ import annotations

import torch
from torch_geometric.data import Data
from torch_geometric.transforms import BaseTransform

from pyg_course.transforms.cycle_counts import set_node_features


class OneHotNodeId(BaseTransform):
    r"""Node :math:`i` gets the :math:`i`-th unit vector of :math:`\mathbb{R}^{|V|}`: the most
    expressive feature for a transductive task on one fixed graph (the first layer's weight
    becomes a free embedding per node), useless inductively.

    Args:
        sparse (bool): store a ``torch.sparse`` CSR identity instead of a dense
            :math:`|V| \times |V|` matrix (the dense one needs :math:`4|V|^2` bytes).
            Only without ``cat``. (default: ``False``)
        cat (bool): concatenate to an existing ``data.x`` instead of replacing it.
            (default: ``True``)
    """

    def __init__(self, sparse: bool = False, cat: bool = True):
        if sparse and cat:
            raise ValueError("OneHotNodeId: sparse=True cannot be concatenated; pass cat=False")
        self.sparse = sparse
        self.cat = cat

    def forward(self, data: Data) -> Data:
        n = data.num_nodes
        if self.sparse:
            idx = torch.arange(n)
            data.x = torch.sparse_csr_tensor(torch.arange(n + 1), idx, torch.ones(n), (n, n),
                                             check_invariants=False)  # the identity
            return data
        return set_node_features(data, torch.eye(n), self.cat)
