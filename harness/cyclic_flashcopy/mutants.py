"""Design A's catalogue mutants as the engine runs them: subclasses of the product's sites that
the world builds when the options ask for a mutant (the safe design runs the product's own
classes).  Each override is the unsafe order or rule of one option of model/cyclic_flashcopy_
rules.py `Options`, and nothing else; a dropped barrier is the site's `keeps` saying no."""

from __future__ import annotations

from pitmirror.harness.mutants import DroppedBarriers
from pitmirror.harness.mutants import is_mutant as mutated
from pitmirror.impl.cyclic_flashcopy.local import FlashCopyLocalSite
from pitmirror.impl.cyclic_flashcopy.messages import mirror_message
from pitmirror.impl.cyclic_flashcopy.metadata import LocalMeta
from pitmirror.impl.cyclic_flashcopy.remote import FlashCopyRemoteSite
from pitmirror.impl.site import require_some, span
from pitmirror.model.cyclic_flashcopy import Options
from pitmirror.model.extents import runs

BARRIERS = {
    "copy data": "flush_copy_data",
    "protection": "flush_protection",
    "host data before ack": "flush_before_ack",
    "commit": "flush_commit",
    "flush tracks before source": "flush_tracks_durably",
}
"""each barrier the sites name, by the option that drops it"""
DESIGN_CHOICES = frozenset({"map_rule", "variant"})
"""options that are the product's own choices (claims 5 and 6), or the model's alone"""


def is_mutant(options: Options) -> bool:
    return mutated(options, DESIGN_CHOICES)


class MutantLocalSite(DroppedBarriers, FlashCopyLocalSite):
    barriers = BARRIERS

    def may_commit_early(self) -> bool:
        return not self.options.commit_after_drain

    def cache_flushed(self) -> bool:
        # point-before-flush: the point is taken with writes still in the cache
        return super().cache_flushed() or not self.options.point_after_flush

    def _point_grains(self, start: int, count: int) -> bytes:
        if self.options.copy_reads_media:
            return super()._point_grains(start, count)
        # copy-reads-cache: the copy takes what a host read returns, cached writes included
        return b"".join(self.read_host_grain(g) for g in span(start, count))

    def copy_extent(self, grain: int, count: int = 1) -> None:
        if self.options.data_before_record:
            super().copy_extent(grain, count)
            return
        # copy-bits-cleared-first: the record that clears the copy bits is durable before the
        # data it stands for
        grains = require_some(self.local_meta().copy_map, grain, count, "in the copy map")
        mirrored = self.link.reaches
        self._record(LocalMeta.copied(grains, mirrored))
        writes = [(start, self.source.read_grains(start, n)) for start, n in runs(grains)]
        self._write_runs(self.i1, writes)
        if mirrored:
            self.link.send(mirror_message(writes, self.grain_size))

    def _write_through(self, grain: int, data: bytes) -> None:
        options = self.options
        if options.copy_on_write and options.journal_before_source:
            super()._write_through(grain, data)
            return
        meta = self.local_meta()
        cow = options.copy_on_write and grain in meta.copy_map
        durable = self.keeps("host data before ack")
        if not cow and grain in meta.future_map:
            self._write(self.source, grain, data, durable)
            return
        track = LocalMeta.tracked(grain)
        if cow:  # source-before-journal: the source changes before the record that tracks it
            changes = self._copied([grain], self._copy_data([grain]))
            self._write(self.source, grain, data, durable)
            self._record({**changes, **track})
        elif options.journal_before_source:  # no-copy-on-write
            self._record(track)
            self._write(self.source, grain, data, durable)
        else:
            self._write(self.source, grain, data, durable)
            self._record(track)

    def _require_copied_before_flush(self) -> None:
        # no-copy-on-write: a cached grain still to copy overwrites P_k's value
        if self.options.copy_on_write:
            super()._require_copied_before_flush()

    def flush_host_cache(self) -> None:
        if self.options.journal_before_source or not self.cache:
            super().flush_host_cache()
            return
        # source-before-journal: the source takes the batch before the record that tracks it
        self._require_copied_before_flush()
        self._write_batch()
        self._track_batch()
        self.cache.clear()


class MutantRemoteSite(DroppedBarriers, FlashCopyRemoteSite):
    barriers = BARRIERS

    def protects(self, count: int) -> bool:
        options = self.options
        return options.target_protection and (options.protect_extents or count == 1)

    def drained(self, grains: list[int], end: int) -> list[int]:
        if self.options.drain_clears_its_extent or end >= self.target.grain_count:
            return super().drained(grains, end)
        # drain-clears-past-its-end: the grain after the extent too
        return [*grains, end]
