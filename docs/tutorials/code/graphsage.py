"""Tutorial 3: GraphSAGE -- the four aggregators, inductive learning, NeighborLoader, and the
unsupervised loss.

Run: PYG_COURSE_DATA=/work/shared/data python docs/tutorials/code/graphsage.py
(without the data folder it uses a synthetic CSBM graph instead of Cora)
"""

import copy

import torch
from torch_geometric.loader import NeighborLoader
from torch_geometric.utils import subgraph

from pyg_course.datasets import DatasetNotFoundError, csbm, load_dataset, num_classes
from pyg_course.metrics import linear_probe
from pyg_course.nn import SAGEConv, UnsupervisedSAGELoss
from pyg_course.nn.models import GraphSAGE
from pyg_course.sampling import UnigramNegativeSampler, WalkPositiveSampler
from pyg_course.train import TrainConfig, Trainer

torch.manual_seed(0)

# --- the four aggregators on a 4-node graph (float64, exact checks) ----------------------
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

# --- inductive learning: train without the test nodes, predict on the full graph ----------
try:
    data = load_dataset("Cora")
except DatasetNotFoundError:
    print("Cora not found (set PYG_COURSE_DATA); using a synthetic CSBM graph")
    data = csbm(seed=0)

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

# --- NeighborLoader: what a mini-batch is ----------------------------------------------------
loader = NeighborLoader(data, num_neighbors=[10, 5], batch_size=4, shuffle=False,
                        input_nodes=data.train_mask)
batch = next(iter(loader))
print(batch)
# The first batch_size nodes are the seeds; the rest are their sampled 1- and 2-hop neighbours.
assert torch.equal(batch.n_id[:batch.batch_size], data.train_mask.nonzero().view(-1)[:4])
assert batch.num_nodes <= 4 * (1 + 10 + 10 * 5)

# With every neighbour kept (num_neighbors=[-1, -1]) the seeds' outputs are exact.
full = NeighborLoader(data, num_neighbors=[-1, -1], batch_size=4, shuffle=False,
                      input_nodes=data.train_mask)
batch = next(iter(full))
with torch.no_grad():
    out_batch = model(batch.x, batch.edge_index)[:batch.batch_size]
    out_full = model(data.x, data.edge_index)[batch.n_id[:batch.batch_size]]
assert torch.allclose(out_batch, out_full, atol=1e-5)
print("mini-batch with all neighbours == full-graph output for the seed nodes")

# --- the unsupervised loss: random-walk positives, degree^0.75 negatives ---------------------
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
