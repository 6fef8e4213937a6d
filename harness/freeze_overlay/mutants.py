"""Design B's catalogue mutants as the engine runs them: a subclass of the product's site that
the world builds when the options ask for a mutant (the safe design runs the product's own
class).  Each override is the unsafe order or rule of one option of
model/freeze_overlay_rules.py `Options`, and nothing else; a dropped barrier is the site's
`keeps` saying no."""

from __future__ import annotations

from pitmirror.harness.mutants import DroppedBarriers
from pitmirror.harness.mutants import is_mutant as mutated
from pitmirror.impl.freeze_overlay.site import OverlaySite
from pitmirror.impl.site import EngineRefused, require_some
from pitmirror.model.freeze_overlay import Options

BARRIERS = {
    "host data": "flush_host_data",
    "copy data": "flush_copy_data",
    "complete": "flush_complete",
    "merges before drop": "flush_merges_before_drop",
}
"""each barrier the site names, by the option that drops it"""
DESIGN_CHOICES = frozenset({"pipelined", "flush_every_write", "variant"})
"""options that are the product's own choices (the order of the cycle, where merges flush), or
the model's alone"""


def is_mutant(options: Options) -> bool:
    return mutated(options, DESIGN_CHOICES)


class MutantOverlaySite(DroppedBarriers, OverlaySite):
    barriers = BARRIERS

    def may_merge_early(self) -> bool:
        """drop-before-every-remote, in the stricter order: the frozen delta merges (and is
        dropped) once any remote has the point."""
        return self.options.pipelined or not self.options.drop_after_every_remote

    def may_freeze_early(self, group: int) -> bool:
        """drop-before-every-remote, pipelined: the next freeze once any remote has the
        point."""
        early = self.options.pipelined and not self.options.drop_after_every_remote
        some_remote = bool(self.group_meta(group).completed_at)
        return early and some_remote and not self.has_merge_work(group)

    def read_host_grain(self, grain: int) -> bytes:
        """read-frozen-first: the frozen delta before the active one."""
        _, oi, off = self.topology.locate(grain)
        if self.options.read_active_first or off in self.cache.get(oi, {}):
            return super().read_host_grain(grain)
        meta = self.object_meta(oi)
        if meta.has_frozen and off in meta.frozen:
            return self._frozen_region(oi).read_grains(off)
        return super().read_host_grain(grain)

    def freeze_group(self, group: int) -> None:
        """freeze-members-one-at-a-time: only the first member; FreezeMember freezes the rest."""
        if self.options.freeze_group_at_once:
            super().freeze_group(group)
        else:
            self._require_cache_flushed(group)
            self._freeze(group, list(self.members(group))[:1])

    def merge_remote(self, grain: int, count: int = 1) -> None:
        """merge-before-complete (the stricter order): the received delta merges before it is
        marked complete."""
        if self.options.merge_after_complete or self.options.pipelined:
            super().merge_remote(grain, count)
            return
        _, oi, off = self._extent(grain, count)
        if (oi, self.site) not in self.remote_stores:
            raise EngineRefused(f"{self.site} holds no copy of object {oi}")
        copy, store = self.copy_meta(oi), self.remote_stores[(oi, self.site)]
        grains = require_some(copy.delta, off, count, f"in {self.site}'s delta")
        self._merge(store.base, store.deltas[copy.delta_slot], grains)
