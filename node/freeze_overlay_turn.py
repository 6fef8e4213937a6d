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
from pathlib import Path
from typing import Any

from pitmirror.impl.bitmap import GrainMap
from pitmirror.impl.freeze_overlay.layout import DELTA_SLOTS
from pitmirror.impl.freeze_overlay.metadata import SLOTS
from pitmirror.impl.freeze_overlay.site import initial_meta, records
from pitmirror.impl.journal import FileStore, Journal, Metadata, replace_durably
from pitmirror.impl.roles import acting_of
from pitmirror.model import freeze_overlay as model
from pitmirror.node.roles import record_name

HOME, REMOTE = "local", "remote"


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


def acting_volumes(configured: model.Topology, acting: model.Topology, site: str,
                   volumes: dict[str, Path], state_dir: Path,
                   grain_size: int) -> dict[str, Path]:  # fmt: skip
    """The configured volumes under the names the acting topology's layout gives them; the third
    auxiliary volume of a group homed here by a turn is made (sparse) in the state folder."""
    out = dict(volumes)
    for was, now in zip(configured.groups, acting.groups, strict=True):
        if was.home == now.home:
            continue
        for obj in was.objects:
            copy = f"{site}.{obj.name}"
            if now.home == site:  # the copy becomes the base
                turned = {f"{obj.name}.base": f"{copy}.copy"}
                turned |= {f"{obj.name}.aux{s}": f"{copy}.delta{s}" for s in range(DELTA_SLOTS)}
            else:
                turned = {f"{copy}.copy": f"{obj.name}.base"}
                turned |= {f"{copy}.delta{s}": f"{obj.name}.aux{s}" for s in range(DELTA_SLOTS)}
            for name in (*turned.values(), f"{obj.name}.aux{SLOTS - 1}"):
                out.pop(name, None)
            out |= {name: volumes[plays] for name, plays in turned.items() if plays in volumes}
            if now.home == site:
                third = aux_path(state_dir, obj.name)
                if not third.exists() or third.stat().st_size != obj.grains * grain_size:
                    state_dir.mkdir(parents=True, exist_ok=True)
                    with open(third, "wb") as f:
                        f.truncate(obj.grains * grain_size)
                        os.fsync(f.fileno())
                out[f"{obj.name}.aux{SLOTS - 1}"] = third
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
    text = json.dumps({"group": gi, "acting": acting, "copy": members})
    replace_durably(turn_path(state_dir, gi), text.encode())


def apply_turns(topology: model.Topology, site: str, state_dir: Path) -> None:
    """Every pending turn the role records confirm, applied to the site's journal (one snapshot,
    replaced atomically) and then removed; a stale turn (no record says so) is removed."""
    pending: dict[int, dict[str, Any]] = {}
    for gi, group in enumerate(topology.groups):
        path = turn_path(state_dir, gi)
        if not path.exists():
            continue
        turn: dict[str, Any] = json.loads(path.read_text())
        acting = turn.get("acting")
        confirmed = (group.home == site) if acting == HOME else (site in group.remotes)
        members = topology.group_objects(gi)
        if (
            acting in (HOME, REMOTE)
            and confirmed
            and not _applied(state_dir, site, members, gi, acting)
        ):
            pending[gi] = turn
        else:
            path.unlink()
    if not pending:
        return
    before = _turned_back(topology, pending)
    journal = Journal(state_dir, site, initial_meta(before, site))
    journal.compact(_turned(topology, journal.load(), pending))
    for gi in pending:
        turn_path(state_dir, gi).unlink()


def _turned_back(topology: model.Topology, turns: dict[int, dict[str, Any]]) -> model.Topology:
    """The topology the journal was written in: each pending turn's group at its old home."""
    groups = list(topology.groups)
    for gi in turns:
        group = groups[gi]
        old = group.remotes[0]
        objects = tuple(dataclasses.replace(o, home=old) for o in group.objects)
        groups[gi] = model.GroupSpec(objects, (group.home,))
    return dataclasses.replace(topology, groups=tuple(groups))


def _new_keys(gi: int, members: range, acting: str) -> tuple[str, ...]:
    if acting == HOME:
        return (f"group{gi}.", *(f"object{i}." for i in members))
    return tuple(f"copy{i}." for i in members)


def _applied(state_dir: Path, site: str, members: range, gi: int, acting: str) -> bool:
    """The journal's snapshot holds the turned group already (a crash before its file went):
    the records of the two roles have no key in common."""
    snapshot = FileStore(state_dir, site).read_snapshot()
    if snapshot is None:
        return False
    new = _new_keys(gi, members, acting)
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
