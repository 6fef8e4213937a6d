"""Design B's engine against its model on loop devices: every topology, every mutant, the
object kinds, and the runner's repetition interval."""

from __future__ import annotations

from pathlib import Path

import pytest

from pitmirror.harness.check import Budget, run_check
from pitmirror.harness.designs import Subject
from pitmirror.harness.freeze_overlay.machine import PROGRESS
from pitmirror.harness.grains import grain_bytes, mixed
from pitmirror.harness.lockstep import run_actions
from pitmirror.impl.freeze_overlay.layout import volume_layout
from pitmirror.impl.volumes import FileVolume, LoopVolume
from pitmirror.model import freeze_overlay as B
from pitmirror.model.actions import (
    Action,
    CopyDelta,
    HostFlush,
    HostRead,
    HostWrite,
    MarkComplete,
)

SAFE_BUDGET = Budget(examples=40, steps=50)
MUTANT_BUDGET = Budget(examples=400, steps=60)

# what each mutant breaks: the target's image, or (a read path mutant) what reads return
BREAKS = {name: {"inv_target_is_committed_image"} for name in B.UNSAFE_OPTIONS} | {
    "read-frozen-first": {"inv_no_ack_lost"},
    # pipelined, the slower remote may be left behind before its delta is taken for complete
    "drop-before-every-remote": {"inv_target_is_committed_image", "inv_lag_bounded"},
}


@pytest.mark.slow
@pytest.mark.parametrize("topology", B.TOPOLOGIES)
def test_every_topology_agrees_with_the_model_on_loop_devices(
    topology: str, loop_backend: str
) -> None:
    result = run_check(Subject(B.DESIGN, B.Options(), topology, 2), loop_backend, SAFE_BUDGET)
    assert result.backend == "loop"
    assert result.passed, result.failure_detail
    assert result.examples_run >= SAFE_BUDGET.examples


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(B.UNSAFE_OPTIONS))
def test_every_mutant_is_caught_within_its_ci_budget(
    name: str, loop_backend: str, tmp_path: Path
) -> None:
    subject = Subject(B.DESIGN, B.UNSAFE_OPTIONS[name], B.MUTANT_TOPOLOGY[name], 2)
    result = run_check(subject, loop_backend, MUTANT_BUDGET, save_dir=tmp_path)
    assert result.failure is not None, f"mutant {name} was not caught"
    assert result.failure.violates in BREAKS[name]
    assert result.failure.topology == B.MUTANT_TOPOLOGY[name]
    assert result.saved_to is not None and result.saved_to.exists()


def test_object_kinds_live_where_the_topology_says(loop_backend: str) -> None:
    """A file object is a regular file, spans share their home disk, fan-in shares a device."""
    file_layout, files = volume_layout(B.topology("file", 2))
    assert files == {"file.file"}
    fan_in, _ = volume_layout(B.topology("fan-in", 2))
    assert {"left.disk", "third.disk", "right.device"} <= set(fan_in)
    subject = Subject(B.DESIGN, B.Options(), "file", 2)
    with subject.volume_set(loop_backend) as volume_set:
        volumes, workdir = volume_set.fresh()
        assert isinstance(volumes["file.file"], FileVolume)
        assert isinstance(volumes["file.aux0"], LoopVolume)
        lockstep = subject.lockstep(volumes, workdir)
        outcomes = run_actions(lockstep, [HostWrite(1, 9), CopyDelta("right", 0)])
        assert all(o.ok for o in outcomes), outcomes[-1].detail


