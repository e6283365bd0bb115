"""The Sphinx site builds with warnings as errors (what ``scripts/build_docs.sh`` runs), so a
docstring that breaks the API pages or a tutorial that includes a missing file fails CI."""

import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_docs_build_without_warnings(tmp_path):
    pytest.importorskip("sphinx", reason="sphinx is in the 'dev' extra: pip install -e .[dev]")
    out = tmp_path / "html"
    proc = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         "-d", str(tmp_path / "doctrees"), str(DOCS), str(out)],
        capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, (
        f"sphinx-build failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}")
    for page in ["index.html", "api/nn.html", "tutorials/message_passing.html"]:
        assert (out / page).is_file(), f"{page} was not built"
    api = (out / "api" / "nn.html").read_text()
    assert "GCNConv" in api and "class=\"math" in api, "the layer docstrings' math is missing"
    for page in sorted((out / "api").glob("*.html")):
        text = page.read_text()
        assert '<span class="pre">None.' not in text, (
            f"{page.name} links a member to no module ('None.<name>'): add its module to "
            f"API_MODULES in docs/conf.py or document it with pyg-course-api")
