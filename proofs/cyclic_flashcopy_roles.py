"""What design A's cycle guarantees the roles (proofs/roles.py), proved from its invariant.

The roles model (model/roles_rules.py) sees a design's cycle through three things; design A's
inductive invariant implies each for volumes of any size, one query per lemma (the invariant and
the lemma's negation are unsatisfiable together):
- the source differs from the committed image P_c only at grains to copy, written since P_k,
  out of sync, or received by the remote this cycle (the roles' `dirty`: what a resync copies,
  never the whole volume);
- the target differs from P_c only at target-map grains, whose P_c value I2 holds (the roles'
  `pending`: what a promote rolls back);
- the target rolled to its committed point is P_c (the design's goal): a promoted image is a
  committed point of the old primary.
And the pair a resync restarts in the other direction (`synchronized`) is a state of the
invariant, whatever the image and I1 hold.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import z3

from pitmirror.model.cyclic_flashcopy_rules import DESIGN, Options, PairView
from pitmirror.model.cyclic_flashcopy_rules import resync_start as resync_start_view
from pitmirror.model.design import WrongDesign
from pitmirror.model.options import DesignOptions
from pitmirror.proofs import cyclic_flashcopy as A
from pitmirror.proofs.obligations import Obligation
from pitmirror.proofs.sorts import Grain

LEMMA = "goal"
"""a bridge lemma is a consequence of the invariant, as the goal is"""


def every_grain(body: Any) -> Any:
    g = z3.Const("bg", Grain)
    return z3.ForAll([g], body(g))


def source_dirty(s: PairView, g: Any) -> Any:
    """The grains a resync takes from design A's maps: the local site's three and the remote's
    received map."""
    return z3.Or(s.copy_map[g], s.future_map[g], s.out_of_sync[g], s.received_map[g])


LEMMAS: dict[str, tuple[str, Any]] = {
    "bridge_source_is_committed_but_dirty": (
        "the source differs from P_c only at grains to copy, written since P_k, out of sync or "
        "received this cycle",
        lambda s: every_grain(lambda g: z3.Or(s.source[g] == s.pc[g], source_dirty(s, g)))),
    "bridge_target_is_committed_but_pending": (
        "the target differs from P_c only at target-map grains, whose P_c value is in I2",
        lambda s: every_grain(lambda g: z3.If(s.target_map[g], s.i2[g] == s.pc[g],
                                              s.target[g] == s.pc[g]))),
    "bridge_promoted_image_is_committed": (
        "the target rolled to its committed point (I2 at target-map grains, else T) is P_c",
        A.goal),
}  # fmt: skip


SYNCHRONIZED = "bridge_resync_start_keeps_the_invariant"
"""the pair a resync restarts in the other direction is a state of the design's invariant:
any volumes that agree outside the copy set, anything in I1"""


def resync_start(s: PairView) -> Any:
    """`s` is a resync's start: source, I2 and target agree outside the copy set."""
    image, grains = s.source.sort(), s.copy_map.sort()
    source, i1, i2, target = (z3.Const(f"start.{n}", image) for n in ("s", "i1", "i2", "t"))
    copy = z3.Const("start.copy", grains)
    return z3.And(
        A.same(s, resync_start_view(A.X, source, i1, i2, target, copy)),
        source == A.X.write(target, copy, source), i2 == A.X.write(target, copy, i2),
    )  # fmt: skip


class CyclicFlashcopyRolesBridge:
    """Design A's bridge lemmas as obligations for the prover."""

    design = DESIGN

    def obligations(self, options: DesignOptions) -> Iterator[Obligation]:
        if not isinstance(options, Options):
            raise WrongDesign(f"design A's bridge was given {type(options).__qualname__}")
        s = A.fresh_state("bridge")
        for name, (_, lemma) in LEMMAS.items():
            yield Obligation(LEMMA, name, (A.invariant(s), z3.Not(lemma(s))))
        yield Obligation("init", SYNCHRONIZED, (resync_start(s), z3.Not(A.invariant(s))))


BRIDGE = CyclicFlashcopyRolesBridge()
