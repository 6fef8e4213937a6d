"""Design B in Z3: one consistency group, any number of members and of remotes.

Grains, members and remotes are uninterpreted sorts, so the proof covers volumes of any size,
groups of any size and any fan-out at once; a topology with several groups is several such
groups that share only site and link availability, which only enables or disables actions.
Per-member maps and volumes are nested arrays (member -> grain -> value); remote copies add
the remote in front.  The ghosts are the images of the last three points, P_{k-2}, P_{k-1}
and P_k (no remote can be further behind: the next freeze waits for every remote).

Every action of model/freeze_overlay.py is one relation here, named as in the model; options
are parameters.  A crash or recovery between actions changes only availability.

Power loss (`power_loss_cuts`): a site can also lose power in the middle of an action, just
after one of its writes of the model's write plan, or just after the action completed.  The
write in flight then holds any value on the media (lost, whole or torn: an unconstrained
array over the extent), and a write the design flushed before is durable.  A cut that equals
the state before or after the action with the site down is already the composition of the
action and `CrashSite`; the relations here are the others: a data write in flight under its
unwritten record, the remote's complete mark written before the home's, and — in the
flush-order mutants — a write left in flight under a durable record or an acknowledgement
(merges left in flight under the drop: one member's, which is enough to refute it).
The invariant admits what the safe design's cuts leave: a remote complete before the home
knows (and what it goes on to), a base grain torn under the delta that still holds it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import z3

from pitmirror.model.freeze_overlay import Options
from pitmirror.proofs.sorts import ZERO, Val
from pitmirror.proofs.sorts import Grain as _UnboundedGrain

# proofs/freeze_overlay_finite.py loads a second copy of this module with finite sorts put here
# first: the same encoding over a pinned domain, where z3 answers satisfiable queries with a model.
_OVERRIDES: dict[str, Any] = globals().get("_OVERRIDES", {})
Member = _OVERRIDES["Member"] if "Member" in _OVERRIDES else z3.DeclareSort("Member")
Remote = _OVERRIDES["Remote"] if "Remote" in _OVERRIDES else z3.DeclareSort("Remote")
Grain = _OVERRIDES.get("Grain", _UnboundedGrain)
NONE = -1

GRAIN_FIELDS = ("base", "frozen_has", "frozen_val", "active_has", "active_val", "acked",
                "p0", "pm1", "pm2")  # fmt: skip
REMOTE_GRAIN_FIELDS = ("rbase", "rdelta_has", "rdelta_val")
REMOTE_MEMBER_FIELDS = ("rbase_point", "rdelta_point", "complete")
FIELDS = (*GRAIN_FIELDS, "has_frozen", "unfrozen", *REMOTE_GRAIN_FIELDS,
          *REMOTE_MEMBER_FIELDS, "completed", "remote_up", "link_up", "point", "broken",
          "home_up")  # fmt: skip


def _sorts() -> dict[str, Any]:
    B, I = z3.BoolSort(), z3.IntSort()  # noqa: E741, N806
    mg_val, mg_bool = (
        z3.ArraySort(Member, z3.ArraySort(Grain, Val)),
        z3.ArraySort(Member, z3.ArraySort(Grain, B)),
    )
    return {
        "base": mg_val, "frozen_has": mg_bool, "frozen_val": mg_val, "active_has": mg_bool,
        "active_val": mg_val, "acked": mg_val, "p0": mg_val, "pm1": mg_val, "pm2": mg_val,
        "has_frozen": z3.ArraySort(Member, B), "unfrozen": z3.ArraySort(Member, B),
        "rbase": z3.ArraySort(Remote, mg_val), "rdelta_has": z3.ArraySort(Remote, mg_bool),
        "rdelta_val": z3.ArraySort(Remote, mg_val),
        "rbase_point": z3.ArraySort(Remote, z3.ArraySort(Member, I)),
        "rdelta_point": z3.ArraySort(Remote, z3.ArraySort(Member, I)),
        "complete": z3.ArraySort(Remote, z3.ArraySort(Member, B)),
        "completed": z3.ArraySort(Remote, B), "remote_up": z3.ArraySort(Remote, B),
        "link_up": z3.ArraySort(Remote, B), "point": I, "broken": B, "home_up": B,
    }  # fmt: skip


SORTS = _sorts()


@dataclass(frozen=True)
class BState:
    base: Any
    frozen_has: Any
    frozen_val: Any
    active_has: Any
    active_val: Any
    acked: Any
    p0: Any
    pm1: Any
    pm2: Any
    has_frozen: Any
    unfrozen: Any
    rbase: Any
    rdelta_has: Any
    rdelta_val: Any
    rbase_point: Any
    rdelta_point: Any
    complete: Any
    completed: Any
    remote_up: Any
    link_up: Any
    point: Any
    broken: Any
    home_up: Any

    def with_(self, **changes: Any) -> BState:
        return dataclasses.replace(self, **changes)

    def image(self, point: Any) -> Any:
        """P_point, for point in {k-2, k-1, k}."""
        return z3.If(
            point == self.point, self.p0, z3.If(point == self.point - 1, self.pm1, self.pm2)
        )

    def reachable(self, r: Any) -> Any:
        return z3.And(self.home_up, self.remote_up[r], self.link_up[r])

    def committed(self, r: Any, m: Any) -> Any:
        return z3.If(self.complete[r][m], self.rdelta_point[r][m], self.rbase_point[r][m])


def fresh_state(prefix: str) -> BState:
    return BState(**{f: z3.Const(f"{prefix}.{f}", SORTS[f]) for f in FIELDS})


def same(a: BState, b: BState) -> Any:
    return z3.And([getattr(a, f) == getattr(b, f) for f in FIELDS])


def _set2(array: Any, a: Any, b: Any, value: Any) -> Any:
    return z3.Store(array, a, z3.Store(array[a], b, value))


def _all_mg(body: Callable[[Any, Any], Any]) -> Any:
    m, g = z3.Const("all_m", Member), z3.Const("all_g", Grain)
    return z3.ForAll([m, g], body(m, g))


def _all_m(body: Callable[[Any], Any]) -> Any:
    m = z3.Const("all_m1", Member)
    return z3.ForAll([m], body(m))


def _all_r(body: Callable[[Any], Any]) -> Any:
    r = z3.Const("all_r", Remote)
    return z3.ForAll([r], body(r))


# An extent action (CopyDelta, MergeRemote, MergeLocal) acts on a set of one member's grains, a
# Boolean array `e`: an extent of the model is a run of consecutive grains; as a set, any one,
# so one query covers every start and count.  Writes use the array theory's own map, not
# lambdas, so that satisfiable queries over finite sorts stay decidable.
_OR = z3.Or(z3.Bool("p"), z3.Bool("q")).decl()
_ITE = z3.If(z3.Bool("c"), z3.Const("a", Val), z3.Const("b", Val)).decl()


_FINITE_GRAINS: list[Any] | None = _OVERRIDES.get("Grain_elements")
"""over finite sorts, an extent's quantifiers are expanded over the grains: z3 answers
`unknown` on array maps under quantifiers even over an enumeration sort"""


def _every(body: Callable[[Any], Any]) -> Any:
    if _FINITE_GRAINS is not None:
        return z3.And([body(x) for x in _FINITE_GRAINS])
    x = z3.Const("in_extent", Grain)
    return z3.ForAll([x], body(x))


def _some(body: Callable[[Any], Any]) -> Any:
    if _FINITE_GRAINS is not None:
        return z3.Or([body(x) for x in _FINITE_GRAINS])
    x = z3.Const("in_extent", Grain)
    return z3.Exists([x], body(x))


def _within(e: Any, m: Any) -> Any:
    """Every grain of the extent `e` is in the map `m`."""
    return _every(lambda x: z3.Implies(e[x], m[x]))


def _meets(e: Any, m: Any) -> Any:
    """Some grain of the extent `e` is in the map `m`."""
    return _some(lambda x: z3.And(e[x], m[x]))


def _nonempty(e: Any) -> Any:
    return _some(lambda x: e[x])


def _write(e: Any, values: Any, array: Any) -> Any:
    """`array` with `values` at the extent's grains (one write)."""
    return z3.Map(_ITE, e, values, array)


