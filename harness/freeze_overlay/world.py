"""Design B's world for the harness: every site of a topology in one process, each on its own
volumes, the in-process links between them (one `LinkService` per link, both directions), the
crash injector the sites report their writes to, and the seed read-back that `observe()`
compares with the model.

Deterministic and steppable: `apply(action)` hands exactly one action of the vocabulary to the
site whose action it is (or to a link's controller), whose controller event does the work.  A
host write's seed becomes the grain's bytes here (the sites take bytes).  `observe()` reads
every volume back and rebuilds the model's view (deltas from their present maps and auxiliary
volumes), taking a site's metadata from its journal when the site is down.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from statemachine.exceptions import TransitionNotAllowed

from pitmirror.harness.faults import CrashInjector
from pitmirror.harness.freeze_overlay.mutants import MutantOverlaySite, is_mutant
from pitmirror.harness.grains import decode_grain
from pitmirror.harness.host_bytes import host_write_bytes
from pitmirror.harness.seeds import SeedReader
from pitmirror.harness.world import InProcessLink
from pitmirror.impl.bitmap import GrainMap
from pitmirror.impl.freeze_overlay.controllers import GroupCycle
from pitmirror.impl.freeze_overlay.layout import LocalStore, RemoteStore, site_volumes
from pitmirror.impl.freeze_overlay.messages import MESSAGES
from pitmirror.impl.freeze_overlay.metadata import GroupMeta, lost_record
from pitmirror.impl.freeze_overlay.site import OverlaySite, initial_meta, records
from pitmirror.impl.journal import COMPACT_EVERY, Journal, JournalError, Metadata
from pitmirror.impl.link import LinkService
from pitmirror.impl.regions import Region
from pitmirror.impl.site import EngineRefused
from pitmirror.impl.volumes import Volume
from pitmirror.model import freeze_overlay as model
from pitmirror.model.actions import (
    Action,
    HostFlush,
    HostRead,
    HostWrite,
    Recover,
    describe,
)
from pitmirror.model.freeze_overlay_vocabulary import VOCABULARY, handling_site

GrainReader = Callable[[Region, int], tuple[int, ...]]
"""the seeds of a region's grains, given the object whose grains it holds"""


@dataclass(frozen=True)
class OverlayObservation:
    objects: tuple[model.LocalObject, ...]
    remotes: tuple[tuple[tuple[str, model.RemoteObject], ...], ...]
    groups: tuple[GroupMeta, ...]
    down_sites: frozenset[str]
    down_links: frozenset[str]


class OverlayObserver:
    """What the harness reads of design B's sites, wherever they run: their durable metadata
    and volumes, as the model's view; a world gives each site's metadata and state."""

    topology: model.Topology
    links: dict[str, LinkService]
    seeds: SeedReader
    grain_size: int
    local_stores: dict[int, LocalStore]
    remote_stores: dict[tuple[int, str], RemoteStore]
    _last_read: tuple[int, bytes] | None

    def _observer(self, topology: model.Topology, seeds: SeedReader) -> None:
        self.topology, self.seeds = topology, seeds
        self.group_records, self.object_records, self.copy_records = records(topology)
        self.local_stores, self.remote_stores = {}, {}
        self._last_read = None

    def durable_meta(self, site: str) -> Metadata:
        raise NotImplementedError

    def down_sites(self) -> frozenset[str]:
        raise NotImplementedError

    def down_links(self) -> frozenset[str]:
        raise NotImplementedError

    def initial_meta(self, site: str) -> Metadata:
        return initial_meta(self.topology, site)

    def route(self, action: Action) -> str | None:
        """The site the vocabulary names for an action (model/freeze_overlay_vocabulary.py), or
        None when it was a link's, done here by the link's controller; EngineRefused when the
        topology has no such action."""
        entry = VOCABULARY.entry(action)
        if entry is not None and entry.handler == "link":
            link = getattr(action, "link", "")
            if link not in self.links:
                raise EngineRefused(f"{describe(action)} is not an action of this topology")
            try:
                self.links[link].send(entry.name)
            except TransitionNotAllowed as refused:
                raise EngineRefused(f"the link refused {describe(action)}") from refused
            return None
        site = handling_site(self.topology, action)
        if entry is None or site is None:
            raise EngineRefused(f"{describe(action)} is not an action of this topology")
        return site

    def check_journals_agree(self, site: str) -> None:
        """At a restart: JournalError when the restarted site's journal and another site's
        disagree about a group they share in a way only a lost record explains (a power loss
        dropped a record that was never synced)."""
        for gi, group in enumerate(self.topology.groups):
            if site != group.home and site not in group.remotes:
                continue
            group_meta = self.group_records[gi].read(self.durable_meta(group.home))
            for remote in group.remotes:
                if site in (group.home, remote):
                    meta = self.durable_meta(remote)
                    members = self.topology.group_objects(gi)
                    copies = (self.copy_records[i].read(meta) for i in members)
                    if lost := lost_record(group_meta, remote, copies):
                        raise JournalError(lost)

    def last_read(self) -> tuple[int, int] | None:
        """The grain and decoded seed of the newest host read."""
        read = self._last_read
        return None if read is None else (read[0], decode_grain(read[1], read[0]))

    # ---- observation -------------------------------------------------------------------------

    def _decode(self, region: Region, obj: int) -> tuple[int, ...]:
        return self.seeds.read(region, self.topology.first_grain(obj))

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

    def host_cache(self, obj: int) -> dict[int, bytes]:
        """The host's cache of an object at its home, by offset (memory: lost with the site)."""
        raise NotImplementedError

    def cached(self, obj: int) -> model.Delta:
        """The host's cache of an object, as seeds."""
        held, first = self.host_cache(obj), self.topology.first_grain(obj)
        return tuple((o, decode_grain(held[o], first + o)) for o in sorted(held))

    def observe(self) -> OverlayObservation:
        topo = self.topology
        metas = {name: self.durable_meta(name) for name in topo.sites}
        objects = tuple(
            dataclasses.replace(
                self.local_object(i, metas[obj.home], self._decode), cache=self.cached(i)
            )  # fmt: skip
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
            down_sites=self.down_sites(),
            down_links=self.down_links(),
        )

    def recoverable(self, obj: int, site: str) -> tuple[int, ...]:
        """A failover read at `site`: the base copy, overlaid by the delta merging and by the
        delta once complete."""
        copy = self.remote_object(obj, site, self.durable_meta(site), self._decode)
        return copy.recoverable


