"""The design-B demo: a topology's groups mirrored under a random write workload.

Like design A's demo: single-threaded and deterministic given the seed; a ghost of every
object's content is snapshotted at each freeze; at the end writes stop, every group freezes
once more and commits everywhere, and each remote's recoverable image of every member is
compared, by digest, with that member's image at the group's committed point.
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
from pitmirror.harness.design import DemoReport, DemoRequest, StatusView
from pitmirror.harness.digests import seeds_digest
from pitmirror.harness.freeze_overlay.world import OverlayWorld
from pitmirror.harness.grains import grain_bytes
from pitmirror.impl.freeze_overlay.layout import volume_layout
from pitmirror.impl.freeze_overlay.runner import GroupStatus, OverlayRunner
from pitmirror.model import freeze_overlay as B

MAX_QUIESCE_TICKS = 100_000


@dataclass
class CopyCheck:
    group: int
    member: str
    remote: str
    point: int
    target_digest: str
    expected_digest: str

    @property
    def equal(self) -> bool:
        return self.target_digest == self.expected_digest


@dataclass
class OverlayDemoResult:
    backend: str
    devices: list[str]
    topology: str
    seconds: float
    host_writes: int
    points: int
    checks: list[CopyCheck]

    @property
    def consistent(self) -> bool:
        return all(c.equal for c in self.checks)


def run_demo(
    backend: str,
    topology: str,
    grains: int,
    grain_size: int,
    seconds: float,
    seed: int,
    clock: Callable[[], float],
    interval_s: float = 0.0,
    writes_per_tick: int = 4,
    on_status: Callable[[list[GroupStatus], int], None] | None = None,
) -> OverlayDemoResult:
    topo = B.topology(topology, grains)
    rng = random.Random(seed)
    host = [np.zeros(o.grains, dtype=np.int64) for o in topo.objects]
    images: dict[tuple[int, int], list[npt.NDArray[np.int64]]] = {}
    for gi in range(len(topo.groups)):
        members = topo.group_objects(gi)
        images[(gi, 0)] = images[(gi, 1)] = [host[i].copy() for i in members]
    with VolumeSet(backend, grains, grain_size, *volume_layout(topo)) as volume_set:
        volumes, workdir = volume_set.fresh()
        world = OverlayWorld(topo, volumes, workdir, B.Options())

        def snapshot(group: int, point: int) -> None:
            images[(group, point)] = [host[i].copy() for i in topo.group_objects(group)]

        runner = OverlayRunner(world.sites, clock, world.apply, interval_s, on_point=snapshot)
        started, writes = clock(), 0
        while clock() - started < seconds:
            for _ in range(writes_per_tick):
                grain = rng.randrange(topo.grains)
                writes += 1
                _, obj, offset = topo.locate(grain)
                home = world.sites[topo.objects[obj].home]
                home.host_write(grain, grain_bytes(writes, grain, grain_size))
                host[obj][offset] = writes
            runner.tick()
            if on_status is not None:
                on_status(runner.status(), writes)
        targets = {gi: s.point + 1 for gi, s in enumerate(runner.status())}
        for _ in range(MAX_QUIESCE_TICKS):
            status = runner.status()
            if all(min(s.committed.values()) >= targets[s.group] for s in status):
                break
            runner.tick()
        if on_status is not None:
            on_status(runner.status(), writes)
        checks = []
        for s in runner.status():
            for remote, point in s.committed.items():
                for position, obj in enumerate(topo.group_objects(s.group)):
                    recovered = np.array(world.recoverable(obj, remote), dtype=np.int64)
                    first = topo.first_grain(obj)
                    checks.append(CopyCheck(
                        group=s.group,
                        member=topo.objects[obj].name,
                        remote=remote,
                        point=point,
                        target_digest=_digest(recovered, first, grain_size),
                        expected_digest=_digest(images[(s.group, point)][position], first,
                                                grain_size),
                    ))  # fmt: skip
        return OverlayDemoResult(
            backend=volume_set.kind,
            devices=volume_set.devices(),
            topology=topology,
            seconds=clock() - started,
            host_writes=writes,
            points=sum(s.point for s in runner.status()),
            checks=checks,
        )


def _digest(seeds: npt.NDArray[np.int64], first_grain: int, grain_size: int) -> str:
    # grains carry their global index: digest them as they sit in the topology's address space
    padded = np.concatenate([np.zeros(first_grain, dtype=np.int64), seeds])
    return seeds_digest(padded, grain_size)


def status_table(statuses: list[GroupStatus], writes: int, now: float, topo: B.Topology) -> Table:
    table = Table(title=f"pitmirror demo — design B (freeze + overlay), {writes} host writes")
    for col in ("group", "members", "point", "remote", "committed", "age", "grains behind",
                "phase"):  # fmt: skip
        table.add_column(col, justify="right")
    for st in statuses:
        members = ",".join(topo.objects[i].name for i in topo.group_objects(st.group))
        for remote, committed in st.committed.items():
            age = f"{now - st.committed_at[remote]:.2f} s"
            table.add_row(str(st.group), members, str(st.point), remote, f"P_{committed}", age,
                          str(st.grains_behind), st.phase)  # fmt: skip
    return table


def demo(request: DemoRequest, show: Callable[[StatusView], None]) -> DemoReport:
    """`pitmirror demo` for design B: a topology's groups under the workload."""
    topology = request.topology or "group"
    topo = B.topology(topology, request.grains)  # an unknown name: ValueError, one line
    clock = time.monotonic

    def on_status(statuses: list[GroupStatus], writes: int) -> None:
        now = clock()
        show(lambda: status_table(statuses, writes, now, topo))

    r = run_demo(request.backend, topology, request.grains, request.grain_size,
                 request.seconds, request.seed, clock, request.interval,
                 on_status=on_status)  # fmt: skip
    lines = [f"volumes: {r.backend}, {len(r.devices)} volumes; topology {topology}"]
    for c in r.checks:
        verdict = "[green]equal[/]" if c.equal else "[bold red]DIFFERENT[/]"
        lines.append(f"{c.remote} recovers {c.member} at P_{c.point}: target "
                     f"{c.target_digest}, P_{c.point} {c.expected_digest} {verdict}")  # fmt: skip
    doc: dict[str, object] = {
        "design": B.DESIGN,
        "topology": topology,
        "backend": r.backend,
        "devices": r.devices,
        "seconds": round(r.seconds, 3),
        "host_writes": r.host_writes,
        "points": r.points,
        "checks": [c.__dict__ | {"equal": c.equal} for c in r.checks],
        "consistent": r.consistent,
    }
    return DemoReport(r.consistent, lines, doc)
