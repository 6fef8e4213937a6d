"""Two `pitmirror serve` processes on file volumes, for the tests: configs, start and stop, waits on
the status stream (never a fixed sleep), and the digests of what the volumes hold."""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pitmirror.impl.freeze_overlay.layout import site_volumes, volume_layout
from pitmirror.impl.freeze_overlay.site import OverlaySite
from pitmirror.model import freeze_overlay as model
from pitmirror.node.config import built_site, load_config
from pitmirror.node.control import ControlError, request, request_status, watch_status
from pitmirror.node.designs import DESIGNS
from pitmirror.node.digest import digest_of
from pitmirror.node.failover import Failover
from pitmirror.node.freeze_overlay import groups_toml, links
from pitmirror.node.freeze_overlay_served import recoverable_image

GRAIN = 65536


class Folders:
    """A mirror's site folders under `root`: each site's config, control socket and status."""

    root: Path

    def config(self, site: str) -> Path:
        return self.root / f"{site}.toml"

    def socket(self, site: str) -> Path:
        return self.root / f"state-{site}" / "control.sock"

    def status(self, site: str) -> dict[str, Any]:
        return request_status(self.socket(site))

    def control(self, site: str, body: dict[str, Any]) -> dict[str, Any]:
        return request(self.socket(site), body)

    def restarted(self, *sites: str, after: float, seconds: float = 60.0) -> None:
        """Each site's daemon started again after `after` (a turned pair's daemons do, in the
        same process) and answering."""
        deadline = time.monotonic() + seconds
        for site in sites:
            while True:
                try:
                    if self.status(site)["started"] > after:
                        break
                except (ControlError, OSError):
                    pass  # stopping, or not listening yet
                if time.monotonic() > deadline:
                    raise AssertionError(f"the {site} daemon never started again")
                time.sleep(0.05)

    def wait(self, site: str, until: Callable[[dict[str, Any]], bool], seconds: float = 30.0,
             what: str = "") -> dict[str, Any]:  # fmt: skip
        """The first status of `site` that satisfies `until`, from its change stream."""
        deadline = time.monotonic() + seconds
        last: dict[str, Any] = {}
        try:
            for doc in watch_status(self.socket(site), quiet=seconds):
                last = doc
                if until(doc):
                    return doc
                if time.monotonic() > deadline:
                    break
        except TimeoutError:
            pass
        raise AssertionError(f"the {site} site's status never showed {what or until}: {last}")


@dataclass
class Pair(Folders):
    """A mirror's two site folders: configs, volumes, state."""

    root: Path
    grains: int
    port: int
    listen_host: str = "127.0.0.1"
    peer_host: str = "127.0.0.1"
    metrics: dict[str, int] | None = None
    """a metrics port per site that serves metrics"""
    source_random: bool = True
    """the source starts with random bytes (else zeros)"""
    reverse_port: int | None = None
    """a reversible pair: the local host listens here, and the remote connects here, once a
    resync turned the pair"""
    reverse_host: str = "127.0.0.1"

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "secret").write_text(base64.b64encode(os.urandom(24)).decode() + "\n")
        for name in ("source", "i1", "i2", "target"):
            with open(self.root / f"{name}.img", "wb") as f:
                f.truncate(self.grains * GRAIN)
        if self.source_random:
            with open(self.root / "source.img", "r+b") as f:
                f.write(os.urandom(self.grains * GRAIN))
        peer, listen = f"{self.peer_host}:{self.port}", f"{self.listen_host}:{self.port}"
        sites = {
            "local": ('source = "source.img"\ni1 = "i1.img"', f'peer = "{peer}"'),
            "remote": ('i2 = "i2.img"\ntarget = "target.img"', f'listen = "{listen}"'),
        }
        if self.reverse_port is not None:
            back = f"{self.reverse_host}:{self.reverse_port}"
            key = {"local": "listen", "remote": "peer"}
            sites = {site: (volumes, f'{link}\n{key[site]} = "{back}"')
                     for site, (volumes, link) in sites.items()}  # fmt: skip
        for site, (volumes, link) in sites.items():
            self.config(site).write_text(
                f'design = "cyclic-flashcopy"\nsite = "{site}"\nstate_dir = "state-{site}"\n'
                f'grain_size = {GRAIN}\nmirror = "pair0"\nsecret_file = "secret"\n'
                f"[volumes]\n{volumes}\n[link]\n{link}\nheartbeat_seconds = 0.2\n"
                "dead_seconds = 1.0\n[cycle]\nidle_seconds = 0.02\n"
                + (f'[status]\nmetrics = "127.0.0.1:{self.metrics[site]}"\n'
                   if self.metrics and site in self.metrics else "")
            )  # fmt: skip

    def write(self, grain: int, data: bytes) -> int:
        """Whole grains through the local site's host door; the cycle they fall in."""
        body = {"op": "write", "grain": grain, "data": base64.b64encode(data).decode()}
        answer = request(self.socket("local"), body)
        return int(answer["cycle"])

    def source_digest(self) -> str:
        return digest_of((self.root / "source.img").read_bytes(), GRAIN)

    def target_digest(self) -> str:
        """The committed image the remote's volumes and journal hold (what a failover reads),
        read with the daemon stopped."""
        with built_site(load_config(self.config("remote"))) as running:
            image = running.site.recoverable_image()  # type: ignore[attr-defined]
        return digest_of(image, GRAIN)


