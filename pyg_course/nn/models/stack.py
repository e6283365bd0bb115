"""What the stacked-layer models (GCN, GraphSAGE, GAT, DeepGNN) share: argument checks, the
layer-wise inference loop, the evaluation-mode context, and :class:`BasicStack`, PyG's
``BasicGNN`` built from our conv layers."""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.loader import NeighborLoader
from torch_geometric.nn.models.basic_gnn import BasicGNN
from torch_geometric.typing import Adj, OptTensor, SparseTensor
from torch_geometric.utils import is_torch_sparse_tensor
from tqdm.auto import tqdm

from pyg_course.utils.checks import check_dropout, check_int, check_node_features
from pyg_course.utils.sparse import index_rows, sparse_dropout

#: ``layer(i, x_src, x_dst, edge_index, n_id)`` -> the outputs of layer ``i`` for the batch's
#: seed nodes (activation included).
Layer = Callable[[int, Tensor, Tensor, Tensor, Tensor], Tensor]


#: The ``jk`` modes of PyG's ``BasicGNN`` (and of :class:`BasicStack`).
JK_MODES = ("last", "cat", "max", "lstm")


def check_jk(where: str, jk: Optional[str], modes: Sequence[str]) -> None:
    """``jk`` must be ``None`` or one of ``modes``, spelled exactly (lower case): PyG's
    ``JumpingKnowledge`` lower-cases its mode, but a model sizing its readout on ``jk == "cat"``
    would not, so other spellings are rejected rather than half-accepted."""
    if jk is not None and jk not in modes:
        raise ValueError(f"{where}: jk must be None or one of "
                         f"{', '.join(repr(m) for m in modes)}, got {jk!r}")


def check_sizes(where: str, in_channels, hidden_channels, num_layers, out_channels,
                bipartite: bool = False) -> None:
    """The sizes of a stacked model: ``in_channels`` an ``int >= 1`` or ``-1`` (PyG's lazy
    initialisation; with ``bipartite`` also a pair of them, source and target sizes),
    ``hidden_channels`` and ``num_layers`` ``int >= 1``, ``out_channels`` ``None`` or an
    ``int >= 1``."""
    wanted = "in_channels (or -1 for lazy initialisation)"
    if bipartite and isinstance(in_channels, (tuple, list)) and len(in_channels) == 2:
        sizes = in_channels
    else:
        sizes = (in_channels,)
    for size in sizes:
        if not (type(size) is int and size == -1):
            check_int(where, wanted, size)
    check_int(where, "hidden_channels", hidden_channels)
    check_int(where, "num_layers", num_layers)
    if out_channels is not None:
        check_int(where, "out_channels", out_channels)


#: ``layer(i, x_src, x_dst, edge_index, n_id)`` -> the outputs of layer ``i`` for the batch's
#: seed nodes (activation included).
Layer = Callable[[int, Tensor, Tensor, Tensor, Tensor], Tensor]


