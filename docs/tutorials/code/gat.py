"""Tutorial 4: GAT -- attention coefficients, multi-head attention, plotting attention.

Run: PYG_COURSE_DATA=/work/shared/data python docs/tutorials/code/gat.py
(without the data folder it uses a synthetic CSBM graph instead of Cora). The figure is
written to $TUTORIAL_OUT/gat_attention.png (default: the current folder).
"""

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from pyg_course.datasets import DatasetNotFoundError, csbm, load_dataset, num_classes  # noqa: E402
from pyg_course.nn import GATConv  # noqa: E402
from pyg_course.nn.models import GAT, attention_entropy  # noqa: E402
from pyg_course.train import TrainConfig, Trainer  # noqa: E402

torch.manual_seed(0)
torch.set_grad_enabled(False)  # no training until the GAT section below

# --- attention coefficients by hand on a 4-node graph (float64, one head) ------------------
edge_index = torch.tensor([[1, 2, 3, 0, 0],
                           [0, 0, 0, 1, 2]])     # node 0 hears from 1, 2, 3
x = torch.randn(4, 3, dtype=torch.float64)
conv = GATConv(3, 2, heads=1).double()
torch.nn.init.normal_(conv.bias)

h = conv.lin(x)                                  # W x_j for every node, (4, 2)
a_src, a_dst = conv.att_src.view(-1), conv.att_dst.view(-1)
out_by_hand = torch.empty(4, 2, dtype=torch.float64)
for i in range(4):
    N = edge_index[0, edge_index[1] == i].tolist() + [i]        # neighbours plus a self-loop
    e = F.leaky_relu(h[i] @ a_dst + h[N] @ a_src, negative_slope=0.2)  # one score per j
    alpha = torch.softmax(e, dim=0)                              # normalised over N(i) + {i}
    out_by_hand[i] = alpha @ h[N] + conv.bias
    if i == 0:
        print(f"alpha_0j for j in {N}: {alpha.numpy().round(3)}")

out, (att_edges, att) = conv(x, edge_index, return_attention_weights=True)
assert torch.allclose(out, out_by_hand)
# The returned attention has one row per edge (self-loops appended) and sums to 1 per target.
assert torch.allclose(torch.zeros(4, 1, dtype=torch.float64).index_add_(0, att_edges[1], att),
                      torch.ones(4, 1, dtype=torch.float64))
print("GATConv == softmax_j(LeakyReLU(a_dst.Wx_i + a_src.Wx_j)) weighted sum, node by node")

# --- multi-head attention: K independent heads, concatenated or averaged -------------------
multi = GATConv(3, 2, heads=4, concat=True, bias=False).double()
heads = []
for k in range(4):
    single = GATConv(3, 2, heads=1, bias=False).double()
    single.lin.weight.copy_(multi.lin.weight.view(4, 2, 3)[k])  # head k's slice of W,
    single.att_src.copy_(multi.att_src[:, k:k + 1])             # of a_src
    single.att_dst.copy_(multi.att_dst[:, k:k + 1])             # and of a_dst
    heads.append(single(x, edge_index))
assert torch.allclose(multi(x, edge_index), torch.cat(heads, dim=-1))      # (4, K * 2)
averaged = GATConv(3, 2, heads=4, concat=False, bias=False).double()
averaged.load_state_dict(multi.state_dict())
assert torch.allclose(averaged(x, edge_index), torch.stack(heads).mean(0))  # (4, 2)
print("4 heads: concat == [head_1 || ... || head_4], concat=False == their mean")

# --- train the paper's GAT (8 heads x 8 units, 1 averaged output head) ---------------------
try:
    data = load_dataset("Cora")
except DatasetNotFoundError:
    print("Cora not found (set PYG_COURSE_DATA); using a synthetic CSBM graph")
    data = csbm(seed=0)

torch.set_grad_enabled(True)
torch.manual_seed(0)
# hidden_channels is the total width of a hidden layer: 8 heads x 8 units = 64.
model = GAT(data.num_features, 64, num_layers=2, out_channels=num_classes(data), heads=8,
            output_heads=1, dropout=0.6, input_dropout=0.6, act="elu")
config = TrainConfig(epochs=60, lr=0.005, weight_decay=5e-4, progress=False, device="cpu")
trainer = Trainer(model, data, config)
result = trainer.fit()
print(f"{model}: test accuracy {result['test_acc']:.3f} after {config.epochs} epochs")
assert result["test_acc"] > 0.7

# --- plotting attention --------------------------------------------------------------------
model.load_state_dict(trainer.best_state)        # the weights of the best validation epoch
model.eval()
with torch.no_grad():
    _, attention = model(data.x, data.edge_index, return_attention_weights=True)
edges, alpha = attention[0]                                 # layer 1: (2, E'), (E', 8 heads)
entropy, uniform = attention_entropy(edges, alpha, data.num_nodes)
assert bool((entropy <= uniform.view(-1, 1) + 1e-5).all())  # uniform attention is the maximum
print(f"layer-1 attention entropy: {entropy.mean():.3f} nats on average, "
      f"uniform attention {uniform.mean():.3f}")

deg = torch.bincount(edges[1], minlength=data.num_nodes)   # in-degree, self-loop included
node = int((deg - 9).abs().argmin())                     # a node with about 8 neighbours
rows = (edges[1] == node).nonzero().view(-1)
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.8))
ax1.hist((uniform.view(-1, 1) - entropy).view(-1).numpy(), bins=50)
ax1.set(xlabel="log(in-degree) - entropy (nats), every node and head", ylabel="count",
        title="layer 1: how far attention is from uniform")
im = ax2.imshow(alpha[rows].T.numpy(), aspect="auto", cmap="viridis", interpolation="nearest")
ax2.set_xticks(range(len(rows)), [str(j) for j in edges[0, rows].tolist()], rotation=45)
ax2.set(xlabel="neighbour j (the last is the node itself)", ylabel="head k",
        title=f"layer 1: attention of node {node} to its neighbours")
fig.colorbar(im, ax=ax2, label=r"$\alpha_{ij}$")
fig.tight_layout()
path = os.path.join(os.environ.get("TUTORIAL_OUT", "."), "gat_attention.png")
fig.savefig(path, dpi=100)
print(f"wrote {path}")
