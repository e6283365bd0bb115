"""A stack of :class:`~pyg_course.nn.GATConv` layers, the model of Veličković et al. (2018)."""

from __future__ import annotations

from typing import Any, Callable, Dict, Final, List, Optional, Tuple, Union

from torch import Tensor
from torch_geometric.typing import Adj, OptTensor

from pyg_course.nn.conv.gat_conv import GATConv
from pyg_course.nn.models.stack import BasicStack
from pyg_course.utils.checks import check_int


class GAT(BasicStack):
    r"""The graph attention network of `"Graph Attention Networks"
    <https://arxiv.org/abs/1710.10903>`_: ``num_layers`` :class:`~pyg_course.nn.GATConv`
    layers,

    .. math::
        \mathbf{H}^{(l+1)} = \mathrm{drop}\Big(\sigma\big(\mathrm{norm}\big(
        \big\Vert_{k=1}^{K} \mathrm{GAT}^{(l,k)}(\mathbf{H}^{(l)}, \mathbf{A})\big)\big)
        \Big), \qquad \mathbf{H}^{(0)} = \mathrm{drop}_{\mathrm{in}}(\mathbf{X}),

    node-wise :math:`\mathbf{h}_i^{(l+1)} = \sigma\big(\big\Vert_{k=1}^{K} \sum_{j \in
    \mathcal{N}(i) \cup \{i\}} \alpha_{ij}^{k} \mathbf{W}^{k} \mathbf{h}_j^{(l)}\big)`.
    The same model as :class:`torch_geometric.nn.models.GAT` (signature, defaults, module
    names, state dict, ``repr``): ``hidden_channels`` is the total width of a hidden layer,
    ``heads`` heads of ``hidden_channels // heads`` units concatenated (``concat=True``) or
    ``heads`` heads of ``hidden_channels`` units averaged (``concat=False``); a last layer that
    maps to ``out_channels`` (``out_channels`` set, ``jk=None``) averages its heads. The
    attention coefficients are dropped out with probability ``dropout`` inside each layer.

    The paper's Cora model (8 heads x 8 units, 1 output head, dropout 0.6 on every layer's
    input and on the attention, ELU) is
    ``GAT(F, 64, 2, C, heads=8, output_heads=1, dropout=0.6, input_dropout=0.6, act="elu")``.
    ``torch.sparse`` features are dropped out on their non-zeros only.

    Args:
        in_channels (int or tuple): input feature size (a ``(source, target)`` pair for
            bipartite input), or ``-1`` to take it from the first input.
        hidden_channels (int): total hidden width (divisible by ``heads`` with ``concat``).
        num_layers (int): number of :class:`GATConv` layers.
        out_channels (int, optional): output size of the last layer (or of the final linear
            map with ``jk``); ``None`` keeps ``hidden_channels``. (default: ``None``)
        v2 (bool): GATv2 attention; only ``False`` is available (there is no ``GATv2Conv``
            here). (default: ``False``)
        dropout (float): dropout probability after every layer but the last and of the
            attention coefficients, in :math:`[0, 1)`. (default: ``0.0``)
        act (str or Callable, optional): activation. (default: ``"relu"``)
        act_first (bool): activation before normalisation. (default: ``False``)
        act_kwargs (Dict[str, Any], optional): arguments of ``act``. (default: ``None``)
        norm (str or Callable, optional): normalisation after every layer but the last.
            (default: ``None``)
        norm_kwargs (Dict[str, Any], optional): arguments of ``norm``. (default: ``None``)
        jk (str, optional): jumping-knowledge mode ``"last"``, ``"cat"``, ``"max"`` or
            ``"lstm"``, followed by a linear map to ``out_channels``. (default: ``None``)
        heads (int): attention heads of every layer. (default: ``1``)
        concat (bool): concatenate the heads of the hidden layers (else average them).
            (default: ``True``)
        input_dropout (float): keyword only: dropout probability on the input features, in
            :math:`[0, 1]`. (default: ``0.0``)
        output_heads (int, optional): keyword only: heads of the last layer when it maps to
            ``out_channels`` (averaged); ``None`` uses ``heads``. (default: ``None``)
        **kwargs: passed to every :class:`GATConv` (``negative_slope``, ``add_self_loops``,
            ``bias``, ``residual``).

    Shapes:
        - **input:** node features :math:`(|\mathcal{V}|, F_{in})` (dense or
          ``torch.sparse``), edge indices :math:`(2, |\mathcal{E}|)` or a sparse adjacency
        - **output:** :math:`(|\mathcal{V}|, F_{out})`
    """

    supports_edge_weight: Final[bool] = False
    supports_edge_attr: Final[bool] = True

    def __init__(
        self,
        in_channels: Union[int, Tuple[int, int]],
        hidden_channels: int,
        num_layers: int,
        out_channels: Optional[int] = None,
        dropout: float = 0.0,
        act: Union[str, Callable, None] = "relu",
        act_first: bool = False,
        act_kwargs: Optional[Dict[str, Any]] = None,
        norm: Union[str, Callable, None] = None,
        norm_kwargs: Optional[Dict[str, Any]] = None,
        jk: Optional[str] = None,
        *,
        input_dropout: float = 0.0,
        output_heads: Optional[int] = None,
        **kwargs: Any,
    ):
        if kwargs.get("v2", False):
            raise ValueError("GAT: v2=True (GATv2 attention) is not available: pyg_course "
                             "implements the original GAT attention only (GATConv); use "
                             "torch_geometric.nn.models.GAT(..., v2=True) for GATv2")
        if output_heads is not None:
            check_int("GAT", "output_heads", output_heads)
        self.output_heads = output_heads
        super().__init__(in_channels, hidden_channels, num_layers, out_channels, dropout, act,
                         act_first, act_kwargs, norm, norm_kwargs, jk,
                         input_dropout=input_dropout, **kwargs)
        if output_heads is not None and not getattr(self, "_is_conv_to_out", False):
            raise ValueError("GAT: output_heads sets the heads of a last layer that maps to "
                             "out_channels; with out_channels=None or jk set there is none")

    def init_conv(self, in_channels: Union[int, Tuple[int, int]], out_channels: int,
                  **kwargs) -> GATConv:
        kwargs.pop("v2", False)
        heads = kwargs.pop("heads", 1)
        concat = kwargs.pop("concat", True)
        if getattr(self, "_is_conv_to_out", False):  # the last layer maps to out_channels
            concat = False
            if self.output_heads is not None:
                heads = self.output_heads
        if concat:
            if out_channels % heads != 0:
                raise ValueError(f"GAT: hidden_channels ({out_channels}) must be divisible by "
                                 f"heads ({heads}): the {heads} heads are concatenated")
            out_channels = out_channels // heads
        return GATConv(in_channels, out_channels, heads=heads, concat=concat,
                       dropout=self.dropout.p, **kwargs)

    def _conv(self, i, x, edge_index, edge_weight, edge_attr, n_id, attention) -> Tensor:
        if edge_attr is not None:
            raise ValueError("GAT: edge features (edge_attr) are not supported: GATConv has no "
                             "edge_dim; use torch_geometric.nn.models.GAT for edge features")
        if attention is None:
            return self.convs[i](x, edge_index)
        x, att = self.convs[i](x, edge_index, return_attention_weights=True)
        attention.append(att)
        return x

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
        return_attention_weights: bool = False,
    ) -> Union[Tensor, Tuple[Tensor, List[Tuple[Tensor, Tensor]]]]:
        """Outputs for every node. ``edge_weight`` is ignored (as in PyG's ``GAT``);
        ``edge_attr`` is refused (no edge features); ``batch`` and ``batch_size`` go to a
        graph-wise normalisation; ``num_sampled_nodes_per_hop`` and
        ``num_sampled_edges_per_hop`` trim each layer's input. With
        ``return_attention_weights=True`` (keyword only) also each layer's
        ``(edge_index, alpha)``."""
        attention: Optional[list] = [] if return_attention_weights else None
        out = self._forward(x, edge_index, None, edge_attr, batch, batch_size,
                            num_sampled_nodes_per_hop, num_sampled_edges_per_hop,
                            attention=attention)
        return (out, attention) if return_attention_weights else out
