"""``load_dataset``: real graphs from a local folder (never written to), processed into a cache."""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from torch_geometric.data import Data
from torch_geometric.utils import coalesce

from pyg_course.datasets.csbm import csbm
from pyg_course.utils.errors import describe_error

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


#: The raw files shipped inside the package (see its README.md and SHA256SUMS).
EMBEDDED_ROOT = Path(__file__).resolve().parent / "data"


class DatasetNotFoundError(FileNotFoundError):
    """The dataset's files are in none of the searched folders and cannot be downloaded, or a
    folder given as ``root`` lacks some of them."""


class DatasetCorruptError(ValueError):
    """A dataset's raw file is there but cannot be read (truncated, garbage, missing fields)."""


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
        env_root = Path(os.environ[ENV_VAR]).expanduser()
        if env_root.is_dir():
            roots.append(env_root)
        else:
            warnings.warn(f"{ENV_VAR}={str(env_root)!r} is not a folder; ignoring it and "
                          f"searching only the cache folder {cache_root()}", stacklevel=5)
    roots.append(cache_root() / "data")
    return roots


def _hint(name: str) -> str:
    return (f"put the files there, pass --root / root=..., or set {ENV_VAR} to a folder "
            f"holding {name}/raw/")


def _not_found(name: str, roots: list[Path], expected: str,
               cause: str = "") -> DatasetNotFoundError:
    searched = ", ".join(str(r / name / "raw") for r in roots)
    msg = f"dataset {name!r}: {expected} not found in {searched}; {_hint(name)}"
    if cause:
        msg += f" (download failed: {cause})"
    return DatasetNotFoundError(msg)


def _find_raw(name: str, root: Optional[str | os.PathLike],
              raw_names: list[str]) -> tuple[Optional[Path], list[Path]]:
    """The ``<root>/<name>/raw`` folder to read, and the roots searched.

    An explicit ``root`` must hold every raw file. Otherwise the first searched folder that has
    a ``<name>/`` subfolder is used, and it too must be complete; ``None`` if none has one.
    """
    roots = _search_roots(root)
    for r in roots:
        raw = r / name / "raw"
        if root is None and not (r / name).exists():
            continue
        if not r.is_dir():
            what = "is not a folder" if r.exists() else "does not exist"
            raise DatasetNotFoundError(f"dataset {name!r}: root {r} {what}; {_hint(name)}")
        missing = [n for n in raw_names if not (raw / n).is_file()]
        if missing:
            raise DatasetNotFoundError(
                f"dataset {name!r}: {len(missing)} of {len(raw_names)} raw files missing in "
                f"{raw}: {', '.join(missing)}; {_hint(name)}"
            )
        return raw, roots
    return None, roots


def embedded_raw(name: str, raw_names: list[str]) -> Optional[Path]:
    """The ``raw`` folder of the copy of ``name`` shipped inside the package, after checking
    every file against ``SHA256SUMS``; ``None`` if the package ships no copy of it.

    Raises:
        DatasetCorruptError: a shipped file is missing or differs from its checksum.
    """
    import hashlib

    raw = EMBEDDED_ROOT / name / "raw"
    if not raw.is_dir():
        return None
    sums = {}
    for line in (EMBEDDED_ROOT / "SHA256SUMS").read_text().splitlines():
        digest, _, rel = line.strip().partition("  ")
        sums[rel] = digest
    for n in raw_names:
        path = raw / n
        want = sums.get(f"{name}/raw/{n}")
        got = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None
        if want is None or got != want:
            raise _corrupt(name, path, "missing" if got is None else
                           f"sha256 {got[:12]}... differs from the shipped checksum "
                           f"{str(want)[:12]}...; reinstall pyg_course")
    return raw


def _corrupt(name: str, path: Path, why: str) -> DatasetCorruptError:
    return DatasetCorruptError(f"dataset {name!r}: raw file {path} is unreadable or corrupt "
                               f"({why}); replace it with an intact copy")


def check_features(x: Optional[torch.Tensor], where: str) -> None:
    """Raise ``ValueError`` if ``x`` holds NaN or inf values (counted, with the first row)."""
    if x is None or not torch.is_floating_point(x):
        return
    if x.is_sparse or x.layout in (torch.sparse_csr, torch.sparse_csc, torch.sparse_bsr,
                                   torch.sparse_bsc):
        x = x.to_sparse_coo().coalesce()  # only the stored values can be NaN/inf
        bad_values = ~torch.isfinite(x.values())
        if bad_values.any():
            rows = x.indices()[0, bad_values].unique()
            raise ValueError(
                f"{where}: features contain {int(bad_values.sum())} NaN/inf values "
                f"in {rows.numel()} nodes (first: node {int(rows[0])})"
            )
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


def _same_file(a: Path, b: Path, chunk: int = 1 << 20) -> bool:
    if not b.is_file() or a.stat().st_size != b.stat().st_size:
        return False
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            block = fa.read(chunk)
            if block != fb.read(chunk):
                return False
            if not block:
                return True


def _planetoid_error(name: str, source: Path, raw: Path, exc: Exception) -> DatasetCorruptError:
    """The error for raw files PyG could not process: names the first file that does not parse
    on its own, else the folder (files that parse but do not fit together)."""
    from torch_geometric.io.planetoid import read_file

    for part in _PLANETOID_RAW:
        try:
            read_file(str(raw), name.lower(), part)
        except Exception as file_exc:
            return _corrupt(name, source / f"ind.{name.lower()}.{part}", describe_error(file_exc))
    return DatasetCorruptError(f"dataset {name!r}: the raw files in {source} are corrupt: each "
                               f"parses, but they do not fit together ({describe_error(exc)})")


