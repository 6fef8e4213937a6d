"""Roles and epochs (model/roles_rules.py): the proof, the bridge from each design's cycle, the
mutants, and the operator's scenarios step by step on the model."""

from __future__ import annotations

import pytest
import z3
from hypothesis import given, settings
from hypothesis import strategies as st

from pitmirror.harness.design import Design
from pitmirror.harness.roles import bridges, check_mutant, prove_bridge, prove_roles
from pitmirror.model import roles
from pitmirror.model import roles_rules as rules
from pitmirror.model.actions import (
    CommitPoint,
    CrashSite,
    Demote,
    DrainTarget,
    HostWrite,
    LinkDown,
    LinkUp,
    Promote,
    Recover,
    Resync,
    action_to_json,
    parse_action,
)
from pitmirror.model.design import ActionNotEnabled
from pitmirror.model.options import DesignOptions
from pitmirror.model.roles_vocabulary import VOCABULARY
from pitmirror.proofs import cyclic_flashcopy as A
from pitmirror.proofs import cyclic_flashcopy_roles

CONFIG = roles.Config(grains=3, values=(1, 2, 3))


def run(*actions: object, options: roles.Options | None = None) -> roles.State:
    state = roles.initial_state(CONFIG, options)
    for action in actions:
        state = state.step(action)  # type: ignore[arg-type]
        assert state.violations(None) == {}, action
    return state


def test_the_roles_are_proved_for_any_volume_and_epoch() -> None:
    report = prove_roles()
    assert report.proved, [q.line() for q in report.failures]
    assert {q.conjunct for q in report.queries} >= set(rules.PROPERTIES)


@pytest.mark.parametrize(("label", "design", "options"), bridges(), ids=[b[0] for b in bridges()])
def test_each_designs_invariant_gives_the_roles_what_they_assume(
    label: str, design: Design, options: DesignOptions
) -> None:
    report = prove_bridge(design, options)
    assert report.proved, [q.line() for q in report.failures]
    assert len(report.queries) == 4  # three lemmas and the synchronized start


def test_a_bridge_lemma_missing_a_map_is_not_implied() -> None:
    """Design A's source differs from P_c at grains received this cycle too: a resync that took
    only the local site's copy and future maps would miss them."""
    s = A.fresh_state("weak")
    weak = cyclic_flashcopy_roles.every_grain(lambda g: z3.Or(s.source[g] == s.pc[g], s.copy_map[g],
                                             s.future_map[g]))  # fmt: skip
    solver = z3.Solver()
    solver.add(A.invariant(s), z3.Not(weak))
    assert solver.check() == z3.sat


@pytest.mark.parametrize(("name", "violates"), [
    ("epoch-after-role", "inv_one_writable_primary_per_epoch"),
    ("promote-without-rollback", "inv_promoted_image_is_committed"),
    ("resync-old-dirty-only", "inv_failback_keeps_new_writes"),
])  # fmt: skip
def test_each_roles_mutant_is_refuted_and_reaches_its_violation(name: str, violates: str) -> None:
    outcome = check_mutant(name)
    assert not outcome.proof.proved
    assert outcome.violated == violates
    assert outcome.trace is not None and len(outcome.trace) <= 5
    assert outcome.engines == {"cyclic-flashcopy": violates, "freeze-overlay": violates}
    assert outcome.caught


def test_forced_failover_then_failback_copies_only_what_differs() -> None:
    state = run(
        HostWrite(0, 1, site="local"),
        CommitPoint(),
        DrainTarget(0),
        HostWrite(1, 2, site="local"),
        CommitPoint(),  # grain 1 committed, pending at remote
        HostWrite(2, 3, site="local"),  # not committed: lost by the failover
        LinkDown(),
        Promote("remote", force=True),
    )
    assert state.field("remote", "role") == rules.PRIMARY
    assert state.field("remote", "epoch") == 2 and state.field("local", "epoch") == 1
    assert state.field("remote", "image") == (1, 2, 0)  # rolled to the committed point
    state = state.step(HostWrite(0, 3, site="remote"))
    state = state.step(HostWrite(1, 1, site="local"))  # the old primary still writes, unaware
    state = state.step(LinkUp())
    assert state.field("local", "role") == rules.OUTDATED
    assert state.why_disabled(HostWrite(1, 2, site="local")) == (
        "the local site is outdated: it refuses host writes"
    )
    assert state.why_disabled(CommitPoint()) is not None
    state = state.step(Resync("local"))
    assert state.field("local", "image") == state.field("remote", "image") == (3, 2, 0)
    assert state.field("local", "role") == rules.SECONDARY
    assert state.field("local", "epoch") == 2
    assert state.violations(None) == {}
    state = state.step(HostWrite(2, 1, site="remote")).step(CommitPoint())
    assert state.view().base == (3, 2, 1)


