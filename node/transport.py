"""The link between two daemons over TCP: the site messages as numbered frames, at most once.

The side that sends site messages (design A's local site) connects; its peer listens.  Every
connection goes through the same steps before any data: banners (magic, protocol versions,
design), a proof of the mirror's secret each way (frames.proof), then the state exchange — the
connector's HELLO, judged by the listener, then the listener's, judged by the connector: mirror,
design, sites, epoch, geometry, and what the design's own check says (design A: the journals'
cycle and committed point agree; design B: the home's points and the remote's copies agree).
A mismatch is refused with one log line on each side naming it; a peer that fails any step gets
nothing and writes nothing.  A listener takes one connection per peer site (a design-B remote of
several homes' groups); besides the acknowledgements, it may tell a connector's site what
changed there without a message of the connector's (a REPORT: a remote dropped a delta).

Data frames carry a sequence number of the connector's session and the mirror's epoch.  The
listener applies them in order, each at most once: a frame at or below the last applied is a
resend and is only acknowledged again; a gap, a stale epoch, a bad checksum or garbage closes the
connection with one log line, and the daemon keeps serving.  Acknowledgements are cumulative and
are sent once the site applied the message (its writes durable).  After a reconnect the listener
states the last sequence it applied and the connector resends from there; when the listener is
a new incarnation (it restarted), or does not take the connection back at the first attempt, the
frames in flight are reported undelivered and a new session begins — what the site applied is in
its journal, and what is sent again is safe to apply again (design A: a mirror write rewrites
the same grains, a commit is keyed by its cycle; design B: a complete mark the remote holds is
taken again, and a delta extent it holds is not sent again — its HELLO says which).  Heartbeats
both ways; no frame within the timeout is a dead link.  A clean stop sends CLOSE.

The engine is synchronous and runs in one thread of its own; `PeerLink.send` is its port
(impl/link.py) and blocks that thread until the message is applied, refused or undeliverable.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pitmirror.impl.link import LinkUnavailable
from pitmirror.impl.wire import Vocabulary
from pitmirror.node.frames import (
    BANNER,
    FRAME_HEADER_BYTES,
    NONCE_BYTES,
    PROTOCOL_MAX,
    PROTOCOL_MIN,
    Banner,
    Frame,
    FrameError,
    FrameType,
    control,
    proof,
    proves,
    read_frame,
)

log = logging.getLogger("pitmirror")
log.addHandler(logging.NullHandler())  # a daemon configures its own; a library user, theirs


class Refused(Exception):
    """The state exchange found the peer is not this mirror's other site, or not in a state to
    mirror with: the reason in words."""


class MessageRefused(Exception):
    """The site refused a message it received (nothing written): the sender is told."""


@dataclass(frozen=True)
class Identity:
    """What a site says of itself in the state exchange."""

    mirror: str
    design: str
    site: str
    peers: tuple[str, ...]
    """the sites it takes a connection from or connects to (design B: a remote of several
    homes' groups takes each one's)"""
    epoch: int
    geometry: dict[str, int]
    letter: str
    """the design's one-letter code on the wire"""

    def hello(self, **extra: Any) -> dict[str, Any]:
        return {"mirror": self.mirror, "design": self.design, "site": self.site,
                "epoch": self.epoch, "geometry": self.geometry, **extra}  # fmt: skip

    def mismatch(self, peer: dict[str, Any], epoch: bool = True) -> str | None:
        """Why the peer's HELLO is not this mirror's other site, or None (`epoch`: in this
        site's epoch too)."""
        if peer.get("site") not in self.peers:
            return (f"site: the peer says {peer.get('site')!r}, this site expects "
                    f"{' or '.join(map(repr, self.peers))}")  # fmt: skip
        for key, mine, theirs in (
            ("mirror", self.mirror, peer.get("mirror")),
            ("design", self.design, peer.get("design")),
            ("epoch", self.epoch, peer.get("epoch")),
            ("geometry", self.geometry, peer.get("geometry")),
        ):
            if mine != theirs and (epoch or key != "epoch"):
                return f"{key}: the peer says {theirs!r}, this site expects {mine!r}"
        return None


