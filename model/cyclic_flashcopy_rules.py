"""Design A's actions, written once over the algebra (model/algebra.py): guards and write plans.

One volume pair as the rules see it (`PairView`): the source S and intermediate I1 at the local
site, intermediate I2 and target T at the remote site, the five grain maps, the cycle k and the
committed point c, what is up, and the ghost: the host's view and the image of every point
(P_k is `images[cycle]`, P_c is `images[committed]`).

An action is a guard and a *write plan*: its branches (`Case`), each a list of durable writes
in the order the design issues them (one extent of one volume, or one record of a site's
metadata journal), each flushed before the next unless the design does not need it durable
yet.  The reference model (model/cyclic_flashcopy.py) applies the branch that applies write by
write, so a crash armed in it cuts the plan between two writes; the proof
(proofs/cyclic_flashcopy.py) derives from the same plan every way the action can end: complete,
cut by a crash after any write, or cut by a power loss that leaves the writes no flush covered
yet lost, whole or torn.  The design is stated here and nowhere else.

Interpretive choices (DESIGN.md, design A):
- the remote site tracks the grains written to I2 in the current cycle (`received_map`); the
  commit turns them into `target_map` ("grains copied in cycle k");
- a mirror write is remote-first: protect T[g], one remote record (clear the target bit, mark g
  received), then I2[g]; the local record clearing the copy bit comes last, so a cut anywhere
  leaves the bit set and the copy is redone;
- the commit is two records: the remote one (c := k, target_map |= received) *is* the commit;
  the local one starts cycle k+1.  A cut between them repeats the commit idempotently;
- a host write a crash cuts is not acknowledged: the host sees what its grain durably holds;
- the host's write cache (`cache`, `cached`) is the local site's memory: a write without FUA
  completes there, a read sees it, a crash or power loss of the local site loses it (the host's
  view of those grains goes back to what the source holds).  `HostFlush` makes the cached
  writes durable as one batch: one record tracks them all in the future map, then the source
  takes them; a cached grain still to copy is copied first, by `CopyGrain` (the flush waits
  for it), and a point is taken only with the cache empty, so a write is in the point whose
  instant follows its completion.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pitmirror.model import variants
from pitmirror.model.actions import Site
from pitmirror.model.algebra import Algebra, Case, Clause, PlannedRule, Term, Write
from pitmirror.model.options import DesignOptions

DESIGN = "cyclic-flashcopy"

SCHEMA: dict[str, tuple[str, ...]] = {
    "source": ("image",),
    "i1": ("image",),
    "i2": ("image",),
    "target": ("image",),
    "acked": ("image",),
    "cache": ("image",),
    "cached": ("grains",),
    "images": ("point", "image"),
    "copy_map": ("grains",),
    "future_map": ("grains",),
    "out_of_sync": ("grains",),
    "received_map": ("grains",),
    "target_map": ("grains",),
    "cycle": ("int",),
    "committed": ("int",),
    "link_up": ("bool",),
    "local_up": ("bool",),
    "remote_up": ("bool",),
}
"""Each field of `PairView`: the sorts it is indexed by, outermost first, then its value."""


@dataclass(frozen=True)
class Options(DesignOptions):
    """Design choices.  The defaults are the safe design; every `False` is a known mutant."""

    copy_on_write: bool = True
    """A host write to a grain not yet copied first copies its old value (claims 3, 16)."""
    target_protection: bool = True
    """Before I2[g] changes while T still needs it, copy I2[g] to T[g] (DESIGN A.6)."""
    commit_after_drain: bool = True
    """Commit only once the copy map is empty (claim 1: 'in response to completion')."""
    map_rule: Literal["merge", "update"] = "merge"
    """Claim 6 merges copy and future maps at the new point; claim 5 replaces the copy map."""
    journal_before_source: bool = True
    """Flush order: the future bit is durable before the source grain changes."""
    protect_extents: bool = True
    """Target protection covers every grain of an extent, not only a one-grain copy."""
    data_before_record: bool = True
    """Flush order: a copy's data is durable in I1 and I2 before the record that clears its
    copy bits."""
    drain_clears_its_extent: bool = True
    """A drain clears the target bits of its own extent, not of the grain after its end too
    (an off-by-one in extent arithmetic)."""
    flush_copy_data: bool = True
    """Barrier: the data a copy writes to I1 and I2 is flushed before the record that clears
    its copy bits (only a power loss that drops unflushed writes tells)."""
    flush_protection: bool = True
    """Barrier: target protection's write to T is flushed before the record that moves the
    grain's committed value from I2 to T."""
    flush_before_ack: bool = True
    """Barrier: a host write's source grain is flushed before the host is told it is done."""
    flush_commit: bool = True
    """Barrier: the remote's commit record is synced before the local site starts the next
    cycle."""
    point_after_flush: bool = True
    """A point is taken only with the host's cache empty (else a write cached before the point
    is counted in the next one)."""
    copy_reads_media: bool = True
    """A copy reads the source's media, never the host's cache (the cache holds writes after
    the point)."""
    flush_tracks_durably: bool = True
    """Barrier: a flush's record that tracks its grains in the future map is synced before the
    source takes them."""

    variant: str = ""
    """A variant file (model/variants.py) whose rules replace these: "" for none."""

    def __post_init__(self) -> None:
        self._check_flags("map_rule", "variant")
        if self.map_rule not in ("merge", "update"):
            raise ValueError(f"map_rule must be merge or update, got {self.map_rule!r}")


