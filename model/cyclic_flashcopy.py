"""Design A, cyclic incremental FlashCopy, as a pure model.

The claims it reads: docs/claims/cyclic-flashcopy-claims.txt.

Volumes: source S and intermediate I1 at the local site, intermediate I2 and target T at the
remote site.  A grain's content is an integer seed (0 = zeros); the engine derives the bytes.

What it models: each action as an ordered *write plan* of durable writes (one grain of one
volume, or one metadata-journal record of one site).  `step` applies a plan write by write, so
a crash armed with `CrashSite(site, after_writes=n)` cuts the next plan after the n-th write of
that site — the design's flush order is part of the model, and an unsafe order is a mutant.

What it leaves out: timing, grain size, extents (a grain is the unit), the in-flight messages
of a real link (an action whose remote part cannot run is abandoned, like a crash), and
reordering of writes within a barrier (every write here is its own barrier).

Interpretive choices:
- The remote site tracks the grains written to I2 in the current cycle (`received_map`); the
  commit turns them into `target_map` (DESIGN: "grains copied in cycle k").
- A mirror write is planned remote-first as: protect T[g], one remote journal record (clear the
  target bit, mark g received), then I2[g]; the local journal record clearing the copy bit comes
  last, so a cut anywhere leaves the bit set and the copy is redone.
- The commit is two records: the remote one (c := k, target_map ∪= received) *is* the commit;
  the local one starts cycle k+1.  A cut between them repeats the commit idempotently.
- A host write that a crash cuts is not acknowledged; the host then sees whatever its grain
  durably holds (the ghost `acked` follows the source there).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal, cast

from pitmirror.model import spec
from pitmirror.model.actions import (
    SITES,
    Action,
    CommitPoint,
    CopyGrain,
    CrashSite,
    DrainTarget,
    HostWrite,
    LinkDown,
    LinkUp,
    Recover,
    ResyncGrain,
    Site,
    action_name,
)
from pitmirror.model.design import ActionNotEnabled
from pitmirror.model.options import DesignOptions

DESIGN = "cyclic-flashcopy"
Image = tuple[int, ...]
Grains = frozenset[int]
Volume = Literal["source", "i1", "i2", "target"]
VOLUME_SITE: dict[Volume, Site] = {
    "source": "local",
    "i1": "local",
    "i2": "remote",
    "target": "remote",
}


@dataclass(frozen=True)
class Options(DesignOptions):
    """Design choices.  The defaults are the safe design; every `False` is a known mutant."""

    copy_on_write: bool = True
    """A host write to a grain not yet copied first copies its old value (claims 3, 16)."""
    target_protection: bool = True
    """Before I2[g] changes while T still needs it, copy I2[g] to T[g] (DESIGN A.6)."""
    commit_after_drain: bool = True
    """Commit only once the copy map is empty (claim 1: 'in response to completion')."""
    map_rule: Literal["merge", "update"] = "merge"
    """Claim 6 merges copy and future maps at the new point; claim 5 replaces the copy map."""
    journal_before_source: bool = True
    """Flush order: the future bit is durable before the source grain changes."""

    def __post_init__(self) -> None:
        self._check_flags("map_rule")
        if self.map_rule not in ("merge", "update"):
            raise ValueError(f"map_rule must be merge or update, got {self.map_rule!r}")


UNSAFE_OPTIONS: dict[str, Options] = {
    "no-copy-on-write": Options(copy_on_write=False),
    "no-target-protection": Options(target_protection=False),
    "commit-before-drain": Options(commit_after_drain=False),
    "source-before-journal": Options(journal_before_source=False),
}


@dataclass(frozen=True)
class Config:
    """Size of the world.  `values`, `max_cycle` and `max_crash_writes` bound enumeration only."""

    grains: int
    values: tuple[int, ...] = (1, 2)
    max_cycle: int | None = None
    max_crash_writes: int = 3


@dataclass(frozen=True)
class State:
    config: Config
    options: Options
    source: Image
    i1: Image
    i2: Image
    target: Image
    copy_map: Grains
    """local: grains of P_k not yet in I1 (and, unless out of sync, I2)"""
    future_map: Grains
    """local: grains written to S since CP_k"""
    out_of_sync: Grains
    """local: grains in I1 whose copy to I2 waits for the link"""
    received_map: Grains
    """remote: grains written to I2 in the current cycle"""
    target_map: Grains
    """remote: grains whose committed value still lives in I2, not T"""
    cycle: int
    """k: the cycle whose consistency point was taken last"""
    committed: int
    """c: the newest point the remote site can recover"""
    link_up: bool = True
    local_up: bool = True
    remote_up: bool = True
    armed_crash: tuple[Site, int] | None = None
    # ghost state: never read by the design, only by the predicates
    images: tuple[Image, ...] = ()
    """P_0 .. P_k: the source image at each consistency point (P_0: the empty target)"""
    acked: Image = ()
    """the host's view: the last acknowledged value of each grain"""

    @property
    def mirror_ok(self) -> bool:
        return self.link_up and self.remote_up

    def site_up(self, site: Site) -> bool:
        return self.local_up if site == "local" else self.remote_up


