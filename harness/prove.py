"""`pitmirror prove` as data: the proof, and for a refuted design a checked counterexample trace.

For an unsafe option the failing queries carry their counterexamples; the design's search
(bounded model checking, or breadth-first search of the model) then finds a reachable violation
from Init, the model-based shrinker simplifies it, and the result is a trace (written when a
folder is given) that replays as a violation.
"""

from __future__ import annotations

import datetime
import pickle
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pitmirror.harness.design import Reached
from pitmirror.harness.designs import DESIGNS, Subject, design_of
from pitmirror.harness.power_loss import DEFAULT_BOUNDS, explore, pinned_trace
from pitmirror.harness.power_loss import shrink as crash_shrink
from pitmirror.harness.shrink import shrink
from pitmirror.harness.traces import Trace, dump_trace, save_finding
from pitmirror.model.options import DesignOptions
from pitmirror.proofs.prover import ProofReport, prove

TRACE_GRAIN_SIZE = 4096


@dataclass
class ProveOutcome:
    report: ProofReport
    reached: Reached | None
    """for a refuted design: the search for a reachable violation"""
    trace: Trace | None
    saved_to: Path | None
    save_error: str | None = None
    """why the trace could not be saved (then it is printed instead)"""

    @property
    def proved(self) -> bool:
        return self.report.proved

    @property
    def seconds(self) -> float:
        return self.report.seconds + (self.reached.seconds if self.reached else 0.0)

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
            if self.reached is None
            else {
                "method": self.reached.method,
                "found": self.reached.actions is not None,
                "depth": self.reached.depth,
                "seconds": round(self.reached.seconds, 3),
            },
            "trace": str(self.saved_to) if self.saved_to else None,
            "save_error": self.save_error,
            "trace_lines": dump_trace(self.trace).splitlines()
            if self.save_error and self.trace
            else None,
        }


def steps(n: int) -> str:
    return f"{n} step" if n == 1 else f"{n} steps"


def prove_design(
    options: DesignOptions,
    save_dir: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> ProveOutcome:
    """The proof of the options' design; if refuted, a reachable violation as a trace.
    `progress` is told what is under way, in words."""
    design = design_of(options)
    tell = progress or (lambda what: None)
    short = design.short

    def asking(asked: int, total: int) -> None:
        tell(f"design {short}: query {asked + 1} of {total}")

    report = prove(design.encoding, options, asking)
    if report.proved:
        return ProveOutcome(report, None, None, None)
    tell(f"design {short}: refuted; searching for a reachable violation")
    broken = frozenset(q.conjunct for q in report.failures)
    reached = reach_in_fresh_interpreter(design.name, options, broken)
    if reached.actions is None or reached.violates is None:
        return ProveOutcome(report, reached, None, None)
    subject = Subject(design.name, options, reached.topology, reached.grains, TRACE_GRAIN_SIZE)
    failing = report.failures[0]
    where = f" on the {subject.topology} topology" if subject.topology else ""
    if reached.power_lost:
        return _power_loss_outcome(report, reached, subject, save_dir)
    actions = shrink(reached.actions, subject.initial(), reached.violates)
    trace = Trace(
        design=design.name,
        grains=reached.grains,
        grain_size=TRACE_GRAIN_SIZE,
        why=(
            f"{subject.label()}: the proof fails at {failing.check} / {failing.conjunct}; "
            f"{reached.method} reached a violation{where} in {steps(reached.depth)}"
        ),
        actions=actions,
        options=options,
        expect="violation",
        violates=reached.violates,
        topology=subject.topology,
    )
    return ProveOutcome(report, reached, trace, *_save(trace, reached, subject, save_dir))


def reach_in_fresh_interpreter(design: str, options: DesignOptions, broken: frozenset[str]
                               ) -> Reached:  # fmt: skip
    """The design's search for a reachable violation, in a new interpreter: z3's search depends
    on the order its terms were made in, so after a process's earlier proofs and replays the
    same violation of `drain-clears-past-its-end` took 131 s or was not found in time, where a
    new interpreter found it in a minute every time (0.8 s to start it; 8 s since the search
    holds no quantifier, proofs/cyclic_flashcopy_bmc.py `_within`).  A child process of
    its own, not a multiprocessing pool: verify's checks run in daemonic processes, which may
    not have those."""
    with tempfile.TemporaryDirectory(prefix="pitmirror-reach-") as folder:
        asked, answer = Path(folder) / "asked.pickle", Path(folder) / "reached.pickle"
        asked.write_bytes(pickle.dumps((design, options, broken)))
        command = [sys.executable, "-m", "pitmirror.harness.prove", str(asked), str(answer)]
        done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True, check=False)  # fmt: skip
        if done.returncode != 0 or not answer.exists():
            said = [line for line in done.stderr.splitlines() if line.strip()] or ["no output"]
            raise RuntimeError(f"the search for a reachable violation failed: {said[-1]}")
        reached: Reached = pickle.loads(answer.read_bytes())
        return reached


def _reach_asked(asked: Path, answer: Path) -> None:
    design, options, broken = pickle.loads(asked.read_bytes())
    answer.write_bytes(pickle.dumps(DESIGNS[design].reach_violation(options, broken)))


def _save(
    trace: Trace, reached: Reached, subject: Subject, save_dir: Path | None
) -> tuple[Path | None, str | None]:
    if save_dir is None:
        return None, None
    stamp = datetime.date.today().strftime("%y%m%d")
    place = f"{subject.topology}-" if subject.topology else ""
    saved = save_finding(trace, save_dir, f"{stamp}-{reached.tag}-{place}{subject.label()}")
    return saved.path, saved.error


def _power_loss_outcome(
    report: ProofReport, reached: Reached, subject: Subject, save_dir: Path | None
) -> ProveOutcome:
    """The path ends in a power loss, whose crash state an action list does not hold: the
    power-loss explorer finds it on the engine, shrinks the path and pins the crash state."""
    assert reached.actions is not None
    failing = report.failures[0]
    path = Trace(
        design=subject.design_name,
        grains=reached.grains,
        grain_size=TRACE_GRAIN_SIZE,
        why=(
            f"{subject.label()}: the proof fails at {failing.check} / {failing.conjunct}; "
            f"{reached.method} reached a violation in {steps(reached.depth)}, the last cut by "
            "a power loss"
        ),
        actions=list(reached.actions),
        options=subject.options,
        topology=subject.topology,
    )
    found = explore(path, DEFAULT_BOUNDS, "memory", stop_at_first=True)
    if found.first is None:
        return ProveOutcome(report, reached, None, None)
    trace = pinned_trace(crash_shrink(found), context=path.why)
    return ProveOutcome(report, reached, trace, *_save(trace, reached, subject, save_dir))


if __name__ == "__main__":
    _reach_asked(Path(sys.argv[1]), Path(sys.argv[2]))