MAPS = ("copy_map", "future_map", "out_of_sync", "received_map", "target_map")
VOLUME_SITE: dict[str, Site] = {
    "source": "local",
    "i1": "local",
    "i2": "remote",
    "target": "remote",
}


@dataclass(frozen=True, eq=False)
class PairView:
    """One volume pair's state in the algebra's values (see the module docstring)."""

    source: Any
    i1: Any
    i2: Any
    target: Any
    acked: Any
    cache: Any
    """local, volatile: the values of the host's writes not flushed yet"""
    cached: Any
    """local, volatile: the grains the cache holds a write of"""
    images: Any
    copy_map: Any
    """local: grains of P_k not yet in I1 (and, unless out of sync, I2)"""
    future_map: Any
    """local: grains written to S since P_k"""
    out_of_sync: Any
    """local: grains in I1 whose copy to I2 waits for the link"""
    received_map: Any
    """remote: grains written to I2 in the current cycle"""
    target_map: Any
    """remote: grains whose committed value still lives in I2, not T"""
    cycle: Any
    committed: Any
    link_up: Any
    local_up: Any
    remote_up: Any

    def with_(self, **changes: Any) -> PairView:
        # not `dataclasses.replace`: the reference model takes a view per step and candidate
        after = object.__new__(PairView)
        after.__dict__.update(self.__dict__, **changes)
        return after

    @staticmethod
    def of(fields: Mapping[str, Any]) -> PairView:
        """The view of a state whose fields (a superset of SCHEMA's) are `fields`."""
        view = object.__new__(PairView)
        view.__dict__.update({name: fields[name] for name in SCHEMA})
        return view

    @property
    def pk(self) -> Any:
        """P_k, the image of the newest consistency point"""
        return self.images[self.cycle]

    @property
    def pc(self) -> Any:
        """P_c, the committed image"""
        return self.images[self.committed]

    def mirror_ok(self, x: Algebra) -> Term:
        return x.and_(self.link_up, self.remote_up)

    def host_view(self, x: Algebra) -> Term:
        """What a host read returns: the cache's value of a cached grain, else the source's."""
        return x.write(self.source, self.cached, self.cache)

    def recovered(self, x: Algebra, g: Term) -> Term:
        """What a failover reads at the remote site: I2[g] while g is in target_map, else
        T[g]."""
        return x.ite(x.in_set(self.target_map, g), self.i2[g], self.target[g])


assert tuple(f.name for f in dataclasses.fields(PairView)) == tuple(SCHEMA)


def initial(x: Algebra) -> PairView:
    """Cycle 1 has just frozen the all-zero source: every grain is to be copied."""
    zeros = x.zeros()
    return PairView(
        source=zeros, i1=zeros, i2=zeros, target=zeros, acked=zeros, cache=zeros,
        cached=x.no_grains, images=x.history([zeros, zeros]),
        copy_map=x.all_grains(), future_map=x.no_grains, out_of_sync=x.no_grains,
        received_map=x.no_grains, target_map=x.no_grains,
        cycle=1, committed=0, link_up=x.true, local_up=x.true, remote_up=x.true,
    )  # fmt: skip


