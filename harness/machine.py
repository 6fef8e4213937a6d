"""What every design's Hypothesis state machine shares: thin and flat.

Each rule of a design's machine builds one action of the vocabulary, applies it to model and
engine in lockstep and fails with the lockstep's sentence when anything disagrees or a predicate
breaks.  Rules draw only enabled actions, so every generated list is a valid trace; after each
step the lockstep also offers the engine one action the model forbids, which it must refuse.  Every
failing example is handed to `on_failure` as an action list; the last one is the minimised
failure.
"""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import strategies as st
from hypothesis import target
from hypothesis.stateful import RuleBasedStateMachine, initialize

from pitmirror.harness.lockstep import StepOutcome, Stepper, explain
from pitmirror.model.actions import GRAIN_PARTS, Action
from pitmirror.model.extents import run_around, run_from

FailureHandler = Callable[[list[Action], StepOutcome], None]
MAX_DATA_SEED = 255
MAX_EXTENT = 64
"""the longest extent a background rule or a runner's tick draws (the runner's default is 16)"""


def extent_in(grains: frozenset[int]) -> st.SearchStrategy[tuple[int, int]]:
    """An extent (start, count) of consecutive grains of the non-empty set `grains`: half the
    time a start drawn from the set and a count up to the run it begins (shrinking towards
    one grain), half the time the whole run around a drawn grain (what a runner copies, and
    the extents that cover the most state at once)."""

    def whole_run(grain: int) -> tuple[int, int]:
        # a plain function: Hypothesis prints a mapped function to label the strategy, and a
        # partial holding the set printed thousands of grains at every draw
        return run_around(grains, grain, MAX_EXTENT)

    member = member_of(grains)  # once: it sorts the set
    return st.one_of(
        member.flatmap(
            lambda start: st.tuples(
                st.just(start), st.integers(1, run_from(grains, start, MAX_EXTENT))
            )
        ),
        member.map(whole_run),
    )


def window_in(grains: frozenset[int]) -> st.SearchStrategy[tuple[int, int]]:
    """A window (start, count) over the non-empty set `grains`:
    two times in three an extent of the set (`extent_in`), else the window from one of its
    grains to a later one, grains not in the set between (design A's actions move the set's
    grains within a window: the runner's sparse batches)."""
    ordered = sorted(grains)

    def to_later(first: int) -> st.SearchStrategy[tuple[int, int]]:
        later = [g for g in ordered if first <= g < first + MAX_EXTENT]
        return st.sampled_from(later).map(lambda last: (first, last - first + 1))

    return st.one_of(
        extent_in(grains), extent_in(grains), st.sampled_from(ordered).flatmap(to_later)
    )


MAX_RANGE_PARTS = 3 * GRAIN_PARTS
"""the longest host write of a range the machines draw, in grain parts"""


GRAIN_SPANS: tuple[tuple[int, int], ...] = ((0, GRAIN_PARTS),) + tuple(
    (part, parts) for parts in range(1, GRAIN_PARTS) for part in range(GRAIN_PARTS - parts + 1)
)
"""(first part, parts) of a write inside one grain: the whole grain first (shrinking goes
there), then every shorter run of parts"""


def member_of(grains: frozenset[int]) -> st.SearchStrategy[int]:
    """A grain of the non-empty set, shrinking towards the lowest: `sampled_from` by index,
    which does not walk the whole set at every draw (thousands of grains)."""
    ordered = sorted(grains)
    return st.integers(0, len(ordered) - 1).map(ordered.__getitem__)


class LockstepFailure(AssertionError):
    """Model and engine disagreed, or a predicate of the spec broke."""


class LockstepMachine(RuleBasedStateMachine):
    """What both designs' machines share: a lockstep on fresh volumes per example, one action
    at a time, and every failing example handed to `report_failure`.

    Hypothesis replays the minimised failure last, so the last report is the one it raises;
    the public API has no flag that says "this run is the final replay".
    """

    lockstep: Stepper | None = None

    def __init__(self) -> None:
        super().__init__()
        self.actions: list[Action] = []
        self.failure: StepOutcome | None = None
        self.stepping = False
        """inside an action's lockstep step"""

    def open_lockstep(self) -> Stepper:
        raise NotImplementedError

    def report_failure(self, actions: list[Action], outcome: StepOutcome) -> None:
        raise NotImplementedError

    @initialize()
    def start(self) -> None:
        self.lockstep = self.open_lockstep()
        self._verdict(self.lockstep.check(None, None))

    def _do(self, action: Action) -> None:
        assert self.lockstep is not None
        self.actions.append(action)
        self.stepping = True
        outcome = self.lockstep.apply(action)
        if outcome.ok:
            outcome = self.lockstep.probe()
        self.stepping = False
        self._verdict(outcome)

    def _verdict(self, outcome: StepOutcome) -> None:
        if not outcome.ok:
            self.failure = outcome
            raise LockstepFailure(explain(outcome))

    def search_scores(self) -> dict[str, float]:
        """A design's measures of how interesting an example was, by label; Hypothesis's
        targeting (`hypothesis.target`) maximises each."""
        return {}

    def teardown(self) -> None:
        for label, score in self.search_scores().items():
            target(score, label=label)
        # not after an interrupted step (Ctrl-C, SIGTERM): model and engine are half-way
        # through one action there, and a read-back would report that as a divergence
        if self.failure is None and self.lockstep is not None and not self.stepping:
            # the cached read-back skipped unwritten grains: the run ends with a full one
            last = self.lockstep.finish()
            if not last.ok:
                self.failure = last
                self.report_failure(list(self.actions), last)
                raise LockstepFailure(explain(last))
        if self.failure is not None:
            self.report_failure(list(self.actions), self.failure)
