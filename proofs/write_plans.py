"""Every way an action's write plan can end, over Z3 terms, derived from the plan itself.

A branch of a plan (model/algebra.py's `Case`) is a list of durable writes, each at one site,
each flushed before the next or not.  It can:
- complete;
- be cut by a crash at a site right after any of its writes, every write issued on the media;
- be cut by a power loss at a site right after any of its writes, or right after it completed:
  then every write of that site no flush has covered yet is *in flight* — a volume write leaves
  any values at the grains it changed (lost, whole or torn), and of the journal records in
  flight the newest few are lost (a journal replays a prefix of its records), their fields as
  before the first one lost;
- be cut by a power loss at *another* site of the plan right after a write, the rest of the
  plan not done: the sites fail apart, so one can lose power just after the other wrote (design
  A's CommitPoint: the remote's commit record written, the local site down before its own).

The crashed site is the site of the last write, or any other, which over-approximates the
reference model's armed crash (it counts the writes of one site, so it never takes a site down
between another site's write and its own next one); a proof over these outcomes covers every
cut the model makes, and those real ones besides.  A plan that flushes every write before the
next leaves nothing in flight between actions, so the proof covers power loss at every write;
a plan that drops a flush leaves a write in flight after its action, which the "completes, then
power lost" outcome shows.  Writes a design leaves in flight across actions on purpose are the
design's ghost (design B's merges: proofs/freeze_overlay.py `writes_lost` applies it at every
power-loss outcome here and between actions); the power-loss explorer, harness/power_loss.py,
follows every write in flight on the engine.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import z3

from pitmirror.model.algebra import Case, Write
from pitmirror.proofs.algebra_z3 import Pair

_ITE: dict[
    Any, Any
] = {}  # per value sort: `if` on grain contents, as a function the array map can apply


def _ite(sort: Any) -> Any:
    if sort not in _ITE:
        _ITE[sort] = z3.If(z3.Bool("c"), z3.Const("a", sort), z3.Const("b", sort)).decl()
    return _ITE[sort]


def _eq(sort: Any) -> Any:
    return (z3.Const("a", sort) == z3.Const("b", sort)).decl()


@dataclass(frozen=True)
class Outcome:
    """One way a branch ends: its words, the state after, the site a crash or power loss took
    down (None: completed) with how many of its writes were issued, and whether it was a power
    loss (writes in flight lost, whole or torn)."""

    label: str
    state: Any
    site: str | None = None
    writes_done: int = 0
    power_lost: bool = False


def in_flight(writes: Sequence[Write], site: str, completed: bool) -> list[int]:
    """Indices of `site`'s writes that no flush of their device covers after `writes` (the
    last write is in flight until its own flush, done only if the plan `completed`)."""
    flight: list[int] = []
    for index, write in enumerate(writes):
        if write.site != site:
            continue
        flight.append(index)
        flushed = write.durable and (completed or index < len(writes) - 1)
        if flushed:  # the device's flush covers this write and every earlier one to it
            flight = [j for j in flight if writes[j].device != write.device]
    return flight


def _image(state: Any, write: Write) -> Any:
    """The image a volume write changes: its field, a delta's values, at the write's `at`."""
    assert write.volume is not None
    image = getattr(state, write.volume)
    if isinstance(image, Pair):
        image = image.val
    for index in write.at:
        image = image[index]
    return image


def _put_image(state: Any, write: Write, image: Any) -> Any:
    assert write.volume is not None
    field = getattr(state, write.volume)
    values = field.val if isinstance(field, Pair) else field

    def stored(family: Any, at: tuple[Any, ...]) -> Any:
        return z3.Store(family, at[0], stored(family[at[0]], at[1:])) if at else image

    placed = stored(values, write.at)
    return state.with_(**{write.volume: Pair(field.has, placed) if isinstance(field, Pair)
                          else placed})  # fmt: skip


def power_loss(states: Sequence[Any], writes: Sequence[Write], flight: list[int],
               tag: str) -> list[tuple[str, Any]]:  # fmt: skip
    """The states a power loss leaves after `writes` (states[i]: after the first i), each in
    words: every volume write in flight holds any values where it changed the volume, and any
    newest few of the records in flight are lost."""
    records = [j for j in flight if writes[j].volume is None]
    outcomes = []
    for lost in range(len(records) + 1):
        state = states[len(writes)]
        if lost:
            fields = {f for j in records[-lost:] for f in writes[j].changes}
            before = states[records[-lost]]
            state = state.with_(**{f: getattr(before, f) for f in fields})
        for j in flight:
            if writes[j].volume is None:
                continue
            was, now = _image(states[j], writes[j]), _image(states[j + 1], writes[j])
            value = now.range()
            junk = z3.Const(f"junk{tag}.{len(writes)}.{j}.{lost}", now.sort())
            # a grain the write did not change stays as it was
            kept = z3.Map(_eq(value), was, now)
            state = _put_image(state, writes[j], z3.Map(_ite(value), kept, now, junk))
        torn = [writes[j].label for j in flight if writes[j].volume is not None]
        words = ", ".join([*(f"{w} lost, whole or torn" for w in torn),
                           *(["the newest record lost"] if lost == 1 else []),
                           *([f"the newest {lost} records lost"] if lost > 1 else [])])  # fmt: skip
        outcomes.append((words or "nothing in flight", state))
    return outcomes


def outcomes(s: Any, case: Case, sites: Sequence[str], down: Callable[[Any, str], Any],
             tag: str = "") -> list[Outcome]:  # fmt: skip
    """Every way the branch `case` can end from the state `s` (see the module docstring);
    `down(state, site)` is the state with the site down."""
    found: list[Outcome] = []
    states = [s]
    for index, write in enumerate(case.writes, start=1):
        states.append(states[-1].with_(**write.changes))
        done = sum(w.site == write.site for w in case.writes[:index])
        cut = case.cut(down(states[-1], write.site))
        found.append(Outcome(f"cut after {write.label}", cut, write.site, done))
        issued = case.writes[:index]
        flight = in_flight(issued, write.site, completed=False)
        for words, lost in power_loss(states, issued, flight, f"{tag}.{case.label}"):
            label = f"power lost after {write.label}: {words}"
            found.append(Outcome(label, case.cut(down(lost, write.site)), write.site, done,
                                 True))  # fmt: skip
        if index == len(case.writes):
            continue  # after the last write, another site's loss is the "completes" one below
        for other in (site for site in sites if site != write.site):
            mine = sum(w.site == other for w in issued)
            flight = in_flight(issued, other, completed=False)
            for words, lost in power_loss(states, issued, flight, f"{tag}.{case.label}.{other}"):
                label = f"power lost at the {other} site after {write.label}: {words}"
                found.append(Outcome(label, case.cut(down(lost, other)), other, mine, True))
    found.append(Outcome("completes", case.completed(states[-1])))
    for site in sites:
        flight = in_flight(case.writes, site, completed=True)
        if not flight:
            continue
        done = sum(w.site == site for w in case.writes)
        for words, lost in power_loss(states, case.writes, flight, f"{tag}.{case.label}"):
            label = f"completes, then power lost at the {site} site: {words}"
            found.append(Outcome(label, down(case.completed(lost), site), site, done, True))
    return found
