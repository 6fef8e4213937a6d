"""Design B's actions, written once over the algebra (model/algebra.py).

One consistency group as the rules see it (`GroupView`): its members' local objects (base B,
frozen delta AV_{s-1}, active delta AV_s, and in the pipelined order the previous point's delta
still merging into B), the host's view, the ghost images of every point, each remote's copies
(base copy and its point, received delta, its point and complete mark, and in the pipelined
order the previous complete delta still merging into the base copy), which remotes the home
knows complete, and which sites and links are up.

The pipelined order (`Options.pipelined`, claims 13, 22 and 46: "repeating mirroring after
completion of step f", the copy) freezes the next point as soon as the current one is complete
at every remote: the frozen delta moves aside to merge into B while the next one is copied,
and a remote moves its complete delta aside to merge when the next point's first grains
arrive.  The stricter order waits for both merges before the next freeze.  A member, a remote,
a grain, an extent and a value are the rules' parameters; the reference model
(model/freeze_overlay.py) binds an action of a topology to one group's terms and evaluates the
rules concretely, and the proof (proofs/freeze_overlay.py) evaluates the same rules over Z3
terms, so the design is stated here and nowhere else.

Each action is a guard and a write plan (model/algebra.py's `PlannedRule`): its writes in the
order the engine issues them, each at the home or the action's remote, a data write into a
volume or a delta's slots, or a journal record whose content an update of the view says
(`journal`).  The model applies them in order; the proof derives from them every way a power
loss can cut the action; the power-loss explorer holds the engine's writes to them.

`SCHEMA` says what each field is (indexed by member, remote or point; a volume, a delta, an
integer or a Boolean) for the interpretations that must build states from nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pitmirror.model import variants
from pitmirror.model.algebra import NONE, Algebra, Case, Clause, PlannedRule, Term, Write, at_once
from pitmirror.model.options import DesignOptions

DESIGN = "freeze-overlay"

SCHEMA: dict[str, tuple[str, ...]] = {
    "base": ("member", "image"),
    "frozen": ("member", "delta"),
    "has_frozen": ("member", "bool"),
    "active": ("member", "delta"),
    "merging": ("member", "delta"),
    "has_merging": ("member", "bool"),
    "cache": ("member", "delta"),
    "acked": ("member", "image"),
    "images": ("point", "member", "image"),
    "unfrozen": ("member", "bool"),
    "rbase": ("remote", "member", "image"),
    "rdelta": ("remote", "member", "delta"),
    "rbase_point": ("remote", "member", "int"),
    "rdelta_point": ("remote", "member", "int"),
    "complete": ("remote", "member", "bool"),
    "rmerging": ("remote", "member", "delta"),
    "rmerging_point": ("remote", "member", "int"),
    "completed": ("remote", "bool"),
    "remote_up": ("remote", "bool"),
    "link_up": ("remote", "bool"),
    "point": ("int",),
    "broken": ("bool",),
    "home_up": ("bool",),
    "base_unflushed": ("member", "grains"),
    "rbase_unflushed": ("remote", "member", "grains"),
}
"""Each field of `GroupView`: the sorts it is indexed by, outermost first, then its value."""


@dataclass(frozen=True, eq=False)
class GroupView:
    """One group's state in the algebra's values (see the module docstring)."""

    base: Any
    frozen: Any
    has_frozen: Any
    active: Any
    merging: Any
    has_merging: Any
    cache: Any
    """the host's volatile write cache at home: writes without FUA, not yet flushed"""
    acked: Any
    """the host's view of what is durable: every write acknowledged, but those the cache
    still holds (the host reads the cache over it; a crash at home loses the cache)"""
    images: Any
    unfrozen: Any
    rbase: Any
    rdelta: Any
    rbase_point: Any
    rdelta_point: Any
    complete: Any
    rmerging: Any
    rmerging_point: Any
    completed: Any
    remote_up: Any
    link_up: Any
    point: Any
    broken: Any
    home_up: Any
    base_unflushed: Any
    """ghost, the proof's: each member's base grains a merge wrote that no flush covers yet
    (written across actions: a merge is flushed only before its delta is dropped).  A power
    loss at home leaves them any value.  The reference model keeps no ghost (the power-loss
    explorer follows the engine's writes in flight itself): each action sees none."""
    rbase_unflushed: Any
    """ghost, the proof's: the same of each remote's base copies"""

    def with_(self, **changes: Any) -> GroupView:
        return dataclasses.replace(self, **changes)

    def reachable(self, x: Algebra, r: Term) -> Term:
        return x.and_(self.home_up, self.remote_up[r], self.link_up[r])

    def committed(self, x: Algebra, r: Term, m: Term) -> Term:
        """The point the remote recovers the member at: its complete delta's, else the one
        merging into its base copy, else its base copy's."""
        merging = self.rmerging_point[r][m]
        below = x.ite(merging == NONE, self.rbase_point[r][m], merging)
        return x.ite(self.complete[r][m], self.rdelta_point[r][m], below)

    def below(self, x: Algebra, r: Term, m: Term, g: Term) -> Term:
        """One grain at the remote below its received delta: the delta merging, then the base
        copy."""
        merging = x.ite(self.rmerging_point[r][m] == NONE, x.empty, self.rmerging[r][m])
        return x.read(self.rbase[r][m], merging, grain=g)

    def recovered(self, x: Algebra, r: Term, m: Term, g: Term) -> Term:
        """A failover read of one grain at the remote: the complete delta, then `below`."""
        received = x.and_(self.complete[r][m], x.held(self.rdelta[r][m], g))
        return x.ite(received, x.value(self.rdelta[r][m], g), self.below(x, r, m, g))


