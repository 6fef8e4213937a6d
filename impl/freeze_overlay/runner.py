"""The real-time runner for design B: cycles every group, no faster than its copy.

Each `tick()` moves every group on through the vocabulary's own actions (the engine's
controllers check each one): freeze when the previous point is complete at every remote and
the interval has passed since the last freeze — so the repetition interval is never shorter
than the copy (claim 18) — then copy up to `extents_per_tick` extents of at most
`max_extent_grains` delta grains per remote, mark complete, merge and drop at the remotes and
locally, extent by extent.  A design-B site or link fails only between actions (a crash is an
action of its own), so what the tick checked before it starts holds to its end.  Every action
goes through one door, `apply` (the engine's own unless the harness steps the model with each
one, harness/runner_machine.py).  The clock is injected; the runner stamps every point with it, for
the committed point's age.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from pitmirror.impl.freeze_overlay.engine import OverlayEngine
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
            if remote in group.completed_at or not engine.reachable(spec.home, remote):
                continue
            for obj, first in self._group_grains(gi):
                unsent = engine.object_meta(obj).frozen.difference(
                    engine.copy_meta(obj, remote).delta
                )
                extents = unsent.extents(self.max_extent_grains)[:budget]
                for offset, count in extents:
                    self._apply(CopyDelta(remote, first + offset, count))
                budget -= len(extents)
            if budget:
                self._apply(MarkComplete(remote, gi))
                self.commits += 1
        self._merge_remotes(gi)
        if engine.sites[spec.home].up and engine.cycles[gi].current_state_value == "merging":
            self._merge_local(gi)

    def _merge_remotes(self, gi: int) -> None:
        """Every remote that is up and holds the group's point complete merges and drops it
        (a merge is redo-safe: after a crash the whole delta is merged again)."""
        engine, spec = self.engine, self.engine.topology.groups[gi]
        members = self._group_grains(gi)
        for remote in spec.remotes:
            site = engine.sites[remote]
            if not site.up or not all(engine.copy_meta(obj, remote).complete for obj, _ in members):
                continue
            actions: list[Action] = []
            for obj, first in members:
                delta = engine.copy_meta(obj, remote).delta
                extents = delta.extents(self.max_extent_grains)
                actions += [MergeRemote(remote, first + o, n) for o, n in extents]
            for action in [*actions, DropRemoteDelta(remote, gi)]:
                self._apply(action)

    def _merge_local(self, gi: int) -> None:
        engine, actions = self.engine, list[Action]()
        for obj, first in self._group_grains(gi):
            meta = engine.object_meta(obj)
            if not meta.frozen_from_base:
                extents = meta.frozen.extents(self.max_extent_grains)
                actions += [MergeLocal(first + o, n) for o, n in extents]
        for action in [*actions, DropLocalDelta(gi)]:
            self._apply(action)

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
                points = [c.delta_point if c.complete else c.base_point for c in copies]
                assert None not in points
                committed[remote] = min(p for p in points if p is not None)
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
