"""Bounded model checking of design A from Init: a concrete, reachable violation as a trace.

The same transition relations as the inductive proof, unrolled step by step over a volume of
`grains` grains (every grain an action names is one of that many distinct elements), until a
state breaks the goal.  The solver's model is read back into actions of the vocabulary: a
variant cut by a crash becomes `CrashSite(site, after_writes=n)` followed by the action; values
become data seeds (the zero value is seed 0).  The result is a `Trace` that `pitmirror replay`
runs on the engine.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import z3

from pitmirror.model.actions import (
    Action,
    CommitPoint,
    CopyGrain,
    CrashSite,
    DrainTarget,
    HostFlush,
    HostRead,
    HostWrite,
    LinkDown,
    LinkUp,
    Recover,
    ResyncGrain,
)
from pitmirror.model.cyclic_flashcopy import Options
from pitmirror.model.cyclic_flashcopy_rules import PairView
from pitmirror.proofs import cyclic_flashcopy as A
from pitmirror.proofs.sorts import ZERO, Grain

MAX_DEPTH = 8


@dataclass
class BmcResult:
    depth: int
    actions: list[Action] | None
    seconds: float
    power_lost: bool = False
    """the last step is cut by a power loss, whose crash state an action list does not hold:
    `pitmirror crash` finds and pins it (harness/prove.py does)"""


def _domain(grains: int) -> tuple[list[Any], list[Any]]:
    elements = [z3.Const(f"grain{i}", Grain) for i in range(grains)]
    return elements, [z3.Distinct(*elements)] if grains > 1 else []


def _within(params: dict[str, Any], elements: list[Any], tag: str) -> list[Any]:
    """An action's grain is one of the volume's, its extent a set of them.  The grain sort
    stays open: every quantifier is expanded over the elements (`over_grains`), and as no
    action names a grain past them, what the arrays hold there stays as Init made it — the
    same answers as a sort closed by `ForAll x. x = grain0 ∨ …`, a quantifier on which the
    incremental solver answered `unknown` (incomplete quantifiers) now and then."""
    facts = []
    if "grain" in params:
        facts.append(z3.Or([params["grain"] == e for e in elements]))
    if "extent" in params:
        chosen = z3.K(Grain, z3.BoolVal(False))
        for i, e in enumerate(elements):
            chosen = z3.Store(chosen, e, z3.Bool(f"in{tag}#{i}"))
        facts.append(params["extent"] == chosen)
    return facts


def grain_after(grains: list[Any]) -> Callable[[Any], Any]:
    """The grain right after an extent's run, over grains in order; the last grain when the
    run ends there (the engine clears nothing past the volume's end, and the last grain is in
    the run)."""

    def after(extent: Any) -> Any:
        found = grains[-1]
        for here, next_ in reversed(list(itertools.pairwise(grains))):
            found = z3.If(z3.And(extent[here], z3.Not(extent[next_])), next_, found)
        return found

    return after


def over_grains(formula: Any, grains: list[Any]) -> Any:
    """`formula` with every quantifier over grains replaced by the conjunction (for all) or
    disjunction (exists) of its body at each choice of `grains` — the same formula on a domain
    of exactly those grains, without the quantifiers z3 decides slowly or not at all there."""
    if z3.is_quantifier(formula) and all(
        formula.var_sort(i) == Grain for i in range(formula.num_vars())
    ):
        cases = [
            over_grains(z3.substitute_vars(formula.body(), *reversed(chosen)), grains)
            for chosen in itertools.product(grains, repeat=formula.num_vars())
        ]
        return z3.And(cases) if formula.is_forall() else z3.Or(cases)
    if z3.is_app(formula) and formula.num_args() > 0:
        return formula.decl()(*[over_grains(arg, grains) for arg in formula.children()])
    return formula


class _Model:
    """A model of the solver's own context, read with terms of the main one."""

    def __init__(self, model: z3.ModelRef, ctx: z3.Context) -> None:
        self.model, self.ctx = model, ctx

    def eval(self, term: Any, completion: bool = False) -> Any:
        return self.model.eval(term.translate(self.ctx), completion).translate(z3.main_ctx())


def _action(
    transition: A.Transition, variant: A.Variant, model: _Model, grains: list[Any],
    values: dict[str, int],
) -> list[Action]:  # fmt: skip
    def grain() -> int:
        chosen = model.eval(transition.params["grain"], True)
        return next(i for i, e in enumerate(grains) if z3.is_true(model.eval(e == chosen, True)))

    def extent() -> tuple[int, int]:
        """The extent set as (start, count): the domain's grains are numbered in order, and
        with two grains every non-empty set is a run."""
        chosen = transition.params["extent"]
        inside = [i for i, e in enumerate(grains) if z3.is_true(model.eval(chosen[e], True))]
        if not inside or inside != list(range(inside[0], inside[-1] + 1)):
            raise ValueError(f"bounded model checking chose grains {inside}, not a run")
        return inside[0], len(inside)

    def data() -> int:
        chosen = str(model.eval(transition.params["data"], True))
        return values.setdefault(chosen, len(values))

    name = transition.name
    action: Action
    if name == "HostWrite":
        action = HostWrite(grain(), data())
    elif name == "HostWrite(cached)":
        action = HostWrite(grain(), data(), fua=False)
    elif name == "HostFlush":
        action = HostFlush()
    elif name == "CopyGrain":
        action = CopyGrain(*extent())
    elif name == "ResyncGrain":
        action = ResyncGrain(*extent())
    elif name == "DrainTarget":
        action = DrainTarget(*extent())
    elif name == "CommitPoint":
        action = CommitPoint()
    elif name == "HostRead":  # changes nothing: a step the solver may take to stand still
        action = HostRead(grain())
    elif name == "LinkDown":
        action = LinkDown()
    elif name == "LinkUp":
        action = LinkUp()
    elif name.startswith("CrashSite("):  # a rule per site: CrashSite(local), ...
        action = CrashSite(name.removeprefix("CrashSite(").removesuffix(")"), 0)
    elif name.startswith("Recover("):
        action = Recover(name.removeprefix("Recover(").removesuffix(")"))
    else:
        raise ValueError(f"bounded model checking has no action for the rule {name}")
    if variant.crash is None or variant.power_lost:
        return [action]
    site, writes = variant.crash
    return [CrashSite(site, writes), action]


