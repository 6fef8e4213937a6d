"""Design A's proof as obligations for the prover, and its failed queries in words.

A failed query is explained by the first variant of the action (a case of its write plan,
completed or cut by a crash) that breaks the conjunct, and z3's model printed grain by grain
in the model's vocabulary, before and after.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import z3

from pitmirror.model.cyclic_flashcopy import DESIGN, Options
from pitmirror.model.design import WrongDesign
from pitmirror.model.options import DesignOptions
from pitmirror.proofs import cyclic_flashcopy as A
from pitmirror.proofs.obligations import (
    Encoding,
    Explainer,
    Explanation,
    Formula,
    InductiveParts,
    Obligation,
    inductive_obligations,
)
from pitmirror.proofs.sorts import ZERO, Grain, Val

EXPLAIN_TIMEOUT_MS = 5_000


class _Names:
    """Readable names for the elements of a counterexample's finite universes."""

    def __init__(self, model: z3.ModelRef, params: dict[str, Any]) -> None:
        self.model = model
        grains = model.get_universe(Grain) or []
        action_grain = model.eval(params["grain"], True) if "grain" in params else None
        ordered = sorted(
            grains, key=lambda e: 0 if action_grain is not None and e.eq(action_grain) else 1
        )
        self.grains = [
            (e, "g (the action's grain)" if i == 0 and action_grain is not None else f"grain #{i}")
            for i, e in enumerate(ordered)
        ]
        zero = model.eval(ZERO, True)
        self.values: dict[str, str] = {}
        for i, e in enumerate(model.get_universe(Val) or []):
            self.values[str(e)] = "0" if e.eq(zero) else f"v{i}"

    def value(self, expr: Any) -> str:
        got = self.model.eval(expr, True)
        if z3.is_true(got):
            return "yes"
        if z3.is_false(got):
            return "no"
        return self.values.get(str(got), str(got))


def counterexample(
    model: z3.ModelRef,
    pre: A.ZState,
    post: A.ZState,
    params: dict[str, Any],
    broken: A.Conjunct | None = None,
) -> list[str]:
    """The action's parameters, the scalars, then every grain that the action touched or that
    breaks the conjunct afterwards, field by field (`before->after` where it changed)."""
    names = _Names(model, params)
    lines = []
    for key, expr in params.items():
        if key == "data":
            lines.append(f"data = {names.value(expr)}")
    for name in ("cycle", "committed", "link_up", "local_up", "remote_up"):
        before, after = names.value(getattr(pre, name)), names.value(getattr(post, name))
        lines.append(f"{name}: {before}" + ("" if before == after else f" -> {after}"))
    for index, (element, label) in enumerate(names.grains):
        touched = any(
            not model.eval(getattr(pre, n)[element] == getattr(post, n)[element], True).eq(
                z3.BoolVal(True)
            )
            for n in A.VOLUMES + A.MAPS
        )
        breaks = (
            broken is not None
            and broken.at is not None
            and z3.is_false(model.eval(broken.at(post, element), True))
        )
        if not (touched or breaks or (index == 0 and "grain" in params)):
            continue
        if breaks:
            label += f" (breaks {broken.name if broken else ''})"
        cells = []
        for name in A.VOLUMES + A.MAPS:
            before = names.value(getattr(pre, name)[element])
            after = names.value(getattr(post, name)[element])
            cells.append(f"{name} {before}" + ("" if before == after else f"->{after}"))
        lines.append(f"{label}: " + ", ".join(cells))
    return lines


def _explainer(
    pre: A.ZState, post: A.ZState
) -> Explainer[A.Transition, A.Conjunct]:
    def explainer(
        transition: A.Transition, name: str, conjunct: A.Conjunct | None, goal: Formula
    ) -> Callable[[str], Explanation | None]:
        def explain(verdict: str) -> Explanation | None:
            """Name the first variant of the action that breaks the conjunct, with its model
            (an `unknown` is left as it is)."""
            if verdict != "fails":
                return None
            solver = z3.Solver()
            solver.set("timeout", EXPLAIN_TIMEOUT_MS)
            solver.add(A.invariant(pre), z3.Not(goal))
            for variant in transition.variants:
                solver.push()
                solver.add(variant.formula)
                if solver.check() == z3.sat:
                    lines = counterexample(
                        solver.model(), pre, post, transition.params, conjunct
                    )
                    return Explanation(verdict, variant.label, lines)
                solver.pop()
            return None

        return explain

    return explainer


class CyclicFlashcopyProof:
    """Design A's proof obligations, over grains and values of any number."""

    design = DESIGN

    def obligations(self, options: DesignOptions) -> Iterator[Obligation]:
        if not isinstance(options, Options):
            raise WrongDesign(f"design A's proof was given {type(options).__qualname__}")
        pre, post = A.fresh_state("pre"), A.fresh_state("post")
        parts = InductiveParts(
            A.initial, A.invariant, A.monotonic, A.goal, A.transitions(pre, post, options)
        )
        yield from inductive_obligations(
            pre, post, A.CONJUNCTS, _check, parts, _explainer(pre, post)
        )


def _check(conjunct: A.Conjunct, state: A.ZState) -> Formula:
    return conjunct.check(state)


ENCODING: Encoding = CyclicFlashcopyProof()


