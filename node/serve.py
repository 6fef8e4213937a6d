"""`pitmirror serve --config FILE` and `pitmirror status`: the daemon and what it says.

`serve` runs one site until SIGTERM or Ctrl-C (a clean stop: the link closed with CLOSE, the
engine's call in progress finished, exit 0), logging one line per event on stderr.  `status`
asks the running daemon over its control socket: one screen in the manner of `drbdsetup
status`, `--json` for machines, `--watch` for one JSON line per change.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import signal
import sys
import time
from json import dumps
from pathlib import Path
from typing import Annotated, Any

import typer

from pitmirror.node.block_door import FrontendError
from pitmirror.node.cli import JsonOpt, app, clean_errors, fail, print_json
from pitmirror.node.config import load_config
from pitmirror.node.control import ControlError, request, request_status, watch_status
from pitmirror.node.daemon import Daemon, DaemonError
from pitmirror.node.site import ConfigError
from pitmirror.node.transport import read_secret

ConfigOpt = Annotated[Path, typer.Option("--config", help="The site's TOML config file.")]


@app.command("serve")
@clean_errors
def serve(config: ConfigOpt) -> None:
    """Run one site of a mirror as a daemon, until SIGTERM or Ctrl-C."""
    try:
        settings = load_config(config)
        if settings.secret_file is None:
            raise ConfigError(f"{config}: 'secret_file' is missing (the secret both sites hold)")
        try:
            secret = read_secret(settings.secret_file)
        except OSError as err:
            raise ConfigError(f"{settings.secret_file}: {err.strerror or err}") from None
        except ValueError as err:
            raise ConfigError(str(err)) from None
        daemon = Daemon(settings, secret)
    except ConfigError as err:
        fail(str(err))
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr,
        format=f"%(asctime)s pitmirror[{settings.site}] %(levelname)s: %(message)s",
    )  # fmt: skip
    try:
        turned = asyncio.run(_until_stopped(daemon))
    except (DaemonError, ConfigError, FrontendError) as err:
        fail(str(err))
    if turned:  # the same process, as the site its role records say it acts as now
        logging.getLogger("pitmirror").info("starting again as the turned site")
        os.execv(sys.executable, sys.orig_argv)


async def _until_stopped(daemon: Daemon) -> bool:
    """The daemon run until a signal stops it (False) or a resync or reverse turned one of its
    pairs (True: it starts again, as the other site)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        loop.add_signal_handler(signum, stop.set)
    await daemon.run(stop)
    return daemon.turned and not stop.is_set()


def _socket(config: Path | None, socket: Path | None) -> Path:
    if socket is not None:
        return socket
    if config is None:
        fail("say which daemon: --config FILE (its site's config) or --socket PATH")
    try:
        return load_config(config).control_socket
    except ConfigError as err:
        fail(str(err))


@app.command("status")
@clean_errors
def status(
    config: Annotated[Path | None, typer.Option("--config", help="The site's config.")] = None,
    socket: Annotated[Path | None, typer.Option("--socket", help="The daemon's control "
                                                "socket (default: from the config).")] = None,
    json: JsonOpt = False,
    watch: Annotated[bool, typer.Option("--watch", help="One JSON line now and at every "
                                        "change, until the daemon stops.")] = False,
) -> None:  # fmt: skip
    """Show what a running daemon's site holds: role, peer, committed point, RPO, lag."""
    path = _socket(config, socket)
    try:
        if watch:
            for doc in watch_status(path):
                sys.stdout.write(dumps(doc, sort_keys=True) + "\n")
                sys.stdout.flush()
            return
        doc = request_status(path)
    except ControlError as err:
        fail(str(err))
    if json:
        print_json(doc)
    else:
        sys.stdout.write(human(doc))


def _size(count: float | None) -> str:
    if count is None:
        return "?"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(count) < 1024 or unit == "TiB":
            return f"{count:.1f} {unit}" if unit != "B" else f"{int(count)} B"
        count /= 1024
    return "?"


def _when(seconds: float | None) -> str:
    return "-" if seconds is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds))


