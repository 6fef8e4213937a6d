"""`pitmirror serve`: one site of a mirror as a daemon — its engine, its link, its status.

The site is the product's own object (node/config.py builds it exactly as `inspect` does), run
on one engine thread: every engine call — a tick of the runner's half, a message from the peer,
a status report — goes through that thread, one at a time, so the engine stays the synchronous,
steppable thing the harness checks.  The event loop around it carries the link
(node/transport.py), the control socket (node/control.py) and the metrics.

The state folder holds the site's journal, `node.json` (the mirror's name, the epoch, when the
mirror was created) and the lock that refuses a second daemon on the same folder.  A restart,
after a clean stop or a SIGKILL at any instant, recovers the site from its journal and resumes.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import fcntl
import functools
import json
import logging
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pitmirror.impl.journal import replace_durably
from pitmirror.impl.link import LinkUnavailable
from pitmirror.impl.roles import RolesError
from pitmirror.impl.site import EngineRefused
from pitmirror.impl.wire import MAX_PAYLOAD_BYTES, MessageError
from pitmirror.node import turns
from pitmirror.node.block_door import BlockDoor, FrontendError
from pitmirror.node.config import SiteConfig, built_site
from pitmirror.node.control import ControlServer, Handler
from pitmirror.node.designs import DESIGNS
from pitmirror.node.failover import Failover, FailoverError
from pitmirror.node.frames import FrameError
from pitmirror.node.roles import PairRoles
from pitmirror.node.served import Cycle, Served
from pitmirror.node.site import ConfigError, RunningSite
from pitmirror.node.transport import Identity, LinkStats, PeerLink, PeerServer, Timeouts

if TYPE_CHECKING:  # imported where used: a site without them does not load their libraries
    from pitmirror.node.frontend import Frontend
    from pitmirror.node.metrics import MetricsServer

log = logging.getLogger("pitmirror")
SCHEMA_VERSION = 3
HOST_SHARE_MAX_SECONDS = 0.5
"""the longest the background waits for the host after one tick"""


UNIX_PATH_MAX = 107
"""the longest path a unix socket may have (Linux's sun_path, less its terminating zero)"""


class DaemonError(Exception):
    """The daemon cannot start or had to stop: the reason in words."""


@dataclass(frozen=True)
class NodeState:
    """node.json: what the site's folder says of the mirror beyond the journal."""

    mirror: str
    epoch: int
    created: float

    @staticmethod
    def load_or_create(config: SiteConfig, mirror: str) -> NodeState:
        path = config.state_dir / "node.json"
        if path.exists():
            try:
                raw = json.loads(path.read_text())
                state = NodeState(str(raw["mirror"]), int(raw["epoch"]), float(raw["created"]))
            except (ValueError, KeyError, TypeError) as err:
                raise DaemonError(f"{path} is damaged: {err}") from None
            if state.mirror != mirror:
                raise DaemonError(f"{config.state_dir} holds mirror {state.mirror!r}; the "
                                  f"config says {mirror!r}")  # fmt: skip
            return state
        state = NodeState(mirror, 1, time.time())
        replace_durably(path, json.dumps(dataclasses.asdict(state)).encode())
        return state


@contextlib.contextmanager
def state_lock(state_dir: Path, instead: str = "") -> Iterator[None]:
    """One daemon (or inspect) per state folder: a second one is refused, naming the first."""
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / "daemon.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            raise DaemonError(f"another pitmirror daemon (pid {holder}) serves {state_dir}"
                              + (f": {instead}" if instead else "")) from None  # fmt: skip
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # the lock goes with the descriptor, also when the process is killed


class DeferredLink:
    """The site's link port, filled once the daemon has made the transport (the transport needs
    the site's geometry, which the site's volumes give)."""

    def __init__(self) -> None:
        self.target: PeerLink | None = None

    @property
    def up(self) -> bool:
        return self.target is not None and self.target.up

    @property
    def reaches(self) -> bool:
        return self.target is not None and self.target.reaches

    def send(self, message: object) -> None:
        if self.target is None:
            raise LinkUnavailable("the link is not running yet")
        self.target.send(message)


