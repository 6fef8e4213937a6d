"""The real-time runner: drives design A's engine with batched, coalesced background work.

Each `tick()` does a bounded amount of work through the same controller events the lockstep
harness uses, one event per extent: commit if the point is ready, else copy (or resync) up to
`extents_per_tick` extents of at most `max_extent_grains` grains, then drain as many extents
of the target map.  The clock is injected: the runner never reads time itself, it stamps each
consistency point with `clock()` so callers can report the committed point's age (RPO).
No threads: a caller that wants concurrency runs ticks from its own loop or thread.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from statemachine.exceptions import TransitionNotAllowed

from pitmirror.impl.cyclic_flashcopy.engine import FlashCopyEngine
from pitmirror.impl.grains import grain_bytes


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

    def __post_init__(self) -> None:
        self.point_times.setdefault(0, self.clock())
        self.point_times.setdefault(self.engine.local.number("cycle"), self.clock())

    def host_write(self, grain: int, seed: int) -> None:
        """The host's door: one acknowledged write of a seeded grain."""
        engine = self.engine
        engine.local_cycle.send(
            "HostWrite", grain=grain, data=grain_bytes(seed, grain, engine.grain_size)
        )
        engine.local_cycle.send("Settle")

    def tick(self) -> bool:
        """One bounded slice of background work; True when it committed a point."""
        engine, local = self.engine, self.engine.local
        committed = False
        if engine.local_cycle.ready.is_active and engine.link.up:
            engine.local_cycle.send("CommitPoint")
            cycle = local.number("cycle")
            self.point_times[cycle] = self.clock()
            self.commits += 1
            committed = True
            if self.on_consistency_point is not None:
                self.on_consistency_point(cycle)
        else:
            todo = local.map("copy_map").extents(self.max_extent_grains)
            event = "CopyGrain"
            if not todo and engine.link.up:
                todo, event = (
                    local.map("out_of_sync").extents(self.max_extent_grains),
                    "ResyncGrain",
                )
            for start, count in todo[: self.extents_per_tick]:
                engine.local_cycle.send(event, grain=start, count=count)
        engine.local_cycle.send("Settle")
        if engine.remote.up:
            drains = engine.remote.map("target_map").extents(self.max_extent_grains)
            for start, count in drains[: self.extents_per_tick]:
                try:
                    engine.remote_service.send("DrainTarget", grain=start, count=count)
                except TransitionNotAllowed:
                    break
        return committed

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
