"""A stack of :class:`~pyg_course.nn.GCNConv` layers, the model of Kipf & Welling (2017)."""

from __future__ import annotations

from typing import Any, Callable, Optional, Union

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.nn.resolver import activation_resolver
from torch_geometric.typing import Adj, OptTensor
from torch_geometric.utils import is_torch_sparse_tensor

from pyg_course.nn.conv.gcn_conv import GCNConv
from pyg_course.nn.models.stack import LayerStack, check_dropout


def sparse_dropout(x: Tensor, p: float, training: bool) -> Tensor:
    """Dropout on the stored values of a ``torch.sparse`` (COO or CSR) matrix.

    Dense dropout on a bag-of-words matrix draws a random number for every entry, although
    98.7% of Cora's are zero and stay zero; the original GCN code drops only the non-zeros.
    The result has the same distribution as dense dropout (zeros stay zero, survivors are
    scaled by ``1 / (1 - p)``) at the cost of the non-zeros alone. A dense ``x`` gets
    ``F.dropout``, so a model calls this on whatever features it is given.
    """
    if not is_torch_sparse_tensor(x):
        return F.dropout(x, p, training)
    if not training or p == 0.0:
        return x
    if x.layout == torch.sparse_csr:
        return torch.sparse_csr_tensor(x.crow_indices(), x.col_indices(),
                                       F.dropout(x.values(), p, True), x.size(),
                                       check_invariants=False)  # x's own structure
    x = x.coalesce()
    return torch.sparse_coo_tensor(x.indices(), F.dropout(x.values(), p, True), x.size(),
                                   is_coalesced=True, check_invariants=False)


class GCN(LayerStack):
    r"""The two-layer (or ``num_layers``-layer) GCN of `"Semi-supervised Classification with
    Graph Convolutional Networks" <https://arxiv.org/abs/1609.02907>`_:

    .. math::
        \mathbf{Z} = \hat{\mathbf{A}}_{\mathrm{sym}} \, \sigma\big(\hat{\mathbf{A}}_{\mathrm{sym}}
        \, \mathrm{drop}(\mathbf{X}) \mathbf{W}^{(0)}\big) \mathbf{W}^{(1)},
        \qquad \hat{\mathbf{A}}_{\mathrm{sym}} = \hat{\mathbf{D}}^{-1/2}\hat{\mathbf{A}}
        \hat{\mathbf{D}}^{-1/2}

    Same signature as :class:`torch_geometric.nn.models.GCN`, so one can replace the other.
    As in the paper, dropout is applied to the input features as well as between layers
    (PyG's ``BasicGNN`` skips the input; pass ``input_dropout=0.0`` for that behaviour).
    A ``torch.sparse`` feature matrix is accepted, and then dropped out on its non-zeros only
    (:func:`sparse_dropout`), which is what makes an epoch on Cora several times faster.

    Args:
        in_channels (int): input feature size.
        hidden_channels (int): hidden size.
        num_layers (int): number of :class:`GCNConv` layers.
        out_channels (int, optional): output size; ``None`` keeps ``hidden_channels``.
        dropout (float): dropout probability between layers, in :math:`[0, 1]`.
            (default: ``0.0``)
        act (str or Callable): activation between layers. (default: ``"relu"``)
        input_dropout (float, optional): dropout on the input; ``None`` uses ``dropout``.
        **kwargs: passed to every :class:`GCNConv` (e.g. ``cached=True``).
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        num_layers: int,
        out_channels: Optional[int] = None,
        dropout: float = 0.0,
        act: Union[str, Callable, None] = "relu",
        input_dropout: Optional[float] = None,
        **kwargs: Any,
    ):
        super().__init__(in_channels, hidden_channels, num_layers, out_channels)
        check_dropout("GCN", "dropout", dropout)
        if input_dropout is not None:
            check_dropout("GCN", "input_dropout", input_dropout)
        self.dropout = dropout
        self.input_dropout = dropout if input_dropout is None else input_dropout
        self.act = activation_resolver(act) if act is not None else torch.nn.Identity()
        sizes = [in_channels] + [hidden_channels] * (num_layers - 1) + [self.out_channels]
        self.convs = torch.nn.ModuleList(
            GCNConv(sizes[i], sizes[i + 1], **kwargs) for i in range(num_layers)
        )

    def forward(self, x: Tensor, edge_index: Adj, edge_weight: OptTensor = None) -> Tensor:
        x = sparse_dropout(x, self.input_dropout, self.training)
        for i, conv in enumerate(self.convs):
            x = conv(x, edge_index, edge_weight)
            if i < self.num_layers - 1:
                x = F.dropout(self.act(x), self.dropout, self.training)
        return x
