"""Concrete model states as Z3 facts, to hold the encoding and the Python model together.

A state of model/cyclic_flashcopy.py over n grains becomes facts about a Z3 state whose grain
sort is pinned to n distinct elements and whose values are distinct constants (seed 0 is the
encoding's zero).  The ghost images the encoding keeps are P_c = images[committed] and
P_k = images[cycle].
"""

from __future__ import annotations

from typing import Any

import z3

from pitmirror.model import cyclic_flashcopy as model
from pitmirror.proofs import cyclic_flashcopy as A
from pitmirror.proofs.sorts import ZERO, Grain, Val


class Universe:
    """n grain elements and a constant per data seed seen so far."""

    def __init__(self, grains: int) -> None:
        self.grains = [z3.Const(f"concrete_grain{i}", Grain) for i in range(grains)]
        self.values: dict[int, Any] = {0: ZERO}

    def value(self, seed: int) -> Any:
        if seed not in self.values:
            self.values[seed] = z3.Const(f"seed{seed}", Val)
        return self.values[seed]

    def facts(self) -> list[Any]:
        x = z3.Const("some_grain", Grain)
        out = [z3.ForAll([x], z3.Or([x == g for g in self.grains]))]
        if len(self.grains) > 1:
            out.append(z3.Distinct(*self.grains))
        if len(self.values) > 1:
            out.append(z3.Distinct(*self.values.values()))
        return out


def encode(state: model.State, z: A.ZState, universe: Universe) -> list[Any]:
    """Facts that pin every field of `z` to the concrete `state`."""
    images = {
        "source": state.source,
        "i1": state.i1,
        "i2": state.i2,
        "target": state.target,
        "acked": state.acked,
        "pc": state.images[state.committed],
        "pk": state.images[state.cycle],
    }
    facts: list[Any] = []
    for name, image in images.items():
        array = getattr(z, name)
        facts += [
            array[g] == universe.value(seed) for g, seed in zip(universe.grains, image, strict=True)
        ]
    for name in A.MAPS:
        members: frozenset[int] = getattr(state, name)
        array = getattr(z, name)
        facts += [array[g] == (i in members) for i, g in enumerate(universe.grains)]
    facts += [z.cycle == state.cycle, z.committed == state.committed]
    facts += [getattr(z, f) == getattr(state, f) for f in A.FLAGS]
    return facts
