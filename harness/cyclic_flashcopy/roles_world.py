"""Design A's two hosts under the roles' commands: the engine the daemons run, stepped by the
roles model's actions (model/roles.py) so the lockstep (harness/roles_lockstep.py) can compare
them after each.

Each host is what a daemon holds: its configured volumes, its state folder (journal, role
record, dirty log), its role record (node/roles.py) and, while up, the design's site as the
record says it acts (node/cyclic_flashcopy.py builds and serves it, reversed once a resync or a
switch turned the pair).  The commands are node/turns.py's steps, the ones the daemon runs;
a crash armed with `CrashSite(site, after_writes=n)` cuts a command after the host's n-th
step, as the model cuts a plan after the site's n-th write.  What the model sees as one action
the engine does as its daemons would: a commit runs the cycle until every write so far is
committed (design A commits the point taken when the cycle began, so that is one or two
points); a resync turns both hosts, restarts them and runs the cycle and the drains until the
discarded site holds the primary's image.

Left to other checks: a crash inside design A's own actions (its power-loss exploration), and a
crash inside a resync's or a switch's turns (their steps are not the model's records yet: the
world refuses to cut them, `Uncut`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pitmirror.harness.grains import decode_grain, grain_bytes
from pitmirror.impl.cyclic_flashcopy.layout import SITE_VOLUMES
from pitmirror.impl.cyclic_flashcopy.local import FlashCopyLocalSite
from pitmirror.impl.cyclic_flashcopy.messages import MESSAGES
from pitmirror.impl.cyclic_flashcopy.remote import FlashCopyRemoteSite
from pitmirror.impl.link import LinkUnavailable
from pitmirror.impl.roles import OUTDATED, PRIMARY, SECONDARY, DirtyLog, RoleRecord, Roles
from pitmirror.impl.site import EngineInvariantBroken, EngineRefused
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
from pitmirror.node.cyclic_flashcopy import NODE_DESIGN, reversed_volumes, start_reversed
from pitmirror.node.cyclic_flashcopy_served import LocalServed, RemoteServed
from pitmirror.node.roles import PairRoles
from pitmirror.node.served import Cycle

HOSTS = ("local", "remote")
"""the hosts as configured: the local one is the pair's first primary"""
CYCLE_TICKS = 10_000
"""a cycle that has not committed everything after this many ticks is stuck: a defect"""


class Uncut(Exception):
    """An armed crash would cut a plan the world does not cut (design A's own actions, a
    resync's or a switch's turns)."""


@dataclass(frozen=True)
class HostView:
    """What one host holds, in the roles model's terms."""

    up: bool
    record: RoleRecord
    acting: str
    image: tuple[int, ...]
    """the seeds of the volume the host reads there: the source, or the target"""
    pending: frozenset[int]
    """grains whose committed value is held beside the image (the target map)"""
    recovered: tuple[int, ...]
    """the image with its pending grains from where they are held"""
    dirty: frozenset[int]
    """grains the host's own journal says may differ from the committed image"""


