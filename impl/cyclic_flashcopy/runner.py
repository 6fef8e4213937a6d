"""The real-time runner: drives design A's sites with batched, coalesced background work.

It has one half per site, so each daemon runs its own: `CopyRunner` at the local site (commit
if the point is ready, else copy or resync up to `extents_per_tick` windows, each holding at most
`max_extent_grains` grains of the map, however sparse: one action and one barrier per window)
and `DrainRunner` at the remote (drain as many extents of the target map).  `FlashCopyRunner`
runs both in one process, a tick of each per `tick()`.
Every action goes through one door, `apply`, which the caller gives (the harness's lockstep
steps the model with each one, harness/runner_machine.py), so what the runner does is what the
model checks.
The host's reads and writes are the local site's door (`FlashCopyLocalSite.host_write`), not the
runner's.  The clock is injected: the runner never reads time itself, it stamps each consistency
point with `clock()` so callers can report the committed point's age (RPO).  No threads: a
caller that wants concurrency runs ticks from its own loop or thread.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from pitmirror.impl.cyclic_flashcopy.local import FlashCopyLocalSite
from pitmirror.impl.cyclic_flashcopy.remote import FlashCopyRemoteSite
from pitmirror.model.actions import (
    Action,
    CommitPoint,
    CopyGrain,
    DrainTarget,
    HostFlush,
    ResyncGrain,
)
from pitmirror.model.extents import Extent


@dataclass
class FlashCopyStatus:
    cycle: int
    committed: int
    committed_at: float
    grains_behind: int
    bytes_behind: int
    phase: str
    commits: int


Make = type[CopyGrain] | type[ResyncGrain] | type[DrainTarget]


def _extents(apply: Callable[[Action], None], make: Make, todo: list[Extent], limit: int,
             may_go_on: Callable[[], bool]) -> int:  # fmt: skip
    """Up to `limit` extents of one kind, until a crash cuts one (an armed crash fires inside
    an action: the site may be down after any extent); how many were applied."""
    done = 0
    for start, count in todo[:limit]:
        if not may_go_on():
            break
        apply(make(start, count))
        done += 1
    return done


@dataclass
class CopyRunner:
    """The local site's half: commit when the point is ready, else copy or resync."""

    local: FlashCopyLocalSite
    clock: Callable[[], float]
    apply: Callable[[Action], None]
    extents_per_tick: int = 8
    max_extent_grains: int = 16
    on_consistency_point: Callable[[int], None] = lambda cycle: None
    point_times: dict[int, float] = field(default_factory=dict)
    commits: int = 0

    def __post_init__(self) -> None:
        self.point_times.setdefault(0, self.clock())
        self.point_times.setdefault(self.local.local_meta().cycle, self.clock())

    def tick(self) -> bool:
        """One bounded slice of the local site's work; True when it committed a point."""
        local = self.local
        if not local.up:
            return False
        if local.cycle.ready.is_active and local.link.reaches:
            if local.cache:  # a point is taken at a flush: the host's cached writes are in it
                self.apply(HostFlush())  # and committed at the next tick
                return False
            cycle = local.local_meta().cycle
            self.apply(CommitPoint())
            committed = local.up and local.local_meta().cycle > cycle  # a crash may cut it
            if committed:
                self.point_times[cycle + 1] = self.clock()
                self.commits += 1
                self.on_consistency_point(cycle + 1)
            return committed
        todo = local.local_meta().copy_map.windows(self.max_extent_grains)
        make: Make = CopyGrain
        if not todo and local.link.reaches:
            todo, make = local.local_meta().out_of_sync.windows(self.max_extent_grains), ResyncGrain
        _extents(self.apply, make, todo, self.extents_per_tick, lambda: self.may_go_on(make))
        return False

    def may_go_on(self, make: Make) -> bool:
        """Another extent after the last: a crash or a link loss may have cut the tick."""
        return self.local.up and (make is CopyGrain or self.local.link.reaches)


@dataclass
class DrainRunner:
    """The remote site's half: drain committed grains from I2 into T."""

    remote: FlashCopyRemoteSite
    apply: Callable[[Action], None]
    extents_per_tick: int = 8
    max_extent_grains: int = 16

    def tick(self) -> int:
        """Up to `extents_per_tick` drains; how many were applied."""
        if not self.remote.up:
            return 0
        todo = self.remote.remote_meta().target_map.extents(self.max_extent_grains)
        return _extents(self.apply, DrainTarget, todo, self.extents_per_tick,
                        lambda: self.remote.up)  # fmt: skip


@dataclass
class FlashCopyRunner:
    """Both halves in one process (the demo, the harness's runner machine)."""

    local: FlashCopyLocalSite
    remote: FlashCopyRemoteSite
    clock: Callable[[], float]
    apply: Callable[[Action], None]
    """the door every action goes through: the sites' (a daemon's, the harness's world), or the
    harness's lockstep, which steps the model with each one"""
    extents_per_tick: int = 8
    max_extent_grains: int = 16
    on_consistency_point: Callable[[int], None] = lambda cycle: None
    """called with the new point's number at each commit"""

    def __post_init__(self) -> None:
        self.copier = CopyRunner(self.local, self.clock, self.apply,
                                 on_consistency_point=self.on_consistency_point)  # fmt: skip
        self.drainer = DrainRunner(self.remote, self.apply)

    @property
    def point_times(self) -> dict[int, float]:
        return self.copier.point_times

    def tick(self) -> bool:
        """One bounded slice of background work; True when it committed a point."""
        for half in (self.copier, self.drainer):
            half.extents_per_tick, half.max_extent_grains = (self.extents_per_tick,
                                                             self.max_extent_grains)  # fmt: skip
        committed = self.copier.tick()
        self.drainer.tick()
        return committed

    def status(self) -> FlashCopyStatus:
        """What the runner reports; a site that is down is reported as its journal holds it
        (what a restart would see), not refused.  Behind: every grain whose value at the target
        T is not the source's yet — still to copy or mirror at the local site, or received or
        committed at the remote and not yet drained into T."""
        local_meta = self.local.local_meta(durable=True)
        remote_meta = self.remote.remote_meta(durable=True)
        behind = local_meta.copy_map.union(local_meta.future_map).union(local_meta.out_of_sync)
        behind = behind.union(remote_meta.target_map).union(remote_meta.received_map)
        return FlashCopyStatus(
            cycle=local_meta.cycle,
            committed=remote_meta.committed,
            committed_at=self.point_times.get(remote_meta.committed, self.point_times[0]),
            grains_behind=len(behind),
            bytes_behind=len(behind) * self.local.grain_size,
            phase=self.local.phase,
            commits=self.copier.commits,
        )
