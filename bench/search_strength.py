"""Benchmark: does `pitmirror check` at its default budget catch every catalogue mutant?

For each mutant of both designs, `check` runs as a new user runs it — default budget (100
examples of up to 40 actions), the mutant's own topology — once per seed, and the table gives
the hit rate (runs that found the violation) and the median time of a run, hit or miss.  The
issue's bar: every mutant caught in at least 19 runs of 20, median under 30 s.

    python bench/search_strength.py [--seeds 20] [--backend loop] [--mutant NAME ...] [--json]
                                     [--examples 100 --steps 40]

Seeds are 1..N (seed 0 is `check`'s default; the bench asks whether the search is strong, not
whether one seed happens to work).  A run's trace of a caught mutant is not saved.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

from pitmirror.harness.check import Budget, run_check
from pitmirror.harness.designs import Subject
from pitmirror.harness.verify import mutant_runs

DEFAULT = Budget()


def run_one(subject: Subject, backend: str, budget: Budget, save_dir: Path) -> tuple[bool, float]:
    result = run_check(subject, backend, budget, save_dir)
    caught = result.failure is not None and result.failure.expect == "violation"
    return caught, result.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--mutant", action="append", default=[])
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--examples",
        type=int,
        default=DEFAULT.examples,
        help="another budget than check's default (to compare)",
    )
    parser.add_argument("--steps", type=int, default=DEFAULT.steps)  # fmt: skip
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="pitmirror-bench-") as folder:
        for name, subject in mutant_runs():
            if args.mutant and name not in args.mutant:
                continue
            runs = [run_one(subject, args.backend, Budget(args.examples, args.steps, seed),
                            Path(folder))
                    for seed in range(1, args.seeds + 1)]  # fmt: skip
            hits = sum(caught for caught, _ in runs)
            median = statistics.median(seconds for _, seconds in runs)
            passes = hits >= len(runs) - len(runs) // 20 and median < 30
            rows.append({"design": subject.design.short, "mutant": name, "hits": hits,
                         "runs": len(runs), "median_s": round(median, 2),
                         "passes": passes})  # fmt: skip
            if not args.json:
                mark = "ok  " if rows[-1]["passes"] else "MISS"
                print(f"{mark} {subject.design.short} {name:32} {hits:3}/{len(runs)} caught, "
                      f"median {median:6.2f} s", flush=True)  # fmt: skip
    if args.json:
        print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
