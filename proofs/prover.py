"""Inductive invariant checking: one solver query per obligation of a design's encoding.

The obligations (proofs/obligations.py): Init => each conjunct; Inv /\\ action => each
conjunct' and the monotonic step property (inv_commit_monotonic), for every action including
crashes and recovery; Inv => goal.  A query that is not `unsat` names the action and the
conjunct, and the design explains it in its own vocabulary (the failing variant of the action
and a counterexample, before and after).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import z3

from pitmirror.model.options import DesignOptions
from pitmirror.proofs.obligations import GOAL, MONOTONIC, Encoding, Formula

__all__ = ["GOAL", "MONOTONIC", "ProofReport", "Query", "prove"]

QUERY_TIMEOUT_MS = 5_000


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


def _solve(solver: z3.Solver, *facts: Formula) -> tuple[str, float]:
    started = time.monotonic()
    solver.push()
    solver.add(*facts)
    result = solver.check()
    solver.pop()
    if result == z3.unknown:
        # z3's search depends on the terms the process made before (a test run of random
        # terms turned a proved query `unknown`): ask once more in a context of its own
        context = z3.Context()
        fresh = z3.Solver(ctx=context)
        fresh.set("timeout", QUERY_TIMEOUT_MS)
        fresh.add(*[fact.translate(context) for fact in facts])
        result = fresh.check()
    verdict = "ok" if result == z3.unsat else "fails" if result == z3.sat else "unknown"
    return verdict, time.monotonic() - started


def prove(encoding: Encoding, options: DesignOptions) -> ProofReport:
    """Ask every obligation of `encoding` under `options`; explain each that is not proved."""
    started = time.monotonic()
    solver = z3.Solver()
    solver.set("timeout", QUERY_TIMEOUT_MS)
    queries: list[Query] = []
    for obligation in encoding.obligations(options):
        verdict, seconds = _solve(solver, *obligation.facts)
        query = Query(obligation.check, obligation.conjunct, verdict, seconds)
        if verdict != "ok" and obligation.explain is not None:
            explained = obligation.explain(verdict)
            if explained is not None:
                query.verdict, query.variant = explained.verdict, explained.variant
                query.counterexample = explained.lines
        queries.append(query)
    return ProofReport(encoding.design, options, queries, time.monotonic() - started)
