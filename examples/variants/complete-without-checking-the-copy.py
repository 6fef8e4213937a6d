"""A remote marks the point complete as soon as the home tells it the copy is sent, without
checking that every grain of the frozen delta has arrived: one round trip less per cycle.
Unsafe: a copy still in flight, or lost with the link, is committed as if it had landed."""

from collections.abc import Iterator
from typing import Any

from pitmirror.model import freeze_overlay_rules as B
from pitmirror.model.algebra import Clause

DESIGN = "freeze-overlay"


def mark_complete_guard(x: Any, o: Any, s: Any, remote: Any) -> Iterator[Clause]:
    """The unchanged guard without its last clause (`B.copied`)."""
    site = x.remote_name(remote)
    yield Clause(s.reachable(x, remote), lambda: f"{site} cannot be reached")
    yield Clause(x.not_(s.completed[remote]),
                 lambda: f"point {s.point} is already complete at {site}")  # fmt: skip
    yield Clause(B.no_straggler(x, s), "the freeze is still in progress")
    yield Clause(
        x.all_members(lambda m: x.or_(s.rdelta_point[remote][m] == B.NONE,
                                      s.rdelta_point[remote][m] == s.point)),
        lambda: f"{site} still holds an older delta",
    )  # fmt: skip


RULES = {"MarkComplete": B.RULES["MarkComplete"].with_guard(mark_complete_guard)}
