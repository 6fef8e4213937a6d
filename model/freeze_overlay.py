"""Design B, freeze and auxiliary overlay, as a pure model (docs/claims/freeze-overlay-claims.txt).

Every action's guard and update is written once, over one consistency group, in
model/freeze_overlay_rules.py; this module binds an action of a topology to one group's terms
(`bind`), reads the group's half of the state into the rules' view (`view`), evaluates the rule
concretely and writes the view back (`put_view`).  The proof evaluates the same rules over Z3
terms (proofs/freeze_overlay.py).  What stays here is what the rules do not decide: the
topologies, the state as the harness and the engine read it, the write plans, the spec's view,
and the enumeration of actions.

A *topology* lays out consistency groups: each group has objects (all at one home site) and
remote sites; an object's grains are numbered globally, objects end to end.  Locally an object
is a frozen base B, the frozen delta of the point being mirrored (AV_{s-1}) and the active delta
receiving host writes (AV_s, redirect-on-write), and in the pipelined order the previous point's
delta while it merges into B; the live object reads active, then frozen, then merging, then B.
Each remote keeps, per object, a complete base copy (RV_base, holding point `b`), the delta of
the point being received (RV_s) with a durable complete mark, and in the pipelined order the
previous point's complete delta while it merges into the base copy.

Cycle, pipelined (the default, the claims' order): FreezeGroup (point k+1: the frozen delta
moves aside to merge, active becomes frozen, a new active opens; all members at one instant,
once point k is complete at *every* remote (fan-out) and point k-1 is merged away) ->
CopyDelta per extent and remote (the first moves the remote's complete delta of point k aside)
(a window: the frozen delta's grains within it the remote lacks, one write and one record)
-> MarkComplete per remote (the commit at that remote, atomic over the group's members) -> the
next FreezeGroup, which waits for the copy to complete everywhere (claim 18: the interval is
never shorter than the copy); meanwhile MergeRemote per window (redo-safe) and DropRemoteDelta
of the delta aside, and MergeLocal and DropLocalDelta of the delta merging at home.  The
stricter order (`pipelined=False`) merges in place instead: MergeRemote and DropRemoteDelta of
the complete delta before the remote takes the next point, MergeLocal and DropLocalDelta of the
frozen delta before the next freeze.  Point 1's frozen delta is the whole object (cycle 1 copies
all of B).

What it models of crashes: a site crash between actions (every action is atomic and durable
here; `CrashSite` with `after_writes` > 0 is design A's and is not enabled).  A crash in the
middle of a merge is a crash between two MergeRemote actions; recovery redoes the merge.

Power loss: each action's *write plan* (`write_plan`) lists the engine's durable writes in
order, per site, and says which must be durable before the next (`durable`); the engine
flushes exactly there.  An action's effect on a site's half of the state (`site_half`) is
visible once the site's last write of the plan is on the media; harness/power_loss.py explores
every crash state of those writes over the engine, and the model judges each recovered state.
The safe design needs every flush; each mutant in `POWER_LOSS_OPTIONS` drops one.

Interpretive choices: the point number k is per group; the spec's image of point k is the
host's view (every acknowledged write) at the FreezeGroup instant; pipelined, a remote takes
point k+1 only once point k-1 is merged away there, and the next freeze waits for the local
merge of the point before (one delta merges aside at a time, at home and at each remote).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pitmirror.model import freeze_overlay_rules as rules
from pitmirror.model import spec, variants
from pitmirror.model.actions import (
    Action,
    CopyDelta,
    DropLocalDelta,
    DropRemoteDelta,
    FreezeGroup,
    FreezeMember,
    HostFlush,
    HostWrite,
    LinkDown,
    LinkUp,
    MarkComplete,
    MergeLocal,
    MergeRemote,
    action_name,
    cycle_write_problem,
)
from pitmirror.model.algebra import NONE, Case, Concrete, applied, first_false, the_case
from pitmirror.model.algebra import Delta as Delta
from pitmirror.model.algebra import delta_get as delta_get
from pitmirror.model.algebra import delta_slice as delta_slice
from pitmirror.model.algebra import delta_update as delta_update
from pitmirror.model.design import ActionNotEnabled, DesignModel, WrongDesign
from pitmirror.model.extents import runs, sub_extents, windows
from pitmirror.model.freeze_overlay_rules import Options as Options
from pitmirror.model.freeze_overlay_vocabulary import VOCABULARY
from pitmirror.model.options import DesignOptions

DESIGN = rules.DESIGN
Image = tuple[int, ...]


def overlay(base: Image, *deltas: Delta) -> Image:
    """Read resolution: the last delta that holds a grain wins, else the base.

    pre: all(0 <= g < len(base) for d in deltas for g, _ in d)
    pre: all(a[0] < b[0] for d in deltas for a, b in zip(d, d[1:]))
    post: len(__return__) == len(base)
    post: all(__return__[g] == resolve(base, deltas, g) for g in range(len(base)))
    """
    out = list(base)
    for delta in deltas:
        for g, v in delta:
            out[g] = v
    return tuple(out)


def resolve(base: Image, deltas: tuple[Delta, ...], grain: int) -> int:
    """One grain's read, searching the newest delta first (the contract of `overlay`)."""
    for delta in reversed(deltas):
        value = delta_get(delta, grain)
        if value is not None:
            return value
    return base[grain]


# ---- topology -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ObjectSpec:
    name: str
    home: str
    grains: int
    kind: str = "device"  # device | span | file: where the engine keeps it, not the model


@dataclass(frozen=True)
class GroupSpec:
    objects: tuple[ObjectSpec, ...]
    remotes: tuple[str, ...]

    @property
    def home(self) -> str:
        return self.objects[0].home


