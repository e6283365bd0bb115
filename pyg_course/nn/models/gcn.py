"""A stack of :class:`~pyg_course.nn.GCNConv` layers, the model of Kipf & Welling (2017)."""

from __future__ import annotations

from typing import Final, Optional

import torch
from torch import Tensor
from torch_geometric.typing import Adj, OptTensor
from torch_geometric.utils import scatter

from pyg_course.nn.conv.checks import linear
from pyg_course.nn.conv.gcn_conv import GCNConv, add_gcn_self_loops
from pyg_course.nn.models.stack import BasicStack

__all__ = ["GCN"]


class GCN(BasicStack):
    r"""The graph convolutional network of `"Semi-supervised Classification with Graph
    Convolutional Networks" <https://arxiv.org/abs/1609.02907>`_: ``num_layers``
    :class:`~pyg_course.nn.GCNConv` layers,

    .. math::
        \mathbf{H}^{(l+1)} = \mathrm{drop}\big(\sigma(\mathrm{norm}(\hat{\mathbf{A}}_{\mathrm{sym}}
        \mathbf{H}^{(l)} \mathbf{W}^{(l)} + \mathbf{b}^{(l)}))\big), \qquad
        \hat{\mathbf{A}}_{\mathrm{sym}} = \hat{\mathbf{D}}^{-1/2}\hat{\mathbf{A}}
        \hat{\mathbf{D}}^{-1/2}, \qquad \mathbf{H}^{(0)} = \mathrm{drop}_{\mathrm{in}}(\mathbf{X}),

    node-wise :math:`\mathbf{h}_i^{(l+1)} = \sigma\big(\sum_{j \in \mathcal{N}(i) \cup \{i\}}
    \frac{\hat{a}_{ji}}{\sqrt{\hat{d}_j \hat{d}_i}} \mathbf{W}^{(l)} \mathbf{h}_j^{(l)}
    + \mathbf{b}^{(l)}\big)`, the last layer without activation, normalisation and dropout
    (unless ``jk`` is set). The same model as :class:`torch_geometric.nn.models.GCN` (same
    signature, defaults, module names, state dict and ``repr``): a PyG model's state dict loads
    into the model built with the same call and gives the same output.

    The paper also drops out the input features: ``input_dropout=0.5`` (off by default, as in
    PyG). A ``torch.sparse`` feature matrix is accepted and then dropped out on its non-zeros
    only (:func:`~pyg_course.utils.sparse.sparse_dropout`), which makes an epoch on Cora
    several times faster.

    Args:
        in_channels (int): input feature size, or ``-1`` to take it from the first input.
        hidden_channels (int): hidden size.
        num_layers (int): number of :class:`GCNConv` layers.
        out_channels (int, optional): output size of the last layer (or of the final linear
            map with ``jk``); ``None`` keeps ``hidden_channels``. (default: ``None``)
        dropout (float): dropout probability after every layer but the last, in
            :math:`[0, 1]`. (default: ``0.0``)
        act (str or Callable, optional): activation. (default: ``"relu"``)
        act_first (bool): activation before normalisation. (default: ``False``)
        act_kwargs (Dict[str, Any], optional): arguments of ``act``. (default: ``None``)
        norm (str or Callable, optional): normalisation after every layer but the last, e.g.
            ``"batch_norm"``, ``"layer_norm"``. (default: ``None``)
        norm_kwargs (Dict[str, Any], optional): arguments of ``norm``. (default: ``None``)
        jk (str, optional): jumping-knowledge mode ``"last"``, ``"cat"``, ``"max"`` or
            ``"lstm"`` combining every layer's output, followed by a linear map to
            ``out_channels``. (default: ``None``)
        input_dropout (float): keyword only: dropout probability on the input features, in
            :math:`[0, 1]`. (default: ``0.0``)
        **kwargs: passed to every :class:`GCNConv` (``improved``, ``cached``,
            ``add_self_loops``, ``normalize``, ``bias``).

    Shapes:
        - **input:** node features :math:`(|\mathcal{V}|, F_{in})` (dense or ``torch.sparse``),
          edge indices :math:`(2, |\mathcal{E}|)` or a sparse adjacency, edge weights
          :math:`(|\mathcal{E}|)` *(optional)*
        - **output:** :math:`(|\mathcal{V}|, F_{out})`
    """

    supports_edge_weight: Final[bool] = True
    supports_edge_attr: Final[bool] = False
    supports_bipartite = False
    _degrees = None

    def init_conv(self, in_channels: int, out_channels: int, **kwargs) -> GCNConv:
        return GCNConv(in_channels, out_channels, **kwargs)

    def _conv(self, i, x, edge_index, edge_weight, edge_attr, n_id, attention) -> Tensor:
        return self.convs[i](x, edge_index, edge_weight)

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
    ) -> Tensor:
        """Outputs for every node. ``edge_attr`` is ignored (as in PyG's ``GCN``); ``batch``
        and ``batch_size`` go to a graph-wise normalisation; ``num_sampled_nodes_per_hop`` and
        ``num_sampled_edges_per_hop`` (a ``NeighborLoader`` batch's) trim each layer's input
        to the nodes it still needs."""
        return self._forward(x, edge_index, edge_weight, None, batch, batch_size,
                             num_sampled_nodes_per_hop, num_sampled_edges_per_hop)

    def inference(self, loader, device=None, embedding_device="cpu", progress_bar=False,
                  cache=False, *, progress=False, x=None) -> Tensor:
        # A one-hop batch holds every in-edge of its seed nodes but not those of their
        # neighbours, whose degrees the symmetric normalisation needs: they are taken from
        # the whole graph, so that the result is exact.
        self._degrees = self._graph_degrees(loader)
        try:
            return super().inference(loader, device, embedding_device, progress_bar, cache,
                                     progress=progress, x=x)
        finally:
            self._degrees = None

    inference.__doc__ = BasicStack.inference.__doc__

    def _graph_degrees(self, loader):
        """``(D^-1/2, self-loop weight)`` of every node of the loader's whole graph, per layer
        with ``normalize=True`` (``None`` for a layer without normalisation)."""
        self._check_inference_loader(loader, f"{type(self).__name__}.inference")
        data = loader.data
        edge_index = self._batch_edge_index(data).cpu()
        out = []
        for conv in self.convs:
            if not conv.normalize:
                out.append(None)
                continue
            ei, ew = edge_index, torch.ones(edge_index.size(1))
            if conv.add_self_loops:
                ei, ew = add_gcn_self_loops(edge_index, ew, data.num_nodes, conv.improved)
            deg = scatter(ew, ei[1], dim=0, dim_size=data.num_nodes, reduce="sum")
            loops = scatter(ew * (ei[0] == ei[1]), ei[1], dim=0, dim_size=data.num_nodes,
                            reduce="sum")
            out.append((deg.pow(-0.5).masked_fill(deg == 0, 0.0), loops))
        return out

    def _inference_layer(self, i: int, x_src: Tensor, x_dst: Tensor, edge_index: Tensor,
                         n_id: Tensor) -> Tensor:
        conv, size = self.convs[i], x_dst.size(0)
        degrees = self._degrees[i]
        if degrees is None:  # no normalisation: a seed's output needs only its own in-edges
            return self._after_conv(i, conv(x_src, edge_index)[:size])
        deg_inv_sqrt, loops = (t.to(edge_index.device) for t in degrees)
        n_id = n_id.to(edge_index.device)
        src, dst = edge_index
        g_src, g_dst = n_id[src], n_id[dst]
        not_loop = (g_src != g_dst).to(deg_inv_sqrt.dtype)
        weight = deg_inv_sqrt[g_src] * deg_inv_sqrt[g_dst] * not_loop
        h = linear(conv.lin, x_src, type(self).__name__)
        out = scatter(weight.unsqueeze(-1).to(h.dtype) * h[src], dst, dim=0, dim_size=size,
                      reduce="sum")
        seeds = n_id[:size]
        loop_weight = (deg_inv_sqrt[seeds] ** 2 * loops[seeds]).unsqueeze(-1).to(h.dtype)
        out = out + loop_weight * h[:size]
        if conv.bias is not None:
            out = out + conv.bias
        return self._after_conv(i, out)
