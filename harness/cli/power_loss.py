"""`pitmirror power-loss`: every crash state a power loss can leave at every write of a trace,
recovered and judged."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from pitmirror.harness.cli.app import (
    MUTANT_OR_FIELD,
    BackendOpt,
    JsonOpt,
    app,
    clean_errors,
    fail,
    out,
    parse_options,
    print_json,
)
from pitmirror.harness.power_loss import (
    CrashReport,
    explore,
    save_violation,
    shrink,
)
from pitmirror.harness.power_loss_states import Bounds
from pitmirror.harness.traces import Saved, Trace, findings_dir, read_trace


def crash_json(report: CrashReport, shortest: CrashReport, saved: Saved) -> dict[str, Any]:
    """`report`'s counts; the first violation as the shortest trace found shows it."""
    first = shortest.first
    return {
        "trace": report.trace.header(),
        "backend": report.backend,
        "bounds": dataclasses.asdict(report.bounds),
        "steps": report.steps,
        "crash_points": report.points,
        "exhaustive_points": report.exhaustive_points,
        "cross_site_points": report.cross_site_points,
        "crash_states": report.states,
        "distinct_recovered_states": report.distinct,
        "violations": report.violations,
        "violations_by_predicate": report.by_predicate,
        "seconds": round(report.seconds, 3),
        "states_per_second": round(report.states_per_second),
        "problem": report.problem,
        "clean": report.clean,
        "first_violation": None
        if first is None
        else {
            "predicate": first.predicate,
            "words": first.words(report.trace.grain_size),
            "power_loss": first.pinned(),
            "steps": len(shortest.trace.actions[: first.point.step]),
        },
        "saved_trace": str(saved.path) if saved.path else None,
        "save_error": saved.error,
        "trace_lines": saved.text.splitlines() if saved.error else None,
    }


def print_report(
    path: Path, report: CrashReport, shortest: CrashReport, saved: Path | None
) -> None:
    trace = report.trace
    options = trace.resolved_options.non_default()
    where = "the crash state pinned in" if trace.power_loss else "power loss at every write of"
    table = Table(title=f"{where} {path}", title_justify="left", show_header=False)
    table.add_column("what")
    table.add_column("value")
    table.add_row("design", trace.design + (f" {options}" if options else ""))
    table.add_row("volumes", report.backend)
    table.add_row("steps explored", f"{report.steps} of {len(trace.actions)}")
    sampled = report.points - report.exhaustive_points
    how = (
        f"{report.exhaustive_points} exhaustive, {sampled} sampled; "
        f"{report.cross_site_points} after another site's write"
    )
    table.add_row("crash points", f"{report.points} ({'pinned' if trace.power_loss else how})")
    table.add_row("crash states", f"{report.states:,}")
    table.add_row("distinct recovered states judged", f"{report.distinct:,}")
    table.add_row("states/s", f"{report.states_per_second:,.0f} ({report.seconds:.2f} s)")
    shown = "[green]0[/]" if not report.violations else f"[bold red]{report.violations:,}[/]"
    table.add_row("violations", shown)
    for predicate, count in sorted(report.by_predicate.items()):
        table.add_row(f"  {predicate}", f"{count:,}")
    out.print(table)
    if report.problem:
        out.print(f"[bold red]{report.problem}[/]")
    if (first := shortest.first) is not None:
        steps = len(shortest.trace.actions[: first.point.step])
        shrunk = f" (the trace shrunk to {steps} of its steps)" if shortest is not report else ""
        out.print(f"[bold]First violating crash state{shrunk}:[/]")
        for line in first.words(trace.grain_size):
            out.print(f"  {line}")
    if saved is not None:
        out.print(f"saved as a trace that replays it: {saved}")
    if report.clean:
        out.print("[green]every crash state recovers to a state the model allows[/]")


