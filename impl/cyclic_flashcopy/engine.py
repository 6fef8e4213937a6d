"""Design A's engine: two sites on real volumes, a link, and their cycle controllers.

Deterministic and steppable: `apply(action)` sends exactly one event, named as the action, to
the machine that owns it (local cycle, remote service, link), whose transition callback does
the work; nothing runs in between.  No clock, thread or randomness is reached for; the runner
(impl/cyclic_flashcopy/runner.py) drives the same sites with batched, coalesced work for
real-time use.

`observe()` reads everything back from the volumes (decoding grains, through the injected
`seeds` reader: every grain, or a cache that re-reads what was written since) and the sites'
metadata — from the journal when a site is down — so the harness compares what is durable,
not what the engine believes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from statemachine import StateMachine
from statemachine.exceptions import TransitionNotAllowed

from pitmirror.impl.cyclic_flashcopy.controllers import LocalCycle, RemoteService
from pitmirror.impl.cyclic_flashcopy.sites import LocalSite, RemoteSite, lost_commit
from pitmirror.impl.faults import CrashInjector, SiteCrashed
from pitmirror.impl.grains import decode_grain, grain_bytes
from pitmirror.impl.journal import COMPACT_EVERY, Journal, JournalError
from pitmirror.impl.link import InProcessLink, LinkService
from pitmirror.impl.seeds import SeedReader
from pitmirror.impl.site import EngineInvariantBroken, EngineRefused
from pitmirror.impl.volumes import Volume
from pitmirror.model.actions import (
    SITES,
    Action,
    CommitPoint,
    CopyGrain,
    CrashSite,
    DrainTarget,
    HostRead,
    HostWrite,
    LinkDown,
    LinkUp,
    Recover,
    ResyncGrain,
    action_name,
)
from pitmirror.model.cyclic_flashcopy import Options

VOLUME_NAMES = ("source", "i1", "i2", "target")


def volume_layout(grains: int) -> tuple[dict[str, int], frozenset[str]]:
    """Every volume to create (name: grain count), and those that must be regular files."""
    return dict.fromkeys(VOLUME_NAMES, grains), frozenset()


@dataclass(frozen=True)
class Observation:
    """What the engine's durable state says, in the model's field names."""

    source: tuple[int, ...]
    i1: tuple[int, ...]
    i2: tuple[int, ...]
    target: tuple[int, ...]
    copy_map: frozenset[int]
    future_map: frozenset[int]
    out_of_sync: frozenset[int]
    received_map: frozenset[int]
    target_map: frozenset[int]
    cycle: int
    committed: int
    link_up: bool
    local_up: bool
    remote_up: bool
    recoverable: tuple[int, ...]
    local_phase: str
    remote_phase: str


class FlashCopyEngine:
    """Design A on four volumes named source, i1, i2, target; metadata under `workdir`."""

    def __init__(
        self,
        volumes: dict[str, Volume],
        workdir: Path,
        options: Options,
        self_check: bool = True,
        seeds: SeedReader | None = None,
        compact_every: int = COMPACT_EVERY,
    ) -> None:
        missing = [n for n in VOLUME_NAMES if n not in volumes]
        if missing:
            raise ValueError(f"missing volume(s): {', '.join(missing)}")
        sizes = {(v.grain_count, v.grain_size) for v in volumes.values()}
        if len(sizes) != 1:
            raise ValueError("all four volumes must have the same grain count and grain size")
        ((self.grain_count, self.grain_size),) = sizes
        self.volumes = volumes
        self.options = options
        self.injector = CrashInjector()
        n = self.grain_count
        self.remote = RemoteSite(
            volumes["i2"],
            volumes["target"],
            Journal(workdir, "remote", RemoteSite.initial_meta(n), compact_every),
            self.injector,
            options,
        )
        self.link = InProcessLink(self.remote)
        self.local = LocalSite(
            volumes["source"],
            volumes["i1"],
            Journal(workdir, "local", LocalSite.initial_meta(n), compact_every),
            self.injector,
            options,
            self.link,
        )
        self.remote.start()
        self.local.start()
        self.local_cycle = LocalCycle(self.local)
        self.remote_service = RemoteService(self.remote)
        self.link_service = LinkService(self.link.set_up)
        self.self_check = self_check
        """assert the structural invariants after every action (tests, verify); off: speed"""
        self.seeds = seeds or SeedReader()

    def _machine(self, site: str) -> LocalCycle | RemoteService:
        return self.local_cycle if site == "local" else self.remote_service

    def apply(self, action: Action) -> None:
        """Send one action's event to the machine that owns it; a crash it triggers is absorbed
        (the site goes down)."""
        self.local_cycle.last_read = None
        try:
            machine, arguments = self._route(action)
            machine.send(action_name(action), **arguments)
        except SiteCrashed as crash:
            self._machine(crash.site).send("CrashSite")
        except TransitionNotAllowed as refused:
            raise EngineRefused(
                f"the engine refused {action_name(action)} in phase "
                f"{self.local_cycle.configuration_values}: {refused}"
            ) from refused
        self.local_cycle.send("Settle")
        if isinstance(action, Recover) and self.local.up and self.remote.up:
            self.check_journals_agree()
        if self.self_check:
            self.check_structure()

    def check_journals_agree(self) -> None:
        """At a restart: JournalError when one site's journal lost a record the other site
        already acted on (a power loss dropped a record that was never synced)."""
        lost = lost_commit(self.local.number("cycle"), self.remote.number("committed"))
        if lost:
            raise JournalError(lost)

    def check_structure(self) -> None:
        """The invariants the engine keeps by construction, checked where they would break:
        raises EngineInvariantBroken.  Settle derives the phase from the maps, so after every
        action the local phase agrees with them; a grain is never both still to copy and out
        of sync (a copy clears one bit before it may set the other)."""
        if self.local.up:
            copy_map, out_of_sync = self.local.map("copy_map"), self.local.map("out_of_sync")
            phase = self.local_cycle.current_state_value
            both = copy_map.grains() & out_of_sync.grains()
            if both:
                raise EngineInvariantBroken(f"grains {sorted(both)} are to copy and out of sync")
            expected = {
                "copying": bool(copy_map),
                "resyncing": not copy_map and bool(out_of_sync),
                "ready": not copy_map and not out_of_sync,
            }
            if not expected.get(phase, True):
                raise EngineInvariantBroken(
                    f"local phase {phase} with {len(copy_map)} grains to copy and "
                    f"{len(out_of_sync)} out of sync"
                )
        if self.local.up != (self.local_cycle.current_state_value != "down"):
            raise EngineInvariantBroken("the local site's state and its controller disagree")
        if self.remote.up != (self.remote_service.current_state_value != "down"):
            raise EngineInvariantBroken("the remote site's state and its controller disagree")

    def _route(self, action: Action) -> tuple[StateMachine, dict[str, Any]]:
        """The machine whose event the action is, and the event's arguments."""
        arguments = dataclasses.asdict(action)
        match action:
            case HostWrite(grain=g, data=seed):
                return self.local_cycle, {"grain": g, "data": grain_bytes(seed, g, self.grain_size)}
            case HostRead() | CopyGrain() | ResyncGrain() | CommitPoint():
                return self.local_cycle, arguments
            case DrainTarget():
                return self.remote_service, arguments
            case LinkDown(link="") | LinkUp(link=""):  # design A has one, unnamed link
                return self.link_service, {}
            case CrashSite(site=site) | Recover(site=site) if site in SITES:
                return self._machine(site), arguments
        raise EngineRefused(f"{action_name(action)} is not an action of design A")

    def last_read(self) -> tuple[int, int] | None:
        """The grain and decoded seed of the newest host read."""
        read = self.local_cycle.last_read
        return None if read is None else (read[0], decode_grain(read[1], read[0]))

    def observe(self) -> Observation:
        local, remote = self.local.durable_meta(), self.remote.durable_meta()

        def grains(meta: dict[str, object], name: str) -> frozenset[int]:
            value = meta[name]
            return value.grains()  # type: ignore[attr-defined, no-any-return]

        seeds = self.seeds.read
        return Observation(
            source=seeds(self.volumes["source"]),
            i1=seeds(self.volumes["i1"]),
            i2=seeds(self.volumes["i2"]),
            target=seeds(self.volumes["target"]),
            copy_map=grains(local, "copy_map"),  # type: ignore[arg-type]
            future_map=grains(local, "future_map"),  # type: ignore[arg-type]
            out_of_sync=grains(local, "out_of_sync"),  # type: ignore[arg-type]
            received_map=grains(remote, "received_map"),  # type: ignore[arg-type]
            target_map=grains(remote, "target_map"),  # type: ignore[arg-type]
            cycle=int(local["cycle"]),  # type: ignore[arg-type]
            committed=int(remote["committed"]),  # type: ignore[arg-type]
            link_up=self.link.up,
            local_up=self.local.up,
            remote_up=self.remote.up,
            recoverable=self.remote.recoverable_seeds(self.seeds),
            local_phase=self.local_cycle.current_state_value,
            remote_phase=self.remote_service.current_state_value,
        )