NO_GRAINS = z3.K(Grain, z3.BoolVal(False))
ALL_GRAINS = z3.K(Grain, z3.BoolVal(True))
ZEROS = z3.K(Grain, ZERO)


def initial(s: BState) -> Any:
    """Point 1 frozen at the start: every grain of every member is the delta to copy."""
    zeros = z3.K(Member, ZEROS)
    return z3.And(
        *[getattr(s, f) == zeros for f in ("base", "frozen_val", "acked", "p0", "pm1", "pm2")],
        s.frozen_has == z3.K(Member, ALL_GRAINS),
        s.active_has == z3.K(Member, NO_GRAINS),
        s.has_frozen == z3.K(Member, z3.BoolVal(True)),
        s.unfrozen == z3.K(Member, z3.BoolVal(False)),
        s.rbase == z3.K(Remote, zeros),
        s.rdelta_has == z3.K(Remote, z3.K(Member, NO_GRAINS)),
        s.rbase_point == z3.K(Remote, z3.K(Member, z3.IntVal(0))),
        s.rdelta_point == z3.K(Remote, z3.K(Member, z3.IntVal(1))),
        s.complete == z3.K(Remote, z3.K(Member, z3.BoolVal(False))),
        s.completed == z3.K(Remote, z3.BoolVal(False)),
        s.remote_up == z3.K(Remote, z3.BoolVal(True)),
        s.link_up == z3.K(Remote, z3.BoolVal(True)),
        s.point == 1,
        z3.Not(s.broken),
        s.home_up,
    )


