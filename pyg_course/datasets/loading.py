"""``load_dataset``: real graphs from a local folder (never written to), processed into a cache."""

from __future__ import annotations

import filecmp
import os
import shutil
import tempfile
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from torch_geometric.data import Data
from torch_geometric.utils import coalesce

from pyg_course.datasets.csbm import csbm

ENV_VAR = "PYG_COURSE_DATA"
CACHE_ENV_VAR = "PYG_COURSE_CACHE"

#: Lower-case name -> canonical name of every dataset ``load_dataset`` knows.
DATASETS = {
    "cora": "Cora",
    "citeseer": "CiteSeer",
    "pubmed": "PubMed",
    "blogcatalog": "BlogCatalog",
    "karateclub": "KarateClub",
    "csbm": "CSBM",
}
_PLANETOID = ("Cora", "CiteSeer", "PubMed")
_PLANETOID_RAW = ("x", "tx", "allx", "y", "ty", "ally", "graph", "test.index")


class DatasetNotFoundError(FileNotFoundError):
    """The dataset's files are in none of the searched folders and cannot be downloaded."""


def cache_root() -> Path:
    """Folder where processed datasets are written: ``$PYG_COURSE_CACHE``, else
    ``$XDG_CACHE_HOME/pyg_course``, else ``~/.cache/pyg_course``."""
    if os.environ.get(CACHE_ENV_VAR):
        return Path(os.environ[CACHE_ENV_VAR]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "pyg_course"


def _search_roots(root: Optional[str | os.PathLike]) -> list[Path]:
    if root is not None:
        return [Path(root).expanduser()]
    roots = []
    if os.environ.get(ENV_VAR):
        roots.append(Path(os.environ[ENV_VAR]).expanduser())
    roots.append(cache_root() / "data")
    return roots


def _not_found(name: str, roots: list[Path], expected: str,
               cause: str = "") -> DatasetNotFoundError:
    searched = ", ".join(str(r / name / "raw") for r in roots)
    msg = (
        f"dataset {name!r}: {expected} not found in {searched}; put the files there, pass "
        f"--root / root=..., or set {ENV_VAR} to a folder holding {name}/raw/"
    )
    if cause:
        msg += f" (download failed: {cause})"
    return DatasetNotFoundError(msg)


def check_features(x: Optional[torch.Tensor], where: str) -> None:
    """Raise ``ValueError`` if ``x`` holds NaN or inf values (counted, with the first row)."""
    if x is None or not torch.is_floating_point(x):
        return
    bad = ~torch.isfinite(x)
    if bad.any():
        rows = bad.any(dim=-1).nonzero().view(-1) if x.dim() > 1 else bad.nonzero().view(-1)
        raise ValueError(
            f"{where}: features contain {int(bad.sum())} NaN/inf values "
            f"in {rows.numel()} nodes (first: node {int(rows[0])})"
        )


def num_classes(data: Data) -> int:
    """Number of classes of a node-classification ``Data`` (columns for multi-label ``y``)."""
    if data.y.dim() == 2:
        return int(data.y.size(1))
    return int(data.y.max()) + 1


def _same_files(src: Path, dst: Path, names: list[str]) -> bool:
    return all((dst / n).is_file() and filecmp.cmp(src / n, dst / n, shallow=False) for n in names)


def _load_planetoid(name: str, root: Optional[str | os.PathLike]) -> Data:
    from torch_geometric.datasets import Planetoid

    raw_names = [f"ind.{name.lower()}.{part}" for part in _PLANETOID_RAW]
    roots = _search_roots(root)
    source = next((r / name / "raw" for r in roots if all((r / name / "raw" / n).is_file()
                                                          for n in raw_names)), None)

    cache = cache_root() / "planetoid"
    target = cache / name
    cache.mkdir(parents=True, exist_ok=True)
    processed = (target / "processed" / "data.pt").is_file()
    if processed and (source is None or _same_files(source, target / "raw", raw_names)):
        return Planetoid(str(cache), name)[0]  # processed earlier (from these files, or downloaded)

    # Process in a private temporary folder, then move it into place, so that concurrent
    # processes never read a half-written file and the source folder is never written to.
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=cache))
    try:
        if source is not None:
            (tmp / name / "raw").mkdir(parents=True)
            for n in raw_names:
                shutil.copyfile(source / n, tmp / name / "raw" / n)
        try:
            Planetoid(str(tmp), name)
        except Exception as exc:  # no files and no network: say where we looked
            if source is not None:
                raise
            raise _not_found(name, roots, "Planetoid raw files ind." + name.lower() + ".*",
                             f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}") from None
        if target.exists():
            shutil.rmtree(target, ignore_errors=True)
        try:
            os.replace(tmp / name, target)
        except OSError:  # another process won the race; its copy is identical
            pass
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return Planetoid(str(cache), name)[0]


