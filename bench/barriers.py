"""Benchmark: design B with its merges' data flushed only before the drop (the default)
against every write flushed at once (`flush_every_write`, the baseline), side by side; and the
default with the host's writes cached and flushed in batches (group commit: `--batch` writes
without FUA, then one `HostFlush`) against the same default with every host write FUA.

One object of 2 GiB (32,768 grains of 64 KiB) mirrored to one remote (topology `single`), on
loop devices when run as root, in the stricter order (`pipelined=False`), where a point's cycle
ends with its own merges.  Each setting gets its own volumes and first copies the whole
object once (point 1).  Then, round after round and alternating the settings, the host writes
`--writes` random grains (timed: host writes per second, the last batch's flush included),
and the runner takes the point that
holds them through a whole cycle — freeze, copy to the remote, complete, merge and drop at the
remote and at home — timed from the freeze until the group is idle again (the incremental
cycle time).  Prints the median of each and the ratios.

    python bench/barriers.py [--runs 3] [--writes 1000] [--batch 32] [--backend loop]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from contextlib import ExitStack

from pitmirror.harness.designs import Subject
from pitmirror.harness.freeze_overlay.world import OverlayWorld
from pitmirror.impl.freeze_overlay.runner import OverlayRunner
from pitmirror.model import freeze_overlay as B
from pitmirror.model.actions import HostFlush, HostWrite

GRAINS, GRAIN_SIZE = 32_768, 65_536
SETTINGS = {  # the stricter order, where one cycle holds its own merges (bench/pipelined.py)
    "every write flushed (baseline)": B.Options(pipelined=False, flush_every_write=True),
    "merges flushed at the drop": B.Options(pipelined=False),
    "merges at the drop, host writes cached (group commit)": B.Options(pipelined=False),
}
CACHED = "merges at the drop, host writes cached (group commit)"


def until_idle(runner: OverlayRunner, engine: OverlayWorld) -> int:
    """Ticks until the group's cycle is back to idle (its point complete and merged away)."""
    ticks = 0
    while True:
        runner.tick()
        ticks += 1
        if engine.cycles[0].current_state_value == "idle":
            return ticks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--writes", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=32, help="cached writes per host flush")
    parser.add_argument("--backend", default="loop")
    args = parser.parse_args()
    rng = random.Random(0)
    writes: dict[str, list[float]] = {name: [] for name in SETTINGS}
    cycles: dict[str, list[float]] = {name: [] for name in SETTINGS}
    with ExitStack() as stack:
        runners: dict[str, tuple[OverlayRunner, OverlayWorld]] = {}
        kind = args.backend
        for name, options in SETTINGS.items():
            subject = Subject(B.DESIGN, options, "single", GRAINS, GRAIN_SIZE)
            volume_set = stack.enter_context(subject.volume_set(args.backend))
            kind = volume_set.kind
            volumes, workdir = volume_set.fresh()
            engine = OverlayWorld(B.topology("single", GRAINS), volumes, workdir, options,
                                   self_check=False)  # fmt: skip
            runner = OverlayRunner(engine.sites, time.monotonic, engine.apply)
            started = time.perf_counter()
            until_idle(runner, engine)
            print(f"{name}: point 1 (the whole object) in {time.perf_counter() - started:.1f} s")
            runners[name] = (runner, engine)
        for _ in range(args.runs):
            for name, (runner, engine) in runners.items():
                started = time.perf_counter()
                cached = name == CACHED
                for n in range(1, args.writes + 1):
                    engine.apply(HostWrite(rng.randrange(GRAINS), rng.randrange(1, 1 << 30),
                                           fua=not cached))  # fmt: skip
                    if cached and (n % args.batch == 0 or n == args.writes):
                        engine.apply(HostFlush(0))
                writes[name].append(args.writes / (time.perf_counter() - started))
                started = time.perf_counter()
                until_idle(runner, engine)
                cycles[name].append(time.perf_counter() - started)
    print(f"design B, one 2 GiB object, one remote, {kind} volumes; {args.writes} random "
          f"64 KiB host writes per cycle, {args.runs} runs each")  # fmt: skip
    for name in SETTINGS:
        rates = ", ".join(f"{r:,.0f}" for r in writes[name])
        times = ", ".join(f"{t:.2f}" for t in cycles[name])
        print(
            f"{name}: host writes/s median {statistics.median(writes[name]):,.0f} ({rates}); "
            f"incremental cycle median {statistics.median(cycles[name]):.2f} s ({times})"
        )
    base, batched, grouped = SETTINGS
    print(
        f"host writes/s ratio batched/baseline: "
        f"{statistics.median(writes[batched]) / statistics.median(writes[base]):.2f}"
    )
    print(
        f"host writes/s ratio group commit/FUA (both merges at the drop): "
        f"{statistics.median(writes[grouped]) / statistics.median(writes[batched]):.2f}"
    )
    print(
        f"incremental cycle ratio baseline/batched: "
        f"{statistics.median(cycles[base]) / statistics.median(cycles[batched]):.2f}"
    )


if __name__ == "__main__":
    main()
