"""`pitmirror inspect --config FILE`: one site as its volumes and journal hold it; `pitmirror
export`: the committed point it holds, as image files.

It takes the state folder's lock, as a daemon does: recovery cuts a torn tail off the journal,
and the tail of a running daemon's journal may be an append in progress.

The site is built from its config exactly as it would run (volumes opened, journal recovered,
a torn tail cut off), then read: its design, site, phase, cycle and committed point, and how
many grains each of its maps holds.  Nothing is written but a journal's first record when its
state folder is new.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from pitmirror.impl.bitmap import GrainMap
from pitmirror.node.cli import JsonOpt, app, clean_errors, fail, out, print_json
from pitmirror.node.config import SiteConfig, built_site, load_config
from pitmirror.node.daemon import DaemonError, state_lock
from pitmirror.node.designs import DESIGNS
from pitmirror.node.failover import Failover, FailoverError
from pitmirror.node.served import CommittedVolume, Cycle
from pitmirror.node.site import ConfigError

ConfigOpt = Annotated[Path, typer.Option("--config", help="The site's TOML config file.")]


def acting_config(path: Path) -> SiteConfig:
    """The site this host acts as (a resync or a reverse may have turned it), as the daemon
    builds it."""
    config = load_config(path)
    return Failover.acting(DESIGNS[config.design], config)


@app.command("inspect")
@clean_errors
def inspect(config: ConfigOpt, json: JsonOpt = False) -> None:
    """Build one site from its config and show its durable state."""
    try:
        settings = acting_config(config)
        with (
            state_lock(settings.state_dir, "use pitmirror status"),
            built_site(settings) as running,
        ):
            meta = running.site.durable_meta()
            phase = running.phase()
            grains = running.geometry["grains"]
    except (ConfigError, DaemonError, FailoverError) as err:
        fail(str(err))
    numbers = {k: v for k, v in meta.items() if isinstance(v, int)}
    maps = {k: len(v) for k, v in meta.items() if isinstance(v, GrainMap)}
    doc: dict[str, object] = {
        "schema": 1,
        "design": settings.design,
        "site": settings.site,
        "state_dir": str(settings.state_dir),
        "grain_size": settings.grain_size,
        "grains": grains,
        "volumes": {n: str(p) for n, p in settings.volumes.items()},
        "phase": phase,
        "numbers": numbers,
        "maps": maps,
    }
    if json:
        print_json(doc)
        return
    table = Table(title=f"pitmirror site {settings.site} ({settings.design})")
    table.add_column("field")
    table.add_column("value")
    for key in ("design", "site", "state_dir", "grain_size", "grains", "phase"):
        table.add_row(key, str(doc[key]))
    for name, path in settings.volumes.items():
        table.add_row(f"volume {name}", str(path))
    for name, number in numbers.items():
        table.add_row(name, str(number))
    for name, count in maps.items():
        table.add_row(name, f"{count} grains")
    out.print(table)


@app.command("export")
@clean_errors
def export(
    config: ConfigOpt,
    to: Annotated[Path, typer.Option("--to", help="A folder: one image file per volume.")],
    json: JsonOpt = False,
) -> None:
    """Write the committed point a stopped site holds copies of, one image file per volume (what
    a failover reads): attach one to a loop device elsewhere to recover from it."""
    try:
        settings = acting_config(config)
        with (
            state_lock(settings.state_dir, "stop it first: export reads a quiet copy"),
            built_site(settings) as running,
        ):
            served = DESIGNS[settings.design].serve(running, time.time, Cycle())
            volumes = served.committed_volumes()
            if not volumes:
                raise ConfigError(f"the {settings.site} site holds no copy to export: export "
                                  "where the mirror's copies are")  # fmt: skip
            written = [_export(volume, settings.grain_size, to) for volume in volumes]
    except (ConfigError, DaemonError, FailoverError) as err:
        fail(str(err))
    except OSError as err:
        fail(f"{err.filename or to}: {err.strerror or err}")
    if json:
        print_json({"schema": 1, "site": settings.site, "volumes": written})
        return
    for item in written:
        point = item["point"]
        when = point["source_time"]
        stamp = "the mirror's start" if when is None else time.strftime(
            "%Y-%m-%d %H:%M:%S", time.localtime(when))  # fmt: skip
        out.print(f"{item['name']}: point {point['number']} (source time {stamp}), "
                  f"{item['bytes']} bytes -> {item['file']}")  # fmt: skip


EXPORT_GRAINS = 256


def _export(volume: CommittedVolume, grain_size: int, folder: Path) -> dict[str, Any]:
    """One volume's committed image into `folder`, written to a temporary name and renamed once
    whole and synced: a failed export never leaves a file that looks like an image."""
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"{volume.name}.img"
    partial = folder / f".{volume.name}.img.partial"
    with open(partial, "wb") as image:
        for start in range(0, volume.grains, EXPORT_GRAINS):
            image.write(volume.read(start, min(EXPORT_GRAINS, volume.grains - start)))
        image.flush()
        os.fsync(image.fileno())
    os.replace(partial, final)
    return {"name": volume.name, "file": str(final), "bytes": volume.grains * grain_size,
            "point": volume.point}  # fmt: skip
