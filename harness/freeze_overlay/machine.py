"""The Hypothesis state machine for design B: one rule per action of the vocabulary, each
drawing one of the actions of its kind that the model enables, applied in lockstep; and one
helper rule, `advance`, that moves the cycle on."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule

from pitmirror.harness.host_bytes import host_writes
from pitmirror.harness.lockstep import StepOutcome, Stepper
from pitmirror.harness.machine import (
    GRAIN_SPANS,
    MAX_DATA_SEED,
    MAX_RANGE_PARTS,
    FailureHandler,
    LockstepMachine,
    window_in,
)
from pitmirror.model import freeze_overlay as B
from pitmirror.model.actions import (
    GRAIN_PARTS,
    Action,
    CopyDelta,
    DropLocalDelta,
    DropRemoteDelta,
    FreezeGroup,
    FreezeMember,
    HostFlush,
    HostRead,
    HostWrite,
    LinkUp,
    MarkComplete,
    MergeLocal,
    MergeRemote,
    Recover,
)
from pitmirror.model.freeze_overlay_vocabulary import VOCABULARY
from pitmirror.model.vocabulary import Entry, Origin

# The order in which `advance` moves a cycle on: finish what is started before starting more;
# when nothing else moves, a site that is down recovers and a link that is down comes back
# (without them an example whose swarm switched the repair rules off stays stuck after its
# first fault).
PROGRESS: tuple[type[Action], ...] = (
    FreezeMember, MarkComplete, DropRemoteDelta, DropLocalDelta, MergeRemote, MergeLocal,
    CopyDelta, HostFlush, FreezeGroup, Recover, LinkUp,
)  # fmt: skip
FAULT_ODDS = 4
"""A link or site fault (and its repair) fires on one draw in this many, the cycle moves on on
the others: faults are rarer than work (Hypothesis's swarm testing already switches whole
rules off per example; weighting is left to us)"""
WRITE_ODDS = 4
"""`advance` lets a host write land before its step on one draw in this many"""
BREAK_ODDS = 50
"""BreakMirror fires on one draw in this many: a broken group stops cycling, and the rest of
the example would test little"""
ODDS: dict[Origin, int] = {"fault": FAULT_ODDS, "command": BREAK_ODDS}
"""one draw in how many a kind of each origin fires (the cycle's own work: every draw)"""


def _enabled_of(state: B.State, kind: type[Action]) -> list[Any]:
    """One kind's enabled actions; for an extent kind, its B.ExtentSource list."""
    for extent_kind in B.EXTENT_KINDS:
        if kind is extent_kind:
            return B.extent_sources(state, extent_kind)
    found = [a for a in B.candidates_of(state, kind) if B.why_disabled(state, a) is None]
    if kind is HostFlush:  # a flush of an empty cache moves nothing on
        return [a for a in found if isinstance(a, HostFlush) and state.objects[a.volume].cache]
    return found


def build_machine(
    open_lockstep: Callable[[], Stepper], grains: int, on_failure: FailureHandler
) -> type[RuleBasedStateMachine]:
    class OverlayMachine(LockstepMachine):
        def open_lockstep(self) -> Stepper:
            return open_lockstep()

        def report_failure(self, actions: list[Action], outcome: StepOutcome) -> None:
            on_failure(actions, outcome)

        @property
        def model(self) -> B.State:
            assert self.lockstep is not None
            state = self.lockstep.model
            assert isinstance(state, B.State)
            return state

        def _cached(self, key: type[Action], compute: Callable[[B.State], list[Any]]) -> list[Any]:
            """Per state and kind, once: every rule's precondition asks at every step."""
            state = self.model
            if getattr(self, "_cache_at", None) is not state:
                self._cache_at = state
                self._cache: dict[type[Action], list[Any]] = {}
            if key not in self._cache:
                self._cache[key] = compute(state)
            return self._cache[key]

        def enabled(self, kind: type[Action]) -> list[Any]:
            """The enabled actions of one kind (the model's guards decide); for an extent kind,
            the places it may act with the grains it may take there (B.ExtentSource)."""
            return self._cached(kind, functools.partial(_enabled_of, kind=kind))

        def some_home_up(self) -> bool:
            """Some object's home site is up: a host write or read may be served."""
            return any(self.model.site_up(g.home) for g in self.model.topology.groups)

        def _draw(self, kind: type[Action], data: st.DataObject) -> None:
            choice = data.draw(st.sampled_from(self.enabled(kind)))
            if isinstance(choice, B.ExtentSource):
                choice = choice.action(*data.draw(window_in(choice.grains)))
            self._do(choice)

        def _rarely(self, kind: type[Action], data: st.DataObject, roll: int) -> None:
            """A fault on roll 0; otherwise the step moves the cycle on, so that the many
            fault rules do not spend an example's steps on nothing."""
            if roll == 0:
                self._draw(kind, data)
            else:
                self._advance(data)

        def _advance(self, data: st.DataObject) -> None:
            """The next step of the cycle; on one draw in WRITE_ODDS a host write lands first
            (the host writes while the cycle moves: a freeze or a merge under way meets
            writes in more examples than the host-write rule alone brings)."""
            if data.draw(st.integers(0, WRITE_ODDS - 1)) == 0:
                grain = data.draw(st.integers(0, grains - 1))
                part, parts = data.draw(st.sampled_from(GRAIN_SPANS))
                self.host_write_range(grain * GRAIN_PARTS + part, parts,
                                      data.draw(st.integers(1, MAX_DATA_SEED)),
                                      data.draw(st.booleans()))  # fmt: skip
            for kind in PROGRESS:
                if self.enabled(kind):
                    self._draw(kind, data)
                    return

        @precondition(lambda self: self.some_home_up())
        @rule(grain=st.integers(0, grains - 1), data=st.integers(1, MAX_DATA_SEED),
              fua=st.booleans())  # fmt: skip
        def host_write(self, grain: int, data: int, fua: bool) -> None:
            if B.why_disabled(self.model, HostWrite(grain, data, fua)) is None:
                self._do(HostWrite(grain, data, fua))

        @precondition(lambda self: self.some_home_up())
        @rule(first_part=st.integers(0, grains * GRAIN_PARTS - 1),
              parts=st.integers(1, MAX_RANGE_PARTS), data=st.integers(1, MAX_DATA_SEED),
              fua=st.booleans())  # fmt: skip
        def host_write_range(self, first_part: int, parts: int, data: int, fua: bool) -> None:
            """A host write of parts of grains of one object (sub-grain, or over several
            grains): the block door's write per grain, each a step of the lockstep."""
            topology = self.model.topology
            _, oi, _ = topology.locate(first_part // GRAIN_PARTS)
            end = (topology.first_grain(oi) + topology.objects[oi].grains) * GRAIN_PARTS
            for write in host_writes(self.model.read, first_part,
                                     min(parts, end - first_part), data, fua):  # fmt: skip
                if B.why_disabled(self.model, write) is not None:
                    return  # the object's home is down, or went down at the write before
                self._do(write)

        @precondition(lambda self: bool(self.enabled(HostFlush)))
        @rule(data=st.data())
        def host_flush(self, data: st.DataObject) -> None:
            self._draw(HostFlush, data)

        @precondition(lambda self: self.some_home_up())
        @rule(grain=st.integers(0, grains - 1))
        def host_read(self, grain: int) -> None:
            if B.why_disabled(self.model, HostRead(grain)) is None:
                self._do(HostRead(grain))

        @rule(data=st.data())
        def advance(self, data: st.DataObject) -> None:
            """Not an action: the next step of the cycle, so that examples reach commits and
            merges (the action rules alone wander)."""
            self._advance(data)

    for entry in VOCABULARY.of_origin("cycle", "fault", "command"):
        setattr(OverlayMachine, entry.rule_name, _action_rule(entry, OverlayMachine))
    OverlayMachine.__name__ = "OverlayMachine"
    return OverlayMachine


def _action_rule(entry: Entry, machine: type) -> Callable[..., None]:
    """The Hypothesis rule of one kind of the vocabulary (the host's two are written out
    above): it draws one of the kind's enabled actions; a fault or a command only on one
    draw in its odds, the cycle moving on on the others."""
    kind = entry.kind
    odds = ODDS.get(entry.origin)

    def draw(self: Any, data: st.DataObject) -> None:
        self._draw(kind, data)

    def rarely(self: Any, data: st.DataObject, roll: int) -> None:
        self._rarely(kind, data, roll)

    function: Callable[..., None] = draw if odds is None else rarely
    # the name Hypothesis sorts, switches (swarm testing) and prints the rule by
    function.__name__ = entry.rule_name
    function.__qualname__ = f"{machine.__qualname__}.{entry.rule_name}"
    if odds is None:
        action_rule = rule(data=st.data())(function)
    else:
        action_rule = rule(data=st.data(), roll=st.integers(0, odds - 1))(function)
    enabled: Callable[[Any], bool] = lambda self: bool(self.enabled(kind))  # noqa: E731
    return precondition(enabled)(action_rule)
