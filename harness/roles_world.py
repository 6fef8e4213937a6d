"""A design's two hosts under the roles' commands: the engine the daemons run, stepped by the
roles model's actions (model/roles.py) so the lockstep (harness/roles_lockstep.py) can compare
them after each.  This module is what both designs share; each design's world
(harness/<design>/roles_world.py) builds its sites and runs its cycle.

Each host is what a daemon holds: its configured volumes, its state folder (journal, role
record, dirty log), its role record of the pair (node/roles.py) and, while up, the design's
site served as the daemon serves it.  The commands are node/turns.py's steps, the ones the
daemon runs; a crash armed with `CrashSite(site, after_writes=n)` cuts a command after the
host's n-th step, as the model cuts a plan after the site's n-th write.  What the model sees as
one action the engine does as its daemons would: a commit runs the cycle until every write so
far is committed; a drain merges what the target holds beside its image.

A switch's steps are the model's writes but for those only a later record makes seen (a turn's
journal, a dirty log dropped: `turns.UNSEEN`), so a crash cuts them where the model cuts its
plan.  Left to other checks: a crash inside the design's own actions (its power-loss
exploration), and a crash inside a resync's turns (the engine turns the kept site first and
copies after both joined, where the model copies first: the world refuses to cut them, `Uncut`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from pitmirror.harness.grains import decode_grain, grain_bytes
from pitmirror.harness.roles_actions import RolesActions, Uncut
from pitmirror.impl.regions import Region
from pitmirror.impl.roles import OUTDATED, PRIMARY, SECONDARY, RoleRecord, Roles
from pitmirror.impl.site import EngineRefused
from pitmirror.impl.volumes import Volume
from pitmirror.model.actions import (
    Action,
    HostWrite,
)
from pitmirror.model.roles import Options
from pitmirror.node import turns
from pitmirror.node.roles import PairRoles
from pitmirror.node.served import Served

CYCLE_TICKS = 10_000
"""a cycle that has not committed everything after this many ticks is stuck: a defect"""


@dataclass(frozen=True)
class HostView:
    """What one host holds, in the roles model's terms."""

    up: bool
    record: RoleRecord
    image: tuple[int, ...]
    """the seeds of the volume the host reads there, or would once promoted"""
    pending: frozenset[int]
    """grains whose committed value is held beside the image (design A's target map, design B's
    complete and merging deltas)"""
    recovered: tuple[int, ...]
    """the image with its pending grains from where they are held"""


class RolesDoor(Protocol):
    """What the lockstep steps and reads: a design's two hosts in this process (`RolesWorld`)
    or two daemons in two (harness/roles_processes.py)."""

    grains: int
    options: Options

    @property
    def sites(self) -> tuple[str, str]: ...

    def views(self) -> dict[str, HostView]: ...

    def apply(self, action: Action) -> None:
        """EngineRefused when a daemon refuses it, Uncut when the world cannot take it."""
        ...

    def close(self) -> None: ...


Seen = tuple[tuple[int, ...], frozenset[int], tuple[int, ...]]
"""a host's image, pending grains and recovered image (HostView's data)"""


class SiteProbe(Protocol):
    """What the roles' lockstep reads and runs at one served site of a design's pair, in
    whichever process serves it: this one (the design's world) or a daemon's
    (harness/roles_site.py)."""

    ticks_target: bool
    """the mirror's target takes part in a commit (its ticks after the source's)"""
    after_a_point: bool
    """`committed` holds only right after a tick in which the source took a point (design A:
    a copy finished and not committed yet looks the same)"""

    def seen(self, served: Served) -> Seen: ...

    def point(self, served: Served) -> int:
        """At the source: the number of the newest point it took."""
        ...

    def committed(self, served: Served) -> bool:
        """At the source: a point holding every write so far is committed."""
        ...

    def drain(self, served: Served, extent: range) -> None:
        """At the target: what it holds beside its image, moved into it (at least `extent`)."""
        ...


