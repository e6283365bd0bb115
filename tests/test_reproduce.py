import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from reproduce_lib import (
    BEGIN,
    END,
    Experiment,
    experiments,
    override,
    run_all,
    write_tables,
)

REPO = Path(__file__).resolve().parents[1]


def test_dry_run_lists_every_experiment():
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "reproduce.py"), "--dry-run"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    keys = [e.key for e in experiments()]
    assert len(keys) == len(set(keys))
    listed = [line.split()[0] for line in proc.stdout.splitlines()[:-1]]
    for exp in experiments():
        assert exp.folder in listed
        assert (exp.folder + "-pyg" in listed) == (exp.peer_args is not None)
        assert (REPO / "scripts" / exp.script).is_file(), exp.script
    assert proc.stdout.splitlines()[-1] == f"{len(listed)} runs ({len(keys)} table rows)"
    quick = subprocess.run([sys.executable, str(REPO / "scripts" / "reproduce.py"), "--dry-run",
                            "--quick"], capture_output=True, text=True, timeout=120)
    assert 0 < int(re.search(r"\((\d+) table rows", quick.stdout).group(1)) < len(keys)


def test_only_picks_runs_peers_included_and_tables_keep_every_row(tmp_path, monkeypatch):
    import reproduce_lib as reproduce

    exps = experiments()
    picked = [(e.folder, p) for e, p in reproduce.tasks_of(exps, only=["gat-cora-pyg"])]
    assert picked == [("gat-cora", True)]
    both = [(e.folder, p) for e, p in reproduce.tasks_of(exps, only=["gat-cora"])]
    assert both == [("gat-cora", False), ("gat-cora", True)]
    blog = reproduce.tasks_of(exps, only=["deepwalk-blogcatalog"])
    assert [e.folder for e, _ in blog] == ["deepwalk-blogcatalog"]  # two rows, one run

    ran = []
    monkeypatch.setattr(reproduce, "run_one", lambda exp, *a, **k: ran.append(exp.key))
    script = REPO / "scripts" / "reproduce.py"
    from tests.helpers.scripts import load_script

    load_script(script).main(["--only", "gat-citeseer-pyg", "--results", str(tmp_path),
                              "--no-readme"])
    assert ran == ["gat-citeseer"]
    table = (tmp_path / "RESULTS.md").read_text()
    assert all(f"| {e.label} |" in table for e in exps)  # a partial run keeps the whole table


