#!/usr/bin/env bash
# Build the documentation site into docs/_build/html; any Sphinx warning fails the build.
# The build runs every tutorial in docs/tutorials_source/ (sphinx-gallery, about a minute on
# a CPU) and writes their pages to docs/tutorials/ (generated, git-ignored); a tutorial that
# raises fails the build.
# Usage: bash scripts/build_docs.sh [extra sphinx-build options, e.g. -q]
set -euo pipefail
cd "$(dirname "$0")/.."
SPHINX_BUILD="${SPHINX_BUILD:-.venv/bin/sphinx-build}"
# -E: re-read every page, so that a warning of an unchanged page is reported again.
"$SPHINX_BUILD" -E -W --keep-going -b html "$@" docs docs/_build/html
