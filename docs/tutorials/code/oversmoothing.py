"""Tutorial 6: over-smoothing, its remedies, and graph augmentation.

Run: PYG_COURSE_DATA=/work/shared/data python docs/tutorials/code/oversmoothing.py
(without the data folder it uses a synthetic CSBM graph instead of Cora)
"""

import copy

import torch
from torch_geometric.transforms import Constant

from pyg_course.datasets import DatasetNotFoundError, csbm, load_dataset, num_classes
from pyg_course.metrics import dirichlet_energy, mad
from pyg_course.nn import gcn_norm
from pyg_course.nn.models import GCN, DeepGNN
from pyg_course.train import TrainConfig, Trainer
from pyg_course.transforms import ClusteringCoefficient, OneHotNodeId

torch.manual_seed(0)
try:
    data = load_dataset("Cora")
except DatasetNotFoundError:
    print("Cora not found (set PYG_COURSE_DATA); using a synthetic CSBM graph")
    data = csbm(seed=0)
n = data.num_nodes

# --- propagation alone smooths: X_k = A_sym^k X ----------------------------------------------
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

# --- a deep GCN over-smooths; an initial residual (GCNII) does not ---------------------------
config = TrainConfig(epochs=40, lr=0.01, weight_decay=5e-4, progress=False, device="cpu")
results = {}
for name, options in [("plain", {}), ("gcnii", {"gcnii": True})]:
    torch.manual_seed(0)
    model = DeepGNN(data.num_features, 64, num_layers=16, out_channels=num_classes(data),
                    dropout=0.5, **options)
    trainer = Trainer(model, data, config)
    acc = trainer.fit()["test_acc"]
    model.load_state_dict(trainer.best_state)
    model.eval()
    with torch.no_grad():
        model(data.x, data.edge_index)
    results[name] = (acc, float(mad(model.last_hidden)))
    print(f"16 layers, {name:5s}: test accuracy {acc:.3f}, MAD of the last hidden layer "
          f"{results[name][1]:.4f}")
assert results["gcnii"][0] > results["plain"][0] + 0.2
assert results["gcnii"][1] > results["plain"][1]

# --- augmentation: structural features for a graph without useful features ------------------
tiny = copy.copy(data)
tiny.edge_index = torch.tensor([[0, 1, 0, 2, 1, 2, 2, 3], [1, 0, 2, 0, 2, 1, 3, 2]])
tiny.x, tiny.num_nodes = None, 4
tiny = ClusteringCoefficient()(Constant()(tiny))     # a column of ones, then C_i
print("triangle 0-1-2 plus pendant 3: x = [1, C_i] =", tiny.x.tolist())
assert torch.allclose(tiny.x[:, 1], torch.tensor([1.0, 1.0, 1 / 3, 0.0]))

graph = csbm(snr=0.0, homophily=0.9, seed=1)   # features carry no label
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
