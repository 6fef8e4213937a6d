"""Design A's lockstep: the model and the engine on four volumes, compared after every action
field by field (volumes, maps, cycle, committed point, sites, link) and on the image the target
site recovers."""

from __future__ import annotations

from pathlib import Path

from pitmirror.harness.cyclic_flashcopy.mutants import is_mutant
from pitmirror.harness.cyclic_flashcopy.probes import probes
from pitmirror.harness.cyclic_flashcopy.tcp_world import FlashCopyTcpWorld
from pitmirror.harness.cyclic_flashcopy.world import FlashCopyWorld, Observation
from pitmirror.harness.grains import CorruptGrain
from pitmirror.harness.lockstep import LOCKSTEP_COMPACT_EVERY, LockstepBase
from pitmirror.harness.seeds import CachedSeeds, decode_seeds
from pitmirror.harness.transport_mutants import TcpPlan, tcp_plan
from pitmirror.impl.site import EngineRefused
from pitmirror.impl.volumes import Volume
from pitmirror.model import cyclic_flashcopy as design_a
from pitmirror.model.design import WrongDesign
from pitmirror.model.options import DesignOptions
from pitmirror.model.spec import image_diff

COMPARED_FIELDS = (
    "source",
    "i1",
    "i2",
    "target",
    "copy_map",
    "future_map",
    "out_of_sync",
    "received_map",
    "target_map",
    "cycle",
    "committed",
    "link_up",
    "local_up",
    "remote_up",
)


def _field_diff(name: str, engine: object, model: object) -> str:
    if isinstance(engine, tuple) and isinstance(model, tuple):
        return f"{name} differs: {image_diff(engine, model)} (engine vs model)"
    if isinstance(engine, frozenset) and isinstance(model, frozenset):
        return f"{name} is {sorted(engine)} in the engine, {sorted(model)} in the model"
    return f"{name} is {engine!r} in the engine, {model!r} in the model"


def divergence(observed: Observation, model: design_a.State) -> str | None:
    """The first field where the engine and the model disagree, in words."""
    for name in COMPARED_FIELDS:
        engine_value, model_value = getattr(observed, name), getattr(model, name)
        if engine_value != model_value:
            return _field_diff(name, engine_value, model_value)
    host_cache = tuple((g, model.cache[g]) for g in sorted(model.cached))
    if observed.host_cache != host_cache:
        return (f"the host's cache holds {list(observed.host_cache)} in the engine, "
                f"{list(host_cache)} in the model (grain, seed)")  # fmt: skip
    if observed.recoverable != design_a.recoverable_target(model):
        return _field_diff(
            "recoverable target image", observed.recoverable, design_a.recoverable_target(model)
        )
    return None


class Lockstep(LockstepBase):
    """Design A's model and engine side by side, from their initial states; with a TCP plan,
    the remote site in a child process over the network (harness/cyclic_flashcopy/tcp_world.py)."""

    refused = EngineRefused
    engine: FlashCopyWorld | FlashCopyTcpWorld

    def __init__(
        self,
        volumes: dict[str, Volume],
        workdir: Path,
        options: design_a.Options,
        tcp: TcpPlan | None = None,
    ) -> None:
        grains = next(iter(volumes.values())).grain_count
        self.model: design_a.State = design_a.initial_state(design_a.Config(grains=grains), options)
        if tcp is not None:
            if is_mutant(options):
                raise ValueError("design A's mutants run in one process; over TCP, the safe "
                                 "design and the transport mutants")  # fmt: skip
            self.engine = FlashCopyTcpWorld(volumes, workdir, options, tcp,
                                            compact_every=LOCKSTEP_COMPACT_EVERY)  # fmt: skip
        else:
            self.engine = FlashCopyWorld(
                volumes,
                workdir,
                options,
                seeds=CachedSeeds(list(volumes.values()), zeroed=True),
                compact_every=LOCKSTEP_COMPACT_EVERY,
            )
        self.index = 0
        self.probes = probes

    def position(self) -> tuple[int, int, str]:
        return self.model.cycle, self.model.committed, self.engine.local.phase

    def divergence(self) -> str | None:
        return divergence(self.engine.observe(), self.model)

    def failover_divergence(self) -> str | None:
        """The remote site's failover read (what `demo` digests), every byte decoded."""
        want = design_a.recoverable_target(self.model)
        image = self.engine.remote.recoverable_image()
        try:
            got = decode_seeds(image, self.engine.grain_size)
        except CorruptGrain as err:
            return f"the failover read is corrupt: {err}"
        if got == list(want):
            return None
        for grain, (seen, seed) in enumerate(zip(got, want, strict=True)):
            if seen != seed:
                return f"the failover read of grain {grain} holds seed {seen}, the model's {seed}"
        return None


def open_lockstep(
    options: DesignOptions,
    topology: str | None,
    grains: int,
    volumes: dict[str, Volume],
    workdir: Path,
    transport: str | None = None,
) -> Lockstep:
    if not isinstance(options, design_a.Options):
        raise WrongDesign(f"design A's lockstep was given {type(options).__qualname__}")
    return Lockstep(volumes, workdir, options, tcp_plan(transport))