class Host:
    """One daemon's volumes, state folder, role record and, while up, its site."""

    def __init__(self, world: RolesWorld, name: str, state_dir: Path,
                 volumes: dict[str, Volume]) -> None:  # fmt: skip
        self.world, self.name, self.state_dir = world, name, state_dir
        self.first = name == HOSTS[0]
        state_dir.mkdir(parents=True)
        self.volumes = {v: volumes[v] for v in SITE_VOLUMES[name]}
        self.roles: PairRoles | None = None
        self.served: LocalServed | RemoteServed | None = None

    @property
    def up(self) -> bool:
        return self.served is not None

    @property
    def book(self) -> Roles:
        assert self.roles is not None, f"the {self.name} host is down"
        return self.roles.books[""]

    @property
    def acting(self) -> str:
        """The site this host acts as: design A's local (it sends) or remote."""
        return self.record().acting or self.name

    def record(self) -> RoleRecord:
        """The role record, from the file when the host is down (what a restart reads)."""
        if self.roles is not None:
            return self.book.record
        return Roles(self.state_dir, self.first).record

    def start(self) -> None:
        """What a daemon does at start: the record read, the site it acts as built from its
        journal, a promoted copy rolled again and served."""
        self.roles = PairRoles(self.state_dir, {"": self.first})
        acting = self.acting
        mine = reversed_volumes(self.name, acting)
        volumes = {role: self.volumes[configured] for role, configured in mine.items()}
        settings = {"site": acting, "map_rule": "merge"}
        links = {"remote": WorldLink(self.world)}
        running = NODE_DESIGN.build(settings, volumes, self.state_dir, links, self.world.clock)
        served = NODE_DESIGN.serve(running, self.world.clock, Cycle())
        if isinstance(running.site, FlashCopyRemoteSite) and \
                not self.world.options.promote_rolls_back:  # fmt: skip
            served = UnrolledRemoteServed(running.site, Cycle())
        assert isinstance(served, LocalServed | RemoteServed)
        roles = self.roles
        served.host_refusal = lambda grain: roles.host_refusal("")
        self.served = served
        if roles.writable_pairs() and not served.serves_host(""):
            turns.restarted_primary(served, roles.dirty_log(), self.world.options)

    def stop(self) -> None:
        """The process is gone: nothing volatile is kept (the dirty log's file closed)."""
        if self.roles is not None:
            self.roles.close()
        self.roles, self.served = None, None

    def local_site(self) -> FlashCopyLocalSite:
        assert isinstance(self.served, LocalServed)
        return self.served.site

    def remote_site(self) -> FlashCopyRemoteSite:
        assert isinstance(self.served, RemoteServed)
        return self.served.site

    def view(self) -> HostView:
        record = self.record()
        if self.served is None:
            return HostView(False, record, self.acting, (), frozenset(), (), frozenset())
        if isinstance(self.served, LocalServed):
            image = seeds(self.local_site().source)
            maps = self.local_site().local_meta(durable=True)
            dirty = maps.copy_map.union(maps.future_map).union(maps.out_of_sync).grains()
            return HostView(True, record, "local", image, frozenset(), image, frozenset(dirty))
        site = self.remote_site()
        meta = site.remote_meta(durable=True)
        image = seeds(site.target)
        promoted = self.served.dirty is not None
        pending = frozenset() if promoted else frozenset(meta.target_map.grains())
        held = seeds(site.i2)
        recovered = tuple(held[g] if g in pending else v for g, v in enumerate(image))
        # T differs from the committed image only where the host wrote since a promote (what
        # it received waits beside it, in I2)
        assert self.roles is not None
        written = frozenset(self.roles.written())
        return HostView(True, record, "remote", image, pending, recovered, written)


class UnrolledRemoteServed(RemoteServed):
    """The `promote-without-rollback` mutant's remote: it serves the host on a target whose
    committed grains still wait in I2 (the product's refuses to: an engine assertion that
    would stop the mutant before the property is seen broken)."""

    def serve_host(self, dirty: DirtyLog, pair: str = "") -> None:
        self.dirty = dirty


def seeds(volume: Volume) -> tuple[int, ...]:
    return tuple(decode_grain(volume.read_grains(g), g) for g in range(volume.grain_count))


class WorldLink:
    """The acting local site's link to whichever host acts as the remote site now, carried as
    the daemon carries it: the message's bytes to the remote's served site."""

    def __init__(self, world: RolesWorld) -> None:
        self.world = world

    @property
    def up(self) -> bool:
        return self.world.link_up

    @property
    def reaches(self) -> bool:
        peer = self.world.acting("remote")
        return self.world.link_up and peer is not None and peer.up

    def send(self, message: object) -> None:
        peer = self.world.acting("remote")
        if not self.reaches or peer is None or peer.served is None:
            raise LinkUnavailable("the link or the remote site is down")
        peer.served.receive(MESSAGES.encode(message))