@dataclass(frozen=True)
class Topology:
    name: str
    groups: tuple[GroupSpec, ...]
    fan_in: bool = False  # the engine puts every object a remote receives in one device

    # derived once per topology (a frozen dataclass may cache in its __dict__): the model asks
    # for them at every guard
    @functools.cached_property
    def objects(self) -> tuple[ObjectSpec, ...]:
        return tuple(o for g in self.groups for o in g.objects)

    @functools.cached_property
    def sites(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for g in self.groups:
            seen[g.home] = None
            seen.update(dict.fromkeys(g.remotes))
        return tuple(seen)

    @functools.cached_property
    def links(self) -> tuple[str, ...]:
        return tuple(sorted({link_name(g.home, r) for g in self.groups for r in g.remotes}))

    @functools.cached_property
    def grains(self) -> int:
        return sum(o.grains for o in self.objects)

    def locate(self, grain: int) -> tuple[int, int, int]:
        """(group, object index in the topology, offset in the object) of a global grain."""
        index = 0
        for gi, group in enumerate(self.groups):
            for obj in group.objects:
                if grain < obj.grains:
                    return gi, index, grain
                grain -= obj.grains
                index += 1
        raise ValueError("grain outside the topology")

    def first_grain(self, object_index: int) -> int:
        return self._first_grains[object_index]

    @functools.cached_property
    def _first_grains(self) -> tuple[int, ...]:
        return tuple(sum(o.grains for o in self.objects[:i]) for i in range(len(self.objects)))

    @functools.cached_property
    def bindings(self) -> dict[Action, Bound | str]:
        """`bind`'s answers so far (the model's one cache: bindings do not change)"""
        return {}

    @functools.cached_property
    def algebras(self) -> tuple[Concrete, ...]:
        """Each group's concrete algebra (model/algebra.py): its names and sizes."""
        found = []
        for gi, group in enumerate(self.groups):
            sizes = {obj.grains for obj in group.objects}
            assert len(sizes) == 1, "the members of a group have one size"
            members = self.group_objects(gi)
            found.append(Concrete(
                home=group.home,
                members=tuple(obj.name for obj in group.objects),
                remotes=group.remotes,
                grains=sizes.pop(),
                first_grains=tuple(self.first_grain(i) for i in members),
            ))  # fmt: skip
        return tuple(found)

    def group_objects(self, group: int) -> range:
        start = sum(len(g.objects) for g in self.groups[:group])
        return range(start, start + len(self.groups[group].objects))


def link_name(a: str, b: str) -> str:
    return "-".join(sorted((a, b)))


def _obj(name: str, home: str, grains: int, kind: str = "device") -> ObjectSpec:
    return ObjectSpec(name, home, grains, kind)


def topology(name: str, grains: int = 2) -> Topology:
    """The topologies `verify` runs; `grains` per object."""
    layouts = {
        "single": (GroupSpec((_obj("vol", "left", grains),), ("right",)),),
        "group": (
            GroupSpec((_obj("db", "left", grains), _obj("log", "left", grains)), ("right",)),
        ),
        "fan-out": (GroupSpec((_obj("vol", "left", grains),), ("right", "third")),),
        "fan-in": (
            GroupSpec((_obj("a", "left", grains, "span"),), ("right",)),
            GroupSpec((_obj("b", "third", grains, "span"),), ("right",)),
        ),
        "bidirectional": (
            GroupSpec((_obj("east", "left", grains),), ("right",)),
            GroupSpec((_obj("west", "right", grains),), ("left",)),
        ),
        "file": (GroupSpec((_obj("file", "left", grains, "file"),), ("right",)),),
    }
    if name not in layouts:
        raise ValueError(f"unknown topology {name!r} (known: {', '.join(layouts)})")
    return Topology(name, layouts[name], fan_in=name == "fan-in")


_named_topology = topology  # `topology` is also a common parameter name below

TOPOLOGIES = ("single", "group", "fan-out", "fan-in", "bidirectional", "file")


# ---- options, config, state -----------------------------------------------------------------


UNSAFE_OPTIONS: dict[str, Options] = {
    "merge-before-complete": Options(pipelined=False, merge_after_complete=False),
    "drop-before-every-remote": Options(drop_after_every_remote=False),
    "freeze-members-one-at-a-time": Options(freeze_group_at_once=False),
    "read-frozen-first": Options(read_active_first=False),
}
POWER_LOSS_OPTIONS: dict[str, Options] = {
    "host-data-unflushed": Options(flush_host_data=False),
    "copy-data-unflushed": Options(flush_copy_data=False),
    "complete-unflushed": Options(flush_complete=False),
    "drop-before-merge-flushed": Options(flush_merges_before_drop=False),
}
"""Mutants only a power loss shows (writes no flush covered yet lost): harness/power_loss.py
catches them over the engine."""
# the topology each mutant needs to show itself
MUTANT_TOPOLOGY = {
    "merge-before-complete": "single",
    "drop-before-every-remote": "fan-out",
    "freeze-members-one-at-a-time": "group",
    "read-frozen-first": "single",
}


@dataclass(frozen=True)
class Config:
    topology: Topology
    values: tuple[int, ...] = (1, 2)
    max_point: int | None = None


_VALUES = Concrete()
"""the concrete algebra where no group is needed (a read of one object)"""


@dataclass(frozen=True)
class LocalObject:
    base: Image
    frozen: Delta | None  # the delta of the point being mirrored; None once merged away
    active: Delta  # host writes since the last freeze
    merging: Delta | None = None
    """pipelined: the previous point's delta, still merging into the base; None once dropped"""
    cache: Delta = ()
    """the host's writes without FUA not flushed yet (volatile: lost with the home site)"""

    @property
    def live(self) -> Image:
        return overlay(self.base, self.merging or (), self.frozen or (), self.active, self.cache)

    def read(self, offset: int, active_first: bool = True) -> int:
        """A host read of one grain: claim 12's order, or (a mutant) the frozen delta first."""
        frozen, merging = self.frozen or (), self.merging or ()
        value: int = rules.read(_VALUES, active_first, self.base, merging, frozen, self.active,
                                offset, self.cache)  # fmt: skip
        return value

    def reads(self, active_first: bool = True) -> Image:
        """What a host read of each grain returns (`read`'s order, over the whole object)."""
        frozen, merging = self.frozen or (), self.merging or ()
        order = rules.read_order(active_first, merging, frozen, self.active, self.cache)
        return overlay(self.base, *reversed(order))


@dataclass(frozen=True)
class RemoteObject:
    base: Image
    base_point: int
    delta: Delta
    delta_point: int | None  # the point being received; None between points
    complete: bool
    merging: Delta = ()
    """pipelined: the previous point's complete delta, moved aside to merge into the base"""
    merging_point: int | None = None

    @property
    def committed(self) -> int:
        if self.complete and self.delta_point is not None:
            return self.delta_point
        return self.base_point if self.merging_point is None else self.merging_point

    @property
    def recoverable(self) -> Image:
        return overlay(self.base, self.merging, self.delta if self.complete else ())


@dataclass(frozen=True)
class GroupState:
    point: int  # k: the newest frozen point
    completed_at: frozenset[str]  # remotes that marked point k complete (local knowledge)
    broken: bool
    unfrozen: frozenset[int]  # members still to freeze (mutant only)
    images: tuple[tuple[Image, ...], ...]  # ghost: P_0..P_k, one image per member


@dataclass(frozen=True)
class State:
    config: Config
    options: Options
    objects: tuple[LocalObject, ...]
    remotes: tuple[tuple[tuple[str, RemoteObject], ...], ...]  # per object: (site, copy)
    groups: tuple[GroupState, ...]
    down_sites: frozenset[str] = frozenset()
    down_links: frozenset[str] = frozenset()
    acked: tuple[Image, ...] = ()  # ghost: the host's view per object of what is durable (its
    # cache aside: `LocalObject.cache`)
    views: dict[int, rules.GroupView] = dataclasses.field(
        default_factory=dict, init=False, compare=False, repr=False
    )
    """each group's `view`, built once per state (every guard asks for it)"""

    @property
    def topology(self) -> Topology:
        return self.config.topology

    def remote(self, obj: int, site: str) -> RemoteObject:
        return dict(self.remotes[obj])[site]

    def site_up(self, site: str) -> bool:
        return site not in self.down_sites

    def reachable(self, home: str, site: str) -> bool:
        return (
            self.site_up(home)
            and self.site_up(site)
            and link_name(home, site) not in self.down_links
        )

    # the design-neutral contract (model/design.py): this design's transition relation
    def why_disabled(self, action: Action) -> str | None:
        return why_disabled(self, action)

    def enabled_actions(self) -> Iterator[Action]:
        return enabled_actions(self)

    def step(self, action: Action) -> State:
        return step(self, action)

    def read(self, grain: int) -> int:
        """Claim 12: through the overlay, the active delta, then the frozen one, then B."""
        _, oi, offset = self.topology.locate(grain)
        return self.objects[oi].read(offset, self.options.read_active_first)

    def violations(self, before: State | None) -> dict[str, str]:
        return check(before, self)

    def spec_view(self) -> spec.SpecView:
        return spec_view(self)


def initial_state(config: Config, options: Options | None = None) -> State:
    """Point 1 frozen at the start: every group as the rules' `initial` says, written into a
    state of the topology's shape."""
    topo = config.topology
    unset = LocalObject((), None, ())
    shape = State(
        config=config,
        options=options or Options(),
        objects=(unset,) * len(topo.objects),
        remotes=((),) * len(topo.objects),
        groups=(GroupState(0, frozenset(), False, frozenset(), ()),) * len(topo.groups),
        acked=((),) * len(topo.objects),
    )
    for gi in range(len(topo.groups)):
        shape = put_view(shape, gi, _UNSET, rules.initial(algebra(topo, gi)))
    return shape


# ---- the rules, bound to a topology -------------------------------------------------------------
# model/freeze_overlay_rules.py states every action once, over one group; here an action of a
# topology is bound to a group's terms (which member, remote, offsets), the group's half of the
# state is read into the rules' `GroupView`, and the view after the rule is written back.


def _members(state: State, group: int) -> range:
    return state.topology.group_objects(group)


def algebra(topo: Topology, group: int) -> Concrete:
    """The concrete algebra of one group of the topology."""
    return topo.algebras[group]


def view(state: State, group: int) -> rules.GroupView:
    """One group's half of the state in the rules' terms (members and remotes by index)."""
    if group not in state.views:
        state.views[group] = _view(state, group)
    return state.views[group]


def _view(state: State, group: int) -> rules.GroupView:
    topo = state.topology
    home, remotes = topo.groups[group].home, topo.groups[group].remotes
    members = _members(state, group)
    objects = [state.objects[i] for i in members]
    copies = [[state.remote(i, r) for i in members] for r in remotes]
    g = state.groups[group]
    return rules.GroupView(
        base=tuple(o.base for o in objects),
        frozen=tuple(o.frozen or () for o in objects),
        has_frozen=tuple(o.frozen is not None for o in objects),
        active=tuple(o.active for o in objects),
        merging=tuple(o.merging or () for o in objects),
        has_merging=tuple(o.merging is not None for o in objects),
        cache=tuple(o.cache for o in objects),
        acked=tuple(state.acked[i] for i in members),
        images=g.images,
        unfrozen=tuple(i in g.unfrozen for i in members),
        rbase=tuple(tuple(c.base for c in row) for row in copies),
        rdelta=tuple(tuple(c.delta for c in row) for row in copies),
        rbase_point=tuple(tuple(c.base_point for c in row) for row in copies),
        rdelta_point=tuple(
            tuple(NONE if c.delta_point is None else c.delta_point for c in row) for row in copies
        ),
        complete=tuple(tuple(c.complete for c in row) for row in copies),
        rmerging=tuple(tuple(c.merging for c in row) for row in copies),
        rmerging_point=tuple(
            tuple(NONE if c.merging_point is None else c.merging_point for c in row)
            for row in copies
        ),
        completed=tuple(r in g.completed_at for r in remotes),
        remote_up=tuple(state.site_up(r) for r in remotes),
        link_up=tuple(link_name(home, r) not in state.down_links for r in remotes),
        point=g.point,
        broken=g.broken,
        home_up=state.site_up(home),
        base_unflushed=tuple(frozenset() for _ in members),  # the proof's ghosts: kept by no
        rbase_unflushed=tuple(tuple(frozenset() for _ in members) for _ in remotes),  # state
    )


_UNSET = rules.GroupView(**{name: object() for name in rules.SCHEMA})
"""a view no field of which is any other view's: written back whole (`put_view`)"""


def _changed(before: rules.GroupView, after: rules.GroupView, *fields: str) -> bool:
    return any(getattr(before, f) is not getattr(after, f) for f in fields)


def put_view(state: State, group: int, before: rules.GroupView, after: rules.GroupView) -> State:
    """`state` with the group's half written back from the view the rule left (`before` is
    the view the rule was given: fields it did not replace are not written)."""
    topo = state.topology
    spec_ = topo.groups[group]
    members = _members(state, group)
    changes: dict[str, Any] = {}
    if _changed(before, after, "base", "frozen", "has_frozen", "active", "merging",
                "has_merging", "cache"):  # fmt: skip
        objects = list(state.objects)
        for m, i in enumerate(members):
            frozen = after.frozen[m] if after.has_frozen[m] else None
            merging = after.merging[m] if after.has_merging[m] else None
            objects[i] = LocalObject(after.base[m], frozen, after.active[m], merging,
                                     after.cache[m])  # fmt: skip
        changes["objects"] = tuple(objects)
    if _changed(before, after, "acked"):
        acked = list(state.acked)
        for m, i in enumerate(members):
            acked[i] = after.acked[m]
        changes["acked"] = tuple(acked)
    if _changed(before, after, "rbase", "rdelta", "rbase_point", "rdelta_point", "complete",
                "rmerging", "rmerging_point"):  # fmt: skip
        rows = list(state.remotes)
        for m, i in enumerate(members):
            rows[i] = tuple(
                (r, RemoteObject(
                    after.rbase[ri][m], after.rbase_point[ri][m], after.rdelta[ri][m],
                    _point(after.rdelta_point[ri][m]), after.complete[ri][m],
                    after.rmerging[ri][m], _point(after.rmerging_point[ri][m]),
                ))
                for ri, r in enumerate(spec_.remotes)
            )  # fmt: skip
        changes["remotes"] = tuple(rows)
    if _changed(before, after, "images", "unfrozen", "completed", "point", "broken"):
        groups = list(state.groups)
        groups[group] = GroupState(
            point=after.point,
            completed_at=frozenset(r for ri, r in enumerate(spec_.remotes) if after.completed[ri]),
            broken=after.broken,
            unfrozen=frozenset(i for m, i in enumerate(members) if after.unfrozen[m]),
            images=after.images,
        )
        changes["groups"] = tuple(groups)
    if _changed(before, after, "home_up", "remote_up"):
        sites = [(spec_.home, after.home_up), *zip(spec_.remotes, after.remote_up, strict=True)]
        down = state.down_sites - {s for s, up in sites if up}
        changes["down_sites"] = down | {s for s, up in sites if not up}
    if _changed(before, after, "link_up"):
        links = [(link_name(spec_.home, r), up)
                 for r, up in zip(spec_.remotes, after.link_up, strict=True)]  # fmt: skip
        down = state.down_links - {k for k, up in links if up}
        changes["down_links"] = down | {k for k, up in links if not up}
    return dataclasses.replace(state, **changes)


def _point(value: int) -> int | None:
    return None if value == NONE else value


def _out_of_range(topo: Topology, action: Action) -> str | None:
    """The action names a grain, group or site the topology does not have."""
    grain = getattr(action, "grain", None)
    if grain is not None and not 0 <= grain < topo.grains:
        return f"grain {grain} is outside the topology (0..{topo.grains - 1})"
    count = getattr(action, "count", 1)
    if grain is not None and count != 1:
        last = grain + count - 1
        if count < 1:
            return f"an extent of {count} grains is empty"
        if last >= topo.grains:
            return f"grains {grain}..{last} run past the topology's end (0..{topo.grains - 1})"
        first_object, last_object = topo.locate(grain)[1], topo.locate(last)[1]
        if first_object != last_object:
            names = topo.objects[first_object].name, topo.objects[last_object].name
            return f"grains {grain}..{last} run from object {names[0]} into {names[1]}"
    group_index = getattr(action, "group", None)
    if group_index is not None and not 0 <= group_index < len(topo.groups):
        return f"group {group_index} does not exist"
    site = getattr(action, "site", None)
    if site is not None and site not in topo.sites and not isinstance(action, HostWrite):
        return f"site {site!r} is not in the {topo.name} topology ({', '.join(topo.sites)})"
    if isinstance(action, LinkDown | LinkUp) and action.link not in topo.links:
        return f"no link {action.link!r} (links: {', '.join(topo.links)})"
    if isinstance(action, FreezeMember) and not 0 <= action.member < len(topo.objects):
        return f"member {action.member} does not exist"
    if isinstance(action, HostFlush) and not 0 <= action.volume < len(topo.objects):
        return f"volume {action.volume} does not exist"
    return None


@dataclass(frozen=True)
class Bound:
    """An action of the topology in one group's terms: the rule and its parameters."""

    group: int
    rule: str
    params: dict[str, Any]


def _grain_params(topo: Topology, grain: int, count: int | None = None
                  ) -> tuple[int, dict[str, Any]]:  # fmt: skip
    gi, oi, off = topo.locate(grain)
    member = oi - topo.group_objects(gi).start
    if count is None:
        return gi, {"member": member, "grain": off}
    return gi, {"member": member, "extent": range(off, off + count)}


def _remote(topo: Topology, group: int, site: str) -> int | str:
    """The site's index among the group's remotes, or why it is none."""
    remotes = topo.groups[group].remotes
    return remotes.index(site) if site in remotes else f"{site} is not a remote of group {group}"


def _site(topo: Topology, site: str) -> tuple[int, str, dict[str, Any]]:
    """A group the site belongs to, and its part there (home first: a site's availability is
    shared by every group it belongs to)."""
    for gi, group in enumerate(topo.groups):
        if group.home == site:
            return gi, "home", {}
    gi = next(gi for gi, group in enumerate(topo.groups) if site in group.remotes)
    return gi, "remote", {"remote": topo.groups[gi].remotes.index(site)}


BINDINGS_KEPT = 100_000
"""bindings remembered per topology (an action's binding depends on the topology alone)"""


def bind(state: State, action: Action) -> Bound | str:
    """The action in a group's terms, or why the topology cannot take it (worked out once per
    topology and action: every guard asks)."""
    known = state.topology.bindings
    found = known.get(action)
    if found is None:
        if len(known) >= BINDINGS_KEPT:
            known.clear()
        found = known[action] = _bind(state.topology, action)
    return found


def _bind(topo: Topology, action: Action) -> Bound | str:
    if reason := _out_of_range(topo, action):
        return reason
    entry = VOCABULARY.entry(action)
    if entry is None:
        return f"{action_name(action)} is not an action of design B"
    return BINDERS[entry.binds](topo, action, entry.name)


def _bind_grain(topo: Topology, action: Any, name: str) -> Bound | str:
    gi, params = _grain_params(topo, action.grain)
    data = {"data": action.data} if "data" in action.__dataclass_fields__ else {}
    rule = name if getattr(action, "fua", True) else f"{name}(cached)"
    return Bound(gi, rule, {**params, **data})


def _bind_extent(topo: Topology, action: Any, name: str) -> Bound | str:
    gi, params = _grain_params(topo, action.grain, action.count)
    return Bound(gi, name, params)


def _bind_remote_extent(topo: Topology, action: Any, name: str) -> Bound | str:
    gi, params = _grain_params(topo, action.grain, action.count)
    remote = _remote(topo, gi, action.site)
    return remote if isinstance(remote, str) else Bound(gi, name, {"remote": remote, **params})


def _bind_group(topo: Topology, action: Any, name: str) -> Bound | str:
    return Bound(action.group, name, {})


def _bind_freeze(topo: Topology, action: Any, name: str) -> Bound | str:
    return Bound(action.group, name, {"first": 0})


def _bind_remote_group(topo: Topology, action: Any, name: str) -> Bound | str:
    remote = _remote(topo, action.group, action.site)
    return remote if isinstance(remote, str) else Bound(action.group, name, {"remote": remote})


def _bind_member(topo: Topology, action: Any, name: str) -> Bound | str:
    return _member_of(topo, action.member, name)


def _bind_volume(topo: Topology, action: Any, name: str) -> Bound | str:
    return _member_of(topo, action.volume, name)


def _member_of(topo: Topology, obj: int, name: str) -> Bound:
    gi = next(i for i in range(len(topo.groups)) if obj in topo.group_objects(i))
    return Bound(gi, name, {"member": obj - topo.group_objects(gi).start})


def _bind_link(topo: Topology, action: Any, name: str) -> Bound | str:
    gi, r = next((gi, r) for gi, group in enumerate(topo.groups)
                 for r, remote in enumerate(group.remotes)
                 if link_name(group.home, remote) == action.link)  # fmt: skip
    return Bound(gi, name, {"remote": r})


def _bind_site(topo: Topology, action: Any, name: str) -> Bound | str:
    if getattr(action, "after_writes", 0):
        return "design B crashes between actions: after_writes must be 0"
    gi, part, params = _site(topo, action.site)
    return Bound(gi, f"{name}({part})", params)


Binder = Callable[[Topology, Any, str], "Bound | str"]
BINDERS: dict[str, Binder] = {
    "grain": _bind_grain,
    "extent": _bind_extent,
    "remote-extent": _bind_remote_extent,
    "group": _bind_group,
    "freeze": _bind_freeze,
    "remote-group": _bind_remote_group,
    "member": _bind_member,
    "volume": _bind_volume,
    "link": _bind_link,
    "site": _bind_site,
}
"""How an action's fields become its rule's parameters, by the vocabulary's `binds`."""


def why_disabled(state: State, action: Action) -> str | None:
    """None when `action` is enabled in `state`, else the reason in words."""
    if isinstance(action, HostWrite) and (problem := cycle_write_problem(action)):
        return problem
    bound = bind(state, action)
    if isinstance(bound, str):
        return bound
    x, s = algebra(state.topology, bound.group), view(state, bound.group)
    rule = rules.rules_for(state.options)[bound.rule]
    if reason := first_false(rule.guard(x, state.options, s, **bound.params)):
        return reason
    max_point = state.config.max_point
    if isinstance(action, FreezeGroup) and max_point is not None and s.point >= max_point:
        return "the configured point bound is reached"
    return None


ExtentAction = CopyDelta | MergeRemote | MergeLocal
EXTENT_KINDS: tuple[type[ExtentAction], ...] = VOCABULARY.extent_kinds


@dataclass(frozen=True)
class ExtentSource:
    """Where an extent action may act now: a kind, its remote site (None for MergeLocal) and
    the global grains of one object it may take.  Every window from one grain of `grains` to
    another is enabled: the action moves the grains of `grains` within it (in the frozen
    delta and not yet sent, in the remote's delta), and the guards ask the object as a whole
    the rest."""

    kind: type[ExtentAction]
    site: str | None
    grains: frozenset[int]

    def action(self, grain: int, count: int = 1) -> ExtentAction:
        kind: Any = self.kind  # the vocabulary's binder says which fields it has
        action: ExtentAction = (
            kind(grain, count) if self.site is None else kind(self.site, grain, count)
        )
        return action


def local_merge_source(state: State, obj: LocalObject) -> Delta:
    """The delta a local merge reads: the frozen one, or (pipelined) the one merging."""
    return (obj.merging if state.options.pipelined else obj.frozen) or ()


def remote_merge_source(state: State, copy: RemoteObject) -> Delta:
    """The delta a remote merge reads: the received one, or (pipelined) the one merging."""
    return copy.merging if state.options.pipelined else copy.delta


def received(state: State, group: int, copy: RemoteObject) -> set[int]:
    """The grains of the group's current point a remote copy has (pipelined, a delta of an
    earlier point is moved aside by the next copy, not copied over)."""
    current = copy.delta_point in (None, state.groups[group].point)
    return {o for o, _ in copy.delta} if current or not state.options.pipelined else set()


def extent_sources(state: State, kind: type[ExtentAction]) -> list[ExtentSource]:
    """Every (site, object) where `kind` is enabled now, with the grains it may take there;
    cheap on large objects (the harness draws extents from these, not from every extent)."""
    topo, found = state.topology, []
    for gi, group in enumerate(topo.groups):
        sites: tuple[str | None, ...] = (None,) if kind is MergeLocal else group.remotes
        for oi in topo.group_objects(gi):
            first, obj = topo.first_grain(oi), state.objects[oi]
            for site in sites:
                if kind is MergeLocal:
                    offsets = {o for o, _ in local_merge_source(state, obj)}
                elif kind is MergeRemote:
                    assert site is not None
                    offsets = {o for o, _ in remote_merge_source(state, state.remote(oi, site))}
                else:
                    assert site is not None
                    sent = received(state, gi, state.remote(oi, site))
                    offsets = {o for o, _ in obj.frozen or ()} - sent
                if not offsets:
                    continue
                source = ExtentSource(kind, site, frozenset(first + o for o in offsets))
                if why_disabled(state, source.action(min(source.grains))) is None:
                    found.append(source)
    return found


def enabled_actions(state: State) -> Iterator[Action]:
    """Every enabled action (HostWrite data from `config.values`), extent actions over every
    extent."""
    for action in candidate_actions(state, extents=False):
        if not isinstance(action, EXTENT_KINDS) and why_disabled(state, action) is None:
            yield action
    for kind in EXTENT_KINDS:
        for source in extent_sources(state, kind):
            yield from (source.action(g, n) for g, n in windows(source.grains))


def candidates_of(
    state: State, kind: type[Action], grains: Sequence[int] | None = None
) -> list[Action]:
    """Every action of one kind in the topology, enabled or not (HostWrite data from
    `config.values`; extent actions over one grain); with `grains`, the actions that name a
    grain name one of those (the harness's probes: the objects' edges, not every grain)."""
    entry = VOCABULARY.by_kind.get(kind)
    among = range(state.topology.grains) if grains is None else grains
    return [] if entry is None else list(CANDIDATES[entry.binds](state, kind, among))


def _grain_candidates(state: State, kind: Any, grains: Sequence[int]) -> Iterable[Action]:
    if "fua" in kind.__dataclass_fields__:
        values = state.config.values
        return (kind(g, v, fua) for g in grains for v in values for fua in (True, False))
    if "data" in kind.__dataclass_fields__:
        return (kind(g, v) for g in grains for v in state.config.values)
    return map(kind, grains)


def _remote_extent_candidates(state: State, kind: Any, grains: Sequence[int]) -> Iterable[Action]:
    return (kind(s, g) for s in state.topology.sites for g in grains)


def _remote_group_candidates(state: State, kind: Any, grains: Sequence[int]) -> Iterable[Action]:
    topo = state.topology
    return (kind(s, i) for s in topo.sites for i in range(len(topo.groups)))


CANDIDATES: dict[str, Callable[[State, Any, Sequence[int]], Iterable[Action]]] = {
    "grain": _grain_candidates,
    "extent": lambda state, kind, grains: map(kind, grains),
    "remote-extent": _remote_extent_candidates,
    "group": lambda state, kind, grains: map(kind, range(len(state.topology.groups))),
    "freeze": lambda state, kind, grains: map(kind, range(len(state.topology.groups))),
    "remote-group": _remote_group_candidates,
    "member": lambda state, kind, grains: map(kind, range(len(state.topology.objects))),
    "volume": lambda state, kind, grains: map(kind, range(len(state.topology.objects))),
    "link": lambda state, kind, grains: map(kind, state.topology.links),
    "site": lambda state, kind, grains: map(kind, state.topology.sites),
}
"""Every action of a kind in the topology, by the vocabulary's `binds` (as `BINDERS`)."""


KINDS: tuple[type[Action], ...] = VOCABULARY.kinds
"""design B's action kinds"""


def candidate_actions(state: State, extents: bool = True) -> list[Action]:
    """Every action of the topology, enabled or not (HostWrite data from `config.values`);
    extent actions over one grain, and over every longer extent within an object unless
    `extents` is False (quadratic in the object size: small topologies only)."""
    topo = state.topology
    found = [a for kind in KINDS for a in candidates_of(state, kind)]
    if extents:
        for oi, obj in enumerate(topo.objects):
            first = topo.first_grain(oi)
            longer = [(g, n) for g, n in sub_extents(range(first, first + obj.grains)) if n > 1]
            for entry in VOCABULARY.of_kinds(EXTENT_KINDS):
                if entry.binds == "remote-extent":
                    found += [entry.kind(s, g, n) for s in topo.sites for g, n in longer]
                else:
                    found += [entry.kind(g, n) for g, n in longer]
    return found


MODIFIES: dict[str, frozenset[str]] = VOCABULARY.modifies()
"""What each action may change, field by field of `State` (the tests check every step)."""


def step(state: State, action: Action) -> State:
    """The state after `action`; raises ActionNotEnabled when its guard is false."""
    bound, x, before, case = _enabled_case(state, action)
    return put_view(state, bound.group, before, case.completed(applied(before, case.writes)))


def _enabled_case(state: State, action: Action) -> tuple[Bound, Concrete, rules.GroupView, Case]:
    """The action's binding, its group's algebra and view, and the branch of its plan that
    applies; ActionNotEnabled when its guard is false."""
    reason = why_disabled(state, action)
    if reason is not None:
        raise ActionNotEnabled(f"{action_name(action)} is not enabled: {reason}")
    bound = bind(state, action)
    assert not isinstance(bound, str)
    x, before = algebra(state.topology, bound.group), view(state, bound.group)
    rule = rules.rules_for(state.options)[bound.rule]
    return bound, x, before, the_case(rule.plan(x, state.options, before, **bound.params),
                                      bound.rule)  # fmt: skip


# ---- durable writes ---------------------------------------------------------------------------

Part = Literal["base", "active", "copy", "delta"]
"""where a grain write lands: an object's base or active delta at its home site, a remote's
base copy or received delta"""


@dataclass(frozen=True)
class VolumeWrite:
    """Grains `offset`..`offset + count - 1` of one object's `part` at `site`: one device
    write, flushed before the next write of the plan unless `durable` is False."""

    site: str
    obj: int
    part: Part
    offset: int
    count: int
    durable: bool = True


@dataclass(frozen=True)
class JournalRecord:
    """One metadata-journal record of `site`, synced before the next write of the plan unless
    `durable` is False."""

    site: str
    durable: bool = True


@dataclass(frozen=True)
class Barrier:
    """A flush of the volume that holds one object's `part` at `site`: every write to it
    before is durable before the next write of the plan."""

    site: str
    obj: int
    part: Part


Write = VolumeWrite | JournalRecord
PlanEntry = Write | Barrier


PARTS: dict[str, Part] = {"base": "base", "active": "active", "rbase": "copy", "rdelta": "delta"}
"""the rules' volume fields, as the engine's object parts"""


def write_plan(state: State, action: Action) -> list[PlanEntry]:
    """The durable writes of `action`, in the order the design issues them: the rules' plan
    (data before the record that makes it visible; a remote's complete mark before the home
    learns of it), as the engine issues it (a volume write as one run of grains, a host
    flush's batch as a write per run with one barrier after the last).  And the
    flushes that stand alone, of earlier actions' writes: a merge's data is flushed only
    before the delta it came from is dropped."""
    bound = bind(state, action)
    if isinstance(bound, str):
        return []
    topo, opts = state.topology, state.options
    group = topo.groups[bound.group]
    rule = rules.rules_for(opts)[bound.rule]
    x, before = algebra(topo, bound.group), view(state, bound.group)
    case = the_case(rule.plan(x, opts, before, **bound.params), bound.rule)
    remote = group.remotes[bound.params["remote"]] if "remote" in bound.params else group.home
    members = topo.group_objects(bound.group)
    plan: list[PlanEntry] = []
    if opts.flush_merges_before_drop and not opts.flush_every_write:
        if bound.rule == "DropLocalDelta":
            plan += [Barrier(group.home, i, "base") for i in members]
        elif bound.rule == "DropRemoteDelta":
            plan += [Barrier(remote, i, "copy") for i in members]
    for write in case.writes:
        site = group.home if write.site == rules.HOME else remote
        if write.volume is None:
            plan.append(JournalRecord(site, write.durable))
            continue
        # a batch of grains (a host flush) is a device write per run, one barrier after the last
        grains = write.grains
        assert isinstance(grains, range | frozenset), grains
        batch = runs(grains) if isinstance(grains, frozenset) else [(grains.start, len(grains))]
        obj, part = members[write.at[-1]], PARTS[write.volume]
        for n, (start, count) in enumerate(batch, 1):
            durable = write.durable and n == len(batch)
            plan.append(VolumeWrite(site, obj, part, start, count, durable))
    return plan


def site_half(state: State, site: str, source: State) -> State:
    """`state` with `site`'s half of it taken from `source`: the objects and groups the site
    is home to (and the host's view of those objects), and the remote copies it keeps."""
    topo = state.topology
    objects = tuple(
        source.objects[i] if obj.home == site else state.objects[i]
        for i, obj in enumerate(topo.objects)
    )
    acked = tuple(
        source.acked[i] if obj.home == site else state.acked[i]
        for i, obj in enumerate(topo.objects)
    )
    groups = tuple(
        source.groups[gi] if group.home == site else state.groups[gi]
        for gi, group in enumerate(topo.groups)
    )
    remotes = tuple(
        tuple((r, dict(source.remotes[i])[r] if r == site else copy) for r, copy in row)
        for i, row in enumerate(state.remotes)
    )
    return dataclasses.replace(state, objects=objects, acked=acked, groups=groups,
                               remotes=remotes)  # fmt: skip


def cut_after(before: State, action: Action, site: str, writes: int) -> State:
    """The state when `site` loses power right after the plan's `writes`-th write (of
    `write_plan`, barriers aside), of any site, the rest of the plan not done: the proof's
    outcome of a power loss at one site just after another's write.  What the site's media
    kept is the power-loss explorer's to say.  ActionNotEnabled when the action is not enabled,
    its plan has fewer writes, or the count ends inside one write's runs."""
    bound, x, seen, case = _enabled_case(before, action)
    done, entries = 0, 0
    for write in case.writes:
        if entries == writes:
            break
        grains = write.grains
        entries += len(runs(grains)) if isinstance(grains, frozenset) else 1
        done += 1
    if entries != writes:
        raise ActionNotEnabled(f"{action_name(action)} has no write {writes} of its own")
    group = before.topology.groups[bound.group]
    after = applied(seen, case.writes[:done])
    if site == group.home:
        after = rules.down_home(x, after)
    elif site in group.remotes:
        remote = group.remotes.index(site)
        after = after.with_(remote_up=x.store(after.remote_up, remote, x.false))
    else:
        raise ActionNotEnabled(f"{site} takes no part in {action_name(action)}")
    return put_view(before, bound.group, seen, case.cut(after))


def cut_short(before: State, action: Action, site: str, nth: int) -> State:
    """The state when `site` loses power just after its `nth` write of `action`: every other
    site's half as the action leaves it if that site's writes all came before, as it was if
    they all come after; `site`'s own half as the action leaves it (what its media kept is the
    power-loss explorer's to say).  ActionNotEnabled when the site has no such write."""
    plan = [entry for entry in write_plan(before, action) if not isinstance(entry, Barrier)]
    mine = [i for i, write in enumerate(plan) if write.site == site]
    if not 1 <= nth <= len(mine):
        raise ActionNotEnabled(f"{site} has no write {nth} in {action_name(action)}")
    at, state = mine[nth - 1], step(before, action)
    for other in {write.site for write in plan} - {site}:
        theirs = [i for i, write in enumerate(plan) if write.site == other]
        if min(theirs) > at:
            state = site_half(state, other, before)
        elif max(theirs) > at:  # interleaved writes of two sites: no design B plan has them
            raise ActionNotEnabled(f"{action_name(action)} interleaves {site} and {other}")
    return state


# ---- the spec's predicates, per remote and group ----------------------------------------------


def committed(state: State, group: int, site: str) -> int:
    return min(state.remote(i, site).committed for i in _members(state, group))


def spec_view(state: State) -> spec.SpecView:
    """Every object the host writes, and one copy per group and remote."""
    topo = state.topology
    active_first = state.options.read_active_first
    volumes = tuple(
        spec.Volume(
            topo.objects[i].name,
            obj.reads(active_first),  # what reads see
            overlay(state.acked[i], obj.cache),  # the host's view: its cache over the durable
        )
        for i, obj in enumerate(state.objects)
    )
    copies = []
    for gi, group_spec in enumerate(topo.groups):
        members = _members(state, gi)
        for site in group_spec.remotes:
            held = [state.remote(i, site) for i in members]
            copies.append(spec.Copy(
                site=site,
                group=gi,
                members=tuple(topo.objects[i].name for i in members),
                points=tuple(copy.committed for copy in held),
                recovered=tuple(copy.recoverable for copy in held),
                images=state.groups[gi].images,
                connected=state.reachable(group_spec.home, site),
            ))  # fmt: skip
    return spec.SpecView(volumes, tuple(copies))


# The order in which background work moves a cycle on: the host's cache flushed (a point needs
# it empty), then finish what is started first.
BACKGROUND = (HostFlush, FreezeMember, MarkComplete, DropRemoteDelta, DropLocalDelta, MergeRemote,
              MergeLocal, CopyDelta)  # fmt: skip


def progress_bound(state: State) -> int:
    """Background steps that finish every group's point: flush the host's cache, freeze the
    stragglers; per remote
    merge and drop the previous point's delta, copy every grain and mark this point complete,
    then merge and drop it (background work takes remote merges first); merge and drop
    locally."""
    topo = state.topology
    steps = 0
    for group in topo.groups:
        grains = sum(o.grains for o in group.objects)
        steps += 2 * len(group.objects) + len(group.remotes) * (3 * grains + 3) + grains + 1
    return steps


def _settled(state: State) -> bool:
    """Every group may take its next point (or is broken, or reached the point bound)."""
    groups = range(len(state.topology.groups))
    max_point = state.config.max_point
    return all(
        state.groups[gi].broken
        or why_disabled(state, FreezeGroup(gi)) is None
        or (max_point is not None and state.groups[gi].point >= max_point)
        for gi in groups
    )


def _background_of(state: State, kind: type[Action]) -> list[Action]:
    """The background actions of one kind, over whole runs of grains (a step costs one extent,
    so progress is cheap on large objects), leaving out merges the base already holds (allowed,
    but they move nothing on) and copies the remote already has."""
    topo = state.topology
    groups = range(len(topo.groups))
    remotes = [(gi, r) for gi in groups for r in topo.groups[gi].remotes]
    if kind is FreezeMember:
        return [FreezeMember(m) for m in range(len(topo.objects))]
    if kind is HostFlush:  # an empty cache's flush moves nothing on
        return [HostFlush(i) for i, obj in enumerate(state.objects) if obj.cache]
    if kind is MarkComplete:
        return [MarkComplete(r, gi) for gi, r in remotes]
    if kind is DropRemoteDelta:
        return [DropRemoteDelta(r, gi) for gi, r in remotes]
    if kind is DropLocalDelta:
        return [DropLocalDelta(gi) for gi in groups]
    found: list[Action] = []
    if kind is MergeLocal:
        for oi, obj in enumerate(state.objects):
            first = topo.first_grain(oi)
            source = local_merge_source(state, obj)
            pending = (first + o for o, v in source if obj.base[o] != v)
            found += [MergeLocal(g, n) for g, n in runs(pending)]
        return found
    for gi, r in remotes:
        for oi in topo.group_objects(gi):
            copy, first = state.remote(oi, r), topo.first_grain(oi)
            if kind is MergeRemote:
                source = remote_merge_source(state, copy)
                pending = (first + o for o, v in source if copy.base[o] != v)
                found += [MergeRemote(r, g, n) for g, n in runs(pending)]
            else:
                have = received(state, gi, copy)
                unsent = (first + o for o, _ in state.objects[oi].frozen or () if o not in have)
                found += [CopyDelta(r, g, n) for g, n in runs(unsent)]
    return found


def background_work(state: State) -> tuple[State, int] | None:
    """The background work of the first kind in BACKGROUND's order that has any enabled: all
    of it, action after action (the state after it, and how many actions it took)."""
    for kind in BACKGROUND:
        taken = 0
        for action in _background_of(state, kind):
            if why_disabled(state, action) is None:
                state, taken = step(state, action), taken + 1
        if taken:
            return state, taken
    return None


@functools.lru_cache(maxsize=spec.PROGRESS_MEMO)
def inv_progress(state: State) -> str | None:
    """With every site and link up and writes paused, every group's point completes at every
    remote and is merged away within the bound."""
    if state.down_sites or state.down_links:
        return None
    return spec.inv_progress(state, progress_bound(state), _settled, background_work)


def check(before: State | None, after: State) -> dict[str, str]:
    """Every predicate of the spec that `after` (reached from `before`) breaks, by name."""
    found = spec.violations(spec_view(after), spec_view(before) if before else None)
    if why := inv_progress(after):
        found["inv_progress"] = why
    return found


class FreezeOverlay:
    """Design B as the design-neutral code sees it: named topologies, `grains` per object."""

    name = DESIGN
    unsafe_options: dict[str, DesignOptions] = dict(UNSAFE_OPTIONS)
    power_loss_options: dict[str, DesignOptions] = dict(POWER_LOSS_OPTIONS)
    topologies = TOPOLOGIES

    def options(self, fields: Mapping[str, object]) -> Options:
        return Options.from_json(dict(fields))

    def mutant_topology(self, options: DesignOptions) -> str | None:
        if isinstance(options, Options) and options.variant:
            shown_on = variants.load(options.variant).topology
            if shown_on is not None and shown_on not in TOPOLOGIES:
                raise variants.VariantError(f"{options.variant}: no topology {shown_on!r}")
            return shown_on or "single"
        named = (name for name, mutant in UNSAFE_OPTIONS.items() if mutant == options)
        return MUTANT_TOPOLOGY.get(next(named, ""), "single")

    def initial(self, options: DesignOptions, topology: str | None, grains: int) -> State:
        if not isinstance(options, Options):
            raise WrongDesign(f"design B was given {type(options).__qualname__}")
        if topology is None:
            raise ValueError(f"design B needs a topology ({', '.join(TOPOLOGIES)})")
        return initial_state(Config(_named_topology(topology, grains)), options)

    def address_space(self, topology: str | None, grains: int) -> int:
        if topology is None:
            raise ValueError(f"design B needs a topology ({', '.join(TOPOLOGIES)})")
        return _named_topology(topology, grains).grains


MODEL: DesignModel = FreezeOverlay()
