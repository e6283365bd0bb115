"""ogbn-products: the real graph read from OGB's raw files, and a seeded synthetic graph of its
size and shape (for benchmarks that must run where the real one cannot be downloaded)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Data

from pyg_course.datasets.loading import DatasetCorruptError, DatasetNotFoundError
from pyg_course.utils.checks import check_int, check_real
from pyg_course.utils.errors import describe_error

#: Endpoints drawn per vectorised step: bounds the temporaries of the edge sampler.
_CHUNK = 1 << 22
#: Feature rows per slice when the class means are added.
_ROWS = 1 << 16
#: Standard deviation of the feature noise around the class means (which have unit variance).
_NOISE_STD = 4.0
#: At most this many rounds of drawing more edges to replace the duplicates removed.
_MAX_ROUNDS = 8


def synthetic_products(
    num_nodes: int = 2_449_029,
    avg_degree: float = 50.5,
    num_features: int = 100,
    num_classes: int = 47,
    train_fraction: float = 0.08,
    val_fraction: float = 0.016,
    seed: int = 0,
    *,
    homophily: float = 0.8,
    degree_exponent: float = 2.8,
) -> Data:
    r"""A seeded synthetic graph of ogbn-products' size and shape: by default 2,449,029 nodes,
    average degree 50.5 (61.8M undirected edges, 123.7M entries in ``edge_index``), 100-d
    features and 47 classes, heavy-tailed degrees, homophilous edges and an 8 % / 1.6 % /
    90.4 % train / validation / test split in which the training nodes are the popular ones
    (ogbn-products' split ranks products by sales).

    The model, in vectorised steps (no Python loop over nodes or edges):

    - **classes:** :math:`y_i` uniform over ``num_classes``;
    - **features:** :math:`x_i = \mu_{y_i} + \varepsilon_i`, with
      :math:`\mu_c \sim \mathcal{N}(0, I)` and :math:`\varepsilon_i \sim \mathcal{N}(0, 16 I)`
      (float32): a node's features alone give its class to the nearest class mean about
      half the time, the mean of its neighbours' features nearly always;
    - **degrees** (Chung–Lu): every node gets a weight :math:`w_i = (1 - u_i)^{-1/(\gamma-1)}`
      (Pareto, so :math:`P(w > t) = t^{1-\gamma}`, :math:`\gamma` = ``degree_exponent``), and
      each edge's first endpoint is drawn with probability :math:`\propto w_i` (inverse-CDF:
      ``torch.searchsorted`` on the cumulative weights); its second endpoint likewise, among
      the first endpoint's class with probability ``homophily``, among all nodes otherwise. A
      node's expected degree is then proportional to its weight: power-law degrees, up to the
      hubs' saturation (a hub cannot have more distinct neighbours than there are nodes, and
      ``homophily`` of its edges stay in its class);
    - **edges:** self loops are dropped, the rest kept once per unordered pair (duplicates
      removed on one int64 key :math:`\min(i, j)\,|V| + \max(i, j)` per pair, the sort that
      ``torch_geometric.utils.coalesce`` does, at a third of its memory); more edges are drawn
      until :math:`\lfloor |V| \cdot \mathrm{avg\_degree} / 2 \rfloor` distinct pairs exist,
      and a random subset of exactly that many is kept; ``edge_index`` holds both directions,
      sorted by source then target (coalesced), so its average degree is ``avg_degree`` up to
      rounding;
    - **split:** nodes ranked by :math:`w_i e^{g_i}`, :math:`g_i \sim \mathcal{N}(0, 1)`: the
      first ``train_fraction`` are ``train_mask``, the next ``val_fraction`` ``val_mask``, the
      rest ``test_mask``.

    Memory at the default (full) size: the finished graph holds 2.0 GB of ``edge_index``
    (int64), 0.98 GB of features and 0.03 GB of labels and masks. Building it peaks at about
    2.75 times the size of ``edge_index``, about 5.5 GB (estimated: the sort of the 124M
    directed int64 keys, which holds the keys, the sorted keys, their indices and a buffer of
    both; the ratio was measured at 200,000 nodes, where the drawing's fixed-size temporaries
    add more); the features are drawn after the edges, in slices. Time: 6 s at 200,000 nodes
    on one CPU core, so a few minutes at the full size (sorts of 60-125M int64 keys and 125M
    binary searches).

    Args:
        num_nodes (int): :math:`|V|`, at least 2. (default: ``2_449_029``)
        avg_degree (float): average number of neighbours, in ``[0, num_nodes - 1)``.
            (default: ``50.5``)
        num_features (int): feature size. (default: ``100``)
        num_classes (int): number of classes, at least 2. (default: ``47``)
        train_fraction (float): fraction of nodes in ``train_mask``. (default: ``0.08``)
        val_fraction (float): fraction of nodes in ``val_mask``; ``train_fraction +
            val_fraction <= 1``, the rest is ``test_mask``. (default: ``0.016``)
        seed (int): seed (``>= 0``) of a private ``torch.Generator``; the global RNG is
            untouched. (default: ``0``)
        homophily (float): keyword only: probability that an edge's second endpoint is drawn
            from the first one's class, in ``[0, 1]``. (default: ``0.8``)
        degree_exponent (float): keyword only: the weights' power-law exponent
            :math:`\gamma > 2`; smaller is heavier-tailed. (default: ``2.8``)

    Returns:
        :class:`torch_geometric.data.Data` with ``x`` (float32), ``edge_index`` (undirected,
        coalesced, no self loops), ``y`` (long) and ``train_mask``, ``val_mask``,
        ``test_mask`` (disjoint, covering every node).
    """
    where = "synthetic_products"
    n = check_int(where, "num_nodes", num_nodes, 2)
    num_features = check_int(where, "num_features", num_features)
    num_classes = check_int(where, "num_classes", num_classes, 2)
    seed = check_int(where, "seed", seed, 0)
    check_real(where, "avg_degree", avg_degree, 0.0, n - 1)
    check_real(where, "train_fraction", train_fraction, 0.0, 1.0, include_high=True)
    check_real(where, "val_fraction", val_fraction, 0.0, 1.0, include_high=True)
    check_real(where, "homophily", homophily, 0.0, 1.0, include_high=True)
    check_real(where, "degree_exponent", degree_exponent, 2.0, include_low=False)
    num_train = round(train_fraction * n)
    num_val = round(val_fraction * n)
    if num_train + num_val > n:
        raise ValueError(f"{where}: train_fraction + val_fraction must be at most 1 (got "
                         f"{train_fraction} + {val_fraction})")
    gen = torch.Generator().manual_seed(seed)

    y = torch.randint(num_classes, (n,), generator=gen)
    weight = torch.rand(n, generator=gen, dtype=torch.float64).neg_().add_(1.0)
    weight.pow_(-1.0 / (degree_exponent - 1.0))

    keys = _draw_pairs(y, weight, num_classes, int(n * avg_degree / 2), homophily, gen)
    edge_index = _directed_edge_index(keys, n)
    del keys

    mu = torch.randn(num_classes, num_features, generator=gen)
    x = torch.randn(n, num_features, generator=gen).mul_(_NOISE_STD)
    for start in range(0, n, _ROWS):  # in slices: no second (n, num_features) temporary
        x[start:start + _ROWS].add_(mu[y[start:start + _ROWS]])

    score = weight.log_().add_(torch.randn(n, generator=gen, dtype=torch.float64))
    rank = torch.argsort(score, descending=True)
    train_mask = torch.zeros(n, dtype=torch.bool)
    val_mask = torch.zeros(n, dtype=torch.bool)
    train_mask[rank[:num_train]] = True
    val_mask[rank[num_train:num_train + num_val]] = True
    test_mask = ~(train_mask | val_mask)
    return Data(x=x, edge_index=edge_index, y=y, train_mask=train_mask, val_mask=val_mask,
                test_mask=test_mask, num_nodes=n)


def _draw_pairs(y: Tensor, weight: Tensor, num_classes: int, num_pairs: int, homophily: float,
                gen: torch.Generator) -> Tensor:
    """``num_pairs`` distinct unordered pairs ``i != j`` of the Chung–Lu model with homophily
    (see :func:`synthetic_products`), as sorted keys ``min * n + max``."""
    n = y.numel()
    order = torch.argsort(y, stable=True)  # nodes grouped by class
    cum = torch.cumsum(weight[order], 0)
    total = float(cum[-1])
    count = torch.bincount(y, minlength=num_classes)
    end = cum[torch.cumsum(count, 0).sub_(1).clamp_(min=0)]
    end[count == 0] = 0.0
    end = torch.cummax(end, 0).values  # a class without members ends where the last one did
    start = torch.cat([end.new_zeros(1), end[:-1]])

    def draw(num: int) -> Tensor:
        t = torch.rand(num, generator=gen, dtype=torch.float64).mul_(total)
        src = order[torch.searchsorted(cum, t, right=True).clamp_(max=n - 1)]
        c = y[src]
        t = torch.rand(num, generator=gen, dtype=torch.float64)
        same = torch.rand(num, generator=gen) < homophily
        t = torch.where(same, start[c] + t * (end[c] - start[c]), t * total)
        dst = order[torch.searchsorted(cum, t, right=True).clamp_(max=n - 1)]
        keep = src != dst
        src, dst = src[keep], dst[keep]
        return torch.minimum(src, dst).mul_(n).add_(torch.maximum(src, dst))

    keys = torch.empty(0, dtype=torch.long)
    drawn_per_new = 1.0
    for _ in range(_MAX_ROUNDS):
        missing = num_pairs - keys.numel()
        if missing <= 0:
            break
        num = int(missing * drawn_per_new * 1.05) + 16
        new = torch.cat([draw(min(_CHUNK, num - i)) for i in range(0, num, _CHUNK)])
        before = keys.numel()
        keys = torch.unique(torch.cat([keys, new]))
        del new
        drawn_per_new = num / max(keys.numel() - before, 1)
    excess = keys.numel() - num_pairs
    if excess > 0:  # drop a random subset; the rest stays sorted
        drop = torch.zeros(keys.numel(), dtype=torch.bool)
        drop[torch.randperm(keys.numel(), generator=gen)[:excess]] = True
        keys = keys[~drop]
    return keys


def _directed_edge_index(keys: Tensor, num_nodes: int) -> Tensor:
    """The ``(2, E)`` coalesced ``edge_index`` of both directions of the unordered pairs
    ``keys`` (``min * num_nodes + max``, distinct); a self loop (ogbn-products' raw edge list
    may hold some) appears once. What PyG's ``to_undirected`` returns, built from one vector
    of keys sorted once rather than through its ``(2, E)`` concatenation and coalescing
    (fewer large temporaries at ogbn-products' 62M directed edges)."""
    row, col = keys.div(num_nodes, rounding_mode="floor"), keys.remainder(num_nodes)
    loop = row == col
    directed = torch.cat([keys, col[~loop].mul_(num_nodes).add_(row[~loop])])
    del row, col, loop
    directed = torch.sort(directed).values
    edge_index = torch.empty(2, directed.numel(), dtype=torch.long)
    torch.div(directed, num_nodes, rounding_mode="floor", out=edge_index[0])
    torch.remainder(directed, num_nodes, out=edge_index[1])
    return edge_index


#: OGB's raw files of ogbn-products, relative to ``<root>/ogbn_products``.
OGBN_PRODUCTS_FILES = {
    "edge": "raw/edge.csv.gz",
    "x": "raw/node-feat.csv.gz",
    "y": "raw/node-label.csv.gz",
    "train": "split/sales_ranking/train.csv.gz",
    "val": "split/sales_ranking/valid.csv.gz",
    "test": "split/sales_ranking/test.csv.gz",
}


def load_ogbn_products(root: str | os.PathLike) -> Data:
    """ogbn-products read from OGB's raw files under ``root`` (as ``products.zip`` from OGB
    unpacks, or as the ``ogb`` package leaves them), without the ``ogb`` package:

    .. code-block:: text

        <root>/ogbn_products/raw/edge.csv.gz          one "src,dst" line per undirected edge
        <root>/ogbn_products/raw/node-feat.csv.gz     one line of 100 floats per node
        <root>/ogbn_products/raw/node-label.csv.gz    one class per node
        <root>/ogbn_products/split/sales_ranking/{train,valid,test}.csv.gz    node ids

    The edges are made undirected (both directions, coalesced, duplicates removed, as
    ``torch_geometric.utils.to_undirected`` would). Reading the full dataset takes minutes
    (``numpy.loadtxt`` parses a few GB of decompressed text); memory, estimated: the result
    holds 3 GB (``edge_index`` 2 GB, features 1 GB), the peak while the edges are made
    undirected about 4.5 GB.

    Args:
        root (str or os.PathLike): the folder that holds ``ogbn_products``.

    Raises:
        DatasetNotFoundError: (a ``FileNotFoundError``) a file is missing; the message names
            it and the layout above.
        DatasetCorruptError: a file cannot be parsed, or the files disagree (rows of features
            and labels, node ids out of range, a non-integer label).

    Returns:
        :class:`torch_geometric.data.Data` with ``x`` (float32), ``edge_index``, ``y`` (long)
        and ``train_mask``, ``val_mask``, ``test_mask`` (the sales-ranking split).
    """
    base = Path(root).expanduser() / "ogbn_products"
    paths = {key: base / rel for key, rel in OGBN_PRODUCTS_FILES.items()}
    for path in paths.values():
        if not path.is_file():
            layout = ", ".join(f"<root>/ogbn_products/{rel}"
                               for rel in OGBN_PRODUCTS_FILES.values())
            raise DatasetNotFoundError(f"load_ogbn_products: no file {path}; expected OGB's raw "
                                       f"layout of ogbn-products under root={str(root)!r}: "
                                       f"{layout}")
    y = _read_csv(paths["y"], np.float64).reshape(-1)
    if not np.all(np.isfinite(y)) or np.any(y != np.round(y)) or np.any(y < 0):
        raise _corrupt(paths["y"], "labels must be non-negative integers")
    y = torch.from_numpy(y.astype(np.int64))
    n = y.numel()
    x = _read_csv(paths["x"], np.float32)
    if x.ndim != 2 or x.shape[0] != n:
        raise _corrupt(paths["x"], f"{x.shape[0]} rows of features for {n} labelled nodes")
    pairs = torch.from_numpy(_read_csv(paths["edge"], np.int64).reshape(-1, 2))
    _check_ids(pairs, n, paths["edge"])
    src, dst = pairs[:, 0], pairs[:, 1]
    keys = torch.minimum(src, dst).mul_(n).add_(torch.maximum(src, dst))
    del pairs, src, dst
    keys = torch.unique(keys)
    edge_index = _directed_edge_index(keys, n)
    del keys
    masks = {}
    for split in ("train", "val", "test"):
        ids = torch.from_numpy(_read_csv(paths[split], np.int64).reshape(-1))
        _check_ids(ids, n, paths[split])
        masks[f"{split}_mask"] = torch.zeros(n, dtype=torch.bool).index_fill_(0, ids, True)
    return Data(x=torch.from_numpy(x), edge_index=edge_index, y=y, num_nodes=n, **masks)


def _read_csv(path: Path, dtype) -> np.ndarray:
    """The comma-separated numbers of the (gzipped) file ``path``, one row per line."""
    try:
        return np.loadtxt(path, delimiter=",", dtype=dtype, ndmin=2)
    except (ValueError, OSError, EOFError) as exc:
        raise _corrupt(path, describe_error(exc)) from exc


def _check_ids(ids: Tensor, num_nodes: int, path: Path) -> None:
    if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= num_nodes):
        raise _corrupt(path, f"node ids must lie in [0, {num_nodes}) (the rows of "
                             f"node-label.csv.gz), found {int(ids.min())}..{int(ids.max())}")


def _corrupt(path: Path, why: str) -> DatasetCorruptError:
    return DatasetCorruptError(f"load_ogbn_products: {path} is unreadable or corrupt: {why}")