def resync_start(x: Algebra, source: Term, i1: Term, i2: Term, target: Term,
                 copy: Term) -> PairView:  # fmt: skip
    """The pair restarted in the other direction by a resync (model/roles_rules.py `Resync`),
    the new primary's volume now the source: the target (the old primary's volume) is P_0, the
    source P_1, and cycle 1 copies the grains `copy` where they may differ (the resync's copy
    set); I2 agrees with the target outside it, I1 holds anything (design A reads I1 only for a
    grain out of sync).  With `copy` empty and one image everywhere it is a synchronized pair."""
    return PairView(
        source=source, i1=i1, i2=i2, target=target, acked=source, cache=x.zeros(),
        cached=x.no_grains, images=x.history([target, source]),
        copy_map=copy, future_map=x.no_grains, out_of_sync=x.no_grains,
        received_map=x.no_grains, target_map=x.no_grains,
        cycle=1, committed=0, link_up=x.true, local_up=x.true, remote_up=x.true,
    )  # fmt: skip


# ---- writes -----------------------------------------------------------------------------------


def volume_write(x: Algebra, s: PairView, volume: str, grains: Term, values: Term,
                 durable: bool = True, where: str = "e") -> Write:  # fmt: skip
    """`values` (an image) written to `volume` at `grains`: one device write."""
    new = x.write(getattr(s, volume), grains, values)
    return Write(VOLUME_SITE[volume], f"{volume}[{where}]", {volume: new}, durable, grains)


def record(site: str, label: str, durable: bool = True, **changes: Term) -> Write:
    """One record of `site`'s metadata journal: the fields change together."""
    return Write(site, f"{site} journal: {label}", changes, durable)


Branch = tuple[str, Term, list[Write]]


def mirror_branches(x: Algebra, o: Options, s: PairView, extent: Term, data: Term,
                    where: str = "e") -> list[Branch]:  # fmt: skip
    """The writes that put `data`'s values at the extent in I2 without losing the committed
    image, per branch of target protection: T first takes I2's committed values of the
    extent's grains still in the target map (one write), then one record moves them out of the
    target map and marks the extent received, then I2 is written."""
    to_i2 = volume_write(x, s, "i2", extent, data, o.flush_copy_data, where)
    received = x.union(s.received_map, extent)
    protect = x.false
    if o.target_protection:
        protect = x.some_in(extent, lambda g: x.in_set(s.target_map, g))
        if not o.protect_extents:  # the mutant: an extent of several grains goes unprotected
            protect = x.and_(protect, x.one_grain(extent))
    branches: list[Branch] = []
    if o.target_protection and x.possible(protect):
        save = volume_write(x, s, "target", x.common(extent, s.target_map), s.i2,
                            o.flush_protection, f"{where} in target_map")  # fmt: skip
        moved = record("remote", f"target -= {where}, received += {where}",
                       target_map=x.minus(s.target_map, extent), received_map=received)  # fmt: skip
        branches.append(("protect", protect, [save, moved, to_i2]))
    if x.possible(x.not_(protect)):
        receive = record("remote", f"received += {where}", received_map=received)
        branches.append(("", x.not_(protect), [receive, to_i2]))
    return branches


CopyBranch = tuple[str, Term, list[Write], Write]


def copy_branches(x: Algebra, o: Options, s: PairView, extent: Term, where: str = "e",
                  **also: Term) -> list[CopyBranch]:  # fmt: skip
    """Copying S's values of the extent (grains of P_k) to I1 and, link permitting, to I2:
    per branch, the data writes and the local record that clears their copy bits (with the
    changes `also`)."""
    # the copy-reads-cache mutant copies what a host read returns: writes after the point
    source = s.source if o.copy_reads_media else s.host_view(x)
    to_i1 = volume_write(x, s, "i1", extent, source, o.flush_copy_data, where)
    copied = x.minus(s.copy_map, extent)
    branches: list[CopyBranch] = []
    mirrored = s.mirror_ok(x)
    if x.possible(mirrored):
        done = record("local", f"copy -= {where}", copy_map=copied, **also)
        for label, when, writes in mirror_branches(x, o, s, extent, source, where):
            branches.append((f"mirrored{',' + label if label else ''}",
                             x.and_(mirrored, when), [to_i1, *writes], done))  # fmt: skip
    if x.possible(x.not_(mirrored)):
        behind = record("local", f"copy -= {where}, out_of_sync += {where}", copy_map=copied,
                        out_of_sync=x.union(s.out_of_sync, extent), **also)  # fmt: skip
        branches.append(("link down", x.not_(mirrored), [to_i1], behind))
    return branches