class LayerwiseInference:
    """What every stacked model shares: ``torch.sparse`` input features, the evaluation-mode
    context and the exact layer-wise inference loop over a one-hop ``NeighborLoader``."""

    #: ``torch.sparse`` features are used as they are (sparse input dropout and first product).
    supports_sparse_features = True

    @contextlib.contextmanager
    def evaluating(self) -> Iterator[None]:
        """Evaluation mode and ``torch.no_grad()`` inside the block; every submodule's mode
        is restored afterwards, also when the block raises."""
        modes = [(module, module.training) for module in self.modules()]
        self.eval()
        try:
            with torch.no_grad():
                yield
        finally:
            for module, training in modes:
                module.training = training

    def inference_device(self, device: Optional[Union[str, torch.device]]) -> torch.device:
        """``device``, or the device of the model's parameters."""
        if device is not None:
            return torch.device(device)
        param = next(self.parameters(), None)
        return param.device if param is not None else torch.device("cpu")

    def layerwise_inference(self, layer: Layer, loader, device: torch.device,
                            x: Optional[Tensor] = None, progress: bool = False,
                            embedding_device: Union[str, torch.device] = "cpu",
                            cache: bool = False) -> List[Tensor]:
        """Every layer's outputs for every node, computed one layer at a time over all nodes.

        ``loader`` must be a ``NeighborLoader(data, num_neighbors=[-1], ...)``: one hop with
        every neighbour, so each batch brings its seed nodes' whole neighbourhoods and the
        result is exact, while memory holds one layer's embeddings, never a multi-hop
        subgraph. Each batch's outputs are written to the rows of its seed nodes
        (``batch.n_id[:batch.batch_size]``), so a shuffled loader or any order of
        ``input_nodes`` gives the same result; every node must be a seed of some batch.
        ``x`` (default ``loader.data.x``) may be ``torch.sparse``: the first layer gathers
        each batch's rows sparsely (:func:`~pyg_course.utils.sparse.index_rows`), so the
        loader's graph need not carry features. Embeddings stay on ``embedding_device``
        between layers; ``cache=True`` keeps the loader's batches (sampled once) for every
        layer. Call it inside :meth:`evaluating`.

        Returns:
            The ``num_layers`` output matrices (on ``embedding_device``), the last one being
            the last layer's output.
        """
        name = f"{type(self).__name__}.inference"
        self._check_inference_loader(loader, name)
        num_nodes = loader.data.num_nodes
        x_all = loader.data.x if x is None else x
        if x_all is None:
            raise ValueError(f"{name}: the loader's graph has no node features; pass x")
        in_channels = self.in_channels
        if isinstance(in_channels, (tuple, list)):
            in_channels = in_channels[0]
        check_node_features(x_all, in_channels, name)
        if x_all.size(0) != num_nodes:
            raise ValueError(f"{name}: x has {x_all.size(0)} rows but the loader's graph has "
                             f"{num_nodes} nodes")
        embedding_device = torch.device(embedding_device)
        x_all = x_all.to(embedding_device)
        batches = list(loader) if cache else loader
        bar = tqdm(total=self.num_layers * len(loader), disable=not progress, leave=False,
                   desc=name)
        outputs: List[Tensor] = []
        for i in range(self.num_layers):
            out: Optional[Tensor] = None
            covered = torch.zeros(num_nodes, dtype=torch.bool)
            for batch in batches:
                n_id, size = batch.n_id.cpu(), batch.batch_size
                x_src = index_rows(x_all, n_id.to(embedding_device)).to(device)
                x_dst = (index_rows(x_all, n_id[:size].to(embedding_device)).to(device)
                         if is_torch_sparse_tensor(x_src) else x_src[:size])
                edge_index = self._batch_edge_index(batch).to(device)
                if edge_index.numel() and int(edge_index[1].max()) >= size:
                    raise ValueError(f"{name} needs a one-hop loader (num_neighbors=[-1]): "
                                     f"found edges into non-seed nodes")
                h = layer(i, x_src, x_dst, edge_index, n_id).to(embedding_device)
                if out is None:
                    out = h.new_empty((num_nodes, *h.shape[1:]))
                out[n_id[:size].to(embedding_device)] = h
                covered[n_id[:size]] = True
                bar.update(1)
            missing = num_nodes - int(covered.sum())
            if out is None or missing:
                raise ValueError(f"{name} needs a loader over all nodes: {missing} of "
                                 f"{num_nodes} nodes were not in any batch (leave input_nodes "
                                 f"unset)")
            x_all = out
            outputs.append(out)
        bar.close()
        return outputs

    @staticmethod
    def _batch_edge_index(batch) -> Tensor:
        """A batch's ``(2, E)`` edges ``source -> target``, also from a ``SparseTensor``
        ``adj_t`` (a loader over a graph transformed by ``ToSparseTensor``)."""
        adj_t = getattr(batch, "adj_t", None)
        if isinstance(adj_t, SparseTensor):
            row, col, _ = adj_t.coo()
            return torch.stack([col, row])
        return batch.edge_index

    @staticmethod
    def _check_inference_loader(loader, name: str) -> None:
        wanted = ("pass torch_geometric.loader.NeighborLoader(data, num_neighbors=[-1], "
                  "batch_size=...)")
        if not isinstance(loader, NeighborLoader):
            raise TypeError(f"{name} needs a NeighborLoader over a homogeneous graph: "
                            f"{wanted}, got {type(loader).__name__}")
        if not isinstance(loader.data, Data):
            raise TypeError(f"{name} needs a NeighborLoader over a homogeneous Data graph: "
                            f"{wanted}, got one over {type(loader.data).__name__}")
        sampler = loader.node_sampler
        if getattr(sampler, "is_temporal", False):
            raise ValueError(f"{name} needs full neighbourhoods: a temporal loader (time_attr) "
                             f"drops neighbours; {wanted}")
        num_neighbors = list(sampler.num_neighbors.values)
        if any(k != -1 for k in num_neighbors):
            raise ValueError(f"{name} needs full neighbourhoods (exact, not sampled): every "
                             f"entry of num_neighbors must be -1, got {num_neighbors}")
        if len(num_neighbors) != 1:
            raise ValueError(f"{name} needs a one-hop loader (num_neighbors=[-1]), got "
                             f"num_neighbors={num_neighbors}")


