"""Design B's sites as daemons run them: a site is home to some groups (it freezes them, copies
each point to their remotes, completes it there and merges locally: `HomeRunner`) and a remote of
others (it applies what their homes send, merges and drops: `CopyRunner`), in one daemon.

A home knows a remote's copies only from what the remote says: its HELLO (every copy it holds,
with the grains of the point it receives), the acknowledgement of each message (the copies of
that group, the extent it applied), and a REPORT when its own work changed them (a drop).  What
the home says in its HELLO — each group's point and the remotes that completed it — is what the
remote checks its copies against (a lost record), as the home checks the remote's.

Everything here runs on the daemon's engine thread, one call at a time, except `judge` and
`replied`, which the link calls on its own thread: they read only what the last engine call
published, and replace the views whole.  A report is read from the journal's state and the
volumes: status says what the site holds, not what it meant to do.
"""

from __future__ import annotations

import dataclasses
import zlib
from typing import Any

from pitmirror.impl.bitmap import GrainMap
from pitmirror.impl.freeze_overlay.messages import MESSAGES, Complete, DeltaRuns, DeltaWrite
from pitmirror.impl.freeze_overlay.metadata import CopyMeta, GroupMeta, committed_point, lost_record
from pitmirror.impl.freeze_overlay.runner import CopyRunner, HomeRunner, MergePlan
from pitmirror.impl.freeze_overlay.site import OverlaySite
from pitmirror.impl.regions import Region
from pitmirror.impl.roles import DirtyLog
from pitmirror.impl.runs_payload import split_runs
from pitmirror.impl.site import EngineRefused
from pitmirror.model.actions import Action, HostFlush
from pitmirror.node.digest import ImageDigest
from pitmirror.node.freeze_overlay_turn import why_not_turnable
from pitmirror.node.served import CommittedVolume, Cycle, Served, point
from pitmirror.node.site import Clock
from pitmirror.node.transport import MessageRefused

EMPTY_POINT_SECONDS = 1.0
"""a point with nothing in it is taken at most once a second: it only moves the committed
point's source time (the RPO) forward"""


# ---- a copy in words -------------------------------------------------------------------------


def _packed(grains: GrainMap) -> bytes:
    return zlib.compress(grains.packed())


def _unpacked(data: bytes, count: int) -> GrainMap:
    return GrainMap.from_packed(count, zlib.decompress(data))


def copy_words(copy: CopyMeta, grains: bool = False) -> dict[str, Any]:
    """What a remote says of one copy; with `grains`, the grains of the point it receives."""
    words: dict[str, Any] = {
        "base": copy.base_point,
        "point": -1 if copy.delta_point is None else copy.delta_point,
        "complete": copy.complete,
        "merging": -1 if copy.merging_point is None else copy.merging_point,
        "at": copy.committed_at,
        "slot": copy.delta_slot,
    }
    if grains:
        words["grains"] = _packed(copy.delta)
    return words


def copy_heard(words: dict[str, Any], count: int, known: CopyMeta | None) -> CopyMeta:
    """A copy as a remote's words say it; the grains of its point from the words, or kept from
    what was known of the same point (or none, for a new one)."""
    delta_point = None if words["point"] < 0 else int(words["point"])
    if "grains" in words:
        delta = _unpacked(words["grains"], count)
    elif known is not None and known.delta_point == delta_point:
        delta = known.delta
    else:
        delta = GrainMap(count)
    return CopyMeta(
        base_point=int(words["base"]),
        delta_point=delta_point,
        delta=delta,
        complete=bool(words["complete"]),
        delta_slot=int(words["slot"]),
        merging=GrainMap(count),  # a home never needs it
        merging_point=None if words["merging"] < 0 else int(words["merging"]),
        committed_at=int(words["at"]),
    )


