"""The two-process lockstep: design A's remote site a child process (the product's daemon,
stepped), over TCP through the fault proxy, which also cuts the connection inside data frames
and acknowledgements — faults the model does not see and the transport must hide."""

from __future__ import annotations

from pathlib import Path

import pytest

from pitmirror.harness.check import Budget, run_check
from pitmirror.harness.cyclic_flashcopy.lockstep import Lockstep
from pitmirror.harness.cyclic_flashcopy.tcp_world import FlashCopyTcpWorld
from pitmirror.harness.designs import Subject
from pitmirror.harness.lockstep import run_actions
from pitmirror.harness.traces import read_trace, trace_files
from pitmirror.harness.transport_mutants import TcpPlan
from pitmirror.model import cyclic_flashcopy as A

TRACES = Path(__file__).resolve().parent.parent / "traces"
SAFE = trace_files(TRACES / "cyclic-flashcopy")


def test_every_trace_of_design_a_replays_over_tcp_with_cuts_inside_frames(
    loop_backend: str,
) -> None:
    cuts = 0
    for path in SAFE:
        trace = read_trace(path)
        subject = Subject(trace.design, trace.resolved_options, None, trace.grains,
                          trace.grain_size)  # fmt: skip
        with subject.volume_set(loop_backend) as volume_set:
            volumes, workdir = volume_set.fresh()
            lockstep = Lockstep(volumes, workdir, A.Options(), TcpPlan())
            outcomes = run_actions(lockstep, trace.actions)
            assert isinstance(lockstep.engine, FlashCopyTcpWorld)
            cuts += lockstep.engine.proxy.cuts_inside
            assert all(o.ok for o in outcomes), (path.name, outcomes[-1].detail)
            assert len(outcomes) == len(trace.actions) + 1
            assert lockstep.failover_divergence() is None
    assert cuts >= len(SAFE)  # the transport hid a cut inside a frame in every trace


def test_a_property_run_over_tcp_finds_nothing_on_the_safe_design(loop_backend: str) -> None:
    subject = Subject("cyclic-flashcopy", A.Options(), grains=4, transport="tcp")
    result = run_check(subject, loop_backend, Budget(examples=4, steps=25, seed=3))
    assert result.passed, result.failure_detail
    assert result.steps_run > 40


def test_the_world_needs_volumes_another_process_can_open() -> None:
    subject = Subject("cyclic-flashcopy", A.Options(), grains=4, transport="tcp")
    with subject.volume_set("memory") as volume_set:
        volumes, workdir = volume_set.fresh()
        with pytest.raises(ValueError, match="another process can open"):
            subject.lockstep(volumes, workdir)


def test_design_mutants_stay_in_one_process() -> None:
    subject = Subject.of(A.UNSAFE_OPTIONS["no-copy-on-write"])
    with subject.volume_set("file") as volume_set:
        volumes, workdir = volume_set.fresh()
        with pytest.raises(ValueError, match="mutants run in one process"):
            Lockstep(volumes, workdir, A.UNSAFE_OPTIONS["no-copy-on-write"], TcpPlan())


def test_every_transport_mutant_named_has_a_listener() -> None:
    from pitmirror.harness.transport_listeners import LISTENERS
    from pitmirror.harness.transport_mutants import TRANSPORT_MUTANTS

    assert tuple(LISTENERS) == TRANSPORT_MUTANTS
