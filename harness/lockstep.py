"""Lockstep: one action list applied to the model and to the engine on real volumes.

After every action the engine's durable state, read back from the volumes and journals, is
compared field by field with the model's, and the spec's predicates are checked.  The volumes
are read back through a cache that re-reads only the grains written since (so a step costs
what it wrote, not the volume's size); every `full_every` steps and at the end of a run
(`finish`) the cache is dropped and every grain is read back from the device.  The first
problem stops the run and is reported in words, naming the side that disagreed:

- `invalid`: the model does not enable the action (the action list itself is wrong);
- `refused`: the model enables it but the engine's controller refused it;
- `diverged`: both ran it but the engine's state differs from the model's, or a host read
  returned other bytes than the model's read path;
- `violation`: both agree, and a predicate of the spec fails (a design bug or a mutant).

A property run also offers the engine, after every step, one action the model does not allow
(`probe`, round robin over the design's probes): a site must refuse it (EngineRefused) and
change nothing the model sees, or the run reports `diverged`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal, Protocol

from pitmirror.harness.grains import CorruptGrain
from pitmirror.harness.seeds import SeedReader
from pitmirror.impl.site import EngineInvariantBroken
from pitmirror.model.actions import Action, HostRead, describe
from pitmirror.model.design import ActionNotEnabled, ModelState

Status = Literal["ok", "invalid", "refused", "diverged", "violation"]

LOCKSTEP_COMPACT_EVERY = 8
"""the engines fold a journal into a snapshot every 1,024 records; under lockstep every 8, so
that examples of tens of actions compact, and crashed sites restart from a snapshot and the
records after it (the same code, a shorter interval)"""


@dataclass(frozen=True)
class StepOutcome:
    index: int
    action: Action | None
    status: Status
    detail: str
    cycle: int
    committed: int
    phase: str
    predicate: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"


MODEL_BOUNDS = ("the configured cycle bound", "the configured point bound")
"""why the model disables an action when only its own exploration bound says so: an engine
knows no such bound, and is not asked to refuse those"""

Probes = Callable[[ModelState], list[Action]]
"""a design's actions to offer whatever the model says: the model picks those it forbids"""


class SteppableEngine(Protocol):
    seeds: SeedReader

    def apply(self, action: Action) -> None: ...

    def last_read(self) -> tuple[int, int] | None:
        """The grain and decoded seed of the newest host read."""
        ...


