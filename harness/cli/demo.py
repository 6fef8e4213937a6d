"""`pitmirror demo`: mirror under a random workload with a live view, then compare digests."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer
from rich.live import Live
from rich.table import Table

from pitmirror.harness.cli.app import (
    BackendOpt,
    DesignOpt,
    JsonOpt,
    TopologyOpt,
    app,
    clean_errors,
    fail,
    out,
    print_json,
)
from pitmirror.harness.cyclic_flashcopy.demo import run_demo
from pitmirror.harness.designs import MODELS
from pitmirror.harness.freeze_overlay.demo import run_overlay_demo
from pitmirror.impl.cyclic_flashcopy.runner import RunnerStatus
from pitmirror.impl.freeze_overlay.runner import GroupStatus
from pitmirror.model import cyclic_flashcopy as design_a
from pitmirror.model import freeze_overlay as design_b


def status_table(status: RunnerStatus, writes: int, now: float) -> Table:
    table = Table(title="pitmirror demo — design A (cyclic incremental FlashCopy)")
    for col in (
        "cycle",
        "committed",
        "age of committed point",
        "grains behind",
        "MiB behind",
        "commits",
        "host writes",
        "phase",
    ):
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


@app.command("demo")
@clean_errors
def demo_cmd(
    seconds: Annotated[float, typer.Option(min=0.1, help="How long the workload runs.")] = 5.0,
    grains: Annotated[int, typer.Option(min=1, max=1 << 20)] = 1024,
    grain_size: Annotated[int, typer.Option(min=512)] = 65536,
    seed: Annotated[int, typer.Option(help="Seed of the random workload.")] = 1,
    backend: BackendOpt = "auto",
    design: DesignOpt = design_a.DESIGN,
    topology: TopologyOpt = None,
    interval: Annotated[
        float, typer.Option(min=0.0, help="Design B: seconds between freezes (at least the copy).")
    ] = 0.0,
    as_json: JsonOpt = False,
) -> None:
    """Mirror under a random write workload with a live view; check the target by digest.

    At the end every target's recoverable image is read from the volumes and compared by
    digest with the committed point's image.  Exit 1 if any differs.  With --design
    freeze-overlay, --grains is per object and --topology picks groups and remotes.
    """
    if grain_size % 512:
        fail("--grain-size must be a multiple of 512")
    if design == design_b.DESIGN:
        overlay_demo(seconds, grains, grain_size, seed, backend, topology or "group", interval,
                     as_json)  # fmt: skip
    elif design != design_a.DESIGN:
        fail(f"unknown design {design!r} (known: {', '.join(MODELS)})")
    clock = time.monotonic
    latest: list[tuple[RunnerStatus, int, float]] = []

    def remember(status: RunnerStatus, writes: int) -> None:
        latest[:] = [(status, writes, clock())]

    if as_json or not out.is_terminal:
        result = run_demo(backend, grains, grain_size, seconds, seed, clock, on_status=remember)
        if not as_json:
            out.print(status_table(*latest[0]))
    else:
        with Live(console=out, refresh_per_second=8) as live:
            shown = [0.0]

            def show(status: RunnerStatus, writes: int) -> None:
                remember(status, writes)
                if latest[0][2] - shown[0] >= 0.1:
                    shown[0] = latest[0][2]
                    live.update(status_table(*latest[0]))

            result = run_demo(backend, grains, grain_size, seconds, seed, clock, on_status=show)
            live.update(status_table(*latest[0]))
    doc = {
        "backend": result.backend,
        "devices": result.devices,
        "grains": result.grains,
        "grain_size": result.grain_size,
        "seconds": round(result.seconds, 3),
        "host_writes": result.host_writes,
        "commits": result.commits,
        "committed": result.committed,
        "target_digest": result.target_digest,
        "expected_digest": result.expected_digest,
        "source_matches_host": result.source_matches_host,
        "consistent": result.consistent,
    }
    if as_json:
        print_json(doc)
    else:
        out.print(
            f"volumes: {result.backend} ({', '.join(result.devices)}), "
            f"{grains} grains of {grain_size} bytes"
        )
        out.print(
            f"{result.host_writes} host writes, {result.commits} commits in "
            f"{result.seconds:.1f} s; committed point P_{result.committed}"
        )
        out.print(f"target image digest   {result.target_digest}")
        out.print(f"P_{result.committed} image digest     {result.expected_digest}")
        verdict = "[green]equal: the target holds the committed point-in-time image[/]"
        out.print(verdict if result.consistent else "[bold red]DIFFERENT[/]")
    raise typer.Exit(0 if result.consistent else 1)


def overlay_table(statuses: list[GroupStatus], writes: int, now: float, topo: Any) -> Table:
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


def overlay_demo(
    seconds: float,
    grains: int,
    grain_size: int,
    seed: int,
    backend: str,
    topology: str,
    interval: float,
    as_json: bool,
) -> None:
    if topology not in design_b.TOPOLOGIES:
        fail(f"unknown topology {topology!r} (known: {', '.join(design_b.TOPOLOGIES)})")
    clock = time.monotonic
    topo = design_b.topology(topology, grains)
    latest: list[tuple[list[GroupStatus], int, float]] = []

    def remember(statuses: list[GroupStatus], writes: int) -> None:
        latest[:] = [(statuses, writes, clock())]

    args = (backend, topology, grains, grain_size, seconds, seed, clock, interval)
    if as_json or not out.is_terminal:
        result = run_overlay_demo(*args, on_status=remember)
        if not as_json:
            out.print(overlay_table(*latest[0], topo))
    else:
        with Live(console=out, refresh_per_second=8) as live:
            shown = [0.0]

            def show(statuses: list[GroupStatus], writes: int) -> None:
                remember(statuses, writes)
                if latest[0][2] - shown[0] >= 0.1:
                    shown[0] = latest[0][2]
                    live.update(overlay_table(*latest[0], topo))

            result = run_overlay_demo(*args, on_status=show)
            live.update(overlay_table(*latest[0], topo))
    if as_json:
        print_json({
            "design": design_b.DESIGN,
            "topology": topology,
            "backend": result.backend,
            "devices": result.devices,
            "seconds": round(result.seconds, 3),
            "host_writes": result.host_writes,
            "points": result.points,
            "checks": [c.__dict__ | {"equal": c.equal} for c in result.checks],
            "consistent": result.consistent,
        })  # fmt: skip
    else:
        out.print(f"volumes: {result.backend}, {len(result.devices)} volumes; topology {topology}")
        for c in result.checks:
            verdict = "[green]equal[/]" if c.equal else "[bold red]DIFFERENT[/]"
            out.print(f"{c.remote} recovers {c.member} at P_{c.point}: target "
                      f"{c.target_digest}, P_{c.point} {c.expected_digest} {verdict}")  # fmt: skip
    raise typer.Exit(0 if result.consistent else 1)
