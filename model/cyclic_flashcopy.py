"""Design A, cyclic incremental FlashCopy, as a pure model.

The claims it reads: docs/claims/cyclic-flashcopy-claims.txt.

Volumes: source S and intermediate I1 at the local site, intermediate I2 and target T at the
remote site.  A grain's content is an integer seed (0 = zeros); the engine derives the bytes.

What it models: each action as an ordered *write plan* of durable writes (one extent of one
volume, or one metadata-journal record of one site), stated once over the algebra in
model/cyclic_flashcopy_rules.py with the design's interpretive choices; this module binds the
actions of the vocabulary to those rules and runs them concretely.  `step` applies the plan's
branch write by write, so a crash armed with `CrashSite(site, after_writes=n)` cuts the next
plan after the n-th write of that site — the design's flush order is part of the model, and an
unsafe order is a mutant.

Extents: `CopyGrain` and `ResyncGrain` carry a window of `count` consecutive grains from
`grain`, as the engine's runner sends them, and move the grains of their map within it (at
least one; the others in between stay as they are): a sparse set of grains as one plan.
`DrainTarget` carries an extent, every grain of it in the target map.
Their plan is the grain plan with every volume write covering that set, so a set has as many
writes and barriers as one grain: a volume write of several runs is one write of the plan (a
power loss may keep any of its runs), and target protection is one write of the protected
grains.  A crash here falls between whole writes, each on the media.

Barriers: each write of a plan says whether it must be durable before the next (`durable`);
the engine flushes exactly there.  The safe design needs every one; each flush-order mutant
(`POWER_LOSS_OPTIONS`) drops one.  Power loss as real storage does it — writes no flush covered
yet lost, reordered or torn — is explored over the engine by harness/power_loss.py (each recovered
state judged by this model) and covered by the Z3 proof (proofs/cyclic_flashcopy.py), which
derives every cut from the same plans.

What it leaves out: timing, grain size, the in-flight messages of a real link (an action whose
remote part cannot run is abandoned, like a crash).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast

from pitmirror.model import cyclic_flashcopy_rules as rules
from pitmirror.model import spec
from pitmirror.model.actions import (
    SITES,
    Action,
    CommitPoint,
    CopyGrain,
    CrashSite,
    DrainTarget,
    HostFlush,
    HostRead,
    HostWrite,
    LinkDown,
    LinkUp,
    Recover,
    ResyncGrain,
    Site,
    action_name,
    cycle_write_problem,
)
from pitmirror.model.algebra import Case, Concrete, first_false, unchanged
from pitmirror.model.algebra import Write as AlgebraWrite
from pitmirror.model.algebra import the_case as case_that_applies
from pitmirror.model.cyclic_flashcopy_rules import Options as Options
from pitmirror.model.cyclic_flashcopy_vocabulary import VOCABULARY
from pitmirror.model.design import ActionNotEnabled, DesignModel, WrongDesign
from pitmirror.model.extents import some_run, sub_extents, windows
from pitmirror.model.options import DesignOptions

DESIGN = rules.DESIGN
Image = tuple[int, ...]
Grains = frozenset[int]
Volume = Literal["source", "i1", "i2", "target"]


UNSAFE_OPTIONS: dict[str, Options] = {
    "no-copy-on-write": Options(copy_on_write=False),
    "no-target-protection": Options(target_protection=False),
    "commit-before-drain": Options(commit_after_drain=False),
    "source-before-journal": Options(journal_before_source=False),
    "protect-single-grains-only": Options(protect_extents=False),
    "copy-bits-cleared-first": Options(data_before_record=False),
    "drain-clears-past-its-end": Options(drain_clears_its_extent=False),
    "point-before-flush": Options(point_after_flush=False),
    "copy-reads-cache": Options(copy_reads_media=False),
}
POWER_LOSS_OPTIONS: dict[str, Options] = {
    "copy-data-unflushed": Options(flush_copy_data=False),
    "protect-unflushed": Options(flush_protection=False),
    "ack-before-flush": Options(flush_before_ack=False),
    "commit-unflushed": Options(flush_commit=False),
    "flush-tracks-unsynced": Options(flush_tracks_durably=False),
}
"""Mutants only a power loss shows, dropping writes no flush covered yet: a crash between
whole, flushed writes (the lockstep harness's) cannot tell them from the safe design.  The
power-loss explorer (harness/power_loss.py) catches them."""


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
    cache: Image = ()
    """local, volatile: the values of the host's writes not flushed yet"""
    cached: Grains = frozenset()
    """local, volatile: the grains the cache holds a write of"""

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
        return self.cache[grain] if grain in self.cached else self.source[grain]

    @property
    def host_view(self) -> Image:
        """What a host read returns, grain by grain: the cache over the source."""
        return tuple(self.read(g) for g in range(self.config.grains))

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
        cache=zeros,
        cached=frozenset(),
    )


# ---- durable writes -------------------------------------------------------------------------


