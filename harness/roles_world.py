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

Left to other checks: a crash inside the design's own actions (its power-loss exploration), and
a crash inside a resync's or a switch's turns (their steps are not the model's records yet: the
world refuses to cut them, `Uncut`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pitmirror.harness.grains import decode_grain, grain_bytes
from pitmirror.impl.regions import Region
from pitmirror.impl.roles import OUTDATED, PRIMARY, SECONDARY, RoleRecord, Roles
from pitmirror.impl.site import EngineRefused
from pitmirror.impl.volumes import Volume
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
from pitmirror.model.roles import Options
from pitmirror.node import turns
from pitmirror.node.roles import PairRoles
from pitmirror.node.served import Served

CYCLE_TICKS = 10_000
"""a cycle that has not committed everything after this many ticks is stuck: a defect"""


class Uncut(Exception):
    """An armed crash would cut a plan the world does not cut (the design's own actions, a
    resync's or a switch's turns), or the design has no such command yet: nothing changed."""


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
        return (
            PairRoles(self.state_dir, {self.world.pair: self.first}).books[self.world.pair].record
        )

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

    def stop(self) -> None:
        """The process is gone: nothing volatile is kept (the dirty logs' files closed)."""
        if self.roles is not None:
            self.roles.close()
        self.roles, self.served = None, None


class RolesWorld:
    """A design's pair on two hosts, stepped by the roles model's actions.  A design's world
    names its hosts (the first starts primary), its pair, and builds and runs its sites."""

    pair = ""
    """the pair's name in the role records (design A's one pair, design B's group)"""

    def __init__(self, hosts: dict[str, dict[str, Volume]], workdir: Path,
                 options: Options | None = None) -> None:  # fmt: skip
        self.options = options or Options()
        self.link_up = True
        self.now = 0.0
        self.hosts = {name: Host(self, name, i == 0, workdir / name, volumes)
                      for i, (name, volumes) in enumerate(hosts.items())}  # fmt: skip
        self.armed: tuple[str, int] | None = None
        """(host, steps to let through) of a crash armed and not fired yet"""

    def begin(self) -> None:
        """Both daemons started, and the mirror's first full copy made: where the model
        starts, both images equal and committed."""
        for host in self.hosts.values():
            host.start()
        self.meet()
        self.commit_all()
        self.drain(range(self.grains))

    @property
    def sites(self) -> tuple[str, str]:
        first, second = self.hosts
        return first, second

    def close(self) -> None:
        """Both hosts stopped (their dirty logs' files closed)."""
        for host in self.hosts.values():
            host.stop()

    def clock(self) -> float:
        self.now += 1.0
        return self.now

    def other(self, host: Host) -> Host:
        return next(h for h in self.hosts.values() if h is not host)

    def views(self) -> dict[str, HostView]:
        return {name: self.view(host) for name, host in self.hosts.items()}

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

    def commit_all(self) -> None:
        """The cycle run until a point holding every write so far is committed."""
        raise NotImplementedError

    def drain(self, extent: range) -> None:
        """What the mirror's target holds beside its image, moved into it (at least
        `extent`)."""
        raise NotImplementedError

    def target(self) -> Host:
        """The host the mirror copies to."""
        raise NotImplementedError

    def start(self, host: Host) -> turns.StartReversed:
        """The design's resync start of the pair at `host` (node/site.py `start_reversed`)."""
        raise Uncut("this design's pairs do not turn")

    def switch(self, host: Host) -> None:
        """An orderly promote: `reverse` at the demoted primary, the take-over here, the old
        primary joining; both daemons start again, the pair turned."""
        peer = self.other(host)
        if not self.linked():
            raise EngineRefused("the peer is unreachable: promote --force")
        mine, theirs = host.book.record, peer.book.record
        assert peer.served is not None and host.served is not None
        assert host.roles is not None and peer.roles is not None
        if mine.role != SECONDARY or mine.split or host.served.sends(self.pair):
            raise EngineRefused(f"the {host.name} site is not the mirror's secondary")
        if theirs.role != SECONDARY or theirs.epoch != mine.epoch or theirs.split:
            raise EngineRefused(f"the {peer.name} site is not demoted in this site's epoch")
        if turns.changed(peer.served, peer.roles, self.pair) or peer.served.cached_grains():
            raise EngineRefused("the pair is not synchronized")
        self.refuse_uncut(host, peer)
        turns.run(turns.take_over(host.served, host.roles, theirs.known, self.start(host),
                                  host.state_dir, self.grains, set(), self.options,
                                  self.pair))  # fmt: skip
        turns.run(turns.resync_target(peer.roles, host.book.record, self.start(peer),
                                      peer.state_dir, self.grains, self.pair))  # fmt: skip
        self.restart(host, peer)

    def resync(self, host: Host) -> None:
        """`resync --discard-local` here: the primary turns (its journal the resync's start,
        copying this site's grains and its own), this site joins, both start again, and the
        cycle copies until this site holds the primary's image."""
        peer = self.other(host)
        if not self.linked():
            raise EngineRefused("the peer is unreachable")
        mine, theirs = host.book.record, peer.book.record
        if not (mine.role == OUTDATED or mine.split):
            raise EngineRefused(f"the {host.name} site is neither outdated nor split")
        if theirs.role == OUTDATED:
            raise EngineRefused(f"the {peer.name} site is outdated too")
        served, source = host.served, peer.served
        assert served is not None and source is not None
        assert host.roles is not None and peer.roles is not None
        if source.draining(self.pair):
            raise EngineRefused(f"the {peer.name} site still drains its last point")
        self.refuse_uncut(host, peer)
        asked = turns.changed(served, host.roles, self.pair)
        turns.run(turns.resync_source(source, peer.roles, asked, self.start(peer),
                                      peer.state_dir, self.grains, self.options,
                                      self.pair))  # fmt: skip
        turns.run(turns.resync_target(host.roles, peer.book.record, self.start(host),
                                      host.state_dir, self.grains, self.pair))  # fmt: skip
        self.restart(host, peer)
        self.commit_all()
        self.drain(range(self.grains))

    def promoted_copy(self, host: Host) -> bool:
        """The host writes the pair's copy at `host` (a forced promote made it the host's)."""
        raise NotImplementedError

    def host_grain(self, grain: int) -> int:
        """The host door's grain of the pair's grain `grain`."""
        return grain

    # ---- the actions -----------------------------------------------------------------------

    def apply(self, action: Action) -> None:
        """One action of the roles model, as the daemons would do it; EngineRefused when a
        daemon refuses it, Uncut when the world cannot take it here."""
        match action:
            case HostWrite():
                self._host_write(action)
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
                self._force_promote(self.hosts[site])
            case Promote(site=site):
                self.switch(self.hosts[site])
            case Demote(site=site):
                host = self._up(site)
                if host.book.record.role != PRIMARY:
                    raise EngineRefused(f"the {site} site is not primary")
                self.steps(host, [("record", host.book.demote)])
            case Resync(site=site):
                self.resync(self.hosts[site])
            case LinkDown():
                self.link_up = False
            case LinkUp():
                self.link_up = True
                self.meet()
            case CrashSite(site=site, after_writes=0):
                self.hosts[site].stop()
            case CrashSite(site=site, after_writes=after):
                self._up(site)
                self.armed = (site, after)
            case Recover(site=site):
                self.hosts[site].start()
                self.meet()
            case _:
                raise EngineRefused(f"{describe(action)} is no roles action")

    def _up(self, site: str) -> Host:
        host = self.hosts[site]
        if not host.up:
            raise EngineRefused(f"the {site} site is down")
        return host

    def linked(self) -> bool:
        return self.link_up and all(h.up for h in self.hosts.values())

    def refuse_uncut(self, *hosts: Host) -> None:
        if self.armed is not None and self.armed[0] in {h.name for h in hosts}:
            raise Uncut("an armed crash would cut a plan of the design's own actions or a "
                        "resync's turns: the world cuts only the roles' records")  # fmt: skip

    def steps(self, host: Host, steps: list[turns.Step]) -> bool:
        """The command's steps at `host`, cut after the armed crash's count of them; whether
        every step ran."""
        for _, step in steps:
            step()
            if self.armed is not None and self.armed[0] == host.name:
                left = self.armed[1] - 1
                self.armed = None if left == 0 else (host.name, left)
                if left == 0:
                    host.stop()
                    return False
        return True

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

    def _host_write(self, action: HostWrite) -> None:
        host = self._up(action.site or self.sites[0])
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

    def _refuse_unless_mirroring(self) -> None:
        """What the daemons refuse at their HELLO, and a target that is no secondary."""
        if not self.linked():
            raise EngineRefused("the sites are not linked")
        for host in self.hosts.values():
            if (why := host.book.mirrors_with(self.other(host).book.record)) is not None:
                raise EngineRefused(why)
        if self.target().book.record.role != SECONDARY:
            raise EngineRefused("the mirror's target is not a secondary")

    def _force_promote(self, host: Host) -> None:
        if not host.up:
            raise EngineRefused(f"the {host.name} site is down")
        record, served, roles = host.book.record, host.served, host.roles
        assert served is not None and roles is not None
        if record.role != SECONDARY or record.split:
            raise EngineRefused(f"the {host.name} site is {record.role}"
                                + (", in a split brain" if record.split else ""))  # fmt: skip
        if self.linked():
            raise EngineRefused("the peer is reachable")
        if (why := served.why_not_promotable(self.pair)) is not None:
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
