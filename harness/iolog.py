"""The write log below the engine, dm-log-writes style: every write to a device — a volume or a
site's metadata journal — with its byte offset, its bytes and the bytes it replaced, and every
flush, in the order they were issued.

The power-loss explorer (harness/power_loss.py) reads it to build the states real storage can
be left in after a power loss: what a completed flush covered is on the media; of the writes
issued since, any subset in any order, each possibly torn.  Logging reads each range before it
is written (the pre-image), so it costs one read per write and is off unless a log is attached.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class DeviceWrite:
    """`data` written at byte `offset` of `device`; `before` is what the range held (a journal
    append's range held nothing: `before` is empty)."""

    device: str
    offset: int
    data: bytes
    before: bytes

    @property
    def end(self) -> int:
        return self.offset + len(self.data)


@dataclass(frozen=True)
class Flush:
    """A completed barrier of `device`: every write to it issued before is on the media."""

    device: str


@dataclass(frozen=True)
class Compacted:
    """A journal folded into `snapshot` and its log emptied, durably (a rename is atomic): what
    the log held before is no longer read."""

    device: str
    snapshot: bytes
    log_before: bytes
    snapshot_before: bytes | None


Entry = DeviceWrite | Flush | Compacted


@dataclass
class IoLog:
    """The writes and flushes of every device attached to it, in issue order."""

    entries: list[Entry] = field(default_factory=list)

    def wrote(self, device: str, offset: int, data: bytes, before: bytes) -> None:
        self.entries.append(DeviceWrite(device, offset, bytes(data), before))

    def flushed(self, device: str) -> None:
        self.entries.append(Flush(device))

    def compacted(
        self, device: str, snapshot: bytes, log_before: bytes, snapshot_before: bytes | None
    ) -> None:
        self.entries.append(Compacted(device, snapshot, log_before, snapshot_before))

    def __len__(self) -> int:
        return len(self.entries)


def in_flight(entries: Sequence[Entry], devices: frozenset[str], upto: int) -> list[int]:
    """Indices of the writes to `devices` up to entry `upto` (inclusive) that no flush of
    their device up to it covers: what a power loss just after `upto` may lose, tear or
    reorder."""
    pending: dict[str, list[int]] = {}
    for index in range(upto + 1):
        entry = entries[index]
        if entry.device not in devices:
            continue
        if isinstance(entry, Flush | Compacted):
            pending.pop(entry.device, None)
        else:
            pending.setdefault(entry.device, []).append(index)
    return sorted(i for indices in pending.values() for i in indices)
