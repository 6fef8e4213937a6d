"""Several extents of one volume in one message: each run's start and count packed as two
little-endian u64, the runs' grains one after the other.  What an action moves when it moves
the grains of a map within a window (design A's `MirrorRuns`, design B's `DeltaRuns`)."""

from __future__ import annotations

import struct

from pitmirror.impl.site import EngineRefused
from pitmirror.impl.wire import MessageError
from pitmirror.model.extents import Extent

RUN = struct.Struct("<QQ")


def pack_runs(writes: list[tuple[int, bytes]], grain_size: int) -> tuple[bytes, bytes]:
    """(runs, data) of writes of whole grains, in order."""
    runs = b"".join(RUN.pack(start, len(data) // grain_size) for start, data in writes)
    return runs, b"".join(data for _, data in writes)


def check_packed(runs: bytes, message: str) -> None:
    """Refused at decode: a field that is no list of runs."""
    if len(runs) % RUN.size:
        raise MessageError(f"{message}.runs of {len(runs)} bytes is no list of runs")


def unpack_runs(runs: bytes) -> list[Extent]:
    return [(start, count) for start, count in RUN.iter_unpack(runs)]


def grains_of_runs(runs: list[Extent], length: int, grain_count: int, grain_size: int,
                   what: str) -> list[int]:  # fmt: skip
    """The grains of a write's runs, checked before any write: in order, apart, inside a
    volume of `grain_count` grains, and `length` bytes of data for them."""
    grains: list[int] = []
    for start, count in runs:
        if count < 1 or start < (grains[-1] + 2 if grains else 0):
            raise EngineRefused(f"{what}'s runs {runs[:4]} are not in order and apart")
        grains.extend(range(start, start + count))
    if not grains or grains[-1] >= grain_count or length != len(grains) * grain_size:
        raise EngineRefused(f"{what} of {length} bytes at runs {runs[:4]}")
    return grains


def split_runs(runs: list[Extent], data: bytes, grain_size: int) -> list[tuple[int, bytes]]:
    """Each run with its bytes of `data` (the runs checked against its length first)."""
    writes, at = [], 0
    for start, count in runs:
        writes.append((start, data[at : at + count * grain_size]))
        at += count * grain_size
    return writes
