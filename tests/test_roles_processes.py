"""The roles' commands on two daemons in two processes, in lockstep with the roles model
(harness/roles_processes.py): the commands as the CLI sends them, the pair turned in the
daemons' HELLOs over TCP, the daemons starting again by themselves, crashes a SIGKILL."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pitmirror.harness.designs import DESIGNS
from pitmirror.harness.roles_actions import Uncut
from pitmirror.harness.roles_lockstep import RolesLockstep
from pitmirror.harness.roles_processes import (
    GRAINS,
    RolesProcessWorld,
    round_trip,
    round_trip_outcomes,
)
from pitmirror.model.actions import LinkUp
from tests.test_roles_lockstep import kind


@pytest.mark.parametrize("design", sorted(DESIGNS))
def test_failover_split_brain_and_failback_in_two_processes(tmp_path: Path, design: str) -> None:
    outcomes = round_trip_outcomes(DESIGNS[design], tmp_path / "pair")
    last = outcomes[-1]
    assert last.ok, f"{last.status} at {last.index}: {last.detail}"
    actions = round_trip(*DESIGNS[design].roles_hosts(GRAINS).sites)
    assert len(outcomes) == len(actions) + 1
    met = outcomes[actions.index(LinkUp()) + 1].phase  # the records, compared with the model's
    assert met.count("split brain") == 2, met


@pytest.mark.parametrize("design", sorted(DESIGNS))
@settings(max_examples=4, deadline=None)
@given(data=st.data())
def test_the_daemons_follow_the_roles_model(tmp_path_factory: pytest.TempPathFactory,
                                            design: str, data: st.DataObject) -> None:  # fmt: skip
    """Random walks, actions drawn by kind; an action the world cannot take (an armed crash
    inside the design's own actions, a host write or a turn) is skipped, nothing changed."""
    world = RolesProcessWorld(DESIGNS[design], GRAINS, tmp_path_factory.mktemp("pair"))
    try:
        stepped = RolesLockstep(world)
        assert stepped.check(None).ok
        for _ in range(25):
            enabled = list(stepped.model.enabled_actions())
            chosen = data.draw(st.sampled_from(sorted({kind(a) for a in enabled})))
            action = data.draw(st.sampled_from([a for a in enabled if kind(a) == chosen]))
            try:
                outcome = stepped.apply(action)
            except Uncut:
                continue
            assert outcome.ok, f"{outcome.status}: {outcome.detail}"
    finally:
        world.close()
