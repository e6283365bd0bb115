"""The Sphinx site builds with warnings as errors (what ``scripts/build_docs.sh`` runs), so a
docstring that breaks the API pages or a tutorial that fails fails CI. The build executes
every tutorial in ``docs/tutorials_source/`` (sphinx-gallery): a script that raises, including
a failed assertion about what its page claims, fails the build."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
TUTORIALS = sorted((DOCS / "tutorials_source").glob("*.py"))


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    for module in ["sphinx", "sphinx_gallery", "sphinx-mathjax-offline"]:
        pytest.importorskip(module, reason=f"{module} is in the 'dev' extra: pip install -e .[dev]")
    tmp = tmp_path_factory.mktemp("docs")
    out = tmp / "html"
    proc = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         "-d", str(tmp / "doctrees"), str(DOCS), str(out)],
        capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, (
        f"sphinx-build failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}")
    return out


def test_docs_build_without_warnings(site):
    for page in ["index.html", "api/nn.html", "tutorials/index.html"]:
        assert (site / page).is_file(), f"{page} was not built"
    api = (site / "api" / "nn.html").read_text()
    assert "GCNConv" in api and "class=\"math" in api, "the layer docstrings' math is missing"
    for page in sorted((site / "api").glob("*.html")):
        text = page.read_text()
        assert '<span class="pre">None.' not in text, (
            f"{page.name} links a member to no module ('None.<name>'): add its module to "
            f"API_MODULES in docs/conf.py or document it with pyg-course-api")


def test_there_are_tutorials():
    assert len(TUTORIALS) >= 6, f"tutorial scripts missing from {DOCS / 'tutorials_source'}"


@pytest.mark.parametrize("script", TUTORIALS, ids=[s.stem for s in TUTORIALS])
def test_tutorial_page_shows_output_and_downloads(site, script):
    page = site / "tutorials" / f"{script.stem}.html"
    assert page.is_file(), f"{script.name} has no page"
    html = page.read_text()
    # What the script printed, under the code that printed it.
    outputs = re.findall(r'class="[^"]*sphx-glr-script-out[^"]*".*?<pre>(.*?)</pre>', html, re.S)
    assert any(re.sub(r"<[^>]*>", "", o).strip() for o in outputs), (
        f"{page.name} shows no output of {script.name}")
    assert 'class="math' in html, f"{page.name} has no math"
    for ext in [".ipynb", ".py"]:
        links = re.findall(rf'href="([^"]*/{re.escape(script.stem)}{re.escape(ext)})"', html)
        assert links, f"{page.name} has no {ext} download link"
        assert (page.parent / links[0]).resolve().is_file(), f"{links[0]} is not in the site"


def test_tutorial_figures_are_on_the_page(site):
    html = (site / "tutorials" / "gat.html").read_text()
    images = re.findall(r'<img src="([^"]*sphx_glr_gat_\d+\.png)"', html)
    assert images, "the GAT tutorial's attention figure is not on its page"
    assert all((site / "tutorials" / src).resolve().is_file() for src in images)


def test_no_asset_is_loaded_from_the_network(site):
    """MathJax and every other script, style and image come with the site, so its pages
    (and their math) render offline."""
    assert (site / "_static" / "mathjax" / "tex-svg.js").is_file(), "MathJax is not bundled"
    for page in sorted(site.rglob("*.html")):
        text = page.read_text()
        remote = re.findall(r'<(?:script|link|img)\b[^>]*(?:src|href)="((?:https?:)?//[^"]*)"',
                            text)
        assert not remote, f"{page.relative_to(site)} loads {remote} from the network"
        mathjax = re.findall(r'<script[^>]*src="([^"]*mathjax[^"]*)"', text)
        for src in mathjax:
            local = (page.parent / src.split("?")[0]).resolve()
            assert local.is_file(), f"{page.relative_to(site)} loads missing {src}"
