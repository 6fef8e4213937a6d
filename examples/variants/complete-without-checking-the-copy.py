"""A remote marks the point complete as soon as the home tells it the copy is sent, without
checking that every grain of the frozen delta has arrived: one round trip less per cycle.
Unsafe: a copy still in flight, or lost with the link, is committed as if it had landed."""

from collections.abc import Iterator
from typing import Any

from pitmirror.model import freeze_overlay_rules as B
from pitmirror.model.algebra import Clause

DESIGN = "freeze-overlay"


def mark_complete_guard(x: Any, o: Any, s: Any, remote: Any) -> Iterator[Clause]:
    """The unchanged guard, in either order, without the clause that every grain arrived."""
    return (c for c in B.mark_complete_guard(x, o, s, remote) if c.name != "copied")


RULES = {"MarkComplete": B.RULES["MarkComplete"].with_guard(mark_complete_guard)}
