"""`pitmirror verify --variant FILE`: a design change, checked in one run beside the unchanged
design, for a reviewer.

A variant file (model/variants.py) changes option values, rules of named actions, or both.  The
run gives:

- the Z3 proof of the variant — the same encoding, derived from the changed rules — and, if it
  is refuted, which clause breaks at which action with the counterexample in words, a
  reachable violation as a trace that replays, and the clauses that hold for the unchanged
  design and not for the variant;
- an exhaustive exploration of small worlds of both designs: reachable states, spec
  violations, the lag bound (how many points a remote's committed point trails the newest),
  whether progress holds, and the fewest actions to the newest point the world commits (what
  a change of order buys in time);
- every trace of the design under the traces folder that runs the unchanged design's options,
  replayed on the variant's model (a mutant's traces and pinned crash states are counted);
- the lockstep against the engine, where the engine implements the change (option values
  only); where the change touches rules, a plain statement that the engine does not.
"""

from __future__ import annotations

import dataclasses
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pitmirror.harness.check import Budget, run_check
from pitmirror.harness.design import Design
from pitmirror.harness.designs import Subject, design_named
from pitmirror.harness.lockstep import explain
from pitmirror.harness.prove import ProveOutcome, prove_design
from pitmirror.harness.replay import model_alone
from pitmirror.harness.traces import Trace, read_trace, trace_files
from pitmirror.model.actions import Action
from pitmirror.model.design import ModelState
from pitmirror.model.explore import path_to
from pitmirror.model.options import DesignOptions
from pitmirror.model.variants import Variant, VariantError, load

WORLD_STATES = 400_000
"""a small world larger than this is reported as cut short, not explored to its end"""


@dataclass
class World:
    """One small world explored from Init to its end: every reachable state once."""

    label: str
    states: int = 0
    violations: dict[str, list[Action]] = field(default_factory=dict)
    """each predicate broken, and the shortest path to it"""
    lag: int = 0
    """the most points any remote's committed point trailed the newest point"""
    complete: bool = True
    seconds: float = 0.0
    newest: int = 0
    """the newest point every copy has committed in some state of the world"""
    fastest: int = 0
    """the fewest actions from Init to a state where every copy has committed `newest`: what
    an order of the work buys in time, in the world's own steps"""

    def summary(self) -> str:
        broken = ", ".join(sorted(self.violations)) or "no violation"
        cut = "" if self.complete else f" (cut short at {self.states:,})"
        pace = f", point {self.newest} committed after {self.fastest} actions at the fastest"
        return f"{self.states:,} states{cut}, {broken}, lag ≤ {self.lag}{pace}"


def _points(state: ModelState) -> tuple[int, int]:
    """How many points the furthest-behind copy trails the newest, and the point every copy
    has committed."""
    copies = state.spec_view().copies
    lag = max((len(c.images) - 1 - min(c.points) for c in copies), default=0)
    return lag, min((min(c.points) for c in copies), default=0)


def explore_world(label: str, initial: ModelState, limit: int = WORLD_STATES) -> World:
    """Breadth-first, every reachable state, the first (shortest) path to each predicate a
    state breaks; a state that breaks one is not explored further."""
    started, world = time.monotonic(), World(label)
    parent: dict[ModelState, tuple[ModelState, Action] | None] = {initial: None}
    depth = {initial: 0}
    frontier = deque([initial])
    while frontier:
        state = frontier.popleft()
        lag, committed = _points(state)
        world.lag = max(world.lag, lag)
        if committed > world.newest:  # breadth first: the first such state is the nearest
            world.newest, world.fastest = committed, depth[state]
        for action in state.enabled_actions():
            after = state.step(action)
            if after in parent:
                continue
            parent[after] = (state, action)
            depth[after] = depth[state] + 1
            broken = after.violations(state)
            for name in broken:
                world.violations.setdefault(name, path_to(parent, after))
            if not broken:
                frontier.append(after)
            if len(parent) >= limit:
                world.complete, frontier = False, deque()
                break
    world.states, world.seconds = len(parent), time.monotonic() - started
    return world


@dataclass
class TraceOutcome:
    """A curated trace's actions on the variant's model."""

    path: Path
    expected: str
    got: str

    @property
    def same(self) -> bool:
        return self.expected == self.got


def on_model(trace: Trace, options: DesignOptions) -> str:
    """What the trace's actions do on a model under `options`: `pass`, `violation X`, or the
    first action the model does not enable."""
    design = design_named(trace.design)
    initial = design.model.initial(options, trace.topology, trace.grains)
    last = model_alone(initial, trace.actions)[-1]
    if last.status == "ok":
        return "pass"
    return f"violation {last.predicate}" if last.status == "violation" else explain(last)


@dataclass
class Side:
    """One of the two designs compared: the unchanged one or the variant."""

    label: str
    options: DesignOptions
    proof: ProveOutcome
    worlds: list[World]

    @property
    def broken_clauses(self) -> set[tuple[str, str]]:
        return {(q.check, q.conjunct) for q in self.proof.report.failures}


