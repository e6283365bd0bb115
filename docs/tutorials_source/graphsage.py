r"""
3. GraphSAGE: inductive learning, aggregators, sampling, the unsupervised loss
==============================================================================

GCN learns on one fixed graph: its normalisation uses every node's degree, and the paper
trains on the whole graph at once. GraphSAGE (Hamilton, Ying and Leskovec, NeurIPS 2017) is
built to be *inductive*: a layer is a function of a node's features and of an aggregate of
its neighbours' features,

.. math::
   \mathbf{x}'_i = \mathbf{W}_1^\top \mathbf{a}_i + \mathbf{W}_2^\top \mathbf{x}_i +
   \mathbf{b}, \qquad
   \mathbf{a}_i = \mathrm{AGG}\big(\{\mathbf{x}_j : j \in \mathcal{N}(i)\}\big),

so the same weights apply to nodes, or whole graphs, never seen in training. Because only a
node's neighbourhood matters, training can run on small sampled neighbourhoods instead of the
whole graph. This tutorial checks the four aggregators of the paper against their formulas,
trains a model without the test nodes and applies it to them, looks inside a
``NeighborLoader`` mini-batch, and trains an encoder without labels (about 10 s on a CPU).
"""

import copy

import torch
from torch_geometric.loader import NeighborLoader
from torch_geometric.utils import subgraph

from pyg_course.datasets import load_dataset, num_classes
from pyg_course.metrics import linear_probe
from pyg_course.nn import SAGEConv, UnsupervisedSAGELoss
from pyg_course.nn.models import GraphSAGE
from pyg_course.sampling import NeighborSampler, UnigramNegativeSampler, WalkPositiveSampler
from pyg_course.train import TrainConfig, Trainer

torch.manual_seed(0)

# %%
# The four aggregators
# --------------------
#
# :class:`pyg_course.nn.SAGEConv` implements the paper's aggregators (``lin_l`` is
# :math:`\mathbf{W}_1`, ``lin_r`` is :math:`\mathbf{W}_2`):
#
# ``mean``
#    :math:`\mathbf{a}_i = \frac{1}{|\mathcal{N}(i)|}\sum_{j \in \mathcal{N}(i)}
#    \mathbf{x}_j`.
# ``gcn``
#    the node is averaged *with* its neighbours and there is no separate root weight:
#    :math:`\mathbf{x}'_i = \mathbf{W}_1^\top \frac{\mathbf{x}_i + \sum_j
#    \mathbf{x}_j}{1 + |\mathcal{N}(i)|} + \mathbf{b}` — an inductive variant of GCN.
# ``pool``
#    each neighbour goes through a one-layer MLP, then an element-wise max:
#    :math:`\mathbf{a}_i = \max_j \mathrm{ReLU}(\mathbf{W}_p^\top \mathbf{x}_j +
#    \mathbf{b}_p)`.
# ``lstm``
#    an LSTM reads the neighbours as a sequence and its last hidden state is
#    :math:`\mathbf{a}_i`.
#
# On a 4-node graph the code recomputes every output row from these formulas (in float64, so
# that the checks are exact up to rounding). Node 3 has no neighbours: its aggregate is zero,
# never NaN.

edge_index = torch.tensor([[1, 2, 3, 0, 0],     # sources j
                           [0, 0, 0, 1, 2]])    # targets i: node 0 has neighbours 1, 2, 3
x = torch.randn(4, 3, dtype=torch.float64)
nbrs = [[1, 2, 3], [0], [0], []]                 # node 3 has no in-edges: a_3 = 0

for aggr in ["mean", "gcn", "pool", "lstm"]:
    conv = SAGEConv(3, 2, aggr=aggr).double().eval()  # eval: the LSTM reads neighbours in id order
    out = conv(x, edge_index)
    for i, N in enumerate(nbrs):
        xs = x[N]
        if aggr == "mean":
            a = xs.mean(0) if N else torch.zeros(3, dtype=x.dtype)
            ref = conv.lin_l(a) + conv.lin_r(x[i])
        elif aggr == "gcn":   # mean over the neighbours and the node itself, no root weight
            ref = conv.lin_l((x[i] + xs.sum(0)) / (1 + len(N)))
        elif aggr == "pool":  # element-wise max of a one-layer MLP of each neighbour
            a = conv.lin(xs).relu().max(0).values if N else torch.zeros(3, dtype=x.dtype)
            ref = conv.lin_l(a) + conv.lin_r(x[i])
        else:                 # the LSTM's last hidden state over the neighbour sequence
            a = conv.lstm(xs.unsqueeze(0))[1][0][-1, 0] if N else torch.zeros(3, dtype=x.dtype)
            ref = conv.lin_l(a) + conv.lin_r(x[i])
        assert torch.allclose(out[i], ref), (aggr, i)
    print(f"{conv}: matches the dense formula for every node")