def next_copy_map(x: Algebra, rule: str, copy: Term, future: Term) -> Term:
    """The copy map of the next cycle: claim 6 merges the copy and future maps, claim 5
    replaces the copy map (model/cyclic_flashcopy.py's `next_copy_map` is the contract-checked
    form the engine runs)."""
    return x.union(copy, future) if rule == "merge" else future


# ---- guards and plans, action by action -------------------------------------------------------

Clauses = Iterator[Clause]


def local_is_up(s: PairView) -> Clause:
    return Clause(s.local_up, "the local site is down")


def within(x: Algebra, extent: Term, grains: Term, name: str) -> Iterator[Clause]:
    yield Clause(x.nonempty(extent), "the extent is empty")
    yield Clause(x.every_in(extent, lambda g: x.in_set(grains, g)),
                 lambda: x.outside(grains, extent, name))  # fmt: skip


def some_within(x: Algebra, window: Term, grains: Term, name: str) -> Iterator[Clause]:
    yield Clause(x.nonempty(x.common(window, grains)), lambda: x.outside(grains, window, name))


def host_write_guard(x: Algebra, o: Options, s: PairView, grain: Term, data: Term) -> Clauses:
    yield local_is_up(s)


def host_write(x: Algebra, o: Options, s: PairView, grain: Term, data: Term) -> list[Case]:
    """A FUA write: S[g] := v; a grain still to copy is copied first (copy-on-write, claims 3
    and 16), and a grain written first since P_k is tracked in the future map before S
    changes.  An older cached write of g is superseded."""
    g = grain
    written = {"source": x.store(s.source, g, data)}
    to_source = Write("local", "source[g]", written, o.flush_before_ack, x.just(g))

    def acknowledged(t: PairView) -> PairView:
        return t.with_(acked=x.store(t.acked, g, data), **uncached(x, t, x.just(g)))

    def unacknowledged(t: PairView) -> PairView:  # the host sees what a read of g returns
        return t.with_(acked=x.store(t.acked, g, t.host_view(x)[g]))

    def ordered(journal: Write) -> list[Write]:
        return [journal, to_source] if o.journal_before_source else [to_source, journal]

    def case(label: str, when: Term, writes: list[Write]) -> Case:
        return Case(label, when, tuple(writes), acknowledged, unacknowledged)

    tracked = x.union(s.future_map, x.just(g))
    cases: list[Case] = []
    cow = x.in_set(s.copy_map, g) if o.copy_on_write else x.false
    if o.copy_on_write and x.possible(cow):
        for label, when, writes, done in copy_branches(x, o, s, x.just(g), "g",
                                                       future_map=tracked):  # fmt: skip
            cases.append(case(f"copy-on-write, {label}", x.and_(cow, when),
                              [*writes, *ordered(done)]))  # fmt: skip
    first = x.and_(x.not_(cow), x.not_(x.in_set(s.future_map, g)))
    if x.possible(first):
        track = record("local", "future += g", future_map=tracked)
        cases.append(case("first write since the point", first, ordered(track)))
    again = x.and_(x.not_(cow), x.in_set(s.future_map, g))
    if x.possible(again):
        cases.append(case("already tracked", again, [to_source]))
    return cases


def uncached(x: Algebra, t: PairView, grains: Term) -> dict[str, Term]:
    """The cache without `grains` (their values zeros: a state is its cache's content)."""
    return {"cached": x.minus(t.cached, grains), "cache": x.write(t.cache, grains, x.zeros())}


def cached_write(x: Algebra, o: Options, s: PairView, grain: Term, data: Term) -> list[Case]:
    """A write without FUA completes into the cache: nothing durable yet."""

    def cached(t: PairView) -> PairView:
        return t.with_(cache=x.store(t.cache, grain, data),
                       cached=x.union(t.cached, x.just(grain)),
                       acked=x.store(t.acked, grain, data))  # fmt: skip

    return [Case("cached", x.true, (), cached)]


def host_flush_guard(x: Algebra, o: Options, s: PairView) -> Clauses:
    yield local_is_up(s)
    if o.copy_on_write:  # the cached value of a grain still to copy would overwrite P_k's
        yield Clause(x.no_grain_in(x.common(s.cached, s.copy_map)),
                     "a cached grain is still to copy (the flush copies it first)")  # fmt: skip


