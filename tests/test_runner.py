"""The real-time runner and the demo: deterministic given a clock and a seed."""

from __future__ import annotations

import itertools

from pitmirror.harness.backends import VolumeSet
from pitmirror.harness.demo import run_demo
from pitmirror.impl.flashcopy_engine import FlashCopyEngine
from pitmirror.impl.runner import Runner
from pitmirror.model.cyclic_flashcopy import Options


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
    with VolumeSet("memory", 64, 4096) as volume_set:
        volumes, workdir = volume_set.fresh()
        engine = FlashCopyEngine(volumes, workdir, Options())
        ticks = fake_clock(1.0)
        runner = Runner(engine, lambda: next(ticks), extents_per_tick=1, max_extent_grains=16)
        runner.tick()  # one extent of 16 grains in one event
        assert len(engine.local.map("copy_map")) == 64 - 16
        while not runner.tick():
            pass
        status = runner.status()
        assert status.committed == 1 and status.cycle == 2
        assert status.committed_at < runner.point_times[2]
        assert status.grains_behind == 0


def test_overlay_runner_never_freezes_before_the_copy_completes() -> None:
    """Claim 18: the repetition interval lasts at least as long as the copy."""
    from pitmirror.harness.designs import Subject
    from pitmirror.impl.overlay_engine import OverlayEngine
    from pitmirror.impl.overlay_runner import OverlayRunner
    from pitmirror.model import freeze_overlay as B

    subject = Subject(B.DESIGN, B.Options(), "fan-out", 64)
    with subject.volume_set("memory") as volume_set:
        volumes, workdir = volume_set.fresh()
        engine = OverlayEngine(subject.topology_spec(), volumes, workdir, B.Options())
        clock = fake_clock(1.0).__next__
        freezes: list[tuple[int, int]] = []
        runner = OverlayRunner(engine, clock, interval_s=5.0, grains_per_tick=8,
                               on_point=lambda g, p: freezes.append((g, p)))  # fmt: skip
        for tick in range(200):
            runner.host_write(tick % 64, tick + 1)
            before = runner.status()[0]
            runner.tick()
            after = runner.status()[0]
            if after.point > before.point:  # a freeze: the previous point was everywhere
                assert min(before.committed.values()) == before.point
        times = [runner.point_times[(0, p)] for _, p in freezes]
        assert len(times) >= 3
        assert all(b - a >= 5.0 for a, b in zip(times, times[1:], strict=False))
