r"""Evaluating node embeddings without touching them: linear probes.

* :func:`linear_probe`: single-label node classification. A logistic regression is fitted on
  the training nodes' embeddings (optionally choosing the inverse regularisation ``C`` on the
  validation nodes) and scored on the test nodes, the protocol of DGI, GraphSAGE
  (unsupervised) and the Planetoid comparisons of DeepWalk.
* :func:`multilabel_f1`: the multi-label protocol of DeepWalk (Perozzi et al., 2014) and
  node2vec (BlogCatalog, PPI, Flickr): one-vs-rest logistic regression on a random
  ``train_ratio`` of the nodes; every test node is given its ``k`` highest-scoring labels,
  ``k`` being its true number of labels; micro- and macro-F1, averaged over random splits.

Both are deterministic given their ``seed``.
"""

from __future__ import annotations

import numbers
import operator
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
from torch import Tensor

from pyg_course.utils.checks import looks_like_mask
from pyg_course.utils.stats import mean_std

ArrayLike = Union[Tensor, np.ndarray]


def _numpy(x: ArrayLike, name: str, where: str) -> np.ndarray:
    if isinstance(x, Tensor):
        x = x.detach().cpu().numpy()
    x = np.asarray(x)
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        raise ValueError(f"{where}: {name} contains NaN/inf values")
    return x


def _mask(mask: ArrayLike, n: int, name: str, where: str) -> np.ndarray:
    """Boolean mask of length ``n`` from a bool mask or a 1-D tensor of node indices.

    Rejects what would otherwise be read silently as something else: uint8 masks (torch's
    deprecated mask type), integer 0/1 vectors of length ``n`` (a mask in disguise, which as
    indices would select nodes 0 and 1 only), and negative or out-of-range indices (which
    would wrap around or fail without saying which argument). An empty index list gives an
    all-``False`` mask; the caller decides whether an empty set is allowed.
    """
    m = _numpy(mask, name, where)
    if m.dtype == bool:
        if m.shape != (n,):
            raise ValueError(f"{where}: {name} must have shape ({n},), got {m.shape}")
        return m
    if m.dtype == np.uint8:
        raise TypeError(f"{where}: {name} is uint8, which torch reads as a (deprecated) mask "
                        f"and numpy as indices; pass a bool mask (or int64 node indices)")
    if m.ndim == 1 and m.size == 0:
        return np.zeros(n, dtype=bool)
    if m.ndim != 1 or m.dtype.kind not in "iu":
        raise TypeError(f"{where}: {name} must be a boolean mask or a 1-D index tensor, got "
                        f"shape {m.shape} ({m.dtype})")
    if looks_like_mask(m, n):
        raise ValueError(f"{where}: {name} is an integer vector of length {n} holding only "
                         f"0/1 values: it looks like a 0/1 mask; pass a bool mask or node "
                         f"indices")
    if (m < 0).any():
        raise IndexError(f"{where}: {name} holds negative node indices (e.g. {m[m < 0][0]}); "
                         f"indices must lie in [0, {n})")
    if (m >= n).any():
        raise IndexError(f"{where}: {name} holds node indices past the {n} nodes (e.g. "
                         f"{m[m >= n][0]}); indices must lie in [0, {n})")
    out = np.zeros(n, dtype=bool)
    out[m] = True
    return out


def _standardize(x: np.ndarray, fit_rows: np.ndarray) -> np.ndarray:
    mean = x[fit_rows].mean(0)
    std = x[fit_rows].std(0)
    return (x - mean) / np.where(std > 0, std, 1.0)


