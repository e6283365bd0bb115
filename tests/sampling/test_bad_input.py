"""The samplers and CSRGraph reject what they would otherwise misread: node ids outside the graph
(aliasing an edge's key), fractional counts and ids (silently truncated), non-finite or negative
parameters (errors only at the first draw, or NaN probabilities), masks passed as integer ids,
and a ``num_nodes`` that disagrees with a given CSRGraph. Valid alternatives (Python lists,
int32 edges, a CSRGraph for the unigram sampler) give the same samples as the usual form."""

import numpy as np
import pytest
import torch

from pyg_course.sampling import (
    CSRGraph,
    FarNegativeSampler,
    UnigramNegativeSampler,
    WalkPositiveSampler,
)

NAN, INF = float("nan"), float("inf")


def _graph(seed=0, n=12, e=20):
    ei = torch.randint(n, (2, e), generator=torch.Generator().manual_seed(seed))
    return torch.cat([ei, ei.flip(0)], 1), n


# ------------------------------------------------------------------ CSRGraph

def test_has_edge_is_false_outside_the_graph():
    g = CSRGraph(torch.tensor([[0, 1], [1, 0]]), 4)
    # (0, 4) and (1, -3) share the keys of the edges (1, 0) and (0, 1): they must not alias.
    src, dst = torch.tensor([0, 1, -1, 0, 1, 4]), torch.tensor([4, -3, 1, 1, 0, 0])
    assert g.has_edge(src, dst).tolist() == [False, False, False, True, True, False]
    assert g.has_edge(src.int(), dst.int()).tolist() == [False, False, False, True, True, False]
    with pytest.raises(TypeError, match="integer tensor"):
        g.has_edge(torch.tensor([0.0]), torch.tensor([1]))


@pytest.mark.parametrize("num_nodes", [4.7, 4.0, "4", True])
def test_csr_graph_num_nodes_must_be_an_int(num_nodes):
    with pytest.raises(TypeError, match="CSRGraph: num_nodes must be an int"):
        CSRGraph(torch.tensor([[0, 1], [1, 0]]), num_nodes)
    assert CSRGraph(torch.tensor([[0, 1], [1, 0]]), np.int64(4)).num_nodes == 4


# --------------------------------------------------------- WalkPositiveSampler

@pytest.mark.parametrize("kwargs,error,match", [
    (dict(p=-1.0), ValueError, "p must be > 0"),
    (dict(p=INF), ValueError, "p must be > 0"),
    (dict(q=NAN), ValueError, "q must be > 0"),
    (dict(walk_length=2.5), TypeError, "walk_length must be an int"),
    (dict(num_walks=1.5), TypeError, "num_walks must be an int"),
])
def test_positive_sampler_checks_its_settings_when_built(kwargs, error, match):
    ei, n = _graph()
    with pytest.raises(error, match=f"WalkPositiveSampler: {match}"):
        WalkPositiveSampler(ei, n, **kwargs)


def test_positive_sampler_checks_num_nodes_against_a_csr_graph_and_the_ids():
    ei, n = _graph()
    graph = CSRGraph(ei, n)
    with pytest.raises(ValueError, match="num_nodes=20 disagrees with the CSRGraph"):
        WalkPositiveSampler(graph, 20)
    sampler = WalkPositiveSampler(graph, n, num_walks=2, walk_length=3)
    with pytest.raises(TypeError, match="integer node ids"):
        sampler.walks(torch.tensor([0.5, 2.7]))
    with pytest.raises(TypeError, match="num_positives must be an int"):
        sampler.sample(torch.arange(3), 2.5)
    torch.manual_seed(0)
    a = sampler.sample([0, 1, 2], 4)
    torch.manual_seed(0)
    b = WalkPositiveSampler(ei, n, num_walks=2, walk_length=3).sample(torch.arange(3), 4)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


# ----------------------------------------------------------- FarNegativeSampler

@pytest.mark.parametrize("kwargs,error,match", [
    (dict(num_hops=2.5), TypeError, "num_hops must be an int"),
    (dict(num_hops=-1), ValueError, "num_hops must be at least 0"),
    (dict(rounds=1.5), TypeError, "rounds must be an int"),
    (dict(oversample=INF), ValueError, "oversample must be > 0"),
    (dict(oversample=NAN), ValueError, "oversample must be > 0"),
    (dict(oversample=0), ValueError, "oversample must be > 0"),
    (dict(num_nodes=12.5), TypeError, "num_nodes must be an int"),
    (dict(max_bytes=0), ValueError, "max_bytes must be at least 1"),
])
def test_far_sampler_checks_its_settings(kwargs, error, match):
    ei, n = _graph()
    kwargs = {"num_nodes": n, **kwargs}
    with pytest.raises(error, match=f"FarNegativeSampler: {match}"):
        FarNegativeSampler(ei, **kwargs)


