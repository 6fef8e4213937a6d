"""Design A's remote site: I2 and T, the received and target maps and the committed point.

It changes only its own volumes and journal, and only when the local site's messages
(impl/cyclic_flashcopy/messages.py) or its own background work (DrainTarget) say so; each is an
event of its controller (`RemoteService`), refused while the site is down.  The write order per
action is the model's write plan (model/cyclic_flashcopy_rules.py).
"""

from __future__ import annotations

from typing import Any

from statemachine.exceptions import TransitionNotAllowed

from pitmirror.impl.bitmap import GrainMap
from pitmirror.impl.cyclic_flashcopy.controllers import RemoteService
from pitmirror.impl.cyclic_flashcopy.messages import (
    MESSAGES,
    Commit,
    Message,
    MirrorRuns,
    MirrorWrite,
)
from pitmirror.impl.cyclic_flashcopy.metadata import RemoteMeta
from pitmirror.impl.journal import Journal, Metadata
from pitmirror.impl.runs_payload import grains_of_runs, split_runs
from pitmirror.impl.site import (
    DurableSite,
    EngineInvariantBroken,
    EngineRefused,
    WriteHook,
    event_arguments,
    require_extent,
)
from pitmirror.impl.volumes import Volume
from pitmirror.model.actions import (
    Action,
    Site,
    action_name,
    describe,
)
from pitmirror.model.cyclic_flashcopy import Options
from pitmirror.model.cyclic_flashcopy_vocabulary import takes
from pitmirror.model.extents import Extent
from pitmirror.model.extents import runs as runs_of

REMOTE_VOLUMES = ("i2", "target")


def lost_commit(cycle: int, committed: int) -> str | None:
    """What the two journals say was lost, if they disagree in a way no crash between whole
    records can cause: the local site starts cycle k+1 only after the remote committed point k,
    and the remote commits only the local site's current point, so committed <= cycle <=
    committed + 1."""
    if committed > cycle:
        return (
            f"the local journal lost records: the remote committed point {committed}, the "
            f"local site is at cycle {cycle}"
        )
    if cycle > committed + 1:
        return (
            f"the remote journal lost the commit of point {cycle - 1}: the local site is at "
            f"cycle {cycle}, the remote recovers point {committed}"
        )
    return None


class FlashCopyRemoteSite(DurableSite):
    """I2 and T, the target map and the committed point."""

    site: Site = "remote"

    def __init__(
        self,
        i2: Volume,
        target: Volume,
        journal: Journal,
        options: Options,
        on_write: WriteHook | None = None,
    ) -> None:
        super().__init__(journal, on_write)
        self.i2, self.target, self.options = i2, target, options
        self.start()
        self.service = RemoteService(self)

    @staticmethod
    def initial_meta(grain_count: int) -> Metadata:
        return RemoteMeta.initial(grain_count)

    def remote_meta(self, durable: bool = False) -> RemoteMeta:
        """The running site's metadata (SiteDown when it is not), or (`durable`) as its
        journal holds it, up or down."""
        return RemoteMeta.read(self.durable_meta() if durable else self.live_meta())

    # ---- the door: actions of the vocabulary and messages, each an event of the controller ---

    def apply(self, action: Action) -> None:
        """An action the vocabulary routes to the remote site (DrainTarget, CrashSite now,
        Recover); EngineRefused when it is another's or the controller does not allow it now."""
        if not takes(self.site, action):
            raise EngineRefused(f"{describe(action)} is no action of the remote site")
        self._send(action_name(action), event_arguments(action))

    def receive(self, data: bytes) -> None:
        """One message from the local site, as bytes (MessageError when they are not one)."""
        message: Message = MESSAGES.decode(data)
        match message:
            case MirrorWrite(grain=grain, data=payload):
                count = len(payload) // self.i2.grain_size
                self._send("MirrorWrite", {"runs": [(grain, count)], "data": payload})
            case MirrorRuns(data=payload):
                self._send("MirrorWrite", {"runs": message.extents(), "data": payload})
            case Commit(cycle=cycle, taken_at=taken_at):
                self._send("Commit", {"cycle": cycle, "taken_at": taken_at})

    def _send(self, event: str, arguments: dict[str, Any]) -> None:
        try:
            self.service.send(event, **arguments)
        except TransitionNotAllowed as refused:
            raise EngineRefused(
                f"the remote site refused {event} while {self.service.current_state_value}"
            ) from refused

    def check_structure(self) -> None:
        if self.up != (self.service.current_state_value != "down"):
            raise EngineInvariantBroken("the remote site's state and its controller disagree")

    # ---- the work of each event --------------------------------------------------------------

    def mirror_write(self, runs: list[Extent], data: bytes) -> None:
        """Put `data` in I2 at the extents `runs` (in order, apart) without losing the committed
        image: one write of the plan, however many runs."""
        grains = grains_of_runs(runs, len(data), self.i2.grain_count, self.i2.grain_size,
                                "a mirror write")  # fmt: skip
        target_map = self.remote_meta().target_map
        needed = [g for g in grains if g in target_map]
        protected = needed if self.protects(len(grains)) else []
        if protected:
            self._write_runs(self.target, self._saved_target(protected),
                             durable=self.keeps("protection"))  # fmt: skip
        self._record(RemoteMeta.received(grains, protected))
        writes = split_runs(runs, data, self.i2.grain_size)
        self._write_runs(self.i2, writes, durable=self.keeps("copy data"))

    def protects(self, count: int) -> bool:
        """Target protection (DESIGN A.6) over every grain of a mirror write of `count`."""
        return True

    def _saved_target(self, protected: list[int]) -> list[tuple[int, bytes]]:
        """I2's committed values of the protected grains, run by run, as T's one write."""
        return [(start, self.i2.read_grains(start, count)) for start, count in runs_of(protected)]

    def commit(self, cycle: int, taken_at: int = 0) -> None:
        """The commit of point `cycle`: the grains received become the target map, atomically."""
        received = self.remote_meta().received_map
        self._record(RemoteMeta.committed_point(cycle, received, taken_at),
                     durable=self.keeps("commit"))  # fmt: skip

    def drain(self, grain: int, count: int = 1) -> None:
        """Copy committed grains I2 -> T and clear their target bits."""
        require_extent(self.remote_meta().target_map, grain, count, "in the target map")
        self._write(self.target, grain, self.i2.read_grains(grain, count))
        grains = list(range(grain, grain + count))
        self._record(RemoteMeta.drained(self.drained(grains, grain + count)))

    def drained(self, grains: list[int], end: int) -> list[int]:
        """The grains a drain of `grains` takes out of the target map (`end`: the grain after
        its extent)."""
        return grains

    # ---- failover ----------------------------------------------------------------------------

    def in_i2(self) -> GrainMap:
        """Where a failover reads I2, not T: the durable target map."""
        return self.remote_meta(durable=True).target_map

    def recoverable_image(self) -> bytes:
        """A failover read: T[g], or I2[g] while g is in the durable target map."""
        size, target = self.target.grain_size, self.target.read_grains(0, self.target.grain_count)
        pieces: list[bytes | memoryview] = []
        end = 0  # of the target bytes taken so far, in grains
        for first, count in self.in_i2().extents():
            pieces += [memoryview(target)[end * size : first * size],
                       self.i2.read_grains(first, count)]  # fmt: skip
            end = first + count
        if not pieces:
            return target
        return b"".join([*pieces, memoryview(target)[end * size :]])
