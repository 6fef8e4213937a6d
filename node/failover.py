"""Failover at a daemon: promote, resync and reverse, and the HELLO in which the pair turns
(model/roles_rules.py's commands, both designs; node/roles.py keeps the records).

A forced promote rolls the site's copy and serves the host there.  A resync or a reverse turns
the pair: one site asks in its HELLO (the grains it changed), the other turns first — its
journal replaced by the design's resync start, acting as the site that sends — and answers in
its own HELLO; the asking site then writes the receiving site's start and joins the epoch.
Both daemons stop once turned and start again (node/serve.py: the same process, executed
anew) as the site their role records say they act as.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pitmirror.impl.roles import OUTDATED, PRIMARY, SECONDARY, RolesError
from pitmirror.impl.site import EngineRefused
from pitmirror.node import turns
from pitmirror.node.config import SiteConfig
from pitmirror.node.roles import PairRoles
from pitmirror.node.served import Served
from pitmirror.node.site import NodeDesign
from pitmirror.node.transport import LinkStats, PeerLink, PeerServer

log = logging.getLogger("pitmirror")

RESYNC_WAIT_SECONDS = 60.0
RESYNC_POLL_SECONDS = 0.1


class FailoverError(Exception):
    """The site's role record cannot be read: the reason in words."""


def asked_grains(asked: dict[str, Any]) -> list[int] | None:
    """The grains a peer's resync or switch names, or None when they are not a list of grains."""
    grains = asked.get("grains")
    if not isinstance(grains, list) or not all(isinstance(g, int) for g in grains):
        return None
    return grains


