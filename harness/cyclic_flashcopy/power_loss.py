"""Design A under power loss: a crashed site's media recovered by the engine's own recovery
code and judged by the model.

Recovery is what `Recover` runs: the site's journal replayed by `Journal.load` (a torn tail cut
off), then the check that the two journals agree (`lost_commit`). The recovered metadata and the
volumes' grains replace the crashed site's half of the model's state at the crash point (`lift`);
the model's ghost (the points P_0..P_k, the acknowledged writes) follows what the recovered journal
says, and the host's cache of a local site is lost. The model then judges it: every predicate of the
spec against the state before the action (no acknowledged write lost, the target a committed point's
image, the committed point not gone back), and the continuation — every site up, the link up,
background work to the next commit and every grain drained — must keep them all. A continuation
carries a recovered mistake (a copy bit cleared for data that never reached I1 or I2) into the next
point, where the spec sees it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from typing import Any

from pitmirror.harness.cyclic_flashcopy.lockstep import Lockstep
from pitmirror.harness.iolog import DeviceWrite, Entry, Flush, IoLog
from pitmirror.harness.lockstep import Stepper
from pitmirror.harness.power_loss_design import (
    PowerLoss,
    Recovered,
    Verdict,
    judge_continuing,
    recover_journal,
)
from pitmirror.impl.bitmap import GrainMap
from pitmirror.impl.cyclic_flashcopy.layout import SITE_VOLUMES
from pitmirror.impl.cyclic_flashcopy.local import FlashCopyLocalSite
from pitmirror.impl.cyclic_flashcopy.metadata import LocalMeta, RemoteMeta
from pitmirror.impl.cyclic_flashcopy.remote import FlashCopyRemoteSite, lost_commit
from pitmirror.impl.journal import Journal, Metadata
from pitmirror.impl.site import WriteHook
from pitmirror.impl.volumes import Volume
from pitmirror.model import cyclic_flashcopy as design_a
from pitmirror.model.actions import (
    SITES,
    Action,
    CommitPoint,
    CopyGrain,
    CrashSite,
    DrainTarget,
    HostFlush,
    HostWrite,
    LinkUp,
    Recover,
    ResyncGrain,
    describe,
)
from pitmirror.model.design import ModelState, WrongDesign
from pitmirror.model.extents import some_run


def _state(state: ModelState) -> design_a.State:
    if not isinstance(state, design_a.State):
        raise WrongDesign(f"design A was given {type(state).__qualname__}")
    return state


def recovered_fields(site: str, meta: Metadata) -> dict[str, Any]:
    """The model's fields of `site` that its recovered journal holds (the journal's keys are
    the model's field names)."""
    typed = LocalMeta.read(meta) if site == "local" else RemoteMeta.read(meta)
    fields = {f.name: getattr(typed, f.name) for f in dataclasses.fields(typed)}
    return {k: v.grains() if isinstance(v, GrainMap) else v for k, v in fields.items()}


def continuation(state: design_a.State) -> Iterator[tuple[Action, design_a.State]]:
    """Every site and the link up, background work to the next two commits, every grain
    drained: the steps the model takes, each with the state after it."""
    for site in SITES:
        if not state.site_up(site):
            state = state.step(Recover(site))
            yield Recover(site), state
    if not state.link_up:
        state = state.step(LinkUp())
        yield LinkUp(), state
    # two commits: a write the recovered journal lost track of belongs to the point after the
    # one in progress, which the second commit shows
    for _ in range(2):
        for _ in range(design_a.progress_bound(state)):
            if design_a.why_disabled(state, CommitPoint()) is None:
                state = state.step(CommitPoint())
                yield CommitPoint(), state
                break
            work = _background(state)
            if work is None:
                return
            state = state.step(work)
            yield work, state
    while state.target_map and state.remote_up:
        drain = DrainTarget(*some_run(state.target_map))
        state = state.step(drain)
        yield drain, state


