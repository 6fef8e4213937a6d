"""Design B's model: pinned state space, safety on small topologies, frame conditions, the
mutants, read resolution, and the topologies' layout."""

from __future__ import annotations

import dataclasses
import random

import pytest

from pitmirror.model import freeze_overlay as B
from pitmirror.model import freeze_overlay_rules as rules
from pitmirror.model.actions import (
    CopyDelta,
    DropLocalDelta,
    DropRemoteDelta,
    FreezeGroup,
    HostWrite,
    LinkDown,
    MarkComplete,
    MergeLocal,
    MergeRemote,
    action_name,
)
from pitmirror.model.design import ActionNotEnabled
from pitmirror.model.explore import explore

STRICT = B.Options(pipelined=False)
"""the stricter order: the next freeze waits for the merges"""

# A changed count is a model change: review it, then update the number.
PINNED = {
    ("single", 3, False): 2688, ("group", 2, False): 10880, ("fan-out", 2, False): 18048,
    ("file", 2, False): 1152,
    ("single", 3, True): 3744, ("group", 2, True): 7840,
    ("fan-out", 2, True): 14784, ("file", 2, True): 912,
}  # fmt: skip

# what each mutant breaks: the target's image, or (a read path mutant) what reads return
BREAKS = {name: "inv_target_is_committed_image" for name in B.UNSAFE_OPTIONS} | {
    "read-frozen-first": "inv_no_ack_lost",
    # pipelined, the slower remote is left behind first (its missing grains are gone later)
    "drop-before-every-remote": "inv_lag_bounded",
}


def reachable(config: B.Config, options: B.Options | None = None) -> set[B.State]:
    seen = {B.initial_state(config, options)}
    frontier = list(seen)
    while frontier:
        state = frontier.pop()
        for action in B.enabled_actions(state):
            after = B.step(state, action)
            if after not in seen:
                seen.add(after)
                frontier.append(after)
    return seen


@pytest.mark.parametrize(("name", "max_point", "pipelined"), sorted(PINNED))
def test_small_topologies_are_safe_and_pinned(name: str, max_point: int, pipelined: bool) -> None:
    config = B.Config(B.topology(name, grains=1), values=(1,), max_point=max_point)
    initial = B.initial_state(config, B.Options(pipelined=pipelined))
    result = explore(initial, B.enabled_actions, B.step, B.check)
    assert result.violated is None, (result.reason, result.counterexample)
    assert result.states == PINNED[(name, max_point, pipelined)]


@pytest.mark.slow
def test_every_action_changes_only_its_own_fields() -> None:
    checked = set()
    for topology in ("group", "fan-out"):
        config = B.Config(B.topology(topology, grains=1), values=(1,), max_point=2)
        for state in reachable(config, B.UNSAFE_OPTIONS["freeze-members-one-at-a-time"]):
            for action in B.enabled_actions(state):
                after = B.step(state, action)
                changed = {
                    f.name
                    for f in dataclasses.fields(B.State)
                    if f.compare and getattr(state, f.name) != getattr(after, f.name)
                }
                name = action_name(action)
                assert changed <= B.MODIFIES[name], f"{name} changed {changed - B.MODIFIES[name]}"
                checked.add(name)
    assert checked == set(B.MODIFIES)


@pytest.mark.parametrize("name", sorted(B.UNSAFE_OPTIONS))
def test_every_mutant_breaks_its_predicate_in_the_model(name: str) -> None:
    topology = B.topology(B.MUTANT_TOPOLOGY[name], grains=1)
    config = B.Config(topology, values=(1, 2), max_point=3)
    result = explore(B.initial_state(config, B.UNSAFE_OPTIONS[name]), B.enabled_actions,
                     B.step, B.check)  # fmt: skip
    assert result.violated == BREAKS[name], (name, result.reason)


def test_reads_resolve_active_then_frozen_then_base() -> None:
    assert B.overlay((1, 2, 3), ((1, 20),), ((1, 200), (2, 300))) == (1, 200, 300)
    assert B.overlay((1, 2, 3), ((0, 10),)) == (10, 2, 3)
    state = B.initial_state(B.Config(B.topology("single", grains=3)))
    state = B.step(state, HostWrite(1, 7))
    assert state.objects[0].live == (0, 7, 0) == state.acked[0]


