"""Design A in Z3: the rules of model/cyclic_flashcopy_rules.py over Z3 terms, and the invariant.

Every action's relation is derived from its rule, evaluated by the symbolic algebra
(proofs/algebra_z3.py): the guard's clauses, and per branch of its write plan every way the
branch can end (proofs/write_plans.py): complete, cut by a crash after any write, or cut by a
power loss that leaves the writes no flush covered yet lost, whole or torn.  Nothing of the
design is restated here but the inductive invariant, which is the proof's.  Options are
parameters: the encoding is built for one `Options` value.

Grains are an uninterpreted sort (no bound on the volume size), volumes are arrays from grain
to value, maps and extents are Boolean arrays, and the ghost images of every point an array
from point to image: P_c is `images[committed]`, P_k is `images[cycle]`.  An extent is any
grain set, so a proof over it covers every extent, of any start and count.

What it leaves out: the model's `config` bounds (values, max_cycle) and the armed counter
(`CrashSite` with a positive count only arms a crash in the model; the cuts here cover it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import z3

from pitmirror.model import cyclic_flashcopy_rules as rules
from pitmirror.model.actions import SITES
from pitmirror.model.cyclic_flashcopy_rules import Options, PairView
from pitmirror.proofs import write_plans
from pitmirror.proofs.algebra_z3 import Sort, Symbolic, lift
from pitmirror.proofs.sorts import ZERO, Grain, Val

X = Symbolic(Sort(Grain), Val, ZERO)
"""the algebra over grains of any number"""

VOLUMES = ("source", "cache", "i1", "i2", "target", "acked", "pc", "pk")
"""the images a counterexample shows, grain by grain (P_c and P_k read from the history)"""
MAPS = rules.MAPS

_SORTS = {
    "image": z3.ArraySort(Grain, Val),
    "grains": z3.ArraySort(Grain, z3.BoolSort()),
    "int": z3.IntSort(),
    "bool": z3.BoolSort(),
}


def fresh_state(prefix: str) -> PairView:
    fields: dict[str, Any] = {}
    for name, kind in rules.SCHEMA.items():
        sort = _SORTS[kind[-1]]
        if kind[0] == "point":
            sort = z3.ArraySort(z3.IntSort(), sort)
        fields[name] = z3.Const(f"{prefix}.{name}", sort)
    return PairView(**fields)


def same(a: PairView, b: PairView) -> Any:
    return z3.And([lift(getattr(a, f)) == lift(getattr(b, f)) for f in rules.SCHEMA])


def initial(s: PairView) -> Any:
    return same(s, rules.initial(X))


# ---- the actions: the rules' relations ---------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    """One way an action can go: a branch of its plan, completed or cut."""

    label: str
    formula: Any  # over pre, post and the action's parameters
    crash: tuple[str, int] | None = None  # the crashed site and how many of its writes landed
    power_lost: bool = False
    """the crash is a power loss: writes in flight lost, whole or torn (a trace of it needs
    `pitmirror crash` to pin the crash state)"""


@dataclass(frozen=True)
class Transition:
    """One action of the model as a relation between `pre` and `post`, with its parameters."""

    name: str
    params: dict[str, Any]
    variants: list[Variant]

    def relation(self) -> Any:
        return z3.Or([v.formula for v in self.variants])


def _down(s: PairView, site: str) -> PairView:
    return rules.down(X, s, site)


def transitions(
    pre: PairView, post: PairView, opts: Options, tag: str = "",
    after: Callable[[Any], Any] | None = None,
) -> list[Transition]:  # fmt: skip
    """Every action of design A as a relation, its parameters fresh constants named by `tag`;
    `after(e)`: the grain after the extent `e` where grains are in order (else any grain, the
    same constant as a host write's grain: grains are unordered in the proof)."""
    g = z3.Const(f"g{tag}", Grain)
    e = z3.Array(f"e{tag}", Grain, z3.BoolSort())
    constants = {
        "grain": g,
        "data": z3.Const(f"v{tag}", Val),
        "extent": e,
        "after": g if after is None else after(e),
    }
    out: list[Transition] = []
    for name, rule in rules.rules_for(opts).items():
        params = {p: constants[p] for p in rule.params}
        guard = X.and_(*(c.holds for c in rule.guard(X, opts, pre, **params)))
        variants = []
        for case in rule.plan(X, opts, pre, **params):
            enabled = X.and_(guard, case.when)
            for end in write_plans.outcomes(pre, case, SITES, _down, f"{name}{tag}"):
                label = ", ".join(w for w in (case.label, end.label) if w)
                crash = None if end.site is None else (end.site, end.writes_done)
                formula = z3.And(enabled, same(end.state, post))
                variants.append(Variant(label, formula, crash, end.power_lost))
        # `after` is a parameter of its own only where it is a free choice: the proof's
        # drain-past-its-end mutant (bounded model checking computes it from the extent)
        shown = {p: v for p, v in params.items() if not (p == "after" and after is not None)}
        if name == "DrainTarget" and opts.drain_clears_its_extent:
            shown.pop("after", None)
        out.append(Transition(name, shown, variants))
    return out


# ---- the invariant ------------------------------------------------------------------------------


def _all(body: Callable[[Any], Any]) -> Any:
    x = z3.Const("gx", Grain)
    return z3.ForAll([x], body(x))


def goal(s: PairView) -> Any:
    """inv_target_is_committed_image: T[g], or I2[g] while g is in target_map, is P_c[g]."""
    return _all(lambda x: s.recovered(X, x) == s.pc[x])


@dataclass(frozen=True)
class Conjunct:
    """A numbered clause of the invariant; `at` is its per-grain body when it has one."""

    name: str
    gloss: str
    check: Callable[[PairView], Any]
    at: Callable[[PairView, Any], Any] | None = None


def _per_grain(name: str, gloss: str, at: Callable[[PairView, Any], Any]) -> Conjunct:
    return Conjunct(name, gloss, lambda s: _all(lambda x: at(s, x)), at)


# Numbered conjuncts; together they are inductive and imply the goal (the first two are its
# two halves).
CONJUNCTS: list[Conjunct] = [
    _per_grain("inv_1_committed_image_in_i2", "a grain in target_map holds P_c in I2",
               lambda s, x: z3.Implies(s.target_map[x], s.i2[x] == s.pc[x])),
    _per_grain("inv_2_committed_image_in_target", "a grain not in target_map holds P_c in T",
               lambda s, x: z3.Implies(z3.Not(s.target_map[x]), s.target[x] == s.pc[x])),
    _per_grain("inv_3_received_is_unprotected", "a grain received this cycle is not in target_map",
               lambda s, x: z3.Implies(s.received_map[x], z3.Not(s.target_map[x]))),
    _per_grain("inv_4_untouched_source_is_pk", "a grain not written since CP_k holds P_k in S",
               lambda s, x: z3.Implies(z3.Not(s.future_map[x]), s.source[x] == s.pk[x])),
    _per_grain("inv_5_copy_before_write", "a grain still to copy was not written since CP_k",
               lambda s, x: z3.Implies(s.copy_map[x], z3.Not(s.future_map[x]))),
    _per_grain("inv_6_copied_is_pk_in_i2", "a copied, in-sync grain holds P_k in I2",
               lambda s, x: z3.Implies(z3.Not(z3.Or(s.copy_map[x], s.out_of_sync[x])),
                                       s.i2[x] == s.pk[x])),
    _per_grain("inv_7_out_of_sync_is_pk_in_i1", "an out-of-sync grain is copied, P_k in I1",
               lambda s, x: z3.Implies(s.out_of_sync[x],
                                       z3.And(s.i1[x] == s.pk[x], z3.Not(s.copy_map[x])))),
    _per_grain("inv_8_unchanged_since_pc", "a settled grain not received this cycle: P_k = P_c",
               lambda s, x: z3.Implies(
                   z3.Not(z3.Or(s.copy_map[x], s.out_of_sync[x], s.received_map[x])),
                   s.pk[x] == s.pc[x])),
    Conjunct("inv_9_commit_trails_cycle", "c >= 0 is k-1, or k between the two commit records",
             lambda s: z3.And(s.committed >= 0,
                              z3.Or(s.committed == s.cycle - 1, s.committed == s.cycle))),
    Conjunct("inv_10_half_committed", "between the commit records P_c = P_k, nothing in flight",
             lambda s: z3.Implies(s.committed == s.cycle, z3.And(
                 s.pc == s.pk, X.no_grain_in(s.copy_map), X.no_grain_in(s.out_of_sync),
                 X.no_grain_in(s.received_map)))),
    _per_grain("inv_11_no_ack_lost", "a host read (the cache over the source) returns every "
               "acknowledged write", lambda s, x: s.host_view(X)[x] == s.acked[x]),
]  # fmt: skip


def invariant(s: PairView) -> Any:
    return z3.And([c.check(s) for c in CONJUNCTS])


def reads(s: PairView) -> Any:
    """The host reads the cache over the source: every grain its newest acknowledged write."""
    return _all(lambda x: s.host_view(X)[x] == s.acked[x])


def monotonic(pre: PairView, post: PairView) -> Any:
    """inv_commit_monotonic: c never goes back, and P_c only changes when c moves on."""
    return z3.And(
        post.committed >= pre.committed,
        z3.Implies(post.committed == pre.committed, post.pc == pre.pc),
    )
