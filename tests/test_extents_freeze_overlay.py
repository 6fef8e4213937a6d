"""Extent actions in design B: CopyDelta, MergeRemote and MergeLocal over windows of one
object's grains (each moves the grains of its delta within the window, the others stay), in the
model's guards, the engine (one write and one record per window) and traces."""

from __future__ import annotations

from pathlib import Path

import pytest

from pitmirror.harness.designs import Subject
from pitmirror.harness.freeze_overlay.lockstep import Lockstep
from pitmirror.harness.lockstep import run_actions
from pitmirror.harness.replay import replay
from pitmirror.harness.traces import Trace, read_trace, write_trace
from pitmirror.impl.site import EngineRefused
from pitmirror.model import freeze_overlay as B
from pitmirror.model.actions import (
    Action,
    CopyDelta,
    CrashSite,
    DropLocalDelta,
    DropRemoteDelta,
    FreezeGroup,
    HostRead,
    HostWrite,
    MarkComplete,
    MergeLocal,
    MergeRemote,
    Recover,
)

GRAINS = 8  # per object: the group topology's objects are grains 0..7 and 8..15
OPTIONS = B.Options(pipelined=False)
"""the stricter order, in which the extents of a point's merges follow its complete mark (the
pipelined order's merges aside run in the property runs and traces/freeze-overlay/*-pipelined-*)"""

# point 1 (every grain) in two extents per object, then a point with two runs per object
EXTENT_TRACE: list[Action] = [
    CopyDelta("right", 0, 8), CopyDelta("right", 8, 5), CopyDelta("right", 13, 3),
    MarkComplete("right", 0),
    MergeRemote("right", 0, 8), MergeRemote("right", 8, 8), DropRemoteDelta("right", 0),
    DropLocalDelta(0),
    *(HostWrite(g, 20 + g) for g in (1, 2, 3, 6, 9, 10, 14)),
    FreezeGroup(0),
    HostWrite(2, 99), HostRead(2), HostRead(3),  # the active delta over the frozen one
    CopyDelta("right", 1, 2), CrashSite("right"), Recover("right"),
    CopyDelta("right", 3, 1), CopyDelta("right", 6, 1), CopyDelta("right", 9, 2),
    CopyDelta("right", 14, 1),
    MarkComplete("right", 0),
    MergeRemote("right", 1, 2), CrashSite("right"), Recover("right"),  # redone after the crash
    MergeRemote("right", 1, 3), MergeRemote("right", 6, 1), MergeRemote("right", 9, 2),
    MergeRemote("right", 14, 1), DropRemoteDelta("right", 0),
    MergeLocal(1, 3), MergeLocal(6, 1), MergeLocal(9, 2), MergeLocal(14, 1), DropLocalDelta(0),
    # a point of sparse grains moved by windows, one per object (2 of them sent already)
    *(HostWrite(g, 40 + g) for g in (0, 2, 5, 7, 8, 11, 15)),
    FreezeGroup(0),
    CopyDelta("right", 5, 1), CopyDelta("right", 15, 1),
    CopyDelta("right", 0, 8), CrashSite("right"), Recover("right"), CopyDelta("right", 8, 8),
    MarkComplete("right", 0),
    MergeRemote("right", 0, 8), MergeRemote("right", 8, 8), DropRemoteDelta("right", 0),
    MergeLocal(0, 8), MergeLocal(8, 8), DropLocalDelta(0),
    FreezeGroup(0),
]  # fmt: skip


def _group() -> B.State:
    return B.initial_state(B.Config(B.topology("group", GRAINS)), OPTIONS)


def _run(backend: str, tmp_path: Path | None = None) -> None:
    subject = Subject(B.DESIGN, OPTIONS, "group", GRAINS)
    with subject.volume_set(backend) as volume_set:
        volumes, workdir = volume_set.fresh()
        lockstep = Lockstep(B.topology("group", GRAINS), volumes, workdir, OPTIONS)
        outcomes = run_actions(lockstep, EXTENT_TRACE)
    assert [o.status for o in outcomes] == ["ok"] * (len(EXTENT_TRACE) + 1), outcomes[-1].detail


def test_extent_actions_agree_with_the_model_on_memory() -> None:
    _run("memory")


def test_extent_actions_agree_with_the_model_on_loop_devices(loop_backend: str) -> None:
    _run(loop_backend)


