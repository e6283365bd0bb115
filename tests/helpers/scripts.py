"""Import a file that is not part of a package (``scripts/*.py``, ``benchmarks/*.py``) as a
module, so that tests can call its ``main(argv)`` in-process, without an interpreter start-up."""

from __future__ import annotations

import importlib.util
import os
from types import ModuleType
from typing import Optional


def load_script(path: str | os.PathLike, name: Optional[str] = None) -> ModuleType:
    """Execute the Python file ``path`` as a fresh module named ``name`` (default: the file's
    stem) and return it; ``if __name__ == "__main__"`` blocks do not run."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"load_script: no such file {path!r}")
    name = name or os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
