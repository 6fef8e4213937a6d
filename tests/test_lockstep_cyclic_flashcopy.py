"""Design A's engine against its model, in lockstep, on real volumes.

The loop-device runs are the ones CI relies on: they skip, saying why, only off root.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pitmirror.harness.check import Budget, run_check
from pitmirror.harness.cyclic_flashcopy.lockstep import Lockstep
from pitmirror.harness.designs import Subject
from pitmirror.harness.grains import mixed
from pitmirror.harness.lockstep import run_actions
from pitmirror.impl.site import EngineRefused
from pitmirror.model import cyclic_flashcopy as A
from pitmirror.model.actions import (
    Action,
    CommitPoint,
    CopyGrain,
    CrashSite,
    HostFlush,
    HostRead,
    HostWrite,
    Recover,
    ResyncGrain,
)

# Budgets sized for CI on two cores; `pitmirror check` takes larger ones.
SAFE_BUDGET = Budget(examples=300, steps=50)
# Three times check's default number of examples: bench/search_strength.py catches every
# mutant within the default in 20 of 20 seeds, so a miss here is the search gone weak.
MUTANT_BUDGET = Budget(examples=300, steps=40)


@pytest.mark.slow
def test_safe_design_agrees_with_the_model_on_loop_devices(loop_backend: str) -> None:
    result = run_check(A.Options(), loop_backend, SAFE_BUDGET)
    assert result.backend == "loop"
    assert all(d.startswith("/dev/loop") for d in result.devices)
    assert result.passed, result.failure_detail
    assert result.examples_run >= SAFE_BUDGET.examples


def test_claim5_update_rule_agrees_too(loop_backend: str) -> None:
    result = run_check(A.Options(map_rule="update"), loop_backend, Budget(examples=30, steps=40))
    assert result.passed, result.failure_detail


def test_safe_design_on_sparse_files() -> None:
    result = run_check(A.Options(), "file", Budget(examples=30, steps=30))
    assert result.backend == "file" and result.passed, result.failure_detail


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(A.UNSAFE_OPTIONS))
def test_every_mutant_is_caught_within_its_ci_budget(
    name: str, loop_backend: str, tmp_path: pytest.TempPathFactory
) -> None:
    result = run_check(A.UNSAFE_OPTIONS[name], loop_backend, MUTANT_BUDGET, save_dir=tmp_path)
    assert result.failure is not None, f"mutant {name} was not caught"
    assert result.failure.expect == "violation"
    assert result.failure.violates == "inv_target_is_committed_image"
    assert result.saved_to is not None and result.saved_to.exists()


def test_engine_divergence_is_reported_naming_the_field() -> None:
    """A lockstep harness that cannot see a wrong engine is no harness: break one on purpose."""
    with Subject(A.DESIGN, A.Options(), None, 2).volume_set("memory") as volume_set:
        volumes, workdir = volume_set.fresh()
        lockstep = Lockstep(volumes, workdir, A.Options())
        assert run_actions(lockstep, [CopyGrain(0)])[-1].ok
        volumes["i1"].write_grains(1, bytes(4095) + b"\x01")  # a stray write behind its back
        outcome = lockstep.apply(HostWrite(0, 3))
    assert outcome.status == "diverged"
    assert "grain 1" in outcome.detail


def test_a_write_of_part_of_a_grain_keeps_the_rest_of_what_the_host_reads() -> None:
    """A host write of two of a grain's parts over a cached write (the block door reads the
    grain through the cache and writes it back whole) agrees with the model; a door that read
    the durable source instead is caught at that write."""
    actions = [HostWrite(0, 5, fua=False),
               HostWrite(0, mixed((5, 9, 9, 5)), fua=False, part=1, parts=2), HostRead(0),
               CopyGrain(0, 2), HostFlush(), HostWrite(1, mixed((0, 0, 0, 4)), part=3, parts=1),
               CommitPoint()]  # fmt: skip
    for door_reads_the_cache in (True, False):
        with Subject(A.DESIGN, A.Options(), None, 2).volume_set("memory") as volume_set:
            volumes, workdir = volume_set.fresh()
            lockstep = Lockstep(volumes, workdir, A.Options())
            if not door_reads_the_cache:
                local = lockstep.engine.local  # type: ignore[attr-defined]
                source = volumes["source"]
                local.host_read = lambda grain, source=source: source.read_grains(grain)
            outcomes = run_actions(lockstep, actions)
        if door_reads_the_cache:
            assert all(o.ok for o in outcomes), outcomes[-1].detail
        else:
            assert len(outcomes) == 1 + 2 and outcomes[-1].status == "diverged"  # the start, 2


def test_engine_recovers_from_a_crash_at_every_write_of_a_copy(loop_backend: str) -> None:
    """Cut a copy-on-write host write after each of its writes, at either site, recover,
    and drive the cycle to its commit: model and engine agree at every step."""
    prefix = [CopyGrain(0), CopyGrain(1), CommitPoint(), HostWrite(0, 5), CommitPoint()]
    config = A.Config(grains=2)
    ready = A.initial_state(config)
    for action in prefix:
        ready = A.step(ready, action)
    plan = A.write_plan(ready, HostWrite(0, 6))
    cuts = 0
    with Subject(A.DESIGN, A.Options(), None, 2).volume_set(loop_backend) as volume_set:
        for site in ("local", "remote"):
            for cut in range(1, sum(w.site == site for w in plan) + 1):
                volumes, workdir = volume_set.fresh()
                lockstep = Lockstep(volumes, workdir, A.Options())
                actions = [*prefix, CrashSite(site, cut), HostWrite(0, 6), Recover(site)]
                outcomes = run_actions(lockstep, actions)
                assert all(o.ok for o in outcomes), outcomes[-1].detail
                committed = lockstep.model.committed
                while lockstep.model.committed == committed:
                    background = [
                        a
                        for a in A.enabled_actions(lockstep.model)
                        if isinstance(a, CopyGrain | ResyncGrain | CommitPoint)
                    ]
                    outcome = lockstep.apply(background[0])
                    assert outcome.ok, outcome.detail
                cuts += 1
    assert cuts == len(plan)


def test_the_engine_asserts_its_structure_where_it_breaks() -> None:
    """An engine whose phase stops following its maps fails at that action, in words; with
    the self-check off (for speed) the same run goes on."""
    for self_check in (True, False):
        with Subject(A.DESIGN, A.Options(), None, 2).volume_set("memory") as volume_set:
            volumes, workdir = volume_set.fresh()
            lockstep = Lockstep(volumes, workdir, A.Options())
            engine = lockstep.engine
            engine.self_check = self_check
            real_send: Callable[..., object] = engine.local.cycle.send

            def no_settle(
                event: str, send: Callable[..., object] = real_send, **arguments: object
            ) -> object:
                return None if event == "Settle" else send(event, **arguments)

            engine.local.cycle.send = no_settle  # type: ignore[method-assign]
            outcomes = run_actions(lockstep, [CopyGrain(0), CopyGrain(1)])
        if self_check:
            assert outcomes[-1].status == "diverged"
            assert outcomes[-1].detail == (
                "an engine invariant broke: local phase copying with 0 grains to copy and 0 "
                "out of sync"
            )
        else:
            assert outcomes[-1].ok


def test_an_engine_that_accepts_what_the_model_forbids_is_caught() -> None:
    """The lockstep offers a forbidden action after every step: a site that takes it, or
    refuses it only after writing, is reported in words."""
    with Subject(A.DESIGN, A.Options(), None, 2).volume_set("memory") as volume_set:
        lockstep = Lockstep(*volume_set.fresh(), A.Options())
        lockstep.probes = lambda state: [Recover("local")]  # the local site is up
        assert lockstep.probe().ok  # the site refuses it, and nothing changed
        world, real_apply = lockstep.engine, lockstep.engine.apply

        def lax(action: Action) -> None:
            if not isinstance(action, Recover):
                real_apply(action)

        world.apply = lax  # type: ignore[method-assign]
        accepted = lockstep.probe()
        assert accepted.status == "diverged" and accepted.detail == (
            "the engine accepted what the model forbids: the local site is up"
        )

        def writes_then_refuses(action: Action) -> None:
            world.volumes["i1"].write_grains(0, bytes(4096 - 7) + b"garbage")
            raise EngineRefused("too late")

        world.apply = writes_then_refuses  # type: ignore[method-assign]
        written = lockstep.probe()
        assert written.status == "diverged"
        assert written.detail.startswith("refused, yet it changed the engine: ")


def test_a_check_tells_each_example_as_it_begins() -> None:
    told: list[tuple[int, int, bool]] = []
    budget = Budget(examples=5, steps=10)
    result = run_check(A.Options(), "memory", budget, progress=lambda *t: told.append(t))
    assert result.passed
    assert [begun for begun, _, _ in told] == list(range(1, result.examples_run + 1))
    assert {(total, shrinking) for _, total, shrinking in told} == {(5, False)}
