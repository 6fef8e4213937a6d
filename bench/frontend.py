"""Benchmark: the host's I/O through four block devices side by side in one run — a bare loop
device, a FUSE passthrough with no mirroring (the frontend's own limit), and pitmirror's block
frontend mirroring with design A and with design B.

  (a) bare loop device: a sparse file attached with `losetup --find --show --direct-io=on`;
  (b) FUSE passthrough: bench/passthrough_fuse.py in a child process (node/frontend.py's FUSE
      options, one file, pread/pwrite on a backing file, an fsync of it at every FUSE fsync),
      its file attached to a loop device with direct I/O as node/frontend.py attaches it;
  (c) design A: two `pitmirror serve` daemons over TCP on 127.0.0.1, `[frontend]` at the local
      site; the loop device is the one the local daemon's status names;
  (d) design B: a home (with `[frontend]`) and a remote daemon, one group of one volume.

The daemons run with the product's defaults (configs written here, not tests/daemons.py's
fast-test timings).  Every volume is `--size-mib` of sparse files in one temporary folder
(`--dir`).  The mirrors first copy the whole volume (point 1, untimed).  Before every
measurement each mirror has caught up with everything written to it (its status shows a point
taken after its last write committed at the remote, nothing out of sync, nothing left to drain
or merge): a measurement times steady-state mirroring of its own writes, and no setting's
background copy runs while another setting is measured.  After each fio run the device gets
one flush (untimed), as a host gives one sooner or later, so that the catching up before the
next measurement has nothing left in the write cache.

Workloads, each `--seconds` long, on each device:
  1. fio --rw=randwrite --bs=4k --fsync=32 --direct=1 --ioengine=psync on the device: IOPS, MiB/s;
  2. the same with 64 KiB writes;
  3. fio --rw=write --bs=1m --end_fsync=1: MiB/s (fio's runtime includes that last fsync);
  4. SQLite: mkfs.ext4 on the device (no discard, inode tables and journal written by mkfs so
     that no lazy initialisation writes while timed), mounted, a database in WAL mode with
     synchronous=FULL, one 1 KiB row per transaction: transactions/s; unmounted after.

Round by round — run 1 of each workload on (a), (b), (c), (d), then run 2, … — medians of
`--runs`, and ratios against (b) and (a); the README's goal is (c) and (d) at >= 0.7x of (b).
Needs root, fio, mkfs.ext4, losetup, /dev/fuse.  Progress on stderr, the table on stdout
(`--json`: only JSON there, with every run, the daemons' frontend counters over each
measurement and how long after it the mirror had committed all it wrote).  Every loop device,
mount, daemon and temporary file is taken away on the way out, also after a failure or Ctrl-C;
a daemon that does not stop within a minute of SIGTERM is aborted and its threads' stacks
shown.

    python bench/frontend.py [--runs 3] [--seconds 10] [--size-mib 1024] [--json]
"""

from __future__ import annotations

import argparse
import base64
import importlib.util
import json
import os
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO, Any

from pitmirror.impl.freeze_overlay.layout import site_volumes, volume_layout
from pitmirror.node.control import ControlError, request_status, watch_status
from pitmirror.node.freeze_overlay import groups_toml, topology_of
from pitmirror.node.frontend import FrontendError, clean_leftovers, loop_devices, mounts

GRAIN = 65536
GOAL = 0.7
PASSTHROUGH = Path(__file__).resolve().with_name("passthrough_fuse.py")
SETTINGS = {
    "a": "bare loop device",
    "b": "FUSE passthrough",
    "c": "design A mirror",
    "d": "design B mirror",
}
LABELS = {"a": "(a) loop", "b": "(b) FUSE", "c": "(c) A", "d": "(d) B"}
COUNTERS = ("writes", "written_bytes", "partial_grains", "flushes", "writebacks")
"""the frontend's status counters kept per measurement (their change over it)"""


@dataclass(frozen=True)
class Workload:
    key: str
    title: str
    fio: tuple[str, ...] | None
    """fio's workload options; None: SQLite on ext4"""
    metrics: tuple[tuple[str, str], ...]
    """(key, unit) of what it reports, the first the one the goal is judged on"""


