"""The real-time runner for design B: cycles every group, no faster than its copy.

Each `tick()` moves every group on through the vocabulary's own actions (the engine's
controllers check each one): freeze when the previous point is complete at every remote and
the interval has passed since the last freeze — so the repetition interval is never shorter
than the copy (claim 18) — then copy up to `grains_per_tick` delta grains per remote, mark
complete, merge and drop at the remotes and locally.  The clock is injected; the runner stamps
every point with it, for the committed point's age.
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
    grains_per_tick: int = 16
    on_point: Callable[[int, int], None] | None = None  # (group, point) at each freeze
    point_times: dict[tuple[int, int], float] = field(default_factory=dict)
    commits: int = 0

    def __post_init__(self) -> None:
        now = self.clock()
        for gi in range(len(self.engine.topology.groups)):
            self.point_times[(gi, 0)] = now
            self.point_times[(gi, 1)] = now

    def host_write(self, grain: int, seed: int) -> None:
        self.engine.apply(HostWrite(grain, seed))

    def _group_grains(self, group: int) -> list[tuple[int, int]]:
        """(object, global first grain) of each member."""
        topo = self.engine.topology
        return [(i, topo.first_grain(i)) for i in topo.group_objects(group)]

    def tick(self) -> None:
        for gi in range(len(self.engine.topology.groups)):
            self._tick_group(gi)

    def _tick_group(self, gi: int) -> None:
        engine, spec = self.engine, self.engine.topology.groups[gi]
        phase = engine.cycles[gi].current_state_value
        group = engine.group_meta(gi)
        if phase == "idle":
            last = self.point_times.get((gi, group.point), 0.0)
            if not group.broken and self.clock() - last >= self.interval_s:
                engine.apply(FreezeGroup(gi))
                self.point_times[(gi, group.point + 1)] = self.clock()
                if self.on_point is not None:
                    self.on_point(gi, group.point + 1)
            return
        budget = self.grains_per_tick
        for remote in spec.remotes:
            if remote in group.completed_at:
                continue
            for obj, first in self._group_grains(gi):
                frozen = engine.object_meta(obj).frozen
                sent = engine.copy_meta(obj, remote).delta
                for offset in frozen:
                    if budget and offset not in sent:
                        engine.apply(CopyDelta(remote, first + offset))
                        budget -= 1
            if budget:
                engine.apply(MarkComplete(remote, gi))
                self.commits += 1
        self._merge(gi, phase == "merging")

    def _merge(self, gi: int, local_ready: bool) -> None:
        engine, spec = self.engine, self.engine.topology.groups[gi]
        for remote in spec.remotes:
            actions: list[Action] = []
            members = self._group_grains(gi)
            if not all(engine.copy_meta(obj, remote).complete for obj, _ in members):
                continue
            for obj, first in members:
                delta = engine.copy_meta(obj, remote).delta
                actions += [MergeRemote(remote, first + o) for o in delta]
            for action in actions:
                engine.apply(action)
            engine.apply(DropRemoteDelta(remote, gi))
        if local_ready:
            for obj, first in self._group_grains(gi):
                meta = engine.object_meta(obj)
                if meta.frozen_from_base:
                    continue
                for offset in meta.frozen:
                    engine.apply(MergeLocal(first + offset))
            engine.apply(DropLocalDelta(gi))

    def status(self) -> list[GroupStatus]:
        engine, out = self.engine, []
        for gi, spec in enumerate(engine.topology.groups):
            members = engine.topology.group_objects(gi)
            committed = {}
            for remote in spec.remotes:
                copy = engine.copy_meta(members[0], remote)
                point = copy.delta_point if copy.complete else copy.base_point
                assert point is not None
                committed[remote] = point
            behind = 0
            for obj in members:
                meta = engine.object_meta(obj)
                behind += len(meta.active) + len(meta.frozen)
            out.append(GroupStatus(
                group=gi,
                point=engine.group_meta(gi).point,
                committed=committed,
                committed_at={r: self.point_times.get((gi, c), 0.0) for r, c in committed.items()},
                grains_behind=behind,
                phase=engine.cycles[gi].current_state_value,
            ))  # fmt: skip
        return out
