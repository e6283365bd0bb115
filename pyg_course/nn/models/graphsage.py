"""A stack of :class:`~pyg_course.nn.SAGEConv` layers with layer-wise inference."""

from __future__ import annotations

from typing import Any, Callable, Optional, Union

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.nn import JumpingKnowledge
from torch_geometric.nn.resolver import activation_resolver
from torch_geometric.typing import Adj

from pyg_course.nn.conv.sage_conv import SAGEConv
from pyg_course.nn.models.gcn import sparse_dropout
from pyg_course.nn.models.stack import LayerStack, check_dropout, check_jk

#: The ``jk`` modes of :class:`GraphSAGE` (PyG's ``BasicGNN`` modes).
JK_MODES = ("last", "cat", "max", "lstm")


class GraphSAGE(LayerStack):
    r"""GraphSAGE from `"Inductive Representation Learning on Large Graphs"
    <https://arxiv.org/abs/1706.02216>`_: ``num_layers`` :class:`SAGEConv` layers with an
    activation and dropout between them,

    .. math::
        \mathbf{H}^{(l+1)} = \mathrm{drop}\big(\sigma(\mathrm{SAGE}^{(l)}(\mathbf{H}^{(l)},
        \mathbf{A}))\big), \qquad \mathbf{H}^{(0)} = \mathrm{drop}_{in}(\mathbf{X}),

    the last layer without activation. Same signature as
    :class:`torch_geometric.nn.models.GraphSAGE`, plus the paper's aggregators.

    :meth:`forward` runs on a whole graph or on a ``NeighborLoader`` subgraph (take the first
    ``batch_size`` rows). :meth:`inference` evaluates all nodes layer by layer with full
    neighbourhoods: layer :math:`l` is computed for every node in batches of one-hop
    neighbourhoods before layer :math:`l+1` starts, so memory holds one layer's embeddings
    and one batch's neighbourhood, never a multi-hop subgraph.

    Args:
        in_channels (int): input feature size.
        hidden_channels (int): hidden size.
        num_layers (int): number of :class:`SAGEConv` layers.
        out_channels (int, optional): output size; ``None`` keeps ``hidden_channels``.
        dropout (float): dropout probability between layers, in :math:`[0, 1]`.
            (default: ``0.0``)
        aggr (str): ``"mean"``, ``"gcn"``, ``"pool"`` or ``"lstm"``. (default: ``"mean"``)
        jk (str, optional): jumping-knowledge mode (``"last"``, ``"cat"``, ``"max"``,
            ``"lstm"``, lower case) combining every layer's output, followed by a linear layer to
            ``out_channels``; ``None`` uses the last layer. (default: ``None``)
        act (str or Callable): activation between layers. (default: ``"relu"``)
        input_dropout (float): dropout probability in :math:`[0, 1]` on the input features,
            before the first layer (as in GCN and GAT; not in PyG's ``GraphSAGE``).
            (default: ``0.0``)
        **kwargs: passed to every :class:`SAGEConv` (e.g. ``normalize``, ``aggr_channels``).
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        num_layers: int,
        out_channels: Optional[int] = None,
        dropout: float = 0.0,
        aggr: str = "mean",
        jk: Optional[str] = None,
        act: Union[str, Callable, None] = "relu",
        input_dropout: float = 0.0,
        **kwargs: Any,
    ):
        super().__init__(in_channels, hidden_channels, num_layers, out_channels)
        check_dropout("GraphSAGE", "dropout", dropout)
        check_dropout("GraphSAGE", "input_dropout", input_dropout)
        check_jk("GraphSAGE", jk, JK_MODES)
        self.dropout = dropout
        self.input_dropout = input_dropout
        self.aggr = aggr
        self.jk_mode = jk
        self.act = activation_resolver(act) if act is not None else torch.nn.Identity()
        last = self.out_channels if jk is None else hidden_channels
        sizes = [in_channels] + [hidden_channels] * (num_layers - 1) + [last]
        self.convs = torch.nn.ModuleList(
            SAGEConv(sizes[i], sizes[i + 1], aggr=aggr, **kwargs) for i in range(num_layers))
        if jk is not None:
            self.jk = JumpingKnowledge(jk, hidden_channels, num_layers) if jk != "last" else None
            width = num_layers * hidden_channels if jk == "cat" else hidden_channels
            self.lin = torch.nn.Linear(width, self.out_channels)

    def reset_parameters(self):
        super().reset_parameters()
        if self.jk_mode is not None:
            if self.jk is not None:
                self.jk.reset_parameters()
            self.lin.reset_parameters()

    def _after_conv(self, i: int, x: Tensor) -> Tensor:
        """Activation and dropout after layer ``i`` (none after the last one without JK)."""
        if i < self.num_layers - 1 or self.jk_mode is not None:
            x = F.dropout(self.act(x), self.dropout, self.training)
        return x

    def _readout(self, xs: list) -> Tensor:
        if self.jk_mode is None:
            return xs[-1]
        x = xs[-1] if self.jk is None else self.jk(xs)
        return self.lin(x)

    def forward(self, x: Tensor, edge_index: Adj, n_id: Optional[Tensor] = None) -> Tensor:
        """``n_id`` (optional): the nodes' ids in the full graph, for a mini-batch; it fixes
        the evaluation-mode neighbour order of the ``lstm`` aggregator (see
        :class:`SAGEConv`) so that a subgraph gives the full graph's numbers."""
        x = sparse_dropout(x, self.input_dropout, self.training)  # sparse: the non-zeros only
        xs = []
        for i, conv in enumerate(self.convs):
            x = self._after_conv(i, conv(x, edge_index, src_ids=n_id))
            xs.append(x)
        return self._readout(xs)

    def inference(self, loader, device: Optional[Union[str, torch.device]] = None,
                  progress: bool = False, x: Optional[Tensor] = None) -> Tensor:
        """Outputs for every node of ``loader.data``, computed layer by layer in evaluation
        mode without gradients (the model's mode is restored afterwards); see
        :meth:`~pyg_course.nn.models.stack.LayerStack.layerwise_inference`.

        Args:
            loader: a ``NeighborLoader(data, num_neighbors=[-1], ...)`` over all nodes (one
                hop, every neighbour; any batch size and order, shuffled or not).
            device: where the layers run; embeddings are kept on the CPU between layers.
            progress: show a tqdm bar over layers x batches.
            x: the input features (default ``loader.data.x``), dense or ``torch.sparse``: sparse
                features stay sparse in the first layer, whose batches gather their rows
                (so the loader's graph may carry no features at all).

        Returns:
            ``(num_nodes, out_channels)`` tensor on the CPU.
        """
        device = self.inference_device(device)
        with self.evaluating():
            xs = self.layerwise_inference(
                lambda i, x_src, x_dst, edge_index, n_id: self._after_conv(
                    i, self.convs[i]((x_src, x_dst), edge_index, src_ids=n_id)),
                loader, device, x=x, progress=progress)
            if self.jk_mode is None:
                return xs[-1]
            return self._readout([x.to(device) for x in xs]).cpu()

    def extra_options(self) -> str:
        return f", aggr={self.aggr!r}"
