"""Design B's messages: all a group's home site ever tells a remote.

`DeltaWrite` puts an extent of a member's frozen delta (of point `point`) into the delta the
remote receives; `Complete` marks every member's received delta of `point` complete, which
commits the point at that remote.  Merges and drops are the remote's own actions.  They travel
as bytes (impl/wire.py): the harness's in-process link encodes and decodes every one.
"""

from __future__ import annotations

from dataclasses import dataclass

from pitmirror.impl.wire import Vocabulary


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


Message = DeltaWrite | Complete
MESSAGES = Vocabulary("B", (DeltaWrite, Complete))