def test_spans_never_touch_their_guard_grains(loop_backend: str) -> None:
    """Merge writes at both edges of a span land inside it, never on the guard grains."""
    subject = Subject(B.DESIGN, B.Options(), "fan-in", 2)
    state = subject.initial()
    actions: list[Action] = [HostWrite(0, 5), HostWrite(1, 6)]
    for action in actions:
        state = B.step(state, action)
    while state.objects[0].base != (5, 6):
        action = next(
            a
            for kind in PROGRESS
            for a in B.enabled_actions(state)
            if isinstance(a, kind)
            and getattr(a, "group", 0) == 0
            and getattr(a, "grain", 0) < 2
            and B.step(state, a) != state  # a merge already done is allowed, but moves nothing
        )
        state = B.step(state, action)
        actions.append(action)
    with subject.volume_set(loop_backend) as volume_set:
        volumes, workdir = volume_set.fresh()
        outcomes = run_actions(subject.lockstep(volumes, workdir), actions)
        assert all(o.ok for o in outcomes), outcomes[-1].detail
        disk = volumes["left.disk"]
        assert disk.read_grains(0) == bytes(4096)
        assert disk.read_grains(disk.grain_count - 1) == bytes(4096)
        assert disk.read_grains(1) == grain_bytes(5, 0, 4096)
        assert disk.read_grains(2) == grain_bytes(6, 1, 4096)


def test_a_host_read_that_returns_other_bytes_is_a_divergence() -> None:
    """The harness compares what a read returns: break the engine's read path on purpose."""
    subject = Subject(B.DESIGN, B.Options(), "single", 2)
    with subject.volume_set("memory") as volume_set:
        volumes, workdir = volume_set.fresh()
        lockstep = subject.lockstep(volumes, workdir)
        assert run_actions(lockstep, [HostWrite(0, 5), HostRead(0)])[-1].ok
        lockstep.engine.last_read = lambda: (0, 0)  # type: ignore[attr-defined, method-assign]
        outcome = lockstep.apply(HostRead(0))
    assert outcome.status == "diverged"
    assert outcome.detail == (
        "the host read of grain 0 returned grain 0 holding 0; the model reads 5"
    )


def test_a_write_of_part_of_a_grain_keeps_the_rest_of_what_the_host_reads() -> None:
    """A host write of two of a grain's parts over a cached write (the block door reads the
    grain through the overlay and writes it back whole) agrees with the model; a door that did
    not read the grain first is caught at that write."""
    subject = Subject(B.DESIGN, B.Options(), "single", 2)
    actions = [HostWrite(0, 5, fua=False), HostFlush(), HostWrite(0, 6, fua=False),
               HostWrite(0, mixed((6, 9, 9, 6)), fua=False, part=1, parts=2), HostRead(0),
               HostFlush(), HostWrite(1, mixed((0, 0, 0, 4)), part=3, parts=1)]  # fmt: skip
    for door_reads in (True, False):
        with subject.volume_set("memory") as volume_set:
            lockstep = subject.lockstep(*volume_set.fresh())
            if not door_reads:
                home = lockstep.engine.sites["left"]  # type: ignore[attr-defined]
                home.host_read = lambda grain: bytes(4096)
            outcomes = run_actions(lockstep, actions)
        if door_reads:
            assert all(o.ok for o in outcomes), outcomes[-1].detail
        else:
            assert len(outcomes) == 1 + 4 and outcomes[-1].status == "diverged"  # the start, 4


def test_the_engine_asserts_its_structure_where_it_breaks() -> None:
    """A group whose phase stops following its metadata fails at that action, in words."""
    subject = Subject(B.DESIGN, B.Options(), "single", 2)
    with subject.volume_set("memory") as volume_set:
        volumes, workdir = volume_set.fresh()
        lockstep = subject.lockstep(volumes, workdir)
        cycle = lockstep.engine.cycles[0]  # type: ignore[attr-defined]
        send = cycle.send

        def no_settle(event: str, **arguments: object) -> object:
            return None if event == "Settle" else send(event, **arguments)

        cycle.send = no_settle
        actions = [CopyDelta("right", 0), CopyDelta("right", 1), MarkComplete("right", 0)]
        outcomes = run_actions(lockstep, actions)
    assert outcomes[-1].status == "diverged"
    assert outcomes[-1].detail == (
        "an engine invariant broke: group 0 is copying with completed_at ['right'] and no "
        "delta to merge"
    )
