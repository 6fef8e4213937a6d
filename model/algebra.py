"""The algebra a design's actions are written in once, and its concrete interpretation.

A design states each action's guard and write plan as Python functions over an `Algebra` `x`:
the values are the model's own (volumes as grain -> value maps, deltas as partial maps, grain
extents, integers, Booleans, families of them per member or remote), and every operation that
branches or quantifies goes through `x`.  The same function is then evaluated two ways:

- concretely (`Concrete`, here): the values are the reference model's tuples, a guard stops at
  its first false clause and names it in words, and quantifiers run over the group's members,
  remotes and a delta's grains;
- over Z3 terms (proofs/algebra_z3.py): the values are arrays over uninterpreted sorts and the
  same function yields the action's relation for the proof and the model checker.

So what is proved is what the harness runs: there is one text of each action, not two kept
equal by hand.  Plain Python operators that mean the same in both interpretations may be used
directly on values: `==`, `!=`, `+`, `-`, `>=` and indexing (`image[g]`, `family[m]`); `and`,
`or`, `not` and `if` may not (they would run once, in Python, on a Z3 term), which is what
`x.and_`, `x.or_`, `x.not_` and `x.ite` are for.

A guard is a generator of `Clause`s, each a condition and the reason the action is disabled
when it is false; later clauses may assume the earlier ones hold (the concrete interpretation
stops at the first false one, Z3 takes the conjunction).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from pitmirror.model.extents import grains_are

Term = Any
"""A value of the algebra: a Python value concretely, a z3 expression symbolically."""

Delta = tuple[tuple[int, int], ...]
"""A partial map from grain to value, concretely: sorted (grain, value) pairs."""

Grains = frozenset[int] | range
"""A grain set, concretely: a frozenset of grain offsets, or an extent's range."""

NONE = -1
"""The point number of a delta that holds no point (a remote between points)."""


@dataclass(frozen=True)
class Clause:
    """One conjunct of a guard, and why the action is disabled when it is false (a string, or
    a function that words it from the concrete state; never called on Z3 terms).  `name`: what
    a variant that drops or replaces the clause calls it."""

    holds: Term
    why: str | Callable[[], str]
    name: str | None = None

    def reason(self) -> str:
        return self.why if isinstance(self.why, str) else self.why()


Guard = Callable[..., Iterator[Clause]]


@dataclass(frozen=True)
class Write:
    """One durable write of an action's plan, at `site`: the fields it changes, every value
    read from the state *before the action* (no write of a plan reads what an earlier one
    wrote).  A volume write changes one image at `grains` (a grain set or an extent), which a
    power loss leaves lost, whole or torn; a journal record (`grains` None) changes its fields
    together, which a power loss loses whole.  `durable`: the design flushes it before the
    next write of the plan.  `at`: where in its field a volume write's image is, when the
    field is a family of them (a member; a remote and a member), outermost first; a delta's
    image is its values, apart from which grains it holds (written by the record after)."""

    site: str
    label: str
    changes: Mapping[str, Term]
    durable: bool = True
    grains: Term | None = None
    at: tuple[Term, ...] = ()

    @property
    def volume(self) -> str | None:
        """The image a volume write changes; None for a journal record."""
        return None if self.grains is None else next(iter(self.changes))

    @property
    def device(self) -> str:
        """What a flush covers: the volume, or the site's journal."""
        return self.volume or f"{self.site}.journal"


def unchanged(state: Any) -> Any:
    """The ghost update of a branch that sets no ghost field."""
    return state


@dataclass(frozen=True)
class Case:
    """One branch of an action's write plan: when it applies (the branches of a plan exclude
    each other), its writes in order, and the ghost fields set once every write landed
    (`completed`) or once a crash cut the plan (`cut`, given the state the crash left)."""

    label: str
    when: Term
    writes: tuple[Write, ...]
    completed: Callable[[Any], Any] = unchanged
    cut: Callable[[Any], Any] = unchanged


Plan = Callable[..., list[Case]]


