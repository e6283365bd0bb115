r"""Negative samplers of unsupervised GraphSAGE, in tensor operations on the graph's device.

:class:`FarNegativeSampler` / :func:`far_negatives` draw, for every anchor :math:`u`, nodes
uniformly from the candidate set among those whose shortest-path distance from :math:`u` is
greater than ``num_hops`` (the reference re-implementation's rule, there found with a per-node
Python-set breadth-first search). :class:`UnigramNegativeSampler` / :func:`unigram_negatives`
draw from the official GraphSAGE distribution :math:`P_n(v) \propto \deg(v)^{0.75}`.

How the far sampler works, vectorised over the whole batch:

0. **Small graphs: a cached bitset.** When :math:`|V|^2` bits fit ``max_bytes`` (Cora: 0.9 MB),
   the ``num_hops`` ball of every node is computed once, by boolean propagation along the edges
   for chunks of source nodes, and packed into bits; a batch is then gathers only: candidates
   are drawn uniformly from the candidate set and kept when their bit is 0 (uniform over the
   far set), a few rounds fill almost every anchor, and step 2 fills the rest from the bits.
1. **Large graphs: rejection with a meet-in-the-middle test.** Candidates are drawn uniformly;
   :math:`d(u, v) \le k` holds exactly when the ball of radius :math:`\lceil k/2 \rceil`
   around :math:`u` meets the ball of radius :math:`\lfloor k/2 \rfloor` around :math:`v`.
   Both are grown by frontier expansion over the CSR adjacency as keys ``row * N + node``
   (the anchor side sorted and deduplicated once); the test is one ``searchsorted``.
   Accepted candidates are uniform over the far set.
2. **Exact sampling for the rest.** Anchors still short after the rounds (few far nodes) get
   their full ``num_hops`` ball as a dense boolean row, and the missing negatives are drawn
   uniformly from the far nodes in that row.
3. **Fallback.** An anchor without any far candidate (tiny graphs, or a component that spans
   the graph within ``num_hops``) draws uniformly from its non-neighbours (candidates other than
   itself and its direct neighbours), failing that from the candidates other than itself,
   failing that (the candidate set is the anchor alone) from the candidate set. Such anchors are
   counted in :attr:`FarNegativeSampler.num_fallback` and flagged by ``return_fallback=True``.

Distances ignore edge direction (reversed edges are added once, when the sampler is built,
unless the caller says the graph is already ``undirected``).
Memory is bounded by processing anchors (and candidates) in chunks whose estimated cost, from
walk counts computed once, fits ``max_bytes``; every loop has a fixed number of rounds.
"""

from __future__ import annotations

import math
import warnings
from typing import List, Optional, Tuple, Union

import torch
from torch import Tensor
from torch_geometric.utils import to_undirected

from pyg_course.sampling.checks import candidate_pool, check_csr_graph, check_graph, node_ids
from pyg_course.sampling.random_walk import CSRGraph
from pyg_course.utils.checks import check_int, check_real


def _isin_sorted(query: Tensor, sorted_keys: Tensor) -> Tensor:
    if sorted_keys.numel() == 0:
        return torch.zeros_like(query, dtype=torch.bool)
    pos = torch.searchsorted(sorted_keys, query).clamp_(max=sorted_keys.numel() - 1)
    return sorted_keys[pos] == query


