"""The two-process lockstep: design A's remote site a child process (the product's daemon,
stepped), over TCP through the fault proxy, which also cuts the connection inside data frames
and acknowledgements — faults the model does not see and the transport must hide."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from pitmirror.harness.check import Budget, run_check, shrink_divergence
from pitmirror.harness.cyclic_flashcopy.lockstep import Lockstep
from pitmirror.harness.cyclic_flashcopy.tcp_world import FlashCopyTcpWorld
from pitmirror.harness.designs import Subject
from pitmirror.harness.lockstep import run_actions
from pitmirror.harness.replay import replay
from pitmirror.harness.traces import read_trace, trace_files
from pitmirror.harness.transport_mutants import TcpPlan
from pitmirror.model import cyclic_flashcopy as A
from pitmirror.model.actions import HostRead

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


def test_a_transport_mutant_is_caught_and_its_divergence_shrunk_by_replays(
    loop_backend: str,
) -> None:
    """A divergence over TCP is shrunk by replaying candidates on the engine, not by
    Hypothesis's shrinker (minutes of child processes): actions that do not take part are
    left out, and what is left still diverges on the engine."""
    subject = Subject("cyclic-flashcopy", A.Options(), grains=4,
                      transport="tcp:session-forgotten-at-reconnect")  # fmt: skip
    result = run_check(subject, loop_backend, Budget(examples=60, steps=40, seed=0))
    assert result.failure is not None and result.failure.expect == "divergence"
    found = result.failure.actions
    assert replay(result.failure, loop_backend).last.status == "diverged"
    padded = [HostRead(0), *found[:1], HostRead(1), *found[1:]]
    outcome = replay(dataclasses.replace(result.failure, actions=padded), loop_backend).last
    assert outcome.status == "diverged"
    shrunk, last = shrink_divergence(subject, padded, outcome, "loop", loop_backend)
    assert HostRead(0) not in shrunk and HostRead(1) not in shrunk and len(shrunk) <= len(found)
    assert last.status == "diverged"
