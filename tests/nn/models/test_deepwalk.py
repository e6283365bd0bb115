"""DeepWalk: DGL's documented example runs unchanged on a PyG graph and learns; walks follow
edges; the loss equals its float64 formula (and ln2 (1 + K lambda) at init); sparse gradients;
the word2vec SGD step equals -lr times the float64 gradient of its summed loss; reproducible
under torch.manual_seed."""

import math

import numpy as np
import pytest
import torch
from torch_geometric.data import Data

from pyg_course.nn import DeepWalk
from pyg_course.train import train_deepwalk


@pytest.fixture
def one_thread():
    # Walk sampling and small matmuls gain nothing from threads on a shared 2-core machine.
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _graph():
    # Undirected ring 0..5 plus a chord, a directed dead end 6 -> 7, and isolated node 8.
    und = torch.tensor([[0, 1, 2, 3, 4, 5, 0], [1, 2, 3, 4, 5, 0, 3]])
    edge_index = torch.cat([und, und.flip(0), torch.tensor([[6], [7]])], 1)
    return Data(edge_index=edge_index, num_nodes=9)


def test_dgl_documented_example_on_cora(cora, one_thread):
    import torch  # noqa: F401  (the example's own imports, DGL's replaced by ours)
    from sklearn.linear_model import LogisticRegression
    from torch.optim import SparseAdam
    from torch.utils.data import DataLoader

    g = cora
    model = DeepWalk(g)
    X0 = model.node_embed.weight.detach().clone()
    dataloader = DataLoader(torch.arange(g.num_nodes), batch_size=128,
                            shuffle=True, collate_fn=model.sample)
    optimizer = SparseAdam(model.parameters(), lr=0.01)
    num_epochs = 5

    for epoch in range(num_epochs):  # noqa: B007  (verbatim)
        for batch_walk in dataloader:
            loss = model(batch_walk)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    train_mask = g.train_mask
    test_mask = g.test_mask
    X = model.node_embed.weight.detach()
    y = g.y
    clf = LogisticRegression().fit(X[train_mask].numpy(), y[train_mask].numpy())
    acc = clf.score(X[test_mask].numpy(), y[test_mask].numpy())

    clf0 = LogisticRegression().fit(X0[train_mask].numpy(), y[train_mask].numpy())
    acc0 = clf0.score(X0[test_mask].numpy(), y[test_mask].numpy())
    assert acc0 < 0.3  # random vectors: near chance on 7 classes
    assert acc > 0.6 and acc > acc0 + 0.3


def test_sample_follows_edges_and_handles_dead_ends():
    data = _graph()
    model = DeepWalk(data, emb_dim=4, walk_length=7, window_size=2)
    walks = model.sample(torch.arange(9).repeat(20))
    assert walks.shape == (180, 7) and walks.dtype == torch.long
    assert torch.equal(walks[:, 0], torch.arange(9).repeat(20))
    edges = set(map(tuple, data.edge_index.t().tolist()))
    for w in walks.tolist():
        for a, b in zip(w[:-1], w[1:]):
            assert (a, b) in edges or (a == b and a in (7, 8))
    assert (walks[walks[:, 0] == 8] == 8).all()
    assert (walks[walks[:, 0] == 6][:, 1:] == 7).all()
    # The list of 0-d tensors a DataLoader hands to collate_fn works too.
    assert model.sample([torch.tensor(3), torch.tensor(8)]).shape == (2, 7)


@pytest.mark.parametrize("negative_size,neg_weight,fast_neg", [(5, 1, True), (3, 0.5, False),
                                                               (1, 2.0, True)])
def test_loss_at_init_is_ln2(negative_size, neg_weight, fast_neg):
    model = DeepWalk(_graph(), emb_dim=8, walk_length=6, window_size=2,
                     negative_size=negative_size, neg_weight=neg_weight, fast_neg=fast_neg)
    assert (model.context_embed.weight == 0).all()
    loss = model(model.sample(torch.arange(9)))
    assert loss.item() == pytest.approx(math.log(2) * (1 + negative_size * neg_weight), abs=1e-6)


