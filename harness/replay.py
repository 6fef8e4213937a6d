"""Replaying a trace file in lockstep on a chosen backend, with a verdict against its header."""

from __future__ import annotations

from dataclasses import dataclass

from pitmirror.harness.designs import Subject, design_named
from pitmirror.harness.lockstep import StepOutcome, explain, run_actions
from pitmirror.harness.power_loss import DEFAULT_BOUNDS, explore
from pitmirror.harness.roles_lockstep import RolesLockstep, run_roles
from pitmirror.harness.traces import Trace
from pitmirror.model.actions import Action
from pitmirror.model.design import ActionNotEnabled, ModelState
from pitmirror.model.variants import changed_rules


@dataclass
class ReplayResult:
    trace: Trace
    outcomes: list[StepOutcome]
    backend: str
    devices: list[str]

    @property
    def last(self) -> StepOutcome:
        return self.outcomes[-1]

    @property
    def violated(self) -> str | None:
        return self.last.predicate if self.last.status == "violation" else None

    @property
    def clean(self) -> bool:
        """Every action ran in both model and engine and every predicate held."""
        return (
            all(o.ok for o in self.outcomes) and len(self.outcomes) == len(self.trace.actions) + 1
        )

    @property
    def as_expected(self) -> bool:
        if self.trace.expect == "pass":
            return self.clean
        if self.trace.expect == "divergence":
            return self.last.status == "diverged"
        return self.violated == self.trace.violates

    def verdict(self) -> str:
        if self.clean:
            return f"all {len(self.trace.actions)} actions agree, every predicate holds"
        return explain(self.last)


MODEL_ONLY = "model only"
"""the backend of a replay the engine cannot take part in (a variant that changes rules)"""


def replay(trace: Trace, backend: str = "auto") -> ReplayResult:
    """The trace in lockstep on the backend's volumes; on the model alone when the trace's
    options name a variant whose changed rules the engine does not implement."""
    subject = Subject(trace.design, trace.resolved_options, trace.topology, trace.grains,
                      trace.grain_size, trace.transport)  # fmt: skip
    if trace.roles is not None:
        return replay_roles(trace, subject, backend)
    if changed_rules(trace.resolved_options):
        return ReplayResult(trace, model_alone(subject.initial(), trace.actions), MODEL_ONLY, [])
    with subject.volume_set(backend) as volume_set:
        volumes, workdir = volume_set.fresh()
        outcomes = run_actions(subject.lockstep(volumes, workdir), trace.actions)
        return ReplayResult(trace, outcomes, volume_set.kind, volume_set.devices())


def replay_roles(trace: Trace, subject: Subject, backend: str) -> ReplayResult:
    """A trace of the roles' commands: the design's two hosts on the backend's volumes, in
    lockstep with the roles model (harness/roles_lockstep.py)."""
    assert trace.roles is not None
    with subject.volume_set(backend) as volume_set:
        volumes, workdir = volume_set.fresh()
        world = design_named(trace.design).roles_world(volumes, workdir, trace.roles)
        lockstep = RolesLockstep(world)
        try:
            outcomes = run_roles(lockstep, trace.actions)
        finally:
            lockstep.world.close()
        return ReplayResult(trace, outcomes, volume_set.kind, volume_set.devices())


def model_alone(initial: ModelState, actions: list[Action]) -> list[StepOutcome]:
    """The lockstep's outcomes with the model alone: each action enabled, every predicate."""
    outcomes, state = [StepOutcome(0, None, "ok", "", 0, 0, MODEL_ONLY)], initial
    for index, action in enumerate(actions, start=1):
        try:
            after = state.step(action)
        except ActionNotEnabled as err:
            detail = f"the model does not allow it: {err}"
            return [*outcomes, StepOutcome(index, action, "invalid", detail, 0, 0, MODEL_ONLY)]
        if found := after.violations(state):
            name, why = next(iter(found.items()))
            detail = f"{name} broken: {why}"
            violation = StepOutcome(index, action, "violation", detail, 0, 0, MODEL_ONLY, name)
            return [*outcomes, violation]
        outcomes.append(StepOutcome(index, action, "ok", "", 0, 0, MODEL_ONLY))
        state = after
    return outcomes


@dataclass(frozen=True)
class EngineVerdict:
    """What a trace did on the engine: a lockstep replay, or for a trace that pins a power-loss
    crash state, that crash state recovered and judged."""

    backend: str
    violated: str | None
    words: str

    def verdict(self) -> str:
        return self.words


def on_engine(trace: Trace, backend: str = "auto") -> EngineVerdict:
    if trace.power_loss is None:
        replayed = replay(trace, backend)
        return EngineVerdict(replayed.backend, replayed.violated, replayed.verdict())
    report = explore(trace, DEFAULT_BOUNDS, backend)
    if report.first is None:
        return EngineVerdict(report.backend, None, report.problem or "the crash state recovers")
    return EngineVerdict(report.backend, report.first.predicate,
                         " ".join(report.first.words(trace.grain_size)))  # fmt: skip
