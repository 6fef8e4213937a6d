"""Fault injection: crash a site after a chosen number of its durable writes.

Every durable write of a site (one grain of a volume, one journal record) passes `wrote()`;
the injector keeps a log of them, dm-log-writes style, and raises `SiteCrashed` right after the
n-th write of an armed site.  Writes issued before stay durable; the action in flight is
abandoned by whoever catches the exception.  Reordering within a barrier is not injected:
every write here is followed by its own flush.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class SiteCrashed(Exception):
    def __init__(self, site: str) -> None:
        super().__init__(f"the {site} site crashed")
        self.site: str = site


@dataclass
class CrashInjector:
    armed: dict[str, int] = field(default_factory=dict)
    log: list[tuple[str, str]] = field(default_factory=list)
    log_limit: int = 10_000

    def arm(self, site: str, after_writes: int) -> None:
        self.armed[site] = after_writes

    def wrote(self, site: str, what: str) -> None:
        if len(self.log) < self.log_limit:
            self.log.append((site, what))
        left = self.armed.get(site)
        if left is None:
            return
        if left <= 1:
            del self.armed[site]
            raise SiteCrashed(site)
        self.armed[site] = left - 1
