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
from pitmirror.model.cyclic_flashcopy_rules import PairView
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
from pitmirror.proofs.sorts import ZERO, Grain

EXPLAIN_TIMEOUT_MS = 5_000


# words for the encoding's fields, as a storage engineer reads them
_VOLUME_WORDS = {
    "source": "source",
    "i1": "I1",
    "i2": "I2",
    "target": "target",
    "acked": "host's view",
    "pc": "P_c (committed image)",
    "pk": "P_k (newest point)",
}
_MAP_WORDS = {
    "copy_map": "to copy",
    "future_map": "written since P_k",
    "out_of_sync": "out of sync",
    "received_map": "received this cycle",
    "target_map": "committed value still in I2",
}
_FLAG_WORDS = {"link_up": "link", "local_up": "local site", "remote_up": "remote site"}


class _Names:
    """Words and small numbers for the elements of a counterexample's finite universes: the
    action's grain or the grains of its extent come first, other grains follow; the zero value
    is 0 and every other value is numbered 1, 2, ... in the order the lines first show it."""

    def __init__(self, model: z3.ModelRef, params: dict[str, Any]) -> None:
        self.model = model
        grains = model.get_universe(Grain) or []
        action_grain = model.eval(params["grain"], True) if "grain" in params else None
        extent = params.get("extent")

        def in_extent(e: Any) -> bool:
            return extent is not None and z3.is_true(model.eval(extent[e], True))

        def mine(e: Any) -> bool:
            return (action_grain is not None and e.eq(action_grain)) or in_extent(e)

        ordered = sorted(grains, key=lambda e: 0 if mine(e) else 1)
        self.grains: list[tuple[Any, str, bool]] = []
        for i, e in enumerate(ordered):
            label = f"grain {i}"
            if action_grain is not None and e.eq(action_grain):
                label += " (the action's grain)"
            elif in_extent(e):
                label += " (in the action's extent)"
            self.grains.append((e, label, mine(e)))
        self.zero = str(model.eval(ZERO, True))
        self.values: dict[str, str] = {self.zero: "0"}

    def value(self, expr: Any) -> str:
        got = str(self.model.eval(expr, True))
        if got not in self.values:
            self.values[got] = str(len(self.values))
        return self.values[got]

    def flag(self, expr: Any) -> bool:
        return bool(z3.is_true(self.model.eval(expr, True)))


def _change(before: str, after: str) -> str:
    return before if before == after else f"{before} -> {after}"


def counterexample(
    model: z3.ModelRef,
    pre: PairView,
    post: PairView,
    params: dict[str, Any],
    broken: A.Conjunct | None = None,
) -> list[str]:
    """In words: the action's data, the cycle and what is up, then every grain that the action
    touched or that breaks the conjunct afterwards, volume by volume and map by map
    (`before -> after` where it changed)."""
    names = _Names(model, params)
    lines = []
    if "data" in params:
        lines.append(f"the host writes value {names.value(params['data'])}")
    state = []
    for n, word in (("cycle", "cycle k"), ("committed", "committed point c")):
        was, now = (str(model.eval(getattr(s, n), True)) for s in (pre, post))
        state.append(f"{word} {_change(was, now)}")
    for n, word in _FLAG_WORDS.items():
        was, now = ("up" if names.flag(getattr(s, n)) else "down" for s in (pre, post))
        state.append(f"{word} {_change(was, now)}")
    lines.append(", ".join(state))
    for element, label, mine in names.grains:
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
        if not (touched or breaks or mine):
            continue
        if breaks and broken is not None:
            label += f", breaks {broken.name}"
        cells = []
        for n, word in _VOLUME_WORDS.items():
            was, now = (names.value(getattr(s, n)[element]) for s in (pre, post))
            cells.append(f"{word} {_change(was, now)}")
        for n, word in _MAP_WORDS.items():
            had, has = (names.flag(getattr(s, n)[element]) for s in (pre, post))
            if had or has:
                cells.append(word if had == has else f"{word}: {'yes' if had else 'no'} -> "
                             f"{'yes' if has else 'no'}")  # fmt: skip
        lines.append(f"{label}: " + ", ".join(cells))
    return lines


def _explainer(pre: PairView, post: PairView) -> Explainer[A.Transition, A.Conjunct]:
    def explainer(
        transition: A.Transition, name: str, conjunct: A.Conjunct | None, goal: Formula
    ) -> Callable[[str], Explanation | None]:
        def explain(verdict: str) -> Explanation | None:
            """Name the first variant of the action that breaks the conjunct, with its model.
            An `unknown` is asked again variant by variant: z3's answer to a satisfiable query
            with quantifiers depends on its heuristics (the terms a process built before), and
            a variant's model is a counterexample all the same; `unknown` stays otherwise."""
            solver = z3.Solver()
            solver.set("timeout", EXPLAIN_TIMEOUT_MS)
            solver.add(A.invariant(pre), z3.Not(goal))
            for variant in transition.variants:
                solver.push()
                solver.add(variant.formula)
                if solver.check() == z3.sat:
                    lines = counterexample(solver.model(), pre, post, transition.params, conjunct)
                    return Explanation("fails", variant.label, lines)
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
            A.initial,
            A.invariant,
            A.monotonic,
            A.goal,
            A.transitions(pre, post, options),
            A.reads,
        )
        yield from inductive_obligations(
            pre, post, A.CONJUNCTS, _check, parts, _explainer(pre, post)
        )


def _check(conjunct: A.Conjunct, state: PairView) -> Formula:
    return conjunct.check(state)


ENCODING: Encoding = CyclicFlashcopyProof()
