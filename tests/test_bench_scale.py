"""benchmarks/bench_scale.py --quick: both pipelines at two sizes, every measure positive and
finite, the tables, the CSV, the plot and the rows for run_all.py."""

import csv
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.scripts import load_script

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "bench_scale.py"
TIMES = ("setup_s", "sampling_s", "epoch_s", "inference_s")


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench_scale")
    proc = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--no-progress", "--out",
                           str(out)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    return proc, out


@pytest.fixture(scope="module")
def bench(monkeypatch_module):
    monkeypatch_module.syspath_prepend(str(SCRIPT.parent))  # for its `from run_all import`
    return load_script(SCRIPT)


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


def test_quick_run_measures_both_pipelines(quick):
    proc, out = quick
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    with open(out / "scale.csv") as f:
        records = list(csv.DictReader(f))
    assert [(int(r["nodes"]), r["pipeline"]) for r in records] == [
        (2000, "ours"), (2000, "pyg"), (10000, "ours"), (10000, "pyg")]
    for r in records:
        assert not r["failed"], r
        assert int(r["edges"]) == 2 * int(int(r["nodes"]) * 50.5 / 2)
        for key in (*TIMES, "peak_mb", "rss_peak_mb", "graph_mb"):
            assert math.isfinite(float(r[key])) and float(r[key]) > 0, (key, r)
        assert float(r["peak_mb"]) > float(r["graph_mb"])  # the graph is held while measured
        assert 0 <= float(r["val_acc"]) <= 1 and math.isfinite(float(r["loss"]))
        assert 1 <= int(r["epoch_batches"]) <= 3
        # our sampler's per-hop counts reach our model; PyG's sampler gives none
        assert r["trimmed"] == ("True" if r["pipeline"] == "ours" else "False")
        assert r["sampler"] == {"ours": "pyg_course.sampling.neighbor.NeighborSampler",
                                "pyg": "torch_geometric.sampler.neighbor_sampler."
                                       "NeighborSampler"}[r["pipeline"]]
    report = json.loads((out / "scale.json").read_text())
    assert report["machine"]["cores"] >= 1 and "--quick" in report["command"]
    assert (out / "scale.png").read_bytes()[:4] == b"\x89PNG"


def test_quick_run_prints_tables_and_curves(quick):
    proc, _ = quick
    text = proc.stdout
    for n in ("2,000", "10,000"):
        assert f"\n{n} nodes, {2 * int(int(n.replace(',', '')) * 50.5 / 2):,} directed edges" \
            in text
    for label in ("sampler setup", "sampling alone (one epoch)", "training epoch",
                  "layer-wise inference", "peak memory"):
        assert text.count(label) == 3, label  # two size tables and the curves
    assert "ours/PyG" in text and "curves over sizes" in text
    assert text.count("growth k: ours ") == 5
    assert "ran untrimmed" not in text


def test_rows_for_run_all(quick, bench):
    _, out = quick
    results = {}
    for r in json.loads((out / "scale.json").read_text())["results"]:
        results.setdefault(r["nodes"], {})[r["pipeline"]] = r
    rows = bench.result_rows(results)
    assert len(rows) == 2 * len(bench.MEASURES)
    times = [r for r in rows if r["ours_s"] is not None]
    assert len(times) == 2 * 4
    for r in times:
        assert r["benchmark"] == "scale" and r["ratio"] == pytest.approx(r["ours_s"] / r["peer_s"])
    assert rows[0]["case"] == "2,000 nodes / 101,000 edges: sampler setup (both loaders)"
    memory = [r for r in rows if "peak memory" in r["case"]]
    assert len(memory) == 2 and all(r["ours_mem_mb"] > 0 and r["peer_mem_mb"] > 0
                                    for r in memory)


def test_growth_exponent(bench):
    assert bench.growth_exponent([(10, 2.0), (100, 20.0), (1000, 200.0)]) == pytest.approx(1.0)
    assert bench.growth_exponent([(10, 1.0), (100, 100.0)]) == pytest.approx(2.0)
    assert bench.growth_exponent([(10, 1.0), (100, None)]) is None


def test_growth_compares_whole_epochs(bench, capsys):
    # 1 of 1 batches timed at 10 nodes, 2 of 20 at 100 nodes: 10 s per epoch grows to 100 s
    small = {"batches": 1, "epoch_batches": 1, "epoch_s": 10.0, "peak_mb": 100.0}
    large = {"batches": 20, "epoch_batches": 2, "epoch_s": 10.0, "peak_mb": 100.0}
    assert bench.whole_epoch(large, "epoch_s") == pytest.approx(100.0)
    assert bench.whole_epoch(large, "peak_mb") == 100.0  # not a per-batch time
    bench.print_curves({10: {"ours": small, "pyg": small}, 100: {"ours": large, "pyg": large}})
    text = capsys.readouterr().out
    assert "growth k: ours 1.00, pyg 1.00" in text  # training epoch
    assert "growth k: ours 0.00, pyg 0.00" in text  # peak memory
