"""Design B, freeze and auxiliary overlay, as the harness's registry holds it."""

from __future__ import annotations

import time

from pitmirror.harness.design import Design, PropertyRun, Reached, VolumeLayout
from pitmirror.harness.freeze_overlay.demo import demo
from pitmirror.harness.freeze_overlay.lockstep import open_lockstep
from pitmirror.harness.freeze_overlay.machine import build_machine
from pitmirror.harness.freeze_overlay.runner import RUNNER
from pitmirror.harness.machine import MAX_EXTENT
from pitmirror.impl.freeze_overlay.layout import volume_layout
from pitmirror.model import freeze_overlay as model
from pitmirror.model.design import WrongDesign
from pitmirror.model.explore import explore
from pitmirror.model.options import DesignOptions
from pitmirror.proofs.freeze_overlay_proof import ENCODING
from pitmirror.proofs.obligations import GOAL, READS

SEARCH_GRAINS = 1  # per object: the shortest violations need one grain
SEARCH_MAX_POINT = 3
SEARCH_TOPOLOGIES = ("single", "group", "fan-out")  # small spaces; each mutant shows on one


def layout(topology: str | None, grains: int) -> VolumeLayout:
    if topology is None:
        raise ValueError(f"design B needs a topology ({', '.join(model.TOPOLOGIES)})")
    return volume_layout(model.topology(topology, grains))


def reach_violation(options: DesignOptions, broken: frozenset[str] = frozenset()) -> Reached:
    """Breadth-first search of the model, one grain per object, the mutant's topology first,
    for a violation of either proof goal: the target image, or what reads return (z3's bounded
    search over nested arrays under quantifiers is not practical here)."""
    if not isinstance(options, model.Options):
        raise WrongDesign(f"design B was given {type(options).__qualname__}")
    started = time.monotonic()
    first = model.MODEL.mutant_topology(options) or "single"
    for name in [first, *(n for n in SEARCH_TOPOLOGIES if n != first)]:
        config = model.Config(model.topology(name, SEARCH_GRAINS), values=(1, 2),
                              max_point=SEARCH_MAX_POINT)  # fmt: skip
        found = explore(model.initial_state(config, options), model.enabled_actions,
                        model.step, model.check)  # fmt: skip
        if found.counterexample is not None and found.violated in (GOAL, READS):
            return Reached(found.counterexample, found.violated, len(found.counterexample),
                           time.monotonic() - started, name, SEARCH_GRAINS,
                           "breadth-first search of the model", "bfs")  # fmt: skip
    return Reached(None, None, 0, time.monotonic() - started, None, SEARCH_GRAINS,
                   "breadth-first search of the model", "bfs")  # fmt: skip


RUNNER_GRAINS = 4
"""per object: small objects cycle often, so the runner meets every phase in an example"""
LARGE_GRAINS = 1024
"""per object: extents of up to MAX_EXTENT grains over deltas of many runs"""
LARGE_EXAMPLES = 30
"""a volume this size costs a full read-back per example: fewer examples, each as long"""

DRAWN = "host writes, reads through the overlay, extents, crashes, link faults"
"""what a property run draws, as its verify row says"""


DESIGN = Design(
    model=model.MODEL,
    short="B",
    title="freeze and auxiliary overlay",
    default_grains=2,
    default_topology="group",
    volume_layout=layout,
    lockstep=open_lockstep,
    machine=build_machine,
    runner=RUNNER,
    property_runs=(
        *(
            PropertyRun(f"property run, {name}: {DRAWN}", model.Options(), name)
            for name in model.TOPOLOGIES
        ),
        *(
            PropertyRun(
                f"property run, {name}, {LARGE_GRAINS} grains per object, extents of "
                f"up to {MAX_EXTENT} grains",
                model.Options(),
                name,
                grains=LARGE_GRAINS,
                examples=LARGE_EXAMPLES,
            )
            for name in ("group", "fan-out")
        ),
        *(
            PropertyRun(
                f"runner under lockstep, {name}: writes, reads, ticks, clock, faults "
                f"({RUNNER_GRAINS} grains per object)",
                model.Options(),
                name,
                grains=RUNNER_GRAINS,
                runner=True,
            )
            for name in ("group", "fan-out", "bidirectional")
        ),
    ),  # fmt: skip
    encoding=ENCODING,
    reach_violation=reach_violation,
    demo=demo,
)