@dataclass
class VariantReport:
    variant: Variant
    design: Design
    unchanged: Side
    changed: Side
    traces: list[TraceOutcome]
    """the design's traces of the unchanged design's options, on the variant's model"""
    other_traces: int
    """the design's traces of a mutant's options or pinning a crash state: not run"""
    lockstep: list[tuple[str, bool, str]] | None
    """(what, passed, got) per engine property run; None: the engine does not implement it"""
    lockstep_note: str

    @property
    def safe(self) -> bool:
        """Proved, no violation in any world, and the engine agrees where it implements it."""
        engine = self.lockstep is None or all(ok for _, ok, _ in self.lockstep)
        worlds = all(not w.violations for w in self.changed.worlds)
        return self.changed.proof.proved and worlds and engine

    @property
    def newly_broken(self) -> list[tuple[str, str]]:
        return sorted(self.changed.broken_clauses - self.unchanged.broken_clauses)

    def to_json(self) -> dict[str, Any]:
        def side(s: Side) -> dict[str, Any]:
            return {
                "options": s.options.non_default(),
                "proof": s.proof.to_json(),
                "worlds": [dataclasses.asdict(w) | {"violations": sorted(w.violations)}
                           for w in s.worlds],
            }  # fmt: skip

        return {
            "variant": {"path": self.variant.path, "design": self.variant.design,
                        "why": self.variant.why, "options": dict(self.variant.options),
                        "rules": sorted(self.variant.rules), "sha256": self.variant.digest},
            "safe": self.safe,
            "unchanged": side(self.unchanged),
            "changed": side(self.changed),
            "newly_broken": [list(c) for c in self.newly_broken],
            "trace": str(self.changed.proof.saved_to) if self.changed.proof.saved_to else None,
            "traces": [{"path": str(t.path), "expected": t.expected, "got": t.got}
                       for t in self.traces],
            "other_traces": self.other_traces,
            "lockstep": None if self.lockstep is None else [
                {"what": w, "passed": ok, "got": got} for w, ok, got in self.lockstep],
            "lockstep_note": self.lockstep_note,
        }  # fmt: skip


def variant_options(variant: Variant, design: Design) -> DesignOptions:
    """The design's options that run the variant: its option values, and its rules by path."""
    fields = dict(variant.options)
    if variant.rules:
        if "variant" not in design.model.options({}).to_json():
            raise VariantError(
                f"{variant.path}: design {design.short}'s actions are not written over the "
                "algebra yet, so a variant of it may set OPTIONS only, not RULES"
            )
        fields["variant"] = variant.path
    try:
        return design.model.options(fields)
    except (TypeError, ValueError) as error:
        raise VariantError(f"{variant.path}: OPTIONS: {error}") from error


Progress = Callable[[str], None]


_UNCHANGED: dict[tuple[str, int | None], Side] = {}
"""the unchanged design's side, once per process: it does not change between variants"""


def _side(design: Design, label: str, options: DesignOptions, save_dir: Path | None,
          progress: Progress, worlds: int | None) -> Side:  # fmt: skip
    key = (design.name, worlds)
    if label == "unchanged" and key in _UNCHANGED:
        return _UNCHANGED[key]
    progress(f"Z3 proof, {label} design")
    proof = prove_design(options, save_dir)
    explored = []
    for name, initial in design.small_worlds(options)[:worlds]:
        progress(f"exploring {name}, {label} design")
        explored.append(explore_world(name, initial))
    side = Side(label, options, proof, explored)
    if label == "unchanged":
        _UNCHANGED[key] = side
    return side


LOCKSTEP_EXAMPLES = 60
"""examples per engine property run of a variant (verify's own runs take 200)"""


def check_variant(
    path: str,
    traces_dir: Path,
    backend: str,
    save_dir: Path | None,
    progress: Progress = lambda text: None,
    budget: Budget | None = None,
    worlds: int | None = None,
) -> VariantReport:
    """The variant file at `path` checked beside its unchanged design; `worlds`: explore the
    design's first few small worlds only (None: all)."""
    variant = load(path)
    design = design_named(variant.design)
    options = variant_options(variant, design)
    unchanged = design.model.options({})
    sides = [
        _side(design, "unchanged", unchanged, None, progress, worlds),
        _side(design, "variant", options, save_dir, progress, worlds),
    ]
    outcomes, other = [], 0
    for trace_path in trace_files(traces_dir):
        trace = read_trace(trace_path)
        if trace.design != design.name:
            continue
        if (trace.power_loss is not None or trace.expect == "divergence"
                or trace.roles is not None
                or trace.resolved_options not in (unchanged, options)):  # fmt: skip
            # a mutant's run, a pinned crash state (the engine's media), a transport mutant's
            # divergence (the network's) or the roles' commands (their model's, not the
            # design's); a trace recorded under the variant's own options is its to keep
            other += 1
            continue
        progress(f"trace {trace_path.stem} on the variant's model")
        expected = "pass" if trace.expect == "pass" else f"violation {trace.violates}"
        outcomes.append(TraceOutcome(trace_path, expected, on_model(trace, options)))
    lockstep: list[tuple[str, bool, str]] | None = None
    if variant.rules:
        note = (f"not run: the engine implements option values, and this variant changes the "
                f"rules of {', '.join(sorted(variant.rules))}")  # fmt: skip
    else:
        lockstep, note = [], "the engine runs the variant's options in lockstep with the model"
        tried = budget or Budget(examples=LOCKSTEP_EXAMPLES)
        for run in design.property_runs:
            if run.options != unchanged or run.transport is not None:
                continue  # a run of another option value than the safe default, or over TCP
            progress(f"lockstep: {run.label}")
            subject = Subject(design.name, options, run.topology,
                              run.grains or design.default_grains)  # fmt: skip
            result = run_check(subject, backend, tried, runner=run.runner)
            got = "no failure" if result.passed else str(result.failure_detail)
            lockstep.append((run.label, result.passed, got))
    return VariantReport(variant, design, sides[0], sides[1], outcomes, other, lockstep, note)
