"""The port a device's writes can be watched through: whatever is attached to a volume or a
journal as its `io_log` is told every write (with the bytes it replaced), every flush and every
compaction, in issue order.  The harness's write log (harness/iolog.py) is the one listener;
a running product attaches none, and then nothing is read before a write."""

from __future__ import annotations

from typing import Protocol


class IoTap(Protocol):
    def wrote(self, device: str, offset: int, data: bytes, before: bytes) -> None: ...
    def flushed(self, device: str) -> None: ...
    def compacted(
        self, device: str, snapshot: bytes, log_before: bytes, snapshot_before: bytes | None
    ) -> None: ...
