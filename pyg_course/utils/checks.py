"""Argument checks shared by every floor of the package, raised as ``TypeError`` /
``ValueError`` / ``IndexError`` naming the caller and the argument: a number's type and range,
a graph's ``edge_index``, edge weights and node features, and the rule that tells an integer
0/1 vector (a mask in disguise) from node ids."""

from __future__ import annotations

import math
import numbers
from typing import Optional

import torch
from torch import Tensor
from torch.utils.weak import WeakIdKeyDictionary


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


def looks_like_mask(values, n: int) -> bool:
    """True for an integer vector of length ``n > 2`` that holds only 0 and 1 (a tensor or a
    NumPy array): a mask cast to integers, which read as node ids would select nodes 0 and 1
    only. Callers that take either a bool mask or node ids refuse such a vector."""
    return (n > 2 and tuple(values.shape) == (n,)
            and bool(((values == 0) | (values == 1)).all()))


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


def tensor_version(t: Tensor) -> Optional[int]:
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
    version = tensor_version(edge_index)
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
