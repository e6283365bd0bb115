"""A stack of :class:`~pyg_course.nn.SAGEConv` layers with layer-wise inference."""

from __future__ import annotations

from typing import Final, Optional, Tuple, Union

from torch import Tensor
from torch_geometric.typing import Adj, OptTensor

from pyg_course.nn.conv.sage_conv import SAGEConv
from pyg_course.nn.models.stack import JK_MODES, BasicStack

__all__ = ["GraphSAGE", "JK_MODES"]


class GraphSAGE(BasicStack):
    r"""GraphSAGE from `"Inductive Representation Learning on Large Graphs"
    <https://arxiv.org/abs/1706.02216>`_: ``num_layers`` :class:`~pyg_course.nn.SAGEConv`
    layers,

    .. math::
        \mathbf{H}^{(l+1)} = \mathrm{drop}\big(\sigma(\mathrm{norm}(\mathrm{SAGE}^{(l)}(
        \mathbf{H}^{(l)}, \mathbf{A})))\big), \qquad \mathbf{H}^{(0)} =
        \mathrm{drop}_{\mathrm{in}}(\mathbf{X}),

    node-wise :math:`\mathbf{h}_i^{(l+1)} = \sigma\big(\mathbf{W}_1 \mathbf{h}_i^{(l)} +
    \mathbf{W}_2 \, \mathrm{AGG}_{j \in \mathcal{N}(i)} \mathbf{h}_j^{(l)}\big)`, the last
    layer without activation, normalisation and dropout (unless ``jk`` is set). The same model
    as :class:`torch_geometric.nn.models.GraphSAGE` (signature, defaults, module names, state
    dict, ``repr``), plus the paper's aggregators (``aggr="gcn"``, ``"pool"``, ``"lstm"``).

    :meth:`forward` runs on a whole graph or on a ``NeighborLoader`` subgraph (take the first
    ``batch_size`` rows). :meth:`inference` evaluates all nodes layer by layer with full
    neighbourhoods, exactly.

    Args:
        in_channels (int or tuple): input feature size (a ``(source, target)`` pair for
            bipartite input), or ``-1`` to take it from the first input.
        hidden_channels (int): hidden size.
        num_layers (int): number of :class:`SAGEConv` layers.
        out_channels (int, optional): output size of the last layer (or of the final linear
            map with ``jk``); ``None`` keeps ``hidden_channels``. (default: ``None``)
        dropout (float): dropout probability after every layer but the last, in
            :math:`[0, 1]`. (default: ``0.0``)
        act (str or Callable, optional): activation. (default: ``"relu"``)
        act_first (bool): activation before normalisation. (default: ``False``)
        act_kwargs (Dict[str, Any], optional): arguments of ``act``. (default: ``None``)
        norm (str or Callable, optional): normalisation after every layer but the last.
            (default: ``None``)
        norm_kwargs (Dict[str, Any], optional): arguments of ``norm``. (default: ``None``)
        jk (str, optional): jumping-knowledge mode ``"last"``, ``"cat"``, ``"max"`` or
            ``"lstm"``, followed by a linear map to ``out_channels``. (default: ``None``)
        input_dropout (float): keyword only: dropout probability on the input features, in
            :math:`[0, 1]` (on the non-zeros only of ``torch.sparse`` features).
            (default: ``0.0``)
        **kwargs: passed to every :class:`SAGEConv`: ``aggr`` (``"mean"``, ``"gcn"``,
            ``"pool"``, ``"lstm"``; default ``"mean"``), ``normalize``, ``root_weight``,
            ``bias``, ``aggr_channels``.

    Shapes:
        - **input:** node features :math:`(|\mathcal{V}|, F_{in})` (dense or ``torch.sparse``),
          edge indices :math:`(2, |\mathcal{E}|)` or a sparse adjacency
        - **output:** :math:`(|\mathcal{V}|, F_{out})`
    """

    supports_edge_weight: Final[bool] = False
    supports_edge_attr: Final[bool] = False

    def init_conv(self, in_channels: Union[int, Tuple[int, int]], out_channels: int,
                  **kwargs) -> SAGEConv:
        return SAGEConv(in_channels, out_channels, **kwargs)

    @property
    def aggr(self) -> str:
        """The aggregator of the layers."""
        return self.convs[0].aggr

    def _conv(self, i, x, edge_index, edge_weight, edge_attr, n_id, attention) -> Tensor:
        return self.convs[i](x, edge_index, src_ids=n_id)

    def forward(
        self,
        x: Tensor,
        edge_index: Adj,
        edge_weight: OptTensor = None,
        edge_attr: OptTensor = None,
        batch: OptTensor = None,
        batch_size: Optional[int] = None,
        num_sampled_nodes_per_hop: Optional[list] = None,
        num_sampled_edges_per_hop: Optional[list] = None,
        *,
        n_id: OptTensor = None,
    ) -> Tensor:
        """Outputs for every node. ``edge_weight`` and ``edge_attr`` are ignored (as in PyG's
        ``GraphSAGE``); ``batch`` and ``batch_size`` go to a graph-wise normalisation;
        ``num_sampled_nodes_per_hop`` and ``num_sampled_edges_per_hop`` trim each layer's
        input. ``n_id`` (keyword only): the nodes' ids in the full graph, for a mini-batch; it
        fixes the evaluation-mode neighbour order of the ``lstm`` aggregator (see
        :class:`SAGEConv`) so that a subgraph gives the full graph's numbers."""
        return self._forward(x, edge_index, None, None, batch, batch_size,
                             num_sampled_nodes_per_hop, num_sampled_edges_per_hop, n_id=n_id)
