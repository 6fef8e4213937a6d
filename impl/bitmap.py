"""Grain maps as compressed (roaring) bitmaps, with coalescing of set grains into extents
for I/O.

A map of a mirrored volume is mostly empty, mostly full, or a few runs: a byte per grain cost
design A 40 bits per grain over its five maps (80 MiB per TiB); a roaring bitmap keeps a sparse
map as sorted 16-bit arrays, a full or run-shaped one as runs, and a dense one as plain bits, so
the memory follows the grains changed, not the volume."""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator

import numpy as np
import numpy.typing as npt
from pyroaring import BitMap

from pitmirror.model.extents import Extent, runs


class GrainMap:
    """A set of grains of a volume with `grain_count` grains."""

    __slots__ = ("grain_count", "_set")

    def __init__(self, grain_count: int, grains: Iterable[int] = ()) -> None:
        self.grain_count = grain_count
        self._set = BitMap()
        self.update(grains)

    @classmethod
    def full(cls, grain_count: int) -> GrainMap:
        m = cls(grain_count)
        m._set.add_range(0, grain_count)
        return m

    def __contains__(self, grain: int) -> bool:
        return grain in self._set

    def __len__(self) -> int:
        return len(self._set)

    def __bool__(self) -> bool:
        return bool(self._set)

    def __iter__(self) -> Iterator[int]:
        return iter(self._set)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, GrainMap)
            and self.grain_count == other.grain_count
            and self._set == other._set
        )

    def __repr__(self) -> str:
        return f"GrainMap({list(self._set)})"

    def _check(self, grain: int) -> None:
        # numpy's index errors guarded the maps before; a roaring set takes any 32-bit value,
        # so a grain past the volume (a corrupt record, a wrong message) is refused here
        if not 0 <= grain < self.grain_count:
            raise IndexError(f"grain {grain} is outside a map of {self.grain_count} grains")

    def add(self, grain: int) -> None:
        self._check(grain)
        self._set.add(grain)

    def discard(self, grain: int) -> None:
        self._check(grain)
        self._set.discard(grain)

    def update(self, grains: Iterable[int]) -> None:
        """Add many grains at once (a record's adds, a message's grains)."""
        more = BitMap(grains if isinstance(grains, range) else list(grains))
        if more and more.max() >= self.grain_count:
            self._check(more.max())
        self._set |= more

    def clear(self) -> None:
        self._set.clear()

    def union(self, other: GrainMap) -> GrainMap:
        return self._made(self._set | other._set)

    def difference(self, other: GrainMap) -> GrainMap:
        return self._made(self._set - other._set)

    def intersection(self, other: GrainMap) -> GrainMap:
        return self._made(self._set & other._set)

    def copy(self) -> GrainMap:
        return self._made(self._set.copy())

    def _made(self, grains: BitMap) -> GrainMap:
        m = GrainMap(self.grain_count)
        m._set = grains
        return m

    def grains(self) -> frozenset[int]:
        return frozenset(self._set)

    def ordered(self) -> npt.NDArray[np.uint32]:
        """The grains in order, as one array (no copy of the set's own storage is kept)."""
        return np.frombuffer(self._set.to_array(), dtype=np.uint32)

    def extents(self, max_len: int | None = None) -> list[Extent]:
        return runs(self.ordered().tolist(), max_len or 0)

    def count_within(self, start: int, count: int) -> int:
        """How many grains of the map lie in the window of `count` grains from `start`."""
        return int(self._set.range_cardinality(start, start + count))

    def within(self, start: int, count: int) -> list[int]:
        """The grains of the map in the window of `count` grains from `start`."""
        window = BitMap()
        window.add_range(start, start + count)
        return list(self._set & window)

    def windows(self, max_grains: int) -> list[Extent]:
        """Windows over the map, in order, each from one of its grains to another and holding
        at most `max_grains` of them (grains not in the map may lie between): what one action
        moves with one barrier."""
        grains = self.ordered()
        firsts, lasts = grains[::max_grains], grains[max_grains - 1 :: max_grains]
        if len(lasts) < len(firsts):
            lasts = np.append(lasts, grains[-1])
        return [(int(a), int(b - a + 1)) for a, b in zip(firsts, lasts, strict=True)]

    def memory_bytes(self) -> int:
        """The bytes the map's containers hold (what it costs in memory, less a constant)."""
        stats = self._set.get_statistics()
        return (
            stats["n_bytes_array_containers"]
            + stats["n_bytes_run_containers"]
            + stats["n_bytes_bitset_containers"]
        )

    def packed(self) -> bytes:
        """A bit per grain, the first grain in the first byte's high bit (numpy's packbits)."""
        bits = np.zeros(self.grain_count, dtype=np.bool_)
        bits[self.ordered()] = True
        return np.packbits(bits).tobytes()

    @classmethod
    def from_packed(cls, grain_count: int, data: bytes) -> GrainMap:
        bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8))[:grain_count]
        m = cls(grain_count)
        m._set = BitMap(array("I", np.flatnonzero(bits).astype(np.uint32).tobytes()))
        return m

    def to_hex(self) -> str:
        return self.packed().hex()

    @classmethod
    def from_hex(cls, grain_count: int, text: str) -> GrainMap:
        return cls.from_packed(grain_count, bytes.fromhex(text))
