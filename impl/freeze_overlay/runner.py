"""The real-time runner for design B: cycles every group, no faster than its copy.

Each `tick()` moves every group on through the vocabulary's own actions (the engine's
controllers check each one): freeze when the previous point is complete at every remote and
the interval has passed since the last freeze — so the repetition interval is never shorter
than the copy (claim 18) — then copy up to `extents_per_tick` extents of at most
`max_extent_grains` delta grains per remote, mark complete, merge and drop at the remotes and
locally, extent by extent (pipelined, the merges are of the previous point's deltas, moved
aside, while the current one is copied).  A design-B site or link fails only between actions
(a crash is an action of its own), so what the tick checked before it starts holds to its
end.  Every action goes through one door, `apply` (the engine's own unless the harness steps
the model with each one, harness/runner_machine.py).  The clock is injected; the runner stamps
every point with it, for the committed point's age.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from pitmirror.impl.bitmap import GrainMap
from pitmirror.impl.freeze_overlay.engine import OverlayEngine
from pitmirror.impl.freeze_overlay.metadata import CopyMeta
from pitmirror.model.actions import (
    Action,
    CopyDelta,
    DropLocalDelta,
    DropRemoteDelta,
    FreezeGroup,
    HostRead,
    HostWrite,
    MarkComplete,
    MergeLocal,
    MergeRemote,
)


def committed_point(copy: CopyMeta) -> int:
    """The point a remote copy recovers: its complete delta's, else the one merging aside,
    else its base's."""
    if copy.complete and copy.delta_point is not None:
        return copy.delta_point
    return copy.base_point if copy.merging_point is None else copy.merging_point


@dataclass
class GroupStatus:
    group: int
    point: int
    committed: dict[str, int]
    committed_at: dict[str, float]
    grains_behind: int
    phase: str


