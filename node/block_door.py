"""The host's volumes as bytes: reads and writes of any offset and length, turned into the whole
grains the engine's host doors take.

A write that covers part of a grain reads the grain through the site's door (the host's newest
view) and writes it back whole with the new bytes in place; a write over several grains is one
call to the door, grain by grain in order.  Every call runs on the daemon's engine thread, one
at a time, so no other write to the same grain comes between the read and the write back.
Where the site has a write cache (design A's local site), a write completes into it and the
host's flush makes every write before it durable as one batch (group commit), as a disk with a
volatile write cache does; the door also flushes on its own once the cache holds
`MAX_CACHED_GRAINS`.  Elsewhere every write is durable when it returns (a disk without a
cache).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pitmirror.impl.site import EngineRefused
from pitmirror.node.served import Served


class FrontendError(Exception):
    """The frontend cannot start or stop cleanly: the reason in words (here, not in
    node/frontend.py, so that a daemon without a frontend names it without importing pyfuse3)."""


@dataclass(frozen=True)
class HostVolume:
    """A volume the host writes: its name, its first grain in the site's host door, its size."""

    name: str
    first: int
    grains: int
    grain_size: int

    @property
    def size(self) -> int:
        return self.grains * self.grain_size


MAX_CACHED_GRAINS = 1024
"""the write cache's bound: a host that never flushes does not fill the daemon's memory"""


class OutsideVolume(EngineRefused):
    """A request past the volume's end (the host sees EINVAL, never a short read or write)."""


@dataclass
class DoorCounts:
    reads: int = 0
    writes: int = 0
    read_bytes: int = 0
    written_bytes: int = 0
    partial_grains: int = 0
    """grains a write covered only in part: each read and written back whole"""
    flushes: int = 0
    writebacks: int = 0
    """flushes the door made on its own, the cache full"""


def in_whole_grains(offset: int, data: bytes, grain_size: int,
                    read: Callable[[int, int], bytes]) -> tuple[int, bytes, int]:  # fmt: skip
    """A write of `data` at byte `offset` of a grain door as whole grains: (the first grain, the
    grains' bytes with `data` in place, how many grains were covered only in part).  A grain
    covered in part is read through `read(grain, count)` (the host's newest view: the cache or
    the overlay over the volume) and keeps its other bytes.  The lockstep writes sub-grain
    ranges through this same function."""
    size = grain_size
    first = offset // size
    count = (offset + len(data) + size - 1) // size - first
    start = offset - first * size
    end = start + len(data)
    head, tail = start % size != 0, end % size != 0
    if not (head or tail):
        return first, data, 0
    whole = bytearray(count * size)
    if head:
        whole[:size] = read(first, 1)
    tail_apart = tail and (count > 1 or not head)
    if tail_apart:
        whole[-size:] = read(first + count - 1, 1)
    whole[start:end] = data
    return first, bytes(whole), head + tail_apart


class BlockDoor:
    """Byte ranges of a site's host volumes over its grain door (engine thread only)."""

    def __init__(self, served: Served) -> None:
        self.served = served
        size = served.grain_size
        self.volumes = {name: HostVolume(name, first, grains, size)
                        for name, (first, grains) in served.host_volumes().items()}  # fmt: skip
        self.counts = DoorCounts()

    def _grains(self, volume: HostVolume, offset: int, length: int) -> tuple[int, int]:
        if offset < 0 or length < 0 or offset + length > volume.size:
            raise OutsideVolume(f"{length} bytes at offset {offset} of {volume.name} "
                                f"({volume.size} bytes)")  # fmt: skip
        size = volume.grain_size
        first = offset // size
        return first, (offset + length + size - 1) // size - first

    def read(self, name: str, offset: int, length: int) -> bytes:
        volume = self.volumes[name]
        first, count = self._grains(volume, offset, length)
        if count == 0:
            return b""
        data = self.served.host_read(volume.first + first, count)
        start = offset - first * volume.grain_size
        self.counts.reads += 1
        self.counts.read_bytes += length
        return data[start : start + length]

    def write(self, name: str, offset: int, data: bytes) -> int:
        volume = self.volumes[name]
        if self._grains(volume, offset, len(data))[1] == 0:
            return 0
        served = self.served
        base = volume.first * volume.grain_size
        first, whole, partial = in_whole_grains(base + offset, data, volume.grain_size,
                                                served.host_read)  # fmt: skip
        served.host_write(first, whole, fua=not served.write_cache)
        if served.cached_grains() >= MAX_CACHED_GRAINS:
            served.host_flush()  # a disk writes its cache back when it must: never too soon
            self.counts.writebacks += 1
        self.counts.partial_grains += partial
        self.counts.writes += 1
        self.counts.written_bytes += len(data)
        return len(data)

    def flush(self) -> None:
        """Every write that returned before is durable once this returns (the writes before it
        are done: they ran on the same thread)."""
        self.served.host_flush()
        self.counts.flushes += 1
