"""Layer-wise inference over a one-hop loader, shared by the models that offer ``inference``."""

from __future__ import annotations

from typing import Callable, List, Optional, Union

import torch
from torch import Tensor
from torch_geometric.utils import is_torch_sparse_tensor
from tqdm.auto import tqdm

from pyg_course.nn.conv.checks import index_rows

#: ``layer(i, x_src, x_dst, edge_index, n_id)`` -> the outputs of layer ``i`` for the batch's
#: seed nodes (activation included).
Layer = Callable[[int, Tensor, Tensor, Tensor, Tensor], Tensor]


@torch.no_grad()
def layerwise_inference(layer: Layer, num_layers: int, loader, device: torch.device,
                        x: Optional[Tensor] = None, progress: bool = False,
                        name: str = "inference") -> List[Tensor]:
    """Every layer's outputs for every node, computed one layer at a time over all nodes.

    Each batch of ``loader`` (a ``NeighborLoader(..., num_neighbors=[-1], shuffle=False)``: one
    hop, every neighbour) brings its seed nodes' whole neighbourhoods, so the result is exact
    and memory holds one layer's embeddings, never a multi-hop subgraph. ``x`` (default
    ``loader.data.x``) may be ``torch.sparse``: the first layer gathers each batch's rows
    sparsely (:func:`~pyg_course.nn.conv.checks.index_rows`), so the loader's graph need not
    carry features. Embeddings stay on the CPU between layers.

    Returns:
        The ``num_layers`` output matrices (CPU), the last one being the model's output.
    """
    x_all = loader.data.x if x is None else x
    if x_all is None:
        raise ValueError(f"{name}: the loader's graph has no node features; pass x")
    x_all = x_all.cpu()
    bar = tqdm(total=num_layers * len(loader), disable=not progress, leave=False, desc=name)
    outputs: List[Tensor] = []
    for i in range(num_layers):
        outs = []
        for batch in loader:
            n_id, size = batch.n_id.cpu(), batch.batch_size
            x_src = index_rows(x_all, n_id).to(device)
            x_dst = (index_rows(x_all, n_id[:size]).to(device) if is_torch_sparse_tensor(x_src)
                     else x_src[:size])
            edge_index = batch.edge_index.to(device)
            if edge_index.numel() and int(edge_index[1].max()) >= size:
                raise ValueError(f"{name} needs a one-hop loader (num_neighbors=[-1]): found "
                                 f"edges into non-seed nodes")
            outs.append(layer(i, x_src, x_dst, edge_index, n_id).cpu())
            bar.update(1)
        x_all = torch.cat(outs, dim=0)
        outputs.append(x_all)
    bar.close()
    return outputs


def inference_device(module: torch.nn.Module,
                     device: Optional[Union[str, torch.device]]) -> torch.device:
    """``device``, or the device of ``module``'s parameters."""
    return torch.device(device) if device is not None else next(module.parameters()).device