class OverlayWorld(OverlayObserver):
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
        self._observer(topology, seeds or SeedReader())
        self.options = options
        self.self_check = self_check
        """assert the structural invariants after every action (tests, verify); off: speed"""
        self.grain_size = next(iter(volumes.values())).grain_size
        self.injector = CrashInjector()
        self.sites: dict[str, OverlaySite] = {}
        self.links: dict[str, LinkService] = {}
        wires: dict[str, dict[str, InProcessLink]] = {name: {} for name in topology.sites}
        # the safe design runs the product's own sites; a mutant, the harness's subclass
        site_class = MutantOverlaySite if is_mutant(options) else OverlaySite
        for name in topology.sites:
            own = {v: volumes[v] for v in site_volumes(topology, name)}
            journal = Journal(workdir, name, initial_meta(topology, name), compact_every)
            self.sites[name] = site_class(name, topology, own, journal, options, wires[name],
                                          self.injector.wrote)  # fmt: skip
        for link in topology.links:
            a, b = link.split("-")
            there, back = (
                InProcessLink(MESSAGES, self.sites[b]),
                InProcessLink(MESSAGES, self.sites[a]),
            )
            wires[a][b], wires[b][a] = there, back
            self.links[link] = LinkService(_both(there, back))
        for site in self.sites.values():
            self.local_stores |= site.local_stores
            self.remote_stores |= site.remote_stores

    # ---- what the harness reads of the sites -----------------------------------------------

    def durable_meta(self, site: str) -> Metadata:
        return self.sites[site].durable_meta()

    def host_cache(self, obj: int) -> dict[int, bytes]:
        site = self.sites[self.topology.objects[obj].home]
        return site.cache.get(obj, {}) if site.up else {}

    def down_sites(self) -> frozenset[str]:
        return frozenset(n for n, s in self.sites.items() if not s.up)

    def down_links(self) -> frozenset[str]:
        return frozenset(n for n, link in self.links.items() if not link.is_up)

    def _group_home(self, group: int) -> OverlaySite:
        return self.sites[self.topology.groups[group].home]

    @property
    def cycles(self) -> list[GroupCycle]:
        """Each group's cycle, at its home site."""
        return [self._group_home(gi).cycles[gi] for gi in range(len(self.topology.groups))]

    def phases(self) -> list[str]:
        return [str(cycle.current_state_value) for cycle in self.cycles]

    # ---- actions -----------------------------------------------------------------------------

    def apply(self, action: Action) -> None:
        self._last_read = None
        self._route(action)  # each site settles its own groups' phases after its own events
        if isinstance(action, Recover):
            self.check_journals_agree(action.site)
        if self.self_check:
            self.check_structure()

    def _route(self, action: Action) -> None:
        """To the site the vocabulary names (model/freeze_overlay_vocabulary.py), or to the
        link's controller."""
        site = self.route(action)
        if site is None:
            return
        match action:
            case HostWrite(grain=grain, fua=fua):
                home = self.sites[site]
                home.host_write(grain, host_write_bytes(action, self.grain_size, home.host_read),
                                fua)  # fmt: skip
            case HostFlush(volume=volume):
                self.sites[site].host_flush(volume)
            case HostRead(grain=grain):
                self._last_read = (grain, self.sites[site].host_read(grain))
            case _:
                self.sites[site].apply(action)

    def check_structure(self) -> None:
        """Every site's structural invariants (EngineInvariantBroken)."""
        for site in self.sites.values():
            site.check_structure()


def _both(*links: InProcessLink) -> Callable[[bool], None]:
    """A link's LinkDown and LinkUp, told to both directions of it."""

    def change(up: bool) -> None:
        for link in links:
            link.set_up(up)

    return change
