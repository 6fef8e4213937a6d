"""The roles model and a design's engine in lockstep: each action of the roles' vocabulary to
the model (model/roles.py) and to the two hosts the daemons are (harness/roles_world.py and each
design's), then everything compared.

Compared after each step, per host: whether it is up, its role record (epoch, parent, known,
role, split: read from the file of a host that is down), and its data as the roles see it —
the engine's image equals the model's wherever the model holds nothing pending, the engine holds
pending only grains the model does (it may have drained more: design A drains and protects its
target by itself), and the image with the pending grains from where they are held is the
model's everywhere.  A refusal must be the model's (an action the model allows that a daemon
refuses, or the reverse, is a divergence).  The roles' properties are checked on the model and
on the engine's own records and data (the ghost committed image and the grains written since
lent by the model): a mutant's violation must be the engine's too.
"""

from __future__ import annotations

import functools
from pathlib import Path

from pitmirror.harness.design import Design
from pitmirror.harness.lockstep import StepOutcome
from pitmirror.harness.roles_actions import Uncut
from pitmirror.harness.roles_world import HostView, RolesDoor
from pitmirror.impl.roles import ROLES
from pitmirror.impl.site import EngineRefused
from pitmirror.impl.volumes import MemoryVolume, Volume
from pitmirror.model import roles
from pitmirror.model import roles_rules as rules
from pitmirror.model.actions import Action, CrashSite, Promote, action_name
from pitmirror.model.design import ActionNotEnabled


class RolesLockstep:
    """The model and a design's engine, stepped together."""

    def __init__(self, world: RolesDoor) -> None:
        self.model = roles.initial_state(lockstep_config(world.grains, world.sites),
                                         world.options)  # fmt: skip
        self.world = world
        self.index = 0

    def outcome(self, action: Action | None, status: str, detail: str = "",
                predicate: str | None = None) -> StepOutcome:  # fmt: skip
        return StepOutcome(self.index, action, status, detail, 0, 0,  # type: ignore[arg-type]
                           self.model.describe(), predicate)  # fmt: skip

    def check(self, action: Action | None) -> StepOutcome:
        views = self.world.views()
        if apart := differences(self.model, views):
            return self.outcome(action, "diverged", "; ".join(apart))
        broken = engine_violations(self.model, views)
        if found := self.model.violations(None):
            name, why = next(iter(found.items()))
            if name not in broken:  # a violation only the model shows is not the engine's
                return self.outcome(action, "diverged", f"the model breaks {name}, the engine "
                                    f"does not: {why}")  # fmt: skip
            return self.outcome(action, "violation", f"{name} broken: {why}", name)
        if broken:
            name, why = next(iter(broken.items()))
            return self.outcome(action, "diverged", f"the engine breaks {name} where the model "
                                f"does not: {why}")  # fmt: skip
        return self.outcome(action, "ok")

    def apply(self, action: Action) -> StepOutcome:
        """One action to both; Uncut when the engine cannot take it here (nothing changed)."""
        self.index += 1
        why_not = self.model.why_disabled(action)
        try:
            self.world.apply(action)
        except Uncut:
            self.index -= 1
            raise
        except EngineRefused as refused:
            if why_not is None:
                return self.outcome(action, "diverged", f"the model allows it, the engine "
                                    f"refused: {refused}")  # fmt: skip
            return self.outcome(action, "invalid", f"the model does not allow it: {why_not}")
        if why_not is not None:
            return self.outcome(action, "diverged", f"the engine took it, the model does not "
                                f"allow it: {why_not}")  # fmt: skip
        try:
            self.model = self.model.step(action)
        except ActionNotEnabled as err:  # pragma: no cover (why_disabled said it was)
            return self.outcome(action, "invalid", str(err))
        return self.check(action)


MEMORY_GRAIN_SIZE = 4096
ROLES_TOPOLOGY = "single"
"""design B's topology under the roles' commands: one group, one remote (design A has none)"""


