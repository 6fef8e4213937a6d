"""`pitmirror verify`, the main job: every check the project promises, as rows of a table.

For every design of the registry: lockstep property runs of the safe design (design A under
both map rules and on large volumes; design B on every topology, on large objects and in its
stricter order), its real-time runner under lockstep, and a run of every mutant, which must be
caught; the share of impl/ those runs execute (coverage.py); the Z3 proof of the safe design
and, for every mutant, a failing query and a reachable violation; power loss at every write of
the safe design's traces, every crash state recovering to a state the model allows, and every
power-loss mutant caught.  Then every trace under the traces folder, replayed on both model and
engine, must end as its header expects.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from pitmirror.harness.backends import BACKENDS, resolve_backend
from pitmirror.harness.check import Budget, run_check
from pitmirror.harness.coverage import (
    COVERAGE_BUDGET,
    LINE_THRESHOLD,
    CoverageFailed,
    describe_budget,
    measure,
)
from pitmirror.harness.design import Design, PropertyRun
from pitmirror.harness.designs import DESIGNS, Subject, safe_configurations
from pitmirror.harness.parallel import parallel_rows
from pitmirror.harness.power_loss import DEFAULT_BOUNDS, explore
from pitmirror.harness.prove import prove_design
from pitmirror.harness.replay import replay
from pitmirror.harness.roles import bridges, check_mutant, prove_bridge, prove_roles
from pitmirror.harness.roles_processes import CUT_PLANS, cut_runs, round_trip_outcomes
from pitmirror.harness.traces import Trace, read_trace, trace_files
from pitmirror.harness.transport_mutants import TRANSPORT_MUTANTS
from pitmirror.impl.volumes import VolumeError
from pitmirror.model.actions import TraceFormatError, describe
from pitmirror.model.options import DesignOptions
from pitmirror.model.roles import UNSAFE_OPTIONS as ROLES_MUTANTS

TCP_DESIGN = "cyclic-flashcopy"
"""the design whose sites run over TCP so far"""
MUTANT_EXAMPLES_SCALE = 3
"""a mutant search runs this many times the budget's examples: bench/search_strength.py
catches every mutant within check's default budget in 20 of 20 seeds; the margin keeps one
unlucky run from failing verify (no mutant gets a budget of its own)"""


@dataclass
class Row:
    design: str
    what: str
    expected: str
    got: str
    volumes: str
    seconds: float
    passed: bool
    skipped: bool = False
    detail: dict[str, object] | None = None
    """what a row measured beyond its verdict (the coverage row's report)"""


def mutant_budget(budget: Budget) -> Budget:
    return Budget(budget.examples * MUTANT_EXAMPLES_SCALE, budget.steps, budget.seed)


def property_runs() -> list[tuple[str, PropertyRun, Subject]]:
    return [
        (run.label, run,
         Subject(design.name, run.options, run.topology, run.grains or design.default_grains,
                 transport=run.transport))
        for design in DESIGNS.values()
        for run in design.property_runs
    ]  # fmt: skip


def mutant_runs() -> list[tuple[str, Subject]]:
    return [
        (name, Subject.of(options))
        for design in DESIGNS.values()
        for name, options in design.model.unsafe_options.items()
    ]


def transport_mutant_runs() -> list[tuple[str, Subject]]:
    """The transport mutants, over TCP with design A (which the proof has nothing to say
    about: the model is the safe design's; the engine over the network must part from it)."""
    return [(f"{name} (transport)", Subject(TCP_DESIGN, DESIGNS[TCP_DESIGN].model.options({}),
                                            transport=f"tcp:{name}"))
            for name in TRANSPORT_MUTANTS]  # fmt: skip


def refutation_runs() -> list[tuple[str, Subject]]:
    """Every mutant the proof must refute: the catalogue and the power-loss mutants."""
    return mutant_runs() + [
        (name, Subject.of(options))
        for design in DESIGNS.values()
        for name, options in design.model.power_loss_options.items()
    ]


def _volumes(backend: str, devices: list[str]) -> str:
    return f"{backend} ({len(devices)} volumes)"


QUICK_BUDGET = Budget(examples=20, steps=20)
"""`verify --quick`: small property runs; the mutant searches and refutations are skipped
(every mutant's recorded trace still replays)"""

Note = Callable[[str], None]


@dataclass(frozen=True)
class Tell:
    """Where a piece of the run says what it does: `note` before each check (it counts them),
    `detail` the state of a long one (the coverage row's runs)."""

    note: Note
    detail: Note

    def __call__(self, text: str) -> None:
        self.note(text)


Task = tuple[str, Callable[[Tell], list[Row]]]
"""a piece of the run: what it checks (named if it stops) and the checks, told where to say
each one's start"""


def verify(
    traces_dir: Path,
    budget: Budget,
    backend: str,
    progress: Callable[[str, int], None] | None = None,
    quick: bool = False,
    detail: Callable[[str], None] | None = None,
    jobs: int = 1,
) -> list[Row]:
    """Run every check; `progress(label, total)` is called before each one, `detail(text)`
    with the state of a long one (the coverage row's runs).  `quick`: the
    safe design's property runs at QUICK_BUDGET, its proofs and every trace; the mutant rows
    are listed as skipped.  `jobs`: how many processes share the checks (the rows come out in
    the same order whatever their number)."""
    files = trace_files(traces_dir) if traces_dir.is_dir() else []
    if not files:
        raise VolumeError(f"no trace files under {traces_dir}/ (run from the project root)")
    runs, refuted = property_runs(), refutation_runs()
    mutants = mutant_runs() + transport_mutant_runs()
    total = len(runs) + len(safe_configurations()) + len(files)
    total += 0 if quick else len(mutants) + len(refuted) + 1
    total += power_loss_count(traces_dir, quick)
    total += ROLES_ROWS

    def note(text: str) -> None:
        if progress is not None:
            progress(text, total)

    tried = QUICK_BUDGET if quick else budget
    tasks: list[Task] = [("property runs", partial(_property_rows, [run], tried, backend))
                         for run in runs]  # fmt: skip
    if quick:
        skipped = [_skipped(subject, f"mutant {name}", "caught") for name, subject in mutants]
        skipped.append(Row("A+B", COVERAGE_WHAT, COVERAGE_EXPECTED, "skipped (--quick)", "-",
                           0.0, True, skipped=True))  # fmt: skip
        tasks.append(("skipped", lambda _: skipped))
    else:
        tasks += [("mutant runs", partial(_mutant_rows, [m], budget, backend)) for m in mutants]
        tasks.append((COVERAGE_WHAT, lambda tell: [_coverage_row(backend, tell, tell.detail)]))
    tasks.append(("proofs", _proof_rows))
    if quick:
        tasks.append(("skipped", lambda _: [
            _skipped(subject, f"Z3 proof refutes mutant {name}", "refuted")
            for name, subject in refuted]))  # fmt: skip
    else:
        tasks += [("refutations", partial(_refutation_rows, [m])) for m in refuted]
    tasks.append(("roles", _roles_proof_rows))
    tasks += [("roles", partial(_roles_daemon_rows, design)) for design in DESIGNS.values()]
    tasks.append(("power loss", partial(_power_loss_rows, traces_dir, backend, quick=quick)))
    for at in range(0, len(files), TRACES_PER_TASK):
        chunk = files[at : at + TRACES_PER_TASK]
        tasks.append(("traces", partial(_trace_rows, traces_dir, chunk, backend)))
    first = [i for i, (what, _) in enumerate(tasks) if what == COVERAGE_WHAT]
    return run_tasks(tasks, Tell(note, detail or (lambda text: None)), jobs, first=first)


TRACES_PER_TASK = 8


def run_tasks(tasks: list[Task], tell: Tell, jobs: int, first: list[int] | None = None
              ) -> list[Row]:  # fmt: skip
    """Every task's rows, in the tasks' order; with `jobs` > 1 in that many forked processes,
    each taking the next task not taken yet (`first`: the ones to start with, the longest)."""
    if jobs <= 1 or len(tasks) < 2:
        return [row for what, task in tasks for row in guarded(what, partial(task, tell))]
    order = [*(first or []), *(i for i in range(len(tasks)) if i not in (first or []))]
    found = parallel_rows([tasks[i] for i in order], tell, jobs)
    by_task = dict(zip(order, found, strict=True))
    return [row for i in range(len(tasks)) for row in by_task[i]]


def guarded(what: str, rows: Callable[[], list[Row]]) -> list[Row]:
    """A group of checks; one that stops with an exception is a failed row that says so, and
    the groups after it still run (a crash is a finding, not the end of the report)."""
    started = time.monotonic()
    try:
        return rows()
    except VolumeError:
        raise  # no loop devices, no root: the whole run cannot go on
    except Exception as err:  # noqa: BLE001 (any defect of a check is reported in its row)
        got = f"stopped: {type(err).__name__}: {err}"
        return [Row("?", f"{what} (the rest of this group did not run)", "to finish", got, "-",
                    time.monotonic() - started, False)]  # fmt: skip


def _design_traces(traces_dir: Path, design: str) -> list[Path]:
    """The safe design's curated traces: those under the folder named after the design."""
    return [p for p in trace_files(traces_dir / design) if read_trace(p).expect == "pass"]


def power_loss_count(traces_dir: Path, quick: bool) -> int:
    designs = DESIGNS.values()
    return len(designs) + (0 if quick else sum(len(d.model.power_loss_options) for d in designs))


def _power_loss_rows(traces_dir: Path, backend: str, note: Note, quick: bool) -> list[Row]:
    """Per design: every crash state of every safe trace must
    recover; every power-loss mutant must be caught on one of those traces."""
    rows = []
    for design in DESIGNS.values():
        paths = _design_traces(traces_dir, design.name)
        what = f"power loss at every write of its {len(paths)} traces (crash states judged)"
        note(what)
        started, states, points, exhaustive, violations, kind = time.monotonic(), 0, 0, 0, 0, ""
        problems = []
        for path in paths:
            report = explore(read_trace(path), DEFAULT_BOUNDS, backend)
            states, points, kind = states + report.states, points + report.points, report.backend
            exhaustive, violations = (
                exhaustive + report.exhaustive_points,
                violations + report.violations,
            )
            if not report.clean:
                first = report.first.why if report.first else report.problem
                problems.append(f"{path.name}: {first}")
        seconds = time.monotonic() - started
        got = (f"{states:,} crash states at {points:,} crash points ({exhaustive:,} exhaustive), "
               f"{states / seconds:,.0f}/s, {violations:,} violations")  # fmt: skip
        if problems:
            got += "; " + problems[0]
        rows.append(Row(design.short, what, "0 violations", got, kind, seconds, not problems))
        for name, options in design.model.power_loss_options.items():
            label = f"power loss catches mutant {name}"
            if quick:
                rows.append(Row(design.short, label, "caught", "skipped (--quick)", "-", 0.0,
                                True, skipped=True))  # fmt: skip
                continue
            note(label)
            rows.append(_power_loss_mutant_row(design.short, label, paths, options, backend))
    return rows


def _power_loss_mutant_row(
    short: str, label: str, paths: list[Path], options: DesignOptions, backend: str
) -> Row:
    started, kind = time.monotonic(), backend
    for path in paths:
        trace = dataclasses.replace(read_trace(path), options=options)
        report = explore(trace, DEFAULT_BOUNDS, backend, stop_at_first=True)
        kind = report.backend
        if report.first is not None:
            got = (f"{report.first.predicate} at step {report.first.point.step} of "
                   f"{path.stem}, found after {report.states:,} crash states")  # fmt: skip
            return Row(short, label, "caught", got, kind, time.monotonic() - started, True)
    return Row(short, label, "caught", f"not caught on {len(paths)} traces", kind,
               time.monotonic() - started, False)  # fmt: skip


def _needs_files(subject: Subject, backend: str) -> str | None:
    """Why a run over TCP cannot use the backend: the remote's process opens the volumes."""
    if subject.transport is not None and resolve_backend(backend) == "memory":
        return "skipped: over TCP the remote's process opens the volumes (loop or file)"
    return None


def _skipped(subject: Subject, what: str, expected: str) -> Row:
    return Row(subject.design.short, what, expected, "skipped (--quick)", "-", 0.0, True,
               skipped=True)  # fmt: skip


def _property_rows(
    runs: list[tuple[str, PropertyRun, Subject]], budget: Budget, backend: str, note: Note
) -> list[Row]:
    rows = []
    for what, run, subject in runs:
        note(what)
        if (skip := _needs_files(subject, backend)) is not None:
            rows.append(Row(subject.design.short, what, "no failure", skip, "-", 0.0, True,
                            skipped=True))  # fmt: skip
            continue
        examples = min(budget.examples, run.examples or budget.examples)
        tried = Budget(examples, budget.steps, budget.seed)
        result = run_check(subject, backend, tried, runner=run.runner)
        got = "no failure" if result.passed else str(result.failure_detail)
        volumes = _volumes(result.backend, result.devices)
        rows.append(Row(subject.design.short, what, "no failure", got, volumes,
                        result.seconds, result.passed))  # fmt: skip
    return rows


def _mutant_rows(
    mutants: list[tuple[str, Subject]], budget: Budget, backend: str, note: Note
) -> list[Row]:
    rows = []
    for name, subject in mutants:
        where = f" ({subject.topology})" if subject.topology else ""
        note(f"mutant {name}{where}")
        if (skip := _needs_files(subject, backend)) is not None:
            rows.append(Row(subject.design.short, f"mutant {name}{where}", "caught", skip, "-",
                            0.0, True, skipped=True))  # fmt: skip
            continue
        tried = mutant_budget(budget)
        result = run_check(subject, backend, tried)
        failure = result.failure
        caught = failure is not None and failure.expect in ("violation", "divergence")
        if failure is not None and caught:
            broke = failure.violates or "a divergence"
            got = f"{broke} in {len(failure.actions)} actions"
        elif result.passed:
            got = (f"not caught in {result.examples_run} examples of up to {tried.steps} actions"
                   " (a budget below the default may be too small to reach it)")  # fmt: skip
        else:
            got = str(result.failure_detail)
        volumes = _volumes(result.backend, result.devices)
        rows.append(Row(subject.design.short, f"mutant {name}{where}", "caught", got, volumes,
                        result.seconds, caught))  # fmt: skip
    return rows


COVERAGE_WHAT = (f"coverage of impl/ by the property runs "
                 f"({describe_budget(*COVERAGE_BUDGET)}), coverage.py")  # fmt: skip
COVERAGE_EXPECTED = f"≥ {LINE_THRESHOLD:.0f} % of lines, every runner branch"


def _coverage_row(backend: str, note: Note, detail: Note) -> Row:
    note(COVERAGE_WHAT)
    started = time.monotonic()

    def run_begins(done: int, total: int, label: str) -> None:
        detail(f"coverage: run {done + 1} of {total}, {label}")

    try:
        result = measure(*COVERAGE_BUDGET, backend, progress=run_begins)
    except CoverageFailed as err:
        return Row("A+B", COVERAGE_WHAT, COVERAGE_EXPECTED, str(err), backend,
                   time.monotonic() - started, False)  # fmt: skip
    got = result.summary()
    if not result.passed:
        got += f"; not executed: {'; '.join(result.gaps())}"
    volumes = resolve_backend(backend) if backend in BACKENDS else backend
    return Row("A+B", COVERAGE_WHAT, COVERAGE_EXPECTED, got, volumes, time.monotonic() - started,
               result.passed, detail=result.to_json())  # fmt: skip


def _proof_rows(note: Note) -> list[Row]:
    """The proof of every safe configuration a property run runs."""
    rows = []
    for design, options in safe_configurations():
        choice = ", ".join(f"{k}={v}" for k, v in options.non_default().items())
        note(f"proof, design {design.short}{f', {choice}' if choice else ''}")
        proof = prove_design(options)
        got = (f"proved, {len(proof.report.queries)} queries" if proof.proved
               else f"{len(proof.report.failures)} queries failed")  # fmt: skip
        what = f"Z3 proof, safe design{f', {choice}' if choice else ''}"
        rows.append(Row(design.short, what, "proved", got, "-", proof.report.seconds,
                        proof.proved))  # fmt: skip
    return rows


def _refutation_rows(mutants: list[tuple[str, Subject]], note: Note) -> list[Row]:
    rows = []
    for name, subject in mutants:
        note(f"proof refutes mutant {name}")
        refuted = prove_design(subject.options)
        found = refuted.trace is not None and not refuted.proved
        first = refuted.report.failures[0] if refuted.report.failures else None
        if found and first is not None and refuted.trace is not None:
            how = "breaks" if first.verdict == "fails" else "does not keep"
            got = f"{first.check} {how} {first.conjunct}; trace of {len(refuted.trace.actions)}"
        else:
            got = "proved (a mutant must not be)" if refuted.proved else "no violation reached"
        rows.append(Row(subject.design.short, f"Z3 proof refutes mutant {name}", "refuted", got,
                        "-", refuted.seconds, found))  # fmt: skip
    return rows


ROLES_ROWS = 1 + len(safe_configurations()) + len(ROLES_MUTANTS) + 2 * len(DESIGNS)


def _roles_proof_rows(note: Note) -> list[Row]:
    """The roles of a pair, written once for both designs: their proof, each design's bridge
    (its invariant gives what the roles assume of its cycle), and each roles mutant refuted by
    the proof, with a violation the model reaches and both designs' engines break in lockstep."""
    note("proof, roles and epochs")
    proof = prove_roles()
    got = (f"proved, {len(proof.queries)} queries" if proof.proved
           else f"{len(proof.failures)} queries failed")  # fmt: skip
    rows = [Row("A+B", "Z3 proof, roles and epochs (failover, failback, split brain)", "proved",
                got, "-", proof.seconds, proof.proved)]  # fmt: skip
    for label, design, options in bridges():
        note(f"proof, design {label}: the cycle gives the roles what they assume")
        bridge = prove_bridge(design, options)
        got = (f"proved, {len(bridge.queries)} queries" if bridge.proved
               else f"{len(bridge.failures)} queries failed")  # fmt: skip
        rows.append(Row(design.short, f"Z3 bridge, design {label}: the cycle gives "
                        "the roles what they assume", "proved", got, "-", bridge.seconds,
                        bridge.proved))  # fmt: skip
    for name in ROLES_MUTANTS:
        note(f"roles mutant {name}")
        outcome = check_mutant(name)
        if outcome.caught and outcome.trace is not None:
            first = outcome.proof.failures[0]
            got = (f"{first.check} breaks {first.conjunct}; the model and both designs' "
                   f"engines break {outcome.violated} in {len(outcome.trace)} actions: "
                   + ", ".join(describe(a) for a in outcome.trace))  # fmt: skip
        elif outcome.proof.proved:
            got = "proved (a mutant must not be)"
        elif outcome.trace is None:
            got = "no violation reached"
        else:
            got = f"the model breaks {outcome.violated}; " + "; ".join(
                f"design {DESIGNS[d].short}'s engine breaks {broke or 'nothing'}"
                for d, broke in outcome.engines.items()
            )
        rows.append(Row("A+B", f"roles mutant {name}: refuted, reached and caught", "refuted",
                        got, "memory", outcome.seconds, outcome.caught))  # fmt: skip
    return rows


def _roles_daemon_rows(design: Design, note: Note) -> list[Row]:
    """The roles on one design's two daemons: a round trip in lockstep, and each command cut
    by a power loss after each of its durable steps."""
    rows = []
    note(f"roles lockstep, design {design.short}: two daemons in two processes")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="pm-roles-") as workdir:
        outcomes = round_trip_outcomes(design, Path(workdir))
    last = outcomes[-1]
    got = (f"{len(outcomes) - 1} actions in lockstep" if last.ok
           else f"{last.status} at action {last.index}: {last.detail}")  # fmt: skip
    rows.append(Row(design.short, "roles lockstep, two daemons in two processes: forced "
                    "promote, split brain, resync, orderly switch, crashes", "in lockstep",
                    got, "files", time.monotonic() - started, last.ok))  # fmt: skip
    note(f"roles power loss, design {design.short}: each command cut after each step")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="pm-cuts-") as workdir:
        cuts = cut_runs(design, Path(workdir))
    wrong = [f"{name} cut after step {after}: {o.status}: {o.detail}"
             for name, after, o in cuts if not o.ok]  # fmt: skip
    got = "; ".join(wrong) or f"{len(cuts)} cuts, each in lockstep through its mending"
    rows.append(Row(design.short, "roles power loss, two daemons: "
                    f"{', '.join(CUT_PLANS)} cut after each durable step", "in lockstep",
                    got, "files", time.monotonic() - started, not wrong))  # fmt: skip
    return rows


