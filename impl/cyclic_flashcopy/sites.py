"""Design A's two sites on real volumes: each site's part of every action, in the design's
write order.

Every durable write goes through `DurableSite` (impl/site.py), which reports it to the crash
injector, so a crash can cut an action after any write.  The write order per action is the
model's `write_plan` (model/cyclic_flashcopy.py); a grain action here is the extent action with
one grain.

A crashed site drops its in-memory metadata (`meta = None`); `start()` rebuilds it from the
journal alone.  Volumes are never cached, so what is read back is what the device holds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from pitmirror.impl.bitmap import GrainMap
from pitmirror.impl.faults import CrashInjector
from pitmirror.impl.journal import Journal, Metadata
from pitmirror.impl.link import Link, LinkUnavailable
from pitmirror.impl.seeds import SeedReader
from pitmirror.impl.site import DurableSite, require_extent
from pitmirror.impl.volumes import Volume
from pitmirror.model.actions import Site
from pitmirror.model.cyclic_flashcopy import Options, next_copy_map


def lost_commit(cycle: int, committed: int) -> str | None:
    """What the two journals say was lost, if they disagree in a way no crash between whole
    records can cause: the local site starts cycle k+1 only after the remote committed point k,
    and the remote commits only the local site's current point, so committed <= cycle <=
    committed + 1."""
    if committed > cycle:
        return (
            f"the local journal lost records: the remote committed point {committed}, the "
            f"local site is at cycle {cycle}"
        )
    if cycle > committed + 1:
        return (
            f"the remote journal lost the commit of point {cycle - 1}: the local site is at "
            f"cycle {cycle}, the remote recovers point {committed}"
        )
    return None


def _span(start: int, count: int) -> list[int]:
    return list(range(start, start + count))


class RemoteSite(DurableSite):
    """I2 and T, the target map and the committed point."""

    site: Site = "remote"

    def __init__(
        self,
        i2: Volume,
        target: Volume,
        journal: Journal,
        injector: CrashInjector,
        options: Options,
    ) -> None:
        super().__init__(journal, injector)
        self.i2, self.target, self.options = i2, target, options

    @staticmethod
    def initial_meta(grain_count: int) -> Metadata:
        return {
            "committed": 0,
            "target_map": GrainMap(grain_count),
            "received_map": GrainMap(grain_count),
        }

    def mirror_write(self, start: int, data: bytes) -> None:
        """Put `data` in I2 from grain `start` without losing the committed image."""
        count = len(data) // self.i2.grain_size
        target_map = self.map("target_map")
        changes: dict[str, Any] = {"received_map": {"add": _span(start, count)}}
        protected = np.flatnonzero(target_map.bits[start : start + count]) + start
        protects = self.options.target_protection and (self.options.protect_extents or count == 1)
        if protects and protected.size:
            saved = self._saved_target(protected.tolist())
            self._write(self.target, *saved, durable=self.options.flush_protection)
            changes = {"target_map": {"remove": protected.tolist()}, **changes}
        self._record(changes)
        self._write(self.i2, start, data, durable=self.options.flush_copy_data)

    def _saved_target(self, protected: list[int]) -> tuple[int, bytes]:
        """One write that saves I2's committed value of every protected grain in T: over the
        span from the first to the last, T's own bytes in between (rewritten unchanged)."""
        first, last, size = protected[0], protected[-1], self.target.grain_size
        merged = bytearray(self.target.read_grains(first, last - first + 1))
        for g in protected:
            merged[(g - first) * size : (g - first + 1) * size] = self.i2.read_grains(g)
        return first, bytes(merged)

    def commit(self, cycle: int) -> None:
        """The commit of point `cycle`: the grains received become the target map, atomically."""
        merged = self.map("target_map").union(self.map("received_map"))
        self._record(
            {
                "committed": cycle,
                "target_map": {"assign": merged.to_hex()},
                "received_map": {"assign": GrainMap(len(merged.bits)).to_hex()},
            },
            durable=self.options.flush_commit,
        )

    def drain(self, start: int, count: int = 1) -> None:
        """Copy committed grains I2 -> T and clear their target bits."""
        require_extent(self.map("target_map"), start, count, "in the target map")
        self._write(self.target, start, self.i2.read_grains(start, count))
        if not self.options.drain_clears_its_extent:  # the mutant: the grain after it too
            count = min(count + 1, self.target.grain_count - start)
        self._record({"target_map": {"remove": _span(start, count)}})

    def _in_i2(self) -> GrainMap:
        """Where a failover reads I2, not T: the durable target map."""
        target_map = self.durable_meta()["target_map"]
        assert isinstance(target_map, GrainMap)
        return target_map

    def recoverable_image(self) -> bytes:
        """A failover read: T[g], or I2[g] while g is in the durable target map."""
        size, target = self.target.grain_size, self.target.read_grains(0, self.target.grain_count)
        pieces: list[bytes | memoryview] = []
        end = 0  # of the target bytes taken so far, in grains
        for first, count in self._in_i2().extents():
            pieces += [memoryview(target)[end * size : first * size],
                       self.i2.read_grains(first, count)]  # fmt: skip
            end = first + count
        if not pieces:
            return target
        return b"".join([*pieces, memoryview(target)[end * size :]])

    def recoverable_seeds(self, seeds: SeedReader) -> tuple[int, ...]:
        """`recoverable_image` as grain seeds, read through `seeds` (the harness's read-back)."""
        image, i2 = list(seeds.read(self.target)), seeds.read(self.i2)
        for g in self._in_i2():
            image[g] = i2[g]
        return tuple(image)


