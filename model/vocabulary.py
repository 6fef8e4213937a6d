"""What a design says of each action of its vocabulary, once, in one table.

A design's table (model/<design>_vocabulary.py) has one `Entry` per action kind, in the order
the model enumerates them.  From it the model builds how an action binds to its rule's
parameters and its candidates (`binds`) and what it may change (`modifies`); the engine's
sites and the harness's world route an action to the site that takes it (`handler`); the
Hypothesis machines build or check a rule per kind and weigh it by where it comes from
(`origin`).  Adding an action to a design is a line here, its rule, the site's handler, a
trace and a test.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pitmirror.model.actions import Action

Origin = Literal["host", "cycle", "fault", "command"]
"""Who causes the action: the host (a write or read at its door), the mirroring cycle (the
design's own background work), the world (a link or a site fails or comes back) or the
operator (a command)."""


@dataclass(frozen=True)
class Entry:
    """One action kind of a design."""

    kind: type[Any]
    binds: str
    """how its fields become the rule's parameters: the name of one of the design's binders
    (model/<design>.py `BINDERS`), which also enumerates the kind's candidates"""
    handler: str
    """the site whose door takes it, as the design names that role (design A: "local",
    "remote", "named" for the site the action names, "link" for the world's link; design B:
    "home" for the home of the grain, member or group it names, "named", "link")"""
    origin: Origin
    modifies: tuple[str, ...]
    """the fields of the design's `State` it may change (the tests check every step)"""

    @property
    def name(self) -> str:
        return str(self.kind.__name__)

    @property
    def rule_name(self) -> str:
        """`CopyDelta` -> `copy_delta`: the kind's Hypothesis rule and controller callback."""
        return snake_case(self.name)

    @property
    def extent(self) -> bool:
        """An extent action: `count` consecutive grains from `grain`."""
        return any(f.name == "count" for f in dataclasses.fields(self.kind))


def snake_case(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class ActionTable:
    """A design's table, looked up by kind."""

    def __init__(self, entries: Sequence[Entry]) -> None:
        self.entries = tuple(entries)
        self.by_kind: dict[type[Any], Entry] = {e.kind: e for e in self.entries}
        assert len(self.by_kind) == len(self.entries), "a kind appears twice"

    def __iter__(self) -> Iterator[Entry]:
        return iter(self.entries)

    def entry(self, action: Action) -> Entry | None:
        """The action's entry, or None when it is not an action of this design."""
        return self.by_kind.get(type(action))

    @property
    def kinds(self) -> tuple[type[Any], ...]:
        return tuple(e.kind for e in self.entries)

    @property
    def extent_kinds(self) -> tuple[type[Any], ...]:
        return tuple(e.kind for e in self.entries if e.extent)

    def of_kinds(self, kinds: Sequence[type[Any]]) -> tuple[Entry, ...]:
        return tuple(self.by_kind[kind] for kind in kinds)

    def of_origin(self, *origins: Origin) -> tuple[Entry, ...]:
        return tuple(e for e in self.entries if e.origin in origins)

    def modifies(self) -> dict[str, frozenset[str]]:
        return {e.name: frozenset(e.modifies) for e in self.entries}
