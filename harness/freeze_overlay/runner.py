"""Design B's runner as the runner machine drives it (harness/runner_machine.py)."""

from __future__ import annotations

from collections.abc import Callable

from pitmirror.harness.freeze_overlay.world import OverlayWorld
from pitmirror.harness.runner_machine import Announce, RunnerHandle, RunnerSpec
from pitmirror.impl.freeze_overlay.runner import OverlayRunner
from pitmirror.model import freeze_overlay as B
from pitmirror.model.actions import Action, HostRead, HostWrite
from pitmirror.model.design import WrongDesign

INTERVAL_S = 1.0
"""the repetition interval: the machine's clock steps decide when the next freeze may come"""


def open_runner(
    engine: object,
    clock: Callable[[], float],
    apply: Callable[[Action], None],
    announce: Announce,
) -> RunnerHandle:
    if not isinstance(engine, OverlayWorld):
        raise WrongDesign(f"design B's runner was given {type(engine).__qualname__}")

    def on_point(group: int, point: int) -> None:
        announce(f"group {group}", point)

    runner = OverlayRunner(engine.sites, clock, interval_s=INTERVAL_S, apply=apply,
                           on_point=on_point)  # fmt: skip

    # the host's reads and writes go to the home site's door, not through the runner
    def host_write(grain: int, seed: int, fua: bool) -> None:
        apply(HostWrite(grain, seed, fua))

    def host_read(grain: int) -> None:
        apply(HostRead(grain))

    def tick(work: int, extent: int) -> None:
        runner.extents_per_tick, runner.max_extent_grains = work, extent
        # the disks at half the link's pace: a remote's merges may trail into the next point
        runner.merge_extents_per_tick = max(1, work // 2)
        runner.tick()

    def committed() -> dict[str, int]:
        return {f"group {s.group} at {site}": point
                for s in runner.status() for site, point in s.committed.items()}  # fmt: skip

    return RunnerHandle(host_write, host_read, tick, committed)


def _state(state: object) -> B.State:
    if not isinstance(state, B.State):
        raise WrongDesign(f"design B's runner was checked against {type(state).__qualname__}")
    return state


def _committed(state: object) -> dict[str, int]:
    model = _state(state)
    return {f"group {gi} at {site}": B.committed(model, gi, site)
            for gi, group in enumerate(model.topology.groups)
            for site in group.remotes}  # fmt: skip


RUNNER = RunnerSpec(
    open=open_runner,
    module=OverlayRunner.__module__,
    committed=_committed,
    newest=lambda state: {f"group {gi}": g.point for gi, g in enumerate(_state(state).groups)},
)
"""A freeze is announced with the point it froze: the group's newest point in the model."""
