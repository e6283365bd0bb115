import gzip

import pytest
import torch
from torch_geometric.utils import coalesce, is_undirected, scatter, to_undirected

from pyg_course.datasets import (
    DatasetCorruptError,
    DatasetNotFoundError,
    load_ogbn_products,
    synthetic_products,
)

N = 20_000


@pytest.fixture(scope="module")
def graph():
    return synthetic_products(N, seed=0)


def degrees(data):
    return torch.bincount(data.edge_index[0], minlength=data.num_nodes).float()


def test_size_and_average_degree(graph):
    assert graph.num_nodes == N and graph.x.shape == (N, 100) and graph.x.dtype == torch.float32
    assert graph.y.dtype == torch.long and graph.y.shape == (N,)
    assert int(graph.y.min()) >= 0 and int(graph.y.max()) == 46
    # Exactly floor(N * 50.5 / 2) distinct undirected pairs, so the average degree is 50.5.
    assert graph.edge_index.size(1) == 2 * int(N * 50.5 / 2)
    assert abs(graph.edge_index.size(1) / N - 50.5) < 0.1 * 50.5


def test_undirected_coalesced_without_self_loops(graph):
    ei = graph.edge_index
    assert ei.dtype == torch.long
    assert is_undirected(ei, num_nodes=N)
    assert not (ei[0] == ei[1]).any()
    assert torch.equal(coalesce(ei, num_nodes=N), ei)  # sorted, and no duplicate


