"""The raw files shipped inside the package: found without any data folder or network, checked
against their checksums, and packaged into the wheel and the sdist."""

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from pyg_course.datasets import loading
from pyg_course.datasets.loading import DatasetCorruptError, load_dataset

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No PYG_COURSE_DATA, an empty cache and home, and no network for PyG's downloader."""
    monkeypatch.delenv(loading.ENV_VAR, raising=False)
    monkeypatch.setenv(loading.CACHE_ENV_VAR, str(tmp_path / "cache"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))

    def no_network(*args, **kwargs):
        raise OSError("network disabled in this test")

    monkeypatch.setattr("torch_geometric.data.download.urllib.request.urlopen", no_network)
    return tmp_path


def test_shipped_checksums_match_the_reference_data():
    sums = dict(reversed(line.split("  ")) for line in
                (loading.EMBEDDED_ROOT / "SHA256SUMS").read_text().splitlines())
    assert sorted({p.split("/")[0] for p in sums}) == ["BlogCatalog", "CiteSeer", "Cora"]
    for rel, digest in sums.items():
        assert hashlib.sha256((loading.EMBEDDED_ROOT / rel).read_bytes()).hexdigest() == digest
    shared = REPO.parent / "shared" / "data"
    if shared.is_dir():  # the same bytes as the reference copy, where one is at hand
        for rel in sums:
            assert (shared / rel).read_bytes() == (loading.EMBEDDED_ROOT / rel).read_bytes()


@pytest.mark.parametrize("name,nodes,edges", [("Cora", 2708, 10556), ("CiteSeer", 3327, 9104),
                                              ("BlogCatalog", 10312, 667966)])
def test_loads_offline_without_data_folder_or_cache(offline, name, nodes, edges):
    data = load_dataset(name)
    assert (data.num_nodes, data.edge_index.size(1)) == (nodes, edges)
    if name != "BlogCatalog":
        assert int(data.train_mask.sum()) == {"Cora": 140, "CiteSeer": 120}[name]


def test_a_data_folder_comes_before_the_shipped_copy(offline, monkeypatch):
    folder = offline / "mine"
    shutil.copytree(loading.EMBEDDED_ROOT / "BlogCatalog", folder / "BlogCatalog")
    (folder / "BlogCatalog" / "raw" / "blogcatalog.mat").write_bytes(b"not a mat file")
    monkeypatch.setenv(loading.ENV_VAR, str(folder))
    with pytest.raises(DatasetCorruptError, match=str(folder)):
        load_dataset("BlogCatalog")


def test_a_damaged_shipped_file_is_named(offline, monkeypatch):
    copy = offline / "embedded"
    shutil.copytree(loading.EMBEDDED_ROOT, copy)
    path = copy / "Cora" / "raw" / "ind.cora.x"
    path.write_bytes(path.read_bytes()[:-1] + b"\0")
    monkeypatch.setattr(loading, "EMBEDDED_ROOT", copy)
    with pytest.raises(DatasetCorruptError, match="ind.cora.x.*sha256.*reinstall"):
        load_dataset("Cora")
    path.unlink()
    with pytest.raises(DatasetCorruptError, match="ind.cora.x.*missing"):
        load_dataset("Cora")


@pytest.mark.slow
def test_wheel_and_sdist_carry_the_data(tmp_path):
    shipped = ["SHA256SUMS", "README.md"] + [line.split("  ")[1] for line in
                                             (loading.EMBEDDED_ROOT / "SHA256SUMS")
                                             .read_text().splitlines()]
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp_path), str(REPO)], check=True, timeout=600,
                   env={**os.environ, "PIP_NO_INDEX": "1"})
    wheel, = tmp_path.glob("pyg_course-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"pyg_course/datasets/data/" + rel for rel in shipped} <= names

    build = ("import sys, setuptools.build_meta as b; "
             "print(b.build_sdist(sys.argv[1]))")
    subprocess.run([sys.executable, "-c", build, str(tmp_path)], cwd=REPO, check=True,
                   timeout=600, capture_output=True)
    sdist, = tmp_path.glob("pyg_course-*.tar.gz")
    with tarfile.open(sdist) as tar:
        names = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
    assert {"pyg_course/datasets/data/" + rel for rel in shipped} <= names
