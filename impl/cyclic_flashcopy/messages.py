"""Design A's messages: all the local site ever tells the remote.

`MirrorWrite` puts an extent of point k's image (or of a grain saved before a host write) into
I2, `MirrorRuns` several extents as one write of the plan (one action's sparse set of grains);
`Commit` makes point `cycle` the committed image.  They travel as bytes (impl/wire.py): the
harness's in-process link encodes and decodes every one, as a network link will.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from pitmirror.impl.wire import MessageError, Vocabulary
from pitmirror.model.extents import Extent

_RUN = struct.Struct("<QQ")


@dataclass(frozen=True)
class MirrorWrite:
    """Put `data` (whole grains) into I2 from grain `grain`, without losing the committed
    image."""

    grain: int
    data: bytes


@dataclass(frozen=True)
class Commit:
    """Point `cycle` is complete in I2: commit it.  `taken_at` is when the point was taken (the
    source's time it stands for, microseconds since the epoch; 0 when it is the mirror's first
    point or the sites run without a clock)."""

    cycle: int
    taken_at: int = 0


@dataclass(frozen=True)
class MirrorRuns:
    """Put `data` into I2 at the extents `runs` lists (each a start and a count, packed as two
    little-endian u64), in order, as one write: `data` holds their grains one after the other."""

    runs: bytes
    data: bytes

    def __post_init__(self) -> None:
        if len(self.runs) % _RUN.size:
            raise MessageError(f"MirrorRuns.runs of {len(self.runs)} bytes is no list of runs")

    @classmethod
    def of(cls, writes: list[tuple[int, bytes]], grain_size: int) -> MirrorRuns:
        runs = b"".join(_RUN.pack(start, len(data) // grain_size) for start, data in writes)
        return cls(runs, b"".join(data for _, data in writes))

    def extents(self) -> list[Extent]:
        return [(start, count) for start, count in _RUN.iter_unpack(self.runs)]


def mirror_message(writes: list[tuple[int, bytes]], grain_size: int) -> MirrorWrite | MirrorRuns:
    """One extent as a `MirrorWrite`, several as one `MirrorRuns`."""
    if len(writes) == 1:
        return MirrorWrite(*writes[0])
    return MirrorRuns.of(writes, grain_size)


Message = MirrorWrite | Commit | MirrorRuns
MESSAGES = Vocabulary("A", (MirrorWrite, Commit, MirrorRuns))