def test_edge_index_is_pyg_to_undirected_of_the_pairs():
    from pyg_course.datasets.products import _directed_edge_index

    n = 50
    g = torch.Generator().manual_seed(0)
    a, b = torch.randint(n, (2, 300), generator=g)  # self loops included
    keys = torch.unique(torch.minimum(a, b) * n + torch.maximum(a, b))
    assert (keys // n == keys % n).any()
    pairs = torch.stack([keys // n, keys % n])
    assert torch.equal(_directed_edge_index(keys, n), to_undirected(pairs, num_nodes=n))


def test_heavy_tailed_degrees(graph):
    deg = degrees(graph)
    assert deg.max() > 20 * deg.mean()
    # The top 1 % of nodes hold over 5 % of the edge endpoints (about 1.5 % for a graph with
    # Poisson degrees of the same mean); and the split puts the popular nodes in training.
    top = deg.sort(descending=True).values[: N // 100]
    assert top.sum() > 0.05 * deg.sum()
    assert deg[graph.train_mask].mean() > 1.5 * deg[graph.test_mask].mean()


def test_homophilous_edges_and_class_correlated_features(graph):
    ei = graph.edge_index
    assert (graph.y[ei[0]] == graph.y[ei[1]]).float().mean() > 0.5  # chance: 1 / 47
    # Nearest class mean (means from the training nodes): a node's own features carry its
    # class, its neighbours' mean features far more (what a GNN learns from).
    train = graph.train_mask

    def accuracy(x):
        means = torch.stack([x[train & (graph.y == c)].mean(0) for c in range(47)])
        pred = torch.cdist(x[~train], means).argmin(1)
        return float((pred == graph.y[~train]).float().mean())

    neighbours = scatter(graph.x[ei[0]], ei[1], 0, dim_size=N, reduce="mean")
    own = accuracy(graph.x)
    assert 0.2 < own < 0.7
    assert accuracy(neighbours) > own + 0.2


def test_split_sizes_and_disjoint_masks(graph):
    masks = torch.stack([graph.train_mask, graph.val_mask, graph.test_mask])
    assert masks.dtype == torch.bool
    assert torch.equal(masks.sum(0), torch.ones(N, dtype=torch.long))  # disjoint, cover all
    assert masks.sum(1).tolist() == [round(0.08 * N), round(0.016 * N),
                                     N - round(0.08 * N) - round(0.016 * N)]
    other = synthetic_products(1000, avg_degree=10, train_fraction=0.5, val_fraction=0.25)
    assert [int(other.train_mask.sum()), int(other.val_mask.sum()),
            int(other.test_mask.sum())] == [500, 250, 250]


def test_seeded_reproducible_and_global_rng_untouched():
    state = torch.get_rng_state()
    a = synthetic_products(3000, avg_degree=20, num_features=8, seed=3)
    assert torch.equal(torch.get_rng_state(), state)
    b = synthetic_products(3000, avg_degree=20, num_features=8, seed=3)
    c = synthetic_products(3000, avg_degree=20, num_features=8, seed=4)
    for key in ("x", "edge_index", "y", "train_mask", "val_mask", "test_mask"):
        assert torch.equal(a[key], b[key]), key
    assert not torch.equal(a.x, c.x) and not torch.equal(a.y, c.y)
    assert a.edge_index.shape == c.edge_index.shape  # the same number of edges, other edges
    assert not torch.equal(a.edge_index, c.edge_index)


@pytest.mark.parametrize("kwargs,error,message", [
    (dict(num_nodes=1), ValueError, "num_nodes must be at least 2"),
    (dict(num_nodes=100, avg_degree=99), ValueError, "avg_degree must lie in"),
    (dict(avg_degree=-1.0), ValueError, "avg_degree must lie in"),
    (dict(train_fraction=0.7, val_fraction=0.4), ValueError,
     r"train_fraction \+ val_fraction must be at most 1"),
    (dict(degree_exponent=2.0), ValueError, "degree_exponent must be > 2"),
    (dict(homophily=1.5), ValueError, "homophily must lie in"),
    (dict(num_nodes=100.0), TypeError, "num_nodes must be an int"),
    (dict(seed=0.5), TypeError, "seed must be an int"),
])
def test_bad_arguments(kwargs, error, message):
    with pytest.raises(error, match="synthetic_products: " + message):
        synthetic_products(**{"num_nodes": 200, "avg_degree": 5.0, **kwargs})


# A tiny ogbn-products in OGB's raw layout: 5 nodes, 3 features, 3 classes.
EDGES = [(0, 1), (1, 2), (3, 1), (1, 0), (4, 4)]  # (1, 0) repeats (0, 1); (4, 4) a self loop
FEATURES = [[0.5, 1.0, -2.0], [1.5, 0.0, 0.25], [3.0, 2.0, 1.0], [-1.0, -1.0, 0.0],
            [0.0, 0.125, 4.0]]
LABELS = [2, 0, 1, 1, 0]
SPLIT = {"train": [0, 3], "valid": [4], "test": [1, 2]}


def write_gz(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt") as f:
        f.writelines(",".join(str(v) for v in row) + "\n" for row in rows)


@pytest.fixture
def products_root(tmp_path):
    base = tmp_path / "ogbn_products"
    write_gz(base / "raw" / "edge.csv.gz", EDGES)
    write_gz(base / "raw" / "node-feat.csv.gz", FEATURES)
    write_gz(base / "raw" / "node-label.csv.gz", [[v] for v in LABELS])
    for name, ids in SPLIT.items():
        write_gz(base / "split" / "sales_ranking" / f"{name}.csv.gz", [[i] for i in ids])
    return tmp_path


def test_load_ogbn_products_reads_the_raw_layout(products_root):
    data = load_ogbn_products(products_root)
    assert data.num_nodes == 5
    assert data.edge_index.tolist() == [[0, 1, 1, 1, 2, 3, 4],
                                        [1, 0, 2, 3, 1, 1, 4]]
    assert data.x.dtype == torch.float32 and torch.equal(data.x, torch.tensor(FEATURES))
    assert data.y.dtype == torch.long and data.y.tolist() == LABELS
    assert data.train_mask.tolist() == [True, False, False, True, False]
    assert data.val_mask.tolist() == [False, False, False, False, True]
    assert data.test_mask.tolist() == [False, True, True, False, False]


@pytest.mark.parametrize("rel", ["raw/edge.csv.gz", "raw/node-feat.csv.gz",
                                 "raw/node-label.csv.gz", "split/sales_ranking/valid.csv.gz"])
def test_a_missing_file_is_named(products_root, rel):
    (products_root / "ogbn_products" / rel).unlink()
    with pytest.raises(FileNotFoundError) as info:
        load_ogbn_products(products_root)
    assert isinstance(info.value, DatasetNotFoundError)
    message = str(info.value)
    assert f"no file {products_root / 'ogbn_products' / rel};" in message
    assert "<root>/ogbn_products/raw/edge.csv.gz" in message
    assert "<root>/ogbn_products/split/sales_ranking/test.csv.gz" in message


def test_an_empty_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="expected OGB's raw layout of ogbn-products"):
        load_ogbn_products(tmp_path)


@pytest.mark.parametrize("rel,rows,message", [
    ("raw/node-feat.csv.gz", FEATURES[:4], "4 rows of features for 5 labelled nodes"),
    ("raw/node-feat.csv.gz", [[1.0, 2.0]] + FEATURES[1:], "node-feat.csv.gz is unreadable"),
    ("raw/node-label.csv.gz", [[0.5]] * 5, "labels must be non-negative integers"),
    ("raw/edge.csv.gz", [(0, 5)], r"node ids must lie in \[0, 5\)"),
    ("split/sales_ranking/train.csv.gz", [[-1]], r"node ids must lie in \[0, 5\)"),
])
def test_corrupt_files(products_root, rel, rows, message):
    write_gz(products_root / "ogbn_products" / rel, rows)
    with pytest.raises(DatasetCorruptError, match=message):
        load_ogbn_products(products_root)
