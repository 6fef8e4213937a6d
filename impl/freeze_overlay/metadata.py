"""Design B's journal metadata, typed: what a site records of a group, an object and a copy.

A home site records, per group, its newest point, the remotes that completed it, whether
mirroring is broken and the members still to freeze; per object, which auxiliary volumes hold
the active and the frozen delta (the third: the delta merging, pipelined) and the grains of
each.  A remote records, per copy, the point its base holds, the point its delta is of, the
delta's grains, the complete mark, which of its two delta volumes receives, and (pipelined)
the grains and point of the delta merging aside in the other.

Each record kind spells its journal keys in one place (`_key`), reads a typed snapshot from a
site's metadata, and builds the changes of one journal record from typed values: sets of sites
and members are stored as bitmaps over the group's own remotes and members.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from pitmirror.impl.bitmap import GrainMap
from pitmirror.impl.journal import Changes, Metadata

NO_POINT = -1


def _number(meta: Metadata, key: str) -> int:
    value = meta[key]
    assert isinstance(value, int), key
    return value


def _time(meta: Metadata, key: str) -> int:
    """A recorded time; 0 in a journal written before times were recorded."""
    value = meta.get(key, 0)
    assert isinstance(value, int), key
    return value


def _bits(meta: Metadata, key: str) -> GrainMap:
    value = meta[key]
    assert isinstance(value, GrainMap), key
    return value


@dataclass(frozen=True)
class GroupMeta:
    point: int
    completed_at: frozenset[str]
    broken: bool
    unfrozen: frozenset[int]
    """members (indices in the topology) still to freeze: the one-at-a-time mutant only"""
    taken_at: int = 0
    """when the newest point was taken, in microseconds since the epoch (0: the mirror's first
    point, or no clock).  Not a field of the model: the time a point stands for, which status
    reports"""
    previous_taken_at: int = 0
    """when the point before it was taken (what a remote that has not completed the newest one
    holds)"""


@dataclass(frozen=True)
class GroupRecord:
    """A consistency group's entries in its home site's journal."""

    index: int
    remotes: tuple[str, ...]
    members: tuple[int, ...]

    def _key(self, field: str) -> str:
        return f"group{self.index}.{field}"

    def initial(self) -> Metadata:
        return {
            self._key("point"): 1,
            self._key("completed"): GrainMap(len(self.remotes)),
            self._key("broken"): 0,
            self._key("unfrozen"): GrainMap(len(self.members)),
            self._key("taken_at"): 0,
            self._key("previous_taken_at"): 0,
        }

    def read(self, meta: Metadata) -> GroupMeta:
        completed = _bits(meta, self._key("completed"))
        unfrozen = _bits(meta, self._key("unfrozen"))
        return GroupMeta(
            point=_number(meta, self._key("point")),
            completed_at=frozenset(self.remotes[k] for k in completed),
            broken=bool(_number(meta, self._key("broken"))),
            unfrozen=frozenset(self.members[p] for p in unfrozen),
            taken_at=_time(meta, self._key("taken_at")),
            previous_taken_at=_time(meta, self._key("previous_taken_at")),
        )

    def changes(
        self,
        *,
        point: int | None = None,
        completed_at: frozenset[str] | None = None,
        broken: bool | None = None,
        unfrozen: frozenset[int] | None = None,
        taken_at: tuple[int, int] | None = None,
    ) -> Changes:
        """The changes of one record; `taken_at` is a new point's time and its predecessor's."""
        out: dict[str, Any] = {}
        if taken_at is not None:
            out[self._key("taken_at")], out[self._key("previous_taken_at")] = taken_at
        if point is not None:
            out[self._key("point")] = point
        if completed_at is not None:
            positions = (self.remotes.index(r) for r in completed_at)
            out[self._key("completed")] = _assign(len(self.remotes), positions)
        if broken is not None:
            out[self._key("broken")] = int(broken)
        if unfrozen is not None:
            positions = (self.members.index(m) for m in unfrozen)
            out[self._key("unfrozen")] = _assign(len(self.members), positions)
        return out


SLOTS = 3
"""auxiliary volumes per object: the active delta, the frozen one, the one merging (pipelined)"""


@dataclass(frozen=True)
class ObjectMeta:
    active_slot: int
    frozen_slot: int
    active: GrainMap
    frozen: GrainMap
    has_frozen: bool
    frozen_from_base: bool
    """point 1's frozen delta is the whole object, read from the base"""
    merging: GrainMap
    has_merging: bool
    merging_from_base: bool
    """point 1's delta, merging (pipelined): read from the base"""

    @property
    def merging_slot(self) -> int:
        return SLOTS * (SLOTS - 1) // 2 - self.active_slot - self.frozen_slot


