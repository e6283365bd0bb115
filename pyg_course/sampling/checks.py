"""Input checks shared by the samplers: the graph, node ids and candidate sets, each parsed in
one place so that every sampler accepts (and rejects) the same forms."""

from __future__ import annotations

from typing import Optional, Tuple

import torch
from torch import Tensor

from pyg_course.sampling.random_walk import CSRGraph
from pyg_course.utils.checks import check_int, looks_like_mask


def check_graph(edge_index: Tensor, num_nodes: Optional[int], where: str) -> Tuple[Tensor, int]:
    """A ``(2, E)`` int64 or int32 ``edge_index`` with ids in ``[0, num_nodes)``; returns it as
    int64 and ``num_nodes`` (default ``max + 1``)."""
    if not isinstance(edge_index, Tensor) or edge_index.dim() != 2 or edge_index.size(0) != 2:
        got = tuple(edge_index.shape) if isinstance(edge_index, Tensor) else type(edge_index)
        raise ValueError(f"{where}: edge_index must be a (2, E) tensor, got {got}")
    if edge_index.dtype not in (torch.long, torch.int32):
        raise ValueError(f"{where}: edge_index must be int64 (or int32), got {edge_index.dtype}")
    if num_nodes is None:
        num_nodes = int(edge_index.max()) + 1 if edge_index.numel() else 0
    num_nodes = check_int(where, "num_nodes", num_nodes, 0)
    if num_nodes < 1:
        raise ValueError(f"{where}: the graph has no nodes (pass num_nodes)")
    if edge_index.numel() and (int(edge_index.min()) < 0 or int(edge_index.max()) >= num_nodes):
        raise ValueError(f"{where}: edge_index holds node ids outside [0, {num_nodes})")
    return edge_index.long(), num_nodes


def check_csr_graph(graph: CSRGraph, num_nodes: Optional[int], where: str,
                    min_nodes: int = 1) -> int:
    """The number of nodes of ``graph`` (at least ``min_nodes``); a given ``num_nodes`` must
    agree with it."""
    if num_nodes is not None and check_int(where, "num_nodes", num_nodes, 0) != graph.num_nodes:
        raise ValueError(f"{where}: num_nodes={num_nodes} disagrees with the CSRGraph "
                         f"({graph.num_nodes} nodes)")
    if graph.num_nodes < min_nodes:
        raise ValueError(f"{where}: the graph has no nodes")
    return graph.num_nodes


def _as_tensor(value, name: str, where: str) -> Tensor:
    """``value`` (a tensor, list, tuple or NumPy array) as a tensor; empty: int64."""
    if not isinstance(value, Tensor):
        try:
            value = torch.as_tensor(value)
        except (TypeError, ValueError, RuntimeError):
            raise TypeError(f"{where}: {name} must be a tensor or a list, got "
                            f"{type(value).__name__}") from None
        if value.numel() == 0:
            value = value.long()
    return value


def node_ids(nodes, num_nodes: int, device: torch.device, where: str) -> Tensor:
    """``nodes`` (an integer tensor or list of ids in ``[0, num_nodes)``) as a flat int64 tensor
    on ``device``; floating-point or boolean values are rejected, not truncated."""
    nodes = _as_tensor(nodes, "nodes", where)
    if nodes.is_floating_point() or nodes.is_complex() or nodes.dtype == torch.bool:
        raise TypeError(f"{where}: nodes must be integer node ids, got {nodes.dtype}")
    nodes = nodes.to(device).long().view(-1)
    if nodes.numel() and (int(nodes.min()) < 0 or int(nodes.max()) >= num_nodes):
        raise ValueError(f"{where}: nodes hold ids outside [0, {num_nodes})")
    return nodes


def candidate_pool(candidates, num_nodes: int, device: torch.device, where: str) -> Tensor:
    """The candidate set as a sorted int64 tensor of distinct node ids on ``device``.

    ``candidates`` is ``None`` (every node), a ``(|V|,)`` boolean mask, or 1-D integer node
    ids (tensor or list). Rejected, as they would be misread: floating-point values (not
    truncated), ``uint8`` (mask or ids?), an integer 0/1 vector of length ``|V| > 2`` (a mask
    cast to integers, not the ids ``{0, 1}``), and tensors of more than one dimension."""
    if candidates is None:
        return torch.arange(num_nodes, device=device)
    candidates = _as_tensor(candidates, "candidates", where)
    if candidates.dim() != 1:
        raise ValueError(f"{where}: candidates must be 1-D (node ids or a ({num_nodes},) "
                         f"boolean mask), got shape {tuple(candidates.shape)}")
    if candidates.dtype == torch.uint8:
        raise TypeError(f"{where}: uint8 candidates are ambiguous: pass a bool mask "
                        f"(candidates.bool()) or int64 node ids")
    if candidates.is_floating_point() or candidates.is_complex():
        raise TypeError(f"{where}: candidates must be integer node ids or a boolean mask, "
                        f"got {candidates.dtype}")
    candidates = candidates.to(device)
    if candidates.dtype == torch.bool:
        if candidates.numel() != num_nodes:
            raise ValueError(f"{where}: a boolean candidates mask must have {num_nodes} entries, "
                             f"got {candidates.numel()}")
        candidates = candidates.nonzero().view(-1)
    elif looks_like_mask(candidates, num_nodes):
        raise ValueError(f"{where}: candidates of length {num_nodes} holding only 0 and 1 look "
                         f"like a mask: pass a bool mask (candidates.bool()) or node ids")
    candidates = torch.unique(candidates.long())
    if candidates.numel() == 0:
        raise ValueError(f"{where}: the candidate set is empty")
    if int(candidates[0]) < 0 or int(candidates[-1]) >= num_nodes:
        raise ValueError(f"{where}: candidates hold node ids outside [0, {num_nodes})")
    return candidates