assert tuple(f.name for f in dataclasses.fields(GroupView)) == tuple(SCHEMA)


@dataclass(frozen=True)
class Options(DesignOptions):
    """Design choices.  The defaults are the safe design; every other `False` is a known
    mutant, but `pipelined` (the stricter order, safe and slower)."""

    merge_after_complete: bool = True
    """A remote merges a delta into its base only after the delta is marked complete (the
    stricter order's choice: pipelined, a remote merges only a delta it moved aside, complete
    by construction)."""
    drop_after_every_remote: bool = True
    """A local delta is merged away only when every remote has marked it complete (fan-out)."""
    freeze_group_at_once: bool = True
    """All members of a group freeze at one instant (one journal record)."""
    read_active_first: bool = True
    """A host read looks in the active delta before the frozen one (claim 12: the newest)."""
    flush_host_data: bool = True
    """Barrier: a host write's data in the active delta is flushed before the record that
    adds its grain, and before the host is told it is done."""
    flush_copy_data: bool = True
    """Barrier: the data a copy writes to a remote's delta is flushed before the record that
    marks it received."""
    flush_complete: bool = True
    """Barrier: a remote's complete mark is synced before the home site records the point
    complete there."""
    flush_merges_before_drop: bool = True
    """Barrier: the volumes merged into are flushed before the record that drops the delta
    their merges came from."""
    pipelined: bool = True
    """The next freeze as soon as the current point is complete at every remote, the merges
    overlapping the next cycle (the claims' order); False: the stricter order, where the next
    freeze also waits for the local merge and a remote merges and drops its delta before it
    takes the next point.  Safe either way; bench/pipelined.py measures what it buys."""
    flush_every_write: bool = False
    """Flush each merge's data at once, although nothing needs it durable before the delta
    is dropped (the drop flushes the merged volumes first; lost before, a merge is redone):
    safe either way, True is the slower baseline bench/barriers.py measures against."""

    variant: str = ""
    """A variant file (model/variants.py) whose rules replace these: "" for none."""

    def __post_init__(self) -> None:
        self._check_flags("variant")


Clauses = Iterator[Clause]


def initial(x: Algebra) -> GroupView:
    """Point 1 frozen at the start: every grain of every member is the delta to copy."""
    zeros = x.zeros()
    per_member = x.members_const(zeros)
    return GroupView(
        base=per_member,
        frozen=x.members_const(x.whole(zeros)),
        has_frozen=x.members_const(x.true),
        active=x.members_const(x.empty),
        merging=x.members_const(x.empty),
        has_merging=x.members_const(x.false),
        cache=x.members_const(x.empty),
        acked=per_member,
        images=x.history([per_member, per_member]),
        unfrozen=x.members_const(x.false),
        rbase=x.remotes_const(per_member),
        rdelta=x.remotes_const(x.members_const(x.empty)),
        rbase_point=x.remotes_const(x.members_const(0)),
        rdelta_point=x.remotes_const(x.members_const(1)),
        complete=x.remotes_const(x.members_const(x.false)),
        rmerging=x.remotes_const(x.members_const(x.empty)),
        rmerging_point=x.remotes_const(x.members_const(NONE)),
        completed=x.remotes_const(x.false),
        remote_up=x.remotes_const(x.true),
        link_up=x.remotes_const(x.true),
        point=1,
        broken=x.false,
        home_up=x.true,
        base_unflushed=x.members_const(x.no_grains),
        rbase_unflushed=x.remotes_const(x.members_const(x.no_grains)),
    )


def read(x: Algebra, active_first: bool, base: Term, merging: Term, frozen: Term,
         active: Term, grain: Term, cache: Term) -> Term:  # fmt: skip
    """Claim 12's live read of one grain: the host's cache, then the active delta, then the
    frozen one, then the one still merging, then B (the read-frozen-first mutant looks in the
    frozen delta first)."""
    return x.read(base, *read_order(active_first, merging, frozen, active, cache), grain=grain)


def read_order(active_first: bool, merging: Term, frozen: Term, active: Term,
               cache: Term) -> tuple[Term, ...]:  # fmt: skip
    """The deltas a read looks in, the first that holds the grain answering (the base after
    them all): one order for a grain and for a whole object's reads."""
    if active_first:
        return (cache, active, frozen, merging)
    return (cache, frozen, active, merging)


def _deltas(x: Algebra, s: GroupView, m: Term) -> tuple[Term, Term]:
    """The member's frozen delta and the one merging, empty where it has none."""
    return (x.ite(s.has_frozen[m], s.frozen[m], x.empty),
            x.ite(s.has_merging[m], s.merging[m], x.empty))  # fmt: skip


def read_member(x: Algebra, o: Options, s: GroupView, m: Term, g: Term) -> Term:
    frozen, merging = _deltas(x, s, m)
    return read(x, o.read_active_first, s.base[m], merging, frozen, s.active[m], g, s.cache[m])


