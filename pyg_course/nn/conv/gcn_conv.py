"""Graph convolution of Kipf & Welling (2017)."""

from __future__ import annotations

from typing import Optional, Tuple

import torch
from torch import Tensor
from torch.nn import Parameter
from torch_geometric.nn.conv import MessagePassing
from torch_geometric.nn.dense.linear import Linear
from torch_geometric.nn.inits import zeros
from torch_geometric.typing import Adj, OptTensor, SparseTensor
from torch_geometric.utils import is_torch_sparse_tensor, scatter

from pyg_course.nn.conv.checks import (
    adj_to_edge_index,
    check_edge_index,
    check_edge_weight,
    check_node_features,
    linear,
)


def gcn_norm(
    edge_index: Tensor,
    edge_weight: OptTensor,
    num_nodes: int,
    improved: bool = False,
    add_self_loops: bool = True,
    normalize: bool = True,
    dtype: Optional[torch.dtype] = None,
) -> Tuple[Tensor, Tensor]:
    r"""Edge weights of :math:`\hat{D}^{-1/2} \hat{A} \hat{D}^{-1/2}` for messages ``j -> i``.

    :math:`\hat{A} = A + \lambda I` with :math:`\lambda = 2` if ``improved`` else ``1``, where a
    node that already has a self-loop keeps its own (as PyG's ``add_remaining_self_loops``; the
    weights of duplicate self-loops add up, like every duplicate edge). :math:`\hat{D}_{ii} =
    \sum_j \hat{A}_{ij}` is the weighted in-degree; nodes of degree zero get zero weight.

    Returns:
        ``(edge_index, edge_weight)`` with the added self-loops appended at the end.

    Raises:
        ValueError: a node has a negative weighted degree (its :math:`\hat{D}^{-1/2}` would be NaN).
    """
    if edge_weight is None:
        edge_weight = torch.ones(edge_index.size(1), dtype=dtype or torch.float,
                                 device=edge_index.device)
    if add_self_loops:
        src, dst = edge_index
        has_loop = torch.zeros(num_nodes, dtype=torch.bool, device=edge_index.device)
        has_loop[src[src == dst]] = True
        loops = (~has_loop).nonzero().view(-1)
        edge_index = torch.cat([edge_index, loops.view(1, -1).repeat(2, 1)], dim=1)
        fill = 2.0 if improved else 1.0
        edge_weight = torch.cat([edge_weight, edge_weight.new_full((loops.numel(),), fill)])
    if not normalize:
        return edge_index, edge_weight
    src, dst = edge_index
    deg = scatter(edge_weight, dst, dim=0, dim_size=num_nodes, reduce="sum")
    if bool((deg < 0).any()):
        raise ValueError(f"gcn_norm: {int((deg < 0).sum())} nodes have a negative weighted "
                         f"degree; D^-1/2 is undefined (check edge_weight)")
    deg_inv_sqrt = deg.pow(-0.5)
    deg_inv_sqrt.masked_fill_(torch.isinf(deg_inv_sqrt), 0.0)
    return edge_index, deg_inv_sqrt[src] * edge_weight * deg_inv_sqrt[dst]


class _CSRMatmul(torch.autograd.Function):
    """``adj @ x`` for a constant CSR matrix, with the backward pass ``adj^T @ grad`` run on a
    transposed CSR copy built once (PyTorch would otherwise transpose ``adj`` on every call)."""

    @staticmethod
    def forward(ctx, x: Tensor, adj: Tensor, adj_transposed: Tensor) -> Tensor:
        ctx.adj_transposed = adj_transposed
        return torch.sparse.mm(adj, x)

    @staticmethod
    def backward(ctx, grad: Tensor):
        return torch.sparse.mm(ctx.adj_transposed, grad), None, None


