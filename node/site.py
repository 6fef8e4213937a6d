"""What the product knows of a design: how a config names a site, its volumes and its peers, and
how one site is built on its volumes, journal and links."""

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
"""a site's design settings, checked (always its "site")"""
Clock = Callable[[], float]


class ConfigError(ValueError):
    """A site's config file that cannot be used, in words."""


@dataclass(frozen=True)
class RunningSite:
    site: DurableSite
    phase: Callable[[], str]
    """the phase its controller is in"""
    geometry: Mapping[str, int] = field(default_factory=dict)
    """what both ends of a link must agree on: the grain size, the grains (design B: and its
    topology's fingerprint)"""


@dataclass(frozen=True)
class Links:
    listens_for: tuple[str, ...]
    """the sites that send this one messages (it listens for their connections)"""
    connects_to: tuple[str, ...]
    """the sites this one sends messages to (it connects to each)"""


@dataclass(frozen=True)
class NodeDesign:
    name: str
    keys: frozenset[str]
    """the design's own keys at the top of a config"""
    settings: Callable[[Mapping[str, Any], Path], SiteSettings]
    """a config's site and design keys, checked (ConfigError naming the key)"""
    volumes: Callable[[SiteSettings], frozenset[str]]
    """the volumes the site owns"""
    links: Callable[[SiteSettings], Links]
    build: Callable[[SiteSettings, dict[str, Volume], Path, Mapping[str, Link], Clock],
                    RunningSite]  # fmt: skip
    """one site on its volumes, its journal in the state folder, its links (by peer site) and
    its clock (ConfigError when the volumes do not fit the design)"""
    serve: Callable[[RunningSite, Clock, Cycle], Served]
    """the site as a daemon runs it"""
    vocabulary: Vocabulary
    commit: type
    """the message that commits a point at the receiver (the others carry its data)"""
    pairs: Callable[[SiteSettings], dict[str, bool]]
    """the pairs the site is one of (failover's unit: design A's one pair, a design-B group),
    by name, each with whether the site is its first primary (impl/roles.py)"""
    act: Acting | None = None
    """the site a host configured as one acts as since a resync turned its pair (impl/roles.py
    `acting`, read from the role records): its name, settings and volumes (None: the design's
    pairs do not turn)"""
    start_reversed: StartReversed | None = None
    """the start of the site this host acts as from now on in a pair (model: the design's
    `resync_start`): acting as the one that sends, its first cycle copies the given grains"""


Acting = Callable[[str, SiteSettings, dict[str, Path], Path, int],
                  tuple[str, SiteSettings, dict[str, Path]]]  # fmt: skip
"""(configured site, its settings, its volumes, state folder, grain size) -> the acting site's"""
StartReversed = Callable[[SiteSettings, str, Path, str, int, set[int]], None]
"""(settings, pair, state folder, acting "local" or "remote", grains, copy set)"""


class NoPeer:
    """The link of a site that runs alone: no message is delivered."""

    up = False
    reaches = False

    def send(self, message: object) -> None:
        raise LinkUnavailable("no peer is configured")


def choose(table: Mapping[str, Any], key: str, allowed: tuple[str, ...], where: Path) -> str:
    """A setting with a few allowed values (the first is the default)."""
    value = table.get(key, allowed[0])
    if value not in allowed:
        raise ConfigError(f"{where}: {key} {value!r} is not one of {', '.join(allowed)}")
    return str(value)


def site_of(table: Mapping[str, Any], sites: tuple[str, ...], where: Path) -> str:
    """The config's `site`, one of `sites`."""
    site = table.get("site")
    if not isinstance(site, str):
        raise ConfigError(f"{where}: 'site' is missing" if site is None
                          else f"{where}: 'site' must be a str, got {site!r}")  # fmt: skip
    if site not in sites:
        raise ConfigError(f"{where}: site {site!r} is not one of {', '.join(sites)}")
    return site
