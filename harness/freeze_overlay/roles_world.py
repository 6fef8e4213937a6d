"""Design B's group under the roles' commands (harness/roles_world.py): the home (the first
primary) and its remote, each site built and served as the daemon does
(node/freeze_overlay.py), the link carrying messages, acknowledgements, reports and HELLOs as
the daemons' links do.

A commit ticks both sites until a point holding every write so far is complete at the remote;
a drain is the remote's merge of its complete delta.  In the stricter order (`pipelined=False`)
a remote merges a complete delta by itself; pipelined, it waits for the next point to move it
aside, which the model's drain does not take — so the lockstep runs the stricter order, and a
promote's roll (which merges both) is checked pipelined by the daemons' tests.

An orderly promote and a resync turn the group (node/freeze_overlay_turn.py): each host acts as
its role record says, on its volumes renamed as the daemon renames them (the new home's third
auxiliary volume a spare of its own), and the journals turn when the hosts start again.  A
crash may cut a switch where the model cuts it; a resync's turns are not cut (`Uncut`): the
engine turns both journals and lets the cycle copy, where the model copies and then joins.
"""

from __future__ import annotations

from pathlib import Path

from pitmirror.harness.grains import decode_grain
from pitmirror.harness.roles_lockstep import ROLES_TOPOLOGY
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
from pitmirror.impl.freeze_overlay.layout import site_volumes, volume_layout
from pitmirror.impl.freeze_overlay.messages import MESSAGES
from pitmirror.impl.freeze_overlay.site import OverlaySite
from pitmirror.impl.link import LinkUnavailable
from pitmirror.impl.roles import DirtyLog
from pitmirror.impl.site import EngineInvariantBroken
from pitmirror.impl.volumes import MemoryVolume, Volume
from pitmirror.model import freeze_overlay as model
from pitmirror.model.roles import Options
from pitmirror.node import freeze_overlay_turn as turn
from pitmirror.node import turns
from pitmirror.node.freeze_overlay import NODE_DESIGN, groups_toml
from pitmirror.node.freeze_overlay_served import OverlayServed, recoverable_image
from pitmirror.node.served import Cycle, Served
from pitmirror.node.site import SiteSettings

GROUP = 0


class OverlayLink:
    """One site's link to its peer, as the daemon carries it: the message's bytes to the
    peer's served site, its acknowledgement's words back to the sender."""

    def __init__(self, world: OverlayRolesWorld, sender: str, peer: str) -> None:
        self.world, self.sender, self.peer = world, sender, peer

    @property
    def up(self) -> bool:
        return self.world.link_up

    @property
    def reaches(self) -> bool:
        return self.world.link_up and self.world.hosts[self.peer].up

    def send(self, message: object) -> None:
        receiver = self.world.hosts[self.peer].served
        sender = self.world.hosts[self.sender].served
        if not self.world.link_up or receiver is None or sender is None:
            raise LinkUnavailable("the link or the peer site is down")
        reply = receiver.receive(MESSAGES.encode(message))
        if reply is not None:
            sender.replied(self.peer, reply)


class UnrolledOverlayServed(OverlayServed):
    """The `promote-without-rollback` mutant's site: it serves the host on base copies whose
    committed grains still wait in a delta (the product's refuses to: an engine assertion that
    would stop the mutant before the property is seen broken)."""

    def serve_host(self, dirty: DirtyLog, pair: str = "") -> None:
        if pair == OverlayRolesWorld.pair and GROUP not in self.site.homed:
            self.promoted[GROUP] = dirty


