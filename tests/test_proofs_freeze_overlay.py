"""Design B's Z3 encoding held to the Python model: on every action (and the mutant's extra
one) of one-group topologies, the Z3 relation allows the Python step and nothing else.

The concrete checks run on the same encoding loaded over finite sorts
(proofs/freeze_overlay_finite.py), where z3 decides satisfiable queries; the proof itself runs
over unbounded sorts."""

from __future__ import annotations

import collections
import functools
from pathlib import Path
from typing import Any

import pytest
import z3
from hypothesis import given, settings
from hypothesis import strategies as st

from pitmirror.harness.crash import explore
from pitmirror.harness.prove import prove_design
from pitmirror.harness.traces import read_trace
from pitmirror.model import freeze_overlay as M
from pitmirror.model.actions import (
    Action,
    CopyDelta,
    CrashSite,
    DropRemoteDelta,
    FreezeGroup,
    FreezeMember,
    LinkDown,
    LinkUp,
    MarkComplete,
    MergeRemote,
    Recover,
    action_name,
)
from pitmirror.proofs.freeze_overlay_concrete import Universe, encode
from pitmirror.proofs.freeze_overlay_finite import finite_encoding
from pitmirror.proofs.freeze_overlay_proof import ENCODING
from pitmirror.proofs.prover import ProofReport
from pitmirror.proofs.prover import prove as prove_with

GRAINS = 2
CASES = [
    ("single", M.Options()),
    ("group", M.Options()),
    ("fan-out", M.Options()),
    *((M.MUTANT_TOPOLOGY[name], options) for name, options in M.UNSAFE_OPTIONS.items()),
]
POOL_STATES = 20000
BOUND = "the configured point bound is reached"
Step = tuple[M.State, Action, M.State]


@functools.cache
def steps_by_action(topology: str, options: M.Options) -> dict[str, list[Step]]:
    config = M.Config(M.topology(topology, GRAINS), values=(1,), max_point=3)
    pairs: dict[str, list[Step]] = {}
    seen = {M.initial_state(config, options)}
    frontier = collections.deque(seen)
    while frontier and len(seen) < POOL_STATES:
        state = frontier.popleft()
        for action in M.enabled_actions(state):
            after = M.step(state, action)
            pairs.setdefault(action_name(action), []).append((state, action, after))
            if after not in seen:
                seen.add(after)
                frontier.append(after)
    return pairs


def _transition(action: Action, u: Universe, pre: Any, post: Any, opts: M.Options) -> Any:
    topo = u.topology
    home = topo.groups[0].home
    name = action_name(action)
    if isinstance(action, CrashSite | Recover):
        name += "(home)" if action.site == home else "(remote)"
    transition = next(t for t in u.encoding.transitions(pre, post, opts) if t.name == name)
    bound = []
    params = transition.params
    grain = getattr(action, "grain", None)
    if grain is not None:
        _, obj, offset = topo.locate(grain)
        bound.append(params["member"] == u.members[obj])
        if "extent" in params:
            extent = range(offset, offset + getattr(action, "count", 1))
            bound += [params["extent"][g] == (i in extent) for i, g in enumerate(u.grains)]
        else:
            bound.append(params["grain"] == u.grains[offset])
    site = getattr(action, "site", None)
    if isinstance(action, LinkDown | LinkUp):
        site = next(s for s in action.link.split("-") if s != home)
    if "remote" in params and site is not None:
        bound.append(params["remote"] == u.remotes[topo.groups[0].remotes.index(site)])
    if "data" in params:
        bound.append(params["data"] == u.value(action.data))
    if isinstance(action, FreezeMember):
        bound.append(params["member"] == u.members[action.member])
    if isinstance(action, FreezeGroup):
        bound.append(params["member"] == u.members[0])
    return transition, bound


def _universe(before: M.State) -> Universe:
    group = before.topology.groups[0]
    encoding = finite_encoding(len(group.objects), len(group.remotes), GRAINS)
    return Universe(before.topology, encoding)


def check_disabled(before: M.State, action: Action) -> None:
    """Where the model's guard is false, the Z3 relation allows no step at all."""
    u = _universe(before)
    pre, post = u.encoding.fresh_state("pre"), u.encoding.fresh_state("post")
    transition, bound = _transition(action, u, pre, post, before.options)
    solver = z3.Solver()
    solver.add(*encode(before, pre, u), *bound, transition.relation(), *u.facts())
    assert solver.check() == z3.unsat, f"Z3 allows {action}, which the model disables"


def _foreign(state: M.State, action: Action) -> bool:
    """Outside what the encoding's one group can name (another group, a non-remote site)."""
    group = state.topology.groups[0]
    site = getattr(action, "site", None)
    if site is not None and site != group.home and site not in group.remotes:
        return True
    if isinstance(action, CopyDelta | MarkComplete | MergeRemote | DropRemoteDelta):
        return site not in group.remotes
    return getattr(action, "group", 0) != 0


def check_step(topology: str, before: M.State, action: Action, after: M.State) -> None:
    u = _universe(before)
    encoding = u.encoding
    pre, post = encoding.fresh_state("pre"), encoding.fresh_state("post")
    transition, bound = _transition(action, u, pre, post, before.options)
    facts, expected = encode(before, pre, u), encode(after, post, u)
    solver = z3.Solver()
    solver.add(*facts, *bound)
    solver.push()
    solver.add(*expected, transition.relation(), *u.facts())
    assert solver.check() == z3.sat, f"{topology}: Z3 {action} does not allow the Python step"
    solver.pop()
    solver.add(transition.relation(), z3.Not(z3.And(expected)), *u.facts())
    assert solver.check() == z3.unsat, f"{topology}: Z3 {action} allows another state"