@pytest.mark.parametrize("pipelined", [True, False])
def test_a_point_commits_only_when_every_grain_of_the_delta_arrived(pipelined: bool) -> None:
    options = B.Options(pipelined=pipelined)
    state = B.initial_state(B.Config(B.topology("single", grains=2)), options)
    assert B.why_disabled(state, MarkComplete("right", 0)) == (
        "the frozen delta is not fully copied to right"
    )
    state = B.step(B.step(state, CopyDelta("right", 0)), CopyDelta("right", 1))
    assert B.why_disabled(state, FreezeGroup(0)) == "point 1 is not yet complete at every remote"
    state = B.step(state, MarkComplete("right", 0))
    assert B.committed(state, 0, "right") == 1
    waits = None if pipelined else "the previous frozen delta is not merged away yet"
    assert B.why_disabled(state, FreezeGroup(0)) == waits


def test_pipelined_the_next_point_overlaps_the_merges_of_the_one_before() -> None:
    """Point 2 frozen before any merge; its first copy moves the remote's complete delta of
    point 1 aside, which still commits point 1 there; one delta merges aside at a time."""
    state = B.initial_state(B.Config(B.topology("single", grains=2)))
    for action in (HostWrite(0, 7), CopyDelta("right", 0, 2), MarkComplete("right", 0),
                   FreezeGroup(0), HostWrite(1, 8)):  # fmt: skip
        state = B.step(state, action)
    local = state.objects[0]
    assert local.merging == ((0, 0), (1, 0)) and local.frozen == ((0, 7),)
    assert local.active == ((1, 8),) and local.reads() == (7, 8)
    state = B.step(state, CopyDelta("right", 0))
    copy = state.remote(0, "right")
    assert (copy.merging_point, copy.delta_point, copy.complete) == (1, 2, False)
    assert B.committed(state, 0, "right") == 1 and copy.recoverable == (0, 0)
    state = B.step(state, MarkComplete("right", 0))
    assert B.committed(state, 0, "right") == 2 and state.remote(0, "right").recoverable == (7, 0)
    assert B.why_disabled(state, FreezeGroup(0)) == "point 1 is still merging into the base"
    state = B.step(B.step(state, MergeLocal(0, 2)), DropLocalDelta(0))
    state = B.step(state, FreezeGroup(0))
    assert B.why_disabled(state, CopyDelta("right", 1)) == "right still merges an older delta"
    state = B.step(B.step(state, MergeRemote("right", 0, 2)), DropRemoteDelta("right", 0))
    assert state.remote(0, "right").base_point == 1
    assert B.why_disabled(state, CopyDelta("right", 1)) is None


def test_topologies_lay_objects_end_to_end() -> None:
    fan_in = B.topology("fan-in", grains=3)
    assert fan_in.grains == 6 and fan_in.fan_in
    assert fan_in.locate(4) == (1, 1, 1)
    assert fan_in.sites == ("left", "right", "third")
    assert fan_in.links == ("left-right", "right-third")
    assert {o.kind for o in B.topology("file").objects} == {"file"}
    with pytest.raises(ValueError, match="unknown topology"):
        B.topology("ring")


def test_progress_holds_from_a_fresh_group_and_fails_when_a_remote_is_stuck() -> None:
    state = B.initial_state(B.Config(B.topology("fan-out", grains=2)), STRICT)
    assert B.inv_progress(state) is None
    # a remote holding an incomplete delta of an older point: nothing can move it on
    copy = state.remote(0, "right")
    stuck_copy = dataclasses.replace(copy, delta=((0, 9),), delta_point=0, complete=False)
    row = tuple((site, stuck_copy if site == "right" else c) for site, c in state.remotes[0])
    stuck = dataclasses.replace(state, remotes=(row, *state.remotes[1:]))
    assert B.inv_progress(stuck) == (
        f"no commit within {B.progress_bound(stuck)} background steps with writes paused"
    )
    assert "inv_progress" in B.check(None, stuck)
    # with a link down nothing is promised
    assert B.inv_progress(B.step(stuck, LinkDown("left-right"))) is None


def test_progress_bound_covers_a_remote_still_merging_the_previous_point() -> None:
    """Found by a property run: point 3 frozen while the remote still holds point 2's complete,
    unmerged delta; background work merges and drops it before it can take point 3 (the
    stricter order)."""
    state = B.initial_state(B.Config(B.topology("single", grains=2)), STRICT)
    for action in (
        CopyDelta("right", 1), CopyDelta("right", 0), MarkComplete("right", 0),
        HostWrite(0, 1), DropLocalDelta(0), FreezeGroup(0), HostWrite(1, 1),
        DropRemoteDelta("right", 0), CopyDelta("right", 0), MarkComplete("right", 0),
        HostWrite(0, 2), MergeLocal(0), DropLocalDelta(0), FreezeGroup(0),
    ):  # fmt: skip
        state = B.step(state, action)
    assert B.inv_progress(state) is None


