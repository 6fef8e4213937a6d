"""Design B's messages: all a group's home site ever tells a remote.

`DeltaWrite` puts an extent of a member's frozen delta (of point `point`) into the delta the
remote receives, `DeltaRuns` several extents of it (the frozen grains within one CopyDelta's
window); `Complete` marks every member's received delta of `point` complete, which
commits the point at that remote.  Merges and drops are the remote's own actions.  They travel
as bytes (impl/wire.py): the harness's in-process link encodes and decodes every one.
"""

from __future__ import annotations

from dataclasses import dataclass

from pitmirror.impl.runs_payload import check_packed, pack_runs, unpack_runs
from pitmirror.impl.wire import Vocabulary
from pitmirror.model.extents import Extent


@dataclass(frozen=True)
class DeltaWrite:
    """Grains `offset`.. of member `member` (an object of the topology) of group `group`, as
    point `point` froze them."""

    group: int
    member: int
    offset: int
    point: int
    data: bytes


@dataclass(frozen=True)
class Complete:
    """Every member's delta of point `point` of group `group` has arrived — `grains` grains
    in all, which the remote checks against what it received — : mark it complete."""

    group: int
    point: int
    grains: int
    taken_at: int = 0
    """when the home took the point (microseconds since the epoch; 0: the mirror's first point
    or no clock): the committed point's source time, which the remote records with the mark"""


@dataclass(frozen=True)
class DeltaRuns:
    """Grains of member `member` of group `group` at the extents `runs` lists (packed as
    impl/runs_payload.py says), as point `point` froze them: `data` holds them one after the
    other."""

    group: int
    member: int
    point: int
    runs: bytes
    data: bytes

    def __post_init__(self) -> None:
        check_packed(self.runs, "DeltaRuns")

    def extents(self) -> list[Extent]:
        return unpack_runs(self.runs)


def delta_message(group: int, member: int, point: int, writes: list[tuple[int, bytes]],
                  grain_size: int) -> DeltaWrite | DeltaRuns:  # fmt: skip
    """One extent as a `DeltaWrite`, several as one `DeltaRuns`."""
    if len(writes) == 1:
        return DeltaWrite(group, member, writes[0][0], point, writes[0][1])
    return DeltaRuns(group, member, point, *pack_runs(writes, grain_size))


Message = DeltaWrite | Complete | DeltaRuns
MESSAGES = Vocabulary("B", (DeltaWrite, Complete, DeltaRuns))
