"""The runners under lockstep: a Hypothesis machine whose rules are a runner's own operations.

A user runs a design's real-time runner, not one action at a time, so this machine drives the
runner as a user would — host writes and reads, `tick`s with drawn budgets, clock steps — while
the world fails around it (link down and up, crashes of either site, recoveries, drawn from what
the model enables).  The runner performs every durable change through one `apply` callback with
actions of the vocabulary; here that callback is the lockstep, so the model is stepped with each
action the runner takes, must allow it, and model and engine are compared after every one.  The
action list is an ordinary trace that `pitmirror replay` reproduces.

A runner that raises instead of acting (it read a site that is down, say) fails the run too:
that is a runner bug the action list alone does not show, and the report says so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule

from pitmirror.harness.lockstep import StepOutcome, Stepper
from pitmirror.harness.machine import (
    MAX_DATA_SEED,
    MAX_EXTENT,
    FailureHandler,
    LockstepFailure,
    LockstepMachine,
)
from pitmirror.model.actions import (
    Action,
    CrashSite,
    HostRead,
    HostWrite,
    LinkDown,
    LinkUp,
    Recover,
)

FAULTS = (LinkDown, LinkUp, CrashSite, Recover)
MAX_WORK = 8
"""units of background work (extents or grains) one drawn tick may do"""


class FakeClock:
    """The runner's injected clock, moved on only by the machine's clock rule."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass
class RunnerHandle:
    """What the machine needs of a design's runner, bound to one engine."""

    host_write: Callable[[int, int], None]
    host_read: Callable[[int], None]
    tick: Callable[[int, int], None]
    """one tick with at most (work, extent) of background work"""


RunnerFactory = Callable[[object, Callable[[], float], Callable[[Action], None]], RunnerHandle]
"""(engine, clock, apply) -> the runner, acting only through `apply`"""


def build_runner_machine(
    open_runner: RunnerFactory,
    open_lockstep: Callable[[], Stepper],
    grains: int,
    on_failure: FailureHandler,
) -> type[RuleBasedStateMachine]:
    class RunnerMachine(LockstepMachine):
        handle: RunnerHandle | None = None
        clock: FakeClock

        def open_lockstep(self) -> Stepper:
            lockstep = open_lockstep()
            self.clock = FakeClock()
            self.handle = open_runner(lockstep.engine, self.clock, self._do)
            return lockstep

        def report_failure(self, actions: list[Action], outcome: StepOutcome) -> None:
            on_failure(actions, outcome)

        def _runner(self, what: str, operation: Callable[[RunnerHandle], None]) -> None:
            assert self.handle is not None and self.lockstep is not None
            try:
                operation(self.handle)
            except LockstepFailure:
                raise
            except Exception as err:  # noqa: BLE001 - whatever it raises is the runner's bug
                where = self.lockstep.check(None, None)
                detail = f"the runner raised {type(err).__name__} in {what}: {err}"
                self._verdict(
                    StepOutcome(len(self.actions), None, "refused", detail, where.cycle,
                                where.committed, where.phase)
                )  # fmt: skip

        def _allowed(self, action: Action) -> bool:
            assert self.lockstep is not None
            return self.lockstep.model.why_disabled(action) is None

        @rule(grain=st.integers(0, grains - 1), data=st.integers(1, MAX_DATA_SEED))
        def host_write(self, grain: int, data: int) -> None:
            if self._allowed(HostWrite(grain, data)):
                self._runner("a host write", lambda runner: runner.host_write(grain, data))

        @rule(grain=st.integers(0, grains - 1))
        def host_read(self, grain: int) -> None:
            if self._allowed(HostRead(grain)):
                self._runner("a host read", lambda runner: runner.host_read(grain))

        @rule(work=st.integers(1, MAX_WORK), extent=st.integers(1, MAX_EXTENT))
        def tick(self, work: int, extent: int) -> None:
            self._runner("a tick", lambda runner: runner.tick(work, extent))

        @rule(seconds=st.sampled_from([0.001, 0.1, 1.0, 10.0]))
        def clock_step(self, seconds: float) -> None:
            self.clock.now += seconds

        @precondition(lambda self: self.lockstep is not None)
        @rule(data=st.data())
        def fault(self, data: st.DataObject) -> None:
            assert self.lockstep is not None
            faults = [a for a in self.lockstep.model.enabled_actions() if isinstance(a, FAULTS)]
            if faults:
                self._do(data.draw(st.sampled_from(faults)))

    RunnerMachine.__name__ = "RunnerMachine"
    return RunnerMachine