def memory_lockstep(design: Design, grains: int, workdir: Path,
                    options: roles.Options | None = None) -> RolesLockstep:  # fmt: skip
    """The design's roles world on memory volumes of its layout, in lockstep with the model."""
    topology = ROLES_TOPOLOGY if design.default_topology is not None else None
    layout, _ = design.volume_layout(topology, grains)
    volumes: dict[str, Volume] = {name: MemoryVolume(name, count, MEMORY_GRAIN_SIZE)
                                  for name, count in layout.items()}  # fmt: skip
    return RolesLockstep(design.roles_world(volumes, workdir, options))


def action_kind(action: Action) -> str:
    """A random walk draws an action's kind first, then the action: the crash and link
    actions would crowd out the commands."""
    if isinstance(action, CrashSite):
        return f"CrashSite{bool(action.after_writes)}"
    return action_name(action) + ("!" if isinstance(action, Promote) and action.force else "")


@functools.cache
def lockstep_config(grains: int, sites: tuple[str, str]) -> roles.Config:
    return roles.Config(grains=grains, sites=sites, values=(1, 2), max_epoch=9)


def run_roles(lockstep: RolesLockstep, actions: list[Action]) -> list[StepOutcome]:
    """Every action until the first that is not ok (one the world cannot cut is invalid); the
    initial state checked first."""
    outcomes = [lockstep.check(None)]
    for action in actions:
        if not outcomes[-1].ok:
            break
        try:
            outcomes.append(lockstep.apply(action))
        except Uncut as err:
            lockstep.index += 1
            outcomes.append(lockstep.outcome(action, "invalid", str(err)))
    return outcomes


def differences(model: roles.State, views: dict[str, HostView]) -> list[str]:
    s = model.view()
    found = []
    for name, view in views.items():
        slot = model.slot(name)
        if view.up != s.get(slot, "up"):
            found.append(f"{name}: up {view.up}, the model says {s.get(slot, 'up')}")
            continue
        rec = view.record
        got = (rec.epoch, rec.parent, rec.known, rec.role, rec.split)
        want = (s.get(slot, "epoch"), s.get(slot, "parent"), s.get(slot, "known"),
                ROLES[s.get(slot, "role")], s.get(slot, "split"))  # fmt: skip
        if got != want:
            found.append(f"{name}: record {got}, the model's {want}")
        if not view.up:
            continue
        image, pending = s.get(slot, "image"), s.get(slot, "pending")
        recovered = tuple(s.base[g] if g in pending else v for g, v in enumerate(image))
        if not view.pending <= pending:
            found.append(f"{name}: pending {sorted(view.pending)} where the model holds "
                         f"{sorted(pending)}")  # fmt: skip
        raw = [g for g, v in enumerate(view.image) if g not in pending and v != image[g]]
        if raw:
            found.append(f"{name}: image {view.image} at {raw}, the model's {image}")
        if view.recovered != recovered:
            found.append(f"{name}: recovers {view.recovered}, the model {recovered}")
    return found


def engine_violations(model: roles.State, views: dict[str, HostView]) -> dict[str, str]:
    """The roles' properties on the engine's records and data: its role records, images and
    pending grains (a host that is down as the model has it), the committed image and the grains
    the host wrote since it as the model has them (ghosts: an engine's own maps hold more than
    the host wrote, and a resync copies what they hold, so its tracking is checked by the
    images the lockstep compares after it)."""
    s = model.view()
    fields: dict[str, object] = {}
    for name, view in views.items():
        slot = model.slot(name)
        rec = view.record
        fields |= {f"{slot}_epoch": rec.epoch, f"{slot}_parent": rec.parent,
                   f"{slot}_known": rec.known, f"{slot}_role": ROLES.index(rec.role),
                   f"{slot}_split": rec.split, f"{slot}_up": view.up}  # fmt: skip
        if view.up:
            fields |= {f"{slot}_image": view.image, f"{slot}_pending": view.pending}
    engine = s.with_(**fields)
    x = roles.algebra(model.config.grains)
    return {name: f"{gloss}: {model.describe()}"
            for name, (gloss, holds) in rules.PROPERTIES.items()
            if not holds(x, engine)}  # fmt: skip