class LockstepBase:
    """What every design's lockstep runner shares: apply to model, then engine, then compare
    and check.  A design supplies its model's initial state, its engine, the engine's refusal
    exception, where the run stands (point, committed point, phase) and the comparison."""

    refused: type[Exception]
    model: ModelState
    engine: SteppableEngine
    probes: Probes | None = None
    index: int = 0
    full_every: int = 64
    """a full read-back of every grain every this many steps (1: after every step); before
    the first, the read-back trusts that the volumes it was given were zero (a design's
    lockstep is given volumes fresh from `VolumeSet.fresh`) and reads what was written"""

    def position(self) -> tuple[int, int, str]:
        raise NotImplementedError

    def divergence(self) -> str | None:
        raise NotImplementedError

    def _outcome(
        self, action: Action | None, status: Status, detail: str, predicate: str | None = None
    ) -> StepOutcome:
        cycle, committed, phase = self.position()
        return StepOutcome(self.index, action, status, detail, cycle, committed, phase, predicate)

    def _read_back(self) -> str | None:
        """The divergence in words, a corrupt grain included; None when they agree."""
        try:
            return self.divergence()
        except CorruptGrain as err:
            return f"engine volume read back corrupt: {err}"

    def check(self, before: ModelState | None, action: Action | None) -> StepOutcome:
        if self.index and self.index % self.full_every == 0:
            self.engine.seeds.refresh()
        why = self._read_back()
        if why:
            return self._outcome(action, "diverged", why)
        found = self.model.violations(before)
        if found:
            name, reason = next(iter(found.items()))
            return self._outcome(action, "violation", f"{name} broken: {reason}", name)
        return self._outcome(action, "ok", "")

    def apply(self, action: Action) -> StepOutcome:
        self.index += 1
        before = self.model
        try:
            after = before.step(action)
        except ActionNotEnabled as err:
            return self._outcome(action, "invalid", f"the model does not allow it: {err}")
        try:
            self.engine.apply(action)
        except self.refused as err:
            return self._outcome(action, "refused", str(err))
        except EngineInvariantBroken as err:
            self.model = after
            return self._outcome(action, "diverged", f"an engine invariant broke: {err}")
        self.model = after
        if isinstance(action, HostRead) and (wrong := self.read_mismatch(action.grain)):
            return self._outcome(action, "diverged", wrong)
        return self.check(before, action)

    def probe(self) -> StepOutcome:
        """One action the model does not allow now, offered to the engine: it must refuse it
        and change nothing the model sees (compared as after any step)."""
        # round robin from this step's place in the list: the first the model forbids (asking
        # the model about every probe at every step cost more than the step itself)
        probes = self._probes()
        turn = [probes[(self.index + k) % len(probes)] for k in range(len(probes))]
        action = next((a for a in turn if self._forbids(a)), None)
        if action is None:
            return self._outcome(None, "ok", "")
        try:
            self.engine.apply(action)
        except self.refused:
            # the model did not move, and its predicates held here at the step: only the
            # engine's state is compared (judging them again cost more than the step itself)
            why = self._read_back()
            if why is None:
                return self._outcome(action, "ok", "")
            return self._outcome(action, "diverged", f"refused, yet it changed the engine: {why}")
        except EngineInvariantBroken as err:
            return self._outcome(action, "diverged", f"an engine invariant broke: {err}")
        why = self.model.why_disabled(action)
        return self._outcome(action, "diverged",
                             f"the engine accepted what the model forbids: {why}")  # fmt: skip

    def _probes(self) -> list[Action]:
        return [] if self.probes is None else self.probes(self.model)

    def _forbids(self, action: Action) -> bool:
        why = self.model.why_disabled(action)
        return why is not None and not why.startswith(MODEL_BOUNDS)

    def finish(self) -> StepOutcome:
        """The end of a run: every grain read back from the devices and compared once more
        (what the cache skipped must not have changed)."""
        self.engine.seeds.refresh()
        if why := self._read_back() or self.failover_divergence():
            return self._outcome(None, "diverged", f"the full read-back at the end: {why}")
        return self._outcome(None, "ok", "")

    def failover_divergence(self) -> str | None:
        """A design's failover read as a user runs it (bytes, not the harness's read-back),
        against the model's; None when they agree or the design reads through the read-back."""
        return None

    def read_mismatch(self, grain: int) -> str | None:
        """The engine's read of `grain` against the model's read path, in words."""
        got = self.engine.last_read()
        want = self.model.read(grain)
        if got == (grain, want):
            return None
        seen = "nothing" if got is None else f"grain {got[0]} holding {got[1]}"
        return f"the host read of grain {grain} returned {seen}; the model reads {want}"


class Stepper(Protocol):
    full_every: int

    @property
    def model(self) -> ModelState: ...
    @property
    def engine(self) -> SteppableEngine: ...

    def check(self, before: ModelState | None, action: Action | None) -> StepOutcome: ...
    def apply(self, action: Action) -> StepOutcome: ...
    def probe(self) -> StepOutcome: ...
    def finish(self) -> StepOutcome: ...


def run_actions(lockstep: Stepper, actions: Iterable[Action]) -> list[StepOutcome]:
    """Apply actions until the first problem; the initial state is checked first (index 0),
    and a run without a problem ends with a full read-back (`finish`), reported only when it
    finds one."""
    outcomes = [lockstep.check(None, None)]
    if not outcomes[0].ok:
        return outcomes
    for action in actions:
        outcome = lockstep.apply(action)
        outcomes.append(outcome)
        if not outcome.ok:
            return outcomes
    if not (last := lockstep.finish()).ok:
        outcomes.append(last)
    return outcomes


def explain(outcome: StepOutcome) -> str:
    if outcome.action is not None:
        what = describe(outcome.action)
    else:
        what = f"after step {outcome.index}" if outcome.index else "the initial state"
    return f"step {outcome.index} {what}: {outcome.detail}"