# ---- the actions, named as in the model (guard, state after) ---------------------------------


def HostWrite(s: BState, m: Any, g: Any, v: Any) -> tuple[Any, BState]:  # noqa: N802
    return s.home_up, s.with_(
        active_has=_set2(s.active_has, m, g, True),
        active_val=_set2(s.active_val, m, g, v),
        acked=_set2(s.acked, m, g, v),
    )


def _freeze_one(s: BState, m: Any) -> BState:
    return s.with_(
        frozen_has=z3.Store(s.frozen_has, m, s.active_has[m]),
        frozen_val=z3.Store(s.frozen_val, m, s.active_val[m]),
        active_has=z3.Store(s.active_has, m, NO_GRAINS),
        has_frozen=z3.Store(s.has_frozen, m, True),
    )


def FreezeGroup(s: BState, first: Any, opts: Options) -> tuple[Any, BState]:  # noqa: N802
    guard = z3.And(
        s.home_up,
        z3.Not(s.broken),
        _all_m(lambda m: z3.Not(s.unfrozen[m])),
        _all_r(lambda r: s.completed[r]),
        _all_m(lambda m: z3.Not(s.has_frozen[m])),
    )
    rotated = s.with_(
        point=s.point + 1,
        completed=z3.K(Remote, z3.BoolVal(False)),
        pm2=s.pm1,
        pm1=s.p0,
        p0=s.acked,  # the live image at the freeze instant (the host's view)
    )
    if opts.freeze_group_at_once:
        after = rotated.with_(
            frozen_has=s.active_has,
            frozen_val=s.active_val,
            active_has=z3.K(Member, NO_GRAINS),
            has_frozen=z3.K(Member, z3.BoolVal(True)),
        )
        return guard, after
    after = _freeze_one(rotated, first).with_(
        unfrozen=z3.Store(z3.K(Member, z3.BoolVal(True)), first, False),
    )
    return guard, after


def FreezeMember(s: BState, m: Any) -> tuple[Any, BState]:  # noqa: N802
    after = _freeze_one(s, m).with_(unfrozen=z3.Store(s.unfrozen, m, False))
    return z3.And(s.home_up, s.unfrozen[m]), after


