"""Extents in the model: a run of consecutive grains, named by its first grain and count."""

from __future__ import annotations

from collections.abc import Iterable

Extent = tuple[int, int]  # (first grain, number of grains)


def span(start: int, count: int) -> frozenset[int]:
    return frozenset(range(start, start + count))


def grains_of(extents: list[Extent]) -> list[int]:
    return [g for start, length in extents for g in range(start, start + length)]


def apart(extents: list[Extent]) -> bool:
    """Ordered, and no two extents touch (so none could be merged)."""
    return all(s1 + n1 < s2 for (s1, n1), (s2, _) in zip(extents, extents[1:], strict=False))


def runs(grains: Iterable[int], max_len: int = 0) -> list[Extent]:
    """The runs of consecutive grains, in order, each at most `max_len` long (0: no limit, so
    the runs are maximal); the engine's I/O extents and the model's enabled extents alike.

    pre: max_len >= 0
    post: grains_of(__return__) == sorted(set(grains))
    post: all(n >= 1 and (max_len == 0 or n <= max_len) for _, n in __return__)
    post: max_len != 0 or apart(__return__)
    """
    found: list[Extent] = []
    for g in sorted(set(grains)):
        if found and found[-1][0] + found[-1][1] == g and (max_len == 0 or found[-1][1] < max_len):
            found[-1] = (found[-1][0], found[-1][1] + 1)
        else:
            found.append((g, 1))
    return found


def _gallop(grains: frozenset[int], first: int, direction: int, limit: int) -> int:
    """How many consecutive grains from `first` on in `direction` (+1, -1) are in `grains`, at
    most `limit`: one at a time for a short run, then in chunks of doubling size (a run of
    thousands of grains is checked in C, not one grain per Python step)."""
    count = 0
    while count < min(limit, 16):
        if first + direction * count not in grains:
            return count
        count += 1
    step = 16
    while step and count < limit:
        step = min(step, limit - count)
        near = first + direction * count
        chunk = range(near, near + step) if direction > 0 else range(near - step + 1, near + 1)
        if grains.issuperset(chunk):
            count, step = count + step, step * 2
        else:
            step //= 2
    return count


def run_from(grains: frozenset[int], start: int, most: int | None = None) -> int:
    """How many consecutive grains of `grains` begin at `start` (0 if start is not one), at
    most `most`."""
    return _gallop(grains, start, 1, len(grains) if most is None else min(most, len(grains)))


def run_around(grains: frozenset[int], grain: int, most: int | None = None) -> Extent:
    """The run of `grains` that holds `grain`, from its first grain, at most `most` long."""
    start = grain - _gallop(grains, grain - 1, -1, len(grains))
    return start, run_from(grains, start, most)


def some_run(grains: frozenset[int]) -> Extent:
    """A run of the non-empty `grains`: the one around the grain the set yields first (the
    lowest would cost a pass over the whole set)."""
    return run_around(grains, next(iter(grains)))


def sub_extents(grains: Iterable[int]) -> Iterable[Extent]:
    """Every extent inside the runs of `grains` (what a model enumerates as enabled)."""
    for start, count in runs(grains):
        for first in range(start, start + count):
            for n in range(1, start + count - first + 1):
                yield first, n


def windows(grains: Iterable[int]) -> list[Extent]:
    """Every extent inside the runs of `grains`, and the window over all of them where they are
    not one run (an action moves the grains of its map within its window)."""
    ordered = sorted(grains)
    found = list(sub_extents(ordered))
    if ordered and len(runs(ordered)) > 1:
        found.append((ordered[0], ordered[-1] - ordered[0] + 1))
    return found


def listed(grains: Iterable[int]) -> str:
    """`3`, `3, 4` or `3..9` (a run), for messages."""
    ordered = sorted(grains)
    if len(ordered) > 2 and ordered[-1] - ordered[0] == len(ordered) - 1:
        return f"{ordered[0]}..{ordered[-1]}"
    return ", ".join(map(str, ordered[:8])) + (", ..." if len(ordered) > 8 else "")


def grains_are(grains: Iterable[int], what: str) -> str:
    """`grain 3 is <what>` or `grains 3, 4 are <what>`."""
    ordered = sorted(grains)
    if len(ordered) == 1:
        return f"grain {ordered[0]} is {what}"
    return f"grains {listed(ordered)} are {what}"
