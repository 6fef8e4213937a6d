"""A site of the two-process lockstep: the product's daemon, stepped by the harness.

`python -m pitmirror.harness.site_process --config FILE [--mutant NAME]` runs the daemon's own
code (node/daemon.py: the same site, engine thread, links and control socket as `pitmirror
serve`) with differences that are all the harness's: the site does no background work — each of
its actions arrives as an `apply` request (a host read as `read`), so the model steps with it; a
crash after n writes is armed by an `arm` request and is a SIGKILL the process sends itself
right after its n-th durable write (what `CrashSite(site, n)` means); after each action the
site's structural invariants are checked; and a transport mutant's listener replaces the
product's (harness/transport_listeners.py).  Either design's sites run this way
(harness/cyclic_flashcopy/tcp_world.py, harness/freeze_overlay/tcp_world.py).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import dataclasses
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

from pitmirror.harness.transport_listeners import LISTENERS
from pitmirror.impl.site import EngineInvariantBroken, EngineRefused
from pitmirror.model.actions import TraceFormatError, action_from_json
from pitmirror.node.config import SiteConfig, load_config
from pitmirror.node.control import Handler
from pitmirror.node.daemon import Daemon
from pitmirror.node.served import Served
from pitmirror.node.site import RunningSite
from pitmirror.node.transport import read_secret


class SteppedEngine(Daemon):
    """A daemon whose site the harness steps: no background work; each engine call the harness
    asks for is followed by the site's structural invariants, and answered in words."""

    background = False

    def __init__(self, config: SiteConfig, secret: bytes) -> None:
        super().__init__(config, secret)
        # a link the harness restored comes up at once, not after the product's backoff (up to
        # 5 s, for which every action that restores a link or a site would wait)
        self.timeouts = dataclasses.replace(self.timeouts, retry=0.02, retry_max=0.1)
        self.site: Any = None
        self.crash_after: int | None = None
        """durable writes (or steps) to let through before the armed crash"""

    def count_down(self) -> None:
        """One durable write done: the armed crash is a SIGKILL right after its last one."""
        if self.crash_after is not None:
            self.crash_after -= 1
            if self.crash_after == 0:
                os.kill(os.getpid(), signal.SIGKILL)

    def prepare(self, running: RunningSite, served: Served) -> None:
        self.site = running.site

    def _step(self, call: Any, *args: Any) -> Any:
        """One engine call, then the site's invariants (EngineInvariantBroken)."""
        result = call(*args)
        self.site.check_structure()
        return result

    async def step(self, served: Served, call: Any, *args: Any) -> dict[str, Any]:
        """`call(*args)` on the engine thread: its result, or the refusal or the broken
        invariant in words; what the site has to tell published and reported after it."""
        try:
            result = await self.on_engine(self._step, call, *args)
        except EngineRefused as refused:
            return {"refused": str(refused)}
        except EngineInvariantBroken as broken:
            return {"broken": str(broken)}
        finally:
            await self.on_engine(self._publish, served)
            await self._report()
        return {"ok": True, "result": result}


class SteppedDaemon(SteppedEngine):
    def __init__(self, config: SiteConfig, secret: bytes, mutant: str | None) -> None:
        super().__init__(config, secret)
        if mutant is not None:
            self.server_class = LISTENERS[mutant]

    def prepare(self, running: RunningSite, served: Served) -> None:
        super().prepare(running, served)
        self.site.on_write = self._wrote

    def _wrote(self, site: str, what: str) -> None:
        self.count_down()

    def handlers(self, served: Served) -> dict[str, Handler]:
        async def step(call: Any, *args: Any) -> dict[str, Any]:
            answer = await self.step(served, call, *args)
            result = answer.pop("result", None)
            if isinstance(result, bytes):
                answer["data"] = base64.b64encode(result).decode()
            return answer

        async def apply(request: dict[str, Any]) -> dict[str, Any]:
            try:
                action = action_from_json(request.get("action"))
            except TraceFormatError as err:
                return {"error": str(err)}
            return await step(self.site.apply, action)

        async def read(request: dict[str, Any]) -> dict[str, Any]:
            grain = request.get("grain")
            if not isinstance(grain, int):
                return {"error": "a read names a grain"}
            return await step(self.site.host_read, grain)

        async def write(request: dict[str, Any]) -> dict[str, Any]:
            grain, data = request.get("grain"), request.get("data")
            fua = request.get("fua", True)
            if not isinstance(grain, int) or not isinstance(data, str) or not isinstance(fua, bool):
                return {"error": "a write names a grain, base64 data and whether it is FUA"}
            return await step(self.site.host_write, grain, base64.b64decode(data), fua)

        async def flush(request: dict[str, Any]) -> dict[str, Any]:
            volume = request.get("volume")
            if not isinstance(volume, int):
                return {"error": "a flush names a volume"}
            return await step(self.site.host_flush, volume)

        async def cache(request: dict[str, Any]) -> dict[str, Any]:
            """The host's cache of one volume (the harness compares it with the model's)."""
            volume = request.get("volume")
            held = await self.on_engine(lambda: dict(self.site.cache.get(volume, {})))
            return {"ok": True, "cache": {str(o): base64.b64encode(d).decode()
                                          for o, d in held.items()}}  # fmt: skip

        async def arm(request: dict[str, Any]) -> dict[str, Any]:
            after = request.get("after")
            if not isinstance(after, int) or after < 1:
                return {"error": "arm names a positive number of writes"}
            self.crash_after = after
            return {"ok": True}

        return {**super().handlers(served), "apply": apply, "read": read, "write": write,
                "flush": flush, "cache": cache, "arm": arm}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(prog="pitmirror.harness.site_process")
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--mutant", choices=sorted(LISTENERS), default=None)
    args = parser.parse_args()
    config = load_config(args.config)
    assert config.secret_file is not None
    form = f"%(asctime)s {config.site}[stepped] %(levelname)s: %(message)s"
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format=form)
    daemon = SteppedDaemon(config, read_secret(config.secret_file), args.mutant)

    async def until_stopped() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await daemon.run(stop)

    asyncio.run(until_stopped())


if __name__ == "__main__":
    main()
