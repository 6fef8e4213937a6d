"""Design B's runner as the runner machine drives it (harness/runner_machine.py)."""

from __future__ import annotations

from collections.abc import Callable

from pitmirror.harness.runner_machine import RunnerHandle
from pitmirror.impl.freeze_overlay.engine import OverlayEngine
from pitmirror.impl.freeze_overlay.runner import OverlayRunner
from pitmirror.model.actions import Action
from pitmirror.model.design import WrongDesign

INTERVAL_S = 1.0
"""the repetition interval: the machine's clock steps decide when the next freeze may come"""


def open_runner(
    engine: object, clock: Callable[[], float], apply: Callable[[Action], None]
) -> RunnerHandle:
    if not isinstance(engine, OverlayEngine):
        raise WrongDesign(f"design B's runner was given {type(engine).__qualname__}")
    runner = OverlayRunner(engine, clock, interval_s=INTERVAL_S, apply=apply)

    def host_read(grain: int) -> None:
        runner.host_read(grain)

    def tick(work: int, extent: int) -> None:
        runner.extents_per_tick, runner.max_extent_grains = work, extent
        runner.tick()

    return RunnerHandle(runner.host_write, host_read, tick)
