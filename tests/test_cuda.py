"""With the graph on a CUDA device every sampler and trainer path runs there, returns its
outputs there and still gives correct results: sampled edges exist, walks follow edges, far
negatives are far (checked by a BFS on the CPU), unigram frequencies match deg^0.75, seeded
runs repeat, and the models' forward and backward equal the CPU's. Skipped without CUDA;
``benchmarks/gpu_check.sh`` runs them on a GPU machine."""

import copy
import math

import pytest
import torch
from torch_geometric.data import Data
from torch_geometric.loader import NeighborLoader

from pyg_course.datasets import csbm
from pyg_course.nn.models import GAT, GCN, DeepWalk, GraphSAGE
from pyg_course.sampling import (
    FarNegativeSampler,
    NeighborSampler,
    UnigramNegativeSampler,
    WalkPositiveSampler,
    far_negatives,
    random_walk,
    uniform_subsets,
    unigram_negatives,
    walk_positives,
)
from pyg_course.train import TrainConfig, Trainer
from pyg_course.train.deepwalk import DeepWalkConfig, DeepWalkTrainer, train_deepwalk
from pyg_course.train.unsupervised import UnsupervisedConfig, UnsupervisedTrainer
from tests.helpers.graphs import bfs_dist

DEVICE = torch.device("cuda")

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]


def on_device(*tensors):
    return all(t.device.type == DEVICE.type for t in tensors)


def random_graph(seed=0, num_nodes=60, num_edges=300, undirected=False):
    g = torch.Generator().manual_seed(seed)
    ei = torch.randint(num_nodes, (2, num_edges), generator=g)
    if undirected:
        ei = torch.cat([ei, ei.flip(0)], 1)
    return ei


def generator(seed):
    return torch.Generator(device=DEVICE).manual_seed(seed)


def node_data(seed=0):
    """A small labelled graph with the public-split masks (a CSBM)."""
    return csbm(num_nodes=300, num_features=16, num_val=50, num_test=100, seed=seed)


# ------------------------------------------------------------------ samplers

def test_neighbor_sampler_batches_on_device():
    ei = random_graph()
    x = torch.randn(60, 4)
    data = Data(edge_index=ei.to(DEVICE), x=x.to(DEVICE), num_nodes=60)
    seeds = torch.randperm(60, generator=torch.Generator().manual_seed(0))

    def epoch(seed, graph=data, fanout=(3, 2)):
        sampler = NeighborSampler(graph, list(fanout), seed=seed)
        loader = NeighborLoader(graph, num_neighbors=list(fanout), batch_size=8,
                                input_nodes=seeds, neighbor_sampler=sampler)
        return list(loader)

    batches = epoch(0)
    for i, batch in enumerate(batches):
        assert on_device(batch.n_id, batch.edge_index, batch.e_id, batch.x)
        n_id, e_id, size = batch.n_id.cpu(), batch.e_id.cpu(), batch.batch_size
        assert n_id[:size].tolist() == seeds[8 * i:8 * (i + 1)].tolist()
        assert n_id.unique().numel() == n_id.numel()
        assert torch.equal(n_id[batch.edge_index.cpu()], ei[:, e_id])
        assert torch.equal(batch.x.cpu(), x[n_id])
        in_deg = torch.bincount(ei[1], minlength=60)
        got = torch.bincount(batch.edge_index[1].cpu(), minlength=n_id.numel())[:size]
        assert got.tolist() == in_deg[n_id[:size]].clamp(max=3).tolist()
    again, other = epoch(0), epoch(1)
    assert all(torch.equal(a.n_id, b.n_id) and torch.equal(a.e_id, b.e_id)
               for a, b in zip(batches, again))
    assert not all(torch.equal(a.n_id, b.n_id) for a, b in zip(batches, other))
    # Every neighbour (no randomness): the CPU sampler's subgraphs, node for node.
    cpu = Data(edge_index=ei, x=x, num_nodes=60)
    for a, b in zip(epoch(0, fanout=(-1, -1)), epoch(0, cpu, fanout=(-1, -1))):
        assert torch.equal(a.n_id.cpu(), b.n_id)
        assert sorted(a.e_id.tolist()) == sorted(b.e_id.tolist())


def test_uniform_subsets_on_device():
    n, d, k = 20000, 10, 3
    rows = uniform_subsets(torch.full((n,), d, device=DEVICE), k, generator(0))
    assert on_device(rows) and rows.shape == (n, k)
    rows = rows.cpu()
    assert bool(((rows >= 0) & (rows < d)).all())
    assert bool((rows.sort(1).values.diff(dim=1) > 0).all())
    freq = torch.bincount(rows.view(-1), minlength=d).double() / n
    se = math.sqrt(0.3 * 0.7 / n)
    assert bool(((freq - k / d).abs() < 5 * se).all()), freq
    again = uniform_subsets(torch.full((n,), d, device=DEVICE), k, generator(0))
    assert torch.equal(rows, again.cpu())


