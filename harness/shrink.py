"""Shrinking a failing action list against the model alone.

A violation (model and engine agreeing that a predicate broke) is a property of the model, and
the model is pure and fast: so instead of replaying every shrink candidate on real volumes,
this pass tries candidates on the model and the caller replays the result on the engine to
confirm it.  Candidates: drop one action, drop any two, two neighbours done as one action the
model enables there (two host writes that copied on write, say, as one copy of an extent), and
make values smaller (data seeds, crash cut points, a write of some parts of a grain made whole);
actions a removal leaves disabled are dropped with it, and a write of some parts names its grain
over what the host reads where it now stands.  A candidate is kept when it is simpler and the
same predicate still breaks; the list ends at the first break.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from itertools import combinations, islice

from pitmirror.harness.grains import part_seeds
from pitmirror.harness.host_bytes import host_write_again
from pitmirror.model.actions import Action, CrashSite, HostWrite
from pitmirror.model.design import ModelState

MAX_ROUNDS = 50
MAX_WINDOW = 2
"""up to this many neighbours are tried as one action (4 found nothing shorter on the mutant
traces and doubled the time)"""
MAX_STAND_INS = 200
"""enabled actions tried in place of neighbours, per place (large objects enable many
extents)"""


def first_violation(actions: list[Action], initial: ModelState) -> tuple[list[Action], str] | None:
    """The actions up to the first broken predicate, and its name; None if nothing breaks.

    Actions that are not enabled when their turn comes are dropped, so removing one action
    also removes what only made sense after it (the Recover of a removed crash, the resync
    of a copy that no longer went out of sync).
    """
    kept: list[Action] = []
    for action, before, state in _enabled_steps(actions, initial):
        kept.append(action)
        found = state.violations(before)
        if found:
            return kept, next(iter(found))
    return None


def enabled_run(actions: list[Action], initial: ModelState) -> list[Action]:
    """`actions` less those the model does not enable when their turn comes."""
    return [action for action, _, _ in _enabled_steps(actions, initial)]


def _enabled_steps(
    actions: list[Action], initial: ModelState
) -> Iterator[tuple[Action, ModelState, ModelState]]:
    """Each action the model enables when its turn comes, with the states before and after."""
    state = initial
    for action in actions:
        if isinstance(action, HostWrite):  # what a write of some parts names depends on before
            action = host_write_again(action, state.read)
        if state.why_disabled(action) is None:
            before, state = state, state.step(action)
            yield action, before, state


def _smaller(action: Action) -> Iterator[Action]:
    if isinstance(action, HostWrite) and action.parts:
        yield HostWrite(action.grain, part_seeds(action.data)[action.part], action.fua)
    elif isinstance(action, HostWrite):
        yield from (dataclasses.replace(action, data=d) for d in range(1, action.data))
    if isinstance(action, CrashSite):
        cuts = range(action.after_writes)
        yield from (dataclasses.replace(action, after_writes=n) for n in cuts)


def _candidates(actions: list[Action], initial: ModelState) -> Iterator[list[Action]]:
    n = len(actions)
    for i in reversed(range(n)):
        yield actions[:i] + actions[i + 1 :]
    for i, j in combinations(range(n), 2):
        yield [a for k, a in enumerate(actions) if k not in (i, j)]
    for width in range(2, MAX_WINDOW + 1):
        state = initial
        for i in range(n - width + 1):  # `actions` is a run of the model: each is enabled
            for stand_in in islice(state.enabled_actions(), MAX_STAND_INS):
                yield actions[:i] + [stand_in] + actions[i + width :]
            state = state.step(actions[i])
    for i, action in enumerate(actions):
        for simpler in _smaller(action):
            yield actions[:i] + [simpler] + actions[i + 1 :]


def shrink(actions: list[Action], initial: ModelState, predicate: str) -> list[Action]:
    hit = first_violation(actions, initial)
    if hit is None or hit[1] != predicate:
        return list(actions)
    current = hit[0]
    for _ in range(MAX_ROUNDS):
        for candidate in _candidates(current, initial):
            hit = first_violation(candidate, initial)
            if hit is not None and hit[1] == predicate and _simpler(hit[0], current):
                current = hit[0]
                break
        else:
            return current
    return current


def _simpler(a: list[Action], b: list[Action]) -> bool:
    """Shorter, or as long with smaller values: the order that makes shrinking terminate."""
    return (len(a), _weight(a)) < (len(b), _weight(b))


def _weight(actions: list[Action]) -> int:
    return sum(getattr(a, "data", 0) + getattr(a, "after_writes", 0) for a in actions)
