"""The link through the fault proxy: a cut and its restore, a connection cut at a byte inside a
frame or just after the receiver applied it, a dropped frame — each message applied exactly
once, or reported undelivered, never twice and never lost silently."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from test_transport import Receiver, connected, listening, send_from_engine, until

from pitmirror.harness.fault_proxy import FaultProxy
from pitmirror.impl.cyclic_flashcopy.messages import Commit, MirrorWrite
from pitmirror.impl.link import LinkUnavailable
from pitmirror.node.frames import FrameType
from pitmirror.node.transport import PeerLink, PeerServer


@asynccontextmanager
async def through_proxy(
    receiver: Receiver,
) -> AsyncIterator[tuple[PeerServer, FaultProxy, PeerLink]]:
    """A listener, the proxy in front of it and a connector through the proxy, link up."""
    async with listening(receiver) as (server, port):
        with FaultProxy(("127.0.0.1", port)) as proxy:
            async with connected(proxy.port) as link:
                await until(lambda: link.up)
                yield server, proxy, link


def test_a_cut_takes_the_link_down_and_a_restore_brings_it_back() -> None:
    async def main() -> None:
        receiver = Receiver()
        async with through_proxy(receiver) as (_, proxy, link):
            proxy.cut()
            await until(lambda: not link.up)
            with pytest.raises(LinkUnavailable):
                await send_from_engine(link, Commit(1))
            proxy.restore()
            await until(lambda: link.up)
            await send_from_engine(link, Commit(2))
        assert receiver.applied == [Commit(2)]

    asyncio.run(main())


@pytest.mark.parametrize("at", [0, 5, 31, 32, 33, 2000, 4100])
def test_a_frame_cut_at_any_byte_is_resent_and_applied_once(at: int) -> None:
    async def main() -> None:
        receiver = Receiver()
        async with through_proxy(receiver) as (_, proxy, link):
            proxy.cut_after("up", at)  # inside the data frame's header or payload
            await send_from_engine(link, MirrorWrite(3, b"x" * 4096))
            await send_from_engine(link, Commit(1))
        assert receiver.applied == [MirrorWrite(3, b"x" * 4096), Commit(1)]

    asyncio.run(main())


def test_an_acknowledgement_lost_with_its_connection_is_not_applied_twice() -> None:
    async def main() -> None:
        receiver = Receiver()
        async with through_proxy(receiver) as (_, proxy, link):
            proxy.cut_after("down", 10)  # the receiver applied it; its ack is cut
            await send_from_engine(link, MirrorWrite(1, b"y" * 4096))
            await send_from_engine(link, Commit(1))
        assert receiver.applied == [MirrorWrite(1, b"y" * 4096), Commit(1)]

    asyncio.run(main())


def test_a_dropped_frame_is_resent_after_a_reset() -> None:
    async def main() -> None:
        receiver = Receiver()
        async with through_proxy(receiver) as (server, proxy, link):
            proxy.drop(FrameType.DATA)
            sending = asyncio.create_task(send_from_engine(link, Commit(7)))
            await until(lambda: proxy.dropped == [("up", FrameType.DATA)])
            assert receiver.applied == []
            proxy.reset()
            await sending
        assert receiver.applied == [Commit(7)]
        assert server.stats.duplicates == 0

    asyncio.run(main())
