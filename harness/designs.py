"""What a run is about: a design, its options, and (design B) a topology — and everything
that differs between the designs, in one place: volumes, lockstep, model, mutants."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from pitmirror.harness.backends import VolumeSet
from pitmirror.harness.cyclic_flashcopy.lockstep import Lockstep
from pitmirror.harness.freeze_overlay.lockstep import OverlayLockstep
from pitmirror.harness.lockstep import Stepper
from pitmirror.harness.traces import Trace
from pitmirror.impl.cyclic_flashcopy.engine import volume_layout as flashcopy_layout
from pitmirror.impl.freeze_overlay.layout import volume_layout as overlay_layout
from pitmirror.impl.volumes import Volume
from pitmirror.model import cyclic_flashcopy as design_a
from pitmirror.model import freeze_overlay as design_b

MODELS: dict[str, ModuleType] = {design_a.DESIGN: design_a, design_b.DESIGN: design_b}
SHORT = {design_a.DESIGN: "A", design_b.DESIGN: "B"}


@dataclass(frozen=True)
class Subject:
    design: str
    options: Any
    topology: str | None = None
    grains: int = 4  # design A: the volume; design B: each object
    grain_size: int = 4096

    @classmethod
    def of(cls, trace: Trace) -> Subject:
        return cls(trace.design, trace.options, trace.topology, trace.grains, trace.grain_size)

    @property
    def model(self) -> ModuleType:
        return MODELS[self.design]

    @property
    def unsafe_options(self) -> dict[str, Any]:
        return dict(self.model.UNSAFE_OPTIONS)

    def topology_spec(self) -> design_b.Topology:
        assert self.topology is not None
        return design_b.topology(self.topology, self.grains)

    def config(self) -> Any:
        if self.design == design_a.DESIGN:
            return design_a.Config(grains=self.grains)
        return design_b.Config(self.topology_spec())

    def initial(self) -> Any:
        return self.model.initial_state(self.config(), self.options)

    def volume_set(self, backend: str) -> VolumeSet:
        if self.design == design_a.DESIGN:
            layout, files = flashcopy_layout(self.grains)
        else:
            layout, files = overlay_layout(self.topology_spec())
        return VolumeSet(backend, self.grains, self.grain_size, layout, files)

    def lockstep(self, volumes: dict[str, Volume], workdir: Path) -> Stepper:
        if self.design == design_a.DESIGN:
            return Lockstep(volumes, workdir, self.options)
        return OverlayLockstep(self.topology_spec(), volumes, workdir, self.options)

    def label(self) -> str:
        """The mutant's catalogue name, or the changed fields, or `safe`."""
        for name, mutant in self.unsafe_options.items():
            if mutant == self.options:
                return str(name)
        changed = self.options.non_default()
        return ",".join(f"{k}={v}" for k, v in changed.items()) or "safe"

    def title(self) -> str:
        where = f" on {self.topology}" if self.topology else ""
        return f"design {SHORT[self.design]}{where}, {self.label()}"
