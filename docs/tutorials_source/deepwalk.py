r"""
5. DeepWalk: random walks and skip-gram
=======================================

The layers of the previous tutorials need node features. DeepWalk (Perozzi, Al-Rfou and
Skiena, KDD 2014) learns a vector per node from the graph alone, with an idea borrowed from
language models: *a random walk is a sentence whose words are nodes*. Nodes that appear close
together on many walks — which happens when they are close in the graph or share many
neighbours — should get similar vectors, exactly as word2vec's skip-gram gives similar
vectors to words that appear in similar contexts. The examples use Zachary's karate club
and run in a few seconds.
"""

import math

import torch
from torch.optim import SparseAdam
from torch.utils.data import DataLoader

from pyg_course.datasets import load_dataset
from pyg_course.metrics import evaluate_node_embeddings
from pyg_course.nn.models import DeepWalk
from pyg_course.sampling import CSRGraph, random_walk

torch.manual_seed(0)
data = load_dataset("KarateClub")   # 34 members; `faction`: the two clubs after the split
graph = CSRGraph(data.edge_index, data.num_nodes)

# %%
# Random walks
# ------------
#
# A walk starts at a node and repeatedly moves to a uniformly chosen neighbour.
# :func:`pyg_course.sampling.random_walk` runs all walks at once, one vectorised step at a
# time, on a :class:`pyg_course.sampling.CSRGraph` (the edges sorted by source once, so that a
# node's neighbours are one contiguous slice). The code checks that every step follows an
# edge and that from node 0 each of its 16 neighbours is chosen with probability 1/16:

walks = random_walk(graph, torch.arange(data.num_nodes), walk_length=9)  # 10 nodes each
print("a walk from node 0:", walks[0].tolist())
assert walks.shape == (34, 10)
assert bool(graph.has_edge(walks[:, :-1].reshape(-1), walks[:, 1:].reshape(-1)).all())

# Each step picks an out-neighbour uniformly: node 0's 16 neighbours get 1/16 each.
steps = random_walk(graph, torch.zeros(32000, dtype=torch.long), walk_length=1)[:, 1]
freq = torch.bincount(steps, minlength=34).float() / steps.numel()
neighbours = data.edge_index[1, data.edge_index[0] == 0]
assert torch.allclose(freq[neighbours], torch.full((16,), 1 / 16), atol=0.01)
assert freq.sum() - freq[neighbours].sum() == 0
print(f"one step from node 0: {len(neighbours)} neighbours, frequencies "
      f"{freq[neighbours].min():.3f}..{freq[neighbours].max():.3f} (1/16 = {1 / 16:.3f})")

# %%
# With ``p`` and ``q`` other than 1 the same function draws node2vec's biased walks
# (return parameter ``p``, in-out parameter ``q``).
#
# Skip-gram with negative sampling
# --------------------------------
#
# Each position :math:`i` of a walk, with the nodes within ``window_size`` :math:`s` of it,
# gives (centre, context) pairs. Every node :math:`v` has two vectors, an embedding
# :math:`\mathbf{u}_v` (the one we keep) and a context vector :math:`\mathbf{c}_v`. Skip-gram
# with negative sampling makes :math:`\sigma(\mathbf{u}^\top\mathbf{c})` large for observed
# pairs and small for :math:`K` random "negative" nodes drawn from a noise distribution
# :math:`P_n`:
#
# .. math::
#    \mathcal{L} = -\sum_{(v, w)} \Big[\log\sigma(\mathbf{u}_v^\top\mathbf{c}_w)
#    + \sum_{k=1}^{K} \mathbb{E}_{x_k \sim P_n} \log\sigma(-\mathbf{u}_v^\top\mathbf{c}_{x_k})
#    \Big].
#
# The original paper used a hierarchical softmax instead: each node is a leaf of a Huffman tree
# (frequent nodes near the root) and :math:`\log p(w \mid v)` is a sum of
# :math:`\log\sigma(\pm\mathbf{u}_v^\top\boldsymbol{\theta}_n)` over the inner nodes
# :math:`n` on the path to :math:`w`, so a pair costs :math:`O(\log |V|)` instead of
# :math:`O(|V|)`. ``DeepWalk(..., hierarchical_softmax=True)`` (``--hs`` in
# ``scripts/train_deepwalk.py``) implements it; negative sampling is what DGL's and most later
# implementations use, and it is the default here. :class:`pyg_course.nn.models.DeepWalk`
# computes the expectation over negatives with one pool of negatives shared by the whole
# batch, which gives the same gradient in expectation with a single dense score matrix (see
# its docstring for the exact loss). Since the context table starts at zero, every score is
# zero at initialisation and the loss is :math:`\ln 2\,(1 + K\lambda)` — a quick sanity check:

