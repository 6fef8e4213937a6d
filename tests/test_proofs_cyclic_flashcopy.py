"""The Z3 proof of design A: proved as designed, refuted for every mutant with a replayable
trace, and held to the Python model by concrete (state, step(state, action)) pairs."""

from __future__ import annotations

import collections
import functools
import re
from pathlib import Path

import pytest
import z3
from hypothesis import given, settings
from hypothesis import strategies as st

from pitmirror.harness.prove import prove_design
from pitmirror.harness.replay import on_engine
from pitmirror.harness.traces import read_trace
from pitmirror.model import cyclic_flashcopy as M
from pitmirror.model.actions import Action, CrashSite, Recover, action_name
from pitmirror.proofs import cyclic_flashcopy as A
from pitmirror.proofs.cyclic_flashcopy_bmc import grain_after, over_grains
from pitmirror.proofs.cyclic_flashcopy_concrete import Universe, encode
from pitmirror.proofs.cyclic_flashcopy_proof import ENCODING
from pitmirror.proofs.obligations import READS
from pitmirror.proofs.prover import GOAL, ProofReport
from pitmirror.proofs.prover import prove as prove_with


def prove(options: M.Options) -> ProofReport:
    return prove_with(ENCODING, options)


PROOF_TRACES = sorted(
    (Path(__file__).resolve().parent.parent / "traces" / "proofs").glob("*.jsonl")
)


def test_the_safe_design_is_proved_query_by_query() -> None:
    report = prove(M.Options())
    assert report.proved, [q.line() for q in report.failures]
    checks = {q.check for q in report.queries}
    assert {
        "init",
        "goal",
        "HostWrite",
        "HostRead",
        "CommitPoint",
        "CrashSite(remote)",
        "Recover(local)",
    } <= checks
    per_action = len(A.CONJUNCTS) + 1  # every conjunct and the monotonic step property
    assert sum(q.check == "CopyGrain" for q in report.queries) == per_action
    assert report.queries[-1].line() == f"checking the invariant: implies {GOAL} ... ok"
    assert report.queries[-2].line() == f"checking the invariant: implies {READS} ... ok"


def test_claim5_update_rule_is_proved_too() -> None:
    assert prove(M.Options(map_rule="update")).proved


MUTANTS = {**M.UNSAFE_OPTIONS, **M.POWER_LOSS_OPTIONS}


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_every_mutant_is_refuted_with_a_counterexample_and_a_trace(
    name: str, tmp_path: Path, loop_backend: str
) -> None:
    """A power-loss mutant's trace pins the crash state its path goes through (`pitmirror
    crash` finds it); it may break another predicate than the goal (an acknowledged write or a
    commit lost)."""
    outcome = prove_design(MUTANTS[name], tmp_path)
    assert not outcome.proved
    failing = outcome.report.failures[0]
    assert failing.verdict == "fails" and failing.variant
    grains = [line for line in failing.counterexample if line.startswith("grain ")]
    per_grain = any(c.name == failing.conjunct and c.at is not None for c in A.CONJUNCTS)
    assert grains or not per_grain  # a conjunct over numbers may be broken by numbers alone
    assert all("source " in line and "P_c (committed image) " in line for line in grains)
    assert not any(re.search(r"\bv\d|\bpc |\{", line) for line in failing.counterexample)
    assert outcome.trace is not None and outcome.saved_to is not None
    result = on_engine(read_trace(outcome.saved_to), loop_backend)
    if name in M.POWER_LOSS_OPTIONS:
        assert outcome.trace.power_loss is not None and result.violated, result.verdict()
    else:
        assert result.violated == GOAL, result.verdict()


def test_every_recorded_proof_trace_is_there() -> None:
    bmc = {
        p.name.split("-bmc-")[1].removesuffix(".jsonl") for p in PROOF_TRACES if "-bmc-" in p.name
    }
    assert bmc == set(MUTANTS)


# ---- drift: the Z3 relation of each action against the Python step ---------------------------

GRAINS = 2


OPTION_SETS = [M.Options(), M.Options(map_rule="update"), *MUTANTS.values()]
POOL_CONFIG = M.Config(grains=GRAINS, values=(1, 2), max_cycle=3, max_crash_writes=2)
POOL_STATES = 4000


def _shape(state: M.State, action: Action, after: M.State) -> str:
    """The branch of the action's write plan and where a crash cut it, as text."""
    plan = M.write_plan(state, action)
    writes = [w.volume if isinstance(w, M.VolumeWrite) else f"{w.site} record" for w in plan]
    cut = ""
    if state.armed_crash is not None and not after.site_up(state.armed_crash[0]):
        site, left = state.armed_crash
        index = [i for i, w in enumerate(plan) if w.site == site][left - 1]
        cut = f" cut after write {index + 1}"
    return f"{action_name(action)}[{', '.join(writes)}]{cut}"