def linear_probe(embeddings: ArrayLike, y: ArrayLike, train_mask: ArrayLike,
                 test_mask: ArrayLike, val_mask: Optional[ArrayLike] = None, C: float = 1.0,
                 Cs: Sequence[float] = (0.01, 0.1, 1.0, 10.0, 100.0), standardize: bool = True,
                 max_iter: int = 2000, seed: int = 0,
                 return_details: bool = False) -> Union[float, Dict[str, float]]:
    r"""Test accuracy (a fraction in ``[0, 1]``) of a logistic regression on frozen embeddings.

    Args:
        embeddings (Tensor or ndarray): ``(N, D)`` node embeddings (detached inside).
        y (Tensor or ndarray): ``(N,)`` integer labels.
        train_mask, test_mask: bool masks of length ``N`` or 1-D tensors/arrays of node
            indices in ``[0, N)``; neither may be empty, and they must not overlap.
            uint8 masks raise a :class:`TypeError`, integer 0/1 vectors of length ``N``
            (``N > 2``) a :class:`ValueError` (a mask in disguise), negative or
            out-of-range indices an :class:`IndexError`: pass a bool mask.
        val_mask (optional): same forms; if given, ``C`` is chosen from ``Cs`` by validation
            accuracy (ties go to the smaller ``C``); otherwise ``C`` is used as is. It must
            not overlap ``train_mask`` or ``test_mask``; an empty one counts as none.
        C (float): inverse L2 strength when there is no ``val_mask``. (default: ``1.0``)
        Cs (sequence of float): candidates for ``C`` with a ``val_mask``; at least one.
        standardize (bool): scale every dimension to zero mean and unit variance on the
            training nodes first. (default: ``True``)
        max_iter (int): L-BFGS iterations. (default: ``2000``)
        seed (int): random state of the solver.
        return_details (bool): return ``{"test": .., "val": .., "train": .., "C": ..}``
            instead of the test accuracy alone.
    """
    from sklearn.linear_model import LogisticRegression

    where = "linear_probe"
    x = _numpy(embeddings, "embeddings", where)
    if x.ndim != 2:
        raise ValueError(f"{where}: embeddings must have shape (N, D), got {x.shape}")
    x = x.astype(np.float64)
    n = x.shape[0]
    y = _numpy(y, "y", where)
    if y.shape != (n,) or y.dtype.kind not in "iu":
        raise ValueError(f"{where}: y must be {n} integer labels, got shape {y.shape} "
                         f"({y.dtype}); use multilabel_f1 for multi-label targets")
    if val_mask is not None:
        Cs = tuple(Cs)
        if not Cs:
            raise ValueError(f"{where}: Cs must name at least one value to choose C from "
                             f"on val_mask")
    masks = {"train_mask": _mask(train_mask, n, "train_mask", where),
             "test_mask": _mask(test_mask, n, "test_mask", where)}
    if val_mask is not None:
        masks["val_mask"] = _mask(val_mask, n, "val_mask", where)
    for name in ("train_mask", "test_mask"):
        if not masks[name].any():
            raise ValueError(f"{where}: {name} is empty: it must select at least one node")
    for a, b in (("train_mask", "test_mask"), ("train_mask", "val_mask"),
                 ("val_mask", "test_mask")):
        if a in masks and b in masks:
            shared = int((masks[a] & masks[b]).sum())
            if shared:
                raise ValueError(f"{where}: {a} and {b} overlap in {shared} node(s); the "
                                 f"node sets must be disjoint (fitting or choosing C on "
                                 f"evaluation nodes inflates the score)")
    train, test, val = masks["train_mask"], masks["test_mask"], masks.get("val_mask")
    if len(np.unique(y[train])) < 2:
        raise ValueError(f"{where}: the training nodes hold a single class; cannot fit")
    if standardize:
        x = _standardize(x, train)

    def fit(c):
        clf = LogisticRegression(C=c, max_iter=max_iter, random_state=seed)
        return clf.fit(x[train], y[train])

    if val is not None and val.any():
        best = None
        for c in Cs:
            clf = fit(c)
            acc = float((clf.predict(x[val]) == y[val]).mean())
            if best is None or acc > best[0]:
                best = (acc, c, clf)
        val_acc, C, clf = best
    else:
        clf = fit(C)
        val_acc = float("nan")
    test_acc = float((clf.predict(x[test]) == y[test]).mean())
    if not return_details:
        return test_acc
    return {"test": test_acc, "val": val_acc,
            "train": float((clf.predict(x[train]) == y[train]).mean()), "C": float(C)}


def top_k_predictions(scores: np.ndarray, k: np.ndarray) -> np.ndarray:
    """0/1 matrix with ones at the ``k[i]`` highest scores of every row ``i`` (ties by index)."""
    order = np.argsort(-scores, axis=1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(scores.shape[1])[None, :].repeat(len(k), 0), 1)
    return (ranks < np.asarray(k)[:, None]).astype(np.int64)