WORKLOADS = (
    Workload("4k", "4 KiB random writes, fsync every 32",
             ("--rw=randwrite", "--bs=4k", "--fsync=32"), (("iops", "IOPS"), ("mib_s", "MiB/s"))),
    Workload("64k", "64 KiB random writes, fsync every 32",
             ("--rw=randwrite", "--bs=64k", "--fsync=32"), (("iops", "IOPS"), ("mib_s", "MiB/s"))),
    Workload("1m", "1 MiB sequential writes, fsync at the end",
             ("--rw=write", "--bs=1m", "--end_fsync=1"), (("mib_s", "MiB/s"),)),
    Workload("sqlite", "SQLite on ext4, WAL, synchronous=FULL", None, (("tx_s", "tx/s"),)),
)  # fmt: skip


class BenchError(Exception):
    """The bench cannot go on: the reason in one line."""


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def sh(*command: str, timeout: float = 120.0) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False,
                              timeout=timeout)  # fmt: skip
    except subprocess.TimeoutExpired:
        raise BenchError(f"{' '.join(command)}: no answer within {timeout:.0f} s") from None
    if done.returncode != 0:
        words = " ".join((done.stderr or done.stdout).split()) or f"exit {done.returncode}"
        raise BenchError(f"{' '.join(command)}: {words}")
    return done.stdout


