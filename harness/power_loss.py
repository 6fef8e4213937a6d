"""Power loss as real storage does it, explored over a trace: every crash state judged.

The trace runs in lockstep (model and engine, as `replay` runs it) with a write log under the
engine (harness/iolog.py).  After each action, for each site that was up: a crash point just after
each of its writes in the action, and one after the action completed.  At each crash point the
writes of that site no flush has covered yet are in flight, and every crash state of them
(harness/power_loss_states.py: lost, torn, reordered) is built from the log, recovered by the
engine's recovery code and judged by the model (harness/cyclic_flashcopy/power_loss.py).  The
engine's flushes are checked against the model's write plan first: a write the model says must
be durable before the next is followed by its device's flush, and no other write is.

The first violating crash state is reported in words — which writes were lost, torn or
reordered — and can be saved as a trace that pins it (`power_loss` in the header), which
`pitmirror power-loss` replays to the same verdict.
"""

from __future__ import annotations

import dataclasses
import datetime
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from pitmirror.harness.designs import Subject, design_named, options_label
from pitmirror.harness.grains import CorruptGrain, decode_grain
from pitmirror.harness.iolog import DeviceWrite, IoLog, in_flight
from pitmirror.harness.lockstep import explain
from pitmirror.harness.power_loss_design import RECOVERS, PowerLoss, Recovered, Verdict
from pitmirror.harness.power_loss_states import (
    LOST,
    WHOLE,
    Bounds,
    CrashState,
    Fate,
    JournalBytes,
    crash_states,
    is_journal,
    journal_at,
    touched,
    volume_patches,
)
from pitmirror.harness.traces import Saved, Trace, save_finding
from pitmirror.impl.volumes import SECTOR_SIZE, Volume
from pitmirror.model.actions import Action, describe
from pitmirror.model.design import ActionNotEnabled, ModelState


@dataclass(frozen=True)
class CrashPointId:
    """Where the power went: `site`, just after its `after_writes`-th write of step `step`,
    or just after the `after_plan_writes`-th write of the step's plan when that is another
    site's (both None: just after the step completed)."""

    step: int
    site: str
    after_writes: int | None
    after_plan_writes: int | None = None

    def words(self, action: Action) -> str:
        when = "after the step completed"
        if self.after_writes is not None:
            when = f"just after its write {self.after_writes} of the step"
        elif self.after_plan_writes is not None:
            when = f"just after write {self.after_plan_writes} of the step, another site's"
        return f"the {self.site} site loses power at step {self.step} {describe(action)}, {when}"


@dataclass(frozen=True)
class PowerLossViolation:
    point: CrashPointId
    action: Action
    state: CrashState
    writes: tuple[tuple[DeviceWrite, int, Fate], ...]
    """each write in flight, the step that issued it, and what of it reached the media"""
    predicate: str
    why: str

    def words(self, grain_size: int) -> list[str]:
        lines = [self.point.words(self.action) + "."]
        if not self.writes:
            lines.append("No write was in flight: the media held every write issued.")
        for write, step, fate in self.writes:
            if fate.kind != WHOLE:
                issued = f"{describe_write(write, grain_size)} (step {step})"
                lines.append(f"{issued}: {fate.describe(write)}")
        if whole := sum(fate.kind == WHOLE for _, _, fate in self.writes):
            lines.append(f"{_count(whole, 'other write')} in flight reached the media whole.")
        if self.state.reordered():
            lines.append("Overlapping writes reached the media out of issue order.")
        lines.append(self.why)
        return lines

    def pinned(self) -> dict[str, Any]:
        """The header field of a trace that replays this crash state."""
        position = {index: k for k, (index, _) in enumerate(self.state.fates)}
        after_plan = self.point.after_plan_writes
        return {
            "step": self.point.step,
            "site": self.point.site,
            "after_writes": self.point.after_writes,
            **({} if after_plan is None else {"after_plan_writes": after_plan}),
            "fates": [
                {"kind": fate.kind, "sectors": sorted(fate.sectors), "prefix": fate.prefix}
                for _, fate in self.state.fates
            ],
            "order": [position[index] for index in self.state.order],
        }


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def describe_write(write: DeviceWrite, grain_size: int) -> str:
    if is_journal(write.device):
        return f"a {len(write.data)}-byte append to the {write.device.split('.')[0]} journal"
    first, count = write.offset // grain_size, len(write.data) // grain_size
    grains = f"grain {first}" if count == 1 else f"grains {first}..{first + count - 1}"
    return f"the write of {write.device} {grains}"


