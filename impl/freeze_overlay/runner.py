"""The real-time runner for design B: cycles every group, no faster than its copy.

Each `tick()` moves every group on through the vocabulary's own actions (the sites'
controllers check each one): freeze when the previous point is complete at every remote and
the interval has passed since the last freeze — so the repetition interval is never shorter
than the copy (claim 18) — then copy up to `extents_per_tick` extents of at most
`max_extent_grains` delta grains per remote, mark complete, merge and drop at the remotes and
locally, extent by extent (pipelined, the merges are of the previous point's deltas, moved
aside, while the current one is copied).  A design-B site or link fails only between actions
(a crash is an action of its own), so what the tick checked before it starts holds to its
end.  Every action goes through one door, `apply`, which the caller gives (the harness's
lockstep steps the model with each one, harness/runner_machine.py).  The clock is injected;
the runner stamps every point with it, for the committed point's age.  It has one half per role
of a site, so each daemon runs its own: `HomeRunner` for the groups a site is home to (what it
knows of the remotes' copies is given to it: their metadata in one process, what they said in
their messages in a daemon) and `CopyRunner` for the copies it holds as a remote;
`OverlayRunner` runs every site's halves in one process.  The host's reads and writes are a
site's door (`OverlaySite.host_write`), not the runner's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from pitmirror.impl.bitmap import GrainMap
from pitmirror.impl.freeze_overlay.metadata import CopyMeta, committed_point
from pitmirror.impl.freeze_overlay.site import OverlaySite
from pitmirror.model import freeze_overlay as model
from pitmirror.model.actions import (
    Action,
    CopyDelta,
    DropLocalDelta,
    DropRemoteDelta,
    FreezeGroup,
    HostFlush,
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
class MergePlan:
    """Each group's and site's merges still to do, planned for one point and one start of the
    site (a restart plans them again: merges lost with it are redone), and each site's merge
    extents left in this tick: the disks' pace, as `extents_per_tick` is the link's."""

    merge_extents_per_tick: int = 64
    _disk: dict[str, int] = field(default_factory=dict)
    _merges: dict[tuple[int, str], tuple[tuple[int, int], list[Action]]] = field(
        default_factory=dict
    )

    def new_tick(self) -> None:
        self._disk.clear()

    def run(self, site: OverlaySite, group: int, point: int, apply: Callable[[Action], None],
            merges: Callable[[], list[Action]], drop: Action) -> None:  # fmt: skip
        """The next merges planned for the group's delta of `point` at `site`, as many as a
        tick takes, and the drop once none is left."""
        stamp, key = (point, site.starts), (group, site.site)
        planned = self._merges.get(key)
        if planned is None or planned[0] != stamp:
            planned = (stamp, merges())
            self._merges[key] = planned
        todo = planned[1]
        now = todo[: self._disk.setdefault(site.site, self.merge_extents_per_tick)]
        self._disk[site.site] -= len(now)
        for action in now:
            apply(action)
        del todo[: len(now)]
        if not todo:
            apply(drop)
            del self._merges[key]


RemoteCopies = Callable[[int, str], CopyMeta]
"""a remote's copy of an object (object, remote site), as the home site knows it"""