def CopyDelta(s: BState, r: Any, m: Any, e: Any) -> tuple[Any, BState]:  # noqa: N802
    d = s.rdelta_point[r][m]
    guard = z3.And(
        s.reachable(r),
        s.has_frozen[m],
        _nonempty(e),
        _within(e, s.frozen_has[m]),
        _all_m(lambda x: z3.Not(s.unfrozen[x])),
        z3.Not(s.completed[r]),
        z3.Or(d == NONE, d == s.point),
        z3.Not(s.complete[r][m]),
        z3.Not(z3.And(d != NONE, _meets(e, s.rdelta_has[r][m]))),
    )
    return guard, s.with_(
        rdelta_has=_set2(s.rdelta_has, r, m, z3.Map(_OR, s.rdelta_has[r][m], e)),
        rdelta_val=_set2(s.rdelta_val, r, m, _write(e, s.frozen_val[m], s.rdelta_val[r][m])),
        rdelta_point=_set2(s.rdelta_point, r, m, s.point),
    )


def MarkComplete(s: BState, r: Any) -> tuple[Any, BState]:  # noqa: N802
    copied = _all_mg(
        lambda m, g: z3.Implies(
            z3.And(s.has_frozen[m], s.frozen_has[m][g]),
            z3.And(s.rdelta_has[r][m][g], s.rdelta_val[r][m][g] == s.frozen_val[m][g]),
        )
    )
    guard = z3.And(
        s.reachable(r),
        z3.Not(s.completed[r]),
        _all_m(lambda x: z3.Not(s.unfrozen[x])),
        _all_m(lambda x: z3.Or(s.rdelta_point[r][x] == NONE, s.rdelta_point[r][x] == s.point)),
        copied,
    )
    return guard, s.with_(
        complete=z3.Store(s.complete, r, z3.K(Member, z3.BoolVal(True))),
        rdelta_point=z3.Store(s.rdelta_point, r, z3.K(Member, s.point)),
        completed=z3.Store(s.completed, r, True),
    )


def MergeRemote(s: BState, r: Any, m: Any, e: Any, opts: Options) -> tuple[Any, BState]:  # noqa: N802
    guard = z3.And(s.remote_up[r], _nonempty(e), _within(e, s.rdelta_has[r][m]))
    if opts.merge_after_complete:
        guard = z3.And(guard, s.complete[r][m])
    return guard, s.with_(rbase=_set2(s.rbase, r, m, _write(e, s.rdelta_val[r][m], s.rbase[r][m])))


def DropRemoteDelta(s: BState, r: Any) -> tuple[Any, BState]:  # noqa: N802
    merged = _all_mg(
        lambda m, g: z3.Implies(s.rdelta_has[r][m][g], s.rbase[r][m][g] == s.rdelta_val[r][m][g])
    )
    guard = z3.And(s.remote_up[r], _all_m(lambda m: s.complete[r][m]), merged)
    return guard, s.with_(
        rbase_point=z3.Store(s.rbase_point, r, s.rdelta_point[r]),
        rdelta_point=z3.Store(s.rdelta_point, r, z3.K(Member, z3.IntVal(NONE))),
        rdelta_has=z3.Store(s.rdelta_has, r, z3.K(Member, NO_GRAINS)),
        complete=z3.Store(s.complete, r, z3.K(Member, z3.BoolVal(False))),
    )


def _may_merge_local(s: BState, opts: Options) -> Any:
    if opts.drop_after_every_remote:
        return _all_r(lambda r: s.completed[r])
    r = z3.Const("some_r", Remote)
    return z3.Exists([r], s.completed[r])


def MergeLocal(s: BState, m: Any, e: Any, opts: Options) -> tuple[Any, BState]:  # noqa: N802
    guard = z3.And(
        s.home_up, s.has_frozen[m], _nonempty(e), _within(e, s.frozen_has[m]),
        _may_merge_local(s, opts),
    )  # fmt: skip
    return guard, s.with_(base=z3.Store(s.base, m, _write(e, s.frozen_val[m], s.base[m])))