@dataclass(frozen=True)
class PlannedRule:
    """One action of a design: its parameters in the group's terms, its guard and its write
    plan.  `guard(x, options, state, **params)` yields clauses; `plan(x, options, state,
    **params)` lists the plan's branches, and the update is applying the one that applies,
    write by write.  `design`: whose state the rule is written over ("" for a rule a variant
    file made from nothing)."""

    params: tuple[str, ...]
    guard: Guard
    plan: Plan
    design: str = ""

    def with_guard(self, guard: Guard) -> PlannedRule:
        """The rule with another guard (the plan as it was): a variant's changed guard."""
        return PlannedRule(self.params, guard, self.plan, self.design)

    def with_plan(self, plan: Plan) -> PlannedRule:
        """The rule with another write plan (the guard as it was)."""
        return PlannedRule(self.params, self.guard, plan, self.design)


def the_case(cases: list[Case], name: str) -> Case:
    """The one branch of a plan that applies, concretely."""
    applying = [case for case in cases if case.when]
    assert len(applying) == 1, f"{name}: {len(applying)} branches of its plan apply"
    return applying[0]


def at_once(update: Callable[..., Any]) -> Plan:
    """The plan of an action that writes nothing (a site or link going down or coming back, a
    read): one branch, `update` applied as it completes."""

    def plan(x: Algebra, o: Any, s: Any, **params: Term) -> list[Case]:
        return [Case("", x.true, (), lambda t: update(x, o, t, **params))]

    return plan


def applied(state: Any, writes: Iterable[Write]) -> Any:
    """The state after the writes, in order (`state.with_` takes a write's changes)."""
    for write in writes:
        state = state.with_(**write.changes)
    return state