def tail(log: Path, lines: int = 3) -> str:
    try:
        return " | ".join(log.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return ""


def sparse(path: Path, size: int) -> Path:
    with open(path, "wb") as f:
        f.truncate(size)
    return path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def under(path: str, root: Path) -> bool:
    return path == str(root) or path.startswith(f"{root}/")


# ---- devices ---------------------------------------------------------------------------------


@contextmanager
def workdir(parent: str | None) -> Iterator[Path]:
    """A temporary folder for every setting's files; on the way out whatever is still mounted
    or attached from it is taken away first (only after a failure in the steps that should
    have), and the folder is left in place, said, when that did not work."""
    root = Path(tempfile.mkdtemp(prefix="pitmirror-frontend-bench-", dir=parent))
    try:
        yield root
    finally:
        kept = False
        try:
            kept = not release_everything_under(root)
        finally:
            if kept:
                progress(f"left {root} in place: something is still mounted there")
            else:
                shutil.rmtree(root, ignore_errors=True)


def release_everything_under(root: Path) -> bool:
    """Unmount the host filesystems, detach the loop devices, unmount the FUSE mounts under
    `root` (that order: each holds the next); True when nothing is left."""
    found = [(point, kind) for _, point, kind in mounts() if under(point, root)]
    for point, kind in sorted(found, key=lambda m: (m[1].startswith("fuse"), -len(m[0]))):
        if kind.startswith("fuse"):
            for device, backing in loop_devices().items():
                if under(backing, Path(point)):
                    progress(f"detaching {device} (left over {backing})")
                    subprocess.run(["losetup", "-d", device], check=False)
        progress(f"unmounting {point} (left over)")
        subprocess.run(["umount", "-l", point], check=False)
    for device, backing in loop_devices().items():
        if under(backing, root):
            progress(f"detaching {device} (left over {backing})")
            subprocess.run(["losetup", "-d", device], check=False)
    return not any(under(point, root) for _, point, _ in mounts())


@contextmanager
def attached(file: Path) -> Iterator[str]:
    device = sh("losetup", "--find", "--show", "--direct-io=on", str(file)).strip()
    try:
        yield device
    finally:
        done = subprocess.run(["losetup", "-d", device], capture_output=True, text=True,
                              check=False)  # fmt: skip
        if done.returncode != 0:
            progress(f"losetup -d {device}: {done.stderr.strip()}")


def stop(process: subprocess.Popen[bytes], what: str, log: Path, seconds: float = 60.0) -> None:
    """SIGTERM; after `seconds`, SIGABRT (a child with PYTHONFAULTHANDLER writes every thread's
    stack to its log, shown here: why it hung), then SIGKILL."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(seconds)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGABRT)
            try:
                process.wait(10.0)
            except subprocess.TimeoutExpired:
                process.kill()
            stacks = log.read_text(errors="replace").splitlines()[-60:] if log.exists() else []
            progress(f"{what} did not stop within {seconds:.0f} s of SIGTERM; aborted, its log "
                     "ends:\n  " + "\n  ".join(stacks))  # fmt: skip
    process.wait()


def read_line(stream: IO[bytes], seconds: float) -> str:
    ready, _, _ = select.select([stream], [], [], seconds)
    return stream.readline().decode(errors="replace").strip() if ready else ""


@contextmanager
def passthrough(folder: Path, size: int) -> Iterator[str]:
    """Setting (b): the loop device over the passthrough's file."""
    folder.mkdir()
    backing, mount, log = sparse(folder / "backing.img", size), folder / "mnt", folder / "fuse.log"
    mount.mkdir()
    with open(log, "wb") as errors:
        # a session of its own: the terminal's Ctrl-C is the bench's, which detaches the loop
        # device before it stops the server (not a device left on a dead FUSE file)
        child = subprocess.Popen([sys.executable, str(PASSTHROUGH), str(backing), str(mount)],
                                 stdout=subprocess.PIPE, stderr=errors, start_new_session=True,
                                 env=os.environ | {"PYTHONFAULTHANDLER": "1"})  # fmt: skip
    try:
        assert child.stdout is not None
        if read_line(child.stdout, 30.0) != "ready":
            raise BenchError(f"the FUSE passthrough did not start: {tail(log)}")
        with attached(mount / "volume") as device:
            yield device
    finally:
        stop(child, "the FUSE passthrough", log)
        if child.stdout is not None:
            child.stdout.close()
        if any(point == str(mount) for _, point, _ in mounts()):
            subprocess.run(["umount", "-l", str(mount)], check=False)


# ---- the daemons -----------------------------------------------------------------------------


def wait_status(control: Path, until: Callable[[dict[str, Any]], bool], seconds: float,
                what: str) -> dict[str, Any]:  # fmt: skip
    """The first status of the daemon on `control` that satisfies `until`, from its change
    stream; BenchError after `seconds`, or when nothing changed for a minute."""
    deadline = time.monotonic() + seconds
    last: dict[str, Any] = {}
    try:
        doc: dict[str, Any]
        for doc in watch_status(control, quiet=min(seconds, 60.0)):
            last = doc
            if until(doc):
                return doc
            if time.monotonic() > deadline:
                break
    except TimeoutError:
        pass
    except ControlError as err:
        raise BenchError(str(err)) from None
    seen = {k: last.get(k) for k in ("committed_point", "out_of_sync", "cycle")}
    raise BenchError(f"{what}: not within {seconds:.0f} s; last status {json.dumps(seen)}")


@dataclass
class Mirror:
    """Two daemons: the site the host writes (its frontend the host's device) and the remote."""

    key: str
    folder: Path
    home: str
    remote: str
    patience: float
    """seconds a full copy of the volume may take"""
    device: str = ""
    written_at: float = 0.0
    """when the host last wrote to the device"""
    caught_up_to: float = 0.0
    """the last write the remote is known to hold a point after"""

    def control(self, site: str) -> Path:
        return self.folder / f"state-{site}" / "control.sock"

    def frontend(self) -> dict[str, Any]:
        frontend: dict[str, Any] = request_status(self.control(self.home))["frontend"]
        return frontend

    def counters(self) -> dict[str, int]:
        frontend = self.frontend()
        return {key: int(frontend[key]) for key in COUNTERS}

    def wrote(self) -> None:
        self.written_at = time.time()

    def catch_up(self) -> float:
        """Wait until a point taken after the host's last write is committed at the remote and
        neither site has background work left; the seconds it took."""
        if self.caught_up_to >= self.written_at:
            return 0.0
        started, mark = time.monotonic(), self.written_at

        def home(doc: dict[str, Any]) -> bool:
            point = doc["committed_point"]
            return (point.get("source_time") or 0) >= mark and doc["out_of_sync"]["grains"] == 0

        def remote(doc: dict[str, Any]) -> bool:
            busy = doc["cycle"]["phase"] in ("draining", "merging")
            return not busy and doc["out_of_sync"]["grains"] == 0

        what = f"({self.key}) catching up with the host's writes"
        wait_status(self.control(self.home), home, self.patience, what)
        wait_status(self.control(self.remote), remote, self.patience, what)
        self.caught_up_to = mark
        return time.monotonic() - started


@contextmanager
def daemon(mirror: Mirror, site: str, frontend: bool) -> Iterator[None]:
    config, log = mirror.folder / f"{site}.toml", mirror.folder / f"{site}.log"
    command = [sys.executable, "-c", "from pitmirror.node.cli import main; main()", "serve",
               "--config", str(config)]  # fmt: skip
    with open(log, "ab") as errors:
        # a session of its own: at Ctrl-C the bench unmounts the host's filesystem before the
        # daemon takes its device away
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=errors,
                                   start_new_session=True,
                                   env=os.environ | {"PYTHONFAULTHANDLER": "1"})  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:  # the control socket answers once the daemon serves (and has its devices)
            try:
                request_status(mirror.control(site), timeout=5.0)
                break
            except ControlError:
                pass
            if process.poll() is not None:
                raise BenchError(f"({mirror.key}) the {site} daemon exited {process.returncode}: "
                                 f"{tail(log)}")  # fmt: skip
            if time.monotonic() > deadline:
                raise BenchError(f"({mirror.key}) the {site} daemon never answered: {tail(log)}")
            time.sleep(0.05)
        yield
    finally:
        stop(process, f"({mirror.key}) the {site} daemon", log)
        if frontend:  # after a kill: what the daemon could not take away itself
            try:
                for words in clean_leftovers(mirror.folder / f"state-{site}" / "frontend"):
                    progress(f"({mirror.key}) {words}")
            except FrontendError as err:
                progress(f"({mirror.key}) {err}")


