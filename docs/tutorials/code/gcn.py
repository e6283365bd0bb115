"""Tutorial 2: GCN -- the normalised adjacency, the renormalisation trick, and training.

Run: PYG_COURSE_DATA=/work/shared/data python docs/tutorials/code/gcn.py
(without the data folder it trains on a synthetic CSBM graph instead of Cora)
"""

import math

import torch

from pyg_course.datasets import DatasetNotFoundError, csbm, load_dataset, num_classes
from pyg_course.nn import GCNConv, gcn_norm
from pyg_course.nn.models import GCN
from pyg_course.train import TrainConfig, Trainer

torch.manual_seed(0)
torch.set_default_dtype(torch.float64)

# --- the 4-node graph: a triangle 0-1-2 and a pendant node 3 attached to 2 -----------------
edge_index = torch.tensor([[0, 1, 0, 2, 1, 2, 2, 3],
                           [1, 0, 2, 0, 2, 1, 3, 2]])  # each undirected edge in both directions

A = torch.zeros(4, 4)
A[edge_index[1], edge_index[0]] = 1.0
A_hat = A + torch.eye(4)                 # the renormalisation trick: add self-loops ...
d_hat = A_hat.sum(dim=1)                 # ... and take degrees of A + I
assert d_hat.tolist() == [3, 3, 4, 2]
A_sym = torch.diag(d_hat ** -0.5) @ A_hat @ torch.diag(d_hat ** -0.5)

# The same matrix, written entry by entry as in the text: 1 / sqrt(d_i d_j).
s12, s8 = 1 / math.sqrt(12), 1 / math.sqrt(8)
by_hand = torch.tensor([[1 / 3, 1 / 3, s12, 0.0],
                        [1 / 3, 1 / 3, s12, 0.0],
                        [s12, s12, 1 / 4, s8],
                        [0.0, 0.0, s8, 1 / 2]])
assert torch.allclose(A_sym, by_hand)
print("D^-1/2 (A + I) D^-1/2 =\n", A_sym)

# --- the layer computes this matrix: with X = I and Theta = I its output is A_sym itself ---
conv = GCNConv(4, 4, bias=False)
with torch.no_grad():
    conv.lin.weight.copy_(torch.eye(4))
assert torch.allclose(conv(torch.eye(4), edge_index), A_sym)

# gcn_norm returns the same numbers as one weight per edge (self-loops appended at the end).
ei, w = gcn_norm(edge_index, None, num_nodes=4, dtype=torch.float64)
assert torch.allclose(w, A_sym[ei[1], ei[0]])
print("GCNConv(I) with Theta = I equals the hand-computed matrix; gcn_norm agrees edge by edge")

# And for random features and weights: X' = A_sym X Theta^T + b.
conv = GCNConv(3, 2)
torch.nn.init.normal_(conv.bias)
x = torch.randn(4, 3)
assert torch.allclose(conv(x, edge_index), A_sym @ x @ conv.lin.weight.T + conv.bias)

# --- why the trick: eigenvalues -----------------------------------------------------------
d = A.sum(dim=1)
first_order = torch.eye(4) + torch.diag(d ** -0.5) @ A @ torch.diag(d ** -0.5)
ev_first = torch.linalg.eigvalsh(first_order)
ev_renorm = torch.linalg.eigvalsh(A_sym)
print("eigenvalues of I + D^-1/2 A D^-1/2:      ", ev_first.numpy().round(3))
print("eigenvalues of D^-1/2 (A + I) D^-1/2:    ", ev_renorm.numpy().round(3))
assert abs(ev_first.max() - 2.0) < 1e-9            # spectrum in [0, 2]: repeated use explodes
assert abs(ev_renorm.max() - 1.0) < 1e-9 and ev_renorm.min() > -1  # in (-1, 1]: stays bounded

x = torch.randn(4, 3)
norm_first = torch.linalg.matrix_power(first_order, 10) @ x
norm_renorm = torch.linalg.matrix_power(A_sym, 10) @ x
print(f"after 10 propagations: |X| = {x.norm():.2f} -> {norm_first.norm():.1f} "
      f"(first-order) vs {norm_renorm.norm():.2f} (renormalised)")
assert norm_first.norm() > 100 * norm_renorm.norm()

# --- training the two-layer GCN -----------------------------------------------------------
torch.set_default_dtype(torch.float32)
try:
    data, floor = load_dataset("Cora"), 0.75
except DatasetNotFoundError:
    print("Cora not found (set PYG_COURSE_DATA); using a synthetic CSBM graph")
    data, floor = csbm(seed=0), 0.75

torch.manual_seed(0)
# The paper's model: dropout 0.5 on the input features and between the two layers.
model = GCN(data.num_features, 16, num_layers=2, out_channels=num_classes(data), dropout=0.5,
            input_dropout=0.5)
config = TrainConfig(epochs=100, lr=0.01, weight_decay=5e-4, progress=False, device="cpu")
result = Trainer(model, data, config).fit()
print(f"{model}: test accuracy {result['test_acc']:.3f} at best validation epoch "
      f"{result['best_epoch']}")
assert result["test_acc"] > floor
