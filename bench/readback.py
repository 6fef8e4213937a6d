"""Benchmark: the lockstep's cached read-back against a full read-back after every step.

Runs `pitmirror check` in-process on design A, memory volumes of 4,096 grains (the issue's
figure), alternating the two settings, and prints each one's steps per second (median over the
runs) and the ratio.  Same seed, budget and volumes for both: only the read-back differs.

    python bench/readback.py [--runs 3] [--examples 100] [--grains 4096]
"""

from __future__ import annotations

import argparse
import statistics

from pitmirror.harness.check import Budget, run_check
from pitmirror.harness.designs import Subject
from pitmirror.model import cyclic_flashcopy as A


def steps_per_second(grains: int, examples: int, full_every: int | None) -> float:
    subject = Subject(A.DESIGN, A.Options(), None, grains)
    result = run_check(
        subject, "memory", Budget(examples=examples, steps=40), full_every=full_every
    )
    assert result.passed, result.failure_detail
    return result.steps_per_second


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--examples", type=int, default=100)
    parser.add_argument("--grains", type=int, default=4096)
    args = parser.parse_args()
    cached: list[float] = []
    full: list[float] = []
    for _ in range(args.runs):
        cached.append(steps_per_second(args.grains, args.examples, None))
        full.append(steps_per_second(args.grains, args.examples, 1))
    c, f = statistics.median(cached), statistics.median(full)
    print(f"design A, {args.grains} grains on memory volumes, {args.examples} examples, "
          f"{args.runs} runs each")  # fmt: skip
    runs = lambda rates: ", ".join(f"{r:.1f}" for r in rates)  # noqa: E731
    print(f"cached read-back (full every 64 steps): median {c:.1f} steps/s ({runs(cached)})")
    print(f"full read-back after every step:        median {f:.1f} steps/s ({runs(full)})")
    print(f"ratio cached/full: {c / f:.2f}")


if __name__ == "__main__":
    main()
