"""A site's metadata journal: maps, cycle and committed point, made durable record by record.

Each record is one line `{"seq": n, "synced": m, "changes": {...}, "crc": c}` appended to the
log; `sync()` is the barrier that makes the appends so far durable, and `synced` says which
records were durable when this one was appended.  Changes name fields: an integer field takes
its new value, a map field takes `{"add": [...]}`, `{"remove": [...]}` or `{"assign": "<hex
bitmap>"}` (together: assign, then add, then remove).  Replay applies the snapshot, then every
later record.

Power loss (the fault model of DESIGN.md): an append not yet synced may be lost or stop at any
byte, and of several unsynced appends any may survive.  Recovery (`load`) cuts such a tail off
the log, so the next append starts on a clean line.  Damage that a power loss cannot cause is an
error that names what is lost, never a silent roll-back to an older state: a record that does
not parse (whichever byte is hit, its line end too) with a valid record after it that was
appended once the damaged one was durable, or a gap in the sequence numbers.

Compaction writes a snapshot (temp file, fsync, rename, fsync of the directory) and then
truncates the log; a crash between the two only replays records the snapshot already holds,
which `seq` skips.  A snapshot is replaced atomically; the power-loss explorer treats a
compaction as one durable step.
"""

from __future__ import annotations

import json
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from pitmirror.impl.bitmap import GrainMap
from pitmirror.impl.taps import IoTap

Metadata = dict[str, int | GrainMap]
Changes = dict[str, Any]


class JournalError(Exception):
    """The journal on disk cannot be replayed; the message says where and what is lost."""


def apply_changes(meta: Metadata, changes: Changes) -> None:
    for name, change in changes.items():
        current = meta.get(name)
        if isinstance(current, GrainMap):
            if "assign" in change:  # then any adds and removes change the assigned map
                current = meta[name] = GrainMap.from_hex(current.grain_count, change["assign"])
            if change.get("clear"):  # a map emptied by a record that names no grain of it
                current.clear()
            current.update(change.get("add", ()))
            for g in change.get("remove", ()):
                current.discard(g)
        elif isinstance(current, int):
            meta[name] = int(change)
        else:
            raise JournalError(f"record changes unknown field {name!r}")


RECORD_START = b'{"changes": '
"""how every record line begins (its keys sorted): where replay looks for whole records behind
a damaged one"""


def record_line(seq: int, changes: Changes, synced: int | None = None) -> bytes:
    """One record; `synced` is the newest record durable when it is appended (by default the
    one before it)."""
    body = {"seq": seq, "changes": changes, "synced": seq - 1 if synced is None else synced}
    crc = zlib.crc32(json.dumps(body, sort_keys=True).encode())
    return (json.dumps({**body, "crc": crc}, sort_keys=True) + "\n").encode()


@dataclass(frozen=True)
class _Record:
    seq: int
    synced: int
    changes: Changes


def _parse(raw: bytes) -> _Record | None:
    if not raw.startswith(RECORD_START) or not raw.endswith(b"\n"):
        return None  # torn, or not where a record begins
    try:
        obj = json.loads(raw)
        seq = int(obj["seq"])
        # a journal written before records said what was durable synced each one
        synced = int(obj.get("synced", seq - 1))
        body = {"seq": obj["seq"], "changes": obj["changes"]}
        if "synced" in obj:
            body["synced"] = obj["synced"]
        if zlib.crc32(json.dumps(body, sort_keys=True).encode()) != obj["crc"]:
            return None  # a torn or damaged record
        return _Record(seq, synced, dict(obj["changes"]))
    except (ValueError, KeyError, TypeError, AttributeError):  # a torn or damaged record
        return None


