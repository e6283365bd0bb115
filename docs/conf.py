"""Sphinx configuration for the pyg_course documentation site.

Build with ``bash scripts/build_docs.sh`` (warnings are errors). The tutorials are
sphinx-gallery examples: the scripts in ``docs/tutorials_source/`` run during the build, and
their text, code, printed output and figures become the pages of ``docs/tutorials/``
(generated, not tracked), each downloadable as a ``.py`` script and a Jupyter notebook.
MathJax is served from the built site (``sphinx-mathjax-offline``), so math renders offline.
The API pages are written
with the ``pyg-course-api`` directive defined below, which documents every name in a module's
``__all__`` at build time, so a new export appears on the site without editing an ``.rst``.
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys

from docutils.parsers.rst import Directive, directives
from sphinx.pycode import ModuleAnalyzer

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)  # for gallery_reset, which sphinx-gallery imports by name

import pyg_course  # noqa: E402

project = "pyg_course"
author = "pyg_course contributors"
copyright = "2026, pyg_course contributors"
version = release = pyg_course.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "sphinx_gallery.gen_gallery",
    "sphinx-mathjax-offline",  # copies MathJax into _static/mathjax: no CDN
]

# sphinx-mathjax-offline points at MathJax's CommonHTML build, whose web fonts it does not
# ship; ``setup`` below switches to the SVG build, which draws every glyph itself.
MATHJAX_PATH = "mathjax/tex-svg.js"

sphinx_gallery_conf = {
    "examples_dirs": "tutorials_source",
    "gallery_dirs": "tutorials",
    "filename_pattern": r"\.py$",          # run every tutorial, not only plot_*.py
    # The titles are numbered ("1. Message passing ..."): that is the reading order.
    "within_subsection_order": "ExampleTitleSortKey",
    # Each script starts as when run alone: float32, gradients on, no figures open (and on one
    # thread, see gallery_reset.py).
    "reset_modules": ("matplotlib", "gallery_reset.reset_torch"),
    # Run every tutorial on every build, not only those whose script changed: a change in the
    # package that breaks a tutorial must fail the build.
    "run_stale_examples": True,
    "download_all_examples": False,
    # The timing table page loads its scripts from a CDN; the site stays self-contained.
    "write_computation_times": False,
}

exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "results/*.csv"]
templates_path: list = []
html_theme = "alabaster"
html_static_path: list = []
html_theme_options = {"description": "Graph representation learning as tested PyG layers"}

# Docstrings are Google style with a "Shapes:" section (as in PyG).
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_custom_sections = ["Shapes"]
napoleon_use_rtype = False

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented"
autodoc_typehints_format = "short"
autodoc_default_options = {"show-inheritance": False}
autosummary_generate = False
# torch/PyG base classes are documented elsewhere: don't pull their methods into our pages.
autodoc_inherit_docstrings = False

# The modules whose public API the site documents, in the order that decides where an object
# exported by several of them (``DeepWalk`` is in ``pyg_course.nn`` and ``pyg_course.nn.models``)
# is documented: the first module listing it owns it, the others link to it.
API_MODULES = [
    "pyg_course.nn.models",
    "pyg_course.nn",
    "pyg_course.nn.conv",
    "pyg_course.datasets",
    "pyg_course.train",
    "pyg_course.sampling",
    "pyg_course.metrics",
    "pyg_course.transforms",
    "pyg_course.nn.models.deepwalk",
    "pyg_course.train.cli",
    "pyg_course.train.argtypes",
    "pyg_course.train.unsupervised",
    "pyg_course.train.distributed",
    "pyg_course.train.experiment",
    "pyg_course.train.checkpoint",
    "pyg_course.train.baselines",
    "pyg_course.metrics.smoothing",
    "pyg_course.nn.conv.checks",
    "pyg_course.utils.checks",
    "pyg_course.utils.sparse",
    "pyg_course.utils.stats",
    "pyg_course.utils.errors",
]


def _public(modname: str) -> list[tuple[str, object]]:
    """The names in ``__all__``, or for a module without one, the public names it defines."""
    module = importlib.import_module(modname)
    names = getattr(module, "__all__", None)
    if names is None:
        names = [name for name, obj in vars(module).items() if not name.startswith("_")
                 and getattr(obj, "__module__", None) == modname
                 and (inspect.isclass(obj) or inspect.isfunction(obj))]
    return [(name, getattr(module, name)) for name in names
            if not inspect.ismodule(getattr(module, name))]


def _owner(obj: object) -> str | None:
    for modname in API_MODULES:
        try:
            members = _public(modname)
        except ImportError:
            continue
        if any(o is obj for _, o in members):
            return modname
    return None


def _attribute_doc(modname: str, name: str, obj: object) -> list[str]:
    """The ``#:`` comment above a module-level constant, found in the module that defines it
    (autodoc would show the docstring of its type, e.g. ``dict``'s)."""
    for mod in list(sys.modules.values()):
        mod_name = getattr(mod, "__name__", "")
        if mod_name.startswith(modname) and getattr(mod, name, None) is obj:
            docs = ModuleAnalyzer.for_module(mod_name).find_attr_docs()
            if ("", name) in docs:
                return [line for line in docs[("", name)] if line]
    return []


class PygCourseAPI(Directive):
    """``.. pyg-course-api:: pyg_course.nn`` → a summary table and the full entry of each
    public class / function / constant of the module (those another module owns are linked)."""

    required_arguments = 1
    has_content = False
    option_spec = {"exclude": directives.unchanged}

    def run(self):
        modname = self.arguments[0]
        exclude = set((self.options.get("exclude") or "").split())
        members = [(n, o) for n, o in _public(modname) if n not in exclude]
        ours = [(n, o) for n, o in members
                if getattr(o, "__module__", "pyg_course").startswith("pyg_course")]
        foreign = [(n, o) for n, o in members if (n, o) not in ours]
        # Classes first, then functions, then constants; alphabetical within each.
        # A member no listed module claims is documented here (linking it would point nowhere).
        own = sorted(((n, o) for n, o in ours if _owner(o) in (modname, None)),
                     key=lambda m: (0 if inspect.isclass(m[1]) else 1 if callable(m[1]) else 2,
                                    m[0].lower()))
        other = [(n, o) for n, o in ours if _owner(o) not in (modname, None)]

        lines = [f".. currentmodule:: {modname}", "", ".. autosummary::", "   :nosignatures:", ""]
        lines += [f"   {name}" for name, obj in own if inspect.isclass(obj) or callable(obj)]
        lines.append("")
        for name, obj in other:
            target = f"{_owner(obj)}.{name}"
            role = "class" if inspect.isclass(obj) else "func" if callable(obj) else "data"
            lines += [f"``{name}`` is documented as :{role}:`{target}`.", ""]
        if foreign:
            refs = ", ".join(f"``{n}`` (``{o.__module__}.{o.__qualname__}``)" for n, o in foreign)
            lines += [f"Re-exported unchanged from PyG: {refs}.", ""]
        for name, obj in own:
            if inspect.isclass(obj):
                lines.append(f".. autoclass:: {name}")
                if not issubclass(obj, Exception):
                    lines.append("   :members:")
                lines.append("")
            elif callable(obj):
                lines += [f".. autofunction:: {name}", ""]
            else:
                lines += [f".. py:data:: {name}", ""]
                lines += [f"   {line}" for line in _attribute_doc(modname, name, obj)] + [""]
        self.state_machine.insert_input(lines, f"<pyg-course-api {modname}>")
        return []


class PygCourseResults(Directive):
    """``.. pyg-course-results::`` → every ``docs/results/*.md`` (shown as Markdown source:
    the site has no Markdown parser) and every ``docs/results/*.png``, as the experiment
    scripts left them. With an argument (``.. pyg-course-results:: oversmoothing``) only the
    figures whose name starts with it, or a note if the experiment has not written them yet."""

    optional_arguments = 1
    has_content = False

    def run(self):
        prefix = self.arguments[0] if self.arguments else None
        folder = os.path.join(HERE, "results")
        files = sorted(os.listdir(folder)) if os.path.isdir(folder) else []
        figures = [f for f in files if f.endswith(".png") and f.startswith(prefix or "")]
        notes = [] if prefix else [f for f in files if f.endswith(".md")]
        # Paths in directives are relative to the page that holds this one.
        page_dir = os.path.dirname(self.state.document.current_source or HERE)
        rel = os.path.relpath(folder, page_dir).replace(os.sep, "/")
        lines: list[str] = []
        if not notes and not figures:
            what = f"``docs/results/{prefix}*.png``" if prefix else "any result"
            lines += [f"(The experiment has not written {what} yet.)", ""]
        for name in notes:
            title = f"``{name}``"
            lines += [title, "-" * len(title), "",
                      f".. literalinclude:: {rel}/{name}", "   :language: markdown", ""]
        if figures and not prefix:
            lines += ["Figures", "-------", ""]
        for name in figures:
            lines += [f".. figure:: {rel}/{name}", "   :width: 100%", "",
                      f"   ``docs/results/{name}``", ""]
        self.state_machine.insert_input(lines, "<pyg-course-results>")
        return []


def setup(app):
    # Runs after the extensions' own setup, so this overrides sphinx-mathjax-offline's choice.
    app.config.mathjax_path = MATHJAX_PATH
    app.add_directive("pyg-course-api", PygCourseAPI)
    app.add_directive("pyg-course-results", PygCourseResults)
    return {"parallel_read_safe": True}