class LocalSite(DurableSite):
    """S and I1, the copy, future and out-of-sync maps, and the cycle number."""

    site: Site = "local"

    def __init__(
        self,
        source: Volume,
        i1: Volume,
        journal: Journal,
        injector: CrashInjector,
        options: Options,
        link: Link,
    ) -> None:
        super().__init__(journal, injector)
        self.source, self.i1, self.options, self.link = source, i1, options, link

    @staticmethod
    def initial_meta(grain_count: int) -> Metadata:
        return {
            "cycle": 1,
            "copy_map": GrainMap.full(grain_count),
            "future_map": GrainMap(grain_count),
            "out_of_sync": GrainMap(grain_count),
        }

    def _copy(
        self,
        start: int,
        count: int,
        also: dict[str, Any] | None = None,
        before_record: Callable[[], None] | None = None,
    ) -> None:
        data = self.source.read_grains(start, count)
        self._write(self.i1, start, data, durable=self.options.flush_copy_data)
        grains = _span(start, count)
        changes: dict[str, Any] = {"copy_map": {"remove": grains}}
        try:
            self.link.mirror_write(start, data)
        except LinkUnavailable:
            changes["out_of_sync"] = {"add": grains}
        if before_record is not None:
            before_record()
        self._record({**changes, **(also or {})})

    def copy_extent(self, start: int, count: int = 1) -> None:
        """Background copy of grains of P_k (all in the copy map) to I1 and I2."""
        require_extent(self.map("copy_map"), start, count, "in the copy map")
        if self.options.data_before_record:
            self._copy(start, count)
        else:
            self._copy_record_first(start, count)

    def _copy_record_first(self, start: int, count: int) -> None:
        """The copy-bits-cleared-first mutant: the record that clears the copy bits is durable
        before the data it stands for."""
        grains = _span(start, count)
        mirrored = self.link.reaches
        changes: dict[str, Any] = {"copy_map": {"remove": grains}}
        if not mirrored:
            changes["out_of_sync"] = {"add": grains}
        self._record(changes)
        data = self.source.read_grains(start, count)
        self._write(self.i1, start, data)
        if mirrored:
            self.link.mirror_write(start, data)

    def host_read(self, grain: int) -> bytes:
        """The host's read: the source holds every acknowledged write."""
        self.live_meta()  # a down site serves no read
        return self.source.read_grains(grain)

    def host_write(self, grain: int, data: bytes) -> None:
        """The one door for host writes; returns once the write is durable (acknowledged)."""
        cow = self.options.copy_on_write and grain in self.map("copy_map")
        future = self.map("future_map")
        source_write = (self.source, grain, data, self.options.flush_before_ack)
        if not cow and grain in future:
            self._write(*source_write)
            return
        track = {"future_map": {"add": [grain]}}

        def write_source() -> None:
            self._write(*source_write)

        if cow and self.options.journal_before_source:
            self._copy(grain, 1, also=track)
            write_source()
        elif cow:
            # the unsafe order: the source changes before the record that tracks it
            self._copy(grain, 1, also=track, before_record=write_source)
        elif self.options.journal_before_source:
            self._record(track)
            write_source()
        else:
            write_source()
            self._record(track)

    def resync_extent(self, start: int, count: int = 1) -> None:
        """Mirror grains that were copied to I1 while the link was down."""
        require_extent(self.map("out_of_sync"), start, count, "out of sync")
        self.link.mirror_write(start, self.i1.read_grains(start, count))
        self._record({"out_of_sync": {"remove": _span(start, count)}})

    def commit(self) -> None:
        """Commit point k at the remote, then start cycle k+1 (claim 2)."""
        cycle = self.number("cycle")
        self.link.commit(cycle)
        copy_map, future = self.map("copy_map"), self.map("future_map")
        # the contract-checked rule of claims 5 and 6 (CrossHair checks next_copy_map)
        grains = next_copy_map(copy_map.grains(), future.grains(), self.options.map_rule)
        next_copy = GrainMap(len(copy_map.bits), grains)
        self._record(
            {
                "cycle": cycle + 1,
                "copy_map": {"assign": next_copy.to_hex()},
                "future_map": {"assign": GrainMap(len(future.bits)).to_hex()},
            }
        )
