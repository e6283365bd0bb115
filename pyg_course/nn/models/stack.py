"""What the stacked-layer models (GCN, GraphSAGE, GAT, DeepGNN) share: argument checks, the
layer-wise inference loop and the evaluation-mode context."""

from __future__ import annotations

import contextlib
import math
import numbers
from typing import Callable, Iterator, List, Optional, Sequence, Union

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.loader import NeighborLoader
from torch_geometric.utils import is_torch_sparse_tensor
from tqdm.auto import tqdm

from pyg_course.nn.conv.checks import check_node_features, index_rows

#: ``layer(i, x_src, x_dst, edge_index, n_id)`` -> the outputs of layer ``i`` for the batch's
#: seed nodes (activation included).
Layer = Callable[[int, Tensor, Tensor, Tensor, Tensor], Tensor]


def check_int(where: str, name: str, value, minimum: int = 1) -> int:
    """``value`` must be an integer (not a bool) ``>= minimum``; returns it as an ``int``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{where}: {name} must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"{where}: {name} must be at least {minimum} (got {value})")
    return int(value)


def check_real(where: str, name: str, value, low: float, high: float = math.inf,
               include_low: bool = True, include_high: bool = False) -> None:
    """``value`` must be a real number (not a bool) between ``low`` and ``high``, each end
    included or not; NaN is rejected."""
    if high == math.inf:
        wanted = f"be {'>=' if include_low else '>'} {low:g}"
    else:
        wanted = (f"lie in {'[' if include_low else '('}{low:g}, {high:g}"
                  f"{']' if include_high else ')'}")
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{where}: {name} must be a number and {wanted}, got {value!r}")
    above = value >= low if include_low else value > low
    below = value <= high if include_high else value < high
    if not (above and below):
        raise ValueError(f"{where}: {name} must {wanted}, got {value}")


def check_dropout(where: str, name: str, p, include_one: bool = True) -> None:
    """A dropout probability: in ``[0, 1]`` (what ``F.dropout`` accepts) or ``[0, 1)``."""
    check_real(where, name, p, 0.0, 1.0, include_high=include_one)


def check_jk(where: str, jk: Optional[str], modes: Sequence[str]) -> None:
    """``jk`` must be ``None`` or one of ``modes``, spelled exactly (lower case): PyG's
    ``JumpingKnowledge`` lower-cases its mode, but a model sizing its readout on ``jk == "cat"``
    would not, so other spellings are rejected rather than half-accepted."""
    if jk is not None and jk not in modes:
        raise ValueError(f"{where}: jk must be None or one of "
                         f"{', '.join(repr(m) for m in modes)}, got {jk!r}")


class LayerStack(torch.nn.Module):
    """Base of a model made of ``self.convs``: checks and records the sizes PyG's models
    record (``in_channels``, ``hidden_channels``, ``num_layers``, ``out_channels``, which
    defaults to ``hidden_channels``), resets every layer, runs :meth:`layerwise_inference`
    and prints as ``Name(in, out, num_layers=L, ...)`` with :meth:`extra_options` appended.

    Every size is an ``int >= 1``; ``in_channels`` may also be ``-1`` (PyG's convention: the
    lazy layers take it from the first input). ``num_layers`` is an ``int >= 1``.
    """

    #: ``torch.sparse`` features are used as they are (sparse input dropout and first product).
    supports_sparse_features = True
    #: ``out_channels=None`` means ``hidden_channels``; a model whose output size is the number
    #: of classes sets this to ``True``.
    requires_out_channels = False

    convs: torch.nn.ModuleList

    def __init__(self, in_channels: int, hidden_channels: int, num_layers: int,
                 out_channels: Optional[int]):
        super().__init__()
        name = type(self).__name__
        if not (type(in_channels) is int and in_channels == -1):  # -1: lazy, as in PyG
            in_channels = check_int(name, "in_channels (or -1 for lazy initialisation)",
                                    in_channels)
        self.in_channels = in_channels
        self.hidden_channels = check_int(name, "hidden_channels", hidden_channels)
        self.num_layers = check_int(name, "num_layers", num_layers)
        if out_channels is None:
            if self.requires_out_channels:
                raise TypeError(f"{name}: out_channels (an int >= 1) is required, got None")
            out_channels = hidden_channels
        self.out_channels = check_int(name, "out_channels", out_channels)

    def reset_parameters(self):
        for conv in self.convs:
            conv.reset_parameters()

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
        return torch.device(device) if device is not None else next(self.parameters()).device

    def layerwise_inference(self, layer: Layer, loader, device: torch.device,
                            x: Optional[Tensor] = None, progress: bool = False
                            ) -> List[Tensor]:
        """Every layer's outputs for every node, computed one layer at a time over all nodes.

        ``loader`` must be a ``NeighborLoader(data, num_neighbors=[-1], ...)``: one hop with
        every neighbour, so each batch brings its seed nodes' whole neighbourhoods and the
        result is exact, while memory holds one layer's embeddings, never a multi-hop
        subgraph. Each batch's outputs are written to the rows of its seed nodes
        (``batch.n_id[:batch.batch_size]``), so a shuffled loader or any order of
        ``input_nodes`` gives the same result; every node must be a seed of some batch.
        ``x`` (default ``loader.data.x``) may be ``torch.sparse``: the first layer gathers
        each batch's rows sparsely (:func:`~pyg_course.nn.conv.checks.index_rows`), so the
        loader's graph need not carry features. Embeddings stay on the CPU between layers.
        Call it inside :meth:`evaluating`.

        Returns:
            The ``num_layers`` output matrices (CPU), the last one being the model's output.
        """
        name = f"{type(self).__name__}.inference"
        self._check_inference_loader(loader, name)
        num_nodes = loader.data.num_nodes
        x_all = loader.data.x if x is None else x
        if x_all is None:
            raise ValueError(f"{name}: the loader's graph has no node features; pass x")
        check_node_features(x_all, self.in_channels, name)
        if x_all.size(0) != num_nodes:
            raise ValueError(f"{name}: x has {x_all.size(0)} rows but the loader's graph has "
                             f"{num_nodes} nodes")
        x_all = x_all.cpu()
        bar = tqdm(total=self.num_layers * len(loader), disable=not progress, leave=False,
                   desc=name)
        outputs: List[Tensor] = []
        for i in range(self.num_layers):
            out: Optional[Tensor] = None
            covered = torch.zeros(num_nodes, dtype=torch.bool)
            for batch in loader:
                n_id, size = batch.n_id.cpu(), batch.batch_size
                x_src = index_rows(x_all, n_id).to(device)
                x_dst = (index_rows(x_all, n_id[:size]).to(device)
                         if is_torch_sparse_tensor(x_src) else x_src[:size])
                edge_index = batch.edge_index.to(device)
                if edge_index.numel() and int(edge_index[1].max()) >= size:
                    raise ValueError(f"{name} needs a one-hop loader (num_neighbors=[-1]): "
                                     f"found edges into non-seed nodes")
                h = layer(i, x_src, x_dst, edge_index, n_id).cpu()
                if out is None:
                    out = h.new_empty((num_nodes, *h.shape[1:]))
                out[n_id[:size]] = h
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

    def extra_options(self) -> str:
        """``", key=value"`` pairs printed after ``num_layers`` (none by default)."""
        return ""

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}, "
                f"num_layers={self.num_layers}{self.extra_options()})")
