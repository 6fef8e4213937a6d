"""A host on a mirrored volume, for the tests: ext4 made on the frontend's loop device, SQLite
databases (WAL and rollback journal) and files written with fsync, each commit logged with the
moment it returned; and the check of a committed point's images against that log.

Every loop device and mount made here is released on the way out, also when a check fails.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path


def sh(*command: str) -> str:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"{' '.join(command)}: exit {done.returncode}: {done.stderr}"
    return done.stdout


@contextmanager
def attached(image: Path, read_only: bool = False) -> Iterator[str]:
    device = sh("losetup", "--find", "--show", *(["--read-only"] if read_only else []),
                str(image)).strip()  # fmt: skip
    try:
        yield device
    finally:
        subprocess.run(["losetup", "-d", device], check=False)


@contextmanager
def mounted(device: str, where: Path) -> Iterator[Path]:
    where.mkdir(parents=True, exist_ok=True)
    sh("mount", device, str(where))
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=False)


@dataclass
class Commit:
    """One commit the host was told is done: what, and when the call returned."""

    kind: str
    """"wal", "rollback" (a SQLite row each) or "file" """
    number: int
    returned_at: float


@dataclass
class HostWorkload:
    """SQLite transactions (a database in WAL mode, synchronous=FULL, and one with a rollback
    journal, synchronous=EXTRA) and files written with fsync, on the filesystems mounted at
    `databases` and `files` (the same one, or one each for a consistency group), in one thread
    until stopped.  Each file names the transaction it follows, so an image that holds a file must
    hold that transaction too."""

    databases: Path
    files: Path
    log: list[Commit] = field(default_factory=list)
    error: BaseException | None = None

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="host-workload", daemon=True)

    def __enter__(self) -> HostWorkload:
        (self.files / "app").mkdir(exist_ok=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(60)
        assert not self._thread.is_alive(), "the host workload did not stop"

    def check_running(self) -> None:
        if self.error is not None:
            raise AssertionError(f"the host workload failed: {self.error!r}") from self.error

    def count(self, kind: str) -> int:
        return sum(c.kind == kind for c in self.log)

    def _run(self) -> None:
        opened: list[sqlite3.Connection] = []
        try:
            wal = _database(self.databases / "wal.db", "wal")
            opened.append(wal)
            rollback = _database(self.databases / "rollback.db", "delete")
            opened.append(rollback)
            number = 0
            while not self._stop.is_set():
                for kind, db in (("wal", wal), ("rollback", rollback)):
                    db.execute("INSERT INTO t VALUES (?, randomblob(3000 + ? % 5000))",
                               (number, number))  # fmt: skip
                    db.commit()
                    self.log.append(Commit(kind, number, time.time()))
                _write_file(self.files / "app" / f"{number}.txt", number)
                self.log.append(Commit("file", number, time.time()))
                number += 1
        except BaseException as err:  # the test reads it: a thread's exception goes nowhere
            self.error = err
        finally:
            # closed also when the device died under them: an open file keeps a lazily
            # unmounted filesystem, and the loop device under it, busy
            for db in opened:
                with contextlib.suppress(sqlite3.Error):
                    db.close()


def _database(path: Path, mode: str) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level="DEFERRED")
    db.execute(f"PRAGMA journal_mode={mode}")
    # a rollback journal's commit is its unlink: only EXTRA syncs the directory after it, so
    # that a commit that returned survives a power loss (FULL leaves it to ext4's next commit)
    db.execute(f"PRAGMA synchronous={'EXTRA' if mode == 'delete' else 'FULL'}")
    db.execute("CREATE TABLE IF NOT EXISTS t (n INTEGER PRIMARY KEY, pad BLOB)")
    db.commit()
    return db


def file_text(number: int) -> str:
    return f"after transaction {number}\n" * (1 + number % 300)


def _write_file(path: Path, number: int) -> None:
    with open(path, "w") as f:
        f.write(file_text(number))
        f.flush()
        os.fsync(f.fileno())
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


@dataclass(frozen=True)
class Recovered:
    """What a committed point's images hold, by kind: the numbers present."""

    wal: frozenset[int]
    rollback: frozenset[int]
    files: frozenset[int]
    """the files there whole"""


