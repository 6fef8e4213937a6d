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
        site = engine.sites[spec.home]
        phase = engine.cycles[gi].current_state_value
        point = site.number(f"g{gi}.point")
        completed = site.number(f"g{gi}.completed")
        if phase == "idle":
            last = self.point_times.get((gi, point), 0.0)
            broken = site.number(f"g{gi}.broken")
            if not broken and self.clock() - last >= self.interval_s:
                engine.apply(FreezeGroup(gi))
                self.point_times[(gi, point + 1)] = self.clock()
                if self.on_point is not None:
                    self.on_point(gi, point + 1)
            return
        budget = self.grains_per_tick
        for k, remote in enumerate(engine.topology.sites):
            if remote not in spec.remotes or completed & (1 << k):
                continue
            for obj, first in self._group_grains(gi):
                frozen = site.map(f"o{obj}.frozen")
                sent = engine.sites[remote].map(f"r{obj}.delta")
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
            rsite = engine.sites[remote]
            members = self._group_grains(gi)
            if not all(rsite.number(f"r{obj}.complete") for obj, _ in members):
                continue
            for obj, first in members:
                actions += [MergeRemote(remote, first + o) for o in rsite.map(f"r{obj}.delta")]
            for action in actions:
                engine.apply(action)
            engine.apply(DropRemoteDelta(remote, gi))
        if local_ready:
            home = engine.sites[spec.home]
            for obj, first in self._group_grains(gi):
                if home.number(f"o{obj}.frozen_from_base"):
                    continue
                for offset in home.map(f"o{obj}.frozen"):
                    engine.apply(MergeLocal(first + offset))
            engine.apply(DropLocalDelta(gi))

    def status(self) -> list[GroupStatus]:
        engine, out = self.engine, []
        for gi, spec in enumerate(engine.topology.groups):
            home = engine.sites[spec.home]
            committed = {}
            for remote in spec.remotes:
                site = engine.sites[remote]
                obj = engine.topology.group_objects(gi)[0]
                complete = site.number(f"r{obj}.complete")
                committed[remote] = (
                    site.number(f"r{obj}.delta_point")
                    if complete
                    else site.number(f"r{obj}.base_point")
                )
            behind = 0
            for obj in engine.topology.group_objects(gi):
                behind += len(home.map(f"o{obj}.active")) + len(home.map(f"o{obj}.frozen"))
            out.append(GroupStatus(
                group=gi,
                point=home.number(f"g{gi}.point"),
                committed=committed,
                committed_at={r: self.point_times.get((gi, c), 0.0) for r, c in committed.items()},
                grains_behind=behind,
                phase=engine.cycles[gi].current_state_value,
            ))  # fmt: skip
        return out