@dataclass(frozen=True)
class Timeouts:
    handshake: float = 5.0
    heartbeat: float = 1.0
    """a heartbeat is sent this often when nothing else is"""
    dead: float = 5.0
    """no frame for this long: the link is down"""
    delivery: float = 15.0
    """how long a message waits for its acknowledgement (across reconnects) before the engine is
    told it was not delivered"""
    retry: float = 0.5
    retry_max: float = 5.0


@dataclass
class LinkStats:
    up: bool = False
    peer: str | None = None
    since: float = 0.0
    """when `up` last changed (seconds since the epoch)"""
    sent_bytes: int = 0
    received_bytes: int = 0
    frames_applied: int = 0
    duplicates: int = 0
    last_error: str | None = None
    changes: int = 0
    """bumped at every change of `up`: the status stream's cue"""

    def mark(self, up: bool, peer: str | None) -> None:
        self.up, self.peer, self.since = up, peer, time.time()
        self.changes += 1


class Connection:
    """One authenticated connection: its frames out (one writer at a time) and in, counted in
    the link's stats."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 timeouts: Timeouts, stats: LinkStats) -> None:  # fmt: skip
        self.reader, self.writer, self.timeouts, self.stats = reader, writer, timeouts, stats
        self.peer = _address(writer)
        self._lock = asyncio.Lock()

    async def send(self, frame: Frame) -> None:
        data = frame.encode()
        async with self._lock:
            self.writer.write(data)
            await self.writer.drain()
        self.stats.sent_bytes += len(data)

    async def receive(self) -> Frame:
        """The next frame other than a heartbeat; a dead link raises TimeoutError."""
        while True:
            async with asyncio.timeout(self.timeouts.dead):  # no task per frame, as wait_for makes
                frame = await read_frame(self.reader)
            self.stats.received_bytes += FRAME_HEADER_BYTES + len(frame.payload)
            if frame.type is not FrameType.HEARTBEAT:
                return frame

    async def heartbeats(self) -> None:
        while True:
            await asyncio.sleep(self.timeouts.heartbeat)
            await self.send(Frame(FrameType.HEARTBEAT))

    async def close(self, reason: str | None = None) -> None:
        with contextlib.suppress(Exception):
            if reason is not None:
                await asyncio.wait_for(self.send(control(FrameType.CLOSE, {"reason": reason})), 1.0)
            self.writer.close()
            await asyncio.wait_for(self.writer.wait_closed(), 1.0)


def _address(writer: asyncio.StreamWriter) -> str:
    peer = writer.get_extra_info("peername")
    return f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)


async def authenticate(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, secret: bytes,
                        letter: str, side: str) -> int:  # fmt: skip
    """Banners, then the proofs of the secret; the protocol version agreed.  Nothing about the
    site is said before the peer has proved it holds the secret."""
    mine = Banner(PROTOCOL_MIN, PROTOCOL_MAX, letter).encode()
    writer.write(mine)
    await writer.drain()
    theirs = await reader.readexactly(BANNER.size)
    version = Banner.decode(mine).agreed(Banner.decode(theirs))
    banners = (mine, theirs) if side == "connector" else (theirs, mine)
    nonce = secrets.token_bytes(NONCE_BYTES)
    writer.write(control(FrameType.PROOF, {"nonce": nonce}).encode())
    await writer.drain()
    peer_nonce = _field(await _expect(reader, FrameType.PROOF), "nonce", bytes)
    if len(peer_nonce) != NONCE_BYTES or peer_nonce == nonce:
        raise FrameError("the peer's nonce is not a fresh one")
    other = "listener" if side == "connector" else "connector"
    writer.write(control(FrameType.PROOF, {"proof": proof(secret, side, (nonce, peer_nonce),
                                                                banners)}).encode())  # fmt: skip
    await writer.drain()
    given = _field(await _expect(reader, FrameType.PROOF), "proof", bytes)
    if not proves(secret, other, (peer_nonce, nonce), banners, given):
        raise Refused("the peer could not prove it holds this mirror's secret")
    return version


async def _expect(reader: asyncio.StreamReader, kind: FrameType) -> dict[str, Any]:
    frame = await read_frame(reader)
    if frame.type is FrameType.CLOSE:
        raise Refused(f"the peer refused: {_field(frame.control(), 'reason', str)}")
    if frame.type is not kind:
        raise FrameError(f"a {frame.type.name} frame where {kind.name} belongs")
    return frame.control()


def _field(fields: dict[str, Any], name: str, kind: type) -> Any:
    value = fields.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise FrameError(f"the field {name!r} is missing or not a {kind.__name__}")
    return value


def _session_end(err: BaseException) -> str:
    if isinstance(err, asyncio.IncompleteReadError):
        return "the peer closed the connection" + (" inside a frame" if err.partial else "")
    if isinstance(err, TimeoutError):
        return "no frame from the peer within the timeout"
    if isinstance(err, OSError):
        return f"the connection failed: {err.strerror or err}"
    return str(err)


# ---- the listener ----------------------------------------------------------------------------


Apply = Callable[[bytes], Awaitable[dict[str, Any] | None]]
"""hand one message to the site; returns once it is applied (durable), with what the site tells
the sender (carried by the acknowledgement), or MessageRefused when the site refused it"""
Judge = Callable[[dict[str, Any]], str | None]
"""the design's own check of the peer's HELLO: why not to mirror with it, or None"""


def no_roles(hello: dict[str, Any]) -> str | None:
    return None


@dataclass
class PeerServer:
    """The listening side: one connection per peer site applies frames; a newer authenticated
    one from the same site replaces it."""

    identity: Identity
    secret: bytes
    apply: Apply
    judge: Judge
    hello_extra: Callable[[], dict[str, Any]]
    timeouts: Timeouts = field(default_factory=Timeouts)
    meet: Judge = no_roles
    """the sites' role records meet (node/roles.py): why the roles refuse to mirror, or None;
    asked of a HELLO of this mirror's other site, before its epoch is compared"""
    incarnation: int = field(default_factory=lambda: secrets.randbits(63))
    sessions: dict[int, int] = field(default_factory=dict)
    """each connector session's last applied sequence number"""
    links: dict[str, LinkStats] = field(init=False)
    """each peer site's link"""
    _active: dict[str, Connection] = field(default_factory=dict)
    _server: asyncio.Server | None = None

    def __post_init__(self) -> None:
        self.links = {site: LinkStats() for site in self.identity.peers}

    @property
    def stats(self) -> LinkStats:
        """The link of a listener with one peer site."""
        (site,) = self.identity.peers
        return self.links[site]

    async def start(self, host: str, port: int) -> int:
        """Listen; the port bound (port 0 picks one)."""
        self._server = await asyncio.start_server(self._handle, host, port, reuse_address=True)
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        for connection in list(self._active.values()):
            await connection.close("the site is stopping")
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)

    async def report(self, site: str, fields: dict[str, Any]) -> None:
        """Tell a connected peer site what changed here without a message of its (a REPORT);
        nothing when it is not connected: its next HELLO says it."""
        connection = self._active.get(site)
        if connection is not None:
            with contextlib.suppress(OSError):
                await connection.send(control(FrameType.REPORT, fields, self.identity.epoch))

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handshake = LinkStats()  # the peer's own link once it said who it is
        connection = Connection(reader, writer, self.timeouts, handshake)
        try:
            async with asyncio.timeout(self.timeouts.handshake):
                await authenticate(reader, writer, self.secret, self.identity.letter, "listener")
                hello = await _expect(reader, FrameType.HELLO)
                reason = self.identity.mismatch(hello, epoch=False)
                if reason is not None:
                    await connection.close(reason)
                    raise Refused(reason)
                site = str(hello["site"])
                session = _field(hello, "session", int)
                base = _field(hello, "next_seq", int) - 1
                # the sites' roles meet first: the peer hears this site's HELLO even when it is
                # refused, so both learn the other's epoch
                reason = self.meet(hello) or self.identity.mismatch(hello) or self.judge(hello)
                applied = self.resume_point(session, base) if reason is None else base
                mine = self.identity.hello(incarnation=self.incarnation, applied=applied,
                                           **self.hello_extra())  # fmt: skip
                await connection.send(control(FrameType.HELLO, mine))
                if reason is not None:
                    await connection.close(reason)
                    raise Refused(reason)
        except (FrameError, Refused, asyncio.IncompleteReadError, TimeoutError, OSError) as err:
            log.warning("refused a connection from %s: %s", connection.peer, _session_end(err))
            await connection.close()
            return
        stats = connection.stats = self.links[site]
        stats.sent_bytes += handshake.sent_bytes
        stats.received_bytes += handshake.received_bytes
        if (replaced := self._active.get(site)) is not None:
            log.info("a new connection from %s replaces the one from %s", connection.peer,
                     replaced.peer)  # fmt: skip
            await replaced.close("replaced by a newer connection")
        self._active[site] = connection
        stats.mark(True, connection.peer)
        log.info("link up: %s site at %s (session %x, resuming after frame %d)", site,
                 connection.peer, session, applied)  # fmt: skip
        beats = asyncio.create_task(connection.heartbeats())
        try:
            await self._serve(connection, site, session)
        except (FrameError, asyncio.IncompleteReadError, TimeoutError, OSError) as err:
            stats.last_error = _session_end(err)
            log.warning("closed the link from %s: %s", connection.peer, stats.last_error)
        finally:
            beats.cancel()
            await connection.close()
            if self._active.get(site) is connection:
                del self._active[site]
                stats.mark(False, None)

    async def _serve(self, connection: Connection, site: str, session: int) -> None:
        while True:
            frame = await connection.receive()
            if frame.type is FrameType.CLOSE:
                log.info("the %s site closed the link: %s", site,
                         frame.control().get("reason", "no reason given"))  # fmt: skip
                return
            if frame.type is not FrameType.DATA:
                raise FrameError(f"a {frame.type.name} frame from the connector")
            if frame.epoch != self.identity.epoch:
                raise FrameError(f"a frame of epoch {frame.epoch}; the mirror is at epoch "
                                 f"{self.identity.epoch} (a stale peer is fenced off)")  # fmt: skip
            await self.on_data(connection, session, frame)

    def resume_point(self, session: int, base: int) -> int:
        """The last frame of the connector's session applied here (a session this listener does
        not know starts after `base`, the connector's last frame before its next)."""
        return self.sessions.setdefault(session, base)

    async def on_data(self, connection: Connection, session: int, frame: Frame) -> None:
        """A data frame: applied at most once, in order, then acknowledged."""
        applied = self.sessions[session]
        if frame.seq <= applied:
            connection.stats.duplicates += 1
            await connection.send(Frame(FrameType.ACK, applied, self.identity.epoch))
            return
        if frame.seq != applied + 1:
            raise FrameError(f"frame {frame.seq} follows frame {applied}: frames are missing")
        try:
            reply = await self.apply(frame.payload)
        except MessageRefused as refused:
            self.sessions[session] = frame.seq
            await connection.send(control(FrameType.REFUSED, {"reason": str(refused)},
                                          self.identity.epoch, frame.seq))  # fmt: skip
            return
        self.sessions[session] = frame.seq
        connection.stats.frames_applied += 1
        await self.acknowledge(connection, frame.seq, reply)

    async def acknowledge(self, connection: Connection, seq: int,
                          reply: dict[str, Any] | None = None) -> None:  # fmt: skip
        ack = Frame(FrameType.ACK, seq, self.identity.epoch)
        if reply is not None:
            ack = control(FrameType.ACK, reply, self.identity.epoch, seq)
        await connection.send(ack)


