"""Design B's engine: sites with journals, objects on devices, spans or files, links, and a
python-statemachine controller per consistency group and per site.

Deterministic and steppable like design A's: `apply(action)` performs exactly one action.
Every durable change is a grain write (then flush) or a journal record (fsynced) of one site,
in the order a crash can only make harmless: data before the record that makes it visible,
merges redone from complete deltas.  `observe()` reads every volume back, decodes every grain
and rebuilds the model's view (deltas from their present maps and auxiliary volumes), taking
a site's metadata from its journal when the site is down.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from statemachine import State, StateMachine
from statemachine.exceptions import TransitionNotAllowed

from pitmirror.impl.bitmap import GrainMap
from pitmirror.impl.faults import CrashInjector
from pitmirror.impl.freeze_overlay.layout import LocalStore, RemoteStore, build_stores
from pitmirror.impl.grains import decode_grain, grain_bytes
from pitmirror.impl.journal import Journal, Metadata
from pitmirror.impl.link import LinkUnavailable
from pitmirror.impl.regions import Region
from pitmirror.impl.site import DurableSite, EngineRefused, SiteDown
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
    HostWrite,
    LinkDown,
    LinkUp,
    MarkComplete,
    MergeLocal,
    MergeRemote,
    Recover,
    action_name,
)

NO_POINT = -1


class OverlaySite(DurableSite):
    """One site of design B: its journal holds every role it plays (home, remote)."""

    def __init__(self, name: str, journal: Journal, injector: CrashInjector) -> None:
        super().__init__(journal, injector)
        self.site = name

    def record(self, changes: dict[str, Any]) -> None:
        self._record(changes)

    def write(self, region: Region, start: int, data: bytes) -> None:
        self._write(region, start, data)


def _bit(index: int) -> int:
    return 1 << index


class GroupCycle(StateMachine):
    """The phases of one consistency group at its home site."""

    copying = State("copying", initial=True)  # the frozen delta goes to the remotes
    merging = State("merging")  # every remote has it: merge it into the base
    idle = State("idle")  # ready for the next freeze

    FreezeGroup = idle.to(copying, cond="may_freeze")
    FreezeMember = copying.to.itself(internal=True)
    CopyDelta = copying.to.itself(internal=True)
    MarkComplete = copying.to.itself(internal=True)
    MergeLocal = merging.to.itself(internal=True) | copying.to.itself(
        internal=True, cond="may_merge_early"
    )
    DropLocalDelta = merging.to(idle) | copying.to(idle, cond="may_merge_early")
    Settle = (
        copying.to(merging, cond=["has_frozen", "complete_everywhere"])
        | copying.to(idle, cond="complete_everywhere")
        | copying.to.itself(internal=True)
        | merging.to(idle, unless="has_frozen")
        | merging.to.itself(internal=True)
        | idle.to(copying, unless="complete_everywhere")
        | idle.to.itself(internal=True)
    )

    def __init__(self, engine: OverlayEngine, group: int, **kwargs: Any) -> None:
        self.engine, self.group = engine, group
        super().__init__(**kwargs)

    def may_freeze(self) -> bool:
        return not self.engine.group_number(self.group, "broken")

    def may_merge_early(self) -> bool:
        return not self.engine.options.drop_after_every_remote

    def has_frozen(self) -> bool:
        return any(
            self.engine.home_number(i, "has_frozen") for i in self.engine.members(self.group)
        )

    def complete_everywhere(self) -> bool:
        return self.engine.completed_everywhere(self.group)


class SiteService(StateMachine):
    """A site serving (remote merges, messages) or down."""

    serving = State("serving", initial=True)
    down = State("down")

    MergeRemote = serving.to.itself(internal=True)
    DropRemoteDelta = serving.to.itself(internal=True)
    CrashSite = serving.to(down)
    Recover = down.to(serving)

    def __init__(self, site: OverlaySite, **kwargs: Any) -> None:
        self.site = site
        super().__init__(**kwargs)

    def on_enter_down(self) -> None:
        self.site.crash()

    def on_Recover(self) -> None:  # noqa: N802 - named after the event
        self.site.start()


@dataclass(frozen=True)
class OverlayObservation:
    objects: tuple[model.LocalObject, ...]
    remotes: tuple[tuple[tuple[str, model.RemoteObject], ...], ...]
    groups: tuple[tuple[int, frozenset[str], bool, frozenset[int]], ...]
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
    ) -> None:
        self.topology, self.options = topology, options
        self.grain_size = next(iter(volumes.values())).grain_size
        self.local_stores, self.remote_stores = build_stores(topology, volumes)
        self.injector = CrashInjector()
        self.sites: dict[str, OverlaySite] = {}
        for name in topology.sites:
            journal = Journal(workdir, name, self._initial_meta(name))
            self.sites[name] = OverlaySite(name, journal, self.injector)
            self.sites[name].start()
        self.down_links: set[str] = set()
        self.cycles = [GroupCycle(self, gi) for gi in range(len(topology.groups))]
        self.services = {name: SiteService(site) for name, site in self.sites.items()}
        self._object_group = {
            i: gi for gi in range(len(topology.groups)) for i in topology.group_objects(gi)
        }

    # ---- metadata ----------------------------------------------------------------------------

    def _initial_meta(self, site: str) -> Metadata:
        topo = self.topology
        meta: Metadata = {}
        for gi, group in enumerate(topo.groups):
            members = topo.group_objects(gi)
            if group.home == site:
                meta |= {f"g{gi}.point": 1, f"g{gi}.completed": 0, f"g{gi}.broken": 0,
                         f"g{gi}.unfrozen": 0}  # fmt: skip
                for i in members:
                    n = topo.objects[i].grains
                    meta |= {
                        f"o{i}.active_slot": 0,
                        f"o{i}.active": GrainMap(n),
                        f"o{i}.frozen": GrainMap.full(n),
                        f"o{i}.has_frozen": 1,
                        f"o{i}.frozen_from_base": 1,  # point 1: the whole object
                    }
            if site in group.remotes:
                for i in members:
                    n = topo.objects[i].grains
                    meta |= {
                        f"r{i}.base_point": 0,
                        f"r{i}.delta_point": 1,
                        f"r{i}.delta": GrainMap(n),
                        f"r{i}.complete": 0,
                    }
        return meta

    def members(self, group: int) -> range:
        return self.topology.group_objects(group)

    def _home(self, obj: int) -> OverlaySite:
        return self.sites[self.topology.objects[obj].home]

    def home_number(self, obj: int, key: str) -> int:
        return self._home(obj).number(f"o{obj}.{key}")

    def group_number(self, group: int, key: str) -> int:
        return self.sites[self.topology.groups[group].home].number(f"g{group}.{key}")

    def completed_everywhere(self, group: int) -> bool:
        want = sum(_bit(self.topology.sites.index(r)) for r in self.topology.groups[group].remotes)
        return self.group_number(group, "completed") == want

    def _reach(self, home: str, site: str) -> OverlaySite:
        if model.link_name(home, site) in self.down_links or not self.sites[site].up:
            raise LinkUnavailable(f"{site} cannot be reached from {home}")
        return self.sites[site]

    # ---- grain content -----------------------------------------------------------------------

    def _global(self, obj: int, offset: int) -> int:
        return self.topology.first_grain(obj) + offset

    def _frozen_bytes(self, obj: int, offset: int) -> bytes:
        store = self.local_stores[obj]
        if self.home_number(obj, "frozen_from_base"):
            return store.base.read_grains(offset)
        slot = 1 - self.home_number(obj, "active_slot")
        return store.aux[slot].read_grains(offset)

    # ---- actions -----------------------------------------------------------------------------

    def apply(self, action: Action) -> None:
        try:
            self._dispatch(action)
        except (TransitionNotAllowed, SiteDown, LinkUnavailable) as refused:
            raise EngineRefused(f"the engine refused {action_name(action)}: {refused}") from refused
        for gi, cycle in enumerate(self.cycles):
            if self.sites[self.topology.groups[gi].home].up:
                cycle.send("Settle")

    def _dispatch(self, action: Action) -> None:
        topo = self.topology
        match action:
            case HostWrite(grain=g, data=seed):
                gi, oi, off = topo.locate(g)
                home = self._home(oi)
                slot = home.number(f"o{oi}.active_slot")
                home.write(
                    self.local_stores[oi].aux[slot], off, grain_bytes(seed, g, self.grain_size)
                )
                if off not in home.map(f"o{oi}.active"):
                    home.record({f"o{oi}.active": {"add": [off]}})
            case FreezeGroup(group=gi):
                self.cycles[gi].send("FreezeGroup")
                self._freeze(gi)
            case FreezeMember(member=m):
                self.cycles[self._object_group[m]].send("FreezeMember")
                self._freeze_members(self._object_group[m], [m])
            case CopyDelta(site=site, grain=g):
                gi, oi, off = topo.locate(g)
                self.cycles[gi].send("CopyDelta")
                data = self._frozen_bytes(oi, off)
                point = self.group_number(gi, "point")
                remote = self._reach(topo.groups[gi].home, site)
                remote.write(self.remote_stores[(oi, site)].delta, off, data)
                remote.record({f"r{oi}.delta": {"add": [off]}, f"r{oi}.delta_point": point})
            case MarkComplete(site=site, group=gi):
                self.cycles[gi].send("MarkComplete")
                home = self.sites[topo.groups[gi].home]
                point = self.group_number(gi, "point")
                remote = self._reach(home.site, site)
                changes: dict[str, Any] = {}
                for i in self.members(gi):
                    changes |= {f"r{i}.complete": 1, f"r{i}.delta_point": point}
                remote.record(changes)  # the commit at this remote: every member at once
                completed = self.group_number(gi, "completed") | _bit(topo.sites.index(site))
                home.record({f"g{gi}.completed": completed})
            case MergeRemote(site=site, grain=g):
                _, oi, off = topo.locate(g)
                self.services[site].send("MergeRemote")
                store = self.remote_stores[(oi, site)]
                self.sites[site].write(store.base, off, store.delta.read_grains(off))
            case DropRemoteDelta(site=site, group=gi):
                self.services[site].send("DropRemoteDelta")
                remote = self.sites[site]
                changes = {}
                for i in self.members(gi):
                    n = topo.objects[i].grains
                    changes |= {
                        f"r{i}.base_point": remote.number(f"r{i}.delta_point"),
                        f"r{i}.delta_point": NO_POINT,
                        f"r{i}.delta": {"assign": GrainMap(n).to_hex()},
                        f"r{i}.complete": 0,
                    }
                remote.record(changes)
            case MergeLocal(grain=g):
                gi, oi, off = topo.locate(g)
                self.cycles[gi].send("MergeLocal")
                self._home(oi).write(self.local_stores[oi].base, off, self._frozen_bytes(oi, off))
            case DropLocalDelta(group=gi):
                self.cycles[gi].send("DropLocalDelta")
                changes = {}
                for i in self.members(gi):
                    n = topo.objects[i].grains
                    changes |= {
                        f"o{i}.has_frozen": 0,
                        f"o{i}.frozen_from_base": 0,
                        f"o{i}.frozen": {"assign": GrainMap(n).to_hex()},
                    }
                self.sites[topo.groups[gi].home].record(changes)
            case BreakMirror(group=gi):
                self.sites[topo.groups[gi].home].record({f"g{gi}.broken": 1})
            case LinkDown(link=link):
                self.down_links.add(link)
            case LinkUp(link=link):
                self.down_links.discard(link)
            case CrashSite(site=site):
                self.services[site].send("CrashSite")
            case Recover(site=site):
                self.services[site].send("Recover")
            case _:
                raise EngineRefused(f"{action_name(action)} is not an action of design B")

    def _freeze(self, group: int) -> None:
        members = list(self.members(group))
        at_once = self.options.freeze_group_at_once
        self._freeze_members(group, members if at_once else members[:1], new_point=True)
        if not at_once:
            rest = sum(_bit(p) for p in range(1, len(members)))
            self.sites[self.topology.groups[group].home].record({f"g{group}.unfrozen": rest})

    def _freeze_members(self, group: int, objects: list[int], new_point: bool = False) -> None:
        """One record: the active deltas become frozen, the other slots become active."""
        home = self.sites[self.topology.groups[group].home]
        changes: dict[str, Any] = {}
        for i in objects:
            n = self.topology.objects[i].grains
            slot = home.number(f"o{i}.active_slot")
            changes |= {
                f"o{i}.active_slot": 1 - slot,
                f"o{i}.frozen": {"assign": home.map(f"o{i}.active").to_hex()},
                f"o{i}.active": {"assign": GrainMap(n).to_hex()},
                f"o{i}.has_frozen": 1,
                f"o{i}.frozen_from_base": 0,
            }
        members = list(self.members(group))
        if new_point:
            changes |= {
                f"g{group}.point": home.number(f"g{group}.point") + 1,
                f"g{group}.completed": 0,
            }
        else:
            unfrozen = home.number(f"g{group}.unfrozen")
            for i in objects:
                unfrozen &= ~_bit(members.index(i))
            changes[f"g{group}.unfrozen"] = unfrozen
        home.record(changes)

    # ---- observation -------------------------------------------------------------------------

    def _decode(self, region: Region, obj: int) -> tuple[int, ...]:
        raw = region.read_grains(0, region.grain_count)
        size = self.grain_size
        return tuple(
            decode_grain(raw[o * size : (o + 1) * size], self._global(obj, o))
            for o in range(region.grain_count)
        )

    def _delta(self, region: Region, present: GrainMap, obj: int) -> model.Delta:
        values = self._decode(region, obj)
        return tuple((o, values[o]) for o in present)

    def observe(self) -> OverlayObservation:
        topo = self.topology
        metas = {name: site.durable_meta() for name, site in self.sites.items()}

        def num(meta: Metadata, key: str) -> int:
            value = meta[key]
            assert isinstance(value, int)
            return value

        def grains(meta: Metadata, key: str) -> GrainMap:
            value = meta[key]
            assert isinstance(value, GrainMap)
            return value

        objects = []
        for i, obj in enumerate(topo.objects):
            meta, store = metas[obj.home], self.local_stores[i]
            base = self._decode(store.base, i)
            slot = num(meta, f"o{i}.active_slot")
            active = self._delta(store.aux[slot], grains(meta, f"o{i}.active"), i)
            frozen: model.Delta | None = None
            if num(meta, f"o{i}.has_frozen"):
                source = store.base if num(meta, f"o{i}.frozen_from_base") else store.aux[1 - slot]
                frozen = self._delta(source, grains(meta, f"o{i}.frozen"), i)
            objects.append(model.LocalObject(base, frozen, active))
        remotes = []
        for gi, group in enumerate(topo.groups):
            for i in topo.group_objects(gi):
                row = []
                for site in group.remotes:
                    meta, rstore = metas[site], self.remote_stores[(i, site)]
                    delta_point = num(meta, f"r{i}.delta_point")
                    row.append((site, model.RemoteObject(
                        base=self._decode(rstore.base, i),
                        base_point=num(meta, f"r{i}.base_point"),
                        delta=self._delta(rstore.delta, grains(meta, f"r{i}.delta"), i),
                        delta_point=None if delta_point == NO_POINT else delta_point,
                        complete=bool(num(meta, f"r{i}.complete")),
                    )))  # fmt: skip
                remotes.append(tuple(row))
        groups = []
        for gi, group in enumerate(topo.groups):
            meta = metas[group.home]
            completed = num(meta, f"g{gi}.completed")
            members = list(topo.group_objects(gi))
            unfrozen = num(meta, f"g{gi}.unfrozen")
            groups.append((
                num(meta, f"g{gi}.point"),
                frozenset(s for k, s in enumerate(topo.sites) if completed & _bit(k)),
                bool(num(meta, f"g{gi}.broken")),
                frozenset(m for p, m in enumerate(members) if unfrozen & _bit(p)),
            ))  # fmt: skip
        return OverlayObservation(
            objects=tuple(objects),
            remotes=tuple(remotes),
            groups=tuple(groups),
            down_sites=frozenset(n for n, s in self.sites.items() if not s.up),
            down_links=frozenset(self.down_links),
        )

    def recoverable(self, obj: int, site: str) -> tuple[int, ...]:
        """A failover read at `site`: the base copy, overlaid by the delta once complete."""
        meta = self.sites[site].durable_meta()
        store = self.remote_stores[(obj, site)]
        image = list(self._decode(store.base, obj))
        if meta[f"r{obj}.complete"]:
            present = meta[f"r{obj}.delta"]
            assert isinstance(present, GrainMap)
            for offset, value in self._delta(store.delta, present, obj):
                image[offset] = value
        return tuple(image)


__all__ = ["LocalStore", "OverlayEngine", "RemoteStore"]
