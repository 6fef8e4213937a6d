"""The Hypothesis state machine for design A: one rule per action of the vocabulary, drawing
grains and extents from the model's own maps, applied to model and engine in lockstep."""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule

from pitmirror.harness.lockstep import StepOutcome, Stepper
from pitmirror.harness.machine import MAX_DATA_SEED, FailureHandler, LockstepMachine, extent_in
from pitmirror.model import cyclic_flashcopy as design_a
from pitmirror.model.actions import (
    SITES,
    Action,
    CommitPoint,
    CopyGrain,
    CrashSite,
    DrainTarget,
    HostRead,
    HostWrite,
    LinkDown,
    LinkUp,
    Recover,
    ResyncGrain,
)

MAX_CRASH_WRITES = 4


def build_machine(
    open_lockstep: Callable[[], Stepper], grains: int, on_failure: FailureHandler
) -> type[RuleBasedStateMachine]:
    class FlashCopyMachine(LockstepMachine):
        def open_lockstep(self) -> Stepper:
            return open_lockstep()

        def report_failure(self, actions: list[Action], outcome: StepOutcome) -> None:
            on_failure(actions, outcome)

        @property
        def model(self) -> design_a.State:
            assert self.lockstep is not None
            state = self.lockstep.model
            assert isinstance(state, design_a.State)
            return state

        @precondition(lambda self: self.model.local_up)
        @rule(grain=st.integers(0, grains - 1), data=st.integers(1, MAX_DATA_SEED))
        def host_write(self, grain: int, data: int) -> None:
            self._do(HostWrite(grain, data))

        @precondition(lambda self: self.model.local_up)
        @rule(grain=st.integers(0, grains - 1))
        def host_read(self, grain: int) -> None:
            self._do(HostRead(grain))

        @precondition(lambda self: self.model.local_up and self.model.copy_map)
        @rule(data=st.data())
        def copy_grain(self, data: st.DataObject) -> None:
            self._do(CopyGrain(*data.draw(extent_in(self.model.copy_map))))

        @precondition(
            lambda self: self.model.local_up and self.model.mirror_ok and self.model.out_of_sync
        )
        @rule(data=st.data())
        def resync_grain(self, data: st.DataObject) -> None:
            self._do(ResyncGrain(*data.draw(extent_in(self.model.out_of_sync))))

        @precondition(lambda self: design_a.why_disabled(self.model, CommitPoint()) is None)
        @rule()
        def commit_point(self) -> None:
            self._do(CommitPoint())

        @precondition(lambda self: self.model.remote_up and self.model.target_map)
        @rule(data=st.data())
        def drain_target(self, data: st.DataObject) -> None:
            self._do(DrainTarget(*data.draw(extent_in(self.model.target_map))))

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