@dataclass(frozen=True)
class VolumeWrite:
    """Grains `start`.. of one volume get the values `data`: one device write, flushed before
    the next write of the plan unless `durable` is False (the design does not need it on the
    media yet).  Target protection writes from its first grain to its last, T's own values in
    between."""

    volume: Volume
    start: int
    data: tuple[int, ...]
    durable: bool = True

    @property
    def site(self) -> Site:
        return rules.VOLUME_SITE[self.volume]


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


# ---- the rules, bound to this volume pair -----------------------------------------------------


@functools.cache
def algebra(grains: int) -> Concrete:
    return Concrete(grains=grains)


def view(state: State) -> rules.PairView:
    return rules.PairView.of(state.__dict__)


def _put(state: State, after: rules.PairView) -> State:
    return _with(state, **{name: getattr(after, name) for name in rules.SCHEMA})


def bind(action: Action) -> tuple[str, dict[str, Any]] | None:
    """The rule an action runs and its parameters (None: not an action of design A)."""
    entry = VOCABULARY.entry(action)
    return None if entry is None else BINDERS[entry.binds](action, entry.name)


def _bind_grain(action: Any, name: str) -> tuple[str, dict[str, Any]]:
    return name, {"grain": action.grain}


def _bind_write(action: Any, name: str) -> tuple[str, dict[str, Any]]:
    rule = name if action.fua else f"{name}(cached)"
    return rule, {"grain": action.grain, "data": action.data}


def _bind_extent(action: Any, name: str) -> tuple[str, dict[str, Any]]:
    return name, {"extent": range(action.grain, action.grain + action.count)}


def _bind_drain(action: Any, name: str) -> tuple[str, dict[str, Any]]:
    end = action.grain + action.count
    return name, {"extent": range(action.grain, end), "after": end}


BINDERS: dict[str, Callable[[Any, str], tuple[str, dict[str, Any]]]] = {
    "write": _bind_write,
    "grain": _bind_grain,
    "extent": _bind_extent,
    "drain": _bind_drain,
    "none": lambda action, name: (name, {}),
    "site": lambda action, name: (f"{name}({action.site})", {}),
}
"""How an action's fields become its rule's parameters, by the vocabulary's `binds`."""


def the_case(state: State, action: Action, seen: rules.PairView | None = None) -> Case:
    """The branch of the action's write plan that applies in `state` (`seen`: its view)."""
    bound = bind(action)
    assert bound is not None, f"{action_name(action)} is not an action of design A"
    name, params = bound
    rule = rules.rules_for(state.options)[name]
    x = algebra(state.config.grains)
    return case_that_applies(rule.plan(x, state.options, seen or view(state), **params), name)


def write_plan(state: State, action: Action) -> list[Write]:
    """The durable writes of `action`, in the order the design issues them (as the engine
    issues them: a volume write as one run of grains)."""
    plan: list[Write] = []
    for write in the_case(state, action).writes:
        if write.volume is None:
            changes = tuple(write.changes.items())
            plan.append(JournalRecord(cast(Site, write.site), changes, write.durable))
            continue
        grains: Grains | range = write.grains or range(0)
        first, last = min(grains), max(grains)
        image: Image = write.changes[write.volume]
        volume = cast(Volume, write.volume)
        plan.append(VolumeWrite(volume, first, image[first : last + 1], write.durable))
    return plan


def next_copy_map(copy: Grains, future: Grains, rule: str) -> Grains:
    """The copy map of the next cycle: claim 6 merges, claim 5 replaces (the rules' own
    `next_copy_map`, as the engine runs it, with its contract checked by CrossHair).

    pre: rule in ("merge", "update")
    post: __return__ == (copy | future if rule == "merge" else future)
    post: copy or __return__ == future
    """
    found: Grains = rules.next_copy_map(algebra(0), rule, copy, future)
    return found


# ---- guards -----------------------------------------------------------------------------------


def why_disabled(state: State, action: Action, seen: rules.PairView | None = None) -> str | None:
    """None when `action` is enabled in `state`, else the reason in words: the rule's first
    false clause, after what only the model bounds (the volume's size, the configured cycle
    bound, which sites and links exist, one armed crash at a time).  `seen`: the state's
    view, when the caller has it."""
    grain, count = getattr(action, "grain", None), getattr(action, "count", 1)
    if count < 1:
        return f"an extent has at least one grain, not {count}"
    if grain is not None and not 0 <= grain <= grain + count - 1 < state.config.grains:
        last = "" if count == 1 else f"..{grain + count - 1}"
        return f"grain {grain}{last} is outside the volume (0..{state.config.grains - 1})"
    if isinstance(action, (CrashSite, Recover)) and action.site not in SITES:
        return f"design A has no site {action.site!r} (its sites: local, remote)"
    if isinstance(action, (LinkDown, LinkUp)) and action.link:
        return "design A has one link: name none"
    if isinstance(action, HostFlush) and action.volume:
        return "design A has one host volume: volume 0"
    if isinstance(action, HostWrite) and (problem := cycle_write_problem(action)):
        return problem
    bound = bind(action)
    if bound is None:
        return f"{action_name(action)} is not an action of design A"
    name, params = bound
    rule = rules.rules_for(state.options)[name]
    x = algebra(state.config.grains)
    reason = first_false(rule.guard(x, state.options, seen or view(state), **params))
    if reason is not None:
        return reason
    if isinstance(action, CrashSite) and state.armed_crash is not None:
        return "a crash is already armed"
    max_cycle = state.config.max_cycle
    if isinstance(action, CommitPoint) and max_cycle is not None and state.cycle >= max_cycle:
        return "the configured cycle bound is reached"
    return None


