"""`pitmirror prove` as data: the proof, and for a refuted design a checked counterexample trace.

For an unsafe option the failing queries carry their counterexamples; bounded model checking
then finds a reachable violation from Init, the model-based shrinker simplifies it, and the
result is a trace (written when a folder is given) that replays as a violation.
"""

from __future__ import annotations

import datetime
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pitmirror.harness.designs import Subject
from pitmirror.harness.shrink import shrink
from pitmirror.harness.traces import Trace, write_trace
from pitmirror.model import cyclic_flashcopy as design_a
from pitmirror.model import freeze_overlay as design_b
from pitmirror.model.explore import explore
from pitmirror.proofs.cyclic_flashcopy_bmc import BmcResult, find_violation
from pitmirror.proofs.prover import GOAL, ProofReport, prove

BMC_GRAINS = 2
TRACE_GRAIN_SIZE = 4096


@dataclass
class ProveOutcome:
    report: ProofReport
    bmc: BmcResult | None
    trace: Trace | None
    saved_to: Path | None

    @property
    def proved(self) -> bool:
        return self.report.proved

    def to_json(self) -> dict[str, Any]:
        return {
            "design": self.report.design,
            "options": self.report.options.to_json(),
            "proved": self.proved,
            "seconds": round(self.report.seconds, 3),
            "queries": [
                {
                    "check": q.check,
                    "conjunct": q.conjunct,
                    "verdict": q.verdict,
                    "seconds": round(q.seconds, 4),
                    "variant": q.variant,
                    "counterexample": q.counterexample,
                }
                for q in self.report.queries
            ],
            "bmc": None
            if self.bmc is None
            else {"depth": self.bmc.depth, "seconds": round(self.bmc.seconds, 3)},
            "trace": str(self.saved_to) if self.saved_to else None,
        }


def prove_design(options: Any, save_dir: Path | None = None) -> ProveOutcome:
    report = prove(options)
    if report.proved:
        return ProveOutcome(report, None, None, None)
    if isinstance(options, design_b.Options):
        return _explicit_counterexample(report, options, save_dir)
    bmc = find_violation(options, grains=BMC_GRAINS)
    if bmc.actions is None:
        return ProveOutcome(report, bmc, None, None)
    initial = design_a.initial_state(design_a.Config(grains=BMC_GRAINS), options)
    actions = shrink(bmc.actions, initial, GOAL)
    failing = report.failures[0]
    label = Subject(design_a.DESIGN, options).label()
    trace = Trace(
        design=design_a.DESIGN,
        grains=BMC_GRAINS,
        grain_size=TRACE_GRAIN_SIZE,
        why=(
            f"{label}: the proof fails at {failing.check} / {failing.conjunct}; "
            f"bounded model checking from Init reached a violation in {bmc.depth} steps"
        ),
        actions=actions,
        options=options,
        expect="violation",
        violates=GOAL,
    )
    saved = None
    if save_dir is not None:
        stamp = datetime.date.today().strftime("%y%m%d")
        saved = save_dir / f"{stamp}-bmc-{label}.jsonl"
        write_trace(saved, trace)
    return ProveOutcome(report, bmc, trace, saved)


def _explicit_counterexample(
    report: ProofReport, options: design_b.Options, save_dir: Path | None
) -> ProveOutcome:
    """Design B: the reachable violation comes from breadth-first search of the model (the
    shortest, one grain per object) — z3's bounded search over nested arrays under quantifiers
    is not practical here — shrunk and written as a trace the engine replays."""
    started = time.monotonic()
    label = Subject(design_b.DESIGN, options, "single", 1).label()
    first = design_b.MUTANT_TOPOLOGY.get(label, "single")
    order = [first, *(n for n in ("single", "group", "fan-out") if n != first)]
    for name in order:
        subject = Subject(design_b.DESIGN, options, name, 1)
        config = design_b.Config(subject.topology_spec(), values=(1, 2), max_point=3)
        initial = design_b.initial_state(config, options)
        found = explore(initial, design_b.enabled_actions, design_b.step, design_b.check)
        if found.counterexample is not None and found.violated == GOAL:
            break
    else:
        return ProveOutcome(report, BmcResult(0, None, time.monotonic() - started), None, None)
    actions = shrink(list(found.counterexample), subject.initial(), GOAL, design_b)
    bmc = BmcResult(len(found.counterexample), actions, time.monotonic() - started)
    failing = report.failures[0]
    trace = Trace(
        design=design_b.DESIGN,
        grains=1,
        grain_size=TRACE_GRAIN_SIZE,
        why=(
            f"{subject.label()}: the proof does not hold at {failing.check} / "
            f"{failing.conjunct}; breadth-first search of the model reached a violation "
            f"on the {subject.topology} topology in {bmc.depth} steps"
        ),
        actions=actions,
        options=options,
        expect="violation",
        violates=GOAL,
        topology=subject.topology,
    )
    saved = None
    if save_dir is not None:
        stamp = datetime.date.today().strftime("%y%m%d")
        saved = save_dir / f"{stamp}-bfs-{subject.topology}-{subject.label()}.jsonl"
        write_trace(saved, trace)
    return ProveOutcome(report, bmc, trace, saved)