def _records_in(raw: bytes) -> list[_Record]:
    """Every whole, valid record that begins anywhere in `raw` (behind a damaged record, a
    record can begin inside its line: a damaged line end glues two lines into one)."""
    found, at = [], raw.find(RECORD_START)
    while at >= 0:
        end = raw.find(b"\n", at)
        if end < 0:
            break
        if (record := _parse(raw[at : end + 1])) is not None:
            found.append(record)
        at = raw.find(RECORD_START, at + 1)
    return found


def _records(first: int, last: int) -> str:
    return f"record {first}" if first == last else f"records {first}..{last}"


def _encode(meta: Metadata) -> dict[str, Any]:
    return {k: (v.to_hex() if isinstance(v, GrainMap) else v) for k, v in meta.items()}


class JournalStore(Protocol):
    """Where a journal's log and snapshot live: files, or memory (memory volumes, the crash
    explorer's crash states)."""

    where: str

    def read_log(self) -> bytes: ...
    def append(self, data: bytes) -> None: ...
    def sync(self) -> None: ...
    def truncate(self, size: int) -> None:
        """Cut the log to `size` bytes, durably."""
        ...

    def read_snapshot(self) -> bytes | None: ...
    def replace_snapshot(self, data: bytes) -> None:
        """Replace the snapshot atomically and durably, then empty the log."""
        ...


