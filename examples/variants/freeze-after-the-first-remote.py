"""The pipelined overlap, taken one step too far in a fan-out: the next point is frozen as soon
as the *first* remote has marked the current one complete, so the fastest remote sets the pace
and the others catch up.  Unsafe: the freeze moves the current frozen delta aside to merge away
at home while a slower remote still lacks some of its grains; they can never be copied again,
and when the next point reaches that remote, its incomplete delta moves aside as if complete."""

from collections.abc import Iterator
from typing import Any

from pitmirror.model import freeze_overlay_rules as B
from pitmirror.model.algebra import Clause

DESIGN = "freeze-overlay"

OPTIONS = {"pipelined": True}

TOPOLOGY = "fan-out"
"""one remote is every remote: the change shows only where there are two"""


def freeze_group_guard(x: Any, o: Any, s: Any, first: Any) -> Iterator[Clause]:
    """The pipelined guard, with "some remote" for "every remote"."""
    yield B.home_is_up(x, s)
    yield Clause(x.not_(s.broken), "mirroring is broken for this group")
    yield Clause(B.no_straggler(x, s), "the previous freeze is still in progress")
    yield Clause(x.some_remote(lambda r: s.completed[r]),
                 lambda: f"no remote has point {s.point} yet")  # fmt: skip
    yield Clause(x.all_members(lambda m: x.not_(s.has_merging[m])),
                 lambda: f"point {s.point - 1} is still merging into the base")  # fmt: skip


RULES = {"FreezeGroup": B.RULES["FreezeGroup"].with_guard(freeze_group_guard)}
