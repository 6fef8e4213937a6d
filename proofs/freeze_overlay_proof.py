"""Design B's proof as obligations for the prover, and its failed queries in words.

Over uninterpreted sorts z3 answers a satisfiable query about nested arrays under quantifiers
with `unknown`; a query that is not proved is asked again over small finite sorts, where z3
decides it, and the model is printed at the action's member, remote and grain.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Iterator
from typing import Any

import z3

from pitmirror.model.algebra import NONE
from pitmirror.model.design import WrongDesign
from pitmirror.model.freeze_overlay import DESIGN, Options
from pitmirror.model.freeze_overlay_rules import GroupView
from pitmirror.model.options import DesignOptions
from pitmirror.proofs import freeze_overlay as B
from pitmirror.proofs.freeze_overlay import elements, finite_encoding
from pitmirror.proofs.obligations import (
    MONOTONIC,
    READS,
    Encoding,
    Explanation,
    Formula,
    InductiveParts,
    Obligation,
    inductive_obligations,
)
from pitmirror.proofs.sorts import ZERO

FINITE_SIZES = (2, 2, 2)  # members, remotes, grains
FINITE_TIMEOUT_MS = 30_000  # decided in well under a second here; the margin is for loaded CI


# the encoding's fields at one grain, in the words a storage engineer reads them
GRAIN_WORDS: dict[str, Callable[[GroupView, Any, Any], Any]] = {
    "base B": lambda s, m, g: s.base[m][g],
    "in the frozen delta": lambda s, m, g: s.frozen.has[m][g],
    "frozen value": lambda s, m, g: s.frozen.val[m][g],
    "in the active delta": lambda s, m, g: s.active.has[m][g],
    "active value": lambda s, m, g: s.active.val[m][g],
    "in the host's cache": lambda s, m, g: s.cache.has[m][g],
    "cached value": lambda s, m, g: s.cache.val[m][g],
    "host's view of the durable": lambda s, m, g: s.acked[m][g],
    "P_k": lambda s, m, g: s.images[s.point][m][g],
    "P_k-1": lambda s, m, g: s.images[s.point - 1][m][g],
    "P_k-2": lambda s, m, g: s.images[s.point - 2][m][g],
}
REMOTE_GRAIN_WORDS: dict[str, Callable[[GroupView, Any, Any, Any], Any]] = {
    "base copy": lambda s, r, m, g: s.rbase[r][m][g],
    "in the delta": lambda s, r, m, g: s.rdelta.has[r][m][g],
    "delta value": lambda s, r, m, g: s.rdelta.val[r][m][g],
}
REMOTE_MEMBER_WORDS = {
    "rbase_point": "base copy's point", "rdelta_point": "delta's point",
    "complete": "delta complete",
}  # fmt: skip
# and, in the pipelined order, the deltas merging aside
PIPELINED_GRAIN_WORDS: dict[str, Callable[[GroupView, Any, Any], Any]] = {
    "in the merging delta": lambda s, m, g: s.merging.has[m][g],
    "merging value": lambda s, m, g: s.merging.val[m][g],
}
PIPELINED_REMOTE_GRAIN_WORDS: dict[str, Callable[[GroupView, Any, Any, Any], Any]] = {
    "in the merging delta": lambda s, r, m, g: s.rmerging.has[r][m][g],
    "merging value": lambda s, r, m, g: s.rmerging.val[r][m][g],
}
PIPELINED_REMOTE_MEMBER_WORDS = {"rmerging_point": "merging delta's point"}


def _words(options: Options) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    """The fields shown at a grain at home, at a grain at a remote, and of a remote's member."""
    if not options.pipelined:
        return GRAIN_WORDS, REMOTE_GRAIN_WORDS, REMOTE_MEMBER_WORDS
    return (GRAIN_WORDS | PIPELINED_GRAIN_WORDS,
            REMOTE_GRAIN_WORDS | PIPELINED_REMOTE_GRAIN_WORDS,
            REMOTE_MEMBER_WORDS | PIPELINED_REMOTE_MEMBER_WORDS)  # fmt: skip


