"""Greedy shrinking of a failing action list against the model alone.

Hypothesis shrinks well but can leave actions that do not matter (a link flap, a stray copy).
The model is pure and fast, so this pass drops one action at a time while the list stays
valid (every action enabled) and still breaks the same predicate; the caller replays the result
on the engine to confirm it.
"""

from __future__ import annotations

from pitmirror.model import cyclic_flashcopy as design_a
from pitmirror.model.actions import Action

MAX_ROUNDS = 50


def first_violation(
    actions: list[Action], initial: design_a.State
) -> tuple[int, str] | None:
    """(index, predicate) of the first broken predicate, or None; also None if invalid."""
    state = initial
    for index, action in enumerate(actions):
        if design_a.why_disabled(state, action) is not None:
            return None
        before, state = state, design_a.step(state, action)
        found = design_a.check(before, state)
        if found:
            return index, next(iter(found))
    return None


def shrink(actions: list[Action], initial: design_a.State, predicate: str) -> list[Action]:
    current = list(actions)
    hit = first_violation(current, initial)
    if hit is None or hit[1] != predicate:
        return current
    current = current[: hit[0] + 1]
    for _ in range(MAX_ROUNDS):
        changed = False
        # pairs first: a LinkDown/LinkUp or CrashSite/Recover only goes away together
        for width in (2, 1):
            for index in range(len(current) - width, -1, -1):
                candidate = current[:index] + current[index + width :]
                hit = first_violation(candidate, initial)
                if hit is not None and hit[1] == predicate:
                    current = candidate[: hit[0] + 1]
                    changed = True
        if not changed:
            break
    return current
