"""Design A's sites as daemons run them: the local site connects and runs the copy half of the
runner, the remote site listens, applies what arrives and drains.

Everything here runs on the daemon's engine thread (node/daemon.py), one call at a time, except
`judge`, which reads only what the last engine call published.  A report is read from the
journal's state and the volumes: status says what the site holds, not what it meant to do.
"""

from __future__ import annotations

from typing import Any

from pitmirror.impl.cyclic_flashcopy.local import FlashCopyLocalSite
from pitmirror.impl.cyclic_flashcopy.messages import MESSAGES, Commit, MirrorRuns, MirrorWrite
from pitmirror.impl.cyclic_flashcopy.metadata import COMMITTED_AT, recorded_time
from pitmirror.impl.cyclic_flashcopy.remote import FlashCopyRemoteSite, lost_commit
from pitmirror.impl.cyclic_flashcopy.runner import CopyRunner, DrainRunner
from pitmirror.impl.roles import DirtyLog
from pitmirror.impl.runs_payload import split_runs
from pitmirror.impl.site import EngineRefused
from pitmirror.model.actions import Action, CopyGrain, DrainTarget, HostFlush
from pitmirror.model.extents import runs
from pitmirror.node.digest import ImageDigest
from pitmirror.node.served import CommittedVolume, Cycle, Served, point
from pitmirror.node.site import Clock
from pitmirror.node.transport import MessageRefused

EMPTY_POINT_SECONDS = 1.0


