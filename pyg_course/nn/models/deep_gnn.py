r"""Deep GCNs with the known remedies for over-smoothing as switches."""

from __future__ import annotations

from itertools import zip_longest
from typing import Any, Dict, List, Optional

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.nn import GCN2Conv, JumpingKnowledge, Linear, PairNorm
from torch_geometric.typing import Adj, SparseTensor
from torch_geometric.utils import dropout_edge, is_torch_sparse_tensor

from pyg_course.nn.conv.checks import adj_to_edge_index, linear
from pyg_course.nn.conv.gcn_conv import GCNConv, gcn_norm
from pyg_course.nn.models.stack import LayerStack, check_jk
from pyg_course.utils.checks import check_dropout, check_edge_index, check_real
from pyg_course.utils.sparse import sparse_dropout, spend_csr_notices

#: The ``jk`` modes of :class:`DeepGNN`.
JK_MODES = ("cat", "max", "lstm")
#: The ``jk_readout`` choices of :class:`DeepGNN`.
JK_READOUTS = ("linear", "conv")
#: The ``weight_init`` choices of :class:`DeepGNN`.
WEIGHT_INITS = ("glorot", "pygcn")

#: The remedies compared by ``scripts/oversmoothing.py``: name -> :class:`DeepGNN` switches
#: (the sweep sets DropEdge's rate per dataset).
REMEDIES: Dict[str, Dict[str, Any]] = {
    "plain": {},
    "residual": {"residual": True},
    "pairnorm": {"pairnorm": True},
    "dropedge": {"dropedge": 0.3},
    "jk": {"jk": "cat"},
    "jk+dropedge": {"jk": "cat", "dropedge": 0.3},
    "gcnii": {"gcnii": True, "alpha": 0.1, "theta": 0.5},
}