def _load_planetoid(name: str, root: Optional[str | os.PathLike]) -> Data:
    from torch_geometric.datasets import Planetoid

    raw_names = [f"ind.{name.lower()}.{part}" for part in _PLANETOID_RAW]
    source, roots = _find_raw(name, root, raw_names)

    cache = cache_root() / "planetoid"
    target = cache / name
    processed = (target / "processed" / "data.pt").is_file()
    # The cache keeps a copy of the raw files it was built from: it is used only if that copy
    # equals the source byte for byte (with no source, the cache is what there is).
    if processed and (source is None or all(_same_file(source / n, target / "raw" / n)
                                            for n in raw_names)):
        return Planetoid(str(cache), name)[0]
    if source is None and root is None:
        source = embedded_raw(name, raw_names)  # None (PubMed): PyG downloads it

    # Process in a private temporary folder, then move it into place, so that concurrent
    # processes never read a half-written file, a failure leaves the cache as it was, and the
    # source folder is never written to.
    cache.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=cache))
    try:
        if source is not None:
            (tmp / name / "raw").mkdir(parents=True)
            for n in raw_names:
                shutil.copyfile(source / n, tmp / name / "raw" / n)
        try:
            data = Planetoid(str(tmp), name)[0]
        except Exception as exc:
            if source is not None:
                raise _planetoid_error(name, source, tmp / name / "raw", exc) from exc
            # no files and no network: say where we looked
            raise _not_found(name, roots, "Planetoid raw files ind." + name.lower() + ".*",
                             describe_error(exc)) from None
        try:  # a stale copy is moved aside first: renames are atomic, rmtree is not
            if target.exists():
                os.replace(target, tmp / "stale")
            os.replace(tmp / name, target)
        except OSError:  # another process is replacing it too; the data we return is ours
            pass
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return data


def _load_blogcatalog(root: Optional[str | os.PathLike]) -> Data:
    import scipy.io
    import scipy.sparse

    raw, roots = _find_raw("BlogCatalog", root, ["blogcatalog.mat"])
    if raw is None and root is None:
        raw = embedded_raw("BlogCatalog", ["blogcatalog.mat"])
    if raw is None:
        raise _not_found("BlogCatalog", roots, "blogcatalog.mat")
    path = raw / "blogcatalog.mat"
    try:
        mat = scipy.io.loadmat(str(path))
    except Exception as exc:
        raise _corrupt("BlogCatalog", path, describe_error(exc)) from exc
    missing = [k for k in ("network", "group") if k not in mat]
    if missing:
        found = sorted(k for k in mat if not k.startswith("__"))
        raise _corrupt("BlogCatalog", path, f"no variable {' or '.join(map(repr, missing))}; "
                                            f"found {found}")
    try:
        adj = scipy.sparse.coo_matrix(mat["network"])
        group = scipy.sparse.csr_matrix(mat["group"])
    except Exception as exc:
        raise _corrupt("BlogCatalog", path, describe_error(exc)) from exc
    if adj.shape[0] != adj.shape[1] or group.shape[0] != adj.shape[0]:
        raise _corrupt("BlogCatalog", path, f"'network' is {adj.shape[0]}x{adj.shape[1]} and "
                                            f"'group' {group.shape[0]}x{group.shape[1]}, expected "
                                            "N x N and N x classes")
    edge_index = torch.from_numpy(np.vstack([adj.row, adj.col]).astype(np.int64))
    num_nodes = adj.shape[0]
    edge_index = coalesce(edge_index, num_nodes=num_nodes)
    y = torch.from_numpy(group.toarray()).long()
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

    Each dataset lives in ``<folder>/<Name>/raw/`` in PyG's raw layout. With ``root`` given,
    only ``root`` is read and it must hold every raw file. Without it, the folders searched are
    ``$PYG_COURSE_DATA`` (with a warning, and skipped, if it is not a folder) and then
    ``<cache folder>/data``; the first that has a ``<Name>/`` subfolder is used and must be
    complete. If none has one, the dataset processed earlier in the cache folder is used, else
    the copy shipped inside the package (Cora, CiteSeer, BlogCatalog; each file checked against
    its SHA-256 checksum), else it is downloaded (PubMed, where the network is reachable). The
    source folder is only
    read: processed files are written under the cache folder (:func:`cache_root`), together with
    a copy of the raw files they come from, and are rebuilt whenever the source's raw files
    differ from that copy.

    Args:
        name (str): dataset name, see above.
        root (str or os.PathLike, optional): folder holding ``<Name>/raw/``. Ignored by
            ``KarateClub`` (built into PyG) and ``CSBM`` (synthetic), which read no files, so a
            script may pass its ``--root`` whatever the dataset. (default: ``None``)
        **kwargs: options of :func:`~pyg_course.datasets.csbm`; ``CSBM`` only.

    Raises:
        ValueError: unknown name (the message lists the known ones), or NaN/inf features.
        DatasetNotFoundError: ``root`` lacks raw files (the message names them and the folder),
            or no files in any searched folder and no download possible.
        DatasetCorruptError: a raw file is there but cannot be read (the message names it).
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
