"""Graph convolution of Kipf & Welling (2017)."""

from __future__ import annotations

from typing import Optional, Tuple, Union

import torch
from torch import Tensor
from torch.nn import Parameter
from torch.utils.weak import WeakIdKeyDictionary
from torch_geometric.nn.conv import MessagePassing
from torch_geometric.nn.dense.linear import Linear
from torch_geometric.nn.inits import zeros
from torch_geometric.typing import Adj, OptTensor, SparseTensor
from torch_geometric.utils import is_torch_sparse_tensor, scatter

from pyg_course.nn.conv.checks import adj_to_edge_index, linear
from pyg_course.utils.checks import (
    check_edge_index,
    check_edge_weight,
    check_node_features,
    compiling,
    tensor_version,
)
from pyg_course.utils.sparse import to_csr

_FLOWS = ("source_to_target", "target_to_source")

#: Edge weight tensors already seen to be non-negative (so no node can get a negative degree):
#: tensor -> its ``_version`` when checked. Held weakly, keyed by identity.
_NONNEGATIVE_WEIGHTS: WeakIdKeyDictionary = WeakIdKeyDictionary()


def _check_degree(key: Optional[Tensor], weight: Optional[Tensor], deg: Tensor,
                  where: str) -> None:
    """Raise if a node's weighted degree is negative (its :math:`d^{-1/2}` would be NaN).

    Without given weights every degree is non-negative and nothing is read. Given weights are
    read from the device once per tensor ``key`` (until it is modified in place): when all are
    non-negative, later calls skip the check. Skipped while ``torch.compile`` traces."""
    if weight is None or compiling():
        return
    version = tensor_version(key) if key is not None else None
    if version is not None and _NONNEGATIVE_WEIGHTS.get(key) == version:
        return
    if bool((weight.detach() >= 0).all()):
        if version is not None:
            _NONNEGATIVE_WEIGHTS[key] = version
        return
    negative = deg.detach() < 0
    if bool(negative.any()):
        raise ValueError(f"{where}: {int(negative.sum())} nodes have a negative weighted "
                         f"degree; D^-1/2 is undefined (check edge_weight)")


def add_gcn_self_loops(
    edge_index: Tensor,
    edge_weight: OptTensor,
    num_nodes: int,
    improved: bool = False,
    mode: str = "remaining",
    dtype: Optional[torch.dtype] = None,
) -> Tuple[Tensor, Tensor]:
    r"""The edges of :math:`\hat{\mathbf{A}} = \mathbf{A} + \lambda \mathbf{I}`
    (:math:`\lambda = 2` if ``improved`` else ``1``), the graph :func:`gcn_norm` normalises.

    One loop per node is always appended at the end, so that shapes never depend on the data;
    ``mode`` says how it meets existing self-loops: ``"remaining"``: a node with a self-loop
    keeps its own weight (the appended loop weighs ``0``), the others get :math:`\lambda`;
    ``"replace"``: existing self-loops are weighted ``0``, every node gets :math:`\lambda`;
    ``"add"``: every node gets :math:`\lambda` on top of its existing self-loops.

    Args:
        edge_index (torch.Tensor): edge indices :math:`(2, |E|)`.
        edge_weight (torch.Tensor, optional): edge weights :math:`(|E|)`; ones if ``None``.
        num_nodes (int): number of nodes :math:`|V|`.
        improved (bool): :math:`\lambda = 2`. (default: ``False``)
        mode (str): ``"remaining"``, ``"replace"`` or ``"add"``. (default: ``"remaining"``)
        dtype (torch.dtype, optional): dtype of the unit weights made when ``edge_weight``
            is ``None``. (default: ``None``)

    Returns:
        ``(edge_index, edge_weight)`` of shapes :math:`(2, |E| + |V|)` and
        :math:`(|E| + |V|)`.
    """
    row, col = edge_index[0], edge_index[1]
    if edge_weight is None:
        edge_weight = torch.ones(row.numel(), dtype=dtype or torch.get_default_dtype(),
                                 device=row.device)
    fill = 2.0 if improved else 1.0
    loop_weight = torch.full((num_nodes,), fill, dtype=edge_weight.dtype, device=row.device)
    is_loop = row == col
    if mode == "remaining":
        has_loop = torch.zeros(num_nodes, dtype=edge_weight.dtype, device=row.device)
        has_loop = has_loop.index_add(0, row, is_loop.to(edge_weight.dtype))
        loop_weight = loop_weight.masked_fill(has_loop > 0, 0.0)
    elif mode == "replace":
        edge_weight = edge_weight.masked_fill(is_loop, 0.0)
    elif mode != "add":
        raise ValueError(f"add_gcn_self_loops: unknown mode {mode!r}")
    node = torch.arange(num_nodes, dtype=row.dtype, device=row.device)
    edge_index = torch.stack([torch.cat([row, node]), torch.cat([col, node])])
    return edge_index, torch.cat([edge_weight, loop_weight])