def fused_adjacency(edge_index: Tensor, edge_weight: Tensor, num_nodes: int) -> Tensor:
    """The weighted ``adj_t`` (``adj_t[i, j]`` = weight of ``j -> i``, duplicates summed) as a
    ``torch.sparse_csr`` matrix that :meth:`GCNConv.message_and_aggregate` multiplies with
    natively in both directions; its transpose travels along as ``adj_t.transposed``."""
    src, dst = edge_index
    size = (num_nodes, num_nodes)
    adj = torch.sparse_coo_tensor(torch.stack([dst, src]), edge_weight, size,
                                  check_invariants=False).coalesce()  # checked by the caller
    adj_t = adj.to_sparse_csr()
    adj_t.transposed = adj.t().coalesce().to_sparse_csr()
    return adj_t


class GCNConv(MessagePassing):
    r"""The graph convolution from `"Semi-supervised Classification with Graph Convolutional
    Networks" <https://arxiv.org/abs/1609.02907>`_ (Kipf & Welling, ICLR 2017).

    .. math::
        \mathbf{X}' = \hat{\mathbf{D}}^{-1/2} \hat{\mathbf{A}} \hat{\mathbf{D}}^{-1/2}
        \mathbf{X} \mathbf{\Theta} + \mathbf{b}

    where :math:`\hat{\mathbf{A}} = \mathbf{A} + \mathbf{I}` is the (weighted) adjacency matrix
    with self-loops, :math:`\hat{D}_{ii} = \sum_j \hat{A}_{ij}` its degree matrix,
    :math:`\mathbf{\Theta}` the weight and :math:`\mathbf{b}` the bias. Node-wise:

    .. math::
        \mathbf{x}'_i = \mathbf{\Theta}^{\top} \sum_{j \in \mathcal{N}(i) \cup \{i\}}
        \frac{e_{j,i}}{\sqrt{\hat{d}_j \hat{d}_i}} \mathbf{x}_j + \mathbf{b},
        \qquad \hat{d}_i = 1 + \sum_{j \in \mathcal{N}(i)} e_{j,i}

    with :math:`e_{j,i}` the weight of edge :math:`j \to i` (default ``1``).

    The three steps of message passing: :meth:`message` scales the transformed neighbour
    feature by the normalised edge weight, :meth:`aggregate` sums the messages at each target,
    :meth:`update` adds the bias. :meth:`message_and_aggregate` fuses the first two into one
    sparse-dense matrix product; it runs for ``SparseTensor``/``torch.sparse`` adjacencies and,
    with ``cached=True``, for ``edge_index`` input too.

    Args:
        in_channels (int): size of each input feature, or ``-1`` to infer it lazily.
        out_channels (int): size of each output feature.
        improved (bool): use :math:`\hat{\mathbf{A}} = \mathbf{A} + 2\mathbf{I}`.
            (default: ``False``)
        cached (bool): compute the normalised adjacency on the first call and reuse it
            (transductive use only: the graph must not change). (default: ``False``)
        add_self_loops (bool): add a self-loop to every node that has none.
            (default: ``True``)
        normalize (bool): apply the symmetric normalisation. (default: ``True``)
        bias (bool): learn the additive bias :math:`\mathbf{b}`. (default: ``True``)
        **kwargs: passed to :class:`torch_geometric.nn.conv.MessagePassing`.

    Shapes:
        - **input:** node features :math:`(|V|, F_{in})` (dense, or a ``torch.sparse`` matrix
          for bag-of-words features), edge indices :math:`(2, |E|)` or a sparse adjacency
          ``adj_t`` :math:`(|V|, |V|)` with ``adj_t[i, j]`` the edge :math:`j \to i`, edge
          weights :math:`(|E|)` *(optional)*
        - **output:** node features :math:`(|V|, F_{out})`

    Parameter names (``lin.weight``, ``bias``) are those of PyG's ``GCNConv``, so its state dict
    loads with ``strict=True``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        improved: bool = False,
        cached: bool = False,
        add_self_loops: bool = True,
        normalize: bool = True,
        bias: bool = True,
        **kwargs,
    ):
        kwargs.setdefault("aggr", "add")
        super().__init__(**kwargs)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.improved = improved
        self.cached = cached
        self.add_self_loops = add_self_loops
        self.normalize = normalize
        self._cached_adj_t: Optional[Tensor] = None

        self.lin = Linear(in_channels, out_channels, bias=False, weight_initializer="glorot")
        if bias:
            self.bias = Parameter(torch.empty(out_channels))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        super().reset_parameters()
        self.lin.reset_parameters()
        zeros(self.bias)
        self._cached_adj_t = None

    def _normalized_adj(self, edge_index: Adj, edge_weight: OptTensor, num_nodes: int,
                        dtype: torch.dtype) -> Tuple[Tensor, Tensor]:
        name = self.__class__.__name__
        if isinstance(edge_index, Tensor) and not is_torch_sparse_tensor(edge_index):
            check_edge_index(edge_index, num_nodes, num_nodes, name)
            check_edge_weight(edge_weight, edge_index.size(1), name)
        else:
            if edge_weight is not None:
                raise ValueError(f"{name}: pass edge weights as the values of the sparse "
                                 f"adjacency, not as edge_weight")
            edge_index, edge_weight, size = adj_to_edge_index(edge_index, name)
            if size != (num_nodes, num_nodes):
                raise ValueError(f"{name}: sparse adjacency of size {size[::-1]} does not match "
                                 f"{num_nodes} nodes")
        if edge_weight is not None:
            edge_weight = edge_weight.to(dtype)
        return gcn_norm(edge_index, edge_weight, num_nodes, self.improved,
                        self.add_self_loops, self.normalize, dtype)

    def forward(self, x: Tensor, edge_index: Adj, edge_weight: OptTensor = None) -> Tensor:
        if isinstance(x, (tuple, list)):
            raise ValueError(f"{self.__class__.__name__} does not support bipartite input "
                             f"(x_src, x_dst); use SAGEConv or GATConv for mini-batches")
        check_node_features(x, self.in_channels, self.__class__.__name__)
        num_nodes = x.size(0)

        if self._cached_adj_t is not None:
            if self._cached_adj_t.size(0) != num_nodes:
                raise ValueError(f"{self.__class__.__name__}(cached=True) was built for "
                                 f"{self._cached_adj_t.size(0)} nodes but got {num_nodes}; "
                                 f"call reset_parameters() when the graph changes")
            adj_t: Adj = self._cached_adj_t
        else:
            ei, ew = self._normalized_adj(edge_index, edge_weight, num_nodes, x.dtype)
            sparse_input = not (isinstance(edge_index, Tensor)
                                and not is_torch_sparse_tensor(edge_index))
            if self.cached or sparse_input:
                # One CSR matrix: every later call runs the fused sparse-dense product.
                if ew.requires_grad:  # learnable edge weights: torch_sparse differentiates them
                    adj_t = SparseTensor(row=ei[1], col=ei[0], value=ew,
                                         sparse_sizes=(num_nodes, num_nodes))
                else:
                    adj_t = fused_adjacency(ei, ew, num_nodes)
                if self.cached:
                    self._cached_adj_t = adj_t
            else:
                return self.propagate(ei, x=self._project(x), edge_weight=ew)
        return self.propagate(adj_t, x=self._project(x), edge_weight=None)

    def _project(self, x: Tensor) -> Tensor:
        return linear(self.lin, x, self.__class__.__name__)

    def message(self, x_j: Tensor, edge_weight: Tensor) -> Tensor:
        return edge_weight.view(-1, 1) * x_j

    def aggregate(self, inputs: Tensor, index: Tensor, ptr: OptTensor = None,
                  dim_size: Optional[int] = None) -> Tensor:
        return scatter(inputs, index, dim=self.node_dim, dim_size=dim_size, reduce="sum")

    def message_and_aggregate(self, adj_t: Adj, x: Tensor) -> Tensor:
        if isinstance(adj_t, SparseTensor):
            from torch_sparse import matmul

            return matmul(adj_t, x, reduce="sum")
        transposed = getattr(adj_t, "transposed", None)
        if transposed is not None and adj_t.layout == torch.sparse_csr:
            return _CSRMatmul.apply(x, adj_t, transposed)
        return torch.sparse.mm(adj_t, x)

    def update(self, inputs: Tensor) -> Tensor:
        return inputs if self.bias is None else inputs + self.bias

    def __repr__(self) -> str:
        extra = ", improved=True" if self.improved else ""
        extra += ", cached=True" if self.cached else ""
        return f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}{extra})"
