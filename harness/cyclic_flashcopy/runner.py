"""Design A's runner as the runner machine drives it (harness/runner_machine.py)."""

from __future__ import annotations

from collections.abc import Callable

from pitmirror.harness.runner_machine import RunnerHandle
from pitmirror.impl.cyclic_flashcopy.engine import FlashCopyEngine
from pitmirror.impl.cyclic_flashcopy.runner import Runner
from pitmirror.model.actions import Action
from pitmirror.model.design import WrongDesign


def open_runner(
    engine: object, clock: Callable[[], float], apply: Callable[[Action], None]
) -> RunnerHandle:
    if not isinstance(engine, FlashCopyEngine):
        raise WrongDesign(f"design A's runner was given {type(engine).__qualname__}")
    runner = Runner(engine, clock, apply=apply)

    def host_read(grain: int) -> None:
        runner.host_read(grain)

    def tick(work: int, extent: int) -> None:
        runner.extents_per_tick, runner.max_extent_grains = work, extent
        runner.tick()

    return RunnerHandle(runner.host_write, host_read, tick)
