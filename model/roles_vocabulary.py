"""The roles model's actions, once (model/vocabulary.py says what each column feeds).

Binders (model/roles.py `BINDERS`): `write` a host write at the site it names (none: the pair's
first site), `drain` an extent, `none` no parameter, `site` the site the action names, with
`force` for a promote.  Handlers: `named` the site the action names, `link` the pair's link,
`pair` the mirror's cycle (its two sites).  The commands are the operator's; the cycle's commit
and drain stand for each design's whole cycle, as proofs/roles_bridge.py relates them.
"""

from __future__ import annotations

from pitmirror.model.actions import (
    CommitPoint,
    CrashSite,
    Demote,
    DrainTarget,
    HostWrite,
    LinkDown,
    LinkUp,
    Promote,
    Recover,
    Resync,
)
from pitmirror.model.vocabulary import ActionTable, Entry

_SITE = ("epoch", "parent", "known", "role", "split", "image", "dirty", "pending")
_BOTH = tuple(f"{s}_{f}" for s in ("x", "y") for f in _SITE)
CUT = ("armed_crash", "x_up", "y_up")
"""an armed crash may cut an action's plan: the site goes down and the crash is spent"""

VOCABULARY = ActionTable(
    (
        Entry(HostWrite, "write", "named", "host",
              ("x_image", "y_image", "x_dirty", "y_dirty", *CUT)),
        Entry(CommitPoint, "none", "pair", "cycle",
              ("x_pending", "y_pending", "x_dirty", "y_dirty", "base", *CUT)),
        Entry(DrainTarget, "drain", "pair", "cycle",
              ("x_image", "y_image", "x_pending", "y_pending", *CUT)),
        Entry(LinkDown, "none", "link", "fault", ("link_up",)),
        Entry(LinkUp, "none", "link", "fault", ("link_up", *_BOTH)),
        Entry(CrashSite, "site", "named", "fault", CUT),
        Entry(Recover, "site", "named", "fault", ("x_up", "y_up", *_BOTH)),
        Entry(Promote, "site", "named", "command", (*_BOTH, "source_x", *CUT)),
        Entry(Demote, "site", "named", "command", ("x_role", "y_role", *CUT)),
        Entry(Resync, "site", "named", "command", (*_BOTH, "source_x", "base", *CUT)),
    )
)  # fmt: skip