def test_far_sampler_num_nodes_csr_graph_int32_and_sample_arguments():
    ei, n = _graph()
    with pytest.raises(ValueError, match="num_nodes=20 disagrees with the CSRGraph"):
        FarNegativeSampler(CSRGraph(ei, n), 20, 2)
    nodes = torch.arange(n)
    outs = []
    for edges in (ei, ei.int(), CSRGraph(ei, n)):
        torch.manual_seed(0)
        outs.append(FarNegativeSampler(edges, n, 2).sample(nodes, 5))
    assert torch.equal(outs[0], outs[1]) and torch.equal(outs[0], outs[2])
    sampler = FarNegativeSampler(ei, n, 2)
    with pytest.raises(TypeError, match="num_negatives must be an int"):
        sampler.sample(nodes, 2.5)
    with pytest.raises(TypeError, match="integer node ids"):
        sampler.sample(torch.tensor([0.5]), 2)
    torch.manual_seed(1)
    a = sampler.sample([0, 4], 3)
    torch.manual_seed(1)
    assert torch.equal(a, sampler.sample(torch.tensor([0, 4]), 3))


# ------------------------------------------------- both negative samplers: candidates

def _far(ei, n, candidates):
    return FarNegativeSampler(ei, n, 2, candidates=candidates)


def _unigram(ei, n, candidates):
    return UnigramNegativeSampler(ei, n, candidates=candidates)


@pytest.mark.parametrize("build", [_far, _unigram], ids=["far", "unigram"])
@pytest.mark.parametrize("candidates,error,match", [
    (torch.tensor([0.5, 2.7]), TypeError, "integer node ids or a boolean mask"),
    ([0.5, 2.7], TypeError, "integer node ids or a boolean mask"),
    (torch.tensor([1, 0, 1, 1, 0, 0, 1, 0, 0, 1, 1, 0], dtype=torch.uint8), TypeError, "uint8"),
    (torch.tensor([1, 0, 1, 1, 0, 0, 1, 0, 0, 1, 1, 0]), ValueError, "look like a mask"),
    (torch.tensor([[0, 3], [5, 7]]), ValueError, "must be 1-D"),
    ({3, 4}, TypeError, "candidates must be a tensor or a list"),
])
def test_candidates_that_would_be_misread_are_rejected(build, candidates, error, match):
    ei, n = _graph()
    with pytest.raises(error, match=match):
        build(ei, n, candidates)


@pytest.mark.parametrize("build", [_far, _unigram], ids=["far", "unigram"])
def test_candidates_as_lists_ids_or_masks_agree(build):
    ei, n = _graph()
    ids = torch.tensor([0, 2, 3, 6, 9, 10])
    mask = torch.zeros(n, dtype=torch.bool)
    mask[ids] = True
    outs = []
    for cand in (ids, ids.tolist(), mask, mask.tolist(), ids.int(), ids.numpy()):
        torch.manual_seed(0)
        outs.append(build(ei, n, cand).sample(torch.arange(n), 6))
    assert all(torch.equal(outs[0], o) for o in outs[1:])
    assert set(outs[0].view(-1).tolist()) <= set(ids.tolist())


# ------------------------------------------------------- UnigramNegativeSampler

@pytest.mark.parametrize("power", [-1.0, NAN, INF])
def test_unigram_power_must_be_finite_and_non_negative(power):
    ei, n = _graph()
    with pytest.raises(ValueError, match="UnigramNegativeSampler: power must be >= 0"):
        UnigramNegativeSampler(ei, n, power=power)


def test_unigram_power_zero_is_uniform_isolated_nodes_included():
    ei = torch.tensor([[0, 1], [1, 0]])
    prob = UnigramNegativeSampler(ei, 4, power=0.0).prob
    assert torch.allclose(prob, torch.full((4,), 0.25, dtype=torch.float64))


def test_unigram_accepts_a_csr_graph_and_int32_edges():
    ei, n = _graph()
    with pytest.raises(ValueError, match="num_nodes=20 disagrees with the CSRGraph"):
        UnigramNegativeSampler(CSRGraph(ei, n), 20)
    outs = []
    for edges in (ei, ei.int(), CSRGraph(ei, n)):
        torch.manual_seed(0)
        outs.append(UnigramNegativeSampler(edges, n).sample(torch.arange(n), 7))
    assert torch.equal(outs[0], outs[1]) and torch.equal(outs[0], outs[2])
    with pytest.raises(TypeError, match="num_negatives must be an int"):
        UnigramNegativeSampler(ei, n).sample(torch.arange(3), 2.5)
