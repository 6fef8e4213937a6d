"""What puts several sites of a design together in one process, for the harness: the
in-process link that carries their messages.

The link encodes every message to bytes and the receiving site decodes it (impl/wire.py), so
every lockstep step runs the byte form a network link carries.  It can go down and come back
(the vocabulary's LinkDown and LinkUp), and a message to a peer that is down is not delivered.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from pitmirror.impl.link import LinkUnavailable
from pitmirror.impl.wire import Vocabulary


class Receiver(Protocol):
    @property
    def up(self) -> bool: ...
    def receive(self, data: bytes) -> None: ...


class InProcessLink:
    """A link to a peer site object in this process, carrying one design's messages."""

    def __init__(self, vocabulary: Vocabulary, peer: Receiver) -> None:
        self.vocabulary = vocabulary
        self._peer = peer
        self._up = True
        self.tap: Callable[[bytes], None] | None = None
        """told every message's bytes as they leave (tests)"""

    @property
    def up(self) -> bool:
        return self._up

    def set_up(self, up: bool) -> None:
        self._up = up

    @property
    def reaches(self) -> bool:
        return self._up and bool(self._peer.up)

    def send(self, message: object) -> None:
        if not self._up:
            raise LinkUnavailable("the link is down")
        if not self._peer.up:
            raise LinkUnavailable("the peer site is down")
        data = self.vocabulary.encode(message)
        if self.tap is not None:
            self.tap(data)
        self._peer.receive(data)