@dataclass
class CrashReport:
    trace: Trace
    backend: str
    bounds: Bounds
    steps: int = 0
    points: int = 0
    exhaustive_points: int = 0
    cross_site_points: int = 0
    """crash points just after another site's write"""
    states: int = 0
    distinct: int = 0
    violations: int = 0
    seconds: float = 0.0
    first: PowerLossViolation | None = None
    problem: str | None = None
    """the trace itself failed under lockstep, or the engine's flushes are not the model's"""
    by_predicate: dict[str, int] = field(default_factory=dict)

    @property
    def states_per_second(self) -> float:
        return self.states / self.seconds if self.seconds > 0 else 0.0

    @property
    def clean(self) -> bool:
        return self.problem is None and self.violations == 0


Pinned = dict[str, Any]
"""a trace's `power_loss` header field: the one crash state to replay"""
Progress = Callable[[int, int], None]
"""called with (steps explored, steps in the trace)"""


class TornContent:
    """Grain contents no seed wrote (a torn write mixes two), named by negative numbers so the
    model can carry them like seeds: the same bytes, the same number."""

    def __init__(self) -> None:
        self.names: dict[bytes, int] = {}

    def seed(self, data: bytes, grain: int) -> int:
        try:
            return decode_grain(data, grain)
        except CorruptGrain:
            return self.names.setdefault(data, -1 - len(self.names))


@dataclass(frozen=True)
class _AtPoint:
    """What every crash state of one crash point shares."""

    point: CrashPointId
    action: Action
    before: ModelState
    cut: ModelState
    at: int
    """the log entry the power went after"""
    first: int
    """no write before this log entry is in flight"""
    journal_now: JournalBytes
    sectors_now: dict[str, dict[int, bytes]]
    images: dict[str, tuple[int, ...]]
    """each volume of the site as the crash point holds it, before the in-flight writes"""

    @property
    def completed(self) -> bool:
        return self.point.after_writes is None and self.point.after_plan_writes is None