def enabled_actions(state: State) -> Iterator[Action]:
    """Every enabled action, HostWrite data drawn from `config.values`, background actions
    over every extent."""
    cfg = state.config
    candidates: list[Action] = [
        *(
            HostWrite(g, v, fua)
            for g in range(cfg.grains)
            for v in cfg.values
            for fua in (True, False)
        ),
        HostFlush(),
        *(HostRead(g) for g in range(cfg.grains)),
        *(CopyGrain(g, n) for g, n in windows(state.copy_map)),
        *(ResyncGrain(g, n) for g, n in windows(state.out_of_sync)),
        CommitPoint(),
        *(DrainTarget(g, n) for g, n in sub_extents(state.target_map)),
        LinkDown(),
        LinkUp(),
        *(CrashSite(s, n) for s in SITES for n in range(cfg.max_crash_writes + 1)),
        *(Recover(s) for s in SITES),
    ]
    seen = view(state)
    return (a for a in candidates if why_disabled(state, a, seen) is None)


# ---- transition -------------------------------------------------------------------------------


def _crash(state: State, site: Site) -> State:
    """The site down as the rules say (the local site's cache lost with it), the crash spent."""
    down = rules.down(algebra(state.config.grains), view(state), site)
    return _with(_put(state, down), armed_crash=None)


def cut_after(state: State, action: Action, site: str, writes: int) -> State:
    """The state when `site` loses power right after the plan's `writes`-th write, of any
    site, the rest of the plan not done (the proof's outcome of a power loss at one site just
    after another's write: the armed crash counts only the crashed site's own writes).  What
    the site's media kept is the power-loss explorer's to say.  ActionNotEnabled when the
    action is not enabled or its plan has fewer writes."""
    seen = view(state)
    reason = why_disabled(state, action, seen)
    if reason is not None:
        raise ActionNotEnabled(f"{action_name(action)} is not enabled: {reason}")
    case = the_case(state, action, seen)
    if not 1 <= writes <= len(case.writes):
        raise ActionNotEnabled(f"{action_name(action)} has no write {writes}")
    after, _ = apply_plan(state, case.writes[:writes])
    after = _crash(after, cast(Site, site))
    return after if case.cut is unchanged else _put(after, case.cut(view(after)))


MODIFIES: dict[str, frozenset[str]] = VOCABULARY.modifies()
"""What each action may change, field by field of `State` (the tests check every step)."""


def step(state: State, action: Action) -> State:
    """The state after `action` (model/cyclic_flashcopy_rules.py says what each does); raises
    ActionNotEnabled when its guard is false.  The branch of its write plan that applies is
    applied write by write, and a crash armed at a site cuts it after that site's n-th write;
    `CrashSite` with a positive count only arms such a crash."""
    seen = view(state)
    reason = why_disabled(state, action, seen)
    if reason is not None:
        raise ActionNotEnabled(f"{action_name(action)} is not enabled: {reason}")
    if isinstance(action, CrashSite) and action.after_writes > 0:
        return _with(state, armed_crash=(cast(Site, action.site), action.after_writes))
    case = the_case(state, action, seen)
    after, completed = apply_plan(state, case.writes)
    ghost = case.completed if completed else case.cut
    return after if ghost is unchanged else _put(after, ghost(view(after)))


def apply_plan(state: State, plan: Iterable[AlgebraWrite]) -> tuple[State, bool]:
    """Apply writes in order; an armed crash cuts the plan.  Returns (state, completed)."""
    for write in plan:
        state = _with(state, **write.changes)
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
    resynced once, the host's cache flushed, then the commit itself."""
    return 2 * state.config.grains + 2


def _committable(state: State) -> bool:
    if why_disabled(state, CommitPoint()) is None:
        return True
    # a bounded enumeration's last cycle has no next commit to wait for
    return state.config.max_cycle is not None and state.cycle >= state.config.max_cycle


def _background(state: State) -> tuple[State, int] | None:
    """A copy or resync the state enables (a commit needs every one of them), over a whole
    run of grains, or the flush of the host's cache: a step costs one extent, so progress is
    cheap on large volumes."""
    if state.cached and why_disabled(state, HostFlush()) is None:
        return step(state, HostFlush()), 1
    for kind, grains in ((CopyGrain, state.copy_map), (ResyncGrain, state.out_of_sync)):
        if grains:
            action = kind(*some_run(grains))
            if why_disabled(state, action) is None:
                return step(state, action), 1
    return None


@functools.lru_cache(maxsize=spec.PROGRESS_MEMO)
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
    return spec.SpecView((spec.Volume("source", state.host_view, state.acked),), (copy,))


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
