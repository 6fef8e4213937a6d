"""A site's link to a peer: the port its messages leave by, and the link's own events.

A site sends its peer typed messages (impl/<design>/messages.py) through a `Link` and never
touches the peer's volumes; what carries them — the harness's in-process link, which encodes and
decodes every message, or a network transport — is given to the site.  `LinkUnavailable` means
the message did not reach a live peer (the link or the peer is down): the sender degrades (marks
grains out of sync).  A peer that crashes *while* handling a message raises its crash instead:
the action in flight is abandoned, as the model says.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from statemachine import State, StateMachine


class LinkUnavailable(Exception):
    """The message could not be delivered."""


class Link(Protocol):
    @property
    def up(self) -> bool:
        """The link itself is up (the peer may still be down)."""
        ...

    @property
    def reaches(self) -> bool:
        """A message sent now would be delivered: the link and the peer are up."""
        ...

    def send(self, message: object) -> None:
        """Deliver one message and return once the peer applied it; LinkUnavailable when it
        cannot be delivered."""
        ...


class LinkService(StateMachine):
    """A link's availability as the vocabulary's events: LinkDown and LinkUp.

    `on_change(up)` tells whatever carries the messages (the harness's in-process links, both
    directions of one link), so that a message sent while it is down is not delivered.
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
