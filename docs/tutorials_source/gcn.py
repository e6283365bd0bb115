r"""
2. GCN: normalisation and the renormalisation trick
===================================================

The graph convolutional network of Kipf and Welling (ICLR 2017) is, per layer,

.. math::
   \mathbf{X}' = \hat{\mathbf{D}}^{-1/2} \hat{\mathbf{A}} \hat{\mathbf{D}}^{-1/2}
   \mathbf{X} \mathbf{\Theta} + \mathbf{b},
   \qquad \hat{\mathbf{A}} = \mathbf{A} + \mathbf{I}, \quad
   \hat{D}_{ii} = \textstyle\sum_j \hat{A}_{ij},

and node by node :math:`\mathbf{x}'_i = \mathbf{\Theta}^\top \sum_{j \in \mathcal{N}(i)
\cup \{i\}} \mathbf{x}_j / \sqrt{\hat d_j \hat d_i} + \mathbf{b}`: a node averages its own
features and its neighbours', each weighted by :math:`1/\sqrt{\hat d_j \hat d_i}`, then
applies a linear map. This tutorial computes the matrix
:math:`\hat{\mathbf{A}}_{\mathrm{sym}} = \hat{\mathbf{D}}^{-1/2}\hat{\mathbf{A}}
\hat{\mathbf{D}}^{-1/2}` by hand for a 4-node graph, checks it against
:class:`pyg_course.nn.GCNConv`, shows why the self-loops are added ("the renormalisation
trick"), and trains the two-layer model.
"""

import math

import torch

from pyg_course.datasets import load_dataset, num_classes
from pyg_course.nn import GCNConv, gcn_norm
from pyg_course.nn.models import GCN
from pyg_course.train import TrainConfig, Trainer

torch.manual_seed(0)
torch.set_default_dtype(torch.float64)

# %%
# A worked 4-node example
# -----------------------
#
# Take a triangle 0–1–2 with a pendant node 3 attached to node 2::
#
#     0 --- 1
#      \   /
#       \ /
#        2 --- 3
#
# Adding self-loops gives :math:`\hat{\mathbf{A}} = \mathbf{A} + \mathbf{I}` and its degrees
# (row sums) :math:`\hat d = (3, 3, 4, 2)`:
#
# .. math::
#    \hat{\mathbf{A}} = \begin{pmatrix}
#    1 & 1 & 1 & 0 \\ 1 & 1 & 1 & 0 \\ 1 & 1 & 1 & 1 \\ 0 & 0 & 1 & 1
#    \end{pmatrix}, \qquad
#    \hat{\mathbf{D}}^{-1/2} = \operatorname{diag}\Big(\tfrac{1}{\sqrt 3}, \tfrac{1}{\sqrt 3},
#    \tfrac{1}{2}, \tfrac{1}{\sqrt 2}\Big).
#
# Multiplying by :math:`\hat{\mathbf{D}}^{-1/2}` on both sides divides entry :math:`(i, j)` by
# :math:`\sqrt{\hat d_i \hat d_j}`:
#
# .. math::
#    \hat{\mathbf{A}}_{\mathrm{sym}} = \begin{pmatrix}
#    \frac13 & \frac13 & \frac{1}{\sqrt{12}} & 0 \\[2pt]
#    \frac13 & \frac13 & \frac{1}{\sqrt{12}} & 0 \\[2pt]
#    \frac{1}{\sqrt{12}} & \frac{1}{\sqrt{12}} & \frac14 & \frac{1}{\sqrt 8} \\[2pt]
#    0 & 0 & \frac{1}{\sqrt 8} & \frac12
#    \end{pmatrix}
#    \approx \begin{pmatrix}
#    0.333 & 0.333 & 0.289 & 0 \\ 0.333 & 0.333 & 0.289 & 0 \\
#    0.289 & 0.289 & 0.250 & 0.354 \\ 0 & 0 & 0.354 & 0.500
#    \end{pmatrix}.
#
# Read a row as "how much of each node ends up in this node": node 3, with a single
# neighbour, keeps half of itself; the hub node 2 keeps only a quarter and takes
# :math:`1/\sqrt 8 \approx 0.354` from node 3. Because the weights use both degrees, the matrix
# is symmetric — unlike the random-walk normalisation :math:`\hat{\mathbf{D}}^{-1}
# \hat{\mathbf{A}}`, whose rows sum to one.
#
# The code builds :math:`\hat{\mathbf{A}}` from ``edge_index`` (``A[i, j] = 1`` for an edge
# :math:`j \to i`), checks the degrees, and compares with the matrix typed in entry by entry:

# a triangle 0-1-2 and a pendant node 3 attached to 2
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

# %%
# Checking it against ``GCNConv``
# -------------------------------
#
# With the identity as features and as weight :math:`\mathbf{\Theta}`, and no bias, the layer
# returns :math:`\hat{\mathbf{A}}_{\mathrm{sym}}` itself. :func:`pyg_course.nn.gcn_norm`, the
# function the layer calls, returns the same numbers as one weight per edge — the message of
# edge :math:`j \to i` is :math:`\hat{A}_{\mathrm{sym}, ij}\,\mathbf{\Theta}^\top\mathbf{x}_j`
# — with the self-loops appended after the original edges. For random features and weights
# the output is :math:`\hat{\mathbf{A}}_{\mathrm{sym}} \mathbf{X} \mathbf{\Theta}^\top +
# \mathbf{b}` (PyG's ``Linear`` stores :math:`\mathbf{\Theta}` transposed, as ``(out, in)``):

# The layer computes this matrix: with X = I and Theta = I its output is A_sym itself.
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

# %%
# The renormalisation trick
# -------------------------
#
# GCN comes from a first-order approximation of spectral graph convolution, which gives the
# propagation matrix :math:`\mathbf{I} + \mathbf{D}^{-1/2}\mathbf{A}\mathbf{D}^{-1/2}` (degrees
# of the graph *without* self-loops). Its eigenvalues lie in :math:`[0, 2]`, with 2 attained
# on every connected graph, so stacking layers multiplies some directions by up to 2 each
# time: activations explode (or, after normalising them, gradients vanish). Kipf and Welling
# "renormalise": add the self-loops *before* normalising, :math:`\mathbf{I} +
# \mathbf{D}^{-1/2}\mathbf{A}\mathbf{D}^{-1/2} \to \hat{\mathbf{D}}^{-1/2}\hat{\mathbf{A}}
# \hat{\mathbf{D}}^{-1/2}`, whose eigenvalues lie in :math:`(-1, 1]`. On our graph:

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

# %%
# After ten propagations the first-order matrix has blown a random :math:`\mathbf{X}` up by
# roughly :math:`2^{10}` in its top direction, while the renormalised one keeps it bounded.
# (Repeated application of :math:`\hat{\mathbf{A}}_{\mathrm{sym}}` has its own problem: it
# converges to its top eigenvector, which makes all nodes alike. That is *over-smoothing*,
# the subject of :doc:`oversmoothing`.)
#
# Training the two-layer GCN
# --------------------------
#
# :class:`pyg_course.nn.models.GCN` stacks the layers with ReLU and dropout between them (and,
# as in the paper, dropout on the input), and :class:`pyg_course.train.Trainer` is the
# package's one training loop: Adam, test accuracy at the epoch with the best validation
# accuracy. On Cora's public split (140 labelled nodes) 100 epochs reach about 80% test
# accuracy, against the paper's 81.5% over many seeds; ``scripts/train_gcn.py --runs 10``
# measures the multi-seed mean ± std (see :doc:`../results`).

torch.set_default_dtype(torch.float32)
data = load_dataset("Cora")

torch.manual_seed(0)
# The paper's model: dropout 0.5 on the input features and between the two layers.
model = GCN(data.num_features, 16, num_layers=2, out_channels=num_classes(data), dropout=0.5,
            input_dropout=0.5)
config = TrainConfig(epochs=100, lr=0.01, weight_decay=5e-4, progress=False, device="cpu")
result = Trainer(model, data, config).fit()
print(f"{model}: test accuracy {result['test_acc']:.3f} at best validation epoch "
      f"{result['best_epoch']}")
assert result["test_acc"] > 0.75
