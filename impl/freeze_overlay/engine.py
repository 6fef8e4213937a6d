"""Design B's engine: sites with journals, objects on devices, spans or files, links, and a
python-statemachine controller per consistency group, per site and per link.

Deterministic and steppable like design A's: `apply(action)` sends exactly one event, named as
the action, to the machine that owns it, and the event's transition callback does the work.
Every durable change is a grain write (then flush) or a journal record (fsynced) of one site,
in the order a crash can only make harmless: data before the record that makes it visible,
merges redone from complete deltas.  The writes and flushes of each action are the model's
write plan (`model.write_plan`); harness/crash.py checks them against it.  `observe()` reads
every volume back (through the injected `seeds` reader: every grain, or a cache that re-reads
what was written since) and rebuilds the model's view (deltas from their present maps and
auxiliary volumes), taking a site's metadata from its journal when the site is down.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from statemachine import State, StateMachine
from statemachine.exceptions import TransitionNotAllowed

from pitmirror.impl.bitmap import GrainMap
from pitmirror.impl.faults import CrashInjector
from pitmirror.impl.freeze_overlay.layout import LocalStore, RemoteStore, build_stores
from pitmirror.impl.freeze_overlay.metadata import (
    CopyMeta,
    CopyRecord,
    GroupMeta,
    GroupRecord,
    ObjectMeta,
    ObjectRecord,
    lost_record,
)
from pitmirror.impl.grains import decode_grain, grain_bytes
from pitmirror.impl.journal import COMPACT_EVERY, Changes, Journal, JournalError, Metadata
from pitmirror.impl.link import LinkService, LinkUnavailable
from pitmirror.impl.regions import Region
from pitmirror.impl.seeds import SeedReader
from pitmirror.impl.site import (
    DurableSite,
    EngineInvariantBroken,
    EngineRefused,
    SiteDown,
    require_extent,
)
from pitmirror.impl.volumes import Volume
from pitmirror.model import freeze_overlay as model
from pitmirror.model.actions import (
    Action,
    BreakMirror,
    CopyDelta,
    CrashSite,
    DropLocalDelta,
    DropRemoteDelta,
    FreezeGroup,
    FreezeMember,
    HostRead,
    HostWrite,
    LinkDown,
    LinkUp,
    MarkComplete,
    MergeLocal,
    MergeRemote,
    Recover,
    action_name,
)

GrainReader = Callable[[Region, int], tuple[int, ...]]
"""the seeds of a region's grains, given the object whose grains it holds"""


class OverlaySite(DurableSite):
    """One site of design B: its journal holds every role it plays (home, remote)."""

    def __init__(self, name: str, journal: Journal, injector: CrashInjector) -> None:
        super().__init__(journal, injector)
        self.site = name

    def record(self, changes: Changes, durable: bool = True) -> None:
        self._record(changes, durable)

    def write(self, region: Region, start: int, data: bytes, durable: bool = True) -> None:
        self._write(region, start, data, durable)

    def flush(self, region: Region) -> None:
        self._flush(region)


