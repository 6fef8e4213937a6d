"""Design B's proof: the safe design is proved, and every mutant is refuted with a trace.

The encoding is the model's own rules evaluated over Z3 terms (proofs/freeze_overlay.py), so
there is no second text of the design to hold to the first; tests/test_algebra.py holds the
algebra's two interpretations to each other instead."""

from __future__ import annotations

from pathlib import Path

import pytest

from pitmirror.harness.power_loss import explore
from pitmirror.harness.prove import prove_design
from pitmirror.harness.traces import read_trace
from pitmirror.model import freeze_overlay as M
from pitmirror.model import freeze_overlay_rules as rules
from pitmirror.proofs.freeze_overlay import UNBOUNDED
from pitmirror.proofs.freeze_overlay_proof import ENCODING
from pitmirror.proofs.prover import ProofReport
from pitmirror.proofs.prover import prove as prove_with


def test_every_rule_is_a_transition_of_the_proof() -> None:
    """Nothing of the design is left out of the proof: each rule is one relation, by name."""
    pre, post = UNBOUNDED.fresh_state("pre"), UNBOUNDED.fresh_state("post")
    names = {t.name for t in UNBOUNDED.transitions(pre, post, M.Options())}
    assert set(rules.RULES) <= names


def test_the_cuts_of_an_action_are_derived_from_its_writes() -> None:
    """A power loss between MarkComplete's two records (the remote's mark written, the home
    down before its own) is a way the plan ends, derived; so is a power loss with earlier
    actions' merges still in flight (the ghost), at any action's end and between actions: no
    cut is written by hand, not even for the flush-order mutant."""
    pre, post = UNBOUNDED.fresh_state("pre"), UNBOUNDED.fresh_state("post")
    safe = {t.name: t for t in UNBOUNDED.transitions(pre, post, M.Options())}
    assert set(safe) == set(rules.RULES)
    ends = [label for label, _ in safe["MarkComplete"].variants]
    assert "power lost at the home site after the remote's complete mark: nothing in flight" in ends
    assert "power lost after the data: the data lost, whole or torn" in [
        label for label, _ in safe["CopyDelta"].variants
    ]
    assert "a power loss" in [label for label, _ in safe["CrashSite(remote)"].variants]
    unflushed = M.POWER_LOSS_OPTIONS["drop-before-merge-flushed"]
    assert {t.name for t in UNBOUNDED.transitions(pre, post, unflushed)} == set(rules.RULES)


def prove(options: M.Options) -> ProofReport:
    return prove_with(ENCODING, options)


PROOF_TRACES = sorted(
    (Path(__file__).resolve().parent.parent / "traces" / "proofs").glob("*.jsonl")
)


def test_every_recorded_proof_trace_is_there() -> None:
    bfs = [p.name.removesuffix(".jsonl") for p in PROOF_TRACES if "-bfs-" in p.name]
    mutants = {**M.UNSAFE_OPTIONS, **M.POWER_LOSS_OPTIONS}
    assert len(bfs) == len(mutants)
    assert all(any(n.endswith(f"-{name}") for n in bfs) for name in mutants)


POWER_LOSS_BREAKS = {
    "host-data-unflushed": ("HostWrite", "inv_10_active_is_since_pk", "the data lost"),
    "copy-data-unflushed": ("CopyDelta", "inv_4_received_is_the_point", "the data lost"),
    "complete-unflushed": ("MarkComplete", "inv_2_remote_phase", "the newest record lost"),
    # the drop's flush covers merges of earlier actions (the ghost of writes in flight): the
    # drop recorded, then the power lost, the merged grains lost under no delta
    "drop-before-merge-flushed": ("DropRemoteDelta", "inv_5_incomplete_base_is_its_point",
                                  "power lost after the drop record"),
}  # fmt: skip
"""each power-loss mutant: the action and conjunct its proof fails at, and what the power loss
that ends the action's plan there leaves in flight (derived from the action's writes)"""


@pytest.mark.parametrize("name", sorted(POWER_LOSS_BREAKS))
def test_a_power_loss_mutant_is_refuted_and_its_crash_state_pinned(
    name: str, tmp_path: Path
) -> None:
    """The proof knows durability: the mutant's unflushed write, cut by a power loss, breaks
    the invariant; the search reaches it and the power-loss explorer pins the crash state."""
    assert set(POWER_LOSS_BREAKS) == set(M.POWER_LOSS_OPTIONS)
    outcome = prove_design(M.POWER_LOSS_OPTIONS[name], tmp_path)
    assert not outcome.proved
    action, conjunct, ending = POWER_LOSS_BREAKS[name]
    [failure] = [q for q in outcome.report.failures if (q.check, q.conjunct) == (action, conjunct)]
    assert ending in (failure.variant or ""), failure.variant
    assert outcome.trace is not None and outcome.trace.power_loss is not None
    assert outcome.saved_to is not None
    replayed = explore(read_trace(outcome.saved_to))
    assert replayed.states == 1 and replayed.first is not None
    assert replayed.first.predicate == outcome.trace.violates


@pytest.mark.slow
def test_design_b_is_proved_and_every_mutant_is_not() -> None:
    for order in (M.Options(), M.Options(pipelined=False)):  # pipelined, and the stricter one
        report = prove(order)
        assert report.proved, [q.line() for q in report.failures]
    broken = {
        "merge-before-complete": ("MergeRemote", "inv_5_incomplete_base_is_its_point"),
        "drop-before-every-remote": ("FreezeGroup", "inv_2_remote_phase"),
        "freeze-members-one-at-a-time": ("FreezeGroup", "inv_12_one_instant"),
    }
    for name, (action, conjunct) in broken.items():
        failures = {(q.check, q.conjunct): q for q in prove(M.UNSAFE_OPTIONS[name]).failures}
        assert (action, conjunct) in failures, name
        # over finite sorts the same query fails with a model, printed in model vocabulary
        at_fault = failures[(action, conjunct)]
        assert at_fault.verdict == "fails" and at_fault.counterexample, name
        assert at_fault.counterexample[0].startswith("the action"), at_fault.counterexample
        assert not any("[" in line or "Val!" in line for line in at_fault.counterexample)