class LayerStack(LayerwiseInference, torch.nn.Module):
    """Base of a model made of ``self.convs`` that is not one of PyG's ``BasicGNN`` models
    (:class:`~pyg_course.nn.models.DeepGNN`): checks and records the sizes PyG's models record
    (``in_channels``, ``hidden_channels``, ``num_layers``, ``out_channels``, which defaults
    to ``hidden_channels``), resets every layer and prints as ``Name(in, out, num_layers=L,
    ...)`` with :meth:`extra_options` appended.

    Every size is an ``int >= 1``; ``in_channels`` may also be ``-1`` (PyG's convention: the
    lazy layers take it from the first input). ``num_layers`` is an ``int >= 1``.
    """

    #: ``out_channels=None`` means ``hidden_channels``; a model whose output size is the number
    #: of classes sets this to ``True``.
    requires_out_channels = False

    convs: torch.nn.ModuleList

    def __init__(self, in_channels: int, hidden_channels: int, num_layers: int,
                 out_channels: Optional[int]):
        super().__init__()
        name = type(self).__name__
        check_sizes(name, in_channels, hidden_channels, num_layers, out_channels)
        if out_channels is None:
            if self.requires_out_channels:
                raise TypeError(f"{name}: out_channels (an int >= 1) is required, got None")
            out_channels = hidden_channels
        self.in_channels = in_channels
        self.hidden_channels = hidden_channels
        self.num_layers = num_layers
        self.out_channels = out_channels

    def reset_parameters(self):
        for conv in self.convs:
            conv.reset_parameters()

    def extra_options(self) -> str:
        """``", key=value"`` pairs printed after ``num_layers`` (none by default)."""
        return ""

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}, "
                f"num_layers={self.num_layers}{self.extra_options()})")


