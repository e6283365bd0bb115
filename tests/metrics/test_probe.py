"""linear_probe and multilabel_f1: agree with a direct scikit-learn fit, separate informative
from useless embeddings, are deterministic, and reject bad input clearly."""

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score

from pyg_course.metrics import linear_probe, multilabel_f1, top_k_predictions


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
