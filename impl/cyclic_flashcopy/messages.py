"""Design A's messages: all the local site ever tells the remote.

`MirrorWrite` puts an extent of point k's image (or of a grain saved before a host write) into
I2; `Commit` makes point `cycle` the committed image.  They travel as bytes (impl/wire.py): the
harness's in-process link encodes and decodes every one, as a network link will.
"""

from __future__ import annotations

from dataclasses import dataclass

from pitmirror.impl.wire import Vocabulary


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


Message = MirrorWrite | Commit
MESSAGES = Vocabulary("A", (MirrorWrite, Commit))
