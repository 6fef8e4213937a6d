"""The Z3 proof of design A: proved as designed, and refuted for every mutant with a replayable
trace.  The relation it proves is derived from the rules the reference model runs
(model/cyclic_flashcopy_rules.py), so nothing holds the two together by hand."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pitmirror.harness.prove import prove_design
from pitmirror.harness.replay import on_engine
from pitmirror.harness.traces import read_trace
from pitmirror.model import cyclic_flashcopy as M
from pitmirror.proofs import cyclic_flashcopy as A
from pitmirror.proofs.cyclic_flashcopy_proof import ENCODING
from pitmirror.proofs.obligations import READS
from pitmirror.proofs.prover import GOAL, ProofReport
from pitmirror.proofs.prover import prove as prove_with


def prove(options: M.Options) -> ProofReport:
    return prove_with(ENCODING, options)


PROOF_TRACES = sorted(
    (Path(__file__).resolve().parent.parent / "traces" / "proofs").glob("*.jsonl")
)


def test_the_safe_design_is_proved_query_by_query() -> None:
    report = prove(M.Options())
    assert report.proved, [q.line() for q in report.failures]
    checks = {q.check for q in report.queries}
    assert {
        "init",
        "goal",
        "HostWrite",
        "HostRead",
        "CommitPoint",
        "CrashSite(remote)",
        "Recover(local)",
    } <= checks
    per_action = len(A.CONJUNCTS) + 1  # every conjunct and the monotonic step property
    assert sum(q.check == "CopyGrain" for q in report.queries) == per_action
    assert report.queries[-1].line() == f"checking the invariant: implies {GOAL} ... ok"
    assert report.queries[-2].line() == f"checking the invariant: implies {READS} ... ok"


def test_claim5_update_rule_is_proved_too() -> None:
    assert prove(M.Options(map_rule="update")).proved


MUTANTS = {**M.UNSAFE_OPTIONS, **M.POWER_LOSS_OPTIONS}


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_every_mutant_is_refuted_with_a_counterexample_and_a_trace(
    name: str, tmp_path: Path, loop_backend: str
) -> None:
    """A power-loss mutant's trace pins the crash state its path goes through (`pitmirror
    crash` finds it); it may break another predicate than the goal (an acknowledged write or a
    commit lost)."""
    outcome = prove_design(MUTANTS[name], tmp_path)
    assert not outcome.proved
    failing = outcome.report.failures[0]
    assert failing.verdict == "fails" and failing.variant
    grains = [line for line in failing.counterexample if line.startswith("grain ")]
    per_grain = any(c.name == failing.conjunct and c.at is not None for c in A.CONJUNCTS)
    assert grains or not per_grain  # a conjunct over numbers may be broken by numbers alone
    assert all("source " in line and "P_c (committed image) " in line for line in grains)
    assert not any(re.search(r"\bv\d|\bpc |\{", line) for line in failing.counterexample)
    assert outcome.trace is not None and outcome.saved_to is not None
    result = on_engine(read_trace(outcome.saved_to), loop_backend)
    if name in M.POWER_LOSS_OPTIONS:
        assert outcome.trace.power_loss is not None and result.violated, result.verdict()
    else:
        assert result.violated == GOAL, result.verdict()


def test_every_recorded_proof_trace_is_there() -> None:
    bmc = {
        p.name.split("-bmc-")[1].removesuffix(".jsonl") for p in PROOF_TRACES if "-bmc-" in p.name
    }
    assert bmc == set(MUTANTS)
