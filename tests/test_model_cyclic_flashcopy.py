"""Design A's model: pinned state space, frame conditions, mutants, claim 5 = claim 6."""

from __future__ import annotations

import dataclasses
import functools

import pytest

from pitmirror.model import cyclic_flashcopy as A
from pitmirror.model.actions import (
    CommitPoint,
    CopyGrain,
    CrashSite,
    DrainTarget,
    HostWrite,
    LinkDown,
    LinkUp,
    Recover,
    ResyncGrain,
    action_name,
)
from pitmirror.model.design import ActionNotEnabled
from pitmirror.model.explore import explore

TINY = A.Config(grains=2, values=(1,), max_cycle=2, max_crash_writes=1)
MUTANT_SEARCH = A.Config(grains=2, values=(1, 2), max_cycle=3, max_crash_writes=2)


SAFE = A.Options()


@functools.cache  # the tests of this file share a worker: TINY is enumerated once per rule
def reachable(config: A.Config, options: A.Options = SAFE) -> frozenset[A.State]:
    seen = {A.initial_state(config, options)}
    frontier = list(seen)
    while frontier:
        state = frontier.pop()
        for action in A.enabled_actions(state):
            after = A.step(state, action)
            if after not in seen:
                seen.add(after)
                frontier.append(after)
    return frozenset(seen)


def test_tiny_state_space_is_pinned_and_safe() -> None:
    """A changed count is a model change: review it, then update the number."""
    result = explore(A.initial_state(TINY), A.enabled_actions, A.step, A.check)
    assert result.violated is None, result.reason
    assert result.states == 60398


@pytest.mark.slow
def test_every_action_changes_only_its_own_fields() -> None:
    checked: set[str] = set()
    for state in reachable(TINY):
        for action in A.enabled_actions(state):
            after = A.step(state, action)
            name = action_name(action)
            changed = {
                f.name
                for f in dataclasses.fields(A.State)
                if getattr(state, f.name) != getattr(after, f.name)
            }
            assert changed <= A.MODIFIES[name], f"{name} changed {changed - A.MODIFIES[name]}"
            checked.add(name)
    assert checked == set(A.MODIFIES)


@pytest.mark.parametrize("name", sorted(A.UNSAFE_OPTIONS))
def test_every_unsafe_option_breaks_the_goal_in_the_model(name: str) -> None:
    options = A.UNSAFE_OPTIONS[name]
    result = explore(A.initial_state(MUTANT_SEARCH, options), A.enabled_actions, A.step, A.check)
    assert result.violated == "inv_target_is_committed_image", (name, result)
    assert result.counterexample  # the shortest action list that breaks it


@pytest.mark.slow
def test_claim5_update_and_claim6_merge_reach_the_same_states() -> None:
    def without_options(states: frozenset[A.State]) -> set[A.State]:
        return {dataclasses.replace(s, options=A.Options()) for s in states}

    merge = reachable(TINY, A.Options(map_rule="merge"))
    update = reachable(TINY, A.Options(map_rule="update"))
    assert without_options(merge) == without_options(update)


def test_claim5_and_claim6_differ_once_commit_may_come_early() -> None:
    """The equivalence rests on the copy map being empty at the commit."""
    after = {}
    for rule in ("merge", "update"):
        state = A.initial_state(
            A.Config(grains=2), A.Options(map_rule=rule, commit_after_drain=False)
        )
        for action in (CopyGrain(0), CommitPoint()):
            state = A.step(state, action)
        after[rule] = state.copy_map
    assert after == {"merge": frozenset({1}), "update": frozenset()}


def test_a_cut_host_write_is_not_acknowledged_but_never_lost_once_acknowledged() -> None:
    config = A.Config(grains=2)
    state = A.initial_state(config)
    for action in (CopyGrain(0), CopyGrain(1), CommitPoint(), CrashSite("local", 1)):
        state = A.step(state, action)
    cut = A.step(state, HostWrite(0, 7))  # future-map record lands, then the crash
    assert not cut.local_up
    assert cut.source[0] == 0 and cut.acked[0] == 0
    assert cut.future_map == frozenset({0})
    whole = A.step(A.step(cut, Recover("local")), HostWrite(0, 7))
    assert whole.source[0] == whole.acked[0] == 7


def test_guards_explain_why_an_action_is_disabled() -> None:
    state = A.initial_state(A.Config(grains=2))
    assert A.why_disabled(state, CommitPoint()) == "the copy map is not empty"
    assert A.why_disabled(state, DrainTarget(0)) == "grain 0 is not in target_map"
    assert A.why_disabled(state, CopyGrain(5)) == "grain 5 is outside the volume (0..1)"
    assert A.why_disabled(state, LinkUp()) == "the link is already up"
    down = A.step(state, LinkDown())
    assert A.why_disabled(down, ResyncGrain(0)) == "resync needs both sites and the link up"
    with pytest.raises(ActionNotEnabled, match="copy map is not empty"):
        A.step(state, CommitPoint())


def test_progress_a_commit_follows_within_the_bound() -> None:
    state = A.initial_state(A.Config(grains=3))
    for action in (HostWrite(0, 1), HostWrite(2, 2), LinkDown(), CopyGrain(1), LinkUp()):
        state = A.step(state, action)
    assert A.inv_progress(state) is None
    steps = 0
    while A.why_disabled(state, CommitPoint()) is not None:
        background = [a for a in A.enabled_actions(state) if isinstance(a, CopyGrain | ResyncGrain)]
        state = A.step(state, background[0])
        steps += 1
    assert steps <= A.progress_bound(state)