def test_random_walk_on_device():
    ei = random_graph(1, 40, 60)  # directed and sparse: dead ends occur
    edges = set(map(tuple, ei.t().tolist()))
    out_deg = torch.bincount(ei[0], minlength=40)
    start = torch.arange(40).repeat(5)
    for p, q in [(1.0, 1.0), (0.5, 2.0)]:
        walks = random_walk(ei.to(DEVICE), start.to(DEVICE), 8, num_nodes=40, p=p, q=q,
                            generator=generator(3))
        assert on_device(walks) and walks.shape == (200, 9)
        again = random_walk(ei.to(DEVICE), start.to(DEVICE), 8, num_nodes=40, p=p, q=q,
                            generator=generator(3))
        assert torch.equal(walks, again)
        walks = walks.cpu()
        assert torch.equal(walks[:, 0], start)
        for w in walks.tolist():
            for a, b in zip(w[:-1], w[1:]):
                assert (a, b) in edges or (a == b and out_deg[a] == 0)


def test_walk_positives_on_device():
    ei = random_graph(2, 50, 80, undirected=True)
    nodes = torch.arange(50)
    sampler = WalkPositiveSampler(ei.to(DEVICE), 50, num_walks=4, walk_length=3,
                                  generator=generator(0))
    pos, mask = sampler.sample(nodes.to(DEVICE), 6)
    assert on_device(pos, mask) and pos.shape == mask.shape == (50, 6)
    cooc, valid = walk_positives(ei.to(DEVICE), nodes.to(DEVICE), 4, 3, num_nodes=50,
                                 generator=generator(0))
    assert on_device(cooc, valid) and cooc.shape == (50, 12)
    for u, p, m, c, val in zip(nodes.tolist(), pos.cpu().tolist(), mask.cpu().tolist(),
                               cooc.cpu().tolist(), valid.cpu().tolist()):
        dist = bfs_dist(ei, 50, u)
        assert all(dist.get(v, 99) <= 3 for v in p + c)  # within the walk length
        assert all(v != u for v, keep in zip(p, m) if keep)  # a kept positive is not u
        assert val == [v != u for v in c]


@pytest.mark.parametrize("cache", [True, False])
def test_far_negatives_on_device(cache):
    ei = random_graph(3, 60, 70)
    nodes = torch.arange(0, 60, 3)
    sampler = FarNegativeSampler(ei.to(DEVICE), 60, num_hops=2, cache=cache,
                                 generator=generator(0))
    neg, fallback = sampler.sample(nodes.to(DEVICE), 8, return_fallback=True)
    loose = far_negatives(ei.to(DEVICE), nodes.to(DEVICE), 8, num_hops=2, num_nodes=60,
                          generator=generator(1))
    assert on_device(neg, fallback, loose)
    for negatives in (neg, loose):
        for u, row, fb in zip(nodes.tolist(), negatives.cpu().tolist(), fallback.cpu().tolist()):
            dist = bfs_dist(ei, 60, u)
            far = [v for v in range(60) if dist.get(v, 99) > 2]
            assert fb == (not far)
            if far:
                assert all(dist.get(v, 99) > 2 for v in row), (u, row)


def test_unigram_negatives_on_device():
    ei = random_graph(4, 30, 200)
    deg = torch.bincount(ei[0], minlength=30).double()
    sampler = UnigramNegativeSampler(ei.to(DEVICE), 30, generator=generator(0))
    neg = sampler.sample(torch.arange(30, device=DEVICE), 2000)
    other = unigram_negatives(ei.to(DEVICE), torch.arange(30, device=DEVICE), 5, num_nodes=30)
    assert on_device(neg, other) and neg.shape == (30, 2000) and other.shape == (30, 5)
    p = deg.pow(0.75) / deg.pow(0.75).sum()
    freq = torch.bincount(neg.cpu().view(-1), minlength=30).double() / neg.numel()
    se = (p * (1 - p) / neg.numel()).sqrt()
    assert bool(((freq - p).abs() <= 5 * se + 1e-12).all())


# ------------------------------------------------------------------ models

def _model(name):
    torch.manual_seed(0)
    return {"GCN": lambda: GCN(16, 32, 2, 4),
            "GraphSAGE": lambda: GraphSAGE(16, 32, 2, 4),
            "GAT": lambda: GAT(16, 32, 2, 4, heads=4)}[name]()


@pytest.mark.parametrize("name", ["GCN", "GraphSAGE", "GAT"])
def test_models_forward_backward_match_cpu(name):
    torch.manual_seed(0)
    x, ei = torch.randn(60, 16), random_graph(5)
    target = torch.randn(60, 4)
    results = []
    for device in (torch.device("cpu"), DEVICE):
        model = copy.deepcopy(_model(name)).to(device)
        out = model(x.to(device), ei.to(device))
        assert out.device.type == device.type
        loss = ((out - target.to(device)) ** 2).mean()
        loss.backward()
        results.append((out.detach().cpu(),
                        {k: p.grad.cpu() for k, p in model.named_parameters()}))
    (out_cpu, grad_cpu), (out_dev, grad_dev) = results
    torch.testing.assert_close(out_dev, out_cpu, atol=1e-4, rtol=1e-4)
    for k in grad_cpu:
        torch.testing.assert_close(grad_dev[k], grad_cpu[k], atol=1e-4, rtol=1e-4)


