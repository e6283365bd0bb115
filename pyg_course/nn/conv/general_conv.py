"""The textbook general message-passing layer: message, aggregation and update as arguments."""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor
from torch.nn import Parameter
from torch_geometric.nn.conv import MessagePassing
from torch_geometric.nn.dense.linear import Linear
from torch_geometric.nn.inits import zeros
from torch_geometric.typing import Adj, OptTensor, SparseTensor
from torch_geometric.utils import is_torch_sparse_tensor, scatter

from pyg_course.nn.conv.checks import adj_to_edge_index
from pyg_course.nn.conv.gcn_conv import gcn_norm
from pyg_course.utils.checks import check_edge_index, check_edge_weight, check_node_features

MESSAGES = ("linear", "identity")
AGGREGATIONS = ("sum", "mean", "max")
COMBINES = ("concat", "add", "none")


class GeneralConv(MessagePassing):
    r"""The general GNN layer of the textbooks (Hamilton, *Graph Representation Learning*,
    2020, Ch. 5; Gilmer et al., `"Neural Message Passing for Quantum Chemistry"
    <https://arxiv.org/abs/1704.01212>`_), with each of its three steps chosen by an argument.

    Not PyG's :class:`torch_geometric.nn.conv.GeneralConv` (You et al., "Design Space for Graph
    Neural Networks"), which fixes a linear message with optional attention and always adds a
    skip connection: here message, aggregation and combination are the independent choices of
    the textbook, so that GCN and GraphSAGE are two settings of one layer.

    .. math::
        \mathbf{m}_{j \to i} &= e_{j,i} \, \phi(\mathbf{x}_j), \qquad
        \phi(\mathbf{x}) = \mathbf{W}_{\mathrm{msg}} \mathbf{x} \ (\texttt{linear})
        \ \text{or}\ \mathbf{x} \ (\texttt{identity}) \\
        \mathbf{a}_i &= \bigoplus_{j \in \mathcal{N}(i)} \mathbf{m}_{j \to i}, \qquad
        \bigoplus \in \{\textstyle\sum, \mathrm{mean}, \max\} \\
        \mathbf{x}'_i &= \begin{cases}
            \mathbf{W}_{\mathrm{upd}} [\mathbf{x}_i \,\|\, \mathbf{a}_i] + \mathbf{b}
                & \texttt{concat} \\
            \mathbf{W}_{\mathrm{self}} \mathbf{x}_i + \mathbf{a}_i + \mathbf{b} & \texttt{add} \\
            \mathbf{a}_i + \mathbf{b} & \texttt{none}
        \end{cases}

    with :math:`e_{j,i}` the weight of edge :math:`j \to i` (``1``, the given ``edge_weight``,
    or with ``normalize=True`` the symmetric GCN weight :math:`1/\sqrt{\hat d_j \hat d_i}` on
    the graph with self-loops). In matrix form with the weighted adjacency
    :math:`\mathbf{A}` and sum aggregation: :math:`\mathbf{X}' = [\mathbf{X} \,\|\,
    \mathbf{A}\phi(\mathbf{X})] \mathbf{W}_{\mathrm{upd}}^{\top}`,
    :math:`\mathbf{X}\mathbf{W}_{\mathrm{self}}^{\top} + \mathbf{A}\phi(\mathbf{X})` or
    :math:`\mathbf{A}\phi(\mathbf{X})`, plus the bias.

    Known layers as settings (``tests/nn/conv/test_general_conv.py`` checks each with equal
    weights):

    * GCN: ``message='linear', aggr='sum', combine='none', normalize=True``.
    * GraphSAGE-mean: ``message='identity', aggr='mean', combine='concat'`` (
      :math:`\mathbf{W}_{\mathrm{upd}} = [\mathbf{W}_{\mathrm{root}} \,\|\,
      \mathbf{W}_{\mathrm{neigh}}]`), or ``message='linear', aggr='mean', combine='add'``.
    * The "basic GNN" of Hamilton (Eq. 5.7) / PyG's ``GraphConv``:
      ``message='linear', aggr='sum', combine='add'``.

    :meth:`message` applies the edge weight, :meth:`aggregate` reduces at each target,
    :meth:`update` combines with the node's own features. :meth:`message_and_aggregate` is the
    fused sparse path (``SparseTensor`` / ``torch.sparse`` input) and gives the same numbers.

    Args:
        in_channels (int): size of each input feature.
        out_channels (int): size of each output feature.
        message (str): ``'linear'`` or ``'identity'``. (default: ``'linear'``)
        aggr (str): ``'sum'``, ``'mean'`` or ``'max'`` (a node without in-edges gets
            :math:`\mathbf{a}_i = 0`). (default: ``'sum'``)
        combine (str): ``'concat'``, ``'add'`` or ``'none'``. ``'add'`` and ``'none'`` with
            ``message='identity'`` need ``in_channels == out_channels``. (default: ``'concat'``)
        normalize (bool): GCN's symmetric normalisation with self-loops as edge weights.
            (default: ``False``)
        bias (bool): learn :math:`\mathbf{b}`. (default: ``True``)
        **kwargs: passed to :class:`torch_geometric.nn.conv.MessagePassing`.

    Shapes:
        - **input:** node features :math:`(|V|, F_{in})`, edge indices :math:`(2, |E|)` or a
          sparse adjacency ``adj_t`` :math:`(|V|, |V|)` (``adj_t[i, j]`` the edge
          :math:`j \to i`), edge weights :math:`(|E|)` *(optional)*
        - **output:** node features :math:`(|V|, F_{out})`

    A ``torch.sparse`` adjacency is coalesced, so duplicate edges become one edge of summed
    weight; with ``'mean'`` or ``'max'`` that differs from the duplicated ``edge_index``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        message: str = "linear",
        aggr: str = "sum",
        combine: str = "concat",
        normalize: bool = False,
        bias: bool = True,
        **kwargs,
    ):
        if message not in MESSAGES:
            raise ValueError(f"GeneralConv: message must be one of {MESSAGES}, got {message!r}")
        if aggr not in AGGREGATIONS:
            raise ValueError(f"GeneralConv: aggr must be one of {AGGREGATIONS}, got {aggr!r}")
        if combine not in COMBINES:
            raise ValueError(f"GeneralConv: combine must be one of {COMBINES}, got {combine!r}")
        if message == "identity" and combine != "concat" and in_channels != out_channels:
            raise ValueError(f"GeneralConv: message='identity' with combine={combine!r} passes "
                             f"the {in_channels} input channels through, so out_channels must "
                             f"equal in_channels (got {out_channels}); use combine='concat' "
                             f"or message='linear'")
        super().__init__(aggr=aggr, **kwargs)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.message_type = message
        self.aggr_type = aggr
        self.combine = combine
        self.normalize = normalize

        msg_channels = out_channels if message == "linear" else in_channels
        self.lin_msg = (Linear(in_channels, out_channels, bias=False, weight_initializer="glorot")
                        if message == "linear" else None)
        self.lin_upd = (Linear(in_channels + msg_channels, out_channels, bias=False,
                               weight_initializer="glorot") if combine == "concat" else None)
        self.lin_self = (Linear(in_channels, out_channels, bias=False,
                                weight_initializer="glorot") if combine == "add" else None)
        if bias:
            self.bias = Parameter(torch.empty(out_channels))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        super().reset_parameters()
        for lin in (self.lin_msg, self.lin_upd, self.lin_self):
            if lin is not None:
                lin.reset_parameters()
        zeros(self.bias)

    def forward(self, x: Tensor, edge_index: Adj, edge_weight: OptTensor = None) -> Tensor:
        name = self.__class__.__name__
        check_node_features(x, self.in_channels, name)
        n = x.size(0)
        sparse_input = not (isinstance(edge_index, Tensor)
                            and not is_torch_sparse_tensor(edge_index))
        if sparse_input:
            if edge_weight is not None:
                raise ValueError(f"{name}: pass edge weights as the values of the sparse "
                                 f"adjacency, not as edge_weight")
            edge_index, edge_weight, size = adj_to_edge_index(edge_index, name)
            if size != (n, n):
                raise ValueError(f"{name}: sparse adjacency of size {size[::-1]} does not "
                                 f"match {n} nodes")
        else:
            check_edge_index(edge_index, n, n, name)
            check_edge_weight(edge_weight, edge_index.size(1), name)
        if edge_weight is not None:
            edge_weight = edge_weight.to(x.dtype)
        if self.normalize:
            edge_index, edge_weight = gcn_norm(edge_index, edge_weight, n, dtype=x.dtype)

        h = self.lin_msg(x) if self.lin_msg is not None else x
        if sparse_input:
            value = edge_weight if edge_weight is not None else None
            adj_t = SparseTensor(row=edge_index[1], col=edge_index[0], value=value,
                                 sparse_sizes=(n, n))
            return self.propagate(adj_t, x=h, x_self=x, edge_weight=None)
        return self.propagate(edge_index, x=h, x_self=x, edge_weight=edge_weight)

    def message(self, x_j: Tensor, edge_weight: OptTensor) -> Tensor:
        return x_j if edge_weight is None else edge_weight.view(-1, 1) * x_j

    def aggregate(self, inputs: Tensor, index: Tensor, ptr: OptTensor = None,
                  dim_size: Optional[int] = None) -> Tensor:
        return scatter(inputs, index, dim=self.node_dim, dim_size=dim_size, reduce=self.aggr_type)

    def message_and_aggregate(self, adj_t: SparseTensor, x: Tensor) -> Tensor:
        from torch_sparse import matmul

        return matmul(adj_t, x, reduce=self.aggr_type)

    def update(self, inputs: Tensor, x_self: Tensor) -> Tensor:
        if self.combine == "concat":
            out = self.lin_upd(torch.cat([x_self, inputs], dim=-1))
        elif self.combine == "add":
            out = self.lin_self(x_self) + inputs
        else:
            out = inputs
        return out if self.bias is None else out + self.bias

    def __repr__(self) -> str:
        norm = ", normalize=True" if self.normalize else ""
        return (f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}, "
                f"message={self.message_type!r}, aggr={self.aggr_type!r}, "
                f"combine={self.combine!r}{norm})")
