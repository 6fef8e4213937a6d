"""Known-buggy variants of the engine's pure helpers, with the real helpers' contracts.

CrossHair must find a counterexample for every one of them (tests/test_crosshair.py): a
contract check that passes on these would be a check that cannot fail.
"""

from __future__ import annotations

Extent = tuple[int, int]
Delta = tuple[tuple[int, int], ...]


def grains_of(extents: list[Extent]) -> list[int]:
    return [g for start, length in extents for g in range(start, start + length)]


def runs_too_long(grains: list[int], max_len: int = 0) -> list[Extent]:
    """A run may grow one grain past the limit.

    pre: max_len >= 0
    post: grains_of(__return__) == sorted(set(grains))
    post: all(n >= 1 and (max_len == 0 or n <= max_len) for _, n in __return__)
    """
    found: list[Extent] = []
    for g in sorted(set(grains)):
        if found and found[-1][0] + found[-1][1] == g and (max_len == 0 or found[-1][1] <= max_len):
            found[-1] = (found[-1][0], found[-1][1] + 1)
        else:
            found.append((g, 1))
    return found


def overlay_oldest_wins(base: tuple[int, ...], deltas: tuple[Delta, ...]) -> tuple[int, ...]:
    """Reads the oldest delta first: a frozen value hides the newer active one.

    pre: all(0 <= g < len(base) for d in deltas for g, _ in d)
    post: all(__return__[g] == _newest(base, deltas, g) for g in range(len(base)))
    """
    out = list(base)
    for delta in reversed(deltas):
        for g, v in delta:
            out[g] = v
    return tuple(out)


def _newest(base: tuple[int, ...], deltas: tuple[Delta, ...], grain: int) -> int:
    for delta in reversed(deltas):
        for g, v in delta:
            if g == grain:
                return v
    return base[grain]


def next_copy_map_always_update(
    copy: frozenset[int], future: frozenset[int], rule: str
) -> frozenset[int]:
    """Claim 5's update even when claim 6's merge is asked for.

    pre: rule in ("merge", "update")
    post: __return__ == (copy | future if rule == "merge" else future)
    """
    return future


def parse_field_accepts_negative(obj: dict[str, int]) -> dict[str, int]:
    """A trace field check that lets a negative grain through.

    post: all(v >= 0 for v in __return__.values())
    """
    return {k: v for k, v in obj.items() if isinstance(v, int) and v > -2}
