"""The roles' checks: their proof, the bridge from each design's cycle, and their mutants.

The roles of a pair (model/roles_rules.py) are written once for both designs; their proof
(proofs/roles.py) holds for any volume and any epoch, each design's invariant implies what the
roles assume of its cycle (proofs/<design>_roles.py), and every roles mutant is refuted by the
proof and reaches a violation of the model by breadth-first search (the shortest trace).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from pitmirror.harness.design import Design
from pitmirror.harness.designs import safe_configurations
from pitmirror.model import roles
from pitmirror.model.actions import Action
from pitmirror.model.options import DesignOptions
from pitmirror.proofs import roles as roles_proof
from pitmirror.proofs.prover import ProofReport, prove

SEARCH_CONFIG = roles.Config(grains=1, max_epoch=3, max_crash_writes=1)
"""the world a mutant's violation is searched in: every roles mutant breaks within it"""
SEARCH_STATES = 200_000


def bridges() -> list[tuple[str, Design, DesignOptions]]:
    """Every safe configuration the property runs check, whose cycle the roles rely on: a
    label, the design and its options."""
    found = []
    for design, options in safe_configurations():
        choice = ", ".join(f"{k}={v}" for k, v in options.non_default().items())
        found.append((design.short + (f", {choice}" if choice else ""), design, options))
    return found


def prove_roles(options: roles.Options | None = None) -> ProofReport:
    return prove(roles_proof.ENCODING, options or roles.Options())


def prove_bridge(design: Design, options: DesignOptions) -> ProofReport:
    return prove(design.roles_bridge, options)


@dataclass(frozen=True)
class MutantOutcome:
    name: str
    proof: ProofReport
    trace: list[Action] | None
    violated: str | None
    states: int
    seconds: float

    @property
    def caught(self) -> bool:
        return not self.proof.proved and self.trace is not None


def check_mutant(name: str) -> MutantOutcome:
    """The proof must fail for the mutant and the model must reach a violation."""
    started = time.monotonic()
    options = roles.UNSAFE_OPTIONS[name]
    proof = prove_roles(options)
    found = roles.search(SEARCH_CONFIG, options, SEARCH_STATES)
    return MutantOutcome(name, proof, found.counterexample, found.violated, found.states,
                         time.monotonic() - started)  # fmt: skip