def DropLocalDelta(s: BState, opts: Options) -> tuple[Any, BState]:  # noqa: N802
    x = z3.Const("any_m", Member)
    merged = _all_mg(
        lambda m, g: z3.Implies(
            z3.And(s.has_frozen[m], s.frozen_has[m][g]), s.base[m][g] == s.frozen_val[m][g]
        )
    )
    guard = z3.And(s.home_up, z3.Exists([x], s.has_frozen[x]), _may_merge_local(s, opts), merged)
    return guard, s.with_(
        has_frozen=z3.K(Member, z3.BoolVal(False)),
        frozen_has=z3.K(Member, NO_GRAINS),
    )


def BreakMirror(s: BState) -> tuple[Any, BState]:  # noqa: N802
    return z3.And(s.home_up, z3.Not(s.broken)), s.with_(broken=True)


# ---- power loss in the middle of an action --------------------------------------------------


def power_loss_cuts(
    s: BState, m: Any, g: Any, v: Any, r: Any, e: Any, junk: Any, opts: Options
) -> list[tuple[str, dict[str, Any], tuple[Any, BState]]]:
    """The cuts of an action by a power loss that no composition of whole actions and
    `CrashSite` gives (see the module docstring): the guard of the action, and the state the
    recovered sites hold.  `junk` is what a write in flight left on the media."""
    home_down, remote_down = {"home_up": False}, {"remote_up": z3.Store(s.remote_up, r, False)}
    host_guard, host_after = HostWrite(s, m, g, v)
    in_place = s.with_(active_val=_set2(s.active_val, m, g, junk[g]), **home_down)
    cuts: list[tuple[str, dict[str, Any], tuple[Any, BState]]] = [
        # the data write in flight, its record not written: the host was not told, and reads
        # whatever the grain holds now
        ("HostWrite, power lost after its data write", {"member": m, "grain": g, "data": v},
         (host_guard, in_place.with_(acked=_set2(s.acked, m, g, read(in_place, m, g, opts))))),
    ]  # fmt: skip
    if not opts.flush_host_data:  # acknowledged with the data still in flight
        lost = host_after.with_(active_val=_set2(s.active_val, m, g, junk[g]), **home_down)
        cuts.append(("HostWrite completes, then power lost at home",
                     {"member": m, "grain": g, "data": v}, (host_guard, lost)))  # fmt: skip
    copy_guard, copy_after = CopyDelta(s, r, m, e)
    torn_delta = _set2(s.rdelta_val, r, m, _write(e, junk, s.rdelta_val[r][m]))
    cuts.append(
        (
            "CopyDelta, power lost after its data write",
            {"remote": r, "member": m, "extent": e},
            (copy_guard, s.with_(rdelta_val=torn_delta, **remote_down)),
        )
    )
    if not opts.flush_copy_data:  # marked received with the data still in flight
        cuts.append(
            (
                "CopyDelta completes, then power lost at the remote",
                {"remote": r, "member": m, "extent": e},
                (copy_guard, copy_after.with_(rdelta_val=torn_delta, **remote_down)),
            )
        )
    mark_guard, mark_after = MarkComplete(s, r)
    remote_only = mark_after.with_(completed=s.completed)
    cuts += [
        (
            "MarkComplete, power lost at the remote after its record",
            {"remote": r},
            (mark_guard, remote_only.with_(**remote_down)),
        ),
        (
            "MarkComplete, power lost at home before its record",
            {"remote": r},
            (mark_guard, remote_only.with_(**home_down)),
        ),
    ]
    if not opts.flush_complete:  # the home recorded it with the remote's mark still in flight
        cuts.append(
            (
                "MarkComplete completes, then power lost at the remote",
                {"remote": r},
                (mark_guard, s.with_(completed=mark_after.completed, **remote_down)),
            )
        )
    merge_guard, _ = MergeRemote(s, r, m, e, opts)
    torn_copy = _set2(s.rbase, r, m, _write(e, junk, s.rbase[r][m]))
    cuts.append(
        (
            "MergeRemote, power lost during its write",
            {"remote": r, "member": m, "extent": e},
            (merge_guard, s.with_(rbase=torn_copy, **remote_down)),
        )
    )
    local_guard, _ = MergeLocal(s, m, e, opts)
    torn_base = z3.Store(s.base, m, _write(e, junk, s.base[m]))
    cuts.append(
        (
            "MergeLocal, power lost during its write",
            {"member": m, "extent": e},
            (local_guard, s.with_(base=torn_base, **home_down)),
        )
    )
    if not opts.flush_merges_before_drop:  # the drop recorded with merges still in flight
        drop_guard, dropped = DropRemoteDelta(s, r)
        lost_merge = _set2(s.rbase, r, m, _write(s.rdelta_has[r][m], junk, s.rbase[r][m]))
        cuts.append(
            (
                "DropRemoteDelta completes, then power lost at the remote",
                {"remote": r, "member": m},
                (drop_guard, dropped.with_(rbase=lost_merge, **remote_down)),
            )
        )
        local_guard, dropped_local = DropLocalDelta(s, opts)
        lost_base = z3.Store(s.base, m, _write(s.frozen_has[m], junk, s.base[m]))
        cuts.append(
            (
                "DropLocalDelta completes, then power lost at home",
                {"member": m},
                (local_guard, dropped_local.with_(base=lost_base, **home_down)),
            )
        )
    return cuts  # fmt: skip


