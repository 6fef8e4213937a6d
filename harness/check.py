"""A property run: Hypothesis drives a design's lockstep machine within a budget.

A failure's action list is shrunk (on the model for a violation, by Hypothesis for a
divergence), confirmed on the engine, and returned as a `Trace` (written under `save_dir` when
given) that `pitmirror replay` reproduces.
"""

from __future__ import annotations

import datetime
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, seed, settings
from hypothesis.errors import HypothesisException, InvalidArgument
from hypothesis.stateful import run_state_machine_as_test

from pitmirror.harness.designs import Subject
from pitmirror.harness.lockstep import StepOutcome, SteppableEngine, Stepper, explain
from pitmirror.harness.machine import LockstepFailure
from pitmirror.harness.replay import replay
from pitmirror.harness.runner_machine import build_runner_machine
from pitmirror.harness.shrink import enabled_run, shrink
from pitmirror.harness.traces import Trace, save_finding
from pitmirror.harness.transport_mutants import transport_mutant as transport_mutant_of
from pitmirror.model.actions import Action
from pitmirror.model.design import ModelState
from pitmirror.model.options import DesignOptions


class CheckSetupError(Exception):
    """The run could not start as asked (an unknown Hypothesis backend, say)."""


@dataclass(frozen=True)
class Budget:
    examples: int = 100
    steps: int = 40
    seed: int | None = 0
    """None: a random run, and failures found before are tried first (the example database)."""


@dataclass
class CheckResult:
    subject: Subject
    backend: str
    devices: list[str]
    budget: Budget
    examples_run: int
    seconds: float
    failure: Trace | None
    failure_detail: str | None
    saved_to: Path | None
    save_error: str | None = None
    """Why the failing trace could not be written; the trace is still in `failure`."""
    steps_run: int = 0
    """actions applied in lockstep over every example (the harness's throughput)"""
    runner: bool = False
    """driven through the design's runner, not one action at a time"""

    @property
    def steps_per_second(self) -> float:
        return self.steps_run / self.seconds if self.seconds > 0 else 0.0

    @property
    def options(self) -> DesignOptions:
        return self.subject.options

    @property
    def passed(self) -> bool:
        return self.failure is None


class CountingStepper:
    """A lockstep that counts the actions it applies into `counter[1]`."""

    def __init__(self, inner: Stepper, counter: list[int]) -> None:
        self.inner, self.counter = inner, counter

    @property
    def full_every(self) -> int:
        return self.inner.full_every

    @full_every.setter
    def full_every(self, steps: int) -> None:
        self.inner.full_every = steps

    @property
    def model(self) -> ModelState:
        return self.inner.model

    @property
    def engine(self) -> SteppableEngine:
        return self.inner.engine

    def check(self, before: ModelState | None, action: Action | None) -> StepOutcome:
        return self.inner.check(before, action)

    def apply(self, action: Action) -> StepOutcome:
        self.counter[1] += 1
        return self.inner.apply(action)

    def probe(self) -> StepOutcome:
        return self.inner.probe()

    def finish(self) -> StepOutcome:
        return self.inner.finish()


def _slug(subject: Subject, predicate: str | None) -> str:
    label = subject.label() if predicate else f"{subject.label()}-divergence"
    if subject.topology:
        label = f"{subject.topology}-{label}"
    if subject.transport:
        label = f"tcp-{label}"
    return re.sub(r"[^a-z0-9-]+", "-", label.lower()).strip("-")


def run_check(
    subject: Subject | DesignOptions,
    backend: str = "auto",
    budget: Budget | None = None,
    save_dir: Path | None = None,
    hypothesis_backend: str = "hypothesis",
    runner: bool = False,
    full_every: int | None = None,
    progress: Callable[[int, int, bool], None] | None = None,
) -> CheckResult:
    """Property-check `subject` (bare options: their design, as `Subject.of` places them):
    one action at a time, or (`runner`) through the design's real-time runner.  `full_every`:
    a full read-back of every grain every this many steps (the lockstep's default unless
    given; 1 compares every grain after every step).  `progress` is told (examples begun,
    the budget's examples, whether a failure was found and is being shrunk) as each example
    begins."""
    if not isinstance(subject, Subject):
        subject = Subject.of(subject)
    budget = budget or Budget()
    counter = [0, 0]  # examples, steps
    started = time.monotonic()
    # A violation shrinks on the model (harness/shrink.py), far faster than replaying every
    # candidate on volumes; only an engine that diverges needs Hypothesis's own shrinker.
    for hypothesis_shrinks in (False, True):
        found: list[tuple[list[Action], StepOutcome]] = []
        kind, devices = _search(
            subject, backend, budget, hypothesis_backend, hypothesis_shrinks, found, counter,
            runner, full_every, progress,
        )  # fmt: skip
        if not found or found[-1][1].status == "violation":
            break
        if subject.transport is not None and not runner:
            found.append(shrink_divergence(subject, *found[-1], kind, backend))
            break
    seconds = time.monotonic() - started
    if not found:
        return CheckResult(subject, kind, devices, budget, counter[0], seconds, None, None, None,
                           steps_run=counter[1], runner=runner)  # fmt: skip
    actions, outcome = found[-1]
    if outcome.status == "violation" and outcome.predicate is not None:
        shorter = shrink(actions, subject.initial(), outcome.predicate)
        confirmed = replay(_trace(subject, shorter, outcome, kind, runner), backend)
        if confirmed.violated == outcome.predicate:
            actions, outcome = shorter, confirmed.last
    trace = _trace(subject, actions, outcome, kind, runner)
    saved, save_error = None, None
    if save_dir is not None:  # a found failure is never lost to an unwritable folder
        stamp = datetime.date.today().strftime("%y%m%d")
        finding = save_finding(trace, save_dir, f"{stamp}-{_slug(subject, outcome.predicate)}")
        saved, save_error = finding.path, finding.error
    return CheckResult(subject, kind, devices, budget, counter[0], seconds, trace,
                       explain(outcome), saved, save_error, counter[1], runner)  # fmt: skip


