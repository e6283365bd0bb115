r"""
6. Over-smoothing and graph augmentation
========================================

Two layers of GCN work well; thirty-two work badly, and not because of vanishing gradients
alone. Every layer multiplies by :math:`\hat{\mathbf{A}}_{\mathrm{sym}} =
\hat{\mathbf{D}}^{-1/2}\hat{\mathbf{A}}\hat{\mathbf{D}}^{-1/2}`, whose eigenvalues lie in
:math:`(-1, 1]` (:doc:`gcn`). Writing :math:`\hat{\mathbf{A}}_{\mathrm{sym}} = \sum_k
\lambda_k \mathbf{u}_k\mathbf{u}_k^\top`,

.. math::
   \hat{\mathbf{A}}_{\mathrm{sym}}^{\,L}\mathbf{X} = \sum_k \lambda_k^{L}\,
   \mathbf{u}_k\mathbf{u}_k^\top\mathbf{X}
   \;\xrightarrow{L \to \infty}\; \sum_{k : \lambda_k = 1} \mathbf{u}_k\mathbf{u}_k^\top
   \mathbf{X},

and the eigenvectors of eigenvalue 1 are, on each connected component, proportional to
:math:`\sqrt{\hat d_i}`. In the limit every node's representation is the same vector scaled
by its degree: the features say which component a node is in and nothing else. That is
*over-smoothing*. This tutorial measures it, separates it from a more mundane reason deep
GCNs fail (how they are trained), and ends with *augmentation*: adding features or edges to
a graph whose own features are useless.
"""

import copy

import torch
from torch_geometric.transforms import Constant, NormalizeFeatures

from pyg_course.datasets import csbm, load_dataset, num_classes
from pyg_course.metrics import dirichlet_energy, mad
from pyg_course.nn import gcn_norm
from pyg_course.nn.models import GCN, DeepGNN
from pyg_course.train import TrainConfig, Trainer
from pyg_course.transforms import ClusteringCoefficient, OneHotNodeId

torch.manual_seed(0)
data = load_dataset("Cora")
n = data.num_nodes

# %%
# Measuring smoothness
# --------------------
#
# :func:`pyg_course.metrics.dirichlet_energy` (normalised) is
# :math:`\operatorname{tr}(\mathbf{X}^\top(\mathbf{I} - \hat{\mathbf{A}}_{\mathrm{sym}})
# \mathbf{X}) = \frac12\sum_{(i,j)} \|\mathbf{x}_i/\sqrt{\hat d_i} -
# \mathbf{x}_j/\sqrt{\hat d_j}\|^2`: zero exactly when every row is the
# :math:`\sqrt{\hat d_i}`-scaled limit above. :func:`pyg_course.metrics.mad` (mean average
# distance, Chen et al., AAAI 2020) is the mean cosine distance between rows: zero when they
# all point the same way. Propagating Cora's features (through a fixed random projection to 16
# dimensions, which commutes with the propagation) shows both falling; the energy provably
# never increases, since every :math:`|\lambda_k|^{2L}` does not:

# propagation alone smooths: X_k = A_sym^k X
ei, w = gcn_norm(data.edge_index, None, n)
A_sym = torch.sparse_coo_tensor(torch.stack([ei[1], ei[0]]), w, (n, n),
                                check_invariants=True).coalesce()
x = data.x @ torch.randn(data.num_features, 16)    # a random linear map: A^k (X R) = (A^k X) R
energies, mads = {}, {}
for k in range(65):
    if k in (0, 1, 2, 4, 8, 16, 32, 64):
        energies[k] = float(dirichlet_energy(x / x.norm(), data.edge_index, normalized=True))
        mads[k] = float(mad(x))
        print(f"k = {k:2d}: Dirichlet energy {energies[k]:.5f}   MAD {mads[k]:.4f}")
    x = torch.sparse.mm(A_sym, x)
values = list(energies.values())
assert all(b <= a + 1e-9 for a, b in zip(values, values[1:]))   # never increases
assert energies[64] < energies[0] / 100 and mads[64] < mads[1] / 3

# %%
# MAD does not reach zero on Cora because the graph has 78 connected components, each with its
# own limit. :func:`pyg_course.metrics.mad_gap` refines MAD into remote-minus-neighbour
# distance, the paper's measure of how much useful signal is left.
#
# A deep GCN: over-smoothing, or training?
# ----------------------------------------
#
# :class:`pyg_course.nn.models.DeepGNN` is a GCN whose depth is an argument, with the remedies
# of the literature as switches: residual connections, PairNorm, DropEdge, jumping knowledge,
# and GCNII. Before blaming the architecture, look at the training. Kipf & Welling's GCN puts
# its L2 penalty on the first layer only; the same penalty on *every* layer of a deep stack
# pulls all the weight matrices towards zero at once. With row-normalised features (as in the
# GCN paper) the signal reaching the deep layers is small, so are their gradients, and Adam
# turns the penalty's pull into full-size steps towards zero. Eight layers, the same seed and
# the 2-layer GCN's recipe (Adam lr 0.01, L2 5e-4), once with the penalty on every layer and
# once on the first layer only (:meth:`~pyg_course.nn.models.DeepGNN.param_groups`):

