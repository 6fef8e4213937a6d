"""The record a design hands the harness: everything that differs between designs, typed.

Each design's harness package builds one `Design` (`harness/<design>/design.py`) and the
registry (`harness/designs.py`) lists them.  The commands, the property runs, the proofs, the
traces and `verify` read a design only through this record, so a new design is new files plus
one registry line, and mypy checks that it supplies every part.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from hypothesis.stateful import RuleBasedStateMachine
from rich.table import Table

from pitmirror.harness.lockstep import Stepper
from pitmirror.harness.machine import FailureHandler
from pitmirror.harness.power_loss_design import PowerLossFactory
from pitmirror.harness.roles_world import ProcessHosts, RolesWorld, SiteProbe
from pitmirror.harness.runner_machine import RunnerSpec
from pitmirror.impl.volumes import Volume
from pitmirror.model.actions import Action
from pitmirror.model.design import DesignModel, ModelState
from pitmirror.model.options import DesignOptions
from pitmirror.model.roles import Options as RolesOptions
from pitmirror.node.site import SiteSettings
from pitmirror.proofs.obligations import Encoding

VolumeLayout = tuple[dict[str, int], frozenset[str]]
RolesWorldFactory = Callable[[dict[str, Volume], Path, RolesOptions | None], RolesWorld]
"""Every volume to create (name: grain count), and those that must be regular files."""


class LockstepFactory(Protocol):
    def __call__(
        self,
        options: DesignOptions,
        topology: str | None,
        grains: int,
        volumes: dict[str, Volume],
        workdir: Path,
        transport: str | None = None,
    ) -> Stepper: ...


class MachineFactory(Protocol):
    def __call__(
        self, open_lockstep: Callable[[], Stepper], grains: int, on_failure: FailureHandler
    ) -> type[RuleBasedStateMachine]:
        """A Hypothesis machine over `grains` grains, one lockstep per example."""
        ...


@dataclass(frozen=True)
class PropertyRun:
    """One property run `verify` makes of the safe design."""

    label: str
    options: DesignOptions
    topology: str | None = None
    grains: int | None = None
    """None: the design's default"""
    runner: bool = False
    """through the design's runner (harness/runner_machine.py), not one action at a time"""
    examples: int | None = None
    """None: verify's budget; large volumes take fewer"""
    transport: str | None = None
    """tcp: the remote site in a child process over TCP (harness/transport_mutants.py)"""


@dataclass(frozen=True)
class Reached:
    """A path from Init to a violation of the goal, searched for a design the proof refutes."""

    actions: list[Action] | None
    """None: no violation within the search's bounds"""
    violates: str | None
    depth: int
    seconds: float
    topology: str | None
    grains: int
    method: str
    """how it was searched, e.g. 'bounded model checking from Init'"""
    tag: str
    """the method in a file name: bmc, bfs"""
    power_lost: bool = False
    """the last action is cut by a power loss: the trace replays through `pitmirror power-loss`"""


@dataclass(frozen=True)
class DemoRequest:
    backend: str
    grains: int
    grain_size: int
    seconds: float
    seed: int
    topology: str | None
    interval: float


@dataclass
class DemoReport:
    consistent: bool
    lines: list[str]
    """what a person reads after the live view (rich markup)"""
    doc: dict[str, object] = field(default_factory=dict)
    """the same as one JSON document"""


StatusView = Callable[[], Table]
"""The engine's status as a table, built only when someone looks."""


class DemoRunner(Protocol):
    def __call__(self, request: DemoRequest, show: Callable[[StatusView], None]) -> DemoReport:
        """Run the demo; `show` is called with the status view after every engine tick."""
        ...


@dataclass(frozen=True)
class Design:
    model: DesignModel
    short: str
    """one letter for tables: A, B, ..."""
    title: str
    default_grains: int
    """grains of a run unless told: of the volume, or of each object where there are topologies"""
    default_topology: str | None
    """the demo's topology unless told"""
    volume_layout: Callable[[str | None, int], VolumeLayout]
    lockstep: LockstepFactory
    machine: MachineFactory
    runner: RunnerSpec
    """the design's real-time runner, bound to an engine and acting through a given `apply`,
    and what the model says its status must show"""
    property_runs: tuple[PropertyRun, ...]
    encoding: Encoding
    roles_bridge: Encoding
    """the lemmas the roles of a pair (model/roles_rules.py) assume of the design's cycle, each
    implied by its invariant (proofs/<design>_roles.py)"""
    roles_world: RolesWorldFactory
    """the design's two hosts under the roles' commands, on the volumes of its layout (design
    B: topology single) and a state folder, under the roles' options
    (harness/<design>/roles_world.py)"""
    roles_probe: Callable[[SiteSettings], SiteProbe]
    """what the roles' lockstep reads and runs at a served site, given the site's settings"""
    roles_hosts: Callable[[int], ProcessHosts]
    """the pair of a given number of grains as two daemons' configs (the roles' two-process
    lockstep)"""
    reach_violation: Callable[[DesignOptions, frozenset[str]], Reached]
    """a shortest-found path from Init to a goal violation, for a design the proof refutes;
    given the conjuncts of the invariant the proof found broken, which a search may aim at"""
    demo: DemoRunner
    power_loss: PowerLossFactory
    """power-loss exploration of the design's engine (harness/power_loss.py)"""
    small_worlds: Callable[[DesignOptions], list[tuple[str, ModelState]]]
    """small configurations explored to their end to compare a design change with the
    unchanged design (harness/variant.py): a label and the initial state under the options"""

    @property
    def name(self) -> str:
        return self.model.name
