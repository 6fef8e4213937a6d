"""The real-time runner: drives design A's engine with batched, coalesced background work.

Each `tick()` does a bounded amount of work through the vocabulary's own actions, one action
per extent: commit if the point is ready, else copy (or resync) up to `extents_per_tick`
extents of at most `max_extent_grains` grains, then drain as many extents of the target map.
Every action goes through one door, `apply` (the engine's own unless the harness steps the
model with each one, harness/runner_machine.py), so what the runner does is what the model
checks.  The clock is injected: the runner never reads time itself, it stamps each consistency
point with `clock()` so callers can report the committed point's age (RPO).  No threads: a
caller that wants concurrency runs ticks from its own loop or thread.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from pitmirror.impl.cyclic_flashcopy.engine import FlashCopyEngine
from pitmirror.model.actions import (
    Action,
    CommitPoint,
    CopyGrain,
    DrainTarget,
    HostRead,
    HostWrite,
    ResyncGrain,
)


@dataclass
class RunnerStatus:
    cycle: int
    committed: int
    committed_at: float
    grains_behind: int
    bytes_behind: int
    phase: str
    commits: int


@dataclass
class Runner:
    engine: FlashCopyEngine
    clock: Callable[[], float]
    extents_per_tick: int = 8
    max_extent_grains: int = 16
    on_consistency_point: Callable[[int], None] | None = None
    point_times: dict[int, float] = field(default_factory=dict)
    commits: int = 0
    apply: Callable[[Action], None] | None = None
    """the door every action goes through: the engine's `apply` unless given"""

    def __post_init__(self) -> None:
        self.point_times.setdefault(0, self.clock())
        self.point_times.setdefault(self.engine.local.number("cycle"), self.clock())

    def _apply(self, action: Action) -> None:
        (self.apply or self.engine.apply)(action)

    def host_write(self, grain: int, seed: int) -> None:
        """The host's door: one acknowledged write of a seeded grain."""
        self._apply(HostWrite(grain, seed))

    def host_read(self, grain: int) -> bytes | None:
        """The host's read of one grain; None when the local site is down."""
        self._apply(HostRead(grain))
        read = self.engine.local_cycle.last_read
        return None if read is None else read[1]

    def tick(self) -> bool:
        """One bounded slice of background work; True when it committed a point."""
        engine, local = self.engine, self.engine.local
        mirror_up = engine.link.up and engine.remote.up
        committed = False
        if local.up and engine.local_cycle.ready.is_active and mirror_up:
            cycle = local.number("cycle")
            self._apply(CommitPoint())
            committed = local.up and local.number("cycle") > cycle  # a crash may cut it
            if committed:
                self._stamp(cycle + 1)
        elif local.up:
            todo = local.map("copy_map").extents(self.max_extent_grains)
            make: type[CopyGrain] | type[ResyncGrain] = CopyGrain
            if not todo and mirror_up:
                todo, make = local.map("out_of_sync").extents(self.max_extent_grains), ResyncGrain
            for start, count in todo[: self.extents_per_tick]:
                if not self._may_go_on(make):  # a crash cut the last extent
                    break
                self._apply(make(start, count))
        if engine.remote.up:
            drains = engine.remote.map("target_map").extents(self.max_extent_grains)
            for start, count in drains[: self.extents_per_tick]:
                if not engine.remote.up:
                    break
                self._apply(DrainTarget(start, count))
        return committed

    def _may_go_on(self, make: type[CopyGrain] | type[ResyncGrain]) -> bool:
        engine = self.engine
        mirror_up = engine.link.up and engine.remote.up
        return engine.local.up and (make is CopyGrain or mirror_up)

    def _stamp(self, cycle: int) -> None:
        self.point_times[cycle] = self.clock()
        self.commits += 1
        if self.on_consistency_point is not None:
            self.on_consistency_point(cycle)

    def status(self) -> RunnerStatus:
        local, remote = self.engine.local, self.engine.remote
        behind = (
            local.map("copy_map").union(local.map("future_map")).union(local.map("out_of_sync"))
        )
        committed = remote.number("committed")
        return RunnerStatus(
            cycle=local.number("cycle"),
            committed=committed,
            committed_at=self.point_times.get(committed, self.point_times[0]),
            grains_behind=len(behind),
            bytes_behind=len(behind) * self.engine.grain_size,
            phase=self.engine.local_cycle.current_state_value,
            commits=self.commits,
        )
