#!/usr/bin/env bash
# GPU check in one go (8 minutes at most): the GPU and torch's view of it, the CUDA tests and
# the neighbour-sampler tests on the GPU, the quick benchmark table with --device cuda, and the
# ogbn-products-scale benchmark at 1e5 and 1e6 nodes. Every step runs under `timeout`; a
# failing step does not stop the later ones, and the exit status is 1 if any step failed.
#
#   bash benchmarks/gpu_check.sh          # from anywhere; the venv of scripts/setup.sh is used
#
# Results go to $OUT when it is set, else to results/gpu_check: one <step>.log per step, the
# benchmark tables under run_all/ and bench_scale_<size>/, and summary.txt (each step's
# status).
set -euo pipefail
export PYTHONUNBUFFERED=1

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${OUT:-$repo/results/gpu_check}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
cd "$repo"
if [[ -x .venv/bin/python ]]; then
  python=.venv/bin/python
else
  python=python
fi
summary="$out/summary.txt"
: > "$summary"
failed=0

# step NAME SECONDS COMMAND...: run COMMAND under a time limit, its output both shown and kept
# in $out/NAME.log; record "NAME ok|failed (status)|timed out in S s" in the summary.
step() {
  local name="$1" limit="$2"
  shift 2
  echo
  echo "=== $name (limit ${limit} s): $*"
  local start status
  start=$(date +%s)
  set +e
  timeout --kill-after=10 "$limit" "$@" 2>&1 | tee "$out/$name.log"
  status=${PIPESTATUS[0]}
  set -e
  local took=$(( $(date +%s) - start ))
  local what="ok"
  if [[ $status -eq 124 || $status -eq 137 ]]; then
    what="timed out"
    failed=1
  elif [[ $status -ne 0 ]]; then
    what="failed (exit $status)"
    failed=1
  fi
  echo "$name: $what in ${took} s" | tee -a "$summary"
}

echo "=== GPU"
if command -v nvidia-smi > /dev/null; then
  nvidia-smi 2>&1 | tee "$out/nvidia-smi.log" || true
else
  echo "nvidia-smi not found" | tee "$out/nvidia-smi.log"
fi

echo
echo "=== torch"
"$python" - <<'EOF' 2>&1 | tee "$out/torch_cuda.log"
import sys

import torch
import torch_geometric

print("python", sys.version.split()[0], "| torch", torch.__version__, "| CUDA build",
      torch.version.cuda, "| cuDNN", torch.backends.cudnn.version(), "| torch_geometric",
      torch_geometric.__version__)
print("CUDA available:", torch.cuda.is_available(), "| devices:", torch.cuda.device_count())
for i in range(torch.cuda.device_count()):
    p = torch.cuda.get_device_properties(i)
    print(f"  cuda:{i} {p.name}, {p.total_memory / 2**30:.1f} GiB, compute capability "
          f"{p.major}.{p.minor}, {p.multi_processor_count} SMs")
if not torch.cuda.is_available():
    sys.exit("no CUDA device: the checks below would only skip")
x = torch.randn(1024, 1024, device="cuda")
print("matmul on cuda:0 ok:", bool(torch.isfinite(x @ x).all()))
EOF

step tests 120 "$python" -m pytest -q -p no:cacheprovider -rs \
  tests/test_cuda.py tests/sampling/test_neighbor.py

step run_all 180 "$python" benchmarks/run_all.py --device cuda --quick --timeout 40 \
  --out "$out/run_all"

# One size per call, so that the 1e5 results are written even if 1e6 runs out of time;
# 20 timed training batches per pipeline instead of a whole epoch.
if [[ -f benchmarks/bench_scale.py ]]; then
  for size in 1e5 1e6; do
    limit=60
    [[ $size == 1e6 ]] && limit=100
    step "bench_scale_$size" "$limit" "$python" benchmarks/bench_scale.py --device cuda \
      --sizes "$size" --max-batches 20 --no-progress --out "$out/bench_scale_$size"
  done
fi

echo
echo "=== summary ($summary)"
cat "$summary"
exit "$failed"
