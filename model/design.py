"""The contract of a design model, checked by mypy on every design.

A design supplies one `DesignModel` (its name, options, topologies and initial state) and a
state type that carries its own transition relation (`ModelState`).  Everything design-neutral
(lockstep, shrinking, exploration, traces) works on these two protocols alone, so it never needs
a design's concrete types and never branches on which design it holds.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Protocol, Self

from pitmirror.model.actions import Action
from pitmirror.model.options import DesignOptions
from pitmirror.model.spec import SpecView


class ActionNotEnabled(ValueError):
    """`step` was asked for an action whose guard is false; the message says why."""


class WrongDesign(TypeError):
    """A design was handed another design's options."""


class ModelState(Protocol):
    """A state of a design's model: immutable, hashable, and able to take a step."""

    def why_disabled(self, action: Action) -> str | None:
        """None when `action` is enabled here, else the reason in words."""
        ...

    def enabled_actions(self) -> Iterator[Action]:
        """Every enabled action (HostWrite data from the configuration's values)."""
        ...

    def step(self, action: Action) -> Self:
        """The state after `action`; raises ActionNotEnabled when its guard is false."""
        ...

    def read(self, grain: int) -> int:
        """What a host read of `grain` returns along the design's read path (a seed)."""
        ...

    def violations(self, before: Self | None) -> dict[str, str]:
        """Every predicate of the spec this state (reached from `before`) breaks, by name."""
        ...

    def spec_view(self) -> SpecView:
        """What the spec's predicates see of this state (model/spec.py)."""
        ...

    def __hash__(self) -> int: ...


class DesignModel(Protocol):
    """What a design's model module offers the design-neutral code, as one object."""

    @property
    def name(self) -> str:
        """The design's name in traces and on the command line."""
        ...

    @property
    def unsafe_options(self) -> Mapping[str, DesignOptions]:
        """The catalogued mutants: options that must be caught, by name."""
        ...

    @property
    def power_loss_options(self) -> Mapping[str, DesignOptions]:
        """Mutants that only a power loss (unflushed writes lost, torn or reordered) shows:
        the power-loss explorer must catch them, by name."""
        ...

    @property
    def topologies(self) -> tuple[str, ...]:
        """Named layouts of objects, groups and sites; empty when the design has one layout."""
        ...

    def options(self, fields: Mapping[str, object]) -> DesignOptions:
        """Options from JSON fields (missing fields: the safe defaults); ValueError if bad."""
        ...

    def mutant_topology(self, options: DesignOptions) -> str | None:
        """The topology a run of these options uses unless told (None: no topologies)."""
        ...

    def initial(self, options: DesignOptions, topology: str | None, grains: int) -> ModelState:
        """The initial state; `grains` per object where the design has topologies."""
        ...

    def address_space(self, topology: str | None, grains: int) -> int:
        """How many grains an action may name."""
        ...