# ------------------------------------------------------------------ trainers

def _config(**kwargs):
    return TrainConfig(**{"epochs": 3, "device": str(DEVICE), "progress": False, **kwargs})


def test_trainer_full_batch_on_device_matches_cpu():
    data = node_data()
    histories = []
    for device in ("cpu", str(DEVICE)):
        torch.manual_seed(0)
        model = GCN(16, 16, 2, 2)
        trainer = Trainer(model, data, _config(device=device))
        result = trainer.fit()
        assert result["epochs_run"] == 3
        assert next(model.parameters()).device.type == torch.device(device).type
        histories.append([(h["loss"], h["val_loss"]) for h in result["history"]])
    torch.testing.assert_close(torch.tensor(histories[1]), torch.tensor(histories[0]),
                               atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("sampler", ["pyg_course", "pyg"])
def test_trainer_minibatch_on_device(sampler):
    data = node_data()
    data.train_mask[:150] = True  # enough training nodes for several batches
    config = _config(mode="minibatch", num_neighbors=[5, 5], batch_size=32, sampler=sampler,
                     eval_batch_size=128)

    def first_epoch_batches():
        torch.manual_seed(0)
        trainer = Trainer(GraphSAGE(16, 16, 2, 2), data, config)
        return trainer, [b.n_id.cpu() for b in trainer.train_loader]

    trainer, batches = first_epoch_batches()
    assert len(batches) == math.ceil(int(data.train_mask.sum()) / 32)
    sample = next(iter(trainer.train_loader))
    # Ours samples on the GPU (the graph moved there once); PyG's samples on the CPU.
    where = DEVICE.type if sampler == "pyg_course" else "cpu"
    assert sample.n_id.device.type == sample.edge_index.device.type == where
    if sampler == "pyg_course":
        _, again = first_epoch_batches()
        assert all(torch.equal(a, b) for a, b in zip(batches, again))
    result = trainer.fit()
    assert result["epochs_run"] == 3 and math.isfinite(result["history"][-1]["loss"])
    model = trainer.model
    assert next(model.parameters()).device.type == DEVICE.type
    model.eval()
    with torch.no_grad():  # layer-wise inference on the device = the full-batch forward
        full = model(data.x.to(DEVICE), data.edge_index.to(DEVICE)).cpu()
    torch.testing.assert_close(trainer.predict().cpu(), full, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("neg_dist,sampler", [("far", "pyg_course"), ("unigram", "pyg")])
def test_unsupervised_trainer_on_device(neg_dist, sampler):
    data = node_data()
    torch.manual_seed(0)
    config = UnsupervisedConfig(epochs=1, batch_size=64, num_neighbors=[5, 5],
                                device=str(DEVICE), progress=False, walk_length=3, num_walks=2,
                                num_negatives=4, neg_dist=neg_dist, neg_hops=2, sampler=sampler,
                                eval_batch_size=128)
    trainer = UnsupervisedTrainer(GraphSAGE(16, 16, 2), data, config, seed=0)
    anchors = torch.arange(10)
    pos, mask = trainer.positives.sample(anchors.to(DEVICE), 2)
    neg = trainer.negatives.sample(anchors.to(DEVICE), 4)
    assert on_device(pos, mask, neg)
    assert math.isfinite(trainer.step(anchors))
    result = trainer.fit()
    assert result["epochs_run"] == 1 and math.isfinite(result["final_loss"])
    assert 0.0 <= result["test_acc"] <= 1.0
    emb = trainer.embed()
    assert emb.shape == (300, 16) and bool(torch.isfinite(emb).all())


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_deepwalk_on_device(optimizer):
    data = node_data()
    torch.manual_seed(0)
    model = DeepWalk(data, emb_dim=8, walk_length=6, window_size=2).to(DEVICE)
    assert on_device(model.graph.col, model.sample(torch.arange(5)))
    losses = train_deepwalk(model, epochs=1, optimizer=optimizer)
    assert len(losses) == 1 and math.isfinite(losses[0])
    assert on_device(model.embedding())
    torch.manual_seed(0)
    model = DeepWalk(data, emb_dim=8, walk_length=6, window_size=2).to(DEVICE)
    config = DeepWalkConfig(epochs=1, optimizer=optimizer, repeats=1, device=str(DEVICE),
                            progress=False)
    result = DeepWalkTrainer(model, data, config, seed=0).fit()
    assert result["epochs_run"] == 1 and 0.0 <= result["test_acc"] <= 1.0
    assert on_device(model.embedding())
