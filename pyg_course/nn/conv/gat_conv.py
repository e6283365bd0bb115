"""Graph attention of Veličković et al. (2018)."""

from __future__ import annotations

import math
from collections import OrderedDict
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

from pyg_course.nn.conv.checks import adj_to_edge_index, linear
from pyg_course.utils.checks import check_edge_index, check_node_features, compiling
from pyg_course.utils.sparse import csr_tensor


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
        # The maximum scatters over one flat (node, column) index and the sum is an index_add:
        # neither takes the sort with which torch scatters an index broadcast over columns.
        width = math.prod(logits.shape[1:])
        flat = (index.unsqueeze(1) * width + torch.arange(width, device=index.device)).view(-1)
        node_max = logits.new_full((num_nodes * width,), float("-inf")).scatter_reduce_(
            0, flat, logits.detach().reshape(-1), "amax")
        shifted = (logits - node_max.view((num_nodes,) + logits.shape[1:])
                   .index_select(0, index)).exp()
        denom = shifted.new_zeros((num_nodes,) + shifted.shape[1:]).index_add_(0, index, shifted)
    return shifted / denom.index_select(0, index)


class HeadBlocks:
    r"""The attention of all heads over a graph's edges as one block matrix, in CSR form.

    Head :math:`k`'s attention matrix :math:`\mathbf{A}^{(k)}` (``|V_t| x |V_s|``) is
    interleaved into one ``K|V_t| x K|V_s|`` matrix :math:`\mathbf{B}` with
    :math:`\mathbf{B}_{Ki+k,\,Kj+k} = \mathbf{A}^{(k)}_{ij}`, so that every head's product
    :math:`\mathbf{A}^{(k)} \mathbf{X}^{(k)}` is the single sparse-dense product
    :math:`\mathbf{B}\,\mathbf{X}` with :math:`\mathbf{X}` the ``(|V_s|, K, F)`` features viewed
    as ``(K|V_s|, F)``: no head is sliced out, no ``(|E|, K, F)`` message is materialised.
    Row ``Ki + k`` holds head ``k`` of node ``i``'s incoming edges, in their input order.

    Attributes:
        ptr: CSR pointer :math:`(K|V_t| + 1)`.
        col: column of every stored entry :math:`(K|E|)`.
        take: for every stored entry, its position in the flattened :math:`(|E|, K)`
            attention: ``alpha.view(-1)[take]`` are the values of :math:`\mathbf{B}`.
        place: the inverse of ``take`` (the stored position of every attention entry), built
            on first use.
    """

    __slots__ = ("ptr", "col", "take", "_place")

    def __init__(self, ptr: Tensor, col: Tensor, take: Tensor):
        self.ptr, self.col, self.take = ptr, col, take
        self._place: Optional[Tensor] = None

    @property
    def place(self) -> Tensor:
        if self._place is None:
            positions = torch.arange(self.take.numel(), dtype=self.take.dtype,
                                     device=self.take.device)
            self._place = torch.empty_like(self.take).scatter_(0, self.take.long(), positions)
        return self._place


def _build_head_blocks(src: Tensor, dst: Tensor, num_src: int, num_dst: int, num_loops: int,
                       heads: int) -> HeadBlocks:
    """The :class:`HeadBlocks` of :func:`head_blocks`, built from scratch."""
    src, dst = src.long(), dst.long()
    if num_loops > 0:
        loops = torch.arange(num_loops, device=src.device)
        src, dst = torch.cat([src, loops]), torch.cat([dst, loops])
    num_edges = dst.numel()
    largest = max(num_edges, num_src + 1, num_dst + 1) * heads
    index_dtype = torch.int32 if largest < 2 ** 31 else torch.long
    count = torch.bincount(dst, minlength=num_dst)
    order = torch.argsort(dst, stable=True)
    rows = dst[order]
    start = (torch.cumsum(count, 0) - count)[rows]
    k = torch.arange(heads, device=dst.device)
    # the edge at sorted position p = start + o of row i is entry o of each block row Ki + k,
    # which begins at K * start + k * count[i]
    position = ((start * (heads - 1) + torch.arange(num_edges, device=dst.device))
                .unsqueeze(1) + k * count[rows].unsqueeze(1)).view(-1)
    col = torch.empty_like(position).scatter_(
        0, position, (src[order].unsqueeze(1) * heads + k).view(-1))
    take = torch.empty_like(position).scatter_(
        0, position, (order.unsqueeze(1) * heads + k).view(-1))
    ptr = torch.zeros(num_dst * heads + 1, dtype=torch.long, device=dst.device)
    torch.cumsum(count.repeat_interleave(heads), 0, out=ptr[1:])
    return HeadBlocks(ptr.to(index_dtype), col.to(index_dtype), take.to(index_dtype))


