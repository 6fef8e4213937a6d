"""Roles and epochs of a mirrored pair, written once over the algebra for both designs.

Failover, failback and reverse change who may write, not how a cycle mirrors: they are stated
here once, over two sites, and each design's cycle is seen through what it guarantees (the
bridge in proofs/roles_bridge.py proves each design's invariant implies it).  The two sites are
slots: `x` starts as the primary (design A's local site, design B's home of the group), `y` as
its secondary (design A's remote site, design B's remote of the group).

Per site, durable in its journal: the epoch it is in, the epoch that epoch was made from
(`parent`), the highest epoch it has known (its own or a peer's, `known`), its role (primary,
secondary, outdated) and whether it met a split brain.  Volatile: whether it is up.  Per site,
the data as the cycle shows it: `image` (the volume the host reads there, or will after a
promote: design A's source or target, design B's overlay or base copy), `dirty` (the grains
where it may differ from the committed image: writes since it, design A's maps, design B's
deltas) and `pending` (a secondary's grains whose committed value is held beside its image:
design A's target map, design B's complete delta).  The pair: which site the mirror copies
from (`source_x`), whether the link is up, and the ghost `base`, the committed image both sites
share (P_c).

Interpretive choices (NEXT.md §3):
- an epoch's number says who made it: odd numbers are made by x, even by y, so two sites never
  make the same epoch, and a promote takes the next number of its own above every epoch it has
  known;
- a promote persists its epoch first, then rolls its image to the committed point, then takes
  the role (the `epoch-after-role` mutant takes the role first);
- when two sites meet (the link comes back, or a site restarts with the link up), each that
  sees the other in an epoch made from its own is outdated, each that sees a higher epoch is
  outdated, and two epochs neither made from the other are a split brain at both; nothing is
  discarded, and an outdated or split site takes no part in mirroring;
- `Resync` on the outdated (or split) side discards its own changes: it records the grains it
  will copy (its dirty and pending grains and the primary's dirty ones: the `resync-old-dirty-
  only` mutant leaves the primary's out), copies them from the primary, then joins the primary's
  epoch as its secondary, and the primary forgets the split;
- a forced promote rolls the secondary's image to the committed point (its pending grains from
  where the committed value is held; the `promote-without-rollback` mutant keeps the image);
- an orderly promote needs the peer demoted, in the same epoch, up, linked and synchronized (no
  grain dirty at the source); the peer joins the new epoch in the same plan.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pitmirror.model.algebra import Algebra, Case, Clause, PlannedRule, Term, Write
from pitmirror.model.options import DesignOptions

SLOTS = ("x", "y")
"""the pair's two sites: x is the primary at the start, y its secondary"""

SECONDARY, PRIMARY, OUTDATED = 0, 1, 2
ROLE_WORDS = {SECONDARY: "secondary", PRIMARY: "primary", OUTDATED: "outdated"}
FIRST_EPOCH = 1
"""the epoch the pair starts in, made by x (odd)"""

_SITE_FIELDS: dict[str, tuple[str, ...]] = {
    "epoch": ("int",),
    "parent": ("int",),
    "known": ("int",),
    "role": ("int",),
    "split": ("bool",),
    "up": ("bool",),
    "image": ("image",),
    "dirty": ("grains",),
    "pending": ("grains",),
}
SCHEMA: dict[str, tuple[str, ...]] = {
    **{f"{s}_{name}": kind for s in SLOTS for name, kind in _SITE_FIELDS.items()},
    "source_x": ("bool",),
    "link_up": ("bool",),
    "base": ("image",),
}
"""Each field of `RolesView`: the sorts it is indexed by, then its value (as design A's)."""

PAIR = ("base", "source_x")
"""fields of the pair, not of one site: the ghost committed image, and which site the mirror
copies from (each site's own record says whether it is that site)"""


