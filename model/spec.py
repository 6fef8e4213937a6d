"""The ideal specification: what every design must guarantee, as named predicates.

A design shows its state to the spec as a `SpecView`: each host-visible volume (its live image
and the host's acknowledged view) and each *copy* — what one remote site can recover of one
consistency group: the point each member recovers, the recovered images, and the ghost history
P_0..P_k of the group's images.  A design with one volume pair has one copy of one member.

Each predicate returns None when it holds, else a sentence saying what broke — the harness
prints that sentence.  The safety goal is `inv_target_is_committed_image`; the others protect
its premises (no acknowledged write lost, one point per group, commits only move forward, lag
stays bounded) and progress (with everything up and writes paused, a commit comes).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

Image = tuple[int, ...]

GOAL = "inv_target_is_committed_image"
NO_ACK_LOST = "inv_no_ack_lost"
MONOTONIC = "inv_commit_monotonic"
LAG_BOUND = 2
"""while connected, the committed point trails the newest point by at most this many"""


@dataclass(frozen=True)
class Volume:
    """A volume the host writes: what a host read returns now (`live`, along the design's read
    path) and what the host was told it holds."""

    name: str
    live: Image
    acked: Image


@dataclass(frozen=True)
class Copy:
    """What one remote site can recover of one consistency group."""

    site: str
    group: int
    members: tuple[str, ...]
    points: tuple[int, ...]
    """the point each member recovers"""
    recovered: tuple[Image, ...]
    """each member's recoverable image"""
    images: tuple[tuple[Image, ...], ...]
    """ghost: P_0..P_k, one image per member"""
    connected: bool
    """the group's home, the remote and the link between them are all up"""

    @property
    def key(self) -> tuple[str, int]:
        return self.site, self.group

    @property
    def newest(self) -> int:
        return len(self.images) - 1

    @property
    def committed(self) -> int:
        return min(self.points)


@dataclass(frozen=True)
class SpecView:
    volumes: tuple[Volume, ...]
    copies: tuple[Copy, ...]


def image_diff(actual: Sequence[int], expected: Sequence[int]) -> str:
    """`grain 3: 17 (expected 12)` for every grain that differs, at most five."""
    if len(actual) != len(expected):
        return f"{len(actual)} grains (expected {len(expected)})"
    pairs = enumerate(zip(actual, expected, strict=True))
    diffs = [f"grain {g}: {a} (expected {e})" for g, (a, e) in pairs if a != e]
    more = f" and {len(diffs) - 5} more" if len(diffs) > 5 else ""
    return ", ".join(diffs[:5]) + more


def inv_no_ack_lost(volume: Volume) -> str | None:
    """Every acknowledged host write is what a read of the volume returns."""
    if volume.live == volume.acked:
        return None
    diff = image_diff(volume.live, volume.acked)
    return f"a read of {volume.name} does not return its acknowledged writes: {diff}"


def inv_group_recovers_one_point(copy: Copy) -> str | None:
    """At a remote every member of a group recovers the same point."""
    if len(set(copy.points)) <= 1:
        return None
    return f"at {copy.site} the members of group {copy.group} recover points {sorted(copy.points)}"


def inv_target_is_committed_image(copy: Copy) -> str | None:
    """Safety goal: what the remote site recovers is exactly P_c, member by member."""
    c = copy.committed
    for member, recovered, expected in zip(
        copy.members, copy.recovered, copy.images[c], strict=True
    ):
        if recovered != expected:
            return f"{copy.site} recovers {member} at a state that is not P_{c}: " + image_diff(
                recovered, expected
            )
    return None


def inv_lag_bounded(copy: Copy) -> str | None:
    """While connected, c >= k - LAG_BOUND."""
    if not copy.connected or copy.committed >= copy.newest - LAG_BOUND:
        return None
    return f"{copy.site} recovers P_{copy.committed}, more than {LAG_BOUND} behind P_{copy.newest}"


def inv_commit_monotonic(before: Copy, after: Copy) -> str | None:
    """c never goes backwards and a committed image is never rewritten."""
    if after.committed < before.committed:
        return f"{after.site} went back from P_{before.committed} to P_{after.committed}"
    kept = before.committed + 1
    if after.images[:kept] != before.images[:kept]:
        return f"a point-in-time image {after.site} committed was rewritten"
    return None


S = TypeVar("S")

PROGRESS_MEMO = 4096
"""states whose progress each design's model remembers: a lockstep run checks every state it
reaches, and the examples of a run share their early states (a design-B run of 30 examples
asked 1,728 times for 658 states); a state holds its options, so mutants never share one"""


def inv_progress(
    state: S,
    bound: int,
    committed: Callable[[S], bool],
    background: Callable[[S], tuple[S, int] | None],
) -> str | None:
    """With everything up and host writes paused, background work alone reaches a commit
    within `bound` steps.  The design says when it is ready (the caller checks that everything
    is up), when the commit has come (`committed`) and what background work comes next
    (`background`: the state after it and the number of actions it took, or None when nothing
    is enabled)."""
    current, spent = state, 0
    while spent < bound:
        if committed(current):
            return None
        after = background(current)
        if after is None:
            break
        current, spent = after[0], spent + after[1]
    if committed(current) and spent <= bound:
        return None
    return f"no commit within {bound} background steps with writes paused"


def violations(after: SpecView, before: SpecView | None) -> dict[str, str]:
    """Every predicate except progress that `after` (reached from `before`) breaks, by name."""
    found: dict[str, str] = {}
    for volume in after.volumes:
        if why := inv_no_ack_lost(volume):
            found.setdefault(NO_ACK_LOST, why)
    previous = {copy.key: copy for copy in before.copies} if before is not None else {}
    for copy in after.copies:
        if why := inv_group_recovers_one_point(copy):
            found.setdefault("inv_group_recovers_one_point", why)
            continue  # no one committed point to hold the others against
        checks = [
            (GOAL, inv_target_is_committed_image(copy)),
            ("inv_lag_bounded", inv_lag_bounded(copy)),
        ]
        if copy.key in previous:
            checks.append((MONOTONIC, inv_commit_monotonic(previous[copy.key], copy)))
        for name, why in checks:
            if why:
                found.setdefault(name, why)
    return found