#: The :class:`HeadBlocks` of the last graphs: key -> (src, dst, blocks). The key holds the
#: addresses, shapes, strides and version counters of ``src``/``dst`` and the sizes; the entry
#: holds the tensors themselves, so that their memory cannot go to another graph while cached.
#: A graph in training takes two entries per number of heads (its edges and their reverse,
#: for the backward pass).
_HEAD_BLOCKS: OrderedDict[tuple, Tuple[Tensor, Tensor, HeadBlocks]] = OrderedDict()
_HEAD_BLOCKS_SIZE = 8


def head_blocks(src: Tensor, dst: Tensor, num_src: int, num_dst: int, num_loops: int,
                heads: int) -> HeadBlocks:
    """The :class:`HeadBlocks` of the edges ``src -> dst`` followed by the self-loops
    ``i -> i`` of the first ``num_loops`` nodes, for ``heads`` heads.

    Built once per graph: the same unmodified ``src``/``dst`` tensors (or views of the same
    memory) with the same sizes reuse the blocks of an earlier call, also from inside a
    compiled graph, so the sort and the index arithmetic run once per graph, not once per
    epoch. An in-place change (the version counter) or other tensors rebuild them; inference
    tensors (no version counter) are never cached.
    """
    try:
        key = tuple((t.data_ptr(), t.shape, t.stride(), t.dtype, t.device, t._version)
                    for t in (src, dst)) + (num_src, num_dst, num_loops, heads)
    except RuntimeError:
        return _build_head_blocks(src, dst, num_src, num_dst, num_loops, heads)
    cached = _HEAD_BLOCKS.get(key)
    if cached is not None:
        _HEAD_BLOCKS.move_to_end(key)
        return cached[2]
    blocks = _build_head_blocks(src, dst, num_src, num_dst, num_loops, heads)
    _HEAD_BLOCKS[key] = (src, dst, blocks)
    while len(_HEAD_BLOCKS) > _HEAD_BLOCKS_SIZE:
        _HEAD_BLOCKS.popitem(last=False)
    return blocks


@torch.library.custom_op("pyg_course::gat_aggregate", mutates_args=())
def gat_aggregate(alpha: Tensor, x: Tensor, src: Tensor, dst: Tensor, num_dst: int,
                  num_loops: int) -> Tensor:
    r"""The attention-weighted sum of every head,
    :math:`\mathbf{out}_{i,k} = \sum_{e = (j \to i)} \alpha_{e,k}\, \mathbf{x}_{j,k}`, over
    the edges ``src -> dst`` followed by the self-loops ``i -> i``, ``i < num_loops``.

    One sparse-dense product with the graph's :class:`HeadBlocks` (cached,
    :func:`head_blocks`); ``torch.compile`` sees it as one opaque operator, whose backward is
    :func:`gat_aggregate` over the reversed edges (for ``x``) and :func:`attention_grad` (for
    ``alpha``).

    Args:
        alpha: attention :math:`(|E| + L, K)`.
        x: source features :math:`(|V_s|, K, F)`.
        src, dst: the edges :math:`(|E|)`, without the self-loops.
        num_dst: number of target nodes :math:`|V_t|`.
        num_loops: number :math:`L` of self-loops after the edges.

    Returns:
        :math:`(|V_t|, K, F)`.
    """
    num_src, heads, channels = x.shape
    if alpha.size(0) == 0 or num_src == 0 or num_dst == 0:
        return x.new_zeros(num_dst, heads, channels)
    blocks = head_blocks(src, dst, num_src, num_dst, num_loops, heads)
    adj = csr_tensor(blocks.ptr, blocks.col, alpha.reshape(-1).index_select(0, blocks.take),
                     (num_dst * heads, num_src * heads))
    return (adj @ x.reshape(num_src * heads, channels)).view(num_dst, heads, channels)


@gat_aggregate.register_fake
def _(alpha, x, src, dst, num_dst, num_loops):
    return x.new_empty(num_dst, x.size(1), x.size(2))


def _simd_lanes(x: Tensor) -> int:
    """Elements of ``x``'s dtype in one SIMD register of torch's CPU kernels (1 off the
    CPU)."""
    if x.device.type != "cpu":
        return 1
    width = 64 if torch.backends.cpu.get_cpu_capability().startswith("AVX512") else 32
    return width // x.element_size()