@dataclass(frozen=True)
class Options(DesignOptions):
    """The safe roles are the defaults; every `False` is a known mutant."""

    epoch_before_role: bool = True
    """A promote persists its new epoch before the record that makes it primary."""
    promote_rolls_back: bool = True
    """A forced promote rolls its image back to the committed point first."""
    resync_copies_primary_changes: bool = True
    """A resync copies the primary's changed grains too, not only its own."""


UNSAFE_OPTIONS: dict[str, Options] = {
    "epoch-after-role": Options(epoch_before_role=False),
    "promote-without-rollback": Options(promote_rolls_back=False),
    "resync-old-dirty-only": Options(resync_copies_primary_changes=False),
}


def peer(site: str) -> str:
    return "y" if site == "x" else "x"


class RolesView:
    """The pair's roles and data in the algebra's values; a field per SCHEMA name."""

    x_epoch: Any
    x_parent: Any
    x_known: Any
    x_role: Any
    x_split: Any
    x_up: Any
    x_image: Any
    x_dirty: Any
    x_pending: Any
    y_epoch: Any
    y_parent: Any
    y_known: Any
    y_role: Any
    y_split: Any
    y_up: Any
    y_image: Any
    y_dirty: Any
    y_pending: Any
    source_x: Any
    link_up: Any
    base: Any

    def __init__(self, **fields: Any) -> None:
        assert fields.keys() == SCHEMA.keys(), set(fields) ^ set(SCHEMA)
        self.__dict__.update(fields)

    def with_(self, **changes: Any) -> RolesView:
        after = object.__new__(RolesView)
        after.__dict__.update(self.__dict__, **changes)
        return after

    @staticmethod
    def of(fields: Mapping[str, Any]) -> RolesView:
        view = object.__new__(RolesView)
        view.__dict__.update({name: fields[name] for name in SCHEMA})
        return view

    def get(self, site: str, name: str) -> Any:
        return self.__dict__[f"{site}_{name}"]

    def is_source(self, x: Algebra, site: str) -> Term:
        return self.source_x if site == "x" else x.not_(self.source_x)

    def writable(self, x: Algebra, site: str) -> Term:
        """The site takes host writes: up and primary (never outdated, so never behind an
        epoch it has seen)."""
        return x.and_(self.get(site, "up"), self.get(site, "role") == PRIMARY)

    def recovered(self, x: Algebra, site: str) -> Term:
        """What the site's volume reads once its pending grains come from where they are held:
        the image a promote rolls to."""
        return x.write(self.get(site, "image"), self.get(site, "pending"), self.base)

    def linked(self, x: Algebra) -> Term:
        return x.and_(self.link_up, self.x_up, self.y_up)

    def mirroring(self, x: Algebra) -> Term:
        """The cycle may run: both up and linked, one epoch, no split, the site it copies to a
        secondary (the site it copies from primary, or demoted and draining its last point)."""
        dst_role = x.ite(self.source_x, self.y_role, self.x_role)
        src_role = x.ite(self.source_x, self.x_role, self.y_role)
        return x.and_(self.linked(x), self.x_epoch == self.y_epoch,
                      x.not_(self.x_split), x.not_(self.y_split),
                      dst_role == SECONDARY, src_role != OUTDATED)  # fmt: skip


def made_by(site: str, epoch: Term) -> Term:
    """The epoch's number says which site made it: x the odd ones, y the even ones."""
    return epoch % 2 == (1 if site == "x" else 0)


def next_epoch(site: str, known: Term) -> Term:
    """The smallest epoch above `known` that `site` makes."""
    want = 1 if site == "x" else 0
    return known + 1 + (known + 1 - want) % 2


def initial(x: Algebra) -> RolesView:
    zeros = x.zeros()
    fields: dict[str, Any] = {"source_x": x.true, "link_up": x.true, "base": zeros}
    for s in SLOTS:
        fields.update({
            f"{s}_epoch": FIRST_EPOCH, f"{s}_parent": 0, f"{s}_known": FIRST_EPOCH,
            f"{s}_role": PRIMARY if s == "x" else SECONDARY, f"{s}_split": x.false,
            f"{s}_up": x.true, f"{s}_image": zeros, f"{s}_dirty": x.no_grains,
            f"{s}_pending": x.no_grains,
        })  # fmt: skip
    return RolesView(**fields)