def _reference_loss(u, c, walks, window, neg_nodes, K, lam):
    """DGL's loss, written with loops in float64; every position i shares the negatives
    ``neg_nodes`` and counts once per positive pair it is the centre of."""
    ell = lambda x: -torch.nn.functional.logsigmoid(torch.clamp(x, -6, 6))  # noqa: E731
    pos, neg = [], []
    for w in walks.tolist():
        for i in range(len(w)):
            for j in range(len(w)):
                if 0 < abs(i - j) <= window:
                    pos.append(ell(u[w[j]] @ c[w[i]]))
                    neg.append(torch.stack([ell(-(u[w[i]] @ c[x])) for x in neg_nodes]).mean())
    return torch.stack(pos).mean() + K * lam * torch.stack(neg).mean()


@pytest.mark.parametrize("fast_neg", [True, False])
def test_loss_matches_float64_reference(fast_neg):
    model = DeepWalk(_graph(), emb_dim=6, walk_length=5, window_size=2, negative_size=3,
                     neg_weight=0.7, fast_neg=fast_neg, num_negatives=4).double()
    torch.nn.init.normal_(model.node_embed.weight)
    torch.nn.init.normal_(model.context_embed.weight)
    walks = model.sample(torch.tensor([0, 2, 6, 8, 4]))
    torch.manual_seed(3)
    loss = model(walks)
    # Replay the draw of the shared negatives.
    torch.manual_seed(3)
    if fast_neg:
        neg_nodes = walks.reshape(-1)[torch.randint(walks.numel(), (4,))]
    else:
        neg_nodes = torch.multinomial(model.neg_prob, 4, replacement=True)
    ref = _reference_loss(model.node_embed.weight, model.context_embed.weight, walks, 2,
                          neg_nodes.tolist(), 3, 0.7)
    assert loss.item() == pytest.approx(ref.item(), abs=1e-10)


def test_degree_negatives():
    model = DeepWalk(_graph(), emb_dim=4, walk_length=4, window_size=1, fast_neg=False)
    deg = torch.tensor([3, 2, 2, 3, 2, 2, 1, 0, 0], dtype=torch.double)
    assert torch.allclose(model.neg_prob.double(), deg.pow(0.75) / deg.pow(0.75).sum())


def test_sparse_gradients_match_dense():
    torch.manual_seed(0)
    sparse = DeepWalk(_graph(), emb_dim=8, walk_length=6, window_size=2)
    dense = DeepWalk(_graph(), emb_dim=8, walk_length=6, window_size=2, sparse=False)
    torch.nn.init.normal_(sparse.context_embed.weight)
    dense.load_state_dict(sparse.state_dict(), strict=True)
    walks = sparse.sample(torch.arange(9))
    torch.manual_seed(1)
    sparse(walks).backward()
    torch.manual_seed(1)
    dense(walks).backward()
    for a, b in [(sparse.node_embed, dense.node_embed),
                 (sparse.context_embed, dense.context_embed)]:
        assert a.weight.grad.is_sparse and not b.weight.grad.is_sparse
        assert torch.allclose(a.weight.grad.to_dense(), b.weight.grad, atol=1e-6)
    assert sparse.node_embed.weight.grad.to_dense()[8].abs().sum() > 0  # its own walk
    # The DGL recipe trains with SparseAdam; a dense model falls back to Adam.
    losses = train_deepwalk(sparse, epochs=2, lr=0.05, optimizer="adam")
    assert len(losses) == 2 and all(math.isfinite(x) for x in losses)
    losses = train_deepwalk(dense, epochs=2, lr=0.05, optimizer="adam")
    assert len(losses) == 2 and all(math.isfinite(x) for x in losses)


