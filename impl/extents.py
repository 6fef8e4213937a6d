"""Pure helpers on grain indexes, with contracts that CrossHair checks (PEP 316 docstrings).

`GrainMap` keeps bits in numpy; turning the set bits into I/O extents happens here, in plain
Python over the sorted indexes, so the contract can be checked symbolically.
"""

from __future__ import annotations

Extent = tuple[int, int]  # (first grain, number of grains)


def grains_of(extents: list[Extent]) -> list[int]:
    return [g for start, length in extents for g in range(start, start + length)]


def apart(extents: list[Extent]) -> bool:
    """Ordered, and no two extents touch (so none could be merged)."""
    return all(s1 + n1 < s2 for (s1, n1), (s2, _) in zip(extents, extents[1:], strict=False))


def coalesce_indices(indices: list[int], max_len: int = 0) -> list[Extent]:
    """Runs of consecutive grains as extents, in order; 0 means no length limit.

    pre: all(0 <= i for i in indices)
    pre: all(a < b for a, b in zip(indices, indices[1:]))
    pre: max_len >= 0
    post: grains_of(__return__) == indices
    post: all(n >= 1 and (max_len == 0 or n <= max_len) for _, n in __return__)
    post: max_len != 0 or apart(__return__)
    """
    extents: list[Extent] = []
    for index in indices:
        if extents:
            start, length = extents[-1]
            if start + length == index and (max_len == 0 or length < max_len):
                extents[-1] = (start, length + 1)
                continue
        extents.append((index, 1))
    return extents