def record(site: str, label: str, **changes: Term) -> Write:
    """One record of the site's journal (its role record): the fields change together."""
    return Write(site, f"{site} journal: {label}", {f"{site}_{k}" if k not in PAIR else k: v
                                                    for k, v in changes.items()})  # fmt: skip


def image_write(x: Algebra, s: RolesView, site: str, grains: Term, values: Term,
                label: str) -> Write:  # fmt: skip
    field = f"{site}_image"
    return Write(site, f"{site} {label}", {field: x.write(getattr(s, field), grains, values)},
                 grains=grains)  # fmt: skip


Clauses = Iterator[Clause]


def _max(x: Algebra, a: Term, b: Term) -> Term:
    return x.ite(a >= b, a, b)


# ---- the host and the cycle, as the roles see them -----------------------------------------------


def host_write(site: str) -> PlannedRule:
    """A host write at the site: tracked dirty, then written (the design's journal-first
    order)."""

    def guard(x: Algebra, o: Options, s: RolesView, grain: Term, data: Term) -> Clauses:
        yield Clause(s.get(site, "up"), f"the {site} site is down")
        role = s.get(site, "role")
        yield Clause(role == PRIMARY, lambda: f"the {site} site is {ROLE_WORDS[role]}: it "
                     "refuses host writes")  # fmt: skip

    def plan(x: Algebra, o: Options, s: RolesView, grain: Term, data: Term) -> list[Case]:
        one = x.just(grain)
        image = s.get(site, "image")
        written = x.store(image, grain, data)
        return [
            Case(
                "",
                x.true,
                (
                    record(site, "dirty += g", dirty=x.union(s.get(site, "dirty"), one)),
                    Write(site, f"{site} image[g]", {f"{site}_image": written}, grains=one),
                ),
            )
        ]

    return PlannedRule(("grain", "data"), guard, plan)


def commit_point_guard(x: Algebra, o: Options, s: RolesView) -> Clauses:
    yield Clause(s.mirroring(x), "the pair is not mirroring (a site down or unlinked, two "
                 "epochs, a split brain or an outdated site)")  # fmt: skip


def commit_point(x: Algebra, o: Options, s: RolesView) -> list[Case]:
    """A cycle commits the source's image: the copy's grains become pending at the secondary
    (the committed value is held beside its image until drained), then the source's dirty
    grains are clean.  The commit *is* the secondary's record."""
    cases = []
    for src in SLOTS:
        dst = peer(src)
        writes = (
            record(
                dst,
                "commit",
                pending=x.union(s.get(dst, "pending"), s.get(src, "dirty")),
                base=s.get(src, "image"),
            ),
            record(src, "next cycle", dirty=x.no_grains),
        )
        cases.append(Case(f"from {src}", s.is_source(x, src), writes))
    return cases


def _dst(x: Algebra, s: RolesView, name: str) -> Term:
    """A field of the site the mirror copies to."""
    return x.ite(s.source_x, s.get("y", name), s.get("x", name))


def drain_guard(x: Algebra, o: Options, s: RolesView, extent: Term) -> Clauses:
    yield Clause(_dst(x, s, "up"), "the mirror's target site is down")
    yield Clause(x.not_(x.no_grain_in(x.common(_dst(x, s, "pending"), extent))),
                 "no grain of the extent waits to be drained")  # fmt: skip