def initial_state(config: Config, options: Options | None = None) -> State:
    """Cycle 1 has just frozen the all-zero source: every grain is to be copied."""
    zeros: Image = (0,) * config.grains
    return State(
        config=config,
        options=options or Options(),
        source=zeros,
        i1=zeros,
        i2=zeros,
        target=zeros,
        copy_map=frozenset(range(config.grains)),
        future_map=frozenset(),
        out_of_sync=frozenset(),
        received_map=frozenset(),
        target_map=frozenset(),
        cycle=1,
        committed=0,
        images=(zeros, zeros),
        acked=zeros,
    )


# ---- durable writes -------------------------------------------------------------------------


@dataclass(frozen=True)
class VolumeWrite:
    """One grain of one volume gets a new value."""

    volume: Volume
    grain: int
    data: int

    @property
    def site(self) -> Site:
        return VOLUME_SITE[self.volume]


@dataclass(frozen=True)
class JournalRecord:
    """One metadata-journal record: the listed fields of one site change together."""

    site: Site
    changes: tuple[tuple[str, Any], ...]


Write = VolumeWrite | JournalRecord


def _with(state: State, **changes: Any) -> State:
    return dataclasses.replace(state, **changes)


def apply_write(state: State, write: Write) -> State:
    if isinstance(write, VolumeWrite):
        image: Image = getattr(state, write.volume)
        new = image[: write.grain] + (write.data,) + image[write.grain + 1 :]
        return _with(state, **{write.volume: new})
    return _with(state, **dict(write.changes))


def _mirror_plan(state: State, grain: int, data: int) -> list[Write]:
    """Writes that put `data` in I2[grain] without losing the committed image."""
    plan: list[Write] = []
    protect = state.options.target_protection and grain in state.target_map
    if protect:
        plan.append(VolumeWrite("target", grain, state.i2[grain]))
    changes: list[tuple[str, Any]] = [("received_map", state.received_map | {grain})]
    if protect:
        changes.insert(0, ("target_map", state.target_map - {grain}))
    plan.append(JournalRecord("remote", tuple(changes)))
    plan.append(VolumeWrite("i2", grain, data))
    return plan


def _copy_plan(state: State, grain: int, also: tuple[tuple[str, Any], ...] = ()) -> list[Write]:
    """Copy S[grain] (a grain of P_k) to I1 and, link permitting, to I2; clear its copy bit."""
    data = state.source[grain]
    plan: list[Write] = [VolumeWrite("i1", grain, data)]
    changes: list[tuple[str, Any]] = [("copy_map", state.copy_map - {grain})]
    if state.mirror_ok:
        plan += _mirror_plan(state, grain, data)
    else:
        changes.append(("out_of_sync", state.out_of_sync | {grain}))
    plan.append(JournalRecord("local", tuple(changes) + also))
    return plan


def next_copy_map(copy: Grains, future: Grains, rule: str) -> Grains:
    """The copy map of the next cycle: claim 6 merges, claim 5 replaces.

    pre: rule in ("merge", "update")
    post: __return__ == (copy | future if rule == "merge" else future)
    post: copy or __return__ == future
    """
    return copy | future if rule == "merge" else future


