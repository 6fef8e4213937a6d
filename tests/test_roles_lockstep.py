"""The roles' commands on both designs' engines, in lockstep with the roles model
(harness/roles_lockstep.py): random walks of every action, crashes cut into the commands'
records, the mutants caught by the engines themselves, and the traces under traces/roles/."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pitmirror.harness.designs import DESIGNS
from pitmirror.harness.replay import replay
from pitmirror.harness.roles import check_mutant
from pitmirror.harness.roles_actions import Uncut
from pitmirror.harness.roles_lockstep import RolesLockstep, action_kind, memory_lockstep, run_roles
from pitmirror.harness.traces import TraceFormatError, parse_trace, read_trace, trace_files
from pitmirror.model import roles

TRACES = trace_files(Path(__file__).parent.parent / "traces" / "roles")


def lockstep(design: str, grains: int, workdir: Path,
             options: roles.Options | None = None) -> RolesLockstep:  # fmt: skip
    return memory_lockstep(DESIGNS[design], grains, workdir, options)


@pytest.mark.parametrize("design", sorted(DESIGNS))
@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_the_engine_follows_the_roles_model(tmp_path_factory: pytest.TempPathFactory,
                                            design: str, data: st.DataObject) -> None:  # fmt: skip
    """Random walks, actions drawn by kind; an action the world cannot take (an armed crash
    inside the design's own actions, or inside a resync's or a switch's turns) is skipped,
    nothing changed."""
    stepped = lockstep(design, 3, tmp_path_factory.mktemp("roles"))
    assert stepped.check(None).ok
    try:
        for _ in range(40):
            enabled = list(stepped.model.enabled_actions())
            kinds = sorted({action_kind(a) for a in enabled})
            chosen = data.draw(st.sampled_from(kinds))
            action = data.draw(st.sampled_from([a for a in enabled if action_kind(a) == chosen]))
            try:
                outcome = stepped.apply(action)
            except Uncut:
                continue
            assert outcome.ok, f"{outcome.status}: {outcome.detail}"
    finally:
        stepped.world.close()


@pytest.mark.parametrize("name", sorted(roles.UNSAFE_OPTIONS))
def test_each_roles_mutant_is_broken_by_the_engine(tmp_path: Path, name: str) -> None:
    """The model's shortest violation, replayed on the engine under the mutant: the engine
    agrees with the model step by step and breaks the same property; the safe engine on the
    same trace breaks nothing."""
    found = check_mutant(name, engine=False)
    assert found.trace is not None and found.violated is not None
    mutant = lockstep("cyclic-flashcopy", 1, tmp_path / "mutant", roles.UNSAFE_OPTIONS[name])
    outcomes = run_roles(mutant, found.trace)
    mutant.world.close()
    assert outcomes[-1].status == "violation" and outcomes[-1].predicate == found.violated
    assert len(outcomes) == len(found.trace) + 1
    safe = lockstep("cyclic-flashcopy", 1, tmp_path / "safe")
    outcomes = run_roles(safe, found.trace)
    safe.world.close()
    assert all(o.ok for o in outcomes), outcomes[-1].detail


@pytest.mark.parametrize("path", TRACES, ids=[p.stem for p in TRACES])
def test_the_roles_traces_replay_as_their_header_says(path: Path) -> None:
    replayed = replay(read_trace(path), "memory")
    assert replayed.as_expected, replayed.verdict()


def test_every_roles_mutant_has_a_trace() -> None:
    """Every mutant on design A's engine; on design B's, those it can run (its resync is not
    built: resync-old-dirty-only has no design-B trace)."""
    traces = [read_trace(p) for p in TRACES]
    for design in DESIGNS:
        caught = {t.roles for t in traces if t.expect == "violation" and t.design == design}
        want = set(roles.UNSAFE_OPTIONS.values())
        if design == "freeze-overlay":
            want.remove(roles.UNSAFE_OPTIONS["resync-old-dirty-only"])
        assert want <= caught, design


def test_a_roles_trace_is_of_one_pair_and_flags_only() -> None:
    head = ('{"trace": 2, "design": "freeze-overlay", "topology": "fan-out", "grains": 1, '
            '"grain_size": 4096, "why": "x", "expect": "pass", "roles": {}}')  # fmt: skip
    with pytest.raises(TraceFormatError, match="topology single"):
        parse_trace(head + '\n{"action": "Demote", "site": "left"}\n')
    head = ('{"trace": 2, "design": "cyclic-flashcopy", "grains": 1, "grain_size": 4096, '
            '"why": "x", "expect": "pass", "roles": {"epoch_before_role": 1}}')  # fmt: skip
    with pytest.raises(TraceFormatError, match="true/false"):
        parse_trace(head + '\n{"action": "Demote", "site": "local"}\n')
