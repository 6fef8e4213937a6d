"""Design A as the product runs it: which volumes each site owns, and one site built on them."""

from __future__ import annotations

from pathlib import Path

from pitmirror.impl.cyclic_flashcopy.layout import SITE_VOLUMES
from pitmirror.impl.cyclic_flashcopy.local import FlashCopyLocalSite
from pitmirror.impl.cyclic_flashcopy.messages import MESSAGES
from pitmirror.impl.cyclic_flashcopy.remote import FlashCopyRemoteSite
from pitmirror.impl.journal import Journal
from pitmirror.impl.link import Link
from pitmirror.impl.volumes import Volume
from pitmirror.model.cyclic_flashcopy import Options
from pitmirror.node.cyclic_flashcopy_served import LocalServed, RemoteServed
from pitmirror.node.served import Cycle, Served
from pitmirror.node.site import Clock, NodeDesign, RunningSite, SiteSettings


def build(settings: SiteSettings, volumes: dict[str, Volume], grains: int, state_dir: Path,
          link: Link, clock: Clock) -> RunningSite:  # fmt: skip
    options = Options(map_rule=settings.get("map_rule", "merge"))
    if settings["site"] == "local":
        journal = Journal(state_dir, "local", FlashCopyLocalSite.initial_meta(grains))
        local = FlashCopyLocalSite(volumes["source"], volumes["i1"], journal, options, link,
                                   clock=clock)  # fmt: skip
        return RunningSite(local, lambda: local.phase)
    journal = Journal(state_dir, "remote", FlashCopyRemoteSite.initial_meta(grains))
    remote = FlashCopyRemoteSite(volumes["i2"], volumes["target"], journal, options)
    return RunningSite(remote, lambda: str(remote.service.current_state_value))


def serve(running: RunningSite, clock: Clock, cycle: Cycle) -> Served:
    site = running.site
    if isinstance(site, FlashCopyLocalSite):
        return LocalServed(site, clock, cycle)
    assert isinstance(site, FlashCopyRemoteSite)
    return RemoteServed(site, cycle)


NODE_DESIGN = NodeDesign(
    name="cyclic-flashcopy",
    sites=SITE_VOLUMES,
    settings={"map_rule": ("merge", "update")},
    build=build,
    serve=serve,
    peers={"local": "remote", "remote": "local"},
    connects=frozenset({"local"}),
    vocabulary=MESSAGES,
)
