"""Design A, cyclic incremental FlashCopy, as a pure model.

The claims it reads: docs/claims/cyclic-flashcopy-claims.txt.

Volumes: source S and intermediate I1 at the local site, intermediate I2 and target T at the
remote site.  A grain's content is an integer seed (0 = zeros); the engine derives the bytes.

What it models: each action as an ordered *write plan* of durable writes (one extent of one
volume, or one metadata-journal record of one site).  `step` applies a plan write by write, so
a crash armed with `CrashSite(site, after_writes=n)` cuts the next plan after the n-th write of
that site — the design's flush order is part of the model, and an unsafe order is a mutant.

Extents: `CopyGrain`, `ResyncGrain` and `DrainTarget` carry `count` consecutive grains from
`grain`, as the engine's runner sends them.  Their plan is the grain plan with every volume
write covering the extent, so an extent has as many writes as one grain: target protection is
one write from the first protected grain to the last (T's own values rewritten in between).
A crash here falls between whole writes, each on the media.

Barriers: each write of a plan says whether it must be durable before the next (`durable`);
the engine flushes exactly there.  The safe design needs every one; each flush-order mutant
(`POWER_LOSS_OPTIONS`) drops one.  Power loss as real storage does it — writes no flush covered
yet lost, reordered or torn — is explored over the engine by harness/crash.py (each recovered
state judged by this model) and covered by the Z3 proof (proofs/cyclic_flashcopy.py).

What it leaves out: timing, grain size, the in-flight messages of a real link (an action whose
remote part cannot run is abandoned, like a crash).

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
from collections.abc import Iterator, Mapping
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
    HostRead,
    HostWrite,
    LinkDown,
    LinkUp,
    Recover,
    ResyncGrain,
    Site,
    action_name,
)
from pitmirror.model.design import ActionNotEnabled, DesignModel, WrongDesign
from pitmirror.model.extents import grains_are, some_run, span, sub_extents
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
    protect_extents: bool = True
    """Target protection covers every grain of an extent, not only a one-grain copy."""
    data_before_record: bool = True
    """Flush order: a copy's data is durable in I1 and I2 before the record that clears its
    copy bits."""
    drain_clears_its_extent: bool = True
    """A drain clears the target bits of its own extent, not of the grain after its end too
    (an off-by-one in extent arithmetic)."""
    flush_copy_data: bool = True
    """Barrier: the data a copy writes to I1 and I2 is flushed before the record that clears
    its copy bits (only a power loss that drops unflushed writes tells)."""
    flush_protection: bool = True
    """Barrier: target protection's write to T is flushed before the record that moves the
    grain's committed value from I2 to T."""
    flush_before_ack: bool = True
    """Barrier: a host write's source grain is flushed before the host is told it is done."""
    flush_commit: bool = True
    """Barrier: the remote's commit record is synced before the local site starts the next
    cycle."""

    def __post_init__(self) -> None:
        self._check_flags("map_rule")
        if self.map_rule not in ("merge", "update"):
            raise ValueError(f"map_rule must be merge or update, got {self.map_rule!r}")


UNSAFE_OPTIONS: dict[str, Options] = {
    "no-copy-on-write": Options(copy_on_write=False),
    "no-target-protection": Options(target_protection=False),
    "commit-before-drain": Options(commit_after_drain=False),
    "source-before-journal": Options(journal_before_source=False),
    "protect-single-grains-only": Options(protect_extents=False),
    "copy-bits-cleared-first": Options(data_before_record=False),
    "drain-clears-past-its-end": Options(drain_clears_its_extent=False),
}
POWER_LOSS_OPTIONS: dict[str, Options] = {
    "copy-data-unflushed": Options(flush_copy_data=False),
    "protect-unflushed": Options(flush_protection=False),
    "ack-before-flush": Options(flush_before_ack=False),
    "commit-unflushed": Options(flush_commit=False),
}
"""Mutants only a power loss shows, dropping writes no flush covered yet: a crash between
whole, flushed writes (the lockstep harness's) cannot tell them from the safe design.  The
crash explorer (harness/crash.py) catches them."""


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

    # the design-neutral contract (model/design.py): this design's transition relation
    def why_disabled(self, action: Action) -> str | None:
        return why_disabled(self, action)

    def enabled_actions(self) -> Iterator[Action]:
        return enabled_actions(self)

    def step(self, action: Action) -> State:
        return step(self, action)

    def read(self, grain: int) -> int:
        return self.source[grain]

    def violations(self, before: State | None) -> dict[str, str]:
        return check(before, self)

    def spec_view(self) -> spec.SpecView:
        return spec_view(self)


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
    """Grains `start`.. of one volume get the values `data`: one device write, flushed before
    the next write of the plan unless `durable` is False (the design does not need it on the
    media yet)."""

    volume: Volume
    start: int
    data: tuple[int, ...]
    durable: bool = True

    @property
    def site(self) -> Site:
        return VOLUME_SITE[self.volume]


