"""`pitmirror verify`: the main job, as one table (or one line per check on a narrow screen)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from pitmirror.harness import verify as verify_mod
from pitmirror.harness.check import Budget
from pitmirror.harness.cli.app import (
    BackendOpt,
    JsonOpt,
    app,
    clean_errors,
    fail,
    out,
    print_json,
)
from pitmirror.harness.cli.variant import print_report
from pitmirror.harness.designs import UnknownDesign
from pitmirror.harness.traces import findings_dir
from pitmirror.harness.variant import LOCKSTEP_EXAMPLES, check_variant
from pitmirror.model.variants import VariantError

WIDE_TABLE_COLUMNS = 150
"""Below this width the checks are listed one line each: a seven-column table would squeeze
its cells to nothing."""


def progress_lines(label: str, total: int, done: list[int]) -> None:
    """Off a terminal (or with --json): one line per check on stderr, so a long run is seen."""
    done[0] += 1
    sys.stderr.write(f"pitmirror verify [{done[0]}/{total}] {label}\n")
    sys.stderr.flush()


def rows_table(rows: list[verify_mod.Row]) -> Table:
    table = Table(title="pitmirror verify — A: cyclic incremental FlashCopy, B: freeze + overlay")
    table.add_column("", no_wrap=True)
    table.add_column("check", no_wrap=True)
    for col in ("expected", "got", "volumes", "time", "result"):
        table.add_column(col, overflow="fold")
    for r in rows:
        result = _result(r)
        table.add_row(r.design, r.what, r.expected, r.got, r.volumes, f"{r.seconds:.1f} s", result)
    return table


def _result(r: verify_mod.Row) -> str:
    if r.skipped:
        return "[yellow]skipped[/]"
    return "[green]pass[/]" if r.passed else "[bold red]FAIL[/]"


def row_line(r: verify_mod.Row) -> str:
    result = _result(r)
    expected = "" if r.passed else f" (expected {r.expected})"
    where = f"{r.volumes}, " if r.volumes != "-" else ""
    return f"{result} {r.design} {r.what}: {r.got}{expected} [{where}{r.seconds:.1f} s]"


def _verify_variant(
    path: Path, traces: Path, backend: str, save_dir: Path, budget: Budget,
    worlds: int | None, as_json: bool, errors: Console,
) -> None:  # fmt: skip
    def line(text: str) -> None:
        errors.print(f"pitmirror verify --variant: {text}", highlight=False)

    try:
        report = check_variant(str(path), traces, backend, save_dir, line, budget, worlds)
    except (VariantError, UnknownDesign) as error:
        fail(str(error))
    if as_json:
        print_json(report.to_json())
    else:
        print_report(report, backend)
    raise typer.Exit(0 if report.safe else 1)


@app.command("verify")
@clean_errors
def verify_cmd(
    traces: Annotated[Path, typer.Option(help="Folder of trace files to replay.")] = Path("traces"),
    examples: Annotated[
        int | None,
        typer.Option(min=1, help="Examples per property run [default: 200; with --variant, 60]."),
    ] = None,
    steps: Annotated[int, typer.Option(min=1, help="Actions per example.")] = 50,
    backend: BackendOpt = "auto",
    quick: Annotated[
        bool,
        typer.Option(
            "--quick",
            help="A smoke test in about a minute: small property runs of the safe designs, "
            "their proofs and every trace; the mutant searches and refutations are skipped.",
        ),
    ] = False,
    variant: Annotated[
        Path | None,
        typer.Option(
            help="Check a design change written as a Python file (see examples/variants/) "
            "instead: its proof, a trace of any violation, small worlds explored beside the "
            "unchanged design, the curated traces, and the engine where it implements it.",
        ),
    ] = None,
    save_dir: Annotated[
        Path | None,
        typer.Option(
            help="With --variant: where the trace of a violation is written [default: "
            "traces/failures of this checkout, else $PITMIRROR_FINDINGS or "
            "~/.local/state/pitmirror/findings]."
        ),
    ] = None,
    worlds: Annotated[
        int | None,
        typer.Option(min=1, help="With --variant: explore only the first N small worlds."),
    ] = None,
    jobs: Annotated[
        int | None,
        typer.Option(min=1, help="Processes that share the checks [default: one per core]."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """The main job: lockstep property runs (safe design and every mutant) and every trace.

    Exit 0 when the safe design passes, every mutant is caught and every trace replays as its
    header expects; 1 otherwise.  Progress goes to stderr; traces under failures/ (what check
    and prove saved locally) are not replayed.  With --variant: exit 0 when the variant is
    proved and nothing it reaches breaks the spec, 1 when it is not safe.
    """
    errors = Console(stderr=True)
    if variant is not None:
        tried = Budget(examples=examples or LOCKSTEP_EXAMPLES, steps=steps)
        folder = save_dir or findings_dir()
        _verify_variant(variant, traces, backend, folder, tried, worlds, as_json, errors)
    budget = Budget(examples=examples or 200, steps=steps)
    workers = jobs or len(os.sched_getaffinity(0))
    if as_json or not errors.is_terminal:
        done = [0]

        totals = [0]

        def line(label: str, total: int) -> None:
            totals[0] = total
            progress_lines(label, total, done)

        def detail_line(text: str) -> None:
            sys.stderr.write(f"pitmirror verify [{done[0]}/{totals[0]}] {text}\n")
            sys.stderr.flush()

        rows = verify_mod.verify(traces, budget, backend, progress=line, quick=quick,
                                 detail=detail_line, jobs=workers)  # fmt: skip
    else:
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=errors,
            transient=True,
        ) as bar:
            task = bar.add_task("verify", total=None)

            def advance(label: str, total: int) -> None:
                if bar.tasks[0].total is None:
                    bar.update(task, total=total)
                else:
                    bar.advance(task)
                bar.update(task, description=label)

            def detail(text: str) -> None:
                bar.update(task, description=text)

            rows = verify_mod.verify(traces, budget, backend, progress=advance, quick=quick,
                                     detail=detail, jobs=workers)  # fmt: skip
    passed = all(r.passed for r in rows)
    if as_json:
        print_json({"passed": passed, "quick": quick, "rows": [r.__dict__ for r in rows]})
        raise typer.Exit(0 if passed else 1)
    if out.width >= WIDE_TABLE_COLUMNS:
        out.print(rows_table(rows))
    else:
        for r in rows:
            out.print(row_line(r), highlight=False)
    failed = [r for r in rows if not r.passed]
    if failed:
        out.print("[bold red]failed:[/]")
        for r in failed:
            out.print(row_line(r), highlight=False)
    skipped = sum(r.skipped for r in rows)
    ran = len(rows) - skipped
    summary = f"{ran - len(failed)}/{ran} checks passed"
    if skipped:
        summary += f"; {skipped} skipped (--quick): run without it for the full verdict"
    out.print(f"[{'green' if not failed else 'bold red'}]{summary}[/]")
    raise typer.Exit(0 if passed else 1)