def start(stack: ExitStack, mirror: Mirror, configs: dict[str, str]) -> Mirror:
    (mirror.folder / "secret").write_text(base64.b64encode(os.urandom(24)).decode() + "\n")
    for site, text in configs.items():
        (mirror.folder / f"{site}.toml").write_text(text)
    stack.enter_context(daemon(mirror, mirror.remote, frontend=False))  # the listener first
    stack.enter_context(daemon(mirror, mirror.home, frontend=True))
    volumes = mirror.frontend()["volumes"]
    mirror.device = str(volumes[0]["device"])
    if not mirror.device.startswith("/dev/loop"):
        raise BenchError(f"({mirror.key}) the frontend names no loop device: {volumes}")
    return mirror


def header(design: str, site: str, mirror: str) -> str:
    return (f'design = "{design}"\nsite = "{site}"\nstate_dir = "state-{site}"\n'
            f'grain_size = {GRAIN}\nmirror = "{mirror}"\nsecret_file = "secret"\n')  # fmt: skip


FRONTEND = '[frontend]\nmount = "frontend"\n'


def design_a(stack: ExitStack, folder: Path, grains: int, patience: float) -> Mirror:
    folder.mkdir()
    for name in ("source", "i1", "i2", "target"):
        sparse(folder / f"{name}.img", grains * GRAIN)
    port = free_port()
    design = "cyclic-flashcopy"
    configs = {
        "remote": header(design, "remote", "bench-a")
        + f'[volumes]\ni2 = "i2.img"\ntarget = "target.img"\n[link]\nlisten = "127.0.0.1:{port}"\n',
        "local": header(design, "local", "bench-a")
        + f'[volumes]\nsource = "source.img"\ni1 = "i1.img"\n[link]\npeer = "127.0.0.1:{port}"\n'
        + FRONTEND,
    }  # fmt: skip
    return start(stack, Mirror("c", folder, "local", "remote", patience), configs)


def design_b(stack: ExitStack, folder: Path, grains: int, patience: float) -> Mirror:
    folder.mkdir()
    table = {
        "groups": [
            {"remotes": ["right"], "objects": [{"name": "vol", "home": "left", "grains": grains}]}
        ]
    }
    topology = topology_of(table, folder / "left.toml")
    layout, _ = volume_layout(topology)
    for name, count in layout.items():
        sparse(folder / f"{name}.img", count * GRAIN)
    port = free_port()
    links = {"right": f'listen = "127.0.0.1:{port}"\n',
             "left": f'[link.peers]\nright = "127.0.0.1:{port}"\n' + FRONTEND}  # fmt: skip
    configs = {}
    for site, link in links.items():
        volumes = "".join(f'"{v}" = "{v}.img"\n' for v in sorted(site_volumes(topology, site)))
        configs[site] = (header("freeze-overlay", site, "bench-b") + groups_toml(topology)
                         + f"[volumes]\n{volumes}[link]\n{link}")  # fmt: skip
    return start(stack, Mirror("d", folder, "left", "right", patience), configs)


# ---- the workloads ---------------------------------------------------------------------------


