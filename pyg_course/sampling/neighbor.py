r"""Uniform neighbour sampling (GraphSAGE's mini-batches) in vectorised torch, on the device
where the graph lives, for PyG's own loaders.

:class:`NeighborSampler` is a :class:`torch_geometric.sampler.BaseSampler`: pass it to
``NeighborLoader(data, ..., neighbor_sampler=sampler)``, ``NodeLoader(data, node_sampler=
sampler, ...)`` or ``LinkNeighborLoader(data, ..., neighbor_sampler=sampler)``, and training
code keeps PyG's API. It follows PyG's sampling semantics (``subgraph_type``, ``replace``,
``-1`` = all neighbours, ``disjoint=False``): hop :math:`h` visits the nodes first reached at hop
:math:`h-1` (the seeds at hop 1); each draws ``num_neighbors[h-1]`` of its in-neighbours
(the sources of its incoming edges) uniformly without replacement, or all of them when it has
no more; a drawn node not yet in the subgraph joins it and the frontier of the next hop, and
every drawn edge joins the subgraph. Nodes are numbered seeds first, then hop by hop, edges hop
by hop, so ``num_sampled_nodes`` / ``num_sampled_edges`` trim each layer's input
(``num_sampled_nodes_per_hop`` of the models).

How a hop is drawn, for the whole frontier at once:

1. The graph is held in CSC form (``colptr``, the sources ``row``; built once by PyG's
   ``to_csc``, indices stored as int32 where they fit). A frontier node :math:`v` with
   in-degree :math:`d_v` owns the slots ``colptr[v] .. colptr[v] + d_v - 1``.
2. Nodes with :math:`d_v \le k` take every slot. For the rest, Floyd's algorithm draws a
   uniform :math:`k`-subset of :math:`\{0, \dots, d_v - 1\}` in :math:`k` vectorised steps
   (step :math:`i` draws :math:`t` uniform in :math:`[0, d_v - k + i]` and takes :math:`t`, or
   :math:`d_v - k + i` when :math:`t` was taken before); it costs :math:`O(k^2)` per node
   whatever its degree. With ``replace=True`` each of the :math:`k` slots is drawn
   independently.
3. New nodes get consecutive local ids through a node-indexed map (one int64 per node of the
   graph, reset after each batch), so no sort of the whole subgraph is needed.

Randomness comes from the sampler's own :class:`torch.Generator` (``seed``), never from
torch's global generator. In a ``DataLoader`` worker process it is re-seeded from ``seed`` and
the worker's seed (which the loader draws once per epoch from its ``generator`` or torch's
global generator), so the same seeds give the same batches with ``num_workers > 0`` too, and
two workers or two epochs never share a random stream.
"""

from __future__ import annotations

import copy
from typing import List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.sampler import (
    BaseSampler,
    EdgeSamplerInput,
    NegativeSampling,
    NodeSamplerInput,
    SamplerOutput,
)
from torch_geometric.sampler.base import NumNeighbors, SubgraphType
from torch_geometric.sampler.neighbor_sampler import edge_sample, node_sample
from torch_geometric.sampler.utils import to_csc

from pyg_course.sampling.checks import check_graph

_INT32_MAX = torch.iinfo(torch.int32).max


def _compact(index: Tensor, bound: int) -> Tensor:
    """``index`` as int32 when every value is below ``bound`` <= int32's maximum (half the
    memory of int64), else as it is."""
    return index.to(torch.int32) if bound <= _INT32_MAX else index


def uniform_subsets(deg: Tensor, k: int, generator: torch.Generator) -> Tensor:
    r"""One uniform ``k``-subset of :math:`\{0, \dots, d - 1\}` for every ``d`` in ``deg`` (all
    ``> k``), by Floyd's algorithm vectorised over the rows: a ``(len(deg), k)`` int64 tensor,
    each row's values distinct (in no particular order)."""
    n = deg.numel()
    out = torch.empty(n, k, dtype=torch.long, device=deg.device)
    u = torch.rand(n, k, dtype=torch.float64, device=deg.device, generator=generator)
    for i in range(k):
        j = deg - k + i  # step i draws from [0, j]
        t = torch.minimum((u[:, i] * (j + 1)).long(), j)
        if i:
            t = torch.where((out[:, :i] == t.unsqueeze(1)).any(1), j, t)
        out[:, i] = t
    return out


