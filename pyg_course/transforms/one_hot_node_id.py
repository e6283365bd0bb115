"""One-hot node identity as node features."""

from __future__ import annotations

from typing import Optional

import torch
from torch_geometric.data import Data
from torch_geometric.transforms import BaseTransform

from pyg_course.transforms.shared import set_node_features
from pyg_course.utils.sparse import csr_tensor


class OneHotNodeId(BaseTransform):
    r"""Node :math:`i` gets the :math:`i`-th unit vector of :math:`\mathbb{R}^{|V|}`: the most
    expressive feature for a transductive task on one fixed graph (the first layer's weight
    becomes a free embedding per node), useless inductively.

    The identity is built on the graph's device (that of ``data.x``, else of
    ``data.edge_index``); ``data.num_nodes`` must be known.

    Args:
        sparse (bool): store a ``torch.sparse`` CSR identity instead of a dense
            :math:`|V| \times |V|` matrix (the dense one needs :math:`4|V|^2` bytes). It
            replaces ``data.x``: it cannot be concatenated. (default: ``False``)
        cat (bool, optional): concatenate to an existing ``data.x`` instead of replacing it;
            ``None`` means ``True`` for the dense identity and ``False`` for the sparse one
            (``sparse=True, cat=True`` is an error). (default: ``None``)
    """

    def __init__(self, sparse: bool = False, cat: Optional[bool] = None):
        if cat is None:
            cat = not sparse
        if sparse and cat:
            raise ValueError("OneHotNodeId: sparse=True cannot be concatenated; pass cat=False")
        self.sparse = sparse
        self.cat = cat

    def forward(self, data: Data) -> Data:
        n = data.num_nodes
        if n is None:
            raise ValueError("OneHotNodeId: the number of nodes is unknown (the Data has no x "
                             "and no num_nodes); set data.num_nodes")
        if data.x is not None:
            device = data.x.device
        elif data.edge_index is not None:
            device = data.edge_index.device
        else:
            device = torch.device("cpu")
        if self.sparse:
            idx = torch.arange(n, device=device)
            data.x = csr_tensor(torch.arange(n + 1, device=device), idx,
                                torch.ones(n, device=device), (n, n))  # the identity
            return data
        return set_node_features(data, torch.eye(n, device=device), self.cat)

