"""What the sites of every design share: journal-backed metadata and durable writes.

Every write goes through `_write` (one extent of one volume) or `_record` (one journal record),
and each is reported to the site's write hook, a port the harness fills with its crash
injector (a crash can cut an action after any write); a running product leaves it empty.  Each is
followed by its device's flush unless the caller says the design does not need that write
durable before the next one (`durable=False`: the model's write plan says where, and only the
flush-order mutants use it).  A crashed site drops its in-memory metadata (`meta = None`);
`start()` rebuilds it from the journal alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pitmirror.impl.bitmap import GrainMap
from pitmirror.impl.journal import Journal, Metadata, apply_changes
from pitmirror.impl.regions import Region
from pitmirror.impl.volumes import Volume
from pitmirror.model.actions import Action

WriteHook = Callable[[str, str], None]
"""told (site, what was written) after every durable write of a site"""


def span(start: int, count: int) -> list[int]:
    return list(range(start, start + count))


def _no_hook(site: str, what: str) -> None:
    pass


def no_clock() -> float:
    """The time of a site that runs without a clock (the harness's worlds): always 0."""
    return 0.0


class EngineRefused(Exception):
    """The engine's controller refused an action (its phase or guard did not allow it)."""


class EngineInvariantBroken(AssertionError):
    """A structural invariant the engine keeps by construction (maps disjoint, phase agreeing
    with the maps, metadata well formed) does not hold: the engine's code is wrong here."""


class SiteDown(Exception):
    """An operation reached a site that is not running."""


def require_some(grains: GrainMap, start: int, count: int, what: str) -> list[int]:
    """A window's bounds, checked before any write: the grains of `grains` (`what`) within it,
    at least one."""
    inside = start >= 0 and count >= 1 and start + count <= grains.grain_count
    found = grains.within(start, count) if inside else []
    if not found:
        raise EngineRefused(f"no grain of [{start}, {start + count}) is {what}")
    return found


def require_extent(grains: GrainMap, start: int, count: int, what: str, held: bool = True) -> None:
    """An extent's bounds, checked before any write: every grain of it must be in `grains`
    (`what`), or with `held` False none may be."""
    inside = start >= 0 and count >= 1 and start + count <= grains.grain_count
    found = grains.count_within(start, count) if inside else -1
    if found != (count if held else 0):
        raise EngineRefused(f"grains [{start}, {start + count}) are not all {what}")


class DurableSite:
    """A site's metadata (journal-backed) and its durable writes, each reported to the write
    hook; subclasses add the volumes and the operations."""

    site: str

    def __init__(self, journal: Journal, on_write: WriteHook | None = None) -> None:
        self.journal = journal
        self.on_write = on_write or _no_hook
        self.meta: Metadata | None = None
        self.starts = 0
        """how many times the site started: work planned before a restart is planned again"""

    @property
    def up(self) -> bool:
        return self.meta is not None

    def start(self) -> None:
        """Recovery: the metadata from the journal alone (a torn tail cut off)."""
        self.meta = self.journal.load()
        self.starts += 1

    def crash(self) -> None:
        self.meta = None

    def durable_meta(self) -> Metadata:
        """The metadata as the journal holds it (what a restart would see)."""
        return self.meta if self.meta is not None else self.journal.replay().meta

    def live_meta(self) -> Metadata:
        """The running site's metadata; SiteDown when it is not running."""
        if self.meta is None:
            raise SiteDown(f"the {self.site} site is down")
        return self.meta

    def keeps(self, barrier: str) -> bool:
        """Whether the site flushes at the named barrier of its write order: always.  (The
        harness's power-loss mutants are subclasses that drop one, harness/<design>/mutants.py;
        naming each barrier where it is kept says what it protects.)"""
        return True

    def _write(
        self, volume: Volume | Region, start: int, data: bytes, durable: bool = True
    ) -> None:
        volume.write_grains(start, data)
        if durable:
            volume.flush()
        self.on_write(self.site, f"{volume.name}[{start}+{len(data) // volume.grain_size}]")

    def _write_runs(self, volume: Volume | Region, writes: list[tuple[int, bytes]],
                    durable: bool = True) -> None:  # fmt: skip
        """Several extents of one volume as one write of the design's plan: no barrier between
        them, one flush after the last (a crash counts one write, a power loss may keep any of
        them)."""
        if len(writes) == 1:
            self._write(volume, *writes[0], durable=durable)
            return
        for start, data in writes:
            volume.write_grains(start, data)
        if durable:
            volume.flush()
        grains = sum(len(data) for _, data in writes) // volume.grain_size
        self.on_write(self.site, f"{volume.name}[{len(writes)} runs, {grains} grains]")

    def _flush(self, volume: Volume | Region) -> None:
        """A barrier on its own: every write to `volume` so far is durable (a write of the
        plan that needed no flush of its own is needed durable before the next)."""
        volume.flush()

    def _record(self, changes: dict[str, Any], durable: bool = True) -> None:
        meta = self.live_meta()
        self.journal.append(changes)
        if durable:
            self.journal.sync()
        apply_changes(meta, changes)
        self.on_write(self.site, f"journal {sorted(changes)}")
        if durable:  # a snapshot makes every record durable: only after a barrier
            self.journal.maybe_compact(meta)


def event_arguments(action: Action) -> dict[str, Any]:
    """An action's fields as its controller event's arguments (python-statemachine hands
    each callback the ones it names)."""
    return {name: getattr(action, name) for name in action.__dataclass_fields__}
