"""Power loss as real storage does it: the write log, the crash states built from it, and the
explorer that recovers each with the engine's code and judges it with the model."""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path

import pytest

from pitmirror.harness.cyclic_flashcopy.power_loss import plan_mismatch
from pitmirror.harness.designs import Subject
from pitmirror.harness.freeze_overlay.power_loss import power_loss as b_power_loss
from pitmirror.harness.freeze_overlay.world import OverlayWorld
from pitmirror.harness.iolog import DeviceWrite, Flush, IoLog, in_flight
from pitmirror.harness.power_loss import explore, save_violation, shrink
from pitmirror.harness.power_loss_states import (
    LOST,
    WHOLE,
    ZEROS,
    Bounds,
    CrashState,
    Fate,
    JournalBytes,
    crash_states,
    fates_of,
    journal_at,
    volume_patches,
)
from pitmirror.harness.replay import replay
from pitmirror.harness.traces import Trace, read_trace, trace_files
from pitmirror.impl.bitmap import GrainMap
from pitmirror.impl.cyclic_flashcopy.remote import lost_commit
from pitmirror.impl.freeze_overlay.layout import volume_layout
from pitmirror.impl.freeze_overlay.metadata import CopyMeta, GroupMeta, lost_record
from pitmirror.impl.journal import JournalError
from pitmirror.impl.volumes import MemoryVolume
from pitmirror.model import cyclic_flashcopy as A
from pitmirror.model import freeze_overlay as B
from pitmirror.model.actions import CopyDelta, CrashSite, HostWrite, MarkComplete, Recover

TRACES = Path(__file__).resolve().parent.parent / "traces"
A_TRACES = [p for p in trace_files(TRACES) if p.parent.name == "cyclic-flashcopy"]
B_TRACES = [p for p in trace_files(TRACES) if p.parent.name == "freeze-overlay"]
SAFE_TRACES = A_TRACES + B_TRACES
POWER_LOSS_TRACES = [p for p in trace_files(TRACES) if p.parent.name == "power-loss"]


def test_a_volume_logs_each_write_with_what_it_replaced_and_each_flush() -> None:
    log = IoLog()
    with MemoryVolume("v", 4, 1024) as volume:
        volume.write_grains(1, b"a" * 1024)
        volume.io_log = log
        volume.write_grains(1, b"b" * 2048)
        volume.flush()
    assert log.entries == [DeviceWrite("v", 1024, b"b" * 2048, b"a" * 1024 + bytes(1024)),
                           Flush("v")]  # fmt: skip


def test_a_flush_covers_the_writes_of_its_own_device_only() -> None:
    entries = [
        DeviceWrite("a", 0, b"x", b"."),
        DeviceWrite("b", 0, b"y", b"."),
        Flush("a"),
        DeviceWrite("a", 0, b"z", b"x"),
    ]
    assert in_flight(entries, frozenset({"a", "b"}), 2) == [1]
    assert in_flight(entries, frozenset({"a", "b"}), 3) == [1, 3]
    assert in_flight(entries, frozenset({"a"}), 1) == [0]


def test_fates_of_a_write() -> None:
    rng = random.Random(0)
    one_sector = DeviceWrite("i1", 0, bytes(512), bytes(512))
    assert fates_of(one_sector, Bounds(), rng) == [Fate(LOST), Fate(WHOLE)]
    eight = fates_of(DeviceWrite("i1", 0, bytes(4096), bytes(4096)), Bounds(), rng)
    assert len(eight) == 2**8  # lost, whole, and every proper non-empty subset of sectors
    long = fates_of(DeviceWrite("i1", 0, bytes(8192), bytes(8192)), Bounds(), rng)
    assert len(long) == 2 + 15 + Bounds().tear_samples  # every prefix, and drawn subsets
    append = fates_of(DeviceWrite("local.journal", 10, b"0123456789", b""), Bounds(), rng)
    assert Fate(ZEROS) in append and {f.prefix for f in append} == set(range(10))