# a walk is a sentence, its nodes are words
window = 2
walk = walks[0].tolist()
pairs = [(walk[i], walk[j]) for i in range(len(walk))
         for j in range(max(0, i - window), min(len(walk), i + window + 1)) if j != i]
print(f"(centre, context) pairs of that walk with window {window}: {pairs[:6]} ...")
assert len(pairs) == 2 * sum(min(window, len(walk) - 1 - i) for i in range(len(walk)))

model = DeepWalk(data, emb_dim=16, walk_length=20, window_size=5, negative_size=5)
batch = model.sample(torch.arange(34))
K, lam = model.negative_size, model.neg_weight
# The context table starts at zero: every score is 0, each term is log 2.
assert math.isclose(model(batch).item(), math.log(2) * (1 + K * lam), rel_tol=1e-5)
print(f"loss at initialisation: {model(batch).item():.4f} = ln 2 * (1 + K*lambda)")

# %%
# Training and using the embeddings
# ---------------------------------
#
# The training loop is DGL's documented example, unchanged: a ``DataLoader`` over start nodes
# whose ``collate_fn`` is ``model.sample`` (so each batch *is* a batch of walks), and
# ``SparseAdam``, because each step touches only the rows of the nodes in the batch. A
# logistic regression on the 16-dimensional embeddings then predicts which of the two clubs
# each member joined, although the model never saw that label:

torch.manual_seed(0)
model = DeepWalk(data, emb_dim=16, walk_length=20, window_size=5)
loader = DataLoader(torch.arange(data.num_nodes).repeat(20), batch_size=128, shuffle=True,
                    collate_fn=model.sample)
optimizer = SparseAdam(model.parameters(), lr=0.01)
first = None
for _epoch in range(5):
    for batch_walk in loader:
        loss = model(batch_walk)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        first = loss.item() if first is None else first
print(f"skip-gram loss: {first:.3f} -> {loss.item():.3f}")
assert loss.item() < first

X = model.node_embed.weight.detach()          # (34, 16): DGL's way to read the embeddings
assert torch.equal(X, model.embedding())
result = evaluate_node_embeddings(X, data, label="faction")
print(f"logistic regression on the embeddings predicts the faction: {result['accuracy']:.3f}")
assert result["accuracy"] > 0.7   # chance is about 0.5

# %%
# ``scripts/train_deepwalk.py`` runs the same on Cora, CiteSeer and BlogCatalog (multi-label,
# micro/macro-F1 as in the paper); :func:`pyg_course.train.train_deepwalk` is the
# loop above as a function. Its plot of the karate-club embeddings (when it has been run):
#
# .. pyg-course-results:: deepwalk
#
# Migrating from ``dgl.nn.DeepWalk``
# ----------------------------------
#
# ``pyg_course.nn.models.DeepWalk`` keeps DGL's constructor arguments (``emb_dim``,
# ``walk_length``, ``window_size``, ``neg_weight``, ``negative_size``, ``fast_neg``,
# ``sparse``) and its methods (``sample``, ``forward`` returning the loss, ``node_embed``,
# ``reset_parameters``). Code written for DGL changes in one place, the graph:
#
# .. code-block:: python
#
#    # DGL
#    import dgl
#    from dgl.nn import DeepWalk
#    g = dgl.graph((src, dst))                    # a DGLGraph
#    model = DeepWalk(g)
#
#    # pyg_course
#    from pyg_course.nn.models import DeepWalk
#    model = DeepWalk(data)                       # a PyG Data, or DeepWalk(edge_index, num_nodes=N)
#
# Everything after that — the ``DataLoader`` with ``collate_fn=model.sample``, ``SparseAdam``,
# ``loss = model(batch_walk)``, ``model.node_embed.weight.detach()`` — is the same code. Points
# to know when you move:
#
# * Walks follow ``edge_index[0] -> edge_index[1]``: give both directions for an undirected
#   graph (PyG's datasets already do; ``torch_geometric.utils.to_undirected`` otherwise).
# * ``walk_length`` counts nodes, start included, as in DGL;
#   :func:`~pyg_course.sampling.random_walk` counts *steps*, so ``model.sample`` calls it with
#   ``walk_length - 1``.
# * A node without out-edges keeps the walk in place instead of ending it, so every walk has
#   full length.
# * The loss equals DGL's in expectation, not sample by sample (shared negatives; set
#   ``num_negatives`` to change the pool). Compare runs by embedding quality, not by loss values.
# * Extras: ``p``/``q`` for node2vec walks, ``walks_per_node`` and ``model.loader()``,
#   ``model.embedding()`` and ``model.save_embedding(path)``.