MAX_DIVERGENCE_REPLAYS = 48
"""replays on the engine a divergence over TCP is shrunk with (each starts a child process)"""


def shrink_divergence(
    subject: Subject, actions: list[Action], outcome: StepOutcome, kind: str, backend: str
) -> tuple[list[Action], StepOutcome]:
    """A divergence over TCP, shorter: each action in turn, the latest first, is left out (with
    what it alone enabled) and the rest replayed on the engine; kept when it still diverges.
    Hypothesis's shrinker took five minutes of child processes on one transport mutant here;
    this takes at most MAX_DIVERGENCE_REPLAYS replays."""
    current, last, replays = actions, outcome, 0
    at = len(current) - 2  # the last action is where the engine parted from the model
    while at >= 0 and replays < MAX_DIVERGENCE_REPLAYS:
        candidate = enabled_run(current[:at] + current[at + 1 :], subject.initial())
        replays += 1
        replayed = replay(_trace(subject, candidate, last, kind, False), backend).last
        if replayed.status == "diverged":  # the candidate is shorter: the loop ends
            current, last = candidate[: replayed.index], replayed
            at = min(at, len(current) - 1) - 1
        else:
            at -= 1
    return current, last


def _search(
    subject: Subject,
    backend: str,
    budget: Budget,
    hypothesis_backend: str,
    hypothesis_shrinks: bool,
    found: list[tuple[list[Action], StepOutcome]],
    counter: list[int],
    runner: bool = False,
    full_every: int | None = None,
    progress: Callable[[int, int, bool], None] | None = None,
) -> tuple[str, list[str]]:
    """One Hypothesis run on a fresh volume set; failures land in `found`."""
    phases = [Phase.explicit, Phase.reuse, Phase.generate]
    if hypothesis_shrinks:
        phases.append(Phase.shrink)
    # a derandomized run is a fixed budget: it must not replay stored failures
    database: dict[str, Any] = {"database": None} if budget.seed is not None else {}
    try:
        run_settings = settings(
            max_examples=budget.examples,
            stateful_step_count=budget.steps,
            deadline=None,
            derandomize=budget.seed is not None,
            suppress_health_check=list(HealthCheck),
            phases=phases,
            backend=hypothesis_backend,
            print_blob=False,
            report_multiple_bugs=False,  # one failure, the one the run reports and saves
            **database,
        )
    except InvalidArgument as err:
        raise CheckSetupError(" ".join(str(err).split())) from err
    with subject.volume_set(backend) as volume_set:

        def record(actions: list[Action], outcome: StepOutcome) -> None:
            found.append((actions, outcome))

        def open_lockstep() -> Stepper:
            volumes, workdir = volume_set.fresh()
            counter[0] += 1
            if progress is not None:
                progress(counter[0], budget.examples, bool(found))
            lockstep = CountingStepper(subject.lockstep(volumes, workdir), counter)
            if full_every is not None:
                lockstep.full_every = full_every
            return lockstep

        design, space = subject.design, subject.address_space
        if runner:
            machine = build_runner_machine(design.runner, open_lockstep, space, record)
        else:
            machine = design.machine(open_lockstep, space, record)
        if budget.seed is not None:
            # an explicit seed on the machine class (Hypothesis's documented way; derandomize
            # alone seeds from a digest of the test, which Hypothesis does not promise to keep
            # stable).  The same seed, command and installation give the same run, but not
            # across programs: Hypothesis labels the rule choice by
            # hashing the rule functions, whose hashes are their addresses, and the labels steer
            # its mutations, so `pitmirror check` and the same check called from a test (which
            # imported other modules first) may explore differently.
            machine = seed(budget.seed)(machine)
        try:
            run_state_machine_as_test(machine, settings=run_settings)
        except LockstepFailure:
            pass
        except HypothesisException as err:
            raise CheckSetupError(f"hypothesis could not run: {err}") from err
        return volume_set.kind, volume_set.devices()


def _trace(
    subject: Subject, actions: list[Action], outcome: StepOutcome, kind: str, runner: bool
) -> Trace:
    label = subject.label()
    mutant = subject.mutant() is not None
    transport_mutant = transport_mutant_of(subject.transport) is not None
    what = f"mutant {label}" if mutant or transport_mutant else f"options {label}"
    what = f"transport {what}" if transport_mutant else what
    where = f" on the {subject.topology} topology" if subject.topology else ""
    where += " over TCP" if subject.transport else ""
    # only a catalogued mutant is expected to break; on any other options a violation is a
    # bug, and its trace must fail until the bug is fixed.  A transport mutant runs the safe
    # design's model: the engine over the network parts from it.
    expect = "violation" if mutant and outcome.status == "violation" else "pass"
    return Trace(
        design=subject.design_name,
        grains=subject.grains,
        grain_size=subject.grain_size,
        why=f"{what}{where}, found by pitmirror check{' --runner' if runner else ''} on {kind} "
        f"volumes: {explain(outcome)}",
        actions=actions,
        options=subject.options,
        expect="divergence" if transport_mutant else expect,
        violates=outcome.predicate if mutant else None,
        topology=subject.topology,
        transport=subject.transport,
    )
