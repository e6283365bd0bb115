r"""Over-smoothing measures: MAD, MADGap (Chen et al., AAAI 2020) and the Dirichlet energy.

Every measure runs in memory bounded by ``chunk_size * |V|`` (row blocks of the pairwise
matrices) or ``chunk_size * F`` (blocks of edges): the :math:`|V| \times |V|` distance matrix is
never built, so Cora and PubMed are measured exactly. For graphs where the :math:`O(|V|^2 F)`
time of the exact all-pairs MAD is too long, ``num_samples`` switches :func:`mad` to a sampled
estimate (documented there).
"""

from __future__ import annotations

from typing import Callable, Optional

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.utils import remove_self_loops, scatter

from pyg_course.utils.checks import check_edge_index
from pyg_course.utils.sparse import to_csr

DEFAULT_CHUNK = 1024
#: Cosine distances at most this are rounding errors of identical directions and count as 0.
ZERO_TOL = 1e-6


def _cos_dist(dot: Tensor) -> Tensor:
    dist = 1.0 - dot
    return torch.where(dist > ZERO_TOL, dist, torch.zeros_like(dist))


def _unit_rows(x: Tensor, where: str) -> Tensor:
    if x.dim() != 2:
        raise ValueError(f"{where}: x must have shape (num_nodes, num_features), "
                         f"got {tuple(x.shape)}")
    if not torch.is_floating_point(x):
        x = x.float()
    # A zero row stays zero: its cosine similarity with anything is 0 (distance 1), as sklearn.
    return F.normalize(x, p=2.0, dim=1, eps=1e-12)


def _finish(row_sum: Tensor, row_cnt: Tensor) -> Tensor:
    """Chen et al.'s Eq. 2-3: each node's mean over its non-zero distances, then the mean over
    the nodes that have at least one."""
    has = row_cnt > 0
    if not bool(has.any()):
        return row_sum.new_zeros(())
    return (row_sum[has] / row_cnt[has]).mean()


def _dense_blocks(u: Tensor, row_mask: Callable[[Tensor], Tensor], chunk_size: int):
    """Per-node sums and counts of the non-zero masked cosine distances, ``chunk_size`` rows
    of the distance matrix at a time."""
    n = u.size(0)
    row_sum = u.new_zeros(n)
    row_cnt = u.new_zeros(n)
    for start in range(0, n, chunk_size):
        rows = torch.arange(start, min(start + chunk_size, n), device=u.device)
        dist = _cos_dist(u[rows] @ u.t())
        dist = dist * row_mask(rows).to(dist.dtype)
        row_sum[rows] = dist.sum(dim=1)
        row_cnt[rows] = (dist > 0).sum(dim=1).to(dist.dtype)
    return row_sum, row_cnt


