"""A site's metadata journal: maps, cycle and committed point, made durable record by record.

Each record is one line `{"seq": n, "changes": {...}, "crc": c}` appended and fsynced; a record
is the unit of atomicity.  Changes name fields: an integer field takes its new value, a map field
takes `{"add": [...]}`, `{"remove": [...]}` or `{"assign": "<hex bitmap>"}`.  Replay applies the
snapshot, then every later record; a torn or corrupt *last* line (a crash mid-append) is
dropped, a corrupt line before the end is an error, since records after it cannot be trusted.

Compaction writes a snapshot (temp file, fsync, rename, fsync of the directory) and then
truncates the log; a crash between the two only replays records the snapshot already holds,
which `seq` skips.
"""

from __future__ import annotations

import json
import os
import zlib
from pathlib import Path
from typing import Any

from pitmirror.impl.bitmap import GrainMap

Metadata = dict[str, int | GrainMap]
Changes = dict[str, Any]


class JournalError(Exception):
    """The journal on disk cannot be replayed; the message says where."""


def apply_changes(meta: Metadata, changes: Changes) -> None:
    for name, change in changes.items():
        current = meta.get(name)
        if isinstance(current, GrainMap):
            if "assign" in change:
                meta[name] = GrainMap.from_hex(len(current.bits), change["assign"])
            for g in change.get("add", ()):
                current.add(g)
            for g in change.get("remove", ()):
                current.discard(g)
        elif isinstance(current, int):
            meta[name] = int(change)
        else:
            raise JournalError(f"record changes unknown field {name!r}")


def _line(seq: int, changes: Changes) -> bytes:
    body = json.dumps({"seq": seq, "changes": changes}, sort_keys=True)
    crc = zlib.crc32(body.encode())
    return (
        json.dumps({"seq": seq, "changes": changes, "crc": crc}, sort_keys=True) + "\n"
    ).encode()


def _parse(raw: bytes) -> tuple[int, Changes] | None:
    try:
        obj = json.loads(raw)
        body = json.dumps({"seq": obj["seq"], "changes": obj["changes"]}, sort_keys=True)
        if zlib.crc32(body.encode()) != obj["crc"]:
            return None  # a torn or damaged record
        return int(obj["seq"]), dict(obj["changes"])
    except (ValueError, KeyError, TypeError):  # a torn or damaged record
        return None


def _encode(meta: Metadata) -> dict[str, Any]:
    return {k: (v.to_hex() if isinstance(v, GrainMap) else v) for k, v in meta.items()}


COMPACT_EVERY = 1024
"""records between snapshots, unless an engine is given another interval"""


class Journal:
    """The metadata journal of one site, in `directory`: records appended and fsynced, folded
    into a snapshot every `compact_every` records."""

    def __init__(
        self, directory: Path, site: str, initial: Metadata, compact_every: int = COMPACT_EVERY
    ) -> None:
        self.compact_every = compact_every
        self.directory = directory
        self.log_path = directory / f"{site}.journal"
        self.snapshot_path = directory / f"{site}.snapshot"
        self._initial = {
            k: (v.copy() if isinstance(v, GrainMap) else v) for k, v in initial.items()
        }
        self._seq = 0
        self._since_snapshot = 0
        directory.mkdir(parents=True, exist_ok=True)

    def fresh(self) -> Metadata:
        return {k: (v.copy() if isinstance(v, GrainMap) else v) for k, v in self._initial.items()}

    def load(self) -> Metadata:
        """Replay snapshot and log: the site's durable metadata."""
        meta = self.fresh()
        seq = 0
        if self.snapshot_path.exists():
            snap = json.loads(self.snapshot_path.read_text())
            seq = int(snap["seq"])
            for name, value in snap["meta"].items():
                apply_changes(meta, {name: {"assign": value} if isinstance(value, str) else value})
        lines = (
            self.log_path.read_bytes().splitlines(keepends=True) if self.log_path.exists() else []
        )
        for index, raw in enumerate(lines):
            parsed = _parse(raw) if raw.endswith(b"\n") else None
            if parsed is None:  # a torn or damaged record
                if index == len(lines) - 1:
                    break  # torn tail: the crash hit this append
                raise JournalError(f"{self.log_path}: record {index + 1} is corrupt")
            record_seq, changes = parsed
            if record_seq > seq:
                apply_changes(meta, changes)
                seq = record_seq
        self._seq = seq
        self._since_snapshot = len(lines)
        return meta

    def append(self, changes: Changes) -> None:
        """Make one record durable (write + fsync) before returning."""
        self._seq += 1
        fd = os.open(self.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, _line(self._seq, changes))
            os.fsync(fd)
        finally:
            os.close(fd)
        self._since_snapshot += 1

    def maybe_compact(self, meta: Metadata) -> None:
        if self._since_snapshot >= self.compact_every:
            self.compact(meta)

    def compact(self, meta: Metadata) -> None:
        tmp = self.snapshot_path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"seq": self._seq, "meta": _encode(meta)}))
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, self.snapshot_path)
        dir_fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        with open(self.log_path, "wb") as f:
            os.fsync(f.fileno())
        self._since_snapshot = 0
