"""Imports inside the package run one way, down the floors: train -> nn -> sampling / metrics /
transforms / datasets -> utils. A module imports only from its own floor or a lower one, the
module-level imports form no cycle, and no function imports from pyg_course (an import placed
inside a function to dodge a loop means the helper lives in the wrong room). Nothing is exempt.

The whole package is read with ``ast``, not imported, so a violation is found even where the
import would happen to work."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, Set

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "pyg_course"

#: Floor of each subpackage; a module may import from its floor and the floors below.
FLOORS = {"utils": 0, "sampling": 1, "metrics": 1, "transforms": 1, "datasets": 1, "nn": 2,
          "train": 3}
#: ``pyg_course/__init__.py`` itself sits above every floor: nothing inside imports it.
ROOT_FLOOR = max(FLOORS.values()) + 1


class Import(NamedTuple):
    module: str  # the importing module
    target: str  # the pyg_course module (or package) imported
    line: int
    in_function: bool


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve(module: str, is_package: bool, level: int, name: Optional[str]) -> str:
    """The absolute name of ``from <level dots><name> import ...`` inside ``module``."""
    if level == 0:
        return name or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[:len(base) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def _dynamic_target(call: ast.Call) -> Optional[str]:
    """``importlib.import_module("pyg_course...")`` / ``__import__("pyg_course...")``."""
    func = call.func
    named = (isinstance(func, ast.Name) and func.id in ("__import__", "import_module")) or (
        isinstance(func, ast.Attribute) and func.attr == "import_module")
    if named and call.args and isinstance(call.args[0], ast.Constant) \
            and isinstance(call.args[0].value, str):
        return call.args[0].value
    return None


def imports_of(path: Path, root: Path) -> List[Import]:
    """Every import of a ``root`` module in the file ``path``, with whether a function holds it."""
    module = module_name(path, root)
    is_package = path.name == "__init__.py"
    modules = {module_name(p, root) for p in root.rglob("*.py")}
    found: List[Import] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        targets: List[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(module, is_package, node.level, node.module)
            # ``from pkg import sub`` imports the module pkg.sub where there is one.
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                       for a in node.names]
        elif isinstance(node, ast.Call) and (target := _dynamic_target(node)):
            targets = [target]
        for target in targets:
            if target == root.name or target.startswith(root.name + "."):
                found.append(Import(module, target, node.lineno, in_function))
        inner = in_function or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                 ast.Lambda))
        for child in ast.iter_child_nodes(node):
            visit(child, inner)

    visit(ast.parse(path.read_text(), str(path)), False)
    return found


def floor_of(module: str, floors: Dict[str, int], root_floor: int) -> Optional[int]:
    parts = module.split(".")
    return root_floor if len(parts) == 1 else floors.get(parts[1])


def violations(root: Path, floors: Dict[str, int], root_floor: int) -> List[str]:
    """Every import that goes up a floor or sits in a function, every module of no floor, and
    every cycle of module-level imports, as ``module:line: what`` lines."""
    out: List[str] = []
    graph: Dict[str, Set[str]] = {}
    for path in sorted(root.rglob("*.py")):
        module = module_name(path, root)
        own = floor_of(module, floors, root_floor)
        graph.setdefault(module, set())
        if own is None:
            out.append(f"{module}: in no floor (add its package to FLOORS)")
            continue
        for imp in imports_of(path, root):
            where = f"{module}:{imp.line}"
            if imp.in_function:
                out.append(f"{where}: imports {imp.target} inside a function")
            else:
                graph[module].add(imp.target)
            target = floor_of(imp.target, floors, root_floor)
            if target is None:
                out.append(f"{where}: imports {imp.target}, which is in no floor")
            elif target > own:
                out.append(f"{where}: imports {imp.target} from floor {target} (up from {own})")
    out += [f"import cycle: {' -> '.join(cycle)}" for cycle in cycles(graph)]
    return out


def cycles(graph: Dict[str, Set[str]]) -> List[List[str]]:
    """One cycle through each strongly connected component of more than one module (or of a
    module that imports itself)."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    found: List[List[str]] = []

    def strongconnect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph.get(v, ()):
                found.append(sorted(component) + [sorted(component)[0]])

    for v in sorted(graph):
        if v not in index:
            strongconnect(v)
    return found


def test_every_import_runs_down_the_floors():
    assert (PACKAGE / "__init__.py").is_file()
    found = violations(PACKAGE, FLOORS, ROOT_FLOOR)
    assert not found, "imports against the floors:\n" + "\n".join(found)


def test_every_subpackage_has_a_floor():
    subpackages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert subpackages == set(FLOORS), "give each subpackage of pyg_course a floor in FLOORS"
    assert not [p.name for p in PACKAGE.glob("*.py") if p.name != "__init__.py"], (
        "a module directly under pyg_course/ belongs to no floor: move it into a subpackage")


def _write(root: Path, files: Dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / "pkg" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "pkg"


@pytest.mark.parametrize("files, expected", [
    ({"low/a.py": "from pkg.high.b import f\n", "high/b.py": "def f(): pass\n"},
     "pkg.low.a:1: imports pkg.high.b from floor 1 (up from 0)"),
    ({"low/a.py": "def g():\n    from pkg.low import b\n", "low/b.py": ""},
     "pkg.low.a:2: imports pkg.low.b inside a function"),
    ({"low/a.py": "import importlib\ndef g():\n    importlib.import_module('pkg.high.b')\n",
      "high/b.py": ""},
     "pkg.low.a:3: imports pkg.high.b inside a function"),
    ({"high/a.py": "from . import b\n", "high/b.py": "from .a import x\n"},
     "import cycle: pkg.high.a -> pkg.high.b -> pkg.high.a"),
    ({"other/a.py": ""}, "pkg.other.a: in no floor (add its package to FLOORS)"),
    ({"low/a.py": "from pkg import x\n"}, "pkg.low.a:1: imports pkg from floor 2 (up from 0)"),
])
def test_the_check_finds_each_kind_of_violation(tmp_path, files, expected):
    files = {"__init__.py": "", "low/__init__.py": "", "high/__init__.py": "",
             "other/__init__.py": "", **files}
    root = _write(tmp_path, files)
    found = violations(root, {"low": 0, "high": 1}, 2)
    assert expected in found, found


def test_the_check_allows_downward_and_same_package_imports(tmp_path):
    root = _write(tmp_path, {
        "__init__.py": "", "low/__init__.py": "from pkg.low.a import f\n",
        "low/a.py": "def f(): pass\n",
        "high/__init__.py": "", "high/b.py": "from pkg.low import f\nfrom pkg.low.a import f\n"})
    assert violations(root, {"low": 0, "high": 1}, 2) == []
