"""The link between the local and the remote site.

The local site only ever talks to the remote through `Link`'s two messages, `mirror_write` and
`commit`, with plain bytes and integers as arguments, so a TCP link can replace the in-process
one without the sites noticing.  `LinkUnavailable` means the message did not reach a live remote
(the link is down or the remote is down); the caller degrades (marks grains out of sync).
A remote that crashes *while* handling a message raises `SiteCrashed` instead: the action in
flight is abandoned, as the model says.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from statemachine import State, StateMachine


class LinkUnavailable(Exception):
    """The message could not be delivered."""


class RemoteEndpoint(Protocol):
    @property
    def up(self) -> bool: ...
    def mirror_write(self, start: int, data: bytes) -> None: ...
    def commit(self, cycle: int) -> None: ...


class Link(Protocol):
    @property
    def up(self) -> bool: ...
    def set_up(self, up: bool) -> None: ...
    @property
    def reaches(self) -> bool: ...
    def mirror_write(self, start: int, data: bytes) -> None: ...
    def commit(self, cycle: int) -> None: ...


class InProcessLink:
    """A link to a remote site object in this process; it can go down and come back."""

    def __init__(self, remote: RemoteEndpoint) -> None:
        self._remote = remote
        self._up = True

    @property
    def up(self) -> bool:
        return self._up

    def set_up(self, up: bool) -> None:
        self._up = up

    @property
    def reaches(self) -> bool:
        """A message sent now would be delivered: the link and the remote are up."""
        return self._up and bool(self._remote.up)

    def _deliverable(self) -> RemoteEndpoint:
        if not self._up:
            raise LinkUnavailable("the link is down")
        if not self._remote.up:
            raise LinkUnavailable("the remote site is down")
        return self._remote

    def mirror_write(self, start: int, data: bytes) -> None:
        self._deliverable().mirror_write(start, data)

    def commit(self, cycle: int) -> None:
        self._deliverable().commit(cycle)


class LinkService(StateMachine):
    """A link's availability as the vocabulary's events: LinkDown and LinkUp.

    `on_change(up)` tells whatever carries the messages (design A's in-process link); a link
    that is only looked up (design B's, by name) needs none.
    """

    up = State("up", initial=True)
    down = State("down")

    LinkDown = up.to(down)
    LinkUp = down.to(up)

    def __init__(self, on_change: Callable[[bool], None] | None = None, **kwargs: Any) -> None:
        self.on_change = on_change
        super().__init__(**kwargs)

    @property
    def is_up(self) -> bool:
        return bool(self.current_state_value == "up")

    def on_enter_down(self) -> None:
        if self.on_change is not None:
            self.on_change(False)

    def on_enter_up(self) -> None:
        if self.on_change is not None:
            self.on_change(True)
