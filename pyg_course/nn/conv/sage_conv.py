"""GraphSAGE convolution of Hamilton, Ying & Leskovec (2017) with the paper's four aggregators."""

from __future__ import annotations

from typing import List, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.nn.conv import MessagePassing
from torch_geometric.nn.dense.linear import Linear
from torch_geometric.typing import Adj, SparseTensor
from torch_geometric.utils import is_torch_sparse_tensor, scatter

from pyg_course.nn.conv.checks import (
    adj_to_edge_index,
    check_edge_index,
    check_node_features,
    linear,
    project,
)

AGGREGATORS = ("mean", "gcn", "pool", "lstm")

# The reduction each aggregator hands to ``MessagePassing`` (LSTM aggregates by itself).
_BASE_REDUCE = {"mean": "mean", "gcn": "sum", "pool": "max", "lstm": None}


class SAGEConv(MessagePassing):
    r"""The GraphSAGE operator from `"Inductive Representation Learning on Large Graphs"
    <https://arxiv.org/abs/1706.02216>`_ (Hamilton, Ying & Leskovec, NeurIPS 2017).

    .. math::
        \mathbf{X}' = \mathrm{AGG}(\mathbf{A}, \mathbf{X}_{src}) \mathbf{W}_1 +
        \mathbf{X}_{dst} \mathbf{W}_2 + \mathbf{b}

    and node-wise, for the four aggregators of the paper:

    .. math::
        \mathbf{x}'_i &= \mathbf{W}_1^\top \mathbf{a}_i + \mathbf{W}_2^\top \mathbf{x}_i
        + \mathbf{b} \qquad (\texttt{mean}, \texttt{pool}, \texttt{lstm}) \\
        \mathbf{x}'_i &= \mathbf{W}_1^\top \frac{\mathbf{x}_i + \sum_{j \in \mathcal{N}(i)}
        \mathbf{x}_j}{1 + |\mathcal{N}(i)|} + \mathbf{b} \qquad (\texttt{gcn}) \\
        \mathbf{a}_i &= \frac{1}{|\mathcal{N}(i)|} \sum_{j \in \mathcal{N}(i)} \mathbf{x}_j
        \ (\texttt{mean}), \quad
        \max_{j \in \mathcal{N}(i)} \mathrm{ReLU}(\mathbf{W}_p^\top \mathbf{x}_j +
        \mathbf{b}_p) \ (\texttt{pool}), \quad
        \mathrm{LSTM}(\mathbf{x}_{\pi(1)}, \dots, \mathbf{x}_{\pi(|\mathcal{N}(i)|)})
        \ (\texttt{lstm})

    where :math:`\mathcal{N}(i)` is the multiset of sources of edges :math:`j \to i` (a duplicate
    edge counts twice, a self-loop is an ordinary neighbour), :math:`\mathbf{W}_1` (``lin_l``) and
    :math:`\mathbf{W}_2` (``lin_r``) are the neighbour and root weights, :math:`\mathbf{W}_p,
    \mathbf{b}_p` (``lin``) the pooling layer, the max is element-wise, and the LSTM's last
    hidden state summarises the neighbours in the order :math:`\pi`: a fresh random permutation
    in training (the paper's trick to apply a sequence model to an unordered set), ascending
    source index in evaluation. The caller never needs to sort the edges. A node without
    neighbours has :math:`\mathbf{a}_i = \mathbf{0}` (never NaN). The paper's concatenation
    :math:`\mathbf{W}^\top [\mathbf{a}_i \,\|\, \mathbf{x}_i]` is the same map as
    :math:`\mathbf{W}_1^\top \mathbf{a}_i + \mathbf{W}_2^\top \mathbf{x}_i`.

    :meth:`message` passes the (pooled-projected) source features, :meth:`aggregate` reduces
    them per target (mean, sum, max or LSTM), :meth:`update` adds the target itself for
    ``gcn``. :meth:`message_and_aggregate` fuses the first two into one sparse-dense product for
    ``SparseTensor``/``torch.sparse`` adjacencies (``mean``, ``gcn``, ``pool``).

    Args:
        in_channels (int or tuple): size of each input feature, or ``(F_src, F_dst)`` for
            bipartite input; ``-1`` infers it lazily (``mean`` only).
        out_channels (int): size of each output feature.
        aggr (str): ``"mean"``, ``"gcn"``, ``"pool"`` or ``"lstm"``. (default: ``"mean"``)
        normalize (bool): :math:`\ell_2`-normalise the output rows. (default: ``False``)
        root_weight (bool): add the transformed target :math:`\mathbf{W}_2^\top\mathbf{x}_i`
            (ignored for ``gcn``, which mixes the target into the mean). (default: ``True``)
        bias (bool): learn the additive bias :math:`\mathbf{b}`. (default: ``True``)
        aggr_channels (int, optional): hidden size of the pooling layer / the LSTM; ``None``
            uses ``F_src``, as PyG does. (default: ``None``)
        **kwargs: passed to :class:`torch_geometric.nn.conv.MessagePassing`.

    Shapes:
        - **input:** node features :math:`(|V|, F_{in})` or a pair
          :math:`((|V_{src}|, F_{src}), (|V_{dst}|, F_{dst}))`, edge indices :math:`(2, |E|)`
          or a sparse adjacency ``adj_t`` :math:`(|V_{dst}|, |V_{src}|)` (its values ignored)
        - **output:** node features :math:`(|V_{dst}|, F_{out})`

    Parameter names follow PyG: ``mean`` loads the state dict of PyG's
    ``SAGEConv(aggr="mean")`` and ``pool`` that of ``SAGEConv(aggr="max", project=True)`` with
    ``strict=True``.
    """

    def __init__(
        self,
        in_channels: Union[int, Tuple[int, int]],
        out_channels: int,
        aggr: str = "mean",
        normalize: bool = False,
        root_weight: bool = True,
        bias: bool = True,
        aggr_channels: Optional[int] = None,
        **kwargs,
    ):
        if aggr not in AGGREGATORS:
            raise ValueError(f"SAGEConv: unknown aggr {aggr!r}; valid aggregators are "
                             f"{', '.join(repr(a) for a in AGGREGATORS)}")
        super().__init__(aggr=_BASE_REDUCE[aggr], **kwargs)
        self.aggr = aggr
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.normalize = normalize
        self.root_weight = root_weight and aggr != "gcn"
        self.aggr_channels = aggr_channels
        in_src, in_dst = (in_channels, in_channels) if isinstance(in_channels, int) else in_channels
        self._in_src, self._in_dst = in_src, in_dst
        if aggr != "mean" and (in_src <= 0 or in_dst <= 0):
            raise ValueError(f"SAGEConv(aggr={aggr!r}) needs explicit in_channels, got "
                             f"{in_channels}")
        if aggr == "gcn" and in_src != in_dst:
            raise ValueError(f"SAGEConv(aggr='gcn') averages a node with its neighbours, so "
                             f"source and target features need the same size, got {in_channels}")

        hidden = in_src if aggr_channels is None else aggr_channels
        if aggr == "pool":
            self.lin = Linear(in_src, hidden, bias=True)
        if aggr == "lstm":
            self.lstm = torch.nn.LSTM(in_src, hidden, batch_first=True)
        self.lin_l = Linear(hidden if aggr in ("pool", "lstm") else in_src, out_channels,
                            bias=bias)
        if self.root_weight:
            self.lin_r = Linear(in_dst, out_channels, bias=False)
        self.reset_parameters()

    def reset_parameters(self):
        super().reset_parameters()
        if self.aggr == "pool":
            self.lin.reset_parameters()
        if self.aggr == "lstm":
            self.lstm.reset_parameters()
        self.lin_l.reset_parameters()
        if self.root_weight:
            self.lin_r.reset_parameters()

    # ------------------------------------------------------------------ forward
    def forward(self, x: Union[Tensor, Tuple[Tensor, Tensor]], edge_index: Adj,
                src_ids: Optional[Tensor] = None) -> Tensor:
        """``src_ids`` (optional, ``lstm`` only): ids of the source nodes in the full graph
        (a mini-batch's ``n_id``); evaluation orders each neighbour sequence by them, so a
        subgraph sees its neighbours in the same order as the full graph."""
        name = self.__class__.__name__
        if isinstance(x, Tensor):
            x = (x, x)
        if len(x) != 2 or x[1] is None:
            raise ValueError(f"{name}: bipartite input must be a pair (x_src, x_dst) of tensors")
        x_src, x_dst = x
        check_node_features(x_src, self._in_src, f"{name} (source features)")
        check_node_features(x_dst, self._in_dst, f"{name} (target features)")
        if self.aggr == "gcn" and x_src.size(1) != x_dst.size(1):
            raise ValueError(f"{name}(aggr='gcn'): source features {tuple(x_src.shape)} and "
                             f"target features {tuple(x_dst.shape)} differ in size")
        num_src, num_dst = x_src.size(0), x_dst.size(0)

        sparse = not isinstance(edge_index, Tensor) or is_torch_sparse_tensor(edge_index)
        if sparse:
            ei, _, size = adj_to_edge_index(edge_index, name)
            if size != (num_src, num_dst):
                raise ValueError(f"{name}: sparse adjacency adj_t of size {size[::-1]} does not "
                                 f"match {num_dst} target and {num_src} source nodes "
                                 f"(expected ({num_dst}, {num_src}))")
            if self.aggr == "lstm":
                edge_index = ei
            elif not isinstance(edge_index, SparseTensor):
                edge_index = SparseTensor(row=ei[1], col=ei[0], sparse_sizes=(num_dst, num_src))
        else:
            check_edge_index(edge_index, num_src, num_dst, name)
        if self.aggr == "lstm":
            edge_index = self._sequence_order(edge_index, num_src, src_ids)

        if self.aggr == "pool":
            x_src = linear(self.lin, x_src, name).relu()
        if self.aggr == "lstm":
            # The LSTM's input projection is linear: apply it once per source node, not once
            # per edge; the aggregation then runs only the recurrence.
            lstm = self.lstm
            x_src = project(x_src, lstm.weight_ih_l0, lstm.bias_ih_l0 + lstm.bias_hh_l0, name)
        deg = None
        if self.aggr == "gcn":
            deg = (edge_index.storage.rowcount() if isinstance(edge_index, SparseTensor)
                   else torch.bincount(edge_index[1], minlength=num_dst))
        # mean and gcn are linear in the features: transforming before aggregating gives the
        # same result and moves F_out instead of F_in numbers along each edge.
        transform_first = (self.aggr in ("mean", "gcn") and self.lin_l.in_channels > 0
                           and self.out_channels < self.lin_l.in_channels)
        x_root = x_dst if self.aggr == "gcn" else None  # gcn's update adds the node itself
        if transform_first:
            same = x_src is x_dst
            x_src = project(x_src, self.lin_l.weight, None, name)
            if self.aggr == "gcn":
                x_root = x_src if same else project(x_dst, self.lin_l.weight, None, name)
        # The aggregate-first path (mean/gcn widening the features) takes sparse input densely.
        x_src = x_src.to_dense() if is_torch_sparse_tensor(x_src) else x_src
        if x_root is not None and is_torch_sparse_tensor(x_root):
            x_root = x_root.to_dense()
        out = self.propagate(edge_index, x=(x_src, x_dst), size=(num_src, num_dst),
                             x_root=x_root, deg=deg)
        if transform_first:
            out = out if self.lin_l.bias is None else out + self.lin_l.bias
        else:
            out = self.lin_l(out)
        if self.root_weight:
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
                f"aggr={self.aggr!r})")
