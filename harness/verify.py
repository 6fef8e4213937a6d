"""`pitmirror verify`, the main job: every check the project promises, as rows of a table.

Design A: lockstep property runs of the safe design (claims 5 and 6), a run of every mutant
that must be caught.  Both designs: the Z3 proof of the safe design and, for every mutant, a
failing query and a reachable violation.  Design B: a lockstep
property run on every topology (single object, group, fan-out, fan-in, bidirectional, file
object) and a run of every mutant on the topology that shows it.  Then every trace under the
traces folder, replayed on both model and engine, must end as its header expects.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pitmirror.harness.check import Budget, run_check
from pitmirror.harness.designs import SHORT, Subject
from pitmirror.harness.prove import prove_design
from pitmirror.harness.replay import replay
from pitmirror.harness.traces import read_trace, trace_files
from pitmirror.impl.volumes import VolumeError
from pitmirror.model import cyclic_flashcopy as design_a
from pitmirror.model import freeze_overlay as design_b
from pitmirror.model.actions import TraceFormatError

# Mutants that need a crash at one exact write are rarer draws: they get a larger budget.
MUTANT_BUDGET_SCALE = {"source-before-journal": (5, 2)}
OVERLAY_GRAINS = 2  # per object: design B's runs cover many volumes per example


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


def property_runs() -> list[tuple[str, Subject]]:
    runs = [
        ("property run, safe design, claim 6 (merge)",
         Subject(design_a.DESIGN, design_a.Options())),
        ("property run, safe design, claim 5 (update)",
         Subject(design_a.DESIGN, design_a.Options(map_rule="update"))),
    ]  # fmt: skip
    for topology in design_b.TOPOLOGIES:
        subject = Subject(design_b.DESIGN, design_b.Options(), topology, OVERLAY_GRAINS)
        runs.append((f"property run, {topology}", subject))
    return runs


def mutant_runs() -> list[tuple[str, Subject]]:
    runs = [
        (name, Subject(design_a.DESIGN, options))
        for name, options in design_a.UNSAFE_OPTIONS.items()
    ]
    for name, options in design_b.UNSAFE_OPTIONS.items():
        topology = design_b.MUTANT_TOPOLOGY[name]
        runs.append((name, Subject(design_b.DESIGN, options, topology, OVERLAY_GRAINS)))
    return runs


def _volumes(backend: str, devices: list[str]) -> str:
    return f"{backend} ({len(devices)} volumes)"


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
    runs, mutants = property_runs(), mutant_runs()
    proofs = 2 + len(design_a.UNSAFE_OPTIONS) + len(design_b.UNSAFE_OPTIONS)
    total = len(runs) + len(mutants) + proofs + len(files)

    def note(text: str) -> None:
        if progress is not None:
            progress(text, total)

    for what, subject in runs:
        note(what)
        result = run_check(subject, backend, budget)
        got = "no failure" if result.passed else str(result.failure_detail)
        volumes = _volumes(result.backend, result.devices)
        rows.append(Row(SHORT[subject.design], what, "no failure", got, volumes,
                        result.seconds, result.passed))  # fmt: skip
    for name, subject in mutants:
        where = f" ({subject.topology})" if subject.topology else ""
        note(f"mutant {name}{where}")
        tried = mutant_budget(name, budget)
        result = run_check(subject, backend, tried)
        failure = result.failure
        caught = failure is not None and failure.expect == "violation"
        if failure is not None and caught:
            got = f"{failure.violates} in {len(failure.actions)} actions"
        else:
            got = (
                f"not caught in {result.examples_run} examples of up to {tried.steps} actions"
                f" (a budget below the default may be too small to reach it)"
                if result.passed
                else str(result.failure_detail)
            )
        volumes = _volumes(result.backend, result.devices)
        rows.append(Row(SHORT[subject.design], f"mutant {name}{where}", "caught", got, volumes,
                        result.seconds, caught))  # fmt: skip
    for short, safe in (("A", design_a.Options()), ("B", design_b.Options())):
        note(f"proof, design {short}")
        proof = prove_design(safe)
        rows.append(
            Row(short, "Z3 proof, safe design", "proved",
                f"proved, {len(proof.report.queries)} queries" if proof.proved
                else f"{len(proof.report.failures)} queries failed",
                "-", proof.report.seconds, proof.proved)
        )  # fmt: skip
    unsafe: list[tuple[str, str, Any]] = [("A", n, o) for n, o in design_a.UNSAFE_OPTIONS.items()]
    unsafe += [("B", n, o) for n, o in design_b.UNSAFE_OPTIONS.items()]
    for short, name, options in unsafe:
        note(f"proof refutes mutant {name}")
        refuted = prove_design(options)
        found = refuted.trace is not None and not refuted.proved
        first = refuted.report.failures[0] if refuted.report.failures else None
        if found and first is not None and refuted.trace is not None:
            how = "breaks" if first.verdict == "fails" else "does not keep"
            got = f"{first.check} {how} {first.conjunct}; trace of {len(refuted.trace.actions)}"
        else:
            got = "proved (a mutant must not be)" if refuted.proved else "no violation reached"
        seconds = refuted.report.seconds + (refuted.bmc.seconds if refuted.bmc else 0.0)
        what = f"Z3 proof refutes mutant {name}"
        rows.append(Row(short, what, "refuted", got, "-", seconds, found))
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
        if replayed.clean:
            got = "pass"
        else:
            got = f"violation {replayed.violated}" if replayed.violated else replayed.verdict()
        rows.append(Row(SHORT[trace.design], label, expected, got,
                        _volumes(replayed.backend, replayed.devices),
                        time.monotonic() - started, replayed.as_expected))  # fmt: skip
    return rows
