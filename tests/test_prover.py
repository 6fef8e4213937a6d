"""The prover's verdicts when z3 answers `unknown`: the conjunct's own hypothesis may still
prove the obligation; without it the verdict stays honest."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import z3

from pitmirror.model.options import DesignOptions
from pitmirror.proofs import prover
from pitmirror.proofs.obligations import Explanation, Obligation


@dataclass(frozen=True)
class NoOptions(DesignOptions):
    pass


def _undecided() -> z3.BoolRef:
    """A fact z3 runs out of time on: unsatisfiable only by induction over h's chain, which
    no finite set of instances shows."""
    s = z3.DeclareSort("S")
    y = z3.Const("y", s)
    h = z3.Function("h", s, s)
    p = z3.Function("p", s, z3.IntSort())
    return z3.And(z3.ForAll([y], p(h(y)) > p(y) + 1), z3.ForAll([y], p(y) < 100))


@dataclass(frozen=True)
class OneQuery:
    obligation: Obligation
    design: str = "test"

    def obligations(self, options: DesignOptions) -> Iterator[Obligation]:
        yield self.obligation


@pytest.fixture(autouse=True)
def short_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prover, "QUERY_TIMEOUT_MS", 300)


def test_an_unknown_query_is_proved_by_the_conjuncts_own_hypothesis() -> None:
    conjunct = z3.Bool("conjunct")
    obligation = Obligation(
        "Act", "inv_1", (_undecided(), conjunct), focus=(conjunct, z3.Not(conjunct))
    )
    report = prover.prove(OneQuery(obligation), NoOptions())
    assert [q.verdict for q in report.queries] == ["ok"]


def test_an_unknown_query_stays_unknown_when_the_focus_does_not_prove_it() -> None:
    conjunct = z3.Bool("conjunct")
    obligation = Obligation("Act", "inv_1", (_undecided(), conjunct), focus=(conjunct,))
    report = prover.prove(OneQuery(obligation), NoOptions())
    assert [q.verdict for q in report.queries] == ["unknown"]
    assert not report.proved


def test_a_counterexample_settles_an_unknown_without_asking_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_retry(solver: z3.Solver, obligation: Obligation) -> z3.CheckSatResult:
        raise AssertionError("a query with a counterexample was asked again")

    monkeypatch.setattr(prover, "_retry", no_retry)
    found = Explanation("fails", "2 grains", ["grain 1: 0 (expected 1)"])
    obligation = Obligation("Act", "inv_1", (_undecided(),), explain=lambda verdict: found)
    [query] = prover.prove(OneQuery(obligation), NoOptions()).queries
    assert (query.verdict, query.variant, query.counterexample) == (
        "fails",
        "2 grains",
        ["grain 1: 0 (expected 1)"],
    )


def test_an_explanation_of_an_unknown_is_dropped_when_asking_again_proves_it() -> None:
    conjunct = z3.Bool("conjunct")
    unsure = Explanation("unknown", None, ["no counterexample at 2 grains"])
    obligation = Obligation("Act", "inv_1", (_undecided(), conjunct),
                            explain=lambda verdict: unsure,
                            focus=(conjunct, z3.Not(conjunct)))  # fmt: skip
    [query] = prover.prove(OneQuery(obligation), NoOptions()).queries
    assert (query.verdict, query.counterexample) == ("ok", [])


@dataclass(frozen=True)
class ThreeQueries:
    design: str = "test"

    def obligations(self, options: DesignOptions) -> Iterator[Obligation]:
        for name in ("A", "B", "C"):
            fact = z3.Bool(name)
            yield Obligation(name, "inv_1", (fact, z3.Not(fact)))


def test_the_prover_tells_each_query_before_it_asks_it() -> None:
    told: list[tuple[int, int]] = []
    report = prover.prove(
        ThreeQueries(), NoOptions(), lambda asked, total: told.append((asked, total))
    )
    assert told == [(0, 3), (1, 3), (2, 3)] and len(report.queries) == 3 and report.proved