class RolesWorld:
    """Design A's pair on two hosts, stepped by the roles model's actions."""

    def __init__(self, volumes: dict[str, Volume], workdir: Path,
                 options: Options | None = None) -> None:  # fmt: skip
        self.grains = next(iter(volumes.values())).grain_count
        self.options = options or Options()
        self.link_up = True
        self.now = 0.0
        self.hosts = {name: Host(self, name, workdir / name, volumes) for name in HOSTS}
        self.armed: tuple[str, int] | None = None
        """(host, steps to let through) of a crash armed and not fired yet"""
        for host in self.hosts.values():
            host.start()
        # the mirror's first full copy, where the model starts: both images equal, committed
        self._commit_all()
        self._drain(range(self.grains))

    def close(self) -> None:
        """Both hosts stopped (their dirty logs' files closed)."""
        for host in self.hosts.values():
            host.stop()

    def clock(self) -> float:
        self.now += 1.0
        return self.now

    def acting(self, site: str) -> Host | None:
        """The host that acts as design A's `site` now (whichever, when down, its record says)."""
        return next((h for h in self.hosts.values() if h.acting == site), None)

    def other(self, host: Host) -> Host:
        return next(h for h in self.hosts.values() if h is not host)

    def views(self) -> dict[str, HostView]:
        return {name: host.view() for name, host in self.hosts.items()}

    # ---- the actions -----------------------------------------------------------------------

    def apply(self, action: Action) -> None:
        """One action of the roles model, as the daemons would do it; EngineRefused when a
        daemon refuses it, Uncut when an armed crash would cut a plan the world does not."""
        match action:
            case HostWrite():
                self._host_write(action)
            case CommitPoint():
                self._refuse_uncut(*self.hosts.values())
                self._refuse_unless_mirroring()
                self._commit_all()
            case DrainTarget(grain=grain, count=count):
                self._drain(range(grain, grain + count))
            case Promote(site=site, force=True):
                self._force_promote(self.hosts[site])
            case Promote(site=site):
                self._switch(self.hosts[site])
            case Demote(site=site):
                host = self._up(site)
                if host.book.record.role != PRIMARY:
                    raise EngineRefused(f"the {site} site is not primary")
                self._steps(host, [("record", host.book.demote)])
            case Resync(site=site):
                self._resync(self.hosts[site])
            case LinkDown():
                self.link_up = False
            case LinkUp():
                self.link_up = True
                self._meet()
            case CrashSite(site=site, after_writes=0):
                self.hosts[site].stop()
            case CrashSite(site=site, after_writes=after):
                self._up(site)
                self.armed = (site, after)
            case Recover(site=site):
                self.hosts[site].start()
                self._meet()
            case _:
                raise EngineRefused(f"{describe(action)} is no roles action")

    def _up(self, site: str) -> Host:
        host = self.hosts[site]
        if not host.up:
            raise EngineRefused(f"the {site} site is down")
        return host

    def _refuse_uncut(self, *hosts: Host) -> None:
        if self.armed is not None and self.armed[0] in {h.name for h in hosts}:
            raise Uncut("an armed crash would cut a plan of design A's own actions or a "
                        "resync's turns: the world cuts only the roles' records")  # fmt: skip

    def _steps(self, host: Host, steps: list[turns.Step]) -> bool:
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

    def _meet(self) -> None:
        """Both up and linked: each host meets the record the other's HELLO carries."""
        local, remote = self.hosts.values()
        if not (self.link_up and local.up and remote.up):
            return
        assert local.roles is not None and remote.roles is not None
        hellos = {h.name: h.roles.hello() for h in (local, remote) if h.roles is not None}
        local.roles.meet(hellos[remote.name])
        remote.roles.meet(hellos[local.name])

    def _host_write(self, action: HostWrite) -> None:
        host = self._up(action.site or HOSTS[0])
        served = host.served
        assert served is not None and host.roles is not None
        data = grain_bytes(action.data, action.grain, served.grain_size)
        if (why := host.roles.host_refusal("")) is not None:
            raise EngineRefused(why)
        if not served.host_volumes():
            raise EngineRefused(f"the {host.name} site has no host door")
        if isinstance(served, RemoteServed):
            dirty = served.dirty
            assert dirty is not None
            grain = action.grain
            write = served.host_write
            self._steps(host, [("dirty", lambda: dirty.add(grain, 1)),
                               ("image", lambda: turns.void(write(grain, data)))])  # fmt: skip
            return
        self._refuse_uncut(host)
        served.host_write(action.grain, data)

    def _refuse_unless_mirroring(self) -> None:
        """What the daemons refuse at their HELLO, and a target that is no secondary."""
        local, remote = self.acting("local"), self.acting("remote")
        assert local is not None and remote is not None
        if not (self.link_up and local.up and remote.up):
            raise EngineRefused("the sites are not linked")
        for host in (local, remote):
            if (why := host.book.mirrors_with(self.other(host).book.record)) is not None:
                raise EngineRefused(why)
        if remote.book.record.role != SECONDARY:
            raise EngineRefused("the mirror's target is not a secondary")

    def _commit_all(self) -> None:
        """Ticks of the local site's runner until a point holding every write so far has
        committed: design A's point is the source when its cycle began, so a write since
        needs the next cycle's commit too."""
        local = self.acting("local")
        assert local is not None and isinstance(local.served, LocalServed)
        runner, site = local.served.runner, local.local_site()
        for _ in range(CYCLE_TICKS):
            if runner.tick():
                meta = site.local_meta()
                if not (meta.copy_map or meta.future_map or meta.out_of_sync):
                    return
        raise EngineInvariantBroken(f"the cycle did not commit within {CYCLE_TICKS} ticks")

    def _drain(self, extent: range) -> None:
        remote = self.acting("remote")
        if remote is None or not remote.up:
            raise EngineRefused("the mirror's target site is down")
        self._refuse_uncut(remote)
        site = remote.remote_site()
        grains = [g for g in site.remote_meta().target_map.grains() if g in extent]
        for g in grains:
            site.apply(DrainTarget(g, 1))

    def _force_promote(self, host: Host) -> None:
        if not host.up:
            raise EngineRefused(f"the {host.name} site is down")
        record, served = host.book.record, host.served
        assert served is not None and host.roles is not None
        if record.role != SECONDARY or record.split:
            raise EngineRefused(f"the {host.name} site is {record.role}"
                                + (", in a split brain" if record.split else ""))  # fmt: skip
        if self.link_up and self.other(host).up:
            raise EngineRefused("the peer is reachable")
        if (why := served.why_not_promotable("")) is not None:
            raise EngineRefused(why)
        if self._steps(host, turns.force_promote(served, host.book, self.options)):
            served.serve_host(host.roles.dirty_log())

    def _switch(self, host: Host) -> None:
        """An orderly promote: `reverse` at the demoted primary, the take-over here, the
        old primary joining; both daemons start again as the other site."""
        peer = self.other(host)
        if not (self.link_up and host.up and peer.up):
            raise EngineRefused("the peer is unreachable: promote --force")
        mine, theirs = host.book.record, peer.book.record
        if mine.role != SECONDARY or mine.split or host.acting != "remote":
            raise EngineRefused(f"the {host.name} site is not the mirror's secondary")
        if theirs.role != SECONDARY or theirs.epoch != mine.epoch or theirs.split:
            raise EngineRefused(f"the {peer.name} site is not demoted in this site's epoch")
        assert peer.served is not None and host.served is not None
        assert host.roles is not None and peer.roles is not None
        if turns.changed(peer.served, peer.roles) or peer.served.cached_grains():
            raise EngineRefused("the pair is not synchronized")
        self._refuse_uncut(host, peer)
        turns.run(turns.take_over(host.served, host.roles, theirs.known, start_reversed,
                                  host.state_dir, self.grains, set(), self.options))  # fmt: skip
        turns.run(turns.resync_target(peer.roles, host.book.record, start_reversed,
                                      peer.state_dir, self.grains))  # fmt: skip
        self._restart(host, peer)

    def _resync(self, host: Host) -> None:
        """`resync --discard-local` here: the primary turns (its journal the resync's start,
        copying this site's grains and its own), this site joins, both start again, and the
        cycle copies until this site holds the primary's image."""
        peer = self.other(host)
        if not (self.link_up and host.up and peer.up):
            raise EngineRefused("the peer is unreachable")
        mine, theirs = host.book.record, peer.book.record
        if not (mine.role == OUTDATED or mine.split):
            raise EngineRefused(f"the {host.name} site is neither outdated nor split")
        if theirs.role == OUTDATED:
            raise EngineRefused(f"the {peer.name} site is outdated too")
        served, source = host.served, peer.served
        assert served is not None and source is not None
        assert host.roles is not None and peer.roles is not None
        if isinstance(source, RemoteServed) and source.dirty is None and \
                source.site.remote_meta().target_map:  # fmt: skip
            raise EngineRefused(f"the {peer.name} site still drains its last point")
        self._refuse_uncut(host, peer)
        asked = turns.changed(served, host.roles)
        turns.run(turns.resync_source(source, peer.roles, asked, start_reversed, peer.state_dir,
                                      self.grains, self.options))  # fmt: skip
        turns.run(turns.resync_target(host.roles, peer.book.record, start_reversed,
                                      host.state_dir, self.grains))  # fmt: skip
        self._restart(host, peer)
        self._commit_all()
        self._drain(range(self.grains))

    def _restart(self, *hosts: Host) -> None:
        """The daemons stop once turned and start again as the other site."""
        for host in hosts:
            host.stop()
        for host in sorted(hosts, key=lambda h: h.acting != "remote"):
            host.start()
