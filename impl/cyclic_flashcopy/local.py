"""Design A's local site: the source S and I1, the copy, future and out-of-sync maps and the
cycle number.

It changes only its own volumes and journal; the remote's I2 and T change only by the messages
it sends through its link (impl/cyclic_flashcopy/messages.py).  Every action is an event of its
controller (`LocalCycle`), which refuses what the phase does not allow.  The host's door takes
and gives bytes (`host_write`, `host_read`, `host_flush`): a FUA write is acknowledged once it
is durable, any other once it is in the site's write cache (memory: a crash loses it), and a
flush writes the cache as one batch.  The write order per action is the model's write plan
(model/cyclic_flashcopy_rules.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from statemachine.exceptions import TransitionNotAllowed

from pitmirror.impl.bitmap import GrainMap
from pitmirror.impl.cyclic_flashcopy.controllers import LocalCycle
from pitmirror.impl.cyclic_flashcopy.messages import Commit, mirror_message
from pitmirror.impl.cyclic_flashcopy.metadata import TAKEN_AT, LocalMeta, recorded_time
from pitmirror.impl.journal import Changes, Journal, Metadata
from pitmirror.impl.link import Link, LinkUnavailable
from pitmirror.impl.site import (
    DurableSite,
    EngineInvariantBroken,
    EngineRefused,
    WriteHook,
    event_arguments,
    no_clock,
    require_some,
)
from pitmirror.impl.volumes import Volume
from pitmirror.model.actions import (
    Action,
    Site,
    action_name,
    describe,
)
from pitmirror.model.cyclic_flashcopy import Options, next_copy_map
from pitmirror.model.cyclic_flashcopy_vocabulary import takes
from pitmirror.model.extents import runs

LOCAL_VOLUMES = ("source", "i1")


class FlashCopyLocalSite(DurableSite):
    """S and I1, the copy, future and out-of-sync maps, and the cycle number."""

    site: Site = "local"

    def __init__(
        self,
        source: Volume,
        i1: Volume,
        journal: Journal,
        options: Options,
        link: Link,
        on_write: WriteHook | None = None,
        clock: Callable[[], float] = no_clock,
    ) -> None:
        super().__init__(journal, on_write)
        self.source, self.i1, self.options, self.link = source, i1, options, link
        self.clock = clock
        """when a point is taken, in seconds since the epoch: the product's wall clock; the
        harness's worlds run without one (every point at time 0)"""
        self.grain_size = source.grain_size
        self.cache: dict[int, bytes] = {}
        """the host's writes not flushed yet, by grain: memory only"""
        self.start()
        self.cycle = LocalCycle(self)
        # the phase the maps say: a journal with nothing to copy (a resync's start, a restart
        # after a commit) starts ready to commit, not copying
        self.settle()

    @staticmethod
    def initial_meta(grain_count: int) -> Metadata:
        return LocalMeta.initial(grain_count)

    def local_meta(self, durable: bool = False) -> LocalMeta:
        """The running site's metadata (SiteDown when it is not), or (`durable`) as its
        journal holds it, up or down."""
        return LocalMeta.read(self.durable_meta() if durable else self.live_meta())

    # ---- the door ----------------------------------------------------------------------------

    def host_write(self, grain: int, data: bytes, fua: bool = True) -> None:
        """The host writes one grain; returns once the write is durable (`fua`) or cached."""
        if len(data) != self.grain_size or not 0 <= grain < self.source.grain_count:
            raise EngineRefused(f"a host write of {len(data)} bytes at grain {grain}")
        self._send("HostWrite", {"grain": grain, "data": data, "fua": fua})

    def host_flush(self) -> None:
        """The host's flush: returns once every write cached before it is durable (a cached
        grain still to copy must be copied first: `to_copy_before_flush`)."""
        self._send("HostFlush", {})

    def to_copy_before_flush(self) -> list[int]:
        """The cached grains still to copy, which a flush waits for."""
        copy_map = self.local_meta().copy_map
        return [g for g in sorted(self.cache) if g in copy_map]

    def host_read(self, grain: int) -> bytes:
        """The host reads one grain: the cache over the source holds every acknowledged
        write."""
        if not 0 <= grain < self.source.grain_count:
            raise EngineRefused(f"a host read of grain {grain}")
        data = self._send("HostRead", {"grain": grain})
        assert isinstance(data, bytes)
        return data

    def apply(self, action: Action) -> None:
        """An action the vocabulary routes to the local site (model/cyclic_flashcopy_vocabulary.py:
        CopyGrain, ResyncGrain, CommitPoint, CrashSite now, Recover); EngineRefused when it is
        another's or the controller does not allow it now."""
        if not takes(self.site, action):
            raise EngineRefused(f"{describe(action)} is no action of the local site")
        self._send(action_name(action), event_arguments(action))

    def settle(self) -> None:
        """The phase moved to what the maps now say."""
        self.cycle.send("Settle")

    def _send(self, event: str, arguments: dict[str, Any]) -> object:
        try:
            result = self.cycle.send(event, **arguments)
        except TransitionNotAllowed as refused:
            raise EngineRefused(
                f"the local site refused {event} in phase {self.cycle.current_state_value}"
            ) from refused
        except LinkUnavailable as unreachable:  # a resync or commit sends before it records
            raise EngineRefused(f"the local site refused {event}: {unreachable}") from unreachable
        self.settle()
        return result

    @property
    def phase(self) -> str:
        return str(self.cycle.current_state_value)

    def check_structure(self) -> None:
        """The invariants the site keeps by construction, checked where they would break:
        raises EngineInvariantBroken.  Settle derives the phase from the maps, so after every
        action the phase agrees with them; a grain is never both still to copy and out of sync
        (a copy clears one bit before it may set the other)."""
        if self.up:
            meta = self.local_meta()
            copy_map, out_of_sync = meta.copy_map, meta.out_of_sync
            both = copy_map.grains() & out_of_sync.grains()
            if both:
                raise EngineInvariantBroken(f"grains {sorted(both)} are to copy and out of sync")
            expected = {
                "copying": bool(copy_map),
                "resyncing": not copy_map and bool(out_of_sync),
                "ready": not copy_map and not out_of_sync,
            }
            if not expected.get(self.phase, True):
                raise EngineInvariantBroken(
                    f"local phase {self.phase} with {len(copy_map)} grains to copy and "
                    f"{len(out_of_sync)} out of sync"
                )
        if self.up != (self.phase != "down"):
            raise EngineInvariantBroken("the local site's state and its controller disagree")

    # ---- guards ------------------------------------------------------------------------------

    def link_up(self) -> bool:
        return bool(self.link.up)

    def copy_done(self) -> bool:
        return not self.local_meta().copy_map

    def in_sync(self) -> bool:
        return not self.local_meta().out_of_sync

    def may_commit_early(self) -> bool:
        """Claim 1 commits "in response to completion" of the copy: never before."""
        return False

    # ---- the work of each event --------------------------------------------------------------

    def _copy(self, grains: list[int], also: Changes | None = None) -> None:
        """The grains to I1 and (when the link reaches it) I2, both durable, then one record
        that clears their copy bits (and marks them out of sync if I2 was not reached)."""
        writes = self._copy_data(grains)
        self._record({**self._copied(grains, writes), **(also or {})})

    def _point_grains(self, start: int, count: int) -> bytes:
        """What a copy takes: the source's media (P_k's values), never the host's cache."""
        return self.source.read_grains(start, count)

    def _copy_data(self, grains: list[int]) -> list[tuple[int, bytes]]:
        """P_k's values of `grains` into I1, run by run, one barrier after the last."""
        writes = [(start, self._point_grains(start, count)) for start, count in runs(grains)]
        self._write_runs(self.i1, writes, durable=self.keeps("copy data"))
        return writes

    def _copied(self, grains: list[int], writes: list[tuple[int, bytes]]) -> Changes:
        """The copy's data sent to I2; the record's changes for the grains copied."""
        try:
            self.link.send(mirror_message(writes, self.grain_size))
        except LinkUnavailable:
            return LocalMeta.copied(grains, mirrored=False)
        return LocalMeta.copied(grains, mirrored=True)

    # One event moves the grains of the copy map within a window, however sparse: a transition
    # and a barrier cost more than copying a grain, so real-time work is batched per event.
    def copy_extent(self, grain: int, count: int = 1) -> None:
        """Background copy of the grains of P_k within the window (those in the copy map) to
        I1 and I2."""
        self._copy(require_some(self.local_meta().copy_map, grain, count, "in the copy map"))

    def read_host_grain(self, grain: int) -> bytes:
        cached = self.cache.get(grain)
        return cached if cached is not None else self.source.read_grains(grain)

    def crash(self) -> None:
        super().crash()
        self.cache.clear()

    def cache_flushed(self) -> bool:
        """A point is taken with the cache empty: a cached write belongs to the point after
        its completion, and only the flush tracks it."""
        return not self.cache

    def write_host_grain(self, grain: int, data: bytes, fua: bool = True) -> None:
        """A write without FUA goes to the cache.  A FUA write: copy on write (claims 3, 16),
        a grain still to copy is copied first; the future bit is durable before the source
        grain changes; the source grain is durable before the host is told."""
        if not fua:
            self.cache[grain] = data
            return
        self._write_through(grain, data)
        self.cache.pop(grain, None)

    def _write_through(self, grain: int, data: bytes) -> None:
        meta = self.local_meta()
        cow = grain in meta.copy_map
        durable = self.keeps("host data before ack")
        if not cow and grain in meta.future_map:
            self._write(self.source, grain, data, durable)
            return
        track = LocalMeta.tracked(grain)
        if cow:
            self._copy([grain], also=track)
        else:
            self._record(track)
        self._write(self.source, grain, data, durable)

    def flush_host_cache(self) -> None:
        """Group commit: one record tracks every cached grain not tracked yet, synced, then the
        source takes them all and one flush makes them durable."""
        if not self.cache:
            return
        self._require_copied_before_flush()
        self._track_batch()
        self._write_batch()
        self.cache.clear()

    def _require_copied_before_flush(self) -> None:
        waiting = self.to_copy_before_flush()
        if waiting:
            raise EngineRefused(f"cached grains {waiting[:8]} are still to copy: copy them first")

    def _track_batch(self) -> None:
        """One record adds the cached grains not tracked yet to the future map."""
        batch, future = sorted(self.cache), self.local_meta().future_map
        if any(g not in future for g in batch):
            self._record(LocalMeta.tracked_all(batch), self.keeps("flush tracks before source"))

    def _write_batch(self) -> None:
        """The cached grains into the source, run by run, one barrier after the last."""
        writes = [(start, b"".join(self.cache[g] for g in range(start, start + count)))
                  for start, count in runs(sorted(self.cache))]  # fmt: skip
        self._write_runs(self.source, writes, self.keeps("host data before ack"))

    def resync_extent(self, grain: int, count: int = 1) -> None:
        """Mirror the grains within the window that were copied to I1 while the link was down."""
        grains = require_some(self.local_meta().out_of_sync, grain, count, "out of sync")
        writes = [(start, self.i1.read_grains(start, n)) for start, n in runs(grains)]
        self.link.send(mirror_message(writes, self.grain_size))
        self._record(LocalMeta.resynced(grains))

    def commit(self) -> None:
        """Commit point k at the remote, then start cycle k+1 (claim 2)."""
        meta = self.local_meta()
        taken_at = recorded_time(self.live_meta(), TAKEN_AT)
        self.link.send(Commit(meta.cycle, taken_at))
        # the contract-checked rule of claims 5 and 6 (CrossHair checks next_copy_map)
        grains = next_copy_map(
            meta.copy_map.grains(), meta.future_map.grains(), self.options.map_rule
        )
        next_copy = GrainMap(meta.copy_map.grain_count, grains)
        now = int(self.clock() * 1_000_000)
        self._record(LocalMeta.next_cycle(meta.cycle + 1, next_copy, now, taken_at))