class Daemon:
    def __init__(self, pair: Folders, site: str, wrap: list[str] | None = None) -> None:
        self.pair, self.site = pair, site
        self.log = pair.root / f"{site}.log"
        command = [sys.executable, "-c", "from pitmirror.node.cli import main; main()", "serve",
                   "--config", str(pair.config(site))]  # fmt: skip
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen([*(wrap or []), *command], stderr=log,
                                            stdout=subprocess.DEVNULL)  # fmt: skip
        deadline = time.monotonic() + 30
        while not pair.socket(site).exists() or not self._answers():
            if self.process.poll() is not None:
                raise AssertionError(f"{site} daemon exited {self.process.returncode}: "
                                     f"{self.log.read_text()}")  # fmt: skip
            if time.monotonic() > deadline:
                raise AssertionError(f"{site} daemon never answered: {self.log.read_text()}")
            time.sleep(0.05)

    def _answers(self) -> bool:
        try:
            self.pair.status(self.site)
        except Exception:
            return False
        return True

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
        return self.process.wait(30)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(30)


@contextmanager
def running(pair: Folders, *sites: str) -> Iterator[dict[str, Daemon]]:
    daemons: dict[str, Daemon] = {}
    try:
        for site in sites:
            daemons[site] = Daemon(pair, site)
        yield daemons
    finally:
        for daemon in daemons.values():
            daemon.stop()