def _namer(model: z3.ModelRef) -> Callable[[Any], str]:
    """yes/no, small integers as they are, values numbered 1, 2, ... (0 is zero)."""
    numbers: dict[str, str] = {}

    def show(expr: Any) -> str:
        text = str(model.eval(expr, True))
        if text in ("True", "False"):
            return "yes" if text == "True" else "no"
        if not text.startswith("Val!"):
            return text
        if z3.is_true(model.eval(expr == ZERO, True)):
            return "0"
        return numbers.setdefault(text, str(len(numbers) + 1))

    return show


SMALL_POINT = 3
"""a counterexample is sought first with point k at most this (any k shows the same)"""


def _failing_element(fin: B.Encoding, options: Options, model: z3.ModelRef, conjunct: str,
                     post: GroupView) -> dict[str, Any]:  # fmt: skip
    """The remote, member and grain at which the conjunct fails after the action, by name of
    sort, when it is checked element by element."""
    check = next((c.check for c in fin.conjuncts(options) if c.name == conjunct), None)
    if not isinstance(check, B.PerElement):
        return {}
    domains = [elements(fin, name.capitalize()) for name in check.over]
    for found in itertools.product(*domains):
        if z3.is_false(model.eval(check.body(post, *found), True)):
            return dict(zip(check.over, found, strict=True))
    return {}


def _ending(solver: z3.Solver, transition: B.Transition) -> tuple[str, z3.ModelRef]:
    """The first way the action's plan ends that the counterexample can take, the action
    completing before any cut, and a model of it (`solver` holds the satisfiable query)."""
    whole_first = sorted(
        transition.variants, key=lambda ending: not ending[0].endswith("completes")
    )
    for label, formula in whole_first:
        solver.push()
        solver.add(formula)
        found = solver.check() == z3.sat
        model = solver.model() if found else None
        solver.pop()
        if model is not None:
            return label, model
    solver.check()
    return "", solver.model()


def explain_finite(options: Options, action: str, conjunct: str) -> Explanation | None:
    """Ask the same question over finite sorts, where z3 decides it, and print the model at
    the action's member, remote and grain."""
    fin = finite_encoding(*FINITE_SIZES)
    pre, post = fin.fresh_state("pre"), fin.fresh_state("post")
    transition = next(t for t in fin.transitions(pre, post, options) if t.name == action)
    goal = (
        fin.monotonic(pre, post)
        if conjunct == MONOTONIC
        else next(c for c in fin.conjuncts(options) if c.name == conjunct).check(post)
    )
    solver = z3.Solver()
    solver.set("timeout", FINITE_TIMEOUT_MS)
    solver.add(fin.invariant(pre, options), transition.relation(), z3.Not(goal))
    if solver.check() != z3.sat:
        return None
    solver.add(pre.point <= SMALL_POINT)  # the same counterexample at a point a reader follows
    if solver.check() != z3.sat:
        solver = z3.Solver()
        solver.set("timeout", FINITE_TIMEOUT_MS)
        solver.add(fin.invariant(pre, options), transition.relation(), z3.Not(goal))
        solver.check()
    ending, model = _ending(solver, transition)
    sizes = f"{FINITE_SIZES[0]} members, {FINITE_SIZES[1]} remotes, {FINITE_SIZES[2]} grains"
    variant = f"{ending}; {sizes}" if ending else sizes
    failing = _failing_element(fin, options, model, conjunct, post)
    grain_words, remote_grain_words, remote_member_words = _words(options)

    show = _namer(model)

    def change(before: Any, after: Any) -> str:
        a, b = show(before), show(after)
        return a if a == b else f"{a} -> {b}"

    def point_change(before: Any, after: Any) -> str:  # a delta of no point: "none"
        return " ".join("none" if w == str(NONE) else w for w in change(before, after).split())

    def element(expr: Any) -> str:  # `member1_2_2_2` -> `member 1`
        name = str(model.eval(expr, True)).split("_", 1)[0]
        return name.rstrip("0123456789") + " " + name[len(name.rstrip("0123456789")) :]

    p = transition.params
    m = p.get("member", p.get("first", failing.get("member")))
    r = p.get("remote", failing.get("remote"))
    grains = [p["grain"]] if "grain" in p else []
    if "extent" in p:  # the grains of the action's extent, as the model chose them
        grains = [x for x in elements(fin, "Grain") if z3.is_true(model.eval(p["extent"][x], True))]
    where = [element(p[k]) for k in ("remote", "member", "first") if k in p]
    where += [", ".join(element(x) for x in grains)] if grains else []
    at_fault = failing.get("grain")
    if at_fault is not None and not any(at_fault.eq(g) for g in grains):
        grains.append(at_fault)
    lines = [", ".join([f"the action at {' '.join(where)}" if where else "the action",
                        f"point k {change(pre.point, post.point)}"])]  # fmt: skip
    for g in grains if m is not None else []:
        tag = element(g) + (
            " (where the clause fails)"
            if at_fault is not None and at_fault.eq(g) and not ("extent" in p or "grain" in p)
            else " (in the action's extent)"
            if "extent" in p
            else ""
        )
        lines.append(f"{tag} at the home site: " + ", ".join(
            f"{word} {change(at(pre, m, g), at(post, m, g))}"
            for word, at in grain_words.items()
        ))  # fmt: skip
        if r is not None:
            lines.append(f"{tag} at the remote: " + ", ".join(
                [f"{word} {change(at(pre, r, m, g), at(post, r, m, g))}"
                 for word, at in remote_grain_words.items()]
                + [f"{word} {point_change(getattr(pre, n)[r][m], getattr(post, n)[r][m])}"
                   for n, word in remote_member_words.items()]
            ))  # fmt: skip
    if not grains and r is not None and m is not None:  # a clause about a remote's points
        points = ", ".join(
            f"{word} {point_change(getattr(pre, n)[r][m], getattr(post, n)[r][m])}"
            for n, word in remote_member_words.items()
        )
        known = change(pre.completed[r], post.completed[r])
        lines.append(f"{element(m)} at {element(r)}: {points}, complete as home knows {known}")
    return Explanation("fails", variant, lines)