def durable_image(x: Algebra, o: Options, s: GroupView, m: Term) -> Term:
    """What a read of each grain of the member returns from its durable deltas and base (the
    cache aside), as one image."""
    frozen, merging = _deltas(x, s, m)
    newest = (frozen, s.active[m]) if o.read_active_first else (s.active[m], frozen)
    return x.overlaid(s.base[m], merging, *newest)


def synchronized(x: Algebra, image: Term) -> GroupView:
    """The group restarted after a resync (model/roles_rules.py `Resync`): home and remote hold
    one image per member, which is P_0 and P_1; point 1 frozen with nothing in its delta."""
    return resync_start(x, image, image, x.members_const(x.empty))


def resync_start(x: Algebra, source: Term, target: Term, frozen: Term) -> GroupView:
    """The group restarted in the other direction by a resync (model/roles_rules.py `Resync`),
    the new home's members (`source`, per member) its base: the remote's base copy (the old
    home's volume, `target`) is P_0, the source P_1, and point 1's frozen delta (per member)
    holds the grains where they may differ (the resync's copy set) with the source's values —
    the engine reads them from the base (`frozen_from_base`).  With nothing frozen and one
    image everywhere it is `synchronized`."""
    return initial(x).with_(
        base=source, frozen=frozen, acked=source,
        images=x.history([target, source]), rbase=x.remotes_const(target),
    )  # fmt: skip


# ---- guards and updates, action by action ------------------------------------------------------


def home_is_up(x: Algebra, s: GroupView, words: str = "the home site is down") -> Clause:
    return Clause(s.home_up, words)


def no_straggler(x: Algebra, s: GroupView) -> Term:
    return x.all_members(lambda m: x.not_(s.unfrozen[m]))


def host_write_guard(x: Algebra, o: Options, s: GroupView, member: Term, grain: Term,
                     data: Term) -> Clauses:  # fmt: skip
    yield home_is_up(x, s)


def host_read_guard(x: Algebra, o: Options, s: GroupView, member: Term, grain: Term) -> Clauses:
    yield home_is_up(x, s)


def host_read(x: Algebra, o: Options, s: GroupView, member: Term, grain: Term) -> GroupView:
    return s  # the harness compares the bytes read with `read_member`


def freeze_group_guard(x: Algebra, o: Options, s: GroupView, first: Term) -> Clauses:
    """The host's cache is empty (a point holds every write completed before it), the
    current point is complete at every remote, and merged away locally (the stricter order) or
    the point before it is (pipelined: the current one moves aside to merge)."""
    yield home_is_up(x, s)
    yield Clause(x.all_members(lambda m: x.no_grain_in(x.grains_of(s.cache[m]))),
                 "the host's cache holds writes not flushed yet")  # fmt: skip
    yield Clause(x.not_(s.broken), "mirroring is broken for this group")
    yield Clause(no_straggler(x, s), "the previous freeze is still in progress")
    if not o.pipelined:
        yield Clause(x.all_remotes(lambda r: s.completed[r]),
                     lambda: f"point {s.point} is not yet complete at every remote")  # fmt: skip
        yield Clause(x.all_members(lambda m: x.not_(s.has_frozen[m])),
                     "the previous frozen delta is not merged away yet")  # fmt: skip
        return
    # pipelined, the freeze is what lets the frozen delta be merged away (the drop-early
    # mutant: once any remote has it)
    yield may_merge_local(x, o, s, lambda: f"point {s.point} is not yet complete at every remote")
    yield Clause(x.all_members(lambda m: x.not_(s.has_merging[m])),
                 lambda: f"point {s.point - 1} is still merging into the base")  # fmt: skip


def freeze_one(x: Algebra, o: Options, s: GroupView, m: Term) -> GroupView:
    if o.pipelined:
        s = s.with_(
            merging=x.store(s.merging, m, s.frozen[m]),
            has_merging=x.store(s.has_merging, m, s.has_frozen[m]),
        )
    return s.with_(
        frozen=x.store(s.frozen, m, s.active[m]),
        active=x.store(s.active, m, x.empty),
        has_frozen=x.store(s.has_frozen, m, x.true),
    )


def freeze_group(x: Algebra, o: Options, s: GroupView, first: Term) -> GroupView:
    """Point k+1 is the host's view at this instant; every member's active delta becomes its
    frozen one (only `first`'s, in the one-at-a-time mutant: the others wait)."""
    point = s.point + 1
    rotated = s.with_(
        point=point,
        completed=x.remotes_const(x.false),
        images=x.record(s.images, point, s.acked),
    )
    if o.freeze_group_at_once:
        if o.pipelined:
            rotated = rotated.with_(merging=s.frozen, has_merging=s.has_frozen)
        return rotated.with_(
            frozen=s.active,
            active=x.members_const(x.empty),
            has_frozen=x.members_const(x.true),
        )
    waiting = x.store(x.members_const(x.true), first, x.false)
    return freeze_one(x, o, rotated, first).with_(unfrozen=waiting)


def freeze_member_guard(x: Algebra, o: Options, s: GroupView, member: Term) -> Clauses:
    yield Clause(s.unfrozen[member],
                 lambda: f"member {x.member_name(member)} is not waiting to freeze")  # fmt: skip
    yield home_is_up(x, s, "its home site is down")


