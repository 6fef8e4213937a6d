"""What a design supplies to power-loss exploration (harness/crash.py), bound to the engine of
one lockstep: its sites and their devices, its engine's recovery, and its model's judgement.

A design without one (`Design.power_loss` is None) is refused by `pitmirror crash` in words.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from pitmirror.harness.lockstep import Stepper
from pitmirror.impl.iolog import Entry, IoLog
from pitmirror.impl.journal import Journal
from pitmirror.impl.volumes import Volume
from pitmirror.model.actions import Action
from pitmirror.model.design import ModelState

RECOVERS = "inv_recovers"
"""every state a power loss leaves recovers: the journals replay and the sites resume"""


@dataclass(frozen=True)
class Verdict:
    predicate: str | None
    why: str

    @property
    def ok(self) -> bool:
        return self.predicate is None


OK = Verdict(None, "")

Recovered = dict[str, Any] | str
"""the model's fields of a site as its recovered journal holds them, or why it cannot start"""


class PowerLoss(Protocol):
    sites: tuple[str, ...]

    def attach(self, log: IoLog | None) -> None:
        """Put the write log under every volume and journal of the engine (None: take it
        away)."""
        ...

    def may_lose_power(self, before: ModelState, site: str) -> bool:
        """`site` is running and the step is not already cut by a crash the trace armed."""
        ...

    def volumes(self, site: str) -> dict[str, Volume]: ...
    def journal(self, site: str) -> Journal: ...

    def plan_mismatch(
        self, before: ModelState, action: Action, entries: Sequence[Entry]
    ) -> str | None:
        """Where the engine's writes and flushes for `action` differ from the model's write
        plan, in words."""
        ...

    def cut(self, before: ModelState, action: Action, site: str, nth: int | None) -> ModelState:
        """The model's state when `site` loses power just after its `nth` write of `action`
        (None: after the action completed); ActionNotEnabled when no crash can cut there."""
        ...

    def recover(self, site: str, log: bytes, snapshot: bytes | None) -> Recovered:
        """What the engine's recovery makes of these journal files."""
        ...

    def resumes(self, site: str, fields: dict[str, Any], cut: ModelState) -> str | None:
        """Why the recovered site and the others cannot go on together, if they cannot."""
        ...

    def image(self, cut: ModelState, volume: str) -> tuple[int, ...]:
        """A volume's grains as the model has them at the crash point."""
        ...

    def lift(
        self,
        cut: ModelState,
        site: str,
        fields: dict[str, Any],
        images: dict[str, tuple[int, ...]],
        action: Action,
        completed: bool,
    ) -> ModelState:
        """The crash point's model state with `site`'s half as its media recovered it."""
        ...

    def judge(self, before: ModelState, lifted: ModelState) -> Verdict:
        """The model's judgement of a recovered state and of where it leads."""
        ...


PowerLossFactory = Callable[[Stepper], PowerLoss]
