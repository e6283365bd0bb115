"""Our sparse paths do not print torch's boilerplate warnings (they buried the warnings that
matter at the top of every training run). A fresh interpreter with ``-W default`` is needed:
torch emits each of them once per process, and pytest's own filters would hide them here."""

import subprocess
import sys

CODE = """
import torch
from torch_geometric.data import Data
from pyg_course.metrics import mad_gap
from pyg_course.nn.models import GraphSAGE
from pyg_course.utils.sparse import index_rows, sparse_dropout
from pyg_course.train.loop import prepare_features
from pyg_course.transforms import OneHotNodeId, cycle_counts, khop_virtual_edges

torch.manual_seed(0)
n = 60
x = (torch.rand(n, 40) < 0.05).float()
ei = torch.randint(0, n, (2, 200))
data = prepare_features(GraphSAGE(40, 8, 2, 3), Data(x=x, edge_index=ei, num_nodes=n))
assert data.x.layout == torch.sparse_csr
rows = index_rows(data.x, torch.tensor([3, 1, 4]))
dropped = sparse_dropout(data.x, 0.5, True)
coo = sparse_dropout(x.to_sparse(), 0.5, True)
one_hot = OneHotNodeId(sparse=True, cat=False)(Data(edge_index=ei, num_nodes=n))
counts = cycle_counts(ei, n)
extra = khop_virtual_edges(ei, n, k=2)
gap = mad_gap(torch.randn(n, 4), ei)
from pyg_course.nn.models import GCN
out = GCN(40, 8, 2, 3, cached=True, input_dropout=0.5)(data.x, ei)  # fused CSR adjacency
from pyg_course.nn.models import DeepGNN
deep = DeepGNN(40, 8, 4, 3, gcnii=True, alpha=0.1, theta=0.5)  # PyG's GCN2Conv on a SparseTensor
deep(data.x.to_dense(), ei).sum().backward()
from pyg_course.datasets import csbm
from pyg_course.train import TrainConfig, Trainer
g = csbm(num_nodes=200, num_train_per_class=10, num_val=50, num_test=50, seed=0)
for sampler in ("pyg_course", "pyg"):  # ours, and PyG's (its pyg-lib notice silenced)
    config = TrainConfig(epochs=1, mode="minibatch", num_neighbors=[5, 5], batch_size=16,
                         sampler=sampler, progress=False)
    Trainer(GraphSAGE(g.num_features, 8, 2, 2), g, config).fit()  # layer-wise inference too
print("ran")
"""

NOISE = ("Sparse CSR tensor support is in beta state",
         "Sparse invariant checks are implicitly disabled",
         "without a 'pyg-lib' installation is deprecated")


def test_sparse_paths_print_no_torch_boilerplate():
    proc = subprocess.run([sys.executable, "-W", "default", "-c", CODE],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "ran" in proc.stdout
    for message in NOISE:
        assert message not in proc.stderr, proc.stderr


def test_importing_the_package_leaves_the_warning_filters_alone():
    # torch and PyG install filters of their own when imported: compare after them.
    code = ("import warnings, torch, torch_geometric.nn, torch_geometric.loader; "
            "before = list(warnings.filters); import pyg_course, pyg_course.nn, "
            "pyg_course.train, pyg_course.datasets, pyg_course.utils.sparse; "
            "assert warnings.filters == before, warnings.filters[:3]; print('same')")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0 and "same" in proc.stdout, proc.stderr