def _normalize_edges(
    edge_index: Tensor,
    edge_weight: OptTensor,
    num_nodes: int,
    improved: bool,
    self_loops: Optional[str],
    flow: str,
    dtype: Optional[torch.dtype],
) -> Tuple[Tensor, Tensor, Tensor]:
    r"""The symmetric normalisation of the edges, with self-loops added as ``self_loops``
    says (a mode of :func:`add_gcn_self_loops`, or ``None``). Degrees are summed at
    ``edge_index[1]`` for ``flow="source_to_target"``, else at ``edge_index[0]``.

    Returns:
        ``(edge_index, weight, deg)``: :math:`d_{row}^{-1/2} w\, d_{col}^{-1/2}` per edge and
        the weighted degrees.
    """
    if self_loops is not None:
        edge_index, edge_weight = add_gcn_self_loops(edge_index, edge_weight, num_nodes,
                                                     improved, self_loops, dtype)
    elif edge_weight is None:
        edge_weight = torch.ones(edge_index.size(1), dtype=dtype or torch.get_default_dtype(),
                                 device=edge_index.device)
    row, col = edge_index[0], edge_index[1]
    index = col if flow == "source_to_target" else row
    deg = scatter(edge_weight, index, dim=0, dim_size=num_nodes, reduce="sum")
    deg_inv_sqrt = deg.pow(-0.5)
    deg_inv_sqrt = deg_inv_sqrt.masked_fill(torch.isinf(deg_inv_sqrt), 0.0)
    return edge_index, deg_inv_sqrt[row] * edge_weight * deg_inv_sqrt[col], deg


def _sparse_tensor_coo(adj: SparseTensor) -> Tuple[Tensor, Tensor, OptTensor]:
    """``(row, col, value)`` of a ``SparseTensor`` read from its stored tensors only (no
    ``torch_sparse`` op, so ``torch.compile`` traces it); ``value`` may be ``None``."""
    storage = adj.storage
    row, col = storage._row, storage._col
    if row is None:
        rowptr = storage._rowptr
        nodes = torch.arange(rowptr.numel() - 1, dtype=col.dtype, device=col.device)
        row = torch.repeat_interleave(nodes, rowptr.diff(), output_size=col.numel())
    return row, col, storage._value