def test_one_experiment_end_to_end_and_table_format(tmp_path):
    exp = Experiment("gcn-csbm", "GCN (Kipf & Welling, 2017)", "CSBM", "train_gcn.py",
                     ["--dataset", "CSBM", "--epochs", "20"], runs=2, paper="—",
                     peer_args=["--impl", "pyg"])
    missing = Experiment("gat-csbm", "GAT", "CSBM", "train_gat.py", ["--dataset", "CSBM"], runs=1)
    run_all([exp], tmp_path, quick=False)
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{BEGIN}\nold table\n{END}\noutro\n")
    text = write_tables([exp, missing], tmp_path, quick=False, readme=readme)

    row = next(line for line in text.splitlines() if line.startswith("| CSBM |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert re.fullmatch(r"\d+\.\d ± \d+\.\d", cells[1]) and float(cells[1].split()[0]) > 70
    assert re.fullmatch(r"\d+\.\d ± \d+\.\d", cells[3])  # PyG's layer, same loop
    assert cells[4] == "2" and cells[5] == "`python scripts/train_gcn.py --dataset CSBM " \
                                           "--epochs 20 --runs 2`"
    assert "| CSBM | not run |" in text  # the GAT row that never ran says so
    assert (tmp_path / "RESULTS.md").read_text().startswith("# Results")
    rows = json.loads((tmp_path / "results.json").read_text())["rows"]
    assert abs(rows[0]["ours"][0] - float(cells[1].split()[0])) <= 0.05
    # Each run's wall time: in RESULTS.md (not the README) and results.json.
    timed = {r["run"]: r for r in json.loads((tmp_path / "results.json").read_text())["runs"]}
    assert set(timed) == {"gcn-csbm", "gcn-csbm-pyg"} and timed["gcn-csbm"]["seconds"] > 0
    assert timed["gcn-csbm-pyg"]["command"].endswith("--impl pyg --runs 2")
    results_md = (tmp_path / "RESULTS.md").read_text()
    assert "## Run times" in results_md and "| gcn-csbm-pyg | " in results_md
    assert "over every row (`--jobs 1`, all 2 runs trained afresh) took" in results_md
    content = readme.read_text()
    assert "## Run times" not in content
    assert "old table" not in content and content.startswith("intro\n")
    assert content.endswith(f"{END}\noutro\n") and "| CSBM |" in content

    # A second call reuses the finished runs instead of training again.
    stamp = (tmp_path / "runs" / "gcn-csbm" / "results.json").stat().st_mtime_ns
    run_all([exp], tmp_path, quick=False)
    assert (tmp_path / "runs" / "gcn-csbm" / "results.json").stat().st_mtime_ns == stamp
    write_tables([exp, missing], tmp_path, quick=False)
    assert "2 of its 2 runs reused" in (tmp_path / "RESULTS.md").read_text()


def test_rows_sharing_one_run_run_it_once_and_read_a_csv(tmp_path):
    from reproduce_lib import _cell_of

    args = ["--datasets", "CSBM", "--depths", "2", "4", "--remedies", "plain", "--quick"]
    rows = [Experiment(f"os-{d}", "Over-smoothing", f"{d} layers", "oversmoothing.py", args,
                       runs=1, read=_cell_of("plain", d), run_key="os", out_name="sweep",
                       result_file="sweep.csv") for d in (2, 4)]
    missing = Experiment("os-8", "Over-smoothing", "8 layers", "oversmoothing.py", args, runs=1,
                         read=_cell_of("plain", 8), run_key="os", out_name="sweep",
                         result_file="sweep.csv")
    logs = []
    import reproduce_lib as reproduce

    original = reproduce.run_one
    reproduce.run_one = lambda *a, **k: logs.append(a[0].key) or original(*a, **k)
    try:
        run_all(rows + [missing], tmp_path, quick=False)
    finally:
        reproduce.run_one = original
    assert logs == ["os-2"]  # one run for the three rows
    assert (tmp_path / "runs" / "os" / "sweep.png").is_file()
    text = write_tables(rows + [missing], tmp_path, quick=False)
    cells = {line.split("|")[1].strip(): line.split("|")[2].strip()
             for line in text.splitlines() if "layers |" in line}
    assert re.fullmatch(r"\d+\.\d ± 0\.0", cells["2 layers"]), cells
    assert re.fullmatch(r"\d+\.\d ± 0\.0", cells["4 layers"]), cells
    assert cells["8 layers"] == "not run"  # the sweep has no 8-layer cell


def test_side_by_side_jobs_run_every_task(tmp_path):
    exps = [Experiment(f"gcn-csbm-{i}", "GCN", f"CSBM {i}", "train_gcn.py",
                       ["--dataset", "CSBM", "--epochs", "5", "--seed", str(i)], runs=1)
            for i in range(2)]
    run_all(exps, tmp_path, quick=False, jobs=2)
    for e in exps:
        res = json.loads((tmp_path / "runs" / e.key / "results.json").read_text())
        assert res["seed"] == int(e.key[-1])
        assert (tmp_path / "runs" / e.key / "command.txt").read_text().endswith("--runs 1")


def test_longest_first_uses_the_last_wall_times(tmp_path):
    from reproduce_lib import TIMING, longest_first, run_name

    exps = [Experiment(f"e{i}", "G", f"row {i}", "train_gcn.py", [], peer_args=["--impl", "pyg"])
            for i in range(4)]
    tasks = [(e, peer) for e in exps for peer in (False, True)]
    seconds = {"e0": 5, "e0-pyg": 50, "e1": 500, "e2-pyg": 1}
    for exp, peer in tasks:
        name = run_name(exp, peer)
        if name in seconds:
            (tmp_path / "runs" / name).mkdir(parents=True)
            (tmp_path / "runs" / name / TIMING).write_text(json.dumps({"seconds": seconds[name]}))
    # A run without its folder takes its time from the last tables' results.json.
    (tmp_path / "results.json").write_text(json.dumps({"rows": [], "runs": [
        {"run": "e3", "seconds": 100.0, "command": "x"}]}))
    order = [run_name(e, p) for e, p in longest_first(tasks, tmp_path)]
    # Never timed first (in their order), then longest first.
    assert order == ["e1-pyg", "e2", "e3-pyg", "e1", "e3", "e0-pyg", "e0", "e2-pyg"]


def test_peer_seeds_and_the_seeds_column():
    exp = Experiment("x", "G", "row", "train_gcn.py", [], runs=10, peer_runs=5,
                     peer_args=["--impl", "pyg"])
    assert exp.command(False, peer=True)[-2:] == ["--runs", "5"]
    assert exp.command(False)[-2:] == ["--runs", "10"]
    assert exp.command(True, peer=True)[-2:] == ["--runs", str(exp.quick_runs)]
    small = Experiment("y", "G", "row", "train_gcn.py", [], runs=3, peer_args=["--impl", "pyg"])
    assert small.seeds(False, peer=True) == 3  # never more peer seeds than ours


def test_quick_arguments_replace_the_flags_they_set():
    assert override(["--epochs", "300", "--num-neighbors", "-1", "-1", "--lr", "0.003"],
                    ["--epochs", "20", "--num-neighbors", "5"]) == \
        ["--lr", "0.003", "--epochs", "20", "--num-neighbors", "5"]
    assert override(["--quick"], []) == ["--quick"]
    for exp in experiments():
        for quick in (False, True):
            for peer in (False, True) if exp.peer_args is not None else (False,):
                flags = [a for a in exp.command(quick, peer) if a.startswith("--")]
                assert len(flags) == len(set(flags)), (exp.key, quick, peer, flags)
    pool = next(e for e in experiments() if e.key == "sage-pool-minibatch-cora")
    cmd = pool.command(True)
    assert cmd[cmd.index("--epochs") + 1] == "20" and "0.003" in cmd


def _script():
    from tests.helpers.scripts import load_script

    return load_script(REPO / "scripts" / "reproduce.py")


def test_quick_oversmoothing_drops_the_flags_quick_overrides():
    from reproduce_lib import without

    assert without(["--a", "1", "--b", "2", "3", "--c"], ["--b", "--d"]) == ["--a", "1", "--c"]
    sweep = next(e for e in experiments() if e.key == "oversmoothing-plain-16")
    # The full command is the one the recorded runs were made with: unchanged.
    assert shlex.join(sweep.command(False)) == (
        "python scripts/oversmoothing.py --datasets Cora --depths 2 4 8 16 --remedies plain "
        "dropedge residual jk jk+dropedge pairnorm --jobs 2 --runs 5")
    # --quick sets 5 epochs without early stopping: no dead --epochs/--patience beside it.
    assert shlex.join(sweep.command(True)) == (
        "python scripts/oversmoothing.py --datasets Cora --remedies plain dropedge residual jk "
        "jk+dropedge pairnorm --jobs 2 --runs 1 --quick --depths 2 16")


@pytest.mark.parametrize("argv, message", [
    (["--jobs", "0"], "--jobs: must be at least 1, got 0"),
    (["--jobs", "-1"], "--jobs: must be at least 1, got -1"),
    (["--only", "zzz"], "--only 'zzz' picks no run; a key is part of one of: gcn-cora "),
    (["--only", "gat-cora", "gcn-citseer"], "'gcn-citseer' (did you mean gcn-citeseer"),
    (["--quick", "--only", "gcn-citeseer"], "picks no run of --quick"),
    (["--no-peers", "--only", "gat-cora-pyg"], "picks no run without the peers"),
])
def test_bad_jobs_and_only_are_refused(capsys, argv, message):
    # --dry-run: without the checks the call lists (no) runs and returns.
    with pytest.raises(SystemExit) as exc:
        _script().main(["--dry-run", *argv])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_relative_results_from_another_folder(tmp_path, monkeypatch):
    # The runs start in the repository; a relative --results must still name the caller's
    # folder. (A stand-in repository, so that a wrong folder is never the real one.)
    import reproduce_lib as reproduce

    fake_repo = tmp_path / "repo"
    fake_repo.mkdir()
    (fake_repo / "scripts").symlink_to(REPO / "scripts")
    monkeypatch.setattr(reproduce, "REPO", fake_repo)
    caller = tmp_path / "caller"
    caller.mkdir()
    monkeypatch.chdir(caller)
    exp = Experiment("gcn-csbm", "GCN", "CSBM", "train_gcn.py",
                     ["--dataset", "CSBM", "--epochs", "5"], runs=1)
    script = _script()
    monkeypatch.setattr(script, "experiments", lambda: [exp])
    script.main(["--results", "relres", "--no-readme"])
    assert (caller / "relres" / "runs" / "gcn-csbm" / "results.json").is_file()
    assert not (fake_repo / "relres").exists()
    assert "| CSBM | not run |" not in (caller / "relres" / "RESULTS.md").read_text()


def test_help_describes_the_whole_first_paragraph(capsys):
    with pytest.raises(SystemExit):
        _script().main(["--help"])
    assert "the results section of README.md included." in \
        " ".join(capsys.readouterr().out.split())


class _Parsed(Exception):
    """Raised instead of loading data: the command got past its script's argument checks."""


def _stop(*args, **kwargs):
    raise _Parsed


@pytest.mark.parametrize("quick", [False, True], ids=["full", "quick"])
def test_every_generated_command_passes_its_scripts_checks(quick, tmp_path):
    """The scripts check their options before loading data; a reproduce command they refuse
    would only show as a FAILED row after an hour. Each script's data loading is replaced by
    a stop, so nothing trains."""
    from tests.helpers.scripts import load_script

    count = 0
    for exp in experiments():
        for peer in ([False, True] if exp.peer_args is not None else [False]):
            cmd = exp.command(quick, peer)
            script = load_script(REPO / cmd[1])
            loaders = [name for name in ("data_from_args", "load_or_exit") if hasattr(script, name)]
            assert loaders, f"{cmd[1]} loads its data some other way: stop that instead"
            for loader in loaders:
                setattr(script, loader, _stop)
            with pytest.raises(_Parsed):
                script.main([*cmd[2:], "--out", str(tmp_path / exp.key), "--no-progress"])
            count += 1
    assert count >= 30