# ---- transitions --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Transition:
    name: str
    params: dict[str, Any]
    formula: Any

    def relation(self) -> Any:
        return self.formula


def transitions(pre: BState, post: BState, opts: Options, tag: str = "") -> list[Transition]:
    m, g, r = (
        z3.Const(f"{n}{tag}", sort) for n, sort in (("m", Member), ("g", Grain), ("r", Remote))
    )
    v = z3.Const(f"v{tag}", Val)
    e = z3.Const(f"e{tag}", z3.ArraySort(Grain, z3.BoolSort()))  # the action's extent
    table: list[tuple[str, dict[str, Any], tuple[Any, BState]]] = [
        ("HostWrite", {"member": m, "grain": g, "data": v}, HostWrite(pre, m, g, v)),
        ("HostRead", {"member": m, "grain": g}, (pre.home_up, pre)),  # changes nothing
        ("FreezeGroup", {"member": m}, FreezeGroup(pre, m, opts)),
        ("CopyDelta", {"remote": r, "member": m, "extent": e}, CopyDelta(pre, r, m, e)),
        ("MarkComplete", {"remote": r}, MarkComplete(pre, r)),
        ("MergeRemote", {"remote": r, "member": m, "extent": e}, MergeRemote(pre, r, m, e, opts)),
        ("DropRemoteDelta", {"remote": r}, DropRemoteDelta(pre, r)),
        ("MergeLocal", {"member": m, "extent": e}, MergeLocal(pre, m, e, opts)),
        ("DropLocalDelta", {}, DropLocalDelta(pre, opts)),
        ("BreakMirror", {}, BreakMirror(pre)),
    ]
    if not opts.freeze_group_at_once:
        table.append(("FreezeMember", {"member": m}, FreezeMember(pre, m)))
    junk = z3.Const(f"junk{tag}", z3.ArraySort(Grain, Val))
    table += power_loss_cuts(pre, m, g, v, r, e, junk, opts)
    out = [Transition(n, p, z3.And(guard, same(after, post))) for n, p, (guard, after) in table]

    def link(up: bool) -> BState:
        return pre.with_(link_up=z3.Store(pre.link_up, r, up))

    def remote(up: bool) -> BState:
        return pre.with_(remote_up=z3.Store(pre.remote_up, r, up))

    flips = [
        ("LinkDown", {"remote": r}, pre.link_up[r], link(False)),
        ("LinkUp", {"remote": r}, z3.Not(pre.link_up[r]), link(True)),
        ("CrashSite(home)", {}, pre.home_up, pre.with_(home_up=False)),
        ("Recover(home)", {}, z3.Not(pre.home_up), pre.with_(home_up=True)),
        ("CrashSite(remote)", {"remote": r}, pre.remote_up[r], remote(False)),
        ("Recover(remote)", {"remote": r}, z3.Not(pre.remote_up[r]), remote(True)),
    ]
    out += [Transition(n, p, z3.And(guard, same(after, post))) for n, p, guard, after in flips]
    return out


