"""A TCP fault proxy between two sites: the faults a real link has, on demand.

Its vocabulary is toxiproxy's (latency, a cut, a reset, a limit on the bytes that pass), plus
dropping frames of one type, as DRBD's tests block one packet type: the proxy reads the link's
framing (node/frames.py: a banner, then frames with their length in the header) so it can cut a
connection at any byte, inside a frame or between two, and drop whole frames.  This kernel has
no netem; latency and loss come from here.

The proxy runs its own event loop on a thread of its own, so the harness (synchronous, like the
engine it drives) calls it as plain methods.  `cut()` is the model's LinkDown: every connection
is closed and new ones are closed on arrival until `restore()` (LinkUp).
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from pitmirror.harness.loop_thread import LoopThread
from pitmirror.node.frames import BANNER, FRAME_HEADER_BYTES, FRAME_MAGIC, FrameType

Direction = Literal["up", "down"]
"""up: from the connecting site to the listening one (the site messages); down: back (acks)"""
T = TypeVar("T")
_LENGTH = struct.Struct("<HHI")  # type, flags, length: after the 4-byte magic


class _Cut(Exception):
    """The proxy cut this connection on purpose."""


@dataclass(eq=False)
class _Pair:
    downstream: asyncio.StreamWriter
    upstream: asyncio.StreamWriter
    passed: dict[Direction, int] = field(default_factory=lambda: {"up": 0, "down": 0})

    def close(self) -> None:
        for writer in (self.downstream, self.upstream):
            with contextlib.suppress(Exception):
                writer.transport.abort()


class FaultProxy:
    def __init__(self, upstream: tuple[str, int], host: str = "127.0.0.1") -> None:
        self.upstream, self.host = upstream, host
        self.port = 0
        self.is_cut = False
        self.latency = 0.0
        self.limits: dict[Direction, int] = {}
        """bytes that may still pass in a direction before every connection is cut"""
        self.drops: dict[tuple[Direction, FrameType], int] = {}
        """frames of a type still to drop in a direction"""
        self.dropped: list[tuple[Direction, FrameType]] = []
        self.cut_every: dict[tuple[Direction, FrameType], int] = {}
        """cut the connection inside every n-th frame of a type in a direction (half of it
        passes): a fault the transport must hide, by a resend applied once"""
        self.seen: dict[tuple[Direction, FrameType], int] = {}
        self.cuts_inside = 0
        self.connections = 0
        self._pairs: set[_Pair] = set()
        self._loop: LoopThread | None = None
        self._server: asyncio.Server | None = None

    # ---- the harness's side (any thread but the proxy's) --------------------------------------

    def start(self) -> int:
        self._loop = LoopThread("fault-proxy")
        self._server = self._call(asyncio.start_server(self._handle, self.host, 0))
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    def stop(self) -> None:
        async def shut() -> None:
            self._close_all()
            if self._server is not None:
                self._server.close()

        if self._loop is not None:
            self._call(shut())
            self._loop.stop()
            self._loop = None

    def __enter__(self) -> FaultProxy:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def cut(self) -> None:
        """LinkDown: every connection closed now, new ones closed on arrival."""

        def cut() -> None:
            self.is_cut = True
            self._close_all()

        self._run(cut)

    def restore(self) -> None:
        """LinkUp."""
        self._run(lambda: setattr(self, "is_cut", False))

    def reset(self) -> None:
        """Every connection closed now (RST); new ones pass."""
        self._run(self._close_all)

    def cut_after(self, direction: Direction, count: int) -> None:
        """Cut every connection once `count` more bytes passed in `direction` (0: at the next
        byte), then let new connections pass."""
        self._run(lambda: self.limits.__setitem__(direction, count))

    def drop(self, kind: FrameType, direction: Direction = "up", count: int = 1) -> None:
        """Drop the next `count` frames of a type in a direction (the stream goes on)."""
        self._run(lambda: self.drops.__setitem__((direction, kind), count))

    def cut_inside_every(self, every: int, kind: FrameType, direction: Direction) -> None:
        """Cut the connection inside every `every`-th frame of a type in a direction (0: never)."""
        self._run(lambda: self.cut_every.__setitem__((direction, kind), every))

    def _call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        assert self._loop is not None, "the proxy is not started"
        return self._loop.call(coroutine, 10)

    def _run(self, change: Any) -> None:
        async def apply() -> None:
            change()

        self._call(apply())

    # ---- the proxy's loop ----------------------------------------------------------------------

    def _close_all(self) -> None:
        for pair in list(self._pairs):
            pair.close()
        self._pairs.clear()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.is_cut:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:  # nobody listens behind the proxy: the connector sees a closed door
            writer.transport.abort()
            return
        pair = _Pair(writer, up_writer)
        self._pairs.add(pair)
        self.connections += 1
        try:
            await asyncio.gather(
                self._pipe(reader, pair, "up"), self._pipe(up_reader, pair, "down")
            )
        except (_Cut, OSError, asyncio.IncompleteReadError):
            pass
        finally:
            pair.close()
            self._pairs.discard(pair)

    async def _pipe(self, source: asyncio.StreamReader, pair: _Pair, direction: Direction) -> None:
        sink = pair.upstream if direction == "up" else pair.downstream
        await self._forward(sink, await source.readexactly(BANNER.size), pair, direction)
        while True:
            header = await source.readexactly(FRAME_HEADER_BYTES)
            if header[:4] != FRAME_MAGIC:  # not our framing (a stranger): pass bytes as they come
                await self._forward(sink, header, pair, direction)
                while chunk := await source.read(65536):
                    await self._forward(sink, chunk, pair, direction)
                raise asyncio.IncompleteReadError(b"", None)
            kind, _flags, length = _LENGTH.unpack_from(header, 4)
            frame = header + await source.readexactly(length)
            with contextlib.suppress(ValueError):
                key = (direction, FrameType(kind))
                if self.drops.get(key, 0) > 0:
                    self.drops[key] -= 1
                    self.dropped.append(key)
                    continue
                self.seen[key] = self.seen.get(key, 0) + 1
                every = self.cut_every.get(key)
                if every and self.seen[key] % every == 0:
                    self.cuts_inside += 1
                    await self._forward(sink, frame[: len(frame) // 2], pair, direction)
                    pair.close()
                    raise _Cut()
            await self._forward(sink, frame, pair, direction)

    async def _forward(self, sink: asyncio.StreamWriter, data: bytes, pair: _Pair,
                       direction: Direction) -> None:  # fmt: skip
        if self.latency:
            await asyncio.sleep(self.latency)
        limit = self.limits.get(direction)
        if limit is not None and len(data) > limit:
            sink.write(data[:limit])
            with contextlib.suppress(Exception):
                await sink.drain()
            del self.limits[direction]
            self._close_all()
            raise _Cut()
        if limit is not None:
            self.limits[direction] = limit - len(data)
        sink.write(data)
        await sink.drain()
        pair.passed[direction] += len(data)
