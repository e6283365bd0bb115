"""The same models built from PyG's own layers, so that ``--impl pyg`` trains PyG's built-in
implementation with our loop, split and settings (the peer column of the results table)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


class PyGGCN(torch.nn.Module):
    """GCN of Kipf & Welling built from ``torch_geometric.nn.GCNConv``, as in PyG's
    ``examples/gcn.py``: dropout on the input and between layers, cached normalisation."""

    def __init__(self, in_channels: int, hidden_channels: int, num_layers: int,
                 out_channels: int, dropout: float = 0.5, cached: bool = True):
        super().__init__()
        from torch_geometric.nn import GCNConv

        sizes = [in_channels] + [hidden_channels] * (num_layers - 1) + [out_channels]
        self.convs = torch.nn.ModuleList(GCNConv(sizes[i], sizes[i + 1], cached=cached)
                                         for i in range(num_layers))
        self.dropout = dropout

    def reset_parameters(self):
        for conv in self.convs:
            conv.reset_parameters()

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        for i, conv in enumerate(self.convs):
            x = conv(F.dropout(x, self.dropout, self.training), edge_index)
            if i < len(self.convs) - 1:
                x = x.relu()
        return x
