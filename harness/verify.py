"""`pitmirror verify`, the main job: every check the project promises, as rows of a table.

For design A: a lockstep property run of the safe design (with each map rule, claims 5 and 6),
a run of every unsafe option that must be caught, the Z3 proof of the safe design and its
refutation of every unsafe option, and a replay of every trace under the traces folder that
must end as its header expects.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pitmirror.harness.check import Budget, run_check
from pitmirror.harness.prove import prove_design
from pitmirror.harness.replay import replay
from pitmirror.harness.traces import read_trace, trace_files
from pitmirror.impl.volumes import VolumeError
from pitmirror.model import cyclic_flashcopy as design_a
from pitmirror.model.actions import TraceFormatError

# Mutants that need a crash at one exact write are rarer draws: they get a larger budget.
MUTANT_BUDGET_SCALE = {"source-before-journal": (3, 2)}


@dataclass
class Row:
    design: str
    what: str
    expected: str
    got: str
    volumes: str
    seconds: float
    passed: bool


def mutant_budget(name: str, budget: Budget) -> Budget:
    examples, steps = MUTANT_BUDGET_SCALE.get(name, (1, 1))
    return Budget(budget.examples * examples, budget.steps * steps, budget.seed)


def verify(
    traces_dir: Path,
    budget: Budget,
    backend: str,
    progress: Callable[[str, int], None] | None = None,
) -> list[Row]:
    """Run every check; `progress(label, total)` is called before each one."""
    files = trace_files(traces_dir) if traces_dir.is_dir() else []
    if not files:
        raise VolumeError(f"no trace files under {traces_dir}/ (run from the project root)")
    rows: list[Row] = []

    total = 2 + 2 * len(design_a.UNSAFE_OPTIONS) + len(files) + 1

    def note(text: str) -> None:
        if progress is not None:
            progress(text, total)

    safe_runs = {
        "property run, safe design, claim 6 (merge)": design_a.Options(),
        "property run, safe design, claim 5 (update)": design_a.Options(map_rule="update"),
    }
    for what, options in safe_runs.items():
        note(what)
        result = run_check(options, backend, budget)
        rows.append(
            Row(
                design_a.DESIGN,
                what,
                "no failure",
                "no failure" if result.passed else str(result.failure_detail),
                f"{result.backend} {' '.join(result.devices)}",
                result.seconds,
                result.passed,
            )
        )
    for name, options in design_a.UNSAFE_OPTIONS.items():
        note(f"mutant {name}")
        result = run_check(options, backend, mutant_budget(name, budget))
        caught = result.failure is not None and result.failure.expect == "violation"
        got = (
            f"{result.failure.violates} in {len(result.failure.actions)} actions"
            if caught and result.failure is not None
            else "not caught"
            if result.passed
            else str(result.failure_detail)
        )
        rows.append(
            Row(
                design_a.DESIGN,
                f"mutant {name}",
                "caught",
                got,
                f"{result.backend} {' '.join(result.devices)}",
                result.seconds,
                caught,
            )
        )
    note("proof, safe design")
    proof = prove_design(design_a.Options())
    rows.append(
        Row(design_a.DESIGN, "Z3 proof, safe design", "proved",
            f"proved, {len(proof.report.queries)} queries" if proof.proved
            else f"{len(proof.report.failures)} queries failed",
            "-", proof.report.seconds, proof.proved)
    )  # fmt: skip
    for name, options in design_a.UNSAFE_OPTIONS.items():
        note(f"proof refutes mutant {name}")
        refuted = prove_design(options)
        found = refuted.trace is not None and not refuted.proved
        first = refuted.report.failures[0] if refuted.report.failures else None
        got = (
            f"{first.check} breaks {first.conjunct}; trace in {len(refuted.trace.actions)} actions"
            if found and first is not None and refuted.trace is not None
            else "proved (a mutant must not be)"
            if refuted.proved
            else "no reachable violation found"
        )
        rows.append(
            Row(design_a.DESIGN, f"Z3 proof refutes mutant {name}", "refuted", got, "-",
                refuted.report.seconds + (refuted.bmc.seconds if refuted.bmc else 0.0), found)
        )  # fmt: skip
    for path in files:
        label = f"trace {path.relative_to(traces_dir).with_suffix('')}"
        note(label)
        started = time.monotonic()
        try:
            trace = read_trace(path)
        except TraceFormatError as err:
            rows.append(Row("?", label, "readable", str(err), "-", 0.0, False))
            continue
        replayed = replay(trace, backend)
        expected = "pass" if trace.expect == "pass" else f"violation {trace.violates}"
        got = (
            "pass"
            if replayed.clean
            else (f"violation {replayed.violated}" if replayed.violated else replayed.verdict())
        )
        rows.append(
            Row(
                trace.design,
                label,
                expected,
                got,
                f"{replayed.backend} {' '.join(replayed.devices)}",
                time.monotonic() - started,
                replayed.as_expected,
            )
        )
    return rows
