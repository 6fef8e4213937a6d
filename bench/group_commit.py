"""Benchmark: design A's host writes into the write cache with a flush every `--batch` writes
(group commit) against every write FUA (durable on its own: the host door before the cache),
side by side in one run.

Each setting gets its own 2 GiB volumes (32,768 grains of 64 KiB; loop devices when run as
root) and first copies the whole source once (point 1 committed).  Then, round after round and
alternating the settings, the host writes `--writes` random grains — FUA, or cached with a
`HostFlush` after every `--batch` of them and one at the end — timed (host writes per second,
every write durable at the end), and the runner takes the point that holds them (not timed).
Prints the medians and the ratio.

    python bench/group_commit.py [--runs 3] [--writes 1000] [--batch 32] [--backend loop]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from contextlib import ExitStack

from pitmirror.harness.cyclic_flashcopy.world import FlashCopyWorld
from pitmirror.harness.designs import Subject
from pitmirror.impl.cyclic_flashcopy.runner import FlashCopyRunner
from pitmirror.model import cyclic_flashcopy as A
from pitmirror.model.actions import CopyGrain, HostFlush, HostWrite
from pitmirror.model.extents import runs

GRAINS, GRAIN_SIZE = 32_768, 65_536
SETTINGS = ("every write FUA (baseline)", "cached, a flush every batch (group commit)")


def until_committed(runner: FlashCopyRunner) -> None:
    while not runner.tick():
        pass


def flush(engine: FlashCopyWorld) -> None:
    """The host's flush as the daemon does it: cached grains still to copy first."""
    for start, count in runs(engine.local.to_copy_before_flush(), 16):
        engine.apply(CopyGrain(start, count))
    engine.apply(HostFlush())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--writes", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--backend", default="loop")
    args = parser.parse_args()
    rng = random.Random(0)
    rates: dict[str, list[float]] = {name: [] for name in SETTINGS}
    with ExitStack() as stack:
        worlds: dict[str, tuple[FlashCopyRunner, FlashCopyWorld]] = {}
        kind = args.backend
        for name in SETTINGS:
            subject = Subject(A.DESIGN, A.Options(), None, GRAINS, GRAIN_SIZE)
            volume_set = stack.enter_context(subject.volume_set(args.backend))
            kind = volume_set.kind
            volumes, workdir = volume_set.fresh()
            engine = FlashCopyWorld(volumes, workdir, A.Options(), self_check=False)
            runner = FlashCopyRunner(engine.local, engine.remote, time.monotonic, engine.apply)
            started = time.perf_counter()
            until_committed(runner)
            print(f"{name}: point 1 (the whole source) in {time.perf_counter() - started:.1f} s")
            worlds[name] = (runner, engine)
        for _ in range(args.runs):
            for name, (runner, engine) in worlds.items():
                cached = name != SETTINGS[0]
                started = time.perf_counter()
                for n in range(1, args.writes + 1):
                    grain, seed = rng.randrange(GRAINS), rng.randrange(1, 1 << 30)
                    engine.apply(HostWrite(grain, seed, fua=not cached))
                    if cached and n % args.batch == 0:
                        flush(engine)
                if cached:
                    flush(engine)
                rates[name].append(args.writes / (time.perf_counter() - started))
                until_committed(runner)
    print(f"design A, 2 GiB, {kind} volumes; {args.writes} random 64 KiB host writes per round, "
          f"a flush every {args.batch} (cached), {args.runs} runs each")  # fmt: skip
    for name in SETTINGS:
        each = ", ".join(f"{r:,.0f}" for r in rates[name])
        print(f"{name}: host writes/s median {statistics.median(rates[name]):,.0f} ({each})")
    base, batched = SETTINGS
    ratio = statistics.median(rates[batched]) / statistics.median(rates[base])
    print(f"host writes/s ratio group commit/baseline: {ratio:.2f}")


if __name__ == "__main__":
    main()