class NeighborSampler(BaseSampler):
    r"""Uniform neighbour sampling of GraphSAGE (Hamilton et al., NeurIPS 2017) with PyG's
    semantics, vectorised in torch on the graph's device (see the module documentation for
    the algorithm).

    Args:
        data: a homogeneous :class:`~torch_geometric.data.Data` with ``edge_index`` (or
            ``adj_t``); the sampler works on the device ``edge_index`` lives on.
        num_neighbors: neighbours drawn per node at each hop, ``-1`` for all of them.
        subgraph_type: ``"directional"`` (the drawn edges only, default), ``"bidirectional"``
            (the drawn edges and their reverses) or ``"induced"`` (every edge between the
            sampled nodes), as in PyG's ``NeighborSampler``.
        replace: draw with replacement (``k`` independent draws per node).
        disjoint: must be ``False`` (one shared subgraph per batch, PyG's default).
        seed: seed of the sampler's own generator; ``None`` draws one from torch's global
            generator once, here (so ``torch.manual_seed`` before building the sampler fixes it).

    Batches of ``NeighborLoader`` carry ``n_id``, ``e_id`` (edge ids of ``data``),
    ``num_sampled_nodes`` and ``num_sampled_edges`` (lists of ints, per hop;
    ``num_sampled_edges`` is ``None`` for ``"induced"``, whose edges belong to no hop).
    The seeds of one batch must be distinct (a repeated seed would get its edges once only).
    Temporal and weighted sampling are not supported.
    """

    def __init__(self, data: Data, num_neighbors: Sequence[int],
                 subgraph_type: Union[SubgraphType, str] = "directional", replace: bool = False,
                 disjoint: bool = False, seed: Optional[int] = None):
        where = type(self).__name__
        if not isinstance(data, Data):
            raise TypeError(f"{where} samples a homogeneous torch_geometric.data.Data graph, "
                            f"got {type(data).__name__}")
        if disjoint:
            raise ValueError(f"{where}: disjoint=True is not supported (one shared subgraph per "
                             f"batch, disjoint=False, is PyG's default)")
        self._set_fanout(num_neighbors)
        self.is_hetero = self.is_temporal = False
        self.subgraph_type = SubgraphType(subgraph_type)
        self.replace = bool(replace)
        self.disjoint = False
        self.node_time = None
        self.num_nodes = data.num_nodes

        if getattr(data, "edge_index", None) is not None:
            check_graph(data.edge_index, data.num_nodes, where)
            device = data.edge_index.device
        elif getattr(data, "adj_t", None) is not None:
            device = data.adj_t.device()
        else:
            raise ValueError(f"{where}: the graph has neither edge_index nor adj_t")
        colptr, row, perm = to_csc(data, device=device)
        num_edges = row.numel()
        self.device = device
        self.colptr = colptr
        self.row = _compact(row, self.num_nodes)
        self.perm = None if perm is None else _compact(perm, num_edges)
        self._own_state(seed)

    def _set_fanout(self, num_neighbors: Sequence[int]) -> None:
        if isinstance(num_neighbors, int) or not all(
                isinstance(k, int) and (k == -1 or k >= 0) for k in num_neighbors):
            raise ValueError(f"{type(self).__name__}: num_neighbors must be a list of ints, "
                             f"each -1 (all) or at least 0, got {num_neighbors!r}")
        self.fanout: List[int] = list(num_neighbors)
        #: As PyG's sampler: a ``NumNeighbors`` (``.values`` is the list).
        self.num_neighbors = NumNeighbors(list(num_neighbors))

    def _own_state(self, seed: Optional[int]) -> None:
        """The per-sampler state: the local-id map (written during a batch) and the generator."""
        self._local = torch.full((self.num_nodes,), -1, dtype=torch.long, device=self.device)
        if seed is None:
            seed = int(torch.randint(0, 2**62, ()))
        self.seed = int(seed)
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(self.seed)
        self._worker_seed: Optional[int] = None

    def sibling(self, num_neighbors: Sequence[int], seed: Optional[int] = None
                ) -> NeighborSampler:
        """A sampler over the same graph with other fan-outs (e.g. ``[-1]`` for layer-wise
        inference beside a training sampler): it shares this one's CSC arrays, so the graph is
        converted once, and has its own generator (``seed`` as in the constructor) and
        local-id map. ``subgraph_type`` and ``replace`` are this sampler's."""
        other = copy.copy(self)
        other._set_fanout(num_neighbors)
        other._own_state(seed)
        return other

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(num_neighbors={self.fanout}, "
                f"subgraph_type='{self.subgraph_type.value}', replace={self.replace}, "
                f"device={self.device})")

    # ----------------------------------------------------------------- PyG's sampler API
    def sample_from_nodes(self, inputs: NodeSamplerInput) -> SamplerOutput:
        out = node_sample(inputs, self._sample)
        if self.subgraph_type == SubgraphType.bidirectional:
            out = out.to_bidirectional()
        return out

    def sample_from_edges(self, inputs: EdgeSamplerInput,
                          neg_sampling: Optional[NegativeSampling] = None) -> SamplerOutput:
        out = edge_sample(inputs, self._sample, self.num_nodes, self.disjoint, self.node_time,
                          neg_sampling)
        if self.subgraph_type == SubgraphType.bidirectional:
            out = out.to_bidirectional()
        return out

    @property
    def edge_permutation(self) -> None:
        """``None``: the sampled ``edge`` ids are already ids of ``data``'s edges."""
        return None

    # ----------------------------------------------------------------- state
    def _generator(self) -> torch.Generator:
        info = torch.utils.data.get_worker_info()
        if info is not None and info.seed != self._worker_seed:
            self._worker_seed = info.seed
            self.generator.manual_seed(hash((self.seed, info.seed)) & (2**63 - 1))
        return self.generator

    def get_state(self) -> Tensor:
        """The state of the sampler's generator (e.g. for a checkpoint)."""
        return self.generator.get_state()

    def set_state(self, state: Tensor) -> None:
        """Restore :meth:`get_state`'s generator state: the batches continue as they would have."""
        self.generator.set_state(state)

    # ----------------------------------------------------------------- sampling
    def _draw(self, frontier: Tensor, k: int, generator: torch.Generator) -> Tuple[Tensor, Tensor]:
        """CSC slots drawn for each ``frontier`` node (``k``: -1 all) and, per slot, the index of
        its node in ``frontier``."""
        start = self.colptr[frontier]
        deg = self.colptr[frontier + 1] - start
        if k < 0:
            count = deg
        elif self.replace:
            count = torch.where(deg > 0, k, 0)
        else:
            count = deg.clamp(max=k)
        owner = torch.repeat_interleave(torch.arange(frontier.numel(), device=self.device), count)
        if k < 0 or not self.replace:
            first = torch.cumsum(count, 0) - count
            offset = torch.arange(owner.numel(), device=self.device) - first[owner]
            if k >= 0:
                big = deg > k
                if bool(big.any()):
                    offset[big[owner]] = uniform_subsets(deg[big], k, generator).view(-1)
        else:
            u = torch.rand(owner.numel(), dtype=torch.float64, device=self.device,
                           generator=generator)
            d = deg[owner]
            offset = torch.minimum((u * d).long(), d - 1)
        return start[owner] + offset, owner

    def _hops(self, nodes: List[Tensor], generator: torch.Generator):
        """Draw every hop from the seeds ``nodes[0]`` (already in the node map), appending each
        hop's new nodes to ``nodes``; returns the edges' local sources, local targets and CSC
        slots (lists of per-hop tensors) and the edges per hop (``None`` for induced)."""
        local = self._local
        n = nodes[0].numel()
        rows, cols, edges, num_sampled_edges = [], [], [], []
        frontier, frontier_local = nodes[0], torch.arange(n, device=self.device)
        for k in self.fanout:
            if frontier.numel() == 0 or k == 0:
                nodes.append(frontier[:0])
                num_sampled_edges.append(0)
                frontier = frontier[:0]
                continue
            slot, owner = self._draw(frontier, k, generator)
            src = self.row[slot].long()
            new = src[local[src] < 0]
            if new.numel():
                new = torch.unique(new)
            nodes.append(new)
            local[new] = torch.arange(n, n + new.numel(), device=self.device)
            rows.append(local[src])
            cols.append(frontier_local[owner])
            edges.append(slot)
            num_sampled_edges.append(slot.numel())
            frontier, frontier_local = new, torch.arange(n, n + new.numel(), device=self.device)
            n += new.numel()
        if self.subgraph_type == SubgraphType.induced:
            node = torch.cat(nodes)
            slot, owner = self._draw(node, -1, generator)
            src_local = local[self.row[slot].long()]
            inside = src_local >= 0
            return [src_local[inside]], [owner[inside]], [slot[inside]], None
        return rows, cols, edges, num_sampled_edges

    def _sample(self, seed: Tensor, seed_time: Optional[Tensor] = None) -> SamplerOutput:
        if seed_time is not None:
            raise ValueError(f"{type(self).__name__} does not support temporal sampling")
        generator = self._generator()
        local = self._local
        seed = seed.to(self.device, torch.long)
        n = seed.numel()
        if n and bool(((seed < 0) | (seed >= self.num_nodes)).any()):
            raise ValueError(f"{type(self).__name__}: seed node ids outside "
                             f"[0, {self.num_nodes}) (smallest {seed.min().item()}, largest "
                             f"{seed.max().item()})")
        ids = torch.arange(n, device=self.device)
        local[seed] = ids
        if bool((local[seed] != ids).any()):
            local[seed] = -1
            raise ValueError(f"{type(self).__name__}: the seed nodes of a batch must be "
                             f"distinct (a repeated seed would receive its edges once only)")
        nodes = [seed]
        try:  # the node map is reset also when a batch fails half-way
            rows, cols, edges, num_sampled_edges = self._hops(nodes, generator)
        finally:
            node = torch.cat(nodes)
            local[node] = -1
        num_sampled_nodes = [t.numel() for t in nodes]
        empty = torch.empty(0, dtype=torch.long, device=self.device)
        row = torch.cat(rows) if rows else empty
        col = torch.cat(cols) if cols else empty
        slot = torch.cat(edges) if edges else empty
        edge = slot if self.perm is None else self.perm[slot].long()
        return SamplerOutput(node=node, row=row, col=col, edge=edge, batch=None,
                             num_sampled_nodes=num_sampled_nodes,
                             num_sampled_edges=num_sampled_edges)
