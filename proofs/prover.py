"""Inductive invariant checking, one solver query per action x conjunct (designs A and B).

Checks: Init => each conjunct; Inv /\\ action => each conjunct' and the monotonic step property
(inv_commit_monotonic), for every action including crashes (cut after any write) and recovery;
Inv => goal.  A query that is not `unsat` names the action and the conjunct; for a `sat` one the
failing variant of the action is found and its counterexample printed in the model's vocabulary,
grain by grain, before and after (design A; design B's nested arrays leave z3 answering
`unknown` rather than giving a model, which is reported as such).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import z3

from pitmirror.model.cyclic_flashcopy import Options
from pitmirror.model.freeze_overlay import Options as BOptions
from pitmirror.proofs import cyclic_flashcopy as A
from pitmirror.proofs import freeze_overlay as B
from pitmirror.proofs.freeze_overlay_finite import finite_encoding
from pitmirror.proofs.sorts import ZERO, Grain, Val

QUERY_TIMEOUT_MS = 5_000
MONOTONIC = "inv_commit_monotonic"
GOAL = "inv_target_is_committed_image"


@dataclass
class Query:
    check: str  # "init", an action name, or "goal"
    conjunct: str
    verdict: str  # "ok", "fails", "unknown"
    seconds: float
    variant: str | None = None
    counterexample: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.verdict == "ok"

    def line(self) -> str:
        what = {
            "init": f"checking Init: establishes {self.conjunct}",
            "goal": f"checking the invariant: implies {self.conjunct}",
        }.get(self.check, f"checking {self.check}: preserves {self.conjunct}")
        verdict = self.verdict if self.variant is None else f"{self.verdict} ({self.variant})"
        return f"{what} ... {verdict}"


@dataclass
class ProofReport:
    design: str
    options: Options
    queries: list[Query]
    seconds: float

    @property
    def proved(self) -> bool:
        return all(q.ok for q in self.queries)

    @property
    def failures(self) -> list[Query]:
        return [q for q in self.queries if not q.ok]


def _solve(solver: z3.Solver, *facts: Any) -> tuple[str, float]:
    started = time.monotonic()
    solver.push()
    solver.add(*facts)
    result = solver.check()
    solver.pop()
    verdict = "ok" if result == z3.unsat else "fails" if result == z3.sat else "unknown"
    return verdict, time.monotonic() - started


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


def prove(options: Any) -> ProofReport:
    """Prove the design whose `Options` these are (design A's or design B's)."""
    encoding: Any = B if isinstance(options, BOptions) else A
    design = "freeze-overlay" if encoding is B else "cyclic-flashcopy"
    started = time.monotonic()
    solver = z3.Solver()
    solver.set("timeout", QUERY_TIMEOUT_MS)
    pre, post = encoding.fresh_state("pre"), encoding.fresh_state("post")
    queries: list[Query] = []
    for conjunct in encoding.CONJUNCTS:
        verdict, seconds = _solve(solver, encoding.initial(pre), z3.Not(conjunct.check(pre)))
        queries.append(Query("init", conjunct.name, verdict, seconds))
    invariant = encoding.invariant(pre)
    step_goals: list[tuple[str, Any, Any]] = [
        *[(c.name, c.check(post), c) for c in encoding.CONJUNCTS],
        (MONOTONIC, encoding.monotonic(pre, post), None),
    ]
    for transition in encoding.transitions(pre, post, options):
        for name, goal, broken in step_goals:
            verdict, seconds = _solve(solver, invariant, transition.relation(), z3.Not(goal))
            query = Query(transition.name, name, verdict, seconds)
            if verdict == "fails" and encoding is A:
                _explain(solver, query, invariant, transition, goal, broken, (pre, post))
            elif verdict != "ok" and encoding is B:
                _explain_finite(query, options, transition.name, name)
            queries.append(query)
    verdict, seconds = _solve(solver, invariant, z3.Not(encoding.goal(pre)))
    queries.append(Query("goal", GOAL, verdict, seconds))
    return ProofReport(design, options, queries, time.monotonic() - started)


def _explain(
    solver: z3.Solver,
    query: Query,
    invariant: Any,
    transition: A.Transition,
    goal: Any,
    conjunct: A.Conjunct | None,
    states: tuple[A.ZState, A.ZState],
) -> None:
    """Name the first variant of the action that breaks the conjunct, with its model."""
    pre, post = states
    for variant in transition.variants:
        solver.push()
        solver.add(invariant, variant.formula, z3.Not(goal))
        if solver.check() == z3.sat:
            query.variant = variant.label
            query.counterexample = counterexample(
                solver.model(), pre, post, transition.params, conjunct
            )
            solver.pop()
            return
        solver.pop()


FINITE_SIZES = (2, 2, 2)  # members, remotes, grains
FINITE_TIMEOUT_MS = 30_000  # decided in well under a second here; the margin is for loaded CI


def _explain_finite(query: Query, options: Any, action: str, conjunct: str) -> None:
    """Design B: ask the same question over finite sorts, where z3 decides it, and print the
    model at the action's member, remote and grain."""
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
        return
    query.verdict = "fails"
    query.variant = (
        f"{FINITE_SIZES[0]} members, {FINITE_SIZES[1]} remotes, {FINITE_SIZES[2]} grains"
    )
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
    query.counterexample = lines