def _ratios(train_ratio, where: str) -> Tuple[List[float], bool]:
    """The training ratios that ``train_ratio`` names, and whether it named a single one.

    One ratio: a real number, a numpy scalar or a 0-d tensor/array; several: any other
    iterable of those (a list, a 1-D tensor or array). Strings and bools are rejected.
    """
    def one(r):
        if isinstance(r, (Tensor, np.ndarray)) and r.ndim == 0:
            r = r.item()
        if isinstance(r, (bool, np.bool_)) or not isinstance(r, numbers.Real):
            raise TypeError(f"{where}: train_ratio must be a real number in (0, 1) or a "
                            f"sequence of them, got {r!r} ({type(r).__name__})")
        r = float(r)
        if not 0.0 < r < 1.0:
            raise ValueError(f"{where}: train_ratio must be in (0, 1), got {r}")
        return r

    if isinstance(train_ratio, (Tensor, np.ndarray)) and train_ratio.ndim == 0:
        return [one(train_ratio)], True
    if isinstance(train_ratio, (numbers.Number, np.generic, str, bytes)):
        return [one(train_ratio)], True
    try:
        items = list(train_ratio)
    except TypeError:
        raise TypeError(f"{where}: train_ratio must be a real number in (0, 1) or a sequence "
                        f"of them, got {type(train_ratio).__name__}") from None
    if not items:
        raise ValueError(f"{where}: train_ratio is an empty sequence; name at least one ratio")
    return [one(r) for r in items], False


def _repeats(repeats, where: str) -> int:
    if isinstance(repeats, (Tensor, np.ndarray)) and repeats.ndim == 0:
        repeats = repeats.item()
    try:
        if isinstance(repeats, (bool, np.bool_)):
            raise TypeError
        repeats = operator.index(repeats)
    except TypeError:
        raise TypeError(f"{where}: repeats must be an int >= 1, got {repeats!r} "
                        f"({type(repeats).__name__})") from None
    if repeats < 1:
        raise ValueError(f"{where}: repeats must be an int >= 1, got {repeats}")
    return repeats


def multilabel_f1(embeddings: ArrayLike, Y: ArrayLike,
                  train_ratio: Union[float, Sequence[float]], repeats: int = 10, seed: int = 0,
                  C: float = 1.0, n_jobs: Optional[int] = None) -> Dict:
    r"""Micro- and macro-F1 of the DeepWalk multi-label protocol, averaged over random splits.

    For each of ``repeats`` random splits (a fraction ``train_ratio`` of the nodes for
    training), a one-vs-rest L2 logistic regression (liblinear, as in the original scoring
    script) is fitted per label; each test node is predicted its ``k`` best-scoring labels,
    where ``k`` is its true label count.

    Args:
        embeddings (Tensor or ndarray): ``(N, D)``.
        Y (Tensor or ndarray): ``(N, L)`` 0/1 label matrix.
        train_ratio (float or sequence of float): in ``(0, 1)``. One ratio is a real number,
            a numpy scalar or a 0-d tensor; a sequence (list, 1-D tensor or array) evaluates
            each, every one on splits drawn from ``seed`` afresh. Strings and bools raise a
            :class:`TypeError`.
        repeats (int): number of random splits, an int ``>= 1``. (default: ``10``)
        seed (int): seed of the splits (and of the solver).
        C (float): inverse L2 strength. (default: ``1.0``)
        n_jobs (int, optional): parallel jobs for the one-vs-rest fits.

    Returns:
        For one ratio: ``{"micro": mean, "macro": mean, "micro_std": .., "macro_std": ..,
        "train_ratio": r, "repeats": n}`` (mean and sample standard deviation over the splits,
        :func:`~pyg_course.utils.stats.mean_std`); for a sequence, a list of such dicts.
    """
    where = "multilabel_f1"
    ratios, single = _ratios(train_ratio, where)
    repeats = _repeats(repeats, where)
    x = _numpy(embeddings, "embeddings", where).astype(np.float64)
    Y = _numpy(Y, "Y", where)
    if x.ndim != 2 or Y.ndim != 2 or Y.shape[0] != x.shape[0]:
        raise ValueError(f"{where}: need embeddings (N, D) and Y (N, L), got {x.shape} "
                         f"and {Y.shape}")
    if not np.isin(Y, (0, 1)).all():
        raise ValueError(f"{where}: Y must be a 0/1 label matrix")
    Y = Y.astype(np.int64)
    n = x.shape[0]
    for ratio in ratios:
        if not 0 < int(round(ratio * n)) < n:
            raise ValueError(f"{where}: train_ratio={ratio} leaves an empty split of {n} nodes")
    results = [_multilabel_f1_at(x, Y, ratio, repeats, seed, C, n_jobs) for ratio in ratios]
    return results[0] if single else results