def freeze_member(x: Algebra, o: Options, s: GroupView, member: Term) -> GroupView:
    frozen = freeze_one(x, o, s, member)
    return frozen.with_(unfrozen=x.store(s.unfrozen, member, x.false))


def within(x: Algebra, window: Term, delta: Term) -> Term:
    """The grains of `delta` within the window: what an extent action moves (the grains
    between them that the delta lacks stay as they are)."""
    return x.common(window, x.grains_of(delta))


def some_within(x: Algebra, window: Term, delta: Term, m: Term, where: str) -> Clause:
    return Clause(x.nonempty(within(x, window, delta)),
                  lambda: x.missing(delta, window, m, where))  # fmt: skip


def frozen_within(x: Algebra, s: GroupView, m: Term, extent: Term) -> Iterator[Clause]:
    yield Clause(s.has_frozen[m], lambda: f"object {x.member_name(m)} has no frozen delta")
    yield some_within(x, extent, s.frozen[m], m, "the frozen delta")


def unsent(x: Algebra, s: GroupView, r: Term, m: Term, extent: Term) -> Term:
    """The grains of the frozen delta within the window that the remote lacks (`s` after any
    move aside): what a CopyDelta sends."""
    frozen = within(x, extent, s.frozen[m])
    sent = x.ite(s.rdelta_point[r][m] == NONE, x.no_grains, x.grains_of(s.rdelta[r][m]))
    return x.minus(frozen, sent)


def copy_delta_guard(x: Algebra, o: Options, s: GroupView, remote: Term, member: Term,
                     extent: Term) -> Clauses:  # fmt: skip
    """The remote is reachable and takes this point, and some grain of the frozen delta within
    the window is one the remote lacks."""
    r, m, site = remote, member, x.remote_name(remote)
    yield Clause(x.nonempty(extent), "the extent is empty")
    yield Clause(s.reachable(x, r), lambda: f"{site} cannot be reached")
    yield from frozen_within(x, s, m, extent)
    yield Clause(no_straggler(x, s), "the freeze is still in progress")
    yield Clause(x.not_(s.completed[r]), lambda: f"{site} already has point {s.point}")
    if o.pipelined:
        yield may_move_aside(x, s, r)
        s = moved_aside(x, s, r)
    d = s.rdelta_point[r][m]
    yield Clause(x.and_(x.or_(d == NONE, d == s.point), x.not_(s.complete[r][m])),
                 lambda: f"{site} still holds the delta of point {d}")  # fmt: skip
    already = f"already copied to {site}"
    yield Clause(x.nonempty(unsent(x, s, r, m, extent)),
                 lambda: x.present(s.rdelta[r][m], extent, m, already))  # fmt: skip


def copy_delta(x: Algebra, o: Options, s: GroupView, remote: Term, member: Term,
               extent: Term) -> GroupView:  # fmt: skip
    r, m = remote, member
    if o.pipelined:
        s = moved_aside(x, s, r)
    delta = x.received(s.rdelta[r][m], unsent(x, s, r, m, extent), s.frozen[m])
    return s.with_(
        rdelta=x.store(s.rdelta, r, x.store(s.rdelta[r], m, delta)),
        rdelta_point=x.store(s.rdelta_point, r, x.store(s.rdelta_point[r], m, s.point)),
    )


def stale(x: Algebra, s: GroupView, r: Term) -> Term:
    """The remote still holds the delta of a point before the current one."""
    return x.some_member(lambda m: x.and_(s.rdelta_point[r][m] != NONE,
                                          s.rdelta_point[r][m] != s.point))  # fmt: skip


def may_move_aside(x: Algebra, s: GroupView, r: Term) -> Clause:
    """Pipelined, a remote takes the next point once the delta before is merged away."""
    idle = x.all_members(lambda m: s.rmerging_point[r][m] == NONE)
    return Clause(x.or_(x.not_(stale(x, s, r)), idle),
                  lambda: f"{x.remote_name(r)} still merges an older delta")  # fmt: skip


def moved_aside(x: Algebra, s: GroupView, r: Term) -> GroupView:
    """Pipelined, the remote's delta of an earlier point (complete) moves aside to merge,
    every member's at once, when the next point's first grains or its complete mark arrive."""
    older = stale(x, s, r)

    def aside(family: Term, merging: Term, fresh: Term) -> Term:
        return x.store(family, r, x.ite(older, merging, fresh))

    return s.with_(
        rmerging=aside(s.rmerging, s.rdelta[r], s.rmerging[r]),
        rmerging_point=aside(s.rmerging_point, s.rdelta_point[r], s.rmerging_point[r]),
        rdelta=aside(s.rdelta, x.members_const(x.empty), s.rdelta[r]),
        rdelta_point=aside(s.rdelta_point, x.members_const(NONE), s.rdelta_point[r]),
        complete=aside(s.complete, x.members_const(x.false), s.complete[r]),
    )


def copied(x: Algebra, s: GroupView, r: Term) -> Term:
    """Every grain of every member's frozen delta is in the remote's delta, same value."""
    return x.all_members(
        lambda m: x.implies(s.has_frozen[m], x.includes(s.rdelta[r][m], s.frozen[m]))
    )


