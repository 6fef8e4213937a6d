"""Grain maps as numpy Boolean bitmaps, with coalescing of set bits into extents for I/O."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
import numpy.typing as npt

from pitmirror.model.extents import Extent, runs


class GrainMap:
    """A set of grains of a volume with `grain_count` grains."""

    __slots__ = ("bits",)

    def __init__(self, grain_count: int, grains: Iterable[int] = ()) -> None:
        self.bits: npt.NDArray[np.bool_] = np.zeros(grain_count, dtype=np.bool_)
        for g in grains:
            self.bits[g] = True

    @classmethod
    def full(cls, grain_count: int) -> GrainMap:
        m = cls(grain_count)
        m.bits[:] = True
        return m

    def __contains__(self, grain: int) -> bool:
        return bool(self.bits[grain])

    def __len__(self) -> int:
        return int(self.bits.sum())

    def __bool__(self) -> bool:
        return bool(self.bits.any())

    def __iter__(self) -> Iterator[int]:
        return iter(np.flatnonzero(self.bits).tolist())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GrainMap) and np.array_equal(self.bits, other.bits)

    def __repr__(self) -> str:
        return f"GrainMap({sorted(self)})"

    def add(self, grain: int) -> None:
        self.bits[grain] = True

    def discard(self, grain: int) -> None:
        self.bits[grain] = False

    def union(self, other: GrainMap) -> GrainMap:
        m = GrainMap(0)
        m.bits = self.bits | other.bits
        return m

    def difference(self, other: GrainMap) -> GrainMap:
        m = GrainMap(0)
        m.bits = self.bits & ~other.bits
        return m

    def copy(self) -> GrainMap:
        m = GrainMap(0)
        m.bits = self.bits.copy()
        return m

    def grains(self) -> frozenset[int]:
        return frozenset(self)

    def extents(self, max_len: int | None = None) -> list[Extent]:
        return runs(np.flatnonzero(self.bits).tolist(), max_len or 0)

    def within(self, start: int, count: int) -> list[int]:
        """The grains of the map in the window of `count` grains from `start`."""
        return (np.flatnonzero(self.bits[start : start + count]) + start).tolist()

    def windows(self, max_grains: int) -> list[Extent]:
        """Windows over the map, in order, each from one of its grains to another and holding
        at most `max_grains` of them (grains not in the map may lie between): what one action
        moves with one barrier."""
        grains = np.flatnonzero(self.bits)
        firsts, lasts = grains[::max_grains], grains[max_grains - 1 :: max_grains]
        if len(lasts) < len(firsts):
            lasts = np.append(lasts, grains[-1])
        return [(int(a), int(b - a + 1)) for a, b in zip(firsts, lasts, strict=True)]

    def to_hex(self) -> str:
        return np.packbits(self.bits).tobytes().hex()

    @classmethod
    def from_hex(cls, grain_count: int, text: str) -> GrainMap:
        m = cls(grain_count)
        unpacked = np.unpackbits(np.frombuffer(bytes.fromhex(text), dtype=np.uint8))
        m.bits[:] = unpacked[:grain_count].astype(np.bool_)
        return m
