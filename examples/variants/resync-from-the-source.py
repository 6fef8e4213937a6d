"""After a link outage, design A resyncs a grain from the source S instead of from I1: the
local site need not read I1 back, and I1 need not hold the grain until the link returns.
Unsafe: a host write since the point has already changed S, so the remote commits a value of a
later image than P_k."""

from typing import Any

from pitmirror.model import cyclic_flashcopy_rules as A
from pitmirror.model.algebra import Case

DESIGN = "cyclic-flashcopy"


def resync_grain(x: Any, o: Any, s: Any, extent: Any) -> list[Case]:
    """The unchanged plan with S's values where I1's were."""
    extent = x.common(extent, s.out_of_sync)  # the out-of-sync grains within the window
    done = A.record("local", "out_of_sync -= e", out_of_sync=x.minus(s.out_of_sync, extent))
    return [Case(label or "resync", when, (*writes, done))
            for label, when, writes in A.mirror_branches(x, o, s, extent, s.source)]  # fmt: skip


RULES = {"ResyncGrain": A.RULES["ResyncGrain"].with_plan(resync_grain)}