def human(doc: dict[str, Any]) -> str:
    """One screen, in the manner of `drbdsetup status`."""
    point, link = doc["committed_point"], doc["link"]
    cycle, lag = doc.get("cycle") or {}, doc.get("out_of_sync") or {}
    rpo = doc.get("rpo_seconds")
    lines = [
        f"{doc['mirror']} site:{doc['site']} design:{doc['design']} role:{doc['role']} "
        + (f"epoch:{doc['epoch']} " if doc.get("epoch") is not None else "")
        + f"pid:{doc['pid']}"
        + (" paused" if doc.get("paused") else ""),
        "  volumes: " + "  ".join(f"{n} {p}" for n, p in doc["volumes"].items()),
    ]
    for pair, roles in (doc.get("roles") or {}).items():
        peer = roles.get("peer")
        lines.append(
            f"  {pair + ': ' if pair else ''}{roles['state']} in epoch {roles['epoch']}"
            f" (known {roles['known']})"
            + (f", peer {peer['role']} in epoch {peer['epoch']}" if peer else "")
            + (f"; resolve: {roles['resolve']}" if roles.get("resolve") else "")
        )
    for peer in doc["peers"]:
        lines.append(
            f"  {peer['site']} connection:{peer['connection']} {peer['address']}"
            + (f" since {_when(peer['since'])}" if peer.get("since") else "")
            + (
                f" ({peer['last_error']})"
                if peer.get("last_error") and peer["connection"] != "connected"
                else ""
            )  # fmt: skip
        )
    lines += [
        f"  committed point {point.get('number')}  source time {_when(point.get('source_time'))}"
        + (f"  RPO {rpo:.1f} s" if rpo is not None else "")
        + (f"  digest {point['digest'][:16]}…" if point.get("digest") else ""),
        f"  cycle {cycle.get('number')} {cycle.get('phase')}  "
        f"{_size(cycle.get('bytes_done'))} / {_size(cycle.get('bytes_total'))}",
        f"  out-of-sync: {_size(lag.get('bytes'))} ({lag.get('grains')} grains)",
    ]
    frontend = doc.get("frontend")
    if frontend:
        devices = "  ".join(f"{v['name']} {v['device'] or '(detached)'}"
                            for v in frontend["volumes"])  # fmt: skip
        lines.append(f"  frontend: {devices}  written {_size(frontend['written_bytes'])} in "
                     f"{frontend['writes']} writes, {frontend['flushes']} flushes")  # fmt: skip
    for group in doc.get("groups") or []:
        points = "  ".join(f"{site}:{p.get('number')}" for site, p in group["committed"].items())
        lines.append(f"  group {group['group']} ({', '.join(group['objects'])}) "
                     f"{group['role']} {group['cycle']['phase']}  committed {points}")  # fmt: skip
    lines.append(
        f"  link: {'up' if link['up'] else 'down'}  {_size(link['bytes_per_second'])}/s  "
        f"sent {_size(link['sent_bytes'])}  received {_size(link['received_bytes'])}"
    )
    return "\n".join(lines) + "\n"


@app.command("write")
@clean_errors
def write(
    config: ConfigOpt,
    grain: Annotated[int, typer.Option("--grain", min=0, help="The first grain written.")],
    data: Annotated[Path, typer.Option("--from", help="A file of whole grains to write.")],
) -> None:
    """Write whole grains through a running site's host door: design A's local site, a design-B
    home (besides the block frontend, the way to change a mirrored volume without going behind
    the engine's back)."""
    path = _socket(config, None)
    try:
        answer = request(path, {"op": "write", "grain": grain,
                                "data": base64.b64encode(data.read_bytes()).decode()})  # fmt: skip
    except ControlError as err:
        fail(str(err))
    sys.stdout.write(f"written from grain {grain}, in cycle {answer['cycle']}\n")


def _hold(config: Path, op: str) -> None:
    try:
        request(_socket(config, None), {"op": op})
    except ControlError as err:
        fail(str(err))


@app.command("pause")
@clean_errors
def pause(config: ConfigOpt) -> None:
    """Hold a running site's background work (copies, commits, drains) until resume; host
    writes and the peer's messages are still served, and status says paused."""
    _hold(config, "pause")


@app.command("resume")
@clean_errors
def resume(config: ConfigOpt) -> None:
    """Let a paused site's background work go on."""
    _hold(config, "resume")


GroupOpt = Annotated[
    int | None,
    typer.Option(
        "--group",
        help="Design B: the consistency group (each fails over alone; "
        "needed when this site holds more than one).",
    ),  # fmt: skip
]


def _group(group: int | None) -> dict[str, Any]:
    return {} if group is None else {"group": group}


@app.command("demote")
@clean_errors
def demote(config: ConfigOpt, group: GroupOpt = None) -> None:
    """Make a running primary a secondary: it takes no more host writes, and the mirror drains
    its last point (then `pitmirror promote` at the peer switches the roles)."""
    try:
        answer = request(_socket(config, None), {"op": "demote", **_group(group)})
    except ControlError as err:
        fail(str(err))
    del answer
    sys.stdout.write("demoted: this site takes no more host writes\n")


