"""The runners under lockstep (harness/runner_machine.py): both designs' runners pass, and a
runner that does what the model does not allow is caught, with the action list as the trace."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test

from pitmirror.harness.check import Budget, run_check
from pitmirror.harness.cyclic_flashcopy.world import FlashCopyWorld
from pitmirror.harness.designs import Subject
from pitmirror.harness.lockstep import StepOutcome
from pitmirror.harness.machine import LockstepFailure
from pitmirror.harness.runner_machine import (
    Announce,
    RunnerHandle,
    RunnerSpec,
    build_runner_machine,
)
from pitmirror.harness.verify import property_runs
from pitmirror.impl.cyclic_flashcopy.runner import CopyRunner, Make
from pitmirror.impl.site import SiteDown
from pitmirror.model import cyclic_flashcopy as A
from pitmirror.model import freeze_overlay as B
from pitmirror.model.actions import (
    Action,
    CrashSite,
    LinkDown,
    LinkUp,
    ResyncGrain,
)


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


class HastyCopier(CopyRunner):
    """The bug the runner machine found first: resync goes on after the remote went down."""

    def may_go_on(self, make: Make) -> bool:
        return self.local.up


def test_a_runner_doing_what_the_model_forbids_is_caught() -> None:
    """The runner acts through the lockstep: the resync it sends after the remote crashed
    mid-tick is an action the model does not allow."""
    subject = Subject(A.DESIGN, A.Options(), None, 8)
    outcomes: list[StepOutcome] = []
    with subject.volume_set("memory") as volume_set:
        lockstep = subject.lockstep(*volume_set.fresh())

        def apply(action: Action) -> None:
            outcomes.append(lockstep.apply(action))
            if not outcomes[-1].ok:
                raise LockstepFailure(outcomes[-1].detail)

        engine = lockstep.engine
        assert isinstance(engine, FlashCopyWorld)
        runner = HastyCopier(engine.local, lambda: 0.0, apply, extents_per_tick=8,
                             max_extent_grains=1)  # fmt: skip
        apply(LinkDown())
        runner.tick()  # every grain copied to I1 only: out of sync
        apply(LinkUp())
        apply(CrashSite("remote", 1))  # the first resync's remote record is its last write
        with pytest.raises(LockstepFailure):
            runner.tick()
    last = outcomes[-1]
    assert last.status == "invalid" and last.action == ResyncGrain(1)
    assert "resync needs both sites and the link up" in last.detail


def test_verify_runs_the_runners_and_a_large_volume() -> None:
    rows = {(s.design_name, run.runner, s.grains) for _, run, s in property_runs()}
    assert (A.DESIGN, True, 16) in rows and (A.DESIGN, False, 4096) in rows
    assert (B.DESIGN, True, 4) in rows


def _raising_runner(
    engine: object, clock: Callable[[], float], apply: Callable[[Action], None], announce: Announce
) -> RunnerHandle:
    def tick(work: int, extent: int) -> None:
        raise SiteDown("the local site is down")

    return RunnerHandle(lambda grain, seed: None, lambda grain: None, tick, lambda: {})


def test_a_runner_that_raises_fails_the_run_and_says_so() -> None:
    subject = Subject(A.DESIGN, A.Options(), None, 4)
    found: list[tuple[list[Action], StepOutcome]] = []
    with subject.volume_set("memory") as volume_set:
        machine = build_runner_machine(
            RunnerSpec(_raising_runner, lambda state: {}, lambda state: {}, "raising"),
            lambda: subject.lockstep(*volume_set.fresh()),
            4,
            lambda actions, outcome: found.append((actions, outcome)),
        )
        quick = settings(max_examples=50, deadline=None, database=None, derandomize=True,
                         suppress_health_check=list(HealthCheck))  # fmt: skip
        with pytest.raises(LockstepFailure):
            run_state_machine_as_test(machine, settings=quick)
    outcome = found[-1][1]
    assert outcome.status == "refused" and outcome.action is None
    assert "the runner raised SiteDown in a tick: the local site is down" in outcome.detail