# Mean, gcn and pool are functions of the neighbour *set*; the LSTM is not, which is why it is
# trained on random permutations of the neighbours.
perm = torch.tensor([2, 0, 4, 3, 1])
for aggr in ["mean", "pool"]:
    conv = SAGEConv(3, 2, aggr=aggr).double()
    assert torch.allclose(conv(x, edge_index), conv(x, edge_index[:, perm]))
conv = SAGEConv(3, 2, aggr="lstm").double()
reordered = [conv.lstm(x[order].unsqueeze(0))[1][0][-1, 0] for order in ([1, 2, 3], [3, 2, 1])]
assert not torch.allclose(*reordered)
print("mean/pool ignore the edge order; an LSTM over [1, 2, 3] and [3, 2, 1] differs")

# %%
# A neighbourhood is a *set*: mean, sum and max give the same answer in any order, but an LSTM
# does not. The paper's remedy, which ``SAGEConv`` follows, is to feed the LSTM a fresh random
# permutation of the neighbours at every training step (and a fixed order, ascending node id,
# in evaluation), so that it learns to approximate an order-independent function.
#
# Inductive learning
# ------------------
#
# To see inductiveness at work the code removes every edge that touches a test node, trains
# on what remains, and then predicts the test nodes on the full graph. The model never saw
# those nodes' edges (nor their labels), yet classifies them about as well as a transductive
# model does, because what it learned is how to combine *a* node's features with *its*
# neighbours':

data = load_dataset("Cora")

seen = ~data.test_mask
train_graph = copy.copy(data)
train_graph.edge_index, _ = subgraph(seen, data.edge_index, num_nodes=data.num_nodes)
print(f"training graph: {int(seen.sum())} of {data.num_nodes} nodes connected, "
      f"{train_graph.edge_index.size(1)} of {data.edge_index.size(1)} edges")

torch.manual_seed(0)
model = GraphSAGE(data.num_features, 64, num_layers=2, out_channels=num_classes(data),
                  dropout=0.5, aggr="mean")
config = TrainConfig(epochs=40, lr=0.01, mode="minibatch", num_neighbors=[10, 5],
                     batch_size=64, progress=False, device="cpu")
Trainer(model, train_graph, config).fit()

model.eval()
with torch.no_grad():
    pred = model(data.x, data.edge_index).argmax(-1)        # the full graph, never seen
test_acc = float((pred[data.test_mask] == data.y[data.test_mask]).float().mean())
print(f"test accuracy on nodes and edges unseen in training: {test_acc:.3f}")
assert test_acc > 0.7

# %%
# ``TrainConfig(mode="minibatch")`` makes :class:`pyg_course.train.Trainer` train on
# neighbour-sampled mini-batches. For evaluation it calls
# :meth:`pyg_course.nn.models.GraphSAGE.inference`, which computes the layers one at a time for
# all nodes with full neighbourhoods (memory for one layer's embeddings instead of a multi-hop
# subgraph per node).
#
# Neighbour sampling with ``NeighborLoader``
# ------------------------------------------
#
# A two-layer model needs each seed node's 2-hop neighbourhood, which on a power-law graph can
# be most of the graph. PyG's :class:`~torch_geometric.loader.NeighborLoader` draws at most
# ``num_neighbors[0]`` neighbours of each seed, then at most ``num_neighbors[1]`` neighbours of
# each node first reached at hop 1, and returns the subgraph of the drawn edges as a ``Data``
# object whose first ``batch_size`` nodes are the seeds (``batch.n_id`` maps its nodes back to
# the full graph). A batch of 4 seeds with ``[10, 5]`` has at most :math:`4 (1 + 10 + 50)`
# nodes, however large the graph. The model runs on the subgraph unchanged, and only the seeds'
# rows are used for the loss.
#
# The drawing itself is :class:`pyg_course.sampling.NeighborSampler`, which the loader takes as
# ``neighbor_sampler=``. For all nodes of a hop at once, in torch on the graph's device, it
# reads each node's in-neighbours from a CSC copy of the graph, keeps all of them when there are
# at most :math:`k`, and otherwise draws a uniform :math:`k`-subset with Floyd's algorithm:
# :math:`k` vectorised steps, the :math:`i`-th drawing :math:`t` uniform in
# :math:`[0, d - k + i]` and taking :math:`d - k + i` instead when :math:`t` was already taken,
# so a node of degree 10,000 costs what a node of degree 20 does. Its random numbers come from
# its own seeded generator.

loader = NeighborLoader(data, num_neighbors=[10, 5], batch_size=4, shuffle=False,
                        input_nodes=data.train_mask,
                        neighbor_sampler=NeighborSampler(data, [10, 5], seed=0))
batch = next(iter(loader))
print(batch)
# The first batch_size nodes are the seeds; the rest are their sampled 1- and 2-hop neighbours.
assert torch.equal(batch.n_id[:batch.batch_size], data.train_mask.nonzero().view(-1)[:4])
assert batch.num_nodes <= 4 * (1 + 10 + 10 * 5)
print("nodes per hop:", batch.num_sampled_nodes, " edges per hop:", batch.num_sampled_edges)

