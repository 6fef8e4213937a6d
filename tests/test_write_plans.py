"""The ways a write plan ends, derived from its writes (proofs/write_plans.py), on a plan of
two sites: the remote's record, then the local one's (design A's CommitPoint has this shape)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import z3

from pitmirror.model.algebra import Case, Write
from pitmirror.proofs.write_plans import Outcome, outcomes


@dataclass(frozen=True)
class Two:
    committed: Any  # the remote's record
    cycle: Any  # the local site's record
    local_up: Any
    remote_up: Any

    def with_(self, **changes: Any) -> Two:
        return dataclasses.replace(self, **changes)


def down(state: Two, site: str) -> Two:
    return state.with_(**{f"{site}_up": z3.BoolVal(False)})


def ends(*, flushed: bool = True) -> dict[str, Outcome]:
    start = Two(z3.IntVal(0), z3.IntVal(0), z3.BoolVal(True), z3.BoolVal(True))
    commit = Write("remote", "commit", {"committed": z3.IntVal(1)}, flushed)
    advance = Write("local", "advance", {"cycle": z3.IntVal(1)})
    case = Case("commit", z3.BoolVal(True), (commit, advance))
    return {end.label: end for end in outcomes(start, case, ("local", "remote"), down)}


def fields(state: Two) -> tuple[int | bool, ...]:
    """The state's fields as Python values."""
    values = [z3.simplify(getattr(state, f.name)) for f in dataclasses.fields(Two)]
    return tuple(v.as_long() if z3.is_int_value(v) else z3.is_true(v) for v in values)


def test_the_other_site_loses_power_between_the_two_records() -> None:
    """The remote committed, the local site lost power before its own record: the sites fail
    apart, and no crash the model arms (it counts one site's writes) leaves this state."""
    found = ends()
    between = found["power lost at the local site after commit: nothing in flight"]
    assert fields(between.state) == (1, 0, False, True)
    assert (between.site, between.writes_done, between.power_lost) == ("local", 0, True)


def test_the_writer_loses_power_after_each_write_and_the_plan_completes() -> None:
    found = ends()
    assert fields(found["cut after commit"].state) == (1, 0, True, False)
    assert fields(found["cut after advance"].state) == (1, 1, False, True)
    assert fields(found["completes"].state) == (1, 1, True, True)
    # after the last write the other site's loss is a whole action, then a crash: not a cut
    assert not [label for label in found if label.startswith("power lost at the remote site")]


def test_an_unflushed_record_may_be_lost_when_the_other_site_goes_down() -> None:
    """The remote's record not flushed: its own loss may take it back, the local site's
    loss leaves it (a journal is lost only at its own site)."""
    found = ends(flushed=False)
    lost = found["power lost after commit: the newest record lost"]
    assert fields(lost.state) == (0, 0, True, False)
    between = found["power lost at the local site after commit: nothing in flight"]
    assert fields(between.state) == (1, 0, False, True)
