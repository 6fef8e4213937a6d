"""Benchmark: power-loss exploration's crash states per second, judging each distinct recovered
state once (as `pitmirror power-loss` does) against judging every crash state afresh.

Explores every crash state of every write of a design's curated traces (`traces/<design>/`)
on memory volumes, alternating the two settings, and prints each one's crash states per second
(median over the runs) and the ratio.  Same traces, bounds and volumes for both: only the memo
of recovered states differs.  The aim is at least 10,000 crash states/s.

    python bench/power_loss.py [--runs 3] [--backend memory] [--design cyclic-flashcopy]
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from pitmirror.harness.power_loss import explore
from pitmirror.harness.traces import read_trace, trace_files

TRACES = Path(__file__).resolve().parent.parent / "traces"


def states_per_second(traces: Path, backend: str, remember: bool) -> tuple[float, int]:
    states, seconds = 0, 0.0
    for path in trace_files(traces):
        report = explore(read_trace(path), backend=backend, remember=remember)
        assert report.clean, report.first and report.first.why
        states, seconds = states + report.states, seconds + report.seconds
    return states / seconds, states


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--backend", default="memory")
    parser.add_argument("--design", default="cyclic-flashcopy",
                        choices=["cyclic-flashcopy", "freeze-overlay"])  # fmt: skip
    args = parser.parse_args()
    traces = TRACES / args.design
    once: list[float] = []
    afresh: list[float] = []
    for _ in range(args.runs):
        rate, states = states_per_second(traces, args.backend, True)
        once.append(rate)
        afresh.append(states_per_second(traces, args.backend, False)[0])
    o, a = statistics.median(once), statistics.median(afresh)
    print(f"{args.design}, {len(trace_files(traces))} traces, {states:,} crash states per run, "
          f"{args.backend} volumes, {args.runs} runs each")  # fmt: skip
    runs = lambda rates: ", ".join(f"{r:,.0f}" for r in rates)  # noqa: E731
    print(f"each distinct recovered state judged once: median {o:,.0f} states/s ({runs(once)})")
    print(f"every crash state judged afresh:           median {a:,.0f} states/s ({runs(afresh)})")
    print(f"ratio once/afresh: {o / a:.2f}")


if __name__ == "__main__":
    main()
