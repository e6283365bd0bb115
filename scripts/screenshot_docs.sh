#!/usr/bin/env bash
# Screenshots of a built documentation site, to look at the typeset math, figures and code
# blocks without a browser: the index page and the GCN tutorial, as PNGs.
# Usage: bash scripts/screenshot_docs.sh OUT_DIR [SITE_DIR]    (SITE_DIR: docs/_build/html)
# Build the site first (bash scripts/build_docs.sh). Needs headless Chromium: on Debian,
# apt-get install -y chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 1 ]; then
    echo "usage: bash scripts/screenshot_docs.sh OUT_DIR [SITE_DIR]" >&2
    exit 2
fi
OUT="$1"
SITE="${2:-docs/_build/html}"
CHROMIUM="${CHROMIUM:-$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)}"
if [ -z "$CHROMIUM" ]; then
    echo "headless Chromium not found: install it (Debian: apt-get install -y chromium)" \
         "or set CHROMIUM=/path/to/chrome" >&2
    exit 1
fi
for page in index.html tutorials/gcn.html; do
    if [ ! -f "$SITE/$page" ]; then
        echo "$SITE/$page not found: build the site first (bash scripts/build_docs.sh)" >&2
        exit 1
    fi
done
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
SITE="$(cd "$SITE" && pwd)"

# shot PAGE NAME HEIGHT: one PNG, 1280 px wide; the virtual time budget lets MathJax typeset.
shot() {
    "$CHROMIUM" --headless --no-sandbox --disable-gpu --hide-scrollbars \
        --user-data-dir="$(mktemp -d)" --virtual-time-budget=15000 \
        --window-size="1280,$3" --screenshot="$OUT/$2.png" "file://$SITE/$1" \
        >/dev/null 2>&1
    [ -s "$OUT/$2.png" ] || { echo "no screenshot of $1" >&2; exit 1; }
    echo "$OUT/$2.png"
}
shot index.html index 1600
shot tutorials/gcn.html gcn_top 2400
shot tutorials/gcn.html gcn_full 9000
shot tutorials/gat.html gat_full 9000
