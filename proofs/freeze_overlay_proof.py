"""Design B's proof as obligations for the prover, and its failed queries in words.

Over uninterpreted sorts z3 answers a satisfiable query about nested arrays under quantifiers
with `unknown`; a query that is not proved is asked again over small finite sorts, where z3
decides it, and the model is printed at the action's member, remote and grain.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import z3

from pitmirror.model.design import WrongDesign
from pitmirror.model.freeze_overlay import DESIGN, Options
from pitmirror.model.options import DesignOptions
from pitmirror.proofs import freeze_overlay as B
from pitmirror.proofs.freeze_overlay_finite import elements, finite_encoding
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


# words for the encoding's fields, as a storage engineer reads them
GRAIN_WORDS = {
    "base": "base B", "frozen_has": "in the frozen delta", "frozen_val": "frozen value",
    "active_has": "in the active delta", "active_val": "active value", "acked": "host's view",
    "p0": "P_k", "pm1": "P_k-1", "pm2": "P_k-2",
}  # fmt: skip
REMOTE_GRAIN_WORDS = {
    "rbase": "base copy", "rdelta_has": "in the delta", "rdelta_val": "delta value",
}  # fmt: skip
REMOTE_MEMBER_WORDS = {
    "rbase_point": "base copy's point", "rdelta_point": "delta's point",
    "complete": "delta complete",
}  # fmt: skip


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


def explain_finite(options: Options, action: str, conjunct: str) -> Explanation | None:
    """Ask the same question over finite sorts, where z3 decides it, and print the model at
    the action's member, remote and grain."""
    fin = finite_encoding(*FINITE_SIZES)
    pre, post = fin.fresh_state("pre"), fin.fresh_state("post")
    transition = next(t for t in fin.transitions(pre, post, options) if t.name == action)
    goal = (
        fin.monotonic(pre, post)
        if conjunct == MONOTONIC
        else next(c for c in fin.CONJUNCTS if c.name == conjunct).check(post)
    )
    solver = z3.Solver()
    solver.set("timeout", FINITE_TIMEOUT_MS)
    solver.add(fin.invariant(pre), transition.relation(), z3.Not(goal))
    if solver.check() != z3.sat:
        return None
    variant = f"{FINITE_SIZES[0]} members, {FINITE_SIZES[1]} remotes, {FINITE_SIZES[2]} grains"
    model = solver.model()

    show = _namer(model)

    def change(before: Any, after: Any) -> str:
        a, b = show(before), show(after)
        return a if a == b else f"{a} -> {b}"

    def element(expr: Any) -> str:  # `member1_2_2_2` -> `member 1`
        name = str(model.eval(expr, True)).split("_", 1)[0]
        return name.rstrip("0123456789") + " " + name[len(name.rstrip("0123456789")) :]

    p = transition.params
    m, r = p.get("member"), p.get("remote")
    grains = [p["grain"]] if "grain" in p else []
    if "extent" in p:  # the grains of the action's extent, as the model chose them
        grains = [x for x in elements(fin, "Grain") if z3.is_true(model.eval(p["extent"][x], True))]
    where = [element(p[k]) for k in ("remote", "member") if k in p]
    where += [", ".join(element(x) for x in grains)] if grains else []
    lines = [", ".join([f"the action at {' '.join(where)}" if where else "the action",
                        f"point k {change(pre.point, post.point)}"])]  # fmt: skip
    for g in grains if m is not None else []:
        tag = element(g) + (" (in the action's extent)" if "extent" in p else "")
        lines.append(f"{tag} at the home site: " + ", ".join(
            f"{word} {change(getattr(pre, n)[m][g], getattr(post, n)[m][g])}"
            for n, word in GRAIN_WORDS.items()
        ))  # fmt: skip
        if r is not None:
            lines.append(f"{tag} at the remote: " + ", ".join(
                [f"{word} {change(getattr(pre, n)[r][m][g], getattr(post, n)[r][m][g])}"
                 for n, word in REMOTE_GRAIN_WORDS.items()]
                + [f"{word} {change(getattr(pre, n)[r][m], getattr(post, n)[r][m])}"
                   for n, word in REMOTE_MEMBER_WORDS.items()]
            ))  # fmt: skip
    return Explanation("fails", variant, lines)


class FreezeOverlayProof:
    """Design B's proof obligations, for groups, fan-outs and volumes of any size."""

    design = DESIGN

    def obligations(self, options: DesignOptions) -> Iterator[Obligation]:
        if not isinstance(options, Options):
            raise WrongDesign(f"design B's proof was given {type(options).__qualname__}")
        pre, post = B.fresh_state("pre"), B.fresh_state("post")
        parts = InductiveParts(
            B.initial,
            B.invariant,
            B.monotonic,
            B.goal,
            B.transitions(pre, post, options),
            lambda state: B.reads(state, options),
        )

        def explainer(
            transition: B.Transition, name: str, conjunct: B.Conjunct | None, goal: Formula
        ) -> Callable[[str], Explanation | None]:
            return lambda verdict: explain_finite(options, transition.name, name)

        for obligation in inductive_obligations(pre, post, B.CONJUNCTS, _check, parts, explainer):
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
    solver.add(fin.invariant(pre), z3.Not(fin.reads(pre, options)))
    if solver.check() != z3.sat:
        return None
    show = _namer(solver.model())
    for mi, m in enumerate(elements(fin, "Member")):
        for gi, g in enumerate(elements(fin, "Grain")):
            read, acked = fin.read(pre, m, g, options), pre.acked[m][g]
            if show(read) == show(acked):
                continue
            cells = [f"{word} {show(getattr(pre, n)[m][g])}" for n, word in GRAIN_WORDS.items()]
            lines = [
                f"member {mi} grain {gi}: the read returns {show(read)}, the host wrote "
                f"{show(acked)}",
                "at the home site: " + ", ".join(cells),
            ]
            variant = f"{FINITE_SIZES[0]} members, {FINITE_SIZES[2]} grains"
            return Explanation("fails", variant, lines)
    return None


def _check(conjunct: B.Conjunct, state: B.BState) -> Formula:
    return conjunct.check(state)


ENCODING: Encoding = FreezeOverlayProof()
