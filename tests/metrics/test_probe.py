"""linear_probe, multilabel_f1 and evaluate_node_embeddings: agree with a direct scikit-learn
fit, separate informative from useless embeddings, are deterministic, and reject bad input
clearly (masks in disguise, overlapping node sets, malformed ratios) instead of scoring it."""

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from torch_geometric.data import Data

from pyg_course.metrics import (
    evaluate_node_embeddings,
    linear_probe,
    multilabel_f1,
    top_k_predictions,
)


def _blobs(n=300, classes=3, dim=8, sep=3.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % classes
    centers = torch.randn(classes, dim, generator=g) * sep
    x = centers[y] + torch.randn(n, dim, generator=g)
    idx = torch.randperm(n, generator=g)
    train, val, test = (torch.zeros(n, dtype=torch.bool) for _ in range(3))
    train[idx[:60]], val[idx[60:120]], test[idx[120:]] = True, True, True
    return x, y, train, val, test


def test_linear_probe_matches_sklearn_and_separates():
    x, y, train, val, test = _blobs()
    acc = linear_probe(x, y, train, test, C=0.5, standardize=False)
    clf = LogisticRegression(C=0.5, max_iter=2000, random_state=0).fit(x[train].double().numpy(),
                                                                       y[train].numpy())
    assert acc == pytest.approx((clf.predict(x[test].double().numpy()) == y[test].numpy()).mean())
    assert acc > 0.95
    # Same embeddings, labels shuffled: no signal, near chance (1/3).
    y_rand = y[torch.randperm(len(y), generator=torch.Generator().manual_seed(1))]
    assert linear_probe(x, y_rand, train, test) < 0.5
    # Index tensors and boolean masks are the same thing.
    assert linear_probe(x, y, train.nonzero().view(-1), test.nonzero().view(-1), C=0.5,
                        standardize=False) == acc


def test_linear_probe_chooses_C_on_validation():
    x, y, train, val, test = _blobs(sep=0.7, dim=32)
    out = linear_probe(x, y, train, test, val_mask=val, Cs=(1e-4, 1.0), return_details=True)
    vals = {c: linear_probe(x, y, train, val, C=c) for c in (1e-4, 1.0)}
    assert out["C"] == max(vals, key=lambda c: (vals[c], -c))
    assert out["val"] == pytest.approx(vals[out["C"]])
    assert out["test"] == pytest.approx(linear_probe(x, y, train, test, C=out["C"]))
    assert linear_probe(x, y, train, test, val_mask=val) == linear_probe(x, y, train, test,
                                                                         val_mask=val)


def test_top_k_predictions():
    scores = np.array([[0.1, 0.9, 0.5, 0.3], [0.8, 0.1, 0.7, 0.2], [0.4, 0.4, 0.1, 0.0]])
    pred = top_k_predictions(scores, np.array([1, 2, 0]))
    assert pred.tolist() == [[0, 1, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0]]


def _multilabel(n=240, labels=5, seed=0):
    rng = np.random.RandomState(seed)
    Y = (rng.rand(n, labels) < 0.3).astype(np.int64)
    Y[Y.sum(1) == 0, 0] = 1
    return Y


def test_multilabel_f1_protocol_by_hand():
    Y = _multilabel()
    x = Y * 2.0 + np.random.RandomState(1).randn(*Y.shape)
    out = multilabel_f1(x, torch.from_numpy(Y), 0.5, repeats=2, seed=3)
    micro, macro = [], []
    rng = np.random.RandomState(3)
    for _ in range(2):
        perm = rng.permutation(len(Y))
        tr, te = perm[:120], perm[120:]
        scores = np.stack([LogisticRegression(solver="liblinear", random_state=3)
                           .fit(x[tr], Y[tr, j]).predict_proba(x[te])[:, 1]
                           for j in range(Y.shape[1])], 1)
        pred = np.zeros_like(Y[te])
        for i, k in enumerate(Y[te].sum(1)):
            pred[i, np.argsort(-scores[i])[:k]] = 1
        micro.append(f1_score(Y[te], pred, average="micro"))
        macro.append(f1_score(Y[te], pred, average="macro"))
    assert out["micro"] == pytest.approx(np.mean(micro))
    assert out["macro"] == pytest.approx(np.mean(macro))
    # The sample std over the splits (ddof=1), the estimator of every mean ± std.
    assert out["micro_std"] == pytest.approx(np.std(micro, ddof=1))
    assert out["macro_std"] == pytest.approx(np.std(macro, ddof=1))
    assert out["micro"] > 0.8
    noise = np.random.RandomState(2).randn(*Y.shape)
    assert multilabel_f1(noise, Y, 0.5, repeats=2)["micro"] < 0.6


def test_multilabel_f1_deterministic_and_ratios():
    Y = _multilabel()
    x = np.random.RandomState(0).randn(len(Y), 4) + Y[:, :1]
    a = multilabel_f1(x, Y, [0.1, 0.9], repeats=2, seed=5)
    b = multilabel_f1(x, Y, [0.1, 0.9], repeats=2, seed=5)
    assert a == b and [r["train_ratio"] for r in a] == [0.1, 0.9]


def test_bad_input():
    x, y, train, val, test = _blobs()
    with pytest.raises(ValueError, match="multilabel_f1"):
        linear_probe(x, torch.zeros(len(y), 3, dtype=torch.long), train, test)
    with pytest.raises(ValueError, match="single class"):
        linear_probe(x, torch.zeros_like(y), train, test)
    with pytest.raises(ValueError, match="NaN"):
        linear_probe(torch.full_like(x, float("nan")), y, train, test)
    with pytest.raises(ValueError, match="train_mask must have shape"):
        linear_probe(x, y, train[:-1], test)
    Y = _multilabel()
    with pytest.raises(ValueError, match="train_ratio"):
        multilabel_f1(np.zeros((len(Y), 2)), Y, 1.0)
    with pytest.raises(ValueError, match="0/1"):
        multilabel_f1(np.zeros((len(Y), 2)), Y * 2, 0.5)


def _noise(n=60):
    """Pure-noise embeddings: a fair probe scores near chance (1/3)."""
    x = torch.randn(n, 8, generator=torch.Generator().manual_seed(0))
    train = torch.zeros(n, dtype=torch.bool)
    train[: n // 2] = True
    return x, torch.arange(n) % 3, train


def test_linear_probe_rejects_masks_in_disguise():
    # As indices, a 0/1 vector selects nodes 0 and 1 only; on noise this scored 1.0.
    x, y, train = _noise()
    assert linear_probe(x, y, train, ~train) < 0.6
    for cast in (lambda m: m.to(torch.uint8), lambda m: m.numpy().astype(np.uint8)):
        with pytest.raises(TypeError, match="train_mask is uint8.*bool mask"):
            linear_probe(x, y, cast(train), cast(~train))
    for cast in (lambda m: m.long(), lambda m: m.int(), lambda m: m.numpy().astype(np.int64)):
        with pytest.raises(ValueError, match="train_mask .*looks like a 0/1 mask"):
            linear_probe(x, y, cast(train), ~train)
        with pytest.raises(ValueError, match="test_mask .*looks like a 0/1 mask"):
            linear_probe(x, y, train, cast(~train))
    with pytest.raises(ValueError, match="val_mask .*looks like a 0/1 mask"):
        linear_probe(x, y, train, ~train, val_mask=torch.zeros(len(y), dtype=torch.long))
    # Index vectors that are not length-N 0/1 vectors stay indices, numpy and lists included.
    idx_train, idx_test = np.flatnonzero(train.numpy()), np.flatnonzero(~train.numpy())
    acc = linear_probe(x, y, train, ~train)
    assert linear_probe(x, y, idx_train, idx_test) == acc
    assert linear_probe(x, y, idx_train.tolist(), torch.from_numpy(idx_test)) == acc


def test_linear_probe_rejects_out_of_range_indices():
    x, y, train = _noise()
    test = torch.arange(30, 60)
    with pytest.raises(IndexError, match="test_mask holds negative"):
        linear_probe(x, y, train, torch.cat([test[:-1], torch.tensor([-1])]))
    with pytest.raises(IndexError, match="train_mask holds negative"):
        linear_probe(x, y, np.array([-30, 1, 2, 3]), test)
    with pytest.raises(IndexError, match="test_mask holds node indices past the 60 nodes"):
        linear_probe(x, y, train, torch.cat([test, torch.tensor([60])]))


def test_linear_probe_rejects_overlapping_sets():
    x, y, train = _noise()
    test, val = ~train, torch.zeros_like(train)
    val[:10] = True
    with pytest.raises(ValueError, match="train_mask and test_mask overlap in 3 node"):
        linear_probe(x, y, train, torch.arange(27, 60))
    with pytest.raises(ValueError, match="train_mask and val_mask overlap in 10 node"):
        linear_probe(x, y, train, test, val_mask=val)
    with pytest.raises(ValueError, match="val_mask and test_mask overlap in 5 node"):
        linear_probe(x, y, torch.arange(20), torch.arange(25, 60), val_mask=torch.arange(20, 30))


def test_linear_probe_empty_sets_and_Cs():
    x, y, train = _noise()
    with pytest.raises(ValueError, match="Cs must name at least one value"):
        linear_probe(x, y, train, ~train, val_mask=torch.arange(50, 60), Cs=())
    with pytest.raises(ValueError, match="train_mask is empty"):
        linear_probe(x, y, [], ~train)
    with pytest.raises(ValueError, match="test_mask is empty"):
        linear_probe(x, y, train, torch.tensor([]))
    with pytest.raises(ValueError, match="test_mask is empty"):
        linear_probe(x, y, train, torch.zeros_like(train))
    # An empty val_mask counts as none: the given C is used, no validation accuracy.
    out = linear_probe(x, y, train, ~train, val_mask=[], C=0.3, return_details=True)
    assert out["C"] == 0.3 and np.isnan(out["val"])
    assert out["test"] == linear_probe(x, y, train, ~train, C=0.3)


def test_multilabel_f1_ratio_and_repeats_forms():
    Y = _multilabel(n=60)
    x = Y + np.random.RandomState(1).randn(*Y.shape)
    ref = multilabel_f1(x, Y, 0.5, repeats=2)
    for one in (np.float32(0.5), np.float64(0.5), torch.tensor(0.5), np.array(0.5)):
        assert multilabel_f1(x, Y, one, repeats=2) == ref
    assert multilabel_f1(x, Y, 0.5, repeats=np.int64(2)) == ref
    refs = multilabel_f1(x, Y, [0.25, 0.5], repeats=2)
    assert refs[1] == ref
    for several in ((0.25, 0.5), np.array([0.25, 0.5]), torch.tensor([0.25, 0.5]).double()):
        assert multilabel_f1(x, Y, several, repeats=2) == refs
    for bad in ("0.5", b"0.5", True, np.bool_(True), ["0.5"], [[0.5]], None, 0.5j):
        with pytest.raises(TypeError, match="train_ratio must be a real number"):
            multilabel_f1(x, Y, bad)
    with pytest.raises(ValueError, match="train_ratio is an empty sequence"):
        multilabel_f1(x, Y, [])
    with pytest.raises(ValueError, match="train_ratio must be in"):
        multilabel_f1(x, Y, [0.5, float("nan")])
    for bad in (1.7, 2.0, True, "2"):
        with pytest.raises(TypeError, match="repeats must be an int"):
            multilabel_f1(x, Y, 0.5, repeats=bad)
    with pytest.raises(ValueError, match="repeats must be an int >= 1, got 0"):
        multilabel_f1(x, Y, 0.5, repeats=0)


def test_evaluate_node_embeddings_protocols():
    x, y, train, val, test = _blobs()
    out = evaluate_node_embeddings(x, Data(y=y, train_mask=train, val_mask=val, test_mask=test))
    ref = linear_probe(x, y, train, test, val_mask=val, return_details=True)
    assert (out["split"], out["accuracy"], out["C"]) == ("public", ref["test"], ref["C"])
    half = evaluate_node_embeddings(x, Data(y=y))
    assert half["split"] == "stratified half/half" and half["accuracy"] > 0.95
    # A label other than y ignores masks, which belong to y.
    assert evaluate_node_embeddings(x, Data(y=y, faction=y, train_mask=train),
                                    label="faction")["accuracy"] == half["accuracy"]
    Y = _multilabel(n=60)
    data = Data(y=torch.from_numpy(Y))
    x_ml = Y + np.random.RandomState(1).randn(*Y.shape)
    out = evaluate_node_embeddings(x_ml, data, train_ratios=0.5, repeats=2)
    assert out["results"] == [multilabel_f1(x_ml, Y, 0.5, repeats=2)]
    assert evaluate_node_embeddings(x_ml, data, train_ratios=np.float32(0.5),
                                    repeats=2) == out


def test_evaluate_node_embeddings_bad_masks():
    x, y, train, val, test = _blobs()
    with pytest.raises(ValueError, match="has a train_mask but no test_mask"):
        evaluate_node_embeddings(x, Data(y=y, train_mask=train, val_mask=val))
    with pytest.raises(ValueError, match="has a test_mask but no train_mask"):
        evaluate_node_embeddings(x, Data(y=y, test_mask=test))
    with pytest.raises(TypeError, match="uint8.*bool mask"):
        evaluate_node_embeddings(x, Data(y=y, train_mask=train.to(torch.uint8),
                                         test_mask=test.to(torch.uint8)))
    with pytest.raises(ValueError, match="train_mask and test_mask overlap"):
        evaluate_node_embeddings(x, Data(y=y, train_mask=train, test_mask=train | test))
