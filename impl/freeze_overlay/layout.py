"""Where design B keeps each object, delta and remote copy, for a topology.

Locally every object has its base storage — a whole volume (`device`), a span in the middle of
its home site's shared disk (`span`, with a guard grain on either side), or a regular file
(`file`) — and three auxiliary volumes that take turns as the active delta, the frozen one and
(pipelined) the one merging.  Each remote keeps, per object, a base copy (a whole volume, or a
region of one shared remote device when the topology fans in) and two delta volumes that take
turns receiving a point and (pipelined) merging the one before.
"""

from __future__ import annotations

from dataclasses import dataclass

from pitmirror.impl.freeze_overlay.metadata import SLOTS
from pitmirror.impl.regions import Region
from pitmirror.impl.volumes import Volume
from pitmirror.model.freeze_overlay import Topology

GUARD_GRAINS = 1


DELTA_SLOTS = 2


@dataclass(frozen=True)
class LocalStore:
    base: Region
    aux: tuple[Region, ...]
    """SLOTS auxiliary volumes"""


@dataclass(frozen=True)
class RemoteStore:
    base: Region
    deltas: tuple[Region, ...]
    """DELTA_SLOTS delta volumes"""


def _span_disks(topo: Topology) -> dict[str, list[int]]:
    disks: dict[str, list[int]] = {}
    for i, obj in enumerate(topo.objects):
        if obj.kind == "span":
            disks.setdefault(obj.home, []).append(i)
    return disks


def volume_layout(topo: Topology) -> tuple[dict[str, int], frozenset[str]]:
    """Every volume to create (name: grain count), and those that must be regular files."""
    layout: dict[str, int] = {}
    files: set[str] = set()
    for home, members in _span_disks(topo).items():
        spans = sum(topo.objects[i].grains for i in members)
        layout[f"{home}.disk"] = spans + GUARD_GRAINS * (len(members) + 1)
    for obj in topo.objects:
        if obj.kind == "device":
            layout[f"{obj.name}.base"] = obj.grains
        elif obj.kind == "file":
            layout[f"{obj.name}.file"] = obj.grains
            files.add(f"{obj.name}.file")
        for slot in range(SLOTS):
            layout[f"{obj.name}.aux{slot}"] = obj.grains
    for group in topo.groups:
        for remote in group.remotes:
            for obj in group.objects:
                for slot in range(DELTA_SLOTS):
                    layout[f"{remote}.{obj.name}.delta{slot}"] = obj.grains
                if not topo.fan_in:
                    layout[f"{remote}.{obj.name}.copy"] = obj.grains
    if topo.fan_in:
        for remote in {r for g in topo.groups for r in g.remotes}:
            received = [o for g in topo.groups if remote in g.remotes for o in g.objects]
            layout[f"{remote}.device"] = sum(o.grains for o in received)
    return layout, frozenset(files)


def site_volumes(topo: Topology, site: str) -> frozenset[str]:
    """The volumes `site` owns: its objects' bases (or its shared disk) and auxiliary volumes,
    and its copies of other sites' objects."""
    layout, _ = volume_layout(topo)
    homed = {o.name for o in topo.objects if o.home == site}
    return frozenset(
        name for name in layout if name.startswith(f"{site}.") or name.split(".")[0] in homed
    )


def build_stores(
    topo: Topology, volumes: dict[str, Volume], site: str | None = None
) -> tuple[dict[int, LocalStore], dict[tuple[int, str], RemoteStore]]:
    """The stores of every object and copy, or (`site`) of those one site holds, on
    `volumes` (which need hold only those)."""
    locals_: dict[int, LocalStore] = {}
    span_offsets: dict[int, int] = {}
    for members in _span_disks(topo).values():
        offset = GUARD_GRAINS
        for i in members:
            span_offsets[i] = offset
            offset += topo.objects[i].grains + GUARD_GRAINS
    for i, obj in enumerate(topo.objects):
        if site is not None and obj.home != site:
            continue
        if obj.kind == "span":
            base = Region(volumes[f"{obj.home}.disk"], span_offsets[i], obj.grains, obj.name)
        else:
            whole = volumes[f"{obj.name}.{'file' if obj.kind == 'file' else 'base'}"]
            base = Region(whole, 0, obj.grains, obj.name)
        aux = tuple(
            Region(volumes[f"{obj.name}.aux{slot}"], 0, obj.grains, f"{obj.name}.aux{slot}")
            for slot in range(SLOTS)
        )
        locals_[i] = LocalStore(base, aux)
    remotes: dict[tuple[int, str], RemoteStore] = {}
    device_offsets: dict[str, int] = {}
    index = 0
    for group in topo.groups:
        for obj in group.objects:
            for remote in group.remotes:
                if site is not None and remote != site:
                    if topo.fan_in:
                        device_offsets[remote] = device_offsets.get(remote, 0) + obj.grains
                    continue
                deltas = tuple(
                    Region(volumes[name], 0, obj.grains, name)
                    for name in (f"{remote}.{obj.name}.delta{slot}" for slot in range(DELTA_SLOTS))
                )
                if topo.fan_in:
                    first = device_offsets.get(remote, 0)
                    device_offsets[remote] = first + obj.grains
                    copy = Region(volumes[f"{remote}.device"], first, obj.grains,
                                  f"{remote}.{obj.name}.copy")  # fmt: skip
                else:
                    copy = Region(volumes[f"{remote}.{obj.name}.copy"], 0, obj.grains,
                                  f"{remote}.{obj.name}.copy")  # fmt: skip
                remotes[(index, remote)] = RemoteStore(copy, deltas)
            index += 1
    return locals_, remotes