def _reference_sum_loss(u, c, walks, window, negatives, lam, K=None):
    """The summed word2vec loss S of DeepWalk.sgd_step, with loops, in float64. ``negatives``
    ``(B, L, K)``: per position; ``(B, M)``: shared by the positions of a walk, each draw
    weighted K / M."""
    ell = lambda x: -torch.nn.functional.logsigmoid(x)  # noqa: E731
    total = u.new_zeros(())
    weighted_pairs = 0.0
    for b, w in enumerate(walks.tolist()):
        for i in range(len(w)):
            m = 0.0
            for j in range(len(w)):
                d = abs(i - j)
                if 0 < d <= window:
                    omega = (window - d + 1) / window
                    total = total + omega * ell(u[w[j]] @ c[w[i]])
                    m += omega
            weighted_pairs += m
            if negatives.dim() == 2:
                for x in negatives[b].tolist():
                    total = total + lam * m * K / negatives.size(1) * ell(-(u[w[i]] @ c[x]))
            else:
                for x in negatives[b, i].tolist():
                    total = total + lam * m * ell(-(u[w[i]] @ c[x]))
    return total, weighted_pairs


@pytest.mark.parametrize("negative_size,neg_weight,rho,shared", [
    (3, 0.7, 1.0, None), (0, 1.0, 1.0, None), (3, 0.7, 0.5, None), (3, 1.0, 0.0, None),
    (3, 0.7, 1.0, 6), (3, 0.7, 0.5, 4), (2, 1.0, 0.0, 9)])
def test_sgd_step_is_minus_lr_times_averaged_gradient(negative_size, neg_weight, rho, shared):
    torch.manual_seed(0)
    model = DeepWalk(_graph(), emb_dim=5, walk_length=6, window_size=3,
                     negative_size=negative_size, neg_weight=neg_weight,
                     repeat_damping=rho).double()
    torch.nn.init.normal_(model.node_embed.weight)
    torch.nn.init.normal_(model.context_embed.weight)
    walks = model.sample(torch.tensor([0, 3, 6, 8]))
    # Per position (B, L, K), or M = `shared` draws per walk shared by its positions.
    negatives = torch.randint(9, (4, 6, negative_size) if shared is None else (4, shared))
    U0 = model.node_embed.weight.detach().clone().requires_grad_()
    C0 = model.context_embed.weight.detach().clone().requires_grad_()
    ref, weighted_pairs = _reference_sum_loss(U0, C0, walks, 3, negatives, neg_weight,
                                              negative_size)
    ref.backward()
    # A row met n > 1 times in the batch moves by its summed gradient / n^rho; for the context
    # table a negative draw counts 1/K of an occurrence (shared: L/M).
    n_u = torch.bincount(walks.reshape(-1), minlength=9).double().clamp(min=1).pow(rho)
    n_c = torch.bincount(walks.reshape(-1), minlength=9).double()
    if negative_size > 0:
        unit = 1 / negative_size if shared is None else 6 / shared
        n_c += torch.bincount(negatives.reshape(-1), minlength=9).double() * unit
    n_c = n_c.clamp(min=1).pow(rho)
    loss = model.sgd_step(walks, 0.1, negatives=negatives)
    assert loss.item() == pytest.approx(ref.item() / weighted_pairs, rel=1e-12)
    assert torch.allclose(model.node_embed.weight, U0 - 0.1 * U0.grad / n_u[:, None],
                          atol=1e-12)
    assert torch.allclose(model.context_embed.weight, C0 - 0.1 * C0.grad / n_c[:, None],
                          atol=1e-12)
    assert not torch.equal(model.node_embed.weight, U0)


