"""`pitmirror check`: a property run with a chosen budget, backend and options."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from pitmirror.harness.check import Budget, CheckResult, CheckSetupError, run_check
from pitmirror.harness.cli.app import (
    DEFAULT_DESIGN,
    DESIGN_NAMES,
    BackendOpt,
    DesignName,
    JsonOpt,
    MutantOpt,
    TopologyOpt,
    app,
    clean_errors,
    design_for,
    fail,
    make_subject,
    out,
    parse_options,
    print_json,
)
from pitmirror.harness.traces import dump_trace, findings_dir
from pitmirror.harness.transport_mutants import TRANSPORTS


def check_json(result: CheckResult) -> dict[str, Any]:
    return {
        "design": result.subject.design_name,
        "topology": result.subject.topology,
        "options": result.options.to_json(),
        "backend": result.backend,
        "examples": result.budget.examples,
        "steps": result.budget.steps,
        "runner": result.runner,
        "seed": result.budget.seed,
        "examples_run": result.examples_run,
        "steps_run": result.steps_run,
        "steps_per_second": round(result.steps_per_second, 1),
        "seconds": round(result.seconds, 3),
        "passed": result.passed,
        "failure": result.failure_detail,
        "trace": str(result.saved_to) if result.saved_to else None,
        "save_error": result.save_error,
        "trace_lines": dump_trace(result.failure).splitlines() if result.failure else None,
        "trace_actions": len(result.failure.actions) if result.failure else None,
    }


@app.command("check")
@clean_errors
def check_cmd(
    option: MutantOpt = None,
    examples: Annotated[
        int,
        typer.Option(
            min=1,
            help="Examples Hypothesis counts; it discards some (a swarm of rules that cannot "
            "move, say) and runs others in their place, so more may run.",
        ),
    ] = 100,
    steps: Annotated[int, typer.Option(min=1, help="Actions per example.")] = 40,
    seed: Annotated[
        int,
        typer.Option(
            help="Seed of the run: the same seed, command and installation give the same run."
        ),
    ] = 0,
    random_run: Annotated[
        bool, typer.Option("--random", help="A random run instead (ignores --seed).")
    ] = False,
    backend: BackendOpt = "auto",
    hypothesis_backend: Annotated[
        str, typer.Option(help="Hypothesis backend: hypothesis, or crosshair (plugin needed).")
    ] = "hypothesis",
    save_dir: Annotated[
        Path | None,
        typer.Option(
            help="Where a failing minimal trace is written [default: traces/failures of this "
            "checkout, else $PITMIRROR_FINDINGS or ~/.local/state/pitmirror/findings]."
        ),
    ] = None,
    design: Annotated[
        DesignName | None,
        typer.Option(
            help=f"{DESIGN_NAMES}; without it, the design of the mutant named by -o, "
            f"else {DEFAULT_DESIGN}."
        ),  # fmt: skip
    ] = None,
    topology: TopologyOpt = None,
    grains: Annotated[
        int | None,
        typer.Option(min=1, help="Grains of the volume, or of each object (topologies)."),
    ] = None,
    runner: Annotated[
        bool,
        typer.Option(
            "--runner",
            help="Drive the design's real-time runner (host writes and reads, ticks, clock "
            "steps, faults) instead of one action at a time.",
        ),
    ] = False,
    full_every: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Read every grain back every this many steps (default 64; 1: after every "
            "step); in between only the grains written since are read.",
        ),
    ] = None,
    transport: Annotated[
        str | None,
        typer.Option(
            help="tcp: the remote site in a child process (the product's daemon) over TCP, "
            "through a fault proxy; tcp:NAME: with a transport mutant's listener "
            f"({', '.join(name.partition(':')[2] for name in TRANSPORTS[1:])}).",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Property run: Hypothesis drives model and engine in lockstep on real volumes.

    Exit 0 when nothing failed within the budget, 1 with a minimal trace saved otherwise.
    """
    design = design_for(design, option or [])
    options = parse_options(option or [], design)
    subject = make_subject(options, topology, grains, transport)
    budget = Budget(examples=examples, steps=steps, seed=None if random_run else seed)
    try:
        if out.is_terminal and not as_json:
            with out.status(f"{subject.title()}: starting") as status:

                def show(begun: int, budget_examples: int, shrinking: bool) -> None:
                    extra = begun - budget_examples
                    what = f"example {begun} of {budget_examples}"
                    if shrinking:
                        what = f"a failure found; shrinking it (example {begun})"
                    elif extra > 0:
                        what = f"example {begun} ({extra} in place of discarded ones)"
                    status.update(f"{subject.title()}: {what}")

                result = run_check(subject, backend, budget, save_dir=save_dir or findings_dir(),
                                   hypothesis_backend=hypothesis_backend, runner=runner,
                                   full_every=full_every, progress=show)  # fmt: skip
        else:
            result = run_check(subject, backend, budget, save_dir=save_dir or findings_dir(),
                               hypothesis_backend=hypothesis_backend, runner=runner,
                               full_every=full_every)  # fmt: skip
    except CheckSetupError as e:
        fail(str(e))
    if as_json:
        print_json(check_json(result))
    else:
        extra = result.examples_run - examples
        replaced = f" ({extra} in place of discarded ones)" if extra > 0 else ""
        driven, unit = (", through the runner", "operations") if runner else ("", "actions")
        out.print(
            f"{subject.title()}{driven}: {result.examples_run} examples{replaced} of up to {steps} "
            f"{unit} on {result.backend} volumes in {result.seconds:.1f} s "
            f"({result.steps_run} actions, {result.steps_per_second:.0f} per second)"
        )
        if result.passed:
            out.print("[green]no violation and no divergence found[/]")
        else:
            out.print(f"[bold red]{result.failure_detail}[/]")
            if result.saved_to is not None:
                out.print(f"minimal trace: {result.saved_to} (pitmirror replay {result.saved_to})")
            elif result.failure is not None:
                out.print("minimal trace (save these lines to a .jsonl file to replay it):")
                sys.stdout.flush()
                sys.stdout.write(dump_trace(result.failure))  # whole lines: they replay
    if result.save_error:
        sys.stderr.write(f"pitmirror: {result.save_error}\n")
    raise typer.Exit(0 if result.passed else 1)