# ---- write plans and power-loss cuts ----------------------------------------------------------


def test_a_write_plan_puts_data_before_its_record_and_the_remote_before_the_home() -> None:
    state = B.initial_state(B.Config(B.topology("single", 2)))
    home, remote = "left", "right"
    assert B.write_plan(state, HostWrite(0, 5)) == [
        B.VolumeWrite(home, 0, "active", 0, 1), B.JournalRecord(home)
    ]  # fmt: skip
    written = state.step(HostWrite(0, 5))
    assert B.write_plan(written, HostWrite(0, 6)) == [B.VolumeWrite(home, 0, "active", 0, 1)]
    assert B.write_plan(state, CopyDelta(remote, 0, 2)) == [
        B.VolumeWrite(remote, 0, "delta", 0, 2), B.JournalRecord(remote)
    ]  # fmt: skip
    assert B.write_plan(state, MarkComplete(remote, 0)) == [
        B.JournalRecord(remote), B.JournalRecord(home)
    ]  # fmt: skip
    unflushed = dataclasses.replace(state, options=B.POWER_LOSS_OPTIONS["complete-unflushed"])
    assert not B.write_plan(unflushed, MarkComplete(remote, 0))[0].durable


def test_a_power_loss_between_the_two_complete_records_leaves_the_home_uninformed() -> None:
    state = B.initial_state(B.Config(B.topology("single", 1)))
    state = state.step(CopyDelta("right", 0))
    after = state.step(MarkComplete("right", 0))
    remote_cut = B.cut_short(state, MarkComplete("right", 0), "right", 1)
    assert remote_cut.groups[0].completed_at == frozenset()  # the home's record never came
    assert remote_cut.remote(0, "right").complete  # the remote's own half: the explorer's
    assert B.cut_short(state, MarkComplete("right", 0), "left", 1) == after
    with pytest.raises(ActionNotEnabled, match="right has no write 3"):
        B.cut_short(state, MarkComplete("right", 0), "right", 3)
    assert B.site_half(after, "right", state).remote(0, "right") == state.remote(0, "right")
    assert B.site_half(after, "right", state).groups == after.groups


def test_a_merge_is_flushed_only_before_its_delta_is_dropped() -> None:
    state = B.initial_state(B.Config(B.topology("single", 2)), STRICT)
    state = state.step(CopyDelta("right", 0, 2)).step(MarkComplete("right", 0))
    merge = MergeRemote("right", 0, 2)
    assert B.write_plan(state, merge) == [B.VolumeWrite("right", 0, "copy", 0, 2, False)]
    merged = state.step(merge)
    assert B.write_plan(merged, DropRemoteDelta("right", 0)) == [
        B.Barrier("right", 0, "copy"), B.JournalRecord("right")
    ]  # fmt: skip
    baseline = dataclasses.replace(
        state, options=B.Options(pipelined=False, flush_every_write=True)
    )
    assert B.write_plan(baseline, merge)[0].durable
    assert B.write_plan(baseline.step(merge), DropRemoteDelta("right", 0)) == [
        B.JournalRecord("right")
    ]  # fmt: skip
    mutant = dataclasses.replace(
        merged,
        options=dataclasses.replace(
            B.POWER_LOSS_OPTIONS["drop-before-merge-flushed"], pipelined=False
        ),
    )
    assert B.write_plan(mutant, DropRemoteDelta("right", 0)) == [B.JournalRecord("right")]


@pytest.mark.parametrize("topology", B.TOPOLOGIES)
def test_every_group_view_written_back_is_the_state_it_was_read_from(topology: str) -> None:
    """The rules see a group through `view` and `put_view` writes their result back: read and
    written back whole, a group's view changes nothing, on every topology and along a walk."""
    rng = random.Random(7)
    state = B.initial_state(B.Config(B.topology(topology, grains=2)))
    unlike = rules.GroupView(**{name: object() for name in rules.SCHEMA})  # every field "changed"
    for _ in range(150):
        for gi in range(len(state.topology.groups)):
            assert B.put_view(state, gi, unlike, B.view(state, gi)) == state
        state = B.step(state, rng.choice(list(B.enabled_actions(state))))