def mad(
    x: Tensor,
    edge_index: Optional[Tensor] = None,
    mask: Optional[Tensor] = None,
    chunk_size: int = DEFAULT_CHUNK,
    num_samples: Optional[int] = None,
    generator: Optional[torch.Generator] = None,
) -> Tensor:
    r"""Mean Average Distance of `"Measuring and Relieving the Over-smoothing Problem for Graph
    Neural Networks from the Topological View" <https://arxiv.org/abs/1909.03211>`_.

    With the cosine distance :math:`D_{ij} = 1 - \frac{x_i^\top x_j}{\|x_i\| \|x_j\|}` and a
    target pair mask :math:`M`,

    .. math::
        \bar{D}_i = \frac{\sum_j M_{ij} D_{ij}}{\sum_j \mathbb{1}[M_{ij} D_{ij} > 0]},
        \qquad \mathrm{MAD} = \frac{\sum_i \bar{D}_i}{\sum_i \mathbb{1}[\bar{D}_i > 0]}

    (the paper's Eq. 2-3: zero distances, e.g. a node with itself, are left out of each
    average; a graph whose rows are all parallel has MAD 0). Distances below ``1e-6``
    (:data:`ZERO_TOL`, float32 rounding of parallel rows) count as zero. A zero row has
    distance 1 to every other row.

    Args:
        x (Tensor): node representations :math:`(|V|, F)`.
        edge_index (Tensor, optional): the pairs :math:`(i, j)` to measure, as a ``(2, P)``
            list (e.g. the graph's edges: MAD over neighbouring pairs). ``None``: all pairs.
        mask (Tensor, optional): with ``edge_index=None``, a boolean node mask :math:`(|V|)`
            (pairs of masked nodes only) or a dense boolean pair mask :math:`(|V|, |V|)`
            (the paper's :math:`M^{tgt}`; small graphs only).
        chunk_size (int): rows of the distance matrix computed at once; memory is
            :math:`O(\text{chunk\_size} \cdot |V|)`. (default: ``1024``)
        num_samples (int, optional): all-pairs mode only: instead of all :math:`|V|` partners,
            draw ``num_samples`` partners per node uniformly with replacement from the allowed
            ones. The per-node sum over the sample times
            :math:`\frac{n_i}{s}` (:math:`n_i` allowed partners) is an unbiased estimate of the
            numerator of :math:`\bar D_i` and the sampled non-zero count likewise of its
            denominator; their ratio (and MAD) is a ratio estimator, consistent with a bias of
            :math:`O(1/s)`. Time :math:`O(|V| s F)`.
        generator (torch.Generator, optional): RNG of the sampling.

    Returns:
        a scalar tensor in :math:`[0, 2]`.
    """
    u = _unit_rows(x, "mad")
    n = u.size(0)
    if edge_index is not None:
        if mask is not None:
            raise ValueError("mad: pass either edge_index (a list of pairs) or mask, not both")
        check_edge_index(edge_index, n, n, "mad")
        src, dst = edge_index
        dist = _cos_dist((u[src] * u[dst]).sum(dim=1))
        row_sum = scatter(dist, src, dim=0, dim_size=n, reduce="sum")
        row_cnt = scatter((dist > 0).to(dist.dtype), src, dim=0, dim_size=n, reduce="sum")
        return _finish(row_sum, row_cnt)

    if mask is None:
        node_mask = None
        row_mask = lambda rows: torch.ones(rows.numel(), n, dtype=torch.bool,  # noqa: E731
                                           device=u.device)
    elif mask.dtype == torch.bool and mask.shape == (n,):
        node_mask = mask
        row_mask = lambda rows: mask[rows].view(-1, 1) & mask.view(1, -1)  # noqa: E731
    elif mask.dtype == torch.bool and mask.shape == (n, n):
        if num_samples is not None:
            raise ValueError("mad: num_samples works with a node mask, not a dense pair mask")
        node_mask = None
        row_mask = lambda rows: mask[rows]  # noqa: E731
    else:
        raise ValueError(f"mad: mask must be a boolean node mask of shape ({n},) or pair mask "
                         f"of shape ({n}, {n}), got {mask.dtype} {tuple(mask.shape)}")

    if num_samples is None:
        row_sum, row_cnt = _dense_blocks(u, row_mask, chunk_size)
        return _finish(row_sum, row_cnt)

    if num_samples < 1:
        raise ValueError(f"mad: num_samples must be positive, got {num_samples}")
    pool = torch.arange(n, device=u.device) if node_mask is None else node_mask.nonzero().view(-1)
    rows = pool
    row_sum = u.new_zeros(n)
    row_cnt = u.new_zeros(n)
    for start in range(0, rows.numel(), chunk_size):
        r = rows[start:start + chunk_size]
        pick = torch.randint(pool.numel(), (r.numel(), num_samples), generator=generator,
                             device=u.device)
        partners = pool[pick]
        dist = _cos_dist((u[r].unsqueeze(1) * u[partners]).sum(dim=-1))
        row_sum[r] = dist.sum(dim=1)
        row_cnt[r] = (dist > 0).sum(dim=1).to(dist.dtype)
    return _finish(row_sum, row_cnt)