class _Explorer:
    """One trace's exploration on one set of volumes."""

    def __init__(self, power: PowerLoss, log: IoLog, report: CrashReport) -> None:
        self.power, self.log, self.report = power, log, report
        self.grain_size = report.trace.grain_size
        self.torn = TornContent()
        self.step_of: list[int] = []
        """the step that issued each entry of the log"""
        self.recovered: dict[tuple[str, bytes, bool, bytes | None], Recovered] = {}
        self.verdicts: dict[ModelState, Verdict] = {}
        self.stop_at_first = False
        self.remember = True
        """judge a recovered state once (False: every crash state afresh, bench/power_loss.py's
        baseline)"""

    def devices(self, site: str) -> frozenset[str]:
        return frozenset(self.power.volumes(site)) | {self.power.journal(site).device}

    def sectors_now(self, volume: Volume, first: int) -> dict[int, bytes]:
        sectors: dict[int, bytes] = {}
        for offset, length in touched(self.log.entries, first, volume.name):
            data = volume.read_grains(offset // self.grain_size, length // self.grain_size)
            for at in range(0, length, SECTOR_SIZE):
                sectors[offset + at] = data[at : at + SECTOR_SIZE]
        return sectors

    def plan_writes(self, start: int) -> list[tuple[int, str]]:
        """(the log index of its last device write, its site) of each write of the step's
        plan from log entry `start` on, in order."""
        found: list[tuple[int, str]] = []
        for site in self.power.sites:
            devices = self.devices(site)
            given = self.power.write_ends(site)
            ends = None if given is None else set(given)
            last = None
            for index in range(start, len(self.log)):
                entry = self.log.entries[index]
                if isinstance(entry, DeviceWrite) and entry.device in devices:
                    last = index
                    if ends is None:
                        found.append((index, site))
                if ends is not None and last is not None and index + 1 in ends:
                    # the plan's write ended here: its last device write is the crash point
                    # (the earlier ones of a batch are in flight there too)
                    found.append((last, site))
                    last = None
        return sorted(found)

    def crash_points(self, start: int, site: str
                     ) -> Iterator[tuple[int | None, int | None, int]]:  # fmt: skip
        """(n, None, log index) just after the site's n-th write of the step; (None, n, log
        index) just after the plan's n-th write when another site wrote it and the site writes
        in the step too (the sites fail apart); then (None, None, the last entry): after the
        step completed."""
        writes = self.plan_writes(start)
        writes_here = any(writer == site for _, writer in writes)
        own = 0
        for n, (index, writer) in enumerate(writes, 1):
            if writer == site:
                own += 1
                yield own, None, index
            elif writes_here:
                yield None, n, index
        yield None, None, len(self.log) - 1

    def explore_step(
        self, step: int, action: Action, before: ModelState, start: int, pinned: Pinned | None
    ) -> None:
        for site in self.power.sites:
            if not self.power.may_lose_power(before, site):
                continue
            if pinned is not None and pinned["site"] != site:
                continue
            for nth, plan_n, at in list(self.crash_points(start, site)):
                if pinned is not None and (pinned["after_writes"], pinned.get("after_plan_writes")
                                           ) != (nth, plan_n):  # fmt: skip
                    continue
                try:
                    cut = (self.power.cut(before, action, site, nth) if plan_n is None
                           else self.power.cut_after(before, action, site, plan_n))  # fmt: skip
                except ActionNotEnabled:
                    continue
                point = CrashPointId(step, site, nth, plan_n)
                self.explore_point(self.at_point(point, action, before, cut, at), pinned)
                if self.report.first is not None and pinned is None and self.stop_at_first:
                    return

    def at_point(
        self, point: CrashPointId, action: Action, before: ModelState, cut: ModelState, at: int
    ) -> _AtPoint:
        site = point.site
        first = min([*in_flight(self.log.entries, self.devices(site), at), at + 1])
        store = self.power.journal(site).store
        journal_now = JournalBytes(store.read_log(), store.read_snapshot())
        volumes = self.power.volumes(site)
        sectors_now = {name: self.sectors_now(v, first) for name, v in volumes.items()}
        images = {name: self.power.image(cut, name) for name in volumes}
        return _AtPoint(point, action, before, cut, at, first, journal_now, sectors_now, images)

    def explore_point(self, here: _AtPoint, pinned: Pinned | None) -> None:
        entries = self.log.entries
        flight = in_flight(entries, self.devices(here.point.site), here.at)
        exhaustive, _, states = crash_states(entries, flight, self.report.bounds)
        if pinned is not None:
            states, exhaustive = iter([_pinned_state(pinned, flight)]), False
        self.report.points += 1
        self.report.exhaustive_points += exhaustive
        self.report.cross_site_points += here.point.after_plan_writes is not None
        for state in states:
            self.report.states += 1
            verdict = self.judge(here, state)
            if verdict.ok:
                continue
            self.report.violations += 1
            predicate = verdict.predicate or ""
            self.report.by_predicate[predicate] = self.report.by_predicate.get(predicate, 0) + 1
            if self.report.first is None:
                if pinned is None:
                    state, verdict = simplest(state, verdict, partial(self.judge, here))
                writes = tuple((entry, self.step_of[i], fate) for i, fate in state.fates
                               if isinstance(entry := entries[i], DeviceWrite))  # fmt: skip
                self.report.first = PowerLossViolation(
                    here.point, here.action, state, writes, verdict.predicate or "", verdict.why
                )

    def judge(self, here: _AtPoint, state: CrashState) -> Verdict:
        """Build the crash state's media, recover it with the engine's code, judge it with
        the model."""
        entries, site = self.log.entries, here.point.site
        journal = self.power.journal(site).device
        files = journal_at(here.journal_now, entries, here.first, journal, here.at, state)
        # Recovery reads whole lines only: a torn tail (no newline) is never parsed, so every
        # tear of one append recovers alike and is judged once.
        whole = files.log.rfind(b"\n") + 1
        key = (site, files.log[:whole], len(files.log) > whole, files.snapshot)
        fields = self.recovered.get(key) if self.remember else None
        if fields is None:
            fields = self.recovered[key] = self.power.recover(site, files.log, files.snapshot)
        if isinstance(fields, str):
            return Verdict(RECOVERS, fields)
        if why := self.power.resumes(site, fields, here.cut):
            return Verdict(RECOVERS, why)
        images: dict[str, tuple[int, ...]] = {}
        per_grain = self.grain_size // SECTOR_SIZE
        for name, now in here.sectors_now.items():
            if not now:
                images[name] = here.images[name]
                continue
            image = list(here.images[name])
            sectors = volume_patches(now, entries, here.first, name, here.at, state)
            for g in {offset // self.grain_size for offset in sectors}:
                base = g * self.grain_size
                data = b"".join(sectors[base + k * SECTOR_SIZE] for k in range(per_grain))
                image[g] = self.torn.seed(data, self.power.grain_number(name, g))
            images[name] = tuple(image)
        lifted = self.power.lift(
            here.cut, site, fields, canonical(images), here.action, here.completed
        )
        verdict = self.verdicts.get(lifted) if self.remember else None
        if verdict is None:
            verdict = self.verdicts[lifted] = self.power.judge(here.before, lifted)
            self.report.distinct += 1
        return verdict


def canonical(images: dict[str, tuple[int, ...]]) -> dict[str, tuple[int, ...]]:
    """Torn contents renamed -1, -2, ... in order of first appearance: the model compares
    values only for equality, so states that differ only in those names are judged once."""
    names: dict[int, int] = {}
    for name in sorted(images):
        for value in images[name]:
            if value < 0 and value not in names:
                names[value] = -1 - len(names)
    if all(k == v for k, v in names.items()):
        return images
    return {k: tuple(names.get(v, v) for v in image) for k, image in images.items()}


def simplest(
    state: CrashState,
    verdict: Verdict,
    verdict_of: Callable[[CrashState], Verdict],
) -> tuple[CrashState, Verdict]:
    """A violating crash state made as plain as it stays violating: writes in issue order,
    then each write whole if that still breaks a predicate, else lost; a tear only where
    neither does."""
    if state.reordered():
        plain = CrashState(state.fates, tuple(sorted(state.order)))
        if not (found := verdict_of(plain)).ok:
            state, verdict = plain, found
    for position in range(len(state.fates)):
        index, fate = state.fates[position]
        for simpler in (Fate(WHOLE), Fate(LOST)):
            if fate == simpler:
                break
            fates = (*state.fates[:position], (index, simpler), *state.fates[position + 1 :])
            candidate = CrashState(fates, state.order)
            if not (found := verdict_of(candidate)).ok:
                state, verdict = candidate, found
                break
    return state, verdict


def _pinned_state(pinned: Pinned, flight: list[int]) -> CrashState:
    fates = pinned["fates"]
    if len(fates) != len(flight):
        raise ValueError(
            f"the trace pins {len(fates)} writes in flight; the run has {len(flight)} there"
        )
    built = tuple(
        (index, Fate(f["kind"], frozenset(f["sectors"]), f["prefix"]))
        for index, f in zip(flight, fates, strict=True)
    )
    return CrashState(built, tuple(flight[k] for k in pinned["order"]))


DEFAULT_BOUNDS = Bounds()


def explore(
    trace: Trace,
    bounds: Bounds = DEFAULT_BOUNDS,
    backend: str = "memory",
    progress: Progress | None = None,
    stop_at_first: bool = False,
    remember: bool = True,
) -> CrashReport:
    """Every crash state of every step of `trace`, judged (see the module docstring);
    `remember`: judge each distinct recovered state once."""
    design = design_named(trace.design)
    subject = Subject(
        trace.design, trace.resolved_options, trace.topology, trace.grains, trace.grain_size
    )
    pinned = trace.power_loss
    report = CrashReport(trace, backend, bounds)
    began = time.perf_counter()
    with subject.volume_set(backend) as volume_set:
        volumes, workdir = volume_set.fresh()
        lockstep = subject.lockstep(volumes, workdir)
        report.backend = volume_set.kind
        power = design.power_loss(lockstep)
        log = IoLog()
        power.attach(log)
        explorer = _Explorer(power, log, report)
        explorer.stop_at_first, explorer.remember = stop_at_first, remember
        try:
            first_check = lockstep.check(None, None)
            if not first_check.ok:
                report.problem = explain(first_check)
            for step, action in enumerate(trace.actions, 1):
                if report.problem or (stop_at_first and report.first):
                    break
                before, start = lockstep.model, len(log)
                outcome = lockstep.apply(action)
                if not outcome.ok:
                    report.problem = f"the trace fails under lockstep: {explain(outcome)}"
                    break
                if wrong := power.plan_mismatch(before, action, log.entries[start:]):
                    report.problem = f"step {step} {describe(action)}: {wrong}"
                    break
                report.steps = step
                explorer.step_of += [step] * (len(log) - len(explorer.step_of))
                if pinned is None or pinned["step"] == step:
                    explorer.explore_step(step, action, before, start, pinned)
                if progress is not None:
                    progress(step, len(trace.actions))
        finally:
            power.attach(None)
    if pinned is not None and report.problem is None and report.points == 0:
        raise ValueError(
            f"the trace pins a power loss at step {pinned['step']} of the {pinned['site']} "
            f"site after its write {pinned['after_writes']}, which the run does not reach"
        )
    report.seconds = time.perf_counter() - began
    return report


def shrink(report: CrashReport, progress: Progress | None = None) -> CrashReport:
    """The report of the shortest action list found (one action dropped at a time, on memory
    volumes, until no drop keeps a violation of the same predicate), its first violation
    confirmed on the report's backend.  A trace that pins a crash state is left as it is."""
    found, trace = report.first, report.trace
    if found is None or trace.power_loss is not None:
        return report
    actions = trace.actions[: found.point.step]
    # a candidate that shows no violation is explored whole: fewer draws keep that cheap, and
    # a violation found with fewer draws is as real
    quick = dataclasses.replace(
        report.bounds,
        samples=min(report.bounds.samples, 200),
        max_states=min(report.bounds.max_states, 2000),
    )
    shrinking = True
    while shrinking:
        shrinking = False
        for drop in range(len(actions) - 1, -1, -1):
            candidate = dataclasses.replace(trace, actions=actions[:drop] + actions[drop + 1 :])
            tried = explore(candidate, quick, "memory", stop_at_first=True)
            if tried.problem is None and tried.first and tried.first.predicate == found.predicate:
                actions = candidate.actions[: tried.first.point.step]
                shrinking = True
                if progress is not None:
                    progress(len(actions), len(trace.actions))
                break
    shorter = dataclasses.replace(trace, actions=actions)
    confirmed = explore(shorter, report.bounds, report.backend, stop_at_first=True)
    return confirmed if confirmed.first and confirmed.first.predicate == found.predicate else report


def pinned_trace(report: CrashReport, context: str = "") -> Trace:
    """The first violating crash state as a trace that replays it: the steps up to the one the
    power went in, and the crash state pinned in the header; `context` opens its `why`."""
    found = report.first
    assert found is not None
    trace = report.trace
    why = f"power loss: {found.point.words(found.action)}; {found.why}"
    return Trace(
        design=trace.design,
        grains=trace.grains,
        grain_size=trace.grain_size,
        why=f"{context}. {why}" if context else why,
        actions=trace.actions[: found.point.step],
        options=trace.options,
        expect="violation",
        violates=found.predicate,
        topology=trace.topology,
        power_loss=found.pinned(),
    )


def save_violation(report: CrashReport, directory: Path) -> Saved:
    """`pinned_trace` saved under `directory` (never over another finding)."""
    label = options_label(report.trace.resolved_options).replace("_", "-").replace("=", "-")
    place = f"{report.trace.topology}-" if report.trace.topology else ""
    stem = f"{datetime.date.today():%y%m%d}-power-loss-{place}{label}"
    return save_finding(pinned_trace(report), directory, stem)
