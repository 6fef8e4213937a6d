"""The algebra's two interpretations agree, operation by operation.

A design's rules are evaluated concretely (model/algebra.py) for the reference model and over
Z3 terms (proofs/algebra_z3.py) for the proof, so the one thing that could make the proof speak
of another design than the harness runs is an operation meaning two things.  Each operation is
evaluated both ways on drawn values (volumes, deltas, extents, families over two members and
two remotes, three grains); the concrete result, written as Z3 facts, must equal the symbolic
one.  Equal deltas hold the same grains with the same values (what a delta holds nowhere else
is no part of it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import z3
from hypothesis import given, settings
from hypothesis import strategies as st

from pitmirror.model.algebra import Concrete, Delta
from pitmirror.proofs.algebra_z3 import Pair
from pitmirror.proofs.freeze_overlay import finite_encoding
from pitmirror.proofs.sorts import ZERO, Val

MEMBERS, REMOTES, GRAINS = 2, 2, 3
SYMBOLIC = finite_encoding(MEMBERS, REMOTES, GRAINS).x
CONCRETE = Concrete(home="left", members=("a", "b"), remotes=("right", "third"), grains=GRAINS,
                    first_grains=(0, GRAINS))  # fmt: skip
SEEDS = {v: ZERO if v == 0 else z3.Const(f"seed{v}", Val) for v in range(4)}
DISTINCT = z3.Distinct(*SEEDS.values())

values = st.integers(0, 3)
images = st.tuples(*[values] * GRAINS)
deltas = st.dictionaries(st.integers(0, GRAINS - 1), values).map(
    lambda held: tuple(sorted(held.items()))
)
extents = st.tuples(st.integers(0, GRAINS - 1), st.integers(1, GRAINS)).map(
    lambda s: range(s[0], min(GRAINS, s[0] + s[1]))
)
grains = st.integers(0, GRAINS - 1)
members = st.integers(0, MEMBERS - 1)
remotes = st.integers(0, REMOTES - 1)


def grain(g: int) -> Any:
    return SYMBOLIC.grain.elements[g]  # type: ignore[index]


def image_term(image: tuple[int, ...]) -> Any:
    found = z3.K(SYMBOLIC.grain.sort, ZERO)
    for g, v in enumerate(image):
        found = z3.Store(found, grain(g), SEEDS[v])
    return found


def delta_term(delta: Delta) -> Pair:
    has, val = z3.K(SYMBOLIC.grain.sort, False), z3.K(SYMBOLIC.grain.sort, ZERO)
    for g, v in delta:
        has, val = z3.Store(has, grain(g), True), z3.Store(val, grain(g), SEEDS[v])
    return Pair(has, val)


def extent_term(extent: range) -> Any:
    found = z3.K(SYMBOLIC.grain.sort, False)
    for g in extent:
        found = z3.Store(found, grain(g), True)
    return found


def family_term(family: tuple[Any, ...], elements: Any, each: Callable[[Any], Any]) -> Any:
    terms = [each(item) for item in family]
    if isinstance(terms[0], Pair):
        has = family_term(tuple(t.has for t in terms), elements, lambda t: t)
        return Pair(has, family_term(tuple(t.val for t in terms), elements, lambda t: t))
    found = z3.K(elements[0].sort(), terms[0])
    for element, term in zip(elements, terms, strict=True):
        found = z3.Store(found, element, term)
    return found


def equal(concrete: Any, symbolic: Any) -> Any:
    """The fact that a concrete result and a symbolic one are the same value."""
    if isinstance(symbolic, Pair):
        expected = delta_term(concrete)
        g = z3.Const("g", SYMBOLIC.grain.sort)
        return z3.And(
            expected.has == symbolic.has,
            z3.ForAll([g], z3.Implies(expected.has[g], expected.val[g] == symbolic.val[g])),
        )
    if isinstance(concrete, bool):
        return symbolic == z3.BoolVal(concrete)
    if isinstance(concrete, tuple):
        return symbolic == image_term(concrete)
    return symbolic == (SEEDS[concrete] if z3.is_expr(symbolic) and symbolic.sort() == Val
                        else concrete)  # fmt: skip


def agree(concrete: Any, symbolic: Any) -> None:
    solver = z3.Solver()
    solver.add(DISTINCT, z3.Not(equal(concrete, symbolic)))
    assert solver.check() == z3.unsat, f"concretely {concrete!r}, over Z3 {symbolic}"


@settings(max_examples=60, deadline=None)
@given(delta=deltas, other=deltas, image=images, extent=extents, g=grains, v=values)
def test_delta_and_volume_operations_agree(
    delta: Delta, other: Delta, image: tuple[int, ...], extent: range, g: int, v: int
) -> None:
    c, s = CONCRETE, SYMBOLIC
    d, o, i, e = delta_term(delta), delta_term(other), image_term(image), extent_term(extent)
    agree(c.held(delta, g), s.held(d, grain(g)))
    if c.held(delta, g):
        agree(c.value(delta, g), s.value(d, grain(g)))
    agree(c.put(delta, g, v), s.put(d, grain(g), SEEDS[v]))
    agree(c.whole(image), s.whole(i))
    agree(c.empty, s.empty)
    agree(c.zeros(), s.zeros())
    agree(c.store(image, g, v), s.store(i, grain(g), SEEDS[v]))
    agree(c.nonempty(extent), s.nonempty(e))
    agree(c.covered(delta, extent), s.covered(d, e))
    agree(c.some_in(extent, lambda x: c.held(delta, x)), s.some_in(e, lambda x: d.has[x]))
    agree(c.every_in(extent, lambda x: image[x] == 0), s.every_in(e, lambda x: i[x] == ZERO))
    agree(c.every_held(delta, lambda x, y: image[x] == y),
          s.every_held(d, lambda x, y: i[x] == y))  # fmt: skip
    if c.covered(other, extent):  # the source of a copy or merge holds the extent
        agree(c.received(delta, extent, other), s.received(d, e, o))
        # a data write before its record: only what the delta already holds shows
        agree(c.staged(delta, extent, other), s.staged(d, e, o))
        agree(c.merged(image, extent, other), s.merged(i, e, o))
    agree(c.read(image, delta, other, grain=g), s.read(i, d, o, grain=grain(g)))
    agree(c.read(image, grain=g), s.read(i, grain=grain(g)))


@settings(max_examples=40, deadline=None)
@given(
    flags=st.tuples(st.booleans(), st.booleans()),
    ups=st.tuples(st.booleans(), st.booleans()),
    copies=st.tuples(st.tuples(deltas, deltas), st.tuples(deltas, deltas)),
    m=members,
    r=remotes,
    delta=deltas,
    a=st.booleans(),
    b=st.booleans(),
)
def test_logic_quantifiers_and_families_agree(
    flags: tuple[bool, bool],
    ups: tuple[bool, bool],
    copies: tuple[tuple[Delta, Delta], ...],
    m: int,
    r: int,
    delta: Delta,
    a: bool,
    b: bool,
) -> None:
    c, s = CONCRETE, SYMBOLIC
    mem, rem = s.member.elements, s.remote.elements
    assert mem is not None and rem is not None
    per_member = family_term(flags, mem, z3.BoolVal)
    per_remote = family_term(ups, rem, z3.BoolVal)
    held = family_term(copies, rem, lambda row: family_term(row, mem, delta_term))
    agree(c.and_(a, b), s.and_(a, b))
    agree(c.or_(a, b), s.or_(a, b))
    agree(c.not_(a), s.not_(a))
    agree(c.implies(a, b), s.implies(a, b))
    agree(c.ite(a, flags[0], flags[1]), s.ite(a, per_member[mem[0]], per_member[mem[1]]))
    agree(c.ite(a, delta, copies[0][1]), s.ite(a, delta_term(delta), held[rem[0]][mem[1]]))
    agree(c.all_members(lambda x: flags[x]), s.all_members(lambda x: per_member[x]))
    agree(c.some_member(lambda x: flags[x]), s.some_member(lambda x: per_member[x]))
    agree(c.all_remotes(lambda x: ups[x]), s.all_remotes(lambda x: per_remote[x]))
    agree(c.some_remote(lambda x: ups[x]), s.some_remote(lambda x: per_remote[x]))
    for i in range(MEMBERS):  # a family written at one index, read back at every index
        agree(c.store(flags, m, a)[i], s.store(per_member, mem[m], a)[mem[i]])
        agree(c.members_const(a)[i], s.members_const(a)[mem[i]])
        for j in range(REMOTES):
            stored = s.store(held, rem[r], s.store(held[rem[r]], mem[m], delta_term(delta)))
            row = c.store(copies[r], m, delta)
            agree(c.store(copies, r, row)[j][i], stored[rem[j]][mem[i]])
            agree(c.remotes_const(c.members_const(delta))[j][i],
                  s.remotes_const(s.members_const(delta_term(delta)))[rem[j]][mem[i]])  # fmt: skip


@given(images=st.lists(images, min_size=2, max_size=4), image=images)
@settings(max_examples=20, deadline=None)
def test_the_point_history_agrees(images: list[tuple[int, ...]], image: tuple[int, ...]) -> None:
    c, s = CONCRETE, SYMBOLIC
    history = s.history([image_term(i) for i in images])
    recorded = s.record(history, len(images), image_term(image))
    for point, expected in enumerate(c.record(c.history(images), len(images), image)):
        agree(expected, recorded[point])


grain_sets = st.frozensets(grains)


def set_term(grains: frozenset[int] | range) -> Any:
    return extent_term(grains)  # type: ignore[arg-type]


def same_set(concrete: frozenset[int] | range, symbolic: Any) -> None:
    agree(True, z3.And([symbolic[grain(g)] == (g in concrete) for g in range(GRAINS)]))


@settings(max_examples=60, deadline=None)
@given(a=grain_sets, b=grain_sets, extent=extents, image=images, other=images, g=grains)
def test_grain_set_operations_agree(
    a: frozenset[int], b: frozenset[int], extent: range, image: tuple[int, ...],
    other: tuple[int, ...], g: int,
) -> None:  # fmt: skip
    """Design A's maps: grain sets, and one write of an image's values at a set or extent."""
    c, s = CONCRETE, SYMBOLIC
    sa, sb, e = set_term(a), set_term(b), extent_term(extent)
    same_set(c.no_grains, s.no_grains)
    same_set(c.all_grains(), s.all_grains())
    same_set(c.just(g), s.just(grain(g)))
    agree(c.in_set(a, g), s.in_set(sa, grain(g)))
    same_set(c.union(a, extent), s.union(sa, e))
    same_set(c.minus(a, b), s.minus(sa, sb))
    same_set(c.common(extent, b), s.common(e, sb))
    agree(c.no_grain_in(a), s.no_grain_in(sa))
    agree(c.one_grain(extent), s.one_grain(e))
    agree(c.write(image, extent, other), s.write(image_term(image), e, image_term(other)))
    agree(c.write(image, a, other), s.write(image_term(image), sa, image_term(other)))
