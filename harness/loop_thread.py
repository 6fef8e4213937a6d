"""An event loop on a thread of its own, for the harness's network parts (the fault proxy, the
local site's link in the two-process lockstep): the harness and the engine are synchronous and
call into it."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class LoopThread:
    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self.thread.start()

    def call(self, coroutine: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        """The coroutine run on the loop, waited for from this thread."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        if not self.thread.is_alive():
            self.loop.close()


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on now (for a child process to bind)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])
