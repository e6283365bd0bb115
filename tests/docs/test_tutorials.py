"""The tutorials run where the docs build cannot run them. With the 'dev' extra installed,
``test_docs_build.py`` builds the site, which executes every script in
``docs/tutorials_source/`` (sphinx-gallery), so they are not run a second time here. Without
Sphinx and sphinx-gallery each script runs on its own, as a reader runs a downloaded ``.py``:
it exits 0 (its assertions check what its page claims) and prints what the page shows."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

TUTORIALS = sorted((Path(__file__).resolve().parents[2] / "docs" / "tutorials_source")
                   .glob("*.py"))
DOCS_BUILD_RUNS_THEM = all(importlib.util.find_spec(m) is not None
                           for m in ["sphinx", "sphinx_gallery", "sphinx-mathjax-offline"])


@pytest.mark.skipif(DOCS_BUILD_RUNS_THEM, reason="the docs build (test_docs_build.py) runs them")
@pytest.mark.parametrize("script", TUTORIALS, ids=[s.stem for s in TUTORIALS])
def test_tutorial_script_runs(script, tmp_path):
    env = dict(os.environ, MPLBACKEND="Agg", OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, (
        f"{script.name} exited with {proc.returncode}\n--- stdout\n{proc.stdout[-4000:]}"
        f"\n--- stderr\n{proc.stderr[-4000:]}")
    assert proc.stdout.strip(), f"{script.name} printed nothing"
