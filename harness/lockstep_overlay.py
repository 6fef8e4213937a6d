"""Lockstep for design B: the model and the engine on a topology's volumes, compared after
every action field by field (local bases and deltas, remote copies, group state, sites, links)
and on what every remote recovers, then the spec's predicates checked."""

from __future__ import annotations

from pathlib import Path

from pitmirror.harness.lockstep import Status, StepOutcome
from pitmirror.impl.grains import CorruptGrain
from pitmirror.impl.overlay_engine import EngineRefused, OverlayEngine, OverlayObservation
from pitmirror.impl.volumes import Volume
from pitmirror.model import freeze_overlay as B
from pitmirror.model.actions import Action
from pitmirror.model.spec import image_diff


def divergence(observed: OverlayObservation, state: B.State, engine: OverlayEngine) -> str | None:
    """The first place where the engine and the model disagree, in words."""
    topo = state.topology
    for i, (seen_obj, want_obj) in enumerate(zip(observed.objects, state.objects, strict=True)):
        for part in ("base", "frozen", "active"):
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
        model_view = (want_group.point, want_group.completed_at, want_group.broken,
                      want_group.unfrozen)  # fmt: skip
        if seen_group != model_view:
            what = f"group {gi} (point, completed at, broken, unfrozen)"
            return f"{what}: engine {seen_group}, model {model_view}"
    if observed.down_sites != state.down_sites:
        return f"down sites: engine {sorted(observed.down_sites)}, model {sorted(state.down_sites)}"
    if observed.down_links != state.down_links:
        return f"down links: engine {sorted(observed.down_links)}, model {sorted(state.down_links)}"
    return None


class OverlayLockstep:
    """Design B's model and engine side by side, from their initial states."""

    def __init__(
        self,
        topology: B.Topology,
        volumes: dict[str, Volume],
        workdir: Path,
        options: B.Options,
    ) -> None:
        self.model = B.initial_state(B.Config(topology), options)
        self.engine = OverlayEngine(topology, volumes, workdir, options)
        self.index = 0

    def _outcome(
        self, action: Action | None, status: Status, detail: str, predicate: str | None = None
    ) -> StepOutcome:
        state = self.model
        topo = state.topology
        committed = min(
            B.committed(state, gi, r) for gi, g in enumerate(topo.groups) for r in g.remotes
        )
        phases = ",".join(c.current_state_value for c in self.engine.cycles)
        return StepOutcome(
            index=self.index,
            action=action,
            status=status,
            detail=detail,
            cycle=max(g.point for g in state.groups),
            committed=committed,
            phase=phases,
            predicate=predicate,
        )

    def check(self, before: B.State | None, action: Action | None) -> StepOutcome:
        try:
            observed = self.engine.observe()
            why = divergence(observed, self.model, self.engine)
        except CorruptGrain as err:
            return self._outcome(action, "diverged", f"engine volume read back corrupt: {err}")
        if why:
            return self._outcome(action, "diverged", why)
        found = B.check(before, self.model)
        if found:
            name, reason = next(iter(found.items()))
            return self._outcome(action, "violation", f"{name} broken: {reason}", name)
        return self._outcome(action, "ok", "")

    def apply(self, action: Action) -> StepOutcome:
        self.index += 1
        before = self.model
        try:
            after = B.step(before, action)
        except B.ActionNotEnabled as err:
            return self._outcome(action, "invalid", f"the model does not allow it: {err}")
        try:
            self.engine.apply(action)
        except EngineRefused as err:
            return self._outcome(action, "refused", str(err))
        self.model = after
        return self.check(before, action)
