"""Roles and epochs as a pure model: the rules of model/roles_rules.py run concretely.

A state is the pair's fields (model/roles_rules.py `SCHEMA`) with images as tuples of seeds and
grain sets as frozensets, the two sites named as the design names them (`Config.sites`: the
first starts primary).  `step` applies the branch of the action's plan that applies write by
write, so a crash armed with `CrashSite(site, after_writes=n)` cuts the next plan after the
site's n-th write, as design A's model does; `violations` checks the roles' properties.
Exhaustive search (`explore`) finds the shortest trace that breaks one under a mutant.

What it leaves out: the design's cycle, which it sees as a commit and a drain (the bridge,
proofs/roles_bridge.py, proves each design's invariant gives what they assume); power loss
inside a plan (every role record is synced before the next write; the proof cuts every plan
after every write).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from pitmirror.model import roles_rules as rules
from pitmirror.model.actions import (
    Action,
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
    action_name,
    part_problem,
)
from pitmirror.model.algebra import Concrete, first_false
from pitmirror.model.algebra import the_case as case_that_applies
from pitmirror.model.design import ActionNotEnabled
from pitmirror.model.explore import Exploration, explore
from pitmirror.model.roles_rules import Options as Options
from pitmirror.model.roles_vocabulary import VOCABULARY

UNSAFE_OPTIONS = rules.UNSAFE_OPTIONS


@dataclass(frozen=True)
class Config:
    """The pair: its size, the sites as the design names them (the first starts primary), and
    the bounds of enumeration (`values` a host writes, the highest epoch a promote makes, how
    many writes an armed crash may wait for)."""

    grains: int
    sites: tuple[str, str] = ("local", "remote")
    values: tuple[int, ...] = (1,)
    max_epoch: int = 4
    max_crash_writes: int = 2


@dataclass(frozen=True)
class State:
    config: Config
    options: Options
    fields: tuple[Any, ...]
    """the SCHEMA's fields in order"""
    armed_crash: tuple[str, int] | None = None
    """(slot, writes to wait for)"""

    def view(self) -> rules.RolesView:
        return rules.RolesView(**dict(zip(rules.SCHEMA, self.fields, strict=True)))

    def field(self, site: str, name: str) -> Any:
        return self.view().get(self.slot(site), name)

    def slot(self, site: str) -> str:
        return rules.SLOTS[self.config.sites.index(site)]

    def site(self, slot: str) -> str:
        return self.config.sites[rules.SLOTS.index(slot)]

    def why_disabled(self, action: Action) -> str | None:
        return why_disabled(self, action)

    def enabled_actions(self) -> Iterator[Action]:
        return enabled_actions(self)

    def step(self, action: Action) -> State:
        return step(self, action)

    def violations(self, before: State | None) -> dict[str, str]:
        return violations(self)

    def describe(self) -> str:
        """Each site's epoch, role and flags, in words (status's words)."""
        s = self.view()
        parts = []
        for slot in rules.SLOTS:
            role = rules.ROLE_WORDS[s.get(slot, "role")]
            flags = [w for w, on in (("split brain", s.get(slot, "split")),
                                     ("down", not s.get(slot, "up"))) if on]  # fmt: skip
            parts.append(f"{self.site(slot)}: {role}, epoch {s.get(slot, 'epoch')}"
                         + "".join(f", {f}" for f in flags))  # fmt: skip
        return "; ".join(parts) + ("" if s.link_up else "; link down")


def initial_state(config: Config, options: Options | None = None) -> State:
    view = rules.initial(algebra(config.grains))
    return State(config, options or Options(), tuple(getattr(view, f) for f in rules.SCHEMA))


@functools.cache
def algebra(grains: int) -> Concrete:
    return Concrete(grains=grains)


def _put(state: State, view: rules.RolesView, **changes: Any) -> State:
    fields = tuple(getattr(view, f) for f in rules.SCHEMA)
    return dataclasses.replace(state, fields=fields, **changes)


# ---- binding actions to rules -------------------------------------------------------------------


def _bind_write(state: State, action: Any) -> tuple[str, dict[str, Any]]:
    site = action.site or state.config.sites[0]
    return f"HostWrite({state.slot(site)})", {"grain": action.grain, "data": action.data}


def _bind_site(state: State, action: Any) -> tuple[str, dict[str, Any]]:
    force = ",force" if getattr(action, "force", False) else ""
    return f"{action_name(action)}({state.slot(action.site)}{force})", {}


