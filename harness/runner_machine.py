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
"""extents one drawn tick may copy, resync, drain or merge"""
EXTENT_SIZES = (1, 2, 3, 4, 8, 16, MAX_EXTENT)
"""the longest extent a drawn tick may take: small ones often, so that a tick takes several
extents and a crash or a link failure can fall between them"""


class FakeClock:
    """The runner's injected clock, moved on only by the machine's clock rule."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass
class RunnerHandle:
    """What the machine needs of a design's runner, bound to one engine."""

    host_write: Callable[[int, int, bool], None]
    host_read: Callable[[int], None]
    tick: Callable[[int, int], None]
    """one tick with at most (work, extent) of background work"""
    committed: Callable[[], dict[str, int]]
    """the committed point of every copy, as the runner's status reports it"""


Announce = Callable[[str, int], None]
"""(where, point): the runner's callback on a new point (a commit in A, a freeze in B)"""


@dataclass(frozen=True)
class RunnerSpec:
    """A design's runner as this machine drives and checks it."""

    open: Callable[[object, Callable[[], float], Callable[[Action], None], Announce],
                   RunnerHandle]  # fmt: skip
    """(engine, clock, apply, announce) -> the runner, acting only through `apply`"""
    committed: Callable[[object], dict[str, int]]
    """the model's committed point of every copy, keyed as the runner's status keys them"""
    newest: Callable[[object], dict[str, int]]
    """the model's newest point per place, keyed as the runner announces them"""
    module: str
    """the runner's module, whose every line and branch the coverage gate asks for"""


def build_runner_machine(
    spec: RunnerSpec,
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
            self.handle = spec.open(lockstep.engine, self.clock, self._do, self._announced)
            return lockstep

        def _announced(self, where: str, point: int) -> None:
            """The runner's on-point callback must name the point the model just reached."""
            assert self.lockstep is not None
            newest = spec.newest(self.lockstep.model).get(where)
            if newest != point:
                self._mismatch(f"the runner announced point {point} at {where}, the model's "
                               f"newest there is {newest}")  # fmt: skip

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

        @rule(grain=st.integers(0, grains - 1), data=st.integers(1, MAX_DATA_SEED),
              fua=st.booleans())  # fmt: skip
        def host_write(self, grain: int, data: int, fua: bool) -> None:
            """A host write, FUA or into the cache where the design has one (the runner
            flushes the cache at a point)."""
            if self._allowed(HostWrite(grain, data, fua)):
                self._runner("a host write",
                             lambda runner: runner.host_write(grain, data, fua))  # fmt: skip

        @rule(grain=st.integers(0, grains - 1))
        def host_read(self, grain: int) -> None:
            if self._allowed(HostRead(grain)):
                self._runner("a host read", lambda runner: runner.host_read(grain))

        @rule(work=st.integers(1, MAX_WORK), extent=st.sampled_from(EXTENT_SIZES))
        def tick(self, work: int, extent: int) -> None:
            self._runner("a tick", lambda runner: runner.tick(work, extent))

        @rule()
        def status(self) -> None:
            """What the runner tells its user must be what the model committed."""
            assert self.handle is not None and self.lockstep is not None
            shown: dict[str, int] = {}
            self._runner("its status", lambda runner: shown.update(runner.committed()))
            expected = spec.committed(self.lockstep.model)
            if shown != expected:
                self._mismatch(f"the runner's status shows committed points {shown}, "
                               f"the model's are {expected}")  # fmt: skip

        def _mismatch(self, detail: str) -> None:
            assert self.lockstep is not None
            where = self.lockstep.check(None, None)
            self._verdict(StepOutcome(len(self.actions), None, "diverged", detail, where.cycle,
                                      where.committed, where.phase))  # fmt: skip

        @rule(seconds=st.sampled_from([0.001, 0.1, 1.0, 10.0]))
        def clock_step(self, seconds: float) -> None:
            self.clock.now += seconds

        @precondition(lambda self: self.lockstep is not None)
        @rule(data=st.data())
        def fault(self, data: st.DataObject) -> None:
            assert self.lockstep is not None
            faults = [a for a in self.lockstep.model.enabled_actions() if isinstance(a, FAULTS)]
            # the kind first, then its parameters: crashes come in many variants (site, after
            # how many writes), and drawn flat they would crowd out the link's failures
            kinds = [kind for kind in FAULTS if any(isinstance(a, kind) for a in faults)]
            if kinds:
                kind = data.draw(st.sampled_from(kinds))
                self._do(data.draw(st.sampled_from([a for a in faults if isinstance(a, kind)])))

    RunnerMachine.__name__ = "RunnerMachine"
    return RunnerMachine