class FreezeOverlayProof:
    """Design B's proof obligations, for groups, fan-outs and volumes of any size."""

    design = DESIGN

    def obligations(self, options: DesignOptions) -> Iterator[Obligation]:
        if not isinstance(options, Options):
            raise WrongDesign(f"design B's proof was given {type(options).__qualname__}")
        enc = B.UNBOUNDED
        pre, post = enc.fresh_state("pre"), enc.fresh_state("post")
        parts = InductiveParts(
            enc.initial,
            lambda state: enc.invariant(state, options),
            enc.monotonic,
            enc.goal,
            enc.transitions(pre, post, options),
            lambda state: enc.reads(state, options),
        )

        def explainer(
            transition: B.Transition, name: str, conjunct: B.Conjunct | None, goal: Formula
        ) -> Callable[[str], Explanation | None]:
            return lambda verdict: explain_finite(options, transition.name, name)

        conjuncts = enc.conjuncts(options)
        for obligation in inductive_obligations(pre, post, conjuncts, _check, parts, explainer):
            if obligation.check == "goal" and obligation.conjunct == READS:
                obligation = dataclasses.replace(
                    obligation, explain=lambda verdict: explain_finite_reads(options)
                )
            yield obligation


def explain_finite_reads(options: Options) -> Explanation | None:
    """The reads obligation over finite sorts: a state of the invariant where a read through
    the overlay returns another value than the host wrote, at the first such grain."""
    fin = finite_encoding(*FINITE_SIZES)
    pre = fin.fresh_state("pre")
    solver = z3.Solver()
    solver.set("timeout", FINITE_TIMEOUT_MS)
    solver.add(fin.invariant(pre, options), z3.Not(fin.reads(pre, options)))
    if solver.check() != z3.sat:
        return None
    show = _namer(solver.model())
    for mi, m in enumerate(elements(fin, "Member")):
        for gi, g in enumerate(elements(fin, "Grain")):
            read, acked = (
                fin.read(pre, m, g, options),
                fin.x.read(pre.acked[m], pre.cache[m], grain=g),
            )
            if show(read) == show(acked):
                continue
            cells = [f"{word} {show(at(pre, m, g))}" for word, at in _words(options)[0].items()]
            lines = [
                f"member {mi} grain {gi}: the read returns {show(read)}, the host wrote "
                f"{show(acked)}",
                "at the home site: " + ", ".join(cells),
            ]
            variant = f"{FINITE_SIZES[0]} members, {FINITE_SIZES[2]} grains"
            return Explanation("fails", variant, lines)
    return None


def _check(conjunct: B.Conjunct, state: GroupView) -> Formula:
    return conjunct.check(state)


ENCODING: Encoding = FreezeOverlayProof()
