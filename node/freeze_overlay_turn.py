"""A design-B group turned by a resync or a reverse: its home moves to the other site of the pair.

Each host reads the group's role record (impl/roles.py `acting`: "local", this host acts as the
group's home, the site that sends; "remote", as its remote; "" as configured) before the site is
built, so both sites describe the same acting topology and their fingerprints agree.  The volumes
turn with the group: the new home's base is its base copy, its auxiliary volumes the copy's two
delta volumes and a third kept in the state folder; the new remote's copy is its old base, its
delta volumes two of its old auxiliary ones.

The journal turns at the next start: the turn's step (node/turns.py) writes `turn-group<N>.json`
(one file, replaced atomically) with the copy set, and the build applies it — the group's old
records dropped, the new role's records added as model/freeze_overlay_rules.py `resync_start`
says (the new home's point 1 frozen with the copy set, read from its base; the remote's copy at
point 0) — only once the role record says the host acts so: a turn whose record was never
written (a crash between the two) is dropped, as design A's new journal is never read then.
Only pairs turn: a group with one remote, its objects whole volumes, without fan-in.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from pitmirror.impl.bitmap import GrainMap
from pitmirror.impl.freeze_overlay.layout import DELTA_SLOTS, LocalStore, build_stores
from pitmirror.impl.freeze_overlay.metadata import SLOTS, ObjectMeta
from pitmirror.impl.freeze_overlay.site import initial_meta, records
from pitmirror.impl.journal import FileStore, Journal, Metadata, replace_durably
from pitmirror.impl.roles import acting_of
from pitmirror.impl.volumes import Volume
from pitmirror.model import freeze_overlay as model
from pitmirror.node.roles import record_name

HOME, REMOTE = "local", "remote"
V = TypeVar("V")


def pair_name(gi: int) -> str:
    return f"group{gi}"


def group_index(pair: str) -> int:
    return int(pair.removeprefix("group"))


def why_not_turnable(topology: model.Topology, gi: int) -> str | None:
    """Why the group cannot move its home (None: it can)."""
    group = topology.groups[gi]
    if len(group.remotes) != 1:
        return f"group {gi} has {len(group.remotes)} remotes: only a pair's group turns"
    if topology.fan_in:
        return "a fan-in topology's groups do not turn (their copies share one device)"
    kinds = {o.kind for o in group.objects} - {"device"}
    if kinds:
        return f"group {gi}'s objects are kept as {', '.join(sorted(kinds))}: only whole " \
            "volumes turn"  # fmt: skip
    return None


def acting_topology(configured: model.Topology, site: str, state_dir: Path) -> model.Topology:
    """The topology as the role records of this host's groups say it acts (node docstring)."""
    groups = []
    for gi, group in enumerate(configured.groups):
        acting = ""
        if site in (group.home, *group.remotes):
            acting = acting_of(state_dir, record_name(pair_name(gi)))
        home = group.home
        if acting == HOME:
            home = site
        elif acting == REMOTE and group.home == site:
            home = group.remotes[0]
        if home == group.home:
            groups.append(group)
            continue
        objects = tuple(dataclasses.replace(o, home=home) for o in group.objects)
        groups.append(model.GroupSpec(objects, (group.home,)))
    return dataclasses.replace(configured, groups=tuple(groups))


def aux_path(state_dir: Path, name: str) -> Path:
    return state_dir / f"{name}.aux{SLOTS - 1}"


def third_aux(state_dir: Path, grain_size: int) -> Callable[[model.ObjectSpec], Path]:
    """The third auxiliary volume of an object homed here by a turn: a sparse file in the state
    folder, made the object's size when it is not."""

    def made(obj: model.ObjectSpec) -> Path:
        path = aux_path(state_dir, obj.name)
        if not path.exists() or path.stat().st_size != obj.grains * grain_size:
            state_dir.mkdir(parents=True, exist_ok=True)
            with open(path, "wb") as f:
                f.truncate(obj.grains * grain_size)
                os.fsync(f.fileno())
        return path

    return made


def acting_volumes(configured: model.Topology, acting: model.Topology, site: str,
                   volumes: Mapping[str, V], third: Callable[[model.ObjectSpec], V],
                   ) -> dict[str, V]:  # fmt: skip
    """The configured volumes under the names the acting topology's layout gives them: a
    group homed here by a turn takes its copy as the base, its delta volumes and `third` as its
    auxiliary ones; a group turned away takes its base as the copy, two auxiliary volumes as
    its deltas."""
    out = dict(volumes)
    for was, now in zip(configured.groups, acting.groups, strict=True):
        if was.home == now.home:
            continue
        for obj in was.objects:
            copy = f"{site}.{obj.name}"
            if now.home == site:
                turned = {f"{obj.name}.base": f"{copy}.copy"}
                turned |= {f"{obj.name}.aux{s}": f"{copy}.delta{s}" for s in range(DELTA_SLOTS)}
            else:
                turned = {f"{copy}.copy": f"{obj.name}.base"}
                turned |= {f"{copy}.delta{s}": f"{obj.name}.aux{s}" for s in range(DELTA_SLOTS)}
            for name in (*turned.values(), f"{obj.name}.aux{SLOTS - 1}"):
                out.pop(name, None)
            out |= {name: volumes[plays] for name, plays in turned.items() if plays in volumes}
            if now.home == site:
                out[f"{obj.name}.aux{SLOTS - 1}"] = third(obj)
    return out


