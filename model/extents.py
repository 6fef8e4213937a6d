"""Extents in the model: a run of consecutive grains, named by its first grain and count."""

from __future__ import annotations

from collections.abc import Iterable

Extent = tuple[int, int]  # (first grain, number of grains)


def span(start: int, count: int) -> frozenset[int]:
    return frozenset(range(start, start + count))


def runs(grains: Iterable[int]) -> list[Extent]:
    """The maximal runs of consecutive grains, in order.

    post: sorted(g for s, n in __return__ for g in range(s, s + n)) == sorted(set(grains))
    """
    found: list[Extent] = []
    for g in sorted(set(grains)):
        if found and found[-1][0] + found[-1][1] == g:
            found[-1] = (found[-1][0], found[-1][1] + 1)
        else:
            found.append((g, 1))
    return found


def run_from(grains: frozenset[int], start: int) -> int:
    """How many consecutive grains of `grains` begin at `start` (0 if start is not one)."""
    count = 0
    while start + count in grains:
        count += 1
    return count


def first_run(grains: frozenset[int]) -> Extent:
    """The lowest run of the non-empty `grains`."""
    start = min(grains)
    return start, run_from(grains, start)
