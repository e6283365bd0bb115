"""Contextual stochastic block model: a seeded synthetic node-classification graph."""

from __future__ import annotations

import math
import numbers

import torch
from torch_geometric.data import Data
from torch_geometric.utils import coalesce, remove_self_loops, to_undirected


def csbm(
    num_nodes: int = 2000,
    num_classes: int = 2,
    num_features: int = 32,
    snr: float = 1.0,
    homophily: float = 0.8,
    avg_degree: float = 10.0,
    seed: int = 0,
    num_train_per_class: int = 20,
    num_val: int = 500,
    num_test: int = 1000,
) -> Data:
    r"""Sample a contextual stochastic block model (Deshpande et al., 2018).

    Every node gets a class :math:`y_i` uniformly at random. Features are Gaussian around a
    class mean: :math:`x_i = \mathrm{snr} \cdot \mu_{y_i} + \varepsilon_i` with
    :math:`\mu_c \sim \mathcal{N}(0, I_d / d)` (so :math:`\|\mu_c\| \approx 1`) and
    :math:`\varepsilon_i \sim \mathcal{N}(0, I_d / d)`. Each of the
    :math:`|V| \cdot \mathrm{avg\_degree} / 2` undirected edges picks a uniform source and, with
    probability ``homophily``, a uniform target of the same class, otherwise a uniform target of
    another class. Self-loops and duplicates are removed, so the realised degree is slightly
    below ``avg_degree``.

    Args:
        num_nodes (int): :math:`|V|`. (default: ``2000``)
        num_classes (int): number of blocks. (default: ``2``)
        num_features (int): feature dimension :math:`d`. (default: ``32``)
        snr (float): feature signal-to-noise ratio; ``0`` gives features that carry no label
            information. (default: ``1.0``)
        homophily (float): expected fraction of intra-class edges, in ``[0, 1]``.
            (default: ``0.8``)
        avg_degree (float): expected average degree before de-duplication. (default: ``10``)
        seed (int): seed of a private generator; the global RNG is untouched. (default: ``0``)
        num_train_per_class, num_val, num_test (int): sizes of the random split stored in
            ``train_mask``, ``val_mask`` and ``test_mask`` (Planetoid's layout); each ``>= 0``
            and together at most ``num_nodes``.

    Raises:
        TypeError: a size or the seed is not an ``int`` (``bool`` included), or ``snr``,
            ``homophily`` or ``avg_degree`` is not a real number.
        ValueError: ``num_nodes`` or ``num_classes`` below 2, ``num_features`` below 1, a
            negative split size or ``avg_degree``, a non-finite ``snr``, ``homophily`` outside
            ``[0, 1]``, or a split larger than the graph.

    Returns:
        :class:`torch_geometric.data.Data` with ``x``, ``edge_index`` (undirected, coalesced),
        ``y`` and the three masks.
    """
    sizes = (("num_nodes", num_nodes, 2), ("num_classes", num_classes, 2),
             ("num_features", num_features, 1), ("num_train_per_class", num_train_per_class, 0),
             ("num_val", num_val, 0), ("num_test", num_test, 0), ("seed", seed, None))
    for arg, value, low in sizes:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise TypeError(f"csbm: {arg} must be an int (got {value!r})")
        if low is not None and value < low:
            raise ValueError(f"csbm: {arg} must be >= {low} (got {value})")
    for arg, value in (("snr", snr), ("homophily", homophily), ("avg_degree", avg_degree)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"csbm: {arg} must be a real number (got {value!r})")
        if not math.isfinite(value):
            raise ValueError(f"csbm: {arg} must be finite (got {value})")
    if not 0.0 <= homophily <= 1.0:
        raise ValueError(f"csbm: homophily must lie in [0, 1] (got {homophily})")
    if avg_degree < 0:
        raise ValueError(f"csbm: avg_degree must be >= 0 (got {avg_degree})")
    num_nodes, num_classes, num_features, seed = map(int, (num_nodes, num_classes, num_features,
                                                           seed))
    snr, homophily, avg_degree = map(float, (snr, homophily, avg_degree))
    if num_train_per_class * num_classes + num_val + num_test > num_nodes:
        raise ValueError(
            f"csbm: split of {num_train_per_class}x{num_classes} train + {num_val} val + "
            f"{num_test} test nodes does not fit in {num_nodes} nodes"
        )
    gen = torch.Generator().manual_seed(seed)

    y = torch.randint(num_classes, (num_nodes,), generator=gen)
    mu = torch.randn(num_classes, num_features, generator=gen) / math.sqrt(num_features)
    noise = torch.randn(num_nodes, num_features, generator=gen) / math.sqrt(num_features)
    x = snr * mu[y] + noise

    # Nodes grouped by class: a uniform member of class c is order[start[c] + r * count[c]].
    order = torch.argsort(y, stable=True)
    count = torch.bincount(y, minlength=num_classes)
    start = torch.cumsum(count, 0) - count

    num_edges = int(num_nodes * avg_degree / 2)
    src = torch.randint(num_nodes, (num_edges,), generator=gen)
    same = torch.rand(num_edges, generator=gen) < homophily
    shift = torch.randint(1, num_classes, (num_edges,), generator=gen)
    dst_class = torch.where(same, y[src], (y[src] + shift) % num_classes)
    offset = (torch.rand(num_edges, generator=gen) * count[dst_class]).long()
    offset = torch.minimum(offset, count[dst_class] - 1).clamp(min=0)
    dst = order[start[dst_class] + offset]
    has_members = count[dst_class] > 0
    edge_index = torch.stack([src[has_members], dst[has_members]])
    edge_index, _ = remove_self_loops(edge_index)
    edge_index = coalesce(to_undirected(edge_index, num_nodes=num_nodes), num_nodes=num_nodes)

    perm = torch.randperm(num_nodes, generator=gen)
    train_mask = torch.zeros(num_nodes, dtype=torch.bool)
    for c in range(num_classes):
        members = perm[y[perm] == c][:num_train_per_class]
        train_mask[members] = True
    rest = perm[~train_mask[perm]]
    val_mask = torch.zeros(num_nodes, dtype=torch.bool)
    test_mask = torch.zeros(num_nodes, dtype=torch.bool)
    val_mask[rest[:num_val]] = True
    test_mask[rest[num_val : num_val + num_test]] = True

    return Data(
        x=x,
        edge_index=edge_index,
        y=y,
        train_mask=train_mask,
        val_mask=val_mask,
        test_mask=test_mask,
        num_nodes=num_nodes,
    )