def _hop_blocks(edge_index: Tensor, num_nodes: int, max_hops: int, chunk_size: int,
                device: torch.device):
    """Yield ``(rows, hops)``: for a block of source rows, the ``(B, |V|)`` hop distance to
    every node, capped at ``max_hops + 1`` (unreached within ``max_hops``). Breadth-first
    search by sparse-dense products, so memory is ``O(B |V|)``."""
    ei, _ = remove_self_loops(edge_index)
    # A^T as a CSR matrix: column b of (A^T @ F) marks the nodes one step from frontier b.
    adj_t = to_csr(torch.sparse_coo_tensor(ei.flip(0), torch.ones(ei.size(1), device=device),
                                           (num_nodes, num_nodes),
                                           check_invariants=False).coalesce())
    for start in range(0, num_nodes, chunk_size):
        rows = torch.arange(start, min(start + chunk_size, num_nodes), device=device)
        local = torch.arange(rows.numel(), device=device)
        hops = torch.full((num_nodes, rows.numel()), max_hops + 1, dtype=torch.long,
                          device=device)
        frontier = torch.zeros(num_nodes, rows.numel(), device=device)
        frontier[rows, local] = 1.0
        hops[rows, local] = 0
        for h in range(1, max_hops + 1):
            new = ((adj_t @ frontier) > 0) & (hops > max_hops)
            hops[new] = h
            frontier = new.to(frontier.dtype)
            if not bool(new.any()):
                break
        hops = hops.t()
        yield rows, hops


def mad_gap(
    x: Tensor,
    edge_index: Tensor,
    neighbor_hops: int = 3,
    remote_hops: int = 8,
    chunk_size: int = DEFAULT_CHUNK,
) -> Tensor:
    r"""MADGap of Chen et al. (AAAI 2020): MAD over remote pairs minus MAD over neighbouring pairs,

    .. math::
        \mathrm{MADGap} = \mathrm{MAD}^{rmt} - \mathrm{MAD}^{neb}

    where neighbouring pairs are at hop distance :math:`1..\text{neighbor\_hops}` and remote
    pairs at hop distance :math:`\ge \text{remote\_hops}` (or in different components). The
    paper uses 3 and 8. A small or negative gap means remote nodes look as alike as neighbours:
    the information-to-noise ratio of the representation is low (over-smoothing).

    Hop distances come from a blocked breadth-first search, ``chunk_size`` source nodes at a
    time (memory :math:`O(\text{chunk\_size} \cdot |V|)`).

    Args:
        x (Tensor): node representations :math:`(|V|, F)`.
        edge_index (Tensor): the graph :math:`(2, |E|)`, read as undirected paths along
            ``edge_index[0] -> edge_index[1]``.
        neighbor_hops (int): largest hop distance of a neighbouring pair. (default: ``3``)
        remote_hops (int): smallest hop distance of a remote pair. (default: ``8``)
        chunk_size (int): source nodes per block. (default: ``1024``)
    """
    if not 1 <= neighbor_hops < remote_hops:
        raise ValueError(f"mad_gap: need 1 <= neighbor_hops < remote_hops, got "
                         f"{neighbor_hops} and {remote_hops}")
    u = _unit_rows(x, "mad_gap")
    n = u.size(0)
    check_edge_index(edge_index, n, n, "mad_gap")
    sums = {k: u.new_zeros(n) for k in ("neb", "rmt")}
    cnts = {k: u.new_zeros(n) for k in ("neb", "rmt")}
    for rows, hops in _hop_blocks(edge_index, n, remote_hops - 1, chunk_size, u.device):
        dist = _cos_dist(u[rows] @ u.t())
        for key, m in (("neb", (hops >= 1) & (hops <= neighbor_hops)),
                       ("rmt", hops >= remote_hops)):
            d = dist * m.to(dist.dtype)
            sums[key][rows] = d.sum(dim=1)
            cnts[key][rows] = (d > 0).sum(dim=1).to(d.dtype)
    return _finish(sums["rmt"], cnts["rmt"]) - _finish(sums["neb"], cnts["neb"])