def test_crash_states_are_exhaustive_within_the_bounds_and_drawn_beyond() -> None:
    writes = [DeviceWrite("i1", g * 512, b"n" * 512, b"o" * 512) for g in range(3)]
    exhaustive, count, states = crash_states(writes, [0, 1, 2], Bounds())
    assert exhaustive and count == 8 and len(set(states)) == 8
    exhaustive, count, states = crash_states(writes, [0, 1, 2], Bounds(exhaustive_writes=2))
    assert not exhaustive and count == 8 and len(list(states)) == 8
    overlapping = [DeviceWrite("i1", 0, b"a" * 512, b"o" * 512),
                   DeviceWrite("i1", 0, b"b" * 512, b"a" * 512)]  # fmt: skip
    exhaustive, count, states = crash_states(overlapping, [0, 1], Bounds())
    orders = {s.order for s in states}
    assert exhaustive and count == 8 and orders == {(0, 1), (1, 0)}


def test_sectors_at_a_crash_undo_what_came_later_and_apply_the_fates() -> None:
    entries = [
        DeviceWrite("v", 0, b"A" * 1024, b"o" * 1024),
        DeviceWrite("v", 0, b"B" * 1024, b"A" * 1024),
    ]
    now = {0: b"B" * 512, 512: b"B" * 512}
    assert volume_patches(now, entries, 0, "v", 0, None) == {0: b"A" * 512, 512: b"A" * 512}
    torn = CrashState(((0, Fate("sectors", frozenset({1}))),), (0,))
    assert volume_patches(now, entries, 0, "v", 0, torn) == {0: b"o" * 512, 512: b"A" * 512}
    both = CrashState(((0, Fate(WHOLE)), (1, Fate(WHOLE))), (1, 0))  # B reached it first
    assert volume_patches(now, entries, 0, "v", 1, both)[0] == b"A" * 512


def test_a_journal_at_a_crash_tears_appends_and_leaves_holes() -> None:
    entries = [
        DeviceWrite("j", 3, b"one\n", b""),
        DeviceWrite("j", 7, b"two\n", b""),
    ]
    now = JournalBytes(b"old" + b"one\n" + b"two\n", None)
    lost_first = CrashState(((0, Fate(LOST)), (1, Fate(WHOLE))), (0, 1))
    assert journal_at(now, entries, 0, "j", 1, lost_first).log == b"old" + bytes(4) + b"two\n"
    torn = CrashState(((0, Fate("prefix", prefix=2)), (1, Fate(LOST))), (0, 1))
    assert journal_at(now, entries, 0, "j", 1, torn).log == b"oldon"
    assert journal_at(now, entries, 0, "j", 0, None).log == b"oldone\n"


def test_the_journals_disagree_only_when_a_record_was_lost() -> None:
    assert lost_commit(3, 2) is None and lost_commit(3, 3) is None
    assert "remote journal lost the commit of point 3" in (lost_commit(4, 2) or "")
    assert "local journal lost records" in (lost_commit(2, 3) or "")


def test_the_engines_flushes_are_checked_against_the_models_plan() -> None:
    state = A.initial_state(A.Config(grains=2))
    state = state.step(HostWrite(0, 5))  # grain 0: copied on write, then tracked
    entries = [DeviceWrite("source", 0, bytes(4096), bytes(4096))]
    assert "left unflushed; the model's plan needs it durable" in (
        plan_mismatch(state, HostWrite(0, 6), entries, 4096) or ""
    )
    assert plan_mismatch(state, HostWrite(0, 6), [*entries, Flush("source")], 4096) is None
    unflushed = dataclasses.replace(state, options=A.Options(flush_before_ack=False))
    assert plan_mismatch(unflushed, HostWrite(0, 6), entries, 4096) is None


@pytest.mark.parametrize("path", SAFE_TRACES, ids=[p.name for p in SAFE_TRACES])
def test_every_crash_state_of_the_safe_design_recovers(path: Path) -> None:
    report = explore(read_trace(path), Bounds(), "memory")
    assert report.problem is None
    assert report.violations == 0, report.first and report.first.words(4096)
    assert report.steps == len(read_trace(path).actions)
    assert report.states > report.points > report.steps
    # the sites fail apart: a site of a commit loses power just after the other's write
    if {"CommitPoint", "MarkComplete"} & {type(a).__name__ for a in read_trace(path).actions}:
        assert report.cross_site_points > 0
    # design B's merges stay in flight until the drop, and a design-A flush's runs are in
    # flight together until its barrier: a crash point with many of them is sampled beyond
    # the bounds
    batched = path not in A_TRACES or path.name.endswith("write-cache.jsonl")
    exhaustive = report.points * 9 // 10 if batched else report.points
    assert report.exhaustive_points >= exhaustive


