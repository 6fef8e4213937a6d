"""Design B under power loss: a crashed site's media recovered by the engine's own recovery
code and judged by the model.

Recovery is what `Recover` runs: the site's journal replayed by `Journal.load` (a torn tail cut
off), then the check that its journal and the other sites' agree about every group they share
(`lost_record`).  The recovered metadata and the grains of the site's volumes are read back into
the model's terms by the engine's own code (`local_object`, `remote_object`) and replace the
crashed site's half of the model's state at the crash point (`lift`); the other sites keep the
half the action left them, or had before it, by the model's write plan (`cut_short`).  The
model's ghosts follow the recovered journal: the images up to its group's point; a host write
that was never acknowledged is what a read of its grain returns now.  The model then judges it:
every predicate of the spec against the state before the action, and the continuation — every
site and link up, background work until every group's point is complete everywhere and merged
away — must keep them all.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from typing import Any

from pitmirror.harness.freeze_overlay.lockstep import Lockstep
from pitmirror.harness.freeze_overlay.world import OverlayWorld
from pitmirror.harness.iolog import DeviceWrite, Entry, Flush, IoLog
from pitmirror.harness.lockstep import Stepper
from pitmirror.harness.power_loss_design import (
    PowerLoss,
    Recovered,
    Verdict,
    judge_continuing,
    recover_journal,
)
from pitmirror.harness.seeds import decode_seeds
from pitmirror.impl.freeze_overlay.metadata import lost_record
from pitmirror.impl.journal import Journal, Metadata
from pitmirror.impl.regions import Region
from pitmirror.impl.volumes import Volume
from pitmirror.model import freeze_overlay as model
from pitmirror.model.actions import Action, HostFlush, HostWrite, LinkUp, Recover
from pitmirror.model.design import ModelState, WrongDesign


def _state(state: ModelState) -> model.State:
    if not isinstance(state, model.State):
        raise WrongDesign(f"design B was given {type(state).__qualname__}")
    return state


def continuation(state: model.State) -> Iterator[tuple[str, model.State]]:
    """Every site and link up, then background work until none is left: the steps the model
    takes (a kind of background work over every extent at once), each with the state after."""
    for site in state.topology.sites:
        if not state.site_up(site):
            state = state.step(Recover(site))
            yield f"Recover({site})", state
    for link in sorted(state.down_links):
        state = state.step(LinkUp(link))
        yield f"LinkUp({link})", state
    for _ in range(model.progress_bound(state)):
        moved = model.background_work(state)
        if moved is None:
            return
        state = moved[0]
        yield "background work", state


class OverlayPowerLoss:
    """Design B's part of power-loss exploration, bound to one lockstep's engine."""

    def __init__(self, lockstep: Stepper) -> None:
        if not isinstance(lockstep, Lockstep):
            raise WrongDesign(f"design B was given {type(lockstep).__qualname__}")
        engine = lockstep.engine
        if not isinstance(engine, OverlayWorld):
            raise WrongDesign("power-loss exploration runs the sites in one process")
        self.engine, self.topology = engine, engine.topology
        self.sites: tuple[str, ...] = self.topology.sites
        self.grain_size = engine.grain_size
        self.regions: dict[str, list[tuple[Region, int]]] = {}
        """each volume's regions, with the object whose grains each holds"""
        self.site_of: dict[str, str] = {}
        self.batch: tuple[int, ...] = ()
        """the offsets a flush being cut holds in the host's cache"""
        for i, store in engine.local_stores.items():
            for region in (store.base, *store.aux):
                self._place(region, i, self.topology.objects[i].home)
        for (i, site), rstore in engine.remote_stores.items():
            for region in (rstore.base, *rstore.deltas):
                self._place(region, i, site)

    def _place(self, region: Region, obj: int, site: str) -> None:
        self.regions.setdefault(region.volume.name, []).append((region, obj))
        self.site_of[region.volume.name] = site

    def _volume(self, name: str) -> Volume:
        return self.regions[name][0][0].volume

    def attach(self, log: IoLog | None) -> None:
        for name in self.regions:
            self._volume(name).io_log = log
        for site in self.sites:
            self.journal(site).io_log = log

    def write_ends(self, site: str) -> Sequence[int] | None:
        return None  # every write of a plan is one device write

    def may_lose_power(self, before: ModelState, site: str) -> bool:
        return _state(before).site_up(site)

    def volumes(self, site: str) -> dict[str, Volume]:
        return {name: self._volume(name) for name, s in self.site_of.items() if s == site}

    def journal(self, site: str) -> Journal:
        return self.engine.sites[site].journal

    def _region(self, write: model.VolumeWrite | model.Barrier) -> tuple[Region, ...]:
        """Where a planned write may land: the active delta is any auxiliary volume, a remote's
        delta either of its delta volumes."""
        if write.part in ("base", "active"):
            store = self.engine.local_stores[write.obj]
            return (store.base,) if write.part == "base" else store.aux
        rstore = self.engine.remote_stores[(write.obj, write.site)]
        return (rstore.base,) if write.part == "copy" else rstore.deltas

    def plan_mismatch(
        self, before: ModelState, action: Action, entries: Sequence[Entry]
    ) -> str | None:
        """Where the engine's writes and flushes for `action` differ from the model's write
        plan, in words: each write where the plan puts it, flushed right after exactly when
        the plan needs it durable before the next, and each barrier of the plan a flush of its
        volume."""
        plan = model.write_plan(_state(before), action)
        issued: list[tuple[Entry, bool]] = []  # a write and whether its flush followed, or a flush
        for entry in entries:
            last = issued[-1] if issued else None
            if isinstance(entry, DeviceWrite):
                issued.append((entry, False))
            elif (
                isinstance(entry, Flush)
                and last is not None
                and not last[1]
                and isinstance(last[0], DeviceWrite)
                and last[0].device == entry.device
            ):
                issued[-1] = (last[0], True)
            elif isinstance(entry, Flush):
                issued.append((entry, True))
        if len(plan) != len(issued):
            return (
                f"the engine issued {len(issued)} writes and barriers for it, the model's "
                f"plan {len(plan)}"
            )
        for n, (planned, (done, flushed)) in enumerate(zip(plan, issued, strict=True), 1):
            if isinstance(planned, model.Barrier):
                device = self._region(planned)[0].volume.name
                if not isinstance(done, Flush) or done.device != device:
                    return f"step {n} is {done}; the model's plan has a flush of {device}"
                continue
            if not isinstance(done, DeviceWrite):
                return f"step {n} is a flush of {done.device}; the model's plan has a write"
            if wrong := self._misplaced(n, planned, done, flushed):
                return wrong
        return None

    def _misplaced(
        self, n: int, planned: model.Write, write: DeviceWrite, flushed: bool
    ) -> str | None:
        size = self.grain_size
        issued_as = f"{write.device} at byte {write.offset}, {len(write.data)} bytes"
        if isinstance(planned, model.JournalRecord):
            places = [(self.journal(planned.site).device, write.offset, len(write.data))]
        else:
            places = [(r.volume.name, (r.first + planned.offset) * size, planned.count * size)
                      for r in self._region(planned)]  # fmt: skip
        if (write.device, write.offset, len(write.data)) not in places:
            return f"write {n} is {issued_as}; the model's plan has {places[0]}"
        if flushed != planned.durable:
            said, needs = ("flushed", "not yet") if flushed else ("left unflushed", "durable")
            return f"write {n} ({issued_as}) was {said}; the model's plan needs it {needs}"
        return None

    def cut(self, before: ModelState, action: Action, site: str, nth: int | None) -> ModelState:
        state = _state(before)
        # a flush cut by a power loss: the host's view of its batch is what the recovered site
        # reads, which the model's cut (the action's writes as it left them) cannot say
        self.batch = (tuple(g for g, _ in state.objects[action.volume].cache)
                      if isinstance(action, HostFlush) else ())  # fmt: skip
        if nth is None:
            return state.step(action)
        return model.cut_short(state, action, site, nth)

    def cut_after(self, before: ModelState, action: Action, site: str, writes: int
                  ) -> ModelState:  # fmt: skip
        self.batch = ()
        return model.cut_after(_state(before), action, site, writes)

    def recover(self, site: str, log: bytes, snapshot: bytes | None) -> Recovered:
        return recover_journal(site, log, snapshot, self.engine.initial_meta(site))

    def resumes(self, site: str, fields: dict[str, Any], cut: ModelState) -> str | None:
        """`lost_record` for every group the recovered site shares, its own records from its
        journal and the other sites' as the model has them at the crash point: what `Recover`
        checks."""
        state, engine = _state(cut), self.engine
        for gi, group in enumerate(self.topology.groups):
            if site != group.home and site not in group.remotes:
                continue
            point = (engine.group_records[gi].read(fields) if site == group.home
                     else state.groups[gi])  # fmt: skip
            for remote in group.remotes:
                if site not in (group.home, remote):
                    continue
                copies = [
                    engine.copy_records[i].read(fields) if site == remote
                    else state.remote(i, remote)
                    for i in self.topology.group_objects(gi)
                ]  # fmt: skip
                if lost := lost_record(point, remote, copies):
                    return f"the sites cannot resume: {lost}"
        return None

    def image(self, cut: ModelState, volume: str) -> tuple[int, ...]:
        """The volume as the media holds it now (every grain a write of the step, or one in
        flight, touched is patched over it by the explorer)."""
        device = self._volume(volume)
        seeds = [0] * device.grain_count  # grains no region holds (guards) are never written
        for region, obj in self.regions[volume]:
            raw = device.read_grains(region.first, region.grain_count)
            first = self.topology.first_grain(obj)
            seeds[region.first : region.first + region.grain_count] = decode_seeds(
                raw, self.grain_size, first
            )
        return tuple(seeds)

    def grain_number(self, volume: str, index: int) -> int:
        for region, obj in self.regions[volume]:
            if region.first <= index < region.first + region.grain_count:
                return self.topology.first_grain(obj) + index - region.first
        return index

    def lift(
        self,
        cut: ModelState,
        site: str,
        fields: dict[str, Any],
        images: dict[str, tuple[int, ...]],
        action: Action,
        completed: bool,
    ) -> ModelState:
        """The crash point's model state with `site`'s half as its media recovered it (the
        engine's own reading of its metadata and grains), and the site up."""
        state, engine, topo = _state(cut), self.engine, self.topology
        meta: Metadata = fields

        def read(region: Region, obj: int) -> tuple[int, ...]:
            return images[region.volume.name][region.first : region.first + region.grain_count]

        objects, acked = list(state.objects), list(state.acked)
        for i, obj in enumerate(topo.objects):
            if obj.home == site:
                objects[i] = engine.local_object(i, meta, read)
        remotes = tuple(
            tuple((r, engine.remote_object(i, r, meta, read) if r == site else copy)
                  for r, copy in row)
            for i, row in enumerate(state.remotes)
        )  # fmt: skip
        groups = list(state.groups)
        for gi, group in enumerate(topo.groups):
            if group.home == site:
                held = engine.group_records[gi].read(meta)
                groups[gi] = model.GroupState(
                    held.point, held.completed_at, held.broken, held.unfrozen,
                    state.groups[gi].images[: held.point + 1],
                )  # fmt: skip
        unacknowledged: list[tuple[int, int]] = []  # (object, offset): the host reads what is there
        if isinstance(action, HostWrite) and not completed:
            unacknowledged.append(topo.locate(action.grain)[1:])
        if isinstance(action, HostFlush) and not completed:
            unacknowledged += [(action.volume, off) for off in self.batch]
        for oi, off in unacknowledged:
            if topo.objects[oi].home == site:
                seen = objects[oi].read(off, state.options.read_active_first)
                acked[oi] = acked[oi][:off] + (seen,) + acked[oi][off + 1 :]
        return dataclasses.replace(
            state,
            objects=tuple(objects),
            remotes=remotes,
            groups=tuple(groups),
            acked=tuple(acked),
            down_sites=state.down_sites - {site},
        )

    def judge(self, before: ModelState, lifted: ModelState) -> Verdict:
        """The spec's predicates on the recovered state, then on every step of its
        continuation."""
        steps = continuation(_state(lifted))
        return judge_continuing(before, lifted, steps)


def power_loss(lockstep: Stepper) -> PowerLoss:
    return OverlayPowerLoss(lockstep)
