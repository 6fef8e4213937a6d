"""Design A's runner as the runner machine drives it (harness/runner_machine.py)."""

from __future__ import annotations

from collections.abc import Callable

from pitmirror.harness.cyclic_flashcopy.world import FlashCopyWorld
from pitmirror.harness.runner_machine import Announce, RunnerHandle, RunnerSpec
from pitmirror.impl.cyclic_flashcopy.runner import FlashCopyRunner
from pitmirror.model import cyclic_flashcopy as design_a
from pitmirror.model.actions import Action, HostRead, HostWrite
from pitmirror.model.design import WrongDesign

WHERE = "remote"
"""design A's one copy, as the runner's status and announcements name it"""


def open_runner(
    engine: object,
    clock: Callable[[], float],
    apply: Callable[[Action], None],
    announce: Announce,
) -> RunnerHandle:
    if not isinstance(engine, FlashCopyWorld):
        raise WrongDesign(f"design A's runner was given {type(engine).__qualname__}")
    runner = FlashCopyRunner(engine.local, engine.remote, clock, apply=apply,
                    on_consistency_point=lambda point: announce(WHERE, point))  # fmt: skip

    # the host's reads and writes go to the local site's door, not through the runner
    def host_write(grain: int, seed: int, fua: bool) -> None:
        apply(HostWrite(grain, seed, fua))

    def host_read(grain: int) -> None:
        apply(HostRead(grain))

    def tick(work: int, extent: int) -> None:
        runner.extents_per_tick, runner.max_extent_grains = work, extent
        runner.tick()

    def committed() -> dict[str, int]:
        return {WHERE: runner.status().committed}

    return RunnerHandle(host_write, host_read, tick, committed)


def _state(state: object) -> design_a.State:
    if not isinstance(state, design_a.State):
        raise WrongDesign(f"design A's runner was checked against {type(state).__qualname__}")
    return state


RUNNER = RunnerSpec(
    open=open_runner,
    module=FlashCopyRunner.__module__,
    committed=lambda state: {WHERE: _state(state).committed},
    newest=lambda state: {WHERE: _state(state).cycle},
)
"""A commit takes the next point's image and announces its number: the model's cycle."""
