#!/usr/bin/env python
"""Run every benchmark and write one table of ratios ours / peer, with time, peak memory and
the machine it ran on.

    OMP_NUM_THREADS=1 python benchmarks/run_all.py --quick          # a few minutes on 2 cores
    python benchmarks/run_all.py                                    # the benchmarks' defaults
    python benchmarks/run_all.py --device cuda --only gcn sage gat  # the same table on a GPU

Each benchmark (``bench_<name>.py``, see ``BENCHMARKS``) runs in its own subprocess through its
``run(argv)`` function, so that one crash does not stop the rest: a benchmark that fails becomes
a row ``failed: <its last error line>`` and the exit status is 1. ``--quick`` gives every
benchmark small settings (Cora or a small synthetic graph, few repeats); without it each uses its
own defaults, except the products-scale benchmark, which measures 20 mini-batches per graph size
(a whole epoch at 2.45M nodes takes hours on a CPU). ``--device cuda`` is passed to the
benchmarks that take a device; the samplers and DeepWalk stay on the CPU and say so in their
rows.

Writes ``<out>/BENCHMARKS.md`` (machine, exact command, the table, each benchmark's settings),
``<out>/benchmarks.json`` (the same as data) and ``<out>/<name>.log`` (each benchmark's own
output), and prints the table. Peak memory is the extra memory one measured step adds: the
resident-set high-water mark above the resident size just before it on the CPU (the
benchmarks' own measurement where they have one), ``torch.cuda.max_memory_allocated`` above
the allocated memory just before it on CUDA; "—" where it is not measured.

The benchmark modules import :func:`row` and :func:`peak_memory_mb` from here.
"""

from __future__ import annotations

import argparse
import ctypes
import datetime
import gc
import importlib
import json
import math
import os
import platform
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

HERE = Path(__file__).resolve().parent


class Benchmark(NamedTuple):
    """How run_all calls one ``bench_<name>.py``."""

    name: str
    what: str
    quick: tuple = ()  # arguments of the quick settings
    full: tuple = ()  # arguments of the default (not quick) settings
    device_option: bool = True  # takes --device; otherwise it runs on the CPU only


BENCHMARKS = {b.name: b for b in [
    Benchmark("gcn", "GCN training epoch vs PyG GCNConv",
              quick=("--datasets", "Cora", "--epochs", "30")),
    Benchmark("sage", "GraphSAGE epoch and layer fwd+bwd vs PyG SAGEConv",
              quick=("--graphs", "cora", "synthetic", "--nodes", "20000", "--edges", "200000",
                     "--train-nodes", "1024", "--repeats", "2")),
    Benchmark("gat", "GAT layer fwd+bwd vs PyG GATConv and the dense formulation",
              quick=("--graphs", "cora", "--repeats", "3")),
    Benchmark("compile", "GCN/GraphSAGE/GAT train step, eager and torch.compile, vs PyG",
              quick=("--graphs", "cora", "--repeats", "3")),
    Benchmark("unsup_sampling", "unsupervised-SAGE pair sampling vs a Python-set reference",
              quick=("--reps", "5", "--ref-reps", "1", "--big-nodes", "100000",
                     "--big-edges", "1000000", "--big-batches", "1"),
              device_option=False),
    Benchmark("deepwalk", "DeepWalk training vs gensim skip-gram",
              quick=("--walks-per-node", "4", "--walk-length", "40", "--window-size", "5",
                     "--emb-dim", "64", "--repeats", "1", "--threads", "1"),
              device_option=False),
    Benchmark("deepwalk_scale", "DeepWalk epoch on a random graph (1M nodes by default; no peer)",
              quick=("--nodes", "20000", "--edges", "200000", "--batch-size", "256")),
    Benchmark("scale", "neighbour-sampled GraphSAGE at ogbn-products scale (sampling, epoch, "
                       "inference, memory) vs PyG's pipeline",
              quick=("--quick", "--no-progress"),
              # 20 batches per size: a whole epoch at 2.45M nodes takes hours on a CPU.
              full=("--max-batches", "20", "--no-progress")),
]}

COLUMNS = ["benchmark", "case", "ours", "peer", "peer time", "ratio ours/peer",
           "peak mem ours", "peak mem peer"]


# ---------------------------------------------------------------------------------------------
# Helpers for the benchmark modules.

def row(benchmark: str, case: str, ours_s=None, peer=None, peer_s=None, ours_mem_mb=None,
        peer_mem_mb=None, note: str = "") -> dict:
    """One table row; ``ratio`` is ``ours_s / peer_s`` when both times exist."""
    ratio = ours_s / peer_s if ours_s is not None and peer_s else None
    return {"benchmark": benchmark, "case": case, "ours_s": ours_s, "peer": peer,
            "peer_s": peer_s, "ratio": ratio, "ours_mem_mb": ours_mem_mb,
            "peer_mem_mb": peer_mem_mb, "note": note}