def _pinned_row(trace: Trace, label: str, backend: str, started: float) -> Row:
    """A trace that pins a power-loss crash state replays that crash state."""
    report = explore(trace, DEFAULT_BOUNDS, backend)
    got = f"violation {report.first.predicate}" if report.first else (report.problem or "pass")
    expected = f"violation {trace.violates}"
    return Row(DESIGNS[trace.design].short, label, expected, got, report.backend,
               time.monotonic() - started, got == expected)  # fmt: skip


def _trace_rows(traces_dir: Path, files: list[Path], backend: str, note: Note) -> list[Row]:
    rows = []
    for path in files:
        label = f"trace {path.relative_to(traces_dir).with_suffix('')}"
        note(label)
        started = time.monotonic()
        try:
            trace = read_trace(path)
        except TraceFormatError as err:
            rows.append(Row("?", label, "readable", str(err), "-", 0.0, False))
            continue
        if trace.power_loss is not None:
            rows.append(_pinned_row(trace, label, backend, started))
            continue
        expected = {"pass": "pass", "divergence": "divergence"}.get(
            trace.expect, f"violation {trace.violates}"
        )
        if trace.transport is not None and resolve_backend(backend) == "memory":
            rows.append(Row(DESIGNS[trace.design].short, label, expected,
                            "skipped: over TCP the remote's process opens the volumes (loop or "
                            "file)", "-", 0.0, True, skipped=True))  # fmt: skip
            continue
        replayed = replay(trace, backend)
        if replayed.clean:
            got = "pass"
        elif replayed.violated:
            got = f"violation {replayed.violated}"
        elif trace.expect == "divergence" and replayed.as_expected:
            got = f"divergence: {replayed.verdict()}"
        else:
            got = replayed.verdict()
        rows.append(Row(DESIGNS[trace.design].short, label, expected, got,
                        _volumes(replayed.backend, replayed.devices),
                        time.monotonic() - started, replayed.as_expected))  # fmt: skip
    return rows