def write_plan(state: State, action: Action) -> list[Write]:
    """The durable writes of `action`, in the order the design issues them."""
    opts = state.options
    match action:
        case HostWrite(grain=g, data=data):
            source_write = VolumeWrite("source", g, data)
            cow = opts.copy_on_write and g in state.copy_map
            if not cow and g in state.future_map:
                return [source_write]  # already tracked: nothing to journal
            future = ("future_map", state.future_map | {g})
            plan: list[Write]
            if cow:
                *plan, record = _copy_plan(state, g, also=(future,))
            else:
                plan, record = [], JournalRecord("local", (future,))
            if opts.journal_before_source:
                return [*plan, record, source_write]
            return [*plan, source_write, record]
        case CopyGrain(grain=g):
            return _copy_plan(state, g)
        case ResyncGrain(grain=g):
            local = JournalRecord("local", (("out_of_sync", state.out_of_sync - {g}),))
            return _mirror_plan(state, g, state.i1[g]) + [local]
        case CommitPoint():
            remote = JournalRecord(
                "remote",
                (
                    ("committed", state.cycle),
                    ("target_map", state.target_map | state.received_map),
                    ("received_map", frozenset()),
                ),
            )
            next_copy = next_copy_map(state.copy_map, state.future_map, opts.map_rule)
            local = JournalRecord(
                "local",
                (
                    ("cycle", state.cycle + 1),
                    ("copy_map", next_copy),
                    ("future_map", frozenset()),
                    ("images", state.images + (state.acked,)),
                ),
            )
            return [remote, local]
        case DrainTarget(grain=g):
            return [
                VolumeWrite("target", g, state.i2[g]),
                JournalRecord("remote", (("target_map", state.target_map - {g}),)),
            ]
    return []


# ---- guards -----------------------------------------------------------------------------------


def why_disabled(state: State, action: Action) -> str | None:
    """None when `action` is enabled in `state`, else the reason in words."""
    opts, cfg = state.options, state.config
    grain = getattr(action, "grain", None)
    if grain is not None and not 0 <= grain < cfg.grains:
        return f"grain {grain} is outside the volume (0..{cfg.grains - 1})"
    match action:
        case HostWrite():
            return None if state.local_up else "the local site is down"
        case CopyGrain(grain=g):
            if not state.local_up:
                return "the local site is down"
            return None if g in state.copy_map else f"grain {g} is not in copy_map"
        case ResyncGrain(grain=g):
            if not (state.local_up and state.mirror_ok):
                return "resync needs both sites and the link up"
            return None if g in state.out_of_sync else f"grain {g} is not out of sync"
        case CommitPoint():
            if not (state.local_up and state.mirror_ok):
                return "commit needs both sites and the link up"
            if state.out_of_sync:
                return "grains are still out of sync"
            if opts.commit_after_drain and state.copy_map:
                return "the copy map is not empty"
            if cfg.max_cycle is not None and state.cycle >= cfg.max_cycle:
                return "the configured cycle bound is reached"
            return None
        case DrainTarget(grain=g):
            if not state.remote_up:
                return "the remote site is down"
            return None if g in state.target_map else f"grain {g} is not in target_map"
        case LinkDown(link=link) | LinkUp(link=link) if link:
            return "design A has one link: name none"
        case LinkDown():
            return None if state.link_up else "the link is already down"
        case LinkUp():
            return None if not state.link_up else "the link is already up"
        case CrashSite(site=site) | Recover(site=site) if site not in SITES:
            return f"design A has no site {site!r} (its sites: local, remote)"
        case CrashSite(site=site):
            if not state.site_up(cast(Site, site)):
                return f"the {site} site is already down"
            return None if state.armed_crash is None else "a crash is already armed"
        case Recover(site=site):
            return None if not state.site_up(cast(Site, site)) else f"the {site} site is up"
    return f"{action_name(action)} is not an action of design A"


def enabled_actions(state: State) -> Iterator[Action]:
    """Every enabled action, HostWrite data drawn from `config.values`."""
    cfg = state.config
    candidates: list[Action] = [
        *(HostWrite(g, v) for g in range(cfg.grains) for v in cfg.values),
        *(CopyGrain(g) for g in sorted(state.copy_map)),
        *(ResyncGrain(g) for g in sorted(state.out_of_sync)),
        CommitPoint(),
        *(DrainTarget(g) for g in sorted(state.target_map)),
        LinkDown(),
        LinkUp(),
        *(CrashSite(s, n) for s in SITES for n in range(cfg.max_crash_writes + 1)),
        *(Recover(s) for s in SITES),
    ]
    return (a for a in candidates if why_disabled(state, a) is None)


