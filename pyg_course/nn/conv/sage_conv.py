"""GraphSAGE convolution of Hamilton, Ying & Leskovec (2017): the paper's four aggregators and
PyG's plain max, with PyG's signature."""

from __future__ import annotations

from typing import List, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.nn.conv import MessagePassing
from torch_geometric.nn.dense.linear import Linear
from torch_geometric.typing import Adj, Size, SparseTensor
from torch_geometric.utils import is_torch_sparse_tensor, scatter

from pyg_course.nn.conv.checks import adj_to_edge_index, linear
from pyg_course.nn.conv.checks import project as project_features
from pyg_course.utils.checks import check_edge_index, check_node_features, compiling

AGGREGATORS = ("mean", "max", "gcn", "pool", "lstm")

# The reduction each aggregator hands to ``MessagePassing`` (LSTM aggregates by itself).
_BASE_REDUCE = {"mean": "mean", "max": "max", "gcn": "sum", "pool": "max", "lstm": None}


def sparse_adj_t_to_edge_index(adj_t: SparseTensor) -> Tensor:
    r"""The ``(2, |E|)`` edge indices (sources first) of a transposed adjacency
    ``adj_t[dst, src]`` given as a ``torch_sparse.SparseTensor``, read from its stored index
    tensors with plain tensor operations only (no ``torch_sparse`` kernel), so that
    ``torch.compile`` traces it without a graph break. The edges come in ``adj_t``'s row-major
    order, i.e. grouped by target."""
    storage = adj_t.storage
    col = storage._col
    row = storage._row
    if row is None:
        rowptr = storage._rowptr
        row = torch.repeat_interleave(
            torch.arange(rowptr.numel() - 1, device=col.device, dtype=col.dtype),
            rowptr[1:] - rowptr[:-1], output_size=col.numel())
    return torch.stack([col, row])


def _num_entries(adj_t) -> int:
    """Number of stored entries of a ``SparseTensor`` or ``torch.sparse`` adjacency."""
    return adj_t.nnz() if isinstance(adj_t, SparseTensor) else adj_t._nnz()