cora = NormalizeFeatures()(copy.copy(data))
config = TrainConfig(epochs=100, lr=0.01, progress=False, device="cpu")
results = {}
for name in ("L2 on every layer", "L2 on the first layer"):
    torch.manual_seed(0)
    model = DeepGNN(cora.num_features, 64, num_layers=8, out_channels=num_classes(cora),
                    dropout=0.5)
    groups = ([dict(params=list(model.parameters()), weight_decay=5e-4)]
              if name == "L2 on every layer" else model.param_groups(5e-4))
    trainer = Trainer(model, cora, config, optimizer=torch.optim.Adam(groups, lr=0.01))
    fit = trainer.fit()
    model.load_state_dict(trainer.best_state)
    results[name] = (fit["train_acc"], fit["test_acc"],
                     float(mad(model.embed(cora.x, cora.edge_index))))
    print(f"8 layers, {name:21s}: train accuracy {results[name][0]:.3f}, test accuracy "
          f"{results[name][1]:.3f}, MAD of the last hidden layer {results[name][2]:.4f}")
every, first = results["L2 on every layer"], results["L2 on the first layer"]
assert first[1] > every[1] + 0.2 and first[2] > every[2]

# %%
# With the penalty on every layer the model does not even fit its 140 training nodes, and its
# last hidden layer has collapsed (MAD near zero): the collapse is a failure of *training*,
# and the same eight layers trained properly keep distinct representations and a GCN's
# accuracy. Depth still costs something — each extra layer is another multiplication by
# :math:`\hat{\mathbf{A}}_{\mathrm{sym}}` and another random initialisation to train
# through — and the remedies attack both: GCNII (Chen et al., ICML 2020) mixes a fraction
# :math:`\alpha` of the *first* layer's representation back in at every layer (an initial
# residual), so the :math:`\lambda_k^L` decay can never erase it, and keeps each weight close
# to the identity, which makes 64 layers trainable. The sweep over depths 2 to 64, all
# remedies, Cora and CiteSeer, five seeds per cell, is ``scripts/oversmoothing.py``; its
# figure and table are on the over-smoothing results page (:doc:`../results`).
#
# What it measured on Cora, five seeds per cell: from 8 to 16 layers a plain GCN loses
# accuracy (72.3 %, then 55.7 %) while its last hidden layer is no smoother than at 2 layers,
# so there the cost of depth is training, not over-smoothing. From 32 layers on the collapse
# is real: plain GCN, GCN + DropEdge and a GCN with one residual skip per layer end with MAD
# near 0.005 and predict nearly one class (24–31 %). JKNet, whose classifier reads every
# layer, stays at 78–81 % up to 64 layers, and GCNII gains with depth: 82.0 % at 2 layers,
# 85.3 % at 32 and 84.9 % at 64 (its paper: 85.5 %).
#
# .. pyg-course-results:: oversmoothing
#
# Augmentation: features and edges the graph lacks
# ------------------------------------------------
#
# Message passing can only mix the features it is given. When a graph has no useful node
# features, :mod:`pyg_course.transforms` computes some from the structure, each a PyG
# ``BaseTransform`` that appends columns to ``data.x``: the local clustering coefficient
# (:class:`~pyg_course.transforms.ClusteringCoefficient`), PageRank
# (:class:`~pyg_course.transforms.PageRank`), cycle counts
# (:class:`~pyg_course.transforms.CycleCounts`), a one-hot node identity
# (:class:`~pyg_course.transforms.OneHotNodeId`), and PyG's degree and random-walk encodings
# re-exported beside them. Others change the edges: a virtual node connected to every node
# (:class:`~pyg_course.transforms.VirtualNode`) or edges to all :math:`k`-hop neighbours
# (:class:`~pyg_course.transforms.KHopVirtualEdges`), shortcuts for sparse graphs.
#
# On the 4-node graph of :doc:`gcn` the clustering coefficients are those of the definition
# (1 for the two triangle nodes of degree 2, one triangle out of three neighbour pairs for node
# 2, 0 for the pendant node). Then a contextual stochastic block model whose features carry no
# label information (``snr=0``): with a constant feature a GCN cannot tell the two blocks
# apart, whatever its depth; with a one-hot identity the first layer becomes a free embedding
# per node, and propagation over the homophilous edges spreads the few training labels to the
# rest of their block:

tiny = copy.copy(data)
tiny.edge_index = torch.tensor([[0, 1, 0, 2, 1, 2, 2, 3], [1, 0, 2, 0, 2, 1, 3, 2]])
tiny.x, tiny.num_nodes = None, 4
tiny = ClusteringCoefficient()(Constant()(tiny))     # a column of ones, then C_i
print("triangle 0-1-2 plus pendant 3: x = [1, C_i] =", tiny.x.tolist())
assert torch.allclose(tiny.x[:, 1], torch.tensor([1.0, 1.0, 1 / 3, 0.0]))

graph = csbm(snr=0.0, homophily=0.9, seed=1)   # features carry no label
config = TrainConfig(epochs=40, lr=0.01, weight_decay=5e-4, progress=False, device="cpu")
accuracy = {}
for name, transform in [("constant feature", Constant(cat=False)),
                        ("one-hot node id", OneHotNodeId(cat=False))]:
    g = transform(copy.copy(graph))
    torch.manual_seed(0)
    model = GCN(g.num_features, 32, num_layers=2, out_channels=2, dropout=0.5, input_dropout=0.5)
    accuracy[name] = Trainer(model, g, config).fit()["test_acc"]
    print(f"CSBM without informative features, {name:16s}: test accuracy "
          f"{accuracy[name]:.3f}")
assert accuracy["one-hot node id"] > accuracy["constant feature"] + 0.2

# %%
# The one-hot identity is transductive — it gives nothing for a node unseen in training —
# which is why the structural features (degree, clustering, PageRank, cycle counts) exist: they
# are defined for any node of any graph.
