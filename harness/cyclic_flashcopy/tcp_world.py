"""Design A's world over TCP: the local site in the harness's process, the remote site a child
process — the product's daemon, stepped (harness/site_process.py) — and the
fault proxy between them (harness/fault_proxy.py).

The same actions as the in-process world (harness/cyclic_flashcopy/world.py), with the network
where that world has a function call: the local site's messages go through the product's link
(node/transport.py) and the proxy; `LinkDown`/`LinkUp` are the proxy's cut and restore;
`CrashSite` of the remote is a SIGKILL (after n writes: one the child sends itself right after
its n-th durable write), `Recover` its restart from its state folder; `DrainTarget` is a request
on the child's control socket.  The proxy also cuts the connection inside every few data frames
and acknowledgements — faults the model does not see, which the transport must hide (a resend,
applied once).  `observe()` reads the child's volumes and journal from files, as they are
durable; nothing here writes them.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from pitmirror.harness.backends import TENANTS
from pitmirror.harness.cyclic_flashcopy.world import Observation, observe, route
from pitmirror.harness.fault_proxy import FaultProxy
from pitmirror.harness.faults import CrashInjector, SiteCrashed
from pitmirror.harness.grains import decode_grain
from pitmirror.harness.host_bytes import host_write_bytes
from pitmirror.harness.loop_thread import LoopThread, free_port
from pitmirror.harness.seeds import SeedReader
from pitmirror.harness.transport_mutants import SETTLE_SECONDS, SITE_PROCESS, TcpPlan
from pitmirror.impl.cyclic_flashcopy.local import FlashCopyLocalSite
from pitmirror.impl.cyclic_flashcopy.messages import MESSAGES
from pitmirror.impl.cyclic_flashcopy.remote import FlashCopyRemoteSite, lost_commit
from pitmirror.impl.journal import COMPACT_EVERY, Journal, JournalError
from pitmirror.impl.link import LinkService, LinkUnavailable
from pitmirror.impl.site import DurableSite, EngineInvariantBroken, EngineRefused
from pitmirror.impl.volumes import Volume
from pitmirror.model.actions import (
    Action,
    CrashSite,
    HostFlush,
    HostRead,
    HostWrite,
    Recover,
    action_to_json,
    describe,
)
from pitmirror.model.cyclic_flashcopy import Options
from pitmirror.node.control import ControlError, request
from pitmirror.node.frames import FrameType
from pitmirror.node.roles import PairRoles
from pitmirror.node.transport import Identity, PeerLink, Timeouts

T = TypeVar("T")
MIRROR = "lockstep"
TIMEOUTS = Timeouts(handshake=5.0, heartbeat=0.5, dead=5.0, delivery=10.0, retry=0.02,
                    retry_max=0.1)  # fmt: skip


class RemoteView(FlashCopyRemoteSite):
    """The child's remote site as its volumes and journal hold it, read in this process and
    never written (its metadata is always the journal's, replayed)."""

    def __init__(self, i2: Volume, target: Volume, journal: Journal, options: Options) -> None:
        DurableSite.__init__(self, journal)
        self.i2, self.target, self.options = i2, target, options


class CrashAwareLink:
    """The local site's link: the product's, except that a message the remote could not take
    because its process died (an armed crash) is the remote's crash, as in the in-process world,
    where the remote's crash interrupts the local action that sent to it."""

    def __init__(self, peer: PeerLink, remote_died: Callable[[], bool]) -> None:
        self.peer, self.remote_died = peer, remote_died

    @property
    def up(self) -> bool:
        return self.peer.up

    @property
    def reaches(self) -> bool:
        return self.peer.reaches

    def send(self, message: object) -> None:
        try:
            self.peer.send(message)
        except LinkUnavailable:
            if self.remote_died():
                raise SiteCrashed("remote") from None
            raise


class FlashCopyTcpWorld:
    def __init__(
        self,
        volumes: dict[str, Volume],
        workdir: Path,
        options: Options,
        plan: TcpPlan = TcpPlan(),
        self_check: bool = True,
        compact_every: int = COMPACT_EVERY,
    ) -> None:
        for name in ("i2", "target"):
            if volumes[name].device.startswith(("memory:", "loop:")):
                raise ValueError(f"the TCP world needs volumes another process can open; "
                                 f"{name} is {volumes[name].device}")  # fmt: skip
            volumes[name].zero()  # the child wrote them behind the volume set's bookkeeping
        self.volumes, self.workdir, self.options, self.plan = volumes, workdir, options, plan
        self.grain_count = volumes["source"].grain_count
        self.grain_size = volumes["source"].grain_size
        self.self_check = self_check
        self.seeds = SeedReader()
        self.injector = CrashInjector()
        self._last_read: tuple[int, bytes] | None = None
        self.child: subprocess.Popen[bytes] | None = None
        self.remote_armed = False
        self.remote_down = False
        """the world took the remote down (its crash is the model's)"""
        self._stopped = False
        TENANTS.append(self.close)
        secret = base64.b64encode(os.urandom(24))
        (workdir / "secret").write_bytes(secret)
        port = free_port()
        self.config = workdir / "remote.toml"
        self.config.write_text(
            f'design = "cyclic-flashcopy"\nsite = "remote"\nstate_dir = "{workdir}"\n'
            f"grain_size = {self.grain_size}\nmirror = {MIRROR!r}\nsecret_file = \"secret\"\n"
            f'[volumes]\ni2 = "{volumes["i2"].device}"\ntarget = "{volumes["target"].device}"\n'
            f'[link]\nlisten = "127.0.0.1:{port}"\nheartbeat_seconds = {TIMEOUTS.heartbeat}\n'
            f"dead_seconds = {TIMEOUTS.dead}\n"
        )  # fmt: skip
        n = self.grain_count
        self.remote = RemoteView(volumes["i2"], volumes["target"],
                                 Journal(workdir, "remote", FlashCopyRemoteSite.initial_meta(n)),
                                 options)  # fmt: skip
        self.proxy = FaultProxy(("127.0.0.1", port))
        self.proxy.start()
        self.proxy.cut_inside_every(plan.cut_data_every, FrameType.DATA, "up")
        self.proxy.cut_inside_every(plan.cut_ack_every, FrameType.ACK, "down")
        self.loop = LoopThread("link")
        geometry = {"grain_size": self.grain_size, "grains": n}
        identity = Identity(MIRROR, "cyclic-flashcopy", "local", ("remote",), 1, geometry,
                            MESSAGES.design)  # fmt: skip
        self.local: FlashCopyLocalSite

        # the local site's role record, as a daemon's: the remote's daemon meets it
        # (a folder of its own: the remote's daemon keeps its record in the workdir)
        (workdir / "local-roles").mkdir(exist_ok=True)
        roles = PairRoles(workdir / "local-roles", {"": True})

        def hello() -> dict[str, Any]:
            return {"cycle": self.local.local_meta(durable=True).cycle, **roles.hello()}

        self.peer = PeerLink(identity, secret, MESSAGES, ("127.0.0.1", self.proxy.port),
                             judge=lambda hello: None, hello_extra=hello, timeouts=TIMEOUTS,
                             meet=roles.meet, loop=self.loop.loop)  # fmt: skip
        self.local = FlashCopyLocalSite(
            volumes["source"], volumes["i1"],
            Journal(workdir, "local", FlashCopyLocalSite.initial_meta(n), compact_every),
            options, CrashAwareLink(self.peer, self._message_lost), self.injector.wrote,
        )  # fmt: skip
        self.link_service = LinkService(self._link_changed)
        try:
            self._start_child()
            self._running = asyncio.run_coroutine_threadsafe(self.peer.run(), self.loop.loop)
            self._settle()
        except BaseException:
            self.close()
            raise

    # ---- the child ---------------------------------------------------------------------------

    @property
    def remote_alive(self) -> bool:
        return self.child is not None and self.child.poll() is None

    def _remote_died(self) -> bool:
        """The child died and the world has not taken it down yet: an armed crash fired."""
        return self.child is not None and not self.remote_down and self.child.poll() is not None

    def _message_lost(self) -> bool:
        """A message did not get through: with the link up and a crash armed, that can only be
        the crash firing — wait for the process, which the kernel lets go a moment after its
        socket."""
        if self.child is not None and self.remote_armed and self.link_service.is_up:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.child.wait(SETTLE_SECONDS)
        return self._remote_died()

    def _start_child(self) -> None:
        command = [sys.executable, "-m", SITE_PROCESS, "--config", str(self.config)]
        if self.plan.mutant is not None:
            command += ["--mutant", self.plan.mutant]
        with open(self.workdir / "remote.log", "ab") as log:
            self.child = subprocess.Popen(command, stderr=log, stdout=subprocess.DEVNULL)
        self.remote_down = False
        socket = self.workdir / "control.sock"
        deadline = time.monotonic() + SETTLE_SECONDS
        while True:
            try:
                request(socket, {"op": "status"}, timeout=5)
                return
            except ControlError:
                if self.child.poll() is not None or time.monotonic() > deadline:
                    said = (self.workdir / "remote.log").read_text()[-2000:]
                    raise RuntimeError(f"the remote child did not start: {said}") from None
                time.sleep(0.02)

    def _kill_child(self) -> None:
        if self.child is not None:
            if self.child.poll() is None:
                self.child.kill()
            self.child.wait(30)
        self.remote_armed = False
        self.remote_down = True

    def _control(self, body: dict[str, Any]) -> dict[str, Any]:
        return request(self.workdir / "control.sock", body, timeout=60)

    def _settle(self) -> None:
        """Wait until the link is what the model says: up exactly when the link and the remote
        are both up."""
        want = self.link_service.is_up and self.remote_alive
        deadline = time.monotonic() + SETTLE_SECONDS
        while self.peer.up != want:
            if time.monotonic() > deadline:
                way = "up" if want else "down"
                raise RuntimeError(f"the link did not come {way} within {SETTLE_SECONDS:g} s: "
                                   f"{self.peer.stats.last_error}")  # fmt: skip
            time.sleep(0.005)

    def _link_changed(self, up: bool) -> None:
        if up:
            self.proxy.restore()
        else:
            self.proxy.cut()

    def close(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self.child is not None and self.child.poll() is None:
            self.child.send_signal(signal.SIGTERM)
            try:
                self.child.wait(15)
            except subprocess.TimeoutExpired:
                self.child.kill()
                self.child.wait(15)
        # what a failed start made so far: each part only if it was made
        if (loop := getattr(self, "loop", None)) is not None:
            if (peer := getattr(self, "peer", None)) is not None:
                loop.call(peer.stop())
            if (running := getattr(self, "_running", None)) is not None:
                running.cancel()
                loop.call(asyncio.sleep(0.01))  # the cancelled link task unwinds
            loop.stop()
        if (proxy := getattr(self, "proxy", None)) is not None:
            proxy.stop()

    # ---- the world's door --------------------------------------------------------------------

    def apply(self, action: Action) -> None:
        self._last_read = None
        try:
            self._route(action)
        except SiteCrashed as crash:
            if crash.site == "local":
                self.local.apply(CrashSite("local"))
            else:
                self._kill_child()
            if self.local.up:
                self.local.settle()
        if self._remote_died():
            self._kill_child()  # an armed crash fired in a drain
        self._settle()
        if isinstance(action, Recover) and self.local.up and self.remote_alive:
            self.check_journals_agree()
        if self.self_check:
            self.local.check_structure()

    def _route(self, action: Action) -> None:
        if isinstance(action, CrashSite) and (self.injector.armed or self.remote_armed):
            raise EngineRefused(f"a crash is already armed: {describe(action)}")
        site = route(action, self.link_service)
        if site is None:
            return
        match action:
            case HostWrite(grain=grain, fua=fua):
                local = self.local
                local.host_write(grain, host_write_bytes(action, self.grain_size, local.host_read),
                                 fua)  # fmt: skip
            case HostFlush():
                self.local.host_flush()
            case HostRead(grain=grain):
                self._last_read = (grain, self.local.host_read(grain))
            case CrashSite(after_writes=after) if after and site == "local":
                if not self.local.up:
                    raise EngineRefused(f"the local site is down: {describe(action)}")
                self.injector.arm("local", after)
            case _ if site == "local":
                self.local.apply(action)
            case CrashSite(after_writes=after):
                if not self.remote_alive:
                    raise EngineRefused(f"the remote site is down: {describe(action)}")
                if after:
                    self._control({"op": "arm", "after": after})
                    self.remote_armed = True
                else:
                    self._kill_child()
            case Recover():
                if self.remote_alive:
                    raise EngineRefused(f"the remote site is up: {describe(action)}")
                self._start_child()
            case _:
                self._remote_action(action)

    def _remote_action(self, action: Action) -> None:
        if not self.remote_alive:
            raise EngineRefused(f"the remote site is down: {describe(action)}")
        try:
            answer = self._control({"op": "apply", "action": action_to_json(action)})
        except (ControlError, OSError):
            # the control socket went with an armed crash, whatever the link's state (a drain
            # needs no link): the process is let go a moment after its socket
            if self.child is not None and self.remote_armed:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.child.wait(SETTLE_SECONDS)
            if self._remote_died():
                raise SiteCrashed("remote") from None
            raise
        if "refused" in answer:
            raise EngineRefused(str(answer["refused"]))
        if "broken" in answer:
            raise EngineInvariantBroken(str(answer["broken"]))

    def check_journals_agree(self) -> None:
        lost = lost_commit(self.local.local_meta().cycle, self.remote.remote_meta(True).committed)
        if lost:
            raise JournalError(lost)

    def check_structure(self) -> None:
        self.local.check_structure()

    def last_read(self) -> tuple[int, int] | None:
        read = self._last_read
        return None if read is None else (read[0], decode_grain(read[1], read[0]))

    def observe(self) -> Observation:
        alive = self.remote_alive
        return observe(self.local, self.remote, self.volumes, self.seeds,
                       self.link_service.is_up, alive, "serving" if alive else "down")  # fmt: skip