def mark_complete_guard(x: Algebra, o: Options, s: GroupView, remote: Term) -> Clauses:
    """The reachable remote has every grain of every member's frozen delta, holds no older
    delta (pipelined: or can move it aside), and has not marked this point yet."""
    r, site = remote, x.remote_name(remote)
    yield Clause(s.reachable(x, r), lambda: f"{site} cannot be reached")
    yield Clause(x.not_(s.completed[r]), lambda: f"point {s.point} is already complete at {site}")
    yield Clause(no_straggler(x, s), "the freeze is still in progress")
    if o.pipelined:
        yield may_move_aside(x, s, r)
        s = moved_aside(x, s, r)
    yield Clause(
        x.all_members(lambda m: x.or_(s.rdelta_point[r][m] == NONE,
                                      s.rdelta_point[r][m] == s.point)),
        lambda: f"{site} still holds an older delta",
    )  # fmt: skip
    yield Clause(copied(x, s, r), lambda: f"the frozen delta is not fully copied to {site}",
                 name="copied")  # fmt: skip


def mark_complete(x: Algebra, o: Options, s: GroupView, remote: Term) -> GroupView:
    """The commit at the remote, atomic over the group's members."""
    if o.pipelined:
        s = moved_aside(x, s, remote)
    return s.with_(
        complete=x.store(s.complete, remote, x.members_const(x.true)),
        rdelta_point=x.store(s.rdelta_point, remote, x.members_const(s.point)),
        completed=x.store(s.completed, remote, x.true),
    )


def merge_remote_guard(x: Algebra, o: Options, s: GroupView, remote: Term, member: Term,
                       extent: Term) -> Clauses:  # fmt: skip
    """The remote is up, its delta holds some grain of the window, and that delta is complete
    (unless the merge-before-complete mutant).  Redo-safe: merging grains the base copy
    already holds is allowed (recovery and the runner redo whole merges)."""
    r, m, site = remote, member, x.remote_name(remote)
    yield Clause(x.nonempty(extent), "the extent is empty")
    yield Clause(s.remote_up[r], lambda: f"the {site} site is down")
    if o.pipelined:
        yield Clause(s.rmerging_point[r][m] != NONE, lambda: f"{site} has no delta merging")
        yield some_within(x, extent, s.rmerging[r][m], m, f"{site}'s merging delta")
        return
    yield some_within(x, extent, s.rdelta[r][m], m, f"{site}'s delta")
    if o.merge_after_complete:
        yield Clause(s.complete[r][m], lambda: f"{site}'s delta is not marked complete")


def merge_remote(x: Algebra, o: Options, s: GroupView, remote: Term, member: Term,
                 extent: Term) -> GroupView:  # fmt: skip
    r, m = remote, member
    source = s.rmerging[r][m] if o.pipelined else s.rdelta[r][m]
    copy = x.merged(s.rbase[r][m], within(x, extent, source), source)
    return s.with_(rbase=x.store(s.rbase, r, x.store(s.rbase[r], m, copy)))


def merged_into(x: Algebra, image: Term, delta: Term) -> Term:
    return x.every_held(delta, lambda g, v: image[g] == v)


def drop_remote_delta_guard(x: Algebra, o: Options, s: GroupView, remote: Term) -> Clauses:
    """Every member's delta at the remote is complete (pipelined: moved aside) and merged."""
    r, site = remote, x.remote_name(remote)
    yield Clause(s.remote_up[r], lambda: f"the {site} site is down")
    if o.pipelined:
        yield Clause(x.all_members(lambda m: s.rmerging_point[r][m] != NONE),
                     lambda: f"{site} has no delta merging")  # fmt: skip
        yield Clause(x.all_members(lambda m: merged_into(x, s.rbase[r][m], s.rmerging[r][m])),
                     lambda: f"{site}'s merging delta is not merged")  # fmt: skip
        return
    complete = x.all_members(lambda m: s.complete[r][m])
    yield Clause(complete, lambda: f"{site}'s delta is not complete")
    yield Clause(x.all_members(lambda m: merged_into(x, s.rbase[r][m], s.rdelta[r][m])),
                 lambda: f"{site}'s delta is not merged")  # fmt: skip


def drop_remote_delta(x: Algebra, o: Options, s: GroupView, remote: Term) -> GroupView:
    """The base copies now hold the delta's point (and the barrier before the record made the
    merges into them durable)."""
    r = remote
    if o.flush_merges_before_drop:
        s = s.with_(rbase_unflushed=x.store(s.rbase_unflushed, r, x.members_const(x.no_grains)))
    if o.pipelined:
        return s.with_(
            rbase_point=x.store(s.rbase_point, r, s.rmerging_point[r]),
            rmerging_point=x.store(s.rmerging_point, r, x.members_const(NONE)),
            rmerging=x.store(s.rmerging, r, x.members_const(x.empty)),
        )
    return s.with_(
        rbase_point=x.store(s.rbase_point, r, s.rdelta_point[r]),
        rdelta_point=x.store(s.rdelta_point, r, x.members_const(NONE)),
        rdelta=x.store(s.rdelta, r, x.members_const(x.empty)),
        complete=x.store(s.complete, r, x.members_const(x.false)),
    )


def may_merge_local(
    x: Algebra,
    o: Options,
    s: GroupView,
    why: str | Callable[[], str] = "not every remote has the delta",
) -> Clause:
    """Every remote (any remote, in the drop-early mutant) completed the current point."""
    if o.drop_after_every_remote:
        return Clause(x.all_remotes(lambda r: s.completed[r]), why)
    return Clause(x.some_remote(lambda r: s.completed[r]), why)


