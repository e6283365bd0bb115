#!/usr/bin/env bash
# Create .venv and install pyg_course in the only order that works:
#   1. torch (pinned; a CPU build lies on the dev machines' disk),
#   2. torch_scatter + torch_sparse with --no-build-isolation (they compile against
#      the torch installed in step 1; PyPI ships them as source only),
#   3. this package, editable, with its dev extra.
# Idempotent: a second run with nothing changed returns in about a second.
#
# Environment:
#   TORCH_SPEC        what to install for torch (default: torch==2.13.0); e.g. a CUDA build:
#                     TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu124"
#   VENV              where the virtual environment lives (default: .venv in the repo)
#   PYTHON            interpreter that creates the venv (default: python3)
#   PIP_FIND_LINKS    folders with prebuilt wheels (e.g. ../shared/wheels), honoured by pip
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${VENV:-$repo/.venv}"
python="${PYTHON:-python3}"
torch_spec="${TORCH_SPEC:-torch==2.13.0}"

# Anything that changes what gets installed changes the stamp.
stamp_key="$(cat "$repo/pyproject.toml" "$repo/scripts/setup.sh" | sha256sum | cut -c1-16)-$(echo "$torch_spec" | sha256sum | cut -c1-8)"
stamp="$venv/.pyg_course_setup"

if [[ -f "$stamp" && "$(cat "$stamp")" == "$stamp_key" ]] \
   && "$venv/bin/python" -c "import torch, torch_scatter, torch_sparse, torch_geometric, pyg_course" 2>/dev/null; then
  echo "setup: $venv is up to date"
  exit 0
fi

if [[ ! -x "$venv/bin/python" ]]; then
  echo "setup: creating $venv"
  "$python" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip install --disable-pip-version-check)

echo "setup: [1/3] $torch_spec"
# shellcheck disable=SC2086  # TORCH_SPEC may carry pip options such as --index-url
"${pip[@]}" -q $torch_spec
"${pip[@]}" -q "setuptools>=61" wheel numpy

echo "setup: [2/3] torch_scatter, torch_sparse (builds from source in ~30 min unless PIP_FIND_LINKS has wheels)"
if ! "$venv/bin/python" -c "import torch_scatter, torch_sparse" 2>/dev/null; then
  "${pip[@]}" -q --no-build-isolation "torch_scatter==2.1.2" "torch_sparse==0.6.18"
fi

echo "setup: [3/3] pyg_course (editable) with the dev extra"
"${pip[@]}" -q --no-build-isolation -e "$repo[dev]"

"$venv/bin/python" -c "import torch, torch_scatter, torch_sparse, torch_geometric, pyg_course; print('setup: torch', torch.__version__, '| torch_geometric', torch_geometric.__version__, '| pyg_course', pyg_course.__version__)"
echo "$stamp_key" > "$stamp"