class OverlayRolesWorld(RolesWorld):
    """Design B's topology "single" (one object, home left, remote right) on the volumes its
    layout names; state under `workdir`."""

    pair = f"group{GROUP}"

    def __init__(self, volumes: dict[str, Volume], workdir: Path,
                 options: Options | None = None) -> None:  # fmt: skip
        self.topology = model.topology("single", next(iter(volumes.values())).grain_count)
        self.grains = self.topology.objects[0].grains
        self.first = self.topology.first_grain(0)
        self.probe = OverlayProbe(self.topology)
        self.design_options = model.Options(pipelined=False)
        group = self.topology.groups[GROUP]
        hosts = {site: {v: volumes[v] for v in site_volumes(self.topology, site)}
                 for site in (group.home, *group.remotes)}  # fmt: skip
        any_volume = next(iter(volumes.values()))
        self.spares = {site: MemoryVolume(f"{site}.spare", self.grains, any_volume.grain_size)
                       for site in hosts}  # fmt: skip
        """each host's third auxiliary volume once a turn makes it the group's home"""
        super().__init__(hosts, workdir, options)
        self.begin()

    def overlay(self, host: Host) -> OverlayServed:
        assert isinstance(host.served, OverlayServed), f"the {host.name} site is down"
        return host.served

    def acting(self, host: Host) -> model.Topology:
        """The topology `host` acts in, as its role record says (read when it is down too)."""
        return turn.acting_topology(self.topology, host.name, host.state_dir)

    def home(self) -> Host:
        """The group's home: the host whose record says it acts so (the first host, as
        configured, when neither does)."""
        for host in self.hosts.values():
            if self.acting(host).groups[GROUP].home == host.name:
                return host
        return self.hosts[self.sites[0]]

    def target(self) -> Host:
        return self.other(self.home())

    def build(self, host: Host) -> Served:
        acting = self.acting(host)
        volumes = turn.acting_volumes(self.topology, acting, host.name, host.volumes,
                                      lambda obj: self.spares[host.name])  # fmt: skip
        settings = {"site": host.name, "topology": acting, "options": self.design_options}
        peer = self.other(host).name
        links = {peer: OverlayLink(self, host.name, peer)}
        running = NODE_DESIGN.build(settings, volumes, host.state_dir, links, self.clock)
        if not self.options.promote_rolls_back:
            assert isinstance(running.site, OverlaySite)
            return UnrolledOverlayServed(running.site, self.clock, Cycle())
        return NODE_DESIGN.serve(running, self.clock, Cycle())

    def hear(self) -> None:
        """Each site's HELLO judged by the other, as the daemons' handshake does: the home
        learns what the remote holds."""
        if not self.linked():
            return
        for host in self.hosts.values():
            peer = self.other(host)
            self.overlay(host).judge({**self.overlay(peer).hello(), "site": peer.name})

    def promoted_copy(self, host: Host) -> bool:
        return isinstance(host.served, OverlayServed) and GROUP in host.served.promoted

    def host_grain(self, grain: int) -> int:
        return self.first + grain

    def view(self, host: Host) -> HostView:
        record = host.record()
        if host.served is None:
            return HostView(False, record, (), frozenset(), ())
        return HostView(True, record, *self.probe.seen(self.overlay(host)))

    def _tick(self) -> None:
        """The home's background work; when it has none, the remote's (it merges a complete
        delta only when the home waits for it: what it holds beside its copy stays the model's
        pending), and what the remote reports of it heard at the home."""
        remote, home = self.target(), self.home()
        if self.overlay(home).tick():
            return
        self.overlay(remote).tick()
        for words in self.overlay(remote).reports().values():
            self.overlay(home).replied(remote.name, words)

    def commit_all(self) -> None:
        home = self.overlay(self.home())
        for _ in range(CYCLE_TICKS):
            if self.probe.committed(home):
                return
            self._tick()
        raise EngineInvariantBroken(f"the cycle did not commit within {CYCLE_TICKS} ticks")

    def drain(self, extent: range) -> None:
        self.probe.drain(self.overlay(self.target()), extent)

    def start(self, host: Host) -> turns.StartReversed:
        settings = {"site": host.name, "topology": self.acting(host)}
        start = NODE_DESIGN.start_reversed
        assert start is not None
        return lambda state_dir, acting, grains, copy: start(settings, self.pair, state_dir,
                                                             acting, grains, copy)  # fmt: skip


class OverlayProbe:
    """What the roles' lockstep reads and runs at a site of design B's group, in whichever
    process serves it (harness/roles_world.py `SiteProbe`): `topology` as configured."""

    ticks_target = True
    """the remote merges a complete delta when the home waits for it"""
    after_a_point = False

    def __init__(self, topology: model.Topology) -> None:
        self.first = topology.first_grain(topology.group_objects(GROUP)[0])
        self.grains = topology.objects[0].grains

    def seen(self, served: Served) -> Seen:
        assert isinstance(served, OverlayServed)
        site = served.site
        if GROUP in site.homed:
            image = tuple(decode_grain(served.host_read(self.first + g, 1), g)
                          for g in range(self.grains))  # fmt: skip
            return image, frozenset(), image
        image = seeds(site.remote_stores[(0, site.site)].base)
        if GROUP in served.promoted:
            return image, frozenset(), image
        copy = site.copy_meta(0)
        pending = set(copy.merging.grains()) if copy.merging_point is not None else set()
        pending |= set(copy.delta.grains()) if copy.complete else set()
        raw = recoverable_image(site, GROUP)
        size = site.grain_size
        recovered = tuple(decode_grain(raw[g * size : (g + 1) * size], g)
                          for g in range(self.grains))  # fmt: skip
        return image, frozenset(pending), recovered

    def point(self, served: Served) -> int:
        assert isinstance(served, OverlayServed)
        return served.site.group_meta(GROUP).point

    def committed(self, served: Served) -> bool:
        """At the home: no write since the last point, which every remote completed."""
        assert isinstance(served, OverlayServed)
        remotes = frozenset(served.topology.groups[GROUP].remotes)
        group, obj = served.site.group_meta(GROUP), served.site.object_meta(0)
        return not obj.active and group.completed_at == remotes

    def drain(self, served: Served, extent: range) -> None:
        """The remote's merge of its complete delta, to its drop (all of it: a merge plan is
        per point)."""
        assert isinstance(served, OverlayServed)
        for _ in range(CYCLE_TICKS):
            if not served.site.copy_meta(0).complete:
                return
            served.home.plan.new_tick()
            served.copier.merge(GROUP)
        raise EngineInvariantBroken(f"the merge did not end within {CYCLE_TICKS} ticks")


def roles_probe(settings: SiteSettings) -> SiteProbe:
    return OverlayProbe(settings["topology"])


def roles_hosts(grains: int) -> ProcessHosts:
    """Topology single, the group's home first; the stricter order (the lockstep's, above)."""
    topology = model.topology(ROLES_TOPOLOGY, grains)
    layout, _ = volume_layout(topology)
    group = topology.groups[GROUP]
    sites = (group.home, group.remotes[0])
    volumes = {site: {v: layout[v] for v in site_volumes(topology, site)} for site in sites}
    header = "pipelined = false\n" + groups_toml(topology)
    probe = OverlayProbe(topology)
    return ProcessHosts(sites, f"group{GROUP}", volumes, header, probe.first, probe)
