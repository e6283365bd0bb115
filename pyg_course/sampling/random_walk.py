r"""Random walks in pure torch, vectorised over all walks, on the graph's device.

A graph is turned once into CSR form (:class:`CSRGraph`); every step of every walk is then a
handful of gathers: pick a uniform random slot in the current node's neighbour segment. The
node2vec bias (`Grover & Leskovec, 2016 <https://arxiv.org/abs/1607.00653>`_) is added by
rejection sampling, as in ``torch_cluster``: propose a uniform neighbour :math:`x` of the
current node :math:`v` (reached from :math:`t`) and accept it with probability
:math:`\alpha(t, x) / \max(1/p, 1, 1/q)` where

.. math::
    \alpha(t, x) = \begin{cases} 1/p & x = t \\ 1 & (t, x) \in E \\ 1/q & \text{otherwise,}
    \end{cases}

which draws :math:`x` with probability proportional to :math:`\alpha(t, x)`, exactly the
second-order transition of node2vec, without ever materialising per-edge weights.
"""

from __future__ import annotations

from typing import Optional, Union

import torch
from torch import Tensor

from pyg_course.utils.checks import check_edge_index, check_int


class CSRGraph:
    r"""A directed graph in compressed sparse row form, built once and reused by every call of
    :func:`random_walk` (so repeated calls do not sort the edges again).

    Edges are sorted by ``(source, target)``: ``col[rowptr[v]:rowptr[v + 1]]`` are the
    out-neighbours of ``v`` in increasing order (duplicates kept, so a duplicated edge is
    twice as likely to be followed). For an undirected graph pass both directions.

    Args:
        edge_index (Tensor): ``(2, |E|)`` integer tensor, ``edge_index[0]`` the sources.
        num_nodes (int, optional): number of nodes (an ``int``); default
            ``edge_index.max() + 1``.

    Attributes:
        rowptr (Tensor): ``(|V| + 1,)`` offsets into ``col``.
        col (Tensor): ``(|E|,)`` targets, sorted within each row.
        deg (Tensor): ``(|V|,)`` out-degrees.
        num_nodes (int): ``|V|``.
    """

    def __init__(self, edge_index: Tensor, num_nodes: Optional[int] = None):
        if not isinstance(edge_index, Tensor):
            raise TypeError(f"CSRGraph: edge_index must be a Tensor, got "
                            f"{type(edge_index).__name__}")
        if num_nodes is None:
            if edge_index.dim() == 2 and edge_index.numel() > 0:
                num_nodes = int(edge_index.max()) + 1
            else:
                num_nodes = 0
        num_nodes = check_int("CSRGraph", "num_nodes", num_nodes, 0)
        check_edge_index(edge_index, num_nodes, num_nodes, "CSRGraph", hint="; pass num_nodes")
        edge_index = edge_index.long()
        # One sort of the combined key orders by source, then target.
        key = edge_index[0] * max(num_nodes, 1) + edge_index[1]
        key = key.sort().values
        row = torch.div(key, max(num_nodes, 1), rounding_mode="floor")
        self.num_nodes = num_nodes
        self.col = key - row * max(num_nodes, 1)
        self.deg = torch.bincount(row, minlength=num_nodes)
        self.rowptr = torch.zeros(num_nodes + 1, dtype=torch.long, device=key.device)
        torch.cumsum(self.deg, 0, out=self.rowptr[1:])
        self._key = key

    @classmethod
    def from_data(cls, data) -> CSRGraph:
        """Build from a PyG ``Data`` (its ``edge_index`` and ``num_nodes``)."""
        return cls(data.edge_index, data.num_nodes)

    @property
    def num_edges(self) -> int:
        return int(self.col.numel())

    @property
    def device(self) -> torch.device:
        return self.col.device

    def to(self, device: Union[str, torch.device]) -> CSRGraph:
        """A copy on ``device`` (or ``self`` if already there)."""
        device = torch.device(device)
        if self.col.device == device:
            return self
        out = CSRGraph.__new__(CSRGraph)
        out.num_nodes = self.num_nodes
        out.col, out.deg = self.col.to(device), self.deg.to(device)
        out.rowptr, out._key = self.rowptr.to(device), self._key.to(device)
        return out

    def has_edge(self, src: Tensor, dst: Tensor) -> Tensor:
        """Boolean tensor: is ``(src[i], dst[i])`` an edge? Binary search, vectorised (``src``
        and ``dst`` broadcast). Ids outside ``[0, num_nodes)`` are no node's: ``False``."""
        for name, t in (("src", src), ("dst", dst)):
            if not isinstance(t, Tensor) or t.is_floating_point() or t.is_complex() \
                    or t.dtype == torch.bool:
                got = t.dtype if isinstance(t, Tensor) else type(t).__name__
                raise TypeError(f"CSRGraph.has_edge: {name} must be an integer tensor, got {got}")
        shape = torch.broadcast_shapes(src.shape, dst.shape)
        if self.num_edges == 0:
            return torch.zeros(shape, dtype=torch.bool, device=src.device)
        n = self.num_nodes
        # Out-of-range ids would alias a real edge's key src * n + dst: mask them out.
        inside = (src >= 0) & (src < n) & (dst >= 0) & (dst < n)
        key = src.long() * n + dst.long()
        pos = torch.searchsorted(self._key, key).clamp_(max=self.num_edges - 1)
        return (self._key[pos] == key) & inside

    def __repr__(self) -> str:
        return f"CSRGraph(num_nodes={self.num_nodes}, num_edges={self.num_edges})"