# ---- the connector ---------------------------------------------------------------------------


@dataclass
class _Pending:
    payload: bytes
    done: asyncio.Future[None]


@dataclass
class PeerLink:
    """The connecting side, and the engine's `Link`: `send` blocks the engine's thread until the
    peer applied the message."""

    identity: Identity
    secret: bytes
    vocabulary: Vocabulary
    address: tuple[str, int]
    judge: Judge
    hello_extra: Callable[[], dict[str, Any]]
    timeouts: Timeouts = field(default_factory=Timeouts)
    meet: Judge = no_roles
    """as the listener's"""
    on_reply: Callable[[dict[str, Any]], None] = lambda reply: None
    """told what the peer's site said with an acknowledgement or a report"""
    session: int = field(default_factory=lambda: secrets.randbits(63))
    stats: LinkStats = field(default_factory=LinkStats)
    loop: asyncio.AbstractEventLoop | None = None
    peer_site: str = field(init=False)
    _next_seq: int = 1
    _pending: dict[int, _Pending] = field(default_factory=dict)
    _connection: Connection | None = None
    _incarnation: int | None = None
    _stopping: bool = False

    def __post_init__(self) -> None:
        (self.peer_site,) = self.identity.peers
        with contextlib.suppress(RuntimeError):  # made outside a loop: `run` sets it
            self.loop = asyncio.get_running_loop()

    # ---- the engine's port (impl/link.py Link), called from the engine's thread ---------------

    @property
    def up(self) -> bool:
        return self._connection is not None

    @property
    def reaches(self) -> bool:
        return self.up  # a peer that is down takes no connection

    def send(self, message: object) -> None:
        if self._stopping:  # the loop may be waiting for this very engine call to end
            raise LinkUnavailable("the site is stopping")
        payload = self.vocabulary.encode(message)
        assert self.loop is not None, "the link is not running"
        future = asyncio.run_coroutine_threadsafe(self.deliver(payload), self.loop)
        future.result()

    # ---- the loop's side ----------------------------------------------------------------------

    async def deliver(self, payload: bytes) -> None:
        connection = self._connection
        if self._stopping:
            raise LinkUnavailable("the site is stopping")
        if connection is None:
            raise LinkUnavailable(f"the link to the {self.peer_site} site is down")
        seq, self._next_seq = self._next_seq, self._next_seq + 1
        pending = self._pending[seq] = _Pending(payload, asyncio.get_running_loop().create_future())
        with contextlib.suppress(OSError):  # a broken connection resends after the reconnect
            await connection.send(Frame(FrameType.DATA, seq, self.identity.epoch, payload))
        try:
            async with asyncio.timeout(self.timeouts.delivery):
                await asyncio.shield(pending.done)
        except TimeoutError:
            raise LinkUnavailable(f"frame {seq} was not acknowledged within "
                                  f"{self.timeouts.delivery:g} s") from None  # fmt: skip

    async def run(self) -> None:
        """Connect, and reconnect after every loss, until `stop`."""
        self.loop = asyncio.get_running_loop()
        delay = self.timeouts.retry
        while not self._stopping:
            try:
                await self._session()  # ends only by an error: the connection's end
            except (FrameError, Refused, asyncio.IncompleteReadError, TimeoutError,
                    OSError) as err:  # fmt: skip
                reason = _session_end(err)
            except Exception as err:  # a bug of this code: said, and the link keeps trying
                log.exception("link to %s:%d: unexpected error", *self.address)
                reason = f"unexpected error: {err!r}"
            if self._connection is not None:
                self._connection = None
                self.stats.mark(False, None)
                delay = self.timeouts.retry
            elif self._pending:
                # the peer did not take the connection back: whatever was in flight is
                # reported now rather than after the delivery timeout
                self._abandon(f"the {self.peer_site} site did not answer a reconnect "
                              f"({reason})")  # fmt: skip
            if self._stopping:
                break
            if reason != self.stats.last_error:  # one line per new reason, not per retry
                log.warning("link to %s:%d: %s", *self.address, reason)
            self.stats.last_error = reason
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.timeouts.retry_max)

    async def handshake_again(self) -> None:
        """Drop the connection (the link connects again at once): the next HELLO says what
        changed here (a role)."""
        if self._connection is not None:
            await self._connection.close("a new handshake")

    async def stop(self) -> None:
        self._stopping = True
        self._settle_all(LinkUnavailable("the site is stopping"))  # the engine's call ends now
        if self._connection is not None:
            await self._connection.close("the site is stopping")

    async def _session(self) -> None:
        host, port = self.address
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port),
                                                self.timeouts.handshake)  # fmt: skip
        connection = Connection(reader, writer, self.timeouts, self.stats)
        try:
            async with asyncio.timeout(self.timeouts.handshake):
                await authenticate(reader, writer, self.secret, self.identity.letter,
                                    "connector")  # fmt: skip
                mine = self.identity.hello(session=self.session, next_seq=self._next_seq,
                                           **self.hello_extra())  # fmt: skip
                await connection.send(control(FrameType.HELLO, mine))
                hello = await _expect(reader, FrameType.HELLO)
                reason = (self.identity.mismatch(hello, epoch=False) or self.meet(hello)
                          or self.identity.mismatch(hello) or self.judge(hello))  # fmt: skip
                if reason is not None:
                    await connection.close(reason)
                    raise Refused(reason)
            self._resume(_field(hello, "incarnation", int), _field(hello, "applied", int))
            for seq, pending in sorted(self._pending.items()):
                await connection.send(Frame(FrameType.DATA, seq, self.identity.epoch,
                                            pending.payload))  # fmt: skip
            self._connection = connection
            self.stats.last_error = None
            self.stats.mark(True, connection.peer)
            log.info("link up: %s site at %s", self.peer_site, connection.peer)
            beats = asyncio.create_task(connection.heartbeats())
            try:
                await self._acknowledgements(connection)
            finally:
                beats.cancel()
        finally:
            await connection.close()

    def _resume(self, incarnation: int, applied: int) -> None:
        """After a reconnect: what the listener applied is done; the rest is resent — unless
        the listener restarted, when whatever was in flight is reported undelivered."""
        if self._incarnation is not None and incarnation != self._incarnation:
            self._settle_all(LinkUnavailable(f"the {self.peer_site} site restarted"))
        self._incarnation = incarnation
        self._acknowledge(applied)

    def _abandon(self, reason: str) -> None:
        """Report every frame in flight undelivered, and never send them: a new session, so the
        listener does not wait for them (any it applied, it applied once; the engine's messages
        are idempotent)."""
        self._settle_all(LinkUnavailable(reason))
        self.session = secrets.randbits(63)

    async def _acknowledgements(self, connection: Connection) -> None:
        while True:
            frame = await connection.receive()
            if frame.type is FrameType.ACK:
                if frame.payload:
                    self.on_reply(frame.control())
                self._acknowledge(frame.seq)
            elif frame.type is FrameType.REPORT:
                self.on_reply(frame.control())
            elif frame.type is FrameType.REFUSED:
                reason = _field(frame.control(), "reason", str)
                self._settle(frame.seq, LinkUnavailable(f"the peer refused it: {reason}"))
            elif frame.type is FrameType.CLOSE:
                raise Refused(f"the peer closed the link: {frame.control().get('reason')}")
            else:
                raise FrameError(f"a {frame.type.name} frame from the listener")

    def _acknowledge(self, upto: int) -> None:
        for seq in [s for s in self._pending if s <= upto]:
            self._settle(seq, None)
        self.stats.frames_applied = max(self.stats.frames_applied, upto)

    def _settle(self, seq: int, error: Exception | None) -> None:
        pending = self._pending.pop(seq, None)
        if pending is None or pending.done.done():
            return
        if error is None:
            pending.done.set_result(None)
        else:
            pending.done.set_exception(error)

    def _settle_all(self, error: Exception) -> None:
        for seq in list(self._pending):
            self._settle(seq, error)


def read_secret(path: os.PathLike[str] | str) -> bytes:
    """The mirror's shared secret: the file's bytes without surrounding white space; at least 16
    of them."""
    with open(path, "rb") as f:
        secret = f.read().strip()
    if len(secret) < 16:
        raise ValueError(f"{path}: the secret is {len(secret)} bytes; at least 16 are needed")
    return secret
