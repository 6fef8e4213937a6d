"""The roles of a pair in Z3: the rules of model/roles_rules.py over Z3 terms, and the invariant.

As design A's encoding (proofs/cyclic_flashcopy.py): every action's relation is derived from
its rule by the symbolic algebra, each branch of its write plan ending every way
proofs/write_plans.py derives (complete, cut by a crash after any write, or by a power loss
with the writes in flight lost); grains are an uninterpreted sort, images arrays, grain sets
Boolean arrays, epochs unbounded integers.  Nothing of the rules is restated here but the
inductive invariant; the properties (model/roles_rules.py `PROPERTIES`) are conjuncts of it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import z3

from pitmirror.model import roles_rules as rules
from pitmirror.model.design import WrongDesign
from pitmirror.model.options import DesignOptions
from pitmirror.model.roles_rules import PRIMARY, SLOTS, Options, RolesView, made_by, peer
from pitmirror.proofs import write_plans
from pitmirror.proofs.algebra_z3 import Sort, Symbolic, lift
from pitmirror.proofs.obligations import (
    Explanation,
    Formula,
    InductiveParts,
    Obligation,
    inductive_obligations,
)
from pitmirror.proofs.sorts import ZERO, Grain, Val

X = Symbolic(Sort(Grain), Val, ZERO)
DESIGN = "roles"

_SORTS = {
    "image": z3.ArraySort(Grain, Val),
    "grains": z3.ArraySort(Grain, z3.BoolSort()),
    "int": z3.IntSort(),
    "bool": z3.BoolSort(),
}


def fresh_state(prefix: str) -> RolesView:
    return RolesView(**{name: z3.Const(f"{prefix}.{name}", _SORTS[kind[-1]])
                        for name, kind in rules.SCHEMA.items()})  # fmt: skip


def same(a: RolesView, b: RolesView) -> Formula:
    return z3.And([lift(getattr(a, f)) == lift(getattr(b, f)) for f in rules.SCHEMA])


def initial(s: RolesView) -> Formula:
    return same(s, rules.initial(X))


@dataclass(frozen=True)
class Variant:
    label: str
    formula: Formula


@dataclass(frozen=True)
class Transition:
    name: str
    params: dict[str, Any]
    variants: list[Variant]

    def relation(self) -> Formula:
        return z3.Or([v.formula for v in self.variants])


def transitions(pre: RolesView, post: RolesView, opts: Options) -> list[Transition]:
    constants = {
        "grain": z3.Const("g", Grain),
        "data": z3.Const("v", Val),
        "extent": z3.Array("e", Grain, z3.BoolSort()),
    }
    out = []
    for name, rule in rules.rules_for(opts).items():
        params = {p: constants[p] for p in rule.params}
        guard = X.and_(*(c.holds for c in rule.guard(X, opts, pre, **params)))
        variants = []
        for case in rule.plan(X, opts, pre, **params):
            enabled = X.and_(guard, case.when)
            down: Callable[[Any, str], Any] = lambda t, site: rules.down(X, t, site)  # noqa: E731
            for end in write_plans.outcomes(pre, case, SLOTS, down, name):
                label = ", ".join(w for w in (case.label, end.label) if w)
                variants.append(Variant(label, z3.And(enabled, same(end.state, post))))
        out.append(Transition(name, params, variants))
    return out


@dataclass(frozen=True)
class Conjunct:
    name: str
    gloss: str
    check: Callable[[RolesView], Formula]


def _each(body: Callable[[RolesView, str], Formula]) -> Callable[[RolesView], Formula]:
    return lambda s: z3.And([body(s, site) for site in SLOTS])


def _property(name: str) -> Conjunct:
    gloss, holds = rules.PROPERTIES[name]
    return Conjunct(name, gloss, lambda s: lift(holds(X, s)))


def _epochs(s: RolesView, site: str) -> list[Any]:
    return [s.get(site, "epoch"), s.get(site, "parent")]


# Numbered conjuncts, then the properties; together they are inductive.
CONJUNCTS: list[Conjunct] = [
    Conjunct("inv_1_primary_in_its_newest_epoch",
             "a primary is in an epoch it made, the newest it has known",
             _each(lambda s, site: z3.Implies(s.get(site, "role") == PRIMARY, z3.And(
                 made_by(site, s.get(site, "epoch")),
                 s.get(site, "epoch") == s.get(site, "known"))))),
    Conjunct("inv_2_epochs_known", "a site's epoch is at least the first and at most the "
             "highest it has known; its parent is below it",
             _each(lambda s, site: z3.And(
                 s.get(site, "epoch") >= rules.FIRST_EPOCH,
                 s.get(site, "epoch") <= s.get(site, "known"),
                 s.get(site, "parent") >= 0, s.get(site, "parent") < s.get(site, "epoch")))),
    Conjunct("inv_3_epochs_made_once", "every epoch either site is in or came from is at most "
             "the highest its maker has known",
             _each(lambda s, maker: z3.And([
                 z3.Implies(made_by(maker, e), e <= s.get(maker, "known"))
                 for site in SLOTS for e in _epochs(s, site)]))),
    Conjunct("inv_4_image_is_committed_but_dirty_or_pending",
             "a site's volume differs from the committed image only at its dirty or pending "
             "grains",
             _each(lambda s, site: lift(s.get(site, "image") == X.write(
                 s.base, X.union(s.get(site, "dirty"), s.get(site, "pending")),
                 s.get(site, "image"))))),
    Conjunct("inv_5_source_and_primary_hold_no_pending",
             "the mirror's source and a primary have no grain pending",
             _each(lambda s, site: z3.Implies(
                 z3.Or(s.get(site, "role") == PRIMARY, lift(s.is_source(X, site))),
                 lift(X.no_grain_in(s.get(site, "pending")))))),
    Conjunct("inv_6_roles", "a site is secondary, primary or outdated",
             _each(lambda s, site: z3.And(s.get(site, "role") >= rules.SECONDARY,
                                          s.get(site, "role") <= rules.OUTDATED))),
    Conjunct("inv_7_primary_in_the_peers_epoch_is_the_source",
             "a primary in its peer's epoch is the site the mirror copies from",
             _each(lambda s, site: z3.Implies(
                 z3.And(s.get(site, "role") == PRIMARY,
                        s.get(site, "epoch") == s.get(peer(site), "epoch")),
                 lift(s.is_source(X, site))))),
    Conjunct("inv_8_outdated_and_split_are_apart",
             "an outdated site, or one in a split brain, is in another epoch than its peer",
             _each(lambda s, site: z3.Implies(
                 z3.Or(s.get(site, "role") == rules.OUTDATED, s.get(site, "split")),
                 s.get(site, "epoch") != s.get(peer(site), "epoch")))),
    *(_property(name) for name in rules.PROPERTIES),
]  # fmt: skip


def invariant(s: RolesView) -> Formula:
    return z3.And([c.check(s) for c in CONJUNCTS])


def monotonic(pre: RolesView, post: RolesView) -> Formula:
    """A site never forgets an epoch it has known."""
    return z3.And([post.get(site, "known") >= pre.get(site, "known") for site in SLOTS])


def goal(s: RolesView) -> Formula:
    return z3.And([lift(holds(X, s)) for _, holds in rules.PROPERTIES.values()])


def _explainer(pre: RolesView, post: RolesView) -> Any:
    def explainer(transition: Transition, name: str, conjunct: Conjunct | None,
                  goal_: Formula) -> Callable[[str], Explanation | None]:  # fmt: skip
        def explain(verdict: str) -> Explanation | None:
            solver = z3.Solver()
            solver.set("timeout", 5_000)
            solver.add(invariant(pre), z3.Not(goal_))
            for variant in transition.variants:
                solver.push()
                solver.add(variant.formula)
                if solver.check() == z3.sat:
                    return Explanation("fails", variant.label, counterexample(
                        solver.model(), pre, post))  # fmt: skip
                solver.pop()
            return None

        return explain

    return explainer


def counterexample(model: z3.ModelRef, pre: RolesView, post: RolesView) -> list[str]:
    """Each site's epoch, parent, known, role and split before and after, in words."""
    lines = []
    for site in SLOTS:
        cells = []
        for name in ("epoch", "parent", "known", "role", "split", "up"):
            was, now = (str(model.eval(s.get(site, name), True)) for s in (pre, post))
            if name == "role":
                was, now = (rules.ROLE_WORDS.get(int(v), v) for v in (was, now))
            cells.append(f"{name} {was}" + ("" if was == now else f" -> {now}"))
        lines.append(f"site {site} ({'first primary' if site == 'x' else 'first secondary'}): "
                     + ", ".join(cells))  # fmt: skip
    return lines


class RolesProof:
    """The roles' proof obligations, over grains and values of any number and epochs of any
    height."""

    design = DESIGN

    def obligations(self, options: DesignOptions) -> Iterator[Obligation]:
        if not isinstance(options, Options):
            raise WrongDesign(f"the roles' proof was given {type(options).__qualname__}")
        pre, post = fresh_state("pre"), fresh_state("post")
        parts = InductiveParts(initial, invariant, monotonic, goal,
                               transitions(pre, post, options))  # fmt: skip
        yield from inductive_obligations(pre, post, CONJUNCTS, _check, parts,
                                         _explainer(pre, post))  # fmt: skip


def _check(conjunct: Conjunct, state: RolesView) -> Formula:
    return conjunct.check(state)


ENCODING = RolesProof()
