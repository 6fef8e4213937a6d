"""Design B's proof as obligations for the prover, and its failed queries in words.

Over uninterpreted sorts z3 answers a satisfiable query about nested arrays under quantifiers
with `unknown`; a query that is not proved is asked again over small finite sorts, where z3
decides it, and the model is printed at the action's member, remote and grain.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import z3

from pitmirror.model.design import WrongDesign
from pitmirror.model.freeze_overlay import DESIGN, Options
from pitmirror.model.options import DesignOptions
from pitmirror.proofs import freeze_overlay as B
from pitmirror.proofs.freeze_overlay_finite import finite_encoding
from pitmirror.proofs.obligations import (
    MONOTONIC,
    Encoding,
    Explanation,
    Formula,
    InductiveParts,
    Obligation,
    inductive_obligations,
)

FINITE_SIZES = (2, 2, 2)  # members, remotes, grains
FINITE_TIMEOUT_MS = 30_000  # decided in well under a second here; the margin is for loaded CI


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

    def show(expr: Any) -> str:
        text = str(model.eval(expr, True))
        text = {"True": "yes", "False": "no"}.get(text, text).replace("Val!val!", "v")
        return text.rsplit("_", 3)[0] if "_" in text else text

    p = transition.params
    lines = [f"{k} = {show(v)}" for k, v in p.items()]
    lines.append(f"point: {show(pre.point)} -> {show(post.point)}")
    m, g, r = p.get("member"), p.get("grain"), p.get("remote")
    for name in fin.GRAIN_FIELDS if m is not None and g is not None else ():
        a, b = show(getattr(pre, name)[m][g]), show(getattr(post, name)[m][g])
        lines.append(f"{name}[member][grain]: {a}" + ("" if a == b else f" -> {b}"))
    for name in fin.REMOTE_GRAIN_FIELDS if None not in (r, m, g) else ():
        a, b = show(getattr(pre, name)[r][m][g]), show(getattr(post, name)[r][m][g])
        lines.append(f"{name}[remote][member][grain]: {a}" + ("" if a == b else f" -> {b}"))
    for name in fin.REMOTE_MEMBER_FIELDS if r is not None and m is not None else ():
        a, b = show(getattr(pre, name)[r][m]), show(getattr(post, name)[r][m])
        lines.append(f"{name}[remote][member]: {a}" + ("" if a == b else f" -> {b}"))
    return Explanation("fails", variant, lines)


class FreezeOverlayProof:
    """Design B's proof obligations, for groups, fan-outs and volumes of any size."""

    design = DESIGN

    def obligations(self, options: DesignOptions) -> Iterator[Obligation]:
        if not isinstance(options, Options):
            raise WrongDesign(f"design B's proof was given {type(options).__qualname__}")
        pre, post = B.fresh_state("pre"), B.fresh_state("post")
        parts = InductiveParts(
            B.initial, B.invariant, B.monotonic, B.goal, B.transitions(pre, post, options)
        )

        def explainer(
            transition: B.Transition, name: str, conjunct: B.Conjunct | None, goal: Formula
        ) -> Callable[[str], Explanation | None]:
            return lambda verdict: explain_finite(options, transition.name, name)

        yield from inductive_obligations(pre, post, B.CONJUNCTS, _check, parts, explainer)


def _check(conjunct: B.Conjunct, state: B.BState) -> Formula:
    return conjunct.check(state)


ENCODING: Encoding = FreezeOverlayProof()