class Algebra(Protocol):
    """The operations a design's rules may use beyond `==`, `!=`, `+`, `-`, `>=` and indexing."""

    @property
    def true(self) -> Term: ...
    @property
    def false(self) -> Term: ...
    @property
    def empty(self) -> Term:
        """the delta that holds no grain"""
        ...

    def and_(self, *terms: Term) -> Term: ...
    def or_(self, *terms: Term) -> Term: ...
    def not_(self, term: Term) -> Term: ...
    def implies(self, a: Term, b: Term) -> Term: ...
    def ite(self, cond: Term, then: Term, other: Term) -> Term: ...
    def possible(self, cond: Term) -> bool:
        """Whether a plan's branch under `cond` may apply, to build it or not: concretely
        the condition's value (a branch that cannot apply is not worth building), over Z3
        always (every branch is part of the relation)."""
        ...

    # quantifiers over the group's members and remotes
    def all_members(self, body: Callable[[Term], Term]) -> Term: ...
    def some_member(self, body: Callable[[Term], Term]) -> Term: ...
    def all_remotes(self, body: Callable[[Term], Term]) -> Term: ...
    def some_remote(self, body: Callable[[Term], Term]) -> Term: ...

    # families (per member, per remote, per point) and volumes (per grain)
    def store(self, family: Term, index: Term, value: Term) -> Term: ...
    def members_const(self, value: Term) -> Term: ...
    def remotes_const(self, value: Term) -> Term: ...
    def zeros(self) -> Term:
        """a volume every grain of which holds zero (never written)"""
        ...

    def history(self, images: Sequence[Term]) -> Term:
        """the per-point ghost images P_0, P_1, ... as a family indexed by point"""
        ...

    def record(self, history: Term, point: Term, image: Term) -> Term:
        """`history` with P_point recorded (the point after the newest)"""
        ...

    # extents: a run of consecutive grains of one member
    def nonempty(self, extent: Term) -> Term: ...
    def every_in(self, extent: Term, body: Callable[[Term], Term]) -> Term: ...
    def some_in(self, extent: Term, body: Callable[[Term], Term]) -> Term: ...
    def covered(self, delta: Term, extent: Term) -> Term:
        """every grain of the extent is in the delta"""
        ...

    # deltas: partial maps from grain to value
    def held(self, delta: Term, grain: Term) -> Term: ...
    def value(self, delta: Term, grain: Term) -> Term: ...
    def put(self, delta: Term, grain: Term, value: Term) -> Term: ...
    def whole(self, image: Term) -> Term:
        """the delta that holds every grain, with the image's values"""
        ...

    def includes(self, delta: Term, part: Term) -> Term:
        """`delta` holds every grain `part` holds, with the same value"""
        ...

    def every_held(self, delta: Term, body: Callable[[Term, Term], Term]) -> Term:
        """`body(grain, value)` for every grain the delta holds"""
        ...

    def staged(self, delta: Term, extent: Term, source: Term) -> Term:
        """`source`'s values at `extent` written into the delta's slots, no grain added: a
        data write before the record that adds its grains.  Concretely a delta holds only the
        grains it has, so only those already held change (a rewrite in place)."""
        ...

    def received(self, delta: Term, extent: Term, source: Term) -> Term:
        """`delta` with the source delta's grains of the extent added (the source holds them)"""
        ...

    def merged(self, image: Term, extent: Term, source: Term) -> Term:
        """`image` with the source delta's values written at the extent's grains (one write)"""
        ...

    def grains_of(self, delta: Term) -> Term:
        """the grains the delta holds, as a grain set (an extent where a rule needs one)"""
        ...

    def without(self, delta: Term, grains: Term) -> Term:
        """the delta without the grains of the set"""
        ...

    def overlaid(self, image: Term, *deltas: Term) -> Term:
        """`image` with each delta's values at the grains it holds, a later delta over an
        earlier one (what a read through them returns, grain by grain, as one image)"""
        ...

    def read(self, image: Term, *deltas: Term, grain: Term) -> Term:
        """a grain read through deltas over a base: the first delta that holds it, else the
        image"""
        ...

    # grain sets: which grains of a volume a map tracks
    @property
    def no_grains(self) -> Term: ...
    def all_grains(self) -> Term: ...
    def just(self, grain: Term) -> Term:
        """the grain set that holds `grain` alone"""
        ...

    def in_set(self, grains: Term, grain: Term) -> Term: ...
    def union(self, a: Term, b: Term) -> Term: ...
    def minus(self, a: Term, b: Term) -> Term: ...
    def common(self, a: Term, b: Term) -> Term: ...
    def no_grain_in(self, grains: Term) -> Term: ...
    def one_grain(self, extent: Term) -> Term:
        """the (non-empty) extent is one grain"""
        ...

    def write(self, image: Term, grains: Term, values: Term) -> Term:
        """`image` with the image `values`' values at `grains` (one write)"""
        ...

    # words, for reasons (concrete only: the symbolic algebra never asks a reason)
    @property
    def home(self) -> str: ...
    def link_name(self, remote: Term) -> str: ...
    def remote_name(self, remote: Term) -> str: ...
    def member_name(self, member: Term) -> str: ...
    def missing(self, delta: Term, extent: Term, member: Term, where: str) -> str: ...
    def present(self, delta: Term, extent: Term, member: Term, where: str) -> str: ...
    def outside(self, grains: Term, extent: Term, where: str) -> str:
        """the extent's grains not in the grain set, in words"""
        ...


# ---- the concrete interpretation ---------------------------------------------------------------


def delta_get(delta: Delta, offset: int) -> int | None:
    """The value a delta holds for a grain, or None.

    pre: all(a[0] < b[0] for a, b in zip(delta, delta[1:]))
    post: (__return__ is None) == all(g != offset for g, _ in delta)
    """
    # (offset,) sorts just before (offset, value): tuples compare in C, no key per probe
    at = bisect.bisect_left(delta, (offset,))
    return delta[at][1] if at < len(delta) and delta[at][0] == offset else None


def _bounds(delta: Delta, offsets: range) -> tuple[int, int]:
    """Where the extent `offsets` begins and ends in the sorted delta (two bisections)."""
    lo = bisect.bisect_left(delta, (offsets.start,))
    return lo, bisect.bisect_left(delta, (offsets.stop,), lo)


def delta_slice(delta: Delta, offsets: range) -> Delta:
    """The delta's entries within the extent `offsets`."""
    lo, hi = _bounds(delta, offsets)
    return delta[lo:hi]