def test_an_orderly_promote_needs_the_primary_demoted_and_synchronized() -> None:
    state = run(HostWrite(0, 1))
    assert "not demoted" in (state.why_disabled(Promote("remote")) or "")
    state = state.step(Demote("local"))
    assert "not synchronized" in (state.why_disabled(Promote("remote")) or "")
    assert "refuses host writes" in (state.why_disabled(HostWrite(0, 2)) or "")
    state = state.step(CommitPoint()).step(Promote("remote"))
    assert state.field("remote", "role") == rules.PRIMARY
    assert state.field("local", "epoch") == state.field("remote", "epoch") == 2
    assert state.field("remote", "image") == (1, 0, 0)
    state = state.step(HostWrite(1, 2, site="remote")).step(CommitPoint())
    assert state.view().base == (1, 2, 0)


def test_a_split_brain_made_on_purpose_waits_for_the_operator() -> None:
    state = run(Demote("local"), LinkDown(), Promote("remote", force=True),
                Promote("local", force=True), HostWrite(0, 1, site="local"),
                HostWrite(0, 2, site="remote"), LinkUp())  # fmt: skip
    assert state.field("local", "split") and state.field("remote", "split")
    assert state.field("local", "epoch") == 3 and state.field("remote", "epoch") == 2
    assert state.field("remote", "role") == rules.OUTDATED  # it has seen epoch 3
    assert state.field("local", "role") == rules.PRIMARY
    assert state.why_disabled(CommitPoint()) is not None  # neither mirrors
    assert "outdated too" in (state.why_disabled(Resync("local")) or "")
    for later in (Promote("remote"), Promote("remote", force=True)):
        assert state.why_disabled(later) is not None
    state = state.step(Resync("remote"))
    assert not state.field("local", "split") and not state.field("remote", "split")
    assert state.field("remote", "image") == state.field("local", "image") == (1, 0, 0)
    state.step(CommitPoint())


def test_an_outdated_site_never_takes_a_write_even_after_a_restart() -> None:
    state = run(LinkDown(), Promote("remote", force=True), LinkUp(), CrashSite("local"),
                Recover("local"))  # fmt: skip
    assert state.field("local", "role") == rules.OUTDATED
    with pytest.raises(ActionNotEnabled):
        state.step(HostWrite(0, 1, site="local"))


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_random_operator_and_fault_walks_keep_every_property(data: st.DataObject) -> None:
    state = roles.initial_state(roles.Config(grains=2, values=(1, 2), max_epoch=9))
    for _ in range(40):
        enabled = list(state.enabled_actions())
        action = data.draw(st.sampled_from(enabled))
        after = state.step(action)
        assert after.violations(state) == {}, action
        entry = VOCABULARY.entry(action)
        assert entry is not None
        changed = {f for f, was, now in zip(rules.SCHEMA, state.fields, after.fields,
                                            strict=True) if was != now}  # fmt: skip
        if after.armed_crash != state.armed_crash:
            changed.add("armed_crash")
        assert changed <= set(entry.modifies) | {"x_up", "y_up", "armed_crash"}, (action, changed)
        state = after


@pytest.mark.parametrize("action", [
    Promote("remote"), Promote("right", force=True, group=1), Demote("local"), Resync("left"),
    HostWrite(3, 7, site="remote"),
])  # fmt: skip
def test_the_commands_round_trip_through_a_trace_line(action: object) -> None:
    line = action_to_json(action)  # type: ignore[arg-type]
    assert parse_action(line) == action
    assert "group" not in line or line["group"] != 0


def test_a_design_refuses_a_host_write_that_names_a_site() -> None:
    from pitmirror.model import cyclic_flashcopy

    state = cyclic_flashcopy.initial_state(cyclic_flashcopy.Config(grains=2))
    assert "roles model" in (state.why_disabled(HostWrite(0, 1, site="remote")) or "")


def test_a_resync_start_needs_i2_to_agree_with_the_target_outside_the_copy_set() -> None:
    """Design A's resync start is a state of the invariant only because the old primary's I1
    (the new I2) agrees with its volume outside the copy set: without that, it is not."""
    from pitmirror.model.cyclic_flashcopy_rules import resync_start

    s = A.fresh_state("start")
    image, grains = s.source.sort(), s.copy_map.sort()
    source, i1, i2, target = (z3.Const(f"w.{n}", image) for n in ("s", "i1", "i2", "t"))
    copy = z3.Const("w.copy", grains)
    solver = z3.Solver()
    solver.add(A.same(s, resync_start(A.X, source, i1, i2, target, copy)),
               source == A.X.write(target, copy, source), z3.Not(A.invariant(s)))  # fmt: skip
    assert solver.check() == z3.sat