@dataclass(frozen=True)
class JournalRecord:
    """One metadata-journal record: the listed fields of one site change together; synced
    before the next write of the plan unless `durable` is False."""

    site: Site
    changes: tuple[tuple[str, Any], ...]
    durable: bool = True


Write = VolumeWrite | JournalRecord


_FIELDS = frozenset(f.name for f in dataclasses.fields(State))


def _with(state: State, **changes: Any) -> State:
    """`dataclasses.replace` without its per-call work (a progress check replays dozens of
    writes per step): a copy of the frozen state's fields with `changes` in place."""
    assert changes.keys() <= _FIELDS, f"State has no field {set(changes) - _FIELDS}"
    after = object.__new__(State)
    after.__dict__.update(state.__dict__, **changes)
    return after


def apply_write(state: State, write: Write) -> State:
    if isinstance(write, VolumeWrite):
        image: Image = getattr(state, write.volume)
        new = image[: write.start] + write.data + image[write.start + len(write.data) :]
        return _with(state, **{write.volume: new})
    return _with(state, **dict(write.changes))


def _mirror_plan(state: State, start: int, data: Image) -> list[Write]:
    """Writes that put `data` in I2 from grain `start` without losing the committed image."""
    extent, opts = span(start, len(data)), state.options
    plan: list[Write] = []
    protects = opts.target_protection and (opts.protect_extents or len(extent) == 1)
    protected = extent & state.target_map if protects else frozenset()
    if protected:  # one write from the first protected grain to the last; T's own in between
        first, last = min(protected), max(protected)
        saved = tuple(
            state.i2[g] if g in protected else state.target[g] for g in range(first, last + 1)
        )
        plan.append(VolumeWrite("target", first, saved, opts.flush_protection))
    changes: list[tuple[str, Any]] = [("received_map", state.received_map | extent)]
    if protected:
        changes.insert(0, ("target_map", state.target_map - protected))
    plan.append(JournalRecord("remote", tuple(changes)))
    plan.append(VolumeWrite("i2", start, data, opts.flush_copy_data))
    return plan