def _uniform_neighbor(graph: CSRGraph, cur: Tensor, generator) -> Tensor:
    """One uniform out-neighbour of every node in ``cur``; nodes without out-edges stay."""
    r = torch.rand(cur.shape, generator=generator, device=cur.device)
    if graph.num_edges == 0:
        return cur.clone()
    deg = graph.deg[cur]
    offset = torch.minimum((r * deg).long(), (deg - 1).clamp_(min=0))
    idx = (graph.rowptr[cur] + offset).clamp_(max=graph.num_edges - 1)
    return torch.where(deg > 0, graph.col[idx], cur)


def _biased_neighbor(graph: CSRGraph, prev: Tensor, cur: Tensor, p: float, q: float,
                     generator) -> Tensor:
    """node2vec step by rejection sampling; redraws only the walks whose proposal was rejected."""
    out = cur.clone()
    pending = torch.nonzero(graph.deg[cur] > 0).view(-1)
    max_alpha = max(1.0 / p, 1.0, 1.0 / q)
    while pending.numel() > 0:
        c, t = cur[pending], prev[pending]
        x = _uniform_neighbor(graph, c, generator)
        alpha = torch.full(x.shape, 1.0 / q, device=x.device)
        alpha = torch.where(graph.has_edge(t, x), torch.ones_like(alpha), alpha)
        alpha = torch.where(x == t, torch.full_like(alpha, 1.0 / p), alpha)
        r = torch.rand(x.shape, generator=generator, device=x.device)
        accept = r * max_alpha < alpha
        out[pending[accept]] = x[accept]
        pending = pending[~accept]
    return out


def random_walk(edge_index: Union[Tensor, CSRGraph], start: Tensor, walk_length: int,
                num_nodes: Optional[int] = None, p: float = 1.0, q: float = 1.0,
                generator: Optional[torch.Generator] = None) -> Tensor:
    r"""Random walks of ``walk_length`` steps from every node in ``start``, all at once.

    Each step moves to a uniformly chosen out-neighbour (``p = q = 1``, DeepWalk) or to one
    drawn with node2vec's second-order bias (see the module docstring). A node without
    out-edges (isolated, or a directed dead end) keeps the walk in place: the result never
    holds ``-1``. Only torch's random number generator is used, so ``torch.manual_seed`` (or
    the ``generator`` argument) makes the walks reproducible.

    Args:
        edge_index (Tensor or CSRGraph): ``(2, |E|)`` edges (source first), or a
            :class:`CSRGraph` built once and reused across calls.
        start (Tensor): ``(B,)`` integer tensor of start nodes.
        walk_length (int): number of steps, ``>= 1``.
        num_nodes (int, optional): number of nodes when ``edge_index`` is a tensor;
            default ``edge_index.max() + 1``.
        p (float): return parameter, ``> 0``. (default: ``1.0``)
        q (float): in-out parameter, ``> 0``. (default: ``1.0``)
        generator (torch.Generator, optional): on the graph's device.

    Returns:
        LongTensor ``(B, walk_length + 1)`` on the graph's device; column 0 is ``start``.
    """
    if isinstance(edge_index, CSRGraph):
        graph = edge_index
        if num_nodes is not None and int(num_nodes) != graph.num_nodes:
            raise ValueError(f"random_walk: num_nodes={num_nodes} disagrees with the "
                             f"CSRGraph ({graph.num_nodes} nodes)")
    else:
        graph = CSRGraph(edge_index, num_nodes)
    if not isinstance(start, Tensor):
        raise TypeError(f"random_walk: start must be a Tensor, got {type(start).__name__}")
    if start.dim() != 1:
        raise ValueError(f"random_walk: start must be 1-D, got shape {tuple(start.shape)}")
    if start.dtype.is_floating_point or start.dtype == torch.bool or start.is_complex():
        raise TypeError(f"random_walk: start must be an integer tensor, got {start.dtype}")
    if isinstance(walk_length, bool) or int(walk_length) != walk_length or walk_length < 1:
        raise ValueError(f"random_walk: walk_length must be an integer >= 1, got {walk_length}")
    if not (p > 0 and q > 0):
        raise ValueError(f"random_walk: p and q must be > 0, got p={p}, q={q}")
    start = start.to(graph.device, torch.long)
    if start.numel() > 0:
        lo, hi = int(start.min()), int(start.max())
        if lo < 0 or hi >= graph.num_nodes:
            bad = lo if lo < 0 else hi
            raise IndexError(f"random_walk: start node {bad} out of range for a graph with "
                             f"{graph.num_nodes} nodes (valid 0..{graph.num_nodes - 1}); "
                             f"pass num_nodes if the graph has isolated nodes at the end")
    walk_length = int(walk_length)
    walks = torch.empty((start.numel(), walk_length + 1), dtype=torch.long, device=graph.device)
    walks[:, 0] = start
    if start.numel() == 0:
        return walks
    biased = p != 1.0 or q != 1.0
    for t in range(walk_length):
        cur = walks[:, t]
        if biased and t > 0:
            walks[:, t + 1] = _biased_neighbor(graph, walks[:, t - 1], cur, p, q, generator)
        else:
            walks[:, t + 1] = _uniform_neighbor(graph, cur, generator)
    return walks