def attention_grad(grad: Tensor, x: Tensor, src: Tensor, dst: Tensor,
                   num_loops: int) -> Tensor:
    r"""The gradient of :func:`gat_aggregate` for the attention,
    :math:`\partial \alpha_{e,k} = \langle \mathbf{g}_{i,k}, \mathbf{x}_{j,k} \rangle` for
    :math:`e = (j \to i)`: :math:`(|E| + L, K)` from ``grad`` :math:`(|V_t|, K, F)`.

    Under ``torch.compile`` it is written with gathers, which the compiler fuses with the sum
    into one loop over the edges; in eager mode it is a sampled dense-dense product on the
    :class:`HeadBlocks` pattern (``torch.sparse.sampled_addmm``), which never materialises
    the :math:`(|E|, K, F)` products either.
    """
    if compiling():
        if num_loops > 0:
            loops = torch.arange(num_loops, device=src.device)
            src, dst = torch.cat([src.long(), loops]), torch.cat([dst.long(), loops])
        return (grad.index_select(0, dst) * x.index_select(0, src)).sum(-1)
    num_src, heads, channels = x.shape
    num_dst, num_edges = grad.size(0), src.numel() + num_loops
    if num_edges == 0:
        return x.new_zeros(0, heads)
    blocks = head_blocks(src, dst, num_src, num_dst, num_loops, heads)
    grad = grad.reshape(num_dst * heads, channels)
    x = x.reshape(num_src * heads, channels)
    lanes = _simd_lanes(x)
    if 1 < channels < lanes:
        # torch's CPU kernel reduces a dot product shorter than a register element by element,
        # several times slower than a full register; zero columns leave the dots unchanged
        grad, x = F.pad(grad, (0, lanes - channels)), F.pad(x, (0, lanes - channels))
    pattern = csr_tensor(blocks.ptr, blocks.col, x.new_zeros(blocks.col.numel()),
                         (num_dst * heads, num_src * heads))
    dots = torch.sparse.sampled_addmm(pattern, grad, x.t(), beta=0).values()
    return dots.index_select(0, blocks.place).view(num_edges, heads)


def _aggregate_setup(ctx, inputs, output):
    alpha, x, src, dst, _, num_loops = inputs
    ctx.save_for_backward(alpha, x, src, dst)
    ctx.num_loops = num_loops


def _aggregate_backward(ctx, grad):
    alpha, x, src, dst = ctx.saved_tensors
    grad_alpha = grad_x = None
    if ctx.needs_input_grad[0]:
        grad_alpha = attention_grad(grad, x, src, dst, ctx.num_loops)
    if ctx.needs_input_grad[1]:
        grad_x = gat_aggregate(alpha, grad, dst, src, x.size(0), ctx.num_loops)
    return grad_alpha, grad_x, None, None, None, None