def _proc_status_kb(key: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def rss_mb(key: str = "VmHWM"):
    """``VmHWM`` (the resident-set high-water mark) or ``VmRSS`` of this process in MiB;
    ``None`` off Linux."""
    try:
        return _proc_status_kb(key) / 1024
    except (OSError, KeyError):
        return None


def reset_rss_high_water() -> bool:
    """Hand free heap memory back and reset the resident-set high-water mark to the current
    resident size (``/proc/self/clear_refs``); ``False`` where Linux refuses or is absent."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_memory_mb(fn, device="cpu"):
    """Extra peak memory in MiB of one call of ``fn()``: on CUDA, the peak of
    ``torch.cuda.max_memory_allocated`` above the memory allocated before the call; on the CPU,
    the resident-set high-water mark above the resident size before the call (free heap memory
    is handed back first, and the high-water mark reset through ``/proc/self/clear_refs``).
    ``None`` where this cannot be measured (not Linux, no permission)."""
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        base = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        fn()
        torch.cuda.synchronize(device)
        return (torch.cuda.max_memory_allocated(device) - base) / 2**20
    if not sys.platform.startswith("linux") or not reset_rss_high_water():
        return None
    base = rss_mb("VmRSS")
    if base is None:
        return None
    fn()
    return max(rss_mb("VmHWM") - base, 0)


# ---------------------------------------------------------------------------------------------
# The table.

def fmt_time(s) -> str:
    if s is None:
        return "—"
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.2f} ms"
    return f"{s * 1e6:.1f} µs"


def fmt_mem(mb) -> str:
    if mb is None:
        return "—"
    return f"{mb / 1024:.2f} GiB" if mb >= 1024 else f"{mb:.1f} MiB"


def fmt_ratio(r) -> str:
    if r is None:
        return "—"
    return f"**{r:.3f}**" if r < 1 else f"{r:.3f}"


def table_lines(rows: list) -> list:
    """The Markdown table of ``rows`` (dicts as made by :func:`row`)."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|---|---|---:|---|---:|---:|---:|---:|"]
    for r in rows:
        case = r["case"] + (f" ({r['note']})" if r.get("note") else "")
        cells = [r["benchmark"], case, fmt_time(r.get("ours_s")), r.get("peer") or "—",
                 fmt_time(r.get("peer_s")), fmt_ratio(r.get("ratio")),
                 fmt_mem(r.get("ours_mem_mb")), fmt_mem(r.get("peer_mem_mb"))]
        lines.append("| " + " | ".join(" ".join(c.split()).replace("|", "\\|") for c in cells)
                     + " |")
    return lines


def machine_info(device: str = "cpu") -> dict:
    """Platform, CPU model and cores, library versions, GPU name, date."""
    import torch
    import torch_geometric

    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info = {"platform": platform.platform(), "cpu": cpu, "cores": os.cpu_count(),
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
            "python": platform.python_version(), "torch": torch.__version__,
            "torch_geometric": torch_geometric.__version__,
            "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "load_average": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
            "device": device, "gpu": None}
    if device.startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(torch.device(device))
        info["cuda"] = torch.version.cuda
    return info


def machine_line(m: dict) -> str:
    parts = [m["platform"], f"{m['cpu']} ({m['cores']} cores)"]
    if m.get("gpu"):
        parts.append(f"GPU {m['gpu']} (CUDA {m.get('cuda')})")
    parts += [f"Python {m['python']}", f"torch {m['torch']}", f"PyG {m['torch_geometric']}",
              f"device {m['device']}", f"OMP_NUM_THREADS={m['omp_num_threads'] or 'unset'}",
              f"load average {m['load_average']} at the start", m["date"]]
    return "; ".join(str(p) for p in parts)


def report_markdown(report: dict) -> str:
    lines = ["# Benchmarks: ours / peer", "",
             f"Machine: {machine_line(report['machine'])}", "",
             f"Command: `{report['command']}`" + (" (quick settings)" if report["quick"] else ""),
             "", "Ratio = ours / peer time (lower is better; bold when ours is faster). Peak "
             "memory = the extra memory a measured step adds to what was there before it (CPU: "
             "resident-set high-water mark; CUDA: torch.cuda.max_memory_allocated); — = not "
             "measured.", ""]
    lines += table_lines(report["rows"])
    lines += ["", "Each benchmark, as run (its output is in `<name>.log` beside this file):", ""]
    for b in report["benchmarks"]:
        what = BENCHMARKS[b["name"]].what if b["name"] in BENCHMARKS else ""
        lines.append(f"- {b['name']}: {what} ({b['status']}, {b['seconds']:.0f} s): "
                     f"`{b['command']}`")
    return "\n".join(lines) + "\n"


