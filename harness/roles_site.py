"""A host of the roles' two-process lockstep: the product's daemon, stepped by the harness.

`python -m pitmirror.harness.roles_site --config FILE` runs the daemon's own code
(node/daemon.py and node/failover.py: the site, its links, its role records, the commands
`promote`, `demote`, `resync` and `reverse` and the HELLOs in which the pair turns, the restart
as the turned site) with differences that are all the harness's: the site does no background
work — the cycle runs only on `tick` requests, a drain only on `drain`, so the roles model
steps with it; a crash after n steps is armed by `arm` and is a SIGKILL the process sends itself
right after the command's n-th durable step (what `CrashSite(site, n)` means); and `view`,
`link` and `committed` say what the lockstep compares (harness/roles_processes.py drives two
of these).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

from pitmirror.harness.designs import design_named
from pitmirror.harness.roles_world import SiteProbe
from pitmirror.harness.site_process import SteppedEngine
from pitmirror.node import turns
from pitmirror.node.config import SiteConfig, load_config
from pitmirror.node.control import Handler
from pitmirror.node.served import Served
from pitmirror.node.transport import read_secret


class RolesSteppedDaemon(SteppedEngine):
    def __init__(self, config: SiteConfig, secret: bytes, probe: SiteProbe) -> None:
        super().__init__(config, secret)
        self.probe = probe
        self.meets = 0
        """HELLOs met since the process started: the harness waits for a meeting"""

    def run_turn(self, steps: list[turns.Step]) -> None:
        for _, step in steps:
            step()
            self.count_down()

    async def _host_write(self, served: Served, request: dict[str, Any]) -> dict[str, Any]:
        """The product's host write; at a promoted copy two steps a crash may cut, as the
        model's plan has them: the grain tracked in the dirty log, then written."""
        pair = self.pair
        promoted = self.roles.books[pair].writable and not served.sends(pair)
        if promoted:
            self.roles.dirty_log(pair).on_add = self.count_down
        answer = await super()._host_write(served, request)
        if promoted and "error" not in answer:
            self.count_down()
        return answer

    def _meet(self, hello: dict[str, Any], listener: bool) -> str | None:
        try:
            return super()._meet(hello, listener)
        finally:
            self.meets += 1

    @property
    def pair(self) -> str:
        return next(iter(self.roles.books))

    def _view(self, served: Served) -> dict[str, Any]:
        pair = self.pair
        image, pending, recovered = self.probe.seen(served)
        changed = turns.changed(served, self.roles, pair)
        return {
            "record": self.roles.books[pair].record.to_json(),
            "image": list(image),
            "pending": sorted(pending),
            "recovered": list(recovered),
            "sends": served.sends(pair),
            "refusal": self.roles.host_refusal(pair),
            "synchronized": not changed and not served.cached_grains(),
            "draining": served.draining(pair),
        }

    def handlers(self, served: Served) -> dict[str, Handler]:
        async def view(request: dict[str, Any]) -> dict[str, Any]:
            return {"ok": True, **await self.on_engine(self._view, served)}

        def ticked(source: bool) -> dict[str, Any]:
            """One tick of the site's background work; at the source, whether it took a point."""
            point = self.probe.point(served) if source else 0
            busy = self._tick(served)
            return {"busy": busy, "took": source and self.probe.point(served) > point}

        async def tick(request: dict[str, Any]) -> dict[str, Any]:
            return await self.step(served, ticked, request.get("source") is True)

        async def committed(request: dict[str, Any]) -> dict[str, Any]:
            return {"ok": True, "committed": await self.on_engine(self.probe.committed, served)}

        async def drain(request: dict[str, Any]) -> dict[str, Any]:
            first, count = request.get("grain"), request.get("count")
            if not isinstance(first, int) or not isinstance(count, int):
                return {"error": "a drain names a grain and a count"}
            return await self.step(served, self.probe.drain, served, range(first, first + count))

        async def link(request: dict[str, Any]) -> dict[str, Any]:
            stats = self.links.values()
            return {"ok": True, "meets": self.meets, "up": bool(stats) and all(s.up for s in stats),
                    "down": not any(s.up for s in stats), "armed": self.crash_after,
                    "record": self.roles.books[self.pair].record.to_json()}  # fmt: skip

        async def arm(request: dict[str, Any]) -> dict[str, Any]:
            after = request.get("after")
            if not isinstance(after, int) or after < 1:
                return {"error": "arm names a positive number of steps"}
            self.crash_after = after
            return {"ok": True}

        return {**super().handlers(served), "view": view, "tick": tick, "committed": committed,
                "drain": drain, "link": link, "arm": arm}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(prog="pitmirror.harness.roles_site")
    parser.add_argument("--config", type=Path, required=True)
    args = parser.parse_args()
    config = load_config(args.config)
    assert config.secret_file is not None
    form = f"%(asctime)s {config.site}[roles] %(levelname)s: %(message)s"
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format=form)
    probe = design_named(config.design).roles_probe(config.settings)
    daemon = RolesSteppedDaemon(config, read_secret(config.secret_file), probe)

    async def until_stopped() -> bool:
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await daemon.run(stop)
        return daemon.turned and not stop.is_set()

    if asyncio.run(until_stopped()):  # as `pitmirror serve` does: the turned site, anew
        os.execv(sys.executable, sys.orig_argv)


if __name__ == "__main__":
    main()