POWER_LOSS_FLAGS = (
    "flush_copy_data",
    "flush_protection",
    "flush_before_ack",
    "flush_commit",
    "flush_tracks_durably",
)


def _safe(s: PairView, options: Options, aim: frozenset[str]) -> Any:
    """What the search must break: the goal; where a barrier is missing, the conjuncts of the
    invariant in `aim` (those the proof found broken; all when none is named).  A power loss
    breaks them at once, and `pitmirror crash` then finds its crash state and follows it on
    the engine to the spec's violation: a far shorter search than to the violation itself."""
    if all(getattr(options, flag) for flag in POWER_LOSS_FLAGS):
        return A.goal(s)
    return z3.And([c.check(s) for c in A.CONJUNCTS if not aim or c.name in aim])


CACHE_FLAGS = ("point_after_flush", "copy_reads_media", "flush_tracks_durably")
CACHE_RULES = ("HostWrite(cached)", "HostFlush")
"""the host's write cache: searched only for a design that changes how it is used (a witness
search, not a proof: leaving out actions only narrows where it looks, and the others' paths
were found without them)"""

CHECK_TIMEOUT_MS = 300_000
"""a bound on one depth's query: z3's search time depends on the process's history (the order
its terms were made in), and an unlucky search must end as "not found", not hang a run"""


def find_violation(
    options: Options, grains: int = 2, max_depth: int = MAX_DEPTH,
    aim: frozenset[str] = frozenset(),
) -> BmcResult:  # fmt: skip
    """The shortest action list (by steps) from Init to a state that breaks the goal (where
    a barrier is missing: to a power loss that breaks a conjunct in `aim`)."""
    started = time.monotonic()
    elements, facts = _domain(grains)
    # a context of its own: z3's search depends on the order its terms were made in, and
    # after a proof had made thousands in the main one, a 6-step violation took minutes
    ctx = z3.Context()
    solver = z3.Solver(ctx=ctx)
    solver.set("timeout", CHECK_TIMEOUT_MS)

    def add(*formulas: Any) -> None:
        solver.add(*[f.translate(ctx) for f in formulas])

    add(*facts)
    # paths through a power loss only for a design that misses a barrier: the others are
    # refuted along crash cuts, whose traces `pitmirror replay` runs as they are
    through_power_loss = not all(getattr(options, flag) for flag in POWER_LOSS_FLAGS)
    cache = not all(getattr(options, flag) for flag in CACHE_FLAGS)

    def fresh(prefix: str) -> PairView:
        state = A.fresh_state(prefix)
        # without the cache's actions it stays empty: said by its value, not a constraint, every
        # term over it simplifies away before the search
        return state if cache else state.with_(cached=A.X.no_grains, cache=A.X.zeros())

    states = [fresh("s0")]
    add(A.initial(states[0]))
    # one selector per (step, variant): evaluating the variants' formulas in the model is not
    # reliable (they hold quantified guards), reading a Boolean is
    steps: list[list[tuple[Any, A.Transition, A.Variant]]] = []
    for depth in range(1, max_depth + 1):
        pre, post = states[-1], fresh(f"s{depth}")
        states.append(post)
        step = [
            (z3.Bool(f"took@{depth}#{i}.{j}"), t, v)
            for i, t in enumerate(
                A.transitions(pre, post, options, tag=f"@{depth}", after=grain_after(elements))
            )
            if cache or t.name not in CACHE_RULES
            for j, v in enumerate(t.variants)
            if through_power_loss or not v.power_lost
        ]
        steps.append(step)
        params = {name: v for _, t, _ in step for name, v in t.params.items()}
        add(*_within(params, elements, f"@{depth}"))
        add(z3.Or([b for b, _, _ in step]))
        add(*[z3.Implies(b, over_grains(v.formula, elements)) for b, _, v in step])
        solver.push()
        add(z3.Not(over_grains(_safe(post, options, aim), elements)))
        if solver.check() == z3.sat:
            model = _Model(solver.model(), ctx)
            zero = str(model.eval(ZERO, True))
            values = {zero: 0}
            actions: list[Action] = []
            for step_taken in steps:
                transition, variant = next(
                    (t, v) for b, t, v in step_taken if z3.is_true(model.eval(b, True))
                )
                actions += _action(transition, variant, model, elements, values)
            return BmcResult(depth, actions, time.monotonic() - started, variant.power_lost)
        solver.pop()
        # a power loss only as the last step of a path: the search stays small, and what
        # follows it is the power-loss explorer's to find (it goes on to the next commit)
        add(*[z3.Not(b) for b, _, v in step if v.power_lost])
    return BmcResult(max_depth, None, time.monotonic() - started)
