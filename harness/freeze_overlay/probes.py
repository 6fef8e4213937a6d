"""The actions of design B offered to the engine whatever the model says (harness/lockstep.py
`probe`): every kind, on the first and last grain of every object, every group, site and link,
a site and a link that do not exist, and an action of the other design; the model decides
which of them it forbids."""

from __future__ import annotations

from pitmirror.model import freeze_overlay as B
from pitmirror.model.actions import (
    Action,
    BreakMirror,
    CommitPoint,
    CopyDelta,
    CrashSite,
    DropLocalDelta,
    DropRemoteDelta,
    FreezeGroup,
    FreezeMember,
    HostRead,
    HostWrite,
    LinkDown,
    LinkUp,
    MarkComplete,
    MergeLocal,
    MergeRemote,
    Recover,
)
from pitmirror.model.design import ModelState, WrongDesign


def probes(state: ModelState) -> list[Action]:
    if not isinstance(state, B.State):
        raise WrongDesign(f"design B's probes were given {type(state).__qualname__}")
    topo = state.topology
    found: list[Action] = [CommitPoint(), LinkDown("left-third"), CrashSite("third")]
    for link in topo.links:
        found += [LinkDown(link), LinkUp(link)]
    for site in topo.sites:
        found += [CrashSite(site), CrashSite(site, 1), Recover(site)]
    for gi, group in enumerate(topo.groups):
        found += [FreezeGroup(gi), DropLocalDelta(gi), BreakMirror(gi)]
        for site in (*group.remotes, group.home):
            found += [MarkComplete(site, gi), DropRemoteDelta(site, gi)]
    found += [FreezeGroup(len(topo.groups))]
    for obj in range(len(topo.objects)):
        first = topo.first_grain(obj)
        last = first + topo.objects[obj].grains - 1
        found += [FreezeMember(obj)]
        for grain in sorted({first, last}):
            found += [HostWrite(grain, 7), HostRead(grain), MergeLocal(grain)]
            for site in topo.sites:
                found += [CopyDelta(site, grain), MergeRemote(site, grain)]
        found += [CopyDelta(topo.groups[0].remotes[0], last, 2)]  # into the next object
    return found