class SAGEConv(MessagePassing):
    r"""The GraphSAGE operator from `"Inductive Representation Learning on Large Graphs"
    <https://arxiv.org/abs/1706.02216>`_ (Hamilton, Ying & Leskovec, NeurIPS 2017).

    .. math::
        \mathbf{X}' = \mathrm{AGG}(\mathbf{A}, \mathbf{X}_{src}) \mathbf{W}_1 +
        \mathbf{X}_{dst} \mathbf{W}_2 + \mathbf{b}

    and node-wise, for the aggregators of the paper (and PyG's plain ``max``):

    .. math::
        \mathbf{x}'_i &= \mathbf{W}_1^\top \mathbf{a}_i + \mathbf{W}_2^\top \mathbf{x}_i
        + \mathbf{b} \qquad (\texttt{mean}, \texttt{max}, \texttt{pool}, \texttt{lstm}) \\
        \mathbf{x}'_i &= \mathbf{W}_1^\top \frac{\mathbf{h}_i + \sum_{j \in \mathcal{N}(i)}
        \mathbf{h}_j}{1 + |\mathcal{N}(i)|} + \mathbf{b} \qquad (\texttt{gcn}) \\
        \mathbf{a}_i &= \frac{1}{|\mathcal{N}(i)|} \sum_{j \in \mathcal{N}(i)} \mathbf{h}_j
        \ (\texttt{mean}), \quad
        \max_{j \in \mathcal{N}(i)} \mathbf{h}_j \ (\texttt{max}, \texttt{pool}), \quad
        \mathrm{LSTM}(\mathbf{h}_{\pi(1)}, \dots, \mathbf{h}_{\pi(|\mathcal{N}(i)|)})
        \ (\texttt{lstm}) \\
        \mathbf{h}_j &= \mathrm{ReLU}(\mathbf{W}_p^\top \mathbf{x}_j + \mathbf{b}_p)
        \ (\texttt{project=True}, \text{always for } \texttt{pool}), \quad
        \mathbf{h}_j = \mathbf{x}_j \ (\text{otherwise})

    where :math:`\mathcal{N}(i)` is the multiset of sources of edges :math:`j \to i` (a duplicate
    edge counts twice, a self-loop is an ordinary neighbour), :math:`\mathbf{W}_1` (``lin_l``) and
    :math:`\mathbf{W}_2` (``lin_r``) are the neighbour and root weights, :math:`\mathbf{W}_p,
    \mathbf{b}_p` (``lin``) the projection of Eq. (3) of the paper, the max is element-wise, and
    the LSTM's last hidden state summarises the neighbours in the order :math:`\pi`: a fresh
    random permutation in training (the paper's trick to apply a sequence model to an unordered
    set), ascending source index in evaluation. The caller never needs to sort the edges. A
    node without neighbours has :math:`\mathbf{a}_i = \mathbf{0}` (never NaN). The paper's
    concatenation :math:`\mathbf{W}^\top [\mathbf{a}_i \,\|\, \mathbf{x}_i]` is the same map as
    :math:`\mathbf{W}_1^\top \mathbf{a}_i + \mathbf{W}_2^\top \mathbf{x}_i`. ``pool`` is
    ``max`` with ``project=True``.

    :meth:`message` passes the (projected) source features, :meth:`aggregate` reduces them per
    target (mean, sum, max or LSTM), :meth:`update` adds the target itself for ``gcn``.
    :meth:`message_and_aggregate` fuses the first two into one sparse-dense product for
    ``SparseTensor``/``torch.sparse`` adjacencies (``mean``, ``max``, ``gcn``, ``pool``) in
    eager mode; under ``torch.compile`` a ``SparseTensor`` is read as edge indices and takes the
    gather-scatter path (same numbers), so that ``mean``, ``max``, ``gcn`` and ``pool`` compile
    with ``fullgraph=True``. ``lstm`` runs a data-dependent number of recurrence steps: it
    compiles with graph breaks around the recurrence (not with ``fullgraph=True``).

    Args:
        in_channels (int or tuple): size of each input feature, or ``(F_src, F_dst)`` for
            bipartite input; ``-1`` infers it lazily (``mean`` and ``max`` without projection).
        out_channels (int): size of each output feature.
        aggr (str): ``"mean"``, ``"max"``, ``"gcn"``, ``"pool"`` or ``"lstm"``. PyG's other
            aggregators (``"sum"``, lists of aggregators, :class:`~torch_geometric.nn.aggr.
            Aggregation` modules) raise a :class:`ValueError`. (default: ``"mean"``)
        normalize (bool): :math:`\ell_2`-normalise the output rows. (default: ``False``)
        root_weight (bool): add the transformed target :math:`\mathbf{W}_2^\top\mathbf{x}_i`
            (ignored for ``gcn``, which mixes the target into the mean). (default: ``True``)
        project (bool): project the source features with :math:`\mathrm{ReLU}(\mathbf{W}_p^\top
            \mathbf{x}_j + \mathbf{b}_p)` before aggregating (for ``gcn`` the target's own
            features too); ``pool`` always does. (default: ``False``)
        bias (bool): learn the additive bias :math:`\mathbf{b}`. (default: ``True``)
        aggr_channels (int, optional): output size of the projection / hidden size of the
            LSTM; ``None`` uses ``F_src``, as PyG does. (default: ``None``)
        **kwargs: passed to :class:`torch_geometric.nn.conv.MessagePassing`.

    Shapes:
        - **input:** node features :math:`(|V|, F_{in})` or a pair
          :math:`((|V_{src}|, F_{src}), (|V_{dst}|, F_{dst}))` whose target features may be
          ``None`` (no root term), edge indices :math:`(2, |E|)` or a sparse adjacency ``adj_t``
          :math:`(|V_{dst}|, |V_{src}|)` (its values ignored), optional ``size``
          :math:`(|V_{src}|, |V_{dst}|)`
        - **output:** node features :math:`(|V_{dst}|, F_{out})`

    Parameter names follow PyG: a layer built with PyG's call (``aggr="mean"``, ``"max"`` or
    ``"lstm"``, with or without ``project``) loads the state dict of PyG's layer of the same
    call, and ``pool`` that of PyG's ``SAGEConv(aggr="max", project=True)``, with
    ``strict=True``. PyG's ``lstm`` reads each neighbour sequence in the given edge order
    (requiring edges sorted by target) and pads it with zeros to the largest degree, so a node
    without neighbours gets the LSTM of zeros; the two agree in evaluation where every target
    has the same number of neighbours, given in ascending source order.
    """

    def __init__(
        self,
        in_channels: Union[int, Tuple[int, int]],
        out_channels: int,
        aggr: str = "mean",
        normalize: bool = False,
        root_weight: bool = True,
        project: bool = False,
        bias: bool = True,
        aggr_channels: Optional[int] = None,
        **kwargs,
    ):
        if not isinstance(aggr, str) or aggr not in AGGREGATORS:
            raise ValueError(
                f"SAGEConv: unsupported aggr {aggr!r}; valid aggregators are "
                f"{', '.join(repr(a) for a in AGGREGATORS)} (PyG's 'sum', lists of aggregators "
                f"and Aggregation modules such as MLPAggregation are not supported)")
        super().__init__(aggr=_BASE_REDUCE[aggr], **kwargs)
        self.aggr = aggr
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.normalize = normalize
        self.root_weight = root_weight and aggr != "gcn"
        self.project = project or aggr == "pool"
        self.aggr_channels = aggr_channels
        in_src, in_dst = (in_channels, in_channels) if isinstance(in_channels, int) else in_channels
        self._in_src, self._in_dst = in_src, in_dst
        if (aggr in ("gcn", "pool", "lstm") or self.project) and (in_src <= 0 or in_dst <= 0):
            raise ValueError(f"SAGEConv(aggr={aggr!r}, project={self.project}) needs explicit "
                             f"in_channels, got {in_channels}")
        if aggr == "gcn" and in_src != in_dst:
            raise ValueError(f"SAGEConv(aggr='gcn') averages a node with its neighbours, so "
                             f"source and target features need the same size, got {in_channels}")

        hidden = in_src if aggr_channels is None else aggr_channels
        feat = in_src
        if self.project:
            self.lin = Linear(in_src, hidden, bias=True)
            feat = hidden
        if aggr == "lstm":
            self.lstm = torch.nn.LSTM(feat, hidden, batch_first=True)
            feat = hidden
        self.lin_l = Linear(feat, out_channels, bias=bias)
        if self.root_weight:
            self.lin_r = Linear(in_dst, out_channels, bias=False)
        self.reset_parameters()

    def reset_parameters(self):
        super().reset_parameters()
        if self.project:
            self.lin.reset_parameters()
        if self.aggr == "lstm":
            self.lstm.reset_parameters()
        self.lin_l.reset_parameters()
        if self.root_weight:
            self.lin_r.reset_parameters()

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # PyG's SAGEConv(aggr="lstm") keeps the same torch.nn.LSTM under "aggr_module.lstm".
        if self.aggr == "lstm":
            for key in [k for k in state_dict if k.startswith(prefix + "aggr_module.lstm.")]:
                state_dict[prefix + "lstm." + key[len(prefix + "aggr_module.lstm."):]] = \
                    state_dict.pop(key)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def __prepare_scriptable__(self):
        raise NotImplementedError(
            f"{self.__class__.__name__} does not support TorchScript (torch.jit.script); use "
            f"torch.compile instead")

    # ------------------------------------------------------------------ forward
    def forward(self, x: Union[Tensor, Tuple[Tensor, Optional[Tensor]]], edge_index: Adj,
                size: Size = None, *, src_ids: Optional[Tensor] = None) -> Tensor:
        """``size`` (optional): ``(num_src, num_dst)`` for ``edge_index`` input, needed to give
        target nodes when the target features are ``None`` (else ``num_dst = num_src``).
        ``src_ids`` (optional, keyword, ``lstm`` only): ids of the source nodes in the full
        graph (a mini-batch's ``n_id``); evaluation orders each neighbour sequence by them, so
        a subgraph sees its neighbours in the same order as the full graph."""
        name = self.__class__.__name__
        single = isinstance(x, Tensor)
        if single:
            x_src, x_dst = x, x
        else:
            if (not isinstance(x, (tuple, list)) or len(x) != 2
                    or not isinstance(x[0], Tensor)):
                raise ValueError(f"{name}: node features must be a Tensor or a pair "
                                 f"(x_src, x_dst) with x_dst a Tensor or None")
            x_src, x_dst = x
        check_node_features(x_src, self._in_src, f"{name} (source features)")
        if x_dst is not None:
            check_node_features(x_dst, self._in_dst, f"{name} (target features)")
        if self.aggr == "gcn" and x_dst is None:
            raise ValueError(f"{name}(aggr='gcn') averages each target with its neighbours "
                             f"and needs the target features, got (x_src, None)")
        if self.aggr == "gcn" and x_src.size(1) != x_dst.size(1):
            raise ValueError(f"{name}(aggr='gcn'): source features {tuple(x_src.shape)} and "
                             f"target features {tuple(x_dst.shape)} differ in size")
        num_src = x_src.size(0)
        if size is not None and (len(size) != 2 or (size[0] is not None
                                                    and size[0] != num_src)):
            raise ValueError(f"{name}: size {tuple(size)} does not match the {num_src} source "
                             f"nodes of the features (expected ({num_src}, num_dst))")

        sparse = isinstance(edge_index, SparseTensor) or is_torch_sparse_tensor(edge_index)
        if sparse:
            num_dst, num_src_adj = (edge_index.sparse_sizes() if isinstance(edge_index,
                                                                             SparseTensor)
                                    else tuple(edge_index.shape[:2]))
            if (num_src_adj != num_src or (x_dst is not None and x_dst.size(0) != num_dst)
                    or (size is not None and size[1] is not None and size[1] != num_dst)):
                n_dst = num_dst if x_dst is None else x_dst.size(0)
                raise ValueError(f"{name}: sparse adjacency adj_t of size "
                                 f"{(num_dst, num_src_adj)} does not match {n_dst} target and "
                                 f"{num_src} source nodes (expected ({n_dst}, {num_src}))")
        else:
            if size is not None and size[1] is not None:
                num_dst = size[1]
            else:
                num_dst = num_src if x_dst is None else x_dst.size(0)
            if x_dst is not None and x_dst.size(0) != num_dst:
                if single and not (self.root_weight or self.aggr == "gcn"):
                    x_dst = None  # the targets' own features are not used
                else:
                    raise ValueError(f"{name}: size {tuple(size)} does not match the "
                                     f"{x_dst.size(0)} target nodes of the features")
            check_edge_index(edge_index, num_src, num_dst, name)

        if sparse and (compiling() or self.aggr == "lstm" or min(num_src, num_dst) == 0
                       or _num_entries(edge_index) == 0):
            # Under torch.compile, torch_sparse kernels cannot be traced: read the edges and
            # take the gather-scatter path. The LSTM needs the edges themselves, and the
            # sparse-dense product cannot take an empty matrix.
            if isinstance(edge_index, SparseTensor):
                edge_index = sparse_adj_t_to_edge_index(edge_index)
            else:
                edge_index = adj_to_edge_index(edge_index, name)[0]
        elif sparse and not isinstance(edge_index, SparseTensor):
            ei = adj_to_edge_index(edge_index, name)[0]
            edge_index = SparseTensor(row=ei[1], col=ei[0], sparse_sizes=(num_dst, num_src))
        if self.aggr == "lstm":
            edge_index = self._sequence_order(edge_index, num_src, src_ids)

        same_root = x_dst is x_src
        if self.project:
            x_src = linear(self.lin, x_src, name).relu()
        x_root = None
        if self.aggr == "gcn":  # gcn's update adds the node itself
            x_root = x_src if same_root else x_dst
            if self.project and not same_root:
                x_root = linear(self.lin, x_root, name).relu()
        if self.aggr == "lstm":
            # The LSTM's input projection is linear: apply it once per source node, not once
            # per edge; the aggregation then runs only the recurrence.
            lstm = self.lstm
            x_src = project_features(x_src, lstm.weight_ih_l0, lstm.bias_ih_l0 + lstm.bias_hh_l0,
                                     name)
        deg = None
        if self.aggr == "gcn":
            if isinstance(edge_index, SparseTensor):
                deg = edge_index.storage.rowcount()
            else:
                ones = torch.ones(edge_index.size(1), dtype=x_root.dtype,
                                  device=edge_index.device)
                deg = scatter(ones, edge_index[1], dim=0, dim_size=num_dst, reduce="sum")
        # mean and gcn are linear in the features: transforming before aggregating gives the
        # same result and moves F_out instead of F_in numbers along each edge.
        transform_first = (self.aggr in ("mean", "gcn") and self.lin_l.in_channels > 0
                           and self.out_channels < self.lin_l.in_channels)
        if transform_first:
            same = x_root is x_src
            x_src = project_features(x_src, self.lin_l.weight, None, name)
            if x_root is not None:
                x_root = x_src if same else project_features(x_root, self.lin_l.weight, None,
                                                             name)
        # The aggregate-first path (mean/gcn widening the features) takes sparse input densely.
        x_src = x_src.to_dense() if is_torch_sparse_tensor(x_src) else x_src
        if x_root is not None and is_torch_sparse_tensor(x_root):
            x_root = x_root.to_dense()
        out = self.propagate(edge_index, x=(x_src, None), size=(num_src, num_dst),
                             x_root=x_root, deg=deg)
        if transform_first:
            out = out if self.lin_l.bias is None else out + self.lin_l.bias
        else:
            out = self.lin_l(out)
        if self.root_weight and x_dst is not None:
            out = out + linear(self.lin_r, x_dst, name)
        if self.normalize:
            out = F.normalize(out, p=2.0, dim=-1)
        return out

    def _sequence_order(self, edge_index: Tensor, num_src: int,
                        src_ids: Optional[Tensor] = None) -> Tensor:
        """Edges grouped by target, each group in the LSTM's order: a random permutation in
        training, ascending source id (``src_ids``, else the index) in evaluation."""
        src, dst = edge_index[0], edge_index[1]
        if self.training:
            perm = torch.randperm(src.numel(), device=src.device)
            order = perm[torch.sort(dst[perm], stable=True).indices]
        else:
            if src_ids is not None:
                if src_ids.numel() != num_src:
                    raise ValueError(f"SAGEConv: src_ids has {src_ids.numel()} entries for "
                                     f"{num_src} source nodes")
                src = src_ids.to(src.device)[src]
                num_src = int(src_ids.max()) + 1 if src_ids.numel() else 1
            order = torch.sort(dst * num_src + src, stable=True).indices
        return edge_index[:, order]

    # ------------------------------------------------------------------ steps
    def message(self, x_j: Tensor) -> Tensor:
        return x_j

    def aggregate(self, inputs: Tensor, index: Tensor, ptr: Optional[Tensor] = None,
                  dim_size: Optional[int] = None) -> Tensor:
        if self.aggr == "lstm":
            return self._lstm_aggregate(inputs, index, dim_size)
        reduce = _BASE_REDUCE[self.aggr]
        return scatter(inputs, index, dim=self.node_dim, dim_size=dim_size, reduce=reduce)

    def _lstm_aggregate(self, inputs: Tensor, index: Tensor, dim_size: int) -> Tensor:
        """Run the LSTM over each target's neighbours (``index`` grouped, in sequence order):
        ``inputs`` are the neighbours' input projections :math:`W_{ih} x_j + b`; the sequences
        are packed longest first (as a ``PackedSequence``), so step :math:`t` updates only the
        first ``batch_sizes[t]`` states and no padding is built or computed. Same numbers and
        parameters as ``torch.nn.LSTM`` (gate order i, f, g, o)."""
        hidden = self.lstm.hidden_size
        out = inputs.new_zeros(dim_size, hidden)
        if inputs.size(0) == 0:
            return out
        deg = torch.bincount(index, minlength=dim_size)
        start = torch.cumsum(deg, 0) - deg
        pos = torch.arange(index.numel(), device=index.device) - start[index]
        by_len = torch.sort(deg, descending=True, stable=True).indices
        num_seq = int((deg > 0).sum())
        by_len = by_len[:num_seq]
        rank = torch.empty_like(deg)
        rank[by_len] = torch.arange(num_seq, device=deg.device)
        packed_order = torch.sort(pos * num_seq + rank[index]).indices
        lengths = deg[by_len].cpu()
        batch_sizes = (lengths.view(1, -1) > torch.arange(int(lengths[0])).view(-1, 1)).sum(1)
        # One split (not a slice per step: each slice's backward would build a zero tensor of
        # the whole input), and finished states are set aside, not copied at every step, so
        # forward and backward cost O(edges) rather than O(steps x nodes).
        steps = inputs[packed_order].split(batch_sizes.tolist())
        w_hh = self.lstm.weight_hh_l0
        h = c = None
        done: List[Tensor] = []  # states of sequences that ended, shortest last
        for x_t in steps:
            size = x_t.size(0)
            if h is None:  # first step: h = c = 0
                gates = x_t
            else:
                if size < h.size(0):
                    done.append(h[size:])
                    h, c = h[:size], c[:size]
                gates = x_t + h @ w_hh.t()
            i, f, g, o = gates.chunk(4, dim=1)
            c = torch.sigmoid(i) * torch.tanh(g) if c is None else \
                torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
        h = torch.cat([h, *done[::-1]]) if done else h
        out[by_len] = h
        return out

    def message_and_aggregate(self, adj_t: SparseTensor, x: Tuple[Tensor, Tensor]) -> Tensor:
        from torch_sparse import matmul

        return matmul(adj_t.set_value(None, layout=None), x[0], reduce=_BASE_REDUCE[self.aggr])

    def update(self, inputs: Tensor, x_root: Optional[Tensor], deg: Optional[Tensor]) -> Tensor:
        if self.aggr != "gcn":
            return inputs
        return (inputs + x_root) / (deg.to(inputs.dtype) + 1).view(-1, 1)

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}, "
                f"aggr={self.aggr})")
