"""Tutorial 5: DeepWalk -- random walks, skip-gram, and migrating from dgl.nn.DeepWalk.

Run: python docs/tutorials/code/deepwalk.py   (Zachary's karate club, no data folder needed)
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

# --- random walks ----------------------------------------------------------------------------
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

# --- skip-gram: a walk is a sentence, its nodes are words ------------------------------------
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

# --- training, exactly as dgl.nn.DeepWalk's documented example --------------------------------
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
