"""The link between two daemons over loopback TCP: what a peer must prove and say before any data,
the frames applied in order and at most once across reconnects, and bad bytes on the port —
garbage, a wrong checksum, a truncated or oversized frame, a stall mid-frame, a stale epoch, a
wrong secret — each closing that connection with one log line, nothing applied, the listener
still serving."""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from pitmirror.impl.cyclic_flashcopy.messages import MESSAGES, Commit, MirrorWrite
from pitmirror.impl.link import LinkUnavailable
from pitmirror.node.frames import (
    BANNER,
    FRAME_HEADER_BYTES,
    Banner,
    Frame,
    FrameError,
    FrameType,
    control,
    decode,
    read_frame,
)
from pitmirror.node.transport import (
    Identity,
    MessageRefused,
    PeerLink,
    PeerServer,
    Timeouts,
    authenticate,
)

SECRET = b"a secret of this mirror, 32 byte"
FAST = Timeouts(handshake=2.0, heartbeat=0.1, dead=0.6, delivery=3.0, retry=0.05, retry_max=0.2)


def _identity(site: str, peer: str, epoch: int = 1, grains: int = 64) -> Identity:
    return Identity("pair0", "cyclic-flashcopy", site, (peer,), epoch,
                    {"grain_size": 4096, "grains": grains}, "A")  # fmt: skip


class Receiver:
    def __init__(self, refuse: bool = False) -> None:
        self.applied: list[Any] = []
        self.refuse = refuse

    async def apply(self, payload: bytes) -> None:
        message = MESSAGES.decode(payload)
        if self.refuse:
            raise MessageRefused("the remote site is down")
        self.applied.append(message)


@asynccontextmanager
async def listening(receiver: Receiver, **identity: Any) -> AsyncIterator[tuple[PeerServer, int]]:
    server = PeerServer(_identity("remote", "local", **identity), SECRET, receiver.apply,
                        judge=lambda hello: None, hello_extra=dict, timeouts=FAST)  # fmt: skip
    port = await server.start("127.0.0.1", 0)
    try:
        yield server, port
    finally:
        await server.stop()


