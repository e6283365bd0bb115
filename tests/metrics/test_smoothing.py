"""MAD, MADGap and Dirichlet energy on hand-computed examples; blocked/sampled vs exact."""

import math

import pytest
import torch
from torch_geometric.utils import to_undirected

from pyg_course.metrics import dirichlet_energy, mad, mad_gap
from tests.helpers.graphs import toy_graph

PATH = toy_graph("path").edge_index  # 0 - 1 - 2 - 3


def _dense_mad(x, pair_mask):
    """Chen et al.'s Eq. 2-3 written densely in float64."""
    u = x.double() / x.double().norm(dim=1, keepdim=True).clamp(min=1e-12)
    D = (1 - u @ u.t()) * pair_mask.double()
    D = torch.where(D > 1e-6, D, torch.zeros_like(D))
    cnt = (D > 0).sum(1)
    row = torch.where(cnt > 0, D.sum(1) / cnt.clamp(min=1), torch.zeros(()).double())
    return row[row > 0].mean() if bool((row > 0).any()) else torch.zeros(()).double()


def test_identical_rows_give_zero():
    x = torch.tensor([[1.0, 2.0, 3.0]]).repeat(6, 1)
    assert float(mad(x)) == 0.0
    assert float(mad(x, PATH[:, :4] % 4)) == 0.0
    assert float(dirichlet_energy(x, PATH[:, :4] % 4)) == 0.0
    # Parallel rows of different length are also at cosine distance 0.
    assert float(mad(x * torch.arange(1, 7).view(-1, 1))) == pytest.approx(0.0, abs=1e-6)


def test_orthogonal_rows():
    # Every pair of distinct rows is orthogonal: distance 1, so MAD = 1 whatever the mask.
    x = torch.eye(5)
    assert float(mad(x)) == pytest.approx(1.0)
    # Rows e0, e0, e1: the zero distance of the identical pair is left out (paper's Eq. 2).
    x = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    assert float(mad(x)) == pytest.approx(1.0)
    # Rows at 60 degrees and 90 degrees: distances 1/2 and 1 -> hand-computed averages.
    x = torch.tensor([[1.0, 0.0], [0.5, math.sqrt(3) / 2], [0.0, 1.0]])
    # node 0: (0.5 + 1)/2, node 1: (0.5 + (1 - sqrt3/2))/2, node 2: (1 + 1 - sqrt3/2)/2
    d12 = 1 - math.sqrt(3) / 2
    expected = (0.75 + (0.5 + d12) / 2 + (1 + d12) / 2) / 3
    assert float(mad(x)) == pytest.approx(expected, rel=1e-6)


def test_path_graph_dirichlet_energy():
    x = torch.tensor([[0.0], [1.0], [2.0], [4.0]])
    # Plain: (1-0)^2 + (2-1)^2 + (4-2)^2 = 6 over the three undirected edges.
    assert float(dirichlet_energy(x, PATH)) == pytest.approx(6.0)
    # Normalised: degrees 1, 2, 2, 1 -> sqrt(1 + d) = sqrt2, sqrt3, sqrt3, sqrt2.
    s2, s3 = math.sqrt(2), math.sqrt(3)
    expected = (0 / s2 - 1 / s3) ** 2 + (1 / s3 - 2 / s3) ** 2 + (2 / s3 - 4 / s2) ** 2
    assert float(dirichlet_energy(x, PATH, normalized=True)) == pytest.approx(expected)
    # tr(X^T L X) with the dense Laplacian, and the energy of the GCN fixed point is 0.
    L = torch.tensor([[1, -1, 0, 0], [-1, 2, -1, 0], [0, -1, 2, -1], [0, 0, -1, 1.0]])
    assert float(dirichlet_energy(x, PATH)) == pytest.approx(float(x.t() @ L @ x))
    fixed = torch.tensor([[s2], [s3], [s3], [s2]]) * 3.0
    assert float(dirichlet_energy(fixed, PATH, normalized=True)) == pytest.approx(0.0, abs=1e-6)


