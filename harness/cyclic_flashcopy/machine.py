"""The Hypothesis state machine for design A: one rule per action of the vocabulary, drawing
grains and extents from the model's own maps, applied to model and engine in lockstep."""

from __future__ import annotations

import collections
import functools
from collections.abc import Callable

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule

from pitmirror.harness.host_bytes import host_write_again, host_writes
from pitmirror.harness.lockstep import StepOutcome, Stepper
from pitmirror.harness.machine import (
    GRAIN_SPANS,
    MAX_DATA_SEED,
    MAX_RANGE_PARTS,
    FailureHandler,
    LockstepMachine,
    extent_in,
    member_of,
    window_in,
)
from pitmirror.model import cyclic_flashcopy as design_a
from pitmirror.model.actions import (
    GRAIN_PARTS,
    SITES,
    Action,
    CommitPoint,
    CopyGrain,
    CrashSite,
    DrainTarget,
    HostFlush,
    HostRead,
    HostWrite,
    LinkDown,
    LinkUp,
    Recover,
    ResyncGrain,
    action_name,
)

MAX_CRASH_WRITES = 4
ExtentKind = type[CopyGrain] | type[ResyncGrain] | type[DrainTarget]
WRITE_ODDS = 4
"""`advance` lets a host write land before its step on one draw in this many"""
FAULT_ODDS = 4
"""A link fault, a crash or a recovery fires on one draw in this many; on the others the
cycle moves on (as in design B's machine)"""


def _draw_extent(kind: ExtentKind, grains: frozenset[int], data: st.DataObject) -> Action:
    return kind(*data.draw(extent_in(grains)))