def _entries(delta: Delta, extent: Grains) -> Delta:
    """The delta's entries at the grains of an extent or a grain set."""
    if isinstance(extent, range):
        return delta_slice(delta, extent)
    return tuple(entry for entry in delta if entry[0] in extent)


def delta_update(delta: Delta, values: Mapping[int, int]) -> Delta:
    """The delta with every grain of `values` set (an extent's redirect-on-write)."""
    if not values:
        return delta
    lo, hi = _bounds(delta, range(min(values), max(values) + 1))
    inside = {**dict(delta[lo:hi]), **values}
    return delta[:lo] + tuple(sorted(inside.items())) + delta[hi:]


@dataclass(frozen=True)
class Concrete:
    """The algebra over the reference model's values for one consistency group: members and
    remotes are indices into the group's, extents are ranges of grain offsets, volumes are
    tuples and deltas sorted pairs; `grains` is each member's size."""

    home: str = ""
    members: Sequence[str] = ()
    remotes: Sequence[str] = ()
    grains: int = 0
    first_grains: Sequence[int] = ()
    """each member's first grain in the topology's numbering (for reasons)"""

    true = True
    false = False
    empty: ClassVar[Delta] = ()

    def and_(self, *terms: bool) -> bool:
        return all(terms)

    def or_(self, *terms: bool) -> bool:
        return any(terms)

    def not_(self, term: bool) -> bool:
        return not term

    def implies(self, a: bool, b: bool) -> bool:
        return not a or b

    def ite(self, cond: bool, then: Term, other: Term) -> Term:
        return then if cond else other

    def possible(self, cond: bool) -> bool:
        return cond

    def all_members(self, body: Callable[[int], bool]) -> bool:
        return all(body(m) for m in range(len(self.members)))

    def some_member(self, body: Callable[[int], bool]) -> bool:
        return any(body(m) for m in range(len(self.members)))

    def all_remotes(self, body: Callable[[int], bool]) -> bool:
        return all(body(r) for r in range(len(self.remotes)))

    def some_remote(self, body: Callable[[int], bool]) -> bool:
        return any(body(r) for r in range(len(self.remotes)))

    def store(self, family: tuple[Term, ...], index: int, value: Term) -> tuple[Term, ...]:
        return family[:index] + (value,) + family[index + 1 :]

    def members_const(self, value: Term) -> tuple[Term, ...]:
        return (value,) * len(self.members)

    def remotes_const(self, value: Term) -> tuple[Term, ...]:
        return (value,) * len(self.remotes)

    def zeros(self) -> tuple[int, ...]:
        return (0,) * self.grains

    def history(self, images: Sequence[Term]) -> tuple[Term, ...]:
        return tuple(images)

    def record(self, history: tuple[Term, ...], point: int, image: Term) -> tuple[Term, ...]:
        assert point == len(history), "a point is recorded after the newest"
        return (*history, image)

    def nonempty(self, extent: range) -> bool:
        return len(extent) > 0

    def every_in(self, extent: range, body: Callable[[int], bool]) -> bool:
        return all(body(g) for g in extent)

    def some_in(self, extent: range, body: Callable[[int], bool]) -> bool:
        return any(body(g) for g in extent)

    def covered(self, delta: Delta, extent: Grains) -> bool:
        return len(_entries(delta, extent)) == len(extent)

    def held(self, delta: Delta, grain: int) -> bool:
        return delta_get(delta, grain) is not None

    def value(self, delta: Delta, grain: int) -> int | None:
        """None where the delta does not hold the grain (Z3: some value the rules may not
        rely on), which equals no seed"""
        return delta_get(delta, grain)

    def put(self, delta: Delta, grain: int, value: int) -> Delta:
        return delta_update(delta, {grain: value})

    def whole(self, image: tuple[int, ...]) -> Delta:
        return tuple(enumerate(image))

    def includes(self, delta: Delta, part: Delta) -> bool:
        # one pass over both entry lists, not a bisection of `delta` per entry of `part`
        return not part or set(part) <= set(delta)

    def every_held(self, delta: Delta, body: Callable[[int, int], bool]) -> bool:
        return all(body(g, v) for g, v in delta)

    def staged(self, delta: Delta, extent: Grains, source: Delta) -> Delta:
        held = {g: v for g, v in _entries(source, extent) if delta_get(delta, g) is not None}
        return delta_update(delta, held) if held else delta

    def received(self, delta: Delta, extent: Grains, source: Delta) -> Delta:
        return delta_update(delta, self._values(source, extent))

    def grains_of(self, delta: Delta) -> frozenset[int]:
        return frozenset(g for g, _ in delta)

    def without(self, delta: Delta, grains: Grains) -> Delta:
        return tuple((g, v) for g, v in delta if g not in grains)

    def overlaid(self, image: tuple[int, ...], *deltas: Delta) -> tuple[int, ...]:
        if not any(deltas):
            return image
        out = list(image)
        for delta in deltas:
            for g, v in delta:
                out[g] = v
        return tuple(out)

    def merged(self, image: tuple[int, ...], extent: Grains, source: Delta) -> tuple[int, ...]:
        values = self._values(source, extent)
        if isinstance(extent, range):
            return image[: extent.start] + tuple(values[g] for g in extent) + image[extent.stop :]
        out = list(image)
        for g, v in values.items():
            out[g] = v
        return tuple(out)

    def read(self, image: tuple[int, ...], *deltas: Delta, grain: int) -> int:
        for delta in deltas:
            found = delta_get(delta, grain)
            if found is not None:
                return found
        return image[grain]

    # grain sets are frozensets of grain offsets, and an extent (a range) is one too
    no_grains: ClassVar[frozenset[int]] = frozenset()

    def all_grains(self) -> frozenset[int]:
        return frozenset(range(self.grains))

    def just(self, grain: int) -> range:
        return range(grain, grain + 1)

    def in_set(self, grains: frozenset[int] | range, grain: int) -> bool:
        return grain in grains

    def union(self, a: Grains, b: Grains) -> frozenset[int]:
        return frozenset(a).union(b)

    def minus(self, a: Grains, b: Grains) -> frozenset[int]:
        return frozenset(a).difference(b)

    def common(self, a: Grains, b: Grains) -> frozenset[int]:
        return frozenset(a).intersection(b)

    def no_grain_in(self, grains: Grains) -> bool:
        return not grains

    def one_grain(self, extent: Grains) -> bool:
        return len(extent) == 1

    def write(self, image: tuple[int, ...], grains: Grains, values: tuple[int, ...]
              ) -> tuple[int, ...]:  # fmt: skip
        if isinstance(grains, range):  # one run: two slices, not a grain at a time
            return image[: grains.start] + values[grains.start : grains.stop] + image[grains.stop :]
        written = list(image)
        for g in grains:
            written[g] = values[g]
        return tuple(written)

    @staticmethod
    def _values(delta: Delta, extent: Grains) -> dict[int, int]:
        values = dict(_entries(delta, extent))
        assert len(values) == len(extent), "the source delta holds every grain of the extent"
        return values

    def link_name(self, remote: int) -> str:
        return "-".join(sorted((self.home, self.remotes[remote])))

    def remote_name(self, remote: int) -> str:
        return self.remotes[remote]

    def member_name(self, member: int) -> str:
        return self.members[member]

    def missing(self, delta: Delta, extent: range, member: int, where: str) -> str:
        held = {g for g, _ in delta_slice(delta, extent)}
        return self._grains([g for g in extent if g not in held], member, f"not in {where}")

    def present(self, delta: Delta, extent: range, member: int, where: str) -> str:
        return self._grains([g for g, _ in delta_slice(delta, extent)], member, where)

    def outside(self, grains: Grains, extent: Grains, where: str) -> str:
        return grains_are(frozenset(extent).difference(grains), f"not in {where}")

    def _grains(self, offsets: Iterable[int], member: int, what: str) -> str:
        first = self.first_grains[member]
        return grains_are([first + g for g in offsets], what)


def first_false(clauses: Iterator[Clause]) -> str | None:
    """The reason of a concrete guard's first false clause, or None when every clause holds
    (the clauses after it are not evaluated: they may assume it)."""
    for clause in clauses:
        if not clause.holds:
            return clause.reason()
    return None
