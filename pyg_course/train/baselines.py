"""The same models built from PyG's own layers, so that ``--impl pyg`` trains PyG's built-in
implementation with our loop, split and settings (the peer column of the results table)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.typing import SparseTensor
from torch_geometric.utils import is_torch_sparse_tensor

from pyg_course.utils.checks import check_edge_index
from pyg_course.utils.sparse import sparse_dropout


class _DropoutConvStack(torch.nn.Module):
    """``convs`` applied in turn, each to its dropped-out input, ``act`` between them (GCN's and
    GAT's dropout placement; :class:`PyGGraphSAGE` overrides :meth:`forward` with GraphSAGE's)."""

    supports_sparse_features = True
    act = staticmethod(F.relu)

    def reset_parameters(self):
        for conv in self.convs:
            conv.reset_parameters()

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        for i, conv in enumerate(self.convs):
            x = conv(sparse_dropout(x, self.dropout, self.training), edge_index)
            if i < len(self.convs) - 1:
                x = self.act(x)
        return x


class PyGGCN(_DropoutConvStack):
    """GCN of Kipf & Welling built from ``torch_geometric.nn.GCNConv``, as in PyG's
    ``examples/gcn.py``: dropout on the input and between layers, cached normalisation.

    Sparse bag-of-words features are given to it as to our GCN (``GCNConv`` multiplies a CSR
    input by its weight first), so both columns measure the layers, not the input format."""

    def __init__(self, in_channels: int, hidden_channels: int, num_layers: int,
                 out_channels: int, dropout: float = 0.5, cached: bool = True):
        super().__init__()
        from torch_geometric.nn import GCNConv

        sizes = [in_channels] + [hidden_channels] * (num_layers - 1) + [out_channels]
        self.convs = torch.nn.ModuleList(GCNConv(sizes[i], sizes[i + 1], cached=cached)
                                         for i in range(num_layers))
        self.dropout = dropout


# Our GraphSAGE aggregators that PyG's ``SAGEConv`` computes exactly (same formula, same
# parameter names); the others have no faithful PyG counterpart.
_PYG_SAGE_AGGR = {"mean": dict(aggr="mean"), "pool": dict(aggr="max", project=True)}


class PyGGraphSAGE(_DropoutConvStack):
    """:class:`~pyg_course.nn.models.GraphSAGE` built from ``torch_geometric.nn.SAGEConv``:
    the same layers, activation and dropout placement, so the same state dict loads in both
    (``strict=True``) and gives the same outputs.

    ``aggr="mean"`` uses ``SAGEConv(aggr="mean")`` and ``aggr="pool"`` uses
    ``SAGEConv(aggr="max", project=True)``. ``"gcn"`` and ``"lstm"`` are rejected: PyG's
    ``SAGEConv`` has no GCN-style aggregator, and its ``aggr="lstm"`` is not the paper's (it
    needs edges sorted by target, keeps that order in training instead of a random permutation,
    and fixes the LSTM's width to the input size).

    There is no layer-wise ``inference``; in mini-batch mode the training loop evaluates with
    one full-batch forward pass, which is the same function (full neighbourhoods, eval mode).

    It takes sparse bag-of-words features as our model does and drops out their non-zeros only
    (the same masks as ours); with ``aggr="pool"`` the layers take the CSR input itself (PyG's
    ``project=True`` multiplies the input by ``lin`` before aggregating, and ``lin_r`` takes a
    CSR input), while PyG's mean aggregates the raw input first, so it densifies it after the
    dropout.

    An ``edge_index`` is handed to the layers as the equivalent ``SparseTensor`` adjacency
    (``adj_t``), PyG's memory-efficient path (``T.ToSparseTensor``): the layers then aggregate
    with one sparse-dense product instead of materialising a message per edge, which on CiteSeer
    (3,703 input features) would be 9,104 x 3,703 floats. Same function, same parameters
    (``tests/train/test_baselines_sage.py`` checks outputs against ``edge_index`` input).
    """

    def __init__(self, in_channels: int, hidden_channels: int, num_layers: int,
                 out_channels: int, dropout: float = 0.0, aggr: str = "mean",
                 input_dropout: float = 0.0):
        super().__init__()
        if aggr not in _PYG_SAGE_AGGR:
            raise ValueError(
                f"PyGGraphSAGE: aggr {aggr!r} has no faithful equivalent in PyG's SAGEConv; "
                f"valid: {', '.join(repr(a) for a in _PYG_SAGE_AGGR)} ('gcn': PyG has no "
                f"GCN-style SAGE aggregator; 'lstm': PyG's LSTM aggregation needs sorted edges, "
                f"does not permute neighbours in training and has width = input size)")
        from torch_geometric.nn import SAGEConv

        sizes = [in_channels] + [hidden_channels] * (num_layers - 1) + [out_channels]
        self.convs = torch.nn.ModuleList(SAGEConv(sizes[i], sizes[i + 1], **_PYG_SAGE_AGGR[aggr])
                                         for i in range(num_layers))
        self.aggr = aggr
        self.dropout = dropout
        self.input_dropout = input_dropout

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        if isinstance(edge_index, Tensor) and edge_index.layout == torch.strided:
            check_edge_index(edge_index, x.size(0), x.size(0), self.__class__.__name__)
            edge_index = SparseTensor(row=edge_index[1], col=edge_index[0],
                                      sparse_sizes=(x.size(0), x.size(0)))
        x = sparse_dropout(x, self.input_dropout, self.training)
        if self.aggr == "mean" and is_torch_sparse_tensor(x):
            x = x.to_dense()
        for i, conv in enumerate(self.convs):
            x = conv(x, edge_index)
            if i < len(self.convs) - 1:
                x = F.dropout(x.relu(), self.dropout, self.training)
        return x

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}({self.convs[0].in_channels}, "
                f"{self.convs[-1].out_channels}, num_layers={len(self.convs)}, "
                f"aggr={self.aggr!r})")


class PyGGAT(_DropoutConvStack):
    """GAT of Veličković et al. built from ``torch_geometric.nn.GATConv``, as in PyG's
    ``examples/gat.py``: dropout on the input of every layer and on the attention, ELU between
    layers, hidden heads concatenated, output heads averaged. Takes sparse features as our
    GAT does (``GATConv`` multiplies its input by its weight first)."""

    act = staticmethod(F.elu)

    def __init__(self, in_channels: int, hidden_channels: int, num_layers: int,
                 out_channels: int, heads: int = 8, dropout: float = 0.6,
                 output_heads: int = 1):
        super().__init__()
        from torch_geometric.nn import GATConv

        self.convs = torch.nn.ModuleList()
        size = in_channels
        for _ in range(num_layers - 1):
            self.convs.append(GATConv(size, hidden_channels, heads=heads, dropout=dropout))
            size = hidden_channels * heads
        self.convs.append(GATConv(size, out_channels, heads=output_heads, concat=False,
                                  dropout=dropout))
        self.dropout = dropout