# ---- the invariant ------------------------------------------------------------------------------


def _per_remote_member(body: Callable[[BState, Any, Any], Any]) -> Callable[[BState], Any]:
    def check(s: BState) -> Any:
        r, m = z3.Const("cr", Remote), z3.Const("cm", Member)
        return z3.ForAll([r, m], body(s, r, m))

    return check


def _per_remote_grain(body: Callable[[BState, Any, Any, Any], Any]) -> Callable[[BState], Any]:
    def check(s: BState) -> Any:
        r, m, g = z3.Const("cr", Remote), z3.Const("cm", Member), z3.Const("cg", Grain)
        return z3.ForAll([r, m, g], body(s, r, m, g))

    return check


def _per_grain(body: Callable[[BState, Any, Any], Any]) -> Callable[[BState], Any]:
    def check(s: BState) -> Any:
        m, g = z3.Const("cm", Member), z3.Const("cg", Grain)
        return z3.ForAll([m, g], body(s, m, g))

    return check


def _cases(s: BState, r: Any, m: Any) -> Any:
    """A remote's points per member.  Until the home records the remote complete, the remote
    may already be complete (its mark is written first), and may merge, drop and receive
    point k again before the home learns of it (a power loss between the two records)."""
    k, d, b, c = s.point, s.rdelta_point[r][m], s.rbase_point[r][m], s.complete[r][m]
    base_k_or_before = z3.Or(b == k - 1, b == k)
    done = z3.Or(z3.And(c, d == k, base_k_or_before), z3.And(z3.Not(c), d == NONE, b == k))
    pending = z3.Or(
        z3.And(c, d == k - 1, z3.Or(b == k - 2, b == k - 1)),
        z3.And(z3.Not(c), z3.Or(d == NONE, d == k), base_k_or_before),
        z3.And(c, d == k, base_k_or_before),
    )
    return z3.If(s.completed[r], done, pending)


def _members_agree(s: BState) -> Any:
    r, m1, m2 = z3.Const("ar", Remote), z3.Const("am1", Member), z3.Const("am2", Member)
    return z3.ForAll([r, m1, m2], s.complete[r][m1] == s.complete[r][m2])


def goal(s: BState) -> Any:
    """inv_target_is_committed_image: every remote recovers every member at P_c."""

    def body(s: BState, r: Any, m: Any, g: Any) -> Any:
        recovered = z3.If(
            z3.And(s.complete[r][m], s.rdelta_has[r][m][g]), s.rdelta_val[r][m][g], s.rbase[r][m][g]
        )
        return recovered == s.image(s.committed(r, m))[m][g]

    return _per_remote_grain(body)(s)


@dataclass(frozen=True)
class Conjunct:
    name: str
    gloss: str
    check: Callable[[BState], Any]
    at: Callable[[BState, Any], Any] | None = None


