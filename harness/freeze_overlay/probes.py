"""The actions of design B offered to the engine whatever the model says (harness/lockstep.py
`probe`): every kind of the vocabulary, as the model enumerates it, on the first and last grain
of every object; a site, a link and a group that do not exist, an extent into the next object,
a crash after writes and an action of the other design; the model decides which of them it
forbids."""

from __future__ import annotations

from pitmirror.model import freeze_overlay as B
from pitmirror.model.actions import (
    Action,
    CommitPoint,
    CopyDelta,
    CrashSite,
    FreezeGroup,
    HostFlush,
    LinkDown,
)
from pitmirror.model.design import ModelState, WrongDesign


def probes(state: ModelState) -> list[Action]:
    if not isinstance(state, B.State):
        raise WrongDesign(f"design B's probes were given {type(state).__qualname__}")
    topo = state.topology
    edges = {topo.first_grain(o) + end for o, obj in enumerate(topo.objects)
             for end in (0, obj.grains - 1)}  # fmt: skip
    found: list[Action] = [
        action
        for kind in B.KINDS
        for action in B.candidates_of(state, kind, sorted(edges))
        if getattr(action, "grain", None) in (None, *edges)
    ]
    found += [CommitPoint(), LinkDown("left-third"), CrashSite("third")]
    found += [CrashSite(site, 1) for site in topo.sites]
    found += [FreezeGroup(len(topo.groups)), HostFlush(len(topo.objects))]
    remote = topo.groups[0].remotes[0]
    for obj in range(len(topo.objects)):  # an extent from an object's last grain into the next
        found += [CopyDelta(remote, topo.first_grain(obj) + topo.objects[obj].grains - 1, 2)]
    return found
