"""Design B's real-time runner: deterministic given a clock."""

from __future__ import annotations

import itertools

from pitmirror.harness.designs import Subject
from pitmirror.harness.freeze_overlay.world import OverlayWorld
from pitmirror.impl.freeze_overlay.runner import OverlayRunner
from pitmirror.model import freeze_overlay as B
from pitmirror.model.actions import HostWrite


def fake_clock(step_s: float = 0.001) -> itertools.count[float]:
    return itertools.count(0.0, step_s)


def test_overlay_runner_never_freezes_before_the_copy_completes() -> None:
    """Claim 18: the repetition interval lasts at least as long as the copy."""
    subject = Subject(B.DESIGN, B.Options(), "fan-out", 64)
    with subject.volume_set("memory") as volume_set:
        volumes, workdir = volume_set.fresh()
        engine = OverlayWorld(B.topology("fan-out", 64), volumes, workdir, B.Options())
        clock = fake_clock(1.0).__next__
        freezes: list[tuple[int, int]] = []
        runner = OverlayRunner(engine.sites, clock, engine.apply, interval_s=5.0,
                               extents_per_tick=8, max_extent_grains=1,
                               on_point=lambda g, p: freezes.append((g, p)))  # fmt: skip
        for tick in range(200):
            engine.apply(HostWrite(tick % 64, tick + 1))
            before = runner.status()[0]
            runner.tick()
            after = runner.status()[0]
            if after.point > before.point:  # a freeze: the previous point was everywhere
                assert min(before.committed.values()) == before.point
        times = [runner.point_times[(0, p)] for _, p in freezes]
        assert len(times) >= 3
        assert all(b - a >= 5.0 for a, b in zip(times, times[1:], strict=False))