class Daemon(Failover):
    """One site served.  A subclass may step the site instead of running its work in the
    background (`background`), see the site when it is built (`prepare`), answer more control
    requests (`handlers`) and listen with another server class: the harness's two-process
    lockstep does, with the daemon's own code otherwise."""

    background: bool = True
    server_class: type[PeerServer] = PeerServer
    roles: PairRoles
    """the site's role record of each pair it is a site of, once `run` read them"""

    def prepare(self, running: RunningSite, served: Served) -> None:
        """The site is built and recovered; nothing has run yet."""

    def handlers(self, served: Served) -> dict[str, Handler]:
        async def pause(request: dict[str, Any]) -> dict[str, Any]:
            self.paused = True
            await self.on_engine(self._publish, served)  # after the work in progress: held now
            return {"ok": True}

        async def resume(request: dict[str, Any]) -> dict[str, Any]:
            self.paused = False
            return {"ok": True}

        async def demote(request: dict[str, Any]) -> dict[str, Any]:
            """The primary takes no more host writes; the mirror drains its last point (after
            the write in progress, on the engine's thread)."""
            candidates = self.roles.writable_pairs()
            if not candidates and len(self.roles.books) == 1:
                candidates = list(self.roles.books)  # its one pair: says it is not primary
            pair, why = self.pair_asked(request, candidates)
            if pair is None:
                return {"error": why or "this site is primary of nothing: nothing to demote"}
            book = self.roles.books[pair]
            if not book.writable:
                return {"error": f"this site is {book.record.role}, not primary: nothing to "
                                 "demote"}  # fmt: skip
            await self.on_engine(self.run_turn, [("record", book.demote)])
            await self.on_engine(self._publish, served)
            return {"ok": True, "roles": self.roles.status()}

        return {"write": lambda request: self._host_write(served, request), "pause": pause,
                "resume": resume, "demote": demote,
                "promote": lambda request: self._promote(served, request),
                "resync": lambda request: self._resync(served, request),
                "reverse": lambda request: self._reverse(served, request)}  # fmt: skip

    def __init__(self, config: SiteConfig, secret: bytes) -> None:
        if config.mirror is None:
            raise ConfigError(f"{config.where}: 'mirror' is missing (serve needs the mirror's "
                              "name, the same at both sites)")  # fmt: skip
        self.design = DESIGNS[config.design]
        self.started = time.time()
        """when this daemon started (a turned pair's daemon starts again in the same process)"""
        self.base_config = config
        """the config as written; `config` is the site this host acts as (reversed by a
        resync)"""
        try:
            config = Failover.acting(self.design, config)
        except FailoverError as err:
            raise DaemonError(str(err)) from None
        self.config, self.secret = config, secret
        links = self.design.links(config.settings)
        self.listens_for = links.listens_for
        self.listen_address: tuple[str, int] | None = None
        if links.listens_for:
            self.listen_address = config.address("listen")
            if self.listen_address is None:
                raise ConfigError(f"{config.where}: link.listen is missing (the {config.site} "
                                  f"site listens for the {' and '.join(links.listens_for)} "
                                  f"site{'s' * (len(links.listens_for) > 1)})")  # fmt: skip
        self.peer_addresses: dict[str, tuple[str, int]] = {}
        for peer in links.connects_to:
            address = config.peer_address(peer, only=len(links.connects_to) == 1)
            if address is None:
                key = "peer" if len(links.connects_to) == 1 else f"peers.{peer}"
                raise ConfigError(f"{config.where}: link.{key} is missing (the {config.site} "
                                  f"site connects to the {peer} site)")  # fmt: skip
            self.peer_addresses[peer] = address
        self.metrics_address = config.address("metrics")
        self.cycle = Cycle(config.number("cycle", "idle_seconds", Cycle.idle_seconds),
                           int(config.number("cycle", "extents_per_tick", Cycle.extents_per_tick)),
                           int(config.number("cycle", "max_extent_grains",
                                             Cycle.max_extent_grains)),
                           config.number("cycle", "interval_seconds",
                                         Cycle.interval_seconds))  # fmt: skip
        moved = self.cycle.max_extent_grains * config.grain_size
        if self.cycle.max_extent_grains < 1 or moved > MAX_PAYLOAD_BYTES:
            raise ConfigError(f"{config.where}: cycle.max_extent_grains of "
                              f"{self.cycle.max_extent_grains} grains: one action's message "
                              f"holds 1 to {MAX_PAYLOAD_BYTES // config.grain_size} grains of "
                              f"{config.grain_size} bytes")  # fmt: skip
        heartbeat = config.number("link", "heartbeat_seconds", Timeouts.heartbeat)
        dead = config.number("link", "dead_seconds", Timeouts.dead)
        self.timeouts = Timeouts(heartbeat=heartbeat, dead=dead, delivery=3 * dead)
        self.socket = config.control_socket
        if len(os.fsencode(self.socket)) > UNIX_PATH_MAX:
            raise ConfigError(f"{config.where}: the status socket {self.socket} is a longer path "
                              f"than a unix socket may have ({UNIX_PATH_MAX} bytes): set "
                              "[status] socket to a shorter one")  # fmt: skip
        self.engine = ThreadPoolExecutor(1, thread_name_prefix="engine")
        self.report: dict[str, Any] = {}
        self.hello: dict[str, Any] = {}
        self.links: dict[str, LinkStats] = {}
        """each peer site's link, the ones this site connects to first"""
        self.connectors: dict[str, PeerLink] = {}
        self.server: PeerServer | None = None
        self._reports: dict[str, dict[str, Any]] = {}
        self.listening: tuple[str, int] | None = None
        self._rate = (0.0, 0, 0.0)  # (when, bytes, bytes per second)
        self._refusals: set[str] = set()
        self._host_devices = contextlib.AsyncExitStack()
        self._device_name = ""
        self.frontend: Frontend | None = None
        """the host's block devices (frontend.mount), while they run"""
        Failover.__init__(self)
        self.paused = False
        """the site's background work (copies, commits, drains) held; messages and host writes
        still served"""

    # ---- the engine thread ---------------------------------------------------------------------

    async def on_engine(self, call: Any, *args: Any) -> Any:
        """`call(*args)` on the engine thread, after whatever it is doing."""
        return await asyncio.get_running_loop().run_in_executor(self.engine, call, *args)

    def _publish(self, served: Served) -> None:
        self.hello = served.hello()
        self.report = served.report()
        self._reports |= served.reports()

    async def _report(self) -> None:
        """What the site had to tell its connected peers, each in a REPORT."""
        reports, self._reports = self._reports, {}
        if self.server is not None:
            for site, fields in reports.items():
                await self.server.report(site, fields)

    @property
    def links_up(self) -> bool:
        return bool(self.links) and all(stats.up for stats in self.links.values())

    @property
    def link_changes(self) -> int:
        return sum(stats.changes for stats in self.links.values())

    def _tick(self, served: Served) -> bool:
        try:
            busy = served.tick()
        except EngineRefused as refused:  # the link went down between a check and a send
            if str(refused) not in self._refusals:
                log.info("%s", refused)
                self._refusals.add(str(refused))
            busy = False
        turns.note_points(served, self.roles)
        self._publish(served)
        return busy

    def _receive(self, served: Served, payload: bytes) -> dict[str, Any] | None:
        try:
            return served.receive(payload)
        except MessageError as err:  # the frame's checksum held: a peer that sends garbage
            raise FrameError(f"a message that is no message: {err}") from None
        finally:
            turns.note_points(served, self.roles)
            self._publish(served)

    # ---- the loop ------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        config = self.config
        assert config.mirror is not None
        with state_lock(config.state_dir):
            node = NodeState.load_or_create(config, config.mirror)
            self.node = node
            try:
                self.roles = PairRoles(
                    config.state_dir, self.design.pairs(self.base_config.settings)
                )
            except RolesError as err:
                raise DaemonError(str(err)) from None
            links = {peer: DeferredLink() for peer in self.peer_addresses}
            with built_site(config, links, time.time) as running:
                served: Served = await self.on_engine(self.design.serve, running, time.time,
                                                    self.cycle)  # fmt: skip
                await self.on_engine(self._publish, served)
                served.host_refusal = self._host_refusal
                served.apart = self.roles.apart_pair
                self._served = served
                self._grain_count = int(running.geometry["grains"])
                self.prepare(running, served)
                identity = Identity(config.mirror, self.design.name, config.site, (),
                                    self.roles.epoch, dict(running.geometry),
                                    self.design.vocabulary.design)  # fmt: skip
                await self._serve(served, identity, links, stop)
        log.info("stopped")

    async def _serve(self, served: Served, identity: Identity, links: dict[str, DeferredLink],
                     stop: asyncio.Event) -> None:  # fmt: skip
        tasks: list[asyncio.Task[None]] = []
        control = ControlServer(self.socket, self.document, self.handlers(served))
        metrics: MetricsServer | None = None
        host_devices = contextlib.AsyncExitStack()
        try:
            for site, address in self.peer_addresses.items():
                peer = PeerLink(dataclasses.replace(identity, peers=(site,)), self.secret,
                                self.design.vocabulary, address, judge=served.judge,
                                hello_extra=self._hello, timeouts=self.timeouts,
                                meet=self.meet_as(listener=False),
                                on_reply=functools.partial(self._replied, served,
                                                           site))  # fmt: skip
                self.connectors[site] = links[site].target = peer
                self.links[site] = peer.stats
                tasks.append(asyncio.create_task(peer.run()))
            if self.listen_address is not None:

                async def apply(payload: bytes) -> dict[str, Any] | None:
                    reply: dict[str, Any] | None = await self.on_engine(self._receive, served,
                                                                      payload)  # fmt: skip
                    await self._report()
                    await control.changed()
                    return reply

                server = self.server = self.server_class(
                    dataclasses.replace(identity, peers=self.listens_for),
                    self.secret,
                    apply,
                    judge=served.judge,
                    hello_extra=self._hello,
                    timeouts=self.timeouts,
                    meet=self.meet_as(listener=True),
                )
                self.links |= server.links
                port = await server.start(*self.listen_address)
                self.listening = (self.listen_address[0], port)
            self._host_devices = host_devices
            self._device_name = f"pitmirror-{identity.mirror}-{identity.site}"
            for pair in self.roles.writable_pairs():
                if not served.serves_host(pair):
                    # a promoted copy, restarted: rolled (again, if a crash cut the promote
                    # after its role record), the host writes here again
                    dirty = self.roles.dirty_log(pair)
                    restart = functools.partial(turns.restarted_primary, pair=pair)
                    await self.on_engine(restart, served, dirty)
            await self.on_engine(turns.note_points, served, self.roles)
            mount = self.config.frontend_mount
            if mount is not None:
                if not served.host_volumes() and not self.roles.books:
                    raise DaemonError(f"{self.config.where}: frontend.mount is for a site the "
                                      f"host writes; the {identity.site} site holds copies "
                                      "only")  # fmt: skip
                if served.host_volumes():
                    await self._start_frontend(served)
                else:
                    log.info("the host's devices start when this site is promoted")
            await control.start()  # status answers once the host has its devices
            if self.metrics_address is not None:
                from pitmirror.node.metrics import MetricsServer  # prometheus-client when asked

                metrics = MetricsServer(self.metrics_address, self.document)
            ways = [f"connecting to the {site} site at {host}:{port}"
                    for site, (host, port) in self.peer_addresses.items()]  # fmt: skip
            if self.listening is not None:
                ways.append("listening on {}:{}".format(*self.listening))
            epochs = ", ".join(f"{p + ' ' if p else ''}{w['state']} in epoch {w['epoch']}"
                               for p, w in self.roles.status().items())  # fmt: skip
            log.info("serving the %s site of mirror %s (design %s; %s): %s; status on %s",
                     identity.site, identity.mirror, identity.design, epochs or "no pair",
                     ", ".join(ways), self.socket)  # fmt: skip
            if self.background:
                tasks.append(asyncio.create_task(self._work(served, control)))
            tasks.append(asyncio.create_task(self._sample(control)))
            done = asyncio.create_task(stop.wait())
            reversed_ = asyncio.create_task(self._reversed.wait())
            await asyncio.wait([done, reversed_, *tasks], return_when=asyncio.FIRST_COMPLETED)
            if self._reversed.is_set():
                pair = self._turn_pair.replace("group", "group ") or "the pair"
                log.info("%s turned: this host %s it from now on", pair,
                         "sends" if self._turn_sends() else "receives")  # fmt: skip
            for task in tasks:
                if task.done() and task.exception() is not None:
                    raise DaemonError(f"the engine stopped: {task.exception()}")
            log.info("stopping")
        finally:
            try:
                # the host's devices first: their requests need the engine; then what the
                # host wrote is made durable, as a disk does at a clean power-off
                await host_devices.aclose()
                await self.on_engine(served.host_flush)
            except (FrontendError, EngineRefused) as err:
                log.warning("%s", err)
            for peer in self.connectors.values():
                await peer.stop()
            if self.server is not None:
                await self.server.stop()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await control.stop()
            if metrics is not None:
                metrics.shutdown()
            # the engine call in progress ends whole; off the loop, which a send in that call
            # may still need
            await asyncio.to_thread(self.engine.shutdown, True)

    def frontend_running(self) -> bool:
        return self.frontend is not None

    async def _start_frontend(self, served: Served) -> None:
        mount = self.config.frontend_mount
        if mount is None or self.frontend is not None:
            return
        from pitmirror.node.frontend import Frontend  # pyfuse3 and trio: a site with a frontend

        self.frontend = await self._host_devices.enter_async_context(
            Frontend(BlockDoor(served), self.on_engine, mount, self._device_name)
        )

    def _hello(self) -> dict[str, Any]:
        return {**self.hello, **self.roles.hello(), **self.turn_hello()}

    def _host_refusal(self, grain: int) -> str | None:
        """The role of the pair the grain is in (design A's one pair, design B's group)."""
        if self._reversing:
            return "the pair is being reversed: start the daemon again to write here"
        return self.roles.host_refusal(self._served.pair_of(grain))

    async def _host_write(self, served: Served, request: dict[str, Any]) -> dict[str, Any]:
        grain, data = request.get("grain"), request.get("data")
        if not isinstance(grain, int) or not isinstance(data, str):
            return {"error": "a write names a grain and base64 data"}
        try:
            cycle = await self.on_engine(served.host_write, grain, base64.b64decode(data))
        except (EngineRefused, ValueError) as err:
            return {"error": str(err)}
        finally:
            await self.on_engine(self._publish, served)
        return {"ok": True, "cycle": cycle}

    async def _work(self, served: Served, control: ControlServer) -> None:
        # a site that sends waits a moment for its links: a copy made before one is up is made
        # again (design A: it goes to I1 only and is resent)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeouts.handshake
        while not all(peer.up for peer in self.connectors.values()) and loop.time() < deadline:
            await asyncio.sleep(0.01)
        changes = -1
        while True:
            if self.paused or self.roles.apart():
                # an outdated site, or one in a split brain, takes no part in mirroring
                await asyncio.sleep(self.cycle.idle_seconds)
                continue
            requests, started = self._host_requests(), loop.time()
            busy = await self.on_engine(self._tick, served)
            await self._report()
            await control.changed()
            if self._host_requests() != requests:
                # the host is using its devices: it gets the engine for at least as long as
                # the tick held it (a request waits behind at most one tick, and the
                # background keeps half the engine: the mirror falls behind, never stops)
                await asyncio.sleep(min(loop.time() - started, HOST_SHARE_MAX_SECONDS))
            if busy or self.link_changes != changes:
                changes = self.link_changes
                await asyncio.sleep(0)
                continue
            await asyncio.sleep(self.cycle.idle_seconds)

    def _host_requests(self) -> int:
        """Requests the host's devices made so far (0 without a frontend)."""
        if self.frontend is None:
            return 0
        counts = self.frontend.door.counts
        return counts.reads + counts.writes + counts.flushes

    async def _sample(self, control: ControlServer) -> None:
        """Link bytes per second, over the last second; a link change is a status change."""
        changes = self.link_changes
        while True:
            await asyncio.sleep(1.0)
            now = time.monotonic()
            total = sum(s.sent_bytes + s.received_bytes for s in self.links.values())
            when, before, _ = self._rate
            rate = (total - before) / (now - when) if when else 0.0
            self._rate = (now, total, rate)
            if self.link_changes != changes:
                changes = self.link_changes
                await control.changed()

    # ---- status --------------------------------------------------------------------------------

    def document(self) -> dict[str, Any]:
        """The status document (schema 2), from what the engine last reported and the links."""
        report, now = self.report, time.time()
        committed = self._point(report.get("committed_point"))
        source_time = committed.get("source_time")
        peers = [self._peer(site, stats) for site, stats in self.links.items()]
        groups = report.get("groups")
        if groups is not None:
            for group in groups:
                group["committed"] = {site: self._point(point)
                                      for site, point in group["committed"].items()}  # fmt: skip
        return {
            "schema_version": SCHEMA_VERSION,
            "time": now,
            "mirror": self.config.mirror,
            "design": self.design.name,
            "site": self.config.site,
            "pid": os.getpid(),
            "started": self.started,
            "role": self._role(report),
            "paused": self.paused,
            "epoch": self._epoch(),
            "roles": self.roles.status(),
            "state_dir": str(self.config.state_dir),
            "volumes": {name: str(path) for name, path in self.config.volumes.items()},
            "peers": peers,
            "committed_point": committed,
            "rpo_seconds": None if source_time is None else max(0.0, now - source_time),
            "out_of_sync": report.get("out_of_sync"),
            "cycle": report.get("cycle"),
            "groups": groups,
            "frontend": None if self.frontend is None else self.frontend.status(),
            "link": {
                "up": self.links_up,
                "bytes_per_second": round(self._rate[2], 1),
                **{
                    key: sum(peer[key] for peer in peers)
                    for key in ("sent_bytes", "received_bytes", "frames_applied", "duplicates")
                },
            },  # fmt: skip
        }

    def _role(self, report: dict[str, Any]) -> Any:
        """Design A's pair's role (primary, secondary, outdated, split brain); design B says
        each group's."""
        pair = self.roles.status().get("")
        return report.get("role") if pair is None else pair["state"]

    def _replied(self, served: Served, site: str, words: dict[str, Any]) -> None:
        """What a listener told this connector: its design's acknowledgement, or (a secondary's
        orderly promote) a request that this primary hands the pair over."""
        asked = words.get("promote")
        if isinstance(asked, dict):
            self.hand_over(served, asked)
            return
        served.replied(site, words)

    def _epoch(self) -> int | None:
        """Design A's pair's epoch; None for design B, whose groups each have theirs (`roles`)."""
        book = self.roles.books.get("")
        return None if book is None else book.record.epoch

    def _point(self, point: dict[str, Any] | None) -> dict[str, Any]:
        """A committed point as status shows it: point 1 stands for the mirror's start."""
        point = dict(point or {})
        if point.get("number", 0) >= 1 and point.get("source_time") is None:
            point["source_time"] = self.node.created
        return point

    def _peer(self, site: str, stats: LinkStats) -> dict[str, Any]:
        connects = site in self.peer_addresses
        connection = "connected" if stats.up else "connecting" if connects else "waiting"
        address = self.peer_addresses[site] if connects else self.listening or ("?", 0)
        return {
            "site": site,
            "direction": "connects" if connects else "listens",
            "connection": connection,
            "address": stats.peer or "{}:{}".format(*address),
            "since": stats.since or None,
            "last_error": stats.last_error,
            "sent_bytes": stats.sent_bytes,
            "received_bytes": stats.received_bytes,
            "frames_applied": stats.frames_applied,
            "duplicates": stats.duplicates,
        }
