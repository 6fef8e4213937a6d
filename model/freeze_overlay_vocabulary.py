"""Design B's actions, once (model/vocabulary.py says what each column feeds).

Binders (model/freeze_overlay.py `BINDERS`): `grain` a grain of an object (with the host's
data for a write), `extent` an extent of one object, `remote-extent` an extent of one object
towards the remote the action names, `freeze` and `group` a consistency group,
`remote-group` a group at the remote the action names, `member` one object, `volume` one
object the host flushes, `link` a link, `site` a site.  Handlers: `home` the home site of the
grain, object or group the action names, `named` the site the action names, `link` the
world's link.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pitmirror.model.actions import (
    Action,
    BreakMirror,
    CopyDelta,
    CrashSite,
    DropLocalDelta,
    DropRemoteDelta,
    FreezeGroup,
    FreezeMember,
    HostFlush,
    HostRead,
    HostWrite,
    LinkDown,
    LinkUp,
    MarkComplete,
    MergeLocal,
    MergeRemote,
    Recover,
)
from pitmirror.model.vocabulary import ActionTable, Entry

if TYPE_CHECKING:
    from pitmirror.model.freeze_overlay import Topology

VOCABULARY = ActionTable(
    (
        # the active delta, or (without FUA) the host's cache
        Entry(HostWrite, "grain", "home", "host", ("objects", "acked")),
        Entry(HostFlush, "volume", "home", "host", ("objects", "acked")),  # cache to active
        Entry(HostRead, "grain", "home", "host", ()),  # the harness compares the bytes read
        # the members' frozen and active deltas; the point and its image
        Entry(FreezeGroup, "freeze", "home", "cycle", ("objects", "groups")),
        Entry(FreezeMember, "member", "home", "cycle", ("objects", "groups")),  # one member
        Entry(CopyDelta, "remote-extent", "home", "cycle", ("remotes",)),  # a remote's delta
        Entry(MarkComplete, "remote-group", "home", "cycle", ("remotes", "groups")),
        Entry(MergeRemote, "remote-extent", "named", "cycle", ("remotes",)),  # its base copy
        Entry(DropRemoteDelta, "remote-group", "named", "cycle", ("remotes",)),
        Entry(MergeLocal, "extent", "home", "cycle", ("objects",)),  # one object's base
        Entry(DropLocalDelta, "group", "home", "cycle", ("objects",)),  # the frozen deltas
        Entry(BreakMirror, "group", "home", "command", ("groups",)),
        Entry(LinkDown, "link", "link", "fault", ("down_links",)),
        Entry(LinkUp, "link", "link", "fault", ("down_links",)),
        Entry(CrashSite, "site", "named", "fault", ("down_sites", "objects")),  # the cache
        Entry(Recover, "site", "named", "fault", ("down_sites",)),
    )
)


def group_of(topo: Topology, action: Action) -> int | None:
    """The consistency group a home-handled action belongs to (None: it names none of the
    topology's grains, objects or groups)."""
    grain = getattr(action, "grain", None)
    if grain is not None:
        return topo.locate(grain)[0] if 0 <= grain < topo.grains else None
    member = getattr(action, "member", getattr(action, "volume", None))
    if member is not None:
        if not 0 <= member < len(topo.objects):
            return None
        return topo.locate(topo.first_grain(member))[0]
    group = getattr(action, "group", None)
    return group if group is not None and 0 <= group < len(topo.groups) else None


def handling_site(topo: Topology, action: Action) -> str | None:
    """The site whose door takes `action` (None: a link's, or nothing of this topology)."""
    entry = VOCABULARY.entry(action)
    if entry is None or entry.handler == "link":
        return None
    if entry.handler == "named":
        site = getattr(action, "site", None)
        return site if site in topo.sites else None
    group = group_of(topo, action)  # a group's objects are all at its home
    return None if group is None else topo.groups[group].home
