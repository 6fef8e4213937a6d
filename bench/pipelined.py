"""Benchmark: design B's pipelined order (the next freeze once the copy is complete at every
remote, the merges overlapping the next cycle) against the stricter order (the baseline: the
next freeze also waits for the merges and drops), side by side.

One object mirrored to two remotes (topology `fan-out`), on loop devices when run as root.  The
runner's clock is injected: one tick stands for `--tick-ms` of time in which the links move at
most `--link` extents together and each site's disk merges at most `--merge` extents (the
runner's `extents_per_tick` and `merge_extents_per_tick`), and the host writes `--writes`
random grains per tick.  Each setting gets its own volumes, copies the whole object once
(point 1), then runs `--ticks` ticks; rounds alternate the settings, each round with its own
workload seed, the same for both.  Measured on that clock, at the same interval and workload:
committed points per minute (the newest point every remote recovers, over the run), and the
committed point's age (now minus the instant that point was frozen, sampled at every tick:
the recovery point objective a failover would meet).  The wall time of each run (real I/O on
the volumes, one process) is printed too.  Prints the medians and the ratios.

    python bench/pipelined.py [--runs 3] [--ticks 300] [--writes 2] [--link 6] [--merge 6]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from contextlib import ExitStack
from dataclasses import dataclass

from pitmirror.harness.designs import Subject
from pitmirror.harness.freeze_overlay.world import OverlayWorld
from pitmirror.impl.freeze_overlay.runner import OverlayRunner
from pitmirror.model import freeze_overlay as B
from pitmirror.model.actions import HostWrite

GRAIN_SIZE = 65_536
TOPOLOGY = "fan-out"
SETTINGS = {
    "stricter order (baseline)": B.Options(pipelined=False),
    "pipelined": B.Options(pipelined=True),
}


@dataclass
class Clock:
    now: float = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Run:
    points_per_minute: float
    age_median_s: float
    age_max_s: float
    wall_s: float


def committed(runner: OverlayRunner) -> tuple[int, float]:
    """The point every remote recovers, and the instant it was frozen."""
    status = runner.status()[0]
    point = min(status.committed.values())
    return point, runner.point_times[(0, point)]


def one_run(options: B.Options, args: argparse.Namespace, seed: int, stack: ExitStack) -> Run:
    subject = Subject(B.DESIGN, options, TOPOLOGY, args.grains, GRAIN_SIZE)
    volumes, workdir = stack.enter_context(subject.volume_set(args.backend)).fresh()
    engine = OverlayWorld(B.topology(TOPOLOGY, args.grains), volumes, workdir, options,
                           self_check=False)  # fmt: skip
    clock, tick_s = Clock(), args.tick_ms / 1000
    runner = OverlayRunner(engine.sites, clock, engine.apply, interval_s=args.interval,
                           extents_per_tick=args.link,
                           merge_extents_per_tick=args.merge)  # fmt: skip
    while committed(runner)[0] < 1:  # point 1, the whole object, before the clock starts
        runner.tick()
    rng = random.Random(seed)
    first, ages = committed(runner)[0], []
    started, clock.now = time.perf_counter(), 1.0
    runner.point_times[(0, first)] = clock.now
    for _ in range(args.ticks):
        for _ in range(args.writes):
            grain = rng.randrange(engine.topology.grains)
            engine.apply(HostWrite(grain, rng.randrange(1, 1 << 30)))
        runner.tick()
        clock.now += tick_s
        point, frozen_at = committed(runner)
        ages.append(clock.now - frozen_at)
    minutes = args.ticks * tick_s / 60
    return Run((committed(runner)[0] - first) / minutes, statistics.median(ages), max(ages),
               time.perf_counter() - started)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--ticks", type=int, default=300)
    parser.add_argument("--tick-ms", type=int, default=100)
    parser.add_argument("--writes", type=int, default=2, help="host writes per tick")
    parser.add_argument("--link", type=int, default=6, help="copy extents per tick, all links")
    parser.add_argument("--merge", type=int, default=6, help="merge extents per site per tick")
    parser.add_argument("--interval", type=float, default=0.0, help="repetition interval, s")
    parser.add_argument("--grains", type=int, default=4096, help="64 KiB grains of the object")
    parser.add_argument("--backend", default="loop")
    args = parser.parse_args()
    runs: dict[str, list[Run]] = {name: [] for name in SETTINGS}
    for round_ in range(args.runs):
        for name, options in SETTINGS.items():
            with ExitStack() as stack:
                runs[name].append(one_run(options, args, round_, stack))
    size = args.grains * GRAIN_SIZE / 2**20
    print(f"design B, one {size:,.0f} MiB object, two remotes, {args.backend} volumes; per "
          f"{args.tick_ms} ms tick: {args.writes} random 64 KiB host writes, {args.link} copy "
          f"extents (the links together), {args.merge} merge extents per site; interval "
          f"{args.interval} s; {args.ticks} ticks ({args.ticks * args.tick_ms / 1000:.0f} s "
          f"on the runner's clock), {args.runs} runs each")  # fmt: skip
    medians: dict[str, tuple[float, float]] = {}
    for name in SETTINGS:
        done = runs[name]
        ppm = statistics.median(r.points_per_minute for r in done)
        age = statistics.median(r.age_median_s for r in done)
        medians[name] = (ppm, age)
        print(f"{name}: committed points/min median {ppm:.1f} "
              f"({', '.join(f'{r.points_per_minute:.1f}' for r in done)}); committed point age "
              f"median {age:.2f} s ({', '.join(f'{r.age_median_s:.2f}' for r in done)}), "
              f"worst {max(r.age_max_s for r in done):.2f} s; wall time per run "
              f"{statistics.median(r.wall_s for r in done):.1f} s")  # fmt: skip
    base, pipelined = (medians[name] for name in SETTINGS)
    print(f"points/min ratio pipelined/baseline: {pipelined[0] / base[0]:.2f}")
    print(f"committed point age ratio baseline/pipelined: {base[1] / pipelined[1]:.2f}")


if __name__ == "__main__":
    main()