def merge_local_guard(x: Algebra, o: Options, s: GroupView, member: Term,
                      extent: Term) -> Clauses:  # fmt: skip
    """Some grain of the window is in the frozen delta and every remote (any remote, in the
    drop-early mutant) completed the point, or (pipelined) in the delta merging; redo-safe
    like MergeRemote."""
    yield Clause(x.nonempty(extent), "the extent is empty")
    yield home_is_up(x, s)
    if o.pipelined:
        m = member
        yield Clause(s.has_merging[m], lambda: f"object {x.member_name(m)} has no delta merging")
        yield some_within(x, extent, s.merging[m], m, "the merging delta")
        return
    yield from frozen_within(x, s, member, extent)
    yield may_merge_local(x, o, s)


def merge_local(x: Algebra, o: Options, s: GroupView, member: Term, extent: Term) -> GroupView:
    m = member
    source = s.merging[m] if o.pipelined else s.frozen[m]
    return s.with_(base=x.store(s.base, m, x.merged(s.base[m], within(x, extent, source), source)))


def drop_local_delta_guard(x: Algebra, o: Options, s: GroupView) -> Clauses:
    """A frozen delta exists, the remotes completed it and it is merged into every member's
    base (pipelined: the delta merging is merged)."""
    yield home_is_up(x, s)
    if o.pipelined:
        yield Clause(x.some_member(lambda m: s.has_merging[m]), "there is no delta merging")
        yield Clause(x.all_members(lambda m: x.implies(
            s.has_merging[m], merged_into(x, s.base[m], s.merging[m]))),
            "the merging delta is not merged into the base")  # fmt: skip
        return
    yield Clause(x.some_member(lambda m: s.has_frozen[m]), "there is no frozen delta")
    yield may_merge_local(x, o, s)
    merged = x.all_members(
        lambda m: x.implies(s.has_frozen[m], merged_into(x, s.base[m], s.frozen[m]))
    )
    yield Clause(merged, "the frozen delta is not merged into the base")


def drop_local_delta(x: Algebra, o: Options, s: GroupView) -> GroupView:
    """The bases now hold the delta's point (and the barrier before the record made the merges
    into them durable)."""
    if o.flush_merges_before_drop:
        s = s.with_(base_unflushed=x.members_const(x.no_grains))
    if o.pipelined:
        return s.with_(has_merging=x.members_const(x.false), merging=x.members_const(x.empty))
    return s.with_(has_frozen=x.members_const(x.false), frozen=x.members_const(x.empty))


def break_mirror_guard(x: Algebra, o: Options, s: GroupView) -> Clauses:
    yield home_is_up(x, s)
    yield Clause(x.not_(s.broken), "mirroring is already broken")


def break_mirror(x: Algebra, o: Options, s: GroupView) -> GroupView:
    return s.with_(broken=x.true)


# ---- availability: a site or link goes down or comes back; no data moves -----------------------


def link_down_guard(x: Algebra, o: Options, s: GroupView, remote: Term) -> Clauses:
    yield Clause(s.link_up[remote], lambda: f"{x.link_name(remote)} is already down")


def link_down(x: Algebra, o: Options, s: GroupView, remote: Term) -> GroupView:
    return s.with_(link_up=x.store(s.link_up, remote, x.false))


def link_up_guard(x: Algebra, o: Options, s: GroupView, remote: Term) -> Clauses:
    yield Clause(x.not_(s.link_up[remote]), lambda: f"{x.link_name(remote)} is already up")


def link_up(x: Algebra, o: Options, s: GroupView, remote: Term) -> GroupView:
    return s.with_(link_up=x.store(s.link_up, remote, x.true))


def crash_home_guard(x: Algebra, o: Options, s: GroupView) -> Clauses:
    yield Clause(s.home_up, lambda: f"the {x.home} site is already down")


def crash_home(x: Algebra, o: Options, s: GroupView) -> GroupView:
    return down_home(x, s)


def down_home(x: Algebra, s: GroupView) -> GroupView:
    """The group with its home down (a crash, or a power loss there): the host's cache is
    lost with it."""
    return s.with_(home_up=x.false, cache=x.members_const(x.empty))


def recover_home_guard(x: Algebra, o: Options, s: GroupView) -> Clauses:
    yield Clause(x.not_(s.home_up), lambda: f"the {x.home} site is up")


def recover_home(x: Algebra, o: Options, s: GroupView) -> GroupView:
    return s.with_(home_up=x.true)


def crash_remote_guard(x: Algebra, o: Options, s: GroupView, remote: Term) -> Clauses:
    yield Clause(s.remote_up[remote], lambda: f"the {x.remote_name(remote)} site is already down")


def crash_remote(x: Algebra, o: Options, s: GroupView, remote: Term) -> GroupView:
    return s.with_(remote_up=x.store(s.remote_up, remote, x.false))


def recover_remote_guard(x: Algebra, o: Options, s: GroupView, remote: Term) -> Clauses:
    yield Clause(x.not_(s.remote_up[remote]), lambda: f"the {x.remote_name(remote)} site is up")


def recover_remote(x: Algebra, o: Options, s: GroupView, remote: Term) -> GroupView:
    return s.with_(remote_up=x.store(s.remote_up, remote, x.true))


