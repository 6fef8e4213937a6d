"""Design B's lockstep with every site a child process over TCP, through fault proxies that cut
the connections inside data frames and acknowledgements — faults the model does not see and the
transport must hide."""

from __future__ import annotations

from pathlib import Path

import pytest

from pitmirror.harness.check import Budget, run_check
from pitmirror.harness.designs import Subject
from pitmirror.harness.freeze_overlay.lockstep import Lockstep
from pitmirror.harness.freeze_overlay.tcp_world import OverlayTcpWorld
from pitmirror.harness.lockstep import run_actions
from pitmirror.harness.traces import read_trace, trace_files
from pitmirror.harness.transport_mutants import TcpPlan, tcp_plan
from pitmirror.model import freeze_overlay as B

TRACES = Path(__file__).resolve().parent.parent / "traces"
SAFE = trace_files(TRACES / "freeze-overlay")
TRANSPORT_MUTANT_TRACES = sorted((TRACES / "mutants").glob("*-b-tcp-*.jsonl"))


def test_every_trace_of_design_b_replays_over_tcp_with_cuts_inside_frames(
    loop_backend: str,
) -> None:
    cuts = 0
    for path in SAFE:
        trace = read_trace(path)
        assert trace.topology is not None
        subject = Subject(trace.design, trace.resolved_options, trace.topology, trace.grains,
                          trace.grain_size)  # fmt: skip
        with subject.volume_set(loop_backend) as volume_set:
            volumes, workdir = volume_set.fresh()
            options = trace.resolved_options
            assert isinstance(options, B.Options)
            lockstep = Lockstep(B.topology(trace.topology, trace.grains), volumes, workdir,
                                options, TcpPlan())  # fmt: skip
            try:
                outcomes = run_actions(lockstep, trace.actions)
                assert isinstance(lockstep.engine, OverlayTcpWorld)
                cuts += sum(p.cuts_inside for p in lockstep.engine.proxies.values())
            finally:
                lockstep.engine.close()
            assert all(o.ok for o in outcomes), (path.name, outcomes[-1].detail)
            assert len(outcomes) == len(trace.actions) + 1
    assert cuts >= len(SAFE)  # the transport hid a cut inside a frame in every trace


@pytest.mark.parametrize("topology", ["fan-out", "bidirectional"])
def test_a_property_run_over_tcp_finds_nothing_on_the_safe_design(
    loop_backend: str, topology: str
) -> None:
    subject = Subject("freeze-overlay", B.Options(), topology, 2, transport="tcp")
    result = run_check(subject, loop_backend, Budget(examples=3, steps=25, seed=5))
    assert result.passed, result.failure_detail
    assert result.steps_run > 30


@pytest.mark.parametrize("path", TRANSPORT_MUTANT_TRACES, ids=lambda p: p.stem)
def test_each_transport_mutant_parts_from_the_model_over_tcp(loop_backend: str, path: Path) -> None:
    trace = read_trace(path)
    assert trace.expect == "divergence" and trace.topology is not None
    subject = Subject(trace.design, trace.resolved_options, trace.topology, trace.grains,
                      trace.grain_size, transport=trace.transport)  # fmt: skip
    with subject.volume_set(loop_backend) as volume_set:
        volumes, workdir = volume_set.fresh()
        options = trace.resolved_options
        assert isinstance(options, B.Options)
        plan = tcp_plan(trace.transport)
        assert plan is not None and plan.mutant is not None
        lockstep = Lockstep(B.topology(trace.topology, trace.grains), volumes, workdir, options,
                            plan)  # fmt: skip
        try:
            outcomes = run_actions(lockstep, trace.actions)
        finally:
            lockstep.engine.close()
    assert not outcomes[-1].ok and outcomes[-1].status == "diverged", outcomes[-1]


def test_three_transport_mutants_have_a_design_b_trace() -> None:
    names = {read_trace(p).transport for p in TRANSPORT_MUTANT_TRACES}
    assert len(names) == 3


def test_design_b_mutants_stay_in_one_process() -> None:
    options = B.UNSAFE_OPTIONS["merge-before-complete"]
    subject = Subject.of(options)
    with subject.volume_set("file") as volume_set:
        volumes, workdir = volume_set.fresh()
        with pytest.raises(ValueError, match="mutants run in one process"):
            Lockstep(B.topology("single"), volumes, workdir, options, TcpPlan())