def _multilabel_f1_at(x: np.ndarray, Y: np.ndarray, train_ratio: float, repeats: int,
                      seed: int, C: float, n_jobs: Optional[int]) -> Dict:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.multiclass import OneVsRestClassifier

    n = x.shape[0]
    n_train = int(round(train_ratio * n))
    rng = np.random.RandomState(seed)
    micro, macro = [], []
    for _ in range(repeats):
        perm = rng.permutation(n)
        tr, te = perm[:n_train], perm[n_train:]
        clf = OneVsRestClassifier(LogisticRegression(C=C, solver="liblinear",
                                                     random_state=seed), n_jobs=n_jobs)
        clf.fit(x[tr], Y[tr])
        pred = top_k_predictions(clf.predict_proba(x[te]), Y[te].sum(1))
        micro.append(f1_score(Y[te], pred, average="micro", zero_division=0))
        macro.append(f1_score(Y[te], pred, average="macro", zero_division=0))
    micro_mean, micro_std = mean_std(micro)
    macro_mean, macro_std = mean_std(macro)
    return {"micro": micro_mean, "macro": macro_mean, "micro_std": micro_std,
            "macro_std": macro_std, "train_ratio": train_ratio, "repeats": repeats}


def evaluate_node_embeddings(embeddings: ArrayLike, data, label: str = "y",
                             train_ratios: Union[float, Sequence[float]] = (0.1, 0.5, 0.9),
                             repeats: int = 10, seed: int = 0) -> Dict:
    r"""Evaluate embeddings of the nodes of a PyG ``Data`` with the protocol that fits it.

    * multi-label ``data[label]`` of shape ``(N, L)``: :func:`multilabel_f1` at every ratio of
      ``train_ratios`` (one ratio or a sequence); returns
      ``{"protocol": "multilabel", "results": [...]}``, a list even for one ratio.
    * single-label ``y`` with ``train_mask`` and ``test_mask`` (e.g. the Planetoid public
      split): :func:`linear_probe`, ``C`` chosen on ``val_mask`` (the masks must be bool and
      disjoint, see :func:`linear_probe`);
    * single-label with neither mask, or a ``label`` other than ``y`` (e.g. KarateClub's
      ``faction``): :func:`linear_probe` on a seeded, stratified half/half split; both return
      ``{"protocol": "probe", "accuracy": ..}``.

    A ``y`` with only one of ``train_mask``/``test_mask`` (e.g. PyG's KarateClub, which has
    a ``train_mask`` alone) raises a :class:`ValueError` naming the missing mask.
    """
    where = "evaluate_node_embeddings"
    y = data[label]
    if y.dim() == 2:
        ratios, _ = _ratios(train_ratios, where)
        return {"protocol": "multilabel",
                "results": multilabel_f1(embeddings, y, ratios, repeats, seed)}
    has_train = getattr(data, "train_mask", None) is not None
    has_test = getattr(data, "test_mask", None) is not None
    if label == "y" and has_train != has_test:
        present, missing = ("train_mask", "test_mask") if has_train else ("test_mask",
                                                                          "train_mask")
        raise ValueError(f"{where}: data has a {present} but no {missing}; give both for the "
                         f"public split, or neither for a stratified half/half split")
    if has_train and label == "y":
        out = linear_probe(embeddings, y, data.train_mask, data.test_mask,
                           val_mask=getattr(data, "val_mask", None), seed=seed,
                           return_details=True)
        split = "public"
    else:
        rng = np.random.RandomState(seed)
        y_np = _numpy(y, label, where)
        train = np.zeros(len(y_np), dtype=bool)
        for cls in np.unique(y_np):
            idx = rng.permutation(np.flatnonzero(y_np == cls))
            train[idx[: max(1, len(idx) // 2)]] = True
        out = linear_probe(embeddings, y, train, ~train, seed=seed, return_details=True)
        split = "stratified half/half"
    return {"protocol": "probe", "label": label, "split": split, "accuracy": out["test"],
            "val_accuracy": out["val"], "C": out["C"]}