def host_flush(x: Algebra, o: Options, s: PairView) -> list[Case]:
    """The cached grains as one batch: one record tracks those not tracked yet in the future
    map, then one write puts them in the source; the cache is empty once the flush is done."""
    batch = s.cached
    to_source = volume_write(x, s, "source", batch, s.cache, o.flush_before_ack, "cached")
    track = record("local", "future += cached", o.flush_tracks_durably,
                   future_map=x.union(s.future_map, batch))  # fmt: skip

    def flushed(t: PairView) -> PairView:
        return t.with_(**uncached(x, t, batch))

    untracked = x.and_(x.nonempty(batch), x.some_in(batch, lambda g: x.not_(
        x.in_set(s.future_map, g))))  # fmt: skip
    tracked = x.and_(x.nonempty(batch), x.not_(untracked))
    cases: list[Case] = []
    if x.possible(x.not_(x.nonempty(batch))):
        cases.append(Case("nothing cached", x.not_(x.nonempty(batch)), ()))
    if x.possible(untracked):
        writes = [track, to_source] if o.journal_before_source else [to_source, track]
        cases.append(Case("first writes since the point", untracked, tuple(writes), flushed))
    if x.possible(tracked):
        cases.append(Case("already tracked", tracked, (to_source,), flushed))
    return cases


def host_read_guard(x: Algebra, o: Options, s: PairView, grain: Term) -> Clauses:
    yield local_is_up(s)


def nothing(x: Algebra, o: Options, s: PairView, **params: Term) -> list[Case]:
    """No durable write: a read (the harness compares its bytes), or a link or site that only
    goes down or comes back in `completed`."""
    return [Case("", x.true, ())]


def copy_grain_guard(x: Algebra, o: Options, s: PairView, extent: Term) -> Clauses:
    yield local_is_up(s)
    yield from some_within(x, extent, s.copy_map, "copy_map")


def copy_grain(x: Algebra, o: Options, s: PairView, extent: Term) -> list[Case]:
    """The grains of the copy map within the extent (a window: grains between them that are not
    in the map stay as they are), copied by one plan: one barrier for the whole set."""
    cases = []
    for label, when, writes, done in copy_branches(x, o, s, x.common(extent, s.copy_map)):
        # the copy-bits-cleared-first mutant writes the record before the data
        ordered = [*writes, done] if o.data_before_record else [done, *writes]
        cases.append(Case(label, when, tuple(ordered)))
    return cases


def resync_grain_guard(x: Algebra, o: Options, s: PairView, extent: Term) -> Clauses:
    yield Clause(x.and_(s.local_up, s.mirror_ok(x)), "resync needs both sites and the link up")
    yield from some_within(x, extent, s.out_of_sync, "out_of_sync")


def resync_grain(x: Algebra, o: Options, s: PairView, extent: Term) -> list[Case]:
    """I1's values of the out-of-sync grains within the extent go to I2, then the local record
    clears them."""
    extent = x.common(extent, s.out_of_sync)
    done = record("local", "out_of_sync -= e", out_of_sync=x.minus(s.out_of_sync, extent))
    return [Case(label or "resync", when, (*writes, done))
            for label, when, writes in mirror_branches(x, o, s, extent, s.i1)]  # fmt: skip


def commit_point_guard(x: Algebra, o: Options, s: PairView) -> Clauses:
    yield Clause(x.and_(s.local_up, s.mirror_ok(x)), "commit needs both sites and the link up")
    yield Clause(x.no_grain_in(s.out_of_sync), "grains are still out of sync")
    if o.commit_after_drain:  # claim 1: "in response to completion" of the copy
        yield Clause(x.no_grain_in(s.copy_map), "the copy map is not empty")
    if o.point_after_flush:
        yield Clause(x.no_grain_in(s.cached), "the host's cache holds writes not flushed yet")


def commit_point(x: Algebra, o: Options, s: PairView) -> list[Case]:
    """The remote record commits P_k; the local one starts cycle k+1 at the host's view."""
    commit = record("remote", "committed := k, target |= received", o.flush_commit,
                    committed=s.cycle, target_map=x.union(s.target_map, s.received_map),
                    received_map=x.no_grains)  # fmt: skip
    start = record("local", "cycle := k+1, copy := next, future := {}",
                   cycle=s.cycle + 1,
                   copy_map=next_copy_map(x, o.map_rule, s.copy_map, s.future_map),
                   future_map=x.no_grains,
                   images=x.record(s.images, s.cycle + 1, s.acked))  # fmt: skip
    return [Case("commit", x.true, (commit, start))]


