"""The disaster drill (issue 27), in the shape of Ceph's rbd-mirror failover loop: two daemons
in two network namespaces, ext4 and SQLite on the primary's block frontend under a workload
that logs each commit, and round after round a fault at a random instant — the primary killed
(-9), the secondary killed, or the link cut — then the switch: `promote --force` where the
primary is gone or cut off, `reverse` when both are alive.  On the new primary: its volume's
digest is the committed point's that its status reported, `e2fsck -fn` is clean, both
databases pass `PRAGMA integrity_check`, every commit that returned before the point's instant
is there.  Then failback — `resync --discard-local` on the old primary, or nothing more after a
reverse — and both sites' volumes equal, digest for digest, once the new direction caught up.
The roles alternate: each round starts at the last one's new primary.

Used by tests/test_drill.py (a few rounds, one of each fault) and examples/drill.py (20).
Every loop device, mount and daemon is released on the way out, also after a failure.
"""

from __future__ import annotations

import random
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from daemons import GRAIN, Daemon, Hosts, Pair, ip
from host_workload import HostWorkload, check_point, mounted, recover, sh

from pitmirror.harness.loop_thread import free_port
from pitmirror.node.digest import digest_of

FAULTS = ("primary", "secondary", "link")
OTHER = {"local": "remote", "remote": "local"}