def fsck(device: str) -> None:
    """`e2fsck -fn`: exit 0, nothing to fix (free counts a crash leaves are not errors)."""
    done = subprocess.run(["e2fsck", "-fn", device], capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"e2fsck -fn {device}: exit {done.returncode}\n{done.stdout}"


def needs_recovery(device: str) -> bool:
    """The filesystem's journal holds transactions to replay (`needs_recovery`)."""
    header = sh("dumpe2fs", "-h", device)
    lines = header.splitlines()
    features = next((line for line in lines if line.startswith("Filesystem features")), "")
    return "needs_recovery" in features.split()


def recover(databases: Path, files: Path, where: Path, inside: str = "") -> Recovered:
    """Check a committed point's images as a failover would use them: each attached read-only,
    `e2fsck -fn` (unless its journal needs replaying); then each mounted (its journal replayed,
    as a mount after a crash does), `PRAGMA integrity_check` of both databases, every file
    whole; unmounted, `e2fsck -fn` again.  The images are changed by the replay: give copies.
    `files` may be `databases`: one filesystem holds both; `inside`: the folder of each
    filesystem the workload ran in."""
    images = dict.fromkeys((databases, files))
    for image in images:
        with attached(image, read_only=True) as device:
            # a crash image whose journal needs replaying shows, before the replay, what the
            # replay mends (a directory block checkpointed before its group's descriptor): the
            # check that counts is the one after the mount replayed it, below
            if not needs_recovery(device):
                fsck(device)
    with ExitStack() as stack:
        devices = {image: stack.enter_context(attached(image)) for image in images}
        roots = {image: stack.enter_context(mounted(device, where / f"fs{i}"))
                 for i, (image, device) in enumerate(devices.items())}  # fmt: skip
        numbers: dict[str, frozenset[int]] = {}
        for kind in ("wal", "rollback"):
            path = roots[databases] / inside / f"{kind}.db"
            assert path.exists(), f"{path} is not in the image"
            db = sqlite3.connect(path)
            try:
                assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
                numbers[kind] = frozenset(n for (n,) in db.execute("SELECT n FROM t"))
            finally:
                db.close()
        present = set()
        for path in (roots[files] / inside / "app").iterdir():
            # a file not yet synced at the point's instant may be there short (ext4 orders data
            # before the metadata that points at it: never other bytes)
            number, text = int(path.stem), path.read_text()
            assert file_text(number).startswith(text), f"{path} holds bytes never written"
            if text == file_text(number):
                present.add(number)
        for image in images:  # unmounted (the stack's inner layers) before the second check
            subprocess.run(["umount", str(roots[image])], check=True)
        for device in devices.values():
            fsck(device)
    return Recovered(numbers["wal"], numbers["rollback"], frozenset(present))


def check_point(recovered: Recovered, log: list[Commit], instant: float) -> dict[str, int]:
    """The point is the host's state at one instant: every commit that returned before it is
    there, and a file is there only with the transactions it follows.  Returns how many
    commits of each kind were before and after the instant (a check that proves nothing
    unless both are positive)."""
    by_kind = {"wal": recovered.wal, "rollback": recovered.rollback, "file": recovered.files}
    before = [c for c in log if c.returned_at < instant]
    missing = [c for c in before if c.number not in by_kind[c.kind]]
    assert not missing, f"{len(missing)} commits returned before the point are not in it: " \
        f"{missing[:5]}"  # fmt: skip
    for number in recovered.files:
        assert number in recovered.wal and number in recovered.rollback, (
            f"file {number} is in the point without the transactions it follows"
        )
    for number in recovered.rollback:
        assert number in recovered.wal, f"rollback row {number} without WAL row {number}"
    return {"before": len(before), "after": len(log) - len(before)}
