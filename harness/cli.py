"""The `pitmirror` command: verify, replay, check, demo.

Every command prints a table for people and, with `--json`, one JSON document for machines.
Bad input (a corrupt trace, a missing device, no root for loop devices, a full disk) ends with
one line on stderr and exit code 2; a found violation or divergence ends with exit code 1.
"""

from __future__ import annotations

import errno
import json
import sys
import time
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, NoReturn, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.live import Live
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from pitmirror.harness import verify as verify_mod
from pitmirror.harness.check import Budget, CheckResult, CheckSetupError, run_check
from pitmirror.harness.cyclic_flashcopy.demo import run_demo
from pitmirror.harness.designs import MODELS, Subject
from pitmirror.harness.freeze_overlay.demo import run_overlay_demo
from pitmirror.harness.prove import prove_design
from pitmirror.harness.replay import ReplayResult, replay
from pitmirror.harness.traces import read_trace
from pitmirror.impl.cyclic_flashcopy.runner import RunnerStatus
from pitmirror.impl.freeze_overlay.runner import GroupStatus
from pitmirror.impl.volumes import VolumeError, loop_available
from pitmirror.model import cyclic_flashcopy as design_a
from pitmirror.model import freeze_overlay as design_b
from pitmirror.model.actions import TraceFormatError, describe

app = typer.Typer(
    add_completion=False,
    pretty_exceptions_show_locals=False,
    no_args_is_help=True,
    help="Cycle-based block-volume mirroring with a checked point-in-time promise.",
)
out = Console()
if not out.is_terminal:
    out = Console(width=200)  # logs and pipes: keep table rows on one line
P = ParamSpec("P")
R = TypeVar("R")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document instead.")]
DesignOpt = Annotated[
    str, typer.Option(help="cyclic-flashcopy (design A) or freeze-overlay (design B).")
]
TopologyOpt = Annotated[
    str | None,
    typer.Option(help="Design B: single, group, fan-out, fan-in, bidirectional or file."),
]
BackendOpt = Annotated[
    str, typer.Option(help="Volumes: auto (loop device when root, else file), loop, file, memory.")
]


def fail(message: str, code: int = 2) -> NoReturn:
    sys.stderr.write(f"pitmirror: {' '.join(message.split())}\n")
    raise typer.Exit(code)


def note_fallback(backend: object) -> None:
    """`--backend auto` off root runs on sparse files: say so once, on stderr."""
    if backend != "auto":
        return
    ok, reason = loop_available()
    if not ok:
        sys.stderr.write(f"pitmirror: {reason}: volumes are sparse files instead\n")


def clean_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn expected bad-input errors into one line and exit code 2, never a traceback."""

    @wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        note_fallback(kwargs.get("backend"))
        try:
            return fn(*args, **kwargs)
        except (TraceFormatError, VolumeError) as e:
            fail(str(e))
        except OSError as e:
            if e.errno == errno.ENOSPC:
                fail(f"no space left on device: {e.filename or ''}".strip())
            fail(f"{e.strerror or e} {e.filename or ''}".strip())

    return wrapper


def parse_options(names: list[str], design: str = design_a.DESIGN) -> Any:
    """`--option no-copy-on-write` (a named mutant) or `--option map_rule=update`."""
    if design not in MODELS:
        fail(f"unknown design {design!r} (known: {', '.join(MODELS)})")
    model = MODELS[design]
    options: dict[str, Any] = {}
    for name in names:
        if name in model.UNSAFE_OPTIONS:
            options.update(model.UNSAFE_OPTIONS[name].non_default())
            continue
        key, sep, value = name.partition("=")
        if not sep:
            known = ", ".join(model.UNSAFE_OPTIONS)
            fail(f"unknown option {name!r}: use a mutant name ({known}) or field=value")
        parsed: Any = {"true": True, "false": False}.get(value.lower(), value)
        options[key] = parsed
    try:
        return model.Options.from_json(options)
    except (TypeError, ValueError) as e:
        fail(str(e))


def make_subject(design: str, options: Any, topology: str | None, grains: int) -> Subject:
    """Design B needs a topology: the one a mutant shows itself on, else `single`."""
    if design == design_a.DESIGN:
        if topology is not None:
            fail("--topology is for --design freeze-overlay")
        return Subject(design, options, None, grains)
    if topology is None:
        label = Subject(design, options, "single").label()
        topology = design_b.MUTANT_TOPOLOGY.get(label, "single")
    if topology not in design_b.TOPOLOGIES:
        fail(f"unknown topology {topology!r} (known: {', '.join(design_b.TOPOLOGIES)})")
    return Subject(design, options, topology, grains)


def print_json(doc: object) -> None:
    sys.stdout.write(json.dumps(doc, indent=2, default=str) + "\n")


# ---- replay -----------------------------------------------------------------------------------


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
    model (an action its guard does not allow).
    """
    result = replay(read_trace(trace), backend)
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
        out.print(f"volumes: {result.backend} ({', '.join(result.devices)})")
        style = "green" if result.clean else "bold red"
        out.print(f"[{style}]{result.verdict()}[/]")
        if result.trace.expect == "violation":
            met = "as the trace expects" if result.as_expected else "NOT as the trace expects"
            out.print(f"expected a violation of {result.trace.violates}: {met}")
    if result.last.status == "invalid":
        # the action list is not a run of the model: bad input, like a corrupt trace
        raise typer.Exit(2)
    raise typer.Exit(0 if result.clean else 1)


