"""In a fan-out, the next point is frozen as soon as the first remote has marked the current
one complete: the fastest remote sets the pace, the others catch up.  Unsafe: the next freeze
turns the active delta into the frozen one while a slower remote still needs the current frozen
delta, and before it is merged at home."""

from collections.abc import Iterator
from typing import Any

from pitmirror.model import freeze_overlay_rules as B
from pitmirror.model.algebra import Clause

DESIGN = "freeze-overlay"


def freeze_group_guard(x: Any, o: Any, s: Any, first: Any) -> Iterator[Clause]:
    """The unchanged guard, with "some remote" for "every remote", and without waiting for
    the frozen delta to be merged away."""
    yield B.home_is_up(x, s)
    yield Clause(x.not_(s.broken), "mirroring is broken for this group")
    yield Clause(B.no_straggler(x, s), "the previous freeze is still in progress")
    yield Clause(x.some_remote(lambda r: s.completed[r]),
                 lambda: f"no remote has point {s.point} yet")  # fmt: skip


RULES = {"FreezeGroup": B.RULES["FreezeGroup"].with_guard(freeze_group_guard)}