def drain(x: Algebra, o: Options, s: RolesView, extent: Term) -> list[Case]:
    """The mirror's target copies its pending grains' committed values into its image, then
    clears them (target protection's order: the data durable before the record)."""
    cases = []
    for site in SLOTS:
        pending = s.get(site, "pending")
        grains = x.common(pending, extent)
        writes = (
            image_write(x, s, site, grains, s.base, "image[e] := committed"),
            record(site, "drained", pending=x.minus(pending, extent)),
        )
        cases.append(Case(f"at {site}", s.is_source(x, peer(site)), writes))
    return cases


# ---- the operator's commands -------------------------------------------------------------------


def promote(site: str, force: bool) -> PlannedRule:
    other = peer(site)

    def guard(x: Algebra, o: Options, s: RolesView) -> Clauses:
        yield Clause(s.get(site, "up"), f"the {site} site is down")
        role = s.get(site, "role")
        yield Clause(role == SECONDARY, lambda: f"the {site} site is {ROLE_WORDS[role]}, not a "
                     "secondary" + (": resync it first" if role == OUTDATED else ""))  # fmt: skip
        yield Clause(x.not_(s.get(site, "split")), f"the {site} site is in a split brain: "
                     "discard one side first")  # fmt: skip
        if force:
            yield Clause(x.not_(s.linked(x)), "the peer is reachable: promote without --force "
                         "(orderly), or cut it off first")  # fmt: skip
            return
        yield Clause(s.linked(x), "the peer is unreachable: promote --force")
        yield Clause(s.get(other, "role") == SECONDARY, f"the {other} site is not demoted")
        yield Clause(s.x_epoch == s.y_epoch, "the two sites are in different epochs")
        yield Clause(x.not_(s.get(other, "split")), f"the {other} site is in a split brain")
        yield Clause(s.is_source(x, other), f"the {site} site is not the mirror's target")
        yield Clause(x.no_grain_in(s.get(other, "dirty")), "the pair is not synchronized: "
                     "the last point has not committed yet")  # fmt: skip

    def plan(x: Algebra, o: Options, s: RolesView) -> list[Case]:
        # an orderly promote hears the peer: its epoch is above every epoch either has known
        known = s.get(site, "known") if force else _max(x, s.x_known, s.y_known)
        epoch = next_epoch(site, known)
        made = record(site, "epoch", epoch=epoch, parent=s.get(site, "epoch"), known=epoch)
        pending = s.get(site, "pending")
        roll = image_write(x, s, site, pending, s.base, "image[pending] := committed (roll)")
        role = record(site, "primary, the mirror's source", role=PRIMARY, pending=x.no_grains,
                      source_x=x.true if site == "x" else x.false)  # fmt: skip
        steps = [made, roll, role] if o.epoch_before_role else [role, made, roll]
        if not o.promote_rolls_back:
            steps.remove(roll)
        if not force:
            steps.append(record(other, "joins the new epoch", epoch=epoch,
                                parent=s.get(site, "epoch"), known=epoch))  # fmt: skip
        return [Case("", x.true, tuple(steps))]

    return PlannedRule((), guard, plan)


def demote(site: str) -> PlannedRule:
    def guard(x: Algebra, o: Options, s: RolesView) -> Clauses:
        yield Clause(s.get(site, "up"), f"the {site} site is down")
        yield Clause(s.get(site, "role") == PRIMARY, f"the {site} site is not primary")

    def plan(x: Algebra, o: Options, s: RolesView) -> list[Case]:
        return [Case("", x.true, (record(site, "secondary", role=SECONDARY),))]

    return PlannedRule((), guard, plan)