@app.command("power-loss")
@clean_errors
def power_loss_cmd(
    trace_file: Annotated[Path, typer.Argument(metavar="TRACE", help="A trace file.")],
    option: Annotated[
        list[str] | None,
        typer.Option(
            "--option",
            "-o",
            metavar=MUTANT_OR_FIELD,
            help="Add a mutant or field=value to the trace's own options.",
        ),
    ] = None,
    backend: BackendOpt = "auto",
    exhaustive_writes: Annotated[
        int, typer.Option(min=0, help="Writes in flight up to which every crash state is tried.")
    ] = Bounds.exhaustive_writes,
    max_states: Annotated[
        int, typer.Option(min=1, help="Crash states per crash point up to which all are tried.")
    ] = Bounds.max_states,
    samples: Annotated[
        int, typer.Option(min=1, help="Crash states drawn at a crash point beyond the bounds.")
    ] = Bounds.samples,
    tear_sectors: Annotated[
        int, typer.Option(min=1, help="Sectors of a write up to which every subset may tear.")
    ] = Bounds.tear_sectors,
    tear_samples: Annotated[
        int, typer.Option(min=0, help="Torn sector subsets drawn for a longer write.")
    ] = Bounds.tear_samples,
    seed: Annotated[int, typer.Option(help="Seed of the drawn crash states.")] = 0,
    save_dir: Annotated[
        Path | None,
        typer.Option(
            help="Where the first violating crash state is saved as a trace [default: "
            "traces/failures of this checkout, else $PITMIRROR_FINDINGS or "
            "~/.local/state/pitmirror/findings]."
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Explore every crash state a power loss can leave at every write of TRACE — unflushed
    writes lost in any combination, reordered, torn at sector boundaries, journal appends
    torn at any byte — each recovered by the engine's recovery code and judged by the model.

    Exit 0 when every crash state recovers to a state the model allows, 1 at a violation (the
    first one in words, saved as a trace that replays it), 2 on bad input.
    """
    trace = read_trace(trace_file)
    if option:
        trace = _with_options(trace, option)
    bounds = Bounds(exhaustive_writes, max_states, samples, tear_sectors, tear_samples, seed)
    run_crash(trace_file, trace, bounds, backend, save_dir or findings_dir(), as_json)


def run_crash(
    path: Path, trace: Trace, bounds: Bounds, backend: str, save_dir: Path | None, as_json: bool
) -> None:
    """Explore, shrink a violation, save it, print the report and exit with its code."""
    try:
        if as_json or not out.is_terminal:
            report = explore(trace, bounds, backend)
        else:
            report = _with_progress(trace, bounds, backend)
    except ValueError as err:
        fail(f"{path}: {err}")
    shortest = report
    if report.first is not None and trace.power_loss is None:
        shortest = shrink(report)
    saved = Saved(None)
    if shortest.first is not None and save_dir is not None and trace.power_loss is None:
        saved = save_violation(shortest, save_dir)
    if saved.error is not None:
        sys.stderr.write(f"pitmirror: {saved.error}\n")
    if as_json:
        print_json(crash_json(report, shortest, saved))
    else:
        print_report(path, report, shortest, saved.path)
        if saved.error is not None:
            out.print("the pinned trace (save these lines to a .jsonl file to replay it):")
            sys.stdout.flush()
            sys.stdout.write(saved.text)  # whole lines: they replay
    raise typer.Exit(0 if report.clean else 1)


def _with_options(trace: Trace, names: list[str]) -> Trace:
    """The trace under its own options and `names` added to them (a mutant of the design the
    trace was recorded under: its stricter order, its map rule)."""
    options = parse_options(names, trace.design, base=trace.resolved_options)
    return dataclasses.replace(trace, options=options, expect="pass", violates=None)


def _with_progress(trace: Trace, bounds: Bounds, backend: str) -> CrashReport:
    columns = (TextColumn("crash states of step"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())  # fmt: skip
    with Progress(*columns, console=out, transient=True) as bar:
        task = bar.add_task("steps", total=len(trace.actions))
        return explore(trace, bounds, backend, lambda done, total: bar.update(task, completed=done))


app.command("crash", hidden=True, help="The former name of `power-loss`.")(power_loss_cmd)