class FarNegativeSampler:
    r"""Negatives at shortest-path distance greater than ``num_hops`` from their anchor, drawn
    uniformly from a candidate set (see the module docstring for the algorithm).

    Building the sampler sorts the edges once (and adds the reversed edges unless
    ``undirected``); :meth:`sample` then costs about the size of the balls it grows.

    Args:
        edge_index (Tensor or CSRGraph): :math:`(2, |E|)` int64 (or int32) edges on the device
            to sample on, or a :class:`~pyg_course.sampling.CSRGraph` (e.g. the random walks'
            one).
        num_nodes (int, optional): :math:`|V|` (must agree with a ``CSRGraph``).
            (default: ``max(edge_index) + 1``)
        num_hops (int): negatives are more than this many hops away. (default: ``5``)
        candidates (Tensor or list, optional): 1-D integer node ids or a :math:`(|V|,)`
            boolean mask of the nodes negatives may be drawn from, e.g. the training nodes.
            Floating-point values, ``uint8`` and an integer 0/1 vector of length
            :math:`|V| > 2` (a mask cast to integers) are rejected, not misread.
            (default: all nodes)
        rounds (int): rejection rounds before the exact path. (default: ``3``)
        cache (bool, optional): precompute the ``num_hops`` ball of every node as a packed
            :math:`|V| \times |V|` bitset, so that each batch is only gathers; ``None`` caches
            when the bitset fits ``max_bytes`` (e.g. Cora: 0.9 MB). (default: ``None``)
        oversample (float): candidates drawn per requested negative in each round, finite and
            ``> 0``. (default: ``1.5``)
        max_bytes (int): memory budget of one chunk of anchors or candidates, estimated from
            walk counts (an upper bound on the ball sizes). (default: ``2**28``)
        undirected (bool): the edges already hold both directions (PyG's undirected graphs),
            so the reversed edges need not be added. (default: ``False``)
        generator (torch.Generator, optional): source of randomness (on the graph's device).

    Attributes:
        num_fallback (int): anchors so far that had no far candidate and used the fallback.
        num_anchors (int): anchors sampled so far.
    """

    def __init__(self, edge_index: Union[Tensor, CSRGraph], num_nodes: Optional[int] = None,
                 num_hops: int = 5, candidates: Optional[Tensor] = None, rounds: int = 3,
                 oversample: float = 1.5, max_bytes: int = 2 ** 28, cache: Optional[bool] = None,
                 undirected: bool = False, generator: Optional[torch.Generator] = None):
        where = "FarNegativeSampler"
        num_hops = check_int(where, "num_hops", num_hops, 0)
        rounds = check_int(where, "rounds", rounds, 0)
        check_real(where, "oversample", oversample, 0.0, include_low=False)
        max_bytes = check_int(where, "max_bytes", max_bytes, 1)
        if isinstance(edge_index, CSRGraph):
            graph = edge_index
            num_nodes = check_csr_graph(graph, num_nodes, where)
            if not undirected:
                row = torch.arange(num_nodes, device=graph.device).repeat_interleave(graph.deg)
                graph = CSRGraph(to_undirected(torch.stack([row, graph.col]),
                                               num_nodes=num_nodes), num_nodes)
        else:
            edge_index, num_nodes = check_graph(edge_index, num_nodes, where)
            if not undirected:
                # Both directions, each edge once: a duplicate edge would double the walks
                # grown through it at every hop (the balls stay right, the cost does not).
                edge_index = to_undirected(edge_index, num_nodes=num_nodes)
            graph = CSRGraph(edge_index, num_nodes)
        device = graph.device
        row = torch.arange(num_nodes, device=device).repeat_interleave(graph.deg)
        self.num_nodes = num_nodes
        self.num_hops = int(num_hops)
        self.col, self.rowptr = graph.col, graph.rowptr  # shared with the CSRGraph, no copy
        self.pool = candidate_pool(candidates, num_nodes, device, where)
        self.pool_mask = torch.zeros(num_nodes, dtype=torch.bool, device=device)
        self.pool_mask[self.pool] = True
        self.rounds = rounds
        self.oversample = oversample
        self.max_bytes = int(max_bytes)
        # Upper bound on the work of growing a ball of radius r around v: the number of walks
        # of length <= r from v (w_{t+1} = A w_t), capped by |V| + |E|; it sets the chunks.
        radii = sorted({(num_hops + 1) // 2, num_hops // 2, num_hops})
        walks = torch.ones(num_nodes, dtype=torch.float64, device=device)
        self._ball_cost = {}
        total = walks.clone()
        for r in range(1, radii[-1] + 1):
            walks = torch.zeros_like(walks).index_add_(0, row, walks[self.col])
            total += walks
            if r in radii:
                self._ball_cost[r] = total.clamp(max=num_nodes + self.col.numel()) * 24
        self._ball_cost[0] = torch.full((num_nodes,), 24.0, dtype=torch.float64, device=device)
        self.generator = generator
        self._row = row
        self._bits: Optional[Tensor] = None
        fits = num_nodes * ((num_nodes + 7) // 8) <= self.max_bytes
        if cache is None:
            cache = fits
        elif cache and not fits:
            raise ValueError(f"{where}: the all-pairs cache needs {num_nodes}^2 bits, more "
                             f"than max_bytes={self.max_bytes}")
        if cache:
            self._bits = self._all_pairs_bits()
        del self._row
        self.num_fallback = 0
        self.num_anchors = 0

    @property
    def device(self) -> torch.device:
        return self.col.device

    # ----------------------------------------------------------------- balls
    def _expand(self, idx: Tensor, node: Tensor) -> Tuple[Tensor, Tensor]:
        """All ``(idx, neighbour)`` pairs of the frontier ``(idx, node)``."""
        start = self.rowptr[node]
        deg = self.rowptr[node + 1] - start
        total = int(deg.sum())
        if total == 0:
            return idx.new_empty(0), node.new_empty(0)
        first = torch.cumsum(deg, 0) - deg
        offset = (torch.arange(total, device=node.device)
                  - first.repeat_interleave(deg, output_size=total))
        nbr = self.col[start.repeat_interleave(deg, output_size=total) + offset]
        return idx.repeat_interleave(deg, output_size=total), nbr

    def ball(self, sources: Tensor, radius: int) -> Tensor:
        """Sorted keys ``i * N + v`` of every node ``v`` within ``radius`` hops of
        ``sources[i]`` (``sources[i]`` itself included), grown frontier by frontier."""
        N = self.num_nodes
        idx = torch.arange(sources.numel(), device=self.device)
        visited = idx * N + sources
        f_idx, f_node = idx, sources
        for _ in range(radius):
            n_idx, n_node = self._expand(f_idx, f_node)
            if n_idx.numel() == 0:
                break
            keys = torch.unique(n_idx * N + n_node)
            keys = keys[~_isin_sorted(keys, visited)]
            if keys.numel() == 0:
                break
            visited = torch.sort(torch.cat([visited, keys])).values
            f_idx, f_node = keys // N, keys % N
        return visited

    def _all_pairs_bits(self) -> Tensor:
        """Packed bits ``[u, v // 8] >> (v % 8) & 1``: is ``d(u, v) <= num_hops``? Grown for
        chunks of source nodes by boolean propagation along the edges (``index_reduce`` max)."""
        N, dev = self.num_nodes, self.device
        nbytes = (N + 7) // 8
        bits = torch.zeros(N, nbytes, dtype=torch.uint8, device=dev)
        weights = (2 ** torch.arange(8, device=dev)).to(torch.uint8)
        step = max(1, self.max_bytes // (2 * (N + self.col.numel())))
        for lo in range(0, N, step):
            src = torch.arange(lo, min(lo + step, N), device=dev)
            reach = torch.zeros(N, src.numel(), dtype=torch.uint8, device=dev)  # (node, source)
            reach[src, torch.arange(src.numel(), device=dev)] = 1
            for _ in range(self.num_hops):
                with warnings.catch_warnings():  # index_reduce_ is flagged "beta"
                    warnings.simplefilter("ignore", UserWarning)
                    nbr = torch.zeros_like(reach).index_reduce_(0, self._row, reach[self.col],
                                                                "amax")
                reach |= nbr
            rows = torch.zeros(src.numel(), nbytes * 8, dtype=torch.uint8, device=dev)
            rows[:, :N] = reach.t()
            bits[lo:lo + src.numel()] = (rows.view(src.numel(), nbytes, 8) * weights).sum(
                -1, dtype=torch.uint8)
        return bits

    def _near_cached(self, u: Tensor, v: Tensor) -> Tensor:
        """``d(u, v) <= num_hops`` from the cached bitset (broadcasting ``u`` and ``v``)."""
        return ((self._bits[u, v >> 3] >> (v & 7).to(torch.uint8)) & 1).bool()

    def _reach_rows(self, a: Tensor) -> Tensor:
        """Dense boolean :math:`(|a|, |V|)`: nodes within ``num_hops`` of each ``a[i]``."""
        N = self.num_nodes
        if self._bits is not None:
            v = torch.arange(N, device=self.device)
            return self._near_cached(a.unsqueeze(1), v.unsqueeze(0))
        reach = torch.zeros(a.numel() * N, dtype=torch.bool, device=self.device)
        reach[self.ball(a, self.num_hops)] = True
        return reach.view(a.numel(), N)

    @staticmethod
    def _fill(out: Tensor, filled: Tensor, rows: Tensor, cand: Tensor, accept: Tensor,
              Q: int) -> None:
        """Append the accepted candidates of each row after its ``filled`` negatives."""
        rank = torch.cumsum(accept, 1) - 1 + filled[rows].unsqueeze(1)
        take = accept & (rank < Q)
        r, c = take.nonzero(as_tuple=True)
        out[rows[r], rank[r, c]] = cand[r, c]
        filled[rows] += take.sum(1)

    def _rejection_cached(self, anchors: Tensor, out: Tensor, filled: Tensor, Q: int) -> None:
        M = max(1, math.ceil(Q * self.oversample))
        for _ in range(self.rounds):
            rows = (filled < Q).nonzero().view(-1)
            if rows.numel() == 0:
                break
            cand = self.pool[self._randint(self.pool.numel(), (rows.numel(), M))]
            accept = ~self._near_cached(anchors[rows].unsqueeze(1), cand)
            self._fill(out, filled, rows, cand, accept, Q)

    def _chunks(self, cost: Tensor) -> List[Tuple[int, int]]:
        """Consecutive ``(start, end)`` ranges whose summed ``cost`` (bytes) fits the budget;
        a single item over budget gets a range of its own."""
        n = cost.numel()
        if n == 0:
            return []
        cum = torch.cumsum(cost, 0).cpu()
        out, start = [], 0
        while start < n:
            base = float(cum[start - 1]) if start else 0.0
            end = int(torch.searchsorted(cum, torch.tensor([base + self.max_bytes],
                                                           dtype=cum.dtype), right=True))
            end = min(max(end, start + 1), n)
            out.append((start, end))
            start = end
        return out

    def walk_ball(self, sources: Tensor, radius: int, unique: bool = True) -> Tensor:
        """Keys ``i * N + v`` of the ends of every walk of length ``<= radius`` from
        ``sources[i]``: the ball of :meth:`ball`, grown without per-hop deduplication (its size
        is the walk count that sets the chunks); ``unique`` sorts and deduplicates once."""
        N = self.num_nodes
        f_idx = torch.arange(sources.numel(), device=self.device)
        f_node = sources
        keys = [f_idx * N + f_node]
        for _ in range(radius):
            f_idx, f_node = self._expand(f_idx, f_node)
            if f_idx.numel() == 0:
                break
            keys.append(f_idx * N + f_node)
        keys = torch.cat(keys)
        return torch.unique(keys) if unique else keys

    # ---------------------------------------------------------------- sample
    def _randint(self, high: int, size: Tuple[int, ...]) -> Tensor:
        return torch.randint(high, size, device=self.device, generator=self.generator)

    def _rejection(self, anchors: Tensor, out: Tensor, filled: Tensor, Q: int) -> None:
        """Fill ``out`` rows with uniform far candidates, tested by meet-in-the-middle."""
        N, k = self.num_nodes, self.num_hops
        ra, rb = (k + 1) // 2, k // 2
        M = max(1, math.ceil(Q * self.oversample))
        for lo, hi in self._chunks(self._ball_cost[ra][anchors]):
            ball_a = self.walk_ball(anchors[lo:hi], ra)
            for _ in range(self.rounds):
                rows = (filled[lo:hi] < Q).nonzero().view(-1)
                if rows.numel() == 0:
                    break
                cand = self.pool[self._randint(self.pool.numel(), (rows.numel(), M))]
                cand_row = rows.repeat_interleave(M)
                flat = cand.view(-1)
                near = torch.zeros(flat.numel(), dtype=torch.bool, device=self.device)
                for c0, c1 in self._chunks(self._ball_cost[rb][flat]):
                    keys = self.walk_ball(flat[c0:c1], rb, unique=False)
                    j, w = keys // N, keys % N
                    hit = _isin_sorted(cand_row[c0:c1][j] * N + w, ball_a)
                    near[c0 + j[hit]] = True
                self._fill(out, filled, lo + rows, cand, ~near.view(rows.numel(), M), Q)

    def _exact(self, anchors: Tensor, out: Tensor, filled: Tensor, Q: int,
               fallback: Tensor) -> None:
        """Fill the remaining slots from the exact far set of each anchor (or the fallback)."""
        N = self.num_nodes
        todo = (filled < Q).nonzero().view(-1)
        slot = torch.arange(Q, device=self.device)
        # Dense rows: a boolean ball, the allowed mask and its float copy for multinomial.
        cost = torch.full((todo.numel(),), 6.0 * N, dtype=torch.float64, device=self.device)
        if self._bits is None:
            cost = cost + self._ball_cost[self.num_hops][anchors[todo]]
        for lo, hi in self._chunks(cost):
            rows = todo[lo:hi]
            a = anchors[rows]
            allowed = self.pool_mask & ~self._reach_rows(a)
            empty = ~allowed.any(1)
            if bool(empty.any()):
                e = empty.nonzero().view(-1)
                fallback[rows[e]] = True
                near = torch.zeros(e.numel() * N, dtype=torch.bool, device=self.device)
                near[self.ball(a[e], 1)] = True
                alt = self.pool_mask & ~near.view(e.numel(), N)
                # No non-neighbour: any candidate but the anchor; failing that, the pool itself.
                none = ~alt.any(1)
                alt[none] = self.pool_mask
                alt[none, a[e][none]] = False
                none = ~alt.any(1)
                alt[none] = self.pool_mask
                allowed[e] = alt
            draw = torch.multinomial(allowed.float(), Q, replacement=True,
                                     generator=self.generator)
            keep = slot.unsqueeze(0) < filled[rows].unsqueeze(1)
            out[rows] = torch.where(keep, out[rows], draw)
            filled[rows] = Q

    def sample(self, nodes: Tensor, num_negatives: int,
               return_fallback: bool = False) -> Union[Tensor, Tuple[Tensor, Tensor]]:
        """Negatives for ``nodes``: LongTensor :math:`(|nodes|, Q)` on the graph's device; with
        ``return_fallback=True`` also a boolean :math:`(|nodes|,)` marking the anchors that had
        no far candidate and used the fallback."""
        where = "FarNegativeSampler.sample"
        nodes = node_ids(nodes, self.num_nodes, self.device, where)
        B, Q = nodes.numel(), check_int(where, "num_negatives", num_negatives)
        out = torch.full((B, Q), -1, dtype=torch.long, device=self.device)
        filled = torch.zeros(B, dtype=torch.long, device=self.device)
        fallback = torch.zeros(B, dtype=torch.bool, device=self.device)
        if B:
            if self._bits is not None:
                self._rejection_cached(nodes, out, filled, Q)
            else:
                self._rejection(nodes, out, filled, Q)
            self._exact(nodes, out, filled, Q, fallback)
        self.num_anchors += B
        self.num_fallback += int(fallback.sum())
        return (out, fallback) if return_fallback else out


def far_negatives(edge_index: Union[Tensor, CSRGraph], nodes: Tensor, num_negatives: int,
                  num_hops: int = 5,
                  num_nodes: Optional[int] = None, candidates: Optional[Tensor] = None,
                  generator: Optional[torch.Generator] = None, return_fallback: bool = False
                  ) -> Union[Tensor, Tuple[Tensor, Tensor]]:
    r"""For each node of ``nodes``, ``num_negatives`` nodes drawn uniformly (with replacement)
    from ``candidates`` among those more than ``num_hops`` hops away from it; see
    :class:`FarNegativeSampler` (build one to sample many batches from the same graph).

    One call grows the balls of its own anchors only: it never builds the sampler's all-pairs
    bitset (:math:`|V|^2` bits, worth it only when many batches share it), so its cost is that
    of the anchors it is given.

    Returns:
        LongTensor :math:`(|nodes|, \text{num\_negatives})`; with ``return_fallback=True`` also
        a boolean :math:`(|nodes|,)` of the anchors that had no far candidate (their negatives
        are non-neighbours, as documented in the module).
    """
    sampler = FarNegativeSampler(edge_index, num_nodes=num_nodes, num_hops=num_hops,
                                 candidates=candidates, generator=generator, cache=False)
    return sampler.sample(nodes, num_negatives, return_fallback=return_fallback)


class UnigramNegativeSampler:
    r"""Negatives from the official GraphSAGE distribution :math:`P_n(v) \propto
    \deg(v)^{\text{power}}` restricted to ``candidates`` (uniform if every candidate has degree
    zero). Unlike the far sampler it excludes nothing, as the official code.

    Args:
        edge_index (Tensor or CSRGraph): :math:`(2, |E|)` int64 (or int32) edges, or a
            :class:`~pyg_course.sampling.CSRGraph`; the degree is the out-degree
            (``edge_index[0]``), i.e. the degree for PyG's undirected graphs.
        num_nodes (int, optional): :math:`|V|` (must agree with a ``CSRGraph``).
        power (float): exponent of the degree, finite and ``>= 0`` (``0``: uniform; a negative
            power would give the isolated nodes infinite weight). (default: ``0.75``)
        candidates (Tensor or list, optional): node ids or a :math:`(|V|,)` boolean mask, read
            as by :class:`FarNegativeSampler`. (default: all nodes)
        generator (torch.Generator, optional): source of randomness.
    """

    def __init__(self, edge_index: Union[Tensor, CSRGraph], num_nodes: Optional[int] = None,
                 power: float = 0.75, candidates: Optional[Tensor] = None,
                 generator: Optional[torch.Generator] = None):
        where = "UnigramNegativeSampler"
        check_real(where, "power", power, 0.0)
        if isinstance(edge_index, CSRGraph):
            num_nodes = check_csr_graph(edge_index, num_nodes, where)
            deg, device = edge_index.deg.double(), edge_index.device
        else:
            edge_index, num_nodes = check_graph(edge_index, num_nodes, where)
            deg = torch.bincount(edge_index[0], minlength=num_nodes).double()
            device = edge_index.device
        self.num_nodes = num_nodes
        weight = deg.pow(power)
        pool = candidate_pool(candidates, num_nodes, device, where)
        mask = torch.zeros(num_nodes, dtype=torch.bool, device=device)
        mask[pool] = True
        weight = torch.where(mask, weight, torch.zeros_like(weight))
        if float(weight.sum()) == 0.0:
            weight = mask.double()
        self.prob = weight / weight.sum()
        self.generator = generator

    def sample(self, nodes: Tensor, num_negatives: int) -> Tensor:
        where = "UnigramNegativeSampler.sample"
        nodes = node_ids(nodes, self.num_nodes, self.prob.device, where)
        num_negatives = check_int(where, "num_negatives", num_negatives)
        n = nodes.numel() * num_negatives
        if n == 0:
            return torch.empty(nodes.numel(), num_negatives, dtype=torch.long,
                               device=self.prob.device)
        draw = torch.multinomial(self.prob.float(), n, replacement=True, generator=self.generator)
        return draw.view(nodes.numel(), num_negatives)


def unigram_negatives(edge_index: Union[Tensor, CSRGraph], nodes: Tensor, num_negatives: int,
                      num_nodes: Optional[int] = None, power: float = 0.75,
                      candidates: Optional[Tensor] = None,
                      generator: Optional[torch.Generator] = None) -> Tensor:
    r"""``num_negatives`` nodes per node of ``nodes`` from :math:`\deg(v)^{0.75}`
    (:class:`UnigramNegativeSampler`): LongTensor :math:`(|nodes|, \text{num\_negatives})`."""
    return UnigramNegativeSampler(edge_index, num_nodes, power, candidates,
                                  generator).sample(nodes, num_negatives)
