"""One site of design B: home to some groups' objects, remote to others', or both.

A site owns only its own volumes (impl/freeze_overlay/layout.py: the bases and auxiliary
volumes of the objects it is home to, the delta volumes and base copies of the copies it holds)
and its journal, which holds every role it plays.  It changes another site only by sending it a
message through the link to it (impl/freeze_overlay/messages.py: a delta extent, a complete
mark).  Every action is an event of a controller — one `GroupCycle` per group it is home to, one
`SiteService` for its remote work, the messages it receives and its crash and restart — and the
controllers call the site's own methods as callbacks and guards (the site is their model).

Every durable change is a grain write (then flush) or a journal record (fsynced) of this site,
in the order a crash can only make harmless: data before the record that makes it visible,
merges redone from complete deltas; each action's writes are the model's write plan
(model/freeze_overlay_rules.py).  The host's door takes and gives bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from statemachine.exceptions import TransitionNotAllowed

from pitmirror.impl.bitmap import GrainMap
from pitmirror.impl.freeze_overlay.controllers import GroupCycle, SiteService
from pitmirror.impl.freeze_overlay.layout import build_stores, site_volumes
from pitmirror.impl.freeze_overlay.messages import (
    MESSAGES,
    Complete,
    DeltaRuns,
    DeltaWrite,
    Message,
    delta_message,
)
from pitmirror.impl.freeze_overlay.metadata import (
    CopyMeta,
    CopyRecord,
    GroupMeta,
    GroupRecord,
    ObjectMeta,
    ObjectRecord,
)
from pitmirror.impl.journal import Changes, Journal, Metadata
from pitmirror.impl.link import Link, LinkUnavailable
from pitmirror.impl.regions import Region
from pitmirror.impl.runs_payload import grains_of_runs, split_runs
from pitmirror.impl.site import (
    DurableSite,
    EngineInvariantBroken,
    EngineRefused,
    SiteDown,
    WriteHook,
    event_arguments,
    no_clock,
    require_some,
)
from pitmirror.impl.volumes import Volume
from pitmirror.model import freeze_overlay as model
from pitmirror.model.actions import Action, action_name, describe
from pitmirror.model.extents import Extent, listed, runs
from pitmirror.model.freeze_overlay_vocabulary import VOCABULARY, group_of, handling_site


def records(topology: model.Topology) -> tuple[
    list[GroupRecord], list[ObjectRecord], list[CopyRecord]
]:  # fmt: skip
    """Where each group, object and copy keeps its entries in its site's journal."""
    groups = [
        GroupRecord(gi, group.remotes, tuple(topology.group_objects(gi)))
        for gi, group in enumerate(topology.groups)
    ]
    objects = [ObjectRecord(i, o.grains) for i, o in enumerate(topology.objects)]
    copies = [CopyRecord(i, o.grains) for i, o in enumerate(topology.objects)]
    return groups, objects, copies


def initial_meta(topology: model.Topology, site: str) -> Metadata:
    """What a new journal of `site` holds: its groups and objects as home, its copies as a
    remote."""
    groups, objects, copies = records(topology)
    meta: Metadata = {}
    for gi, group in enumerate(topology.groups):
        members = topology.group_objects(gi)
        if group.home == site:
            meta |= groups[gi].initial()
            for i in members:
                meta |= objects[i].initial()
        if site in group.remotes:
            for i in members:
                meta |= copies[i].initial()
    return meta


