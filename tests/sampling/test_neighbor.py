"""NeighborSampler inside PyG's loaders, checked against truths computed without it: the
graph's own edge list (every sampled edge is that very edge, in its direction), a dense
breadth-first search over in-edges (the exact L-hop neighbourhood), PyG's own sampler, exact
sampling frequencies (k/d marginals, uniform k-subsets, with-replacement draws) and the
full-graph forward of a GNN."""

import itertools
import math
import warnings
from collections import Counter

import numpy as np
import pytest
import torch
from scipy.stats import chisquare
from torch_geometric.data import Data, HeteroData
from torch_geometric.loader import LinkNeighborLoader, NeighborLoader, NodeLoader
from torch_geometric.sampler import NodeSamplerInput
from torch_sparse import SparseTensor

from pyg_course.nn.models import GCN, GraphSAGE
from pyg_course.sampling import NeighborSampler, uniform_subsets
from pyg_course.train import Trainer
from pyg_course.train.loop import TrainConfig
from pyg_course.train.unsupervised import UnsupervisedConfig, UnsupervisedTrainer
from tests.helpers.graphs import TOY_GRAPHS

# ------------------------------------------------------------------ graphs and references

def random_graph(seed, num_nodes, num_edges, simple=False):
    """Random directed edges (self-loops and duplicate edges likely); ``simple``: neither."""
    g = torch.Generator().manual_seed(seed)
    ei = torch.randint(num_nodes, (2, num_edges), generator=g)
    if simple:
        ei = ei[:, ei[0] != ei[1]]
        key = torch.unique(ei[0] * num_nodes + ei[1])
        key = key[torch.randperm(key.numel(), generator=g)]
        ei = torch.stack([key // num_nodes, key % num_nodes])
    return ei


def graph_data(edge_index, num_nodes, seed=0):
    g = torch.Generator().manual_seed(seed)
    return Data(edge_index=edge_index, num_nodes=num_nodes,
                x=torch.randn(num_nodes, 8, generator=g),
                edge_attr=torch.randn(edge_index.size(1), 3, generator=g))


def loader(data, num_neighbors, batch_size, seed=0, sampler_kwargs=None, **kwargs):
    sampler = NeighborSampler(data, num_neighbors, seed=seed, **(sampler_kwargs or {}))
    return NeighborLoader(data, num_neighbors=num_neighbors, batch_size=batch_size,
                          neighbor_sampler=sampler, **kwargs)


def pyg_loader(data, num_neighbors, batch_size, **kwargs):
    """PyG's own NeighborLoader (torch_sparse's sampler here, which warns it is deprecated)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return NeighborLoader(data, num_neighbors=num_neighbors, batch_size=batch_size,
                              **kwargs)


def bfs_in_hops(edge_index, num_nodes, seeds, num_hops):
    """Hop distance of every node from ``seeds`` along reversed edges (``u`` is one hop from
    ``v`` when the graph has an edge ``u -> v``), by a dense BFS in NumPy; -1: farther."""
    A = np.zeros((num_nodes, num_nodes), dtype=bool)  # A[v, u]: an edge u -> v
    A[edge_index[1].numpy(), edge_index[0].numpy()] = True
    dist = np.full(num_nodes, -1)
    dist[seeds.numpy()] = 0
    frontier = dist == 0
    for h in range(1, num_hops + 1):
        frontier = A[frontier].any(axis=0) & (dist < 0)
        dist[frontier] = h
    return torch.from_numpy(dist)


def hop_of(counts):
    """Hop of every node (or edge) from the per-hop counts."""
    return torch.repeat_interleave(torch.arange(len(counts)), torch.tensor(counts))


def edge_pairs(batch):
    """The batch's edges as (source, target) pairs of graph node ids."""
    return list(map(tuple, batch.n_id[batch.edge_index].t().tolist()))


def check_batch(batch, data, num_neighbors, seeds, replace=False, simple=False):
    """Every property a directional batch must have, checked against ``data``."""
    n_id, ei, e_id = batch.n_id, batch.edge_index, batch.e_id
    size = batch.batch_size
    assert n_id[:size].tolist() == seeds.tolist()
    assert n_id.unique().numel() == n_id.numel()
    # Each sampled edge is the very edge of the graph that e_id names, in its direction.
    assert torch.equal(n_id[ei], data.edge_index[:, e_id])
    if "edge_attr" in data:
        assert torch.equal(batch.edge_attr, data.edge_attr[e_id])

    num_hops = len(num_neighbors)
    nodes_per_hop, edges_per_hop = batch.num_sampled_nodes, batch.num_sampled_edges
    assert len(nodes_per_hop) == num_hops + 1 and len(edges_per_hop) == num_hops
    assert nodes_per_hop[0] == size
    assert sum(nodes_per_hop) == n_id.numel() and sum(edges_per_hop) == ei.size(1)
    node_hop = hop_of(nodes_per_hop)
    edge_hop = hop_of([0] + edges_per_hop)
    # Messages flow toward the seeds: an edge of hop h ends at a node first reached at hop
    # h - 1 and starts at a node reached at hop h at the latest.
    assert torch.equal(node_hop[ei[1]], edge_hop - 1)
    assert bool((node_hop[ei[0]] <= edge_hop).all())

    in_deg = torch.bincount(data.edge_index[1], minlength=data.num_nodes)
    bounds = [0] + list(itertools.accumulate(nodes_per_hop))
    for h, k in enumerate(num_neighbors, 1):
        mask = edge_hop == h
        src, dst = ei[0, mask], ei[1, mask]
        lo, hi = bounds[h - 1], bounds[h]
        got = torch.bincount(dst - lo, minlength=hi - lo)
        deg = in_deg[n_id[lo:hi]]
        if k < 0:
            want = deg
        elif replace:
            want = torch.where(deg > 0, k, 0)
        else:
            want = deg.clamp(max=k)
        assert got.tolist() == want.tolist(), f"hop {h}: edges per frontier node"
        if not replace:  # never the same CSC slot (edge of the graph) twice
            assert e_id[mask].unique().numel() == int(mask.sum())
            if simple:  # ... so never the same neighbour twice
                assert len(set(zip(src.tolist(), dst.tolist()))) == int(mask.sum())
        # The nodes of hop h are exactly the sources of hop h not reached before.
        assert set(range(hi, bounds[h + 1])) == set(src.tolist()) - set(range(hi))


GRAPHS = {
    "multigraph": (random_graph(0, 40, 200), 40),
    "simple": (random_graph(1, 40, 160, simple=True), 40),
    **{name: (g.edge_index, g.num_nodes) for name, g in TOY_GRAPHS.items()},
}


# ------------------------------------------------------------------ structure

@pytest.mark.parametrize("name", list(GRAPHS))
@pytest.mark.parametrize("num_neighbors", [[2, 2], [1, 3, 2], [-1], [3, 0, 2], [-1, 2]])
def test_batches_are_graph_edges_toward_seeds(name, num_neighbors):
    ei, n = GRAPHS[name]
    data = graph_data(ei, n)
    seeds = torch.randperm(n, generator=torch.Generator().manual_seed(1))
    batches = list(loader(data, num_neighbors, 7, input_nodes=seeds))
    assert len(batches) == math.ceil(n / 7)
    for i, batch in enumerate(batches):
        check_batch(batch, data, num_neighbors, seeds[7 * i:7 * (i + 1)],
                    simple=name in ("simple", "path", "star"))
    if name == "multigraph" and num_neighbors[0] == -1:
        # Duplicate edges were in fact sampled together, under distinct e_ids.
        assert any(max(Counter(edge_pairs(b)).values()) > 1 for b in batches)


@pytest.mark.parametrize("num_hops", [1, 2, 3])
@pytest.mark.parametrize("name", ["multigraph", "simple", "directed", "self_loops"])
def test_all_neighbours_is_the_exact_l_hop_neighbourhood(name, num_hops):
    ei, n = GRAPHS[name]
    data = graph_data(ei, n)
    fanout = [-1] * num_hops
    seeds = torch.randperm(n, generator=torch.Generator().manual_seed(2))
    ours = list(loader(data, fanout, 5, input_nodes=seeds))
    theirs = list(pyg_loader(data, fanout, 5, input_nodes=seeds))
    assert len(ours) == len(theirs)
    for batch, ref in zip(ours, theirs):
        dist = bfs_in_hops(ei, n, batch.n_id[:batch.batch_size], num_hops)
        # Nodes: the L-hop in-neighbourhood, each numbered in the hop of its distance.
        assert sorted(batch.n_id.tolist()) == torch.nonzero(dist >= 0).view(-1).tolist()
        assert torch.equal(hop_of(batch.num_sampled_nodes), dist[batch.n_id])
        # Edges: every edge (duplicates too) into a node less than L hops away, each once.
        near = (dist[ei[1]] >= 0) & (dist[ei[1]] < num_hops)
        assert sorted(batch.e_id.tolist()) == torch.nonzero(near).view(-1).tolist()
        assert torch.equal(batch.n_id[batch.edge_index], ei[:, batch.e_id])
        # PyG's own sampler finds the same sets.
        assert sorted(batch.n_id.tolist()) == sorted(ref.n_id.tolist())
        assert sorted(batch.e_id.tolist()) == sorted(ref.e_id.tolist())
        assert sorted(edge_pairs(batch)) == sorted(edge_pairs(ref))


def test_sparse_tensor_input_gives_the_same_subgraphs():
    ei, n = GRAPHS["multigraph"]
    data = Data(edge_index=ei, num_nodes=n)
    sparse = Data(adj_t=SparseTensor(row=ei[1], col=ei[0], sparse_sizes=(n, n)), num_nodes=n)
    for a, b in zip(loader(data, [-1, -1], 6), loader(sparse, [-1, -1], 6)):
        assert a.n_id.tolist() == b.n_id.tolist()
        row, col, _ = b.adj_t.coo()  # adj_t[target, source]
        pairs = list(map(tuple, torch.stack([b.n_id[col], b.n_id[row]]).t().tolist()))
        assert sorted(pairs) == sorted(edge_pairs(a))


# ------------------------------------------------------------------ sampling frequencies

def hub_graph(degrees, copies, seed=0):
    """``copies`` hubs per degree d, hub ``h`` receiving edges from its own d leaves
    ``h + 1 .. h + d``; edges in random order (so the CSC order is not the input's).
    Returns the edges, the number of nodes, the hubs and their degrees."""
    hubs, degs, edges, start = [], [], [], 0
    for _ in range(copies):
        for d in degrees:
            hubs.append(start)
            degs.append(d)
            edges += [(start + 1 + j, start) for j in range(d)]
            start += d + 1
    ei = torch.tensor(edges).t()
    ei = ei[:, torch.randperm(ei.size(1), generator=torch.Generator().manual_seed(seed))]
    return ei.contiguous(), start, torch.tensor(hubs), torch.tensor(degs)


def draws_per_hub(data, hubs, k, rounds, replace=False, seed=0):
    """``(rounds * len(hubs), k)`` leaf offsets drawn for the hubs at hop 1 (one batch per
    round, every hub a seed in it); a hub with fewer edges fills its row with -1."""
    rows = []
    for batch in loader(data, [k], hubs.numel(), seed=seed, input_nodes=hubs.repeat(rounds),
                        sampler_kwargs={"replace": replace}):
        src, dst = batch.n_id[batch.edge_index]
        order = torch.argsort(dst, stable=True)
        src, dst = src[order], dst[order]
        offset = src - dst - 1
        slot = torch.arange(dst.numel()) - torch.searchsorted(dst, dst)
        row = torch.full((hubs.numel(), k), -1)
        row[torch.searchsorted(hubs, dst), slot] = offset
        rows.append(row)
    return torch.cat(rows)


def within_se(count, total, p, z=5.0):
    """``count / total`` within ``z`` binomial standard errors of ``p``."""
    freq = count.double() / total
    se = math.sqrt(p * (1 - p) / total)
    return bool(((freq - p).abs() <= z * se).all()), freq


def check_subsets(rows, d, k):
    """Marginals k/d and every k-subset equally likely (chi-square, p > 1e-4)."""
    n = rows.size(0)
    assert bool(((rows >= 0) & (rows < d)).all())
    assert bool((rows.sort(1).values.diff(dim=1) > 0).all()), "a neighbour twice in one draw"
    ok, freq = within_se(torch.bincount(rows.view(-1), minlength=d), n, k / d)
    assert ok, f"marginals {freq.tolist()} != {k / d}"
    code = (2 ** rows).sum(1)
    subsets = [sum(2 ** i for i in s) for s in itertools.combinations(range(d), k)]
    counts = Counter(code.tolist())
    assert set(counts) == set(subsets), "some k-subset never drawn, or a bad one drawn"
    observed = [counts[s] for s in subsets]
    if len(observed) > 1:
        assert chisquare(observed).pvalue > 1e-4, observed


def test_fanout_draws_uniform_k_subsets():
    # Hubs of in-degree 10, 5, 3 and 2 drawn together (k = 3): one vectorised draw mixes
    # Floyd's algorithm over different degrees with the take-all path.
    ei, n, hubs, degs = hub_graph([10, 5, 3, 2], copies=250)
    rows = draws_per_hub(Data(edge_index=ei, num_nodes=n), hubs, 3, rounds=40)
    degs = degs.repeat(40)
    for d in (10, 5):
        check_subsets(rows[degs == d], d, 3)
    assert rows[degs == 3].sort(1).values.tolist() == [[0, 1, 2]] * int((degs == 3).sum())
    assert rows[degs == 2].sort(1).values.tolist() == [[-1, 0, 1]] * int((degs == 2).sum())


@pytest.mark.parametrize("d,k", [(10, 3), (5, 2), (7, 6), (4, 1), (50, 2)])
def test_uniform_subsets_directly(d, k):
    g = torch.Generator().manual_seed(d * 100 + k)
    n = 20000
    rows = uniform_subsets(torch.full((n,), d), k, g)
    assert rows.shape == (n, k) and rows.dtype == torch.long
    if math.comb(d, k) <= 500:
        check_subsets(rows, d, k)
    else:  # too many subsets to count: marginals and distinct rows
        assert bool((rows.sort(1).values.diff(dim=1) > 0).all())
        ok, freq = within_se(torch.bincount(rows.view(-1), minlength=d), n, k / d)
        assert ok, freq
    again = uniform_subsets(torch.full((n,), d), k, torch.Generator().manual_seed(d * 100 + k))
    assert torch.equal(rows, again)


def test_uniform_subsets_mixed_degrees():
    deg = torch.tensor([4, 9, 30]).repeat(10000)
    rows = uniform_subsets(deg, 3, torch.Generator().manual_seed(0))
    for d in (4, 9):
        check_subsets(rows[deg == d], d, 3)
    big = rows[deg == 30]
    assert bool((big.sort(1).values.diff(dim=1) > 0).all()) and int(big.max()) < 30
    assert within_se(torch.bincount(big.view(-1), minlength=30), big.size(0), 0.1)[0]


def test_replace_draws_k_independent_uniform_edges():
    # Hubs of in-degree 4, 2, 1 and 0 (a hub with no edge) with k = 3 draws with replacement.
    ei, n, hubs, degs = hub_graph([4, 2, 1, 0], copies=500)
    data = graph_data(ei, n)
    rows = draws_per_hub(data, hubs, 3, rounds=20, replace=True)
    degs = degs.repeat(20)
    assert bool((rows[degs == 0] == -1).all())
    assert bool((rows[degs == 1] == 0).all())  # three copies of the only edge
    for d in (4, 2):
        r = rows[degs == d]
        assert bool(((r >= 0) & (r < d)).all())
        ok, freq = within_se(torch.bincount(r.view(-1), minlength=d), r.numel(), 1 / d)
        assert ok, f"d={d}: {freq.tolist()}"
    # Independent draws: all three distinct with probability 4*3*2 / 4**3 = 3/8 for d = 4
    # (without replacement it would be 1).
    r = rows[degs == 4]
    distinct = torch.tensor([len(set(x)) == 3 for x in r.tolist()]).sum()
    assert within_se(distinct, r.size(0), 3 / 8)[0]
    # The batches keep every other property, duplicate edges included.
    seeds = hubs[:50]
    batch = next(iter(loader(data, [3], 50, input_nodes=seeds,
                             sampler_kwargs={"replace": True})))
    check_batch(batch, data, [3], seeds, replace=True)
    assert batch.e_id.unique().numel() < batch.e_id.numel()


def test_fanout_takes_distinct_neighbours_in_a_simple_graph():
    # 200 draws of 5 out of a node's 12 in-neighbours: no neighbour twice in one hop.
    ei, n = random_graph(3, 30, 360, simple=True), 30
    data = graph_data(ei, n)
    seeds = torch.arange(n).repeat(20)
    for i, batch in enumerate(loader(data, [5, 4], n, input_nodes=seeds)):
        check_batch(batch, data, [5, 4], seeds[n * i:n * (i + 1)], simple=True)


# ------------------------------------------------------------------ subgraph types

def test_induced_subgraph_holds_every_edge_between_sampled_nodes():
    ei, n = GRAPHS["multigraph"]
    data = graph_data(ei, n)
    directional = list(loader(data, [2, 2], 6))
    induced = list(loader(data, [2, 2], 6, sampler_kwargs={"subgraph_type": "induced"}))
    for d, batch in zip(directional, induced):
        assert torch.equal(batch.n_id, d.n_id)  # same draws, same nodes
        inside = torch.zeros(n, dtype=torch.bool)
        inside[batch.n_id] = True
        between = inside[ei[0]] & inside[ei[1]]
        assert sorted(batch.e_id.tolist()) == torch.nonzero(between).view(-1).tolist()
        assert torch.equal(batch.n_id[batch.edge_index], ei[:, batch.e_id])
        assert torch.equal(batch.edge_attr, data.edge_attr[batch.e_id])
        assert set(d.e_id.tolist()) <= set(batch.e_id.tolist())


def test_bidirectional_subgraph_is_closed_under_reversal():
    ei, n = random_graph(4, 30, 60), 30  # directed: most edges have no reverse
    data = graph_data(ei, n)
    directional = list(loader(data, [2, 2], 5))
    bidirectional = list(loader(data, [2, 2], 5,
                                sampler_kwargs={"subgraph_type": "bidirectional"}))
    graph = set(map(tuple, ei.t().tolist()))
    for d, batch in zip(directional, bidirectional):
        assert torch.equal(batch.n_id, d.n_id)
        pairs = set(edge_pairs(batch))
        drawn = set(edge_pairs(d))
        assert pairs == drawn | {(b, a) for a, b in drawn}
        assert pairs == {(b, a) for a, b in pairs}
        for (a, b), e in zip(edge_pairs(batch), batch.e_id.tolist()):
            assert tuple(ei[:, e].tolist()) in ((a, b), (b, a))
            assert (a, b) in graph or (b, a) in graph


# ------------------------------------------------------------------ randomness and state

def epoch(ldr):
    return [(b.n_id.clone(), b.edge_index.clone(), b.e_id.clone()) for b in ldr]


def same(a, b):
    return len(a) == len(b) and all(all(torch.equal(s, t) for s, t in zip(x, y))
                                    for x, y in zip(a, b))


def test_same_seed_same_batches_different_seed_different():
    ei, n = GRAPHS["multigraph"]
    data = graph_data(ei, n)
    runs = {}
    for name, seed, shuffle_seed in [("a", 0, 7), ("b", 0, 7), ("c", 1, 7), ("d", 0, 8)]:
        torch.manual_seed(shuffle_seed)
        runs[name] = epoch(loader(data, [3, 2], 8, seed=seed, shuffle=True))
    assert same(runs["a"], runs["b"])
    assert not same(runs["a"], runs["c"])  # another sampler seed: other draws
    assert not same(runs["a"], runs["d"])  # another shuffle
    # Same seed nodes per batch (the shuffle was the same), other neighbours.
    assert all(torch.equal(x[0][:8], y[0][:8]) for x, y in zip(runs["a"], runs["c"]))


def test_sampler_leaves_torch_global_rng_alone():
    ei, n = GRAPHS["multigraph"]
    data = graph_data(ei, n)
    state = torch.get_rng_state()
    sampler = NeighborSampler(data, [3, 2], seed=0)
    for i in range(5):
        sampler.sample_from_nodes(NodeSamplerInput(None, torch.arange(i, 40, 5)))
    ldr = NeighborLoader(data, num_neighbors=[3, 2], batch_size=8, neighbor_sampler=sampler,
                         generator=torch.Generator().manual_seed(0))
    assert len(epoch(ldr)) == 5
    assert torch.equal(torch.get_rng_state(), state)
    # seed=None draws its seed once, from torch's generator, when the sampler is built.
    torch.manual_seed(3)
    a = NeighborSampler(data, [3], seed=None)
    torch.manual_seed(3)
    b = NeighborSampler(data, [3], seed=None)
    assert a.seed == b.seed


def test_get_state_set_state_resumes_the_stream():
    ei, n = GRAPHS["multigraph"]
    data = graph_data(ei, n)
    seeds = [torch.randperm(n, generator=torch.Generator().manual_seed(i))[:6]
             for i in range(6)]

    def run(sampler, batches):
        out = [sampler.sample_from_nodes(NodeSamplerInput(None, s)) for s in batches]
        return [(o.node, o.row, o.col, o.edge) for o in out]

    whole = run(NeighborSampler(data, [3, 2], seed=0), seeds)
    first = NeighborSampler(data, [3, 2], seed=0)
    head = run(first, seeds[:2])
    state = first.get_state().clone()
    resumed = NeighborSampler(data, [3, 2], seed=123)  # a restart with another seed
    resumed.set_state(state)
    assert same(head + run(resumed, seeds[2:]), whole)
    # Through a loader too: the resumed sampler continues the uninterrupted batches.
    resumed.set_state(state)
    ldr = NeighborLoader(data, num_neighbors=[3, 2], batch_size=6,
                         input_nodes=torch.cat(seeds[2:]), neighbor_sampler=resumed)
    assert same([(b.n_id, b.edge_index) for b in ldr],
                [(w[0], torch.stack([w[1], w[2]])) for w in whole[2:]])


def test_sibling_shares_the_graph_and_samples_as_a_fresh_sampler():
    ei, n = GRAPHS["multigraph"]
    data = graph_data(ei, n)
    base = NeighborSampler(data, [3, 2], seed=0)
    sib = base.sibling([-1], seed=5)
    # One converted graph: the same storage, not a copy.
    for name in ("colptr", "row", "perm"):
        a, b = getattr(base, name), getattr(sib, name)
        assert (a is None and b is None) or a.data_ptr() == b.data_ptr()
    assert sib.fanout == [-1] and sib.num_neighbors.values == [-1] and base.fanout == [3, 2]
    assert sib._local.data_ptr() != base._local.data_ptr()
    seeds = [torch.arange(i, n, 7) for i in range(4)]

    def run(sampler, num):
        return [(o.node, o.row, o.col, o.edge) for o in (
            sampler.sample_from_nodes(NodeSamplerInput(None, s)) for s in seeds[:num])]

    # Its batches are those of a sampler built from scratch with its fan-outs and seed ...
    fresh = NeighborSampler(data, [2, 2], seed=9)
    assert same(run(base.sibling([2, 2], seed=9), 4), run(fresh, 4))
    # ... and drawing from one does not move the other's generator.
    state = base.get_state().clone()
    run(sib, 4)
    assert torch.equal(base.get_state(), state)
    with pytest.raises(ValueError, match="num_neighbors must be a list of ints"):
        base.sibling([-3])


def test_trainers_convert_the_graph_once(cora):
    model = GraphSAGE(cora.num_features, 16, 2, 7)
    tr = Trainer(model, cora, TrainConfig(mode="minibatch", num_neighbors=[5, 5], epochs=1,
                                          progress=False, device="cpu"))
    train_s, eval_s = tr.train_loader.node_sampler, tr.eval_loader.node_sampler
    assert tr.node_sampler is train_s and eval_s.fanout == [-1]
    assert eval_s.row.data_ptr() == train_s.row.data_ptr()
    un = UnsupervisedTrainer(GraphSAGE(cora.num_features, 16, 2), cora,
                             UnsupervisedConfig(num_neighbors=[5, 5], epochs=1, progress=False,
                                         device="cpu"))
    assert un.eval_loader.node_sampler.row.data_ptr() == un.neighbor_sampler.row.data_ptr()


def test_workers_reproducible_and_independent():
    ei, n, hubs, _ = hub_graph([20], copies=5)
    data = Data(edge_index=ei, num_nodes=n)

    def run(shuffle_seed, input_nodes, shuffle=True):
        ldr = loader(data, [2], 5, input_nodes=input_nodes, shuffle=shuffle, num_workers=2,
                     generator=torch.Generator().manual_seed(shuffle_seed))
        return epoch(ldr)

    nodes = torch.arange(n)
    a, b = run(0, nodes), run(0, nodes)
    assert same(a, b)
    # Four batches of the same five seeds, alternating between the two workers: each worker
    # must draw its own stream (a copied generator would repeat the same draws).
    same_seeds = run(0, hubs.repeat(4), shuffle=False)
    draws = [x[0].tolist() for x in same_seeds]
    assert all(d[:5] == hubs.tolist() for d in draws)
    assert len({tuple(d) for d in draws}) == 4, draws
    # Another loader seed gives the workers other seeds, and so other draws.
    assert not same(same_seeds, run(1, hubs.repeat(4), shuffle=False))


# ------------------------------------------------------------------ models on the batches

@pytest.mark.parametrize("model_cls,num_hops", [(GraphSAGE, 2), (GCN, 3)])
def test_full_neighbourhood_minibatch_equals_full_batch(model_cls, num_hops):
    # GCN's symmetric normalisation needs the in-degree of the 2-hop nodes too, which only a
    # third hop brings in; GraphSAGE needs nothing beyond its two hops.
    torch.manual_seed(0)
    ei, n = GRAPHS["multigraph"]
    data = graph_data(ei, n)
    model = model_cls(8, 16, 2, 4).eval()
    with torch.no_grad():
        full = model(data.x, data.edge_index)
        seen = 0
        for batch in loader(data, [-1] * num_hops, 7, shuffle=True):
            size = batch.batch_size
            want = full[batch.n_id[:size]]
            out = model(batch.x, batch.edge_index)[:size]
            torch.testing.assert_close(out, want, atol=1e-5, rtol=0)
            out = model(batch.x, batch.edge_index,
                        num_sampled_nodes_per_hop=batch.num_sampled_nodes,
                        num_sampled_edges_per_hop=batch.num_sampled_edges)[:size]
            torch.testing.assert_close(out, want, atol=1e-5, rtol=0)
            seen += size
    assert seen == n


def test_minibatch_equality_is_not_vacuous():
    torch.manual_seed(0)
    ei, n = GRAPHS["multigraph"]
    data = graph_data(ei, n)
    model = GraphSAGE(8, 16, 2, 4).eval()
    with torch.no_grad():
        full = model(data.x, data.edge_index)
        batch = next(iter(loader(data, [1, 1], 20)))
        out = model(batch.x, batch.edge_index)[:20]
    assert not torch.allclose(out, full[batch.n_id[:20]], atol=1e-3)


def test_trimming_a_sampled_batch_keeps_the_seed_outputs():
    torch.manual_seed(0)
    ei, n = GRAPHS["multigraph"]
    data = graph_data(ei, n)
    model = GraphSAGE(8, 16, 2, 4).eval()
    with torch.no_grad():
        for batch in loader(data, [3, 2], 7):
            size = batch.batch_size
            trimmed = model(batch.x, batch.edge_index,
                            num_sampled_nodes_per_hop=batch.num_sampled_nodes,
                            num_sampled_edges_per_hop=batch.num_sampled_edges)[:size]
            torch.testing.assert_close(trimmed, model(batch.x, batch.edge_index)[:size],
                                       atol=1e-5, rtol=0)


# ------------------------------------------------------------------ other loaders

def test_node_loader_with_the_sampler():
    ei, n = GRAPHS["simple"]
    data = graph_data(ei, n)
    sampler = NeighborSampler(data, [4, 2], seed=0)
    for i, batch in enumerate(NodeLoader(data, node_sampler=sampler, batch_size=9)):
        check_batch(batch, data, [4, 2], torch.arange(n)[9 * i:9 * (i + 1)], simple=True)


def test_link_neighbor_loader_with_the_sampler():
    ei, n = GRAPHS["multigraph"]
    data = graph_data(ei, n)
    label_index = ei[:, :60]
    ldr = LinkNeighborLoader(data, num_neighbors=[3, 2], edge_label_index=label_index,
                             neighbor_sampler=NeighborSampler(data, [3, 2], seed=0),
                             neg_sampling_ratio=1.0, batch_size=16)
    graph = set(map(tuple, ei.t().tolist()))
    seen = 0
    for batch in ldr:
        assert batch.n_id.unique().numel() == batch.n_id.numel()
        assert torch.equal(batch.n_id[batch.edge_index], ei[:, batch.e_id])
        assert torch.equal(batch.edge_attr, data.edge_attr[batch.e_id])
        ends = batch.n_id[batch.edge_label_index]
        pos = batch.edge_label == 1
        assert int(pos.sum()) == int((~pos).sum()) == batch.input_id.numel()
        assert torch.equal(ends[:, pos], label_index[:, batch.input_id])
        assert all(p in graph for p in map(tuple, ends[:, pos].t().tolist()))
        assert int(ends.min()) >= 0 and int(ends.max()) < n
        # Every endpoint of a labelled pair is a seed of the sampling, so its in-edges were
        # drawn: min(3, in-degree) of them.
        in_deg = torch.bincount(ei[1], minlength=n)
        local = batch.edge_label_index.unique()
        got = torch.bincount(batch.edge_index[1], minlength=batch.num_nodes)[local]
        assert got.tolist() == in_deg[batch.n_id[local]].clamp(max=3).tolist()
        seen += int(pos.sum())
    assert seen == 60


# ------------------------------------------------------------------ bad input

def test_bad_arguments_are_refused():
    ei, n = GRAPHS["multigraph"]
    data = Data(edge_index=ei, num_nodes=n)
    with pytest.raises(ValueError, match="disjoint=True is not supported"):
        NeighborSampler(data, [2], disjoint=True)
    for bad in ([-2], [3.5], 3, [2, "1"]):
        with pytest.raises(ValueError, match="num_neighbors must be a list of ints"):
            NeighborSampler(data, bad)
    hetero = HeteroData()
    hetero["a"].num_nodes = 3
    hetero["a", "to", "a"].edge_index = torch.tensor([[0, 1], [1, 2]])
    with pytest.raises(TypeError, match="homogeneous .*got HeteroData"):
        NeighborSampler(hetero, [2])
    with pytest.raises(ValueError, match=r"node ids outside \[0, 4\)"):
        NeighborSampler(Data(edge_index=torch.tensor([[0, 4], [1, 2]]), num_nodes=4), [2])
    with pytest.raises(ValueError, match="neither edge_index nor adj_t"):
        NeighborSampler(Data(num_nodes=4), [2])


@pytest.mark.parametrize("use_node_loader", [False, True])
def test_repeated_seed_in_a_batch_is_refused(use_node_loader):
    ei, n = GRAPHS["multigraph"]
    data = graph_data(ei, n)
    seeds = torch.tensor([3, 5, 3, 7])
    sampler = NeighborSampler(data, [2, 2], seed=0)
    if use_node_loader:
        ldr = NodeLoader(data, node_sampler=sampler, input_nodes=seeds, batch_size=4)
    else:
        ldr = NeighborLoader(data, num_neighbors=[2, 2], input_nodes=seeds, batch_size=4,
                             neighbor_sampler=sampler)
    with pytest.raises(ValueError, match="seed nodes of a batch must be distinct"):
        next(iter(ldr))
    # The refusal leaves the sampler as it was: the next batch is a fresh sampler's first.
    good = torch.tensor([3, 5, 7])
    after = sampler.sample_from_nodes(NodeSamplerInput(None, good))
    fresh = NeighborSampler(data, [2, 2], seed=0).sample_from_nodes(NodeSamplerInput(None, good))
    assert torch.equal(after.node, fresh.node) and torch.equal(after.edge, fresh.edge)


@pytest.mark.parametrize("seed", [-2, -1, 5])
def test_seed_ids_outside_the_graph_are_refused(seed):
    data = Data(edge_index=torch.tensor([[0, 1, 2, 3], [4, 4, 3, 2]]), num_nodes=5)
    sampler = NeighborSampler(data, [-1], seed=0)
    with pytest.raises(ValueError, match=r"outside \[0, 5\)"):
        sampler.sample_from_nodes(NodeSamplerInput(None, torch.tensor([seed])))