class Sites(Folders):
    """A design-B mirror's site folders for a topology: every site's volumes (files the size the
    layout gives), its config, and a shadow of what the test wrote to each group, from which
    the source's image digest comes — not from the engine."""

    def __init__(self, root: Path, topology: model.Topology, ports: dict[str, int],
                 hosts: dict[str, str] | None = None,
                 reversible: bool = False) -> None:  # fmt: skip
        self.root, self.topology = root, topology
        root.mkdir(parents=True, exist_ok=True)
        (root / "secret").write_text(base64.b64encode(os.urandom(24)).decode() + "\n")
        layout, _ = volume_layout(topology)
        for name, grains in layout.items():
            with open(root / f"{name}.img", "wb") as f:
                f.truncate(grains * GRAIN)
        self.shadow: dict[int, bytearray] = {}
        for i, obj in enumerate(topology.objects):  # each object starts from random bytes
            data = os.urandom(obj.grains * GRAIN)
            base = f"{obj.name}.base" if obj.kind == "device" else f"{obj.name}.file"
            assert obj.kind != "span", "the tests' topologies keep objects on their own volumes"
            (root / f"{base}.img").write_bytes(data)
            self.shadow[i] = bytearray(data)
        listens = {s: links({"site": s, "topology": topology}) for s in topology.sites}
        host = {site: (hosts or {}).get(site, "127.0.0.1") for site in topology.sites}
        for site in topology.sites:
            volumes = "\n".join(f'"{v}" = "{v}.img"' for v in sorted(site_volumes(topology, site)))
            link = ["heartbeat_seconds = 0.2", "dead_seconds = 1.0"]
            # a reversible mirror's sites each listen and connect: a turned group's home moves
            peers = listens[site].connects_to
            if reversible:
                peers = tuple(sorted(set(topology.sites) - {site}))
            if listens[site].listens_for or reversible:
                link.append(f'listen = "{host[site]}:{ports[site]}"')
            if peers:
                link.append("[link.peers]")
                link += [f'{peer} = "{host[peer]}:{ports[peer]}"' for peer in peers]
            self.config(site).write_text(
                f'design = "freeze-overlay"\nsite = "{site}"\nstate_dir = "state-{site}"\n'
                f'grain_size = {GRAIN}\nmirror = "mirror-b"\nsecret_file = "secret"\n'
                f"{groups_toml(topology)}[volumes]\n{volumes}\n[link]\n" + "\n".join(link)
                + "\n[cycle]\nidle_seconds = 0.02\n"
            )  # fmt: skip

    def write(self, grain: int, data: bytes, at: str | None = None) -> int:
        """Whole grains through the host door of the home (or `at`: a site promoted, or home
        since the group turned), kept in the shadow; the point they follow (they are in the
        next one)."""
        _, obj, offset = self.topology.locate(grain)
        home = at or self.topology.objects[obj].home
        body = {"op": "write", "grain": grain, "data": base64.b64encode(data).decode()}
        answer = request(self.socket(home), body)
        self.shadow[obj][offset * GRAIN : offset * GRAIN + len(data)] = data
        return int(answer["cycle"])

    def source_digest(self, group: int) -> str:
        members = self.topology.group_objects(group)
        return digest_of(b"".join(bytes(self.shadow[i]) for i in members), GRAIN)

    def target_digest(self, site: str, group: int) -> str:
        """The committed image of `group` that `site`'s volumes and journal hold (what a
        failover reads), read with its daemon stopped."""
        config = load_config(self.config(site))
        with built_site(Failover.acting(DESIGNS[config.design], config)) as running:
            assert isinstance(running.site, OverlaySite)
            return digest_of(recoverable_image(running.site, group), GRAIN)

    def settle(self) -> dict[str, dict[str, Any]]:
        """Every home paused between two points, each committed everywhere: each site's last
        status."""
        topo = self.topology
        docs: dict[str, dict[str, Any]] = {}
        for home in sorted({g.home for g in topo.groups}):
            for _ in range(20):  # a point may be taken between the idle status and the pause
                self.wait(home, _idle, what="every group idle")
                self.control(home, {"op": "pause"})
                docs[home] = self.status(home)
                if _idle(docs[home]):
                    break
                self.control(home, {"op": "resume"})
            assert _idle(docs[home]), docs[home]
        for gi, group in enumerate(topo.groups):
            entry = next(g for g in docs[group.home]["groups"] if g["group"] == gi)
            point = entry["cycle"]["number"]
            for remote in group.remotes:
                # (a remote that is a paused home too merges no more: its image is committed still)
                def there(d: dict[str, Any], gi: int = gi, point: int = point,
                          remote: str = remote) -> bool:  # fmt: skip
                    return any(g["group"] == gi and g["committed"][remote]["number"] == point
                               for g in d["groups"])  # fmt: skip

                docs[remote] = self.wait(remote, there, what=f"group {gi} at {remote}")
        return docs


def _idle(doc: dict[str, Any]) -> bool:
    return all(g["cycle"]["phase"] == "idle" and g["out_of_sync"]["grains"] == 0
               for g in doc["groups"] if g["role"] == "primary")  # fmt: skip


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


@dataclass(frozen=True)
class Hosts:
    local_ns: str
    remote_ns: str
    local_ip: str
    remote_ip: str
    local_veth: str


def why_no_hosts() -> str | None:
    if os.geteuid() != 0:
        return f"network namespaces need root (running as uid {os.geteuid()})"
    if shutil.which("ip") is None:
        return "network namespaces need iproute2's ip (apt-get install iproute2)"
    return None


@contextmanager
def two_hosts() -> Iterator[Hosts]:
    """Two network namespaces joined by a veth pair made here, removed (every process in them
    killed) on the way out, also after a failure."""
    tag = secrets.token_hex(3)
    made = Hosts(f"pm-{tag}-l", f"pm-{tag}-r", "10.231.77.1", "10.231.77.2", f"pml{tag}")
    try:
        ip("netns", "add", made.local_ns)
        ip("netns", "add", made.remote_ns)
        ip("link", "add", made.local_veth, "type", "veth", "peer", "name", f"pmr{tag}")
        for ns, veth, address in ((made.local_ns, made.local_veth, made.local_ip),
                                  (made.remote_ns, f"pmr{tag}", made.remote_ip)):  # fmt: skip
            ip("link", "set", veth, "netns", ns)
            ip("-n", ns, "addr", "add", f"{address}/30", "dev", veth)
            ip("-n", ns, "link", "set", veth, "up")
            ip("-n", ns, "link", "set", "lo", "up")
        yield made
    finally:
        for ns in (made.local_ns, made.remote_ns):
            pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True,
                                  check=False).stdout.split()  # fmt: skip
            for pid in pids:
                subprocess.run(["kill", "-9", pid], check=False)
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)
