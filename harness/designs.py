"""The registry of designs, and what a run is about: a design, its options, its topology.

A new design adds its package (model, engine, proofs, harness) and one line to `DESIGNS`;
nothing else in the harness names a design.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pitmirror.harness.backends import VolumeSet
from pitmirror.harness.cyclic_flashcopy.design import DESIGN as CYCLIC_FLASHCOPY
from pitmirror.harness.design import Design
from pitmirror.harness.freeze_overlay.design import DESIGN as FREEZE_OVERLAY
from pitmirror.harness.lockstep import Stepper
from pitmirror.harness.transport_mutants import TRANSPORTS, transport_mutant
from pitmirror.impl.volumes import Volume
from pitmirror.model.design import ModelState
from pitmirror.model.options import DesignOptions

DESIGNS: dict[str, Design] = {design.name: design for design in (CYCLIC_FLASHCOPY, FREEZE_OVERLAY)}


def safe_configurations() -> list[tuple[Design, DesignOptions]]:
    """Every safe configuration a property run runs, each once: the defaults, and each other
    safe choice (design A's claim 5, design B's stricter order)."""
    found: list[tuple[Design, DesignOptions]] = []
    for design in DESIGNS.values():
        safe = [design.model.options({})]
        for run in design.property_runs:  # each configuration once, however many runs use it
            if run.options not in safe:
                safe.append(run.options)
        found += [(design, options) for options in safe]
    return found


class UnknownDesign(ValueError):
    """A name that is no design of the registry."""


def design_named(name: str) -> Design:
    try:
        return DESIGNS[name]
    except KeyError:
        known = ", ".join(f"{n} ({d.short})" for n, d in DESIGNS.items())
        raise UnknownDesign(f"unknown design {name!r} (known: {known})") from None


def design_of(options: DesignOptions) -> Design:
    """The design whose options these are."""
    for design in DESIGNS.values():
        if type(design.model.options({})) is type(options):
            return design
    raise UnknownDesign(f"{type(options).__qualname__} are no registered design's options")


def mutant_name(options: DesignOptions) -> str | None:
    """The catalogue name of these options, if they are a catalogued mutant."""
    model = design_of(options).model
    catalogue = {**model.unsafe_options, **model.power_loss_options}.items()
    return next((name for name, mutant in catalogue if mutant == options), None)


def options_label(options: DesignOptions) -> str:
    """The mutant's catalogue name, or the changed fields (`map_rule=update`), or both (a
    mutant in the stricter order: `complete-unflushed,pipelined=false`), or `safe`."""
    if name := mutant_name(options):
        return name
    changed = options.non_default()
    model = design_of(options).model
    for mutant, mutated in {**model.unsafe_options, **model.power_loss_options}.items():
        fields = mutated.non_default()
        if fields and fields.items() <= changed.items():
            rest = {k: v for k, v in changed.items() if k not in fields}
            words = [f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in rest.items()]
            return ",".join([mutant, *words])
    variant = changed.pop("variant", "")
    words = [f"variant-{Path(variant).stem}"] if variant else []
    words += [f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in changed.items()]
    return ",".join(words) or "safe"


@dataclass(frozen=True)
class Subject:
    """A design under given options, on a topology (where it has them) of `grains` grains
    (of the volume, or of each object)."""

    design_name: str
    options: DesignOptions
    topology: str | None = None
    grains: int = 4
    grain_size: int = 4096
    transport: str | None = None
    """None: the sites in one process; tcp or tcp:<transport mutant>: the remote site in a
    child process over TCP (harness/transport_mutants.py)"""

    def __post_init__(self) -> None:
        design = self.design  # an unknown name fails here, once
        if self.transport is not None and self.transport not in TRANSPORTS:
            raise ValueError(f"unknown transport {self.transport!r} (known: "
                             f"{', '.join(TRANSPORTS)})")  # fmt: skip
        if design.model.topologies and self.topology not in design.model.topologies:
            known = ", ".join(design.model.topologies)
            raise ValueError(f"unknown topology {self.topology!r} (known: {known})")
        if not design.model.topologies and self.topology is not None:
            raise ValueError(f"design {design.short} ({design.name}) has no topologies")
        design.model.initial(self.options, self.topology, self.grains)  # options of the design

    @classmethod
    def of(cls, options: DesignOptions, topology: str | None = None, grains: int | None = None,
           grain_size: int = 4096) -> Subject:  # fmt: skip
        """The options' design; without a topology, the one its mutant shows on."""
        design = design_of(options)
        if topology is None:
            topology = design.model.mutant_topology(options)
        return cls(design.name, options, topology, grains or design.default_grains, grain_size)

    @property
    def design(self) -> Design:
        return design_named(self.design_name)

    @property
    def address_space(self) -> int:
        return self.design.model.address_space(self.topology, self.grains)

    def initial(self) -> ModelState:
        return self.design.model.initial(self.options, self.topology, self.grains)

    def volume_set(self, backend: str) -> VolumeSet:
        layout, files = self.design.volume_layout(self.topology, self.grains)
        return VolumeSet(backend, self.grains, self.grain_size, layout, files)

    def lockstep(self, volumes: dict[str, Volume], workdir: Path) -> Stepper:
        return self.design.lockstep(self.options, self.topology, self.grains, volumes, workdir,
                                    self.transport)  # fmt: skip

    def mutant(self) -> str | None:
        """The catalogue name of these options, if they are a catalogued mutant."""
        return mutant_name(self.options)

    def label(self) -> str:
        """The mutant's catalogue name (a transport mutant's too), or the changed fields, or
        `safe`."""
        return transport_mutant(self.transport) or options_label(self.options)

    def title(self) -> str:
        where = f" on {self.topology}" if self.topology else ""
        over = " over TCP" if self.transport else ""
        return f"design {self.design.short}{where}{over}, {self.label()}"