# ---- write plans: each action's writes, in the order the engine issues them -------------------

HOME, REMOTE = "home", "remote"
"""the sites of a plan's writes: the group's home, and the remote the action names"""


def journal(site: str, label: str, s: GroupView, after: GroupView, durable: bool = True
            ) -> Write:  # fmt: skip
    """One journal record of `site`: every field `after` (an update of `s`) replaced."""
    changes = {f: getattr(after, f) for f in SCHEMA if getattr(after, f) is not getattr(s, f)}
    return Write(site, label, changes, durable)


def host_write(x: Algebra, o: Options, s: GroupView, member: Term, grain: Term,
               data: Term) -> list[Case]:  # fmt: skip
    """The data into the active delta's slot, then (a grain the delta lacked) the record that
    adds it; the host is told once both landed.  Cut before, the host sees what a read of the
    grain returns."""
    m, g = member, grain
    staged = x.staged(s.active[m], x.just(g), x.put(x.empty, g, data))
    data_write = Write(HOME, "the data", {"active": x.store(s.active, m, staged)},
                       o.flush_host_data, x.just(g), (m,))  # fmt: skip
    added = journal(HOME, "the record of the grain", s,
                    s.with_(active=x.store(s.active, m, x.put(s.active[m], g, data))))  # fmt: skip

    def told(t: GroupView) -> GroupView:  # an older cached write of the grain is superseded
        return t.with_(acked=x.store(t.acked, m, x.store(t.acked[m], g, data)),
                       cache=x.store(t.cache, m, x.without(t.cache[m], x.just(g))))  # fmt: skip

    def not_told(t: GroupView) -> GroupView:
        seen = read_member(x, o, t, m, g)
        return t.with_(acked=x.store(t.acked, m, x.store(t.acked[m], g, seen)))

    held = x.held(s.active[m], g)
    return [
        Case("in place", held, (data_write,), told, not_told),
        Case("a new grain", x.not_(held), (data_write, added), told, not_told),
    ]


def cached_write(x: Algebra, o: Options, s: GroupView, member: Term, grain: Term,
                 data: Term) -> list[Case]:  # fmt: skip
    """A write without FUA completes into the host's cache at home: nothing durable yet."""

    def cached(t: GroupView) -> GroupView:
        return t.with_(cache=x.store(t.cache, member, x.put(t.cache[member], grain, data)))

    return [Case("cached", x.true, (), cached)]


def host_flush_guard(x: Algebra, o: Options, s: GroupView, member: Term) -> Clauses:
    yield home_is_up(x, s)


def host_flush(x: Algebra, o: Options, s: GroupView, member: Term) -> list[Case]:
    """The member's cached writes as one batch: their data into the active delta's slots
    (one barrier after the last), then one record that adds the grains the delta lacked;
    the host's view of them is durable, the cache empty.  Cut before, the host sees what a
    read of each returns."""
    m, batch = member, s.cache[member]
    grains = x.grains_of(batch)
    staged = x.staged(s.active[m], grains, batch)
    data_write = Write(HOME, "the cached data", {"active": x.store(s.active, m, staged)},
                       o.flush_host_data, grains, (m,))  # fmt: skip
    added = journal(
        HOME,
        "the record of the cached grains",
        s,
        s.with_(active=x.store(s.active, m, x.received(s.active[m], grains, batch))),
    )

    def flushed(t: GroupView) -> GroupView:
        return t.with_(acked=x.store(t.acked, m, x.overlaid(t.acked[m], batch)),
                       cache=x.store(t.cache, m, x.empty))  # fmt: skip

    def not_told(t: GroupView) -> GroupView:
        seen = x.write(t.acked[m], grains, durable_image(x, o, t, m))
        return t.with_(acked=x.store(t.acked, m, seen))

    some, in_place = x.nonempty(grains), x.covered(s.active[m], grains)
    return [
        Case("nothing cached", x.not_(some), ()),
        Case("in place", x.and_(some, in_place), (data_write,), flushed, not_told),
        Case(
            "new grains", x.and_(some, x.not_(in_place)), (data_write, added), flushed, not_told
        ),  # fmt: skip
    ]


def one_record(site: str, update: Callable[..., GroupView], label: str
               ) -> Callable[..., list[Case]]:  # fmt: skip
    """The plan of an action that is one record of `site`: what `update` changes."""

    def plan(x: Algebra, o: Options, s: GroupView, **params: Term) -> list[Case]:
        return [Case("", x.true, (journal(site, label, s, update(x, o, s, **params)),))]

    return plan


def copy_delta_plan(x: Algebra, o: Options, s: GroupView, remote: Term, member: Term,
                    extent: Term) -> list[Case]:  # fmt: skip
    """The frozen delta's values into the remote delta's slots, then the record that marks
    them received.  Pipelined, a remote that still holds an older delta takes them in the
    free slot, where the next point is received (its record moves the older one aside)."""
    r, m = remote, member
    grains = unsent(x, moved_aside(x, s, r) if o.pipelined else s, r, m, extent)
    slot = s.rdelta[r][m]
    staged = x.staged(slot, grains, s.frozen[m])
    if o.pipelined:
        staged = x.ite(stale(x, s, r), slot, staged)
    slots = x.store(s.rdelta, r, x.store(s.rdelta[r], m, staged))
    data_write = Write(REMOTE, "the data", {"rdelta": slots}, o.flush_copy_data, grains, (r, m))
    received = journal(REMOTE, "the record of the grains", s,
                       copy_delta(x, o, s, remote, member, extent))  # fmt: skip
    return [Case("", x.true, (data_write, received))]


