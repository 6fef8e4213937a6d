"""`pitmirror demo`: mirror under a random workload with a live view, then compare digests."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.live import Live

from pitmirror.harness.cli.app import (
    DEFAULT_DESIGN,
    BackendOpt,
    DesignOpt,
    JsonOpt,
    TopologyOpt,
    app,
    clean_errors,
    fail,
    lookup_design,
    out,
    print_json,
)
from pitmirror.harness.design import DemoReport, DemoRequest, DemoRunner, StatusView

REFRESH_S = 0.1


@app.command("demo")
@clean_errors
def demo_cmd(
    seconds: Annotated[float, typer.Option(min=0.1, help="How long the workload runs.")] = 5.0,
    grains: Annotated[int, typer.Option(min=1, max=1 << 20)] = 1024,
    grain_size: Annotated[int, typer.Option(min=512)] = 65536,
    seed: Annotated[int, typer.Option(help="Seed of the random workload.")] = 1,
    backend: BackendOpt = "auto",
    design: DesignOpt = DEFAULT_DESIGN,
    topology: TopologyOpt = None,
    interval: Annotated[
        float | None,
        typer.Option(
            min=0.0, help="Design B: seconds between freezes (at least the copy) [default: 0]."
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Mirror under a random write workload with a live view; check the target by digest.

    At the end every target's recoverable image is read from the volumes and compared by
    digest with the committed point's image.  Exit 1 if any differs.  With a design that has
    topologies (freeze-overlay), --grains is per object and --topology picks groups and remotes.
    """
    if grain_size % 512:
        fail("--grain-size must be a multiple of 512")
    chosen = lookup_design(design)
    if topology is not None and topology not in chosen.model.topologies:
        known = ", ".join(chosen.model.topologies) or "none"
        fail(f"unknown topology {topology!r} for {chosen.name} (known: {known})")
    if interval is not None and not chosen.model.topologies:
        fail(f"--interval is design B's (freeze-overlay); {chosen.name} commits a point as "
             "soon as its copy is done")  # fmt: skip
    request = DemoRequest(backend, grains, grain_size, seconds, seed,
                          topology or chosen.default_topology, interval or 0.0)  # fmt: skip
    if as_json or not out.is_terminal:
        latest: list[StatusView] = []

        def keep(view: StatusView) -> None:
            latest[:] = [view]

        report = chosen.demo(request, keep)
        if not as_json and latest:
            out.print(latest[0]())
    else:
        report = _live(request, chosen.demo)
    if as_json:
        print_json(report.doc)
    else:
        for line in report.lines:
            out.print(line, highlight=False)
    raise typer.Exit(0 if report.consistent else 1)


def _live(request: DemoRequest, run: DemoRunner) -> DemoReport:
    """The status table redrawn at most every REFRESH_S, and once more at the end."""
    with Live(console=out, refresh_per_second=8) as live:
        shown = [0.0]
        last: list[StatusView] = []

        def show(view: StatusView) -> None:
            last[:] = [view]
            now = time.monotonic()
            if now - shown[0] >= REFRESH_S:
                shown[0] = now
                live.update(view())

        report = run(request, show)
        if last:
            live.update(last[0]())
    return report
