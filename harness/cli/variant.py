"""`pitmirror verify --variant FILE`, printed: what a reviewer of a design change reads."""

from __future__ import annotations

import sys

from rich.table import Table

from pitmirror.harness.cli.app import out
from pitmirror.harness.prove import steps
from pitmirror.harness.replay import on_engine
from pitmirror.harness.traces import dump_trace
from pitmirror.harness.variant import Side, VariantReport, on_model
from pitmirror.model.actions import describe


def _proof(side: Side) -> str:
    report = side.proof.report
    if side.proof.proved:
        return f"proved, {len(report.queries)} queries in {report.seconds:.2f} s"
    return f"refuted: {len(report.failures)} of {len(report.queries)} queries fail"


def comparison(report: VariantReport) -> Table:
    table = Table(title=f"the variant beside the unchanged design {report.design.short}")
    table.add_column("", no_wrap=True)
    table.add_column("unchanged")
    table.add_column("variant")
    table.add_row("Z3 proof", _proof(report.unchanged), _proof(report.changed))
    for before, after in zip(report.unchanged.worlds, report.changed.worlds, strict=True):
        table.add_row(f"world: {before.label}", before.summary(), after.summary())
    return table


def print_report(report: VariantReport, backend: str) -> None:
    variant, changed = report.variant, report.changed
    what = [f"rules of {', '.join(sorted(variant.rules))}"] if variant.rules else []
    what += [f"options {dict(variant.options)}"] if variant.options else []
    out.print(f"[bold]variant {variant.name}[/] of design {report.design.short} "
              f"({report.design.title}): {'; '.join(what)}", highlight=False)  # fmt: skip
    if variant.why:
        out.print(f"  {variant.why}", highlight=False, markup=False)
    proof = changed.proof
    style = "green" if proof.proved else "bold red"
    out.print(f"[{style}]Z3 proof of the variant: {_proof(changed)}[/]")
    for query in proof.report.failures:
        out.print(f"  [bold red]{query.line()}[/]", highlight=False)
        for line in query.counterexample:
            out.print(f"      {line}", highlight=False, markup=False)
    if report.newly_broken:
        broken = "; ".join(f"{action} / {clause}" for action, clause in report.newly_broken)
        out.print(f"  the unchanged design keeps what the variant breaks: {broken}",
                  highlight=False)  # fmt: skip
    reached = proof.reached
    if reached is not None and proof.trace is not None:
        where = f" on the {reached.topology} topology" if reached.topology else ""
        out.print(f"{reached.method}: a violation {steps(reached.depth)} from Init{where}, "
                  f"{len(proof.trace.actions)} actions after shrinking"
                  + (f": {proof.saved_to}" if proof.saved_to else ""), highlight=False)  # fmt: skip
        out.print(f"  the actions: {', '.join(describe(a) for a in proof.trace.actions)}",
                  highlight=False)  # fmt: skip
        out.print(f"  on the variant's model: {on_model(proof.trace, changed.options)}")
        if report.lockstep is not None:  # the engine implements the variant
            out.print(f"  on the engine ({backend}): {on_engine(proof.trace, backend).verdict()}")
        if proof.saved_to is not None:
            out.print(f"  reproduce it: pitmirror replay {proof.saved_to}", highlight=False)
        elif proof.save_error is not None:
            sys.stderr.write(f"pitmirror: {proof.save_error}\n")
            out.print("  the trace (save these lines to a .jsonl file to replay it):")
            sys.stdout.flush()
            sys.stdout.write(dump_trace(proof.trace))  # whole lines: they replay
    elif reached is not None:
        out.print(f"{reached.method}: no violation within its bounds")
    out.print(comparison(report))
    differ = [t for t in report.traces if not t.same]
    out.print(f"the traces of design {report.design.short} on the variant's model: "
              f"{len(report.traces) - len(differ)} of {len(report.traces)} end as their headers "
              f"expect ({report.other_traces} more, of mutants, pinned crash states or other "
              "options, are neither design's)")  # fmt: skip
    for t in differ:
        out.print(f"  {t.path.stem}: {t.got} (expected {t.expected})", highlight=False)
    if report.lockstep is None:
        out.print(f"engine lockstep: {report.lockstep_note}")
    for label, passed, got in report.lockstep or []:
        style = "green" if passed else "bold red"
        out.print(f"[{style}]engine lockstep, {label}: {got}[/]", highlight=False)
    if report.safe:
        out.print("[green]the variant is proved and nothing it reaches breaks the spec[/]")
    else:
        out.print("[bold red]the variant is not safe: see the refutation and the trace above[/]")
