"""Design A's actions, once (model/vocabulary.py says what each column feeds).

Binders (model/cyclic_flashcopy.py `BINDERS`): `write` the host's write (its grain and data; a write
without FUA is the rule `HostWrite(cached)`), `grain` one grain, `extent` an extent of grains,
`drain` an extent and the grain after it, `none` no parameter, `site` the site the action names.
Handlers: `local` (S and I1), `remote` (I2 and T), `named` the site the action names, `link` the
world's one link.
"""

from __future__ import annotations

from pitmirror.model.actions import (
    SITES,
    Action,
    CommitPoint,
    CopyGrain,
    CrashSite,
    DrainTarget,
    HostFlush,
    HostRead,
    HostWrite,
    LinkDown,
    LinkUp,
    Recover,
    ResyncGrain,
)
from pitmirror.model.vocabulary import ActionTable, Entry

MAPS = ("copy_map", "future_map", "out_of_sync", "received_map", "target_map")
CUT = ("armed_crash", "local_up", "remote_up", "cache", "cached", "acked")
"""an armed crash may cut an action's plan: the site goes down and the crash is spent (the local
site's cache lost with it, and the host's view of those grains)"""

VOCABULARY = ActionTable(
    (
        Entry(HostWrite, "write", "local", "host",
              ("source", "i1", "i2", "target", "acked", "cache", *MAPS, *CUT)),
        Entry(HostFlush, "none", "local", "host", ("source", "future_map", *CUT)),
        Entry(HostRead, "grain", "local", "host", ()),
        Entry(CopyGrain, "extent", "local", "cycle", ("i1", "i2", "target", *MAPS, *CUT)),
        Entry(ResyncGrain, "extent", "local", "cycle", ("i2", "target", *MAPS, *CUT)),
        Entry(CommitPoint, "none", "local", "cycle",
              ("committed", "cycle", "images", *MAPS, *CUT)),
        Entry(DrainTarget, "drain", "remote", "cycle",
              ("target", "target_map", "armed_crash", "remote_up")),
        Entry(LinkDown, "none", "link", "fault", ("link_up",)),
        Entry(LinkUp, "none", "link", "fault", ("link_up",)),
        Entry(CrashSite, "site", "named", "fault", CUT),
        Entry(Recover, "site", "named", "fault", ("local_up", "remote_up")),
    )
)  # fmt: skip


def takes(site: str, action: Action) -> bool:
    """`site`'s door takes `action`: the table routes it there, it is not the host's, and a
    crash is now (a crash after more writes is the world's to arm)."""
    entry = VOCABULARY.entry(action)
    now = not getattr(action, "after_writes", 0)
    return entry is not None and entry.origin != "host" and handling_site(action) == site and now


def handling_site(action: Action) -> str | None:
    """The site whose door takes `action` (None: the link's, or not an action of design A)."""
    entry = VOCABULARY.entry(action)
    if entry is None or entry.handler == "link":
        return None
    if entry.handler == "named":
        site = getattr(action, "site", None)
        return site if site in SITES else None
    return entry.handler