class OverlaySite(DurableSite):
    """One site of a topology, on its own volumes, with a link to each peer it shares a group
    with."""

    def __init__(
        self,
        name: str,
        topology: model.Topology,
        volumes: Mapping[str, Volume],
        journal: Journal,
        options: model.Options,
        links: Mapping[str, Link],
        on_write: WriteHook | None = None,
        clock: Callable[[], float] = no_clock,
    ) -> None:
        super().__init__(journal, on_write)
        self.clock = clock
        """when a point is taken, in seconds since the epoch: the product's wall clock; the
        harness's worlds run without one"""
        self.site, self.topology, self.options, self.links = name, topology, options, links
        foreign = set(volumes) - site_volumes(topology, name)
        if foreign:
            raise ValueError(f"the {name} site was given other sites' volumes: {sorted(foreign)}")
        self.local_stores, self.remote_stores = build_stores(topology, dict(volumes), name)
        self.grain_size = next(iter(volumes.values())).grain_size
        self.group_records, self.object_records, self.copy_records = records(topology)
        self.homed = [gi for gi, g in enumerate(topology.groups) if g.home == name]
        """the groups this site is home to"""
        self.cache: dict[int, dict[int, bytes]] = {}
        """per object, the host's writes without FUA not flushed yet, by offset: memory, lost
        when the site goes down"""
        self.start()
        self.cycles = {gi: GroupCycle(self, gi) for gi in self.homed}
        self.service = SiteService(self)

    # ---- metadata ----------------------------------------------------------------------------

    def members(self, group: int) -> range:
        return self.topology.group_objects(group)

    def group_meta(self, group: int) -> GroupMeta:
        return self.group_records[group].read(self.live_meta())

    def object_meta(self, obj: int) -> ObjectMeta:
        return self.object_records[obj].read(self.live_meta())

    def copy_meta(self, obj: int) -> CopyMeta:
        return self.copy_records[obj].read(self.live_meta())

    def has_merge_work(self, group: int) -> bool:
        """A delta waits to be merged into the bases: the frozen one, or (pipelined) the one
        merging."""
        metas = [self.object_meta(i) for i in self.members(group)]
        if self.options.pipelined:
            return any(meta.has_merging for meta in metas)
        return any(meta.has_frozen for meta in metas)

    def reaches(self, peer: str) -> bool:
        """A message to `peer` would be delivered now (the link and the peer are up)."""
        return self.up and self.links[peer].reaches

    # ---- the door: actions, the host's reads and writes, messages ------------------------------

    def apply(self, action: Action) -> None:
        """An action this site takes, as the vocabulary routes it
        (model/freeze_overlay_vocabulary.py); EngineRefused when it is another site's, or its
        controller does not allow it now."""
        entry = VOCABULARY.entry(action)
        handled_here = handling_site(self.topology, action) == self.site
        if entry is None or entry.origin == "host" or not handled_here:
            raise EngineRefused(f"{describe(action)} is no action of the {self.site} site")
        if entry.handler == "named":  # its work as a remote, its crash and its restart
            self._send(self.service, entry.name, event_arguments(action))
        else:
            group = group_of(self.topology, action)
            assert group is not None  # a home-handled action of this topology has a group
            self._group_event(group, action)

    def host_write(self, grain: int, data: bytes, fua: bool = True) -> None:
        """The host writes one grain of an object this site is home to; returns once it is
        durable (FUA), or once it is in the host's cache (without: `host_flush` makes it
        durable, a crash loses it)."""
        if not self._home_of_grain(grain) or len(data) != self.grain_size:
            raise EngineRefused(f"a host write of {len(data)} bytes at grain {grain}")
        self._group_event(self.topology.locate(grain)[0], "HostWrite", grain=grain, data=data,
                          fua=fua)  # fmt: skip

    def host_flush(self, volume: int) -> None:
        """The host's flush of one object this site is home to: returns once every write to it
        completed before is durable."""
        topo = self.topology
        if not 0 <= volume < len(topo.objects) or topo.objects[volume].home != self.site:
            raise EngineRefused(f"a host flush of volume {volume}")
        group = topo.locate(topo.first_grain(volume))[0]
        self._group_event(group, "HostFlush", volume=volume)

    def crash(self) -> None:
        super().crash()
        self.cache.clear()

    def host_read(self, grain: int) -> bytes:
        """Claim 12's live read of one grain of an object this site is home to."""
        if not self._home_of_grain(grain):
            raise EngineRefused(f"a host read of grain {grain}")
        data = self._group_event(self.topology.locate(grain)[0], "HostRead", grain=grain)
        assert isinstance(data, bytes)
        return data

    def receive(self, data: bytes) -> None:
        """One message from a group's home, as bytes (MessageError when they are not one)."""
        message: Message = MESSAGES.decode(data)
        match message:
            case DeltaWrite(group=group, member=member, offset=offset, point=point, data=payload):
                extents = [(offset, len(payload) // self.grain_size)]
                self._receive_delta(group, member, point, extents, payload)
            case DeltaRuns(group=group, member=member, point=point, data=payload):
                self._receive_delta(group, member, point, message.extents(), payload)
            case Complete(group=group, point=point, grains=grains, taken_at=taken_at):
                self._send(self.service, "Complete", {"group": group, "point": point,
                           "grains": grains, "taken_at": taken_at})  # fmt: skip

    def _receive_delta(self, group: int, member: int, point: int, extents: list[Extent],
                       data: bytes) -> None:  # fmt: skip
        self._send(self.service, "DeltaWrite", {"group": group, "member": member,
                   "point": point, "extents": extents, "data": data})  # fmt: skip

    def settle(self) -> None:
        """Each group's phase moved to what its metadata now says."""
        if self.up:
            for gi, cycle in self.cycles.items():
                cycle.send("Settle", group=gi)

    def phase(self, group: int) -> str:
        return str(self.cycles[group].current_state_value)

    def _home_of_grain(self, grain: int) -> bool:
        topo = self.topology
        return 0 <= grain < topo.grains and topo.objects[topo.locate(grain)[1]].home == self.site

    def _group_event(self, group: int, action: Action | str, **arguments: Any) -> object:
        if isinstance(action, str):
            event = action
        else:
            event, arguments = action_name(action), event_arguments(action)
        if not self.up:
            raise EngineRefused(f"the {self.site} site is down: {event} refused")
        return self._send(self.cycles[group], event, {**arguments, "group": group})

    def _send(self, machine: GroupCycle | SiteService, event: str,
              arguments: dict[str, Any]) -> object:  # fmt: skip
        try:
            result = machine.send(event, **arguments)
        except (TransitionNotAllowed, SiteDown, LinkUnavailable) as refused:
            raise EngineRefused(f"the {self.site} site refused {event}: {refused}") from refused
        self.settle()
        return result

    # ---- guards ------------------------------------------------------------------------------

    def may_freeze(self, group: int) -> bool:
        return not self.group_meta(group).broken

    def may_merge_early(self) -> bool:
        """Before the point is complete everywhere: pipelined, the previous point's delta
        merges (the stricter order merges the frozen delta once every remote has it)."""
        return self.options.pipelined

    def may_freeze_early(self, group: int) -> bool:
        """The next freeze waits for the point to be complete at every remote (fan-out)."""
        return False

    def complete_everywhere(self, group: int) -> bool:
        remotes = self.topology.groups[group].remotes
        return self.group_meta(group).completed_at == set(remotes)

    def between_actions(self, after_writes: int = 0) -> bool:
        """A design-B site fails between actions only (power loss inside one is explored on
        the write log, harness/power_loss.py)."""
        return after_writes == 0

    # ---- grain content -----------------------------------------------------------------------

    def _frozen_region(self, obj: int) -> Region:
        store, meta = self.local_stores[obj], self.object_meta(obj)
        return store.base if meta.frozen_from_base else store.aux[meta.frozen_slot]

    def _merging_region(self, obj: int) -> Region:
        store, meta = self.local_stores[obj], self.object_meta(obj)
        return store.base if meta.merging_from_base else store.aux[meta.merging_slot]

    def _extent(self, grain: int, count: int) -> tuple[int, int, int]:
        """(group, object, offset) of an extent, refused before any write unless it lies in
        one object."""
        topo = self.topology
        last = grain + count - 1
        if count < 1 or last >= topo.grains or topo.locate(last)[1] != topo.locate(grain)[1]:
            raise EngineRefused(f"grains [{grain}, {grain + count}) are not one object's")
        return topo.locate(grain)

    def _require_frozen(self, obj: int, offset: int, count: int) -> list[int]:
        """The frozen delta's grains within the window, at least one."""
        meta = self.object_meta(obj)
        if not meta.has_frozen:
            raise EngineRefused(f"object {obj} has no frozen delta")
        return require_some(meta.frozen, offset, count, "in the frozen delta")

    def _merge(self, base: Region, source: Region, grains: list[int]) -> None:
        """The source delta's values of `grains` into the base, one write of the plan.  Lost
        before the drop, a merge is redone from the delta: no flush of its own."""
        writes = [(start, source.read_grains(start, n)) for start, n in runs(grains)]
        self._write_runs(base, writes, self.options.flush_every_write)

    # ---- the work of each event: home ----------------------------------------------------------

    def write_host_grain(self, grain: int, data: bytes, fua: bool = True) -> None:
        _, oi, off = self.topology.locate(grain)
        if not fua:
            self.cache.setdefault(oi, {})[off] = data
            return
        meta, record = self.object_meta(oi), self.object_records[oi]
        self._write(self.local_stores[oi].aux[meta.active_slot], off, data,
                    self.keeps("host data"))  # fmt: skip
        if off not in meta.active:
            self._record(record.add_active(off))
        self.cache.get(oi, {}).pop(off, None)  # an older cached write is superseded

    def flush_host_cache(self, volume: int) -> None:
        """Group commit: the object's cached writes into the active delta's slots, run by run
        with one barrier after the last, then one record adds the grains it lacked."""
        batch = self.cache.get(volume)
        if not batch:
            return
        meta, record = self.object_meta(volume), self.object_records[volume]
        writes = [(start, b"".join(batch[o] for o in range(start, start + count)))
                  for start, count in runs(batch)]  # fmt: skip
        self._write_runs(self.local_stores[volume].aux[meta.active_slot], writes,
                         self.keeps("host data"))  # fmt: skip
        new = [offset for offset in sorted(batch) if offset not in meta.active]
        if new:
            self._record(record.add_active(*new))
        del self.cache[volume]

    def read_host_grain(self, grain: int) -> bytes:
        """The active delta if it holds the grain, else the frozen delta if it does, else the
        delta merging if it does, else the base (the whole object is point 1's frozen delta,
        from the base)."""
        _, oi, off = self.topology.locate(grain)
        cached = self.cache.get(oi, {}).get(off)
        if cached is not None:
            return cached
        meta, store = self.object_meta(oi), self.local_stores[oi]
        region = store.base
        if off in meta.active:
            region = store.aux[meta.active_slot]
        elif meta.has_frozen and off in meta.frozen:
            region = self._frozen_region(oi)
        elif meta.has_merging and off in meta.merging:
            region = self._merging_region(oi)
        return region.read_grains(off)

    def freeze_group(self, group: int) -> None:
        """One record: a new point, and the active deltas of every member frozen at once.  The
        host's cache must be empty: a point holds every write completed before it."""
        self._require_cache_flushed(group)
        self._freeze(group, list(self.members(group)))

    def _require_cache_flushed(self, group: int) -> None:
        if any(self.cache.get(i) for i in self.members(group)):
            raise EngineRefused("the host's cache holds writes not flushed yet: flush it first")

    def _freeze(self, group: int, frozen: list[int]) -> None:
        """The record of a freeze of `frozen`, the rest of the members left to FreezeMember."""
        members = list(self.members(group))
        current = self.group_meta(group)
        changes = self.group_records[group].changes(
            point=current.point + 1,
            completed_at=frozenset(),
            unfrozen=frozenset(members) - set(frozen),
            taken_at=(int(self.clock() * 1_000_000), current.taken_at),
        )
        for i in frozen:
            changes |= self.object_records[i].freeze(self.object_meta(i), self.options.pipelined)
        self._record(changes)

    def freeze_member(self, group: int, member: int) -> None:
        if member not in self.group_meta(group).unfrozen:
            raise EngineRefused(f"member {member} is not waiting to freeze")
        unfrozen = self.group_meta(group).unfrozen - {member}
        changes = self.group_records[group].changes(unfrozen=unfrozen)
        changes |= self.object_records[member].freeze(self.object_meta(member),
                                                      self.options.pipelined)  # fmt: skip
        self._record(changes)

    def copy_delta(self, site: str, grain: int, count: int = 1) -> None:
        """The frozen delta's grains within one window, sent to remote `site` (which writes
        and records those it lacks)."""
        gi, oi, off = self._extent(grain, count)
        grains = self._require_frozen(oi, off, count)
        self._require_point_to_send(gi, site)
        region = self._frozen_region(oi)
        writes = [(start, region.read_grains(start, n)) for start, n in runs(grains)]
        point = self.group_meta(gi).point
        self.links[site].send(delta_message(gi, oi, point, writes, self.grain_size))

    def mark_complete(self, site: str, group: int) -> None:
        """The commit at remote `site`: it marks every member's delta complete, then this site
        records that it did."""
        self._require_point_to_send(group, site)
        current = self.group_meta(group)
        grains = sum(len(self.object_meta(i).frozen) for i in self.members(group))
        self.links[site].send(Complete(group, current.point, grains, current.taken_at))
        completed = current.completed_at | {site}
        self._record(self.group_records[group].changes(completed_at=completed))

    def _require_point_to_send(self, group: int, site: str) -> None:
        """Remote `site` may still be sent the group's current point: it is a remote of the
        group, the freeze is over and the point is not complete there yet."""
        if site not in self.topology.groups[group].remotes:
            raise EngineRefused(f"{site} is no remote of group {group}")
        current = self.group_meta(group)
        if current.unfrozen:
            raise EngineRefused("the freeze is still in progress")
        if site in current.completed_at:
            raise EngineRefused(f"point {current.point} is already complete at {site}")

    def merge_local(self, grain: int, count: int = 1) -> None:
        """The frozen delta's grains within one window (pipelined: the merging delta's) into
        the base."""
        _, oi, off = self._extent(grain, count)
        if self.options.pipelined:
            meta = self.object_meta(oi)
            if not meta.has_merging:
                raise EngineRefused(f"object {oi} has no delta merging")
            grains = require_some(meta.merging, off, count, "in the merging delta")
            source = self._merging_region(oi)
        else:
            grains = self._require_frozen(oi, off, count)
            source = self._frozen_region(oi)
        self._merge(self.local_stores[oi].base, source, grains)

    def drop_local_delta(self, group: int) -> None:
        """The merged bases flushed (unless every merge was), then one record; refused unless
        a delta is there to drop and every grain of it is merged."""
        if not self.has_merge_work(group):
            pipelined = self.options.pipelined
            raise EngineRefused(f"there is no {'delta merging' if pipelined else 'frozen delta'}")
        for i in self.members(group):
            meta, store = self.object_meta(i), self.local_stores[i]
            if self.options.pipelined and meta.has_merging and not meta.merging_from_base:
                _require_merged(store.base, self._merging_region(i), meta.merging, "merging")
            elif not self.options.pipelined and meta.has_frozen and not meta.frozen_from_base:
                _require_merged(store.base, self._frozen_region(i), meta.frozen, "frozen")
        changes: Changes = {}
        for i in self.members(group):
            if self._drop_flushes_merges():
                self._flush(self.local_stores[i].base)
            record = self.object_records[i]
            changes |= record.drop_merging() if self.options.pipelined else record.drop_frozen()
        self._record(changes)

    def break_mirror(self, group: int) -> None:
        if self.group_meta(group).broken:
            raise EngineRefused("mirroring is already broken")
        self._record(self.group_records[group].changes(broken=True))

    def _drop_flushes_merges(self) -> bool:
        """Whether a drop flushes the merged volumes first: when the merges flushed none."""
        return not self.options.flush_every_write and self.keeps("merges before drop")

    # ---- the work of each event: remote --------------------------------------------------------

    def _moves_aside(self, group: int, point: int) -> bool:
        """Pipelined: whether this site's delta of the group is of an earlier point, to move
        aside before it takes `point` (refused while the delta before it still merges)."""
        if not self.options.pipelined:
            return False
        copies = [self.copy_meta(i) for i in self.members(group)]
        if all(copy.delta_point in (None, point) for copy in copies):
            return False
        if any(copy.merging_point is not None for copy in copies):
            raise EngineRefused(f"{self.site} still merges an older delta")
        return True

    def _move_aside(self, group: int, point: int,
                    received: Mapping[int, Sequence[int]] | None = None) -> Changes:  # fmt: skip
        """The record's changes that move every member's delta aside, with the grains of the
        current point each receives in the same record."""
        changes = Changes()
        for i in self.members(group):
            offsets = (received or {}).get(i, range(0))
            changes |= self.copy_records[i].moved_aside(self.copy_meta(i), offsets, point)
        return changes

    def receive_delta(self, group: int, member: int, point: int, extents: list[Extent],
                      data: bytes) -> None:  # fmt: skip
        """Grains of a member's frozen delta (one CopyDelta's, at `extents`): those
        this copy lacks, one write and one record (pipelined, the record moves an earlier
        point's delta aside first: the write went to the free volume)."""
        if (member, self.site) not in self.remote_stores or member not in self.members(group):
            raise EngineRefused(f"{self.site} holds no copy of member {member} of group {group}")
        size = self.grain_size
        grains = grains_of_runs(extents, len(data), self.topology.objects[member].grains, size,
                                "a delta write")  # fmt: skip
        aside = self._moves_aside(group, point)
        copy = self.copy_meta(member)
        if copy.delta_point == point and copy.complete:
            raise EngineRefused(f"point {point} is already complete at {self.site}")
        if not aside and copy.delta_point not in (None, point):
            raise EngineRefused(f"{self.site} still holds the delta of point {copy.delta_point}")
        writes = split_runs(extents, data, size)
        offsets = grains
        if copy.delta_point == point:
            offsets = [g for g in grains if g not in copy.delta]
            if not offsets:
                raise EngineRefused(f"grains {listed(grains)} are already copied to {self.site}")
            if len(offsets) < len(grains):  # the window's grains this copy already has stay
                at = {g: i for i, g in enumerate(grains)}
                writes = [(start, data[at[start] * size : (at[start] + n) * size])
                          for start, n in runs(offsets)]  # fmt: skip
        slot = copy.merging_slot if aside else copy.delta_slot
        store = self.remote_stores[(member, self.site)]
        self._write_runs(store.deltas[slot], writes, self.keeps("copy data"))
        if aside:
            self._record(self._move_aside(group, point, {member: offsets}))
        else:
            self._record(self.copy_records[member].received(offsets, point))

    def receive_complete(self, group: int, point: int, grains: int, taken_at: int = 0) -> None:
        """One record marks every member's delta of `point` complete (moving an earlier
        point's delta aside first, pipelined, when no grain of this point came); refused
        unless all `grains` grains of the point arrived.  A point already complete here is
        taken again, and nothing changes."""
        if self.site not in self.topology.groups[group].remotes:
            raise EngineRefused(f"{self.site} is no remote of group {group}")
        copies = [self.copy_meta(i) for i in self.members(group)]
        if all(c.complete and c.delta_point == point for c in copies):
            # the home did not hear of this mark (its acknowledgement was lost with the
            # connection) and marks again: the model's MarkComplete, which changes nothing here
            return
        moves = self._moves_aside(group, point)
        if not moves and any(c.delta_point not in (None, point) for c in copies):
            raise EngineRefused(f"{self.site} still holds an older delta")
        received = sum(len(c.delta) for c in copies if c.delta_point == point)
        if received != grains:
            raise EngineRefused(
                f"the frozen delta is not fully copied to {self.site} ({received} of {grains} "
                "grains)"
            )
        changes = self._move_aside(group, point) if moves else Changes()
        for i in self.members(group):
            changes |= self.copy_records[i].complete(point, taken_at)
        self._record(changes, self.keeps("complete"))

    def merge_remote(self, grain: int, count: int = 1) -> None:
        """The complete delta's grains within one window (pipelined: the merging delta's)
        into the base copy."""
        _, oi, off = self._extent(grain, count)
        if (oi, self.site) not in self.remote_stores:
            raise EngineRefused(f"{self.site} holds no copy of object {oi}")
        copy, store = self.copy_meta(oi), self.remote_stores[(oi, self.site)]
        if self.options.pipelined:
            if copy.merging_point is None:
                raise EngineRefused(f"{self.site} has no delta merging")
            grains = require_some(copy.merging, off, count, f"in {self.site}'s merging delta")
            source = store.deltas[copy.merging_slot]
        else:
            grains = require_some(copy.delta, off, count, f"in {self.site}'s delta")
            if not copy.complete:
                raise EngineRefused(f"{self.site}'s delta is not marked complete")
            source = store.deltas[copy.delta_slot]
        self._merge(store.base, source, grains)

    def drop_remote_delta(self, group: int) -> None:
        """The merged base copies flushed (unless every merge was), then one record."""
        if self.site not in self.topology.groups[group].remotes:
            raise EngineRefused(f"{self.site} is no remote of group {group}")
        changes: Changes = {}
        for i in self.members(group):
            copy, store = self.copy_meta(i), self.remote_stores[(i, self.site)]
            if self.options.pipelined and copy.merging_point is None:
                raise EngineRefused(f"{self.site} has no delta merging")
            if not self.options.pipelined and not copy.complete:
                raise EngineRefused(f"{self.site}'s delta is not complete")
            pending = copy.merging if self.options.pipelined else copy.delta
            slot = copy.merging_slot if self.options.pipelined else copy.delta_slot
            _require_merged(store.base, store.deltas[slot], pending, f"{self.site}'s")
        for i in self.members(group):
            copy = self.copy_meta(i)
            if self._drop_flushes_merges():
                self._flush(self.remote_stores[(i, self.site)].base)
            record = self.copy_records[i]
            changes |= record.merged_aside(copy) if self.options.pipelined else record.merged(copy)
        self._record(changes)

    def roll_copies(self, group: int) -> None:
        """A forced promote's roll at a remote of `group` (model/roles_rules.py `promote`: the
        image's pending grains from where the committed value is held): each member's base copy
        takes its delta merging aside, then its complete delta (the newer), flushed, then one
        record says each copy holds its committed point and no delta (a delta not complete is
        discarded: its point never committed).  A crash before the record rolls again."""
        if self.site not in self.topology.groups[group].remotes:
            raise EngineRefused(f"{self.site} holds no copy of group {group}")
        changes = Changes()
        for i in self.members(group):
            copy, store = self.copy_meta(i), self.remote_stores[(i, self.site)]
            held = [(copy.merging, copy.merging_slot)] if copy.merging_point is not None else []
            held += [(copy.delta, copy.delta_slot)] if copy.complete else []
            for grains, slot in held:
                writes = [(start, store.deltas[slot].read_grains(start, count))
                          for start, count in grains.extents(256)]  # fmt: skip
                if writes:
                    self._write_runs(store.base, writes)
            if copy.merging_point is not None or copy.delta_point is not None:
                changes |= self.copy_records[i].rolled(copy)
        if changes:
            self._record(changes)

    # ---- structure ---------------------------------------------------------------------------

    def check_structure(self) -> None:
        """The invariants the site keeps by construction, checked where they would break:
        raises EngineInvariantBroken.  Settle derives each group's phase from its metadata;
        every member still to freeze is a member; the frozen delta read from the base is a
        frozen delta; a complete copy is the delta of a point; the service agrees with the
        site."""
        if self.up != (self.service.current_state_value == "serving"):
            raise EngineInvariantBroken(f"the {self.site} site and its service disagree")
        if not self.up:
            return
        for gi in self.homed:
            self._check_group(gi)
        for gi, spec in enumerate(self.topology.groups):
            if self.site not in spec.remotes:
                continue
            for i in self.members(gi):
                copy = self.copy_meta(i)
                if copy.complete and copy.delta_point is None:
                    raise EngineInvariantBroken(f"{self.site}: a complete copy of no point")
                if copy.merging and copy.merging_point is None:
                    raise EngineInvariantBroken(f"{self.site}: a merging delta of no point")

    def _check_group(self, gi: int) -> None:
        phase, group = self.phase(gi), self.group_meta(gi)
        everywhere = group.completed_at == set(self.topology.groups[gi].remotes)
        work = self.has_merge_work(gi)
        agrees = {"copying": not everywhere, "merging": everywhere and work, "idle": everywhere}
        if not agrees[phase]:
            raise EngineInvariantBroken(
                f"group {gi} is {phase} with completed_at {sorted(group.completed_at)}"
                f" and {'a' if work else 'no'} delta to merge"
            )
        if not group.unfrozen <= set(self.members(gi)):
            raise EngineInvariantBroken(f"group {gi} waits to freeze non-members")
        for i in self.members(gi):
            meta = self.object_meta(i)
            if meta.frozen_from_base and not meta.has_frozen:
                raise EngineInvariantBroken(f"object {i}: a base-backed delta is not frozen")
            if meta.merging_from_base and not meta.has_merging:
                raise EngineInvariantBroken(f"object {i}: a base-backed delta is not merging")
            slots = {meta.active_slot, meta.frozen_slot, meta.merging_slot}
            if len(slots) != len(self.local_stores[i].aux):
                raise EngineInvariantBroken(f"object {i}: two deltas share a volume")


MERGE_CHECK_BYTES = 16 << 20
"""a drop compares base and delta in pieces of this size: a delta of a whole volume is never
read into memory at once (twice)"""


def _require_merged(base: Region, delta: Region, grains: GrainMap, which: str) -> None:
    """Every grain of the delta is in the base: read both, extent by extent (a drop must not
    lose a merge that was never done)."""
    for start, count in grains.extents(max(1, MERGE_CHECK_BYTES // base.grain_size)):
        if base.read_grains(start, count) != delta.read_grains(start, count):
            raise EngineRefused(f"the {which} delta is not merged into the base")


__all__ = ["OverlaySite", "initial_meta", "records"]
