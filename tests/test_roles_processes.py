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
from pitmirror.harness.roles_lockstep import RolesLockstep, action_kind, memory_lockstep, run_roles
from pitmirror.harness.roles_processes import (
    CUT_PLANS,
    GRAINS,
    SWITCH_CUT_PLANS,
    RolesProcessWorld,
    cut_outcomes,
    cut_plan,
    round_trip,
    round_trip_outcomes,
)
from pitmirror.harness.roles_world import RolesWorld
from pitmirror.impl.site import EngineRefused
from pitmirror.model.actions import (
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
)


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
@settings(max_examples=3, deadline=None)
@given(data=st.data())
def test_the_daemons_follow_the_roles_model(tmp_path_factory: pytest.TempPathFactory,
                                            design: str, data: st.DataObject) -> None:  # fmt: skip
    """Random walks, actions drawn by kind; an action the world cannot take (an armed crash
    inside the design's own actions, a host write or a turn) is skipped, nothing changed."""
    world = RolesProcessWorld(DESIGNS[design], GRAINS, tmp_path_factory.mktemp("pair"))
    try:
        stepped = RolesLockstep(world)
        assert stepped.check(None).ok
        for _ in range(20):
            enabled = list(stepped.model.enabled_actions())
            chosen = data.draw(st.sampled_from(sorted({action_kind(a) for a in enabled})))
            action = data.draw(st.sampled_from([a for a in enabled if action_kind(a) == chosen]))
            try:
                outcome = stepped.apply(action)
            except Uncut:
                continue
            assert outcome.ok, f"{outcome.status}: {outcome.detail}"
    finally:
        world.close()


def cuts(design: str) -> list[tuple[str, str, int, bool]]:
    first, second = DESIGNS[design].roles_hosts(GRAINS).sites
    return [(design, name, after, before_unseen) for name in (*CUT_PLANS, *SWITCH_CUT_PLANS)
            for after in range(1, cut_plan(name, first, second)[3] + 1)
            for before_unseen in (False, True)]  # fmt: skip


@pytest.mark.parametrize(("design", "name", "after", "before_unseen"),
                         [c for d in sorted(DESIGNS) for c in cuts(d)])  # fmt: skip
def test_each_command_cut_after_each_step_in_one_process(tmp_path: Path, design: str, name: str,
                                                         after: int,
                                                         before_unseen: bool) -> None:  # fmt: skip
    """A power loss after each durable step of each command whose steps are the model's
    writes (right after the write, or after the steps only a later record makes seen), then
    the pair mended: the engine with the model all along."""
    stepped = memory_lockstep(DESIGNS[design], GRAINS, tmp_path)
    assert isinstance(stepped.world, RolesWorld)
    stepped.world.cut_before_unseen = before_unseen
    try:
        outcomes = cut_outcomes(stepped, name, after)
    finally:
        stepped.world.close()
    assert outcomes[-1].ok, f"{outcomes[-1].status}: {outcomes[-1].detail}"
    assert any(isinstance(o.action, Recover) for o in outcomes)


@pytest.mark.parametrize("design", sorted(DESIGNS))
@pytest.mark.parametrize(("name", "after"), [("forced promote", 2),
                                             ("host write at a promoted copy", 1)])  # fmt: skip
def test_a_daemon_killed_inside_a_command(tmp_path: Path, design: str, name: str,
                                         after: int) -> None:  # fmt: skip
    """The same cuts on the daemons: a SIGKILL right after the step (verify runs them all)."""
    world = RolesProcessWorld(DESIGNS[design], GRAINS, tmp_path / "pair")
    try:
        outcomes = cut_outcomes(RolesLockstep(world), name, after)
    finally:
        world.close()
    assert outcomes[-1].ok, f"{outcomes[-1].status}: {outcomes[-1].detail}"
    assert any(isinstance(o.action, Recover) for o in outcomes)


@pytest.mark.parametrize("design", sorted(DESIGNS))
def test_a_resynchronized_copy_waits_for_its_first_point(tmp_path: Path, design: str) -> None:
    """After `resync --discard-local` the discarded site's volume still holds its own changes
    until the primary's first point commits there: a forced promote in that window would serve
    an image no primary ever committed, so it is refused, and allowed once the point commits."""
    world = RolesProcessWorld(DESIGNS[design], GRAINS, tmp_path / "pair")
    first, second = world.sites
    try:
        for action in [HostWrite(0, 1, site=first), CommitPoint(), DrainTarget(0, GRAINS),
                       HostWrite(2, 1, site=first), LinkDown(), Promote(second, force=True),
                       HostWrite(1, 2, site=second), LinkUp()]:  # fmt: skip
            world.apply(action)
        discarded, kept = world.hosts[first], world.hosts[second]
        discarded.control({"op": "resync", "discard_local": True})  # no point after it yet
        world.restarted(discarded, kept)
        pair = DESIGNS[design].roles_hosts(GRAINS).pair
        assert discarded.control({"op": "status"})["roles"][pair]["state"] == "resynchronizing"
        world.apply(CrashSite(second))
        with pytest.raises(EngineRefused, match="being resynchronized"):
            world.apply(Promote(first, force=True))
        world.apply(Recover(second))
        world.commit_all()
        assert world.records()[first].consistent
        world.apply(LinkDown())
        world.apply(Promote(first, force=True))
        assert world.view(discarded)["image"] == [1, 2, 0]  # the primary's point, not its own
    finally:
        world.close()


@pytest.mark.parametrize("design", sorted(DESIGNS))
@pytest.mark.parametrize(("at", "after"), [(s, n) for s in ("kept", "discarded")
                                           for n in (1, 2, 3)])  # fmt: skip
def test_a_resync_cut_anywhere_and_repeated_ends_as_uncut(tmp_path: Path, design: str, at: str,
                                                          after: int) -> None:  # fmt: skip
    """A split brain resolved by a resync cut by a power loss after each step of either
    site's turn, the daemons started again and the resync repeated where it must be: the
    model's one uncut resync, then the mirror's next points, in lockstep all along."""
    stepped = memory_lockstep(DESIGNS[design], GRAINS, tmp_path)
    world = stepped.world
    assert isinstance(world, RolesWorld)
    first, second = world.sites
    split = [HostWrite(0, 1, site=first), CommitPoint(), DrainTarget(0, GRAINS), LinkDown(),
             Promote(second, force=True), HostWrite(1, 2, site=second), Demote(first),
             Promote(first, force=True), HostWrite(2, 2, site=first), LinkUp()]  # fmt: skip
    try:
        outcomes = run_roles(stepped, split)
        assert outcomes[-1].ok and "split brain" in outcomes[-1].phase
        world.resync_cut = (first if at == "kept" else second, after)
        for action in [Resync(second), HostWrite(1, 1, site=first), CommitPoint(),
                       DrainTarget(0, GRAINS)]:  # fmt: skip
            outcome = stepped.apply(action)
            assert outcome.ok, f"{action}: {outcome.status}: {outcome.detail}"
        assert world.resync_cut is None  # the cut was made
    finally:
        world.close()
