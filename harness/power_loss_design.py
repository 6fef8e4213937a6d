"""What a design supplies to power-loss exploration (harness/power_loss.py), bound to the engine of
one lockstep: its sites and their devices, its engine's recovery, and its model's judgement.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from pitmirror.harness.iolog import Entry, IoLog
from pitmirror.harness.lockstep import Stepper
from pitmirror.impl.journal import Journal, JournalError, MemoryStore, Metadata
from pitmirror.impl.volumes import Volume
from pitmirror.model.actions import Action
from pitmirror.model.design import ActionNotEnabled, ModelState

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

    def write_ends(self, site: str) -> Sequence[int] | None:
        """Where in the log each write of a plan by `site` ended (the log's length when the
        site's write hook heard of it), or None when each is one device write."""
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

    def cut_after(self, before: ModelState, action: Action, site: str, writes: int
                  ) -> ModelState:  # fmt: skip
        """The model's state when `site` loses power just after the plan's `writes`-th write,
        another site's; ActionNotEnabled when no crash can cut there."""
        ...

    def recover(self, site: str, log: bytes, snapshot: bytes | None) -> Recovered:
        """What the engine's recovery makes of these journal files."""
        ...

    def resumes(self, site: str, fields: dict[str, Any], cut: ModelState) -> str | None:
        """Why the recovered site and the others cannot go on together, if they cannot."""
        ...

    def image(self, cut: ModelState, volume: str) -> tuple[int, ...]:
        """A volume's grains at the crash point, as the model has them or the media holds
        them (every grain a write in flight touched is patched over it)."""
        ...

    def grain_number(self, volume: str, index: int) -> int:
        """The grain a volume's grain `index` holds the seed of (its content is encoded with
        it)."""
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


def recover_journal(site: str, log: bytes, snapshot: bytes | None, initial: Metadata) -> Recovered:
    """A site's metadata as a restart rebuilds it from these journal files (`Journal.load`, a
    torn tail cut off), or why the site cannot start.  Then the next record the site appends
    must survive a replay of its own."""
    journal = Journal(MemoryStore(site, log, snapshot), site, initial)
    try:
        meta = journal.load()
        recovered = journal.seq
        journal.append({})
        journal.sync()
        again = journal.replay()
    except JournalError as err:
        return f"the {site} site cannot start: {err}"
    if again.seq != recovered + 1:
        return (
            f"the {site} journal lost record {recovered + 1}, appended after recovery: the "
            "torn tail it was written after was left in the log"
        )
    return meta


def judge_continuing(
    before: ModelState, lifted: ModelState, continuation: Iterable[tuple[str, ModelState]]
) -> Verdict:
    """The spec's predicates on a recovered state (against the state before the step), then
    on every step of its continuation (each named, with the state after it); a continuation
    the model does not allow is a loss of progress."""
    found = lifted.violations(before)
    if found:
        name, why = next(iter(found.items()))
        return Verdict(name, f"{name} broken after recovery: {why}")
    previous = lifted
    try:
        for step, state in continuation:
            found = state.violations(previous)
            if found:
                name, why = next(iter(found.items()))
                return Verdict(name, f"{name} broken later, at {step}: {why}")
            previous = state
    except ActionNotEnabled as err:
        return Verdict("inv_progress", f"the recovered state cannot go on: {err}")
    return OK