def write_report(report: dict, out) -> Path:
    """Write ``BENCHMARKS.md`` and ``benchmarks.json`` into ``out``; returns the .md path."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "benchmarks.json").write_text(json.dumps(report, indent=2, allow_nan=False) + "\n")
    md = out / "BENCHMARKS.md"
    md.write_text(report_markdown(report))
    return md


# ---------------------------------------------------------------------------------------------
# Running the benchmarks.

def _finite_or_none(x):
    return x if isinstance(x, (int, float)) and math.isfinite(x) else None


def worker(name: str, json_path: str, argv: list) -> None:
    """Runs inside the subprocess: ``bench_<name>.run(argv)``, its rows into ``json_path``."""
    sys.path.insert(0, str(HERE))
    rows = importlib.import_module(f"bench_{name}").run(argv)
    for r in rows:
        for key in ("ours_s", "peer_s", "ratio", "ours_mem_mb", "peer_mem_mb"):
            r[key] = _finite_or_none(r.get(key))
    with open(json_path, "w") as f:
        json.dump(rows, f, indent=2)


def bench_argv(bench: Benchmark, quick: bool, device: str, extra: list) -> list:
    argv = list(bench.quick if quick else bench.full)
    if bench.device_option:
        argv += ["--device", device]
    return argv + extra


def last_error_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no error message"


def run_benchmark(bench: Benchmark, argv: list, out: Path, timeout=None):
    """Run one benchmark in a subprocess; returns (rows, status, seconds)."""
    json_path = out / f"{bench.name}.rows.json"
    json_path.unlink(missing_ok=True)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", bench.name,
           str(json_path), *argv]
    start = time.perf_counter()
    # Its own process group (setsid), so that a timeout also ends the benchmark's subprocesses.
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
        rc = proc.returncode
        error = None if rc == 0 else (last_error_line(stderr) if rc > 0 else
                                      f"killed by signal {-rc} (out of memory?)")
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        error = f"timed out after {timeout:g} s"
    seconds = time.perf_counter() - start
    (out / f"{bench.name}.log").write_text(stdout + ("\n--- stderr ---\n" + stderr
                                                     if stderr.strip() else ""))
    if error is None and not json_path.exists():
        error = "wrote no results"
    if error is not None:
        return [row(bench.name, f"failed: {error}")], "failed", seconds
    rows = json.loads(json_path.read_text())
    json_path.unlink()
    return rows, "ok", seconds


def display_command(argv) -> str:
    env = f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']} " if "OMP_NUM_THREADS" in os.environ \
        else ""
    try:
        script = os.path.relpath(Path(__file__).resolve())
    except ValueError:
        script = str(Path(__file__).resolve())
    return env + " ".join(shlex.quote(a) for a in ["python", script, *argv])


def parse_extra(items) -> dict:
    extra = {}
    for item in items or []:
        name, sep, args = item.partition("=")
        if not sep or name not in BENCHMARKS:
            raise SystemExit(f"--args expects NAME='ARGS' with NAME one of {list(BENCHMARKS)}, "
                             f"got {item!r}")
        extra[name] = extra.get(name, []) + shlex.split(args)
    return extra


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["--worker"]:
        return worker(argv[1], argv[2], argv[3:])
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu", help="cpu or cuda[:N] (default: cpu)")
    p.add_argument("--quick", action="store_true",
                   help="small settings for every benchmark (a few minutes on 2 cores)")
    p.add_argument("--only", nargs="+", choices=list(BENCHMARKS), default=list(BENCHMARKS),
                   metavar="NAME", help="benchmarks to run (default: all): " + "; ".join(
                       f"{b.name}: {b.what}" for b in BENCHMARKS.values()))
    p.add_argument("--out", default="results/benchmarks",
                   help="folder for BENCHMARKS.md, benchmarks.json and the logs")
    p.add_argument("--args", action="append", metavar="NAME='ARGS'",
                   help="extra arguments for one benchmark, after the (quick) settings, e.g. "
                        "--args gcn='--epochs 9'; may be repeated")
    p.add_argument("--timeout", type=float, default=None,
                   help="seconds before one benchmark counts as failed (default: none)")
    args = p.parse_args(argv)
    extra = parse_extra(args.args)
    if args.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            p.error(f"--device {args.device}: CUDA is not available")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report = {"machine": machine_info(args.device), "command": display_command(argv),
              "quick": args.quick, "rows": [], "benchmarks": []}
    for i, name in enumerate(args.only, 1):
        bench = BENCHMARKS[name]
        bargv = bench_argv(bench, args.quick, args.device, extra.get(name, []))
        command = " ".join(shlex.quote(a) for a in
                           ["python", f"benchmarks/bench_{name}.py", *bargv])
        print(f"[{i}/{len(args.only)}] {name}: {command}", flush=True)
        rows, status, seconds = run_benchmark(bench, bargv, out, args.timeout)
        if not bench.device_option and args.device != "cpu":
            for r in rows:
                r["case"] += " (CPU only)"
        print(f"    {status} in {seconds:.0f} s" + (f": {rows[0]['case']}" if status != "ok"
                                                    else f", {len(rows)} rows"), flush=True)
        report["rows"] += rows
        report["benchmarks"].append({"name": name, "command": command, "argv": bargv,
                                     "status": status, "seconds": seconds})
    md = write_report(report, out)
    print()
    print(report_markdown(report))
    print(f"wrote {md} and {out / 'benchmarks.json'}")
    return 1 if any(b["status"] != "ok" for b in report["benchmarks"]) else 0


if __name__ == "__main__":
    sys.exit(main())
