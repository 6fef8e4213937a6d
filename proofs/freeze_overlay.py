"""Design B in Z3: the rules of model/freeze_overlay_rules.py over Z3 terms, and the invariant.

Every action's relation is its rule, evaluated by the symbolic algebra (proofs/algebra_z3.py):
the guard's clauses, and every way the branch of its write plan that applies can end, derived
from the plan's writes as design A's are (proofs/write_plans.py): it completes, or a site of
the plan loses power just after one of its writes or just after the action completed, the
writes no flush covered yet lost, whole or torn (a data write in flight under its unwritten
record, the remote's complete mark written before the home's, a merge torn in its write).
Nothing of the design is restated here but the inductive invariant, which is the proof's, and
one cut across actions (below).  Options are parameters: the encoding is built for one
`Options` value.

Grains, members and remotes are uninterpreted sorts, so the proof covers volumes of any size,
groups of any size and any fan-out at once; a topology with several groups is several such
groups that share only site and link availability, which only enables or disables actions.
The ghost images of every point are an array from point to per-member images; the invariant
needs P_{k-2}, P_{k-1} and P_k (no remote can be further behind: the next freeze waits for every
remote).  `finite_encoding` is the same encoding over small enumeration sorts, where z3 answers
satisfiable queries with a model.

A delta is a Pair of arrays (which grains it holds, and the values in its slots), so the state
between a data write and the record that adds its grains is a state here; concretely a delta
holds only its grains, and a data write changes what it already holds (`x.staged`).  The
invariant admits what the safe design's cuts leave: a remote complete before the home knows
(and what it goes on to), a base grain torn under the delta that still holds it.

Writes left in flight across actions: a merge is flushed only before the record that drops
its delta, so its grains stay in flight over the actions between.  The rules keep a ghost of
them (`base_unflushed`, `rbase_unflushed`: added by a merge, cleared by the drop's barrier); a
power loss at a site — at any end of an action's plan, or between actions (`CrashSite` as a
power loss) — leaves any value at that site's ghost grains (`writes_lost`: a fresh image that
agrees with the state elsewhere).  The invariant says those grains lie in the delta still
merging (`inv_15`, `inv_16`), so the safe design loses nothing a read or a recovery needs; the
flush-order mutant drops the delta with its merges in flight, which the proof derives.  Nothing
is cut by hand.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import z3

from pitmirror.model import freeze_overlay_rules as rules
from pitmirror.model.algebra import NONE, Case, applied
from pitmirror.model.freeze_overlay_rules import GroupView, Options
from pitmirror.proofs import write_plans
from pitmirror.proofs.algebra_z3 import Pair, Sort, Symbolic, lift
from pitmirror.proofs.sorts import ZERO, Grain, Val

Member = z3.DeclareSort("Member")
Remote = z3.DeclareSort("Remote")

PARAMS = {"member": "m", "first": "m", "remote": "r", "grain": "g", "data": "v", "extent": "e"}
"""each rule parameter's constant in a transition (FreezeGroup's first member is `m`)"""


@dataclass(frozen=True)
class Transition:
    """An action as a relation: each way its plan can end (`variants`, labelled), any one."""

    name: str
    params: dict[str, Any]
    variants: tuple[tuple[str, Any], ...]

    def relation(self) -> Any:
        return z3.Or([formula for _, formula in self.variants])


@dataclass(frozen=True)
class Conjunct:
    name: str
    gloss: str
    check: Callable[[GroupView], Any]


@dataclass(frozen=True)
class PerElement:
    """A conjunct's check: `body(state, *elements)` for every element of the sorts `over`
    ("remote", "member", "grain"), which a counterexample can be searched at, element by
    element."""

    encoding: Encoding
    over: tuple[str, ...]
    body: Callable[..., Any]

    def __call__(self, s: GroupView) -> Any:
        sorts = tuple(getattr(self.encoding.x, name) for name in self.over)
        return self.encoding.forall(sorts, functools.partial(self.body, s))


def _set2(array: Any, a: Any, b: Any, value: Any) -> Any:
    return z3.Store(array, a, z3.Store(array[a], b, value))


class Encoding:
    """Design B's encoding over one choice of sorts."""

    def __init__(self, x: Symbolic) -> None:
        self.x = x
        self._conjuncts: dict[bool, list[Conjunct]] = {}

    # ---- states -------------------------------------------------------------------------------

    def _sort(self, kind: tuple[str, ...]) -> Any:
        index = {"member": self.x.member.sort, "remote": self.x.remote.sort, "point": z3.IntSort()}
        leaf = {
            "image": z3.ArraySort(self.x.grain.sort, Val),
            "int": z3.IntSort(),
            "bool": z3.BoolSort(),
            "has": z3.ArraySort(self.x.grain.sort, z3.BoolSort()),
            "grains": z3.ArraySort(self.x.grain.sort, z3.BoolSort()),
        }
        sort = leaf[kind[-1]]
        for name in reversed(kind[:-1]):
            sort = z3.ArraySort(index[name], sort)
        return sort

    def fresh_state(self, prefix: str) -> GroupView:
        fields: dict[str, Any] = {}
        for name, kind in rules.SCHEMA.items():
            if kind[-1] == "delta":
                has = z3.Const(f"{prefix}.{name}.has", self._sort((*kind[:-1], "has")))
                val = z3.Const(f"{prefix}.{name}.val", self._sort((*kind[:-1], "image")))
                fields[name] = Pair(has, val)
            else:
                fields[name] = z3.Const(f"{prefix}.{name}", self._sort(kind))
        return GroupView(**fields)

    @staticmethod
    def same(a: GroupView, b: GroupView) -> Any:
        equal = []
        for name in rules.SCHEMA:
            left, right = getattr(a, name), getattr(b, name)
            if isinstance(left, Pair):
                equal += [left.has == right.has, left.val == right.val]
            else:
                equal.append(lift(left) == lift(right))
        return z3.And(equal)

    def initial(self, s: GroupView) -> Any:
        return self.same(s, rules.initial(self.x))

    # ---- actions: the rules' relations -------------------------------------------------------

    def constants(self, tag: str = "") -> dict[str, Any]:
        x = self.x
        return {
            "m": z3.Const(f"m{tag}", x.member.sort),
            "r": z3.Const(f"r{tag}", x.remote.sort),
            "g": z3.Const(f"g{tag}", x.grain.sort),
            "v": z3.Const(f"v{tag}", Val),
            "e": z3.Const(f"e{tag}", z3.ArraySort(x.grain.sort, z3.BoolSort())),
            "junk": z3.Const(f"junk{tag}", z3.ArraySort(x.grain.sort, Val)),
        }

    def rule(self, name: str, s: GroupView, opts: Options, params: dict[str, Any]
             ) -> tuple[Any, list[Case]]:  # fmt: skip
        """The rule's guard (its clauses' conjunction) and its plan's branches."""
        rule = rules.rules_for(opts)[name]
        clauses = list(rule.guard(self.x, opts, s, **params))
        return self.x.and_(*(c.holds for c in clauses)), rule.plan(self.x, opts, s, **params)

    def completes(self, name: str, s: GroupView, opts: Options, params: dict[str, Any]
                  ) -> tuple[Any, GroupView]:  # fmt: skip
        """The guard and the state after, of a rule whose plan has one branch, completed."""
        guard, (case,) = self.rule(name, s, opts, params)
        return guard, case.completed(applied(s, case.writes))

    def transitions(self, pre: GroupView, post: GroupView, opts: Options, tag: str = ""
                    ) -> list[Transition]:  # fmt: skip
        """Every action as a relation: each branch of its plan, every way it can end (derived
        from its writes, proofs/write_plans.py), and the cuts across actions below."""
        c = self.constants(tag)
        found = []
        for name, rule in rules.rules_for(opts).items():
            params = {p: c[PARAMS[p]] for p in rule.params}
            guard, cases = self.rule(name, pre, opts, params)
            sites = tuple(dict.fromkeys(w.site for case in cases for w in case.writes))
            remote = params.get("remote", c["r"])
            down = functools.partial(self._down, remote)
            variants = []
            for case in cases:
                enabled = z3.And(lift(guard), lift(case.when))
                for n, end in enumerate(write_plans.outcomes(pre, case, sites, down,
                                                             f"{name}{tag}")):  # fmt: skip
                    label = ", ".join(w for w in (case.label, end.label) if w)
                    state, kept = end.state, z3.BoolVal(True)
                    if end.power_lost and end.site is not None:
                        state, kept = self.writes_lost(state, end.site, remote, f"{name}{tag}.{n}")
                    variants.append((label, z3.And(enabled, kept, self.same(state, post))))
                if name.startswith("CrashSite("):  # the crash a power loss: what was in flight
                    site = rules.HOME if name == "CrashSite(home)" else rules.REMOTE
                    after = case.completed(applied(pre, case.writes))
                    lost, kept = self.writes_lost(after, site, remote, f"{name}{tag}.power")
                    variants.append(("a power loss", z3.And(enabled, kept,
                                                            self.same(lost, post))))  # fmt: skip
            found.append(Transition(name, params, tuple(variants)))
        return found

    def _down(self, remote: Any, state: GroupView, site: str) -> GroupView:
        if site == rules.HOME:
            return rules.down_home(self.x, state)
        return state.with_(remote_up=z3.Store(state.remote_up, remote, False))

    def writes_lost(self, s: GroupView, site: str, remote: Any, tag: str) -> tuple[GroupView, Any]:
        """The state when a power loss at `site` leaves any value where earlier actions' writes
        no flush covers yet landed (the ghost: `base_unflushed`, or the remote's
        `rbase_unflushed`), and what it keeps: the rest as it was.  Nothing is in flight after."""
        x = self.x
        if site == rules.HOME:
            base = z3.Const(f"lost{tag}.base", self._sort(("member", "image")))
            kept = self.forall((x.member, x.grain), lambda m, g: z3.Or(
                s.base_unflushed[m][g], base[m][g] == s.base[m][g]))  # fmt: skip
            return s.with_(base=base, base_unflushed=x.members_const(x.no_grains)), kept
        copies = z3.Const(f"lost{tag}.rbase", self._sort(("member", "image")))
        kept = self.forall((x.member, x.grain), lambda m, g: z3.Or(
            s.rbase_unflushed[remote][m][g], copies[m][g] == s.rbase[remote][m][g]))  # fmt: skip
        none = x.members_const(x.no_grains)
        return s.with_(rbase=z3.Store(s.rbase, remote, copies),
                       rbase_unflushed=z3.Store(s.rbase_unflushed, remote, none)), kept  # fmt: skip

    def read(self, s: GroupView, m: Any, g: Any, opts: Options) -> Any:
        return rules.read_member(self.x, opts, s, m, g)

    def reads(self, s: GroupView, opts: Options) -> Any:
        """Every read through the host's cache and the overlay returns the newest acknowledged
        write (the cache's, else the durable one)."""
        x = self.x
        return x.all_members(
            lambda m: x.grain.forall(
                lambda g: self.read(s, m, g, opts) == x.read(s.acked[m], s.cache[m], grain=g)
            )
        )

    # fmt: skip

    # ---- the invariant ------------------------------------------------------------------------

    def forall(self, sorts: tuple[Sort, ...], body: Callable[..., Any]) -> Any:
        """`body` for every member, remote or grain, as the sorts say: a quantifier over an
        uninterpreted sort, every element of a finite one (where z3 must decide: quantifiers
        left in made it answer `unknown` now and then)."""
        if not sorts:
            return body()
        first, rest = sorts[0], sorts[1:]
        if first.elements is not None:
            return z3.And([self.forall(rest, functools.partial(body, e)) for e in first.elements])
        x = z3.FreshConst(first.sort, "c")
        return z3.ForAll([x], self.forall(rest, functools.partial(body, x)))

    def _per_remote_member(self, body: Callable[[GroupView, Any, Any], Any]) -> PerElement:
        return PerElement(self, ("remote", "member"), body)

    def _per_remote_grain(self, body: Callable[[GroupView, Any, Any, Any], Any]) -> PerElement:
        return PerElement(self, ("remote", "member", "grain"), body)

    def _per_grain(self, body: Callable[[GroupView, Any, Any], Any]) -> PerElement:
        return PerElement(self, ("member", "grain"), body)

    @staticmethod
    def _cases(s: GroupView, r: Any, m: Any) -> Any:
        """A remote's points per member, in the stricter order.  Until the home records the
        remote complete, the remote may already be complete (its mark is written first), and
        may merge, drop and receive point k again before the home learns of it (a power loss
        between the two records)."""
        k, d, b, c = s.point, s.rdelta_point[r][m], s.rbase_point[r][m], s.complete[r][m]
        base_k_or_before = z3.Or(b == k - 1, b == k)
        done = z3.Or(z3.And(c, d == k, base_k_or_before), z3.And(z3.Not(c), d == NONE, b == k))
        pending = z3.Or(
            z3.And(c, d == k - 1, z3.Or(b == k - 2, b == k - 1)),
            z3.And(z3.Not(c), z3.Or(d == NONE, d == k), base_k_or_before),
            z3.And(c, d == k, base_k_or_before),
        )
        return z3.And(z3.If(s.completed[r], done, pending), s.rmerging_point[r][m] == NONE)

    @staticmethod
    def _pipelined_cases(s: GroupView, r: Any, m: Any) -> Any:
        """A remote's points per member, pipelined: its base holds P_j, or P_{j-1} with P_j's
        delta moved aside and merging (`holds`), below its complete delta of P_{k-1} not yet
        moved aside, its delta of P_k being received, or its complete delta of P_k (which the
        home may not know yet: the remote's mark is written first)."""
        k, d, c = s.point, s.rdelta_point[r][m], s.complete[r][m]
        b, q = s.rbase_point[r][m], s.rmerging_point[r][m]

        def holds(j: Any) -> Any:
            return z3.Or(z3.And(j >= 1, q == j, b == j - 1), z3.And(q == NONE, b == j))

        done = z3.And(c, d == k, holds(k - 1))
        pending = z3.Or(
            z3.And(c, k >= 2, d == k - 1, holds(k - 2)),
            z3.And(z3.Not(c), z3.Or(d == NONE, d == k), holds(k - 1)),
            done,
        )
        return z3.If(s.completed[r], done, pending)

    def _members_agree(self, s: GroupView) -> Any:
        """At a remote, the members move together: their complete marks, the points of their
        complete deltas, and whether a delta is merging."""
        x = self.x

        def agree(r: Any, m1: Any, m2: Any) -> Any:
            c1, c2 = s.complete[r][m1], s.complete[r][m2]
            q1, q2 = s.rmerging_point[r][m1], s.rmerging_point[r][m2]
            return z3.And(
                c1 == c2,
                z3.Implies(z3.And(c1, c2), s.rdelta_point[r][m1] == s.rdelta_point[r][m2]),
                (q1 == NONE) == (q2 == NONE),
            )

        return self.forall((x.remote, x.member, x.member), agree)

    def committed(self, s: GroupView, r: Any, m: Any) -> Any:
        return s.committed(self.x, r, m)

    def goal(self, s: GroupView) -> Any:
        """inv_target_is_committed_image: every remote recovers every member at P_c."""

        def body(s: GroupView, r: Any, m: Any, g: Any) -> Any:
            recovered = s.recovered(self.x, r, m, g)
            return recovered == s.images[self.committed(s, r, m)][m][g]

        return self._per_remote_grain(body)(s)

    def conjuncts(self, opts: Options) -> list[Conjunct]:
        """The inductive invariant's conjuncts, for the stricter or the pipelined order."""
        if opts.pipelined not in self._conjuncts:
            self._conjuncts[opts.pipelined] = self._build_conjuncts(opts.pipelined)
        return self._conjuncts[opts.pipelined]

    def _build_conjuncts(self, pipelined: bool) -> list[Conjunct]:

        def p0(s: GroupView) -> Any:
            return s.images[s.point]

        def pm1(s: GroupView) -> Any:
            return s.images[s.point - 1]

        def pm2(s: GroupView) -> Any:
            return s.images[s.point - 2]

        def no_straggler(s: GroupView) -> Any:
            return self.x.all_members(lambda m: z3.Not(s.unfrozen[m]))

        def merging_is_pk_1(s: GroupView, m: Any, g: Any) -> Any:
            outside = z3.And(pm1(s)[m][g] == pm2(s)[m][g], s.base[m][g] == pm2(s)[m][g])
            held = z3.If(s.merging.has[m][g], s.merging.val[m][g] == pm1(s)[m][g], outside)
            return z3.And(s.has_frozen[m], z3.Implies(s.has_merging[m], held))

        def under(s: GroupView, r: Any, m: Any, g: Any) -> Any:
            return s.below(self.x, r, m, g)

        def base_in_flight_is_merging(s: GroupView, m: Any, g: Any) -> Any:
            delta, has = (s.merging, s.has_merging) if pipelined else (s.frozen, s.has_frozen)
            return z3.Implies(s.base_unflushed[m][g], z3.And(has[m], delta.has[m][g]))

        def copy_in_flight_is_merging(s: GroupView, r: Any, m: Any, g: Any) -> Any:
            if pipelined:
                held = z3.And(s.rmerging_point[r][m] != NONE, s.rmerging.has[r][m][g])
            else:
                held = z3.And(s.complete[r][m], s.rdelta.has[r][m][g])
            return z3.Implies(s.rbase_unflushed[r][m][g], held)

        in_flight = [
            Conjunct("inv_15_base_in_flight_is_merging",
                     "a base grain a merge wrote that no flush covers yet is in the delta "
                     "merging (a power loss may leave it any value)",
                     self._per_grain(base_in_flight_is_merging)),
            Conjunct("inv_16_copy_in_flight_is_merging",
                     "the same at each remote: in the delta merging into its base copy",
                     self._per_remote_grain(copy_in_flight_is_merging)),
        ]  # fmt: skip
        if not pipelined:
            phase = Conjunct("inv_2_remote_phase",
                             "a remote merges or holds P_k, or holds P_{k-1}; nothing merges "
                             "aside", self._per_remote_member(self._cases))  # fmt: skip
            local = Conjunct(
                "inv_13_nothing_merges_aside",
                "no local delta merges aside (the stricter order)",
                self._per_grain(lambda s, m, g: z3.Not(s.has_merging[m])),
            )
        else:
            phase = Conjunct(
                "inv_2_remote_phase",
                "a remote holds P_{k-1} below the delta it receives of P_k, or "
                "P_{k-2} below a complete P_{k-1}; each maybe a point behind with "
                "the next merging",
                self._per_remote_member(self._pipelined_cases),
            )
            local = Conjunct(
                "inv_13_merging_is_pk_1",
                "the delta merging holds P_{k-1}, outside it P_{k-1} = P_{k-2} "
                "and the base is P_{k-2}; a frozen delta stays",
                self._per_grain(merging_is_pk_1),
            )
        return [
            Conjunct("inv_1_points", "k >= 1", lambda s: s.point >= 1),
            phase,
            Conjunct("inv_3_members_agree",
                     "at a remote the members are complete together, at one point, and merge "
                     "together", self._members_agree),
            Conjunct("inv_4_received_is_the_point",
                     "a received grain holds the image of its delta's point",
                     self._per_remote_grain(lambda s, r, m, g: z3.Implies(
                         s.rdelta.has[r][m][g],
                         z3.And(s.rdelta_point[r][m] != NONE,
                                s.rdelta.val[r][m][g] == s.images[s.rdelta_point[r][m]][m][g])))),
            Conjunct("inv_5_incomplete_base_is_its_point",
                     "without a complete delta, the base copy is P_b (the delta merging "
                     "aside, P_q, over it)",
                     self._per_remote_grain(lambda s, r, m, g: z3.Implies(
                         z3.Not(s.complete[r][m]),
                         under(s, r, m, g) == s.images[self.committed(s, r, m)][m][g]))),
            Conjunct("inv_6_unreceived_is_unchanged",
                     "a grain not in a complete delta is P_d below it",
                     self._per_remote_grain(lambda s, r, m, g: z3.Implies(
                         z3.And(s.complete[r][m], z3.Not(s.rdelta.has[r][m][g])),
                         under(s, r, m, g) == s.images[s.rdelta_point[r][m]][m][g]))),
            Conjunct("inv_14_merging_aside_is_its_point",
                     "a delta merging aside at a remote holds P_q, and the base is P_q "
                     "outside it",
                     self._per_remote_grain(lambda s, r, m, g: z3.Implies(
                         s.rmerging_point[r][m] != NONE, z3.If(
                             s.rmerging.has[r][m][g],
                             s.rmerging.val[r][m][g] == s.images[s.rmerging_point[r][m]][m][g],
                             s.rbase[r][m][g] == s.images[s.rmerging_point[r][m]][m][g])))),
            Conjunct("inv_7_frozen_is_pk", "the frozen delta holds P_k; outside it P_k = P_{k-1}",
                     self._per_grain(lambda s, m, g: z3.Implies(s.has_frozen[m], z3.If(
                         s.frozen.has[m][g], s.frozen.val[m][g] == p0(s)[m][g],
                         p0(s)[m][g] == pm1(s)[m][g])))),
            Conjunct("inv_8_base_is_merging",
                     "with a frozen delta (and none merging aside) the base is P_{k-1} where "
                     "the frozen delta does not hold it",
                     self._per_grain(lambda s, m, g: z3.Implies(
                         z3.And(s.has_frozen[m], z3.Not(s.has_merging[m])),
                         z3.Or(s.base[m][g] == pm1(s)[m][g], s.frozen.has[m][g])))),
            Conjunct("inv_9_base_is_pk", "without a frozen delta the base is P_k",
                     self._per_grain(lambda s, m, g: z3.Implies(z3.Not(s.has_frozen[m]),
                                                                s.base[m][g] == p0(s)[m][g]))),
            Conjunct("inv_10_active_is_since_pk",
                     "the host's view is P_k overlaid by the active delta",
                     self._per_grain(lambda s, m, g: s.acked[m][g] == z3.If(
                         s.active.has[m][g], s.active.val[m][g], p0(s)[m][g]))),
            Conjunct("inv_11_frozen_until_everywhere",
                     "frozen deltas stay until every remote has them",
                     self._per_remote_member(lambda s, r, m: z3.Implies(z3.Not(s.completed[r]),
                                                                         s.has_frozen[m]))),
            Conjunct("inv_12_one_instant", "no member waits to be frozen (the group froze at once)",
                     no_straggler),
            local,
            *in_flight,
        ]  # fmt: skip

    def invariant(self, s: GroupView, opts: Options) -> Any:
        return z3.And([c.check(s) for c in self.conjuncts(opts)])

    def monotonic(self, pre: GroupView, post: GroupView) -> Any:
        """inv_commit_monotonic: no remote's committed point goes back."""
        return self._per_remote_member(
            lambda s, r, m: self.committed(post, r, m) >= self.committed(pre, r, m)
        )(pre)


UNBOUNDED = Encoding(Symbolic(Sort(Grain), Val, ZERO, member=Sort(Member), remote=Sort(Remote)))
"""The proof's encoding: members, remotes and grains of any number."""


@functools.cache
def finite_encoding(members: int, remotes: int, grains: int) -> Encoding:
    """The encoding over `members` members, `remotes` remotes and `grains` grains, as
    enumeration sorts (z3 decides satisfiable queries there and answers with a model)."""
    tag = f"{members}_{remotes}_{grains}"

    def finite(name: str, size: int) -> Sort:
        enum, elements = z3.EnumSort(f"{name}_{tag}", [f"{name}{i}_{tag}" for i in range(size)])
        return Sort(enum, elements)

    sorts = finite("member", members), finite("remote", remotes), finite("grain", grains)
    return Encoding(Symbolic(sorts[2], Val, ZERO, member=sorts[0], remote=sorts[1]))


def elements(encoding: Encoding, sort: str) -> list[Any]:
    """The elements of a finite encoding's "Member", "Remote" or "Grain" sort."""
    found = getattr(encoding.x, sort.lower()).elements
    assert found is not None, "an unbounded sort has no elements"
    return list(found)
