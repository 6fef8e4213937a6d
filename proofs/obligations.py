"""What a design's Z3 encoding hands the prover: its proof obligations, one query each.

The inductive proof is the same for every design: Init => each conjunct; Inv /\\ action =>
each conjunct' and the monotonic step property, for every action; Inv => reads return the
acknowledged writes; Inv => goal.  A design
supplies the parts (`inductive_obligations`) and how a failed query is explained in its own
vocabulary; the prover (proofs/prover.py) only asks z3 and collects verdicts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

import z3

from pitmirror.model.options import DesignOptions
from pitmirror.model.spec import GOAL, MONOTONIC, NO_ACK_LOST

__all__ = [
    "GOAL",
    "MONOTONIC",
    "READS",
    "Encoding",
    "Explainer",
    "Explanation",
    "Formula",
    "InductiveParts",
    "NamedConjunct",
    "NamedTransition",
    "Obligation",
    "inductive_obligations",
]

Formula = Any
"""A z3 Boolean expression (z3 ships no type information)."""

READS = NO_ACK_LOST
"""the host's read path returns its newest acknowledged write, for every grain: the spec's
predicate of that name, as a proof obligation"""


@dataclass
class Explanation:
    """Why a query is not `unsat`, in the design's vocabulary."""

    verdict: str
    variant: str | None
    lines: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Obligation:
    check: str
    """"init", an action name, or "goal" """
    conjunct: str
    facts: tuple[Formula, ...]
    """the query is proved when these are unsatisfiable together"""
    explain: Callable[[str], Explanation | None] | None = None
    """given the verdict (not "ok"), a counterexample in words, or None to keep the verdict"""
    focus: tuple[Formula, ...] | None = None
    """the same query with only the conjunct's own hypothesis of the invariant: weaker, so
    `unsat` there proves the obligation too.  z3 decides most frame obligations this way at
    once, where the whole invariant can send its quantifier search astray (design B's
    DropLocalDelta / inv_13 ran out of time for one random seed in five)"""


class Encoding(Protocol):
    """A design's Z3 encoding, as the prover sees it."""

    @property
    def design(self) -> str: ...

    def obligations(self, options: DesignOptions) -> Iterator[Obligation]:
        """Every query of the proof of the design under `options`, in a stable order."""
        ...


class NamedConjunct(Protocol):
    @property
    def name(self) -> str: ...


class NamedTransition(Protocol):
    @property
    def name(self) -> str: ...

    def relation(self) -> Formula: ...


S = TypeVar("S")
C = TypeVar("C", bound=NamedConjunct)
T = TypeVar("T", bound=NamedTransition)
Explainer = Callable[[T, str, C | None, Formula], Callable[[str], Explanation | None]]
"""(transition, conjunct name, conjunct or None for the monotonic property, the goal) ->
the query's explanation, asked only if the query is not proved"""


@dataclass(frozen=True)
class InductiveParts(Generic[S, T]):
    """A design's encoding over its state type `S`: the proof's formulas and its actions."""

    initial: Callable[[S], Formula]
    invariant: Callable[[S], Formula]
    monotonic: Callable[[S, S], Formula]
    goal: Callable[[S], Formula]
    transitions: Sequence[T]
    reads: Callable[[S], Formula] | None = None
    """the design's read path against the host's view, when the design serves reads"""


def inductive_obligations(
    pre: S,
    post: S,
    conjuncts: Sequence[C],
    check: Callable[[C, S], Formula],
    parts: InductiveParts[S, T],
    explainer: Explainer[T, C] | None = None,
) -> Iterator[Obligation]:
    """The obligations of an inductive invariant: init, every action x conjunct, the goal."""
    for each in conjuncts:
        yield Obligation("init", each.name, (parts.initial(pre), _not(check(each, pre))))
    invariant = parts.invariant(pre)
    goals: list[tuple[str, Formula, C | None]] = [
        *[(c.name, check(c, post), c) for c in conjuncts],
        (MONOTONIC, parts.monotonic(pre, post), None),
    ]
    own = {c.name: check(c, pre) for c in conjuncts}
    for transition in parts.transitions:
        relation = transition.relation()
        for name, goal, conjunct in goals:
            facts = (invariant, relation, _not(goal))
            explain = explainer(transition, name, conjunct, goal) if explainer else None
            focus = (own[name], relation, _not(goal)) if conjunct is not None else None
            yield Obligation(transition.name, name, facts, explain, focus)
    if parts.reads is not None:
        yield Obligation("goal", READS, (invariant, _not(parts.reads(pre))))
    yield Obligation("goal", GOAL, (invariant, _not(parts.goal(pre))))


def _not(formula: Formula) -> Formula:
    return z3.Not(formula)
