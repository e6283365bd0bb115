import math

import pytest
import torch

from pyg_course.datasets import csbm, load_dataset

SMALL = dict(num_nodes=200, num_val=20, num_test=40)


@pytest.mark.parametrize("kwargs,message", [
    (dict(num_train_per_class=-1), r"num_train_per_class must be >= 0 \(got -1\)"),
    (dict(num_val=-5), r"num_val must be >= 0 \(got -5\)"),
    (dict(num_test=-1), r"num_test must be >= 0 \(got -1\)"),
    (dict(num_nodes=1, num_val=0, num_test=0), r"num_nodes must be >= 2 \(got 1\)"),
    (dict(num_classes=1), r"num_classes must be >= 2 \(got 1\)"),
    (dict(num_features=0), r"num_features must be >= 1 \(got 0\)"),
    (dict(snr=math.nan), r"snr must be finite \(got nan\)"),
    (dict(snr=math.inf), r"snr must be finite \(got inf\)"),
    (dict(snr=-math.inf), r"snr must be finite \(got -inf\)"),
    (dict(avg_degree=-3), r"avg_degree must be >= 0 \(got -3\)"),
    (dict(avg_degree=math.inf), r"avg_degree must be finite"),
    (dict(homophily=math.nan), r"homophily must be finite"),
    (dict(homophily=-0.1), r"homophily must lie in \[0, 1\]"),
    (dict(num_train_per_class=100),
     r"split of 100x2 train \+ 20 val \+ 40 test nodes does not fit in 200 nodes"),
])
def test_bad_values_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match="csbm: " + message):
        csbm(**{**SMALL, **kwargs})


@pytest.mark.parametrize("kwargs,message", [
    (dict(num_nodes=200.0), r"num_nodes must be an int \(got 200\.0\)"),
    (dict(num_classes=2.0), r"num_classes must be an int \(got 2\.0\)"),
    (dict(num_features=3.5), r"num_features must be an int \(got 3\.5\)"),
    (dict(num_val=True), r"num_val must be an int \(got True\)"),
    (dict(seed=0.5), r"seed must be an int \(got 0\.5\)"),
    (dict(snr="1"), r"snr must be a real number \(got '1'\)"),
    (dict(avg_degree=None), r"avg_degree must be a real number \(got None\)"),
])
def test_bad_types_are_rejected(kwargs, message):
    with pytest.raises(TypeError, match="csbm: " + message):
        csbm(**{**SMALL, **kwargs})


def test_load_dataset_passes_the_checks_on():
    with pytest.raises(ValueError, match="csbm: snr must be finite"):
        load_dataset("CSBM", snr=math.inf)


def test_valid_edge_cases_still_work():
    import numpy as np

    empty = csbm(**SMALL, avg_degree=0)
    assert empty.num_edges == 0 and empty.x.shape == (200, 32)
    no_split = csbm(num_nodes=50, num_train_per_class=0, num_val=0, num_test=0)
    assert not (no_split.train_mask | no_split.val_mask | no_split.test_mask).any()
    a = csbm(**SMALL, num_classes=np.int64(3), snr=np.float32(0.5), seed=np.int64(7))
    b = csbm(**SMALL, num_classes=3, snr=0.5, seed=7)
    assert torch.equal(a.x, b.x) and torch.equal(a.edge_index, b.edge_index)
    full = csbm(num_nodes=200, num_classes=2, num_train_per_class=50, num_val=50, num_test=50)
    assert [int(full[f"{s}_mask"].sum()) for s in ("train", "val", "test")] == [100, 50, 50]