@dataclass(frozen=True)
class ProcessHosts:
    """A design's pair as two daemons' configs (the roles' two-process lockstep,
    harness/roles_processes.py)."""

    sites: tuple[str, str]
    """the first is the pair's first primary"""
    pair: str
    volumes: dict[str, dict[str, int]]
    """each site's volumes: name and grains"""
    header: str
    """the design's own lines of a site's config, before its tables"""
    first: int
    """the host door's grain of the pair's grain 0"""
    probe: SiteProbe
    """what the daemons' sites answer the lockstep with (its commit's flags, here)"""


def stored_record(state_dir: Path, pair: str, first: bool) -> RoleRecord:
    """The role record a daemon that is down left in its state folder (what it reads when it
    starts)."""
    roles = PairRoles(state_dir, {pair: first})
    try:
        return roles.books[pair].record
    finally:
        roles.close()


def seeds(volume: Volume | Region) -> tuple[int, ...]:
    return tuple(decode_grain(volume.read_grains(g), g) for g in range(volume.grain_count))


class Host:
    """One daemon's volumes, state folder, role record and, while up, its served site."""

    def __init__(self, world: RolesWorld, name: str, first: bool, state_dir: Path,
                 volumes: dict[str, Volume]) -> None:  # fmt: skip
        self.world, self.name, self.first, self.state_dir = world, name, first, state_dir
        self.volumes = volumes
        state_dir.mkdir(parents=True)
        self.roles: PairRoles | None = None
        self.served: Served | None = None

    @property
    def up(self) -> bool:
        return self.served is not None

    @property
    def book(self) -> Roles:
        assert self.roles is not None, f"the {self.name} host is down"
        return self.roles.books[self.world.pair]

    def record(self) -> RoleRecord:
        """The role record, from the file when the host is down (what a restart reads)."""
        if self.roles is not None:
            return self.book.record
        return stored_record(self.state_dir, self.world.pair, self.first)

    def start(self) -> None:
        """What a daemon does at start: the record read, the site built from its journal, a
        promoted copy rolled again and served."""
        pair = self.world.pair
        roles = self.roles = PairRoles(self.state_dir, {pair: self.first})
        served = self.world.build(self)
        served.host_refusal = lambda grain: roles.host_refusal(served.pair_of(grain))
        served.apart = roles.apart_pair
        self.served = served
        if roles.books[pair].writable and not served.serves_host(pair):
            turns.restarted_primary(served, roles.dirty_log(pair), self.world.options, pair)
        turns.note_points(served, roles)

    def stop(self) -> None:
        """The process is gone: nothing volatile is kept (the dirty logs' files closed)."""
        if self.roles is not None:
            self.roles.close()
        self.roles, self.served = None, None


