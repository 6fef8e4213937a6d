"""Design A's world for the harness: the two sites in one process, the in-process link between
them, the crash injector, and the seed read-back that `observe()` compares with the model.

Deterministic and steppable: `apply(action)` hands exactly one action of the vocabulary to the
site whose action it is (or to the link's controller), whose controller event does the work;
nothing runs in between.  A host write's seed becomes the grain's bytes here (the sites take
bytes), and a host read's bytes become a seed again.  A crash after some writes is armed here,
in the injector the sites report their writes to; a crash the injector raises is absorbed (the
site goes down).  `observe()` reads everything back from the volumes (decoding grains through
the injected `seeds` reader) and the sites' metadata — from the journal when a site is down —
so the harness compares what is durable, not what a site believes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from statemachine.exceptions import TransitionNotAllowed

from pitmirror.harness.cyclic_flashcopy.mutants import MutantLocalSite, MutantRemoteSite, is_mutant
from pitmirror.harness.faults import CrashInjector, SiteCrashed
from pitmirror.harness.grains import decode_grain
from pitmirror.harness.host_bytes import host_write_bytes
from pitmirror.harness.seeds import SeedReader
from pitmirror.harness.world import InProcessLink
from pitmirror.impl.cyclic_flashcopy.layout import VOLUME_NAMES
from pitmirror.impl.cyclic_flashcopy.local import FlashCopyLocalSite
from pitmirror.impl.cyclic_flashcopy.messages import MESSAGES
from pitmirror.impl.cyclic_flashcopy.remote import FlashCopyRemoteSite, lost_commit
from pitmirror.impl.journal import COMPACT_EVERY, Journal, JournalError
from pitmirror.impl.link import LinkService
from pitmirror.impl.site import EngineRefused
from pitmirror.impl.volumes import Volume
from pitmirror.model.actions import (
    Action,
    CrashSite,
    HostFlush,
    HostRead,
    HostWrite,
    Recover,
    describe,
)
from pitmirror.model.cyclic_flashcopy import Options
from pitmirror.model.cyclic_flashcopy_vocabulary import VOCABULARY, handling_site


@dataclass(frozen=True)
class Observation:
    """What the sites' durable state says, in the model's field names."""

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
    host_cache: tuple[tuple[int, int], ...]
    """(grain, seed) of every write in the local site's cache, by grain"""


def route(action: Action, link_service: LinkService) -> str | None:
    """The site an action is for (model/cyclic_flashcopy_vocabulary.py), or None when it was the
    link's, done here; EngineRefused when design A has no such action."""
    entry = VOCABULARY.entry(action)
    if entry is not None and entry.handler == "link":
        if getattr(action, "link", "") != "":  # design A has one, unnamed link
            raise EngineRefused(f"design A has one link: {describe(action)}")
        try:
            link_service.send(entry.name)
        except TransitionNotAllowed as refused:
            raise EngineRefused(f"the link refused {describe(action)}") from refused
        return None
    site = handling_site(action)
    if entry is None or site is None:
        raise EngineRefused(f"{describe(action)} is not an action of design A")
    return site


