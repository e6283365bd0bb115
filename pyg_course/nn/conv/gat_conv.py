"""Graph attention of Veličković et al. (2018)."""

from __future__ import annotations

from typing import Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn import Parameter
from torch_geometric.nn.conv import MessagePassing
from torch_geometric.nn.dense.linear import Linear
from torch_geometric.nn.inits import glorot, zeros
from torch_geometric.typing import Adj, OptTensor, Size, SparseTensor
from torch_geometric.utils import is_torch_sparse_tensor, scatter

from pyg_course.nn.conv.checks import (
    adj_to_edge_index,
    check_edge_index,
    check_node_features,
    compiling,
    linear,
)


def edge_softmax(logits: Tensor, index: Tensor, num_nodes: int,
                 ptr: OptTensor = None) -> Tensor:
    r"""Softmax of edge logits over the incoming edges of each target node.

    .. math::
        \alpha_{e} = \frac{\exp(s_e - m_i)}{\sum_{e' : \mathrm{dst}(e') = i}
        \exp(s_{e'} - m_i)}, \qquad m_i = \max_{e' : \mathrm{dst}(e') = i} s_{e'},
        \quad i = \mathrm{dst}(e)

    The per-node shift :math:`m_i` leaves the result unchanged but keeps every exponent
    :math:`\le 0`, so logits of any finite size give finite numbers: each denominator is at
    least 1 (the maximal edge contributes :math:`e^0`). The shift is detached, which is exact
    because the softmax does not depend on it.

    Args:
        logits: edge scores :math:`(|E|, *)`, e.g. one column per attention head.
        index: target node of every edge :math:`(|E|)`.
        num_nodes: number of target nodes.
        ptr: CSR pointer :math:`(N + 1)` when the edges are sorted by ``index``; then the
            reductions run as segment reductions (faster than scattering).
    """
    if ptr is not None:
        from torch_scatter import segment_csr

        node_max = segment_csr(logits.detach(), ptr, reduce="max")
        shifted = (logits - node_max.index_select(0, index)).exp()
        denom = segment_csr(shifted, ptr, reduce="sum")
    else:
        node_max = scatter(logits.detach(), index, dim=0, dim_size=num_nodes, reduce="max")
        shifted = (logits - node_max.index_select(0, index)).exp()
        denom = scatter(shifted, index, dim=0, dim_size=num_nodes, reduce="sum")
    return shifted / denom.index_select(0, index)


def _sparse_attention(edges: Tensor, alpha: Tensor, layout: torch.layout, num_src: int,
                      num_dst: int) -> Tensor:
    """The attention as a ``torch.sparse`` tensor ``(|V_t|, |V_s|, K)`` of the given layout
    (``att[i, j]`` the attention of the edge ``j -> i``); ``edges`` hold no duplicates."""
    shape = (num_dst, num_src, alpha.size(1))
    if layout == torch.sparse_csc:
        coo = torch.sparse_coo_tensor(edges, alpha, (num_src, num_dst, alpha.size(1)))
        coo = coo.coalesce()
        (major, minor), value = coo.indices(), coo.values()
    else:
        coo = torch.sparse_coo_tensor(edges.flip(0), alpha, shape).coalesce()
        if layout != torch.sparse_csr:
            return coo
        (major, minor), value = coo.indices(), coo.values()
    ptr = torch.zeros(shape[0 if layout == torch.sparse_csr else 1] + 1, dtype=torch.long,
                      device=edges.device)
    torch.cumsum(torch.bincount(major, minlength=ptr.numel() - 1), 0, out=ptr[1:])
    make = torch.sparse_csr_tensor if layout == torch.sparse_csr else torch.sparse_csc_tensor
    return make(ptr, minor, value, shape)


