"""Design A in Z3: the state, every action of model/cyclic_flashcopy.py, and the invariant.

Grains are an uninterpreted sort (no bound on the volume size), volumes are arrays from grain
to value, maps are Boolean arrays; the ghost `pc` is P_c (the committed image) and `pk` is P_k
(the image of the current consistency point), the two entries of the model's `images` that the
safety argument needs.  Options are parameters: each action's encoding is built for one
`Options` value.

Each action is encoded, like the Python `write_plan`, as cases (the branches of the plan, each
with a guard) and, per case, its ordered durable writes.  A case can complete, or a crash can
cut it right after any of its writes; the crashed site is the site of the last write.  This
over-approximates the model's armed crash (which counts writes of one site), so a proof here
covers every cut the model can make.  `CrashSite` with a positive count only arms the crash in
the model and changes nothing here.

Power loss: each write knows whether the plan flushes it before the next (`durable`) and which
device a flush covers.  A case can also be cut by a power loss after any write, or right after
it completes: then every write of that site no flush has covered yet is in flight — a volume
write leaves any values at the grains it changed (lost, whole or torn), and of the journal
records in flight the newest may be lost, their fields and ghost as before.  The safe plan
flushes every write before the next, so nothing is in flight between actions and the proof
covers power loss at every write; a mutant that drops a flush leaves a write in flight after
its action, which the "completes, then power lost" outcome shows.  Writes left in flight across
more than one action are not followed (the explorer, harness/crash.py, does follow them).

What it leaves out: the model's `config` bounds (values, max_cycle) and the armed counter.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import z3

from pitmirror.model.actions import SITES, Site
from pitmirror.model.cyclic_flashcopy import Options
from pitmirror.proofs.sorts import ZERO, Grain, Val

VOLUMES = ("source", "i1", "i2", "target", "acked", "pc", "pk")
MAPS = ("copy_map", "future_map", "out_of_sync", "received_map", "target_map")
NUMBERS = ("cycle", "committed")
FLAGS = ("link_up", "local_up", "remote_up")
FIELDS = VOLUMES + MAPS + NUMBERS + FLAGS


@dataclass(frozen=True)
class ZState:
    source: Any
    i1: Any
    i2: Any
    target: Any
    acked: Any
    pc: Any
    pk: Any
    copy_map: Any
    future_map: Any
    out_of_sync: Any
    received_map: Any
    target_map: Any
    cycle: Any
    committed: Any
    link_up: Any
    local_up: Any
    remote_up: Any

    @property
    def mirror_ok(self) -> Any:
        return z3.And(self.link_up, self.remote_up)

    def site_up(self, site: Site) -> Any:
        return self.local_up if site == "local" else self.remote_up

    def with_(self, **changes: Any) -> ZState:
        return dataclasses.replace(self, **changes)


def fresh_state(prefix: str) -> ZState:
    parts: dict[str, Any] = {}
    for name in VOLUMES:
        parts[name] = z3.Array(f"{prefix}.{name}", Grain, Val)
    for name in MAPS:
        parts[name] = z3.Array(f"{prefix}.{name}", Grain, z3.BoolSort())
    for name in NUMBERS:
        parts[name] = z3.Int(f"{prefix}.{name}")
    for name in FLAGS:
        parts[name] = z3.Bool(f"{prefix}.{name}")
    return ZState(**parts)


def same(a: ZState, b: ZState) -> Any:
    return z3.And([getattr(a, f) == getattr(b, f) for f in FIELDS])


EMPTY = z3.K(Grain, z3.BoolVal(False))
FULL = z3.K(Grain, z3.BoolVal(True))


def _empty(m: Any) -> Any:
    # a quantified guard, not `m == K(False)`: with the grain sort pinned to a finite domain
    # (bounded model checking) z3 did not equate a fully cleared map with the constant array
    x = z3.Const("ex", Grain)
    return z3.ForAll([x], z3.Not(m[x]))


def _add(m: Any, g: Any) -> Any:
    return z3.Store(m, g, True)


def _remove(m: Any, g: Any) -> Any:
    return z3.Store(m, g, False)


_OR = z3.Or(z3.Bool("p"), z3.Bool("q")).decl()


def _union(a: Any, b: Any) -> Any:
    # the array theory's own map, not a lambda: satisfiable queries stay decidable
    return z3.Map(_OR, a, b)


def initial(s: ZState) -> Any:
    """initial_state: cycle 1 has frozen the all-zero source; every grain is to be copied."""
    zeros = z3.K(Grain, ZERO)
    return z3.And(
        *[getattr(s, v) == zeros for v in VOLUMES],
        s.copy_map == FULL,
        *[getattr(s, m) == EMPTY for m in MAPS if m != "copy_map"],
        s.cycle == 1,
        s.committed == 0,
        s.link_up,
        s.local_up,
        s.remote_up,
    )


# ---- writes and cases --------------------------------------------------------------------------


@dataclass(frozen=True)
class ZWrite:
    """One write of a plan.  `durable`: flushed before the next write (the model's flag);
    `device`: what a flush covers (a volume, or the site's journal); `tear`: for a volume
    write, the state with the write's grains holding the given values instead (a power loss
    leaves a write in flight lost, whole or torn: any values)."""

    site: Site
    label: str
    apply: Callable[[ZState], ZState]
    durable: bool = True
    device: str = ""
    tear: Callable[[ZState, Any], ZState] | None = None


@dataclass(frozen=True)
class Case:
    """One branch of an action's write plan: when it applies and what it writes, in order."""

    label: str
    guard: Any
    writes: tuple[ZWrite, ...]
    on_complete: Callable[[ZState], ZState] = lambda s: s
    on_cut: Callable[[ZState], ZState] = lambda s: s


_AND = z3.And(z3.Bool("p"), z3.Bool("q")).decl()
_NOT = z3.Not(z3.Bool("p")).decl()
_ITE = z3.If(z3.Bool("c"), z3.Const("a", Val), z3.Const("b", Val)).decl()
_EQ = (z3.Const("a", Val) == z3.Const("b", Val)).decl()


@dataclass(frozen=True)
class Span:
    """The grains an action writes: one grain `g`, or an extent given as a grain set `e` (a
    Boolean array).  An extent of the model is a run of consecutive grains; as a set, any one,
    so a proof over `e` covers every extent, of any start and count."""

    g: Any = None
    e: Any = None
    name: str = "g"

    def write(self, array: Any, values: Any) -> Any:
        """`array` with `values` at the span's grains."""
        if self.e is None:
            return z3.Store(array, self.g, values[self.g])
        return z3.Map(_ITE, self.e, values, array)

    def add(self, m: Any) -> Any:
        return _add(m, self.g) if self.e is None else _union(m, self.e)

    def remove(self, m: Any) -> Any:
        return _remove(m, self.g) if self.e is None else z3.Map(_AND, m, z3.Map(_NOT, self.e))

    def within(self, m: Any) -> Any:
        """Every grain of the span is in the map."""
        if self.e is None:
            return m[self.g]
        x = z3.Const("in_span", Grain)
        return z3.ForAll([x], z3.Implies(self.e[x], m[x]))

    def meets(self, m: Any) -> Any:
        """Some grain of the span is in the map."""
        if self.e is None:
            return m[self.g]
        x = z3.Const("in_span", Grain)
        return z3.Exists([x], z3.And(self.e[x], m[x]))

    def protected(self, target_map: Any) -> Span:
        """The span's grains still in the target map (what target protection saves)."""
        if self.e is None:
            return self
        return Span(e=z3.Map(_AND, self.e, target_map), name=f"{self.name} in target_map")

    def single(self) -> Any:
        """The span is at most one grain."""
        if self.e is None:
            return z3.BoolVal(True)
        x, y = z3.Consts("one_of_span other_of_span", Grain)
        return z3.ForAll([x, y], z3.Implies(z3.And(self.e[x], self.e[y]), x == y))

    def nonempty(self) -> Any:
        if self.e is None:
            return z3.BoolVal(True)
        x = z3.Const("in_span", Grain)
        return z3.Exists([x], self.e[x])


def _volume(
    volume: str, span: Span, values: Callable[[ZState], Any], durable: bool = True
) -> ZWrite:
    """One write of `values` (an array) to the span's grains of `volume`."""
    site: Site = "local" if volume in ("source", "i1") else "remote"
    return ZWrite(
        site,
        f"{volume}[{span.name}]",
        lambda s: s.with_(**{volume: span.write(getattr(s, volume), values(s))}),
        durable,
        volume,
        lambda s, junk: s.with_(**{volume: span.write(getattr(s, volume), junk)}),
    )


def _record(
    site: Site, label: str, change: Callable[[ZState], dict[str, Any]], durable: bool = True
) -> ZWrite:
    return ZWrite(site, f"{site} journal: {label}", lambda s: s.with_(**change(s)), durable,
                  f"{site}.journal")  # fmt: skip


JOURNALED: dict[Site, tuple[str, ...]] = {
    "local": ("copy_map", "future_map", "out_of_sync", "cycle", "pk"),
    "remote": ("received_map", "target_map", "committed", "pc"),
}
"""what a site's journal holds, with the ghost each record moves (P_k with the local commit
record, P_c with the remote one): a record lost to a power loss takes its ghost with it"""


def _mirror(
    s: ZState, span: Span, data: Callable[[ZState], Any], opts: Options
) -> list[tuple[str, Any, list[ZWrite]]]:
    """_mirror_plan: (label, guard, writes) per branch of target protection; `data` is the
    array whose values go to I2 at the span."""
    n = span.name
    receive = _record(
        "remote", f"received += {n}", lambda t: {"received_map": span.add(t.received_map)}
    )
    protect_record = _record(
        "remote",
        f"target -= {n}, received += {n}",
        lambda t: {
            "target_map": span.remove(t.target_map),
            "received_map": span.add(t.received_map),
        },
    )
    # one write: I2's committed values of the span's grains still in the target map
    save_target = ZWrite(
        "remote",
        f"target[{n} in target_map]",
        lambda t: t.with_(target=span.protected(t.target_map).write(t.target, t.i2)),
        opts.flush_protection,
        "target",
        lambda t, junk: t.with_(target=span.protected(t.target_map).write(t.target, junk)),
    )
    to_i2 = _volume("i2", span, data, opts.flush_copy_data)
    if not opts.target_protection:
        return [("", z3.BoolVal(True), [receive, to_i2])]
    protect = span.meets(s.target_map)
    if not opts.protect_extents:  # the mutant: an extent of several grains goes unprotected
        protect = z3.And(protect, span.single())
    return [
        ("protect", protect, [save_target, protect_record, to_i2]),
        ("", z3.Not(protect), [receive, to_i2]),
    ]


def _copy(
    s: ZState, span: Span, opts: Options, also: Callable[[ZState], dict[str, Any]] = lambda t: {}
) -> list[tuple[str, Any, list[ZWrite], ZWrite]]:
    """_copy_plan: (label, guard, writes before the local record, the local record)."""
    n = span.name
    to_i1 = _volume("i1", span, lambda t: t.source, opts.flush_copy_data)
    branches: list[tuple[str, Any, list[ZWrite], ZWrite]] = []
    for label, guard, writes in _mirror(s, span, lambda t: t.source, opts):
        record = _record(
            "local", f"copy -= {n}", lambda t: {"copy_map": span.remove(t.copy_map), **also(t)}
        )
        branches.append(
            (f"mirrored{',' + label if label else ''}", z3.And(s.mirror_ok, guard),
             [to_i1, *writes], record)
        )  # fmt: skip
    out_of_sync = _record(
        "local",
        f"copy -= {n}, out_of_sync += {n}",
        lambda t: {
            "copy_map": span.remove(t.copy_map),
            "out_of_sync": span.add(t.out_of_sync),
            **also(t),
        },
    )
    branches.append(("link down", z3.Not(s.mirror_ok), [to_i1], out_of_sync))
    return branches


# ---- the actions, named as in the model -------------------------------------------------------


def HostWrite(s: ZState, g: Any, v: Any, opts: Options) -> list[Case]:  # noqa: N802
    def ack(t: ZState) -> ZState:
        return t.with_(acked=z3.Store(t.acked, g, v))

    def torn(t: ZState) -> ZState:  # not acknowledged: the host sees what the grain holds
        return t.with_(acked=z3.Store(t.acked, g, t.source[g]))

    grain = Span(g=g)
    write_source = _volume("source", grain, lambda t: z3.K(Grain, v), opts.flush_before_ack)
    cases: list[Case] = []
    ready = s.local_up
    if opts.copy_on_write:
        cow = s.copy_map[g]
        for label, guard, writes, record in _copy(
            s, grain, opts, also=lambda t: {"future_map": _add(t.future_map, g)}
        ):
            ordered = (
                [record, write_source] if opts.journal_before_source else [write_source, record]
            )
            cases.append(
                Case(f"copy-on-write, {label}", z3.And(ready, cow, guard),
                     (*writes, *ordered), ack, torn)
            )  # fmt: skip
    else:
        cow = z3.BoolVal(False)
    track = _record("local", "future += g", lambda t: {"future_map": _add(t.future_map, g)})
    untracked = z3.And(ready, z3.Not(cow), z3.Not(s.future_map[g]))
    ordered = [track, write_source] if opts.journal_before_source else [write_source, track]
    cases.append(Case("first write since the point", untracked, tuple(ordered), ack, torn))
    tracked = z3.And(ready, z3.Not(cow), s.future_map[g])
    cases.append(Case("already tracked", tracked, (write_source,), ack, torn))
    return cases


def CopyGrain(s: ZState, e: Any, opts: Options) -> list[Case]:  # noqa: N802
    extent = Span(e=e, name="e")
    enabled = z3.And(s.local_up, extent.nonempty(), extent.within(s.copy_map))
    return [
        Case(label, z3.And(enabled, guard),
             (*writes, record) if opts.data_before_record else (record, *writes))
        for label, guard, writes, record in _copy(s, extent, opts)
    ]  # fmt: skip


def ResyncGrain(s: ZState, e: Any, opts: Options) -> list[Case]:  # noqa: N802
    extent = Span(e=e, name="e")
    enabled = z3.And(s.local_up, s.mirror_ok, extent.nonempty(), extent.within(s.out_of_sync))
    done = _record(
        "local", "out_of_sync -= e", lambda t: {"out_of_sync": extent.remove(t.out_of_sync)}
    )
    return [
        Case(label or "resync", z3.And(enabled, guard), (*writes, done))
        for label, guard, writes in _mirror(s, extent, lambda t: t.i1, opts)
    ]


def CommitPoint(s: ZState, opts: Options) -> list[Case]:  # noqa: N802
    enabled = z3.And(s.local_up, s.mirror_ok, _empty(s.out_of_sync))
    if opts.commit_after_drain:
        enabled = z3.And(enabled, _empty(s.copy_map))
    remote = _record(
        "remote",
        "committed := k, target |= received",
        lambda t: {
            "committed": t.cycle,
            "target_map": _union(t.target_map, t.received_map),
            "received_map": EMPTY,
            "pc": t.pk,
        },
        opts.flush_commit,
    )

    def next_cycle(t: ZState) -> dict[str, Any]:
        merged = _union(t.copy_map, t.future_map) if opts.map_rule == "merge" else t.future_map
        return {"cycle": t.cycle + 1, "copy_map": merged, "future_map": EMPTY, "pk": t.acked}

    local = _record("local", "cycle := k+1, copy := next, future := {}", next_cycle)
    return [Case("commit", enabled, (remote, local))]


def DrainTarget(s: ZState, e: Any, opts: Options, after: Any) -> list[Case]:  # noqa: N802
    """`after`: the grain after the extent's end, which the drain-clears-past-its-end mutant
    clears too.  Grains are unordered here, so for the proof it is any grain (as an extent is
    any grain set); bounded model checking, whose grains are in order, gives the grain after
    the run."""
    extent = Span(e=e, name="e")
    enabled = z3.And(s.remote_up, extent.nonempty(), extent.within(s.target_map))
    cleared, label = extent, "target -= e"
    if not opts.drain_clears_its_extent:  # the mutant: one grain past the end as well
        cleared, label = Span(e=z3.Store(e, after, True), name="e+1"), "target -= e and g"
    clear = _record("remote", label, lambda t: {"target_map": cleared.remove(t.target_map)})
    return [Case("drain", enabled, (_volume("target", extent, lambda t: t.i2), clear))]


# ---- transitions --------------------------------------------------------------------------------


def _down(s: ZState, site: Site) -> ZState:
    return s.with_(**{f"{site}_up": False})


def _in_flight(writes: tuple[ZWrite, ...], site: Site, completed: bool) -> list[int]:
    """Indices of `site`'s writes that no flush of their device covers after `writes` (the
    last write is in flight until its own flush, done only if the case `completed`)."""
    flight: list[int] = []
    for index, write in enumerate(writes):
        if write.site != site:
            continue
        flight.append(index)
        flushed = write.durable and (completed or index < len(writes) - 1)
        if flushed:  # the device's flush covers this write and every earlier one to it
            flight = [j for j in flight if writes[j].device != write.device]
    return flight


def _power_loss(
    states: list[ZState], writes: tuple[ZWrite, ...], site: Site, flight: list[int], tag: str
) -> list[tuple[str, ZState]]:
    """The states a power loss at `site` leaves after `writes` (states[i]: after the first i):
    each volume write in flight holds any values at its grains (lost, whole or torn), and of
    the journal records in flight any newest few are lost (a journal replays a prefix of its
    records), their fields and ghost as before the first one lost."""
    records = [j for j in flight if writes[j].tear is None]
    outcomes = []
    for lost in range(len(records) + 1):
        state = states[len(writes)]
        if lost:
            before = states[records[-lost]]
            state = state.with_(**{f: getattr(before, f) for f in JOURNALED[site]})
        for j in flight:
            tear = writes[j].tear
            if tear is not None:  # a grain the write did not change stays as it was
                was, now = (getattr(states[k], writes[j].device) for k in (j, j + 1))
                junk = z3.Array(f"junk{tag}.{len(writes)}.{j}.{lost}", Grain, Val)
                state = tear(state, z3.Map(_ITE, z3.Map(_EQ, was, now), now, junk))
        torn = [writes[j].label for j in flight if writes[j].tear is not None]
        words = ", ".join([*(f"{w} lost, whole or torn" for w in torn),
                           *(["the newest record lost"] if lost == 1 else []),
                           *([f"the newest {lost} records lost"] if lost > 1 else [])])  # fmt: skip
        outcomes.append((words or "nothing in flight", state))
    return outcomes


def case_outcomes(
    s: ZState, case: Case, tag: str = ""
) -> list[tuple[str, ZState, Site | None, int, bool]]:
    """(label, state after, crashed site, writes of that site done, power lost) per way the
    case can end: complete; cut by a crash after any write (every write issued is on the
    media); or cut by a power loss after any write, or after the case completed, that leaves
    the writes in flight (issued, not yet flushed) lost, whole or torn."""
    outcomes: list[tuple[str, ZState, Site | None, int, bool]] = []
    states = [s]
    for index, write in enumerate(case.writes, start=1):
        states.append(write.apply(states[-1]))
        done = sum(w.site == write.site for w in case.writes[:index])
        cut = case.on_cut(_down(states[-1], write.site))
        outcomes.append((f"cut after {write.label}", cut, write.site, done, False))
        issued = case.writes[:index]
        flight = _in_flight(issued, write.site, completed=False)
        for words, lost in _power_loss(states, issued, write.site, flight, f"{tag}.{case.label}"):
            label = f"power lost after {write.label}: {words}"
            outcomes.append((label, case.on_cut(_down(lost, write.site)), write.site, done,
                             True))  # fmt: skip
    outcomes.append(("completes", case.on_complete(states[-1]), None, 0, False))
    for site in SITES:
        flight = _in_flight(case.writes, site, completed=True)
        if not flight:
            continue
        for words, lost in _power_loss(states, case.writes, site, flight, f"{tag}.{case.label}"):
            label = f"completes, then power lost at the {site} site: {words}"
            done = sum(w.site == site for w in case.writes)
            outcomes.append((label, _down(case.on_complete(lost), site), site, done, True))
    return outcomes


@dataclass(frozen=True)
class Variant:
    """One way an action can go: a case of its plan, completed or cut by a crash."""

    label: str
    formula: Any  # over pre, post and the action's parameters
    crash: tuple[Site, int] | None = None  # the crashed site and how many of its writes landed
    power_lost: bool = False
    """the crash is a power loss: writes in flight lost, whole or torn (a trace of it needs
    `pitmirror crash` to pin the crash state)"""


@dataclass(frozen=True)
class Transition:
    """One action of the model as a relation between `pre` and `post`, with its parameters."""

    name: str
    params: dict[str, Any]
    variants: list[Variant]

    def relation(self) -> Any:
        return z3.Or([v.formula for v in self.variants])


def transitions(
    pre: ZState, post: ZState, opts: Options, tag: str = "",
    after: Callable[[Any], Any] | None = None,
) -> list[Transition]:  # fmt: skip
    """Every action of design A as a relation, its parameters fresh constants named by `tag`;
    `after(e)`: the grain after the extent `e` where grains are in order (else any grain)."""
    g = z3.Const(f"g{tag}", Grain)
    v = z3.Const(f"v{tag}", Val)
    e = z3.Array(f"e{tag}", Grain, z3.BoolSort())
    grain_actions: dict[str, list[Case]] = {
        "HostWrite": HostWrite(pre, g, v, opts),
        "CopyGrain": CopyGrain(pre, e, opts),
        "ResyncGrain": ResyncGrain(pre, e, opts),
        "DrainTarget": DrainTarget(pre, e, opts, after=g if after is None else after(e)),
        "CommitPoint": CommitPoint(pre, opts),
    }
    out: list[Transition] = []
    for name, cases in grain_actions.items():
        params: dict[str, Any] = {"extent": e}
        if name == "DrainTarget" and not opts.drain_clears_its_extent and after is None:
            params["after"] = g
        if name == "HostWrite":
            params = {"grain": g, "data": v}
        elif name == "CommitPoint":
            params = {}
        variants = [
            Variant(
                f"{case.label}, {label}",
                z3.And(case.guard, same(after, post)),
                None if site is None else (site, done),
                power_lost,
            )
            for case in cases
            for label, after, site, done, power_lost in case_outcomes(pre, case, f"{name}{tag}")
        ]
        out.append(Transition(name, params, variants))
    # a host read changes nothing durable: what it returns is the `reads` obligation
    out.append(
        Transition("HostRead", {"grain": g}, [Variant("", z3.And(pre.local_up, same(pre, post)))])
    )
    link_down = z3.And(pre.link_up, same(pre.with_(link_up=False), post))
    link_up = z3.And(z3.Not(pre.link_up), same(pre.with_(link_up=True), post))
    out.append(Transition("LinkDown", {}, [Variant("", link_down)]))
    out.append(Transition("LinkUp", {}, [Variant("", link_up)]))
    for site in SITES:
        up = pre.site_up(site)
        crash = z3.And(up, same(_down(pre, site), post))
        recover = z3.And(z3.Not(up), same(pre.with_(**{f"{site}_up": True}), post))
        out.append(Transition(f"CrashSite({site})", {"site": site}, [Variant("now", crash)]))
        out.append(Transition(f"Recover({site})", {"site": site}, [Variant("", recover)]))
    return out


# ---- the invariant ------------------------------------------------------------------------------


def _all(body: Callable[[Any], Any]) -> Any:
    x = z3.Const("gx", Grain)
    return z3.ForAll([x], body(x))


def goal(s: ZState) -> Any:
    """inv_target_is_committed_image: T[g], or I2[g] while g is in target_map, is P_c[g]."""
    return _all(lambda x: z3.If(s.target_map[x], s.i2[x], s.target[x]) == s.pc[x])


@dataclass(frozen=True)
class Conjunct:
    """A numbered clause of the invariant; `at` is its per-grain body when it has one."""

    name: str
    gloss: str
    check: Callable[[ZState], Any]
    at: Callable[[ZState, Any], Any] | None = None


def _per_grain(name: str, gloss: str, at: Callable[[ZState, Any], Any]) -> Conjunct:
    return Conjunct(name, gloss, lambda s: _all(lambda x: at(s, x)), at)


# Numbered conjuncts; together they are inductive and imply the goal (the first two are its
# two halves).
CONJUNCTS: list[Conjunct] = [
    _per_grain("inv_1_committed_image_in_i2", "a grain in target_map holds P_c in I2",
               lambda s, x: z3.Implies(s.target_map[x], s.i2[x] == s.pc[x])),
    _per_grain("inv_2_committed_image_in_target", "a grain not in target_map holds P_c in T",
               lambda s, x: z3.Implies(z3.Not(s.target_map[x]), s.target[x] == s.pc[x])),
    _per_grain("inv_3_received_is_unprotected", "a grain received this cycle is not in target_map",
               lambda s, x: z3.Implies(s.received_map[x], z3.Not(s.target_map[x]))),
    _per_grain("inv_4_untouched_source_is_pk", "a grain not written since CP_k holds P_k in S",
               lambda s, x: z3.Implies(z3.Not(s.future_map[x]), s.source[x] == s.pk[x])),
    _per_grain("inv_5_copy_before_write", "a grain still to copy was not written since CP_k",
               lambda s, x: z3.Implies(s.copy_map[x], z3.Not(s.future_map[x]))),
    _per_grain("inv_6_copied_is_pk_in_i2", "a copied, in-sync grain holds P_k in I2",
               lambda s, x: z3.Implies(z3.Not(z3.Or(s.copy_map[x], s.out_of_sync[x])),
                                       s.i2[x] == s.pk[x])),
    _per_grain("inv_7_out_of_sync_is_pk_in_i1", "an out-of-sync grain is copied, P_k in I1",
               lambda s, x: z3.Implies(s.out_of_sync[x],
                                       z3.And(s.i1[x] == s.pk[x], z3.Not(s.copy_map[x])))),
    _per_grain("inv_8_unchanged_since_pc", "a settled grain not received this cycle: P_k = P_c",
               lambda s, x: z3.Implies(
                   z3.Not(z3.Or(s.copy_map[x], s.out_of_sync[x], s.received_map[x])),
                   s.pk[x] == s.pc[x])),
    Conjunct("inv_9_commit_trails_cycle", "c >= 0 is k-1, or k between the two commit records",
             lambda s: z3.And(s.committed >= 0,
                              z3.Or(s.committed == s.cycle - 1, s.committed == s.cycle))),
    Conjunct("inv_10_half_committed", "between the commit records P_c = P_k, nothing in flight",
             lambda s: z3.Implies(s.committed == s.cycle, z3.And(
                 s.pc == s.pk, _empty(s.copy_map), _empty(s.out_of_sync),
                 _empty(s.received_map)))),
    _per_grain("inv_11_no_ack_lost", "the source holds every acknowledged write",
               lambda s, x: s.source[x] == s.acked[x]),
]  # fmt: skip


def invariant(s: ZState) -> Any:
    return z3.And([c.check(s) for c in CONJUNCTS])


def reads(s: ZState) -> Any:
    """The host reads the source: every grain holds its newest acknowledged write."""
    return _all(lambda x: s.source[x] == s.acked[x])


def monotonic(pre: ZState, post: ZState) -> Any:
    """inv_commit_monotonic: c never goes back, and P_c only changes when c moves on."""
    return z3.And(
        post.committed >= pre.committed,
        z3.Implies(post.committed == pre.committed, post.pc == pre.pc),
    )
