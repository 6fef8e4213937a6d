"""Lockstep for design B: the model and the engine on a topology's volumes, compared after
every action field by field (local bases and deltas, remote copies, group state, sites, links)
and on what every remote recovers, then the spec's predicates checked."""

from __future__ import annotations

from pathlib import Path

from pitmirror.harness.freeze_overlay.probes import probes
from pitmirror.harness.freeze_overlay.tcp_world import OverlayTcpWorld
from pitmirror.harness.freeze_overlay.world import OverlayObservation, OverlayObserver, OverlayWorld
from pitmirror.harness.lockstep import LOCKSTEP_COMPACT_EVERY, LockstepBase
from pitmirror.harness.seeds import CachedSeeds
from pitmirror.harness.transport_mutants import TcpPlan, tcp_plan
from pitmirror.impl.site import EngineRefused
from pitmirror.impl.volumes import Volume
from pitmirror.model import freeze_overlay as B
from pitmirror.model.design import WrongDesign
from pitmirror.model.options import DesignOptions
from pitmirror.model.spec import image_diff


def divergence(observed: OverlayObservation, state: B.State, engine: OverlayObserver
               ) -> str | None:  # fmt: skip
    """The first place where the engine and the model disagree, in words."""
    topo = state.topology
    for i, (seen_obj, want_obj) in enumerate(zip(observed.objects, state.objects, strict=True)):
        for part in ("base", "frozen", "active", "cache"):
            a, b = getattr(seen_obj, part), getattr(want_obj, part)
            if a != b:
                return (
                    f"object {topo.objects[i].name}: {part} is {a} in the engine, {b} in the model"
                )
    for i, (seen_row, want_row) in enumerate(zip(observed.remotes, state.remotes, strict=True)):
        name = topo.objects[i].name
        for (site, seen_copy), (_, want_copy) in zip(seen_row, want_row, strict=True):
            if seen_copy != want_copy:
                return f"{site}'s copy of {name}: engine {seen_copy}, model {want_copy}"
            recovered = engine.recoverable(i, site)
            if recovered != want_copy.recoverable:
                diff = image_diff(recovered, want_copy.recoverable)
                return f"{site} recovers {name} differently: {diff}"
    for gi, (seen_group, want_group) in enumerate(zip(observed.groups, state.groups, strict=True)):
        for name in ("point", "completed_at", "broken", "unfrozen"):
            seen, want = getattr(seen_group, name), getattr(want_group, name)
            if seen != want:
                return f"group {gi}: {name} is {seen} in the engine, {want} in the model"
    if observed.down_sites != state.down_sites:
        return f"down sites: engine {sorted(observed.down_sites)}, model {sorted(state.down_sites)}"
    if observed.down_links != state.down_links:
        return f"down links: engine {sorted(observed.down_links)}, model {sorted(state.down_links)}"
    return None


class Lockstep(LockstepBase):
    """Design B's model and engine side by side, from their initial states; with a TCP plan,
    every site in a child process over the network (harness/freeze_overlay/tcp_world.py)."""

    refused = EngineRefused
    engine: OverlayWorld | OverlayTcpWorld

    def __init__(
        self,
        topology: B.Topology,
        volumes: dict[str, Volume],
        workdir: Path,
        options: B.Options,
        tcp: TcpPlan | None = None,
    ) -> None:
        self.model: B.State = B.initial_state(B.Config(topology), options)
        if tcp is not None:
            self.engine = OverlayTcpWorld(topology, volumes, workdir, options, tcp)
        else:
            self.engine = OverlayWorld(
                topology,
                volumes,
                workdir,
                options,
                seeds=CachedSeeds(list(volumes.values()), zeroed=True),
                compact_every=LOCKSTEP_COMPACT_EVERY,
            )
        self.index = 0
        self.probes = probes

    def position(self) -> tuple[int, int, str]:
        state, topo = self.model, self.model.topology
        committed = min(
            B.committed(state, gi, r) for gi, g in enumerate(topo.groups) for r in g.remotes
        )
        phases = ",".join(self.engine.phases())
        return max(g.point for g in state.groups), committed, phases

    def divergence(self) -> str | None:
        return divergence(self.engine.observe(), self.model, self.engine)


def open_lockstep(
    options: DesignOptions,
    topology: str | None,
    grains: int,
    volumes: dict[str, Volume],
    workdir: Path,
    transport: str | None = None,
) -> Lockstep:
    if not isinstance(options, B.Options):
        raise WrongDesign(f"design B's lockstep was given {type(options).__qualname__}")
    if topology is None:
        raise ValueError(f"design B needs a topology ({', '.join(B.TOPOLOGIES)})")
    return Lockstep(B.topology(topology, grains), volumes, workdir, options, tcp_plan(transport))
