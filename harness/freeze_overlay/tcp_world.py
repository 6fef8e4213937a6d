"""Design B's world over TCP: every site of the topology a child process — the product's daemon,
stepped (harness/site_process.py) — and a fault proxy (harness/fault_proxy.py) on every
connection from a group's home to a remote.

The same actions as the in-process world (harness/freeze_overlay/world.py), with the network
where that world has a function call: a home's messages go through the product's links
(node/transport.py) and a proxy; `LinkDown`/`LinkUp` of a link are the cut and the restore of
its proxies (both ways: in a bidirectional topology each end connects to the other);
`CrashSite` is a SIGKILL (a design-B site fails between actions), `Recover` its restart from its
state folder; every other action, and the host's reads and writes, are requests on the site's
control socket, answered once the site did it, its invariants checked.  The proxies also cut the
connections inside every few data frames and acknowledgements — faults the model does not see,
which the transport must hide.  `observe()` reads every site's volumes and journal from files,
as they are durable; nothing here writes them.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from pitmirror.harness.backends import TENANTS
from pitmirror.harness.fault_proxy import FaultProxy
from pitmirror.harness.freeze_overlay.world import OverlayObserver
from pitmirror.harness.host_bytes import host_write_bytes
from pitmirror.harness.loop_thread import free_port
from pitmirror.harness.seeds import SeedReader
from pitmirror.harness.transport_mutants import SETTLE_SECONDS, SITE_PROCESS, TcpPlan
from pitmirror.impl.freeze_overlay.layout import build_stores, site_volumes
from pitmirror.impl.freeze_overlay.site import initial_meta
from pitmirror.impl.journal import Journal, Metadata
from pitmirror.impl.link import LinkService
from pitmirror.impl.site import EngineInvariantBroken, EngineRefused
from pitmirror.impl.volumes import Volume
from pitmirror.model import freeze_overlay as model
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
from pitmirror.node.control import ControlError, request, request_status
from pitmirror.node.frames import FrameType
from pitmirror.node.freeze_overlay import groups_toml
from pitmirror.node.freeze_overlay import links as site_links

MIRROR = "lockstep-b"
HEARTBEAT, DEAD = 0.5, 5.0


class OverlayTcpWorld(OverlayObserver):
    def __init__(
        self,
        topology: model.Topology,
        volumes: dict[str, Volume],
        workdir: Path,
        options: model.Options,
        plan: TcpPlan = TcpPlan(),
    ) -> None:
        if options != model.Options(pipelined=options.pipelined):
            raise ValueError("design B's mutants run in one process; over TCP, the safe design "
                             "(either order) and the transport mutants")  # fmt: skip
        for name, volume in volumes.items():
            if volume.device.startswith(("memory:", "loop:")):
                raise ValueError(f"the TCP world needs volumes another process can open; "
                                 f"{name} is {volume.device}")  # fmt: skip
            volume.zero()  # the children write them behind the volume set's bookkeeping
        self._observer(topology, SeedReader())
        self.options, self.plan = options, plan
        self.workdir = workdir
        self.grain_size = next(iter(volumes.values())).grain_size
        self._stopped = False
        TENANTS.append(self.close)
        self.children: dict[str, subprocess.Popen[bytes] | None] = dict.fromkeys(topology.sites)
        self.proxies: dict[tuple[str, str], FaultProxy] = {}
        """(home, remote): the proxy on the home's connection to the remote"""
        self.journals = {site: Journal(workdir / site, site, initial_meta(topology, site))
                         for site in topology.sites}  # fmt: skip
        for site in topology.sites:
            local, remote = build_stores(topology, volumes, site)
            self.local_stores |= local
            self.remote_stores |= remote
        self.links = {link: LinkService(functools.partial(self._link_changed, link))
                      for link in topology.links}  # fmt: skip
        try:
            self._configure(volumes)
            self._start(*topology.sites)  # side by side: each child's start is its imports
            self._settle()
        except BaseException:
            self.close()
            raise

    # ---- the children ------------------------------------------------------------------------

    def _configure(self, volumes: dict[str, Volume]) -> None:
        topo = self.topology
        secret = base64.b64encode(os.urandom(24))
        (self.workdir / "secret").write_bytes(secret)
        ports = {site: free_port() for site in topo.sites}
        for site in topo.sites:
            for remote in site_links({"site": site, "topology": topo}).connects_to:
                proxy = self.proxies[(site, remote)] = FaultProxy(("127.0.0.1", ports[remote]))
                proxy.start()
                proxy.cut_inside_every(self.plan.cut_data_every, FrameType.DATA, "up")
                proxy.cut_inside_every(self.plan.cut_ack_every, FrameType.ACK, "down")
        for site in topo.sites:
            links = site_links({"site": site, "topology": topo})
            own = "\n".join(f'"{v}" = "{volumes[v].device}"'
                            for v in sorted(site_volumes(topo, site)))  # fmt: skip
            link = [f"heartbeat_seconds = {HEARTBEAT}", f"dead_seconds = {DEAD}"]
            if links.listens_for:
                link.append(f'listen = "127.0.0.1:{ports[site]}"')
            if links.connects_to:
                link.append("[link.peers]")
                link += [f'{remote} = "127.0.0.1:{self.proxies[(site, remote)].port}"'
                         for remote in links.connects_to]  # fmt: skip
            (self.workdir / site).mkdir(exist_ok=True)
            self._config(site).write_text(
                f'design = "freeze-overlay"\nsite = "{site}"\nstate_dir = "{self.workdir / site}"\n'
                f"grain_size = {self.grain_size}\nmirror = {MIRROR!r}\n"
                f'secret_file = "{self.workdir / "secret"}"\n'
                f"pipelined = {'true' if self.options.pipelined else 'false'}\n{groups_toml(topo)}"
                f"[volumes]\n{own}\n[link]\n" + "\n".join(link) + "\n"
            )  # fmt: skip

    def _config(self, site: str) -> Path:
        return self.workdir / f"{site}.toml"

    def _socket(self, site: str) -> Path:
        return self.workdir / site / "control.sock"

    def alive(self, site: str) -> bool:
        child = self.children[site]
        return child is not None and child.poll() is None

    def _start(self, *sites: str) -> None:
        """Start the sites' children, and wait until each answers on its control socket."""
        for site in sites:
            command = [sys.executable, "-m", SITE_PROCESS, "--config", str(self._config(site))]
            if self.plan.mutant is not None:
                command += ["--mutant", self.plan.mutant]
            with open(self.workdir / f"{site}.log", "ab") as log:
                self.children[site] = subprocess.Popen(command, stderr=log,
                                                       stdout=subprocess.DEVNULL)  # fmt: skip
        deadline = time.monotonic() + SETTLE_SECONDS
        for site in sites:
            child = self.children[site]
            assert child is not None
            while True:
                try:
                    request(self._socket(site), {"op": "status"}, timeout=5)
                    break
                except ControlError:
                    if child.poll() is not None or time.monotonic() > deadline:
                        said = (self.workdir / f"{site}.log").read_text()[-2000:]
                        raise RuntimeError(f"the {site} child did not start: {said}") from None
                    time.sleep(0.02)

    def _kill(self, site: str) -> None:
        child = self.children[site]
        if child is not None:
            if child.poll() is None:
                child.kill()
            child.wait(30)
        self.children[site] = None

    def _control(self, site: str, body: dict[str, Any]) -> dict[str, Any]:
        if not self.alive(site):
            raise EngineRefused(f"the {site} site is down")
        answer = request(self._socket(site), body, timeout=60)
        if "refused" in answer:
            raise EngineRefused(str(answer["refused"]))
        if "broken" in answer:
            raise EngineInvariantBroken(str(answer["broken"]))
        if "error" in answer:
            raise RuntimeError(f"the {site} site: {answer['error']}")
        return answer

    def _reachable(self, home: str, remote: str) -> bool:
        """What the model says of the home's link to the remote: both up, the link up."""
        link = model.link_name(home, remote)
        return self.links[link].is_up and self.alive(home) and self.alive(remote)

    def _settle(self) -> None:
        """Wait until every live home's link to each remote is up exactly when the model says
        it reaches it."""
        deadline = time.monotonic() + SETTLE_SECONDS
        for home, remote in self.proxies:
            if not self.alive(home):
                continue
            want = self._reachable(home, remote)
            while True:
                doc = request_status(self._socket(home), timeout=10)
                peer = next(p for p in doc["peers"] if p["site"] == remote)
                if (peer["connection"] == "connected") == want:
                    break
                if time.monotonic() > deadline:
                    way = "up" if want else "down"
                    raise RuntimeError(
                        f"the link from {home} to {remote} did not come {way} "
                        f"within {SETTLE_SECONDS:g} s: {peer['last_error']}"
                    )
                time.sleep(0.005)

    def _link_changed(self, link: str, up: bool) -> None:
        for (home, remote), proxy in self.proxies.items():
            if model.link_name(home, remote) == link:
                proxy.restore() if up else proxy.cut()

    def close(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        for child in getattr(self, "children", {}).values():
            if child is not None and child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in getattr(self, "children", {}).values():
            if child is not None:
                try:
                    child.wait(15)
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.wait(15)
        for proxy in getattr(self, "proxies", {}).values():
            with contextlib.suppress(Exception):
                proxy.stop()

    # ---- the world's door --------------------------------------------------------------------

    def apply(self, action: Action) -> None:
        self._last_read = None
        self._route(action)
        self._settle()
        if isinstance(action, Recover):
            self.check_journals_agree(action.site)

    def _host_read(self, site: str, grain: int) -> bytes:
        return base64.b64decode(self._control(site, {"op": "read", "grain": grain})["data"])

    def _route(self, action: Action) -> None:
        site = self.route(action)
        if site is None:
            return
        match action:
            case HostWrite(grain=grain, fua=fua):
                data = host_write_bytes(action, self.grain_size,
                                        functools.partial(self._host_read, site))  # fmt: skip
                self._control(site, {"op": "write", "grain": grain, "fua": fua,
                                     "data": base64.b64encode(data).decode()})  # fmt: skip
            case HostFlush(volume=volume):
                self._control(site, {"op": "flush", "volume": volume})
            case HostRead(grain=grain):
                self._last_read = (grain, self._host_read(site, grain))
            case CrashSite(after_writes=after):
                if after or not self.alive(site):
                    raise EngineRefused(f"the {site} site cannot {describe(action)}")
                self._kill(site)
            case Recover():
                if self.alive(site):
                    raise EngineRefused(f"the {site} site is up: {describe(action)}")
                self._start(site)
            case _:
                self._control(site, {"op": "apply", "action": action_to_json(action)})

    def check_structure(self) -> None:
        """The children check their own after each action (a broken one is the answer)."""

    # ---- what the harness reads --------------------------------------------------------------

    def durable_meta(self, site: str) -> Metadata:
        return self.journals[site].replay().meta

    def host_cache(self, obj: int) -> dict[int, bytes]:
        site = self.topology.objects[obj].home
        if not self.alive(site):
            return {}
        held = self._control(site, {"op": "cache", "volume": obj})["cache"]
        return {int(offset): base64.b64decode(data) for offset, data in held.items()}

    def down_sites(self) -> frozenset[str]:
        return frozenset(site for site in self.topology.sites if not self.alive(site))

    def down_links(self) -> frozenset[str]:
        return frozenset(name for name, link in self.links.items() if not link.is_up)

    def phases(self) -> list[str]:
        """Each group's phase as its home's journal says it (the home's status would say the
        same)."""
        out = []
        for gi, group in enumerate(self.topology.groups):
            if not self.alive(group.home):
                out.append("down")
                continue
            meta = self.durable_meta(group.home)
            everywhere = self.group_records[gi].read(meta).completed_at == set(group.remotes)
            members = [self.object_records[i].read(meta) for i in self.topology.group_objects(gi)]
            work = any(m.has_merging if self.options.pipelined else m.has_frozen for m in members)
            out.append("copying" if not everywhere else "merging" if work else "idle")
        return out
