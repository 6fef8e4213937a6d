"""Design A, cyclic incremental FlashCopy, as the harness's registry holds it."""

from __future__ import annotations

from pitmirror.harness.cyclic_flashcopy.demo import demo
from pitmirror.harness.cyclic_flashcopy.lockstep import open_lockstep
from pitmirror.harness.cyclic_flashcopy.machine import build_machine
from pitmirror.harness.cyclic_flashcopy.power_loss import power_loss
from pitmirror.harness.cyclic_flashcopy.roles_world import (
    FlashCopyRolesWorld,
    roles_hosts,
    roles_probe,
)
from pitmirror.harness.cyclic_flashcopy.runner import RUNNER
from pitmirror.harness.design import Design, PropertyRun, Reached, VolumeLayout
from pitmirror.harness.machine import MAX_EXTENT
from pitmirror.impl.cyclic_flashcopy.layout import volume_layout
from pitmirror.model import cyclic_flashcopy as model
from pitmirror.model.design import ModelState, WrongDesign
from pitmirror.model.options import DesignOptions
from pitmirror.proofs.cyclic_flashcopy_bmc import find_violation
from pitmirror.proofs.cyclic_flashcopy_proof import ENCODING
from pitmirror.proofs.cyclic_flashcopy_roles import BRIDGE
from pitmirror.proofs.obligations import GOAL

LARGE_GRAINS = 4096
LARGE_EXAMPLES = 50
"""a volume this size costs a full read-back per example: fewer examples, each as long"""
RUNNER_GRAINS = 16
"""extents of several grains, and host writes that meet the copy and the drain often"""
DRAWN = "host writes and reads, extents, crashes, link faults"
"""what a property run draws, as its verify row says"""
TCP_EXAMPLES = 25
"""each example starts a child process: fewer examples, each as long"""
BMC_GRAINS = 2  # a violation needs at most two grains (one written, one copied); BMC is fast


def layout(topology: str | None, grains: int) -> VolumeLayout:
    return volume_layout(grains)


def reach_violation(options: DesignOptions, broken: frozenset[str] = frozenset()) -> Reached:
    """Bounded model checking of the Z3 encoding from Init, on two grains; where a barrier
    is missing, to a power loss that breaks a conjunct in `broken`."""
    if not isinstance(options, model.Options):
        raise WrongDesign(f"design A was given {type(options).__qualname__}")
    bmc = find_violation(options, grains=BMC_GRAINS, aim=broken)
    violates = GOAL if bmc.actions is not None else None
    return Reached(bmc.actions, violates, bmc.depth, bmc.seconds, None, BMC_GRAINS,
                   "bounded model checking from Init", "bmc", bmc.power_lost)  # fmt: skip


WORLD = (2, 2, 2)
"""(grains, cycle bound, crash writes) of the small world a design change is compared on
(120,504 states of the safe design, about 35 s)"""


def small_worlds(options: DesignOptions) -> list[tuple[str, ModelState]]:
    if not isinstance(options, model.Options):
        raise WrongDesign(f"design A was given {type(options).__qualname__}")
    grains, cycles, crash_writes = WORLD
    config = model.Config(grains, (1, 2), cycles, crash_writes)
    return [(f"{grains} grains, {cycles} cycles", model.initial_state(config, options))]


DESIGN = Design(
    model=model.MODEL,
    short="A",
    title="cyclic incremental FlashCopy",
    default_grains=4,
    default_topology=None,
    volume_layout=layout,
    lockstep=open_lockstep,
    machine=build_machine,
    runner=RUNNER,
    property_runs=(
        PropertyRun(f"property run, safe design, claim 6 (merge): {DRAWN}", model.Options()),
        PropertyRun(
            f"property run, safe design, claim 5 (update): {DRAWN}",
            model.Options(map_rule="update"),
        ),
        PropertyRun(
            f"property run, {LARGE_GRAINS} grains, extents of up to {MAX_EXTENT} grains",
            model.Options(),
            grains=LARGE_GRAINS,
            examples=LARGE_EXAMPLES,
        ),
        PropertyRun(
            f"runner under lockstep: writes, reads, ticks, clock, faults ({RUNNER_GRAINS} grains)",
            model.Options(),
            grains=RUNNER_GRAINS,
            runner=True,
        ),
        PropertyRun(
            f"property run over TCP, the remote a child process: {DRAWN}",
            model.Options(),
            examples=TCP_EXAMPLES,
            transport="tcp",
        ),
    ),  # fmt: skip
    encoding=ENCODING,
    roles_bridge=BRIDGE,
    roles_world=FlashCopyRolesWorld,
    roles_probe=roles_probe,
    roles_hosts=roles_hosts,
    reach_violation=reach_violation,
    demo=demo,
    power_loss=power_loss,
    small_worlds=small_worlds,
)