@dataclass
class OverlayRunner:
    engine: OverlayEngine
    clock: Callable[[], float]
    interval_s: float = 0.0
    extents_per_tick: int = 8
    max_extent_grains: int = 16
    on_point: Callable[[int, int], None] = lambda group, point: None
    """called with (group, point) at each freeze"""
    point_times: dict[tuple[int, int], float] = field(default_factory=dict)
    commits: int = 0
    apply: Callable[[Action], None] | None = None
    """the door every action goes through: the engine's `apply` unless given"""
    merge_extents_per_tick: int = 64
    """at most this many merge extents per site in a tick, its groups' merges at home and as a
    remote together (the disks' pace, as `extents_per_tick` is the link's)"""
    _disk: dict[str, int] = field(default_factory=dict, init=False, repr=False)
    """each site's merge extents left in this tick"""
    _merges: dict[tuple[int, str], tuple[tuple[int, int], list[Action]]] = field(
        default_factory=dict, init=False, repr=False
    )
    """each group's and site's merges still to do, planned for one point and one start of the
    site (a restart plans them again: merges lost with it are redone)"""

    def __post_init__(self) -> None:
        now = self.clock()
        for gi in range(len(self.engine.topology.groups)):
            self.point_times[(gi, 0)] = now
            self.point_times[(gi, 1)] = now

    def _apply(self, action: Action) -> None:
        (self.apply or self.engine.apply)(action)

    def host_write(self, grain: int, seed: int) -> None:
        self._apply(HostWrite(grain, seed))

    def host_read(self, grain: int) -> bytes | None:
        """The host's read of one grain, through the overlay (claim 12)."""
        self._apply(HostRead(grain))
        read = self.engine.last_read_bytes()
        return None if read is None else read[1]

    def _group_grains(self, group: int) -> list[tuple[int, int]]:
        """(object, global first grain) of each member."""
        topo = self.engine.topology
        return [(i, topo.first_grain(i)) for i in topo.group_objects(group)]

    def tick(self) -> None:
        self._disk.clear()
        for gi in range(len(self.engine.topology.groups)):
            self._tick_group(gi)

    def _tick_group(self, gi: int) -> None:
        engine, spec = self.engine, self.engine.topology.groups[gi]
        self._merge_remotes(gi)  # first: a remote takes the next point only once it dropped this
        if not engine.sites[spec.home].up:
            return
        phase = engine.cycles[gi].current_state_value
        group = engine.group_meta(gi)
        if phase == "idle":
            last = self.point_times.get((gi, group.point), 0.0)
            if not group.broken and self.clock() - last >= self.interval_s:
                self._apply(FreezeGroup(gi))
                self.point_times[(gi, group.point + 1)] = self.clock()
                self.on_point(gi, group.point + 1)
            return
        budget = self.extents_per_tick
        for remote in spec.remotes:
            # a remote that has the point, cannot be reached, or still merges the one before
            done = remote in group.completed_at or not engine.reachable(spec.home, remote)
            if done or not self._takes_point(gi, remote, group.point):
                continue
            for obj, first in self._group_grains(gi):
                copy = engine.copy_meta(obj, remote)
                current = copy.delta_point == group.point
                sent = copy.delta if current else GrainMap(len(copy.delta.bits))
                unsent = engine.object_meta(obj).frozen.difference(sent)
                extents = unsent.extents(self.max_extent_grains)[:budget]
                for offset, count in extents:
                    self._apply(CopyDelta(remote, first + offset, count))
                budget -= len(extents)
            if budget:
                self._apply(MarkComplete(remote, gi))
                self.commits += 1
        self._merge_remotes(gi)
        if not engine.sites[spec.home].up or not engine.has_merge_work(gi):
            return
        if engine.options.pipelined or engine.cycles[gi].current_state_value == "merging":
            self._merge_local(gi)

    def _takes_point(self, gi: int, remote: str, point: int) -> bool:
        """Whether the remote can take the group's current point: it holds no delta of an
        earlier one, or (pipelined) can move it aside, the one before merged away."""
        copies = [self.engine.copy_meta(obj, remote) for obj, _ in self._group_grains(gi)]
        if all(copy.delta_point in (None, point) for copy in copies):
            return True
        return self.engine.options.pipelined and all(c.merging_point is None for c in copies)

    def _merge(self, gi: int, site: str, point: int, merges: Callable[[], list[Action]],
               drop: Action) -> None:  # fmt: skip
        """The next merges planned for the group's delta of `point` at `site`, as many as a
        tick takes, and the drop once none is left."""
        stamp = (point, self.engine.sites[site].starts)
        planned = self._merges.get((gi, site))
        if planned is None or planned[0] != stamp:
            planned = (stamp, merges())
            self._merges[(gi, site)] = planned
        todo = planned[1]
        now = todo[: self._disk.setdefault(site, self.merge_extents_per_tick)]
        self._disk[site] -= len(now)
        for action in now:
            self._apply(action)
        del todo[: len(now)]
        if not todo:
            self._apply(drop)
            del self._merges[(gi, site)]

    def _merge_remotes(self, gi: int) -> None:
        """Every remote that is up and holds a delta to merge — the group's point complete, or
        pipelined the one before, moved aside — merges and drops it (a merge is redo-safe:
        after a crash the whole delta is merged again)."""
        engine, spec = self.engine, self.engine.topology.groups[gi]
        members = self._group_grains(gi)
        pipelined = engine.options.pipelined
        for remote in spec.remotes:
            if not engine.sites[remote].up:
                continue
            copies = [engine.copy_meta(obj, remote) for obj, _ in members]
            if not all(c.merging_point is not None if pipelined else c.complete for c in copies):
                continue

            def merges(remote: str = remote, copies: list[CopyMeta] = copies) -> list[Action]:
                actions: list[Action] = []
                for (_, first), copy in zip(members, copies, strict=True):
                    delta = copy.merging if pipelined else copy.delta
                    extents = delta.extents(self.max_extent_grains)
                    actions += [MergeRemote(remote, first + o, n) for o, n in extents]
                return actions

            point = min(c.merging_point or 0 if pipelined else c.delta_point or 0 for c in copies)
            self._merge(gi, remote, point, merges, DropRemoteDelta(remote, gi))

    def _merge_local(self, gi: int) -> None:
        engine, pipelined = self.engine, self.engine.options.pipelined
        members = [(engine.object_meta(obj), first) for obj, first in self._group_grains(gi)]

        def merges() -> list[Action]:
            actions: list[Action] = []
            for meta, first in members:
                from_base = meta.merging_from_base if pipelined else meta.frozen_from_base
                if not from_base:
                    delta = meta.merging if pipelined else meta.frozen
                    extents = delta.extents(self.max_extent_grains)
                    actions += [MergeLocal(first + o, n) for o, n in extents]
            return actions

        point = engine.group_meta(gi).point - (1 if pipelined else 0)
        home = engine.topology.groups[gi].home
        self._merge(gi, home, point, merges, DropLocalDelta(gi))

    def status(self) -> list[GroupStatus]:
        """What the runner reports; a site that is down is reported as its journal holds it
        (what a restart would see), not refused."""
        engine, out = self.engine, []
        for gi, spec in enumerate(engine.topology.groups):
            members = engine.topology.group_objects(gi)
            home = engine.sites[spec.home].durable_meta()
            committed = {}
            for remote in spec.remotes:
                held = engine.sites[remote].durable_meta()
                copies = [engine.copy_records[obj].read(held) for obj in members]
                committed[remote] = min(map(committed_point, copies))
            behind = 0
            for obj in members:
                meta = engine.object_records[obj].read(home)
                behind += len(meta.active) + len(meta.frozen)
            out.append(GroupStatus(
                group=gi,
                point=engine.group_records[gi].read(home).point,
                committed=committed,
                committed_at={r: self.point_times.get((gi, c), 0.0) for r, c in committed.items()},
                grains_behind=behind,
                phase=engine.cycles[gi].current_state_value,
            ))  # fmt: skip
        return out
