"""The roles' checks: their proof, the bridge from each design's cycle, and their mutants.

The roles of a pair (model/roles_rules.py) are written once for both designs; their proof
(proofs/roles.py) holds for any volume and any epoch, each design's invariant implies what the
roles assume of its cycle (proofs/<design>_roles.py), and every roles mutant is refuted by the
proof and reaches a violation of the model by breadth-first search (the shortest trace).
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pitmirror.harness.design import Design
from pitmirror.harness.designs import design_named, safe_configurations
from pitmirror.harness.roles_lockstep import memory_lockstep, run_roles
from pitmirror.model import roles
from pitmirror.model.actions import Action
from pitmirror.model.options import DesignOptions
from pitmirror.proofs import roles as roles_proof
from pitmirror.proofs.prover import ProofReport, prove

SEARCH_CONFIG = roles.Config(grains=1, max_epoch=3, max_crash_writes=1)
"""the world a mutant's violation is searched in: every roles mutant breaks within it"""
SEARCH_STATES = 200_000
ENGINE_DESIGNS = ("cyclic-flashcopy", "freeze-overlay")
"""the designs whose engines a mutant's row runs the model's trace on (each names the pair's
two sites its own way: the trace's sites renamed in order)"""


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
    engines: dict[str, str | None] = dataclasses.field(default_factory=dict)
    """the property each design's engine broke on the trace, in lockstep under the mutant (None:
    none)"""

    @property
    def caught(self) -> bool:
        return not self.proof.proved and self.trace is not None and bool(self.engines) and \
            all(broke == self.violated for broke in self.engines.values())  # fmt: skip


def check_mutant(name: str, engine: bool = True) -> MutantOutcome:
    """The proof must fail for the mutant, the model must reach a violation, and each design's
    engine, stepped with the model's trace under the mutant, must break the same property."""
    started = time.monotonic()
    options = roles.UNSAFE_OPTIONS[name]
    proof = prove_roles(options)
    found = roles.search(SEARCH_CONFIG, options, SEARCH_STATES)
    broke: dict[str, str | None] = {}
    if engine and found.counterexample is not None:
        broke = {design: engine_breaks(design, found.counterexample, options)
                 for design in ENGINE_DESIGNS}  # fmt: skip
    return MutantOutcome(name, proof, found.counterexample, found.violated, found.states,
                         time.monotonic() - started, broke)  # fmt: skip


def engine_breaks(design: str, trace: list[Action], options: roles.Options) -> str | None:
    """The property the design's engine breaks on `trace` under `options` (memory volumes), or
    None when it breaks none or parts from the model first."""
    with tempfile.TemporaryDirectory(prefix="pitmirror-roles-") as workdir:
        lockstep = memory_lockstep(design_named(design), SEARCH_CONFIG.grains, Path(workdir),
                                   options)  # fmt: skip
        named = dict(zip(SEARCH_CONFIG.sites, lockstep.world.sites, strict=True))
        try:
            last = run_roles(lockstep, [renamed(a, named) for a in trace])[-1]
        finally:
            lockstep.world.close()
    return last.predicate if last.status == "violation" else None


def renamed(action: Action, sites: dict[str, str]) -> Action:
    """The action at the site a design names as `sites` maps the model's."""
    site = getattr(action, "site", None)
    if not isinstance(site, str) or site not in sites:
        return action
    sited: Any = action  # every action with a site is a dataclass with that field
    moved: Action = dataclasses.replace(sited, site=sites[site])
    return moved
