"""The actions of design A offered to the engine whatever the model says (harness/lockstep.py
`probe`): every kind, on the first, second and last grain, a two-grain extent, both sites, the
link, and an action of the other design; the model decides which of them it forbids."""

from __future__ import annotations

from pitmirror.model import cyclic_flashcopy as design_a
from pitmirror.model.actions import (
    SITES,
    Action,
    CommitPoint,
    CopyGrain,
    CrashSite,
    DrainTarget,
    FreezeGroup,
    HostFlush,
    HostRead,
    HostWrite,
    LinkDown,
    LinkUp,
    Recover,
    ResyncGrain,
)
from pitmirror.model.design import ModelState, WrongDesign


def probes(state: ModelState) -> list[Action]:
    if not isinstance(state, design_a.State):
        raise WrongDesign(f"design A's probes were given {type(state).__qualname__}")
    last = state.config.grains - 1
    grains = sorted({0, min(1, last), last})
    found: list[Action] = [CommitPoint(), LinkDown(), LinkUp(), FreezeGroup(0), HostFlush()]
    for g in grains:
        found += [
            HostWrite(g, 7),
            HostWrite(g, 8, fua=False),
            HostRead(g),
            CopyGrain(g),
            ResyncGrain(g),
            DrainTarget(g),
        ]
    if last >= 1:
        found += [CopyGrain(0, 2), ResyncGrain(0, 2), DrainTarget(0, 2)]
    for site in SITES:
        found += [CrashSite(site), CrashSite(site, 2), Recover(site)]
    return found
