"""Features the user hands over already sparse (CSR or COO) train exactly like the same
features given dense, are checked for NaN like them, and reach a model that cannot take
``torch.sparse`` input dense. (Before, sparse input failed inside the NaN check.)"""

import pytest
import torch

from pyg_course.datasets import load_dataset
from pyg_course.datasets.loading import check_features
from pyg_course.nn.models import GraphSAGE
from pyg_course.train import TrainConfig, prepare_features, run_experiment

LAYOUTS = {"dense": lambda x: x, "csr": lambda x: x.to_sparse_csr(), "coo": lambda x: x.to_sparse()}


@pytest.fixture(scope="module")
def graph():
    data = load_dataset("CSBM")
    gen = torch.Generator().manual_seed(0)
    data.x = (torch.rand(data.num_nodes, 30, generator=gen) < 0.1).float()
    return data


def _train(data, layout, mode):
    data = data.clone()
    data.x = LAYOUTS[layout](data.x)
    classes = int(data.y.max()) + 1
    res = run_experiment(lambda: GraphSAGE(30, 8, 2, classes), data,
                         TrainConfig(epochs=3, mode=mode, progress=False), runs=1)
    return res["runs"][0]


@pytest.mark.parametrize("mode", ["full", "minibatch"])
@pytest.mark.parametrize("layout", ["csr", "coo"])
def test_sparse_features_train_like_dense(graph, layout, mode):
    dense, sparse = _train(graph, "dense", mode), _train(graph, layout, mode)
    assert sparse == dense  # best epoch, train/val/test accuracy


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_nan_in_features_is_found_in_every_layout(layout):
    x = torch.zeros(6, 4)
    x[0, 1], x[5, 3] = 1.0, float("nan")
    with pytest.raises(ValueError, match=r"1 NaN/inf values in 1 nodes \(first: node 5\)"):
        check_features(LAYOUTS[layout](x), "training data")


def test_model_without_sparse_support_gets_dense_features(graph):
    data = graph.clone()
    data.x = graph.x.to_sparse()
    out = prepare_features(torch.nn.Linear(30, 2), data)  # no supports_sparse_features
    assert not out.x.is_sparse and torch.equal(out.x, graph.x)
    assert data.x.is_sparse  # the caller's data is left as it is
