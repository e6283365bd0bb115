"""README's code examples run as printed (offline, on the shipped Cora, compiled: a GCN that
beats a trivial classifier by far; mini-batches drawn by our sampler); its quick-start test
command is what CI runs."""

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text()


def test_code_example_runs_and_learns(tmp_path):
    code = re.search(r"```python\n(.*?)```", README, re.S).group(1)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    accuracy = float(re.search(r"test accuracy (\d\.\d+)", proc.stdout).group(1))
    assert accuracy > 0.70, proc.stdout  # the majority class of Cora's test set is 32%


def test_minibatch_example_runs():
    code = re.findall(r"```python\n(.*?)```", README, re.S)[1]
    assert "NeighborSampler" in code
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=600, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    batches, loss = re.search(r"(\d+) batches, last loss (\d+\.\d+)", proc.stdout).groups()
    assert int(batches) == 2 and 0 < float(loss) < 10, proc.stdout  # 1,600 training nodes


def test_quick_start_is_what_ci_runs():
    block = re.search(r"## Quick start\n.*?```bash\n(.*?)```", README, re.S).group(1)
    first, second = block.strip().splitlines()
    assert first.startswith("bash scripts/setup.sh && .venv/bin/python scripts/train_gcn.py")
    assert second == "bash scripts/test.sh"
    assert "bash scripts/test.sh" in (REPO / ".ci" / "run").read_text()