class LocalServed(Served):
    write_cache = True

    def __init__(self, site: FlashCopyLocalSite, clock: Clock, cycle: Cycle) -> None:
        self.site, self.clock = site, clock
        self.grain_size = site.grain_size
        self._last_commit = clock()
        self.runner = CopyRunner(site, clock, self._apply, cycle.extents_per_tick,
                                 cycle.max_extent_grains)  # fmt: skip
        self.peer: dict[str, Any] = {}
        """the remote's committed point as it last said it (its HELLO, a commit's
        acknowledgement)"""
        self._cycle, self._total = 0, 0
        """the cycle the progress is of, and the grains it had to copy or resync"""
        self._published_cycle = site.local_meta().cycle
        self._progress()

    def _progress(self) -> int:
        """The grains of the current cycle still to copy or resync (and its total, kept)."""
        meta = self.site.local_meta(durable=True)
        remaining = len(meta.copy_map.union(meta.out_of_sync))
        if meta.cycle != self._cycle:
            self._cycle, self._total = meta.cycle, remaining
        self._total = max(self._total, remaining)
        return remaining

    def tick(self) -> bool:
        if self._resting():
            return False
        site = self.site
        if site.up and site.cache and site.cycle.ready.is_active and site.link.reaches:
            # flushed in the same engine call as the commit: a host that writes on between
            # two ticks keeps the runner from finding its cache empty at a commit
            site.host_flush()
        if self.runner.tick():
            self._last_commit = self.clock()
        self._progress()
        return not self._idle()

    def _idle(self) -> bool:
        """Nothing to do until the host writes or the link comes back."""
        site = self.site
        if not site.up:
            return True
        meta = site.local_meta()
        if meta.copy_map:
            return False
        if not site.link.reaches:
            return True
        if meta.out_of_sync:
            return False
        return not site.cycle.ready.is_active or self._resting()  # a point to commit

    def _resting(self) -> bool:
        """A point with nothing in it is committed at most once a second: it only moves the
        committed point's source time (the RPO) forward."""
        site = self.site
        if not site.up or not site.cycle.ready.is_active or site.local_meta().future_map:
            return False
        return self._total == 0 and self.clock() - self._last_commit < EMPTY_POINT_SECONDS

    def hello(self) -> dict[str, Any]:
        self._published_cycle = self.site.local_meta(durable=True).cycle  # what judge reads
        return {"cycle": self._published_cycle}

    def judge(self, peer: dict[str, Any]) -> str | None:
        committed = peer.get("committed")
        if not isinstance(committed, dict) or not isinstance(committed.get("number"), int):
            return "the remote's HELLO names no committed point"
        self.peer = committed
        return lost_commit(self._published_cycle, committed["number"])

    def report(self) -> dict[str, Any]:
        meta = self.site.local_meta(durable=True)
        behind = meta.copy_map.union(meta.future_map).union(meta.out_of_sync)
        remaining = self._progress()
        size = self.site.grain_size
        number = meta.cycle - 1
        digest = self.peer.get("digest") if self.peer.get("number") == number else None
        raw = self.site.durable_meta()
        return {
            "role": "primary",
            "committed_point": point(number, recorded_time(raw, COMMITTED_AT), digest),
            "out_of_sync": {"grains": len(behind), "bytes": len(behind) * size},
            "cycle": {
                "number": meta.cycle,
                "phase": self.site.phase,
                "bytes_done": (self._total - remaining) * size,
                "bytes_total": self._total * size,
            },  # fmt: skip
        }

    def receive(self, payload: bytes) -> dict[str, Any] | None:
        raise MessageRefused("the local site receives no messages")

    def replied(self, site: str, reply: dict[str, Any]) -> None:
        committed = reply.get("committed")
        if isinstance(committed, dict):
            self.peer = committed

    def _apply(self, action: Action) -> None:
        """The runner's actions: the flush before a commit is the host's door's, the rest the
        site's."""
        if isinstance(action, HostFlush):
            self.site.host_flush()
        else:
            self.site.apply(action)

    def host_write(self, grain: int, data: bytes, fua: bool = True) -> int:
        self.refuse_host(grain)
        size = self.site.grain_size
        if not data or len(data) % size:
            raise EngineRefused(f"{len(data)} bytes are not whole grains of {size} bytes")
        for i in range(len(data) // size):
            self.site.host_write(grain + i, data[i * size : (i + 1) * size], fua)
        return self.site.local_meta().cycle

    def host_flush(self) -> None:
        """The cached grains still to copy are copied first (the flush waits for them), then
        the batch is flushed."""
        site = self.site
        for start, count in runs(site.to_copy_before_flush(), self.runner.max_extent_grains):
            site.apply(CopyGrain(start, count))
        site.host_flush()

    def cached_grains(self) -> int:
        return len(self.site.cache)

    def host_read(self, grain: int, count: int) -> bytes:
        return b"".join(self.site.host_read(g) for g in range(grain, grain + count))

    def sends(self, pair: str) -> bool:
        return True

    def host_volumes(self) -> dict[str, tuple[int, int]]:
        return {"source": (0, self.site.source.grain_count)}

    def resync_grains(self) -> set[int]:
        """To copy, written since P_k, out of sync (proofs/cyclic_flashcopy_roles.py: the source
        differs from P_c nowhere else but at grains the remote received this cycle)."""
        meta = self.site.local_meta(durable=True)
        return set(meta.copy_map.union(meta.future_map).union(meta.out_of_sync))

    def why_not_promotable(self, pair: str) -> str | None:
        return None

    def roll(self, pair: str = "") -> None:
        """The source has no grain whose committed value is held elsewhere: a demoted local site
        promoted again keeps its volume (model/roles_rules.py: a source holds nothing
        pending)."""

    def serve_host(self, dirty: DirtyLog, pair: str = "") -> None:
        """The local site's own maps track what the host wrote since the committed point."""


class RemoteServed(Served):
    def __init__(self, site: FlashCopyRemoteSite, cycle: Cycle) -> None:
        self.site = site
        self.grain_size = site.target.grain_size
        self.runner = DrainRunner(site, site.apply, cycle.extents_per_tick,
                                  cycle.max_extent_grains)  # fmt: skip
        size, grains = site.target.grain_size, site.target.grain_count
        self.digests = ImageDigest(self.image_grains, grains, size)
        for start, count in site.remote_meta().received_map.extents(256):
            self.digests.stage(start, site.i2.read_grains(start, count))
        self._published: dict[str, Any] = {}
        self._publish()
        self.dirty: DirtyLog | None = None
        """after a promote: the grains the host wrote here since"""

    def why_not_promotable(self, pair: str) -> str | None:
        return None

    def serves_host(self, pair: str) -> bool:
        return self.dirty is not None

    def holds_a_point(self, pair: str) -> bool:
        return self.site.remote_meta(durable=True).committed > 0

    def roll(self, pair: str = "") -> None:
        """Every grain whose committed value is still in I2 drained to T: T is P_c."""
        for start, count in self.site.remote_meta().target_map.extents(256):
            self.site.apply(DrainTarget(start, count))
        self._publish()

    def resync_grains(self) -> set[int]:
        """Received this cycle (not committed) and committed but still in I2 (what the host
        wrote since a promote is the dirty log's: node/turns.py `changed`)."""
        meta = self.site.remote_meta(durable=True)
        return set(meta.received_map.union(meta.target_map))

    def serve_host(self, dirty: DirtyLog, pair: str = "") -> None:
        assert not self.site.remote_meta().target_map, "serve the host only once rolled"
        self.dirty = dirty

    def committed_volumes(self) -> list[CommittedVolume]:
        self._publish()
        grains = self.site.target.grain_count
        return [CommittedVolume("source", grains, dict(self._published), self.image_grains)]

    def image_grains(self, start: int, count: int) -> bytes:
        """Grains of the committed image: T's, or I2's where the durable target map says the
        committed value is still there."""
        data = bytearray(self.site.target.read_grains(start, count))
        size = self.site.target.grain_size
        for grain in self.site.in_i2().within(start, count):
            at = (grain - start) * size
            data[at : at + size] = self.site.i2.read_grains(grain)
        return bytes(data)

    def _publish(self) -> None:
        raw = self.site.durable_meta()
        number = self.site.remote_meta(durable=True).committed
        self._published = point(number, recorded_time(raw, COMMITTED_AT), self.digests.digest)

    def tick(self) -> bool:
        if self.dirty is not None:
            return False  # promoted: the host writes here, nothing comes to drain
        drained = self.runner.tick()
        return drained > 0 and bool(self.site.remote_meta().target_map)

    def receive(self, payload: bytes) -> dict[str, Any] | None:
        if self.dirty is not None:
            raise MessageRefused("this site was promoted: it takes no mirror writes")
        message = MESSAGES.decode(payload)
        try:
            self.site.receive(payload)
        except EngineRefused as refused:
            raise MessageRefused(str(refused)) from None
        if isinstance(message, MirrorWrite):
            self.digests.stage(message.grain, message.data)
            return None
        if isinstance(message, MirrorRuns):
            for start, data in split_runs(message.extents(), message.data, self.grain_size):
                self.digests.stage(start, data)
            return None
        assert isinstance(message, Commit)
        self.digests.commit()
        self._publish()
        return {"committed": self._published}

    def hello(self) -> dict[str, Any]:
        return {"committed": self._published}

    def host_write(self, grain: int, data: bytes, fua: bool = True) -> int:
        """Once promoted (and only then): the grains tracked dirty, then written to T, durable
        before this returns (the roles' host write: model/roles_rules.py)."""
        if self.dirty is None:
            raise EngineRefused("the remote site has no host door: the host writes at the "
                                "local site (or here, once promoted)")  # fmt: skip
        self.refuse_host(grain)
        size, target = self.grain_size, self.site.target
        if not data or len(data) % size:
            raise EngineRefused(f"{len(data)} bytes are not whole grains of {size} bytes")
        count = len(data) // size
        if not 0 <= grain < grain + count <= target.grain_count:
            raise EngineRefused(f"grains {grain}..{grain + count - 1} are outside the volume")
        self.dirty.add(grain, count)
        target.write_grains(grain, data)
        target.flush()
        return self.site.remote_meta().committed + 1

    def host_read(self, grain: int, count: int) -> bytes:
        if self.dirty is None:
            raise EngineRefused("the remote site has no host door until it is promoted")
        return self.site.target.read_grains(grain, count)

    def sends(self, pair: str) -> bool:
        return False

    def draining(self, pair: str) -> bool:
        return self.dirty is None and bool(self.site.remote_meta().target_map)

    def host_volumes(self) -> dict[str, tuple[int, int]]:
        return {} if self.dirty is None else {"source": (0, self.site.target.grain_count)}

    def judge(self, peer: dict[str, Any]) -> str | None:
        cycle = peer.get("cycle")
        if not isinstance(cycle, int):
            return "the local site's HELLO names no cycle"
        return lost_commit(cycle, self._published["number"])

    def report(self) -> dict[str, Any]:
        meta = self.site.remote_meta(durable=True)
        if self.dirty is not None:
            written = len(self.dirty.grains)
            size = self.grain_size
            return {"role": "primary", "committed_point": self._published,
                    "out_of_sync": {"grains": written, "bytes": written * size},
                    "cycle": {"number": meta.committed + 1, "phase": "promoted",
                              "bytes_done": 0, "bytes_total": None}}  # fmt: skip
        behind = meta.target_map.union(meta.received_map)
        size = self.site.target.grain_size
        return {
            "role": "secondary",
            "committed_point": self._published,
            "out_of_sync": {"grains": len(behind), "bytes": len(behind) * size},
            "cycle": {
                "number": meta.committed + 1,
                "phase": "draining" if meta.target_map else "receiving",
                "bytes_done": len(meta.received_map) * size,
                "bytes_total": None,
                "to_drain_bytes": len(meta.target_map) * size,
            },  # fmt: skip
        }