class GroupCycle(StateMachine):
    """The phases of one consistency group at its home site, and every action it performs."""

    copying = State("copying", initial=True)  # the frozen delta goes to the remotes
    merging = State("merging")  # every remote has it: merge it into the base
    idle = State("idle")  # ready for the next freeze

    HostWrite = (
        copying.to.itself(internal=True, on="host_write")
        | merging.to.itself(internal=True, on="host_write")
        | idle.to.itself(internal=True, on="host_write")
    )
    HostRead = (
        copying.to.itself(internal=True, on="host_read")
        | merging.to.itself(internal=True, on="host_read")
        | idle.to.itself(internal=True, on="host_read")
    )
    FreezeGroup = idle.to(copying, cond="may_freeze", on="freeze_group") | copying.to.itself(
        internal=True, cond=["may_freeze", "may_freeze_early"], on="freeze_group"
    )
    FreezeMember = copying.to.itself(internal=True, on="freeze_member")
    CopyDelta = copying.to.itself(internal=True, on="copy_delta")
    MarkComplete = copying.to.itself(internal=True, on="mark_complete")
    MergeLocal = merging.to.itself(internal=True, on="merge_local") | copying.to.itself(
        internal=True, cond="may_merge_early", on="merge_local"
    )
    DropLocalDelta = merging.to(idle, on="drop_local_delta") | copying.to(
        idle, cond="may_merge_early", on="drop_local_delta"
    )
    BreakMirror = (
        copying.to.itself(internal=True, on="break_mirror")
        | merging.to.itself(internal=True, on="break_mirror")
        | idle.to.itself(internal=True, on="break_mirror")
    )
    Settle = (
        copying.to(merging, cond=["has_merge_work", "complete_everywhere"])
        | copying.to(idle, cond="complete_everywhere")
        | copying.to.itself(internal=True)
        | merging.to(idle, unless="has_merge_work")
        | merging.to.itself(internal=True)
        | idle.to(copying, unless="complete_everywhere")
        | idle.to.itself(internal=True)
    )

    def __init__(self, engine: OverlayEngine, group: int, **kwargs: Any) -> None:
        self.engine, self.group = engine, group
        super().__init__(**kwargs)

    # guards
    def may_freeze(self) -> bool:
        return not self.engine.group_meta(self.group).broken

    def may_merge_early(self) -> bool:
        """Before the point is complete everywhere: pipelined, the previous point's delta
        merges; in the drop-early mutant, the frozen delta."""
        options = self.engine.options
        return options.pipelined or not options.drop_after_every_remote

    def may_freeze_early(self) -> bool:
        """The pipelined drop-early mutant freezes once any remote has the point."""
        options, engine = self.engine.options, self.engine
        early = options.pipelined and not options.drop_after_every_remote
        some_remote = bool(engine.group_meta(self.group).completed_at)
        return early and some_remote and not self.has_merge_work()

    def has_merge_work(self) -> bool:
        """A delta waits to be merged into the bases: the frozen one, or (pipelined) the one
        merging."""
        return self.engine.has_merge_work(self.group)

    def complete_everywhere(self) -> bool:
        group = self.engine.topology.groups[self.group]
        return self.engine.group_meta(self.group).completed_at == set(group.remotes)

    # the work of each event (python-statemachine passes the event's arguments by name)
    def host_write(self, grain: int, data: int) -> None:
        self.engine.host_write(grain, data)

    def host_read(self, grain: int) -> None:
        self.engine.host_read(grain)

    def freeze_group(self) -> None:
        self.engine.freeze_group(self.group)

    def freeze_member(self, member: int) -> None:
        self.engine.freeze_member(self.group, member)

    def copy_delta(self, site: str, grain: int, count: int) -> None:
        self.engine.copy_delta(site, grain, count)

    def mark_complete(self, site: str) -> None:
        self.engine.mark_complete(site, self.group)

    def merge_local(self, grain: int, count: int) -> None:
        self.engine.merge_local(grain, count)

    def drop_local_delta(self) -> None:
        self.engine.drop_local_delta(self.group)

    def break_mirror(self) -> None:
        self.engine.break_mirror(self.group)


class SiteService(StateMachine):
    """A site serving (remote merges and drops) or down."""

    serving = State("serving", initial=True)
    down = State("down")

    MergeRemote = serving.to.itself(internal=True, on="merge_remote")
    DropRemoteDelta = serving.to.itself(internal=True, on="drop_remote_delta")
    CrashSite = serving.to(down, cond="between_actions")
    Recover = down.to(serving, on="restart")

    def __init__(self, engine: OverlayEngine, site: OverlaySite, **kwargs: Any) -> None:
        self.engine, self.site = engine, site
        super().__init__(**kwargs)

    def between_actions(self, after_writes: int = 0) -> bool:
        return after_writes == 0

    def on_enter_down(self) -> None:
        self.site.crash()

    def restart(self) -> None:
        self.site.start()

    def merge_remote(self, grain: int, count: int) -> None:
        self.engine.merge_remote(self.site.site, grain, count)

    def drop_remote_delta(self, group: int) -> None:
        self.engine.drop_remote_delta(self.site.site, group)