# %%
# Nodes come seeds first, then hop by hop, and so do edges, so the per-hop counts say which
# rows the last layers can skip: the second layer only needs the seeds, whose inputs come
# from hop 1. Passing the counts (``num_sampled_nodes_per_hop``, PyG's models' trimming) makes
# each layer compute only what the next one needs, with the same outputs for the seeds.
with torch.no_grad():
    untrimmed = model(batch.x, batch.edge_index)[:batch.batch_size]
    trimmed = model(batch.x, batch.edge_index, num_sampled_nodes_per_hop=batch.num_sampled_nodes,
                    num_sampled_edges_per_hop=batch.num_sampled_edges)[:batch.batch_size]
assert torch.allclose(trimmed, untrimmed, atol=1e-5)

# With every neighbour kept (num_neighbors=[-1, -1]) the seeds' outputs are exact.
full = NeighborLoader(data, num_neighbors=[-1, -1], batch_size=4, shuffle=False,
                      input_nodes=data.train_mask,
                      neighbor_sampler=NeighborSampler(data, [-1, -1]))
batch = next(iter(full))
with torch.no_grad():
    out_batch = model(batch.x, batch.edge_index)[:batch.batch_size]
    out_full = model(data.x, data.edge_index)[batch.n_id[:batch.batch_size]]
assert torch.allclose(out_batch, out_full, atol=1e-5)
print("mini-batch with all neighbours == full-graph output for the seed nodes")

# %%
# Bag-of-words features are mostly zeros (98.7% on Cora), and copying, dropping out and
# multiplying the zeros is most of a mini-batch's cost. ``NeighborLoader`` cannot slice a sparse
# CSR matrix, so :class:`pyg_course.train.Trainer` lets the loader sample a copy of the graph
# without features and gathers each batch's rows itself, sparse
# (:func:`pyg_course.utils.sparse.index_rows` on ``batch.n_id``); ``SAGEConv`` multiplies
# sparse input sparsely. The numbers are the same as with dense rows (tested), and a CiteSeer
# mini-batch epoch is about 9× faster (``docs/results/sage.md``).
#
# The unsupervised loss
# ---------------------
#
# Without labels, GraphSAGE trains the encoder so that nodes that co-occur on short random
# walks get similar embeddings and random nodes get dissimilar ones (the paper's Eq. 1):
#
# .. math::
#    J(\mathbf{z}_u) = -\log \sigma(\mathbf{z}_u^\top \mathbf{z}_v)
#    - Q \cdot \mathbb{E}_{v_n \sim P_n} \log \sigma(-\mathbf{z}_u^\top \mathbf{z}_{v_n}),
#
# where :math:`v` co-occurs with :math:`u` on a fixed-length random walk and the :math:`Q`
# negatives are drawn from :math:`P_n(v) \propto \deg(v)^{0.75}`.
# :class:`pyg_course.sampling.WalkPositiveSampler` draws the positives,
# :class:`pyg_course.sampling.UnigramNegativeSampler` the negatives, and
# :class:`pyg_course.nn.UnsupervisedSAGELoss` computes :math:`J` (here with the cosine score,
# as in the original code). After training, a logistic regression on the frozen embeddings
# (:func:`pyg_course.metrics.linear_probe`) measures how much label information they carry:

torch.manual_seed(0)
encoder = GraphSAGE(data.num_features, 64, num_layers=2, aggr="mean")
loss_fn = UnsupervisedSAGELoss(mode="sage", similarity="cosine")
positives = WalkPositiveSampler(data.edge_index, data.num_nodes, num_walks=10, walk_length=5)
negatives = UnigramNegativeSampler(data.edge_index, data.num_nodes)
optimizer = torch.optim.Adam(encoder.parameters(), lr=0.01)

losses = []
for _step in range(30):
    anchors = torch.randint(0, data.num_nodes, (512,))
    pos, pos_mask = positives.sample(anchors, num_positives=1)   # (B, 1): a walk co-occurrence
    neg = negatives.sample(anchors, num_negatives=20)            # (B, 20)
    z = encoder(data.x, data.edge_index)                          # full batch: the graph is small
    loss = loss_fn(z[anchors], z[pos], z[neg], pos_mask)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    losses.append(loss.item())
print(f"unsupervised loss: {losses[0]:.3f} -> {losses[-1]:.3f}")
assert sum(losses[-5:]) < sum(losses[:5])

encoder.eval()
with torch.no_grad():
    z = encoder(data.x, data.edge_index)
acc = linear_probe(z, data.y, data.train_mask, data.test_mask, val_mask=data.val_mask)
print(f"logistic regression on the label-free embeddings: test accuracy {acc:.3f}")
assert acc > 0.6

# %%
# For brevity the loop above embeds the whole graph each step. The full method — one
# neighbour-sampled subgraph per step for the anchors, positives and negatives, negatives
# chosen far from the anchor, multi-seed results — is
# :class:`pyg_course.train.unsupervised.UnsupervisedTrainer`, run by
# ``scripts/train_sage.py --unsupervised``.