@dataclass(frozen=True)
class ObjectRecord:
    """An object's entries in its home site's journal."""

    index: int
    grains: int

    def _key(self, field: str) -> str:
        return f"object{self.index}.{field}"

    def initial(self) -> Metadata:
        return {
            self._key("active_slot"): 0,
            self._key("frozen_slot"): 1,
            self._key("active"): GrainMap(self.grains),
            self._key("frozen"): GrainMap.full(self.grains),
            self._key("has_frozen"): 1,
            self._key("frozen_from_base"): 1,
            self._key("merging"): GrainMap(self.grains),
            self._key("has_merging"): 0,
            self._key("merging_from_base"): 0,
        }

    def read(self, meta: Metadata) -> ObjectMeta:
        return ObjectMeta(
            active_slot=_number(meta, self._key("active_slot")),
            frozen_slot=_number(meta, self._key("frozen_slot")),
            active=_bits(meta, self._key("active")),
            frozen=_bits(meta, self._key("frozen")),
            has_frozen=bool(_number(meta, self._key("has_frozen"))),
            frozen_from_base=bool(_number(meta, self._key("frozen_from_base"))),
            merging=_bits(meta, self._key("merging")),
            has_merging=bool(_number(meta, self._key("has_merging"))),
            merging_from_base=bool(_number(meta, self._key("merging_from_base"))),
        )

    def add_active(self, *offsets: int) -> Changes:
        return {self._key("active"): {"add": list(offsets)}}

    def freeze(self, current: ObjectMeta, pipelined: bool) -> Changes:
        """The active delta becomes the frozen one and a free auxiliary volume opens empty as
        the active one: the frozen delta's (dropped), or pipelined the merging delta's
        (dropped) while the frozen delta moves aside to merge."""
        changes: Changes = {
            self._key("frozen_slot"): current.active_slot,
            self._key("frozen"): {"clear": True, "add": list(current.active)},
            self._key("active"): {"clear": True},
            self._key("has_frozen"): 1,
            self._key("frozen_from_base"): 0,
        }
        if not pipelined:
            return changes | {self._key("active_slot"): current.frozen_slot}
        return changes | {
            self._key("active_slot"): current.merging_slot,
            self._key("merging"): {"clear": True, "add": list(current.frozen)},
            self._key("has_merging"): int(current.has_frozen),
            self._key("merging_from_base"): int(current.frozen_from_base),
        }

    def _dropped(self, delta: str) -> Changes:
        """The `delta` ("frozen" or "merging") gone: no grains, not held, not from the base."""
        return {
            self._key(f"has_{delta}"): 0,
            self._key(f"{delta}_from_base"): 0,
            self._key(delta): {"clear": True},
        }

    def drop_frozen(self) -> Changes:
        return self._dropped("frozen")

    def drop_merging(self) -> Changes:
        return self._dropped("merging")


@dataclass(frozen=True)
class CopyMeta:
    base_point: int
    delta_point: int | None
    delta: GrainMap
    complete: bool
    delta_slot: int
    """which of the copy's two delta volumes receives"""
    merging: GrainMap
    merging_point: int | None
    """pipelined: the complete delta of an earlier point, merging aside in the other volume"""
    committed_at: int = 0
    """when the newest point complete here was taken at the home (microseconds since the
    epoch; 0: none, or no clock): the committed point's source time.  Not a field of the model"""

    @property
    def merging_slot(self) -> int:
        return 1 - self.delta_slot


def committed_point(copy: CopyMeta) -> int:
    """The point a remote copy recovers: its complete delta's, else the one merging aside,
    else its base's."""
    if copy.complete and copy.delta_point is not None:
        return copy.delta_point
    return copy.base_point if copy.merging_point is None else copy.merging_point