def resync(site: str) -> PlannedRule:
    other = peer(site)

    def guard(x: Algebra, o: Options, s: RolesView) -> Clauses:
        yield Clause(s.linked(x), "the peer is unreachable: a resync copies from it")
        yield Clause(x.or_(s.get(site, "role") == OUTDATED, s.get(site, "split")),
                     f"the {site} site is neither outdated nor in a split brain: nothing to "
                     "discard")  # fmt: skip
        yield Clause(s.get(other, "role") != OUTDATED, f"the {other} site is outdated too: "
                     "resync copies from the site that is not")  # fmt: skip
        yield Clause(x.no_grain_in(s.get(other, "pending")), f"the {other} site still drains "
                     "its last committed point")  # fmt: skip

    def plan(x: Algebra, o: Options, s: RolesView) -> list[Case]:
        mine = x.union(s.get(site, "dirty"), s.get(site, "pending"))
        copy = x.union(mine, s.get(other, "dirty")) if o.resync_copies_primary_changes else mine
        primary = s.get(other, "image")
        writes = (
            record(site, "to copy", dirty=copy),
            image_write(x, s, site, copy, primary, "image[to copy] := primary's"),
            record(other, "no split, the mirror's source", split=x.false,
                   source_x=x.true if other == "x" else x.false),
            record(site, "joins the primary's epoch", epoch=s.get(other, "epoch"),
                   parent=s.get(other, "parent"),
                   known=_max(x, s.get(site, "known"), s.get(other, "epoch")),
                   role=SECONDARY, split=x.false, dirty=x.no_grains, pending=x.no_grains,
                   base=primary),
        )  # fmt: skip
        return [Case("", x.true, writes)]

    return PlannedRule((), guard, plan)


# ---- the world ---------------------------------------------------------------------------------


def meet(x: Algebra, s: RolesView, t: RolesView) -> RolesView:
    """Both sites up and linked: each compares the other's epoch with its own (from `s`, the
    state they met in) and records what it learnt (`t`: the state so far)."""
    changes: dict[str, Any] = {}
    for site in SLOTS:
        other = peer(site)
        mine, theirs = s.get(site, "epoch"), s.get(other, "epoch")
        same = mine == theirs
        from_mine = s.get(other, "parent") == mine
        from_theirs = s.get(site, "parent") == theirs
        outdated = x.and_(x.not_(same), x.or_(from_mine, theirs >= mine + 1))
        split = x.and_(x.not_(same), x.not_(from_mine), x.not_(from_theirs))
        role = s.get(site, "role")
        changes[f"{site}_role"] = x.ite(outdated, OUTDATED, role)
        changes[f"{site}_split"] = x.or_(s.get(site, "split"), split)
        changes[f"{site}_known"] = _max(x, s.get(site, "known"), theirs)
    linked = s.linked(x)
    return t.with_(**{k: x.ite(linked, v, getattr(t, k)) for k, v in changes.items()})


def link_down_guard(x: Algebra, o: Options, s: RolesView) -> Clauses:
    yield Clause(s.link_up, "the link is already down")


def link_down(x: Algebra, o: Options, s: RolesView) -> list[Case]:
    return [Case("", x.true, (), lambda t: t.with_(link_up=x.false))]


def link_up_guard(x: Algebra, o: Options, s: RolesView) -> Clauses:
    yield Clause(x.not_(s.link_up), "the link is already up")


def link_up(x: Algebra, o: Options, s: RolesView) -> list[Case]:
    return [Case("", x.true, (), lambda t: _met(x, t.with_(link_up=x.true)))]


def _met(x: Algebra, s: RolesView) -> RolesView:
    return meet(x, s, s)


def down(x: Algebra, s: RolesView, site: str) -> RolesView:
    return s.with_(**{f"{site}_up": x.false})


def crash(site: str) -> PlannedRule:
    def guard(x: Algebra, o: Options, s: RolesView) -> Clauses:
        yield Clause(s.get(site, "up"), f"the {site} site is already down")

    def plan(x: Algebra, o: Options, s: RolesView) -> list[Case]:
        return [Case("now", x.true, (), lambda t: down(x, t, site))]

    return PlannedRule((), guard, plan)


def recover(site: str) -> PlannedRule:
    def guard(x: Algebra, o: Options, s: RolesView) -> Clauses:
        yield Clause(x.not_(s.get(site, "up")), f"the {site} site is up")

    def plan(x: Algebra, o: Options, s: RolesView) -> list[Case]:
        return [Case("", x.true, (), lambda t: _met(x, t.with_(**{f"{site}_up": x.true})))]

    return PlannedRule((), guard, plan)