def build_machine(
    open_lockstep: Callable[[], Stepper], grains: int, on_failure: FailureHandler
) -> type[RuleBasedStateMachine]:
    class FlashCopyMachine(LockstepMachine):
        def __init__(self) -> None:
            super().__init__()
            self.cut: set[str] = set()
            """the kinds of the actions of this example a crash cut between two writes"""
            self.scores: collections.Counter[str] = collections.Counter()

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
        @rule(grain=st.integers(0, grains - 1), data=st.integers(1, MAX_DATA_SEED),
              fua=st.booleans())  # fmt: skip
        def host_write(self, grain: int, data: int, fua: bool) -> None:
            self._do(HostWrite(grain, data, fua))

        @precondition(lambda self: self.model.local_up)
        @rule(first_part=st.integers(0, grains * GRAIN_PARTS - 1),
              parts=st.integers(1, MAX_RANGE_PARTS), data=st.integers(1, MAX_DATA_SEED),
              fua=st.booleans())  # fmt: skip
        def host_write_range(self, first_part: int, parts: int, data: int, fua: bool) -> None:
            """A host write of parts of grains (sub-grain, or over several grains): the block
            door's write per grain, each a step of the lockstep."""
            parts = min(parts, grains * GRAIN_PARTS - first_part)
            for write in host_writes(self.model.read, first_part, parts, data, fua):
                if design_a.why_disabled(self.model, write) is not None:
                    return  # the write before crashed the site (an armed crash)
                self._do(write)

        @precondition(lambda self: design_a.why_disabled(self.model, HostFlush()) is None)
        @rule()
        def host_flush(self) -> None:
            self._do(HostFlush())

        @precondition(lambda self: self.model.local_up)
        @rule(grain=st.integers(0, grains - 1))
        def host_read(self, grain: int) -> None:
            self._do(HostRead(grain))

        @precondition(lambda self: self.model.local_up and self.model.copy_map)
        @rule(data=st.data())
        def copy_grain(self, data: st.DataObject) -> None:
            self._do(CopyGrain(*data.draw(window_in(self.model.copy_map))))

        @precondition(
            lambda self: self.model.local_up and self.model.mirror_ok and self.model.out_of_sync
        )
        @rule(data=st.data())
        def resync_grain(self, data: st.DataObject) -> None:
            self._do(ResyncGrain(*data.draw(window_in(self.model.out_of_sync))))

        @precondition(lambda self: design_a.why_disabled(self.model, CommitPoint()) is None)
        @rule()
        def commit_point(self) -> None:
            self._do(CommitPoint())

        @precondition(lambda self: self.model.remote_up and self.model.target_map)
        @rule(data=st.data())
        def drain_target(self, data: st.DataObject) -> None:
            self._do(DrainTarget(*data.draw(extent_in(self.model.target_map))))

        def _rarely(self, fault: Action, roll: int, data: st.DataObject) -> None:
            """The fault on roll 0; otherwise the step moves the cycle on, so that faults do
            not spend an example's steps (a link that flaps at every other step never lets a
            cycle commit)."""
            if roll == 0:
                self._do(fault)
            else:
                self._advance(data)

        def _advance(self, data: st.DataObject) -> None:
            """A step that moves the cycle on, drawn from those the model enables: the commit,
            or a resync, copy or drain of an extent drawn from its map (drawn, not in a fixed
            order: which comes first — a drain or the next copy — is what extents get wrong).
            On one draw in WRITE_ODDS a host write lands first: the host writes while the
            cycle moves."""
            if self.model.local_up and data.draw(st.integers(0, WRITE_ODDS - 1)) == 0:
                self._do(self._host_write(data))
            steps = self._progress(data)
            if steps:
                self._do(data.draw(st.sampled_from(steps))())

        def _progress(
            self, data: st.DataObject, repairs: bool = True
        ) -> list[Callable[[], Action]]:
            """The steps that move the cycle on and that the model enables now, each drawing
            its extent when taken; with `repairs`, a site that is down recovers and a link
            that is down comes back (without them an example whose swarm switched the repair
            rules off stays stuck after its first fault: half the examples made no commit)."""
            state = self.model
            steps: list[Callable[[], Action]] = []
            if repairs:
                steps += [functools.partial(Recover, s) for s in SITES if not state.site_up(s)]
                if not state.link_up:
                    steps.append(LinkUp)
            if design_a.why_disabled(state, CommitPoint()) is None:
                steps.append(CommitPoint)
            if state.cached and design_a.why_disabled(state, HostFlush()) is None:
                steps.append(HostFlush)
            for kind, grains_of in ((ResyncGrain, state.out_of_sync),
                                    (CopyGrain, state.copy_map),
                                    (DrainTarget, state.target_map)):  # fmt: skip
                if grains_of and design_a.why_disabled(state, kind(min(grains_of))) is None:
                    steps.append(functools.partial(_draw_extent, kind, grains_of, data))
            return steps

        @rule(data=st.data())
        def advance(self, data: st.DataObject) -> None:
            """Not an action: the next step of the cycle, so that examples reach commits and
            drains (the action rules alone wander)."""
            self._advance(data)

        @precondition(lambda self: self.model.link_up)
        @rule(data=st.data(), roll=st.integers(0, FAULT_ODDS - 1))
        def link_down(self, data: st.DataObject, roll: int) -> None:
            self._rarely(LinkDown(), roll, data)

        @precondition(lambda self: not self.model.link_up)
        @rule(data=st.data(), roll=st.integers(0, FAULT_ODDS - 1))
        def link_up(self, data: st.DataObject, roll: int) -> None:
            self._rarely(LinkUp(), roll, data)

        @precondition(lambda self: self.model.armed_crash is None)
        @rule(site=st.sampled_from(SITES), after_writes=st.integers(0, MAX_CRASH_WRITES),
              data=st.data(), roll=st.integers(0, FAULT_ODDS - 1))  # fmt: skip
        def crash_site(self, site: str, after_writes: int, data: st.DataObject, roll: int) -> None:
            if self.model.site_up(site):  # type: ignore[arg-type]
                self._rarely(CrashSite(site, after_writes), roll, data)

        def _host_write(self, data: st.DataObject) -> HostWrite:
            """A host write, half the time to a grain still to copy (the write that copies on
            write, or that a flush waits for), FUA or into the cache."""
            anywhere = st.integers(0, grains - 1)
            copying = self.model.copy_map
            grain = st.one_of(member_of(copying), anywhere) if copying else anywhere
            part, parts = data.draw(st.sampled_from(GRAIN_SPANS))
            seed, fua = data.draw(st.integers(1, MAX_DATA_SEED)), data.draw(st.booleans())
            (write,) = host_writes(self.model.read, data.draw(grain) * GRAIN_PARTS + part,
                                   parts, seed, fua)  # fmt: skip
            return write

        def _next_work(self, data: st.DataObject) -> Action | None:
            """An action that writes, drawn from what the model enables: a host write or a
            background action over a drawn extent."""
            state = self.model
            choices: list[Callable[[], Action]] = []
            if state.local_up:
                choices.append(functools.partial(self._host_write, data))
            choices += self._progress(data, repairs=False)
            if not choices:
                return None
            action = data.draw(st.sampled_from(choices))()
            return action if design_a.why_disabled(state, action) is None else None

        @precondition(lambda self: self.model.armed_crash is None)
        @rule(data=st.data())
        def crash_inside(self, data: st.DataObject) -> None:
            """A crash armed to fire between two writes of the action that follows at once
            (the cut drawn from the model's write plan of that action): the states only a cut
            action leaves (a write that reached the volume before the record that tracks it,
            say) in one rule, not a lucky pair of rules."""
            action = self._next_work(data)
            if action is None:
                return
            plan = design_a.write_plan(self.model, action)
            cuts: list[CrashSite] = []
            for i, write in enumerate(plan[:-1]):  # after the last write is no cut
                before = sum(w.site == write.site for w in plan[: i + 1])
                cuts.append(CrashSite(write.site, before))
            if not cuts:
                return
            crash = data.draw(st.sampled_from(cuts))
            self._do(crash)
            self._do(action)
            self.cut.add(action_name(action))
            # often the site restarts at once, and the host retries the write the crash left
            # unacknowledged: what a crash left half-done meets the recovery code first
            if self.model.site_up(crash.site) or not data.draw(st.booleans()):  # type: ignore[arg-type]
                return
            self._do(Recover(crash.site))
            if isinstance(action, HostWrite) and self.model.local_up and data.draw(st.booleans()):
                self._do(host_write_again(action, self.model.read))

        def _do(self, action: Action) -> None:
            super()._do(action)
            if isinstance(action, CommitPoint):
                for kind in self.cut:
                    self.scores[f"commits after a cut {kind}"] += 1
            overlap = len(self.model.copy_map & self.model.target_map)
            label = "grains both to copy and to drain"
            self.scores[label] = max(self.scores[label], overlap)

        def search_scores(self) -> dict[str, float]:
            """What the search steers towards, each on its own: commits after an action of
            each kind was cut by a crash (what a crash leaves wrong shows at the next commit),
            and grains still to copy while the target still needs their committed data (an
            extent copied over them needs target protection)."""
            return {label: float(n) for label, n in self.scores.items()}

        @precondition(lambda self: not (self.model.local_up and self.model.remote_up))
        @rule(site=st.sampled_from(SITES), data=st.data(), roll=st.integers(0, FAULT_ODDS - 1))
        def recover(self, site: str, data: st.DataObject, roll: int) -> None:
            if not self.model.site_up(site):  # type: ignore[arg-type]
                self._rarely(Recover(site), roll, data)

    FlashCopyMachine.__name__ = "FlashCopyMachine"
    return FlashCopyMachine
