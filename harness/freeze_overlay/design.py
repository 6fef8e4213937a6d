"""Design B, freeze and auxiliary overlay, as the harness's registry holds it."""

from __future__ import annotations

import dataclasses
import time
from collections import deque
from collections.abc import Iterator

from pitmirror.harness.design import Design, PropertyRun, Reached, VolumeLayout
from pitmirror.harness.freeze_overlay.demo import demo
from pitmirror.harness.freeze_overlay.lockstep import open_lockstep
from pitmirror.harness.freeze_overlay.machine import build_machine
from pitmirror.harness.freeze_overlay.power_loss import power_loss
from pitmirror.harness.freeze_overlay.roles_world import OverlayRolesWorld, roles_hosts, roles_probe
from pitmirror.harness.freeze_overlay.runner import RUNNER
from pitmirror.harness.machine import MAX_EXTENT
from pitmirror.harness.power_loss_states import Bounds
from pitmirror.impl.freeze_overlay.layout import volume_layout
from pitmirror.model import freeze_overlay as model
from pitmirror.model.actions import Action, DropLocalDelta, DropRemoteDelta
from pitmirror.model.design import ModelState, WrongDesign
from pitmirror.model.explore import explore
from pitmirror.model.options import DesignOptions
from pitmirror.proofs.freeze_overlay_proof import ENCODING
from pitmirror.proofs.freeze_overlay_roles import BRIDGE

SEARCH_GRAINS = 1  # per object: the shortest violations need one grain
SEARCH_MAX_POINT = 3
SEARCH_TOPOLOGIES = ("single", "group", "fan-out")  # small spaces; each mutant shows on one


WORLDS = (("single", 3), ("group", 2), ("fan-out", 2))
"""(topology, point bound) of the small worlds a design change is compared on, one grain per
object: from 2 s to 14 s each"""


def small_worlds(options: DesignOptions) -> list[tuple[str, ModelState]]:
    if not isinstance(options, model.Options):
        raise WrongDesign(f"design B was given {type(options).__qualname__}")
    return [
        (f"{name}, 1 grain, {bound} points",
         model.initial_state(model.Config(model.topology(name, 1), (1, 2), bound), options))
        for name, bound in WORLDS
    ]  # fmt: skip


def layout(topology: str | None, grains: int) -> VolumeLayout:
    if topology is None:
        raise ValueError(f"design B needs a topology ({', '.join(model.TOPOLOGIES)})")
    return volume_layout(model.topology(topology, grains))


def reach_violation(options: DesignOptions, broken: frozenset[str] = frozenset()) -> Reached:
    """Breadth-first search of the model, one grain per object, the mutant's topology first,
    for the shortest violation of the spec: the target image, what reads return, or the lag a
    slower remote falls behind by first (z3's bounded search over nested arrays under
    quantifiers is not practical here).  A flush-order mutant
    breaks nothing the model's whole actions show: the search goes to a power loss instead."""
    if not isinstance(options, model.Options):
        raise WrongDesign(f"design B was given {type(options).__qualname__}")
    if options in model.POWER_LOSS_OPTIONS.values():
        return reach_power_loss(options)
    started = time.monotonic()
    first = model.MODEL.mutant_topology(options) or "single"
    for name in [first, *(n for n in SEARCH_TOPOLOGIES if n != first)]:
        config = model.Config(model.topology(name, SEARCH_GRAINS), values=(1, 2),
                              max_point=SEARCH_MAX_POINT)  # fmt: skip
        found = explore(model.initial_state(config, options), model.enabled_actions,
                        model.step, model.check)  # fmt: skip
        if found.counterexample is not None:
            return Reached(found.counterexample, found.violated, len(found.counterexample),
                           time.monotonic() - started, name, SEARCH_GRAINS,
                           "breadth-first search of the model", "bfs")  # fmt: skip
    return Reached(None, None, 0, time.monotonic() - started, None, SEARCH_GRAINS,
                   "breadth-first search of the model", "bfs")  # fmt: skip


POWER_LOSS_CANDIDATES = 400
"""paths to an unflushed write that the power-loss explorer tries, shortest first"""
POWER_LOSS_SEARCH = (
    "breadth-first search of the model to an unflushed write, then the power-loss explorer"
)


