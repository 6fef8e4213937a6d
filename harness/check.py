"""A property run: Hypothesis drives design A's lockstep machine within a budget.

A failure is shrunk by Hypothesis, and its minimal action list is returned as a `Trace` (and
written under `save_dir` when given) that `pitmirror replay` reproduces.
"""

from __future__ import annotations

import datetime
import re
import time
from dataclasses import dataclass
from pathlib import Path

from hypothesis import HealthCheck, Phase, settings
from hypothesis.errors import HypothesisException
from hypothesis.stateful import run_state_machine_as_test

from pitmirror.harness.backends import VolumeSet
from pitmirror.harness.lockstep import StepOutcome, explain
from pitmirror.harness.machine import LockstepFailure, flashcopy_machine
from pitmirror.harness.traces import Trace, write_trace
from pitmirror.model import cyclic_flashcopy as design_a
from pitmirror.model.actions import Action


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
    budget: Budget
    examples_run: int
    seconds: float
    failure: Trace | None
    failure_detail: str | None
    saved_to: Path | None

    @property
    def passed(self) -> bool:
        return self.failure is None


def _slug(options: design_a.Options, predicate: str | None) -> str:
    changed = "-".join(f"{k}-{v}" for k, v in options.non_default().items()) or "default"
    return re.sub(r"[^a-z0-9-]+", "-", f"{changed}-{predicate or 'failure'}".lower())


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
    found: list[tuple[list[Action], StepOutcome]] = []
    counter = [0]
    started = time.monotonic()
    with VolumeSet(backend, grains, grain_size) as volume_set:
        machine = flashcopy_machine(
            volume_set, options, lambda acts, out: found.append((acts, out)), counter
        )
        run_settings = settings(
            max_examples=budget.examples,
            stateful_step_count=budget.steps,
            deadline=None,
            derandomize=budget.seed is not None,
            database=None if budget.seed is not None else settings.default.database,
            suppress_health_check=list(HealthCheck),
            phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
            backend=hypothesis_backend,
            print_blob=False,
        )
        try:
            run_state_machine_as_test(machine, settings=run_settings)
        except LockstepFailure:
            pass
        except HypothesisException as err:
            raise RuntimeError(f"hypothesis could not run: {err}") from err
        kind = volume_set.kind
    seconds = time.monotonic() - started
    if not found:
        return CheckResult(options, kind, budget, counter[0], seconds, None, None, None)
    actions, outcome = found[-1]
    trace = Trace(
        design=design_a.DESIGN,
        grains=grains,
        grain_size=grain_size,
        why=f"found by pitmirror check ({kind} volumes): {explain(outcome)}",
        actions=actions,
        options=options,
        expect="violation" if outcome.status == "violation" else "pass",
        violates=outcome.predicate,
    )
    saved = None
    if save_dir is not None:
        stamp = datetime.date.today().strftime("%y%m%d")
        saved = save_dir / f"{stamp}-{_slug(options, outcome.predicate)}.jsonl"
        write_trace(saved, trace)
    return CheckResult(options, kind, budget, counter[0], seconds, trace, explain(outcome), saved)