def dirichlet_energy(
    x: Tensor,
    edge_index: Tensor,
    normalized: bool = False,
    edge_weight: Optional[Tensor] = None,
    chunk_size: int = 1 << 16,
) -> Tensor:
    r"""Dirichlet energy of the node representations on the graph.

    Plain (:math:`\mathbf{L} = \mathbf{D} - \mathbf{A}`):

    .. math::
        E(\mathbf{X}) = \operatorname{tr}(\mathbf{X}^\top \mathbf{L} \mathbf{X})
        = \frac{1}{2} \sum_{(i, j) \in \mathcal{E}} a_{ij} \|\mathbf{x}_i - \mathbf{x}_j\|^2

    Degree-normalised, on the graph with self-loops that GCN propagates over
    (:math:`\tilde{\Delta} = \mathbf{I} - \tilde{\mathbf{D}}^{-1/2} \tilde{\mathbf{A}}
    \tilde{\mathbf{D}}^{-1/2}`, Cai & Wang, 2020):

    .. math::
        \tilde{E}(\mathbf{X}) = \operatorname{tr}(\mathbf{X}^\top \tilde{\Delta} \mathbf{X})
        = \frac{1}{2} \sum_{(i, j) \in \mathcal{E}} a_{ij}
        \Big\| \frac{\mathbf{x}_i}{\sqrt{1 + d_i}} - \frac{\mathbf{x}_j}{\sqrt{1 + d_j}} \Big\|^2

    with :math:`d_i = \sum_j a_{ij}`. ``edge_index`` lists each undirected edge in both
    directions (PyG's convention), hence the :math:`\frac{1}{2}`; self-loops in ``edge_index``
    are ignored. The energy goes to 0 when the representation collapses to a constant vector
    (plain) or to :math:`\sqrt{1 + d_i}` times a constant vector (normalised), the fixed
    points of repeated GCN propagation.

    Args:
        x (Tensor): node representations :math:`(|V|, F)`.
        edge_index (Tensor): edges :math:`(2, |E|)`.
        normalized (bool): the degree-normalised energy. (default: ``False``)
        edge_weight (Tensor, optional): :math:`a_{ij}` per edge :math:`(|E|)`; default ``1``.
        chunk_size (int): edges processed at once (memory :math:`O(\text{chunk\_size}\,F)`).
    """
    if x.dim() != 2:
        raise ValueError(f"dirichlet_energy: x must have shape (num_nodes, num_features), "
                         f"got {tuple(x.shape)}")
    n = x.size(0)
    check_edge_index(edge_index, n, n, "dirichlet_energy")
    if edge_weight is not None and edge_weight.shape != (edge_index.size(1),):
        raise ValueError(f"dirichlet_energy: edge_weight must have shape "
                         f"({edge_index.size(1)},), got {tuple(edge_weight.shape)}")
    edge_index, edge_weight = remove_self_loops(edge_index, edge_weight)
    x = x if torch.is_floating_point(x) else x.float()
    w = (torch.ones(edge_index.size(1), dtype=x.dtype, device=x.device) if edge_weight is None
         else edge_weight.to(x.dtype))
    if normalized:
        deg = scatter(w, edge_index[0], dim=0, dim_size=n, reduce="sum")
        x = x / (1.0 + deg).sqrt().view(-1, 1)
    total = x.new_zeros(())
    for start in range(0, edge_index.size(1), chunk_size):
        src, dst = edge_index[:, start:start + chunk_size]
        diff = x[src] - x[dst]
        total = total + (w[start:start + chunk_size] * diff.pow(2).sum(dim=1)).sum()
    return 0.5 * total


def smoothing_report(x: Tensor, edge_index: Tensor, chunk_size: int = DEFAULT_CHUNK
                     ) -> dict:
    """All the measures of this module for one representation, as plain floats:
    ``mad`` (all pairs), ``mad_neighbors`` (the graph's edges), ``mad_gap``,
    ``dirichlet`` and ``dirichlet_normalized``."""
    return {
        "mad": float(mad(x, chunk_size=chunk_size)),
        "mad_neighbors": float(mad(x, edge_index)),
        "mad_gap": float(mad_gap(x, edge_index, chunk_size=chunk_size)),
        "dirichlet": float(dirichlet_energy(x, edge_index)),
        "dirichlet_normalized": float(dirichlet_energy(x, edge_index, normalized=True)),
    }
