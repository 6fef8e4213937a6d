"""Design B as the product runs it: the topology a config describes, the volumes each site owns
in it, and one site built on them.

```toml
design = "freeze-overlay"       # design B
site = "left"                   # one of the topology's sites
fan_in = false                  # optional: a remote keeps every copy it holds on one device
pipelined = true                # optional: false is the stricter order (safe, slower: a remote
                                # merges a point before it takes the next); the same everywhere

[[groups]]                      # every consistency group of the mirror, the same at every site
remotes = ["right"]
objects = [{ name = "vol", home = "left", grains = 4096 }]   # kind = "device" | "span" | "file"

[volumes]                       # this site's own volumes, named as the layout names them:
"vol.base" = "/dev/vdb"         # a home's objects (<name>.base, <name>.aux0..2) and a remote's
"vol.aux0" = "..."              # copies (<remote>.<name>.copy, <remote>.<name>.delta0..1)

[link]
listen = "0.0.0.0:7789"         # a site that is a remote of some group
[link.peers]                    # a site that is home to some group: each remote's address
right = "192.0.2.2:7789"
```
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pitmirror.impl.freeze_overlay.layout import site_volumes, volume_layout
from pitmirror.impl.freeze_overlay.messages import MESSAGES, Complete
from pitmirror.impl.freeze_overlay.site import OverlaySite, initial_meta
from pitmirror.impl.journal import Journal
from pitmirror.impl.link import Link
from pitmirror.impl.volumes import Volume
from pitmirror.model import freeze_overlay as model
from pitmirror.node import freeze_overlay_turn as turn
from pitmirror.node.freeze_overlay_served import OverlayServed
from pitmirror.node.served import Cycle, Served
from pitmirror.node.site import (
    Clock,
    ConfigError,
    Links,
    NodeDesign,
    NoPeer,
    RunningSite,
    SiteSettings,
    site_of,
)

KINDS = ("device", "span", "file")


def topology_of(table: Mapping[str, Any], where: Path) -> model.Topology:
    """The [[groups]] of a config as the model's topology; ConfigError names what is wrong."""
    groups = table.get("groups")
    if not isinstance(groups, list) or not groups:
        raise ConfigError(f"{where}: 'groups' is missing (design B's sites need the mirror's "
                          "consistency groups, the same at every site)")  # fmt: skip
    specs: list[model.GroupSpec] = []
    names: set[str] = set()
    for gi, group in enumerate(groups):
        at = f"{where}: groups[{gi}]"
        if not isinstance(group, dict) or set(group) - {"remotes", "objects"}:
            raise ConfigError(f"{at} must be a table of remotes and objects")
        remotes, objects = group.get("remotes"), group.get("objects")
        if (
            not isinstance(remotes, list)
            or not remotes
            or not all(isinstance(r, str) and r for r in remotes)
        ):
            raise ConfigError(f"{at}.remotes must be a list of site names")
        if not isinstance(objects, list) or not objects:
            raise ConfigError(f"{at}.objects must be a list of objects")
        members = []
        for obj in objects:
            if not isinstance(obj, dict) or set(obj) - {"name", "home", "grains", "kind"}:
                raise ConfigError(f"{at}: an object is a table of name, home, grains, kind")
            name, home, grains = obj.get("name"), obj.get("home"), obj.get("grains")
            kind = obj.get("kind", "device")
            if not isinstance(name, str) or not name or "." in name or name in names:
                raise ConfigError(f"{at}: object name {name!r} is not a new name without dots")
            if not isinstance(home, str) or not home:
                raise ConfigError(f"{at}: object {name} names no home site")
            if not isinstance(grains, int) or isinstance(grains, bool) or grains < 1:
                raise ConfigError(f"{at}: object {name} must have a positive number of grains")
            if kind not in KINDS:
                raise ConfigError(f"{at}: object {name}'s kind {kind!r} is not one of "
                                  f"{', '.join(KINDS)}")  # fmt: skip
            names.add(name)
            members.append(model.ObjectSpec(name, home, grains, kind))
        if len({o.home for o in members}) != 1 or len({o.grains for o in members}) != 1:
            raise ConfigError(f"{at}: a group's objects have one home and one size")
        if members[0].home in remotes or len(set(remotes)) != len(remotes):
            raise ConfigError(f"{at}: the remotes are other sites than the home, each once")
        specs.append(model.GroupSpec(tuple(members), tuple(remotes)))
    fan_in = table.get("fan_in", False)
    if not isinstance(fan_in, bool):
        raise ConfigError(f"{where}: fan_in must be true or false")
    return model.Topology("config", tuple(specs), fan_in=fan_in)


def fingerprint(topology: model.Topology, options: model.Options) -> int:
    """What both ends of a link compare, so two sites that describe the mirror differently
    (its topology, its order) never mirror."""
    groups = [(g.remotes, [(o.name, o.home, o.grains, o.kind) for o in g.objects])
              for g in topology.groups]  # fmt: skip
    text = repr((groups, topology.fan_in, options.pipelined))
    return zlib.crc32(text.encode())


