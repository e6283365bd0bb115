"""A stack of :class:`~pyg_course.nn.GATConv` layers, the model of Veličković et al. (2018)."""

from __future__ import annotations

from typing import Any, List, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.typing import Adj
from torch_geometric.utils import scatter

from pyg_course.nn.conv.gat_conv import GATConv
from pyg_course.nn.models.gcn import sparse_dropout
from pyg_course.nn.models.stack import LayerStack, check_dropout


def attention_entropy(edge_index: Tensor, alpha: Tensor, num_nodes: int) -> Tuple[Tensor, Tensor]:
    r"""Entropy of each node's attention over its incoming edges, and that of uniform attention.

    .. math::
        H_i = -\sum_{j \in \mathcal{N}(i)} \alpha_{ij} \log \alpha_{ij}, \qquad
        H_i^{\mathrm{uniform}} = \log |\mathcal{N}(i)|

    A node whose learned entropy is close to :math:`\log |\mathcal{N}(i)|` weighs its
    neighbours (about) equally, as a GCN would; a much lower one has learned to pick some.

    Args:
        edge_index: ``(2, E)`` edges ``src -> dst`` the attention refers to.
        alpha: attention :math:`(E)` or :math:`(E, K)` (one column per head).
        num_nodes: number of target nodes.

    Returns:
        ``(entropy, uniform)``: :math:`(N)` or :math:`(N, K)` learned entropies, and the
        :math:`(N)` entropies of uniform attention; nodes without incoming edges get 0.
    """
    dst = edge_index[1]
    terms = -alpha * torch.log(alpha.clamp_min(torch.finfo(alpha.dtype).tiny))
    entropy = scatter(terms, dst, dim=0, dim_size=num_nodes, reduce="sum")
    deg = scatter(torch.ones_like(dst, dtype=alpha.dtype), dst, dim=0, dim_size=num_nodes,
                  reduce="sum")
    return entropy, deg.clamp_min(1.0).log()


class GAT(LayerStack):
    r"""The graph attention network of `"Graph Attention Networks"
    <https://arxiv.org/abs/1710.10903>`_, by default with the paper's Cora architecture:

    .. math::
        \mathbf{Z} = \mathrm{GAT}^{(K'=1)}_{\mathrm{mean}}\Big(\mathrm{drop}\big(\mathrm{ELU}
        \big(\big\Vert_{k=1}^{8} \mathrm{GAT}^{(k)}(\mathrm{drop}(\mathbf{X}))\big)\big)\Big)

    i.e. ``num_layers - 1`` hidden :class:`GATConv` layers of ``heads`` concatenated heads of
    ``hidden_channels`` units each, ELU, and one output layer whose ``output_heads`` heads are
    averaged. Dropout (0.6 in the paper) is applied to every layer's input and, inside each
    layer, to the attention coefficients. A ``torch.sparse`` feature matrix is accepted and
    dropped out on its non-zeros only (:func:`~pyg_course.nn.models.gcn.sparse_dropout`, the
    same distribution as dense dropout). The paper uses 1 output head on Cora and CiteSeer
    (8 on PubMed).

    Args:
        in_channels (int): input feature size.
        hidden_channels (int): units per head in the hidden layers.
        num_layers (int): number of :class:`GATConv` layers.
        out_channels (int, optional): output size; ``None`` keeps ``hidden_channels``.
        heads (int): heads of each hidden layer (concatenated). (default: ``8``)
        dropout (float): dropout of the layer inputs, in :math:`[0, 1]`, and of the attention
            (then in :math:`[0, 1)`). (default: ``0.6``)
        output_heads (int): heads of the output layer (averaged). (default: ``1``)
        attention_dropout (float, optional): dropout of the attention; ``None`` uses
            ``dropout``.
        **kwargs: passed to every :class:`GATConv` (e.g. ``negative_slope``, ``residual``).
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        num_layers: int,
        out_channels: Optional[int] = None,
        heads: int = 8,
        dropout: float = 0.6,
        output_heads: int = 1,
        attention_dropout: Optional[float] = None,
        **kwargs: Any,
    ):
        super().__init__(in_channels, hidden_channels, num_layers, out_channels)
        check_dropout("GAT", "dropout", dropout)
        self.heads = heads
        self.output_heads = output_heads
        self.dropout = dropout
        att_dropout = dropout if attention_dropout is None else attention_dropout
        self.convs = torch.nn.ModuleList()
        size = in_channels
        for _ in range(num_layers - 1):
            self.convs.append(GATConv(size, hidden_channels, heads=heads, concat=True,
                                      dropout=att_dropout, **kwargs))
            size = heads * hidden_channels
        self.convs.append(GATConv(size, self.out_channels, heads=output_heads, concat=False,
                                  dropout=att_dropout, **kwargs))

    def forward(self, x: Tensor, edge_index: Adj,
                return_attention_weights: bool = False
                ) -> Union[Tensor, Tuple[Tensor, List[Tuple[Tensor, Tensor]]]]:
        """Logits for every node; with ``return_attention_weights=True`` also each layer's
        ``(edge_index, alpha)``."""
        attention = []
        for i, conv in enumerate(self.convs):
            x = sparse_dropout(x, self.dropout, self.training)
            if return_attention_weights:
                x, att = conv(x, edge_index, return_attention_weights=True)
                attention.append(att)
            else:
                x = conv(x, edge_index)
            if i < self.num_layers - 1:
                x = F.elu(x)
        return (x, attention) if return_attention_weights else x

    def inference(self, loader, device: Optional[Union[str, torch.device]] = None,
                  progress: bool = False, x: Optional[Tensor] = None) -> Tensor:
        """Outputs for every node of ``loader.data``, computed layer by layer with bipartite
        ``(x_src, x_dst)`` input (exact: every neighbour is used, no sampling), in evaluation
        mode without gradients (the model's mode is restored afterwards); see
        :meth:`~pyg_course.nn.models.stack.LayerStack.layerwise_inference`.

        Args:
            loader: a ``NeighborLoader(data, num_neighbors=[-1], ...)`` over all nodes (one
                hop, every neighbour; any batch size and order, shuffled or not).
            device: where the layers run; embeddings are kept on the CPU between layers.
            progress: show a tqdm bar over layers x batches.
            x: the input features (default ``loader.data.x``), dense or ``torch.sparse``
                (gathered sparsely in the first layer).
        """
        def layer(i, x_src, x_dst, edge_index, n_id):
            out = self.convs[i]((x_src, x_dst), edge_index)
            return F.elu(out) if i < self.num_layers - 1 else out

        device = self.inference_device(device)
        with self.evaluating():
            return self.layerwise_inference(layer, loader, device, x=x, progress=progress)[-1]

    def extra_options(self) -> str:
        return f", heads={self.heads}, output_heads={self.output_heads}"