def _background(state: design_a.State) -> Action | None:
    """The copy or resync of a whole run of grains the next commit waits for, then the flush
    of the host's cache."""
    for kind, grains in ((CopyGrain, state.copy_map), (ResyncGrain, state.out_of_sync)):
        if grains:
            return kind(*some_run(grains))
    return HostFlush() if state.cached else None


def plan_mismatch(
    before: design_a.State, action: Action, entries: Sequence[Entry], grain_size: int
) -> str | None:
    """Where the engine's writes and flushes for `action` differ from the model's write plan,
    in words; None when every write is where the plan puts it, flushed exactly when the plan
    needs it durable before the next."""
    plan = design_a.write_plan(before, action)
    issued: list[tuple[DeviceWrite, bool]] = []
    for entry in entries:
        if isinstance(entry, DeviceWrite):
            issued.append((entry, False))
        elif isinstance(entry, Flush) and issued and issued[-1][0].device == entry.device:
            issued[-1] = (issued[-1][0], True)
    at = 0
    for n, planned in enumerate(plan, 1):
        if at >= len(issued):
            return f"the engine issued {len(issued)} writes for it, the model's plan {len(plan)}"
        write, flushed = issued[at]
        device, start, end = write.device, write.offset, write.offset + len(write.data)
        where: tuple[str, int, int] = (f"{planned.site}.journal", start, end - start)
        if isinstance(planned, design_a.VolumeWrite):
            size = len(planned.data) * grain_size
            where = (planned.volume, planned.start * grain_size, size)
            # a batch of runs is one write of the plan: no flush between them, one after
            while (not flushed and at + 1 < len(issued) and issued[at + 1][0].device == device
                   and end < where[1] + where[2]):  # fmt: skip
                at += 1
                write, flushed = issued[at]
                end = write.offset + len(write.data)
        at += 1
        issued_as = f"{device} at byte {start}, {end - start} bytes"
        if where != (device, start, end - start):
            return f"write {n} is {issued_as}; the model's plan has {where}"
        if flushed != planned.durable:
            said, needs = ("flushed", "not yet") if flushed else ("left unflushed", "durable")
            return f"write {n} ({issued_as}) was {said}; the model's plan needs it {needs}"
    if at != len(issued):
        return f"the engine issued more writes for it than the model's plan's {len(plan)}"
    return None