CATCHES = {
    ("A", "copy-data-unflushed"): "inv_target_is_committed_image",
    ("A", "protect-unflushed"): "inv_target_is_committed_image",
    ("A", "ack-before-flush"): "inv_no_ack_lost",
    ("A", "commit-unflushed"): "inv_recovers",
    # the record lost, the source written: the grain is missing from the point after next
    ("A", "flush-tracks-unsynced"): "inv_target_is_committed_image",
    ("B", "host-data-unflushed"): "inv_no_ack_lost",
    # a received grain that holds another value than the frozen delta's is never complete
    ("B", "copy-data-unflushed"): "inv_progress",
    ("B", "complete-unflushed"): "inv_recovers",
    ("B", "drop-before-merge-flushed"): "inv_target_is_committed_image",
}
CATCH_ON = {
    "A": (TRACES / "cyclic-flashcopy" / "261121-copy-on-write.jsonl", A.POWER_LOSS_OPTIONS),
    "B": (
        TRACES / "freeze-overlay" / "261201-single-pipelined-merges-aside.jsonl",
        B.POWER_LOSS_OPTIONS,
    ),
}


CAUGHT_ON = {
    ("A", "flush-tracks-unsynced"): TRACES / "cyclic-flashcopy" / "261206-write-cache.jsonl",
}
"""a mutant only a trace of the host's write cache shows, and that trace"""


def test_every_power_loss_mutant_has_a_check_here() -> None:
    assert set(CATCHES) == {(short, name) for short, (_, options) in CATCH_ON.items()
                            for name in options}  # fmt: skip


@pytest.mark.parametrize(("short", "name"), sorted(CATCHES), ids="-".join)
def test_a_power_loss_mutant_is_caught_only_by_power_loss(
    short: str, name: str, tmp_path: Path
) -> None:
    path, options = CATCH_ON[short]
    trace = read_trace(CAUGHT_ON.get((short, name), path))
    mutant = dataclasses.replace(trace, options=options[name])
    assert replay(mutant, "memory").clean, "a crash between whole writes does not show it"
    report = explore(mutant, Bounds(), "memory")
    caught = CATCHES[(short, name)]
    assert report.first is not None and report.first.predicate == caught
    shortest = shrink(report)
    assert shortest.first is not None and shortest.first.predicate == caught
    assert len(shortest.trace.actions) <= len(trace.actions)
    found = save_violation(shortest, tmp_path)
    assert found.path is not None
    saved = read_trace(found.path)
    assert saved.power_loss is not None and saved.violates == caught
    again = explore(saved, Bounds(), "memory")
    assert again.states == 1 and again.first is not None
    assert again.first.words(4096) == shortest.first.words(4096)


def test_the_explorer_runs_on_loop_devices(loop_backend: str) -> None:
    trace = read_trace(TRACES / "cyclic-flashcopy" / "261121-target-protection.jsonl")
    report = explore(trace, Bounds(), loop_backend)
    assert report.backend == "loop" and report.violations == 0 and report.states > 1000
    mutant = dataclasses.replace(trace, options=A.Options(flush_protection=False))
    assert explore(mutant, Bounds(), loop_backend, stop_at_first=True).first is not None


@pytest.mark.parametrize("path", POWER_LOSS_TRACES, ids=[p.name for p in POWER_LOSS_TRACES])
def test_a_saved_crash_state_replays_to_its_verdict(path: Path, loop_backend: str) -> None:
    trace = read_trace(path)
    report = explore(trace, Bounds(), loop_backend)
    assert report.states == 1
    assert report.first is not None and report.first.predicate == trace.violates


@pytest.mark.parametrize("name", ["261121-remote-crash-mid-merge",
                                  "261201-single-pipelined-cycles"])  # fmt: skip