class Failover:
    """The daemon's failover commands and the turn of the pair (a mixin of node/daemon.py's
    Daemon, whose attributes it names)."""

    config: SiteConfig
    design: NodeDesign
    roles: PairRoles
    engine: ThreadPoolExecutor
    links: dict[str, LinkStats]
    connectors: dict[str, PeerLink]
    server: PeerServer | None
    _served: Served
    _grain_count: int

    def __init__(self) -> None:
        self._resync_request: set[int] | None = None
        """the grains this site changed, asked of the peer in the next HELLO"""
        self._resync_done = asyncio.Event()
        self._request_kind = "resync"
        """what this site asks of its peer, or was asked: a resync, or a switch (reverse)"""
        self._reversing = False
        self._turn_pair = ""
        self._hand_over: asyncio.Task[None] | None = None
        """a `reverse` the peer asked for (its orderly promote), running"""
        """the pair a resync or switch turns (design A's "", a design-B group)"""
        self._reversed = asyncio.Event()
        """the pair turned: the daemon stops, and starts again as the turned site (node/serve.py)"""

    async def on_engine(self, call: Any, *args: Any) -> Any:
        raise NotImplementedError

    def _publish(self, served: Served) -> None:
        raise NotImplementedError

    async def _start_frontend(self, served: Served) -> None:
        raise NotImplementedError

    def frontend_running(self) -> bool:
        raise NotImplementedError

    @property
    def links_up(self) -> bool:
        raise NotImplementedError

    def run_turn(self, steps: list[turns.Step]) -> None:
        """A command's durable steps, in order, on the engine thread (the harness's stepped
        daemon counts them, to cut a command where a power loss may)."""
        turns.run(steps)

    def turn_hello(self) -> dict[str, Any]:
        """This site's part of its HELLO: what it asks, or that it turned."""
        if self._resync_request is not None:
            grains = sorted(self._resync_request)
            return {self._request_kind: {"pair": self._turn_pair, "grains": grains}}
        if self._reversing:
            return {self._request_kind: "accepted"}
        return {}

    async def _promote(self, served: Served, request: dict[str, Any]) -> dict[str, Any]:
        """`promote --force`: the peer unreachable, this secondary takes the next epoch of its
        own (persisted first), rolls its copy to the committed point, then becomes primary and
        the host writes here (model/roles_rules.py `promote`, record by record)."""
        held = [p for p in self.roles.books if served.why_not_promotable(p) is None]
        pair, why = self.pair_asked(request, held)
        if pair is None:
            return {"error": why or served.why_not_promotable("")}
        book = self.roles.books[pair]
        record = book.record
        if record.split:
            return {"error": "this site is in a split brain: discard one side first "
                             "(`pitmirror resync --discard-local` there)"}  # fmt: skip
        if record.role != SECONDARY:
            return {
                "error": f"this site is {record.role}, not a secondary"
                + (": resync it first" if record.role == OUTDATED else "")
            }
        if not request.get("force"):
            return await self._ask_hand_over(pair)
        if any(stats.up for stats in self.links.values()):
            return {"error": "the peer is reachable: a forced promote is for a peer that is "
                             "not (stop it or cut the link first)"}  # fmt: skip

        if (why := turns.why_not_promotable(served, book, pair)) is not None:
            return {"error": why}

        def promote() -> None:
            self.run_turn(turns.force_promote(served, book, pair=pair))
            served.serve_host(self.roles.dirty_log(pair), pair)

        try:
            await self.on_engine(promote)
        except EngineRefused as err:
            return {"error": str(err)}
        await self.on_engine(self._publish, served)
        started = self.frontend_running()
        await self._start_frontend(served)
        answer = {"ok": True, "pair": pair, "roles": self.roles.status()}
        if started:
            answer["note"] = ("the frontend was running already: restart the daemon to see "
                              "this group's volumes there")  # fmt: skip
        return answer

    async def _ask_hand_over(self, pair: str) -> dict[str, Any]:
        """`promote` without --force at a secondary, both sites linked: the orderly switch.  The
        primary is asked in a REPORT on its own connection to hand the pair over — it demotes
        itself, waits until the mirror holds every write and asks this site to take over, as
        `reverse` there does; the answer says it was asked (the CLI waits for the turn)."""
        peer = self.roles.peers.get(pair)
        server = self.server
        if peer is None or server is None or not self.links_up:
            return {"error": "the peer is unreachable: an orderly promote needs both sites "
                             "linked (promote --force is for a peer that is gone)"}  # fmt: skip
        if peer.role != PRIMARY or peer.epoch != self.roles.books[pair].record.epoch:
            return {"error": f"the peer is {peer.role} in epoch {peer.epoch}, not this site's "
                             "primary: nothing to hand over"}  # fmt: skip
        sites = [s for s, stats in server.links.items() if stats.up]
        if not sites:
            return {"error": "the primary is not connected to this site"}
        group = {} if not pair else {"group": int(pair.removeprefix("group"))}
        await server.report(sites[0], {"promote": {"pair": pair, **group}})
        return {"ok": True, "pair": pair, "asked": True, "epoch": peer.epoch,
                "roles": self.roles.status()}  # fmt: skip

    def hand_over(self, served: Served, asked: dict[str, Any]) -> None:
        """The secondary asked for the orderly switch: `reverse` here, in the background."""
        request = {k: v for k, v in asked.items() if k == "group"}
        log.info("the peer asks for the orderly switch: reversing %s",
                 asked.get("pair") or "the pair")  # fmt: skip

        async def reverse() -> None:
            answer = await self._reverse(served, request)
            if "error" in answer:
                log.warning("the orderly switch the peer asked for: %s", answer["error"])

        self._hand_over = asyncio.get_running_loop().create_task(reverse())

    def pair_asked(self, request: dict[str, Any], candidates: list[str]
                   ) -> tuple[str | None, str | None]:  # fmt: skip
        """The pair a command names (`--group N`, design B), or the one candidate; else None
        and why (None when there is no candidate at all)."""
        group = request.get("group")
        if group is not None:
            pair = f"group{group}"
            if pair not in self.roles.books:
                sites = ", ".join(sorted(p for p in self.roles.books if p)) or "design A's one"
                return None, f"this site is no site of group {group} (its pairs: {sites})"
            return pair, None
        if len(candidates) == 1:
            return candidates[0], None
        if not candidates:
            return None, None
        names = ", ".join(p.removeprefix("group") for p in candidates)
        return None, f"name the group: --group N (this site's: {names})"

    @staticmethod
    def acting(design: NodeDesign, config: SiteConfig) -> SiteConfig:
        """The config of the site this host acts as: turned once a resync turned a pair."""
        if design.act is None:
            return config
        try:
            site, settings, volumes = design.act(config.site, config.settings, config.volumes,
                                                 config.state_dir, config.grain_size)  # fmt: skip
        except (RolesError, OSError) as err:
            raise FailoverError(str(err)) from None
        return dataclasses.replace(config, site=site, volumes=volumes, settings=dict(settings))

    def meet_as(self, listener: bool) -> Callable[[dict[str, Any]], str | None]:
        """The HELLO check of this site's listener or connector (node/transport.py `meet`)."""
        return lambda hello: self._meet(hello, listener)

    def _meet(self, hello: dict[str, Any], listener: bool) -> str | None:
        """The roles meet (node/roles.py); a resync or switch asked of this site, or accepted by
        the peer, turns the pair here.  A listener that turns has said so in the HELLO it sends
        back, and stops; a connector has sent its HELLO already: it connects once more to say
        so, and stops once the peer's record shows it joined."""
        reason = self.roles.meet(hello)
        if self._reversing and not listener:
            peer = self.roles.peers.get(self._turn_pair)
            book = self.roles.books.get(self._turn_pair)
            if peer is not None and book is not None and peer.epoch == book.record.epoch \
                    and peer.role == SECONDARY and not peer.split:  # fmt: skip
                self._reversed.set()
            return "the pair is reversed: both daemons start again"
        for kind in ("resync", "switch"):
            asked = hello.get(kind)
            if isinstance(asked, dict):
                self._request_kind = kind
                turned = (self._accept_switch if kind == "switch" else self._accept_resync)(
                    hello, asked
                )
                if listener and self._reversing:
                    self._reversed.set()
                return turned
            if asked == "accepted" and self._resync_request is not None:
                return self._finish_resync(hello)
        return reason

    @property
    def turned(self) -> bool:
        """A resync or a reverse turned a pair here: the daemon stopped to start again."""
        return self._reversed.is_set()

    def _turn_sends(self) -> bool:
        """This host sends the turned pair from now on (its role record says so)."""
        book = self.roles.books.get(self._turn_pair)
        return book is not None and book.record.acting == "local"

    def _start(self, pair: str) -> turns.StartReversed:
        """The design's resync start of `pair` at this site."""
        start = self.design.start_reversed
        assert start is not None
        settings = self.config.settings
        return lambda state_dir, acting, grains, copy: start(settings, pair, state_dir, acting,
                                                             grains, copy)  # fmt: skip

    def _asked_pair(self, asked: dict[str, Any]) -> str | None:
        pair = asked.get("pair", "")
        return pair if isinstance(pair, str) and pair in self.roles.books else None

    def _accept_switch(self, hello: dict[str, Any], asked: dict[str, Any]) -> str:
        """The primary demoted itself and asks this secondary to take over (`reverse`, the
        orderly promote): this site takes the next epoch above both sites', rolls, starts as
        the local site (its first cycle copying what is not synchronized yet, nothing when
        it is) and takes the role (model: `Promote`); the peer joins when it hears so."""
        pair = self._asked_pair(asked)
        peer = None if pair is None else self.roles.peers.get(pair)
        if pair is None or peer is None or self.design.start_reversed is None:
            return "this site cannot take over"
        book = self.roles.books[pair]
        record = book.record
        if record.role != SECONDARY or record.split or self._served.sends(pair):
            return f"this site is {record.role}, not the mirror's secondary: it cannot take over"
        if peer.role != SECONDARY or peer.epoch != record.epoch or peer.split:
            return "the peer is not demoted in this site's epoch"
        grains = asked_grains(asked)
        if grains is None:
            return "the peer's switch names no grains"
        if self._reversing:
            return "the pair is reversed: the daemons start again"

        def turn() -> None:
            self._reversing, self._turn_pair = True, pair
            assert peer is not None
            self.run_turn(turns.take_over(self._served, self.roles, peer.known, self._start(pair),
                                      self.config.state_dir, self._grain_count, set(grains),
                                      pair=pair))  # fmt: skip
            log.info("switch: primary in epoch %d", book.record.epoch)

        self.engine.submit(turn).result()
        return "the pair is reversed: both daemons start again, this one as the primary"

    def _accept_resync(self, hello: dict[str, Any], asked: dict[str, Any]) -> str:
        """The peer discards its changes and asks for this primary's: this host's journal is
        replaced by the resync's start — acting as the local site, its first cycle copying the
        peer's grains and its own — then its record says so (model: `Resync`, the primary's
        record); the host's writes stop until the daemon starts again."""
        pair = self._asked_pair(asked)
        book = None if pair is None else self.roles.books[pair]
        peer = None if pair is None else self.roles.peers.get(pair)
        if pair is None or book is None or peer is None or self.design.start_reversed is None \
                or book.record.role == OUTDATED:  # fmt: skip
            return "a resync copies from a site that is not outdated: this one is"
        if not (peer.role == OUTDATED or peer.split):
            return "the peer is neither outdated nor in a split brain: nothing to discard"
        if (why := self._served.why_not_turnable(pair)) is not None:
            return why
        if self._served.draining(pair):
            return "this site still drains its last point: the resync waits until it has"
        grains = asked_grains(asked)
        if grains is None:
            return "the peer's resync names no grains"
        if self._reversing:
            return "the pair is reversed: the daemons start again"

        def turn() -> None:
            self._reversing, self._turn_pair = True, pair  # host writes stop: the copy set holds
            assert pair is not None
            self.run_turn(turns.resync_source(self._served, self.roles, set(grains),
                                          self._start(pair), self.config.state_dir,
                                          self._grain_count, pair=pair))  # fmt: skip
            log.info("resync: the %s site discards its changes", hello.get("site"))

        self.engine.submit(turn).result()
        return "the pair is reversed: both daemons start again, this one as the source"

    def _finish_resync(self, hello: dict[str, Any]) -> str:
        """The primary turned: this host's journal is the remote's start, then its record joins
        the primary's epoch as its secondary, acting as the remote site (model: `Resync`, the
        outdated site's last record)."""
        pair = self._turn_pair
        peer = self.roles.peers[pair]
        steps = turns.resync_target(self.roles, peer, self._start(pair), self.config.state_dir,
                                    self._grain_count, pair=pair,
                                    consistent=self._request_kind == "switch")  # fmt: skip
        self.engine.submit(self.run_turn, steps).result()
        self._resync_request = None
        self._resync_done.set()
        return "the pair is reversed: both daemons start again, this one as the target"

    async def _resync(self, served: Served, request: dict[str, Any]) -> dict[str, Any]:
        """`resync --discard-local` here (outdated, or in a split brain): the grains this site
        changed go to the primary in the next HELLO; it answers by turning the pair."""
        if self.design.start_reversed is None:
            return {"error": "this design's sites do not resync yet"}
        if not request.get("discard_local"):
            return {"error": "a resync discards this site's own changes: say --discard-local"}
        apart = [p for p, b in self.roles.books.items()
                 if b.record.role == OUTDATED or b.record.split]  # fmt: skip
        pair, why = self.pair_asked(request, apart)
        if pair is None:
            roles = ", ".join(f"{p or 'the pair'}: {b.record.role}"
                              for p, b in self.roles.books.items())  # fmt: skip
            return {"error": why or f"this site is neither outdated nor in a split brain "
                                    f"({roles}): nothing to discard"}  # fmt: skip
        book = self.roles.books[pair]
        if not (book.record.role == OUTDATED or book.record.split):
            return {"error": f"this site is {book.record.role}, neither outdated nor in a split "
                             "brain: nothing to discard"}  # fmt: skip
        if (why := served.why_not_turnable(pair)) is not None:
            return {"error": why}
        if (why := self._peer_outdated(pair)) is not None:
            return {"error": why}
        try:
            self._request_kind, self._turn_pair = "resync", pair
            self._resync_request = await self.on_engine(turns.changed, served, self.roles, pair)
        except EngineRefused as err:
            return {"error": str(err)}
        for peer in self.connectors.values():  # a link that carries other pairs is up still
            await peer.handshake_again()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + RESYNC_WAIT_SECONDS
        while not self._resync_done.is_set():
            # the peer's HELLO at each reconnect says its record: an outdated peer refuses
            # every time (model: the resync's guard), so the first such HELLO ends the wait
            if (why := self._peer_outdated(pair)) is not None or loop.time() > deadline:
                self._resync_request = None
                return {"error": why or f"the primary did not answer within "
                                        f"{RESYNC_WAIT_SECONDS:.0f} s (is it running, and "
                                        "reachable?)"}  # fmt: skip
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._resync_done.wait(), RESYNC_POLL_SECONDS)
        asyncio.get_running_loop().call_later(0.2, self._reversed.set)
        return {"ok": True, "pair": pair, "roles": self.roles.status()}

    def _peer_outdated(self, pair: str) -> str | None:
        """Why the peer cannot be the source of this site's resync, as far as its last HELLO
        said: it is outdated itself (model/roles_rules.py `resync`, the same guard)."""
        peer = self.roles.peers.get(pair)
        if peer is None or peer.role != OUTDATED:
            return None
        other = next(iter(self.links)) if len(self.links) == 1 else "peer"
        return (
            f"the {other} site is outdated too: resync copies from the site that is not, "
            f"so this site keeps its changes (discard the {other} site's instead: "
            "`pitmirror resync --discard-local` there)"
        )

    async def _reverse(self, served: Served, request: dict[str, Any]) -> dict[str, Any]:
        """`reverse` at the primary: it demotes itself, waits until the mirror holds every write
        (its maps empty), then asks the secondary to take over in its next HELLO; both turn."""
        if self.design.start_reversed is None:
            return {"error": "this design's pairs do not reverse yet"}
        sending = [p for p in self.roles.books if served.sends(p)]
        pair, why = self.pair_asked(request, sending)
        if pair is None:
            return {"error": why or "reverse runs at the mirror's source (the primary, or "
                                    "demoted): this site sends no pair"}  # fmt: skip
        book = self.roles.books[pair]
        if not served.sends(pair) or book.record.role == OUTDATED or book.record.split:
            return {"error": "reverse runs at the mirror's source (the primary, or demoted): "
                             f"this site is {book.record.role}"
                             + ("" if served.sends(pair) else ", the receiving site")}  # fmt: skip
        if (why := served.why_not_turnable(pair)) is not None:
            return {"error": why}
        if not self.links_up:
            return {"error": "the peer is unreachable: `pitmirror promote --force` there"}
        if book.writable:
            await self.on_engine(self.run_turn, [("record", book.demote)])
        loop = asyncio.get_running_loop()
        deadline = loop.time() + RESYNC_WAIT_SECONDS
        while (grains := await self.on_engine(turns.changed, served, self.roles, pair)) or \
                await self.on_engine(served.cached_grains):  # fmt: skip
            if loop.time() > deadline:
                return {
                    "error": f"the mirror did not catch up within {RESYNC_WAIT_SECONDS:.0f} "
                    f"s ({len(grains)} grains behind); this site stays demoted"
                }
            await asyncio.sleep(0.05)
        self._request_kind, self._resync_request, self._turn_pair = "switch", grains, pair
        for peer in self.connectors.values():
            await peer.handshake_again()
        try:
            await asyncio.wait_for(self._resync_done.wait(), RESYNC_WAIT_SECONDS)
        except TimeoutError:
            self._resync_request = None
            return {
                "error": f"the secondary did not take over within "
                f"{RESYNC_WAIT_SECONDS:.0f} s; this site stays demoted"
            }
        loop.call_later(0.2, self._reversed.set)
        return {"ok": True, "pair": pair, "roles": self.roles.status()}