def test_path_graph_mad_over_edges_and_gap():
    x = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    # Neighbouring pairs (0,1),(1,2),(2,3): only 1-2 differs; per-node non-zero averages are
    # node1: 1, node2: 1, others none -> MAD over edges = 1.
    assert float(mad(x, PATH)) == pytest.approx(1.0)
    # neighbour = 1 hop, remote >= 3 hops: remote pairs (0,3) only, distance 1; neighbour MAD 1.
    assert float(mad_gap(x, PATH, neighbor_hops=1, remote_hops=3)) == pytest.approx(0.0)
    x = torch.tensor([[1.0, 0.0], [1.0, 0.1], [0.1, 1.0], [0.0, 1.0]])
    hops = torch.tensor([[0, 1, 2, 3], [1, 0, 1, 2], [2, 1, 0, 1], [3, 2, 1, 0]])
    expected = (_dense_mad(x, hops >= 3) - _dense_mad(x, (hops >= 1) & (hops <= 1)))
    got = mad_gap(x, PATH, neighbor_hops=1, remote_hops=3, chunk_size=3)
    assert float(got) == pytest.approx(float(expected), rel=1e-5)


@pytest.mark.parametrize("chunk_size", [1, 7, 1024])
def test_blocked_equals_dense(chunk_size):
    n = 40
    x = torch.randn(n, 6)
    x[3] = x[5]  # a zero distance that must be left out
    x[7] = 0.0  # a zero row
    node_mask = torch.rand(n) < 0.5
    pair_mask = torch.rand(n, n) < 0.3
    assert float(mad(x, chunk_size=chunk_size)) == pytest.approx(
        float(_dense_mad(x, torch.ones(n, n, dtype=torch.bool))), rel=1e-5)
    assert float(mad(x, mask=node_mask, chunk_size=chunk_size)) == pytest.approx(
        float(_dense_mad(x, node_mask.view(-1, 1) & node_mask.view(1, -1))), rel=1e-5)
    assert float(mad(x, mask=pair_mask, chunk_size=chunk_size)) == pytest.approx(
        float(_dense_mad(x, pair_mask)), rel=1e-5)
    ei = to_undirected(torch.randint(n, (2, 80)), num_nodes=n)
    A = torch.zeros(n, n, dtype=torch.bool)
    A[ei[0], ei[1]] = True
    assert float(mad(x, ei)) == pytest.approx(float(_dense_mad(x, A)), rel=1e-5)
    # Dirichlet energy in edge blocks equals one block.
    assert float(dirichlet_energy(x, ei, chunk_size=chunk_size)) == pytest.approx(
        float(dirichlet_energy(x, ei)), rel=1e-5)


def test_mad_gap_hops_against_floyd_warshall():
    n = 30
    ei = to_undirected(torch.randint(n, (2, 35)), num_nodes=n)
    x = torch.randn(n, 4)
    dist = torch.full((n, n), float("inf"))
    dist[ei[0], ei[1]] = 1.0
    dist.fill_diagonal_(0.0)
    for k in range(n):
        dist = torch.minimum(dist, dist[:, k:k + 1] + dist[k:k + 1, :])
    expected = _dense_mad(x, dist >= 8) - _dense_mad(x, (dist >= 1) & (dist <= 3))
    for chunk in (4, 1024):
        assert float(mad_gap(x, ei, chunk_size=chunk)) == pytest.approx(float(expected), rel=1e-5)


def test_sampled_mad_is_close_to_exact():
    n = 300
    x = torch.randn(n, 8)
    exact = float(mad(x))
    gen = torch.Generator().manual_seed(0)
    est = float(mad(x, num_samples=200, generator=gen))
    assert est == pytest.approx(exact, rel=0.02)
    # A collapsed representation is 0 for the estimator too.
    assert float(mad(torch.ones(n, 3), num_samples=10)) == 0.0


def test_errors():
    with pytest.raises(ValueError, match="mask must be"):
        mad(torch.randn(4, 2), mask=torch.ones(3, dtype=torch.bool))
    with pytest.raises(IndexError, match="only 4"):
        dirichlet_energy(torch.randn(4, 2), torch.tensor([[0], [9]]))
    with pytest.raises(ValueError, match="neighbor_hops"):
        mad_gap(torch.randn(4, 2), PATH, neighbor_hops=3, remote_hops=2)
