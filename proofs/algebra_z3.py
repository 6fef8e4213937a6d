"""The algebra of model/algebra.py over Z3 terms: a design's rules, evaluated here, are its
transition relation.

Members, remotes and grains are sorts (uninterpreted for the proof, so it covers groups,
fan-outs and volumes of any size; small enumerations where z3 must answer a satisfiable query
with a model).  A volume is an array from grain to value, a delta a pair of arrays (which grains
it holds, and their values), a family an array from member, remote or point (an integer) to
its values.  Writes use the array theory's own map, not lambdas, so that satisfiable queries
over finite sorts stay decidable; over finite sorts quantifiers are expanded over the elements,
because z3 answers `unknown` on array maps under quantifiers even over an enumeration sort.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import z3

from pitmirror.model.algebra import Term

_OR = z3.Or(z3.Bool("p"), z3.Bool("q")).decl()
_AND = z3.And(z3.Bool("p"), z3.Bool("q")).decl()
_NOT = z3.Not(z3.Bool("p")).decl()


@dataclass(frozen=True, eq=False)
class Pair:
    """A delta over Z3 (`has`: the grains it holds; `val`: their values), or a family of
    deltas (both arrays indexed first by member, remote or point)."""

    has: Any
    val: Any

    def __getitem__(self, index: Any) -> Pair:
        return Pair(self.has[index], self.val[index])


def lift(term: Term) -> Any:
    """A Python Boolean or integer as a Z3 term; a Z3 term as it is."""
    if isinstance(term, bool):
        return z3.BoolVal(term)
    if isinstance(term, int):
        return z3.IntVal(term)
    return term


def _both(f: Callable[..., Any], *terms: Any) -> Any:
    """`f` over the terms, leaf by leaf when they are deltas."""
    if any(isinstance(t, Pair) for t in terms):
        return Pair(f(*(t.has for t in terms)), f(*(t.val for t in terms)))
    return f(*terms)


@dataclass(frozen=True)
class Sort:
    """One of the rules' index sorts, and its elements when it is finite."""

    sort: Any
    elements: Sequence[Any] | None = None

    def forall(self, body: Callable[[Any], Any]) -> Any:
        if self.elements is not None:
            return z3.And([lift(body(e)) for e in self.elements])
        x = z3.FreshConst(self.sort, "x")
        return z3.ForAll([x], lift(body(x)))

    def exists(self, body: Callable[[Any], Any]) -> Any:
        if self.elements is not None:
            return z3.Or([lift(body(e)) for e in self.elements])
        x = z3.FreshConst(self.sort, "x")
        return z3.Exists([x], lift(body(x)))


NOTHING = Sort(z3.BoolSort(), elements=())
"""the index sort of a design that has none of it (design A has no members or remotes): a
quantifier over it is over nothing"""