def settings(table: Mapping[str, Any], where: Path) -> SiteSettings:
    topology = topology_of(table, where)
    pipelined = table.get("pipelined", True)
    if not isinstance(pipelined, bool):
        raise ConfigError(f"{where}: pipelined must be true or false")
    return {"site": site_of(table, topology.sites, where), "topology": topology,
            "options": model.Options(pipelined=pipelined)}  # fmt: skip


def links(settings: SiteSettings) -> Links:
    site, topology = settings["site"], settings["topology"]
    groups = topology.groups
    homes = sorted({g.home for g in groups if site in g.remotes})
    remotes = sorted({r for g in groups if g.home == site for r in g.remotes})
    return Links(listens_for=tuple(homes), connects_to=tuple(remotes))


def build(settings: SiteSettings, volumes: dict[str, Volume], state_dir: Path,
          links: Mapping[str, Link], clock: Clock) -> RunningSite:  # fmt: skip
    site, topology = settings["site"], settings["topology"]
    layout, _ = volume_layout(topology)
    wrong = [f"{name}: {v.grain_count} grains, the layout needs {layout[name]}"
             for name, v in volumes.items() if v.grain_count < layout[name]]  # fmt: skip
    if wrong:
        raise ConfigError(f"the {site} site's volumes are too small ({'; '.join(wrong)})")
    turn.apply_turns(topology, site, state_dir, volumes)  # a pair turned: resync, reverse
    journal = Journal(state_dir, site, initial_meta(topology, site))
    peers = {peer: links.get(peer, NoPeer()) for peer in sorted(set(topology.sites) - {site})}
    overlay = OverlaySite(site, topology, volumes, journal, settings["options"], peers,
                          clock=clock)  # fmt: skip
    overlay.settle()  # each group's phase from what its journal says
    grain_size = next(iter(volumes.values())).grain_size
    geometry = {"grain_size": grain_size, "grains": topology.grains,
                "topology": fingerprint(topology, settings["options"])}  # fmt: skip
    return RunningSite(overlay, lambda: phases(overlay), geometry)


def act(site: str, settings: SiteSettings, volumes: dict[str, Path], state_dir: Path,
        grain_size: int) -> tuple[str, SiteSettings, dict[str, Path]]:  # fmt: skip
    """This host's groups as their role records say it acts (node/freeze_overlay_turn.py)."""
    configured = settings["topology"]
    acting = turn.acting_topology(configured, site, state_dir)
    if acting == configured:
        return site, settings, volumes
    mine = turn.acting_volumes(
        configured, acting, site, volumes, turn.third_aux(state_dir, grain_size)
    )
    return site, {**settings, "topology": acting}, mine


def start_reversed(settings: SiteSettings, pair: str, state_dir: Path, acting: str, grains: int,
                   copy: set[int]) -> None:  # fmt: skip
    """The group's turn, applied to the journal when the daemon starts as the record says."""
    turn.write_turn(settings["topology"], state_dir, pair, acting, copy)


def phases(site: OverlaySite) -> str:
    """Each group's phase at its home, or the remote's service state."""
    if not site.up:
        return "down"
    if not site.homed:
        return str(site.service.current_state_value)
    return ", ".join(f"group {gi} {site.phase(gi)}" for gi in site.homed)


def serve(running: RunningSite, clock: Clock, cycle: Cycle) -> Served:
    assert isinstance(running.site, OverlaySite)
    return OverlayServed(running.site, clock, cycle)


NODE_DESIGN = NodeDesign(
    name="freeze-overlay",
    keys=frozenset({"groups", "fan_in", "pipelined"}),
    settings=settings,
    volumes=lambda settings: site_volumes(settings["topology"], settings["site"]),
    links=links,
    build=build,
    serve=serve,
    vocabulary=MESSAGES,
    commit=Complete,
    pairs=lambda settings: {
        f"group{index}": group.home == settings["site"]
        for index, group in enumerate(settings["topology"].groups)
        if settings["site"] in (group.home, *group.remotes)
    },
    act=act,
    start_reversed=start_reversed,
)


def groups_toml(topology: model.Topology) -> str:
    """The [[groups]] tables of a config that describe `topology` (what a deployment tool, or
    the harness, writes for every site; after them, only tables)."""
    lines = [f"fan_in = {'true' if topology.fan_in else 'false'}"]
    for group in topology.groups:
        objects = ", ".join(
            f'{{ name = "{o.name}", home = "{o.home}", grains = {o.grains}, kind = "{o.kind}" }}'
            for o in group.objects
        )
        remotes = ", ".join(f'"{r}"' for r in group.remotes)
        lines += ["[[groups]]", f"remotes = [{remotes}]", f"objects = [{objects}]"]
    return "\n".join(lines) + "\n"
