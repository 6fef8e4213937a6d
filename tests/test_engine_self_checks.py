"""The engines check their own structural invariants after every action (`self_check`): a
broken one fails where it breaks, with EngineInvariantBroken naming it.  Here each is broken on
purpose, behind the engine's back, to see that the check is really made."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pitmirror.harness.cyclic_flashcopy.world import FlashCopyWorld
from pitmirror.harness.designs import Subject
from pitmirror.harness.freeze_overlay.world import OverlayWorld
from pitmirror.impl.bitmap import GrainMap
from pitmirror.impl.site import EngineInvariantBroken
from pitmirror.model import cyclic_flashcopy as A
from pitmirror.model import freeze_overlay as B
from pitmirror.model.actions import HostWrite


def _design_a(break_it: Callable[[FlashCopyWorld], None], match: str) -> None:
    subject = Subject(A.DESIGN, A.Options(), None, 4)
    with subject.volume_set("memory") as volume_set:
        volumes, workdir = volume_set.fresh()
        engine = FlashCopyWorld(volumes, workdir, A.Options())
        engine.apply(HostWrite(0, 1))
        break_it(engine)
        with pytest.raises(EngineInvariantBroken, match=match):
            engine.apply(HostWrite(1, 2))


def test_design_a_a_grain_both_to_copy_and_out_of_sync() -> None:
    def both(engine: FlashCopyWorld) -> None:
        assert engine.local.meta is not None
        engine.local.meta["out_of_sync"] = GrainMap(4, [2])  # grain 2 is still to copy

    _design_a(both, r"grains \[2\] are to copy and out of sync")


def test_design_a_a_site_down_behind_its_controller() -> None:
    subject = Subject(A.DESIGN, A.Options(), None, 4)
    with subject.volume_set("memory") as volume_set:
        engine = FlashCopyWorld(*volume_set.fresh(), A.Options())
        engine.remote.crash()  # the site drops its state; its controller was not told
        with pytest.raises(EngineInvariantBroken, match="remote site's state and its controller"):
            engine.check_structure()


def test_design_b_a_site_down_behind_its_service() -> None:
    subject = Subject(B.DESIGN, B.Options(), "single", 2)
    with subject.volume_set("memory") as volume_set:
        engine = OverlayWorld(B.topology("single", 2), *volume_set.fresh(), B.Options())
        engine.sites["right"].crash()
        with pytest.raises(EngineInvariantBroken, match="the right site and its service disagree"):
            engine.check_structure()


def test_design_b_a_delta_read_from_the_base_that_is_not_frozen() -> None:
    subject = Subject(B.DESIGN, B.Options(), "single", 2)
    with subject.volume_set("memory") as volume_set:
        engine = OverlayWorld(B.topology("single", 2), *volume_set.fresh(), B.Options())
        home = engine.sites["left"].meta
        assert home is not None
        home["object0.has_frozen"] = 0  # point 1's delta is the base, yet not frozen
        with pytest.raises(EngineInvariantBroken, match="a base-backed delta is not frozen"):
            engine.apply(HostWrite(0, 1))


def test_the_checks_can_be_switched_off_for_speed() -> None:
    subject = Subject(A.DESIGN, A.Options(), None, 4)
    with subject.volume_set("memory") as volume_set:
        volumes, workdir = volume_set.fresh()
        engine = FlashCopyWorld(volumes, workdir, A.Options(), self_check=False)
        assert engine.local.meta is not None
        engine.local.meta["out_of_sync"] = GrainMap(4, [2])
        engine.apply(HostWrite(1, 2))  # nothing checks: the flag is what verify and tests keep on