BINDERS: dict[str, Callable[[State, Any], tuple[str, dict[str, Any]]]] = {
    "write": _bind_write,
    "drain": lambda state, a: ("DrainTarget", {"extent": range(a.grain, a.grain + a.count)}),
    "none": lambda state, a: (action_name(a), {}),
    "site": _bind_site,
}


def _problem(state: State, action: Action) -> str | None:
    """What the vocabulary refuses before any rule: a site, grain or group that is not the
    pair's."""
    if VOCABULARY.entry(action) is None:
        return f"{action_name(action)} is not an action of the roles model"
    site = getattr(action, "site", "")
    if site and site not in state.config.sites:
        return f"the pair has no site {site!r} (its sites: {', '.join(state.config.sites)})"
    if getattr(action, "group", 0):
        return "the roles model is one pair: group 0"
    if getattr(action, "link", ""):
        return "the pair has one link: name none"
    grains = state.config.grains
    if isinstance(action, HostWrite):
        if not 0 <= action.grain < grains:
            return f"grain {action.grain} is outside the volume (0..{grains - 1})"
        return part_problem(action)
    if isinstance(action, DrainTarget) and not 0 <= action.grain < action.grain + action.count \
            <= grains:  # fmt: skip
        return f"grains {action.grain}.. are outside the volume (0..{grains - 1})"
    return None


def why_disabled(state: State, action: Action) -> str | None:
    if problem := _problem(state, action):
        return problem
    if isinstance(action, CrashSite) and action.after_writes:
        if state.armed_crash:
            return "a crash is already armed"
        return None if state.field(action.site, "up") else f"the {action.site} site is down"
    entry = VOCABULARY.entry(action)
    assert entry is not None
    name, params = BINDERS[entry.binds](state, action)
    rule = rules.rules_for(state.options)[name]
    x = algebra(state.config.grains)
    why = first_false(rule.guard(x, state.options, state.view(), **params))
    if why is None:
        return None
    # the rules word a site by its slot; the operator knows it by its name
    for slot in rules.SLOTS:
        why = why.replace(f"the {slot} site", f"the {state.site(slot)} site")
    return why


def step(state: State, action: Action) -> State:
    why = why_disabled(state, action)
    if why is not None:
        raise ActionNotEnabled(why)
    if isinstance(action, CrashSite) and action.after_writes:
        return dataclasses.replace(state, armed_crash=(state.slot(action.site),
                                                       action.after_writes))  # fmt: skip
    entry = VOCABULARY.entry(action)
    assert entry is not None
    name, params = BINDERS[entry.binds](state, action)
    x = algebra(state.config.grains)
    rule = rules.rules_for(state.options)[name]
    view = state.view()
    case = case_that_applies(rule.plan(x, state.options, view, **params), name)
    armed = state.armed_crash
    for write in case.writes:
        view = view.with_(**write.changes)
        if armed is not None and armed[0] == write.site:
            armed = (armed[0], armed[1] - 1)
            if armed[1] == 0:
                return _put(state, case.cut(rules.down(x, view, write.site)), armed_crash=None)
    return _put(state, case.completed(view), armed_crash=armed)


def violations(state: State) -> dict[str, str]:
    x = algebra(state.config.grains)
    view = state.view()
    return {name: f"{gloss}: {state.describe()}"
            for name, (gloss, holds) in rules.PROPERTIES.items() if not holds(x, view)}  # fmt: skip


def enabled_actions(state: State) -> Iterator[Action]:
    config = state.config
    candidates: list[Action] = []
    for site in config.sites:
        candidates += [HostWrite(g, v, site=site) for g in range(config.grains)
                       for v in config.values]  # fmt: skip
        candidates += [Promote(site), Demote(site), Resync(site), Recover(site)]
        if rules.next_epoch(state.slot(site), state.field(site, "known")) <= config.max_epoch:
            candidates.append(Promote(site, force=True))
        candidates += [CrashSite(site, n) for n in range(config.max_crash_writes + 1)]
    candidates += [DrainTarget(g) for g in range(config.grains)]
    candidates += [CommitPoint(), LinkDown(), LinkUp()]
    for action in candidates:
        if why_disabled(state, action) is None:
            yield action


def search(config: Config, options: Options, max_states: int = 2_000_000
           ) -> Exploration[State, Action]:  # fmt: skip
    """Every state the pair reaches under `options`, breadth first, stopping at the first
    violation (the shortest trace to it)."""
    return explore(initial_state(config, options), enabled_actions, step,
                   lambda before, after: after.violations(before), max_states)  # fmt: skip
