"""The `pitmirror` command line: the app, what every command shares (one-line errors, JSON
output, a clean stop on a signal), and the product's own commands.

The verification commands (verify, prove, check, replay, crash, coverage, demo, cleanup) are
the harness's; they join this app through an entry point (`pitmirror.commands`) when the
`verify` extra is installed, and otherwise each says how to get them.  Bad input (a corrupt
trace, journal or config, a missing device, no root for loop devices, a full disk) ends with
one line on stderr and exit code 2; a found violation or divergence ends with exit code 1.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import sys
from collections.abc import Callable
from functools import wraps
from importlib import metadata
from typing import Annotated, NoReturn, ParamSpec, TypeVar

import typer
from rich.console import Console

from pitmirror.impl.journal import JournalError
from pitmirror.impl.volumes import VolumeError
from pitmirror.impl.wire import MessageError
from pitmirror.model.actions import TraceFormatError

app = typer.Typer(
    add_completion=False,
    pretty_exceptions_show_locals=False,
    no_args_is_help=True,
    # click's own help: wrapped at the terminal's width, flags without types, brackets as typed
    rich_markup_mode=None,
    help="Cycle-based block-volume mirroring with a checked point-in-time promise.",
)
out = Console()
if not out.is_terminal and "COLUMNS" not in os.environ:
    out = Console(width=200)  # logs and pipes: keep table rows on one line unless told a width
P = ParamSpec("P")
R = TypeVar("R")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document instead.")]
VERIFICATION_COMMANDS = ("verify", "prove", "check", "replay", "power-loss", "crash", "coverage",
                         "demo", "cleanup")  # fmt: skip
VERIFICATION_LIBRARIES = frozenset({"hypothesis", "z3", "coverage", "crosshair"})


def fail(message: str, code: int = 2) -> NoReturn:
    sys.stderr.write(f"pitmirror: {' '.join(message.split())}\n")
    raise typer.Exit(code)


def clean_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn expected bad-input errors into one line and exit code 2, never a traceback."""

    @wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except (TraceFormatError, VolumeError, JournalError, MessageError) as e:
            fail(str(e))
        except OSError as e:
            if e.errno == errno.ENOSPC:
                fail(f"no space left on device: {e.filename or ''}".strip())
            fail(f"{e.strerror or e} {e.filename or ''}".strip())

    return wrapper


def print_json(doc: object) -> None:
    sys.stdout.write(json.dumps(doc, indent=2, default=str) + "\n")


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"pitmirror {metadata.version('pitmirror')}\n")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Cycle-based block-volume mirroring with a checked point-in-time promise."""


def _needs_verify_extra(name: str, missing: str) -> None:
    def command() -> None:
        fail(
            f"{name} is a verification command; it needs {missing}, which comes with the "
            "verify extra: pip install 'pitmirror[verify]'"
        )

    app.command(
        name,
        help="(needs the verify extra: pip install 'pitmirror[verify]')",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    )(command)


COMMANDS_GROUP = "pitmirror.commands"
"""the entry-point group whose modules add commands to this app (the harness's verification
commands, pyproject.toml): the product never imports them by name"""


def register_commands() -> None:
    """The product's commands, then those of every installed plugin module; when one needs a
    library the verify extra brings and it is missing, each verification command says so."""
    from pitmirror.node import inspect, serve  # noqa: F401

    for entry in metadata.entry_points(group=COMMANDS_GROUP):
        try:
            entry.load()
        except ModuleNotFoundError as err:
            missing = (err.name or "").split(".")[0]
            if missing not in VERIFICATION_LIBRARIES:
                raise
            for name in VERIFICATION_COMMANDS:
                _needs_verify_extra(name, missing)


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
    """Exit as the signal's convention says: 128 + its number (130 for Ctrl-C, 143 for
    SIGTERM, 129 for SIGHUP)."""
    signal.setitimer(signal.ITIMER_REAL, 0)
    sys.stderr.write("pitmirror: interrupted; volumes released\n")
    raise SystemExit(128 + (_signalled[0] if _signalled else signal.SIGINT))


def run() -> None:
    """The app with its commands; a usage error is one line, and Ctrl-C, SIGTERM and SIGHUP
    unwind the run, so volumes and loop devices are released."""
    register_commands()
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


def main() -> None:
    # Checked before anything is imported: Hypothesis reads the working directory on import.
    try:
        os.getcwd()
    except FileNotFoundError:
        sys.stderr.write("pitmirror: the working directory no longer exists; cd elsewhere\n")
        raise SystemExit(2) from None
    run()
