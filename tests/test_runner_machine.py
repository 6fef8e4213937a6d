"""The runners under lockstep (harness/runner_machine.py): both designs' runners pass, and a
runner that does what the model does not allow is caught, with the action list as the trace."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from pitmirror.harness.check import Budget, run_check
from pitmirror.harness.designs import Subject
from pitmirror.harness.lockstep import StepOutcome, Stepper
from pitmirror.harness.machine import LockstepFailure
from pitmirror.harness.runner_machine import RunnerHandle, build_runner_machine
from pitmirror.harness.verify import property_runs
from pitmirror.impl.cyclic_flashcopy.engine import FlashCopyEngine
from pitmirror.impl.cyclic_flashcopy.runner import Runner
from pitmirror.model import cyclic_flashcopy as A
from pitmirror.model import freeze_overlay as B
from pitmirror.model.actions import Action, CopyGrain, ResyncGrain


@pytest.mark.slow
def test_design_a_runner_agrees_with_the_model(loop_backend: str) -> None:
    subject = Subject(A.DESIGN, A.Options(), None, 16)
    result = run_check(subject, loop_backend, Budget(examples=60, steps=40), runner=True)
    assert result.passed, result.failure_detail
    assert result.runner and result.steps_run > 60


@pytest.mark.slow
@pytest.mark.parametrize("topology", ["group", "fan-out", "bidirectional"])
def test_design_b_runner_agrees_with_the_model(topology: str) -> None:
    subject = Subject(B.DESIGN, B.Options(), topology, 4)
    result = run_check(subject, "memory", Budget(examples=40, steps=40), runner=True)
    assert result.passed, result.failure_detail


class HastyRunner(Runner):
    """The bug the runner machine found first: resync goes on after the remote went down."""

    def _may_go_on(self, make: type[CopyGrain] | type[ResyncGrain]) -> bool:
        return self.engine.local.up


def _hasty(
    engine: object, clock: Callable[[], float], apply: Callable[[Action], None]
) -> RunnerHandle:
    assert isinstance(engine, FlashCopyEngine)
    runner = HastyRunner(engine, clock, apply=apply)

    def tick(work: int, extent: int) -> None:
        runner.extents_per_tick, runner.max_extent_grains = work, extent
        runner.tick()

    return RunnerHandle(runner.host_write, lambda grain: None, tick)


@pytest.mark.slow
def test_a_runner_doing_what_the_model_forbids_is_caught() -> None:
    subject = Subject(A.DESIGN, A.Options(), None, 8)
    found: list[tuple[list[Action], StepOutcome]] = []
    with subject.volume_set("memory") as volume_set:

        def open_lockstep() -> Stepper:
            return subject.lockstep(*volume_set.fresh())

        machine = build_runner_machine(_hasty, open_lockstep, 8, lambda a, o: found.append((a, o)))
        run_settings = settings(max_examples=500, stateful_step_count=40, deadline=None,
                                database=None, suppress_health_check=list(HealthCheck),
                                derandomize=True, phases=[Phase.generate])  # fmt: skip
        with pytest.raises(LockstepFailure):
            run_state_machine_as_test(machine, settings=run_settings)
    actions, outcome = found[-1]
    assert outcome.status == "invalid" and isinstance(outcome.action, ResyncGrain)
    assert "resync needs both sites and the link up" in outcome.detail
    assert actions[-1] == outcome.action


def test_verify_runs_the_runners_and_a_large_volume() -> None:
    rows = {(s.design_name, run.runner, s.grains) for _, run, s in property_runs()}
    assert (A.DESIGN, True, 16) in rows and (A.DESIGN, False, 4096) in rows
    assert (B.DESIGN, True, 4) in rows
