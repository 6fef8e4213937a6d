"""A property run: Hypothesis drives design A's lockstep machine within a budget.

A failure's action list is shrunk (on the model for a violation, by Hypothesis for a
divergence), confirmed on the engine, and returned as a `Trace` (written under `save_dir` when
given) that `pitmirror replay` reproduces.
"""

from __future__ import annotations

import datetime
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, settings
from hypothesis.errors import HypothesisException, InvalidArgument
from hypothesis.stateful import run_state_machine_as_test

from pitmirror.harness.backends import VolumeSet
from pitmirror.harness.lockstep import StepOutcome, explain
from pitmirror.harness.machine import LockstepFailure, flashcopy_machine
from pitmirror.harness.replay import replay
from pitmirror.harness.shrink import shrink
from pitmirror.harness.traces import Trace, write_trace
from pitmirror.model import cyclic_flashcopy as design_a
from pitmirror.model.actions import Action


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
    options: design_a.Options
    backend: str
    devices: list[str]
    budget: Budget
    examples_run: int
    seconds: float
    failure: Trace | None
    failure_detail: str | None
    saved_to: Path | None

    @property
    def passed(self) -> bool:
        return self.failure is None


def option_label(options: design_a.Options) -> str:
    """The mutant's catalogue name, or the changed fields, or `safe`."""
    for name, mutant in design_a.UNSAFE_OPTIONS.items():
        if mutant == options:
            return name
    changed = options.non_default()
    return ",".join(f"{k}={v}" for k, v in changed.items()) or "safe"


def _slug(options: design_a.Options, predicate: str | None) -> str:
    label = option_label(options) if predicate else f"{option_label(options)}-divergence"
    return re.sub(r"[^a-z0-9-]+", "-", label.lower()).strip("-")


def run_check(
    options: design_a.Options,
    backend: str = "auto",
    budget: Budget | None = None,
    grains: int = 4,
    grain_size: int = 4096,
    save_dir: Path | None = None,
    hypothesis_backend: str = "hypothesis",
) -> CheckResult:
    budget = budget or Budget()
    counter = [0]
    started = time.monotonic()
    # A violation shrinks on the model (harness/shrink.py), far faster than replaying every
    # candidate on volumes; only an engine that diverges needs Hypothesis's own shrinker.
    for hypothesis_shrinks in (False, True):
        found: list[tuple[list[Action], StepOutcome]] = []
        kind, devices = _search(
            options, backend, budget, (grains, grain_size), hypothesis_backend,
            hypothesis_shrinks, found, counter,
        )  # fmt: skip
        if not found or found[-1][1].status == "violation":
            break
    seconds = time.monotonic() - started
    if not found:
        return CheckResult(options, kind, devices, budget, counter[0], seconds, None, None, None)
    actions, outcome = found[-1]
    if outcome.status == "violation" and outcome.predicate is not None:
        initial = design_a.initial_state(design_a.Config(grains=grains), options)
        shorter = shrink(actions, initial, outcome.predicate)
        confirmed = replay(_trace(shorter, outcome, options, grains, grain_size, kind), backend)
        if confirmed.violated == outcome.predicate:
            actions, outcome = shorter, confirmed.last
    trace = _trace(actions, outcome, options, grains, grain_size, kind)
    saved = None
    if save_dir is not None:
        stamp = datetime.date.today().strftime("%y%m%d")
        saved = save_dir / f"{stamp}-{_slug(options, outcome.predicate)}.jsonl"
        write_trace(saved, trace)
    return CheckResult(
        options, kind, devices, budget, counter[0], seconds, trace, explain(outcome), saved
    )


def _search(
    options: design_a.Options,
    backend: str,
    budget: Budget,
    shape: tuple[int, int],
    hypothesis_backend: str,
    hypothesis_shrinks: bool,
    found: list[tuple[list[Action], StepOutcome]],
    counter: list[int],
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
            **database,
        )
    except InvalidArgument as err:
        raise CheckSetupError(" ".join(str(err).split())) from err
    with VolumeSet(backend, *shape) as volume_set:
        machine = flashcopy_machine(
            volume_set, options, lambda acts, out: found.append((acts, out)), counter
        )
        try:
            run_state_machine_as_test(machine, settings=run_settings)
        except LockstepFailure:
            pass
        except HypothesisException as err:
            raise CheckSetupError(f"hypothesis could not run: {err}") from err
        return volume_set.kind, volume_set.devices()


def _trace(
    actions: list[Action],
    outcome: StepOutcome,
    options: design_a.Options,
    grains: int,
    grain_size: int,
    kind: str,
) -> Trace:
    label = option_label(options)
    subject = f"mutant {label}" if label in design_a.UNSAFE_OPTIONS else f"options {label}"
    return Trace(
        design=design_a.DESIGN,
        grains=grains,
        grain_size=grain_size,
        why=f"{subject}, found by pitmirror check on {kind} volumes: {explain(outcome)}",
        actions=actions,
        options=options,
        expect="violation" if outcome.status == "violation" else "pass",
        violates=outcome.predicate,
    )