def fio(device: str, options: tuple[str, ...], seconds: int) -> dict[str, float]:
    # --thread: the job is a thread of the one process, which a Ctrl-C ends (a forked job
    # would go on writing to the device while the daemon behind it stops)
    command = ["fio", "--name=bench", f"--filename={device}", *options, "--direct=1",
               "--ioengine=psync", "--time_based", f"--runtime={seconds}", "--thread",
               "--output-format=json"]  # fmt: skip
    out = sh(*command, timeout=seconds + 600.0)
    try:
        job = json.loads(out[out.index("{") :])["jobs"][0]
        write = job["write"]
    except (ValueError, KeyError, IndexError):
        raise BenchError(f"fio on {device} said no result: {out[:200]!r}") from None
    if job.get("error"):
        raise BenchError(f"fio on {device}: error {job['error']}")
    return {"iops": float(write["iops"]), "mib_s": float(write["bw_bytes"]) / 2**20}


def flush(device: str) -> None:
    """The device's flush, untimed: the random-write workloads end with up to 31 writes after
    their last fsync, which design A's local site would otherwise hold in its write cache, out
    of every point (the module's docstring says why)."""
    fd = os.open(device, os.O_WRONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def filesystem(device: str, where: Path) -> Iterator[Path]:
    sh("mkfs.ext4", "-q", "-F", "-E", "nodiscard,lazy_itable_init=0,lazy_journal_init=0",
       device, timeout=600.0)  # fmt: skip
    where.mkdir(exist_ok=True)
    sh("mount", device, str(where))
    try:
        yield where
    finally:
        if subprocess.run(["umount", str(where)], check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(where)], check=False)


