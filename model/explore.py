"""Exhaustive breadth-first exploration of a design's model on a tiny configuration.

Used to pin the state space (an exact distinct-state count is a reviewed number) and to find
the shortest action sequence that breaks a predicate under an unsafe option.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

S = TypeVar("S")
A = TypeVar("A")


@dataclass
class Exploration(Generic[S, A]):
    states: int
    counterexample: list[A] | None
    violated: str | None
    reason: str | None


def explore(
    initial: S,
    enabled: Callable[[S], Iterable[A]],
    step: Callable[[S, A], S],
    check: Callable[[S | None, S], dict[str, str]],
    max_states: int = 1_000_000,
) -> Exploration[S, A]:
    """Visit every reachable state; stop at the first violation (the shortest, being BFS)."""
    parent: dict[S, tuple[S, A] | None] = {initial: None}
    frontier: deque[S] = deque([initial])
    found = check(None, initial)
    if found:
        name, why = next(iter(found.items()))
        return Exploration(1, [], name, why)
    while frontier:
        state = frontier.popleft()
        for action in enabled(state):
            after = step(state, action)
            if after in parent:
                continue
            parent[after] = (state, action)
            found = check(state, after)
            if found:
                name, why = next(iter(found.items()))
                return Exploration(len(parent), path_to(parent, after), name, why)
            if len(parent) >= max_states:
                raise RuntimeError(f"state space exceeds {max_states} states")
            frontier.append(after)
    return Exploration(len(parent), None, None, None)


def path_to(parent: dict[S, tuple[S, A] | None], state: S) -> list[A]:
    """The actions from the root of a search's parent links to `state`."""
    path: list[A] = []
    link = parent[state]
    while link is not None:
        state, action = link
        path.append(action)
        link = parent[state]
    return path[::-1]