@pytest.mark.slow
@pytest.mark.parametrize(("topology", "options"), CASES,
                         ids=[f"{t}-{o.non_default() or 'safe'}" for t, o in CASES])  # fmt: skip
def test_every_action_agrees_with_the_python_step(topology: str, options: M.Options) -> None:
    pairs = steps_by_action(topology, options)
    assert {"HostWrite", "HostRead", "FreezeGroup", "CopyDelta", "MarkComplete", "MergeRemote",
            "DropRemoteDelta", "MergeLocal", "DropLocalDelta"} <= set(pairs)  # fmt: skip
    for steps in pairs.values():
        for before, action, after in steps[:: max(1, len(steps) // 3)][:3]:
            check_step(topology, before, action, after)
    # BFS order is deterministic; hash order is not (string hashing is salted per process)
    states = list(dict.fromkeys(before for steps in pairs.values() for before, _, _ in steps))
    for before in states[:: max(1, len(states) // 12)]:
        for action in M.candidate_actions(before):
            reason = M.why_disabled(before, action)
            if reason is None or reason == BOUND or isinstance(action, FreezeMember):
                continue  # the encoding has no point bound: that guard is the pool's, not B's
            if action_name(action) == "FreezeMember" or _foreign(before, action):
                continue
            check_disabled(before, action)


@pytest.mark.slow
@settings(max_examples=100, deadline=None)
@given(st.data())
def test_random_steps_agree(data: st.DataObject) -> None:
    topology, options = data.draw(st.sampled_from(CASES))
    pairs = steps_by_action(topology, options)
    name = data.draw(st.sampled_from(sorted(pairs)))
    check_step(topology, *data.draw(st.sampled_from(pairs[name])))


def prove(options: M.Options) -> ProofReport:
    return prove_with(ENCODING, options)


PROOF_TRACES = sorted(
    (Path(__file__).resolve().parent.parent / "traces" / "proofs").glob("*.jsonl")
)


def test_every_recorded_proof_trace_is_there() -> None:
    bfs = [p.name.removesuffix(".jsonl") for p in PROOF_TRACES if "-bfs-" in p.name]
    mutants = {**M.UNSAFE_OPTIONS, **M.POWER_LOSS_OPTIONS}
    assert len(bfs) == len(mutants)
    assert all(any(n.endswith(f"-{name}") for n in bfs) for name in mutants)


POWER_LOSS_BREAKS = {
    "host-data-unflushed": ("HostWrite completes, then power lost at home",
                            "inv_10_active_is_since_pk"),
    "copy-data-unflushed": ("CopyDelta completes, then power lost at the remote",
                            "inv_4_received_is_the_point"),
    "complete-unflushed": ("MarkComplete completes, then power lost at the remote",
                           "inv_2_remote_phase"),
    "drop-before-merge-flushed": ("DropRemoteDelta completes, then power lost at the remote",
                                  "inv_5_incomplete_base_is_its_point"),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(POWER_LOSS_BREAKS))
def test_a_power_loss_mutant_is_refuted_and_its_crash_state_pinned(
    name: str, tmp_path: Path
) -> None:
    """The proof knows durability: the mutant's unflushed write, cut by a power loss, breaks
    the invariant; the search reaches it and the crash explorer pins the crash state."""
    assert set(POWER_LOSS_BREAKS) == set(M.POWER_LOSS_OPTIONS)
    outcome = prove_design(M.POWER_LOSS_OPTIONS[name], tmp_path)
    assert not outcome.proved
    assert POWER_LOSS_BREAKS[name] in {(q.check, q.conjunct) for q in outcome.report.failures}
    assert outcome.trace is not None and outcome.trace.power_loss is not None
    assert outcome.saved_to is not None
    replayed = explore(read_trace(outcome.saved_to))
    assert replayed.states == 1 and replayed.first is not None
    assert replayed.first.predicate == outcome.trace.violates


@pytest.mark.slow
def test_design_b_is_proved_and_every_mutant_is_not() -> None:
    report = prove(M.Options())
    assert report.proved, [q.line() for q in report.failures]
    broken = {
        "merge-before-complete": ("MergeRemote", "inv_5_incomplete_base_is_its_point"),
        "drop-before-every-remote": ("DropLocalDelta", "inv_11_frozen_until_everywhere"),
        "freeze-members-one-at-a-time": ("FreezeGroup", "inv_12_one_instant"),
    }
    for name, (action, conjunct) in broken.items():
        failures = {(q.check, q.conjunct): q for q in prove(M.UNSAFE_OPTIONS[name]).failures}
        assert (action, conjunct) in failures, name
        # over finite sorts the same query fails with a model, printed in model vocabulary
        at_fault = failures[(action, conjunct)]
        assert at_fault.verdict == "fails" and at_fault.counterexample, name
        assert at_fault.counterexample[0].startswith("the action"), at_fault.counterexample
        assert not any("[" in line or "Val!" in line for line in at_fault.counterexample)