@dataclass
class HomeRunner:
    """A home site's half, a group at a time: its freezes, copies and complete marks (`cycle`),
    then its local merges (`merge_local`).  What it knows of each remote's copies comes from
    `copies`: the remote site's metadata in one process, what the remote said in its messages
    in a daemon (node/freeze_overlay_served.py, which ticks each half itself)."""

    site: OverlaySite
    copies: RemoteCopies
    clock: Callable[[], float]
    apply: Callable[[Action], None]
    interval_s: float = 0.0
    extents_per_tick: int = 8
    max_extent_grains: int = 16
    on_point: Callable[[int, int], None] = lambda group, point: None
    point_times: dict[tuple[int, int], float] = field(default_factory=dict)
    plan: MergePlan = field(default_factory=MergePlan)

    def __post_init__(self) -> None:
        self.topology, self.options = self.site.topology, self.site.options

    def members(self, group: int) -> list[tuple[int, int]]:
        """(object, global first grain) of each member."""
        topo = self.topology
        return [(i, topo.first_grain(i)) for i in topo.group_objects(group)]

    def cycle(self, gi: int) -> bool:
        """Freeze when the point is complete everywhere and the interval has passed, else copy
        to and complete at each remote that can take the point; False when the group's work in
        this tick ends there (nothing to copy, or a freeze)."""
        home, spec = self.site, self.topology.groups[gi]
        if not home.up:
            return False
        group = home.group_meta(gi)
        if home.phase(gi) == "idle":
            last = self.point_times.get((gi, group.point), 0.0)
            if not group.broken and self.clock() - last >= self.interval_s:
                # the host's cached writes belong to the point: flushed first, in the same tick
                # (a host writing on between ticks would find the cache never empty), which no
                # crash cuts (a design-B site fails between actions only)
                for obj, _ in self.members(gi):
                    if home.cache.get(obj):
                        self.apply(HostFlush(obj))
                self.apply(FreezeGroup(gi))
                self.point_times[(gi, group.point + 1)] = self.clock()
                self.on_point(gi, group.point + 1)
            return False
        budget = self.extents_per_tick
        for remote in spec.remotes:
            # a remote that has the point, cannot be reached, or still merges the one before
            done = remote in group.completed_at or not home.reaches(remote)
            if done or not self._takes_point(gi, remote, group.point):
                continue
            for obj, first in self.members(gi):
                copy = self.copies(obj, remote)
                current = copy.delta_point == group.point
                sent = copy.delta if current else GrainMap(copy.delta.grain_count)
                frozen = home.object_meta(obj).frozen
                unsent = frozen.difference(sent)
                # windows over the frozen delta (a window's message carries its frozen grains,
                # at most max_extent_grains), those with a grain still to send
                extents = [(o, n) for o, n in frozen.windows(self.max_extent_grains)
                           if unsent.count_within(o, n)][:budget]  # fmt: skip
                for offset, count in extents:
                    self.apply(CopyDelta(remote, first + offset, count))
                budget -= len(extents)
            if budget:
                self.apply(MarkComplete(remote, gi))
        return True

    def _takes_point(self, gi: int, remote: str, point: int) -> bool:
        """Whether the remote can take the group's current point: it holds no delta of an
        earlier one, or (pipelined) can move it aside, the one before merged away."""
        copies = [self.copies(obj, remote) for obj, _ in self.members(gi)]
        if all(copy.delta_point in (None, point) for copy in copies):
            return True
        return self.options.pipelined and all(c.merging_point is None for c in copies)

    def merge_local(self, gi: int) -> None:
        """The frozen delta (pipelined: the one merging) into the bases, as the disks' pace
        allows, then its drop."""
        home = self.site
        if not home.up or not home.has_merge_work(gi):
            return
        pipelined = self.options.pipelined
        if not pipelined and home.phase(gi) != "merging":
            return
        members = [(home.object_meta(obj), first) for obj, first in self.members(gi)]

        def merges() -> list[Action]:
            actions: list[Action] = []
            for meta, first in members:
                from_base = meta.merging_from_base if pipelined else meta.frozen_from_base
                if not from_base:
                    delta = meta.merging if pipelined else meta.frozen
                    extents = delta.windows(self.max_extent_grains)
                    actions += [MergeLocal(first + o, n) for o, n in extents]
            return actions

        point = home.group_meta(gi).point - (1 if pipelined else 0)
        self.plan.run(home, gi, point, self.apply, merges, DropLocalDelta(gi))


@dataclass
class CopyRunner:
    """A remote site's half, a group at a time (`merge`): merge each complete delta
    (pipelined: the one merging aside) into its base copies, then drop it (a merge is
    redo-safe: after a crash the whole delta is merged again)."""

    site: OverlaySite
    apply: Callable[[Action], None]
    max_extent_grains: int = 16
    plan: MergePlan = field(default_factory=MergePlan)

    def merge(self, gi: int) -> None:
        site, topo = self.site, self.site.topology
        if not site.up:
            return
        members = [(i, topo.first_grain(i)) for i in topo.group_objects(gi)]
        pipelined = site.options.pipelined
        copies = [site.copy_meta(obj) for obj, _ in members]
        if not all(c.merging_point is not None if pipelined else c.complete for c in copies):
            return

        def merges() -> list[Action]:
            actions: list[Action] = []
            for (_, first), copy in zip(members, copies, strict=True):
                delta = copy.merging if pipelined else copy.delta
                extents = delta.windows(self.max_extent_grains)
                actions += [MergeRemote(site.site, first + o, n) for o, n in extents]
            return actions

        point = min(c.merging_point or 0 if pipelined else c.delta_point or 0 for c in copies)
        self.plan.run(site, gi, point, self.apply, merges, DropRemoteDelta(site.site, gi))


