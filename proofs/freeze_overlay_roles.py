"""What design B's cycle guarantees the roles (proofs/roles.py), proved from its invariant.

As design A's bridge (proofs/cyclic_flashcopy_roles.py), per remote, member and grain:
- each member's durable view at home (base, merging, frozen and active deltas) differs from a
  remote's committed point only at grains its active, frozen or merging delta holds (the roles'
  `dirty`);
- a remote's base copy differs from its committed point only at grains of its complete delta
  or of the delta merging into it (the roles' `pending`);
- a remote recovers every member at its committed point (the design's goal).
And the group a resync restarts in the other direction (`resync_start`) is a state of the
invariant: any home and remote images that agree outside point 1's frozen delta, which holds the
home's values.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import z3

from pitmirror.model.algebra import NONE
from pitmirror.model.design import WrongDesign
from pitmirror.model.freeze_overlay_rules import (
    DESIGN,
    GroupView,
    Options,
    durable_image,
    resync_start,
)
from pitmirror.model.options import DesignOptions
from pitmirror.proofs import freeze_overlay as B
from pitmirror.proofs.algebra_z3 import Pair
from pitmirror.proofs.obligations import Obligation

SYNCHRONIZED = "bridge_resync_start_keeps_the_invariant"
"""the group restarted after a resync (in the other direction) is a state of the design's
invariant: any images that agree outside the frozen delta of the copy set"""
LEMMA = "goal"
"""a bridge lemma is a consequence of the invariant, as the goal is"""


def home_dirty(s: GroupView, m: Any, g: Any) -> Any:
    return z3.Or(s.active.has[m][g], z3.And(s.has_frozen[m], s.frozen.has[m][g]),
                 z3.And(s.has_merging[m], s.merging.has[m][g]))  # fmt: skip


def remote_pending(s: GroupView, r: Any, m: Any, g: Any) -> Any:
    return z3.Or(z3.And(s.complete[r][m], s.rdelta.has[r][m][g]),
                 z3.And(s.rmerging_point[r][m] != NONE, s.rmerging.has[r][m][g]))  # fmt: skip


def lemmas(enc: B.Encoding, opts: Options) -> dict[str, tuple[str, Any]]:
    x = enc.x

    def committed(s: GroupView, r: Any, m: Any, g: Any) -> Any:
        return s.images[s.committed(x, r, m)][m][g]

    def source(s: GroupView) -> Any:
        return enc.forall(
            (x.remote, x.member, x.grain),
            lambda r, m, g: z3.Or(
                durable_image(x, opts, s, m)[g] == committed(s, r, m, g), home_dirty(s, m, g)
            ),
        )

    def target(s: GroupView) -> Any:
        return enc.forall(
            (x.remote, x.member, x.grain),
            lambda r, m, g: z3.Or(
                s.rbase[r][m][g] == committed(s, r, m, g), remote_pending(s, r, m, g)
            ),
        )

    return {
        "bridge_source_is_committed_but_dirty": (
            "each member's durable view at home differs from a remote's committed point only "
            "at grains its active, frozen or merging delta holds", source),
        "bridge_target_is_committed_but_pending": (
            "a remote's base copy differs from its committed point only at grains of its "
            "complete or merging delta", target),
        "bridge_promoted_image_is_committed": (
            "a remote recovers every member at its committed point", enc.goal),
    }  # fmt: skip


class FreezeOverlayRolesBridge:
    """Design B's bridge lemmas as obligations for the prover."""

    design = DESIGN

    def obligations(self, options: DesignOptions) -> Iterator[Obligation]:
        if not isinstance(options, Options):
            raise WrongDesign(f"design B's bridge was given {type(options).__qualname__}")
        enc = B.UNBOUNDED
        s = enc.fresh_state("bridge")
        for name, (_, lemma) in lemmas(enc, options).items():
            yield Obligation(LEMMA, name, (enc.invariant(s, options), z3.Not(lemma(s))))
        yield Obligation("init", SYNCHRONIZED, (started(enc, s), z3.Not(enc.invariant(s, options))))


def started(enc: B.Encoding, s: GroupView) -> Any:
    """`s` is a resync's start: the remote's copy agrees with the source outside each member's
    frozen delta, which holds the source's values."""
    source, target = (z3.Const(f"start.{n}", s.base.sort()) for n in ("source", "target"))
    frozen = Pair(*(z3.Const(f"start.frozen.{n}", getattr(s.frozen, n).sort())
                      for n in ("has", "val")))  # fmt: skip
    return z3.And(
        enc.same(s, resync_start(enc.x, source, target, frozen)),
        enc.forall((enc.x.member, enc.x.grain), lambda m, g: z3.If(
            frozen.has[m][g], frozen.val[m][g] == source[m][g], target[m][g] == source[m][g])),
    )  # fmt: skip


BRIDGE = FreezeOverlayRolesBridge()