class FlashCopyPowerLoss:
    """Design A's part of power-loss exploration, bound to one lockstep's engine."""

    sites: tuple[str, ...] = SITES

    def __init__(self, lockstep: Stepper) -> None:
        if not isinstance(lockstep, Lockstep):
            raise WrongDesign(f"design A was given {type(lockstep).__qualname__}")
        self.engine = lockstep.engine
        self._hooks: dict[str, WriteHook] = {}
        self.batch: set[int] = set()
        self.ends: dict[str, list[int]] = {}
        """per site, where in the log each write of a plan ended (a flush's batch of runs is
        one write of the plan, several device writes)"""

    def attach(self, log: IoLog | None) -> None:
        for volume in self.engine.volumes.values():
            volume.io_log = log
        for site in SITES:
            self.journal(site).io_log = log
        self.ends = {site: list[int]() for site in SITES}
        for engine_site in (self.engine.local, self.engine.remote):
            hook = self._hooks.pop(engine_site.site, engine_site.on_write)
            engine_site.on_write = hook
            if log is not None:
                self._hooks[engine_site.site] = hook
                engine_site.on_write = self._marking(log, hook)

    def _marking(self, log: IoLog, hook: WriteHook) -> WriteHook:
        """The site's write hook, telling first where in the log each write of a plan ends."""

        def marked(site: str, what: str) -> None:
            self.ends[site].append(len(log))
            hook(site, what)

        return marked

    def write_ends(self, site: str) -> Sequence[int]:
        return self.ends[site]

    def may_lose_power(self, before: ModelState, site: str) -> bool:
        state = _state(before)
        return state.site_up(site) and state.armed_crash is None  # type: ignore[arg-type]

    def volumes(self, site: str) -> dict[str, Volume]:
        return {name: self.engine.volumes[name] for name in SITE_VOLUMES[site]}

    def journal(self, site: str) -> Journal:
        return self.engine.local.journal if site == "local" else self.engine.remote.journal

    def plan_mismatch(
        self, before: ModelState, action: Action, entries: Sequence[Entry]
    ) -> str | None:
        state = _state(before)
        if state.armed_crash is not None:  # the trace's own crash cuts the plan short
            return None
        return plan_mismatch(state, action, entries, self.engine.grain_size)

    def cut(self, before: ModelState, action: Action, site: str, nth: int | None) -> ModelState:
        state = _state(before)
        # a flush cut by a power loss: its batch's writes may not have reached the media, which
        # the model's cut (every write issued durable) cannot say
        self.batch = set(state.cached) if isinstance(action, HostFlush) else set()
        if nth is None:
            return state.step(action)
        return state.step(CrashSite(site, nth)).step(action)

    def cut_after(self, before: ModelState, action: Action, site: str, writes: int
                  ) -> ModelState:  # fmt: skip
        self.batch = set()
        return design_a.cut_after(_state(before), action, site, writes)

    def recover(self, site: str, log: bytes, snapshot: bytes | None) -> Recovered:
        initial = (FlashCopyLocalSite if site == "local" else FlashCopyRemoteSite).initial_meta(
            self.engine.grain_count
        )
        meta = recover_journal(site, log, snapshot, initial)
        return meta if isinstance(meta, str) else recovered_fields(site, meta)

    def resumes(self, site: str, fields: dict[str, Any], cut: ModelState) -> str | None:
        """`lost_commit` between the recovered site and the other site as the model has it at
        the crash point: what `Recover` checks when both sites are up."""
        state = _state(cut)
        cycle, committed = (
            fields.get("cycle", state.cycle),
            fields.get("committed", state.committed),
        )
        lost = lost_commit(cycle, committed)
        return f"the sites cannot resume: {lost}" if lost else None

    def image(self, cut: ModelState, volume: str) -> tuple[int, ...]:
        image: tuple[int, ...] = getattr(_state(cut), volume)
        return image

    def grain_number(self, volume: str, index: int) -> int:
        return index  # each volume holds every grain at its own number

    def lift(
        self,
        cut: ModelState,
        site: str,
        fields: dict[str, Any],
        images: dict[str, tuple[int, ...]],
        action: Action,
        completed: bool,
    ) -> ModelState:
        """The crash point's model state with `site`'s half replaced by what its media
        recovered (`fields` from its journal, `images` of its volumes), and the site up.  The
        ghost follows the recovered journal: the points up to its cycle; a host write that was
        never acknowledged is what its grain holds now."""
        state = _state(cut)
        cycle = fields.get("cycle", state.cycle)
        acked = list(state.acked)
        changes: dict[str, Any] = {**fields, **images, f"{site}_up": True}
        if site == "local":  # the host's cache is lost with the site's memory
            lost = set(state.cached) | (self.batch if not completed else set())
            if isinstance(action, HostWrite) and not completed:
                lost.add(action.grain)
            for g in lost:
                acked[g] = images["source"][g]
            changes |= {"cached": frozenset(), "cache": (0,) * len(acked)}
        changes |= {"armed_crash": None, "images": state.images[: cycle + 1],
                    "acked": tuple(acked)}  # fmt: skip
        return dataclasses.replace(state, **changes)

    def judge(self, before: ModelState, lifted: ModelState) -> Verdict:
        """The spec's predicates on the recovered state, then on every step of its
        continuation."""
        steps = ((describe(action), state) for action, state in continuation(_state(lifted)))
        return judge_continuing(before, lifted, steps)


def power_loss(lockstep: Stepper) -> PowerLoss:
    return FlashCopyPowerLoss(lockstep)