def test_extent_guards_name_what_is_wrong() -> None:
    state = _group()
    assert (
        B.why_disabled(state, CopyDelta("right", 6, 4)) == "grains 6..9 run from object db into log"
    )
    assert B.why_disabled(state, CopyDelta("right", 14, 4)) == (
        "grains 14..17 run past the topology's end (0..15)"
    )
    assert B.why_disabled(state, MergeLocal(0, 0)) == "an extent of 0 grains is empty"
    state = B.step(state, CopyDelta("right", 2, 2))
    assert (
        B.why_disabled(state, CopyDelta("right", 2, 2)) == "grains 2, 3 are already copied to right"
    )
    assert B.why_disabled(state, MergeRemote("right", 0, 2)) == (
        "grains 0, 1 are not in right's delta"
    )
    assert B.why_disabled(state, CopyDelta("right", 0, 4)) is None  # 0 and 1 still to send
    assert B.why_disabled(state, CopyDelta("right", 4, 4)) is None


def test_every_window_of_a_source_is_enabled() -> None:
    """The harness draws windows from B.extent_sources: every run inside one is enabled, and
    the window over all of them."""
    state = B.step(_group(), CopyDelta("right", 2, 2))
    sources = B.extent_sources(state, CopyDelta)
    assert [sorted(s.grains) for s in sources] == [[0, 1, 4, 5, 6, 7], list(range(8, 16))]
    enabled = {a for a in B.enabled_actions(state) if isinstance(a, CopyDelta)}
    assert {CopyDelta("right", 4, 4), CopyDelta("right", 0, 8)} <= enabled
    assert CopyDelta("right", 2, 2) not in enabled
    assert all(B.why_disabled(state, action) is None for action in enabled)


def test_a_window_moves_the_grains_of_its_delta_and_leaves_the_others() -> None:
    """Grains 2 and 3 sent first: the window 0..7 sends the rest, as the two runs around them
    would; a merge over a window merges the delta's grains within it."""
    state = B.step(_group(), CopyDelta("right", 2, 2))
    window = B.step(state, CopyDelta("right", 0, 8))
    assert window == B.step(B.step(state, CopyDelta("right", 0, 2)), CopyDelta("right", 4, 4))
    plan = B.write_plan(state, CopyDelta("right", 0, 8))
    writes = [(w.offset, w.count, w.durable) for w in plan if isinstance(w, B.VolumeWrite)]
    assert writes == [(0, 2, False), (4, 4, True)], "two runs, one barrier after the last"
    assert isinstance(plan[-1], B.JournalRecord)
    state = _group()
    for action in [CopyDelta("right", 0, 8), CopyDelta("right", 8, 8), MarkComplete("right", 0),
                   MergeRemote("right", 0, 8), MergeRemote("right", 8, 8),
                   DropRemoteDelta("right", 0), DropLocalDelta(0),
                   HostWrite(1, 21), HostWrite(6, 26), FreezeGroup(0)]:  # fmt: skip
        state = B.step(state, action)
    state = B.step(B.step(state, CopyDelta("right", 0, 8)), MarkComplete("right", 0))
    merged = B.step(state, MergeRemote("right", 0, 8))
    assert merged == B.step(B.step(state, MergeRemote("right", 1, 1)), MergeRemote("right", 6, 1))
    assert B.step(merged, MergeLocal(0, 8)) == B.step(
        B.step(merged, MergeLocal(1, 1)), MergeLocal(6, 1)
    )


def test_the_engine_refuses_an_extent_outside_its_map(tmp_path: Path) -> None:
    subject = Subject(B.DESIGN, OPTIONS, "group", GRAINS)
    with subject.volume_set("memory") as volume_set:
        volumes, workdir = volume_set.fresh()
        lockstep = Lockstep(B.topology("group", GRAINS), volumes, workdir, OPTIONS)
        assert run_actions(lockstep, [CopyDelta("right", 2, 2)])[-1].ok
        with pytest.raises(EngineRefused, match=r"grains 2, 3 are already copied to right"):
            lockstep.engine.apply(CopyDelta("right", 2, 2))
        with pytest.raises(EngineRefused, match=r"grains \[6, 10\) are not one object's"):
            lockstep.engine.apply(CopyDelta("right", 6, 4))
        with pytest.raises(EngineRefused, match=r"no grain of \[0, 2\) is in right's delta"):
            lockstep.engine.apply(MergeRemote("right", 0, 2))
        assert lockstep.finish().ok  # nothing was written by the refused extents


def test_a_design_b_extent_trace_replays(tmp_path: Path) -> None:
    path = tmp_path / "extents.jsonl"
    write_trace(path, Trace(B.DESIGN, GRAINS, 512, "extents of design B", EXTENT_TRACE,
                            options=OPTIONS, topology="group"))  # fmt: skip
    assert '"count": 5' in path.read_text()
    trace = read_trace(path)
    assert trace.actions == EXTENT_TRACE
    assert replay(trace, "memory").as_expected