def pitmirror(*args: str) -> str:
    """The product's command, from this interpreter's install; its output, or AssertionError."""
    command = [sys.executable, "-c", "from pitmirror.node.cli import main; main()", *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, f"pitmirror {' '.join(args)}: {done.stderr}"
    return done.stdout


@dataclass
class Round:
    number: int
    fault: str
    switch: str
    commits_before_point: int
    commits_after_point: int
    bytes_verified: int
    resync_grains: int
    seconds: float


class Drill:
    def __init__(self, root: Path, hosts: Hosts, grains: int, seed: int) -> None:
        self.root, self.hosts, self.rng = root, hosts, random.Random(seed)
        self.pair = Pair(root, grains, port=free_port(), listen_host=hosts.remote_ip,
                         peer_host=hosts.remote_ip, source_random=False,
                         reverse_port=free_port(), reverse_host=hosts.local_ip)  # fmt: skip
        for site in ("local", "remote"):
            config = self.pair.config(site)
            config.write_text(config.read_text() + '[frontend]\nmount = "frontend"\n')
        self.ns = {"local": hosts.local_ns, "remote": hosts.remote_ns}
        self.daemons: dict[str, Daemon] = {}
        self.primary = "local"
        self.made_fs = False

    # ---- daemons -------------------------------------------------------------------------------

    def start(self, *sites: str) -> None:
        for site in sites:
            self.daemons[site] = Daemon(self.pair, site,
                                        wrap=["ip", "netns", "exec", self.ns[site]])  # fmt: skip

    def stop_all(self) -> None:
        for daemon in self.daemons.values():
            daemon.stop()

    def turned(self, command: list[str], *sites: str) -> None:
        """A command that turns the pair: both daemons start again by themselves, each in its
        own process, as the turned sites."""
        before = time.time()
        pitmirror(*command)
        try:
            self.pair.restarted(*sites, after=before)
        except AssertionError as err:
            logs = {s: (self.pair.root / f"{s}.log").read_text()[-2000:] for s in sites}
            raise AssertionError(f"{err}: {logs}") from None

    def status(self, site: str) -> dict[str, Any]:
        return self.pair.status(site)

    def volume(self, site: str, role: str) -> Path:
        return Path(self.status(site)["volumes"][role])

    def device(self, site: str) -> str:
        doc = self.pair.wait(site, lambda d: bool(d["frontend"] and d["frontend"]["volumes"]
                                                 and d["frontend"]["volumes"][0]["device"]),
                             what="the host's device")  # fmt: skip
        return str(doc["frontend"]["volumes"][0]["device"])

    def settled(self, primary: str) -> None:
        """The new direction caught up: the secondary holds a point, drained, nothing behind."""
        secondary = OTHER[primary]
        self.pair.wait(secondary, lambda d: d["committed_point"]["number"] >= 1
                       and d["cycle"]["to_drain_bytes"] == 0, seconds=120,
                       what="the first point of the new direction")  # fmt: skip
        self.pair.wait(primary, lambda d: d["out_of_sync"]["grains"] == 0, seconds=120,
                       what="nothing behind")  # fmt: skip

    def copied(self, site: str) -> int:
        """How many grains the turn gave the new primary's first cycle to copy (its log)."""
        text = (self.pair.root / f"{site}.log").read_text()
        found = re.findall(r"(\d+) grains to copy from here", text)
        return int(found[-1]) if found else -1

    # ---- one round -----------------------------------------------------------------------------

    def round(self, number: int, fault: str) -> Round:
        started = time.monotonic()
        p, s = self.primary, OTHER[self.primary]
        device = self.device(p)
        if not self.made_fs:
            sh("mkfs.ext4", "-q", "-F", "-E", "nodiscard,lazy_itable_init=0,lazy_journal_init=0",
               device)  # fmt: skip
            self.made_fs = True
        mount = self.root / "host"
        point: dict[str, Any] | None = None
        with mounted_lazily(device, mount, lazy=fault == "primary") as fs:
            folder = fs / f"round{number}"
            folder.mkdir()
            work = HostWorkload(folder, folder)
            with work:
                time.sleep(self.rng.uniform(1.0, 3.0))
                if fault == "primary":
                    self.daemons[p].kill()
                elif fault == "secondary":
                    self.daemons[s].kill()
                else:
                    ip("-n", self.hosts.local_ns, "link", "set", self.hosts.local_veth, "down")
                if fault != "secondary":
                    doc = self.pair.wait(s, lambda d: not d["link"]["up"], what="link down")
                    point = doc["committed_point"]
                    pitmirror("promote", "--force", "--config", str(self.pair.config(s)))
                else:
                    self.start(s)
                    self.pair.wait(p, lambda d: d["link"]["up"], what="the link up again")
            log = list(work.log)
        if fault == "secondary":  # both alive: the orderly switch, after the host let go
            self.turned(["reverse", "--config", str(self.pair.config(p))], p, s)
            instant = time.time()
            image = self._source_after_turn(s)
        else:
            assert point is not None
            instant = point["source_time"]
            image = self.volume(s, "target")
        verified = self._check(image, log, instant, point, f"round{number}")
        if fault != "secondary":
            if fault == "link":
                ip("-n", self.hosts.local_ns, "link", "set", self.hosts.local_veth, "up")
            else:
                self.start(p)
            self.pair.wait(p, lambda d: d["role"] == "outdated", what="outdated", seconds=60)
            self.turned(["resync", "--discard-local", "--config", str(self.pair.config(p))], p, s)
        self.settled(s)
        new, old = self.volume(s, "source"), self.volume(p, "target")
        assert new.read_bytes() == old.read_bytes(), "the two sites' volumes differ"
        self.primary = s
        before = sum(c.returned_at < instant for c in log)
        return Round(number, fault, "reverse" if fault == "secondary" else "promote --force",
                     before, len(log) - before, verified + 2 * len(new.read_bytes()),
                     self.copied(s), time.monotonic() - started)  # fmt: skip

    def _source_after_turn(self, site: str) -> Path:
        """The volume a site acts on as the source once turned (its target before)."""
        config = self.pair.config(site).read_text()
        name = "target" if 'site = "remote"' in config else "source"
        return self.pair.root / f"{name}.img"

    def _check(self, image: Path, log: list[Any], instant: float,
               point: dict[str, Any] | None, inside: str) -> int:  # fmt: skip
        copy = self.root / "check.img"
        shutil.copyfile(image, copy)
        data = copy.read_bytes()
        if point is not None:
            assert digest_of(data, GRAIN) == point["digest"], "the promoted image is not the point"
        recovered = recover(copy, copy, self.root / "check", inside)
        check_point(recovered, log, instant)
        copy.unlink()
        return len(data)


@contextmanager
def mounted_lazily(device: str, where: Path, lazy: bool) -> Iterator[Path]:
    """Mounted; unmounted at the end — lazily where the device's daemon is killed under it."""
    if not lazy:
        with mounted(device, where) as root:
            yield root
        return
    where.mkdir(parents=True, exist_ok=True)
    sh("mount", device, str(where))
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)
        # the killed daemon's loop device: once the filesystem let go of it, nobody else will
        # (the FUSE file under it is gone with its mount)
        for _ in range(50):
            if subprocess.run(["losetup", "-d", device], capture_output=True,
                              check=False).returncode == 0:  # fmt: skip
                break
            if subprocess.run(["losetup", device], capture_output=True).returncode != 0:
                break  # detached already
            time.sleep(0.1)


def begin(drill: Drill) -> None:
    """Both daemons up, the volume mirrored, ext4 made on the primary's device and a point
    holding it committed: the drill starts from a pair that has a filesystem to fail over."""
    drill.start("remote", "local")
    drill.settled("local")
    device = drill.device("local")
    sh("mkfs.ext4", "-q", "-F", "-E", "nodiscard,lazy_itable_init=0,lazy_journal_init=0",
       device)  # fmt: skip
    made = time.time()
    drill.made_fs = True
    drill.pair.wait("remote", lambda d: (d["committed_point"].get("source_time") or 0) > made
                    and d["cycle"]["to_drain_bytes"] == 0, seconds=120,
                    what="a point holding the filesystem")  # fmt: skip


def run(root: Path, hosts: Hosts, rounds: int, seed: int, grains: int,
        faults: list[str] | None = None) -> list[Round]:  # fmt: skip
    """`rounds` rounds, each fault drawn at random (or `faults` in order, round after round)."""
    drill = Drill(root, hosts, grains, seed)
    done: list[Round] = []
    try:
        begin(drill)
        for number in range(rounds):
            fault = faults[number % len(faults)] if faults else drill.rng.choice(FAULTS)
            done.append(drill.round(number, fault))
    finally:
        drill.stop_all()
    return done
