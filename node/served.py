"""What a daemon asks of the site it serves, whatever the design (node/daemon.py drives it).

Every method runs on the daemon's engine thread, one call at a time, except `judge`, which the
link calls during a handshake and which reads only what the last engine call published.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pitmirror.impl.roles import DirtyLog
from pitmirror.impl.site import EngineRefused


@dataclass(frozen=True)
class Cycle:
    """The cycle settings of a config's [cycle] table."""

    idle_seconds: float = 0.05
    extents_per_tick: int = 4
    max_extent_grains: int = 256
    """the grains one action moves (design A: of a window, however sparse), with one barrier"""
    interval_seconds: float = 0.0
    """design B: at least this long from one point to the next"""


@dataclass(frozen=True)
class CommittedVolume:
    """One volume of a committed point this site holds a copy of: what a failover reads."""

    name: str
    grains: int
    point: dict[str, Any]
    """the point as status shows it (number, source time, digest)"""
    read: Callable[[int, int], bytes]
    """grains `start`.. (`count` of them) of the committed image"""


class Served:
    grain_size: int
    write_cache: bool = False
    """the site's host door has a volatile write cache (writes without FUA, flushes)"""
    host_refusal: Callable[[int], str | None] = staticmethod(lambda grain: None)
    """why the host may not write from this grain at this site (its role in the grain's pair,
    node/roles.py), or None; the daemon sets it"""

    apart: Callable[[str], bool] = staticmethod(lambda pair: False)
    """whether the pair is apart at this site (outdated, split: node/roles.py), so it mirrors
    nothing; the daemon sets it"""

    def refuse_host(self, grain: int) -> None:
        """EngineRefused when the site's role refuses the host's write."""
        if (why := self.host_refusal(grain)) is not None:
            raise EngineRefused(why)

    def tick(self) -> bool:
        """One bounded slice of background work; True when more is waiting now."""
        raise NotImplementedError

    def receive(self, payload: bytes) -> dict[str, Any] | None:
        """One message from the peer, applied (durable) before this returns, and what to tell
        the sender with the acknowledgement; MessageRefused when the site refused it,
        MessageError when the bytes are no message."""
        raise NotImplementedError

    def replied(self, site: str, reply: dict[str, Any]) -> None:
        """What the peer `site` said with an acknowledgement or a report (the loop's thread
        calls this)."""

    def reports(self) -> dict[str, dict[str, Any]]:
        """What to tell each peer that connects here of what changed since the last call, not
        said in an acknowledgement (a REPORT each)."""
        return {}

    def hello(self) -> dict[str, Any]:
        """The design's part of this site's HELLO."""
        raise NotImplementedError

    def judge(self, peer: dict[str, Any]) -> str | None:
        """Why not to mirror with a peer whose HELLO says this (its "site" says which), or
        None."""
        raise NotImplementedError

    def report(self) -> dict[str, Any]:
        """The site's part of the status document, read from its journal's state."""
        raise NotImplementedError

    def host_write(self, grain: int, data: bytes, fua: bool = True) -> int:
        """Whole grains from `grain` through the site's host door, each durable before this
        returns (`fua`) or in the site's write cache; the cycle they fall in.  EngineRefused
        where the site has no host door."""
        raise NotImplementedError

    def host_flush(self) -> None:
        """Every write cached before it durable once this returns."""

    def cached_grains(self) -> int:
        """How many grains the write cache holds."""
        return 0

    def host_read(self, grain: int, count: int) -> bytes:
        """`count` whole grains from `grain` through the site's host door: the host's newest
        view."""
        raise EngineRefused("this site has no host door")

    def committed_volumes(self) -> list[CommittedVolume]:
        """Every volume this site holds a committed image of (none at a site that only
        sends), read from its volumes and its durable journal."""
        return []

    def host_volumes(self) -> dict[str, tuple[int, int]]:
        """The volumes the host writes at this site, by name: (first grain in the host door,
        grain count); none at a site that only holds copies."""
        return {}

    def resync_grains(self) -> set[int]:
        """The grains where this site's volume may differ from the committed image (the roles'
        dirty and pending grains: model/roles_rules.py), from its durable journal: what a
        resync copies, never the whole volume."""
        raise EngineRefused("this site's design does not resync yet")

    def sends(self, pair: str) -> bool:
        """This site is the one of `pair` that sends (design A's local site, a design-B group's
        home): the one a switch turns into the receiver."""
        return bool(self.host_volumes())

    def draining(self, pair: str) -> bool:
        """This site's copy of `pair` still holds its last point beside it (not rolled): it
        cannot be a resync's source until it has drained."""
        return False

    def why_not_turnable(self, pair: str) -> str | None:
        """Why `pair` cannot turn (resync, reverse) here, or None."""
        return None

    def pair_of(self, grain: int) -> str:
        """The pair (node/roles.py) the host's grain belongs to: design A's one pair, design B's
        group."""
        return ""

    def why_not_promotable(self, pair: str) -> str | None:
        """Why this site holds no copy of `pair` a promote can roll to, or None."""
        return "this site holds no copy a promote can roll to"

    def holds_a_point(self, pair: str) -> bool:
        """The copy of `pair` here holds a point its primary committed since the copy started
        (a start's point 0 is the copy's own volume); a site that sends holds its source."""
        return True

    def serves_host(self, pair: str) -> bool:
        """The host writes `pair`'s volumes here now."""
        return bool(self.host_volumes())

    def roll(self, pair: str = "") -> None:
        """A promote's roll: the site's copy of `pair` becomes its committed image (every grain
        whose committed value is held beside it copied in), durable before this returns."""
        raise EngineRefused(self.why_not_promotable(pair) or "this site cannot be promoted")

    def serve_host(self, dirty: DirtyLog, pair: str = "") -> None:
        """After a promote: the host writes the rolled copy of `pair` here, each write's grains
        in `dirty` before the volume takes them."""
        raise EngineRefused(self.why_not_promotable(pair) or "this site cannot be promoted")


def point(number: int, committed_at_us: int, digest: str | None) -> dict[str, Any]:
    """A committed point as status shows it; its source time None when not recorded (the
    mirror's first point: the daemon says when the mirror was created)."""
    return {"number": number, "source_time": committed_at_us / 1e6 if committed_at_us else None,
            "digest": digest}  # fmt: skip