class OverlayServed(Served):
    write_cache = True

    def __init__(self, site: OverlaySite, clock: Clock, cycle: Cycle) -> None:
        self.site, self.cycle = site, cycle
        topo = self.topology = site.topology
        self.name, self.grain_size = site.site, site.grain_size
        self.held = [gi for gi, g in enumerate(topo.groups) if self.name in g.remotes]
        """the groups this site holds copies of"""
        self.views: dict[str, dict[int, CopyMeta]] = {}
        """each remote's copies (by object), as it last said"""
        self.points_heard: dict[tuple[int, str], dict[str, Any]] = {}
        """each group's committed point at each remote, as the remote said it (its digest)"""
        self.applied = 0
        plan = MergePlan()
        self.home = HomeRunner(site, self._copy, clock, self._apply, cycle.interval_seconds,
                               cycle.extents_per_tick, cycle.max_extent_grains,
                               plan=plan)  # fmt: skip
        for gi in site.homed:  # the interval counts from the recorded point, across restarts
            self.home.point_times[(gi, site.group_meta(gi).point)] = (
                site.group_meta(gi).taken_at / 1e6
            )
        self.copier = CopyRunner(site, self._apply, cycle.max_extent_grains, plan=plan)
        self.digests = {gi: self._digest(gi) for gi in self.held}
        self._said: dict[int, dict[str, Any]] = {}
        """what this site last told each copy's home of it"""
        self._refused: set[int] = set()
        """groups a message of was refused: their home hears every grain again"""
        self._grains: dict[int, tuple[tuple[int | None, int], bytes]] = {}
        """each copy's packed grains, kept while its point and count stay"""
        self.promoted: dict[int, DirtyLog] = {}
        """the groups held here that a forced promote made the host's: their base copies are
        the host's volumes, each write's grains in the group's dirty log first"""
        self._published_groups: dict[int, GroupMeta] = {}
        self._published_copies: dict[int, CopyMeta] = {}
        self._publish()

    # ---- the runner's halves ----------------------------------------------------------------

    def _apply(self, action: Action) -> None:
        """The runners' actions: the flush before a freeze is the host's door's, the rest the
        site's."""
        self.applied += 1
        if isinstance(action, HostFlush):
            self.site.host_flush(action.volume)
        else:
            self.site.apply(action)

    def _copy(self, obj: int, remote: str) -> CopyMeta:
        """A remote's copy as it last said; refused before it said anything (its link comes up
        only with its HELLO, which says it)."""
        known = self.views.get(remote, {}).get(obj)
        if known is None:
            raise EngineRefused(f"the {remote} site has not said what it holds yet")
        return known

    def tick(self) -> bool:
        before = self.applied
        self.home.plan.new_tick()
        for gi in self.held:
            if gi not in self.promoted:
                self.copier.merge(gi)
        for gi in self.site.homed:
            if self.apart(f"group{gi}"):
                continue  # outdated here, or in a split brain: its remotes hear nothing
            self.home.interval_s = max(self.cycle.interval_seconds,
                                       EMPTY_POINT_SECONDS if self._empty(gi) else 0.0)  # fmt: skip
            if self.home.cycle(gi):
                self.home.merge_local(gi)
        return self.applied > before

    def _empty(self, gi: int) -> bool:
        return not any(self.site.object_meta(i).active for i in self.topology.group_objects(gi))

    # ---- the committed image a remote holds ---------------------------------------------------

    def _members(self, gi: int) -> range:
        return self.topology.group_objects(gi)

    def _group_first(self, gi: int) -> int:
        return self.topology.first_grain(self._members(gi)[0])

    def _digest(self, gi: int) -> ImageDigest:
        grains = sum(self.topology.objects[i].grains for i in self._members(gi))
        digest = ImageDigest(lambda start, count: image_grains(self.site, gi, start, count),
                             grains, self.grain_size)  # fmt: skip
        first = self._group_first(gi)
        for i in self._members(gi):
            copy = self.site.copy_meta(i)
            if copy.delta_point is not None and not copy.complete:  # received, not committed
                delta = self.site.remote_stores[(i, self.name)].deltas[copy.delta_slot]
                base = self.topology.first_grain(i) - first
                for offset, n in copy.delta.extents(256):
                    digest.stage(base + offset, delta.read_grains(offset, n))
        return digest

    def committed_volumes(self) -> list[CommittedVolume]:
        found = []
        for gi in self.held:
            first = self._group_first(gi)
            here = self._committed_here(gi)
            for oi in self._members(gi):
                obj, start = self.topology.objects[oi], self.topology.first_grain(oi) - first

                def read(at: int, count: int, gi: int = gi, start: int = start) -> bytes:
                    return image_grains(self.site, gi, start + at, count)

                found.append(CommittedVolume(obj.name, obj.grains, here, read))
        return found

    def _committed_here(self, gi: int) -> dict[str, Any]:
        copies = [self.site.copy_meta(i) for i in self._members(gi)]
        newest = min(copies, key=committed_point)
        return point(committed_point(newest), newest.committed_at, self.digests[gi].digest)

    # ---- messages -----------------------------------------------------------------------------

    def receive(self, payload: bytes) -> dict[str, Any] | None:
        message = MESSAGES.decode(payload)
        if message.group in self.promoted or self.apart(f"group{message.group}"):
            raise MessageRefused(f"group {message.group} was promoted here, or is apart (outdated, "
                                 "split brain): it takes no mirror writes")  # fmt: skip
        try:
            self.site.receive(payload)
        except EngineRefused as refused:
            self._refused.add(message.group)
            raise MessageRefused(str(refused)) from None
        gi = message.group
        words: dict[str, Any] = {"group": gi, "copies": self._copies_words(gi)}
        if isinstance(message, DeltaWrite | DeltaRuns):
            base = self.topology.first_grain(message.member) - self._group_first(gi)
            size = self.grain_size
            extents = (message.extents() if isinstance(message, DeltaRuns)
                       else [(message.offset, len(message.data) // size)])  # fmt: skip
            for start, data in split_runs(extents, message.data, size):
                self.digests[gi].stage(base + start, data)
            words["received"] = [message.member, message.point, [list(e) for e in extents]]
        else:
            assert isinstance(message, Complete)
            self.digests[gi].commit()
            words["committed"] = self._committed_here(gi)
        return {"groups": [words]}

    def _copies_words(self, gi: int, grains: bool = False) -> list[list[Any]]:
        said = []
        for i in self._members(gi):
            words = copy_words(self.site.copy_meta(i))
            self._said[i] = dict(words)
            if grains:
                words["grains"] = self._packed_grains(i)
            said.append([i, words])
        return said

    def _packed_grains(self, obj: int) -> bytes:
        copy = self.site.copy_meta(obj)
        stamp = (copy.delta_point, len(copy.delta))
        kept = self._grains.get(obj)
        if kept is None or kept[0] != stamp:
            kept = self._grains[obj] = (stamp, _packed(copy.delta))
        return kept[1]

    def reports(self) -> dict[str, dict[str, Any]]:
        """The groups whose copies changed here since this site last said them (its drops),
        or whose message it refused (then with every grain), to each group's home."""
        out: dict[str, dict[str, Any]] = {}
        if not self.site.up:
            return out
        for gi in self.held:
            changed = any(copy_words(self.site.copy_meta(i)) != self._said.get(i)
                          for i in self._members(gi))  # fmt: skip
            if changed or gi in self._refused:
                home = self.topology.groups[gi].home
                words = {"group": gi, "copies": self._copies_words(gi, gi in self._refused),
                         "committed": self._committed_here(gi)}  # fmt: skip
                out.setdefault(home, {"groups": []})["groups"].append(words)
        self._refused.clear()
        return out

    def replied(self, site: str, reply: dict[str, Any]) -> None:
        """What remote `site` said of its copies (an acknowledgement, a report)."""
        view = dict(self.views.get(site, {}))
        for words in reply.get("groups", []):
            self._heard(site, view, words)
        self.views[site] = view

    def _heard(self, site: str, view: dict[int, CopyMeta], words: dict[str, Any]) -> None:
        gi = int(words["group"])
        for obj, copy in words.get("copies", []):
            view[obj] = copy_heard(copy, self.topology.objects[obj].grains, view.get(obj))
        received = words.get("received")
        if received is not None:
            obj, at_point, extents = received
            known = view[obj]
            if known.delta_point == at_point:
                grains = GrainMap(known.delta.grain_count)
                for offset, count in extents:
                    grains.update(range(offset, offset + count))
                view[obj] = dataclasses.replace(known, delta=known.delta.union(grains))
        if "committed" in words:
            self.points_heard[(gi, site)] = words["committed"]

    # ---- the state exchange --------------------------------------------------------------------

    def _publish(self) -> None:
        """What `judge` reads: this site's groups and copies as its journal holds them."""
        if not self.site.up:
            return
        self._published_groups = {gi: self.site.group_meta(gi) for gi in self.site.homed}
        self._published_copies = {i: self.site.copy_meta(i) for gi in self.held
                                  for i in self._members(gi)}  # fmt: skip

    def hello(self) -> dict[str, Any]:
        self._publish()
        groups = [[gi, {"point": g.point, "completed": sorted(g.completed_at)}]
                  for gi, g in self._published_groups.items()]  # fmt: skip
        copies = [[i, copy_words(c) | {"grains": self._packed_grains(i)}]
                  for i, c in self._published_copies.items()]  # fmt: skip
        committed = [[gi, self._committed_here(gi)] for gi in self.held] if self.site.up else []
        return {"groups": groups, "copies": copies, "committed": committed}

    def judge(self, peer: dict[str, Any]) -> str | None:
        """A peer home's groups against the copies here, and a peer remote's copies against the
        groups homed here: a record one side acted on and the other lost is refused."""
        site = peer.get("site")
        try:
            homes = {int(gi): words for gi, words in peer.get("groups", [])}
            copies = {int(i): words for i, words in peer.get("copies", [])}
        except (TypeError, ValueError):
            return "the peer's HELLO is no design-B state"
        for gi, words in homes.items():
            if gi not in self.held or self.topology.groups[gi].home != site:
                continue
            group = GroupMeta(int(words["point"]), frozenset(words["completed"]), False,
                              frozenset())  # fmt: skip
            held = [self._published_copies[i] for i in self._members(gi)]
            if lost := lost_record(group, self.name, held):
                return lost
        view: dict[int, CopyMeta] = {}
        for gi, group in self._published_groups.items():
            if site not in self.topology.groups[gi].remotes:
                continue
            if not all(i in copies for i in self._members(gi)):
                return f"the {site} site's HELLO does not say what it holds of group {gi}"
            for i in self._members(gi):
                view[i] = copy_heard(copies[i], self.topology.objects[i].grains, None)
            if lost := lost_record(group, str(site), [view[i] for i in self._members(gi)]):
                return lost
        if view:
            self.views[str(site)] = view
            for gi, words in peer.get("committed", []):
                self.points_heard[(int(gi), str(site))] = words
        return None

    # ---- the host's door and status ------------------------------------------------------------

    # ---- a group promoted here ------------------------------------------------------------------

    def _group_of_pair(self, pair: str) -> int | None:
        names = {f"group{gi}": gi for gi in range(len(self.topology.groups))}
        return names.get(pair)

    def pair_of(self, grain: int) -> str:
        return f"group{self.topology.locate(grain)[0]}"

    def sends(self, pair: str) -> bool:
        gi = self._group_of_pair(pair)
        return gi is not None and gi in self.site.homed

    def draining(self, pair: str) -> bool:
        gi = self._group_of_pair(pair)
        if gi is None or gi not in self.held or gi in self.promoted:
            return False
        copies = [self.site.copy_meta(i) for i in self._members(gi)]
        return any(c.complete or c.merging_point is not None for c in copies)

    def why_not_turnable(self, pair: str) -> str | None:
        gi = self._group_of_pair(pair)
        if gi is None:
            return f"this site is no site of {pair or 'that pair'}"
        return why_not_turnable(self.topology, gi)

    def resync_grains(self) -> set[int]:
        """Per member: at its home, the grains its active, frozen and merging deltas hold (where
        its base and its host's view may differ from a remote's committed point); at a remote,
        those of its delta and the one merging (where its base copy may differ)."""
        out: set[int] = set()
        for gi, spec in enumerate(self.topology.groups):
            for i in self._members(gi):
                first = self.topology.first_grain(i)
                if spec.home == self.name:
                    meta = self.site.object_meta(i)
                    held = [meta.active, *[meta.frozen] * meta.has_frozen,
                            *[meta.merging] * meta.has_merging]  # fmt: skip
                elif self.name in spec.remotes:
                    copy = self.site.copy_meta(i)
                    held = [copy.delta, copy.merging]
                else:
                    continue
                out.update(first + g for grains in held for g in grains)
        return out

    def why_not_promotable(self, pair: str) -> str | None:
        gi = self._group_of_pair(pair)
        if gi is None or gi not in self.held and gi not in self.site.homed:
            held = ", ".join(f"group{g}" for g in self.held) or "none"
            return f"this site holds no copy of {pair or 'that pair'} (it holds: {held})"
        return None

    def holds_a_point(self, pair: str) -> bool:
        gi = self._group_of_pair(pair)
        if gi is None or gi not in self.held or gi in self.promoted:
            return True
        copies = [self.site.copy_meta(i) for i in self._members(gi)]
        return all(c.base_point > 0 or (c.complete and bool(c.delta_point)) for c in copies)

    def serves_host(self, pair: str) -> bool:
        gi = self._group_of_pair(pair)
        return gi is not None and (gi in self.site.homed or gi in self.promoted)

    def roll(self, pair: str = "") -> None:
        """Each member's base copy becomes the group's committed image (impl/freeze_overlay/
        site.py `roll_copies`)."""
        if (why := self.why_not_promotable(pair)) is not None:
            raise EngineRefused(why)
        gi = self._group_of_pair(pair)
        assert gi is not None
        if gi in self.site.homed:
            return  # a demoted home promoted again: its host's view is the group's source
        self.site.roll_copies(gi)
        self.digests[gi] = self._digest(gi)
        self._publish()

    def serve_host(self, dirty: DirtyLog, pair: str = "") -> None:
        gi = self._group_of_pair(pair)
        assert gi is not None
        if gi in self.site.homed:
            return  # its own maps track what the host writes
        copies = [self.site.copy_meta(i) for i in self._members(gi)]
        assert all(c.delta_point is None and c.merging_point is None for c in copies), \
            "serve the host only once rolled"  # fmt: skip
        self.promoted[gi] = dirty

    def _promoted_region(self, grain: int, count: int) -> Region | None:
        """The base copy a promoted group's grains are in, or None (a home's grain)."""
        gi, oi, _ = self.topology.locate(grain)
        if gi not in self.promoted:
            return None
        if self.topology.locate(grain + count - 1)[1] != oi:
            raise EngineRefused(f"grains {grain}..{grain + count - 1} cross an object's end")
        return self.site.remote_stores[(oi, self.name)].base

    def host_write(self, grain: int, data: bytes, fua: bool = True) -> int:
        self.refuse_host(grain)
        size = self.grain_size
        if not data or len(data) % size:
            raise EngineRefused(f"{len(data)} bytes are not whole grains of {size} bytes")
        count = len(data) // size
        copy = self._promoted_region(grain, count)
        if copy is not None:  # the roles' host write: tracked dirty, then written, durable
            gi, oi, offset = self.topology.locate(grain)
            self.promoted[gi].add(grain, count)
            copy.write_grains(offset, data)
            copy.flush()
            return committed_point(self.site.copy_meta(oi)) + 1
        for i in range(len(data) // size):
            self.site.host_write(grain + i, data[i * size : (i + 1) * size], fua)
        return self.site.group_meta(self.topology.locate(grain)[0]).point

    def host_flush(self) -> None:
        """Every object's cached writes, object by object (a block device's flush covers all
        it holds)."""
        for obj in sorted(self.site.cache):
            self.site.host_flush(obj)

    def cached_grains(self) -> int:
        return sum(len(held) for held in self.site.cache.values())

    def host_read(self, grain: int, count: int) -> bytes:
        copy = self._promoted_region(grain, count)
        if copy is not None:
            return copy.read_grains(self.topology.locate(grain)[2], count)
        return b"".join(self.site.host_read(g) for g in range(grain, grain + count))

    def host_volumes(self) -> dict[str, tuple[int, int]]:
        topo = self.topology
        return {obj.name: (topo.first_grain(i), obj.grains)
                for i, obj in enumerate(topo.objects)
                if obj.home == self.name or topo.locate(topo.first_grain(i))[0]
                in self.promoted}  # fmt: skip

    def report(self) -> dict[str, Any]:
        groups = [self._home_report(gi) for gi in self.site.homed]
        groups += [self._remote_report(gi) for gi in self.held]
        groups.sort(key=lambda g: int(g["group"]))
        roles = {g["role"] for g in groups}
        points = [p for g in groups for p in g["committed"].values()]
        oldest = min(points, key=lambda p: (p["number"], p["source_time"] or 0.0))
        return {
            "role": roles.pop() if len(roles) == 1 else "primary and secondary",
            "committed_point": oldest,
            "out_of_sync": {
                key: sum(g["out_of_sync"][key] for g in groups) for key in ("grains", "bytes")
            },  # fmt: skip
            "cycle": groups[0]["cycle"],
            "groups": groups,
        }

    def _group_names(self, gi: int) -> dict[str, Any]:
        spec = self.topology.groups[gi]
        return {"group": gi, "objects": [self.topology.objects[i].name for i in self._members(gi)],
                "home": spec.home, "remotes": list(spec.remotes)}  # fmt: skip

    def _durable_group(self, gi: int) -> GroupMeta:
        return self.site.group_records[gi].read(self.site.durable_meta())

    def _home_report(self, gi: int) -> dict[str, Any]:
        spec, group = self.topology.groups[gi], self._durable_group(gi)
        meta = self.site.durable_meta()
        objects = [self.site.object_records[i].read(meta) for i in self._members(gi)]
        everywhere = group.completed_at == set(spec.remotes)
        behind = sum(len(o.active.union(o.frozen) if not everywhere else o.active)
                     for o in objects)  # fmt: skip
        frozen = sum(len(o.frozen) for o in objects)
        committed, done = {}, 0
        for remote in spec.remotes:
            has = remote in group.completed_at
            number = group.point if has else group.point - 1
            at = group.taken_at if has else group.previous_taken_at
            heard = self.points_heard.get((gi, remote), {})
            committed[remote] = point(number, at, heard.get("digest")
                                      if heard.get("number") == number else None)  # fmt: skip
            view = self.views.get(remote, {})
            for i, o in zip(self._members(gi), objects, strict=True):
                copy = view.get(i)
                if has:
                    done += len(o.frozen)
                elif copy is not None and copy.delta_point == group.point:
                    done += len(o.frozen.intersection(copy.delta))
        size = self.grain_size
        return {
            **self._group_names(gi),
            "role": "primary",
            "committed": committed,
            "out_of_sync": {"grains": behind, "bytes": behind * size},
            "cycle": {
                "number": group.point,
                "phase": self.site.phase(gi) if self.site.up else "down",
                "bytes_done": done * size,
                "bytes_total": frozen * len(spec.remotes) * size,
            },  # fmt: skip
        }

    def _remote_report(self, gi: int) -> dict[str, Any]:
        meta = self.site.durable_meta()
        copies = [self.site.copy_records[i].read(meta) for i in self._members(gi)]
        receiving = [c for c in copies if c.delta_point is not None and not c.complete]
        received = sum(len(c.delta) for c in receiving)
        merging = any(c.merging_point is not None for c in copies)
        newest = max(committed_point(c) for c in copies)
        size = self.grain_size
        promoted = self.promoted.get(gi)
        if promoted is not None:
            written = len(promoted.grains)
            return {**self._group_names(gi), "role": "primary",
                    "committed": {self.name: self._committed_here(gi)},
                    "out_of_sync": {"grains": written, "bytes": written * size},
                    "cycle": {"number": newest + 1, "phase": "promoted", "bytes_done": 0,
                              "bytes_total": None}}  # fmt: skip
        return {
            **self._group_names(gi),
            "role": "secondary",
            "committed": {self.name: self._committed_here(gi)},
            "out_of_sync": {"grains": received, "bytes": received * size},
            "cycle": {
                "number": newest + 1,
                "phase": "merging" if merging else "receiving" if receiving else "idle",
                "bytes_done": received * size,
                "bytes_total": None,
            },  # fmt: skip
        }


def image_grains(site: OverlaySite, group: int, start: int, count: int) -> bytes:
    """Grains `start`.. of a group's committed image that a remote site's volumes and journal
    hold (its members one after the other; what a failover reads): the base copy, overlaid by
    the delta merging and by the delta once complete."""
    topo, size = site.topology, site.grain_size
    out = bytearray()
    grain = topo.first_grain(topo.group_objects(group)[0]) + start
    while count:
        _, oi, offset = topo.locate(grain)
        n = min(count, topo.objects[oi].grains - offset)
        copy, store = site.copy_meta(oi), site.remote_stores[(oi, site.site)]
        data = bytearray(store.base.read_grains(offset, n))
        overlays = [(copy.merging, copy.merging_slot)] if copy.merging_point is not None else []
        overlays += [(copy.delta, copy.delta_slot)] if copy.complete else []
        for delta, slot in overlays:
            for g in delta.within(offset, n):
                at = (g - offset) * size
                data[at : at + size] = store.deltas[slot].read_grains(g)
        out += data
        grain, count = grain + n, count - n
    return bytes(out)


def recoverable_image(site: OverlaySite, group: int) -> bytes:
    """A group's whole committed image at a remote site."""
    topo = site.topology
    return image_grains(site, group, 0, sum(topo.objects[i].grains
                                            for i in topo.group_objects(group)))  # fmt: skip
