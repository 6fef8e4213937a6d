"""Design A as the product runs it: which volumes each site owns, and one site built on them."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pitmirror.impl.bitmap import GrainMap
from pitmirror.impl.cyclic_flashcopy.layout import SITE_VOLUMES
from pitmirror.impl.cyclic_flashcopy.local import FlashCopyLocalSite
from pitmirror.impl.cyclic_flashcopy.messages import MESSAGES, Commit
from pitmirror.impl.cyclic_flashcopy.metadata import LocalMeta, RemoteMeta
from pitmirror.impl.cyclic_flashcopy.remote import FlashCopyRemoteSite
from pitmirror.impl.journal import Journal
from pitmirror.impl.link import Link
from pitmirror.impl.roles import acting_of
from pitmirror.impl.volumes import Volume
from pitmirror.model.cyclic_flashcopy import Options
from pitmirror.node.cyclic_flashcopy_served import LocalServed, RemoteServed
from pitmirror.node.served import Cycle, Served
from pitmirror.node.site import (
    Clock,
    ConfigError,
    Links,
    NodeDesign,
    NoPeer,
    RunningSite,
    SiteSettings,
    choose,
    site_of,
)


def settings(table: Mapping[str, Any], where: Path) -> SiteSettings:
    return {"site": site_of(table, tuple(SITE_VOLUMES), where),
            "map_rule": choose(table, "map_rule", ("merge", "update"), where)}  # fmt: skip


def links(settings: SiteSettings) -> Links:
    if settings["site"] == "local":
        return Links(listens_for=(), connects_to=("remote",))
    return Links(listens_for=("local",), connects_to=())


def build(settings: SiteSettings, volumes: dict[str, Volume], state_dir: Path,
          links: Mapping[str, Link], clock: Clock) -> RunningSite:  # fmt: skip
    counts = {v.grain_count for v in volumes.values()}
    if len(counts) != 1:
        sizes = ", ".join(f"{n}: {v.grain_count}" for n, v in volumes.items())
        raise ConfigError(f"the site's volumes differ in size (grains: {sizes})")
    grains = counts.pop()
    geometry = {"grain_size": next(iter(volumes.values())).grain_size, "grains": grains}
    options = Options(map_rule=settings["map_rule"])
    if settings["site"] == "local":
        journal = Journal(state_dir, "local", FlashCopyLocalSite.initial_meta(grains))
        local = FlashCopyLocalSite(volumes["source"], volumes["i1"], journal, options,
                                   links.get("remote", NoPeer()), clock=clock)  # fmt: skip
        return RunningSite(local, lambda: local.phase, geometry)
    journal = Journal(state_dir, "remote", FlashCopyRemoteSite.initial_meta(grains))
    remote = FlashCopyRemoteSite(volumes["i2"], volumes["target"], journal, options)
    return RunningSite(remote, lambda: str(remote.service.current_state_value), geometry)


REVERSED_VOLUMES: dict[str, dict[str, str]] = {
    "remote": {"i2": "i1", "target": "source"},
    "local": {"source": "target", "i1": "i2"},
}
"""the volumes of the site a host acts as once reversed, each the configured volume that
plays it: the local host's source becomes the target, its I1 the new I2; the remote host's
target becomes the source (its committed image), its I2 the new I1"""


def reversed_volumes(configured: str, acting: str) -> dict[str, str]:
    if acting == configured:
        return {name: name for name in SITE_VOLUMES[configured]}
    return REVERSED_VOLUMES[acting]


def act(site: str, settings: SiteSettings, volumes: dict[str, Path], state_dir: Path,
        grain_size: int) -> tuple[str, SiteSettings, dict[str, Path]]:  # fmt: skip
    """The site the pair's role record says this host acts as, on the configured volumes that
    play its volumes."""
    acting = acting_of(state_dir)
    if not acting or acting == site:
        return site, settings, volumes
    mine = {name: volumes[plays] for name, plays in reversed_volumes(site, acting).items()}
    return acting, {**settings, "site": acting}, mine


def start_reversed(state_dir: Path, acting: str, grains: int, copy: set[int]) -> None:
    """The journal of the site this host acts as from now on, replaced by the resync's start
    (model: `resync_start`): the local site's cycle 1 copies `copy`; the remote holds point 0
    (the target as it is) with nothing received.  One snapshot, written aside and renamed."""
    if acting == "local":
        meta = LocalMeta.initial(grains)
        meta["copy_map"] = GrainMap(grains, sorted(copy))
    else:
        assert not copy, "the remote's start copies nothing"
        meta = RemoteMeta.initial(grains)
    Journal(state_dir, acting, meta).compact(meta)


def serve(running: RunningSite, clock: Clock, cycle: Cycle) -> Served:
    site = running.site
    if isinstance(site, FlashCopyLocalSite):
        return LocalServed(site, clock, cycle)
    assert isinstance(site, FlashCopyRemoteSite)
    return RemoteServed(site, cycle)


NODE_DESIGN = NodeDesign(
    name="cyclic-flashcopy",
    keys=frozenset({"map_rule"}),
    settings=settings,
    volumes=lambda settings: frozenset(SITE_VOLUMES[settings["site"]]),
    links=links,
    build=build,
    serve=serve,
    vocabulary=MESSAGES,
    commit=Commit,
    pairs=lambda settings: {"": settings["site"] == "local"},
    act=act,
    start_reversed=lambda settings, pair, *start: start_reversed(*start),
)