def _load_blogcatalog(root: Optional[str | os.PathLike]) -> Data:
    import scipy.io

    roots = _search_roots(root)
    path = next((r / "BlogCatalog" / "raw" / "blogcatalog.mat" for r in roots
                 if (r / "BlogCatalog" / "raw" / "blogcatalog.mat").is_file()), None)
    if path is None:
        raise _not_found("BlogCatalog", roots, "blogcatalog.mat")
    mat = scipy.io.loadmat(str(path))
    adj = mat["network"].tocoo()
    edge_index = torch.from_numpy(np.vstack([adj.row, adj.col]).astype(np.int64))
    num_nodes = adj.shape[0]
    edge_index = coalesce(edge_index, num_nodes=num_nodes)
    y = torch.from_numpy(mat["group"].toarray()).long()
    return Data(edge_index=edge_index, y=y, num_nodes=num_nodes)


def _load_karate() -> Data:
    from torch_geometric.datasets import KarateClub

    data = KarateClub()[0]
    try:  # the two factions after the split (Zachary 1977), as networkx records them
        import networkx as nx

        clubs = nx.get_node_attributes(nx.karate_club_graph(), "club")
        data.faction = torch.tensor([int(clubs[i] != "Mr. Hi") for i in range(data.num_nodes)])
    except ImportError:  # networkx comes with torch; without it there is simply no faction
        pass
    return data


def load_dataset(name: str, root: Optional[str | os.PathLike] = None, **kwargs) -> Data:
    """Load a graph as a PyG :class:`~torch_geometric.data.Data`.

    Known names (case-insensitive): ``Cora``, ``CiteSeer``, ``PubMed`` (Planetoid public split),
    ``BlogCatalog`` (10,312 nodes, undirected, multi-label ``y`` of shape ``[N, 39]``),
    ``KarateClub`` (PyG's built-in, plus ``faction``: the two clubs after the split) and ``CSBM``
    (synthetic; ``kwargs`` go to :func:`~pyg_course.datasets.csbm`).

    Files are looked up in ``root`` if given, else in ``$PYG_COURSE_DATA`` and then in the cache
    folder (:func:`cache_root`); each dataset lives in ``<folder>/<Name>/raw/``. The source
    folder is only read: processed files are written under the cache folder.

    Raises:
        ValueError: unknown name (the message lists the known ones), or NaN/inf features.
        DatasetNotFoundError: no files in any searched folder and no download possible.
    """
    canonical = DATASETS.get(str(name).lower())
    if canonical is None:
        raise ValueError(
            f"unknown dataset {name!r}; known datasets: {', '.join(DATASETS.values())}"
        )
    if kwargs and canonical != "CSBM":
        raise TypeError(f"load_dataset({canonical!r}) takes no options (got {sorted(kwargs)})")
    if canonical in _PLANETOID:
        data = _load_planetoid(canonical, root)
    elif canonical == "BlogCatalog":
        data = _load_blogcatalog(root)
    elif canonical == "KarateClub":
        data = _load_karate()
    else:
        data = csbm(**kwargs)
    check_features(data.x, f"dataset {canonical!r}")
    return data
