import hashlib
import os
from pathlib import Path

import pytest
import torch

from pyg_course.datasets import DatasetNotFoundError, csbm, load_dataset, num_classes


def _tree_digest(root: Path):
    return {str(p.relative_to(root)):
            (p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def data_root():
    root = os.environ.get("PYG_COURSE_DATA")
    if not root or not os.path.isdir(os.path.join(root, "Cora", "raw")):
        pytest.skip("PYG_COURSE_DATA with Cora/raw not set")
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
    monkeypatch.setenv("PYG_COURSE_CACHE", str(tmp_path / "cache"))
    import torch_geometric.datasets.planetoid as planetoid

    def offline(self):
        raise OSError("network unreachable")

    monkeypatch.setattr(planetoid.Planetoid, "download", offline)
    with pytest.raises(DatasetNotFoundError, match="dataset 'PubMed'.*PYG_COURSE_DATA.*"
                                                   "network unreachable"):
        load_dataset("PubMed", root=tmp_path / "nothing")


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