@app.command("promote")
@clean_errors
def promote(
    config: ConfigOpt,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="The peer is unreachable: roll this "
            "site's copy to its committed point and take host "
            "writes in an epoch of its own.",
        ),
    ] = False,
    group: GroupOpt = None,
) -> None:
    """Make this secondary the primary.  Both sites linked, the orderly switch: the primary is
    asked to hand over (as `pitmirror reverse` there: it demotes itself, waits until the mirror
    holds every write, and this site takes the next epoch; both daemons start again as the
    turned sites), and this command waits until it has.  With --force (the peer stopped or cut
    off), the copy rolls to its last committed point, the site persists a new epoch and the host
    writes here (its frontend starts); the old primary, when it comes back, is outdated until
    `pitmirror resync --discard-local` there."""
    socket = _socket(config, None)
    try:
        started = time.time()
        answer = request(socket, {"op": "promote", "force": force, **_group(group)})
    except ControlError as err:
        fail(str(err))
    pair = str(answer.get("pair", ""))
    roles = answer["roles"][pair]
    if answer.get("asked"):
        roles = _handed_over(socket, pair, int(answer["epoch"]), started)
    of = f"{pair.replace('group', 'group ')}: " if pair else ""
    sys.stdout.write(f"promoted: {of}primary in epoch {roles['epoch']}\n")
    if answer.get("note"):
        sys.stdout.write(f"note: {answer['note']}\n")


HAND_OVER_SECONDS = 150.0
LINK_DOWN_SECONDS = 10.0
"""a link down this long while the primary hands over: it is gone (a turn restarts the daemons:
the link is down a moment then)"""


def _handed_over(socket: Path, pair: str, epoch: int, started: float) -> dict[str, Any]:
    """The pair's record at this site once the primary handed it over: the daemon started again
    as the turned site, primary in an epoch above `epoch`."""
    deadline = time.monotonic() + HAND_OVER_SECONDS
    down_since: float | None = None
    while time.monotonic() < deadline:
        try:
            doc = request_status(socket)
        except (ControlError, OSError):
            doc = None  # starting again as the turned site
        if doc is not None and doc.get("started", 0) > started:
            roles = doc["roles"].get(pair)
            if roles is not None and roles["role"] == "primary" and roles["epoch"] > epoch:
                return dict(roles)
        if doc is not None and not doc["link"]["up"]:
            down_since = down_since or time.monotonic()
            if time.monotonic() - down_since > LINK_DOWN_SECONDS:
                fail(f"the link to the primary has been down for {LINK_DOWN_SECONDS:.0f} s: it "
                     "did not hand over (`pitmirror promote --force` if it is gone)")  # fmt: skip
        else:
            down_since = None
        time.sleep(0.1)
    fail(f"the primary did not hand over within {HAND_OVER_SECONDS:.0f} s (see its status and "
         "log: it hands over once the mirror holds every write)")  # fmt: skip


@app.command("resync")
@clean_errors
def resync(
    config: ConfigOpt,
    discard_local: Annotated[
        bool,
        typer.Option(
            "--discard-local", help="Discard this site's own changes (required: never automatic)."
        ),
    ] = False,
    group: GroupOpt = None,
) -> None:
    """On the outdated site (or the side of a split brain to discard): its changes since the
    committed point are discarded, and the pair turns — the primary's first cycle copies only
    the grains either side changed (from their maps, never the whole volume), then mirrors to
    this site.  Both daemons start again once the pair has turned, as the turned sites."""
    if not discard_local:
        fail("a resync discards this site's own changes: say --discard-local")
    _turn(config, {"op": "resync", "discard_local": True, **_group(group)}, "resynced")


def _turn(config: Path, body: dict[str, Any], done: str) -> None:
    """A command that turns the pair: asked of the daemon, which answers once turned."""
    try:
        answer = request(_socket(config, None), body, timeout=150.0)
    except ControlError as err:
        fail(str(err))
    pair = str(answer.get("pair", ""))
    roles = answer["roles"][pair]
    of = f"{pair.replace('group', 'group ')}: " if pair else ""
    sys.stdout.write(f"{done}: {of}secondary in epoch {roles['epoch']}; the pair turned — "
                     "both daemons start again as the turned sites\n")  # fmt: skip


@app.command("reverse")
@clean_errors
def reverse(config: ConfigOpt, group: GroupOpt = None) -> None:
    """At the primary, both sites up and linked (design B: per group): the orderly switch.
    This site demotes itself (no more host writes), waits until the mirror holds every write,
    then the secondary takes the next epoch, rolls to the last point and becomes the primary,
    and this site its secondary; nothing is copied but what was not mirrored yet.  Both daemons
    start again once the pair has turned, as the turned sites."""
    _turn(config, {"op": "reverse", **_group(group)}, "reversed")