gat_aggregate.register_autograd(_aggregate_backward, setup_context=_aggregate_setup)


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
    fuses the middle two into one sparse-dense product for all heads at once
    (:func:`gat_aggregate` over the graph's :class:`HeadBlocks`), which never materialises
    the :math:`(|E|, K, F_{out})` messages, forward or backward: it is the default
    (``self.fuse = True``) in eager mode and under ``torch.compile`` alike, for float32 and
    float64 features, and ``conv.fuse = False`` runs the unfused path.

    Self-loops (``add_self_loops=True``) are handled like PyG's ``GATConv``: every existing
    self-loop is removed, then exactly one is added per node (for bipartite input, per node
    index below ``min(|V_src|, |V_dst|)``). Under ``torch.compile`` the same attention comes
    from fixed-size steps: the existing self-loops stay but get a :math:`-\infty` logit (zero
    attention), the added loops are appended, and the softmax runs as scatter operations over
    the edge list (a ``SparseTensor`` is read through its stored index tensors), so the layer
    compiles with ``fullgraph=True`` and gives eager's numbers. The sparse product is one
    operator to the compiler (a ``torch.library`` custom operator), and its sparse structure
    is built once per graph, outside the compiled code, and reused by every later call
    (:func:`head_blocks`).

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

    def _traced_edges(self, edge_index: Adj, num_loops: int
                      ) -> Tuple[Tensor, Optional[Tensor], Tuple[Tensor, Tensor]]:
        """The fixed-size edges used under ``torch.compile``: ``(edges, loop_mask, (src,
        dst))`` with ``edges`` the input edges followed by (with ``add_self_loops``)
        ``num_loops`` self-loops ``i -> i``, ``loop_mask`` marking the input's own self-loops,
        which get a :math:`-\\infty` logit (zero attention) instead of being removed, and
        ``(src, dst)`` the input's own index tensors, for :meth:`message_and_aggregate`. A
        ``SparseTensor`` is read through its stored tensors only (its rows rebuilt from the
        CSR pointer when only that is stored), so nothing leaves the graph."""
        if isinstance(edge_index, SparseTensor):
            storage = edge_index.storage
            src, dst = storage._col, storage._row
            if dst is None:
                rowptr = storage._rowptr
                rows = torch.arange(rowptr.numel() - 1, device=src.device)
                dst = torch.repeat_interleave(rows, rowptr.diff(), output_size=src.numel())
            edges = torch.stack([src, dst])
        else:
            if is_torch_sparse_tensor(edge_index):
                edge_index, _, _ = adj_to_edge_index(edge_index, self.__class__.__name__)
            edges, src, dst = edge_index, edge_index[0], edge_index[1]
        edges = edges.long()
        if not self.add_self_loops:
            return edges, None, (src, dst)
        loops = torch.arange(num_loops, device=edges.device)
        loop_mask = torch.cat([edges[0] == edges[1], torch.zeros_like(loops, dtype=torch.bool)])
        return torch.cat([edges, loops.view(1, -1).expand(2, -1)], dim=1), loop_mask, (src, dst)

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
        return versions + (num_src, num_dst, self.add_self_loops)

    def _structure(self, edge_index: Adj, num_src: int, num_dst: int) -> Tensor:
        """The ``(2, E')`` edges after self-loop handling (:meth:`_edges`).

        A graph passed again as the *same* object (``edge_index`` tensor, ``SparseTensor`` or
        ``torch.sparse`` tensor), unmodified (its version counters unchanged), for the same
        node counts reuses the last call's edges: the checks and the self-loop handling are
        done once per graph, not once per epoch, and never synchronise with the device again;
        being the same tensor, the edges also find the sparse structure that
        :func:`gat_aggregate` built for them (:func:`head_blocks`). The cache holds a
        reference to the input, so its memory cannot be reused by another graph while cached;
        any other object or an in-place change rebuilds it.
        """
        key = self._cache_key(edge_index, num_src, num_dst)
        cached = self._structure_cache
        if (key is not None and cached is not None and cached[0] is edge_index
                and cached[1] == key):
            return cached[2]
        edges = self._edges(edge_index, num_src, num_dst)
        self._structure_cache = (edge_index, key, edges)
        return edges

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
        if traced:
            num_loops = min(num_src, num_dst) if self.add_self_loops else 0
            edges, loop_mask, graph = self._traced_edges(edge_index, num_loops)
        else:
            edges = self._structure(edge_index, num_src, num_dst)
            num_loops, loop_mask, graph = 0, None, (edges[0], edges[1])
        size = (num_src, num_dst)
        alpha = self.edge_updater(edges, alpha=(score_src, score_dst), loop_mask=loop_mask,
                                  size=size)
        if self.fuse and not self.explain and h_src.dtype in (torch.float32, torch.float64):
            out = self.update(self.message_and_aggregate(graph, x=(h_src, h_dst), alpha=alpha,
                                                         num_dst=num_dst, num_loops=num_loops),
                              res=res)
        else:
            out = self.propagate(edges, x=(h_src, h_dst), alpha=alpha, res=res, size=size)

        if not return_attention_weights:
            return out
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
                    index: Tensor, dim_size: Optional[int]) -> Tensor:
        logits = alpha_j if alpha_i is None else alpha_j + alpha_i
        logits = F.leaky_relu(logits, self.negative_slope)
        if loop_mask is not None:
            logits = logits.masked_fill(loop_mask.unsqueeze(-1), float("-inf"))
        alpha = edge_softmax(logits, index, dim_size)
        return F.dropout(alpha, p=self.dropout, training=self.training)

    def message(self, x_j: Tensor, alpha: Tensor) -> Tensor:
        return alpha.unsqueeze(-1) * x_j

    def aggregate(self, inputs: Tensor, index: Tensor, ptr: OptTensor = None,
                  dim_size: Optional[int] = None) -> Tensor:
        return scatter(inputs, index, dim=0, dim_size=dim_size, reduce="sum")

    def message_and_aggregate(self, graph: Tuple[Tensor, Tensor], x: Tuple[Tensor, OptTensor],
                              alpha: Tensor, num_dst: int, num_loops: int) -> Tensor:
        """:meth:`message` and :meth:`aggregate` in one: :func:`gat_aggregate` over the edges
        ``graph = (src, dst)`` followed by ``num_loops`` self-loops."""
        return gat_aggregate(alpha, x[0], graph[0], graph[1], num_dst, num_loops)

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
