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
from torch_geometric.typing import Adj, OptTensor, SparseTensor
from torch_geometric.utils import is_torch_sparse_tensor, scatter

from pyg_course.nn.conv.checks import (
    adj_to_edge_index,
    check_edge_index,
    check_node_features,
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
    never materialises the :math:`(|E|, K, F_{out})` messages: it is the default
    (``self.fuse = True``), and ``conv.fuse = False`` runs the unfused path.

    Self-loops (``add_self_loops=True``) are handled like PyG's ``GATConv``: every existing
    self-loop is removed, then exactly one is added per node (for bipartite input, per node
    index below ``min(|V_src|, |V_dst|)``).

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
        bias (bool): learn the additive bias :math:`\mathbf{b}`. (default: ``True``)
        residual (bool): add a linear projection of the (target) input to the output.
            (default: ``False``)
        **kwargs: passed to :class:`torch_geometric.nn.conv.MessagePassing`.

    Shapes:
        - **input:** node features :math:`(|V|, F_{in})` or a bipartite pair
          :math:`((|V_s|, F_{s}), (|V_t|, F_{t}))`; edge indices :math:`(2, |E|)` or a sparse
          adjacency ``adj_t`` :math:`(|V_t|, |V_s|)` (``SparseTensor`` or ``torch.sparse``;
          its values are ignored, and a coalesced one holds each edge once) with
          ``adj_t[i, j]`` the edge :math:`j \to i`
        - **output:** node features :math:`(|V_t|, K F_{out})` if ``concat`` else
          :math:`(|V_t|, F_{out})`; with ``return_attention_weights=True`` also
          ``(edge_index, alpha)``, the edges after self-loop handling :math:`(2, |E'|)` and
          their attention :math:`(|E'|, K)`

    Parameter names (``lin.weight`` or ``lin_src.weight``/``lin_dst.weight``, ``att_src``,
    ``att_dst``, ``res.weight``, ``bias``) are those of PyG's ``GATConv`` 2.8, so its state
    dict loads with ``strict=True`` and gives the same output and attention. Differences from
    PyG's layer: no edge features (``edge_dim``, ``fill_value``), no ``size`` argument, no
    ``x_dst = None``; ``return_attention_weights=True`` always returns ``(edge_index, alpha)``
    (PyG returns a ``SparseTensor`` of attention for ``SparseTensor`` input); a ``SparseTensor``
    adjacency gets the same remove-then-add self-loop treatment (PyG's ``set_diag``, same
    result); ``torch.sparse`` node features are multiplied sparsely.
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
        bias: bool = True,
        residual: bool = False,
        **kwargs,
    ):
        kwargs.setdefault("aggr", "add")
        kwargs.setdefault("node_dim", 0)
        super().__init__(**kwargs)
        if not isinstance(heads, int) or heads < 1:
            raise ValueError(f"GATConv: heads must be a positive integer, got {heads!r}")
        if not isinstance(out_channels, int) or out_channels < 1:
            raise ValueError(f"GATConv: out_channels must be a positive integer, "
                             f"got {out_channels!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"GATConv: dropout must be in [0, 1), got {dropout}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.heads = heads
        self.concat = concat
        self.negative_slope = negative_slope
        self.dropout = dropout
        self.add_self_loops = add_self_loops
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

    # ------------------------------------------------------------------ input handling
    def _project(self, x_src: Tensor, x_dst: Tensor) -> Tuple[Tensor, Tensor]:
        H, C = self.heads, self.out_channels
        if self.lin is not None:
            h_src = linear(self.lin, x_src, self.__class__.__name__).view(-1, H, C)
            h_dst = h_src if x_dst is x_src else linear(self.lin, x_dst, "").view(-1, H, C)
            return h_src, h_dst
        return (linear(self.lin_src, x_src, self.__class__.__name__).view(-1, H, C),
                linear(self.lin_dst, x_dst, self.__class__.__name__).view(-1, H, C))

    def _check_features(self, x) -> Tuple[Tensor, Tensor, bool]:
        name = self.__class__.__name__
        if isinstance(x, (tuple, list)):
            if len(x) != 2 or x[1] is None:
                raise ValueError(f"{name}: bipartite input must be a pair (x_src, x_dst) of "
                                 f"tensors")
            x_src, x_dst = x
            if isinstance(self.in_channels, int):
                f_src = f_dst = self.in_channels
            else:
                f_src, f_dst = self.in_channels
            check_node_features(x_src, f_src, f"{name} (source features)")
            check_node_features(x_dst, f_dst, f"{name} (target features)")
            if self.lin is not None and x_src.size(1) != x_dst.size(1):
                raise ValueError(f"{name}: source and target features share one weight but "
                                 f"have {x_src.size(1)} and {x_dst.size(1)} channels; pass "
                                 f"in_channels=({x_src.size(1)}, {x_dst.size(1)})")
            return x_src, x_dst, True
        if not isinstance(self.in_channels, int):
            raise ValueError(f"{name} was built for bipartite input (in_channels="
                             f"{self.in_channels}); pass a pair (x_src, x_dst)")
        check_node_features(x, self.in_channels, name)
        return x, x, False

    def _edges(self, edge_index: Adj, num_src: int, num_dst: int) -> Tensor:
        """``(2, E')`` edges ``src -> dst`` after self-loop handling, whatever the input form."""
        name = self.__class__.__name__
        if isinstance(edge_index, Tensor) and not is_torch_sparse_tensor(edge_index):
            check_edge_index(edge_index, num_src, num_dst, name)
            edge_index = edge_index.long()
        else:
            edge_index, _, size = adj_to_edge_index(edge_index, name)
            if size != (num_src, num_dst):
                raise ValueError(f"{name}: sparse adjacency of size {size[::-1]} does not "
                                 f"match {num_dst} target and {num_src} source nodes")
        if self.add_self_loops:
            src, dst = edge_index
            edge_index = edge_index[:, src != dst]
            loops = torch.arange(min(num_src, num_dst), device=edge_index.device)
            edge_index = torch.cat([edge_index, loops.view(1, -1).repeat(2, 1)], dim=1)
        return edge_index

    def _structure(self, edge_index: Adj, num_src: int, num_dst: int
                   ) -> Tuple[Tensor, Optional[Tensor], Adj]:
        """The edges after self-loop handling, and for the fused path the permutation that
        sorts them by target and their CSR adjacency (rows: targets).

        A graph passed again as the *same* ``edge_index`` tensor, unmodified (its version
        counter unchanged), for the same node counts reuses the last call's structure: the
        checks, the self-loop handling, the sort and the transpose that the backward pass
        builds are done once per graph, not once per epoch. The cache holds a reference to the
        tensor, so its memory cannot be reused by another graph while cached; any other
        tensor, an in-place change, or a ``SparseTensor`` / ``torch.sparse`` input rebuilds it.
        """
        key = None
        if isinstance(edge_index, Tensor) and not is_torch_sparse_tensor(edge_index):
            key = (edge_index._version, num_src, num_dst, self.fuse, self.add_self_loops)
            cached = self._structure_cache
            if cached is not None and cached[0] is edge_index and cached[1] == key:
                return cached[2]
        edges = self._edges(edge_index, num_src, num_dst)
        perm = None
        adj: Adj = edges
        if self.fuse:
            dst_sorted, perm = torch.sort(edges[1], stable=True)
            adj = SparseTensor(row=dst_sorted, col=edges[0, perm],
                               sparse_sizes=(num_dst, num_src), is_sorted=True,
                               trust_data=True)
        structure = (edges, perm, adj)
        self._structure_cache = (edge_index, key, structure) if key is not None else None
        return structure

    # ------------------------------------------------------------------ forward
    def forward(self, x: Union[Tensor, Tuple[Tensor, Tensor]], edge_index: Adj,
                return_attention_weights: bool = False):
        x_src, x_dst, _ = self._check_features(x)
        num_src, num_dst = x_src.size(0), x_dst.size(0)
        edge_index, perm, adj = self._structure(edge_index, num_src, num_dst)

        res = linear(self.res, x_dst, self.__class__.__name__) if self.res is not None else None
        h_src, h_dst = self._project(x_src, x_dst)
        score_src = (h_src * self.att_src).sum(dim=-1)
        score_dst = (h_dst * self.att_dst).sum(dim=-1)

        size = (num_src, num_dst)
        alpha = self.edge_updater(adj, alpha=(score_src, score_dst),
                                  size=None if self.fuse else size)
        out = self.propagate(adj, x=(h_src, h_dst), alpha=alpha, res=res,
                             size=None if self.fuse else size)

        if return_attention_weights:
            if perm is not None:
                alpha = torch.empty_like(alpha).index_copy_(0, perm, alpha)
            return out, (edge_index, alpha)
        return out

    def edge_update(self, alpha_j: Tensor, alpha_i: Tensor, index: Tensor, ptr: OptTensor,
                    dim_size: Optional[int]) -> Tensor:
        logits = F.leaky_relu(alpha_j + alpha_i, self.negative_slope)
        alpha = edge_softmax(logits, index, dim_size, ptr)
        return F.dropout(alpha, p=self.dropout, training=self.training)

    def message(self, x_j: Tensor, alpha: Tensor) -> Tensor:
        return alpha.unsqueeze(-1) * x_j

    def aggregate(self, inputs: Tensor, index: Tensor, ptr: OptTensor = None,
                  dim_size: Optional[int] = None) -> Tensor:
        return scatter(inputs, index, dim=0, dim_size=dim_size, reduce="sum")

    def message_and_aggregate(self, adj_t: SparseTensor, x: Tuple[Tensor, Tensor],
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
        out = inputs.reshape(inputs.size(0), -1) if self.concat else inputs.mean(dim=1)
        if res is not None:
            out = out + res
        return out if self.bias is None else out + self.bias

    def __repr__(self) -> str:
        extra = "" if self.concat else ", concat=False"
        extra += ", residual=True" if self.residual else ""
        return (f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}, "
                f"heads={self.heads}{extra})")