def drain_target_guard(x: Algebra, o: Options, s: PairView, extent: Term, after: Term) -> Clauses:
    yield Clause(s.remote_up, "the remote site is down")
    yield from within(x, extent, s.target_map, "target_map")


def drain_target(x: Algebra, o: Options, s: PairView, extent: Term, after: Term) -> list[Case]:
    """T takes I2's committed values of the extent, then they leave the target map.  `after`
    is the grain after the extent's end, which the drain-clears-past-its-end mutant clears
    too.  (An extent, not a window as a copy takes: with windows, bounded model checking did
    not reach the drain-clears-past-its-end mutant's violation within its time bound.)"""
    cleared, label = x.minus(s.target_map, extent), "target -= e"
    if not o.drain_clears_its_extent:
        cleared, label = x.minus(cleared, x.just(after)), "target -= e and the grain after"
    return [Case("drain", x.true, (
        volume_write(x, s, "target", extent, s.i2),
        record("remote", label, target_map=cleared),
    ))]  # fmt: skip


def link_down_guard(x: Algebra, o: Options, s: PairView) -> Clauses:
    yield Clause(s.link_up, "the link is already down")


def link_down(x: Algebra, o: Options, s: PairView) -> list[Case]:
    return [Case("", x.true, (), lambda t: t.with_(link_up=x.false))]


def link_up_guard(x: Algebra, o: Options, s: PairView) -> Clauses:
    yield Clause(x.not_(s.link_up), "the link is already up")


def link_up(x: Algebra, o: Options, s: PairView) -> list[Case]:
    return [Case("", x.true, (), lambda t: t.with_(link_up=x.true))]


def site_up(s: PairView, site: str) -> Term:
    return s.local_up if site == "local" else s.remote_up


def down(x: Algebra, s: PairView, site: str) -> PairView:
    """The state with `site` down (a crash, or a power loss at it).  The local site's cache is
    lost: the host's view of a cached grain is what the source holds."""
    if site != "local":
        return s.with_(**{f"{site}_up": x.false})
    return s.with_(local_up=x.false, cached=x.no_grains, cache=x.zeros(),
                   acked=x.write(s.acked, s.cached, s.source))  # fmt: skip


def crash(site: str) -> PlannedRule:
    def guard(x: Algebra, o: Options, s: PairView) -> Clauses:
        yield Clause(site_up(s, site), f"the {site} site is already down")

    def plan(x: Algebra, o: Options, s: PairView) -> list[Case]:
        return [Case("now", x.true, (), lambda t: down(x, t, site))]

    return PlannedRule((), guard, plan)


def recover(site: str) -> PlannedRule:
    def guard(x: Algebra, o: Options, s: PairView) -> Clauses:
        yield Clause(x.not_(site_up(s, site)), f"the {site} site is up")

    def plan(x: Algebra, o: Options, s: PairView) -> list[Case]:
        return [Case("", x.true, (), lambda t: t.with_(**{f"{site}_up": x.true}))]

    return PlannedRule((), guard, plan)


RULES: dict[str, PlannedRule] = {name: dataclasses.replace(rule, design=DESIGN) for name, rule in {
    "HostWrite": PlannedRule(("grain", "data"), host_write_guard, host_write),
    "HostWrite(cached)": PlannedRule(("grain", "data"), host_write_guard, cached_write),
    "HostFlush": PlannedRule((), host_flush_guard, host_flush),
    "HostRead": PlannedRule(("grain",), host_read_guard, nothing),
    "CopyGrain": PlannedRule(("extent",), copy_grain_guard, copy_grain),
    "ResyncGrain": PlannedRule(("extent",), resync_grain_guard, resync_grain),
    "CommitPoint": PlannedRule((), commit_point_guard, commit_point),
    "DrainTarget": PlannedRule(("extent", "after"), drain_target_guard, drain_target),
    "LinkDown": PlannedRule((), link_down_guard, link_down),
    "LinkUp": PlannedRule((), link_up_guard, link_up),
    "CrashSite(local)": crash("local"),
    "Recover(local)": recover("local"),
    "CrashSite(remote)": crash("remote"),
    "Recover(remote)": recover("remote"),
}.items()}  # fmt: skip
"""Every action of design A by name (a site's crash and recovery are a rule per site; a crash
armed to cut the next plan is the reference model's, which the proof covers by deriving every
cut)."""


def rules_for(options: Options) -> Mapping[str, PlannedRule]:
    """The rules the options run: these, with a variant's changes when they name one."""
    return variants.rules_of(RULES, options.variant)