def test_sgd_step_at_init_and_negative_draws():
    model = DeepWalk(_graph(), emb_dim=8, walk_length=6, window_size=2, negative_size=4,
                     neg_weight=0.5)
    walks = model.sample(torch.arange(9))
    # Context table zero: every score is 0, so the per-pair loss is ln2 (1 + K lambda).
    assert model.sgd_step(walks, 0.0).item() == pytest.approx(math.log(2) * 3, abs=1e-6)
    torch.manual_seed(0)
    degree = DeepWalk(_graph(), fast_neg=False)._draw_negatives(walks, 20000)
    freq = torch.bincount(degree, minlength=9).double() / 20000
    deg = torch.tensor([3, 2, 2, 3, 2, 2, 1, 0, 0], dtype=torch.double).pow(0.75)
    assert torch.allclose(freq, deg / deg.sum(), atol=0.015)
    batch = model._draw_negatives(walks, 1000)
    assert set(batch.tolist()) <= set(walks.reshape(-1).tolist())
    with pytest.raises(ValueError, match="optimizer must be"):
        train_deepwalk(model, optimizer="sparse")
    with pytest.raises(ValueError, match=r"batch_walk must have shape"):
        model.sgd_step(torch.zeros(3, 4, dtype=torch.long), 0.1)
    with pytest.raises(ValueError, match=r"negatives must have shape \(9, 6, 4\) or \(9, M\)"):
        model.sgd_step(walks, 0.1, negatives=torch.zeros(9, 6, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="passes must be an integer >= 1"):
        train_deepwalk(model, passes=0)
    with pytest.raises(ValueError, match="passes applies to optimizer='sgd' only"):
        train_deepwalk(model, passes=2, optimizer="adam")
    # Both draws give the documented loss at init: each position's negative weight sums to K.
    per_position = DeepWalk(_graph(), emb_dim=8, walk_length=6, window_size=2,
                            negative_size=4, neg_weight=0.5, shared_negatives=False)
    assert per_position.sgd_step(walks, 0.0).item() == pytest.approx(math.log(2) * 3, abs=1e-6)


def test_same_seed_same_walks_and_loss():
    def run():
        torch.manual_seed(42)
        model = DeepWalk(_graph(), emb_dim=8, walk_length=6, window_size=2)
        torch.nn.init.normal_(model.context_embed.weight)
        walks = model.sample(torch.arange(9))
        return walks, model(walks).item()

    (w1, l1), (w2, l2) = run(), run()
    assert torch.equal(w1, w2) and l1 == l2
    torch.manual_seed(43)
    w3 = DeepWalk(_graph(), walk_length=6, window_size=2).sample(torch.arange(9))
    assert not torch.equal(w1, w3)


def test_graph_forms_loader_embedding_and_save(tmp_path):
    data = _graph()
    torch.manual_seed(0)
    a = DeepWalk(data, emb_dim=4, walk_length=5, window_size=2, walks_per_node=3)
    torch.manual_seed(0)
    b = DeepWalk(data.edge_index, num_nodes=9, emb_dim=4, walk_length=5, window_size=2,
                 walks_per_node=3)
    assert torch.equal(a.embedding(), b.embedding())
    torch.manual_seed(5)
    batches = list(a.loader(batch_size=10, shuffle=False))
    torch.manual_seed(5)
    assert all(torch.equal(x, y) for x, y in zip(batches, b.loader(batch_size=10, shuffle=False)))
    walks = torch.cat(batches)
    assert walks.shape == (27, 5)
    assert torch.equal(walks[:, 0].sort().values, torch.arange(9).repeat_interleave(3))
    emb = a.embedding()
    assert not emb.requires_grad and emb.shape == (9, 4)
    a.save_embedding(tmp_path / "e.pt")
    a.save_embedding(tmp_path / "e.npy")
    assert torch.equal(torch.load(tmp_path / "e.pt"), emb)
    assert np.array_equal(np.load(tmp_path / "e.npy"), emb.numpy())
    with pytest.raises(ValueError, match=".npy or .pt"):
        a.save_embedding(tmp_path / "e.txt")
    assert "DeepWalk(9, emb_dim=4" in repr(a)


def test_bad_input():
    data = _graph()
    with pytest.raises(ValueError, match="walk_length"):
        DeepWalk(data, walk_length=1)
    with pytest.raises(ValueError, match="p and q"):
        DeepWalk(data, q=0)
    with pytest.raises(ValueError, match=r"repeat_damping must be in \[0, 1\]"):
        DeepWalk(data, repeat_damping=1.5)
    with pytest.raises(TypeError, match="PyG Data or an edge_index"):
        DeepWalk([[0, 1], [1, 0]])
    with pytest.raises(IndexError, match="only 5 (source|target) nodes"):
        DeepWalk(data.edge_index, num_nodes=5)
    model = DeepWalk(data, walk_length=5, window_size=2)
    with pytest.raises(ValueError, match=r"batch_walk must have shape \(batch_size, 5\)"):
        model(torch.zeros(3, 4, dtype=torch.long))
    with pytest.raises(IndexError, match="start node 9"):
        model.sample(torch.tensor([9]))


# ------------------------------------------------------------ hierarchical softmax

def _reference_hs_loss(u, c, walks, window, path, code, mask, omega=True):
    """Hierarchical-softmax skip-gram loss, with loops in float64: for every pair, the input
    vector of position j against the tree path of position i."""
    total = u.new_zeros(())
    pairs = 0.0
    for w in walks.tolist():
        for i in range(len(w)):
            for j in range(len(w)):
                d = abs(i - j)
                if not 0 < d <= window:
                    continue
                weight = (window - d + 1) / window if omega else 1.0
                pairs += weight
                for k in range(int(mask[w[i]].sum())):
                    sign = 1.0 - 2.0 * float(code[w[i], k])
                    total = total - weight * torch.nn.functional.logsigmoid(
                        sign * (u[w[j]] @ c[path[w[i], k]]))
    return total, pairs


def test_hierarchical_softmax_loss_and_sgd_step_match_float64_reference():
    torch.manual_seed(0)
    model = DeepWalk(_graph(), emb_dim=5, walk_length=6, window_size=3,
                     hierarchical_softmax=True).double()
    path, code, mask = model._hs_path, 1 - model._hs_label.long(), model._hs_mask.bool()
    # At init (context table zero) every tree decision costs ln 2.
    walks = model.sample(torch.tensor([0, 3, 6, 8]))
    ref0, pairs = _reference_hs_loss(model.node_embed.weight.detach(),
                                     model.context_embed.weight.detach(), walks, 3, path,
                                     code * mask, mask, omega=False)
    assert ref0.item() > 0
    assert model(walks).item() == pytest.approx(ref0.item() / pairs, rel=1e-12)

    torch.nn.init.normal_(model.node_embed.weight)
    torch.nn.init.normal_(model.context_embed.weight)
    U0 = model.node_embed.weight.detach().clone().requires_grad_()
    C0 = model.context_embed.weight.detach().clone().requires_grad_()
    ref, _ = _reference_hs_loss(U0, C0, walks, 3, path, code * mask, mask, omega=False)
    assert model(walks).item() == pytest.approx(ref.item() / pairs, rel=1e-12)
    U0.grad = C0.grad = None
    ref, weighted = _reference_hs_loss(U0, C0, walks, 3, path, code * mask, mask)
    ref.backward()
    # Rows met n > 1 times move by their summed gradient / n: a walk position counts once for
    # the node table, and once for every internal node on its tree path.
    n_u = torch.bincount(walks.reshape(-1), minlength=9).double().clamp(min=1)
    n_c = torch.bincount(path[walks][mask[walks]], minlength=9).double().clamp(min=1)
    loss = model.sgd_step(walks, 0.1)
    assert loss.item() == pytest.approx(ref.item() / weighted, rel=1e-12)
    assert torch.allclose(model.node_embed.weight, U0 - 0.1 * U0.grad / n_u[:, None], atol=1e-12)
    assert torch.allclose(model.context_embed.weight, C0 - 0.1 * C0.grad / n_c[:, None],
                          atol=1e-12)
    assert not torch.equal(model.context_embed.weight, C0)
