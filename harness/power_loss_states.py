"""The states real storage can be left in by a power loss, built from the write log.

At a crash point (just after some write of the site that loses power): every write a completed
flush of its device covered is on the media; each write issued since — in flight — has a
*fate*: lost, whole, torn (a prefix of its 512-byte sectors, or any subset of them), or, for a
journal append, stopped at any byte or left as zeros (the file grew, its data never came).
Writes in flight to overlapping ranges may reach the media in either order.

The enumeration is exhaustive while the crash point has at most `exhaustive_writes` writes in
flight and the product of their fates is at most `max_states`; beyond that it draws `samples`
crash states from a seeded generator.  A volume write of up to `tear_sectors` sectors is torn
into every subset of its sectors; a longer one into every prefix and `tear_samples` drawn
subsets.  Every bound is an option of `pitmirror power-loss`.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from pitmirror.harness.iolog import Compacted, DeviceWrite, Entry
from pitmirror.impl.volumes import SECTOR_SIZE


@dataclass(frozen=True)
class Bounds:
    exhaustive_writes: int = 8
    max_states: int = 20_000
    samples: int = 2_000
    tear_sectors: int = 8
    tear_samples: int = 16
    seed: int = 0


LOST = "lost"
WHOLE = "whole"
ZEROS = "zeros"


@dataclass(frozen=True)
class Fate:
    """What of one in-flight write reached the media: `kind` lost, whole or zeros (a journal
    append whose data never came), or torn — `sectors` (a volume write's sectors that came) or
    `prefix` (a journal append's bytes that came)."""

    kind: str
    sectors: frozenset[int] = frozenset()
    prefix: int = 0

    def describe(self, write: DeviceWrite) -> str:
        if self.kind == "sectors":
            n = len(write.data) // SECTOR_SIZE
            return f"torn: sectors {_ranges(self.sectors)} of {n} reached the media"
        if self.kind == "prefix":
            return f"torn: its first {self.prefix} of {len(write.data)} bytes reached the media"
        return {LOST: "lost", WHOLE: "reached the media whole",
                ZEROS: "left zeros: the file grew, its data never came"}[self.kind]  # fmt: skip


def _ranges(items: frozenset[int]) -> str:
    ordered, parts = sorted(items), []
    for _, run in itertools.groupby(enumerate(ordered), key=lambda p: p[1] - p[0]):
        values = [v for _, v in run]
        parts.append(str(values[0]) if len(values) == 1 else f"{values[0]}-{values[-1]}")
    return ",".join(parts)


@dataclass(frozen=True)
class CrashState:
    """The fate of each write in flight (by log index) and the order overlapping writes
    reached the media in (log indices; the issue order unless reordered)."""

    fates: tuple[tuple[int, Fate], ...]
    order: tuple[int, ...]

    def reordered(self) -> bool:
        return list(self.order) != sorted(self.order)


def is_journal(device: str) -> bool:
    return device.endswith(".journal")


def fates_of(write: DeviceWrite, bounds: Bounds, rng: random.Random) -> list[Fate]:
    """Every fate of one in-flight write the bounds allow."""
    fates = [Fate(LOST), Fate(WHOLE)]
    if is_journal(write.device):
        fates.append(Fate(ZEROS))
        return fates + [Fate("prefix", prefix=k) for k in range(1, len(write.data))]
    n = len(write.data) // SECTOR_SIZE
    if n <= 1:
        return fates
    if n <= bounds.tear_sectors:
        masks = (frozenset(s for s in range(n) if bits >> s & 1) for bits in range(1, 2**n - 1))
        return fates + [Fate("sectors", m) for m in masks]
    torn = {frozenset(range(k)) for k in range(1, n)}
    while len(torn) < n - 1 + bounds.tear_samples:
        drawn = frozenset(s for s in range(n) if rng.random() < 0.5)
        if 0 < len(drawn) < n:
            torn.add(drawn)
    return fates + [Fate("sectors", m) for m in sorted(torn, key=sorted)]


def _overlapping(writes: Sequence[tuple[int, DeviceWrite]]) -> list[int]:
    """Log indices of in-flight writes whose range another in-flight write of their device
    also covers: the only ones whose order on the media can show."""
    hit: set[int] = set()
    for (i, a), (j, b) in itertools.combinations(writes, 2):
        if a.device == b.device and a.offset < b.end and b.offset < a.end:
            hit |= {i, j}
    return sorted(hit)


def crash_states(
    entries: Sequence[Entry], in_flight: Sequence[int], bounds: Bounds
) -> tuple[bool, int, Iterator[CrashState]]:
    """(exhaustive?, how many, the crash states) of a crash point with these writes in
    flight."""
    rng = random.Random(bounds.seed * 1_000_003 + len(entries))
    writes = [(i, entry) for i in in_flight if isinstance(entry := entries[i], DeviceWrite)]
    per_write = [fates_of(w, bounds, rng) for _, w in writes]
    reorderable = _overlapping(writes)
    orders = list(itertools.permutations(reorderable)) if len(reorderable) <= 4 else []
    total = math.prod(len(f) for f in per_write) * max(1, len(orders))
    indices = tuple(i for i, _ in writes)
    if (
        len(writes) <= bounds.exhaustive_writes
        and total <= bounds.max_states
        and (orders or not reorderable)
    ):
        return True, total, _all(indices, per_write, orders or [()], reorderable)
    count = min(total, bounds.samples)
    return False, count, _drawn(indices, per_write, reorderable, count, rng)


def _with_order(
    indices: tuple[int, ...], reorderable: list[int], order: Sequence[int]
) -> tuple[int, ...]:
    if not order:
        return indices
    places = iter(order)
    return tuple(next(places) if i in reorderable else i for i in indices)


def _all(
    indices: tuple[int, ...],
    per_write: list[list[Fate]],
    orders: list[tuple[int, ...]],
    reorderable: list[int],
) -> Iterator[CrashState]:
    for order in orders:
        full_order = _with_order(indices, reorderable, order)
        for combo in itertools.product(*per_write):
            yield CrashState(tuple(zip(indices, combo, strict=True)), full_order)


def _drawn(
    indices: tuple[int, ...],
    per_write: list[list[Fate]],
    reorderable: list[int],
    count: int,
    rng: random.Random,
) -> Iterator[CrashState]:
    for _ in range(count):
        combo = tuple(rng.choice(f) for f in per_write)
        order = list(reorderable)
        rng.shuffle(order)
        yield CrashState(
            tuple(zip(indices, combo, strict=True)), _with_order(indices, reorderable, order)
        )


# ---- device contents at a crash ---------------------------------------------------------------


@dataclass
class JournalBytes:
    """A journal's durable files: the log and the snapshot."""

    log: bytes
    snapshot: bytes | None


def journal_at(
    now: JournalBytes, entries: Sequence[Entry], first: int, device: str, crash_at: int,
    state: CrashState | None,
) -> JournalBytes:  # fmt: skip
    """The journal `device` as the media holds it after a power loss just after entry
    `crash_at`, in crash state `state` (None: every write issued so far reached the media),
    from what it holds `now` (after every entry of `entries`); no write before entry `first`
    is in flight."""
    log, snapshot = bytearray(now.log), now.snapshot
    fates = dict(state.fates) if state else {}
    for index in range(len(entries) - 1, first - 1, -1):  # undo, newest first
        entry = entries[index]
        if entry.device != device or (index <= crash_at and index not in fates):
            continue
        if isinstance(entry, DeviceWrite):
            del log[entry.offset :]
        elif isinstance(entry, Compacted):  # never in flight: a compaction is durable
            log, snapshot = bytearray(entry.log_before), entry.snapshot_before
    for index in state.order if state else ():
        entry, fate = entries[index], fates[index]
        assert isinstance(entry, DeviceWrite)
        if entry.device != device or fate.kind == LOST:
            continue
        data = {WHOLE: entry.data, ZEROS: bytes(len(entry.data))}.get(
            fate.kind, entry.data[: fate.prefix]
        )
        if len(log) < entry.offset:  # an earlier append was lost: the file has a hole
            log += bytes(entry.offset - len(log))
        log[entry.offset : entry.offset + len(data)] = data
    return JournalBytes(bytes(log), snapshot)


def volume_patches(
    now: dict[int, bytes], entries: Sequence[Entry], first: int, device: str, crash_at: int,
    state: CrashState | None,
) -> dict[int, bytes]:  # fmt: skip
    """The sectors of volume `device` the window's writes touched, as the media holds them
    after a power loss just after entry `crash_at` (see `journal_at`), from their content
    `now` (sector offset: 512 bytes)."""
    sectors = dict(now)
    fates = dict(state.fates) if state else {}
    for index in range(len(entries) - 1, first - 1, -1):
        entry = entries[index]
        if not isinstance(entry, DeviceWrite) or entry.device != device:
            continue
        if index <= crash_at and index not in fates:
            continue
        for at in range(0, len(entry.data), SECTOR_SIZE):
            sectors[entry.offset + at] = entry.before[at : at + SECTOR_SIZE]
    for index in state.order if state else ():
        entry, fate = entries[index], fates[index]
        assert isinstance(entry, DeviceWrite)
        if entry.device != device or fate.kind == LOST:
            continue
        for s in range(len(entry.data) // SECTOR_SIZE):
            if fate.kind == WHOLE or s in fate.sectors:
                sectors[entry.offset + s * SECTOR_SIZE] = entry.data[
                    s * SECTOR_SIZE : (s + 1) * SECTOR_SIZE
                ]
    return sectors


def touched(entries: Sequence[Entry], first: int, device: str) -> list[tuple[int, int]]:
    """(offset, length) of every write to `device` from entry `first` on."""
    return [
        (e.offset, len(e.data))
        for e in entries[first:]
        if isinstance(e, DeviceWrite) and e.device == device
    ]