def turn_path(state_dir: Path, gi: int) -> Path:
    return state_dir / f"turn-{pair_name(gi)}.json"


def write_turn(topology: model.Topology, state_dir: Path, pair: str, acting: str,
               copy: set[int]) -> None:  # fmt: skip
    """The group's turn, durable: the new home's copy set per member (offsets in the object)."""
    gi = group_index(pair)
    assert acting == HOME or not copy, "the remote's start copies nothing"
    members: dict[str, list[int]] = {}
    for i in topology.group_objects(gi):
        first = topology.first_grain(i)
        members[str(i)] = sorted(g - first for g in copy
                                 if first <= g < first + topology.objects[i].grains)  # fmt: skip
    group = topology.groups[gi]
    text = json.dumps({"group": gi, "acting": acting, "copy": members,
                       "home": group.home, "remote": group.remotes[0]})  # fmt: skip
    replace_durably(turn_path(state_dir, gi), text.encode())


def apply_turns(topology: model.Topology, site: str, state_dir: Path,
                volumes: Mapping[str, Volume]) -> None:  # fmt: skip
    """Every pending turn the role records confirm, applied to the site's journal (one snapshot,
    replaced atomically) and then removed; a stale turn (no record says so) is removed.  A home
    that stays the group's home first merges its deltas into its base (oldest first, flushed):
    the start's base is the host's image, and the turn, redone after a crash, merges the same
    deltas again."""
    pending: dict[int, dict[str, Any]] = {}
    for gi, group in enumerate(topology.groups):
        path = turn_path(state_dir, gi)
        if not path.exists():
            continue
        turn: dict[str, Any] = json.loads(path.read_text())
        acting = turn.get("acting")
        confirmed = (group.home == site) if acting == HOME else (site in group.remotes)
        if acting in (HOME, REMOTE) and confirmed and not _applied(state_dir, site, topology, turn):
            pending[gi] = turn
        else:
            path.unlink()
    if not pending:
        return
    before = _turned_back(topology, pending)
    journal = Journal(state_dir, site, initial_meta(before, site))
    meta = journal.load()
    stores, _ = build_stores(topology, dict(volumes), site)
    objects = records(before)[1]
    for gi, turn in pending.items():
        if turn["acting"] == HOME and turn["home"] == site:
            for i in before.group_objects(gi):
                _flatten(objects[i].read(meta), stores[i])
    journal.compact(_turned(topology, meta, pending))
    for gi in pending:
        turn_path(state_dir, gi).unlink()


def _flatten(meta: ObjectMeta, store: LocalStore) -> None:
    """The object's deltas merged into its base, the merging one first, the active one last
    (a read's order: the newest wins)."""
    held = []
    if meta.has_merging and not meta.merging_from_base:
        held.append((meta.merging, meta.merging_slot))
    if meta.has_frozen and not meta.frozen_from_base:
        held.append((meta.frozen, meta.frozen_slot))
    held.append((meta.active, meta.active_slot))
    for grains, slot in held:
        for start, count in grains.extents(256):
            store.base.write_grains(start, store.aux[slot].read_grains(start, count))
    store.base.flush()


def _turned_back(topology: model.Topology, turns: dict[int, dict[str, Any]]) -> model.Topology:
    """The topology the journal was written in: each pending turn's group as it was when the
    turn was written (a resync may keep the group's home where it was)."""
    groups = list(topology.groups)
    for gi, turn in turns.items():
        objects = tuple(dataclasses.replace(o, home=turn["home"]) for o in groups[gi].objects)
        groups[gi] = model.GroupSpec(objects, (turn["remote"],))
    return dataclasses.replace(topology, groups=tuple(groups))


def _new_keys(gi: int, members: range, acting: str) -> tuple[str, ...]:
    if acting == HOME:
        return (f"group{gi}.", *(f"object{i}." for i in members))
    return tuple(f"copy{i}." for i in members)


def _applied(state_dir: Path, site: str, topology: model.Topology, turn: dict[str, Any]) -> bool:
    """A turn that moved the group's home is in the journal's snapshot already (a crash before
    its file went) when the snapshot holds the new role's records: the two roles' records have
    no key in common.  A turn that kept the home is applied again: nothing ran since, so its
    start is what the journal holds either way."""
    gi = int(turn["group"])
    if turn["home"] == topology.groups[gi].home:
        return False
    snapshot = FileStore(state_dir, site).read_snapshot()
    if snapshot is None:
        return False
    new = _new_keys(gi, topology.group_objects(gi), turn["acting"])
    return any(key.startswith(new) for key in json.loads(snapshot)["meta"])


def _turned(topology: model.Topology, meta: Metadata,
            turns: dict[int, dict[str, Any]]) -> Metadata:  # fmt: skip
    groups, objects, copies = records(topology)
    out = dict(meta)
    for gi, turn in turns.items():
        members = topology.group_objects(gi)
        old = _new_keys(gi, members, REMOTE if turn["acting"] == HOME else HOME)
        out = {k: v for k, v in out.items() if not k.startswith(old)}
        if turn["acting"] == HOME:
            out |= groups[gi].initial()
            for i in members:
                frozen = GrainMap(topology.objects[i].grains, turn["copy"].get(str(i), []))
                out |= objects[i].initial() | {f"object{i}.frozen": frozen}
        else:
            for i in members:
                out |= copies[i].initial()
    return out
