"""Transport mutants: listeners that get the link's promise wrong, each one way.

The link promises that a frame is acknowledged only once the site applied it (durably), that
frames are applied in order, and that a frame cut in flight is resent and applied once.  Each
mutant is a subclass of the product's listener (node/transport.py) that breaks one of these;
the two-process lockstep (harness/<design>/tcp_world.py) must catch each with a replayable
trace.  None of them is a design mutant: the model and the proof are the same; what is wrong is
below them, where the harness runs the engine over a real network.  One of them tells a commit
from data by the design's messages (design A's Commit, design B's Complete).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pitmirror.node.designs import DESIGNS
from pitmirror.node.frames import Frame
from pitmirror.node.transport import Connection, PeerServer


@dataclass
class AcknowledgeBeforeApplying(PeerServer):
    """Acknowledges a frame when it arrives and applies it when the next one does: the sender
    goes on as if the remote held what it does not (yet)."""

    held: bytes | None = None

    async def on_data(self, connection: Connection, session: int, frame: Frame) -> None:
        if frame.seq <= self.sessions[session]:
            await self.acknowledge(connection, self.sessions[session])
            return
        self.sessions[session] = frame.seq
        await self.acknowledge(connection, frame.seq)
        if self.held is not None:
            await self.apply(self.held)
        self.held = frame.payload


def is_commit(design: str, payload: bytes) -> bool:
    """Whether a message is the design's commit (design A's Commit, design B's Complete)."""
    node = DESIGNS[design]
    return isinstance(node.vocabulary.decode(payload), node.commit)


@dataclass
class CommitBeforeItsData(PeerServer):
    """Applies a commit when it arrives, ahead of the data frames it holds back: a commit is
    accepted before every frame of its cycle was applied."""

    held: list[bytes] = field(default_factory=list)

    async def on_data(self, connection: Connection, session: int, frame: Frame) -> None:
        if frame.seq <= self.sessions[session]:
            await self.acknowledge(connection, self.sessions[session])
            return
        self.sessions[session] = frame.seq
        if not is_commit(self.identity.design, frame.payload):
            self.held.append(frame.payload)
            await self.acknowledge(connection, frame.seq)
            return
        reply = await self.apply(frame.payload)
        for payload in self.held:
            await self.apply(payload)
        self.held.clear()
        await self.acknowledge(connection, frame.seq, reply)


@dataclass
class SessionForgottenAtReconnect(PeerServer):
    """Takes every connection for a new session, so it states the connector's next frame as
    its resume point: a frame cut in flight is taken as applied and never applied."""

    def resume_point(self, session: int, base: int) -> int:
        self.sessions[session] = base
        return base


LISTENERS: dict[str, type[PeerServer]] = {
    "acknowledge-before-applying": AcknowledgeBeforeApplying,
    "commit-before-its-data": CommitBeforeItsData,
    "session-forgotten-at-reconnect": SessionForgottenAtReconnect,
}
"""the catalogue: each mutant's name, as `check --transport tcp:NAME` and verify say it"""