@dataclass(frozen=True)
class OverlayObservation:
    objects: tuple[model.LocalObject, ...]
    remotes: tuple[tuple[tuple[str, model.RemoteObject], ...], ...]
    groups: tuple[GroupMeta, ...]
    down_sites: frozenset[str]
    down_links: frozenset[str]


class OverlayEngine:
    """Design B for one topology, on the volumes `volume_layout` names."""

    def __init__(
        self,
        topology: model.Topology,
        volumes: dict[str, Volume],
        workdir: Path,
        options: model.Options,
        self_check: bool = True,
        seeds: SeedReader | None = None,
        compact_every: int = COMPACT_EVERY,
    ) -> None:
        self.topology, self.options = topology, options
        self.self_check = self_check
        """assert the structural invariants after every action (tests, verify); off: speed"""
        self.seeds = seeds or SeedReader()
        """how `observe` reads grains back: every grain, or a cache of what was not written"""
        self.grain_size = next(iter(volumes.values())).grain_size
        self.local_stores, self.remote_stores = build_stores(topology, volumes)
        self.injector = CrashInjector()
        self.group_records = [
            GroupRecord(gi, group.remotes, tuple(topology.group_objects(gi)))
            for gi, group in enumerate(topology.groups)
        ]
        self.object_records = [ObjectRecord(i, o.grains) for i, o in enumerate(topology.objects)]
        self.copy_records = [CopyRecord(i, o.grains) for i, o in enumerate(topology.objects)]
        self._object_group = {
            i: gi for gi in range(len(topology.groups)) for i in topology.group_objects(gi)
        }
        self.sites: dict[str, OverlaySite] = {}
        for name in topology.sites:
            journal = Journal(workdir, name, self.initial_meta(name), compact_every)
            self.sites[name] = OverlaySite(name, journal, self.injector)
            self.sites[name].start()
        self.cycles = [GroupCycle(self, gi) for gi in range(len(topology.groups))]
        self.services = {name: SiteService(self, site) for name, site in self.sites.items()}
        self.links = {name: LinkService() for name in topology.links}
        self._last_read: tuple[int, bytes] | None = None

    # ---- metadata ----------------------------------------------------------------------------

    def initial_meta(self, site: str) -> Metadata:
        meta: Metadata = {}
        for gi, group in enumerate(self.topology.groups):
            members = self.topology.group_objects(gi)
            if group.home == site:
                meta |= self.group_records[gi].initial()
                for i in members:
                    meta |= self.object_records[i].initial()
            if site in group.remotes:
                for i in members:
                    meta |= self.copy_records[i].initial()
        return meta

    def members(self, group: int) -> range:
        return self.topology.group_objects(group)

    def _home(self, obj: int) -> OverlaySite:
        return self.sites[self.topology.objects[obj].home]

    def _group_home(self, group: int) -> OverlaySite:
        return self.sites[self.topology.groups[group].home]

    def has_merge_work(self, group: int) -> bool:
        metas = [self.object_meta(i) for i in self.members(group)]
        if self.options.pipelined:
            return any(meta.has_merging for meta in metas)
        return any(meta.has_frozen for meta in metas)

    def group_meta(self, group: int) -> GroupMeta:
        return self.group_records[group].read(self._group_home(group).live_meta())

    def object_meta(self, obj: int) -> ObjectMeta:
        return self.object_records[obj].read(self._home(obj).live_meta())

    def copy_meta(self, obj: int, site: str) -> CopyMeta:
        return self.copy_records[obj].read(self.sites[site].live_meta())

    def reachable(self, home: str, site: str) -> bool:
        """Both sites up and the link between them up."""
        link = self.links[model.link_name(home, site)]
        return link.is_up and self.sites[home].up and self.sites[site].up

    def _reach(self, home: str, site: str) -> OverlaySite:
        link = self.links[model.link_name(home, site)]
        if not link.is_up or not self.sites[site].up:
            raise LinkUnavailable(f"{site} cannot be reached from {home}")
        return self.sites[site]

    # ---- grain content -----------------------------------------------------------------------

    def _global(self, obj: int, offset: int) -> int:
        return self.topology.first_grain(obj) + offset

    def _frozen_bytes(self, obj: int, offset: int, count: int = 1) -> bytes:
        return self._frozen_region(obj).read_grains(offset, count)

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

    # ---- actions: each is one event of the machine that owns it ------------------------------

    def apply(self, action: Action) -> None:
        self._last_read = None
        try:
            machine, arguments = self._route(action)
            machine.send(action_name(action), **arguments)
        except (TransitionNotAllowed, SiteDown, LinkUnavailable) as refused:
            raise EngineRefused(f"the engine refused {action_name(action)}: {refused}") from refused
        for gi, cycle in enumerate(self.cycles):
            if self._group_home(gi).up:
                cycle.send("Settle")
        if isinstance(action, Recover):
            self.check_journals_agree(action.site)
        if self.self_check:
            self.check_structure()

    def check_journals_agree(self, site: str) -> None:
        """At a restart: JournalError when the restarted site's journal and another site's
        disagree about a group they share in a way only a lost record explains (a power loss
        dropped a record that was never synced)."""
        for gi, group in enumerate(self.topology.groups):
            if site != group.home and site not in group.remotes:
                continue
            group_meta = self.group_records[gi].read(self._group_home(gi).durable_meta())
            for remote in group.remotes:
                if site in (group.home, remote):
                    meta = self.sites[remote].durable_meta()
                    copies = (self.copy_records[i].read(meta) for i in self.members(gi))
                    if lost := lost_record(group_meta, remote, copies):
                        raise JournalError(lost)

    def check_structure(self) -> None:
        """The invariants the engine keeps by construction, checked where they would break:
        raises EngineInvariantBroken.  Settle derives each group's phase from its metadata;
        every member still to freeze is a member; the frozen delta read from the base is a
        frozen delta; a complete copy is the delta of a point; services agree with sites."""
        for gi, cycle in enumerate(self.cycles):
            if not self._group_home(gi).up:
                continue
            phase, group = cycle.current_state_value, self.group_meta(gi)
            everywhere = group.completed_at == set(self.topology.groups[gi].remotes)
            work = self.has_merge_work(gi)
            agrees = {"copying": not everywhere, "merging": everywhere and work,
                      "idle": everywhere}  # fmt: skip
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
        for site in self.sites.values():
            if site.up != (self.services[site.site].current_state_value == "serving"):
                raise EngineInvariantBroken(f"the {site.site} site and its service disagree")
            if not site.up:
                continue
            for gi, spec in enumerate(self.topology.groups):
                if site.site not in spec.remotes:
                    continue
                for i in self.members(gi):
                    copy = self.copy_meta(i, site.site)
                    if copy.complete and copy.delta_point is None:
                        raise EngineInvariantBroken(f"{site.site}: a complete copy of no point")
                    if copy.merging and copy.merging_point is None:
                        raise EngineInvariantBroken(f"{site.site}: a merging delta of no point")

    def _route(self, action: Action) -> tuple[StateMachine, dict[str, Any]]:
        """The machine whose event the action is, and the event's arguments."""
        topo = self.topology
        arguments = dataclasses.asdict(action)
        match action:
            case HostWrite(grain=g) | HostRead(grain=g) | CopyDelta(grain=g) | MergeLocal(grain=g):
                return self.cycles[topo.locate(g)[0]], arguments
            case FreezeMember(member=m) if m in self._object_group:
                return self.cycles[self._object_group[m]], arguments
            case (
                FreezeGroup(group=gi)
                | MarkComplete(group=gi)
                | DropLocalDelta(group=gi)
                | BreakMirror(group=gi)
            ) if 0 <= gi < len(self.cycles):
                return self.cycles[gi], arguments
            case (
                MergeRemote(site=site)
                | DropRemoteDelta(site=site)
                | CrashSite(site=site)
                | Recover(site=site)
            ) if site in self.services:
                return self.services[site], arguments
            case LinkDown(link=link) | LinkUp(link=link) if link in self.links:
                return self.links[link], arguments
        raise EngineRefused(f"{action_name(action)} is not an action of this topology")

    def host_write(self, grain: int, data: int) -> None:
        _, oi, off = self.topology.locate(grain)
        home, record = self._home(oi), self.object_records[oi]
        meta = self.object_meta(oi)
        data_bytes = grain_bytes(data, grain, self.grain_size)
        home.write(self.local_stores[oi].aux[meta.active_slot], off, data_bytes,
                   self.options.flush_host_data)  # fmt: skip
        if off not in meta.active:
            home.record(record.add_active(off))

    def host_read(self, grain: int) -> None:
        """Claim 12's live read: the active delta if it holds the grain, else the frozen delta
        if it does, else the delta merging if it does, else the base (the whole object is point
        1's frozen delta, from the base)."""
        _, oi, off = self.topology.locate(grain)
        meta, store = self.object_meta(oi), self.local_stores[oi]
        in_active = off in meta.active
        in_frozen = meta.has_frozen and off in meta.frozen
        region = store.base
        if in_active and (self.options.read_active_first or not in_frozen):
            region = store.aux[meta.active_slot]
        elif in_frozen:
            region = self._frozen_region(oi)
        elif meta.has_merging and off in meta.merging:
            region = self._merging_region(oi)
        self._last_read = (grain, region.read_grains(off))

    def last_read(self) -> tuple[int, int] | None:
        """The grain and decoded seed of the newest host read."""
        read = self._last_read
        return None if read is None else (read[0], decode_grain(read[1], read[0]))

    def last_read_bytes(self) -> tuple[int, bytes] | None:
        """The grain and bytes of the newest host read (None: it was not served)."""
        return self._last_read

    def freeze_group(self, group: int) -> None:
        """One record: a new point, and the active deltas of the members frozen (all of them,
        or only the first in the one-at-a-time mutant, the rest left to FreezeMember)."""
        members = list(self.members(group))
        at_once = self.options.freeze_group_at_once
        frozen = members if at_once else members[:1]
        current = self.group_meta(group)
        changes = self.group_records[group].changes(
            point=current.point + 1,
            completed_at=frozenset(),
            unfrozen=frozenset(members) - set(frozen),
        )
        for i in frozen:
            changes |= self.object_records[i].freeze(self.object_meta(i), self.options.pipelined)
        self._group_home(group).record(changes)

    def freeze_member(self, group: int, member: int) -> None:
        unfrozen = self.group_meta(group).unfrozen - {member}
        changes = self.group_records[group].changes(unfrozen=unfrozen)
        changes |= self.object_records[member].freeze(self.object_meta(member),
                                                      self.options.pipelined)  # fmt: skip
        self._group_home(group).record(changes)

    def _require_frozen(self, obj: int, offset: int, count: int) -> None:
        meta = self.object_meta(obj)
        if not meta.has_frozen:
            raise EngineRefused(f"object {obj} has no frozen delta")
        require_extent(meta.frozen, offset, count, "in the frozen delta")

    def _moves_aside(self, site: str, group: int) -> bool:
        """Pipelined: whether the remote's delta is of an earlier point, to move aside before
        it takes this one (refused while the delta before it still merges)."""
        if not self.options.pipelined:
            return False
        point = self.group_meta(group).point
        copies = [self.copy_meta(i, site) for i in self.members(group)]
        if all(copy.delta_point in (None, point) for copy in copies):
            return False
        if any(copy.merging_point is not None for copy in copies):
            raise EngineRefused(f"{site} still merges an older delta")
        return True

    def _move_aside(self, site: str, group: int, received: dict[int, range] | None = None
                    ) -> Changes:  # fmt: skip
        """The record's changes that move every member's delta at `site` aside, with the
        grains of the current point each receives in the same record."""
        point, changes = self.group_meta(group).point, Changes()
        for i in self.members(group):
            offsets = (received or {}).get(i, range(0))
            changes |= self.copy_records[i].moved_aside(self.copy_meta(i, site), offsets, point)
        return changes

    def copy_delta(self, site: str, grain: int, count: int = 1) -> None:
        """One extent of the frozen delta, one write and one record at the remote (pipelined,
        the record moves an earlier point's delta aside first: the write went to the free
        volume)."""
        gi, oi, off = self._extent(grain, count)
        self._require_frozen(oi, off, count)
        point = self.group_meta(gi).point
        remote = self._reach(self.topology.groups[gi].home, site)
        aside = self._moves_aside(site, gi)
        copy = self.copy_meta(oi, site)
        if copy.delta_point == point:
            require_extent(copy.delta, off, count, f"still to copy to {site}", held=False)
        data = self._frozen_bytes(oi, off, count)
        slot = copy.merging_slot if aside else copy.delta_slot
        remote.write(self.remote_stores[(oi, site)].deltas[slot], off, data,
                     self.options.flush_copy_data)  # fmt: skip
        offsets = range(off, off + count)
        if aside:
            remote.record(self._move_aside(site, gi, {oi: offsets}))
        else:
            remote.record(self.copy_records[oi].received(offsets, point))

    def mark_complete(self, site: str, group: int) -> None:
        """The commit at this remote: one record marks every member's delta complete (moving
        an earlier point's delta aside first, pipelined, when no grain of this point came)."""
        home = self._group_home(group)
        current = self.group_meta(group)
        remote = self._reach(home.site, site)
        changes = self._move_aside(site, group) if self._moves_aside(site, group) else Changes()
        for i in self.members(group):
            changes |= self.copy_records[i].complete(current.point)
        remote.record(changes, self.options.flush_complete)
        home.record(self.group_records[group].changes(completed_at=current.completed_at | {site}))

    def merge_remote(self, site: str, grain: int, count: int = 1) -> None:
        """One extent of the complete delta (pipelined: of the delta merging aside) into the
        base copy."""
        _, oi, off = self._extent(grain, count)
        copy, store = self.copy_meta(oi, site), self.remote_stores[(oi, site)]
        if self.options.pipelined:
            if copy.merging_point is None:
                raise EngineRefused(f"{site} has no delta merging")
            require_extent(copy.merging, off, count, f"in {site}'s merging delta")
            source = store.deltas[copy.merging_slot]
        else:
            require_extent(copy.delta, off, count, f"in {site}'s delta")
            source = store.deltas[copy.delta_slot]
        # lost before the drop, a merge is redone from the complete delta: no flush of its own
        self.sites[site].write(store.base, off, source.read_grains(off, count),
                               self.options.flush_every_write)  # fmt: skip

    def drop_remote_delta(self, site: str, group: int) -> None:
        """The merged base copies flushed (unless every merge was), then one record."""
        changes: Changes = {}
        for i in self.members(group):
            copy = self.copy_meta(i, site)
            if self.options.pipelined and copy.merging_point is None:
                raise EngineRefused(f"{site} has no delta merging")
            if self._drop_flushes_merges():
                self.sites[site].flush(self.remote_stores[(i, site)].base)
            record = self.copy_records[i]
            changes |= record.merged_aside(copy) if self.options.pipelined else record.merged(copy)
        self.sites[site].record(changes)

    def merge_local(self, grain: int, count: int = 1) -> None:
        """One extent of the frozen delta (pipelined: of the delta merging) into the base."""
        _, oi, off = self._extent(grain, count)
        if self.options.pipelined:
            meta = self.object_meta(oi)
            if not meta.has_merging:
                raise EngineRefused(f"object {oi} has no delta merging")
            require_extent(meta.merging, off, count, "in the merging delta")
            data = self._merging_region(oi).read_grains(off, count)
        else:
            self._require_frozen(oi, off, count)
            data = self._frozen_bytes(oi, off, count)
        # lost before the drop, a merge is redone from the frozen delta: no flush of its own
        self._home(oi).write(self.local_stores[oi].base, off, data,
                             self.options.flush_every_write)  # fmt: skip

    def drop_local_delta(self, group: int) -> None:
        """The merged bases flushed (unless every merge was), then one record."""
        changes: Changes = {}
        home = self._group_home(group)
        for i in self.members(group):
            if self._drop_flushes_merges():
                home.flush(self.local_stores[i].base)
            record = self.object_records[i]
            changes |= record.drop_merging() if self.options.pipelined else record.drop_frozen()
        home.record(changes)

    def _drop_flushes_merges(self) -> bool:
        """Whether a drop flushes the merged volumes first (the merges flushed none; the
        drop-before-merge-flushed mutant leaves them unflushed under the drop)."""
        return not self.options.flush_every_write and self.options.flush_merges_before_drop

    def break_mirror(self, group: int) -> None:
        self._group_home(group).record(self.group_records[group].changes(broken=True))

    # ---- observation -------------------------------------------------------------------------

    def _decode(self, region: Region, obj: int) -> tuple[int, ...]:
        return self.seeds.read(region, self._global(obj, 0))

    def local_object(self, obj: int, meta: Metadata, read: GrainReader) -> model.LocalObject:
        """An object as its home site's metadata `meta` and the grains `read` gives make it:
        the base, the frozen delta (from the base for point 1) and the active delta."""
        object_meta, store = self.object_records[obj].read(meta), self.local_stores[obj]

        def delta(region: Region, present: GrainMap) -> model.Delta:
            values = read(region, obj)
            return tuple((o, values[o]) for o in present)

        frozen: model.Delta | None = None
        if object_meta.has_frozen:
            source = (store.base if object_meta.frozen_from_base
                      else store.aux[object_meta.frozen_slot])  # fmt: skip
            frozen = delta(source, object_meta.frozen)
        merging: model.Delta | None = None
        if object_meta.has_merging:
            source = (store.base if object_meta.merging_from_base
                      else store.aux[object_meta.merging_slot])  # fmt: skip
            merging = delta(source, object_meta.merging)
        active = delta(store.aux[object_meta.active_slot], object_meta.active)
        return model.LocalObject(read(store.base, obj), frozen, active, merging)

    def remote_object(
        self, obj: int, site: str, meta: Metadata, read: GrainReader
    ) -> model.RemoteObject:
        """A remote copy as the remote's metadata `meta` and the grains `read` gives make it."""
        copy, store = self.copy_records[obj].read(meta), self.remote_stores[(obj, site)]
        values = read(store.deltas[copy.delta_slot], obj)
        merging = read(store.deltas[copy.merging_slot], obj) if copy.merging else ()
        return model.RemoteObject(
            base=read(store.base, obj),
            base_point=copy.base_point,
            delta=tuple((o, values[o]) for o in copy.delta),
            delta_point=copy.delta_point,
            complete=copy.complete,
            merging=tuple((o, merging[o]) for o in copy.merging),
            merging_point=copy.merging_point,
        )

    def observe(self) -> OverlayObservation:
        topo = self.topology
        metas = {name: site.durable_meta() for name, site in self.sites.items()}
        objects = tuple(
            self.local_object(i, metas[obj.home], self._decode)
            for i, obj in enumerate(topo.objects)
        )
        remotes = tuple(
            tuple((site, self.remote_object(i, site, metas[site], self._decode))
                  for site in group.remotes)
            for gi, group in enumerate(topo.groups)
            for i in topo.group_objects(gi)
        )  # fmt: skip
        groups = tuple(
            self.group_records[gi].read(metas[group.home]) for gi, group in enumerate(topo.groups)
        )
        return OverlayObservation(
            objects=objects,
            remotes=remotes,
            groups=groups,
            down_sites=frozenset(n for n, s in self.sites.items() if not s.up),
            down_links=frozenset(n for n, link in self.links.items() if not link.is_up),
        )

    def recoverable(self, obj: int, site: str) -> tuple[int, ...]:
        """A failover read at `site`: the base copy, overlaid by the delta merging and by the
        delta once complete."""
        copy = self.remote_object(obj, site, self.sites[site].durable_meta(), self._decode)
        return copy.recoverable


__all__ = ["LocalStore", "OverlayEngine", "RemoteStore"]
