"""Input checks shared by the conv layers: clear errors instead of silently wrong numbers."""

from __future__ import annotations

from typing import Optional, Tuple

import torch
from torch import Tensor
from torch.utils.weak import WeakIdKeyDictionary
from torch_geometric.typing import SparseTensor
from torch_geometric.utils import is_torch_sparse_tensor

from pyg_course.utils.sparse import csr_tensor


def check_node_features(x: Tensor, in_channels: int, where: str) -> None:
    """``x`` must be a 2-D floating tensor (dense or torch.sparse) with ``in_channels`` columns."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{where}: node features must be a Tensor, got {type(x).__name__}")
    if x.dim() != 2:
        raise ValueError(f"{where}: node features must have shape (num_nodes, {in_channels}), "
                         f"got {tuple(x.shape)}")
    if not torch.is_floating_point(x):
        raise TypeError(f"{where}: node features must be floating point, got {x.dtype}")
    if in_channels > 0 and x.size(1) != in_channels:
        raise ValueError(f"{where}: expected {in_channels} input channels, got node features of "
                         f"shape {tuple(x.shape)}")


#: Index ranges of the edge_index tensors already checked: tensor -> (version, max source,
#: max target). Keyed by identity (a tensor's ``==`` is elementwise) and held weakly, so a
#: graph that is dropped leaves the cache with it.
_CHECKED_EDGE_INDEX: WeakIdKeyDictionary = WeakIdKeyDictionary()


def compiling() -> bool:
    """True while ``torch.compile`` traces the caller: input checks step aside then (they
    would synchronise with the device and break the graph); eager calls check as usual."""
    return torch.compiler.is_compiling()


def _version(t: Tensor) -> Optional[int]:
    """``t._version``, or ``None`` for an inference tensor (which has no version counter)."""
    try:
        return t._version
    except RuntimeError:
        return None


def check_edge_index(edge_index: Tensor, num_src: int, num_dst: int, where: str,
                     hint: str = "") -> None:
    """``edge_index`` must be a ``(2, E)`` integer tensor with sources in ``[0, num_src)`` and
    targets in ``[0, num_dst)``; ``hint`` is appended to the out-of-range message.

    The range is read from the device once per graph: the largest source and target index are
    remembered for the tensor (until it is modified in place), so a graph checked before is
    compared with ``num_src``/``num_dst`` as plain integers, without a device synchronisation,
    by every layer and every later call. Skipped while ``torch.compile`` traces."""
    if compiling():
        return
    if edge_index.dim() != 2 or edge_index.size(0) != 2:
        raise ValueError(f"{where}: edge_index must have shape (2, num_edges), "
                         f"got {tuple(edge_index.shape)}")
    if edge_index.dtype not in (torch.long, torch.int32):
        raise TypeError(f"{where}: edge_index must be torch.long (or int32), "
                        f"got {edge_index.dtype}")
    if edge_index.numel() == 0:
        return
    version = _version(edge_index)
    seen = _CHECKED_EDGE_INDEX.get(edge_index)
    if seen is None or version is None or seen[0] != version:
        lo, hi = edge_index.aminmax(dim=1)
        lo, hi = lo.tolist(), hi.tolist()
        if min(lo) < 0:
            raise IndexError(f"{where}: edge_index contains a negative node index ({min(lo)})")
        seen = (version, hi[0], hi[1])
        if version is not None:
            _CHECKED_EDGE_INDEX[edge_index] = seen
    if seen[1] >= num_src:
        raise IndexError(f"{where}: edge_index has source node {seen[1]} but there are only "
                         f"{num_src} source nodes (valid indices 0..{num_src - 1}){hint}")
    if seen[2] >= num_dst:
        raise IndexError(f"{where}: edge_index has target node {seen[2]} but there are only "
                         f"{num_dst} target nodes (valid indices 0..{num_dst - 1}){hint}")


def check_edge_weight(edge_weight: Optional[Tensor], num_edges: int, where: str) -> None:
    """``edge_weight`` must be ``None`` or a finite 1-D floating tensor of length ``num_edges``."""
    if edge_weight is None:
        return
    if edge_weight.dim() != 1 or edge_weight.numel() != num_edges:
        raise ValueError(f"{where}: edge_weight must have shape ({num_edges},) to match "
                         f"edge_index, got {tuple(edge_weight.shape)}")
    if not torch.is_floating_point(edge_weight):
        raise TypeError(f"{where}: edge_weight must be floating point, got {edge_weight.dtype}")


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


def index_rows(x: Tensor, index: Tensor) -> Tensor:
    """``x[index]`` for a dense, COO or CSR ``x`` (a mini-batch's features); sparse ``x``
    stays sparse, in its layout, so that a mini-batch of bag-of-words rows is gathered, dropped
    out and multiplied at the cost of its non-zeros. (``torch.index_select`` has no CSR kernel,
    and ``NeighborLoader`` cannot slice a CSR matrix, which is why the training loop gathers
    sparse features itself.)"""
    index = index.to(device=x.device, dtype=torch.long)
    if not is_torch_sparse_tensor(x):
        return x.index_select(0, index)
    if index.numel() and (int(index.min()) < 0 or int(index.max()) >= x.size(0)):
        raise IndexError(f"index_rows: row index out of range [0, {x.size(0)}) "
                         f"(min {int(index.min())}, max {int(index.max())})")
    if x.layout != torch.sparse_csr:
        return x.index_select(0, index)
    crow, col, val = x.crow_indices(), x.col_indices(), x.values()
    start = crow[index]
    count = crow[index + 1] - start
    new_crow = torch.zeros(index.numel() + 1, dtype=crow.dtype, device=crow.device)
    torch.cumsum(count, 0, out=new_crow[1:])
    nnz = int(new_crow[-1])
    # Position of every kept entry: its row's start in x plus its offset within the row.
    pos = (torch.repeat_interleave(start - new_crow[:-1], count, output_size=nnz)
           + torch.arange(nnz, dtype=crow.dtype, device=crow.device))
    # Rows of a valid CSR tensor stay valid: no invariant check needed.
    return csr_tensor(new_crow, col[pos], val[pos], (index.numel(), x.size(1)))