@dataclass(frozen=True)
class CopyRecord:
    """A remote copy's entries in the remote site's journal."""

    index: int
    """the object's index in the topology"""
    grains: int

    def _key(self, field: str) -> str:
        return f"copy{self.index}.{field}"

    def initial(self) -> Metadata:
        return {
            self._key("base_point"): 0,
            self._key("delta_point"): 1,
            self._key("delta"): GrainMap(self.grains),
            self._key("complete"): 0,
            self._key("delta_slot"): 0,
            self._key("merging"): GrainMap(self.grains),
            self._key("merging_point"): NO_POINT,
            self._key("committed_at"): 0,
        }

    def read(self, meta: Metadata) -> CopyMeta:
        delta_point = _number(meta, self._key("delta_point"))
        merging_point = _number(meta, self._key("merging_point"))
        return CopyMeta(
            base_point=_number(meta, self._key("base_point")),
            delta_point=None if delta_point == NO_POINT else delta_point,
            delta=_bits(meta, self._key("delta")),
            complete=bool(_number(meta, self._key("complete"))),
            delta_slot=_number(meta, self._key("delta_slot")),
            merging=_bits(meta, self._key("merging")),
            merging_point=None if merging_point == NO_POINT else merging_point,
            committed_at=_time(meta, self._key("committed_at")),
        )

    def received(self, offsets: Sequence[int], point: int) -> Changes:
        return {self._key("delta"): {"add": list(offsets)}, self._key("delta_point"): point}

    def moved_aside(self, current: CopyMeta, received: Sequence[int], point: int) -> Changes:
        """Pipelined: the complete delta moves aside to merge (no data moves: the other volume
        receives from now on), and the grains `received` of `point` are the first it gets."""
        assert current.merging_point is None and current.delta_point is not None
        return {
            self._key("delta_slot"): current.merging_slot,
            self._key("merging"): {"clear": True, "add": list(current.delta)},
            self._key("merging_point"): current.delta_point,
            self._key("delta"): {"clear": True, "add": list(received)},
            self._key("delta_point"): point if received else NO_POINT,
            self._key("complete"): 0,
        }

    def merged_aside(self, current: CopyMeta) -> Changes:
        """Pipelined: the delta merging aside is in the base, which now holds its point."""
        assert current.merging_point is not None
        return {
            self._key("base_point"): current.merging_point,
            self._key("merging_point"): NO_POINT,
            self._key("merging"): {"clear": True},
        }

    def complete(self, point: int, taken_at: int = 0) -> Changes:
        return {self._key("complete"): 1, self._key("delta_point"): point,
                self._key("committed_at"): taken_at}  # fmt: skip

    def merged(self, current: CopyMeta) -> Changes:
        """The delta is in the base: the base now holds the delta's point, the delta is gone."""
        assert current.delta_point is not None
        return {
            self._key("base_point"): current.delta_point,
            self._key("delta_point"): NO_POINT,
            self._key("delta"): {"clear": True},
            self._key("complete"): 0,
        }

    def rolled(self, current: CopyMeta) -> Changes:
        """A forced promote's roll: the base holds the copy's committed point (its complete
        delta's, or the one merging aside, or its own), no delta is held or merging."""
        point = committed_point(current)
        empty = {"clear": True}
        return {
            self._key("base_point"): point,
            self._key("delta_point"): NO_POINT,
            self._key("delta"): empty,
            self._key("complete"): 0,
            self._key("merging_point"): NO_POINT,
            self._key("merging"): dict(empty),
        }


def _assign(size: int, positions: Iterable[int]) -> dict[str, str]:
    return {"assign": GrainMap(size, positions).to_hex()}


class GroupPoint(Protocol):
    """A group's newest point and the remotes that completed it (GroupMeta, or the model's)."""

    @property
    def point(self) -> int: ...
    @property
    def completed_at(self) -> frozenset[str]: ...


class PointsHeld(Protocol):
    """The points a remote copy holds (CopyMeta, or the model's)."""

    @property
    def base_point(self) -> int: ...
    @property
    def delta_point(self) -> int | None: ...
    @property
    def complete(self) -> bool: ...
    @property
    def merging_point(self) -> int | None: ...


def lost_record(group: GroupPoint, remote: str, copies: Iterable[PointsHeld]) -> str | None:
    """What the home's record of a group and a remote's records of its copies say was lost,
    if they disagree in a way no crash between whole records can cause: the home records a
    remote complete only after the remote's complete mark, and a remote receives only the
    home's newest point."""
    for copy in copies:
        newest = max(copy.base_point, copy.delta_point or 0, copy.merging_point or 0)
        if newest > group.point:
            return (
                f"the home journal lost records: {remote} holds point {newest}, the home "
                f"site's newest point is {group.point}"
            )
        has_point = copy.base_point >= group.point or (
            copy.complete and copy.delta_point == group.point
        )
        if remote in group.completed_at and not has_point:
            return (
                f"the {remote} journal lost its complete mark of point {group.point}, which the "
                "home site recorded"
            )
    return None
