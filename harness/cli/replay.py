"""`pitmirror replay`: a trace on model and engine in lockstep, step by step."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from pitmirror.harness.cli.app import (
    BackendOpt,
    JsonOpt,
    app,
    clean_errors,
    fail,
    out,
    print_json,
)
from pitmirror.harness.cli.power_loss import run_crash
from pitmirror.harness.lockstep import explain
from pitmirror.harness.power_loss_states import Bounds
from pitmirror.harness.replay import MODEL_ONLY, ReplayResult, replay
from pitmirror.harness.traces import read_trace
from pitmirror.model.actions import describe


def replay_json(result: ReplayResult) -> dict[str, Any]:
    return {
        "trace_header": result.trace.header(),
        "backend": result.backend,
        "devices": result.devices,
        "clean": result.clean,
        "violated": result.violated,
        "as_expected": result.as_expected,
        "verdict": result.verdict(),
        "steps": [
            {
                "index": o.index,
                "action": describe(o.action) if o.action else None,
                "status": o.status,
                "cycle": o.cycle,
                "committed": o.committed,
                "phase": o.phase,
                "detail": o.detail,
                "predicate": o.predicate,
            }
            for o in result.outcomes
        ],
    }


@app.command("replay")
@clean_errors
def replay_cmd(
    trace: Annotated[Path, typer.Argument(help="A trace file (JSON Lines).")],
    backend: BackendOpt = "auto",
    as_json: JsonOpt = False,
) -> None:
    """Replay a trace on model and engine in lockstep, step by step.

    Exit 0 when every step agrees and every predicate holds, 1 at the first violation or
    divergence (explained in words), 2 when the trace cannot be read or is not a run of the
    model (an action its guard does not allow).  A trace that pins a power-loss crash state
    (saved by `pitmirror power-loss`) replays that crash state, as `pitmirror power-loss` does.
    """
    recorded = read_trace(trace)
    if recorded.power_loss is not None:  # the crash state it pins is what replays
        run_crash(trace, recorded, Bounds(), backend, None, as_json)
    result = replay(recorded, backend)
    if as_json:
        print_json(replay_json(result))
    else:
        table = Table(title=f"{trace} — {result.trace.why}", title_justify="left")
        for col in ("#", "action", "cycle", "committed", "phase", "result"):
            table.add_column(col)
        for o in result.outcomes:
            shown = "ok" if o.ok else f"[bold red]{o.status}[/]"
            action = describe(o.action) if o.action else "(initial state)"
            table.add_row(str(o.index), action, str(o.cycle), str(o.committed), o.phase, shown)
        out.print(table)
        if result.backend == MODEL_ONLY:
            out.print("volumes: none, the model alone (the engine does not implement the rules "
                      "the trace's variant changes)")  # fmt: skip
        else:
            out.print(f"volumes: {result.backend} ({', '.join(result.devices)})")
        style = "green" if result.clean else "bold red"
        out.print(f"[{style}]{result.verdict()}[/]")
        if result.trace.expect == "violation":
            met = "as the trace expects" if result.as_expected else "NOT as the trace expects"
            out.print(f"expected a violation of {result.trace.violates}: {met}")
    if result.last.status == "invalid":
        # the action list is not a run of the model: bad input, like a corrupt trace
        fail(f"{trace}: {explain(result.last)}")
    raise typer.Exit(0 if result.clean else 1)