@functools.cache
def steps_by_shape(options: M.Options) -> dict[str, list[tuple[M.State, Action, M.State]]]:
    """(state, action, step(state, action)) over the reachable states, grouped by the branch
    of the write plan taken and the write a crash cut it after."""
    pairs: dict[str, list[tuple[M.State, Action, M.State]]] = {}
    seen = {M.initial_state(POOL_CONFIG, options)}
    frontier = collections.deque(seen)
    while frontier and len(seen) < POOL_STATES:
        state = frontier.popleft()
        for action in M.enabled_actions(state):
            after = M.step(state, action)
            pairs.setdefault(_shape(state, action, after), []).append((state, action, after))
            if after not in seen:
                seen.add(after)
                frontier.append(after)
    return pairs


@st.composite
def reachable_step(draw: st.DrawFn) -> tuple[M.State, Action, M.State]:
    """Every branch and cut equally likely, whatever its share of the reachable steps."""
    pairs = steps_by_shape(draw(st.sampled_from(OPTION_SETS)))
    shape = draw(st.sampled_from(sorted(pairs)))
    return draw(st.sampled_from(pairs[shape]))


def test_the_pool_covers_every_action_and_cut() -> None:
    shapes = set(steps_by_shape(M.Options()))
    design_a_actions = {"HostWrite", "HostRead", "CopyGrain", "ResyncGrain", "CommitPoint",
                        "DrainTarget", "LinkDown", "LinkUp", "CrashSite", "Recover"}  # fmt: skip
    assert {s.split("[")[0] for s in shapes} == design_a_actions
    cut = {s.split("[")[0] for s in shapes if "cut after" in s}
    assert cut == {"HostWrite", "CopyGrain", "ResyncGrain", "CommitPoint", "DrainTarget"}


def _transition(name: str, action: Action, pre: A.ZState, post: A.ZState, opts: M.Options,
                universe: Universe) -> A.Transition:  # fmt: skip
    """The action's relation over the universe's grains in order (the grain after an extent
    is then the next one, as in the Python model)."""
    key = f"{name}({action.site})" if isinstance(action, CrashSite | Recover) else name
    after = grain_after(universe.grains)
    return next(t for t in A.transitions(pre, post, opts, after=after) if t.name == key)


def check_against_python(before: M.State, action: Action, after: M.State) -> None:
    """The Z3 relation allows the Python step; completed, it allows nothing else."""
    name = action_name(action)
    universe = Universe(GRAINS)
    pre, post = A.fresh_state("pre"), A.fresh_state("post")
    facts = encode(before, pre, universe)
    expected = encode(after, post, universe)
    if isinstance(action, CrashSite) and action.after_writes > 0:
        # arming a crash changes nothing the encoding keeps
        solver = z3.Solver()
        solver.add(*universe.facts(), *expected, *facts, z3.Not(A.same(pre, post)))
        assert solver.check() == z3.unsat
        return
    transition = _transition(name, action, pre, post, before.options, universe)
    bound = [transition.params[k] == (universe.grains[getattr(action, k)] if k == "grain"
                                      else universe.value(getattr(action, k)))
             for k in transition.params if k in ("grain", "data")]  # fmt: skip
    if "extent" in transition.params:
        first, count = action.grain, action.count  # type: ignore[union-attr]
        bound += [transition.params["extent"][e] == z3.BoolVal(first <= i < first + count)
                  for i, e in enumerate(universe.grains)]  # fmt: skip
    solver = z3.Solver()
    solver.add(*facts, *bound, *universe.facts())
    solver.push()
    # an extent's guards quantify over grains; on the finite universe they are expanded, which
    # z3 decides where the quantified form left it at "unknown"
    # the model has no power loss: its step is one of the completed or crash-cut variants
    # (with the power-loss ones in the disjunction too, z3 may answer "unknown")
    model_like = z3.Or([v.formula for v in transition.variants if not v.power_lost])
    solver.add(*expected, over_grains(model_like, universe.grains))
    assert solver.check() == z3.sat, f"Z3 {name} does not allow the Python step"
    solver.pop()
    completed = before.armed_crash is None or after.site_up(before.armed_crash[0])
    if completed:
        complete = z3.Or([over_grains(v.formula, universe.grains)
                          for v in transition.variants if v.crash is None])  # fmt: skip
        solver.add(complete, z3.Not(z3.And(expected)))
        assert solver.check() == z3.unsat, f"Z3 {name} allows a state the Python step does not"


@pytest.mark.slow
@pytest.mark.parametrize("options", OPTION_SETS, ids=lambda o: str(o.non_default() or "safe"))
def test_every_branch_and_cut_of_every_action_agrees(options: M.Options) -> None:
    """Deterministic coverage: two pairs of every (branch, cut) shape the pool reaches."""
    for shape, pairs in steps_by_shape(options).items():
        for before, action, after in pairs[:: max(1, len(pairs) // 2)][:2]:
            try:
                check_against_python(before, action, after)
            except AssertionError as err:
                raise AssertionError(f"{shape}: {err}") from err


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(reachable_step())
def test_z3_actions_agree_with_the_python_step(case: tuple[M.State, Action, M.State]) -> None:
    check_against_python(*case)