class DeepGNN(LayerStack):
    r"""A GCN whose depth is a parameter, with the remedies for over-smoothing as switches.

    The plain model is ``num_layers`` :class:`~pyg_course.nn.GCNConv` layers
    (in :math:`\to` hidden :math:`\to \dots \to` hidden :math:`\to` out) with ReLU and dropout
    in between, :math:`\mathbf{H}^{(\ell+1)} = \sigma(\hat{\mathbf{A}}_{\mathrm{sym}}
    \mathbf{H}^{(\ell)} \mathbf{W}^{(\ell)})`: repeated propagation by
    :math:`\hat{\mathbf{A}}_{\mathrm{sym}}` drives every column towards the dominant eigenvector
    :math:`\propto \sqrt{1 + d_i}`, so rows become indistinguishable (over-smoothing). Remedies:

    * ``residual=True`` (ResGCN, Li et al. 2019): :math:`\mathbf{H}^{(\ell+1)} =
      \sigma(\hat{\mathbf{A}}_{\mathrm{sym}} \mathbf{H}^{(\ell)} \mathbf{W}^{(\ell)}) +
      \mathbf{H}^{(\ell)}` on every hidden-to-hidden layer.
    * ``gcnii=True`` (Chen et al., ICML 2020): a linear map in :math:`\to` hidden,
      ``num_layers`` PyG :class:`~torch_geometric.nn.conv.GCN2Conv` layers with initial residual
      and identity mapping,
      :math:`\mathbf{H}^{(\ell+1)} = \sigma\big(((1-\alpha)\hat{\mathbf{A}}_{\mathrm{sym}}
      \mathbf{H}^{(\ell)} + \alpha \mathbf{H}^{(0)})((1-\beta_\ell)\mathbf{I} + \beta_\ell
      \mathbf{W}^{(\ell)})\big)`, :math:`\beta_\ell = \log(\theta / \ell + 1)`, and a linear
      map hidden :math:`\to` out.
    * ``pairnorm=True`` (Zhao & Akoglu, ICLR 2020): PyG's
      :class:`~torch_geometric.nn.norm.PairNorm` after every hidden convolution (centre the
      rows, rescale to a constant total pairwise distance).
    * ``dropedge=p`` (Rong et al., ICLR 2020): PyG's :func:`~torch_geometric.utils.dropout_edge`
      removes each undirected edge (``dropedge_undirected=False``: each direction of it) with
      probability ``p`` once per training forward pass; the adjacency is re-normalised after
      dropping.
    * ``jk='cat'|'max'|'lstm'`` (Xu et al., ICML 2018): all ``num_layers`` convolutions are
      hidden-to-hidden, PyG's :class:`~torch_geometric.nn.models.JumpingKnowledge` combines
      their outputs, a linear map gives the classes. With ``jk_readout='conv'`` the classes
      come from a graph convolution over the combination instead, as in the DropEdge
      repository's JKNet: ``num_layers - 1`` hidden convolutions and the output convolution.

    ``root_weight=True`` gives every :class:`~pyg_course.nn.GCNConv` of the GCN family a
    second weight for the node's own features, :math:`\hat{\mathbf{A}}_{\mathrm{sym}}
    \mathbf{H} \mathbf{W} + \mathbf{H} \mathbf{W}_{\mathrm{root}} + \mathbf{b}` (the DropEdge
    repository's ``withloop``; PyG's ``root_weight`` of ``GraphConv`` and ``SAGEConv``).

    :attr:`last_hidden` holds, after every forward pass, the representation the output layer
    reads: the input of the last ``GCNConv`` (plain / residual / PairNorm / DropEdge), the JK
    combination, or the output of the last ``GCN2Conv``. Over-smoothing is measured on it.

    The normalised adjacency :math:`\hat{\mathbf{D}}^{-1/2}\hat{\mathbf{A}}
    \hat{\mathbf{D}}^{-1/2}` is computed once per forward pass (after DropEdge) and shared by
    every layer as one sparse matrix.

    Args:
        in_channels (int): input feature size.
        hidden_channels (int): hidden size.
        num_layers (int): number of graph convolutions (2 to 64 are tested).
        out_channels (int): number of classes (required).
        dropout (float): dropout before every convolution and linear map, in :math:`[0, 1)`.
            (default: ``0.5``)
        residual (bool): residual connections. (default: ``False``)
        gcnii (bool): the GCNII architecture. (default: ``False``)
        alpha (float): GCNII's initial-residual weight :math:`\alpha \in [0, 1]`.
            (default: ``0.1``)
        theta (float): GCNII's :math:`\theta > 0` (:math:`\lambda` in the paper).
            (default: ``0.5``)
        pairnorm (bool): PairNorm after every hidden convolution. (default: ``False``)
        pairnorm_scale (float): PairNorm's scale :math:`s > 0`. (default: ``1.0``)
        dropedge (float): DropEdge probability, in :math:`[0, 1)`. (default: ``0.0``)
        dropedge_undirected (bool): DropEdge removes both directions of an edge together
            (PyG's ``force_undirected``); ``False`` drops each direction on its own, as the
            DropEdge repository samples the adjacency's non-zeros. (default: ``True``)
        jk (str, optional): jumping-knowledge mode ``'cat'``, ``'max'`` or ``'lstm'`` (lower
            case).
        jk_readout (str): with ``jk``, the output layer over the combination: ``'linear'`` or
            ``'conv'`` (a graph convolution). (default: ``'linear'``)
        root_weight (bool): a weight for the node's own features in every graph convolution
            of the GCN family. (default: ``False``)
        input_dropout (bool): dropout on the input features too; ``False`` drops only hidden
            representations, as the DropEdge repository does. (default: ``True``)
        weight_init (str): how the GCN family's convolutions (root weights and linear readout
            included) are initialised: ``'glorot'`` (PyG's: Glorot weights, zero biases) or
            ``'pygcn'`` (every weight and bias uniform in :math:`\pm 1/\sqrt{\text{out}}`, as
            Kipf's PyTorch GCN and the DropEdge repository draw them). (default: ``'glorot'``)
        cached (bool): keep the normalised adjacency between calls (transductive training
            without DropEdge only). (default: ``False``)

    A ``torch.sparse`` feature matrix (bag-of-words) is accepted: the input dropout and the first
    product then touch only its non-zeros, as in :class:`~pyg_course.nn.models.GCN`.
    """

    requires_out_channels = True

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        num_layers: int,
        out_channels: int,
        dropout: float = 0.5,
        residual: bool = False,
        gcnii: bool = False,
        alpha: float = 0.1,
        theta: float = 0.5,
        pairnorm: bool = False,
        pairnorm_scale: float = 1.0,
        dropedge: float = 0.0,
        dropedge_undirected: bool = True,
        jk: Optional[str] = None,
        jk_readout: str = "linear",
        root_weight: bool = False,
        input_dropout: bool = True,
        weight_init: str = "glorot",
        cached: bool = False,
    ):
        super().__init__(in_channels, hidden_channels, num_layers, out_channels)
        check_jk("DeepGNN", jk, JK_MODES)
        for name, value, choices in (("jk_readout", jk_readout, JK_READOUTS),
                                     ("weight_init", weight_init, WEIGHT_INITS)):
            if value not in choices:
                raise ValueError(f"DeepGNN: {name} must be one of "
                                 f"{', '.join(map(repr, choices))}, got {value!r}")
        conv_readout = jk is not None and jk_readout == "conv"
        if num_layers < 2 and (conv_readout or not (gcnii or jk)):
            raise ValueError(f"DeepGNN: num_layers must be at least 2 (got {num_layers})")
        check_dropout("DeepGNN", "dropout", dropout, include_one=False)
        check_dropout("DeepGNN", "dropedge", dropedge, include_one=False)
        check_real("DeepGNN", "alpha", alpha, 0.0, 1.0, include_high=True)
        check_real("DeepGNN", "theta", theta, 0.0, include_low=False)
        check_real("DeepGNN", "pairnorm_scale", pairnorm_scale, 0.0, include_low=False)
        if gcnii and in_channels == -1:
            raise ValueError("DeepGNN: gcnii needs an explicit in_channels (its input map is "
                             "not lazy)")
        if gcnii and (residual or jk):
            raise ValueError("DeepGNN: gcnii has its own (initial) residual; it cannot be "
                             "combined with residual or jk")
        if gcnii and root_weight:
            raise ValueError("DeepGNN: root_weight applies to the GCN family's convolutions, "
                             "not to gcnii (its initial residual plays that part)")
        if weight_init != "glorot" and (gcnii or in_channels == -1):
            raise ValueError("DeepGNN: weight_init='pygcn' needs the GCN family (not gcnii) "
                             "and an explicit in_channels")
        if jk_readout != "linear" and jk is None:
            raise ValueError("DeepGNN: jk_readout needs jk")
        if cached and dropedge > 0:
            raise ValueError("DeepGNN: cached=True cannot be used with DropEdge (the graph "
                             "changes every forward pass)")
        self.dropout = dropout
        self.residual = residual
        self.gcnii = gcnii
        self.alpha = alpha
        self.theta = theta
        self.pairnorm = pairnorm
        self.dropedge = dropedge
        self.dropedge_undirected = dropedge_undirected
        self.jk_mode = jk
        self.jk_readout = jk_readout
        self.root_weight = root_weight
        self.input_dropout = input_dropout
        self.weight_init = weight_init
        self.cached = cached
        self._cached_adj: Optional[SparseTensor] = None
        self.last_hidden: Optional[Tensor] = None

        conv_kw = dict(add_self_loops=False, normalize=False)
        self.lin_in = self.lin_out = self.jk = None
        if gcnii:
            self.lin_in = torch.nn.Linear(in_channels, hidden_channels)
            self.convs = torch.nn.ModuleList(
                GCN2Conv(hidden_channels, alpha, theta, layer + 1, shared_weights=True, **conv_kw)
                for layer in range(num_layers))
            self.lin_out = torch.nn.Linear(hidden_channels, out_channels)
        elif jk is not None:
            hidden = num_layers - 1 if conv_readout else num_layers
            sizes = [in_channels] + [hidden_channels] * hidden
            self.convs = torch.nn.ModuleList(
                GCNConv(sizes[i], sizes[i + 1], **conv_kw) for i in range(hidden))
            self.jk = JumpingKnowledge(jk, hidden_channels, hidden)
            width = hidden_channels * hidden if jk == "cat" else hidden_channels
            if conv_readout:  # the output convolution reads the combination
                self.convs.append(GCNConv(width, out_channels, **conv_kw))
            else:
                self.lin_out = torch.nn.Linear(width, out_channels)
        else:
            sizes = [in_channels] + [hidden_channels] * (num_layers - 1) + [out_channels]
            self.convs = torch.nn.ModuleList(
                GCNConv(sizes[i], sizes[i + 1], **conv_kw) for i in range(num_layers))
        self.roots = torch.nn.ModuleList(
            Linear(conv.in_channels, conv.out_channels, bias=False, weight_initializer="glorot")
            for conv in (self.convs if root_weight else ()))
        num_norms = num_layers if gcnii or (jk and not conv_readout) else num_layers - 1
        self.norms = torch.nn.ModuleList(
            PairNorm(scale=pairnorm_scale) if pairnorm else torch.nn.Identity()
            for _ in range(num_norms))
        self.reset_parameters()

    def reset_parameters(self):
        for module in (self.lin_in, self.lin_out, self.jk, *self.convs, *self.roots):
            if module is not None:
                module.reset_parameters()
        if self.weight_init == "pygcn":
            with torch.no_grad():
                for conv, root in zip_longest(self.convs, self.roots):
                    bound = conv.out_channels ** -0.5
                    for w in (conv.lin.weight, conv.bias, None if root is None else root.weight):
                        if w is not None:
                            w.uniform_(-bound, bound)
                if self.lin_out is not None:
                    bound = self.lin_out.out_features ** -0.5
                    self.lin_out.weight.uniform_(-bound, bound)
                    self.lin_out.bias.uniform_(-bound, bound)
        self._cached_adj = None

    def param_groups(self, weight_decay: float, deep_weight_decay: float = 0.0
                     ) -> List[Dict[str, Any]]:
        """Optimizer parameter groups with two L2 penalties.

        GCN family: ``weight_decay`` on the first convolution (the input map, as Kipf &
        Welling's GCN regularises its first layer only), ``deep_weight_decay`` on every other
        parameter. GCNII: ``weight_decay`` on the dense input and output maps,
        ``deep_weight_decay`` on the convolutions (the paper's 5e-4 and 0.01).

        The same penalty on every layer of a deep stack shrinks the product of all its weight
        matrices at once and collapses the network's output to a constant long before
        over-smoothing would (docs/results/oversmoothing.md measures it).
        """
        if self.gcnii:
            first = [p for m in (self.lin_in, self.lin_out) for p in m.parameters()]
        else:
            first = [p for m in (self.convs[0], *self.roots[:1]) for p in m.parameters()]
        ids = {id(p) for p in first}
        rest = [p for p in self.parameters() if id(p) not in ids]
        return [dict(params=first, weight_decay=weight_decay),
                dict(params=rest, weight_decay=deep_weight_decay)]

    def _adjacency(self, edge_index: Adj, num_nodes: int, dtype: torch.dtype) -> SparseTensor:
        if self._cached_adj is not None and not (self.training and self.dropedge > 0):
            return self._cached_adj
        if isinstance(edge_index, Tensor) and not is_torch_sparse_tensor(edge_index):
            check_edge_index(edge_index, num_nodes, num_nodes, "DeepGNN")
            edge_weight = None
        else:
            edge_index, edge_weight, size = adj_to_edge_index(edge_index, "DeepGNN")
            if size != (num_nodes, num_nodes):
                raise ValueError(f"DeepGNN: sparse adjacency of size {size[::-1]} does not "
                                 f"match {num_nodes} nodes")
        if self.training and self.dropedge > 0:
            edge_index, kept = dropout_edge(edge_index, p=self.dropedge,
                                            force_undirected=self.dropedge_undirected)
            if edge_weight is not None:
                # ``kept``: a mask of the entries, or (force_undirected) the index of the
                # original entry behind each kept one, both directions.
                edge_weight = edge_weight[kept]
        ei, ew = gcn_norm(edge_index, edge_weight, num_nodes, dtype=dtype)
        adj_t = SparseTensor(row=ei[1], col=ei[0], value=ew.to(dtype),
                             sparse_sizes=(num_nodes, num_nodes))
        if self.gcnii:  # GCN2Conv hands the SparseTensor to PyG's spmm, which converts it to CSR
            spend_csr_notices()
        if self.cached:
            self._cached_adj = adj_t
        return adj_t

    def forward(self, x: Tensor, edge_index: Adj) -> Tensor:
        adj_t = self._adjacency(edge_index, x.size(0), x.dtype)
        drop = lambda h: F.dropout(h, self.dropout, self.training)  # noqa: E731
        if self.input_dropout:
            x = sparse_dropout(x, self.dropout, self.training) if is_torch_sparse_tensor(x) \
                else drop(x)

        if self.gcnii:
            h = h0 = F.relu(linear(self.lin_in, x, self.__class__.__name__))
            for conv, norm in zip(self.convs, self.norms):
                h = F.relu(norm(conv(drop(h), h0, adj_t)))
            self.last_hidden = h
            return self.lin_out(drop(h))

        conv_readout = self.jk_readout == "conv"
        hs = []
        h = x
        for i in range(len(self.convs) - conv_readout):
            h_in = h if i == 0 else drop(h)
            if i == len(self.convs) - 1 and self.jk is None:
                self.last_hidden = h
                return self._layer(i, h_in, adj_t)
            out = F.relu(self.norms[i](self._layer(i, h_in, adj_t)))
            h = out + h if (self.residual and i > 0) else out
            hs.append(h)
        h = self.jk(hs)
        self.last_hidden = h
        if conv_readout:
            return self._layer(len(self.convs) - 1, drop(h), adj_t)
        return self.lin_out(drop(h))

    def _layer(self, i: int, h: Tensor, adj_t: SparseTensor) -> Tensor:
        out = self._propagate(self.convs[i], h, adj_t)
        if self.root_weight:
            out = out + linear(self.roots[i], h, self.__class__.__name__)
        return out

    @staticmethod
    def _propagate(conv: GCNConv, h: Tensor, adj_t: SparseTensor) -> Tensor:
        # The adjacency is normalised once per forward pass, so each layer runs only its own
        # transform, fused sparse aggregation and bias (GCNConv.forward would re-check and
        # re-convert the same matrix in every one of up to 64 layers).
        out = conv.propagate(adj_t, x=conv._project(h), edge_weight=None)
        return out if conv.bias is None else out + conv.bias

    def embed(self, x: Tensor, edge_index: Adj) -> Tensor:
        """:attr:`last_hidden` of an evaluation-mode forward pass (restores the mode)."""
        with self.evaluating():
            self(x, edge_index)
        return self.last_hidden

    def __repr__(self) -> str:
        opts = [f"num_layers={self.num_layers}"]
        if self.gcnii:
            opts.append(f"gcnii(alpha={self.alpha}, theta={self.theta})")
        if self.residual:
            opts.append("residual")
        if self.pairnorm:
            opts.append("pairnorm")
        if self.dropedge:
            opts.append(f"dropedge={self.dropedge}")
            if not self.dropedge_undirected:
                opts.append("dropedge_undirected=False")
        if self.jk_mode:
            opts.append(f"jk={self.jk_mode!r}")
            if self.jk_readout != "linear":
                opts.append(f"jk_readout={self.jk_readout!r}")
        if self.root_weight:
            opts.append("root_weight")
        if not self.input_dropout:
            opts.append("input_dropout=False")
        if self.weight_init != "glorot":
            opts.append(f"weight_init={self.weight_init!r}")
        return (f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}, "
                f"{', '.join(opts)})")
