"""The real-time runner: drives design A's sites with batched, coalesced background work.

Each `tick()` does a bounded amount of work through the vocabulary's own actions, one action
per extent: commit if the point is ready, else copy (or resync) up to `extents_per_tick`
extents of at most `max_extent_grains` grains, then drain as many extents of the target map.
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
from pitmirror.model.actions import Action, CommitPoint, CopyGrain, DrainTarget, ResyncGrain
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


@dataclass
class FlashCopyRunner:
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
    point_times: dict[int, float] = field(default_factory=dict)
    commits: int = 0

    def __post_init__(self) -> None:
        self.point_times.setdefault(0, self.clock())
        self.point_times.setdefault(self.local.local_meta().cycle, self.clock())

    def tick(self) -> bool:
        """One bounded slice of background work; True when it committed a point."""
        local = self.local
        mirror_up = local.link.reaches
        committed = False
        if local.up and local.cycle.ready.is_active and mirror_up:
            cycle = local.local_meta().cycle
            self.apply(CommitPoint())
            committed = local.up and local.local_meta().cycle > cycle  # a crash may cut it
            if committed:
                self._stamp(cycle + 1)
        elif local.up:
            todo = local.local_meta().copy_map.extents(self.max_extent_grains)
            make: type[CopyGrain] | type[ResyncGrain] = CopyGrain
            if not todo and mirror_up:
                out_of_sync = local.local_meta().out_of_sync
                todo, make = out_of_sync.extents(self.max_extent_grains), ResyncGrain
            self._extents(make, todo)
        if self.remote.up:
            target_map = self.remote.remote_meta().target_map
            self._extents(DrainTarget, target_map.extents(self.max_extent_grains))
        return committed

    def _extents(
        self, make: type[CopyGrain] | type[ResyncGrain] | type[DrainTarget], todo: list[Extent]
    ) -> None:
        """Up to `extents_per_tick` extents of one kind, until a crash cuts one (an armed
        crash fires inside an action: the sites it needs may be down after any extent)."""
        for start, count in todo[: self.extents_per_tick]:
            if not self._may_go_on(make):
                break
            self.apply(make(start, count))

    def _may_go_on(self, make: type[CopyGrain] | type[ResyncGrain] | type[DrainTarget]) -> bool:
        if make is DrainTarget:
            return self.remote.up
        return self.local.up and (make is CopyGrain or self.local.link.reaches)

    def _stamp(self, cycle: int) -> None:
        self.point_times[cycle] = self.clock()
        self.commits += 1
        self.on_consistency_point(cycle)

    def status(self) -> FlashCopyStatus:
        """What the runner reports; a site that is down is reported as its journal holds it
        (what a restart would see), not refused."""
        local, remote = self.local, self.remote
        local_meta = local.local_meta(durable=True)
        behind = local_meta.copy_map.union(local_meta.future_map).union(local_meta.out_of_sync)
        committed = remote.remote_meta(durable=True).committed
        return FlashCopyStatus(
            cycle=local_meta.cycle,
            committed=committed,
            committed_at=self.point_times.get(committed, self.point_times[0]),
            grains_behind=len(behind),
            bytes_behind=len(behind) * local.grain_size,
            phase=local.phase,
            commits=self.commits,
        )