def mark_complete_plan(x: Algebra, o: Options, s: GroupView, remote: Term) -> list[Case]:
    """The remote's complete mark, then the home's record that the remote has the point."""
    after = mark_complete(x, o, s, remote)
    marked = journal(REMOTE, "the remote's complete mark", s,
                     after.with_(completed=s.completed), o.flush_complete)  # fmt: skip
    known = journal(HOME, "the home's record", s, s.with_(completed=after.completed))
    return [Case("", x.true, (marked, known))]


def merge_remote_plan(x: Algebra, o: Options, s: GroupView, remote: Term, member: Term,
                      extent: Term) -> list[Case]:  # fmt: skip
    """One write of the base copy, flushed only before the delta is dropped (batched)."""
    r, m = remote, member
    after = merge_remote(x, o, s, remote, member, extent)
    moved = within(x, extent, s.rmerging[r][m] if o.pipelined else s.rdelta[r][m])
    merge = Write(REMOTE, "the merge", {"rbase": after.rbase}, o.flush_every_write, moved,
                  (r, m))  # fmt: skip

    def in_flight(t: GroupView) -> GroupView:
        held = t.rbase_unflushed[r]
        grains = x.no_grains if o.flush_every_write else x.union(held[m], moved)
        return t.with_(rbase_unflushed=x.store(t.rbase_unflushed, r, x.store(held, m, grains)))

    return [Case("", x.true, (merge,), in_flight)]


def merge_local_plan(x: Algebra, o: Options, s: GroupView, member: Term, extent: Term
                     ) -> list[Case]:  # fmt: skip
    """One write of the base, flushed only before the delta is dropped (batched)."""
    after = merge_local(x, o, s, member, extent)
    moved = within(x, extent, s.merging[member] if o.pipelined else s.frozen[member])
    merge = Write(HOME, "the merge", {"base": after.base}, o.flush_every_write, moved, (member,))

    def in_flight(t: GroupView) -> GroupView:
        held = t.base_unflushed
        grains = x.no_grains if o.flush_every_write else x.union(held[member], moved)
        return t.with_(base_unflushed=x.store(held, member, grains))

    return [Case("", x.true, (merge,), in_flight)]


RULES: dict[str, PlannedRule] = {name: dataclasses.replace(rule, design=DESIGN) for name, rule in {
    "HostWrite": PlannedRule(("member", "grain", "data"), host_write_guard, host_write),
    "HostWrite(cached)": PlannedRule(("member", "grain", "data"), host_write_guard,
                                     cached_write),
    "HostFlush": PlannedRule(("member",), host_flush_guard, host_flush),
    "HostRead": PlannedRule(("member", "grain"), host_read_guard, at_once(host_read)),
    "FreezeGroup": PlannedRule(("first",), freeze_group_guard,
                               one_record(HOME, freeze_group, "the freeze record")),
    "FreezeMember": PlannedRule(("member",), freeze_member_guard,
                                one_record(HOME, freeze_member, "the member's freeze record")),
    "CopyDelta": PlannedRule(("remote", "member", "extent"), copy_delta_guard, copy_delta_plan),
    "MarkComplete": PlannedRule(("remote",), mark_complete_guard, mark_complete_plan),
    "MergeRemote": PlannedRule(("remote", "member", "extent"), merge_remote_guard,
                               merge_remote_plan),
    # the flush of the merges before a drop is of earlier actions' writes: the engine's barrier
    # (model/freeze_overlay.py's write_plan), and the drop clears the ghost of merges in flight
    "DropRemoteDelta": PlannedRule(("remote",), drop_remote_delta_guard,
                                   one_record(REMOTE, drop_remote_delta, "the drop record")),
    "MergeLocal": PlannedRule(("member", "extent"), merge_local_guard, merge_local_plan),
    "DropLocalDelta": PlannedRule((), drop_local_delta_guard,
                                  one_record(HOME, drop_local_delta, "the drop record")),
    "BreakMirror": PlannedRule((), break_mirror_guard,
                               one_record(HOME, break_mirror, "the record of the break")),
    "LinkDown": PlannedRule(("remote",), link_down_guard, at_once(link_down)),
    "LinkUp": PlannedRule(("remote",), link_up_guard, at_once(link_up)),
    "CrashSite(home)": PlannedRule((), crash_home_guard, at_once(crash_home)),
    "Recover(home)": PlannedRule((), recover_home_guard, at_once(recover_home)),
    "CrashSite(remote)": PlannedRule(("remote",), crash_remote_guard, at_once(crash_remote)),
    "Recover(remote)": PlannedRule(("remote",), recover_remote_guard, at_once(recover_remote)),
}.items()}  # fmt: skip
"""Every action of design B over one group, by name, as a guard and a write plan (a site's
crash and recovery are two rules each: the group's home, or one of its remotes)."""


def rules_for(options: Options) -> Mapping[str, PlannedRule]:
    """The rules the options run: these, with a variant's changes when they name one."""
    return variants.rules_of(RULES, options.variant)
