"""The daemon's control socket: a Unix socket in its state folder that answers `pitmirror status`.

One JSON request per line — `{"op": "status"}` gets one JSON document back, `{"op": "watch"}`
gets the current document and then one line per change until the client hangs up, and
`{"op": "write", "grain": g, "data": "<base64>"}` writes whole grains through the site's host
door (the local site's; until the block frontend exists, the one way to write to a mirrored
volume without going behind the engine's back); `{"op": "pause"}` holds the site's background
work (copies, commits, drains: what `pitmirror pause` does) until `{"op": "resume"}`.  The socket
is the operator's door on this host (mode 0600: root's, as the volumes are), never the network's.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

MAX_REQUEST_BYTES = 64 * 1024 * 1024
Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


class ControlError(Exception):
    """No daemon answers on the socket, or it answered something that is not status."""


class ControlServer:
    def __init__(self, path: Path, document: Callable[[], dict[str, Any]],
                 handlers: dict[str, Handler] | None = None) -> None:  # fmt: skip
        self.path, self.document, self.handlers = path, document, handlers or {}
        self._changed = asyncio.Event()
        """set at a change and replaced: each watcher waits on the one it saw"""
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # a socket a killed daemon left; the state lock is held
        self._server = await asyncio.start_unix_server(self._handle, path=str(self.path),
                                                       limit=MAX_REQUEST_BYTES)  # fmt: skip
        os.chmod(self.path, 0o600)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def changed(self) -> None:
        """The status may have changed: every watcher looks."""
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), 30.0)
            try:
                request = json.loads(line)
                op = request.get("op") if isinstance(request, dict) else None
            except ValueError:
                op = None
            if op == "status":
                await _write(writer, self.document())
            elif op == "watch":
                await self._watch(reader, writer)
            elif op in self.handlers:
                await _write(writer, await self.handlers[op](request))
            else:
                await _write(writer, {"error": f"unknown request {line[:80]!r}"})
        except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError):
            pass  # the client went away, or sent a line longer than any request
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _watch(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        gone = asyncio.ensure_future(reader.read(1))  # the client hangs up (or says anything)
        try:
            last: dict[str, Any] | None = None
            while not gone.done():
                doc = self.document()
                if last is None or changes(last) != changes(doc):
                    await _write(writer, doc)
                    last = doc
                waiting = asyncio.ensure_future(self._changed.wait())
                await asyncio.wait({waiting, gone}, timeout=1.0,
                                   return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
                waiting.cancel()
        finally:
            gone.cancel()


VOLATILE = ("time", "rpo_seconds", "link")
"""what moves without anything happening: a watcher gets no line for these alone"""


def changes(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k not in VOLATILE} | {
        "link_up": doc.get("link", {}).get("up")
    }


async def _write(writer: asyncio.StreamWriter, doc: dict[str, Any]) -> None:
    writer.write(json.dumps(doc, sort_keys=True).encode() + b"\n")
    await writer.drain()


def _connect(path: Path, timeout: float) -> socket.socket:
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.settimeout(timeout)
    try:
        client.connect(str(path))
    except OSError as err:
        client.close()
        raise ControlError(f"no pitmirror daemon answers on {path} ({err.strerror or err}): "
                           "is it running?") from None  # fmt: skip
    return client


def request_status(path: Path, timeout: float = 10.0) -> dict[str, Any]:
    with _connect(path, timeout) as client:
        client.sendall(b'{"op": "status"}\n')
        return _document(client.makefile("rb").readline(), path)


def watch_status(path: Path, quiet: float | None = None) -> Iterator[dict[str, Any]]:
    """The daemon's status now and at every change, until it stops (or, given `quiet`, until
    nothing changed for that many seconds: TimeoutError)."""
    with _connect(path, 10.0) as client:
        client.settimeout(quiet)
        client.sendall(b'{"op": "watch"}\n')
        for line in client.makefile("rb"):
            yield _document(line, path)


def request(path: Path, body: dict[str, Any], timeout: float = 60.0) -> dict[str, Any]:
    """Any other request; ControlError with the daemon's words when it refused."""
    with _connect(path, timeout) as client:
        client.sendall(json.dumps(body).encode() + b"\n")
        line = client.makefile("rb").readline()
    try:
        answer = json.loads(line)
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise ControlError(f"{path} gave no answer to {body.get('op')!r}")
    if "error" in answer:
        raise ControlError(str(answer["error"]))
    return answer


def _document(line: bytes, path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(line)
    except ValueError:
        doc = None
    if not isinstance(doc, dict) or "schema_version" not in doc:
        raise ControlError(f"{path} answered no status: {line[:80]!r}")
    return doc
