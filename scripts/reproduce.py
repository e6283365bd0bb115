#!/usr/bin/env python
"""Run every experiment the README reports and write results/RESULTS.md (+ JSON), the
results section of README.md included.

    python scripts/reproduce.py             # the full run (the README's numbers)
    python scripts/reproduce.py --quick     # fewer seeds and epochs, a subset, < 10 minutes
    python scripts/reproduce.py --dry-run   # list every experiment and its command
    python scripts/reproduce.py --jobs 2    # two runs side by side, one thread each

A finished experiment whose command did not change is reused (delete results/runs/<key> or
pass --force to run it again), so an interrupted reproduction continues where it stopped.
"""

import argparse
import difflib
from pathlib import Path

from reproduce_lib import (
    REPO,
    experiments,
    run_all,
    run_name,
    run_names,
    tasks_of,
    unmatched,
    write_tables,
)

from pyg_course.train.argtypes import positive_int


def main(argv=None):
    p = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    p.add_argument("--quick", action="store_true", help="fewer seeds and epochs, a subset")
    p.add_argument("--dry-run", action="store_true", help="list the experiments, run nothing")
    p.add_argument("--only", nargs="+", default=None, metavar="KEY",
                   help="run only the runs whose key contains one of these strings (a PyG "
                        "peer's key ends in -pyg); the tables still show every row")
    p.add_argument("--no-peers", action="store_true", help="skip PyG's built-in layers")
    p.add_argument("--force", action="store_true", help="re-run finished experiments")
    p.add_argument("--results", default=None,
                   help="output folder (default: results/, results/quick/ with --quick, so that a "
                        "quick run never replaces the full run's results)")
    p.add_argument("--no-readme", action="store_true", help="do not update README.md")
    p.add_argument("--jobs", type=positive_int, default=1,
                   help="runs side by side (each with OMP_NUM_THREADS=1); 2 on a 2-core CPU")
    p.add_argument("--tables-only", action="store_true",
                   help="run nothing; write the tables from the finished runs")
    args = p.parse_args(argv)

    selected = [e for e in experiments() if e.quick or not args.quick]
    if args.only is not None and (missed := unmatched(selected, args.only, not args.no_peers)):
        names = run_names(selected, not args.no_peers)
        hints = [f"{k!r} (did you mean {', '.join(close)}?)" if (close := difflib.get_close_matches(
            k, names, n=3, cutoff=0.6)) else repr(k) for k in missed]
        p.error(f"--only {', '.join(hints)} picks no run{' of --quick' if args.quick else ''}"
                f"{' without the peers (--no-peers)' if args.no_peers else ''}; a key is part "
                f"of one of: {' '.join(names)}")
    if args.dry_run:
        tasks = tasks_of(selected, peers=not args.no_peers, only=args.only)
        for e, peer in tasks:
            print(f"{run_name(e, peer):32s} {' '.join(e.command(args.quick, peer=peer))}")
        print(f"{len(tasks)} runs ({len(selected)} table rows)")
        return tasks
    # Absolute: the runs start in the repository, wherever this script was called from.
    results = Path(args.results or (REPO / "results" / ("quick" if args.quick else ""))).resolve()
    if not args.tables_only:
        run_all(selected, results, args.quick, force=args.force, peers=not args.no_peers,
                jobs=args.jobs, only=args.only)
    readme = None if args.no_readme or args.quick else REPO / "README.md"
    print(write_tables(selected, results, args.quick, readme=readme))
    return selected


if __name__ == "__main__":
    main()