@asynccontextmanager
async def connected(port: int, secret: bytes = SECRET, **identity: Any
                    ) -> AsyncIterator[PeerLink]:  # fmt: skip
    link = PeerLink(_identity("local", "remote", **identity), secret, MESSAGES,
                    ("127.0.0.1", port), judge=lambda hello: None, hello_extra=lambda: {},
                    timeouts=FAST)  # fmt: skip
    task = asyncio.create_task(link.run())
    try:
        yield link
    finally:
        await link.stop()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def until(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    """Wait for a condition, bounded: the tests never sleep a fixed time and hope."""
    async with asyncio.timeout(seconds):
        while not condition():
            await asyncio.sleep(0.01)


async def send_from_engine(link: PeerLink, message: object) -> None:
    """The engine's call, from a thread of its own as in the daemon."""
    await asyncio.to_thread(link.send, message)


def test_messages_arrive_in_order_and_are_acknowledged() -> None:
    async def main() -> None:
        receiver = Receiver()
        async with listening(receiver) as (server, port), connected(port) as link:
            await until(lambda: link.up and server.stats.up)
            for grain in range(5):
                await send_from_engine(link, MirrorWrite(grain, bytes([grain]) * 4096))
            await send_from_engine(link, Commit(1, 123))
        assert receiver.applied == [*(MirrorWrite(g, bytes([g]) * 4096) for g in range(5)),
                                    Commit(1, 123)]  # fmt: skip
        assert server.stats.frames_applied == 6 and link.stats.sent_bytes > 5 * 4096

    asyncio.run(main())


def test_a_send_while_the_link_is_down_is_undelivered() -> None:
    async def main() -> None:
        async with connected(1) as link:  # nobody listens on port 1
            with pytest.raises(LinkUnavailable, match="down"):
                await send_from_engine(link, Commit(1))

    asyncio.run(main())


def test_a_refused_message_is_reported_to_the_sender() -> None:
    async def main() -> None:
        async with listening(Receiver(refuse=True)) as (_, port), connected(port) as link:
            await until(lambda: link.up)
            with pytest.raises(LinkUnavailable, match="refused it: the remote site is down"):
                await send_from_engine(link, Commit(1))

    asyncio.run(main())


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("epoch", 2, "epoch: the peer says 2, this site expects 1"),
        ("grains", 65, "geometry"),
    ],
)
def test_a_peer_of_another_state_is_refused_with_the_reason(
    field: str, value: int, words: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> None:
        receiver = Receiver()
        async with listening(receiver) as (server, port), connected(port, **{field: value}) as link:
            await until(lambda: link.stats.last_error is not None)
            assert not link.up and not server.stats.up
            with pytest.raises(LinkUnavailable):
                await send_from_engine(link, Commit(1))
        assert receiver.applied == []

    with caplog.at_level(logging.INFO, logger="pitmirror"):
        asyncio.run(main())
    assert any(words in r.getMessage() and "refused" in r.getMessage() for r in caplog.records)


def test_a_peer_without_the_secret_gets_nothing(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        receiver = Receiver()
        async with listening(receiver) as (server, port):
            async with connected(port, secret=b"x" * 32) as link:
                await until(lambda: link.stats.last_error is not None)
                assert "secret" in (link.stats.last_error or "") and not server.stats.up
            async with connected(port) as good:  # and the listener still serves
                await until(lambda: good.up)
                await send_from_engine(good, Commit(1))
        assert receiver.applied == [Commit(1)]

    with caplog.at_level(logging.INFO, logger="pitmirror"):
        asyncio.run(main())
    assert any("could not prove it holds this mirror's secret" in r.getMessage()
               for r in caplog.records)  # fmt: skip


async def _raw_session(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, int]:
    """A hand-driven connector through the handshake: the next bytes are the test's."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    await authenticate(reader, writer, SECRET, "A", "connector")
    hello = _identity("local", "remote").hello(session=77, next_seq=1)
    writer.write(control(FrameType.HELLO, hello).encode())
    reply = await read_frame(reader)
    assert reply.type is FrameType.HELLO
    return reader, writer, int(reply.control()["applied"])


def _data(seq: int, epoch: int = 1, grain: int = 0) -> bytes:
    return Frame(FrameType.DATA, seq, epoch, MESSAGES.encode(MirrorWrite(grain, b"d" * 4096))
                 ).encode()  # fmt: skip


def _damaged(frame: bytes) -> bytes:
    return frame[:-1] + bytes([frame[-1] ^ 0x01])


def _oversized() -> bytes:
    header = struct.pack("<4sHHIQQ", b"PMF1", FrameType.DATA, 0, 2**31, 1, 1)
    return header + b"\0\0\0\0"


BAD_FRAMES: dict[str, tuple[bytes, str]] = {
    "garbage": (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + b"\0" * 16, "bad magic"),
    "wrong checksum": (_damaged(_data(1)), "checksum does not match"),
    "truncated": (_data(1)[:100], "closed the connection inside a frame"),
    "oversized": (_oversized(), "larger than any"),
    "stall": (_data(1)[: FRAME_HEADER_BYTES + 10], "no frame from the peer within the timeout"),
    "stale epoch": (_data(1, epoch=0), "epoch 0; the mirror is at epoch 1"),
    "gap": (_data(5), "frame 5 follows frame 0"),
    "a data frame in place of the hello": (b"", ""),
}


@pytest.mark.parametrize("case", BAD_FRAMES)
def test_bad_bytes_close_the_connection_and_write_nothing(
    case: str, caplog: pytest.LogCaptureFixture
) -> None:
    data, words = BAD_FRAMES[case]

    async def main() -> None:
        receiver = Receiver()
        async with listening(receiver) as (server, port):
            if case == "a data frame in place of the hello":
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                await authenticate(reader, writer, SECRET, "A", "connector")
                writer.write(_data(1))
            else:
                reader, writer, _ = await _raw_session(port)
                writer.write(data)
                if case != "stall":
                    writer.write_eof()
            await writer.drain()
            with pytest.raises((asyncio.IncompleteReadError, ConnectionError)):
                async with asyncio.timeout(5.0):  # until the listener hangs up
                    while True:  # heartbeats may come first; never an acknowledgement
                        assert (await read_frame(reader)).type is FrameType.HEARTBEAT
            writer.close()
            assert receiver.applied == [] and server.sessions.get(77, 0) == 0
            async with connected(port) as good:  # the listener keeps serving
                await until(lambda: good.up)
                await send_from_engine(good, Commit(1))
            assert receiver.applied == [Commit(1)]

    with caplog.at_level(logging.INFO, logger="pitmirror"):
        asyncio.run(main())
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(lines) == 1, lines
    assert words in lines[0], lines


def test_a_resent_frame_is_applied_once_and_acknowledged_again() -> None:
    async def main() -> None:
        receiver = Receiver()
        async with listening(receiver) as (server, port):
            reader, writer, applied = await _raw_session(port)
            assert applied == 0
            writer.write(_data(1, grain=0) + _data(2, grain=1))
            acks = [await _next_ack(reader), await _next_ack(reader)]
            assert acks == [1, 2]
            writer.close()
            # the connection is lost; the same session reconnects and resends frame 2
            reader, writer, applied = await _raw_session(port)
            assert applied == 2
            writer.write(_data(2, grain=1) + _data(3, grain=2))
            assert [await _next_ack(reader), await _next_ack(reader)] == [2, 3]
            writer.close()
            assert [m.grain for m in receiver.applied] == [0, 1, 2]
            assert server.stats.duplicates == 1

    asyncio.run(main())


async def _next_ack(reader: asyncio.StreamReader) -> int:
    while True:
        frame = await read_frame(reader)
        if frame.type is FrameType.ACK:
            return frame.seq
        assert frame.type is FrameType.HEARTBEAT


def test_a_message_in_flight_when_the_listener_restarts_is_undelivered() -> None:
    """A new incarnation does not know the session: what was in flight is reported — at the
    first reconnect that fails, not after the delivery timeout — and never silently resent into
    a site that may have applied it before it restarted."""

    async def main() -> None:
        stalled: asyncio.Event = asyncio.Event()

        async def hang(payload: bytes) -> None:
            await stalled.wait()

        server = PeerServer(_identity("remote", "local"), SECRET, hang, judge=lambda h: None,
                            hello_extra=dict, timeouts=FAST)  # fmt: skip
        port = await server.start("127.0.0.1", 0)
        async with connected(port) as link:
            await until(lambda: link.up)
            sending = asyncio.create_task(send_from_engine(link, Commit(1)))
            await asyncio.sleep(0.2)
            started = asyncio.get_running_loop().time()
            await server.stop()
            stalled.set()
            with pytest.raises(LinkUnavailable, match="did not answer a reconnect"):
                await sending
            assert asyncio.get_running_loop().time() - started < FAST.delivery / 2
            again = Receiver()
            restarted = PeerServer(_identity("remote", "local"), SECRET, again.apply,
                                   judge=lambda h: None, hello_extra=dict,
                                   timeouts=FAST)  # fmt: skip
            await restarted.start("127.0.0.1", port)
            try:
                await until(lambda: link.up)
                await send_from_engine(link, Commit(2))
                assert again.applied == [Commit(2)]
            finally:
                await restarted.stop()

    asyncio.run(main())


def test_frames_round_trip_and_any_flipped_bit_is_caught() -> None:
    frame = Frame(FrameType.DATA, 9, 3, b"payload")
    data = frame.encode()
    assert decode(data) == frame
    for at in range(len(data)):
        damaged = bytearray(data)
        damaged[at] ^= 0x10
        with pytest.raises(FrameError):
            decode(bytes(damaged))


def test_banners_agree_on_a_version_or_say_why_not() -> None:
    mine = Banner(1, 3, "A")
    assert mine.agreed(Banner(2, 5, "A")) == 3
    with pytest.raises(FrameError, match="speaks protocol 4..5"):
        mine.agreed(Banner(4, 5, "A"))
    with pytest.raises(FrameError, match="design B"):
        mine.agreed(Banner(1, 1, "B"))
    with pytest.raises(FrameError, match="bad banner"):
        Banner.decode(b"X" * BANNER.size)
