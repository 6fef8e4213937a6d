"""The roles model's actions at a pair's two hosts, written once for the worlds that take them:
the design's hosts in this process (harness/roles_world.py) and two daemons in two
(harness/roles_processes.py).  What both refuse before a host is asked is here; what each does
(a function call, or a request to a daemon) is theirs.

Refused here, as the daemons would refuse or could only answer by waiting: a commit while the
sites may not mirror; an orderly promote of a pair that is not synchronized (the primary waits
until it is) or whose primary is not demoted; a resync while the primary still drains (it
would refuse in its HELLO and the asking site wait for an answer).  An armed crash that would
cut the design's own actions or a resync's or switch's turns is not cut (`Uncut`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Generic, Protocol, TypeVar

from pitmirror.impl.roles import OUTDATED, SECONDARY, RoleRecord, why_apart
from pitmirror.impl.site import EngineRefused
from pitmirror.model.actions import (
    Action,
    CommitPoint,
    CrashSite,
    Demote,
    DrainTarget,
    HostWrite,
    LinkDown,
    LinkUp,
    Promote,
    Recover,
    Resync,
    describe,
)


class Uncut(Exception):
    """An armed crash would cut a plan the world does not cut (the design's own actions, a
    resync's or a switch's turns), or the design has no such command yet: nothing changed."""


class HostLike(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def up(self) -> bool: ...


H = TypeVar("H", bound=HostLike)


class RolesActions(Generic[H]):
    """The dispatch of the roles' actions to a world's two hosts."""

    hosts: Mapping[str, H]
    link_up: bool
    cuts_switch = False
    """an armed crash may cut the switch's records (where the world's cuts are the model's)"""
    armed: tuple[str, int] | None
    """(host, steps to let through) of a crash armed and not fired yet"""

    @property
    def sites(self) -> tuple[str, str]:
        first, second = self.hosts
        return first, second

    def other(self, host: H) -> H:
        return next(h for h in self.hosts.values() if h is not host)

    def linked(self) -> bool:
        return self.link_up and all(h.up for h in self.hosts.values())

    def _up(self, site: str) -> H:
        host = self.hosts[site]
        if not host.up:
            raise EngineRefused(f"the {site} site is down")
        return host

    def refuse_uncut(self, *hosts: H) -> None:
        if self.armed is not None and self.armed[0] in {h.name for h in hosts}:
            raise Uncut("an armed crash would cut a plan of the design's own actions or a "
                        "resync's turns: the world cuts only the roles' records")  # fmt: skip

    def apply(self, action: Action) -> None:
        """One action of the roles model, as the daemons would take it; EngineRefused when a
        daemon refuses it, Uncut when the world cannot take it here."""
        match action:
            case HostWrite():
                self.host_write(self._up(action.site or self.sites[0]), action)
            case CommitPoint():
                self.refuse_uncut(*self.hosts.values())
                self._refuse_unless_mirroring()
                self.commit_all()
            case DrainTarget(grain=grain, count=count):
                target = self.target()
                if not target.up:
                    raise EngineRefused("the mirror's target site is down")
                self.refuse_uncut(target)
                self.drain(range(grain, grain + count))
            case Promote(site=site, force=True):
                self.force_promote(self._up(site))
            case Promote(site=site):
                self._switch(self.hosts[site])
            case Demote(site=site):
                self.demote(self._up(site))
            case Resync(site=site):
                self._resync(self.hosts[site])
            case LinkDown():
                self.link(up=False)
            case LinkUp():
                self.link(up=True)
            case CrashSite(site=site, after_writes=0):
                self.crash(self._up(site))  # a crash armed there stays armed, as in the model
            case CrashSite(site=site, after_writes=after):
                self.arm(self._up(site), after)
            case Recover(site=site):
                host = self.hosts[site]
                if host.up:
                    raise EngineRefused(f"the {site} site is up")
                self.recover(host)
            case _:
                raise EngineRefused(f"{describe(action)} is no roles action")

    def _refuse_unless_mirroring(self) -> None:
        """What the daemons refuse at their HELLO, and a target that is no secondary."""
        if not self.linked():
            raise EngineRefused("the sites are not linked")
        records = self.records()
        first, second = records.values()
        if (why := why_apart(first, second)) is not None:
            raise EngineRefused(why)
        if records[self.target().name].role != SECONDARY:
            raise EngineRefused("the mirror's target is not a secondary")

    def _switch(self, host: H) -> None:
        """An orderly promote of this secondary, its primary demoted already: `reverse` at the
        demoted primary, the take-over here, the old primary joining; both daemons start
        again, the pair turned."""
        peer = self.other(host)
        if not self.linked():
            raise EngineRefused("the peer is unreachable: promote --force")
        records = self.records()
        mine, theirs = records[host.name], records[peer.name]
        if mine.role != SECONDARY or mine.split or self.sends(host):
            raise EngineRefused(f"the {host.name} site is not the mirror's secondary")
        if theirs.role != SECONDARY or theirs.epoch != mine.epoch or theirs.split:
            raise EngineRefused(f"the {peer.name} site is not demoted in this site's epoch")
        if not self.synchronized(peer):
            raise EngineRefused("the pair is not synchronized")
        if not self.cuts_switch:
            self.refuse_uncut(host, peer)
        self.switch(host, peer, theirs)

    def _resync(self, host: H) -> None:
        """`resync --discard-local` here: the primary turns (its journal the resync's start,
        copying this site's grains and its own), this site joins, both start again, and the
        cycle copies until this site holds the primary's image."""
        peer = self.other(host)
        if not self.linked():
            raise EngineRefused("the peer is unreachable")
        records = self.records()
        mine, theirs = records[host.name], records[peer.name]
        if not (mine.role == OUTDATED or mine.split):
            raise EngineRefused(f"the {host.name} site is neither outdated nor split")
        if theirs.role == OUTDATED:
            raise EngineRefused(f"the {peer.name} site is outdated too")
        if self.draining(peer):
            raise EngineRefused(f"the {peer.name} site still drains its last point")
        self.refuse_uncut(host, peer)
        self.resync(host, peer)
        self.commit_all()
        self.drain(range(self.grains))

    # ---- what each world does ----------------------------------------------------------------

    grains: int

    def records(self) -> dict[str, RoleRecord]:
        """Each host's role record (from its file when it is down)."""
        raise NotImplementedError

    def target(self) -> H:
        """The host the mirror copies to."""
        raise NotImplementedError

    def sends(self, host: H) -> bool:
        """The host's site sends the pair (the primary's, or demoted)."""
        raise NotImplementedError

    def synchronized(self, host: H) -> bool:
        """The sending host holds nothing the mirror does not."""
        raise NotImplementedError

    def draining(self, host: H) -> bool:
        raise NotImplementedError

    def host_write(self, host: H, action: HostWrite) -> None:
        raise NotImplementedError

    def commit_all(self) -> None:
        """The cycle run until a point holding every write so far is committed."""
        raise NotImplementedError

    def drain(self, extent: range) -> None:
        """What the mirror's target holds beside its image, moved into it (at least
        `extent`)."""
        raise NotImplementedError

    def force_promote(self, host: H) -> None:
        raise NotImplementedError

    def demote(self, host: H) -> None:
        raise NotImplementedError

    def switch(self, host: H, peer: H, demoted: RoleRecord) -> None:
        """The switch's turns, checked: `host` takes over from `peer`, demoted as `demoted`."""
        raise NotImplementedError

    def resync(self, host: H, peer: H) -> None:
        """The resync's turns, checked: `host`'s changes discarded, `peer` kept."""
        raise NotImplementedError

    def link(self, up: bool) -> None:
        raise NotImplementedError

    def crash(self, host: H) -> None:
        raise NotImplementedError

    def arm(self, host: H, after: int) -> None:
        raise NotImplementedError

    def recover(self, host: H) -> None:
        raise NotImplementedError