class RolesWorld(RolesActions[Host]):
    """A design's pair on two hosts, stepped by the roles model's actions (the dispatch:
    harness/roles_actions.py).  A design's world names its hosts (the first starts primary),
    its pair, and builds and runs its sites."""

    pair = ""
    """the pair's name in the role records (design A's one pair, design B's group)"""
    cuts_switch = True

    def __init__(self, hosts: dict[str, dict[str, Volume]], workdir: Path,
                 options: Options | None = None) -> None:  # fmt: skip
        self.options = options or Options()
        self.link_up = True
        self.now = 0.0
        self.hosts = {name: Host(self, name, i == 0, workdir / name, volumes)
                      for i, (name, volumes) in enumerate(hosts.items())}  # fmt: skip
        self.armed = None
        self.resync_cut: tuple[str, int] | None = None
        """a power loss inside the next resync, at this host after this many of its steps (not
        the model's: see `resync`)"""
        self.cut_before_unseen = False
        """an armed crash cuts a command right after the model's write, before the steps
        that only a later record makes seen (else after them)"""

    def begin(self) -> None:
        """Both daemons started, and the mirror's first full copy made: where the model
        starts, both images equal and committed."""
        for host in self.hosts.values():
            host.start()
        self.meet()
        self.commit_all()
        self.drain(range(self.grains))

    def close(self) -> None:
        """Both hosts stopped (their dirty logs' files closed)."""
        for host in self.hosts.values():
            host.stop()

    def clock(self) -> float:
        self.now += 1.0
        return self.now

    def views(self) -> dict[str, HostView]:
        return {name: self.view(host) for name, host in self.hosts.items()}

    def records(self) -> dict[str, RoleRecord]:
        return {name: host.record() for name, host in self.hosts.items()}

    def apply(self, action: Action) -> None:
        """The action; then, as a daemon after each engine call, a resynchronized copy that now
        holds a point of its primary marked consistent."""
        try:
            super().apply(action)
        finally:
            for host in self.hosts.values():
                if host.served is not None and host.roles is not None:
                    turns.note_points(host.served, host.roles)

    # ---- what each design says -----------------------------------------------------------

    grains: int
    """the pair's volume, in grains"""

    def build(self, host: Host) -> Served:
        """The design's site the host runs now, built and served as the daemon does."""
        raise NotImplementedError

    def view(self, host: Host) -> HostView:
        raise NotImplementedError

    def hear(self) -> None:
        """Both up and linked: what each site says of itself in its HELLO, heard."""

    def start(self, host: Host) -> turns.StartReversed:
        """The design's resync start of the pair at `host` (node/site.py `start_reversed`)."""
        raise Uncut("this design's pairs do not turn")

    def promoted_copy(self, host: Host) -> bool:
        """The host writes the pair's copy at `host` (a forced promote made it the host's)."""
        raise NotImplementedError

    def host_grain(self, grain: int) -> int:
        """The host door's grain of the pair's grain `grain`."""
        return grain

    # ---- the actions, as the daemons take them -------------------------------------------

    def sends(self, host: Host) -> bool:
        assert host.served is not None
        return host.served.sends(self.pair)

    def synchronized(self, host: Host) -> bool:
        assert host.served is not None and host.roles is not None
        return not (turns.changed(host.served, host.roles, self.pair)
                    or host.served.cached_grains())  # fmt: skip

    def draining(self, host: Host) -> bool:
        assert host.served is not None
        return host.served.draining(self.pair)

    def switch(self, host: Host, peer: Host, demoted: RoleRecord) -> None:
        """The take-over here, then the demoted primary joining; an armed crash may cut either
        (the model's writes: the epoch, the roll and the role here, the join there).  Cut
        here, the peer never hears of it and stays demoted; cut there, this site starts again
        as the primary it became."""
        assert host.served is not None and host.roles is not None and peer.roles is not None
        take = turns.take_over(
            host.served,
            host.roles,
            demoted.known,
            self.start(host),
            host.state_dir,
            self.grains,
            set(),
            self.options,
            self.pair,
        )
        if not self.steps(host, take):
            return
        join = turns.resync_target(peer.roles, host.book.record, self.start(peer),
                                   peer.state_dir, self.grains, self.pair,
                                   consistent=True)  # fmt: skip
        self.restart(*([host, peer] if self.steps(peer, join) else [host]))

    def resync(self, host: Host, peer: Host) -> None:
        """The kept site's turn, then this one's; with `resync_cut`, a power loss after that
        many steps at that host, and what an operator does then: the hosts started again and
        the resync repeated while this site has not joined (the model sees one uncut resync:
        a crash inside it must end where the uncut one does)."""
        served, source = host.served, peer.served
        assert served is not None and source is not None
        assert host.roles is not None and peer.roles is not None
        asked = turns.changed(served, host.roles, self.pair)
        kept = turns.resync_source(source, peer.roles, asked, self.start(peer), peer.state_dir,
                                   self.grains, self.options, self.pair)  # fmt: skip
        if not self._cut(peer, kept):
            self._resync_again(host, peer)
            return
        joined = turns.resync_target(host.roles, peer.book.record, self.start(host),
                                     host.state_dir, self.grains, self.pair)  # fmt: skip
        if not self._cut(host, joined):
            self._resync_again(host, peer)
            return
        self.restart(host, peer)

    def _cut(self, host: Host, steps: list[turns.Step]) -> bool:
        """The steps, cut after `resync_cut`'s count of them at `host`; whether all ran."""
        for done, (_, step) in enumerate(steps, start=1):
            step()
            if self.resync_cut == (host.name, done):
                self.resync_cut = None
                host.stop()
                return False
        return True

    def _resync_again(self, host: Host, peer: Host) -> None:
        """After a cut resync: both daemons started again (the one not cut had turned, or
        waits for an answer that never comes and is started again by its operator), and the
        resync repeated unless this site joined."""
        self.restart(*[h for h in (host, peer) if h.up])
        for crashed in [h for h in (host, peer) if not h.up]:
            crashed.start()
        self.meet()
        record = host.book.record
        if record.role == OUTDATED or record.split:
            self.resync(host, peer)

    def demote(self, host: Host) -> None:
        if host.book.record.role != PRIMARY:
            raise EngineRefused(f"the {host.name} site is not primary")
        self.steps(host, [("record", host.book.demote)])

    def link(self, up: bool) -> None:
        self.link_up = up
        self.meet()

    def crash(self, host: Host) -> None:
        host.stop()

    def arm(self, host: Host, after: int) -> None:
        self.armed = (host.name, after)

    def recover(self, host: Host) -> None:
        host.start()
        self.meet()

    def steps(self, host: Host, steps: list[turns.Step]) -> bool:
        """The command's steps at `host`, cut after the armed crash's count of the model's
        writes (a step in `turns.UNSEEN` is none: the cut comes after those that follow the
        last write, or before them with `cut_before_unseen`); whether every step ran."""
        cut = False
        for name, step in steps:
            if cut and (name not in turns.UNSEEN or self.cut_before_unseen):
                break
            step()
            if name in turns.UNSEEN or self.armed is None or self.armed[0] != host.name:
                continue
            left = self.armed[1] - 1
            self.armed = None if left == 0 else (host.name, left)
            cut = left == 0
        if cut:
            host.stop()
        return not cut

    def meet(self) -> None:
        """Both up and linked: each host meets the record the other's HELLO carries, and
        hears what the other's site says."""
        if not self.linked():
            return
        first, second = self.hosts.values()
        assert first.roles is not None and second.roles is not None
        hellos = {first.name: first.roles.hello(), second.name: second.roles.hello()}
        first.roles.meet(hellos[second.name])
        second.roles.meet(hellos[first.name])
        self.hear()

    def host_write(self, host: Host, action: HostWrite) -> None:
        served, roles = host.served, host.roles
        assert served is not None and roles is not None
        grain = self.host_grain(action.grain)
        data = grain_bytes(action.data, action.grain, served.grain_size)
        if (why := roles.host_refusal(self.pair)) is not None:
            raise EngineRefused(why)
        if not served.serves_host(self.pair):
            raise EngineRefused(f"the {host.name} site has no host door")
        if self.promoted_copy(host):  # the roles' host write: tracked dirty, then written
            dirty, write = roles.dirty_log(self.pair), served.host_write
            self.steps(host, [("dirty", lambda: dirty.add(grain, 1)),
                              ("image", lambda: turns.void(write(grain, data)))])  # fmt: skip
            return
        self.refuse_uncut(host)
        served.host_write(grain, data)

    def force_promote(self, host: Host) -> None:
        record, served, roles = host.book.record, host.served, host.roles
        assert served is not None and roles is not None
        if record.role != SECONDARY or record.split:
            raise EngineRefused(f"the {host.name} site is {record.role}"
                                + (", in a split brain" if record.split else ""))  # fmt: skip
        if self.linked():
            raise EngineRefused("the peer is reachable")
        if (why := turns.why_not_promotable(served, host.book, self.pair)) is not None:
            raise EngineRefused(why)
        if self.steps(host, turns.force_promote(served, host.book, self.options, self.pair)):
            served.serve_host(roles.dirty_log(self.pair), self.pair)

    def restart(self, *hosts: Host) -> None:
        """The daemons stop once turned and start again as the other site."""
        for host in hosts:
            host.stop()
        for host in hosts:
            host.start()
        self.meet()