# ---- check ------------------------------------------------------------------------------------


def check_json(result: CheckResult) -> dict[str, Any]:
    return {
        "design": result.subject.design,
        "topology": result.subject.topology,
        "options": result.options.to_json(),
        "backend": result.backend,
        "examples": result.budget.examples,
        "steps": result.budget.steps,
        "seed": result.budget.seed,
        "examples_run": result.examples_run,
        "seconds": round(result.seconds, 3),
        "passed": result.passed,
        "failure": result.failure_detail,
        "trace": str(result.saved_to) if result.saved_to else None,
        "trace_actions": len(result.failure.actions) if result.failure else None,
    }


@app.command("check")
@clean_errors
def check_cmd(
    option: Annotated[
        list[str] | None,
        typer.Option("--option", "-o", help="A mutant name or field=value; repeatable."),
    ] = None,
    examples: Annotated[int, typer.Option(min=1, help="Hypothesis examples.")] = 100,
    steps: Annotated[int, typer.Option(min=1, help="Actions per example.")] = 40,
    seed: Annotated[
        int | None, typer.Option(help="Derandomized run; omit --seed for a random run.")
    ] = 0,
    random_run: Annotated[bool, typer.Option("--random", help="Random, not derandomized.")] = False,
    backend: BackendOpt = "auto",
    hypothesis_backend: Annotated[
        str, typer.Option(help="Hypothesis backend: hypothesis, or crosshair (plugin needed).")
    ] = "hypothesis",
    save_dir: Annotated[
        Path, typer.Option(help="Where a failing minimal trace is written.")
    ] = Path("traces/failures"),
    design: DesignOpt = design_a.DESIGN,
    topology: TopologyOpt = None,
    grains: Annotated[
        int | None, typer.Option(min=1, help="Grains: the volume (A), each object (B).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Property run: Hypothesis drives model and engine in lockstep on real volumes.

    Exit 0 when nothing failed within the budget, 1 with a minimal trace saved otherwise.
    """
    options = parse_options(option or [], design)
    default_grains = 4 if design == design_a.DESIGN else 2
    subject = make_subject(design, options, topology, grains or default_grains)
    budget = Budget(examples=examples, steps=steps, seed=None if random_run else seed)
    try:
        result = run_check(
            subject, backend, budget, save_dir=save_dir, hypothesis_backend=hypothesis_backend
        )
    except CheckSetupError as e:
        fail(str(e))
    if as_json:
        print_json(check_json(result))
    else:
        out.print(
            f"{subject.title()}: {result.examples_run} examples of up to {steps} "
            f"actions on {result.backend} volumes in {result.seconds:.1f} s"
        )
        if result.passed:
            out.print("[green]no violation and no divergence found[/]")
        else:
            out.print(f"[bold red]{result.failure_detail}[/]")
            out.print(f"minimal trace: {result.saved_to} (pitmirror replay {result.saved_to})")
    raise typer.Exit(0 if result.passed else 1)


# ---- prove ------------------------------------------------------------------------------------


@app.command("prove")
@clean_errors
def prove_cmd(
    design: Annotated[
        str, typer.Option(help="all, cyclic-flashcopy (A) or freeze-overlay (B).")
    ] = "all",
    option: Annotated[
        list[str] | None,
        typer.Option("--option", "-o", help="A mutant name or field=value; repeatable."),
    ] = None,
    save_dir: Annotated[
        Path, typer.Option(help="Where a counterexample trace of a refuted design is written.")
    ] = Path("traces/failures"),
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Only failures and the summary.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Z3: Init => Inv, Inv /\\ action => Inv' per action x conjunct, Inv => goal.

    Exit 0 when every design asked for is proved; 1 when one is refuted, with the failing
    queries' counterexamples and a trace of a reachable violation that `pitmirror replay`
    reproduces on the engine.  A mutant name picks its own design.
    """
    names = option or []
    designs = list(MODELS) if design == "all" else [design]
    if design == "all" and names:
        owners = {d for d in MODELS for n in names if n in MODELS[d].UNSAFE_OPTIONS}
        designs = sorted(owners) if owners else designs
    outcomes = [prove_design(parse_options(names, d), save_dir) for d in designs]
    if as_json:
        print_json({
            "proved": all(o.proved for o in outcomes),
            "seconds": round(sum(o.report.seconds for o in outcomes), 3),
            "designs": [o.to_json() for o in outcomes],
        })  # fmt: skip
        raise typer.Exit(0 if all(o.proved for o in outcomes) else 1)
    for outcome in outcomes:
        report = outcome.report
        for query in report.failures if quiet else report.queries:
            style = "green" if query.ok else "bold red"
            out.print(f"[{style}]{query.line()}[/]", highlight=False)
            for line in query.counterexample:
                out.print(f"    {line}", highlight=False)
        changed = report.options.non_default() or "safe defaults"
        short = "A" if report.design == design_a.DESIGN else "B"
        summary = (
            f"design {short}, options {changed}: {len(report.queries)} queries "
            f"({len(report.failures)} failed) in {report.seconds:.2f} s"
        )
        if outcome.proved:
            out.print(f"[green]proved[/]: {summary}")
            continue
        out.print(f"[bold red]not proved[/]: {summary}")
        if outcome.bmc is not None and outcome.trace is not None:
            how = "bounded model checking" if short == "A" else "breadth-first search of the model"
            out.print(
                f"{how}: a violation {outcome.bmc.depth} steps from Init, "
                f"{len(outcome.trace.actions)} actions after shrinking: {outcome.saved_to}"
            )
            out.print(f"reproduce on the engine: pitmirror replay {outcome.saved_to}")
    raise typer.Exit(0 if all(o.proved for o in outcomes) else 1)


# ---- demo -------------------------------------------------------------------------------------


def status_table(status: RunnerStatus, writes: int, now: float) -> Table:
    table = Table(title="pitmirror demo — design A (cyclic incremental FlashCopy)")
    for col in (
        "cycle",
        "committed",
        "age of committed point",
        "grains behind",
        "MiB behind",
        "commits",
        "host writes",
        "phase",
    ):
        table.add_column(col, justify="right")
    table.add_row(
        str(status.cycle),
        str(status.committed),
        f"{now - status.committed_at:.2f} s",
        str(status.grains_behind),
        f"{status.bytes_behind / 2**20:.1f}",
        str(status.commits),
        str(writes),
        status.phase,
    )
    return table


@app.command("demo")
@clean_errors
def demo_cmd(
    seconds: Annotated[float, typer.Option(min=0.1, help="How long the workload runs.")] = 5.0,
    grains: Annotated[int, typer.Option(min=1, max=1 << 20)] = 1024,
    grain_size: Annotated[int, typer.Option(min=512)] = 65536,
    seed: Annotated[int, typer.Option(help="Seed of the random workload.")] = 1,
    backend: BackendOpt = "auto",
    design: DesignOpt = design_a.DESIGN,
    topology: TopologyOpt = None,
    interval: Annotated[
        float, typer.Option(min=0.0, help="Design B: seconds between freezes (at least the copy).")
    ] = 0.0,
    as_json: JsonOpt = False,
) -> None:
    """Mirror under a random write workload with a live view; check the target by digest.

    At the end every target's recoverable image is read from the volumes and compared by
    digest with the committed point's image.  Exit 1 if any differs.  With --design
    freeze-overlay, --grains is per object and --topology picks groups and remotes.
    """
    if grain_size % 512:
        fail("--grain-size must be a multiple of 512")
    if design == design_b.DESIGN:
        overlay_demo(seconds, grains, grain_size, seed, backend, topology or "group", interval,
                     as_json)  # fmt: skip
    elif design != design_a.DESIGN:
        fail(f"unknown design {design!r} (known: {', '.join(MODELS)})")
    clock = time.monotonic
    latest: list[tuple[RunnerStatus, int, float]] = []

    def remember(status: RunnerStatus, writes: int) -> None:
        latest[:] = [(status, writes, clock())]

    if as_json or not out.is_terminal:
        result = run_demo(backend, grains, grain_size, seconds, seed, clock, on_status=remember)
        if not as_json:
            out.print(status_table(*latest[0]))
    else:
        with Live(console=out, refresh_per_second=8) as live:
            shown = [0.0]

            def show(status: RunnerStatus, writes: int) -> None:
                remember(status, writes)
                if latest[0][2] - shown[0] >= 0.1:
                    shown[0] = latest[0][2]
                    live.update(status_table(*latest[0]))

            result = run_demo(backend, grains, grain_size, seconds, seed, clock, on_status=show)
            live.update(status_table(*latest[0]))
    doc = {
        "backend": result.backend,
        "devices": result.devices,
        "grains": result.grains,
        "grain_size": result.grain_size,
        "seconds": round(result.seconds, 3),
        "host_writes": result.host_writes,
        "commits": result.commits,
        "committed": result.committed,
        "target_digest": result.target_digest,
        "expected_digest": result.expected_digest,
        "source_matches_host": result.source_matches_host,
        "consistent": result.consistent,
    }
    if as_json:
        print_json(doc)
    else:
        out.print(
            f"volumes: {result.backend} ({', '.join(result.devices)}), "
            f"{grains} grains of {grain_size} bytes"
        )
        out.print(
            f"{result.host_writes} host writes, {result.commits} commits in "
            f"{result.seconds:.1f} s; committed point P_{result.committed}"
        )
        out.print(f"target image digest   {result.target_digest}")
        out.print(f"P_{result.committed} image digest     {result.expected_digest}")
        verdict = "[green]equal: the target holds the committed point-in-time image[/]"
        out.print(verdict if result.consistent else "[bold red]DIFFERENT[/]")
    raise typer.Exit(0 if result.consistent else 1)


def overlay_table(statuses: list[GroupStatus], writes: int, now: float, topo: Any) -> Table:
    table = Table(title=f"pitmirror demo — design B (freeze + overlay), {writes} host writes")
    for col in ("group", "members", "point", "remote", "committed", "age", "grains behind",
                "phase"):  # fmt: skip
        table.add_column(col, justify="right")
    for st in statuses:
        members = ",".join(topo.objects[i].name for i in topo.group_objects(st.group))
        for remote, committed in st.committed.items():
            age = f"{now - st.committed_at[remote]:.2f} s"
            table.add_row(str(st.group), members, str(st.point), remote, f"P_{committed}", age,
                          str(st.grains_behind), st.phase)  # fmt: skip
    return table


def overlay_demo(
    seconds: float,
    grains: int,
    grain_size: int,
    seed: int,
    backend: str,
    topology: str,
    interval: float,
    as_json: bool,
) -> None:
    if topology not in design_b.TOPOLOGIES:
        fail(f"unknown topology {topology!r} (known: {', '.join(design_b.TOPOLOGIES)})")
    clock = time.monotonic
    topo = design_b.topology(topology, grains)
    latest: list[tuple[list[GroupStatus], int, float]] = []

    def remember(statuses: list[GroupStatus], writes: int) -> None:
        latest[:] = [(statuses, writes, clock())]

    args = (backend, topology, grains, grain_size, seconds, seed, clock, interval)
    if as_json or not out.is_terminal:
        result = run_overlay_demo(*args, on_status=remember)
        if not as_json:
            out.print(overlay_table(*latest[0], topo))
    else:
        with Live(console=out, refresh_per_second=8) as live:
            shown = [0.0]

            def show(statuses: list[GroupStatus], writes: int) -> None:
                remember(statuses, writes)
                if latest[0][2] - shown[0] >= 0.1:
                    shown[0] = latest[0][2]
                    live.update(overlay_table(*latest[0], topo))

            result = run_overlay_demo(*args, on_status=show)
            live.update(overlay_table(*latest[0], topo))
    if as_json:
        print_json({
            "design": design_b.DESIGN,
            "topology": topology,
            "backend": result.backend,
            "devices": result.devices,
            "seconds": round(result.seconds, 3),
            "host_writes": result.host_writes,
            "points": result.points,
            "checks": [c.__dict__ | {"equal": c.equal} for c in result.checks],
            "consistent": result.consistent,
        })  # fmt: skip
    else:
        out.print(f"volumes: {result.backend}, {len(result.devices)} volumes; topology {topology}")
        for c in result.checks:
            verdict = "[green]equal[/]" if c.equal else "[bold red]DIFFERENT[/]"
            out.print(f"{c.remote} recovers {c.member} at P_{c.point}: target "
                      f"{c.target_digest}, P_{c.point} {c.expected_digest} {verdict}")  # fmt: skip
    raise typer.Exit(0 if result.consistent else 1)


# ---- verify -----------------------------------------------------------------------------------


@app.command("verify")
@clean_errors
def verify_cmd(
    traces: Annotated[Path, typer.Option(help="Folder of trace files to replay.")] = Path("traces"),
    examples: Annotated[int, typer.Option(min=1, help="Examples per property run.")] = 200,
    steps: Annotated[int, typer.Option(min=1, help="Actions per example.")] = 50,
    backend: BackendOpt = "auto",
    as_json: JsonOpt = False,
) -> None:
    """The main job: lockstep property runs (safe design and every mutant) and every trace.

    Exit 0 when the safe design passes, every mutant is caught and every trace replays as its
    header expects; 1 otherwise.
    """
    budget = Budget(examples=examples, steps=steps)
    if as_json:
        rows = verify_mod.verify(traces, budget, backend)
        print_json({"passed": all(r.passed for r in rows), "rows": [r.__dict__ for r in rows]})
        raise typer.Exit(0 if all(r.passed for r in rows) else 1)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=out,
        transient=True,
    ) as bar:
        task = bar.add_task("verify", total=None)

        def advance(label: str, total: int) -> None:
            if bar.tasks[0].total is None:
                bar.update(task, total=total)
            else:
                bar.advance(task)
            bar.update(task, description=label)

        rows = verify_mod.verify(traces, budget, backend, progress=advance)
    table = Table(title="pitmirror verify — A: cyclic incremental FlashCopy, B: freeze + overlay")
    table.add_column("", no_wrap=True)
    table.add_column("check", no_wrap=True)
    for col in ("expected", "got", "volumes", "time", "result"):
        table.add_column(col, overflow="fold")
    for r in rows:
        result = "[green]pass[/]" if r.passed else "[bold red]FAIL[/]"
        table.add_row(r.design, r.what, r.expected, r.got, r.volumes, f"{r.seconds:.1f} s", result)
    out.print(table)
    failed = [r for r in rows if not r.passed]
    summary = f"{len(rows) - len(failed)}/{len(rows)} checks passed"
    out.print(f"[{'green' if not failed else 'bold red'}]{summary}[/]")
    raise typer.Exit(0 if all(r.passed for r in rows) else 1)


def main() -> None:
    app()
