"""Design A's real-time runner and demo: deterministic given a clock and a seed."""

from __future__ import annotations

import itertools

from pitmirror.harness.cyclic_flashcopy.demo import run_demo
from pitmirror.harness.cyclic_flashcopy.world import FlashCopyWorld
from pitmirror.harness.designs import Subject
from pitmirror.impl.cyclic_flashcopy.runner import FlashCopyRunner
from pitmirror.model.cyclic_flashcopy import DESIGN, Options


def fake_clock(step_s: float = 0.001) -> itertools.count[float]:
    return itertools.count(0.0, step_s)


def test_the_demo_is_deterministic_given_clock_and_seed() -> None:
    runs = []
    for _ in range(2):
        clock = fake_clock().__next__
        result = run_demo("memory", 32, 4096, 0.5, seed=7, clock=clock)
        assert result.consistent
        runs.append((result.host_writes, result.commits, result.target_digest))
    assert runs[0] == runs[1]
    assert runs[0][1] > 1


def test_runner_copies_in_coalesced_extents_and_stamps_points() -> None:
    with Subject(DESIGN, Options(), None, 64).volume_set("memory") as volume_set:
        volumes, workdir = volume_set.fresh()
        engine = FlashCopyWorld(volumes, workdir, Options())
        ticks = fake_clock(1.0)
        runner = FlashCopyRunner(
            engine.local,
            engine.remote,
            lambda: next(ticks),
            engine.apply,
            extents_per_tick=1,
            max_extent_grains=16,
        )
        runner.tick()  # one extent of 16 grains in one event
        assert len(engine.local.local_meta().copy_map) == 64 - 16
        while not runner.tick():
            pass
        status = runner.status()
        assert status.committed == 1 and status.cycle == 2
        assert status.committed_at < runner.point_times[2]
        # committed, and one extent of the 64 grains drained into T: the rest is still behind
        assert status.grains_behind == 48 and status.bytes_behind == 48 * 4096
        for _ in range(3):
            runner.tick()
        assert runner.status().grains_behind == 0
