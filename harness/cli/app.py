"""The Typer app and what every command shares: options, one-line errors, JSON output.

Every command prints a table for people and, with `--json`, one JSON document for machines.
Bad input (a corrupt trace or journal, a missing device, no root for loop devices, a full
disk) ends with one line on stderr and exit code 2; a found violation or divergence ends with
exit code 1.
"""

from __future__ import annotations

import errno
import json
import signal
import sys
from collections.abc import Callable
from functools import wraps
from typing import Annotated, NoReturn, ParamSpec, TypeVar

import typer
from rich.console import Console

from pitmirror.harness.design import Design
from pitmirror.harness.designs import DESIGNS, Subject, UnknownDesign, design_named
from pitmirror.impl.journal import JournalError
from pitmirror.impl.volumes import VolumeError, loop_available
from pitmirror.model.actions import TraceFormatError
from pitmirror.model.options import DesignOptions

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
DESIGN_NAMES = " or ".join(f"{name} (design {d.short})" for name, d in DESIGNS.items())
DEFAULT_DESIGN = next(iter(DESIGNS))
DesignOpt = Annotated[str, typer.Option(help=f"{DESIGN_NAMES}.")]
TopologyOpt = Annotated[
    str | None,
    typer.Option(
        help="Where the design has topologies: "
        + "; ".join(
            f"{d.short}: {', '.join(d.model.topologies)}"
            for d in DESIGNS.values()
            if d.model.topologies
        )  # fmt: skip
        + "."
    ),
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
        except (TraceFormatError, VolumeError, JournalError) as e:
            fail(str(e))
        except OSError as e:
            if e.errno == errno.ENOSPC:
                fail(f"no space left on device: {e.filename or ''}".strip())
            fail(f"{e.strerror or e} {e.filename or ''}".strip())

    return wrapper


def lookup_design(name: str) -> Design:
    try:
        return design_named(name)
    except UnknownDesign as e:
        fail(str(e))


def parse_options(names: list[str], design: str = DEFAULT_DESIGN) -> DesignOptions:
    """`--option no-copy-on-write` (a named mutant) or `--option map_rule=update`."""
    model = lookup_design(design).model
    mutants = {**model.unsafe_options, **model.power_loss_options}
    options: dict[str, object] = {}
    for name in names:
        if name in mutants:
            options.update(mutants[name].non_default())
            continue
        key, sep, value = name.partition("=")
        if not sep:
            known = ", ".join(mutants)
            fail(f"unknown option {name!r}: use a mutant name ({known}) or field=value")
        options[key] = {"true": True, "false": False}.get(value.lower(), value)
    try:
        return model.options(options)
    except (TypeError, ValueError) as e:
        fail(str(e))


def make_subject(options: DesignOptions, topology: str | None, grains: int | None) -> Subject:
    """Without a topology, a design that has them runs the one its mutant shows itself on."""
    try:
        return Subject.of(options, topology, grains)
    except ValueError as e:
        fail(str(e))


def print_json(doc: object) -> None:
    sys.stdout.write(json.dumps(doc, indent=2, default=str) + "\n")


INTERRUPTED = 130
_signalled: list[int] = []
"""the signals received: set, any error the run ends with is the interrupt's doing"""


def _interrupt(signum: int, frame: object) -> None:
    # Raised now, and again every second until the run has unwound: Python drops an exception
    # raised while a garbage-collector callback runs ("Exception ignored in ..."), and
    # Hypothesis installs one.  Cleanup blocks hold the repeats (impl/volumes.py).
    _signalled.append(signum)
    signal.signal(signal.SIGALRM, _interrupt_again)
    signal.setitimer(signal.ITIMER_REAL, 1.0, 1.0)
    raise KeyboardInterrupt(signal.Signals(signum).name)


def _interrupt_again(signum: int, frame: object) -> None:
    raise KeyboardInterrupt("still stopping")


def _interrupted() -> NoReturn:
    signal.setitimer(signal.ITIMER_REAL, 0)
    sys.stderr.write("pitmirror: interrupted; volumes released\n")
    raise SystemExit(INTERRUPTED)


def run() -> None:
    """The app with its commands; a usage error is one line, and Ctrl-C, SIGTERM and SIGHUP
    unwind the run, so volumes and loop devices are released."""
    from pitmirror.harness.cli import check, cleanup, coverage, crash, demo, prove, replay, verify  # noqa: F401

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _interrupt)
    try:
        code = app(standalone_mode=False, prog_name="pitmirror")
    except (typer.Abort, KeyboardInterrupt):
        _interrupted()
    except Exception as err:
        if _signalled:  # a library the signal interrupted in its own set-up may raise its own
            _interrupted()  # error instead (Hypothesis: an AssertionError); cleanup has run
        # a usage error: Typer raises its command-line parser's exception, whose class is not
        # part of Typer's public API (click's, or Typer's own copy of it in newer releases)
        message, exit_code = getattr(err, "format_message", None), getattr(err, "exit_code", None)
        if not callable(message) or not isinstance(exit_code, int):
            raise
        context = getattr(err, "ctx", None)
        where = context.command_path if context is not None else "pitmirror"
        if text := " ".join(str(message()).split()):  # empty after help shown for no arguments
            sys.stderr.write(f"{where}: {text}\n")
        raise SystemExit(exit_code) from None
    if code == INTERRUPTED:  # Typer turns an interrupt inside a command into this exit code
        _interrupted()
    raise SystemExit(code if isinstance(code, int) else 0)
