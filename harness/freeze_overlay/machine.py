"""The Hypothesis state machine for design B: one rule per action of the vocabulary, each
drawing one of the actions of its kind that the model enables, applied in lockstep."""

from __future__ import annotations

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule

from pitmirror.harness.backends import VolumeSet
from pitmirror.harness.designs import Subject
from pitmirror.harness.lockstep import StepOutcome, Stepper
from pitmirror.harness.machine import MAX_DATA_SEED, FailureHandler, LockstepMachine
from pitmirror.model import freeze_overlay as B
from pitmirror.model.actions import (
    Action,
    CopyDelta,
    CrashSite,
    DropLocalDelta,
    DropRemoteDelta,
    FreezeGroup,
    FreezeMember,
    HostWrite,
    LinkDown,
    LinkUp,
    MarkComplete,
    MergeLocal,
    MergeRemote,
    Recover,
)

KINDS: tuple[type, ...] = (
    FreezeGroup, FreezeMember, CopyDelta, MarkComplete, MergeRemote, DropRemoteDelta,
    MergeLocal, DropLocalDelta, LinkDown, LinkUp, CrashSite, Recover,
)  # fmt: skip
# The order in which `advance` moves a cycle on: finish what is started before starting more.
PROGRESS: tuple[type, ...] = (
    FreezeMember, MarkComplete, DropRemoteDelta, DropLocalDelta, MergeRemote, MergeLocal,
    CopyDelta, FreezeGroup,
)  # fmt: skip


# BreakMirror is left out of random runs: once broken, a group stops cycling and the rest of
# the example tests little; hand-written traces cover it.
def overlay_machine(
    volume_set: VolumeSet,
    subject: Subject,
    on_failure: FailureHandler,
    counter: list[int] | None = None,
) -> type[RuleBasedStateMachine]:
    grains = subject.topology_spec().grains

    class OverlayMachine(LockstepMachine):
        def open_lockstep(self) -> Stepper:
            volumes, workdir = volume_set.fresh()
            if counter is not None:
                counter[0] += 1
            return subject.lockstep(volumes, workdir)

        def report_failure(self, actions: list[Action], outcome: StepOutcome) -> None:
            on_failure(actions, outcome)

        @property
        def model(self) -> B.State:
            assert self.lockstep is not None
            state: B.State = self.lockstep.model
            return state

        def enabled(self, kind: type) -> list[Action]:
            return [a for a in B.enabled_actions(self.model) if isinstance(a, kind)]

        @precondition(lambda self: bool(self.enabled(HostWrite)))
        @rule(grain=st.integers(0, grains - 1), data=st.integers(1, MAX_DATA_SEED))
        def host_write(self, grain: int, data: int) -> None:
            if B.why_disabled(self.model, HostWrite(grain, data)) is None:
                self._do(HostWrite(grain, data))

        @rule(kind=st.sampled_from(KINDS), data=st.data())
        def background(self, kind: type, data: st.DataObject) -> None:
            """Any other action: its kind first, then one enabled action of that kind."""
            choices = self.enabled(kind)
            if choices:
                self._do(data.draw(st.sampled_from(choices)))

        @rule(data=st.data())
        def advance(self, data: st.DataObject) -> None:
            """The next step of the cycle, so that examples reach commits and merges."""
            for kind in PROGRESS:
                choices = self.enabled(kind)
                if choices:
                    self._do(data.draw(st.sampled_from(choices)))
                    return

    OverlayMachine.__name__ = "OverlayMachine"
    return OverlayMachine