def transactions(where: Path, seconds: int, before: Callable[[], None]) -> dict[str, float]:
    """SQLite transactions for `seconds` after `before` (the database made first, untimed)."""
    import sqlite3  # checked at the start: a Python built without it gets one line there

    db = sqlite3.connect(where / "bench.db", isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("CREATE TABLE t (n INTEGER PRIMARY KEY, body BLOB)")
        before()
        count, started = 0, time.perf_counter()
        end = started + seconds
        while time.perf_counter() < end:
            db.execute("BEGIN")
            db.execute("INSERT INTO t (body) VALUES (?)", (os.urandom(1024),))
            db.execute("COMMIT")
            count += 1
        return {"tx_s": count / (time.perf_counter() - started)}
    finally:
        db.close()


# ---- the run ---------------------------------------------------------------------------------


@dataclass
class Measured:
    values: dict[str, float]
    counters: dict[str, int] | None = None
    """a mirror's frontend counters, their change over the timed part"""
    drain_seconds: float | None = None
    """a mirror's time, after the measurement, to commit a point holding all it wrote"""


def measure(workload: Workload, key: str, device: str, mirrors: dict[str, Mirror],
            seconds: int, root: Path) -> Measured:  # fmt: skip
    mirror = mirrors.get(key)
    before: dict[str, int] = {}

    def settle() -> None:
        """Every mirror caught up (here: with mkfs), the counters read: the timed part starts."""
        for other in mirrors.values():
            other.catch_up()
        before.update(mirror.counters() if mirror else {})

    try:
        if workload.fio is not None:
            settle()
            values = fio(device, workload.fio, seconds)
            flush(device)
        else:
            with filesystem(device, root / f"mnt-{key}") as where:
                if mirror:
                    mirror.wrote()
                values = transactions(where, seconds, settle)
    finally:
        if mirror:
            mirror.wrote()
    measured = Measured(values)
    if mirror:
        after = mirror.counters()
        measured.counters = {name: after[name] - before[name] for name in COUNTERS}
        # now, not before the next measurement: no setting is measured while another's
        # background copy runs
        measured.drain_seconds = mirror.catch_up()
    return measured


def ratio(x: float, y: float) -> float | None:
    return round(x / y, 3) if y else None


def run(args: argparse.Namespace) -> dict[str, Any]:
    size = args.size_mib * 2**20
    grains = size // GRAIN
    # a copy of every grain of the volume, one at a time (random writes): ~10 ms a grain
    patience = 120.0 + args.size_mib / 2
    started = time.monotonic()
    results: dict[str, dict[str, list[Measured]]] = {
        w.key: {key: [] for key in SETTINGS} for w in WORKLOADS
    }
    devices: dict[str, str] = {}
    with ExitStack() as stack:
        try:
            root = stack.enter_context(workdir(args.dir))
            progress(f"(a) {SETTINGS['a']}: attaching a {args.size_mib} MiB file")
            devices["a"] = stack.enter_context(attached(sparse(root / "a.img", size)))
            progress(f"(b) {SETTINGS['b']}: starting bench/passthrough_fuse.py")
            devices["b"] = stack.enter_context(passthrough(root / "b", size))
            progress(f"(c) {SETTINGS['c']}: starting the local and remote daemons")
            mirrors = {"c": design_a(stack, root / "c", grains, patience)}
            progress(f"(d) {SETTINGS['d']}: starting the home and remote daemons")
            mirrors["d"] = design_b(stack, root / "d", grains, patience)
            for key, mirror in mirrors.items():
                devices[key] = mirror.device
                begun = time.monotonic()
                wait_status(mirror.control(mirror.home),
                            lambda d: d["committed_point"]["number"] >= 1, patience,
                            f"({key}) the first full copy")  # fmt: skip
                mirror.wrote()  # and the next point committed, what the copy left drained
                mirror.catch_up()
                progress(f"({key}) {SETTINGS[key]} on {mirror.device}: the first full copy "
                         f"committed and drained ({time.monotonic() - begun:.1f} s)")  # fmt: skip
            for n in range(1, args.runs + 1):
                for workload in WORKLOADS:
                    for key in SETTINGS:
                        progress(f"run {n}/{args.runs}: {workload.title} on ({key}) "
                                 f"{SETTINGS[key]} {devices[key]}")  # fmt: skip
                        done = measure(workload, key, devices[key], mirrors, args.seconds, root)
                        results[workload.key][key].append(done)
                        said = ", ".join(f"{done.values[m]:,.1f} {unit}"
                                         for m, unit in workload.metrics)  # fmt: skip
                        if done.drain_seconds is not None:
                            said += f"; all of it committed {done.drain_seconds:.1f} s after"
                        progress(f"  {said}")
        finally:
            # a second Ctrl-C must not cut the taking down short
            signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    return document(args, devices, results, time.monotonic() - started)


def document(
    args: argparse.Namespace,
    devices: dict[str, str],
    results: dict[str, dict[str, list[Measured]]],
    wall: float,
) -> dict[str, Any]:
    workloads: dict[str, Any] = {}
    goal: dict[str, Any] = {}
    daemons: dict[str, Any] = {"c": {}, "d": {}}
    for workload in WORKLOADS:
        runs = results[workload.key]
        metrics: dict[str, Any] = {}
        for metric, unit in workload.metrics:
            values = {key: [m.values[metric] for m in runs[key]] for key in SETTINGS}
            med = {key: statistics.median(v) for key, v in values.items()}
            metrics[metric] = {
                "unit": unit,
                "settings": {key: {"median": round(med[key], 2),
                                   "runs": [round(x, 2) for x in values[key]]}
                             for key in SETTINGS},
                "ratios": {f"{x}/{y}": ratio(med[x], med[y])
                           for x, y in (("b", "a"), ("c", "a"), ("d", "a"), ("c", "b"),
                                        ("d", "b"))},
            }  # fmt: skip
        first = metrics[workload.metrics[0][0]]["ratios"]
        goal[workload.key] = {key: {"ratio": first[f"{key}/b"],
                                    "met": (first[f"{key}/b"] or 0) >= GOAL}
                              for key in ("c", "d")}  # fmt: skip
        workloads[workload.key] = {"title": workload.title, "metrics": metrics}
        for key in daemons:
            daemons[key][workload.key] = [
                {"drain_seconds": round(m.drain_seconds or 0, 2), **(m.counters or {})}
                for m in runs[key]
            ]
    return {
        "schema": 1,
        "size_mib": args.size_mib,
        "seconds": args.seconds,
        "runs": args.runs,
        "settings": {
            key: {"title": title, "device": devices.get(key)} for key, title in SETTINGS.items()
        },  # fmt: skip
        "workloads": workloads,
        "goal": {"ratio": GOAL, "against": "b", "workloads": goal},
        "daemons": daemons,
        "wall_seconds": round(wall, 1),
    }


def number(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.1f}"


def times(ratio: float | None) -> str:
    if ratio is None:
        return "-"
    return f"{ratio:.2f}" if ratio >= 0.1 else f"{ratio:.3f}"


def table(doc: dict[str, Any]) -> str:
    pairs = ("b/a", "c/a", "d/a", "c/b", "d/b")
    lines = [
        f"host I/O through four block devices: {doc['size_mib']} MiB volumes, {doc['seconds']} s "
        f"per measurement, medians of {doc['runs']} runs (settings interleaved run by run)",
        *(f"  ({key}) {s['title']:18s} {s['device']}" for key, s in doc["settings"].items()),
        "",
        f"{'workload':42s} {'unit':6s}" + "".join(f"{label:>10s}" for label in LABELS.values())
        + "".join(f"{p:>7s}" for p in pairs),
    ]  # fmt: skip
    for workload in doc["workloads"].values():
        for metric in workload["metrics"].values():
            lines.append(
                f"{workload['title']:42s} {metric['unit']:6s}"
                + "".join(f"{number(metric['settings'][key]['median']):>10s}" for key in SETTINGS)
                + "".join(f"{times(metric['ratios'][p]):>7s}" for p in pairs)
            )  # fmt: skip
    lines += ["", f"goal: (c) and (d) at >= {GOAL}x of (b), the FUSE passthrough"]
    for key, judged in doc["goal"]["workloads"].items():
        title = doc["workloads"][key]["title"]
        lines.append(f"  {title:42s}" + "".join(
            f"  ({s}) {times(j['ratio'])}x {'met' if j['met'] else 'MISSED':6s}"
            for s, j in judged.items()))  # fmt: skip
    lines += [
        "",
        "the daemons' frontend per measurement, medians (flushes: the host's; writebacks: the "
        "cache full; drained: until a point holding every write was committed, untimed)",
    ]
    for key, per in doc["daemons"].items():
        for wkey, runs in per.items():
            if not runs or "writes" not in runs[0]:
                continue
            med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
            lines.append(
                f"  ({key}) {doc['workloads'][wkey]['title']:42s} writes {med['writes']:,.0f}  "
                f"flushes {med['flushes']:,.0f}  writebacks {med['writebacks']:,.0f}  "
                f"partial grains {med['partial_grains']:,.0f}  "
                f"drained {med['drain_seconds']:.1f} s after"
            )
    lines.append(f"\nwall time {doc['wall_seconds']:.0f} s")
    return "\n".join(lines)


def missing_tools() -> list[str]:
    missing = [t for t in ("fio", "mkfs.ext4", "losetup", "mount", "umount") if not shutil.which(t)]
    if importlib.util.find_spec("sqlite3") is None:
        missing.append("sqlite3 (Python's module)")
    if not Path("/dev/fuse").exists():
        missing.append("/dev/fuse")
    return missing


def interrupted(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # SIGTERM and SIGHUP take everything down as Ctrl-C does


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10, help="per measurement")
    parser.add_argument("--size-mib", type=int, default=1024, help="each setting's volume")
    parser.add_argument("--dir", help="where the volumes' files go (default: the temp folder)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.runs < 1 or args.seconds < 1 or args.size_mib < 64:
        parser.error("--runs and --seconds at least 1, --size-mib at least 64")
    if os.geteuid() != 0:
        print("bench/frontend.py: needs root (loop devices, FUSE, mkfs and mount); run it as root",
              file=sys.stderr)  # fmt: skip
        sys.exit(2)
    missing = missing_tools()
    if missing:
        print(f"bench/frontend.py: missing {', '.join(missing)}", file=sys.stderr)
        sys.exit(2)
    run_and_print("bench/frontend.py", run, args, table)


Doc = dict[str, Any]


def run_and_print(name: str, run: Callable[[argparse.Namespace], Doc], args: argparse.Namespace,
                  table: Callable[[Doc], str]) -> None:  # fmt: skip
    """A bench's run to its end: SIGTERM and SIGHUP as Ctrl-C (everything taken down), a
    BenchError in one line, the table or (`--json`) the document on stdout."""
    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGHUP, interrupted)
    try:
        doc = run(args)
    except KeyboardInterrupt:
        print(f"{name}: interrupted (everything it set up is taken down)", file=sys.stderr)
        sys.exit(130)
    except BenchError as err:
        print(f"{name}: {err}", file=sys.stderr)
        sys.exit(1)
    print(json.dumps(doc, indent=2) if args.json else table(doc))


if __name__ == "__main__":
    main()
