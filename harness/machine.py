"""The Hypothesis state machine for design A: thin and flat.

Each rule builds one action of the vocabulary, applies it to model and engine in lockstep and
fails with the lockstep's sentence when anything disagrees or a predicate breaks.  Rules draw
only enabled actions (grains from the model's own maps), so every generated list is a valid
trace.  Every failing example is handed to `on_failure` as an action list; the last one is the
minimised failure.
"""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule

from pitmirror.harness.backends import VolumeSet
from pitmirror.harness.lockstep import Lockstep, StepOutcome, Stepper, explain
from pitmirror.model import cyclic_flashcopy as design_a
from pitmirror.model.actions import (
    SITES,
    Action,
    CommitPoint,
    CopyGrain,
    CrashSite,
    DrainTarget,
    HostWrite,
    LinkDown,
    LinkUp,
    Recover,
    ResyncGrain,
)

FailureHandler = Callable[[list[Action], StepOutcome], None]
MAX_CRASH_WRITES = 4
MAX_DATA_SEED = 255


class LockstepFailure(AssertionError):
    """Model and engine disagreed, or a predicate of the spec broke."""


class LockstepMachine(RuleBasedStateMachine):
    """What both designs' machines share: a lockstep on fresh volumes per example, one action
    at a time, and every failing example handed to `report_failure`.

    Hypothesis replays the minimised failure last, so the last report is the one it raises;
    the public API has no flag that says "this run is the final replay".
    """

    lockstep: Stepper | None = None

    def __init__(self) -> None:
        super().__init__()
        self.actions: list[Action] = []
        self.failure: StepOutcome | None = None

    def open_lockstep(self) -> Stepper:
        raise NotImplementedError

    def report_failure(self, actions: list[Action], outcome: StepOutcome) -> None:
        raise NotImplementedError

    @initialize()
    def start(self) -> None:
        self.lockstep = self.open_lockstep()
        self._verdict(self.lockstep.check(None, None))

    def _do(self, action: Action) -> None:
        assert self.lockstep is not None
        self.actions.append(action)
        self._verdict(self.lockstep.apply(action))

    def _verdict(self, outcome: StepOutcome) -> None:
        if not outcome.ok:
            self.failure = outcome
            raise LockstepFailure(explain(outcome))

    def teardown(self) -> None:
        if self.failure is not None:
            self.report_failure(list(self.actions), self.failure)


def flashcopy_machine(
    volume_set: VolumeSet,
    options: design_a.Options,
    on_failure: FailureHandler,
    counter: list[int] | None = None,
) -> type[RuleBasedStateMachine]:
    grains = volume_set.grains

    class FlashCopyMachine(LockstepMachine):
        def open_lockstep(self) -> Stepper:
            volumes, workdir = volume_set.fresh()
            if counter is not None:
                counter[0] += 1
            return Lockstep(volumes, workdir, options)

        def report_failure(self, actions: list[Action], outcome: StepOutcome) -> None:
            on_failure(actions, outcome)

        @property
        def model(self) -> design_a.State:
            assert self.lockstep is not None
            state: design_a.State = self.lockstep.model
            return state

        @precondition(lambda self: self.model.local_up)
        @rule(grain=st.integers(0, grains - 1), data=st.integers(1, MAX_DATA_SEED))
        def host_write(self, grain: int, data: int) -> None:
            self._do(HostWrite(grain, data))

        @precondition(lambda self: self.model.local_up and self.model.copy_map)
        @rule(data=st.data())
        def copy_grain(self, data: st.DataObject) -> None:
            self._do(CopyGrain(data.draw(st.sampled_from(sorted(self.model.copy_map)))))

        @precondition(
            lambda self: self.model.local_up and self.model.mirror_ok and self.model.out_of_sync
        )
        @rule(data=st.data())
        def resync_grain(self, data: st.DataObject) -> None:
            self._do(ResyncGrain(data.draw(st.sampled_from(sorted(self.model.out_of_sync)))))

        @precondition(lambda self: design_a.why_disabled(self.model, CommitPoint()) is None)
        @rule()
        def commit_point(self) -> None:
            self._do(CommitPoint())

        @precondition(lambda self: self.model.remote_up and self.model.target_map)
        @rule(data=st.data())
        def drain_target(self, data: st.DataObject) -> None:
            self._do(DrainTarget(data.draw(st.sampled_from(sorted(self.model.target_map)))))

        @precondition(lambda self: self.model.link_up)
        @rule()
        def link_down(self) -> None:
            self._do(LinkDown())

        @precondition(lambda self: not self.model.link_up)
        @rule()
        def link_up(self) -> None:
            self._do(LinkUp())

        @precondition(lambda self: self.model.armed_crash is None)
        @rule(site=st.sampled_from(SITES), after_writes=st.integers(0, MAX_CRASH_WRITES))
        def crash_site(self, site: str, after_writes: int) -> None:
            if self.model.site_up(site):  # type: ignore[arg-type]
                self._do(CrashSite(site, after_writes))

        @precondition(lambda self: not (self.model.local_up and self.model.remote_up))
        @rule(site=st.sampled_from(SITES))
        def recover(self, site: str) -> None:
            if not self.model.site_up(site):  # type: ignore[arg-type]
                self._do(Recover(site))

    FlashCopyMachine.__name__ = "FlashCopyMachine"
    return FlashCopyMachine
