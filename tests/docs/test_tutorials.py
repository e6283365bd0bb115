"""Every tutorial script under docs/tutorials/code/ runs to the end, so the code shown on the
documentation site is code that works: each script asserts the claims its page makes."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
SCRIPTS = sorted((DOCS / "tutorials" / "code").glob("*.py"))


def test_there_are_tutorial_scripts():
    assert len(SCRIPTS) >= 2, f"no tutorial scripts found in {DOCS / 'tutorials' / 'code'}"


def test_every_script_is_shown_on_a_page():
    pages = "\n".join(p.read_text() for p in (DOCS / "tutorials").glob("*.rst"))
    missing = [s.name for s in SCRIPTS if f"code/{s.name}" not in pages]
    assert not missing, f"tutorial scripts no page includes: {missing}"


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.stem for s in SCRIPTS])
def test_tutorial_script_runs(script, tmp_path):
    env = dict(os.environ, MPLBACKEND="Agg", OMP_NUM_THREADS="1",
               TUTORIAL_OUT=str(tmp_path))
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, (
        f"{script.name} exited with {proc.returncode}\n--- stdout\n{proc.stdout[-4000:]}"
        f"\n--- stderr\n{proc.stderr[-4000:]}")
    assert proc.stdout.strip(), f"{script.name} printed nothing"