@dataclass(frozen=True)
class Symbolic:
    """The algebra over Z3 terms, for the given grain sort, the sort of grain contents
    (`zero`: a never-written grain), and the member and remote sorts."""

    grain: Sort
    val: Any
    zero: Any
    member: Sort = NOTHING
    remote: Sort = NOTHING

    true = z3.BoolVal(True)
    false = z3.BoolVal(False)
    home = "home"

    @property
    def _ite(self) -> Any:
        """`if` on grain contents, as a function the array map can apply"""
        return z3.If(z3.Bool("c"), z3.Const("a", self.val), z3.Const("b", self.val)).decl()

    @property
    def empty(self) -> Pair:
        return Pair(z3.K(self.grain.sort, z3.BoolVal(False)), self.zeros())

    def and_(self, *terms: Term) -> Any:
        return z3.And([lift(t) for t in terms])

    def or_(self, *terms: Term) -> Any:
        return z3.Or([lift(t) for t in terms])

    def not_(self, term: Term) -> Any:
        return z3.Not(lift(term))

    def implies(self, a: Term, b: Term) -> Any:
        return z3.Implies(lift(a), lift(b))

    def ite(self, cond: Term, then: Term, other: Term) -> Any:
        return _both(lambda a, b: z3.If(lift(cond), lift(a), lift(b)), then, other)

    def possible(self, cond: Term) -> bool:
        return True

    def all_members(self, body: Callable[[Any], Term]) -> Any:
        return self.member.forall(body)

    def some_member(self, body: Callable[[Any], Term]) -> Any:
        return self.member.exists(body)

    def all_remotes(self, body: Callable[[Any], Term]) -> Any:
        return self.remote.forall(body)

    def some_remote(self, body: Callable[[Any], Term]) -> Any:
        return self.remote.exists(body)

    def store(self, family: Term, index: Term, value: Term) -> Any:
        return _both(lambda f, v: z3.Store(f, lift(index), lift(v)), family, value)

    def members_const(self, value: Term) -> Any:
        return _both(lambda v: z3.K(self.member.sort, lift(v)), value)

    def remotes_const(self, value: Term) -> Any:
        return _both(lambda v: z3.K(self.remote.sort, lift(v)), value)

    def zeros(self) -> Any:
        return z3.K(self.grain.sort, self.zero)

    def history(self, images: Sequence[Term]) -> Any:
        found = z3.K(z3.IntSort(), images[0])
        for point, image in enumerate(images[1:], start=1):
            found = z3.Store(found, point, image)
        return found

    def record(self, history: Term, point: Term, image: Term) -> Any:
        return z3.Store(history, lift(point), image)

    def nonempty(self, extent: Term) -> Any:
        return self.grain.exists(lambda g: extent[g])

    def every_in(self, extent: Term, body: Callable[[Any], Term]) -> Any:
        return self.grain.forall(lambda g: z3.Implies(extent[g], lift(body(g))))

    def some_in(self, extent: Term, body: Callable[[Any], Term]) -> Any:
        return self.grain.exists(lambda g: z3.And(extent[g], lift(body(g))))

    def covered(self, delta: Pair, extent: Term) -> Any:
        return self.every_in(extent, lambda g: delta.has[g])

    def held(self, delta: Pair, grain: Term) -> Any:
        return delta.has[grain]

    def value(self, delta: Pair, grain: Term) -> Any:
        return delta.val[grain]

    def put(self, delta: Pair, grain: Term, value: Term) -> Pair:
        return Pair(z3.Store(delta.has, grain, True), z3.Store(delta.val, grain, value))

    def whole(self, image: Term) -> Pair:
        return Pair(z3.K(self.grain.sort, z3.BoolVal(True)), image)

    def includes(self, delta: Pair, part: Pair) -> Any:
        return self.every_held(
            part, lambda g, v: self.and_(self.held(delta, g), self.value(delta, g) == v)
        )

    def every_held(self, delta: Pair, body: Callable[[Any, Any], Term]) -> Any:
        return self.grain.forall(lambda g: z3.Implies(delta.has[g], lift(body(g, delta.val[g]))))

    def staged(self, delta: Pair, extent: Term, source: Pair) -> Pair:
        return Pair(delta.has, self.write(delta.val, extent, source.val))

    def received(self, delta: Pair, extent: Term, source: Pair) -> Pair:
        return Pair(z3.Map(_OR, delta.has, extent), self.write(delta.val, extent, source.val))

    def merged(self, image: Term, extent: Term, source: Pair) -> Any:
        return self.write(image, extent, source.val)

    def grains_of(self, delta: Pair) -> Any:
        return delta.has

    def without(self, delta: Pair, grains: Term) -> Pair:
        return Pair(self.minus(delta.has, grains), delta.val)

    def overlaid(self, image: Term, *deltas: Pair) -> Any:
        for delta in deltas:
            image = self.write(image, delta.has, delta.val)
        return image

    def write(self, image: Term, grains: Term, values: Term) -> Any:
        """`image` with `values` at the grains of the set `grains` (one write)"""
        return z3.Map(self._ite, grains, values, image)

    # grain sets are Boolean arrays over grains, as extents are
    @property
    def no_grains(self) -> Any:
        return z3.K(self.grain.sort, z3.BoolVal(False))

    def all_grains(self) -> Any:
        return z3.K(self.grain.sort, z3.BoolVal(True))

    def just(self, grain: Term) -> Any:
        return z3.Store(self.no_grains, grain, True)

    def in_set(self, grains: Term, grain: Term) -> Any:
        return grains[grain]

    def union(self, a: Term, b: Term) -> Any:
        return z3.Map(_OR, a, b)

    def minus(self, a: Term, b: Term) -> Any:
        return z3.Map(_AND, a, z3.Map(_NOT, b))

    def common(self, a: Term, b: Term) -> Any:
        return z3.Map(_AND, a, b)

    def no_grain_in(self, grains: Term) -> Any:
        # quantified, not `grains == K(False)`: over a finite grain sort z3 did not equate a
        # fully cleared map with the constant array
        return self.grain.forall(lambda g: z3.Not(grains[g]))

    def one_grain(self, extent: Term) -> Any:
        return self.grain.forall(lambda a: self.grain.forall(
            lambda b: z3.Implies(z3.And(extent[a], extent[b]), a == b)))  # fmt: skip

    def read(self, image: Term, *deltas: Pair, grain: Term) -> Any:
        found = image[grain]
        for delta in reversed(deltas):
            found = z3.If(delta.has[grain], delta.val[grain], found)
        return found

    # a symbolic guard is a conjunction: no reason is ever worded
    def link_name(self, remote: Term) -> str:
        return str(remote)

    def remote_name(self, remote: Term) -> str:
        return str(remote)

    def member_name(self, member: Term) -> str:
        return str(member)

    def missing(self, delta: Term, extent: Term, member: Term, where: str) -> str:
        return where

    def present(self, delta: Term, extent: Term, member: Term, where: str) -> str:
        return where

    def outside(self, grains: Term, extent: Term, where: str) -> str:
        return where