def _copy_plan(
    state: State, start: int, count: int, also: tuple[tuple[str, Any], ...] = ()
) -> tuple[list[Write], JournalRecord]:
    """Copy S[start..] (grains of P_k) to I1 and, link permitting, to I2: the data writes, and
    the local record that clears their copy bits."""
    data, extent = state.source[start : start + count], span(start, count)
    plan: list[Write] = [VolumeWrite("i1", start, data, state.options.flush_copy_data)]
    changes: list[tuple[str, Any]] = [("copy_map", state.copy_map - extent)]
    if state.mirror_ok:
        plan += _mirror_plan(state, start, data)
    else:
        changes.append(("out_of_sync", state.out_of_sync | extent))
    return plan, JournalRecord("local", tuple(changes) + also)


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
            source_write = VolumeWrite("source", g, (data,), opts.flush_before_ack)
            cow = opts.copy_on_write and g in state.copy_map
            if not cow and g in state.future_map:
                return [source_write]  # already tracked: nothing to journal
            future = ("future_map", state.future_map | {g})
            plan: list[Write]
            if cow:
                plan, record = _copy_plan(state, g, 1, also=(future,))
            else:
                plan, record = [], JournalRecord("local", (future,))
            if opts.journal_before_source:
                return [*plan, record, source_write]
            return [*plan, source_write, record]
        case CopyGrain(grain=g, count=n):
            writes, record = _copy_plan(state, g, n)
            if not opts.data_before_record:  # the mutant: bits cleared before the data lands
                return [record, *writes]
            return [*writes, record]
        case ResyncGrain(grain=g, count=n):
            local = JournalRecord("local", (("out_of_sync", state.out_of_sync - span(g, n)),))
            return _mirror_plan(state, g, state.i1[g : g + n]) + [local]
        case CommitPoint():
            remote = JournalRecord(
                "remote",
                (
                    ("committed", state.cycle),
                    ("target_map", state.target_map | state.received_map),
                    ("received_map", frozenset()),
                ),
                opts.flush_commit,
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
        case DrainTarget(grain=g, count=n):
            cleared = n if opts.drain_clears_its_extent else n + 1  # the mutant: one too many
            return [
                VolumeWrite("target", g, state.i2[g : g + n]),
                JournalRecord("remote", (("target_map", state.target_map - span(g, cleared)),)),
            ]
    return []


# ---- guards -----------------------------------------------------------------------------------


def host_write_guard(state: State, action: HostWrite) -> str | None:
    """Enabled iff the local site is up."""
    return None if state.local_up else "the local site is down"


def host_read_guard(state: State, action: HostRead) -> str | None:
    """Enabled iff the local site is up (the host reads the source)."""
    return None if state.local_up else "the local site is down"


def _outside(
    action: CopyGrain | ResyncGrain | DrainTarget, grains: Grains, name: str
) -> str | None:
    """Why the action's extent is not wholly in the map `grains`, or None."""
    extent = range(action.grain, action.grain + action.count)
    if grains.issuperset(extent):
        return None
    return grains_are(frozenset(extent) - grains, f"not in {name}")


def copy_grain_guard(state: State, action: CopyGrain) -> str | None:
    """Enabled iff the local site is up and every grain of the extent is still to copy (in
    copy_map)."""
    if not state.local_up:
        return "the local site is down"
    return _outside(action, state.copy_map, "copy_map")


def resync_grain_guard(state: State, action: ResyncGrain) -> str | None:
    """Enabled iff both sites and the link are up and every grain of the extent is out of
    sync."""
    if not (state.local_up and state.mirror_ok):
        return "resync needs both sites and the link up"
    return _outside(action, state.out_of_sync, "out_of_sync")


def commit_point_guard(state: State, action: CommitPoint) -> str | None:
    """Enabled iff both sites and the link are up, nothing is out of sync, the copy map is
    empty (unless the commit-before-drain mutant) and the cycle bound (if any) is not reached."""
    if not (state.local_up and state.mirror_ok):
        return "commit needs both sites and the link up"
    if state.out_of_sync:
        return "grains are still out of sync"
    if state.options.commit_after_drain and state.copy_map:
        return "the copy map is not empty"
    max_cycle = state.config.max_cycle
    if max_cycle is not None and state.cycle >= max_cycle:
        return "the configured cycle bound is reached"
    return None


def drain_target_guard(state: State, action: DrainTarget) -> str | None:
    """Enabled iff the remote site is up and the committed value of every grain of the extent
    is still in I2 (in target_map)."""
    if not state.remote_up:
        return "the remote site is down"
    return _outside(action, state.target_map, "target_map")


def link_down_guard(state: State, action: LinkDown) -> str | None:
    """Enabled iff the (one, unnamed) link is up."""
    if action.link:
        return "design A has one link: name none"
    return None if state.link_up else "the link is already down"


def link_up_guard(state: State, action: LinkUp) -> str | None:
    """Enabled iff the (one, unnamed) link is down."""
    if action.link:
        return "design A has one link: name none"
    return None if not state.link_up else "the link is already up"


def crash_site_guard(state: State, action: CrashSite) -> str | None:
    """Enabled iff the site is up and no other crash is armed."""
    if action.site not in SITES:
        return f"design A has no site {action.site!r} (its sites: local, remote)"
    if not state.site_up(action.site):
        return f"the {action.site} site is already down"
    return None if state.armed_crash is None else "a crash is already armed"


def recover_guard(state: State, action: Recover) -> str | None:
    """Enabled iff the site is down."""
    if action.site not in SITES:
        return f"design A has no site {action.site!r} (its sites: local, remote)"
    return None if not state.site_up(action.site) else f"the {action.site} site is up"


def why_disabled(state: State, action: Action) -> str | None:
    """None when `action` is enabled in `state`, else the reason in words."""
    grain, count = getattr(action, "grain", None), getattr(action, "count", 1)
    if count < 1:
        return f"an extent has at least one grain, not {count}"
    if grain is not None and not 0 <= grain <= grain + count - 1 < state.config.grains:
        last = "" if count == 1 else f"..{grain + count - 1}"
        return f"grain {grain}{last} is outside the volume (0..{state.config.grains - 1})"
    match action:
        case HostWrite():
            return host_write_guard(state, action)
        case HostRead():
            return host_read_guard(state, action)
        case CopyGrain():
            return copy_grain_guard(state, action)
        case ResyncGrain():
            return resync_grain_guard(state, action)
        case CommitPoint():
            return commit_point_guard(state, action)
        case DrainTarget():
            return drain_target_guard(state, action)
        case LinkDown():
            return link_down_guard(state, action)
        case LinkUp():
            return link_up_guard(state, action)
        case CrashSite():
            return crash_site_guard(state, action)
        case Recover():
            return recover_guard(state, action)
    return f"{action_name(action)} is not an action of design A"


def enabled_actions(state: State) -> Iterator[Action]:
    """Every enabled action, HostWrite data drawn from `config.values`, background actions
    over every extent."""
    cfg = state.config
    candidates: list[Action] = [
        *(HostWrite(g, v) for g in range(cfg.grains) for v in cfg.values),
        *(HostRead(g) for g in range(cfg.grains)),
        *(CopyGrain(g, n) for g, n in sub_extents(state.copy_map)),
        *(ResyncGrain(g, n) for g, n in sub_extents(state.out_of_sync)),
        CommitPoint(),
        *(DrainTarget(g, n) for g, n in sub_extents(state.target_map)),
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


_MAPS = ("copy_map", "future_map", "out_of_sync", "received_map", "target_map")
_CUT = ("armed_crash", "local_up", "remote_up")  # an armed crash may cut the action's plan
MODIFIES: dict[str, frozenset[str]] = {
    name: frozenset(fields)
    for name, fields in (
        ("HostWrite", ("source", "i1", "i2", "target", "acked", *_MAPS, *_CUT)),
        ("HostRead", ()),
        ("CopyGrain", ("i1", "i2", "target", *_MAPS, *_CUT)),
        ("ResyncGrain", ("i2", "target", *_MAPS, *_CUT)),
        ("CommitPoint", ("committed", "cycle", "images", *_MAPS, *_CUT)),
        ("DrainTarget", ("target", "target_map", "armed_crash", "remote_up")),
        ("LinkDown", ("link_up",)),
        ("LinkUp", ("link_up",)),
        ("CrashSite", ("armed_crash", "local_up", "remote_up")),
        ("Recover", ("local_up", "remote_up")),
    )
}
"""What each action may change, field by field of `State` (the tests check every step)."""


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
        case HostRead():
            return state  # a read changes nothing durable; the harness compares its bytes
        case LinkDown():
            return _with(state, link_up=False)
        case LinkUp():
            return _with(state, link_up=True)
        case CrashSite(site=site, after_writes=0):
            return _crash(state, cast(Site, site))
        case CrashSite(site=site, after_writes=n):
            return _with(state, armed_crash=(cast(Site, site), n))
        case Recover(site=site):
            flag = "local_up" if site == "local" else "remote_up"
            return _with(state, **{flag: True})
    after, completed = apply_plan(state, write_plan(state, action))
    if isinstance(action, HostWrite):
        g = action.grain
        seen = action.data if completed else after.source[g]
        after = _with(after, acked=after.acked[:g] + (seen,) + after.acked[g + 1 :])
    return after


def apply_plan(state: State, plan: list[Write]) -> tuple[State, bool]:
    """Apply writes in order; an armed crash cuts the plan.  Returns (state, completed)."""
    for write in plan:
        state = apply_write(state, write)
        if state.armed_crash is not None and state.armed_crash[0] == write.site:
            site, left = state.armed_crash
            if left == 1:
                return _crash(state, site), False
            state = _with(state, armed_crash=(site, left - 1))
    return state, True


def recoverable_target(state: State) -> Image:
    """What a failover reads at the remote site: T[g], or I2[g] while g is in target_map."""
    image = list(state.target)
    for g in state.target_map:
        image[g] = state.i2[g]
    return tuple(image)


def progress_bound(state: State) -> int:
    """Background steps a commit may take with writes paused: every grain copied or
    resynced once, then the commit itself."""
    return 2 * state.config.grains + 1


def _committable(state: State) -> bool:
    if why_disabled(state, CommitPoint()) is None:
        return True
    # a bounded enumeration's last cycle has no next commit to wait for
    return state.config.max_cycle is not None and state.cycle >= state.config.max_cycle


def _background(state: State) -> tuple[State, int] | None:
    """A copy or resync the state enables (a commit needs every one of them), over a whole
    run of grains: a step costs one extent, so progress is cheap on large volumes."""
    for kind, grains in ((CopyGrain, state.copy_map), (ResyncGrain, state.out_of_sync)):
        if grains:
            action = kind(*some_run(grains))
            if why_disabled(state, action) is None:
                return step(state, action), 1
    return None


def inv_progress(state: State) -> str | None:
    """With both sites and the link up and writes paused, a commit comes within the bound."""
    if not (state.mirror_ok and state.local_up) or state.armed_crash is not None:
        return None
    return spec.inv_progress(state, progress_bound(state), _committable, _background)


def spec_view(state: State) -> spec.SpecView:
    """One volume pair: the source the host writes, and one copy, the target site's."""
    connected = state.link_up and state.local_up and state.remote_up
    copy = spec.Copy(
        site="remote",
        group=0,
        members=("target",),
        points=(state.committed,),
        recovered=(recoverable_target(state),),
        images=tuple((image,) for image in state.images),
        connected=connected,
    )
    return spec.SpecView((spec.Volume("source", state.source, state.acked),), (copy,))


def check(before: State | None, after: State) -> dict[str, str]:
    """Every predicate of the spec that `after` (reached from `before`) breaks, by name."""
    found = spec.violations(spec_view(after), spec_view(before) if before else None)
    if why := inv_progress(after):
        found["inv_progress"] = why
    return found


class CyclicFlashcopy:
    """Design A as the design-neutral code sees it: one volume pair, no topologies."""

    name = DESIGN
    unsafe_options: dict[str, DesignOptions] = dict(UNSAFE_OPTIONS)
    power_loss_options: dict[str, DesignOptions] = dict(POWER_LOSS_OPTIONS)
    topologies: tuple[str, ...] = ()

    def options(self, fields: Mapping[str, object]) -> Options:
        return Options.from_json(dict(fields))

    def mutant_topology(self, options: DesignOptions) -> str | None:
        return None

    def initial(self, options: DesignOptions, topology: str | None, grains: int) -> State:
        if not isinstance(options, Options):
            raise WrongDesign(f"design A was given {type(options).__qualname__}")
        if topology is not None:
            raise ValueError("design A has no topologies")
        return initial_state(Config(grains=grains), options)

    def address_space(self, topology: str | None, grains: int) -> int:
        return grains


MODEL: DesignModel = CyclicFlashcopy()
