"""The roles' commands on design A's engine, in lockstep with the roles model
(harness/roles_lockstep.py): random walks of every action, crashes cut into the commands'
records, the mutants caught by the engine itself, and the traces under traces/roles/."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pitmirror.harness.cyclic_flashcopy.roles_world import Uncut
from pitmirror.harness.replay import replay
from pitmirror.harness.roles import check_mutant
from pitmirror.harness.roles_lockstep import RolesLockstep, run_roles
from pitmirror.harness.traces import TraceFormatError, parse_trace, read_trace, trace_files
from pitmirror.impl.volumes import MemoryVolume, Volume
from pitmirror.model import roles
from pitmirror.model.actions import Action, CrashSite, Promote, action_name

TRACES = trace_files(Path(__file__).parent.parent / "traces" / "roles")


def volumes(grains: int) -> dict[str, Volume]:
    return {name: MemoryVolume(name, grains, 4096) for name in ("source", "i1", "i2", "target")}


def kind(action: Action) -> str:
    """Actions drawn by kind first: the crash and link actions would crowd out the commands."""
    if isinstance(action, CrashSite):
        return f"CrashSite{bool(action.after_writes)}"
    return action_name(action) + ("!" if isinstance(action, Promote) and action.force else "")


@settings(max_examples=120, deadline=None)
@given(st.data())
def test_the_engine_follows_the_roles_model(tmp_path_factory: pytest.TempPathFactory,
                                            data: st.DataObject) -> None:  # fmt: skip
    lockstep = RolesLockstep(volumes(3), tmp_path_factory.mktemp("roles"))
    assert lockstep.check(None).ok
    try:
        for _ in range(40):
            enabled = list(lockstep.model.enabled_actions())
            kinds = sorted({kind(a) for a in enabled})
            chosen = data.draw(st.sampled_from(kinds))
            action = data.draw(st.sampled_from([a for a in enabled if kind(a) == chosen]))
            try:
                outcome = lockstep.apply(action)
            except Uncut:  # an armed crash inside design A's own actions: not this world's
                continue
            assert outcome.ok, f"{outcome.status}: {outcome.detail}"
    finally:
        lockstep.world.close()


@pytest.mark.parametrize("name", sorted(roles.UNSAFE_OPTIONS))
def test_each_roles_mutant_is_broken_by_the_engine(tmp_path: Path, name: str) -> None:
    """The model's shortest violation, replayed on the engine under the mutant: the engine
    agrees with the model step by step and breaks the same property; the safe engine on the
    same trace breaks nothing."""
    found = check_mutant(name, engine=False)
    assert found.trace is not None and found.violated is not None
    mutant = RolesLockstep(volumes(1), tmp_path / "mutant", roles.UNSAFE_OPTIONS[name])
    outcomes = run_roles(mutant, found.trace)
    mutant.world.close()
    assert outcomes[-1].status == "violation" and outcomes[-1].predicate == found.violated
    assert len(outcomes) == len(found.trace) + 1
    safe = RolesLockstep(volumes(1), tmp_path / "safe")
    outcomes = run_roles(safe, found.trace)
    safe.world.close()
    assert all(o.ok for o in outcomes), outcomes[-1].detail


@pytest.mark.parametrize("path", TRACES, ids=[p.stem for p in TRACES])
def test_the_roles_traces_replay_as_their_header_says(path: Path) -> None:
    replayed = replay(read_trace(path), "memory")
    assert replayed.as_expected, replayed.verdict()


def test_every_roles_mutant_has_a_trace() -> None:
    caught = {read_trace(p).roles for p in TRACES if read_trace(p).expect == "violation"}
    assert set(roles.UNSAFE_OPTIONS.values()) <= caught


def test_a_roles_trace_names_design_a_and_flags_only() -> None:
    head = ('{"trace": 2, "design": "freeze-overlay", "topology": "single", "grains": 1, '
            '"grain_size": 4096, "why": "x", "expect": "pass", "roles": {}}')  # fmt: skip
    with pytest.raises(TraceFormatError, match="run on cyclic-flashcopy only"):
        parse_trace(head + '\n{"action": "Demote", "site": "local"}\n')
    head = ('{"trace": 2, "design": "cyclic-flashcopy", "grains": 1, "grain_size": 4096, '
            '"why": "x", "expect": "pass", "roles": {"epoch_before_role": 1}}')  # fmt: skip
    with pytest.raises(TraceFormatError, match="true/false"):
        parse_trace(head + '\n{"action": "Demote", "site": "local"}\n')
