"""Inductive invariant checking: one solver query per obligation of a design's encoding.

The obligations (proofs/obligations.py): Init => each conjunct; Inv /\\ action => each
conjunct' and the monotonic step property (inv_commit_monotonic), for every action including
crashes and recovery; Inv => goal.  A query that is not `unsat` names the action and the
conjunct, and the design explains it in its own vocabulary (the failing variant of the action
and a counterexample, before and after).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import z3

from pitmirror.model.options import DesignOptions
from pitmirror.proofs.obligations import GOAL, MONOTONIC, Encoding, Formula, Obligation

__all__ = ["GOAL", "MONOTONIC", "ProofReport", "Query", "prove"]

QUERY_TIMEOUT_MS = 5_000
FOCUS_TIMEOUT_MS = 1_000  # a frame obligation is decided at once there (under 0.05 s measured)
RETRY_SEED = 7


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
    options: DesignOptions
    queries: list[Query]
    seconds: float

    @property
    def proved(self) -> bool:
        return all(q.ok for q in self.queries)

    @property
    def failures(self) -> list[Query]:
        return [q for q in self.queries if not q.ok]


def _check(solver: z3.Solver, facts: tuple[Formula, ...], timeout_ms: int) -> z3.CheckSatResult:
    solver.set("timeout", timeout_ms)
    solver.push()
    solver.add(*facts)
    try:
        return solver.check()
    finally:
        solver.pop()


def _retry(solver: z3.Solver, obligation: Obligation) -> z3.CheckSatResult:
    """An `unknown` asked again: z3's quantifier search depends on its random seed and on the
    terms the process made before, and a proved query can run out of time for one of them.
    First with the conjunct's own hypothesis only (`unsat` there proves it too), then in a z3
    context of its own with another seed."""
    focus = obligation.focus
    if focus is not None and _check(solver, focus, FOCUS_TIMEOUT_MS) == z3.unsat:
        return z3.unsat
    context = z3.Context()
    fresh = z3.Solver(ctx=context)
    fresh.set("timeout", QUERY_TIMEOUT_MS)
    fresh.set("random_seed", RETRY_SEED)
    fresh.add(*[fact.translate(context) for fact in obligation.facts])
    return fresh.check()


def _verdict(result: z3.CheckSatResult) -> str:
    return "ok" if result == z3.unsat else "fails" if result == z3.sat else "unknown"


def _ask(solver: z3.Solver, obligation: Obligation) -> Query:
    """One obligation's query, explained when it is not proved.  A counterexample the design
    finds (over finite sorts) settles an `unknown`; only one without is asked again."""
    started = time.monotonic()
    verdict = _verdict(_check(solver, obligation.facts, QUERY_TIMEOUT_MS))
    explain = obligation.explain
    explained = explain(verdict) if verdict != "ok" and explain is not None else None
    if verdict == "unknown" and (explained is None or explained.verdict != "fails"):
        verdict = _verdict(_retry(solver, obligation))
        if verdict == "ok":
            explained = None
    query = Query(obligation.check, obligation.conjunct, verdict, time.monotonic() - started)
    if explained is not None:
        query.verdict, query.variant = explained.verdict, explained.variant
        query.counterexample = explained.lines
    return query


Progress = Callable[[int, int], None]
"""told (queries asked so far, queries in all) before each query"""


def prove(
    encoding: Encoding, options: DesignOptions, progress: Progress | None = None
) -> ProofReport:
    """Ask every obligation of `encoding` under `options`; explain each that is not proved."""
    started = time.monotonic()
    solver = z3.Solver()
    obligations = list(encoding.obligations(options))
    queries = []
    for asked, obligation in enumerate(obligations):
        if progress is not None:
            progress(asked, len(obligations))
        queries.append(_ask(solver, obligation))
    return ProofReport(encoding.design, options, queries, time.monotonic() - started)