CONJUNCTS: list[Conjunct] = [
    Conjunct("inv_1_points", "k >= 1",
             lambda s: s.point >= 1),
    Conjunct("inv_2_remote_phase", "a remote merges or holds P_k, or holds P_{k-1}",
             _per_remote_member(lambda s, r, m: _cases(s, r, m))),
    Conjunct(
        "inv_3_members_agree",
        "at a remote every member is complete or none is",
        lambda s: _members_agree(s),
    ),
    Conjunct("inv_4_received_is_the_point", "a received grain holds the image of its delta's point",
             _per_remote_grain(lambda s, r, m, g: z3.Implies(
                 s.rdelta_has[r][m][g],
                 z3.And(s.rdelta_point[r][m] != NONE,
                        s.rdelta_val[r][m][g] == s.image(s.rdelta_point[r][m])[m][g])))),
    Conjunct("inv_5_incomplete_base_is_its_point", "without a complete delta, the base copy is P_b",
             _per_remote_grain(lambda s, r, m, g: z3.Implies(
                 z3.Not(s.complete[r][m]),
                 s.rbase[r][m][g] == s.image(s.rbase_point[r][m])[m][g]))),
    Conjunct("inv_6_unreceived_is_unchanged", "a grain not in a complete delta is P_d in the base",
             _per_remote_grain(lambda s, r, m, g: z3.Implies(
                 z3.And(s.complete[r][m], z3.Not(s.rdelta_has[r][m][g])),
                 s.rbase[r][m][g] == s.image(s.rdelta_point[r][m])[m][g]))),
    Conjunct("inv_7_frozen_is_pk", "the frozen delta holds P_k; outside it P_k = P_{k-1}",
             _per_grain(lambda s, m, g: z3.Implies(s.has_frozen[m], z3.If(
                 s.frozen_has[m][g], s.frozen_val[m][g] == s.p0[m][g],
                 s.p0[m][g] == s.pm1[m][g])))),
    Conjunct("inv_8_base_is_merging",
             "with a frozen delta the base is P_{k-1} where the frozen delta does not hold it",
             _per_grain(lambda s, m, g: z3.Implies(s.has_frozen[m], z3.Or(
                 s.base[m][g] == s.pm1[m][g], s.frozen_has[m][g])))),
    Conjunct("inv_9_base_is_pk", "without a frozen delta the base is P_k",
             _per_grain(lambda s, m, g: z3.Implies(z3.Not(s.has_frozen[m]),
                                                    s.base[m][g] == s.p0[m][g]))),
    Conjunct("inv_10_active_is_since_pk", "the host's view is P_k overlaid by the active delta",
             _per_grain(lambda s, m, g: s.acked[m][g] == z3.If(
                 s.active_has[m][g], s.active_val[m][g], s.p0[m][g]))),
    Conjunct("inv_11_frozen_until_everywhere", "frozen deltas stay until every remote has them",
             _per_remote_member(lambda s, r, m: z3.Implies(z3.Not(s.completed[r]),
                                                            s.has_frozen[m]))),
    Conjunct("inv_12_one_instant", "no member waits to be frozen (the group froze at once)",
             lambda s: _all_m(lambda m: z3.Not(s.unfrozen[m]))),
]  # fmt: skip


def invariant(s: BState) -> Any:
    return z3.And([c.check(s) for c in CONJUNCTS])


def read(s: BState, m: Any, g: Any, opts: Options) -> Any:
    """Claim 12's live read: the active delta, else the frozen delta, else the base (the
    read-frozen-first mutant looks in the frozen delta first)."""
    frozen = z3.And(s.has_frozen[m], s.frozen_has[m][g])
    if opts.read_active_first:
        return z3.If(s.active_has[m][g], s.active_val[m][g],
                     z3.If(frozen, s.frozen_val[m][g], s.base[m][g]))  # fmt: skip
    return z3.If(frozen, s.frozen_val[m][g],
                 z3.If(s.active_has[m][g], s.active_val[m][g], s.base[m][g]))  # fmt: skip


def reads(s: BState, opts: Options) -> Any:
    """Every read through the overlay returns the newest acknowledged write."""
    return _all_mg(lambda m, g: read(s, m, g, opts) == s.acked[m][g])


def monotonic(pre: BState, post: BState) -> Any:
    """inv_commit_monotonic: no remote's committed point goes back."""
    return _per_remote_member(lambda s, r, m: post.committed(r, m) >= pre.committed(r, m))(pre)