def gcn_norm(
    edge_index: Adj,
    edge_weight: OptTensor = None,
    num_nodes: Optional[int] = None,
    improved: bool = False,
    add_self_loops: bool = True,
    flow: str = "source_to_target",
    dtype: Optional[torch.dtype] = None,
) -> Union[Tuple[Tensor, OptTensor], SparseTensor]:
    r"""The weights of :math:`\hat{\mathbf{D}}^{-1/2} \hat{\mathbf{A}}
    \hat{\mathbf{D}}^{-1/2}`, the normalised adjacency of :class:`GCNConv`.

    :math:`\hat{\mathbf{A}} = \mathbf{A} + \lambda \mathbf{I}` with :math:`\lambda = 2` if
    ``improved`` else ``1`` (only if ``add_self_loops``), :math:`\hat{D}_{ii} = \sum_j
    \hat{A}_{ij}` the weighted degree at the aggregating node; nodes of degree zero get zero
    weight. How the loops meet existing self-loops depends on the input, as in PyG:

    - ``edge_index``: a node that has a self-loop keeps its own weight (the weights of
      duplicate self-loops add up, like every duplicate edge); the others get
      :math:`\lambda`. One loop per node is appended at the end, of weight ``0`` where the
      node had its own, so that the output size is :math:`|E| + |V|` whatever the data.
    - ``SparseTensor`` ``adj_t``: the diagonal is set to :math:`\lambda`.
    - ``torch.sparse`` ``adj_t``: :math:`\lambda` is added to the diagonal.

    Args:
        edge_index (torch.Tensor or SparseTensor): edge indices :math:`(2, |E|)` or a sparse
            adjacency ``adj_t`` with ``adj_t[i, j]`` the weight of edge :math:`j \to i`
            (a ``torch_sparse.SparseTensor`` or a COO/CSR/CSC ``torch.sparse`` tensor).
        edge_weight (torch.Tensor, optional): edge weights :math:`(|E|)` for ``edge_index``
            input (sparse adjacencies carry their weights as values). (default: ``None``)
        num_nodes (int, optional): number of nodes (inferred from ``edge_index`` if
            ``None``). (default: ``None``)
        improved (bool): :math:`\lambda = 2`. (default: ``False``)
        add_self_loops (bool): add the loops :math:`\lambda \mathbf{I}`. (default: ``True``)
        flow (str): ``"source_to_target"`` (degrees at ``edge_index[1]``) or
            ``"target_to_source"`` (degrees at ``edge_index[0]``); sparse adjacencies only
            support ``"source_to_target"``. (default: ``"source_to_target"``)
        dtype (torch.dtype, optional): dtype of the unit weights made when there are none.
            (default: ``None``)

    Returns:
        ``(edge_index, edge_weight)`` for ``edge_index`` input; the normalised ``SparseTensor``
        for ``SparseTensor`` input; ``(adj_t, None)`` with ``adj_t`` in the input's layout for
        ``torch.sparse`` input.

    Raises:
        ValueError: a node has a negative weighted degree (its :math:`\hat{D}^{-1/2}` would
            be NaN), an unknown ``flow``, or a non-square sparse adjacency.
    """
    if flow not in _FLOWS:
        raise ValueError(f"gcn_norm: flow must be one of {_FLOWS}, got {flow!r}")
    loops = "remaining" if add_self_loops else None
    if isinstance(edge_index, Tensor) and not is_torch_sparse_tensor(edge_index):
        if num_nodes is None:
            num_nodes = int(edge_index.max()) + 1 if edge_index.numel() else 0
        edge_index, weight, deg = _normalize_edges(edge_index, edge_weight, num_nodes,
                                                   improved, loops, flow, dtype)
        _check_degree(edge_weight, edge_weight, deg, "gcn_norm")
        return edge_index, weight

    if flow != "source_to_target":
        raise ValueError("gcn_norm: a sparse adjacency adj_t is normalised at its rows "
                         "(flow='source_to_target'); transpose it for the reverse flow")
    if edge_weight is not None:
        raise ValueError("gcn_norm: pass edge weights as the values of the sparse adjacency, "
                         "not as edge_weight")
    if edge_index.size(0) != edge_index.size(1):
        raise ValueError(f"gcn_norm: the sparse adjacency must be square, got "
                         f"{tuple(edge_index.size())[:2]}")
    n = edge_index.size(0)
    if isinstance(edge_index, SparseTensor):
        dst, src, value = _sparse_tensor_coo(edge_index)
        mode = "replace" if add_self_loops else None
        (src, dst), weight, deg = _normalize_edges(torch.stack([src, dst]), value, n, improved,
                                                   mode, flow, dtype)
        _check_degree(value, value, deg, "gcn_norm")
        return SparseTensor(row=dst, col=src, value=weight, sparse_sizes=(n, n)).coalesce()

    layout = edge_index.layout
    coo = edge_index.to_sparse_coo() if layout != torch.sparse_coo else edge_index
    coo = coo.coalesce()
    (dst, src), value = coo.indices(), coo.values()
    mode = "add" if add_self_loops else None
    (src, dst), weight, deg = _normalize_edges(torch.stack([src, dst]), value, n, improved,
                                               mode, flow, dtype)
    _check_degree(edge_index, value, deg, "gcn_norm")
    adj_t = torch.sparse_coo_tensor(torch.stack([dst, src]), weight, (n, n),
                                    check_invariants=False).coalesce()
    if layout == torch.sparse_csr:
        adj_t = to_csr(adj_t)
    elif layout == torch.sparse_csc:
        adj_t = adj_t.to_sparse_csc()
    return adj_t, None


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
    adj_t = to_csr(adj)
    adj_t.transposed = to_csr(adj.t().coalesce())
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

    with :math:`e_{j,i}` the weight of edge :math:`j \to i` (default ``1``). With
    ``flow="target_to_source"`` the edge ``(i, j)`` of ``edge_index`` carries the message
    :math:`j \to i` and the degrees are taken at ``edge_index[0]``. How the self-loops meet
    existing ones for each input form is described in :func:`gcn_norm`.

    The three steps of message passing: :meth:`message` scales the transformed neighbour
    feature by the normalised edge weight, :meth:`aggregate` sums the messages at each target;
    :meth:`forward` adds the bias. :meth:`message_and_aggregate` fuses the first two into one
    sparse-dense matrix product; in eager mode it runs for ``SparseTensor``/``torch.sparse``
    adjacencies and, with ``cached=True``, for ``edge_index`` input too. Under
    ``torch.compile`` every input form takes the edge-wise path (fixed-size, no graph breaks).

    Args:
        in_channels (int): size of each input feature, or ``-1`` to infer it lazily.
        out_channels (int): size of each output feature.
        improved (bool): use :math:`\hat{\mathbf{A}} = \mathbf{A} + 2\mathbf{I}`.
            (default: ``False``)
        cached (bool): compute the normalised adjacency on the first call and reuse it
            (transductive use only: the graph must not change). (default: ``False``)
        add_self_loops (bool, optional): add self-loops (see :func:`gcn_norm`); ``None``
            means ``normalize``. Self-loops without normalisation are refused.
            (default: ``None``)
        normalize (bool): add self-loops and apply the symmetric normalisation; if ``False``
            the edge weights are used as given. (default: ``True``)
        bias (bool): learn the additive bias :math:`\mathbf{b}`. (default: ``True``)
        **kwargs: passed to :class:`torch_geometric.nn.conv.MessagePassing` (e.g. ``flow``,
            ``decomposed_layers``).

    Shapes:
        - **input:** node features :math:`(|V|, F_{in})` (dense, or a ``torch.sparse`` matrix
          for bag-of-words features) or :math:`(B, |V|, F_{in})` (a batch of signals on one
          static graph), edge indices :math:`(2, |E|)` or a sparse adjacency ``adj_t``
          :math:`(|V|, |V|)` with ``adj_t[i, j]`` the edge :math:`j \to i`, edge weights
          :math:`(|E|)` *(optional)*
        - **output:** node features :math:`(|V|, F_{out})` or :math:`(B, |V|, F_{out})`

    Parameter names (``lin.weight``, ``bias``) are those of PyG's ``GCNConv``, so its state dict
    loads with ``strict=True``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        improved: bool = False,
        cached: bool = False,
        add_self_loops: Optional[bool] = None,
        normalize: bool = True,
        bias: bool = True,
        **kwargs,
    ):
        kwargs.setdefault("aggr", "add")
        super().__init__(**kwargs)
        if add_self_loops is None:
            add_self_loops = normalize
        if add_self_loops and not normalize:
            raise ValueError(f"{self.__class__.__name__}: add_self_loops=True needs "
                             f"normalize=True (self-loops are added by the normalisation)")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.improved = improved
        self.cached = cached
        self.add_self_loops = add_self_loops
        self.normalize = normalize
        self._cached_edge_index: Optional[Tuple[Tensor, Tensor]] = None
        self._cached_num_nodes: int = -1
        self._cached_adj_t: Optional[Adj] = None

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
        self._cached_edge_index = None
        self._cached_num_nodes = -1
        self._cached_adj_t = None

    def _check_features(self, x: Tensor) -> None:
        name = self.__class__.__name__
        if isinstance(x, (tuple, list)):
            raise ValueError(f"{name} does not support bipartite input (x_src, x_dst); "
                             f"use SAGEConv or GATConv for mini-batches")
        if isinstance(x, Tensor) and x.dim() == 3 and not is_torch_sparse_tensor(x):
            if not torch.is_floating_point(x):
                raise TypeError(f"{name}: node features must be floating point, got {x.dtype}")
            if self.in_channels > 0 and x.size(-1) != self.in_channels:
                raise ValueError(f"{name}: expected {self.in_channels} input channels, got "
                                 f"node features of shape {tuple(x.shape)}")
            return
        check_node_features(x, self.in_channels, name)

    def _edges(self, edge_index: Adj, edge_weight: OptTensor, num_nodes: int,
               dtype: torch.dtype) -> Tuple[Tensor, OptTensor, Optional[Tensor]]:
        """Checked ``(edge_index, edge_weight)`` of any input form, with ``edge_index[0]`` the
        sources of ``source_to_target`` messages, plus the tensor that identifies the weights
        (for :func:`_check_degree`)."""
        name = self.__class__.__name__
        if isinstance(edge_index, Tensor) and not is_torch_sparse_tensor(edge_index):
            check_edge_index(edge_index, num_nodes, num_nodes, name)
            check_edge_weight(edge_weight, edge_index.size(1), name)
            key = edge_weight
        else:
            if edge_weight is not None:
                raise ValueError(f"{name}: pass edge weights as the values of the sparse "
                                 f"adjacency, not as edge_weight")
            if isinstance(edge_index, SparseTensor):
                num_dst, num_src = edge_index.sparse_sizes()
                size = (num_src, num_dst)
                dst, src, edge_weight = _sparse_tensor_coo(edge_index)
                if edge_weight is not None and edge_weight.dim() != 1:
                    raise ValueError(f"{name}: sparse adjacency must hold scalar values, got "
                                     f"values of shape {tuple(edge_weight.shape)}")
                key, edge_index = edge_weight, torch.stack([src, dst])
            else:
                key = edge_index
                edge_index, edge_weight, size = adj_to_edge_index(edge_index, name)
            if size != (num_nodes, num_nodes):
                raise ValueError(f"{name}: sparse adjacency of size {size[::-1]} does not match "
                                 f"{num_nodes} nodes")
        if edge_weight is not None:
            edge_weight = edge_weight.to(dtype)
        return edge_index, edge_weight, key

    def forward(self, x: Tensor, edge_index: Adj, edge_weight: OptTensor = None) -> Tensor:
        self._check_features(x)
        name = self.__class__.__name__
        num_nodes = x.size(self.node_dim)
        sparse_input = not (isinstance(edge_index, Tensor)
                            and not is_torch_sparse_tensor(edge_index))
        if sparse_input and self.flow != "source_to_target":
            raise ValueError(f"{name}: flow='target_to_source' is not supported for a sparse "
                             f"adjacency adj_t; pass its transpose instead")

        cache = self._cached_edge_index if self.normalize else None
        if cache is not None:
            if self._cached_num_nodes != num_nodes:
                raise ValueError(f"{name}(cached=True) was built for {self._cached_num_nodes} "
                                 f"nodes but got {num_nodes}; call reset_parameters() when "
                                 f"the graph changes")
            ei, ew = cache[0], cache[1]
        else:
            ei, ew, key = self._edges(edge_index, edge_weight, num_nodes, x.dtype)
            if self.normalize:
                loops = None
                if self.add_self_loops:
                    loops = ("remaining" if not sparse_input else
                             "replace" if isinstance(edge_index, SparseTensor) else "add")
                raw = ew
                ei, ew, deg = _normalize_edges(ei, ew, num_nodes, self.improved, loops,
                                               self.flow, x.dtype)
                _check_degree(key, raw, deg, name)
                if self.cached:
                    self._cached_edge_index = (ei, ew)
                    self._cached_num_nodes = num_nodes
                    self._cached_adj_t = None

        h = self._project(x)
        fused = (not compiling() and h.dim() == 2 and self.flow == "source_to_target"
                 and (sparse_input or (self.cached and self.normalize)))
        if not fused:
            out = self.propagate(ei, x=h, edge_weight=ew)
        else:
            adj_t = self._cached_adj_t if self.cached and self.normalize else None
            if adj_t is None:
                if ew is None:
                    ew = torch.ones(ei.size(1), dtype=h.dtype, device=h.device)
                # One sparse matrix, multiplied in both directions without transposing.
                if ew.requires_grad:  # learnable edge weights: torch_sparse differentiates them
                    adj_t = SparseTensor(row=ei[1], col=ei[0], value=ew,
                                         sparse_sizes=(num_nodes, num_nodes))
                else:
                    adj_t = fused_adjacency(ei, ew, num_nodes)
                if self.cached and self.normalize:
                    self._cached_adj_t = adj_t
            out = self.propagate(adj_t, x=h, edge_weight=None)
        if self.bias is not None:
            out = out + self.bias
        return out

    def _project(self, x: Tensor) -> Tensor:
        return linear(self.lin, x, self.__class__.__name__)

    def message(self, x_j: Tensor, edge_weight: OptTensor) -> Tensor:
        return x_j if edge_weight is None else edge_weight.view(-1, 1) * x_j

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

    def __repr__(self) -> str:
        extra = ", improved=True" if self.improved else ""
        extra += ", cached=True" if self.cached else ""
        return f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}{extra})"
