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
the runner stamps every point with it, for the committed point's age.  It drives every site of
the topology it is given, reading each one's metadata: two sites in two processes will each
run their own part (the home's cycle, the remote's merges) and learn the other's state from
its messages.  The host's reads and writes are a site's door (`OverlaySite.host_write`), not
the runner's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from pitmirror.impl.bitmap import GrainMap
from pitmirror.impl.freeze_overlay.metadata import CopyMeta, GroupMeta, ObjectMeta
from pitmirror.impl.freeze_overlay.site import OverlaySite
from pitmirror.model import freeze_overlay as model
from pitmirror.model.actions import (
    Action,
    CopyDelta,
    DropLocalDelta,
    DropRemoteDelta,
    FreezeGroup,
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
    commits: int = 0
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
        self.topology: model.Topology = next(iter(self.sites.values())).topology
        self.options: model.Options = next(iter(self.sites.values())).options
        now = self.clock()
        for gi in range(len(self.topology.groups)):
            self.point_times[(gi, 0)] = now
            self.point_times[(gi, 1)] = now

    def _group_home(self, group: int) -> OverlaySite:
        return self.sites[self.topology.groups[group].home]

    def group_meta(self, group: int) -> GroupMeta:
        return self._group_home(group).group_meta(group)

    def object_meta(self, obj: int) -> ObjectMeta:
        return self.sites[self.topology.objects[obj].home].object_meta(obj)

    def copy_meta(self, obj: int, site: str) -> CopyMeta:
        return self.sites[site].copy_meta(obj)

    def _group_grains(self, group: int) -> list[tuple[int, int]]:
        """(object, global first grain) of each member."""
        topo = self.topology
        return [(i, topo.first_grain(i)) for i in topo.group_objects(group)]

    def tick(self) -> None:
        self._disk.clear()
        for gi in range(len(self.topology.groups)):
            self._tick_group(gi)

    def _tick_group(self, gi: int) -> None:
        spec = self.topology.groups[gi]
        self._merge_remotes(gi)  # first: a remote takes the next point only once it dropped this
        home = self.sites[spec.home]
        if not home.up:
            return
        phase = home.phase(gi)
        group = self.group_meta(gi)
        if phase == "idle":
            last = self.point_times.get((gi, group.point), 0.0)
            if not group.broken and self.clock() - last >= self.interval_s:
                self.apply(FreezeGroup(gi))
                self.point_times[(gi, group.point + 1)] = self.clock()
                self.on_point(gi, group.point + 1)
            return
        budget = self.extents_per_tick
        for remote in spec.remotes:
            # a remote that has the point, cannot be reached, or still merges the one before
            done = remote in group.completed_at or not home.reaches(remote)
            if done or not self._takes_point(gi, remote, group.point):
                continue
            for obj, first in self._group_grains(gi):
                copy = self.copy_meta(obj, remote)
                current = copy.delta_point == group.point
                sent = copy.delta if current else GrainMap(len(copy.delta.bits))
                unsent = self.object_meta(obj).frozen.difference(sent)
                extents = unsent.extents(self.max_extent_grains)[:budget]
                for offset, count in extents:
                    self.apply(CopyDelta(remote, first + offset, count))
                budget -= len(extents)
            if budget:
                self.apply(MarkComplete(remote, gi))
                self.commits += 1
        self._merge_remotes(gi)
        if not home.up or not home.has_merge_work(gi):
            return
        if self.options.pipelined or home.phase(gi) == "merging":
            self._merge_local(gi)

    def _takes_point(self, gi: int, remote: str, point: int) -> bool:
        """Whether the remote can take the group's current point: it holds no delta of an
        earlier one, or (pipelined) can move it aside, the one before merged away."""
        copies = [self.copy_meta(obj, remote) for obj, _ in self._group_grains(gi)]
        if all(copy.delta_point in (None, point) for copy in copies):
            return True
        return self.options.pipelined and all(c.merging_point is None for c in copies)

    def _merge(self, gi: int, site: str, point: int, merges: Callable[[], list[Action]],
               drop: Action) -> None:  # fmt: skip
        """The next merges planned for the group's delta of `point` at `site`, as many as a
        tick takes, and the drop once none is left."""
        stamp = (point, self.sites[site].starts)
        planned = self._merges.get((gi, site))
        if planned is None or planned[0] != stamp:
            planned = (stamp, merges())
            self._merges[(gi, site)] = planned
        todo = planned[1]
        now = todo[: self._disk.setdefault(site, self.merge_extents_per_tick)]
        self._disk[site] -= len(now)
        for action in now:
            self.apply(action)
        del todo[: len(now)]
        if not todo:
            self.apply(drop)
            del self._merges[(gi, site)]

    def _merge_remotes(self, gi: int) -> None:
        """Every remote that is up and holds a delta to merge — the group's point complete, or
        pipelined the one before, moved aside — merges and drops it (a merge is redo-safe:
        after a crash the whole delta is merged again)."""
        spec = self.topology.groups[gi]
        members = self._group_grains(gi)
        pipelined = self.options.pipelined
        for remote in spec.remotes:
            if not self.sites[remote].up:
                continue
            copies = [self.copy_meta(obj, remote) for obj, _ in members]
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
        pipelined = self.options.pipelined
        members = [(self.object_meta(obj), first) for obj, first in self._group_grains(gi)]

        def merges() -> list[Action]:
            actions: list[Action] = []
            for meta, first in members:
                from_base = meta.merging_from_base if pipelined else meta.frozen_from_base
                if not from_base:
                    delta = meta.merging if pipelined else meta.frozen
                    extents = delta.extents(self.max_extent_grains)
                    actions += [MergeLocal(first + o, n) for o, n in extents]
            return actions

        point = self.group_meta(gi).point - (1 if pipelined else 0)
        home = self.topology.groups[gi].home
        self._merge(gi, home, point, merges, DropLocalDelta(gi))

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
