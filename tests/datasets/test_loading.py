import hashlib
import os
import re
import shutil
from pathlib import Path

import pytest
import torch

from pyg_course.datasets import (
    DatasetCorruptError,
    DatasetNotFoundError,
    csbm,
    load_dataset,
    num_classes,
)
from pyg_course.datasets.loading import EMBEDDED_ROOT


def _tree_digest(root: Path):
    return {str(p.relative_to(root)):
            (p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def data_root(monkeypatch):
    """$PYG_COURSE_DATA where it holds Cora, else the package's own raw files, set as it."""
    root = os.environ.get("PYG_COURSE_DATA")
    if not root or not os.path.isdir(os.path.join(root, "Cora", "raw")):
        root = str(EMBEDDED_ROOT)
        monkeypatch.setenv("PYG_COURSE_DATA", root)
    return Path(root)


def test_planetoid_public_split(data_root, tmp_path, monkeypatch):
    monkeypatch.setenv("PYG_COURSE_CACHE", str(tmp_path / "cache"))
    before = _tree_digest(data_root)
    cora = load_dataset("cora", root=data_root)
    citeseer = load_dataset("CiteSeer")  # from $PYG_COURSE_DATA
    assert (cora.num_nodes, cora.num_edges, cora.num_features, num_classes(cora)) == (2708, 10556,
                                                                                       1433, 7)
    assert [int(cora[f"{s}_mask"].sum()) for s in ("train", "val", "test")] == [140, 500, 1000]
    assert (citeseer.num_nodes, num_classes(citeseer)) == (3327, 6)
    assert [int(citeseer[f"{s}_mask"].sum()) for s in ("train", "val", "test")] == [120, 500, 1000]
    assert (tmp_path / "cache" / "planetoid" / "Cora" / "processed").is_dir()
    load_dataset("Cora")  # second call: from the processed cache
    assert _tree_digest(data_root) == before, "load_dataset wrote into the data folder"


def test_blogcatalog_and_karate(data_root):
    if not (data_root / "BlogCatalog" / "raw" / "blogcatalog.mat").is_file():
        pytest.skip("BlogCatalog not present")
    bc = load_dataset("BlogCatalog")
    assert bc.num_nodes == 10312 and bc.num_edges == 667966 and bc.y.shape == (10312, 39)
    assert bc.is_undirected() and num_classes(bc) == 39
    karate = load_dataset("KarateClub")
    assert karate.num_nodes == 34 and set(karate.faction.tolist()) == {0, 1}
    assert karate.faction[0] == 0 and karate.faction[33] == 1  # Mr. Hi and the officer


def test_missing_files_error_names_everything(tmp_path, monkeypatch):
    monkeypatch.setenv("PYG_COURSE_CACHE", str(tmp_path / "cache"))
    with pytest.raises(DatasetNotFoundError) as err:
        load_dataset("BlogCatalog", root=tmp_path / "empty")
    msg = str(err.value)
    assert "BlogCatalog" in msg and str(tmp_path / "empty") in msg and "PYG_COURSE_DATA" in msg
    assert "\n" not in msg


def test_missing_planetoid_without_network(tmp_path, monkeypatch):
    # No root and a data folder without PubMed (as in CI): cache, then download, then the error.
    monkeypatch.setenv("PYG_COURSE_CACHE", str(tmp_path / "cache"))
    (tmp_path / "data").mkdir()
    monkeypatch.setenv("PYG_COURSE_DATA", str(tmp_path / "data"))
    import torch_geometric.datasets.planetoid as planetoid

    def offline(self):
        raise OSError("network unreachable")

    monkeypatch.setattr(planetoid.Planetoid, "download", offline)
    with pytest.raises(DatasetNotFoundError, match="dataset 'PubMed'.*PYG_COURSE_DATA.*"
                                                   "network unreachable"):
        load_dataset("PubMed")
    assert not any((tmp_path / "cache" / "planetoid").iterdir()), "failed download left files"


def test_unknown_name_lists_known():
    with pytest.raises(ValueError, match="unknown dataset 'Coraa'.*Cora, CiteSeer, PubMed"):
        load_dataset("Coraa")


def test_nan_features_rejected(data_root, tmp_path, monkeypatch):
    monkeypatch.setenv("PYG_COURSE_CACHE", str(tmp_path / "cache"))
    import pyg_course.datasets.loading as loading

    real = loading._load_planetoid

    def poisoned(name, root):
        data = real(name, root)
        data.x[3, 5] = float("nan")
        return data

    monkeypatch.setattr(loading, "_load_planetoid", poisoned)
    with pytest.raises(ValueError, match="1 NaN/inf values in 1 nodes.*node 3"):
        load_dataset("Cora")


def test_csbm_is_seeded_and_controls_homophily():
    from torch_geometric.utils import homophily

    a, b = csbm(seed=3), csbm(seed=3)
    assert torch.equal(a.x, b.x) and torch.equal(a.edge_index, b.edge_index)
    assert not torch.equal(csbm(seed=4).x, a.x)
    assert a.is_undirected() and not a.has_self_loops()
    for h in (0.1, 0.5, 0.9):
        assert abs(homophily(csbm(homophily=h).edge_index, csbm(homophily=h).y) - h) < 0.03
    d = csbm(num_nodes=600, num_classes=3, num_val=100, num_test=200, num_train_per_class=10)
    assert int(d.train_mask.sum()) == 30
    assert not (d.train_mask & d.val_mask).any() and not (d.val_mask & d.test_mask).any()
    with pytest.raises(ValueError, match="homophily"):
        csbm(homophily=1.5)
    with pytest.raises(TypeError, match="takes no options"):
        load_dataset("Cora", num_nodes=5)


# ---- raw files must be there, and the cache must come from them ----------------------------

CORA_RAW = [f"ind.cora.{p}" for p in ("x", "tx", "allx", "y", "ty", "ally", "graph", "test.index")]


def _copy_raw(data_root: Path, dest: Path, name: str = "Cora", skip=()) -> Path:
    """A writable copy of ``<data_root>/<name>/raw`` under ``dest``; returns ``dest``."""
    raw = dest / name / "raw"
    raw.mkdir(parents=True)
    for f in (data_root / name / "raw").iterdir():
        if f.name not in skip:
            shutil.copyfile(f, raw / f.name)
    return dest


def _equal(a, b):
    return set(a.keys()) == set(b.keys()) and all(
        torch.equal(a[k], b[k]) if torch.is_tensor(a[k]) else a[k] == b[k] for k in a.keys())


@pytest.fixture
def warm_cache(data_root, tmp_path, monkeypatch):
    """A private cache that already holds Cora processed from the real files."""
    monkeypatch.setenv("PYG_COURSE_CACHE", str(tmp_path / "cache"))
    cora = load_dataset("Cora", root=data_root)
    return tmp_path / "cache", cora


def test_same_data_as_pyg_planetoid(data_root, tmp_path, monkeypatch):
    from torch_geometric.datasets import Planetoid

    monkeypatch.setenv("PYG_COURSE_CACHE", str(tmp_path / "cache"))
    ref = Planetoid(str(_copy_raw(data_root, tmp_path / "pyg")), "Cora")[0]
    assert _equal(load_dataset("Cora", root=data_root), ref)  # processed here
    assert _equal(load_dataset("Cora", root=data_root), ref)  # from the cache


def test_explicit_root_must_hold_the_files_whatever_the_cache(warm_cache, data_root, tmp_path,
                                                              monkeypatch):
    import torch_geometric.datasets.planetoid as planetoid

    downloads = []
    monkeypatch.setattr(planetoid.Planetoid, "download", lambda self: downloads.append(self))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetNotFoundError) as err:
        load_dataset("cora", root=tmp_path / "empty")
    msg = str(err.value)
    assert str(tmp_path / "empty" / "Cora" / "raw") in msg and "8 of 8" in msg
    assert all(n in msg for n in CORA_RAW) and "\n" not in msg

    partial = _copy_raw(data_root, tmp_path / "seven", skip={"ind.cora.graph"})
    with pytest.raises(DatasetNotFoundError) as err:
        load_dataset("cora", root=partial)
    raw = partial / "Cora" / "raw"
    assert f"1 of 8 raw files missing in {raw}: ind.cora.graph;" in str(err.value)

    (tmp_path / "afile").write_text("not a folder")
    for root, why in (("afile", "is not a folder"), ("nowhere", "does not exist")):
        with pytest.raises(DatasetNotFoundError, match=re.escape(f"root {tmp_path / root} {why}")):
            load_dataset("cora", root=tmp_path / root)
    assert downloads == [], "an explicit root must not fall back to downloading"


def test_cache_follows_the_raw_files(warm_cache, data_root, tmp_path):
    import pickle

    cache, real = warm_cache
    other = _copy_raw(data_root, tmp_path / "other")
    ty = other / "Cora" / "raw" / "ind.cora.ty"
    with open(ty, "rb") as f:
        labels = pickle.load(f, encoding="latin1")
    with open(ty, "wb") as f:  # same size, different test labels
        pickle.dump(labels[:, ::-1].copy(), f)
    changed = load_dataset("Cora", root=other)
    assert int((changed.y != real.y).sum()) > 0 and torch.equal(changed.x, real.x)
    assert _equal(load_dataset("Cora", root=data_root), real)  # rebuilt again, not the stale one
    assert sorted(p.name for p in (cache / "planetoid").iterdir()) == ["Cora"]  # no leftovers


def test_data_variable_pointing_nowhere_warns(warm_cache, tmp_path, monkeypatch):
    monkeypatch.setenv("PYG_COURSE_DATA", str(tmp_path / "typo"))
    typo = re.escape(f"PYG_COURSE_DATA='{tmp_path / 'typo'}' is not a folder")
    with pytest.warns(UserWarning, match=typo):
        cora = load_dataset("Cora")  # documented order goes on: the processed cache
    assert _equal(cora, warm_cache[1])


def test_data_variable_with_incomplete_dataset_is_an_error(warm_cache, data_root, tmp_path,
                                                          monkeypatch):
    partial = _copy_raw(data_root, tmp_path / "data", skip={"ind.cora.x", "ind.cora.ty"})
    monkeypatch.setenv("PYG_COURSE_DATA", str(partial))
    with pytest.raises(DatasetNotFoundError, match=r"2 of 8 .*ind\.cora\.x, ind\.cora\.ty;"):
        load_dataset("Cora")


# ---- corrupt raw files: a DatasetCorruptError naming the file, and no half-written cache --------

@pytest.mark.parametrize("file,damage", [
    ("ind.cora.graph", lambda b: b[:1000]),  # truncated
    ("ind.cora.x", lambda b: b"I1\n" + b"garbage " * 20),  # not a pickle of a matrix
])
def test_corrupt_planetoid_file_is_named(warm_cache, data_root, tmp_path, file, damage):
    cache, real = warm_cache
    bad = _copy_raw(data_root, tmp_path / "bad")
    path = bad / "Cora" / "raw" / file
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(DatasetCorruptError) as err:
        load_dataset("Cora", root=bad)
    msg = str(err.value)
    assert isinstance(err.value, ValueError) and "\n" not in msg
    assert f"dataset 'Cora': raw file {path} is unreadable or corrupt (" in msg
    assert err.value.__cause__ is not None
    # the failed build left nothing behind and did not touch the good cache entry
    assert sorted(p.name for p in (cache / "planetoid").iterdir()) == ["Cora"]
    mtime = (cache / "planetoid" / "Cora" / "processed" / "data.pt").stat().st_mtime_ns
    assert _equal(load_dataset("Cora", root=data_root), real)
    assert (cache / "planetoid" / "Cora" / "processed" / "data.pt").stat().st_mtime_ns == mtime


def test_corrupt_planetoid_with_fresh_cache_leaves_no_cache(data_root, tmp_path, monkeypatch):
    monkeypatch.setenv("PYG_COURSE_CACHE", str(tmp_path / "cache"))
    bad = _copy_raw(data_root, tmp_path / "bad")
    (bad / "Cora" / "raw" / "ind.cora.allx").write_bytes(b"")
    with pytest.raises(DatasetCorruptError, match="ind.cora.allx is unreadable or corrupt"):
        load_dataset("Cora", root=bad)
    assert list((tmp_path / "cache" / "planetoid").iterdir()) == []


def _blogcatalog_mat(root: Path, **variables) -> Path:
    import scipy.io

    path = root / "BlogCatalog" / "raw" / "blogcatalog.mat"
    path.parent.mkdir(parents=True)
    scipy.io.savemat(str(path), variables)
    return path


def _tiny_blogcatalog():
    import scipy.sparse

    network = scipy.sparse.csc_matrix(([1.0] * 4, ([0, 1, 1, 2], [1, 0, 2, 1])), shape=(3, 3))
    group = scipy.sparse.csc_matrix(([1.0] * 3, ([0, 1, 2], [0, 1, 1])), shape=(3, 2))
    return network, group


def test_blogcatalog_reads_a_small_file(tmp_path):
    network, group = _tiny_blogcatalog()
    _blogcatalog_mat(tmp_path, network=network, group=group)
    data = load_dataset("BlogCatalog", root=tmp_path)
    assert data.edge_index.tolist() == [[0, 1, 1, 2], [1, 0, 2, 1]]
    assert data.y.tolist() == [[1, 0], [0, 1], [0, 1]] and data.num_nodes == 3


def test_corrupt_blogcatalog_is_named(tmp_path):
    network, group = _tiny_blogcatalog()
    path = _blogcatalog_mat(tmp_path / "a", network=network, group=group)
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(DatasetCorruptError,
                       match=re.escape(f"'BlogCatalog': raw file {path} is unreadable")):
        load_dataset("BlogCatalog", root=tmp_path / "a")

    path = _blogcatalog_mat(tmp_path / "b", network=network)
    with pytest.raises(DatasetCorruptError,
                       match=re.escape(f"{path} is unreadable or corrupt (no variable 'group'; "
                                       "found ['network'])")):
        load_dataset("BlogCatalog", root=tmp_path / "b")

    path = _blogcatalog_mat(tmp_path / "c", network=network, group=group[:2])
    with pytest.raises(DatasetCorruptError,
                       match=re.escape(f"{path} is unreadable or corrupt ('network' is 3x3 and "
                                       "'group' 2x2")):
        load_dataset("BlogCatalog", root=tmp_path / "c")


# ---- root is ignored where no files are read --------------------------------------------------

def test_root_is_ignored_and_documented_for_builtin_and_synthetic(tmp_path):
    doc = " ".join(load_dataset.__doc__.split())
    assert "Ignored by ``KarateClub`` (built into PyG) and ``CSBM`` (synthetic)" in doc
    (tmp_path / "afile").write_text("")
    for root in (tmp_path / "afile", tmp_path / "nowhere"):
        assert load_dataset("KarateClub", root=root).num_nodes == 34
        kw = dict(num_nodes=100, num_val=10, num_test=10)
        assert _equal(load_dataset("CSBM", root=root, **kw), csbm(**kw))
