"""Fault injection: crash a site after a chosen number of its writes.

Every write of a site (one extent of a volume, one journal record) passes `wrote()`; the
injector keeps their names and raises `SiteCrashed` right after the n-th write of an armed
site.  Writes issued before are all on the media here (a crash between whole writes); the
action in flight is abandoned by whoever catches the exception.  Power loss as real storage
does it — unflushed writes lost, reordered or torn — is built from the write log under the
volumes and journals (harness/iolog.py) by the power-loss explorer (harness/power_loss.py).
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
