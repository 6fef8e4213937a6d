"""What the product knows of a design: the volumes each of its sites owns, the settings a site
takes, and how one site is built on its volumes, journal and link."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pitmirror.impl.link import Link, LinkUnavailable
from pitmirror.impl.site import DurableSite
from pitmirror.impl.volumes import Volume

SiteSettings = Mapping[str, Any]
"""a site's config table, checked"""


@dataclass(frozen=True)
class RunningSite:
    site: DurableSite
    phase: Callable[[], str]
    """the phase its controller is in"""


@dataclass(frozen=True)
class NodeDesign:
    name: str
    sites: Mapping[str, tuple[str, ...]]
    """each site's name and the volumes it owns"""
    settings: Mapping[str, tuple[str, ...]]
    """the optional settings a site of the design takes, each with its allowed values (the
    first is the default)"""
    build: Callable[[SiteSettings, dict[str, Volume], int, Path, Link], RunningSite]
    """one site on its volumes (of `grains` grains), its journal in the state folder, its link"""


class NoPeer:
    """The link of a site that runs alone: no message is delivered."""

    up = False
    reaches = False

    def send(self, message: object) -> None:
        raise LinkUnavailable("no peer is configured")
