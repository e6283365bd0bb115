"""What the conv layers share besides the input checks: reading a sparse adjacency as
``(edge_index, value, size)``, and a linear projection that multiplies ``torch.sparse``
features sparsely."""

from __future__ import annotations

from typing import Optional, Tuple

import torch
from torch import Tensor
from torch_geometric.typing import SparseTensor
from torch_geometric.utils import is_torch_sparse_tensor


def adj_to_edge_index(adj, where: str) -> Tuple[Tensor, Optional[Tensor], Tuple[int, int]]:
    """Split a transposed adjacency (``adj_t[dst, src]``, PyG's convention) given as a
    ``torch_sparse.SparseTensor`` or a ``torch.sparse`` tensor into ``(edge_index, value, size)``
    with ``edge_index[0]`` the sources and ``size = (num_src, num_dst)``."""
    if isinstance(adj, SparseTensor):
        dst, src, value = adj.coo()
        num_dst, num_src = adj.sparse_sizes()
    elif is_torch_sparse_tensor(adj):
        coo = adj.to_sparse_coo().coalesce() if adj.layout != torch.sparse_coo else adj.coalesce()
        (dst, src), value = coo.indices(), coo.values()
        num_dst, num_src = adj.size(0), adj.size(1)
        if value.dim() != 1:
            raise ValueError(f"{where}: sparse adjacency must hold scalar values, got values "
                             f"of shape {tuple(value.shape)}")
    else:
        raise TypeError(f"{where}: expected edge_index Tensor, SparseTensor or torch.sparse "
                        f"tensor, got {type(adj).__name__}")
    return torch.stack([src, dst]), value, (num_src, num_dst)


def project(x: Tensor, weight: Tensor, bias: Optional[Tensor], where: str) -> Tensor:
    """``x @ weight.T + bias``; a ``torch.sparse`` ``x`` is multiplied sparsely, touching only
    its non-zeros."""
    if not is_torch_sparse_tensor(x):
        return torch.nn.functional.linear(x, weight, bias)
    if isinstance(weight, torch.nn.parameter.UninitializedParameter):
        raise ValueError(f"{where}: sparse node features need an explicit in_channels")
    out = torch.sparse.mm(x, weight.t())
    return out if bias is None else out + bias


def linear(lin: torch.nn.Module, x: Tensor, where: str) -> Tensor:
    """``lin(x)`` for a ``Linear`` layer ``lin``; a ``torch.sparse`` ``x`` is multiplied
    sparsely (:func:`project`). Dense input goes through ``lin`` itself, so lazy
    (``in_channels=-1``) layers initialise as usual."""
    return project(x, lin.weight, lin.bias, where) if is_torch_sparse_tensor(x) else lin(x)
