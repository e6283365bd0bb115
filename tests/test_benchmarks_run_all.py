"""benchmarks/run_all.py: the table and report it writes, one real benchmark end to end, and a
failing benchmark that becomes a row instead of stopping the run."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.scripts import load_script

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "run_all.py"


@pytest.fixture(scope="module")
def run_all():
    return load_script(SCRIPT)


def run(*args, out):
    return subprocess.run([sys.executable, str(SCRIPT), "--out", str(out), *args],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})


def test_row_ratio_and_missing_values(run_all):
    r = run_all.row("gcn", "Cora epoch", 0.002, "PyG", 0.008, 1.5, None)
    assert r["ratio"] == pytest.approx(0.25)
    assert run_all.row("x", "ours alone", 0.5)["ratio"] is None
    assert run_all.row("x", "failed: boom")["ours_s"] is None


def test_table_and_report_format(run_all, tmp_path):
    rows = [run_all.row("gcn", "Cora: epoch", 0.0061, "PyG GCNConv", 0.0760, 6.3, 33.9),
            run_all.row("gat", "50k | big", 1.5, "dense", None, 2048.0, None,
                        note="dense: needs 480 GiB"),
            run_all.row("sage", "failed: RuntimeError: boom\n  second line")]
    lines = run_all.table_lines(rows)
    assert lines[0] == ("| benchmark | case | ours | peer | peer time | ratio ours/peer | "
                        "peak mem ours | peak mem peer |")
    assert all(line.count("|") - line.count("\\|") == 9 for line in lines)
    cells = [c.strip() for c in lines[2].split(" | ")]
    assert cells[2:] == ["6.10 ms", "PyG GCNConv", "76.00 ms", "**0.080**", "6.3 MiB",
                         "33.9 MiB |"]
    assert "50k \\| big (dense: needs 480 GiB)" in lines[3]
    assert "1.50 s" in lines[3] and "2.00 GiB" in lines[3] and lines[3].count("—") == 3
    assert "failed: RuntimeError: boom second line" in lines[4] and lines[4].count("—") == 6
    assert len(lines) == 5 and not any("\n" in line for line in lines)

    machine = run_all.machine_info("cpu")
    assert machine["cores"] >= 1 and machine["torch"] and machine["gpu"] is None
    report = {"machine": machine, "command": "python benchmarks/run_all.py --quick",
              "quick": True, "rows": rows,
              "benchmarks": [{"name": "gcn", "command": "python benchmarks/bench_gcn.py",
                              "argv": [], "status": "ok", "seconds": 3.0}]}
    md = run_all.write_report(report, tmp_path / "out")
    text = md.read_text()
    assert text.startswith("# Benchmarks: ours / peer\n")
    assert f"Machine: {run_all.machine_line(machine)}" in text
    assert machine["cpu"] in text and f"torch {machine['torch']}" in text
    assert "Command: `python benchmarks/run_all.py --quick` (quick settings)" in text
    assert "\n".join(lines) in text
    assert json.loads((tmp_path / "out" / "benchmarks.json").read_text())["rows"] == rows


def test_gcn_end_to_end(cora, tmp_path):
    proc = run("--only", "gcn", "--quick", "--args", "gcn=--epochs 6", out=tmp_path)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    report = json.loads((tmp_path / "benchmarks.json").read_text())
    assert report["quick"] and report["machine"]["device"] == "cpu"
    assert "--only gcn --quick" in report["command"]
    assert [b["name"] for b in report["benchmarks"]] == ["gcn"]
    assert report["benchmarks"][0]["argv"][-2:] == ["--epochs", "6"]
    (r,) = report["rows"]
    assert r["benchmark"] == "gcn" and r["case"].startswith("Cora")
    for key in ("ours_s", "peer_s"):
        assert math.isfinite(r[key]) and r[key] > 0
    assert r["ratio"] == pytest.approx(r["ours_s"] / r["peer_s"])
    md = (tmp_path / "BENCHMARKS.md").read_text()
    assert "| gcn | Cora" in md and "| gcn | Cora" in proc.stdout
    assert "ms/epoch" in (tmp_path / "gcn.log").read_text()  # the benchmark's own output


def test_a_failing_benchmark_becomes_a_row(tmp_path):
    proc = run("--only", "gcn", "--args", "gcn=--datasets Coraa --epochs 3", out=tmp_path)
    assert proc.returncode == 1
    (r,) = json.loads((tmp_path / "benchmarks.json").read_text())["rows"]
    assert r["case"].startswith("failed: ") and "Coraa" in r["case"]
    assert r["ours_s"] is None and r["ratio"] is None
    assert "failed: " in (tmp_path / "BENCHMARKS.md").read_text()


def test_bad_arguments_are_clear_errors(tmp_path):
    proc = run("--only", "nope", out=tmp_path)
    assert proc.returncode != 0 and "invalid choice: 'nope'" in proc.stderr
    proc = run("--args", "gcn", out=tmp_path)
    assert proc.returncode != 0 and "--args expects NAME='ARGS'" in proc.stderr


def test_products_scale_defaults_stay_bounded(run_all):
    # Without --quick every benchmark keeps its own defaults, except the products-scale one,
    # whose default (whole epochs up to 2.45M nodes) would run for hours on a CPU.
    scale = run_all.BENCHMARKS["scale"]
    argv = run_all.bench_argv(scale, quick=False, device="cpu", extra=[])
    assert argv[argv.index("--max-batches") + 1] == "20"
    assert run_all.bench_argv(scale, quick=True, device="cpu", extra=[])[0] == "--quick"
    assert run_all.bench_argv(run_all.BENCHMARKS["gcn"], False, "cpu", []) == ["--device", "cpu"]
