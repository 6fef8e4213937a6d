"""Each design's vocabulary table (model/<design>_vocabulary.py) against what is built from it or
checked by it: the model's binders, candidates and rules, the controllers' events, the
Hypothesis rules and the routing to sites."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from pitmirror.harness.cyclic_flashcopy.machine import build_machine as build_flashcopy_machine
from pitmirror.harness.freeze_overlay.machine import PROGRESS
from pitmirror.harness.freeze_overlay.machine import build_machine as build_overlay_machine
from pitmirror.impl.cyclic_flashcopy.controllers import LocalCycle, RemoteService
from pitmirror.impl.freeze_overlay.controllers import GroupCycle, SiteService
from pitmirror.model import cyclic_flashcopy as A
from pitmirror.model import cyclic_flashcopy_rules as a_rules
from pitmirror.model import cyclic_flashcopy_vocabulary as a_vocabulary
from pitmirror.model import freeze_overlay as B
from pitmirror.model import freeze_overlay_rules as b_rules
from pitmirror.model import freeze_overlay_vocabulary as b_vocabulary
from pitmirror.model import roles_vocabulary
from pitmirror.model.actions import (
    ACTION_TYPES,
    FreezeGroup,
    HostFlush,
    HostWrite,
    LinkDown,
    LinkUp,
)
from pitmirror.model.vocabulary import ActionTable

A_VOCABULARY, B_VOCABULARY = a_vocabulary.VOCABULARY, b_vocabulary.VOCABULARY
CONTROLLERS: dict[str, dict[str, tuple[Any, ...]]] = {
    "cyclic-flashcopy": {
        "local": (LocalCycle,),
        "remote": (RemoteService,),
        "named": (LocalCycle, RemoteService),
    },
    "freeze-overlay": {"home": (GroupCycle,), "named": (SiteService,)},
}
DESIGNS: dict[str, ActionTable] = {"cyclic-flashcopy": A_VOCABULARY, "freeze-overlay": B_VOCABULARY}


def events(controller: Any) -> set[str]:
    return {event.id for event in controller.events}


def test_every_action_of_the_vocabulary_belongs_to_a_design_or_the_roles() -> None:
    assert set(ACTION_TYPES.values()) == (
        set(A_VOCABULARY.kinds) | set(B_VOCABULARY.kinds) | set(roles_vocabulary.VOCABULARY.kinds)
    )


@pytest.mark.parametrize("design", DESIGNS)
def test_each_entry_names_a_binder_a_rule_and_fields_of_the_state(design: str) -> None:
    vocabulary = DESIGNS[design]
    model, names = (A, a_rules.RULES) if design == "cyclic-flashcopy" else (B, b_rules.RULES)
    fields = {f.name for f in dataclasses.fields(model.State)}
    for entry in vocabulary:
        assert entry.binds in model.BINDERS, entry
        assert set(entry.modifies) <= fields, entry
        # a site's crash and restart have one rule per part the site plays
        assert entry.name in names or any(n.startswith(f"{entry.name}(") for n in names), entry


def test_design_b_enumerates_every_kind_from_its_binder() -> None:
    state = B.initial_state(B.Config(topology=B.topology("fan-in", 2)))
    for entry in B_VOCABULARY:
        assert entry.binds in B.CANDIDATES
        found = B.candidates_of(state, entry.kind)
        assert found and all(type(a) is entry.kind for a in found), entry


@pytest.mark.parametrize("design", DESIGNS)
def test_every_kind_a_site_takes_is_an_event_of_its_controller(design: str) -> None:
    for entry in DESIGNS[design]:
        for controller in CONTROLLERS[design].get(entry.handler, ()):
            assert entry.name in events(controller), (entry.name, controller.__name__)
    handled = {e.name for e in DESIGNS[design] if e.handler != "link"}
    controllers = {c for cs in CONTROLLERS[design].values() for c in cs}
    actions = set().union(*(events(c) for c in controllers)) & set(ACTION_TYPES)
    assert actions == handled, "a controller has an event of an action no site is routed"


def test_design_b_routes_every_candidate_to_one_site_of_its_topology() -> None:
    for name in B.TOPOLOGIES:
        topo = B.topology(name, 2)
        state = B.initial_state(B.Config(topology=topo))
        for action in B.candidate_actions(state):
            site = b_vocabulary.handling_site(topo, action)
            if isinstance(action, LinkDown | LinkUp):
                assert site is None
            else:
                assert site in topo.sites, action
        assert b_vocabulary.handling_site(topo, HostWrite(topo.grains, 1)) is None


@pytest.mark.parametrize(
    ("design", "build", "helpers"),
    [
        # host_write_range: HostWrite again, over a range of grain parts (the block door's split)
        (
            "cyclic-flashcopy",
            build_flashcopy_machine,
            {"advance", "crash_inside", "host_write_range"},
        ),
        ("freeze-overlay", build_overlay_machine, {"advance", "host_write_range"}),
    ],
)
def test_the_hypothesis_machine_has_one_rule_per_kind(
    design: str, build: Any, helpers: set[str]
) -> None:
    machine = build(lambda: None, 4, lambda actions, outcome: None)
    rules = {r.function.__name__ for r in machine.setup_state().rules}
    assert rules == {e.rule_name for e in DESIGNS[design]} | helpers


def test_design_b_advance_moves_every_kind_of_the_cycle_on() -> None:
    assert {e.kind for e in B_VOCABULARY.of_origin("cycle")} <= set(PROGRESS)


@pytest.mark.parametrize("design", DESIGNS)
def test_the_lockstep_probes_every_kind_of_the_vocabulary(design: str) -> None:
    """A site must refuse every kind of action the model forbids: each kind is offered."""
    if design == "cyclic-flashcopy":
        from pitmirror.harness.cyclic_flashcopy.probes import probes

        state: Any = A.initial_state(A.Config(grains=4))
    else:
        from pitmirror.harness.freeze_overlay.probes import probes

        state = B.initial_state(B.Config(topology=B.topology("fan-in", 2)))
    assert {type(a) for a in probes(state)} >= set(DESIGNS[design].kinds)


def test_design_b_progress_takes_every_kind_of_background_work() -> None:
    """`inv_progress` runs the cycle's background work in BACKGROUND's order: a new kind of
    cycle work must be placed there (the freeze starts the next point, it is no background)."""
    cycle = {e.kind for e in B_VOCABULARY.of_origin("cycle")}
    # the host's flush is background work too: a point needs the host's cache empty
    assert set(B.BACKGROUND) == (cycle - {FreezeGroup}) | {HostFlush}
