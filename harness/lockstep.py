"""Lockstep: one action list applied to the model and to the engine on real volumes.

After every action the engine's durable state, read back from the volumes and journals, is
compared field by field with the model's, and the spec's predicates are checked.  The first
problem stops the run and is reported in words, naming the side that disagreed:

- `invalid`: the model does not enable the action (the action list itself is wrong);
- `refused`: the model enables it but the engine's controller refused it;
- `diverged`: both ran it but the engine's state differs from the model's;
- `violation`: both agree, and a predicate of the spec fails (a design bug or a mutant).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Literal, Protocol

from pitmirror.impl.flashcopy_engine import EngineRefused, FlashCopyEngine, Observation
from pitmirror.impl.grains import CorruptGrain
from pitmirror.impl.volumes import Volume
from pitmirror.model import cyclic_flashcopy as design_a
from pitmirror.model.actions import Action, describe
from pitmirror.model.spec import image_diff

COMPARED_FIELDS = (
    "source",
    "i1",
    "i2",
    "target",
    "copy_map",
    "future_map",
    "out_of_sync",
    "received_map",
    "target_map",
    "cycle",
    "committed",
    "link_up",
    "local_up",
    "remote_up",
)
Status = Literal["ok", "invalid", "refused", "diverged", "violation"]


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


def _field_diff(name: str, engine: object, model: object) -> str:
    if isinstance(engine, tuple) and isinstance(model, tuple):
        return f"{name} differs: {image_diff(engine, model)} (engine vs model)"
    if isinstance(engine, frozenset) and isinstance(model, frozenset):
        return f"{name} is {sorted(engine)} in the engine, {sorted(model)} in the model"
    return f"{name} is {engine!r} in the engine, {model!r} in the model"


def divergence(observed: Observation, model: design_a.State) -> str | None:
    """The first field where the engine and the model disagree, in words."""
    for name in COMPARED_FIELDS:
        engine_value, model_value = getattr(observed, name), getattr(model, name)
        if engine_value != model_value:
            return _field_diff(name, engine_value, model_value)
    if observed.recoverable != design_a.recoverable_target(model):
        return _field_diff(
            "recoverable target image", observed.recoverable, design_a.recoverable_target(model)
        )
    return None


class LockstepBase:
    """What both designs' lockstep runners share: apply to model, then engine, then compare
    and check.  A design supplies its model module, its engine's refusal exception, where the
    run stands (point, committed point, phase) and the comparison."""

    model_module: ModuleType
    refused: type[Exception]
    model: Any
    index: int = 0

    def position(self) -> tuple[int, int, str]:
        raise NotImplementedError

    def divergence(self) -> str | None:
        raise NotImplementedError

    def _outcome(
        self, action: Action | None, status: Status, detail: str, predicate: str | None = None
    ) -> StepOutcome:
        cycle, committed, phase = self.position()
        return StepOutcome(self.index, action, status, detail, cycle, committed, phase, predicate)

    def check(self, before: Any, action: Action | None) -> StepOutcome:
        try:
            why = self.divergence()
        except CorruptGrain as err:
            return self._outcome(action, "diverged", f"engine volume read back corrupt: {err}")
        if why:
            return self._outcome(action, "diverged", why)
        found = self.model_module.check(before, self.model)
        if found:
            name, reason = next(iter(found.items()))
            return self._outcome(action, "violation", f"{name} broken: {reason}", name)
        return self._outcome(action, "ok", "")

    def apply(self, action: Action) -> StepOutcome:
        self.index += 1
        before = self.model
        try:
            after = self.model_module.step(before, action)
        except self.model_module.ActionNotEnabled as err:
            return self._outcome(action, "invalid", f"the model does not allow it: {err}")
        try:
            self.engine_apply(action)
        except self.refused as err:
            return self._outcome(action, "refused", str(err))
        self.model = after
        return self.check(before, action)

    def engine_apply(self, action: Action) -> None:
        raise NotImplementedError


class Lockstep(LockstepBase):
    """Design A's model and engine side by side, from their initial states."""

    model_module = design_a
    refused = EngineRefused

    def __init__(
        self, volumes: dict[str, Volume], workdir: Path, options: design_a.Options
    ) -> None:
        grains = next(iter(volumes.values())).grain_count
        self.model: design_a.State = design_a.initial_state(design_a.Config(grains=grains), options)
        self.engine = FlashCopyEngine(volumes, workdir, options)
        self.index = 0

    def position(self) -> tuple[int, int, str]:
        return self.model.cycle, self.model.committed, self.engine.local_cycle.current_state_value

    def divergence(self) -> str | None:
        return divergence(self.engine.observe(), self.model)

    def engine_apply(self, action: Action) -> None:
        self.engine.apply(action)


class Stepper(Protocol):
    model: Any

    def check(self, before: Any, action: Action | None) -> StepOutcome: ...
    def apply(self, action: Action) -> StepOutcome: ...


def run_actions(lockstep: Stepper, actions: Iterable[Action]) -> list[StepOutcome]:
    """Apply actions until the first problem; the initial state is checked first (index 0)."""
    outcomes = [lockstep.check(None, None)]
    if not outcomes[0].ok:
        return outcomes
    for action in actions:
        outcome = lockstep.apply(action)
        outcomes.append(outcome)
        if not outcome.ok:
            break
    return outcomes


def explain(outcome: StepOutcome) -> str:
    what = describe(outcome.action) if outcome.action is not None else "the initial state"
    return f"step {outcome.index} {what}: {outcome.detail}"