class GATConv(MessagePassing):
    r"""The graph attention layer from `"Graph Attention Networks"
    <https://arxiv.org/abs/1710.10903>`_ (Veličković et al., ICLR 2018).

    .. math::
        \mathbf{X}'^{(k)} = \mathbf{A}^{(k)} \mathbf{X} \mathbf{W}^{(k)}, \qquad
        \mathbf{X}' = \big\Vert_{k=1}^{K} \mathbf{X}'^{(k)} + \mathbf{b}
        \quad\text{or}\quad
        \mathbf{X}' = \frac{1}{K} \sum_{k=1}^{K} \mathbf{X}'^{(k)} + \mathbf{b}

    where :math:`\mathbf{A}^{(k)}_{ij} = \alpha^{(k)}_{ij}` is head :math:`k`'s row-stochastic
    attention matrix, supported on the edges :math:`j \to i` plus one self-loop per node.
    Node-wise, for each head :math:`k` (dropped below):

    .. math::
        e_{ij} = \mathrm{LeakyReLU}\big(\mathbf{a}_{dst}^{\top} \mathbf{W} \mathbf{x}_i
        + \mathbf{a}_{src}^{\top} \mathbf{W} \mathbf{x}_j\big), \qquad
        \alpha_{ij} = \frac{\exp(e_{ij})}{\sum_{l \in \mathcal{N}(i) \cup \{i\}} \exp(e_{il})},
        \qquad \mathbf{x}'_i = \sum_{j \in \mathcal{N}(i) \cup \{i\}} \alpha_{ij}
        \mathbf{W} \mathbf{x}_j

    with :math:`\mathbf{W} \in \mathbb{R}^{F_{in} \times F_{out}}` the head's weight,
    :math:`\mathbf{a} = [\mathbf{a}_{dst} \Vert \mathbf{a}_{src}] \in \mathbb{R}^{2 F_{out}}`
    its attention vector (the paper's :math:`\mathbf{a}^\top [\mathbf{W}\mathbf{x}_i \Vert
    \mathbf{W}\mathbf{x}_j]`), :math:`\mathcal{N}(i)` the sources of the edges into :math:`i`
    and :math:`\mathbf{b}` the bias. Each edge is a term of the softmax: a duplicate edge
    counts as often as it appears (a multigraph), an edge ``j -> i`` only enters node
    :math:`i`'s softmax. The softmax is shifted by each node's maximal logit
    (:func:`edge_softmax`), so no exponent overflows.

    The steps of message passing: :meth:`edge_update` turns the per-node scores into
    per-edge attention (LeakyReLU, softmax over each node's incoming edges, dropout in
    training); :meth:`message` scales the transformed source feature by the attention;
    :meth:`aggregate` sums the messages at each target; :meth:`update` concatenates or
    averages the heads and adds the residual and the bias. :meth:`message_and_aggregate`
    fuses the middle two as one sparse-dense product per head over a CSR adjacency, which
    never materialises the :math:`(|E|, K, F_{out})` messages: it is the default in eager
    mode (``self.fuse = True``) for graphs with edges, and ``conv.fuse = False`` runs the
    unfused path.

    Self-loops (``add_self_loops=True``) are handled like PyG's ``GATConv``: every existing
    self-loop is removed, then exactly one is added per node (for bipartite input, per node
    index below ``min(|V_src|, |V_dst|)``). Under ``torch.compile`` the same attention comes
    from fixed-size steps: the existing self-loops stay but get a :math:`-\infty` logit (zero
    attention), the added loops are appended, and the softmax and sums run as scatter
    operations over the edge list (a ``SparseTensor`` is read through its stored index
    tensors), so the layer compiles with ``fullgraph=True`` and gives eager's numbers.

    Args:
        in_channels (int or (int, int)): size of each input feature, ``-1`` to infer it lazily,
            or a pair ``(F_src, F_dst)`` for separate source and target weights
            (``lin_src``/``lin_dst``) in bipartite graphs.
        out_channels (int): size of each head's output :math:`F_{out}`.
        heads (int): number of attention heads :math:`K`. (default: ``1``)
        concat (bool): concatenate the heads (hidden layers); ``False`` averages them
            (output layer). (default: ``True``)
        negative_slope (float): LeakyReLU slope for negative scores. (default: ``0.2``)
        dropout (float): dropout probability of the attention coefficients in training.
            (default: ``0.0``)
        add_self_loops (bool): let every node attend to itself. (default: ``True``)
        edge_dim (int, optional): must be ``None``: edge features are not supported.
            (default: ``None``)
        fill_value (float or Tensor or str): PyG's fill value for the edge features of added
            self-loops; without edge features it has no effect. (default: ``"mean"``)
        bias (bool): learn the additive bias :math:`\mathbf{b}`. (default: ``True``)
        residual (bool): add a linear projection of the target input to the output (not for
            ``(x_src, None)`` input). (default: ``False``)
        **kwargs: passed to :class:`torch_geometric.nn.conv.MessagePassing`.

    Shapes:
        - **input:** node features :math:`(|V|, F_{in})`, a bipartite pair
          :math:`((|V_s|, F_{s}), (|V_t|, F_{t}))` or :math:`((|V_s|, F_{s}), None)`; edge
          indices :math:`(2, |E|)` or a sparse adjacency ``adj_t`` :math:`(|V_t|, |V_s|)`
          (``SparseTensor`` or ``torch.sparse``; its values are ignored, and a coalesced one
          holds each edge once) with ``adj_t[i, j]`` the edge :math:`j \to i`; optional
          ``size`` :math:`(|V_s|, |V_t|)`
        - **output:** node features :math:`(|V_t|, K F_{out})` if ``concat`` else
          :math:`(|V_t|, F_{out})` (only the bias, or zeros, where nothing is aggregated,
          also for graphs without edges or nodes); with ``return_attention_weights=True``
          also the attention :math:`(|E'|, K)` of the edges after self-loop handling, as
          ``(edge_index, alpha)`` with ``edge_index`` :math:`(2, |E'|)` (``edge_index``
          input), ``(adj, alpha)`` with ``adj`` a ``torch.sparse`` tensor
          :math:`(|V_t|, |V_s|, K)` of the input's layout (``torch.sparse`` input), or a
          ``SparseTensor`` :math:`(|V_t|, |V_s|, K)` (``SparseTensor`` input)

    Parameter names (``lin.weight`` or ``lin_src.weight``/``lin_dst.weight``, ``att_src``,
    ``att_dst``, ``res.weight``, ``bias``) are those of PyG's ``GATConv`` 2.8, so its state
    dict loads with ``strict=True`` and gives the same output and attention. Differences from
    PyG's layer: no edge features (``edge_dim`` other than ``None`` and a non-``None``
    ``edge_attr`` raise :class:`NotImplementedError`; ``fill_value`` is accepted and, as in
    PyG without edge features, has no effect); no TorchScript (``torch.jit.script`` raises
    :class:`NotImplementedError`; use ``torch.compile``); under ``torch.compile``,
    ``return_attention_weights`` returns ``(edge_index, alpha)`` for every input form, with
    the input's own self-loops kept at attention 0; ``torch.sparse`` node features are
    multiplied sparsely.
    """

    def __init__(
        self,
        in_channels: Union[int, Tuple[int, int]],
        out_channels: int,
        heads: int = 1,
        concat: bool = True,
        negative_slope: float = 0.2,
        dropout: float = 0.0,
        add_self_loops: bool = True,
        edge_dim: Optional[int] = None,
        fill_value: Union[float, Tensor, str] = "mean",
        bias: bool = True,
        residual: bool = False,
        **kwargs,
    ):
        kwargs.setdefault("aggr", "add")
        kwargs.setdefault("node_dim", 0)
        super().__init__(**kwargs)
        if edge_dim is not None:
            raise NotImplementedError(
                f"GATConv: edge features are not supported (edge_dim={edge_dim!r}); use "
                f"torch_geometric.nn.GATConv for attention over edge features")
        if not isinstance(heads, int) or heads < 1:
            raise ValueError(f"GATConv: heads must be a positive integer, got {heads!r}")
        if not isinstance(out_channels, int) or out_channels < 1:
            raise ValueError(f"GATConv: out_channels must be a positive integer, "
                             f"got {out_channels!r}")
        if not 0.0 <= dropout <= 1.0:
            raise ValueError(f"GATConv: dropout must be in [0, 1], got {dropout}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.heads = heads
        self.concat = concat
        self.negative_slope = negative_slope
        self.dropout = dropout
        self.add_self_loops = add_self_loops
        self.edge_dim = edge_dim
        self.fill_value = fill_value
        self.residual = residual
        self._structure_cache: Optional[tuple] = None  # see _structure

        hc = heads * out_channels
        self.lin = self.lin_src = self.lin_dst = None
        if isinstance(in_channels, int):
            self.lin = Linear(in_channels, hc, bias=False, weight_initializer="glorot")
        else:
            self.lin_src = Linear(in_channels[0], hc, bias=False, weight_initializer="glorot")
            self.lin_dst = Linear(in_channels[1], hc, bias=False, weight_initializer="glorot")
        self.att_src = Parameter(torch.empty(1, heads, out_channels))
        self.att_dst = Parameter(torch.empty(1, heads, out_channels))
        self.lin_edge = None
        self.register_parameter("att_edge", None)

        total_out = hc if concat else out_channels
        if residual:
            res_in = in_channels if isinstance(in_channels, int) else in_channels[1]
            self.res = Linear(res_in, total_out, bias=False, weight_initializer="glorot")
        else:
            self.register_parameter("res", None)
        if bias:
            self.bias = Parameter(torch.empty(total_out))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        super().reset_parameters()
        for lin in (self.lin, self.lin_src, self.lin_dst, self.res):
            if lin is not None:
                lin.reset_parameters()
        glorot(self.att_src)
        glorot(self.att_dst)
        zeros(self.bias)

    def __prepare_scriptable__(self):
        raise NotImplementedError(
            f"{self.__class__.__name__} does not support TorchScript (torch.jit.script); use "
            f"torch.compile instead")

    # ------------------------------------------------------------------ input handling
    def _project(self, lin: Linear, x: Tensor) -> Tensor:
        """``(|V|, F)`` features to ``(|V|, K, F_out)``, one slice per head."""
        return linear(lin, x, self.__class__.__name__).view(x.size(0), self.heads,
                                                             self.out_channels)

    def _check_features(self, x) -> Tuple[Tensor, Optional[Tensor]]:
        """``(x_src, x_dst)``; ``x_dst`` is ``x_src`` for a single tensor and ``None`` for a
        pair ``(x_src, None)``."""
        name = self.__class__.__name__
        if isinstance(self.in_channels, int):
            f_src = f_dst = self.in_channels
        else:
            f_src, f_dst = self.in_channels
        if isinstance(x, (tuple, list)):
            if len(x) != 2 or x[0] is None:
                raise ValueError(f"{name}: bipartite input must be a pair (x_src, x_dst) of "
                                 f"tensors, or (x_src, None)")
            x_src, x_dst = x
            check_node_features(x_src, f_src, f"{name} (source features)")
            if x_dst is None:
                return x_src, None
            check_node_features(x_dst, f_dst, f"{name} (target features)")
            if self.lin is not None and x_src.size(1) != x_dst.size(1):
                raise ValueError(f"{name}: source and target features share one weight but "
                                 f"have {x_src.size(1)} and {x_dst.size(1)} channels; pass "
                                 f"in_channels=({x_src.size(1)}, {x_dst.size(1)})")
            return x_src, x_dst
        if f_src != f_dst:
            raise ValueError(f"{name} was built for bipartite input (in_channels="
                             f"{self.in_channels}); pass a pair (x_src, x_dst)")
        check_node_features(x, f_src, name)
        return x, x

    def _sizes(self, x_src: Tensor, x_dst: Optional[Tensor], edge_index: Adj,
               size: Size) -> Tuple[int, int]:
        """``(|V_s|, |V_t|)`` from the features, ``size`` and a sparse adjacency's shape, which
        must agree. Without ``x_dst`` and ``size``, an ``edge_index`` graph has
        :math:`|V_t| = |V_s|`."""
        name = self.__class__.__name__
        num_src = x_src.size(0)
        num_dst = x_dst.size(0) if x_dst is not None else None
        if isinstance(edge_index, SparseTensor) or is_torch_sparse_tensor(edge_index):
            if isinstance(edge_index, SparseTensor):
                adj_dst, adj_src = edge_index.sparse_sizes()
            else:
                adj_dst, adj_src = edge_index.size(0), edge_index.size(1)
            if adj_src != num_src or (num_dst is not None and adj_dst != num_dst):
                raise ValueError(f"{name}: sparse adjacency of size {(adj_dst, adj_src)} does "
                                 f"not match {num_dst if num_dst is not None else '?'} target "
                                 f"and {num_src} source nodes")
            num_dst = adj_dst
        if size is not None:
            if len(size) != 2 or size[0] != num_src or (num_dst is not None
                                                        and size[1] != num_dst):
                raise ValueError(f"{name}: size={tuple(size)} does not match {num_src} source "
                                 f"and {num_dst if num_dst is not None else '?'} target nodes")
            num_dst = size[1]
        return num_src, num_src if num_dst is None else num_dst

    def _edges(self, edge_index: Adj, num_src: int, num_dst: int) -> Tensor:
        """``(2, E')`` edges ``src -> dst`` after self-loop handling, whatever the input form
        (eager: existing self-loops removed, one added per node)."""
        name = self.__class__.__name__
        if isinstance(edge_index, Tensor) and not is_torch_sparse_tensor(edge_index):
            check_edge_index(edge_index, num_src, num_dst, name)
            edge_index = edge_index.long()
        else:
            edge_index, _, _ = adj_to_edge_index(edge_index, name)
        if self.add_self_loops:
            src, dst = edge_index
            edge_index = edge_index[:, src != dst]
            loops = torch.arange(min(num_src, num_dst), device=edge_index.device)
            edge_index = torch.cat([edge_index, loops.view(1, -1).repeat(2, 1)], dim=1)
        return edge_index

    def _traced_edges(self, edge_index: Adj, num_src: int, num_dst: int
                      ) -> Tuple[Tensor, Optional[Tensor]]:
        """The fixed-size edges used under ``torch.compile``: the input edges, then (with
        ``add_self_loops``) one loop per node, and a mask of the input's own self-loops, which
        get a :math:`-\\infty` logit (zero attention) instead of being removed. A
        ``SparseTensor`` is read through its stored tensors only, so nothing leaves the graph."""
        if isinstance(edge_index, SparseTensor):
            storage = edge_index.storage
            src, dst = storage._col, storage._row
            if dst is None:
                rowptr = storage._rowptr
                rows = torch.arange(rowptr.numel() - 1, device=src.device)
                dst = torch.repeat_interleave(rows, rowptr.diff(), output_size=src.numel())
            edges = torch.stack([src, dst])
        elif is_torch_sparse_tensor(edge_index):
            edges, _, _ = adj_to_edge_index(edge_index, self.__class__.__name__)
        else:
            edges = edge_index
        edges = edges.long()
        if not self.add_self_loops:
            return edges, None
        loops = torch.arange(min(num_src, num_dst), device=edges.device)
        loop_mask = torch.cat([edges[0] == edges[1],
                               torch.zeros_like(loops, dtype=torch.bool)])
        return torch.cat([edges, loops.view(1, -1).expand(2, -1)], dim=1), loop_mask

    def _cache_key(self, edge_index: Adj, num_src: int, num_dst: int) -> Optional[tuple]:
        """What must stay equal for a cached structure to be reused: the version counters of
        the graph's index tensors and the options; ``None`` (no caching) for inference
        tensors, which have no version counter."""
        if isinstance(edge_index, SparseTensor):
            storage = edge_index.storage
            tensors = [t for t in (storage._row, storage._rowptr, storage._col) if t is not None]
        else:
            tensors = [edge_index]
        try:
            versions = tuple(t._version for t in tensors)
        except RuntimeError:
            return None
        return versions + (num_src, num_dst, self.fuse, self.add_self_loops)

    def _structure(self, edge_index: Adj, num_src: int, num_dst: int
                   ) -> Tuple[Tensor, Optional[Tensor], Adj]:
        """The edges after self-loop handling, and for the fused path the permutation that
        sorts them by target and their CSR adjacency (rows: targets); the adjacency is the
        edges themselves when the graph has no edges or no nodes on a side (nothing for a
        sparse product to do).

        A graph passed again as the *same* object (``edge_index`` tensor, ``SparseTensor`` or
        ``torch.sparse`` tensor), unmodified (its version counters unchanged), for the same
        node counts reuses the last call's structure: the checks, the self-loop handling, the
        sort and the transpose that the backward pass builds are done once per graph, not once
        per epoch, and never synchronise with the device again. The cache holds a reference
        to the input, so its memory cannot be reused by another graph while cached; any other
        object or an in-place change rebuilds it.
        """
        key = self._cache_key(edge_index, num_src, num_dst)
        cached = self._structure_cache
        if (key is not None and cached is not None and cached[0] is edge_index
                and cached[1] == key):
            return cached[2]
        edges = self._edges(edge_index, num_src, num_dst)
        perm = None
        adj: Adj = edges
        if self.fuse and num_src > 0 and num_dst > 0 and edges.size(1) > 0:
            dst_sorted, perm = torch.sort(edges[1], stable=True)
            adj = SparseTensor(row=dst_sorted, col=edges[0, perm],
                               sparse_sizes=(num_dst, num_src), is_sorted=True,
                               trust_data=True)
        structure = (edges, perm, adj)
        self._structure_cache = (edge_index, key, structure)
        return structure

    # ------------------------------------------------------------------ forward
    def forward(self, x: Union[Tensor, Tuple[Tensor, Optional[Tensor]]], edge_index: Adj,
                edge_attr: OptTensor = None, size: Size = None,
                return_attention_weights: Optional[bool] = None):
        r"""Runs the layer.

        Args:
            x (torch.Tensor or (torch.Tensor, torch.Tensor or None)): node features, or a
                bipartite pair ``(x_src, x_dst)``; ``x_dst = None`` leaves out the target
                term of the attention score and the residual.
            edge_index (torch.Tensor or SparseTensor or torch.sparse.Tensor): the graph.
            edge_attr: must be ``None`` (edge features are not supported).
            size ((int, int), optional): ``(|V_s|, |V_t|)``; needed for ``(x_src, None)``
                with an ``edge_index`` whose targets are not the first ``|V_s|`` nodes.
                (default: ``None``)
            return_attention_weights (bool, optional): if true, also return the attention:
                ``(edge_index, alpha)`` for ``edge_index`` input, ``(adj, alpha)`` for a
                ``torch.sparse`` adjacency (``adj`` holding ``alpha`` as values), a
                ``SparseTensor`` holding ``alpha`` for ``SparseTensor`` input. Under
                ``torch.compile`` it is always ``(edge_index, alpha)``, where
                ``edge_index`` keeps the input's own self-loops (with attention 0) before the
                added ones. (default: ``None``)
        """
        name = self.__class__.__name__
        if edge_attr is not None:
            raise NotImplementedError(
                f"{name}: edge features (edge_attr) are not supported; use "
                f"torch_geometric.nn.GATConv for attention over edge features")
        x_src, x_dst = self._check_features(x)
        num_src, num_dst = self._sizes(x_src, x_dst, edge_index, size)

        res = None
        if self.res is not None and x_dst is not None:
            res = linear(self.res, x_dst, name)
        if self.lin is not None:
            h_src = self._project(self.lin, x_src)
            h_dst = h_src if x_dst is x_src else (
                None if x_dst is None else self._project(self.lin, x_dst))
        else:
            h_src = self._project(self.lin_src, x_src)
            h_dst = None if x_dst is None else self._project(self.lin_dst, x_dst)
        score_src = (h_src * self.att_src).sum(dim=-1)
        score_dst = None if h_dst is None else (h_dst * self.att_dst).sum(dim=-1)

        traced = compiling()
        loop_mask = perm = None
        if traced:
            edges, loop_mask = self._traced_edges(edge_index, num_src, num_dst)
            adj: Adj = edges
        else:
            edges, perm, adj = self._structure(edge_index, num_src, num_dst)
        fused = isinstance(adj, SparseTensor)
        prop_size = None if fused else (num_src, num_dst)
        alpha = self.edge_updater(adj, alpha=(score_src, score_dst), loop_mask=loop_mask,
                                  size=prop_size)
        out = self.propagate(adj, x=(h_src, h_dst), alpha=alpha, res=res, size=prop_size)

        if not return_attention_weights:
            return out
        if perm is not None:
            alpha = torch.empty_like(alpha).index_copy_(0, perm, alpha)
        if traced:
            return out, (edges, alpha)
        if isinstance(edge_index, SparseTensor):
            return out, SparseTensor(row=edges[1], col=edges[0], value=alpha,
                                     sparse_sizes=(num_dst, num_src))
        if is_torch_sparse_tensor(edge_index):
            att = _sparse_attention(edges, alpha, edge_index.layout, num_src, num_dst)
            return out, (att, att.values())
        return out, (edges, alpha)

    def edge_update(self, alpha_j: Tensor, alpha_i: OptTensor, loop_mask: OptTensor,
                    index: Tensor, ptr: OptTensor, dim_size: Optional[int]) -> Tensor:
        logits = alpha_j if alpha_i is None else alpha_j + alpha_i
        logits = F.leaky_relu(logits, self.negative_slope)
        if loop_mask is not None:
            logits = logits.masked_fill(loop_mask.unsqueeze(-1), float("-inf"))
        alpha = edge_softmax(logits, index, dim_size, ptr)
        return F.dropout(alpha, p=self.dropout, training=self.training)

    def message(self, x_j: Tensor, alpha: Tensor) -> Tensor:
        return alpha.unsqueeze(-1) * x_j

    def aggregate(self, inputs: Tensor, index: Tensor, ptr: OptTensor = None,
                  dim_size: Optional[int] = None) -> Tensor:
        return scatter(inputs, index, dim=0, dim_size=dim_size, reduce="sum")

    def message_and_aggregate(self, adj_t: SparseTensor, x: Tuple[Tensor, OptTensor],
                              alpha: Tensor) -> Tensor:
        from torch_sparse import matmul

        x_src = x[0]
        if x_src.requires_grad:
            # The transpose (for the gradient of x) is built once and shared by every head.
            adj_t.storage.colptr()
            adj_t.storage.csr2csc()
        alpha_t = alpha.t().contiguous()
        heads = [matmul(adj_t.set_value(alpha_t[k], layout="csr"), x_src[:, k].contiguous(),
                        reduce="sum") for k in range(self.heads)]
        return torch.stack(heads, dim=1)

    def update(self, inputs: Tensor, res: OptTensor) -> Tensor:
        if self.concat:
            out = inputs.reshape(inputs.size(0), self.heads * self.out_channels)
        else:
            out = inputs.mean(dim=1)
        if res is not None:
            out = out + res
        return out if self.bias is None else out + self.bias

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}, "
                f"heads={self.heads})")
