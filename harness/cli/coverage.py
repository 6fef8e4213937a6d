"""`pitmirror coverage`: how much of the engine the property runs execute (coverage.py)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.table import Table

from pitmirror.harness.cli.app import BackendOpt, JsonOpt, app, clean_errors, fail, out, print_json
from pitmirror.harness.coverage import (
    COVERAGE_BUDGET,
    LEFT_OUT,
    LINE_THRESHOLD,
    STUBS,
    CoverageFailed,
    CoverageResult,
    describe_budget,
    measure,
)


@app.command("coverage")
@clean_errors
def coverage_cmd(
    examples: Annotated[
        int, typer.Option(min=1, help="Examples per property run.")
    ] = COVERAGE_BUDGET[0],
    steps: Annotated[int, typer.Option(min=1, help="Actions per example.")] = COVERAGE_BUDGET[1],
    backend: BackendOpt = "auto",
    as_json: JsonOpt = False,
) -> None:
    """Run every property run, runner run and mutant search of `verify` under coverage.py and
    report the lines of impl/ they execute: at least 95 % of the lines that count, and every
    line and branch of the runners.  Lines left out are listed with the reason.  Exit 1 below
    the threshold."""
    budget = describe_budget(examples, steps)
    try:
        if out.is_terminal and not as_json:
            with out.status(f"measuring ({budget})") as status:

                def show_run(done: int, total: int, label: str) -> None:
                    status.update(f"measuring ({budget}): run {done + 1} of {total}, {label}")

                result = measure(examples, steps, backend, progress=show_run)
        else:
            result = measure(examples, steps, backend, progress=_progress_line)
    except CoverageFailed as err:
        fail(str(err))
    if as_json:
        print_json(result.to_json())
        raise typer.Exit(0 if result.passed else 1)
    show(result)
    raise typer.Exit(0 if result.passed else 1)


def _progress_line(done: int, total: int, label: str) -> None:
    sys.stderr.write(f"pitmirror coverage: [{done + 1}/{total}] {label}\n")


def show(result: CoverageResult) -> None:
    verdict = "pass" if result.passed else f"FAIL (threshold {LINE_THRESHOLD:.0f} %)"
    out.print(f"coverage of impl/ by the property runs: {result.summary()} — {verdict}")
    table = Table("left out", "lines", "why", show_lines=True)
    for item in LEFT_OUT:
        table.add_row(item.pattern, str(result.left_out.get(item.reason, 0)), item.reason)
    table.add_row("`...`", str(result.left_out.get(STUBS, 0)), STUBS)
    out.print(table)
    gaps = result.gaps()
    out.print("not executed by the runs:" if gaps else "every counted line was executed")
    for gap in gaps:
        out.print(f"  {gap}", highlight=False)