# ---- transition -------------------------------------------------------------------------------


def _crash(state: State, site: Site) -> State:
    flag = "local_up" if site == "local" else "remote_up"
    return _with(state, **{flag: False, "armed_crash": None})


def step(state: State, action: Action) -> State:
    """The state after `action`; raises ActionNotEnabled when its guard is false.

    HostWrite: enabled while the local site is up; changes source (and, copying on write,
    i1/i2/target), copy/future/out_of_sync maps, received/target maps, acked.
    CopyGrain: g in copy_map; changes i1, i2/target, maps.  ResyncGrain: g out of sync, link
    up; changes i2/target, maps.  CommitPoint: drained and in sync; changes committed,
    target/received maps, cycle, copy/future maps, images.  DrainTarget: g in target_map;
    changes target, target_map.  LinkDown/LinkUp: link_up.  CrashSite: armed_crash or the
    site's flag.  Recover: the site's flag.
    """
    reason = why_disabled(state, action)
    if reason is not None:
        raise ActionNotEnabled(f"{action_name(action)} is not enabled: {reason}")
    match action:
        case LinkDown():
            return dataclasses.replace(state, link_up=False)
        case LinkUp():
            return dataclasses.replace(state, link_up=True)
        case CrashSite(site=site, after_writes=0):
            return _crash(state, cast(Site, site))
        case CrashSite(site=site, after_writes=n):
            return dataclasses.replace(state, armed_crash=(cast(Site, site), n))
        case Recover(site=site):
            flag = "local_up" if site == "local" else "remote_up"
            return _with(state, **{flag: True})
    after, completed = apply_plan(state, write_plan(state, action))
    if isinstance(action, HostWrite):
        g = action.grain
        seen = action.data if completed else after.source[g]
        after = dataclasses.replace(after, acked=after.acked[:g] + (seen,) + after.acked[g + 1 :])
    return after


def apply_plan(state: State, plan: list[Write]) -> tuple[State, bool]:
    """Apply writes in order; an armed crash cuts the plan.  Returns (state, completed)."""
    for write in plan:
        state = apply_write(state, write)
        if state.armed_crash is not None and state.armed_crash[0] == write.site:
            site, left = state.armed_crash
            if left == 1:
                return _crash(state, site), False
            state = dataclasses.replace(state, armed_crash=(site, left - 1))
    return state, True


def recoverable_target(state: State) -> Image:
    """What a failover reads at the remote site: T[g], or I2[g] while g is in target_map."""
    return tuple(
        state.i2[g] if g in state.target_map else state.target[g]
        for g in range(state.config.grains)
    )


def progress_bound(state: State) -> int:
    """Background steps a commit may take with writes paused: every grain copied or
    resynced once, then the commit itself."""
    return 2 * state.config.grains + 1


def inv_progress(state: State) -> str | None:
    """With both sites and the link up and writes paused, a commit comes within the bound."""
    if not (state.mirror_ok and state.local_up) or state.armed_crash is not None:
        return None
    bound = progress_bound(state)
    current = state
    for _ in range(bound):
        if why_disabled(current, CommitPoint()) is None:
            return None
        background = [
            a for a in enabled_actions(current) if isinstance(a, (CopyGrain, ResyncGrain))
        ]
        if not background:
            break
        current = step(current, background[0])
    if why_disabled(current, CommitPoint()) is None:
        return None
    if state.config.max_cycle is not None and current.cycle >= state.config.max_cycle:
        return None
    return f"no commit within {bound} background steps with writes paused"


def check(before: State | None, after: State) -> dict[str, str]:
    """Every predicate of the spec that `after` (reached from `before`) breaks, by name."""
    found = spec.violations(after, recoverable_target(after))
    if before is not None and (why := spec.inv_commit_monotonic(before, after)):
        found["inv_commit_monotonic"] = why
    if why := inv_progress(after):
        found["inv_progress"] = why
    return found