def test_the_baseline_that_flushes_every_write_recovers_too(name: str) -> None:
    """In the order each trace was recorded in (the stricter one, the pipelined one)."""
    trace = read_trace(TRACES / "freeze-overlay" / f"{name}.jsonl")
    options = dataclasses.replace(trace.resolved_options, flush_every_write=True)
    report = explore(dataclasses.replace(trace, options=options))
    assert report.problem is None and report.violations == 0
    assert report.exhaustive_points == report.points  # nothing stays in flight past a step


def test_design_b_checks_the_engines_flushes_against_its_plan() -> None:
    subject = Subject(B.DESIGN, B.Options(), "single", 1, 4096)
    with subject.volume_set("memory") as volume_set:
        volumes, workdir = volume_set.fresh()
        lockstep = subject.lockstep(volumes, workdir)
        power, log = b_power_loss(lockstep), IoLog()
        power.attach(log)
        before = lockstep.model
        assert lockstep.apply(HostWrite(0, 5)).ok
        assert power.plan_mismatch(before, HostWrite(0, 5), log.entries) is None
        unflushed = dataclasses.replace(before, options=B.Options(flush_host_data=False))
        assert "was flushed; the model's plan needs it not yet" in (
            power.plan_mismatch(unflushed, HostWrite(0, 5), log.entries) or ""
        )
        assert "the engine issued 2 writes and barriers for it, the model's plan 1" in (
            power.plan_mismatch(lockstep.model, HostWrite(0, 6), log.entries) or ""
        )


def test_a_remote_and_its_home_disagree_only_when_a_record_was_lost() -> None:
    group = GroupMeta(point=2, completed_at=frozenset({"r"}), broken=False,
                      unfrozen=frozenset())  # fmt: skip

    def copy(base: int, delta: int | None, complete: bool) -> CopyMeta:
        return CopyMeta(base, delta, GrainMap(1), complete, 0, GrainMap(1), None)

    complete, merged = copy(1, 2, True), copy(2, None, False)
    assert lost_record(group, "r", [complete]) is None
    assert lost_record(group, "r", [merged]) is None
    not_yet = copy(1, 2, False)
    assert "lost its complete mark of point 2" in (lost_record(group, "r", [not_yet]) or "")
    pending = dataclasses.replace(group, completed_at=frozenset())
    assert lost_record(pending, "r", [not_yet]) is None
    assert lost_record(pending, "r", [complete]) is None  # marked, the home not told yet
    ahead = copy(1, 3, False)
    assert "the home journal lost records" in (lost_record(pending, "r", [ahead]) or "")


def test_design_b_refuses_to_resume_after_a_lost_complete_mark(tmp_path: Path) -> None:
    topology = B.topology("single", 1)
    layout, _ = volume_layout(topology)
    volumes = {name: MemoryVolume(name, grains, 4096) for name, grains in layout.items()}
    try:
        engine = OverlayWorld(topology, volumes, tmp_path, B.Options())
        engine.apply(CopyDelta("right", 0))
        journal = tmp_path / "right.journal"
        before_mark = journal.read_bytes()
        engine.apply(MarkComplete("right", 0))
        engine.apply(CrashSite("right"))
        journal.write_bytes(before_mark)  # the complete mark never reached the media
        with pytest.raises(JournalError, match="right journal lost its complete mark of point 1"):
            engine.apply(Recover("right"))
    finally:
        for volume in volumes.values():
            volume.close()


def test_a_pinned_crash_state_that_does_not_fit_the_run_is_refused() -> None:
    trace = read_trace(TRACES / "cyclic-flashcopy" / "261121-copy-on-write.jsonl")
    lost = {"kind": "lost", "sectors": [], "prefix": 0}
    pinned = {"step": 1, "site": "local", "after_writes": None, "fates": [lost] * 3,
              "order": [0, 1, 2]}  # fmt: skip
    bad: Trace = dataclasses.replace(trace, power_loss=pinned)
    with pytest.raises(ValueError, match="pins 3 writes in flight"):
        explore(bad, Bounds(), "memory")
    unreached = dataclasses.replace(trace, power_loss={**pinned, "after_writes": 99})
    with pytest.raises(ValueError, match="which the run does not reach"):
        explore(unreached, Bounds(), "memory")