@dataclass
class OverlayRunner:
    """Every site's halves in one process (the demo, the harness's runner machine), group by
    group: the remotes' merges, the home's cycle, the remotes' merges again (a remote takes the
    next point only once it dropped this one), the home's merges."""

    sites: Mapping[str, OverlaySite]
    clock: Callable[[], float]
    apply: Callable[[Action], None]
    """the door every action goes through: the sites' (a daemon's, the harness's world), or the
    harness's lockstep, which steps the model with each one"""
    interval_s: float = 0.0
    extents_per_tick: int = 8
    max_extent_grains: int = 16
    on_point: Callable[[int, int], None] = lambda group, point: None
    """called with (group, point) at each freeze"""
    point_times: dict[tuple[int, int], float] = field(default_factory=dict)
    merge_extents_per_tick: int = 64
    """at most this many merge extents per site in a tick, its groups' merges at home and as a
    remote together (the disks' pace, as `extents_per_tick` is the link's)"""

    def __post_init__(self) -> None:
        self.topology: model.Topology = next(iter(self.sites.values())).topology
        self.plan = MergePlan()
        now = self.clock()
        for gi in range(len(self.topology.groups)):
            self.point_times[(gi, 0)] = self.point_times[(gi, 1)] = now

        def copies(obj: int, remote: str) -> CopyMeta:
            return self.sites[remote].copy_meta(obj)

        self.homes = {
            name: HomeRunner(site, copies, self.clock, self.apply, on_point=self.on_point,
                             point_times=self.point_times, plan=self.plan)
            for name, site in self.sites.items() if site.homed
        }  # fmt: skip
        self.copiers = {name: CopyRunner(site, self.apply, plan=self.plan)
                        for name, site in self.sites.items()}  # fmt: skip

    def tick(self) -> None:
        self.plan.new_tick()
        self.plan.merge_extents_per_tick = self.merge_extents_per_tick
        for home_half in self.homes.values():
            home_half.interval_s, home_half.extents_per_tick = (self.interval_s,
                                                                self.extents_per_tick)  # fmt: skip
            home_half.max_extent_grains = self.max_extent_grains
        for copy_half in self.copiers.values():
            copy_half.max_extent_grains = self.max_extent_grains
        for gi, spec in enumerate(self.topology.groups):
            home = self.homes[spec.home]
            for remote in spec.remotes:
                self.copiers[remote].merge(gi)
            if not home.cycle(gi):
                continue
            for remote in spec.remotes:
                self.copiers[remote].merge(gi)
            home.merge_local(gi)

    def status(self) -> list[GroupStatus]:
        """What the runner reports; a site that is down is reported as its journal holds it
        (what a restart would see), not refused."""
        out = []
        for gi, spec in enumerate(self.topology.groups):
            members = self.topology.group_objects(gi)
            home_site = self.sites[spec.home]
            home = home_site.durable_meta()
            committed = {}
            for remote in spec.remotes:
                held = self.sites[remote].durable_meta()
                copies = [home_site.copy_records[obj].read(held) for obj in members]
                committed[remote] = min(map(committed_point, copies))
            behind = 0
            for obj in members:
                meta = home_site.object_records[obj].read(home)
                behind += len(meta.active) + len(meta.frozen)
            out.append(GroupStatus(
                group=gi,
                point=home_site.group_records[gi].read(home).point,
                committed=committed,
                committed_at={r: self.point_times.get((gi, c), 0.0) for r, c in committed.items()},
                grains_behind=behind,
                phase=home_site.phase(gi),
            ))  # fmt: skip
        return out
