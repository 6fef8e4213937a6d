"""Volumes read back as grain seeds: what the harness compares with the model.

`SeedReader` reads and decodes every grain it is asked for.  `CachedSeeds` keeps each volume's
decoded grains and re-reads only those written since (it listens to the volume's writes), so
the comparison after one action costs what the action wrote, not the volume's size.  That is
sound while nothing but `write_grains`/`zero` changes a device, which holds for the harness's
private volumes; `refresh()` drops the cache so the next read is a full read-back from the
device, and the harness calls it every few steps and at the end of every run to check it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from pitmirror.harness.grains import decode_grain
from pitmirror.impl.regions import Region
from pitmirror.impl.volumes import Volume
from pitmirror.model.extents import runs


def _place(where: Volume | Region) -> tuple[Volume, int]:
    """The device volume and its first grain of a volume or region."""
    if isinstance(where, Region):
        return where.volume, where.first
    return where, 0


READ_CHUNK_BYTES = 2 << 20
"""a long read-back goes to the device in pieces of this size: buffers that stay in the cache
and are reused, not a fresh allocation of the whole volume (page faults cost more than the
copy)"""


def _read_seeds(volume: Volume, first: int, count: int, grain_of_first: int) -> list[int]:
    """The seeds of grains first.. of `volume`, the first written as grain `grain_of_first`."""
    chunk = max(1, READ_CHUNK_BYTES // volume.grain_size)
    seeds: list[int] = []
    for at in range(0, count, chunk):
        n = min(chunk, count - at)
        raw = volume.read_grains(first + at, n)
        seeds += decode_seeds(raw, volume.grain_size, grain_of_first + at)
    return seeds


def decode_seeds(raw: bytes, grain_size: int, grain_of_first: int = 0) -> list[int]:
    """The seed of every grain of `raw` (whole grains), the first written as grain
    `grain_of_first`; CorruptGrain when a grain holds bytes no seed wrote there."""
    count = len(raw) // grain_size
    # zero grains (most of a fresh volume) are found in one vectorised pass
    written = np.frombuffer(raw, dtype=np.uint64).reshape(count, -1).any(axis=1)
    seeds = [0] * count
    for i in np.flatnonzero(written).tolist():
        seeds[i] = decode_grain(raw[i * grain_size : (i + 1) * grain_size], grain_of_first + i)
    return seeds


class SeedReader:
    """Reads every grain from the device, every time."""

    def read(self, where: Volume | Region, grain_of_first: int = 0) -> tuple[int, ...]:
        """The seed of every grain of `where`, whose first grain was written as grain
        `grain_of_first` (design B numbers grains across objects); CorruptGrain when a grain
        holds bytes no seed wrote there."""
        volume, first = _place(where)
        return tuple(_read_seeds(volume, first, where.grain_count, grain_of_first))

    def refresh(self) -> None:
        """Forget anything remembered: the next reads go to the devices."""


class _Span:
    """The decoded seeds of one span of a volume and the grains written since."""

    def __init__(self, first: int, seeds: list[int]) -> None:
        self.first, self.seeds = first, seeds
        self.stale: set[int] = set()

    def forget(self, first: int, count: int) -> None:
        lo, hi = max(first, self.first), min(first + count, self.first + len(self.seeds))
        self.stale.update(range(lo - self.first, hi - self.first))


class CachedSeeds(SeedReader):
    """Remembers the decoded seeds of every span read and re-reads only the grains a write
    touched since (a write anywhere in a span marks its grains stale).

    With `zeroed`, the volumes are known to hold zeros when the cache is made (the harness
    has just zeroed them): a span read for the first time starts as zeros and reads only the
    grains written since, until `refresh()` sends every read to the devices again.
    """

    def __init__(self, volumes: list[Volume], zeroed: bool = False) -> None:
        self._spans: dict[tuple[int, int, int, int], _Span] = {}
        self._by_volume: dict[int, list[_Span]] = {}
        self._written: dict[int, list[tuple[int, int]]] | None = {} if zeroed else None
        for volume in volumes:
            spans: list[_Span] = []
            self._by_volume[id(volume)] = spans
            volume.write_listeners.append(self._forget(id(volume), spans))

    def _forget(self, volume: int, spans: list[_Span]) -> Callable[[int, int], None]:
        def forget(first: int, count: int) -> None:
            for span in spans:
                span.forget(first, count)
            if self._written is not None:
                self._written.setdefault(volume, []).append((first, count))

        return forget

    def _first_read(self, where: Volume | Region, grain_of_first: int) -> _Span:
        volume, first = _place(where)
        if self._written is None:
            return _Span(first, list(super().read(where, grain_of_first)))
        span = _Span(first, [0] * where.grain_count)
        for written, count in self._written.get(id(volume), []):
            span.forget(written, count)
        return span

    def read(self, where: Volume | Region, grain_of_first: int = 0) -> tuple[int, ...]:
        volume, first = _place(where)
        spans = self._by_volume.get(id(volume))
        if spans is None:  # a volume the cache does not listen to: always read
            return super().read(where, grain_of_first)
        key = (id(volume), first, where.grain_count, grain_of_first)
        span = self._spans.get(key)
        if span is None:
            span = self._first_read(where, grain_of_first)
            self._spans[key] = span
            spans.append(span)
        if span.stale:
            for lo, count in _stale_runs(span.stale):
                span.seeds[lo : lo + count] = _read_seeds(
                    volume, first + lo, count, grain_of_first + lo
                )
            span.stale.clear()
        return tuple(span.seeds)

    def refresh(self) -> None:
        self._written = None
        self._spans.clear()
        for spans in self._by_volume.values():
            spans.clear()


def _stale_runs(stale: set[int], most: int = 16) -> list[tuple[int, int]]:
    """The runs of `stale` (first, count), or one run from its lowest to its highest grain
    when there are more than `most` (one long read beats many short ones)."""
    found = runs(stale)
    if len(found) > most:
        return [(found[0][0], found[-1][0] + found[-1][1] - found[0][0])]
    return found
