"""`pitmirror cleanup`: remove what runs that died outright (kill -9, power cut) left behind."""

from __future__ import annotations

from typing import Annotated

import typer

from pitmirror.harness.backends import clean, leftovers
from pitmirror.harness.cli.app import JsonOpt, app, clean_errors, out, print_json


@app.command("cleanup")
@clean_errors
def cleanup_cmd(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what would be removed; remove nothing.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Remove the temporary folders (and any loop devices still attached to their files) of
    pitmirror runs whose process is gone.  A live run's folder is never touched.

    Loop devices are set to detach when their last user closes them, so a killed run usually
    leaves only sparse files behind.
    """
    found = leftovers()
    removed = found if dry_run else [clean(leftover) for leftover in found]
    if as_json:
        print_json({
            "dry_run": dry_run,
            "removed": [{"folder": str(r.root), "pid": r.pid, "devices": list(r.devices)}
                        for r in removed],
        })  # fmt: skip
        raise typer.Exit(0)
    if not removed:
        out.print("nothing left behind by a dead run")
    verb = "would remove" if dry_run else "removed"
    for r in removed:
        devices = f" and detached {', '.join(r.devices)}" if r.devices else ""
        out.print(f"{verb} {r.root} (run {r.pid}, no longer alive){devices}", highlight=False)
    raise typer.Exit(0)
