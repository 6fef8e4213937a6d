"""The demo: mirror a volume under a random write workload, then prove the target by digest.

Single-threaded and deterministic given the seed: every loop turn issues a few host writes and
one runner tick.  The demo keeps a ghost of the source (one seed per grain) and snapshots it at
every consistency point; at the end it quiesces (writes stop, the runner commits a point taken
after the last write) and compares the digest of what the target site recovers, read from the
volumes, with the digest of the committed point's image.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from rich.table import Table

from pitmirror.harness.backends import VolumeSet
from pitmirror.harness.cyclic_flashcopy.world import FlashCopyWorld
from pitmirror.harness.design import DemoReport, DemoRequest, StatusView
from pitmirror.harness.digests import image_digest, seeds_digest
from pitmirror.harness.grains import grain_bytes
from pitmirror.impl.cyclic_flashcopy.layout import volume_layout
from pitmirror.impl.cyclic_flashcopy.runner import FlashCopyRunner, FlashCopyStatus
from pitmirror.model.cyclic_flashcopy import Options

MAX_QUIESCE_TICKS = 1_000_000


@dataclass
class DemoResult:
    backend: str
    devices: list[str]
    grains: int
    grain_size: int
    seconds: float
    host_writes: int
    commits: int
    committed: int
    target_digest: str
    expected_digest: str
    source_matches_host: bool

    @property
    def consistent(self) -> bool:
        return self.target_digest == self.expected_digest and self.source_matches_host


def run_demo(
    backend: str,
    grains: int,
    grain_size: int,
    seconds: float,
    seed: int,
    clock: Callable[[], float],
    writes_per_tick: int = 4,
    on_status: Callable[[FlashCopyStatus, int], None] | None = None,
) -> DemoResult:
    rng = random.Random(seed)
    host = np.zeros(grains, dtype=np.int64)
    images: dict[int, npt.NDArray[np.int64]] = {0: host.copy(), 1: host.copy()}
    hot = max(1, grains // 5)
    with VolumeSet(backend, grains, grain_size, *volume_layout(grains)) as volume_set:
        volumes, workdir = volume_set.fresh()
        world = FlashCopyWorld(volumes, workdir, Options())
        local, remote = world.local, world.remote

        def snapshot(cycle: int) -> None:
            images[cycle] = host.copy()
            for old in [k for k in images if k < remote.remote_meta().committed]:
                del images[old]

        runner = FlashCopyRunner(local, remote, clock, world.apply, on_consistency_point=snapshot)
        started = clock()
        writes = 0
        while clock() - started < seconds:
            for _ in range(writes_per_tick):
                # an 80/20 workload: most writes hit a hot fifth of the volume
                grain = rng.randrange(hot) if rng.random() < 0.8 else rng.randrange(grains)
                writes += 1
                local.host_write(grain, grain_bytes(writes, grain, grain_size))
                host[grain] = writes
            runner.tick()
            if on_status is not None:
                on_status(runner.status(), writes)
        last_point = local.local_meta().cycle + 1
        for _ in range(MAX_QUIESCE_TICKS):
            if remote.remote_meta().committed >= last_point:
                break
            runner.tick()
        status = runner.status()
        if on_status is not None:
            on_status(status, writes)
        recovered = remote.recoverable_image()
        source = volumes["source"].read_grains(0, grains)
        host_bytes = b"".join(grain_bytes(int(s), g, grain_size) for g, s in enumerate(host))
        return DemoResult(
            backend=volume_set.kind,
            devices=volume_set.devices(),
            grains=grains,
            grain_size=grain_size,
            seconds=clock() - started,
            host_writes=writes,
            commits=status.commits,
            committed=status.committed,
            target_digest=image_digest([recovered]),
            expected_digest=seeds_digest(images[status.committed], grain_size),
            source_matches_host=source == host_bytes,
        )


def status_table(status: FlashCopyStatus, writes: int, now: float) -> Table:
    table = Table(title="pitmirror demo — design A (cyclic incremental FlashCopy)")
    columns = ("cycle", "committed", "age of committed point", "grains behind", "MiB behind",
               "commits", "host writes", "phase")  # fmt: skip
    for col in columns:
        table.add_column(col, justify="right")
    table.add_row(
        str(status.cycle),
        str(status.committed),
        f"{now - status.committed_at:.2f} s",
        str(status.grains_behind),
        f"{status.bytes_behind / 2**20:.1f}",
        str(status.commits),
        str(writes),
        status.phase,
    )
    return table


def demo(request: DemoRequest, show: Callable[[StatusView], None]) -> DemoReport:
    """`pitmirror demo` for design A: one volume pair under the workload."""
    if request.topology is not None:
        raise ValueError("--topology is for designs with topologies (freeze-overlay)")
    clock = time.monotonic

    def on_status(status: FlashCopyStatus, writes: int) -> None:
        now = clock()
        show(lambda: status_table(status, writes, now))

    r = run_demo(request.backend, request.grains, request.grain_size, request.seconds,
                 request.seed, clock, on_status=on_status)  # fmt: skip
    verdict = "[green]equal: the target holds the committed point-in-time image[/]"
    lines = [
        f"volumes: {r.backend} ({', '.join(r.devices)}), {r.grains} grains of {r.grain_size} bytes",
        f"{r.host_writes} host writes, {r.commits} commits in {r.seconds:.1f} s; "
        f"committed point P_{r.committed}",
        f"target image digest   {r.target_digest}",
        f"P_{r.committed} image digest     {r.expected_digest}",
        verdict if r.consistent else "[bold red]DIFFERENT[/]",
    ]
    doc: dict[str, object] = {
        "backend": r.backend,
        "devices": r.devices,
        "grains": r.grains,
        "grain_size": r.grain_size,
        "seconds": round(r.seconds, 3),
        "host_writes": r.host_writes,
        "commits": r.commits,
        "committed": r.committed,
        "target_digest": r.target_digest,
        "expected_digest": r.expected_digest,
        "source_matches_host": r.source_matches_host,
        "consistent": r.consistent,
    }
    return DemoReport(r.consistent, lines, doc)
