"""What the product knows of a design: the volumes each of its sites owns, the settings a site
takes, and how one site is built on its volumes, journal and link."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pitmirror.impl.link import Link, LinkUnavailable
from pitmirror.impl.site import DurableSite
from pitmirror.impl.volumes import Volume
from pitmirror.impl.wire import Vocabulary
from pitmirror.node.served import Cycle, Served

SiteSettings = Mapping[str, Any]
"""a site's config table, checked"""
Clock = Callable[[], float]


@dataclass(frozen=True)
class RunningSite:
    site: DurableSite
    phase: Callable[[], str]
    """the phase its controller is in"""
    geometry: Mapping[str, int] = field(default_factory=dict)
    """grain_size and grains of its volumes (both sites' must agree)"""


@dataclass(frozen=True)
class NodeDesign:
    name: str
    sites: Mapping[str, tuple[str, ...]]
    """each site's name and the volumes it owns"""
    settings: Mapping[str, tuple[str, ...]]
    """the optional settings a site of the design takes, each with its allowed values (the
    first is the default)"""
    build: Callable[[SiteSettings, dict[str, Volume], int, Path, Link, Clock], RunningSite]
    """one site on its volumes (of `grains` grains), its journal in the state folder, its link
    and its clock"""
    serve: Callable[[RunningSite, Clock, Cycle], Served]
    """the site as a daemon runs it"""
    peers: Mapping[str, str]
    """each site's peer"""
    connects: frozenset[str]
    """the sites that connect to their peer (the others listen)"""
    vocabulary: Vocabulary


class NoPeer:
    """The link of a site that runs alone: no message is delivered."""

    up = False
    reaches = False

    def send(self, message: object) -> None:
        raise LinkUnavailable("no peer is configured")
