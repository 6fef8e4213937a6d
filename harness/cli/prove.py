"""`pitmirror prove`: the Z3 proofs of both designs, query by query."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from pitmirror.harness.cli.app import (
    DESIGN_NAMES,
    BackendOpt,
    JsonOpt,
    MutantOpt,
    app,
    clean_errors,
    fail,
    lookup_design,
    out,
    parse_options,
    print_json,
)
from pitmirror.harness.designs import DESIGNS, options_label
from pitmirror.harness.prove import prove_design, steps
from pitmirror.harness.replay import MODEL_ONLY, EngineVerdict, on_engine
from pitmirror.harness.traces import dump_trace, findings_dir
from pitmirror.model.variants import VariantError, load


def engine_json(replayed: EngineVerdict | None) -> dict[str, Any] | None:
    if replayed is None:
        return None
    return {"backend": replayed.backend, "violated": replayed.violated,
            "verdict": replayed.verdict()}  # fmt: skip


@app.command("prove")
@clean_errors
def prove_cmd(
    design: Annotated[str, typer.Option(help=f"all, or {DESIGN_NAMES}.")] = "all",
    option: MutantOpt = None,
    save_dir: Annotated[
        Path | None,
        typer.Option(
            help="Where a counterexample trace of a refuted design is written [default: "
            "traces/failures of this checkout, else $PITMIRROR_FINDINGS or "
            "~/.local/state/pitmirror/findings]."
        ),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Only failures and the summary.")
    ] = False,
    backend: BackendOpt = "auto",
    as_json: JsonOpt = False,
) -> None:
    """Z3: Init => Inv, Inv /\\ action => Inv' per action x conjunct, Inv => goal.

    Exit 0 when every design asked for is proved; 1 when one is refuted, with the failing
    queries' counterexamples and a trace of a reachable violation, replayed on the engine
    (on --backend volumes) to show that it breaks there too.  A mutant name, or a variant file
    (`-o variant=FILE`), picks its own design.
    """
    names = option or []

    def variant_design(path: str) -> str:
        try:
            return load(path).design
        except VariantError as error:
            fail(str(error))

    designs = list(DESIGNS) if design == "all" else [lookup_design(design).name]
    if design == "all" and names:
        owners = [n for n, d in DESIGNS.items()
                  if any(m in {**d.model.unsafe_options, **d.model.power_loss_options}
                         for m in names)]  # fmt: skip
        owners += [variant_design(n.partition("=")[2]) for n in names
                   if n.startswith("variant=")]  # fmt: skip
        designs = owners or designs
    folder = save_dir or findings_dir()
    if out.is_terminal and not as_json:
        with out.status("proving") as status:
            outcomes = [prove_design(parse_options(names, d), folder, status.update)
                        for d in designs]  # fmt: skip
    else:
        outcomes = [prove_design(parse_options(names, d), folder) for d in designs]
    engine = [on_engine(o.trace, backend) if o.trace is not None else None for o in outcomes]
    if as_json:
        print_json({
            "proved": all(o.proved for o in outcomes),
            "seconds": round(sum(o.report.seconds for o in outcomes), 3),
            "designs": [o.to_json() | {"engine": engine_json(r)}
                        for o, r in zip(outcomes, engine, strict=True)],
        })  # fmt: skip
        raise typer.Exit(0 if all(o.proved for o in outcomes) else 1)
    for outcome, replayed in zip(outcomes, engine, strict=True):
        report = outcome.report
        for query in report.failures if quiet else report.queries:
            style = "green" if query.ok else "bold red"
            out.print(f"[{style}]{query.line()}[/]", highlight=False)
            for line in query.counterexample:
                out.print(f"    {line}", highlight=False, markup=False)
        short = DESIGNS[report.design].short
        summary = (
            f"design {short}, {options_label(report.options)}: {len(report.queries)} queries "
            f"({len(report.failures)} failed) in {report.seconds:.2f} s"
        )
        if outcome.proved:
            out.print(f"[green]proved[/]: {summary}")
            continue
        out.print(f"[bold red]not proved[/]: {summary}")
        reached = outcome.reached
        if reached is not None and outcome.trace is not None:
            where = f" on the {reached.topology} topology" if reached.topology else ""
            out.print(
                f"{reached.method}: a violation {steps(reached.depth)} from Init{where}, "
                f"{len(outcome.trace.actions)} actions after shrinking: {outcome.saved_to}"
            )
        elif reached is not None:
            out.print(f"{reached.method}: no violation within its bounds")
        if replayed is not None and replayed.backend == MODEL_ONLY:
            out.print("on the model alone (the engine does not implement the variant's rules): "
                      f"{replayed.verdict()}")  # fmt: skip
        elif replayed is not None:
            out.print(f"on the engine ({replayed.backend} volumes): {replayed.verdict()}")
        if outcome.saved_to is not None:
            out.print(f"reproduce it: pitmirror replay {outcome.saved_to}")
        elif outcome.save_error is not None and outcome.trace is not None:
            sys.stderr.write(f"pitmirror: {outcome.save_error}\n")
            out.print("the trace (save these lines to a .jsonl file to replay it):")
            sys.stdout.flush()
            sys.stdout.write(dump_trace(outcome.trace))  # whole lines: they replay
    raise typer.Exit(0 if all(o.proved for o in outcomes) else 1)
