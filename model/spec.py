"""The ideal specification: what every design must guarantee, as named predicates.

A design's state exposes the ghost history (`images`: P_0..P_k, `acked`: the host's view) and
the remote site's recoverable image; the predicates here compare them.  Each predicate returns
None when it holds, else a sentence saying what broke — the harness prints that sentence.

The safety goal is `inv_target_is_committed_image`; the others protect the goal's premises
(no acknowledged write lost, commits only move forward, lag stays bounded, progress).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

Image = tuple[int, ...]


class SpecView(Protocol):
    @property
    def committed(self) -> int: ...
    @property
    def cycle(self) -> int: ...
    @property
    def images(self) -> tuple[Image, ...]: ...
    @property
    def source(self) -> Image: ...
    @property
    def acked(self) -> Image: ...
    @property
    def link_up(self) -> bool: ...
    @property
    def local_up(self) -> bool: ...
    @property
    def remote_up(self) -> bool: ...


def image_diff(actual: Sequence[int], expected: Sequence[int]) -> str:
    """`grain 3: 17 (expected 12)` for every grain that differs, at most five."""
    if len(actual) != len(expected):
        return f"{len(actual)} grains (expected {len(expected)})"
    pairs = enumerate(zip(actual, expected, strict=True))
    diffs = [f"grain {g}: {a} (expected {e})" for g, (a, e) in pairs if a != e]
    more = f" and {len(diffs) - 5} more" if len(diffs) > 5 else ""
    return ", ".join(diffs[:5]) + more


def inv_target_is_committed_image(state: SpecView, recoverable: Image) -> str | None:
    """Safety goal: what the remote site recovers is exactly P_c."""
    expected = state.images[state.committed]
    if recoverable == expected:
        return None
    return f"the target recovers an image that is not P_{state.committed}: " + image_diff(
        recoverable, expected
    )


def inv_no_ack_lost(state: SpecView) -> str | None:
    """Every acknowledged host write is still in the source."""
    if state.source == state.acked:
        return None
    return "the source lost acknowledged writes: " + image_diff(state.source, state.acked)


def inv_lag_bounded(state: SpecView) -> str | None:
    """While the link and both sites are up, c >= k - 2."""
    if not (state.link_up and state.local_up and state.remote_up):
        return None
    if state.committed >= state.cycle - 2:
        return None
    return f"committed point {state.committed} lags cycle {state.cycle} by more than 2"


def inv_commit_monotonic(before: SpecView, after: SpecView) -> str | None:
    """c never goes backwards and a committed image is never rewritten."""
    if after.committed < before.committed:
        return f"committed point went back from {before.committed} to {after.committed}"
    if after.images[: before.committed + 1] != before.images[: before.committed + 1]:
        return "a committed point-in-time image was rewritten"
    return None


STATE_PREDICATES: dict[str, Callable[[SpecView], str | None]] = {
    "inv_no_ack_lost": inv_no_ack_lost,
    "inv_lag_bounded": inv_lag_bounded,
}


def violations(state: SpecView, recoverable: Image) -> dict[str, str]:
    """Every state predicate that fails, by name."""
    found = {name: why for name, check in STATE_PREDICATES.items() if (why := check(state))}
    if why := inv_target_is_committed_image(state, recoverable):
        found["inv_target_is_committed_image"] = why
    return found
