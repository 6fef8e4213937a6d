"""A span of grains of a volume, used as a volume of its own.

Design B's objects can be a whole device, a span (offset range) of a device, or a regular
file; a remote device can hold several objects side by side (fan-in).  A `Region` gives each
of them the grain API of a volume over its own range, with bounds checked against the range,
so a write can never spill into a neighbour.
"""

from __future__ import annotations

from pitmirror.impl.volumes import Volume, VolumeError


class Region:
    def __init__(self, volume: Volume, first: int, grain_count: int, name: str) -> None:
        if first < 0 or first + grain_count > volume.grain_count:
            raise VolumeError(
                f"region {name!r} [{first}, {first + grain_count}) does not fit in "
                f"{volume.name} ({volume.grain_count} grains)"
            )
        self.volume, self.first, self.grain_count, self.name = volume, first, grain_count, name
        self.grain_size = volume.grain_size

    def _check(self, start: int, count: int) -> None:
        if start < 0 or count < 0 or start + count > self.grain_count:
            raise VolumeError(
                f"region {self.name!r}: grains [{start}, {start + count}) outside "
                f"[0, {self.grain_count})"
            )

    def read_grains(self, start: int, count: int = 1) -> bytes:
        self._check(start, count)
        return self.volume.read_grains(self.first + start, count)

    def write_grains(self, start: int, data: bytes) -> None:
        self._check(start, len(data) // self.grain_size)
        self.volume.write_grains(self.first + start, data)

    def flush(self) -> None:
        self.volume.flush()