@functools.cache
def rules_for(options: Options) -> Mapping[str, PlannedRule]:
    found: dict[str, PlannedRule] = {
        "CommitPoint": PlannedRule((), commit_point_guard, commit_point),
        "DrainTarget": PlannedRule(("extent",), drain_guard, drain),
        "LinkDown": PlannedRule((), link_down_guard, link_down),
        "LinkUp": PlannedRule((), link_up_guard, link_up),
    }
    for site in SLOTS:
        found[f"HostWrite({site})"] = host_write(site)
        found[f"Promote({site})"] = promote(site, force=False)
        found[f"Promote({site},force)"] = promote(site, force=True)
        found[f"Demote({site})"] = demote(site)
        found[f"Resync({site})"] = resync(site)
        found[f"CrashSite({site})"] = crash(site)
        found[f"Recover({site})"] = recover(site)
    return {name: dataclasses.replace(rule, design="roles") for name, rule in found.items()}


# ---- what must hold --------------------------------------------------------------------------


def one_writable_primary_per_epoch(x: Algebra, s: RolesView) -> Term:
    return x.not_(x.and_(s.x_role == PRIMARY, s.y_role == PRIMARY, s.x_epoch == s.y_epoch))


def higher_epoch_refuses_writes(x: Algebra, s: RolesView) -> Term:
    return x.and_(*(x.implies(s.get(site, "known") >= s.get(site, "epoch") + 1,
                              s.get(site, "role") != PRIMARY) for site in SLOTS))  # fmt: skip


def promoted_image_is_committed(x: Algebra, s: RolesView) -> Term:
    """A primary's volume is the committed image but for the grains written since."""
    return x.and_(*(x.implies(s.get(site, "role") == PRIMARY, x.and_(
        x.no_grain_in(s.get(site, "pending")),
        s.get(site, "image") == x.write(s.base, s.get(site, "dirty"), s.get(site, "image")),
    )) for site in SLOTS))  # fmt: skip


def failback_keeps_new_writes(x: Algebra, s: RolesView) -> Term:
    """The mirror's target, once in its source's epoch as a secondary, recovers the committed
    image, and the source's volume is it but for the grains the next commit carries: after a
    failback no write the primary made durable is lost."""
    clauses = []
    for src in SLOTS:
        dst = peer(src)
        joined = x.and_(
            s.get(dst, "epoch") == s.get(src, "epoch"),
            s.get(dst, "role") == SECONDARY,
            x.not_(s.get(dst, "split")),
        )
        clauses.append(x.implies(x.and_(s.is_source(x, src), joined), x.and_(
            x.no_grain_in(s.get(dst, "dirty")),
            s.recovered(x, dst) == s.base,
            x.no_grain_in(s.get(src, "pending")),
            s.get(src, "image") == x.write(s.base, s.get(src, "dirty"), s.get(src, "image")),
        )))  # fmt: skip
    return x.and_(*clauses)


PROPERTIES = {
    "inv_one_writable_primary_per_epoch": (
        "never two primaries that take host writes in one epoch",
        one_writable_primary_per_epoch,
    ),
    "inv_higher_epoch_refuses_writes": (
        "a site that has known a higher epoch than its own is not primary",
        higher_epoch_refuses_writes,
    ),
    "inv_promoted_image_is_committed": (
        "a primary's volume is the committed image of the pair it came from, but for the grains "
        "written since",
        promoted_image_is_committed,
    ),
    "inv_failback_keeps_new_writes": (
        "a secondary that joined the primary's epoch recovers its committed image, and the "
        "primary's writes since are all to be carried",
        failback_keeps_new_writes,
    ),
}
"""The roles' safety properties: the model checks them after every step, the proof proves
them for volumes of any size (proofs/roles.py)."""


assert set(RolesView.__annotations__) == set(SCHEMA)