class BasicStack(LayerwiseInference, BasicGNN):
    r"""PyG's :class:`~torch_geometric.nn.models.basic_gnn.BasicGNN` built from our conv
    layers: ``num_layers`` convolutions, each but the last (every one with ``jk``) followed by
    activation, normalisation and dropout,

    .. math::
        \mathbf{H}^{(l+1)} = \mathrm{drop}\big(\sigma(\mathrm{norm}(\mathrm{conv}^{(l)}(
        \mathbf{H}^{(l)}, \mathbf{A})))\big), \qquad \mathbf{H}^{(0)} =
        \mathrm{drop}_{\mathrm{in}}(\mathbf{X}),

    then, with ``jk``, a jumping-knowledge combination of all :math:`\mathbf{H}^{(l)}` and a
    linear map to ``out_channels``. Signature, defaults, module names, state dict and ``repr``
    are PyG's, so a PyG model's state dict loads into the model built with the same call.
    Keyword-only extras, off by default: ``input_dropout`` (dropout on the input features,
    on the non-zeros only of a ``torch.sparse`` matrix, :func:`sparse_dropout`).

    Subclasses implement ``init_conv`` (PyG's hook) and :meth:`_conv` (one layer's call).
    """

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
        **kwargs: Any,
    ):
        name = type(self).__name__
        check_sizes(name, in_channels, hidden_channels, num_layers, out_channels,
                    bipartite=self.supports_bipartite)
        check_dropout(name, "dropout", dropout)
        check_dropout(name, "input_dropout", input_dropout)
        check_jk(name, jk, JK_MODES)
        super().__init__(in_channels, hidden_channels, num_layers, out_channels, dropout,
                         act, act_first, act_kwargs, norm, norm_kwargs, jk, **kwargs)
        self.input_dropout = input_dropout

    #: ``in_channels`` may be a ``(source, target)`` pair (the conv takes bipartite input).
    supports_bipartite = True

    def _conv(self, i: int, x, edge_index: Adj, edge_weight: OptTensor, edge_attr: OptTensor,
              n_id: OptTensor, attention: Optional[list]) -> Tensor:
        """Layer ``i``'s convolution."""
        raise NotImplementedError

    def _after_conv(self, i: int, x: Tensor, batch: OptTensor = None,
                    batch_size: Optional[int] = None) -> Tensor:
        """Activation and normalisation (in PyG's order) after layer ``i``; none after the last
        layer without ``jk``. Dropout is not included."""
        if i == self.num_layers - 1 and self.jk_mode is None:
            return x
        if self.act is not None and self.act_first:
            x = self.act(x)
        norm = self.norms[i]
        x = norm(x, batch, batch_size) if self.supports_norm_batch else norm(x)
        if self.act is not None and not self.act_first:
            x = self.act(x)
        return x

    def _readout(self, xs: List[Tensor]) -> Tensor:
        """The model's output from every layer's output: the last one, or with ``jk`` their
        jumping-knowledge combination mapped by ``lin``."""
        x = self.jk(xs) if hasattr(self, "jk") else xs[-1]
        return self.lin(x) if hasattr(self, "lin") else x

    def _forward(self, x: Tensor, edge_index: Adj, edge_weight: OptTensor = None,
                 edge_attr: OptTensor = None, batch: OptTensor = None,
                 batch_size: Optional[int] = None,
                 num_sampled_nodes_per_hop: Optional[List[int]] = None,
                 num_sampled_edges_per_hop: Optional[List[int]] = None,
                 n_id: OptTensor = None, attention: Optional[list] = None) -> Tensor:
        if (num_sampled_nodes_per_hop is not None and isinstance(edge_weight, Tensor)
                and isinstance(edge_attr, Tensor)):
            raise NotImplementedError(f"{type(self).__name__}: trimming (num_sampled_nodes_"
                                      f"per_hop) supports edge_weight or edge_attr, not both")
        if self.input_dropout > 0:
            x = sparse_dropout(x, self.input_dropout, self.training)
        xs: List[Tensor] = []
        for i in range(self.num_layers):
            if num_sampled_nodes_per_hop is not None:
                x, edge_index, value = self._trim(
                    i, num_sampled_nodes_per_hop, num_sampled_edges_per_hop, x, edge_index,
                    edge_weight if edge_weight is not None else edge_attr)
                if edge_weight is not None:
                    edge_weight = value
                else:
                    edge_attr = value
                if n_id is not None:
                    n_id = n_id[:x.size(0)]
            x = self._conv(i, x, edge_index, edge_weight, edge_attr, n_id, attention)
            if i < self.num_layers - 1 or self.jk_mode is not None:
                x = self.dropout(self._after_conv(i, x, batch, batch_size))
            xs.append(x)
        return self._readout(xs)

    def inference_per_layer(self, layer: int, x: Tensor, edge_index: Adj,
                            batch_size: int) -> Tensor:
        """Layer ``layer`` (activation and normalisation included, no dropout) for the first
        ``batch_size`` nodes of a one-hop subgraph (PyG's hook); with ``jk='last'`` the last
        layer includes ``lin``. Use :meth:`inference` for all nodes of a graph."""
        with torch.no_grad():
            x = self._conv(layer, x, edge_index, None, None, None, None)[:batch_size]
            x = self._after_conv(layer, x)
            if layer == self.num_layers - 1 and self.jk_mode == "last":
                x = self.lin(x)
            return x

    def _check_per_node_norm(self, name: str) -> None:
        """Layer-wise inference computes each node on its own one-hop batch: a normalisation
        over a whole graph (PyG's ``LayerNorm`` in ``'graph'`` mode, ``GraphNorm``, ...)
        cannot be reproduced batch by batch."""
        norm = self.norms[0]
        per_node = (not self.supports_norm_batch or getattr(norm, "mode", None) == "node")
        if not per_node:
            raise ValueError(f"{name}: norm {type(norm).__name__} normalises over a whole graph, "
                             f"which layer-wise inference over one-hop batches cannot reproduce "
                             f"exactly; call the model on the whole graph instead")

    def _inference_layer(self, i: int, x_src: Tensor, x_dst: Tensor, edge_index: Tensor,
                         n_id: Tensor) -> Tensor:
        return self._after_conv(i, self._conv(i, (x_src, x_dst), edge_index, None, None,
                                              n_id.to(edge_index.device), None))

    def inference(self, loader: NeighborLoader,
                  device: Optional[Union[str, torch.device]] = None,
                  embedding_device: Union[str, torch.device] = "cpu",
                  progress_bar: bool = False, cache: bool = False, *,
                  progress: bool = False, x: Optional[Tensor] = None) -> Tensor:
        """Outputs for every node of ``loader.data``, computed layer by layer with full
        neighbourhoods, in evaluation mode without gradients (the model's mode is restored
        afterwards): layer :math:`l` is computed for every node in batches of one-hop
        neighbourhoods before layer :math:`l+1` starts, so memory holds one layer's
        embeddings and one batch's neighbourhood, never a multi-hop subgraph. The result equals
        the full-graph :meth:`forward` in evaluation mode, for every ``jk`` mode.

        Args:
            loader: a ``NeighborLoader(data, num_neighbors=[-1], ...)`` over all nodes (one
                hop, every neighbour; any batch size and order, shuffled or not).
            device: where the layers run (default: the model's device).
            embedding_device: where the embeddings are kept between layers.
                (default: ``"cpu"``)
            progress_bar: show a tqdm bar over layers x batches. (default: ``False``)
            cache: sample the loader's batches once and reuse them in every layer.
                (default: ``False``)
            progress: same as ``progress_bar``.
            x: the input features (default ``loader.data.x``), dense or ``torch.sparse``:
                sparse features stay sparse in the first layer, whose batches gather their
                rows (so the loader's graph may carry no features at all).

        Returns:
            ``(num_nodes, out_channels)`` tensor on ``embedding_device``.
        """
        name = f"{type(self).__name__}.inference"
        self._check_per_node_norm(name)
        device = self.inference_device(device)
        with self.evaluating():
            xs = self.layerwise_inference(self._inference_layer, loader, device, x=x,
                                          progress=progress or progress_bar,
                                          embedding_device=embedding_device, cache=cache)
            if self.jk_mode is None:
                return xs[-1]
            return self._readout([h.to(device) for h in xs]).to(embedding_device)
