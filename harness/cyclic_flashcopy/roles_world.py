"""Design A's two hosts under the roles' commands (harness/roles_world.py): the local host
(the first primary) and the remote one, each acting as the site its role record says — reversed
once a resync or a switch turned the pair (node/cyclic_flashcopy.py builds and serves it).

A commit runs the local site's runner until a point holding every write so far has committed:
design A's point is the source when its cycle began, so a write since needs the next cycle's
commit too.  A drain drains the target map's grains in the extent.  A resync turns both hosts,
restarts them and runs the cycle and the drains until the discarded site holds the primary's
image; a switch is `reverse` at the demoted primary and the take-over at its secondary.
"""

from __future__ import annotations

from pathlib import Path

from pitmirror.harness.roles_world import (
    CYCLE_TICKS,
    Host,
    HostView,
    ProcessHosts,
    RolesWorld,
    Seen,
    SiteProbe,
    seeds,
)
from pitmirror.impl.cyclic_flashcopy.layout import SITE_VOLUMES
from pitmirror.impl.cyclic_flashcopy.messages import MESSAGES
from pitmirror.impl.cyclic_flashcopy.remote import FlashCopyRemoteSite
from pitmirror.impl.link import LinkUnavailable
from pitmirror.impl.roles import DirtyLog
from pitmirror.impl.site import EngineInvariantBroken
from pitmirror.impl.volumes import Volume
from pitmirror.model.actions import DrainTarget
from pitmirror.model.roles import Options
from pitmirror.node import turns
from pitmirror.node.cyclic_flashcopy import NODE_DESIGN, reversed_volumes, start_reversed
from pitmirror.node.cyclic_flashcopy_served import LocalServed, RemoteServed
from pitmirror.node.served import Cycle, Served
from pitmirror.node.site import SiteSettings

HOSTS = ("local", "remote")
"""the hosts as configured: the local one is the pair's first primary"""


class UnrolledRemoteServed(RemoteServed):
    """The `promote-without-rollback` mutant's remote: it serves the host on a target whose
    committed grains still wait in I2 (the product's refuses to: an engine assertion that
    would stop the mutant before the property is seen broken)."""

    def serve_host(self, dirty: DirtyLog, pair: str = "") -> None:
        self.dirty = dirty


class WorldLink:
    """The acting local site's link to whichever host acts as the remote site now, carried as
    the daemon carries it: the message's bytes to the remote's served site."""

    def __init__(self, world: FlashCopyRolesWorld) -> None:
        self.world = world

    @property
    def up(self) -> bool:
        return self.world.link_up

    @property
    def reaches(self) -> bool:
        return self.world.link_up and self.world.target().up

    def send(self, message: object) -> None:
        served = self.world.target().served
        if not self.world.link_up or served is None:
            raise LinkUnavailable("the link or the remote site is down")
        served.receive(MESSAGES.encode(message))


class FlashCopyRolesWorld(RolesWorld):
    """Design A on four volumes named source, i1, i2, target; state under `workdir`."""

    def __init__(self, volumes: dict[str, Volume], workdir: Path,
                 options: Options | None = None) -> None:  # fmt: skip
        self.grains = next(iter(volumes.values())).grain_count
        hosts = {name: {v: volumes[v] for v in SITE_VOLUMES[name]} for name in HOSTS}
        super().__init__(hosts, workdir, options)
        self.begin()

    @staticmethod
    def acting(host: Host) -> str:
        """The site the host acts as: design A's local (it sends) or remote."""
        return host.record().acting or host.name

    def _acting(self, site: str) -> Host:
        return next(h for h in self.hosts.values() if self.acting(h) == site)

    def target(self) -> Host:
        return self._acting("remote")

    def build(self, host: Host) -> Served:
        acting = self.acting(host)
        mine = reversed_volumes(host.name, acting)
        volumes = {role: host.volumes[configured] for role, configured in mine.items()}
        settings = {"site": acting, "map_rule": "merge"}
        running = NODE_DESIGN.build(settings, volumes, host.state_dir,
                                    {"remote": WorldLink(self)}, self.clock)  # fmt: skip
        if isinstance(running.site, FlashCopyRemoteSite) and not self.options.promote_rolls_back:
            return UnrolledRemoteServed(running.site, Cycle())
        return NODE_DESIGN.serve(running, self.clock, Cycle())

    def promoted_copy(self, host: Host) -> bool:
        return isinstance(host.served, RemoteServed)

    def view(self, host: Host) -> HostView:
        record, served = host.record(), host.served
        if served is None:
            return HostView(False, record, (), frozenset(), ())
        return HostView(True, record, *PROBE.seen(served))

    def commit_all(self) -> None:
        local = self._acting("local").served
        assert isinstance(local, LocalServed)
        for _ in range(CYCLE_TICKS):
            if local.runner.tick() and PROBE.committed(local):
                return
        raise EngineInvariantBroken(f"the cycle did not commit within {CYCLE_TICKS} ticks")

    def drain(self, extent: range) -> None:
        served = self.target().served
        assert served is not None
        PROBE.drain(served, extent)

    def start(self, host: Host) -> turns.StartReversed:
        return start_reversed


class FlashCopyProbe:
    """What the roles' lockstep reads and runs at one of design A's served sites, in whichever
    process serves it (harness/roles_world.py `SiteProbe`)."""

    ticks_target = False
    """the remote drains only when the lockstep says (the model's `DrainTarget`)"""
    after_a_point = True

    def seen(self, served: Served) -> Seen:
        if isinstance(served, LocalServed):
            image = seeds(served.site.source)
            return image, frozenset(), image
        assert isinstance(served, RemoteServed)
        site = served.site
        image = seeds(site.target)
        promoted = served.dirty is not None
        pending = frozenset() if promoted else frozenset(site.in_i2().grains())
        held = seeds(site.i2)
        recovered = tuple(held[g] if g in pending else v for g, v in enumerate(image))
        return image, pending, recovered

    def point(self, served: Served) -> int:
        assert isinstance(served, LocalServed)
        return served.site.local_meta().cycle

    def committed(self, served: Served) -> bool:
        """Right after a commit, nothing written since the point it committed."""
        assert isinstance(served, LocalServed)
        meta = served.site.local_meta()
        return not (served.site.cache or meta.copy_map or meta.future_map or meta.out_of_sync)

    def drain(self, served: Served, extent: range) -> None:
        assert isinstance(served, RemoteServed)
        site: FlashCopyRemoteSite = served.site
        for g in [g for g in site.remote_meta().target_map.grains() if g in extent]:
            site.apply(DrainTarget(g, 1))


PROBE = FlashCopyProbe()


def roles_probe(settings: SiteSettings) -> SiteProbe:
    return PROBE


def roles_hosts(grains: int) -> ProcessHosts:
    """The pair as the daemons' configs name it: the local site first, its one pair unnamed."""
    volumes = {site: {v: grains for v in SITE_VOLUMES[site]} for site in HOSTS}
    return ProcessHosts(HOSTS, "", volumes, "", 0, PROBE)
