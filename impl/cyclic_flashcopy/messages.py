"""Design A's messages: all the local site ever tells the remote.

`MirrorWrite` puts an extent of point k's image (or of a grain saved before a host write) into
I2, `MirrorRuns` several extents as one write of the plan (one action's sparse set of grains);
`Commit` makes point `cycle` the committed image.  They travel as bytes (impl/wire.py): the
harness's in-process link encodes and decodes every one, as a network link will.
"""

from __future__ import annotations

from dataclasses import dataclass

from pitmirror.impl.runs_payload import check_packed, pack_runs, unpack_runs
from pitmirror.impl.wire import Vocabulary
from pitmirror.model.extents import Extent


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
        check_packed(self.runs, "MirrorRuns")

    @classmethod
    def of(cls, writes: list[tuple[int, bytes]], grain_size: int) -> MirrorRuns:
        return cls(*pack_runs(writes, grain_size))

    def extents(self) -> list[Extent]:
        return unpack_runs(self.runs)


def mirror_message(writes: list[tuple[int, bytes]], grain_size: int) -> MirrorWrite | MirrorRuns:
    """One extent as a `MirrorWrite`, several as one `MirrorRuns`."""
    if len(writes) == 1:
        return MirrorWrite(*writes[0])
    return MirrorRuns.of(writes, grain_size)


Message = MirrorWrite | Commit | MirrorRuns
MESSAGES = Vocabulary("A", (MirrorWrite, Commit, MirrorRuns))