class FlashCopyWorld:
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
        # the safe design runs the product's own sites; a mutant, the harness's subclasses
        mutant = is_mutant(options)
        remote_site = MutantRemoteSite if mutant else FlashCopyRemoteSite
        local_site = MutantLocalSite if mutant else FlashCopyLocalSite
        self.remote: FlashCopyRemoteSite = remote_site(
            volumes["i2"],
            volumes["target"],
            Journal(workdir, "remote", FlashCopyRemoteSite.initial_meta(n), compact_every),
            options,
            self.injector.wrote,
        )
        self.link = InProcessLink(MESSAGES, self.remote)
        self.local: FlashCopyLocalSite = local_site(
            volumes["source"],
            volumes["i1"],
            Journal(workdir, "local", FlashCopyLocalSite.initial_meta(n), compact_every),
            options,
            self.link,
            self.injector.wrote,
        )
        self.link_service = LinkService(self.link.set_up)
        self.self_check = self_check
        """assert the structural invariants after every action (tests, verify); off: speed"""
        self.seeds = seeds or SeedReader()
        self._last_read: tuple[int, bytes] | None = None

    def _site(self, name: str) -> FlashCopyLocalSite | FlashCopyRemoteSite:
        return self.local if name == "local" else self.remote

    def apply(self, action: Action) -> None:
        """Hand one action to the site (or link) it belongs to; a crash it triggers is absorbed
        (the site goes down)."""
        self._last_read = None
        try:
            self._route(action)
        except SiteCrashed as crash:
            self._site(crash.site).apply(CrashSite(crash.site))
            if self.local.up:  # the cut action may have recorded before the crash
                self.local.settle()
        if isinstance(action, Recover) and self.local.up and self.remote.up:
            self.check_journals_agree()
        if self.self_check:
            self.check_structure()

    def _route(self, action: Action) -> None:
        """To the site the vocabulary names (model/cyclic_flashcopy_vocabulary.py), to the
        link's controller, or, for a crash after more writes, to the crash injector."""
        if isinstance(action, CrashSite) and self.injector.armed:
            raise EngineRefused(f"a crash is already armed: {describe(action)}")
        site = route(action, self.link_service)
        if site is None:
            return
        match action:
            case HostWrite(grain=grain, fua=fua):
                local = self.local
                local.host_write(grain, host_write_bytes(action, self.grain_size, local.host_read),
                                 fua)  # fmt: skip
            case HostFlush():
                self.local.host_flush()
            case HostRead(grain=grain):
                self._last_read = (grain, self.local.host_read(grain))
            case CrashSite(after_writes=after) if after:
                if not self._site(site).up:
                    raise EngineRefused(f"the {site} site is down: {describe(action)}")
                self.injector.arm(site, after)
            case _:
                self._site(site).apply(action)

    def check_journals_agree(self) -> None:
        """At a restart: JournalError when one site's journal lost a record the other site
        already acted on (a power loss dropped a record that was never synced)."""
        lost = lost_commit(self.local.local_meta().cycle, self.remote.remote_meta().committed)
        if lost:
            raise JournalError(lost)

    def check_structure(self) -> None:
        """Each site's structural invariants (EngineInvariantBroken)."""
        self.local.check_structure()
        self.remote.check_structure()

    def last_read(self) -> tuple[int, int] | None:
        """The grain and decoded seed of the newest host read."""
        read = self._last_read
        return None if read is None else (read[0], decode_grain(read[1], read[0]))

    def observe(self) -> Observation:
        return observe(self.local, self.remote, self.volumes, self.seeds, self.link.up,
                       self.remote.up, str(self.remote.service.current_state_value))  # fmt: skip


def observe(local_site: FlashCopyLocalSite, remote_site: FlashCopyRemoteSite,
            volumes: dict[str, Volume], seeds: SeedReader, link_up: bool, remote_up: bool,
            remote_phase: str) -> Observation:  # fmt: skip
    """What the sites' durable state says, in the model's field names (the remote read from its
    journal and volumes, whether it runs in this process or not)."""
    local = local_site.local_meta(durable=True)
    remote = remote_site.remote_meta(durable=True)
    read = seeds.read
    image, i2 = list(read(remote_site.target)), read(remote_site.i2)
    for g in remote_site.in_i2():  # the failover read, as grain seeds
        image[g] = i2[g]
    return Observation(
        source=read(volumes["source"]),
        i1=read(volumes["i1"]),
        i2=i2,
        target=read(volumes["target"]),
        copy_map=local.copy_map.grains(),
        future_map=local.future_map.grains(),
        out_of_sync=local.out_of_sync.grains(),
        received_map=remote.received_map.grains(),
        target_map=remote.target_map.grains(),
        cycle=local.cycle,
        committed=remote.committed,
        link_up=link_up,
        local_up=local_site.up,
        remote_up=remote_up,
        recoverable=tuple(image),
        local_phase=local_site.phase,
        remote_phase=remote_phase,
        host_cache=tuple(
            (g, decode_grain(data, g)) for g, data in sorted(local_site.cache.items())
        ),
    )