def replace_durably(path: Path, data: bytes) -> None:
    """`path` holds `data`, old or new whole after any crash: a temp file made durable, renamed
    over it, the rename made durable."""
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class FileStore:
    """`<site>.journal` and `<site>.snapshot` in a directory."""

    def __init__(self, directory: Path, site: str) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.log_path = directory / f"{site}.journal"
        self.snapshot_path = directory / f"{site}.snapshot"
        self.where = str(self.log_path)

    def read_log(self) -> bytes:
        return self.log_path.read_bytes() if self.log_path.exists() else b""

    def append(self, data: bytes) -> None:
        fd = os.open(self.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)

    def sync(self) -> None:
        fd = os.open(self.log_path, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def truncate(self, size: int) -> None:
        fd = os.open(self.log_path, os.O_WRONLY)
        try:
            os.ftruncate(fd, size)
            os.fsync(fd)
        finally:
            os.close(fd)

    def read_snapshot(self) -> bytes | None:
        return self.snapshot_path.read_bytes() if self.snapshot_path.exists() else None

    def replace_snapshot(self, data: bytes) -> None:
        replace_durably(self.snapshot_path, data)
        with open(self.log_path, "wb") as f:
            os.fsync(f.fileno())


class MemoryStore:
    """A journal in memory: nothing survives the process, as with a memory volume."""

    def __init__(self, site: str, log: bytes = b"", snapshot: bytes | None = None) -> None:
        self.where = f"memory:{site}.journal"
        self.log = bytearray(log)
        self.snapshot = snapshot

    def read_log(self) -> bytes:
        return bytes(self.log)

    def append(self, data: bytes) -> None:
        self.log += data

    def sync(self) -> None:
        pass

    def truncate(self, size: int) -> None:
        del self.log[size:]

    def read_snapshot(self) -> bytes | None:
        return self.snapshot

    def replace_snapshot(self, data: bytes) -> None:
        self.snapshot = data
        self.log = bytearray()


@dataclass(frozen=True)
class Replayed:
    """What the durable journal says: the metadata, the newest record applied, how many bytes
    of the log are whole records, and the torn tail after them (empty when there is none)."""

    meta: Metadata
    seq: int
    records: int
    good_bytes: int
    torn_tail: bytes


COMPACT_EVERY = 1024
"""records between snapshots, unless an engine is given another interval"""


class Journal:
    """The metadata journal of one site: records appended, made durable by `sync()`, folded
    into a snapshot every `compact_every` records."""

    def __init__(
        self,
        store: JournalStore | Path,
        site: str,
        initial: Metadata,
        compact_every: int = COMPACT_EVERY,
    ) -> None:
        self.store: JournalStore = FileStore(store, site) if isinstance(store, Path) else store
        self.site = site
        self.device = f"{site}.journal"
        """its name in the write log"""
        self.compact_every = compact_every
        self._initial = {
            k: (v.copy() if isinstance(v, GrainMap) else v) for k, v in initial.items()
        }
        self._seq = 0
        self._synced = 0
        self._size = 0
        self._since_snapshot = 0
        self.io_log: IoTap | None = None
        self.cut_torn_tail = True
        """recovery cuts a torn tail off the log (False: the journal-keeps-torn-tail mutant,
        whose next append lands after the garbage and is lost at the next replay)"""

    @property
    def seq(self) -> int:
        """The newest record appended (or replayed by `load`)."""
        return self._seq

    def fresh(self) -> Metadata:
        return {k: (v.copy() if isinstance(v, GrainMap) else v) for k, v in self._initial.items()}

    def replay(self) -> Replayed:
        """The durable metadata, read without changing anything; JournalError when the log
        holds damage a power loss cannot cause."""
        meta = self.fresh()
        seq = 0
        snapshot = self.store.read_snapshot()
        if snapshot is not None:
            snap = json.loads(snapshot)
            seq = int(snap["seq"])
            for name, value in snap["meta"].items():
                apply_changes(meta, {name: {"assign": value} if isinstance(value, str) else value})
        raw = self.store.read_log()
        offset, records = 0, 0
        for line in raw.splitlines(keepends=True):
            record = _parse(line)
            if record is None:
                self._check_tail(seq, raw[offset:])
                break  # a tail the power loss hit: unsynced appends, lost or torn
            if record.seq > seq:
                if record.seq != seq + 1:
                    raise JournalError(
                        f"{self.store.where}: {_records(seq + 1, record.seq - 1)} lost: missing "
                        f"(record {record.seq} follows record {seq})"
                    )
                apply_changes(meta, record.changes)
                seq = record.seq
            offset += len(line)
            records += 1
        return Replayed(meta, seq, records, offset, raw[offset:])

    def _check_tail(self, seq: int, tail: bytes) -> None:
        """A power loss damages only appends that were not yet durable: a valid record in the
        tail appended once record seq + 1 was durable proves the damage is something else."""
        after = [r.seq for r in _records_in(tail[1:]) if r.synced > seq]
        if after:
            raise JournalError(
                f"{self.store.where}: the record after record {seq} is corrupt and valid records "
                f"follow it: {_records(seq + 1, max(after))} cannot be trusted"
            )

    def load(self) -> Metadata:
        """Recovery: replay, then cut a torn tail off so the next append starts clean."""
        replayed = self.replay()
        if replayed.torn_tail and self.cut_torn_tail:
            self.store.truncate(replayed.good_bytes)
            self._size = replayed.good_bytes
        else:
            self._size = replayed.good_bytes + len(replayed.torn_tail)
        self._seq = self._synced = replayed.seq
        self._since_snapshot = replayed.records
        return replayed.meta

    def append(self, changes: Changes) -> None:
        """Append one record; it is durable after the next `sync()`."""
        self._seq += 1
        line = record_line(self._seq, changes, self._synced)
        self.store.append(line)
        if self.io_log is not None:
            self.io_log.wrote(self.device, self._size, line, b"")
        self._size += len(line)
        self._since_snapshot += 1

    def sync(self) -> None:
        self.store.sync()
        self._synced = self._seq
        if self.io_log is not None:
            self.io_log.flushed(self.device)

    def maybe_compact(self, meta: Metadata) -> None:
        if self._since_snapshot >= self.compact_every:
            self.compact(meta)

    def compact(self, meta: Metadata) -> None:
        snapshot = json.dumps({"seq": self._seq, "meta": _encode(meta)}).encode()
        if self.io_log is not None:
            before = self.store.read_log(), self.store.read_snapshot()
            self.io_log.compacted(self.device, snapshot, *before)
        self.store.replace_snapshot(snapshot)
        self._since_snapshot = 0
        self._size = 0