def unflushed_paths(options: model.Options, topology: str) -> Iterator[list[Action]]:
    """Action lists from Init, shortest first, whose last action leaves a write unflushed that
    the safe design flushes (one grain per object, up to SEARCH_MAX_POINT points)."""
    config = model.Config(model.topology(topology, SEARCH_GRAINS), values=(1, 2),
                          max_point=SEARCH_MAX_POINT)  # fmt: skip
    initial = model.initial_state(config, options)
    paths: dict[model.State, list[Action]] = {initial: []}
    frontier = deque([initial])
    while frontier:
        state = frontier.popleft()
        for action in model.enabled_actions(state):
            if _drops_a_flush(state, action) and _loss_shows(state, action):
                yield [*paths[state], action]
            after = model.step(state, action)
            if after not in paths:
                paths[after] = [*paths[state], action]
                frontier.append(after)


def _flushes(plan: list[model.PlanEntry]) -> int:
    return sum(isinstance(e, model.Barrier) or e.durable for e in plan)


def _drops_a_flush(state: model.State, action: Action) -> bool:
    """The action's plan flushes less than the safe design's."""
    safe = dataclasses.replace(state, options=model.Options())
    return _flushes(model.write_plan(state, action)) < _flushes(model.write_plan(safe, action))


def _loss_shows(state: model.State, action: Action) -> bool:
    """Whether losing the action's unflushed writes can show: a drop's merges lost show only
    where the delta holds a value a never-written grain does not (point 1's delta, the initial
    image, is zeros), so paths that drop only such deltas are not tried."""
    if isinstance(action, DropRemoteDelta):
        gi = action.group
        copies = [state.remote(i, action.site) for i in state.topology.group_objects(gi)]
        return any(v for c in copies for _, v in model.remote_merge_source(state, c))
    if isinstance(action, DropLocalDelta):
        objects = [state.objects[i] for i in state.topology.group_objects(action.group)]
        return any(v for o in objects for _, v in model.local_merge_source(state, o))
    return True


def reach_power_loss(options: model.Options) -> Reached:
    """The shortest path to an unflushed write whose power loss the power-loss explorer finds
    violating on the engine (memory volumes); the trace pins it (harness/prove.py)."""
    # both import the registry of designs, which holds this one
    from pitmirror.harness.power_loss import explore
    from pitmirror.harness.traces import Trace

    started, name = time.monotonic(), "single"
    for tried, actions in enumerate(unflushed_paths(options, name)):
        if tried == POWER_LOSS_CANDIDATES:
            break
        path = Trace(design=model.DESIGN, grains=SEARCH_GRAINS, grain_size=4096,
                     why="a path to an unflushed write", actions=actions, options=options,
                     topology=name)  # fmt: skip
        found = explore(path, Bounds(samples=200, max_states=2000), "memory", stop_at_first=True)
        if found.first is not None:
            return Reached(actions, found.first.predicate, len(actions),
                           time.monotonic() - started, name, SEARCH_GRAINS, POWER_LOSS_SEARCH,
                           "bfs", power_lost=True)  # fmt: skip
    return Reached(None, None, 0, time.monotonic() - started, None, SEARCH_GRAINS,
                   POWER_LOSS_SEARCH, "bfs")  # fmt: skip


RUNNER_GRAINS = 4
"""per object: small objects cycle often, so the runner meets every phase in an example"""
LARGE_GRAINS = 1024
"""per object: extents of up to MAX_EXTENT grains over deltas of many runs"""
LARGE_EXAMPLES = 30
"""a volume this size costs a full read-back per example: fewer examples, each as long"""

STRICTER = model.Options(pipelined=False)
"""the order before the pipelined one: safe, and a user's choice, so verify runs it too"""

DRAWN = "host writes, reads through the overlay, extents, crashes, link faults"
TCP_EXAMPLES = 8
"""every site a process: about six actions a second"""
TCP_TOPOLOGIES = ("single", "fan-out", "fan-in", "bidirectional")
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
        *(
            PropertyRun(
                f"property run, stricter order (pipelined=false), {name}: {DRAWN}", STRICTER, name
            )
            for name in ("group", "fan-out")
        ),
        *(
            PropertyRun(
                f"property run over TCP, {name}, every site a child process: {DRAWN}",
                model.Options(),
                name,
                examples=TCP_EXAMPLES,
                transport="tcp",
            )
            for name in TCP_TOPOLOGIES
        ),
        PropertyRun(
            f"runner under lockstep, stricter order (pipelined=false), fan-out: writes, reads, "
            f"ticks, clock, faults ({RUNNER_GRAINS} grains per object)",
            STRICTER,
            "fan-out",
            grains=RUNNER_GRAINS,
            runner=True,
        ),
    ),  # fmt: skip
    encoding=ENCODING,
    roles_bridge=BRIDGE,
    roles_world=OverlayRolesWorld,
    roles_probe=roles_probe,
    roles_hosts=roles_hosts,
    reach_violation=reach_violation,
    demo=demo,
    power_loss=power_loss,
    small_worlds=small_worlds,
)
