"""Host writes of some of a grain's parts: the value a write names (over what the host reads
before it) and the bytes it hands the engine (the grain the block door builds from the host's
newest view and the new parts)."""

from __future__ import annotations

from collections.abc import Callable

from pitmirror.harness.grains import grain_bytes, mixed, part_seeds, part_size
from pitmirror.model.actions import GRAIN_PARTS, HostWrite
from pitmirror.node.block_door import in_whole_grains


def host_write_bytes(action: HostWrite, grain_size: int, read: Callable[[int], bytes]) -> bytes:
    """The whole grain `action` writes; `read(grain)` is the site's host read, which a write of
    some parts goes through (node/block_door.py: the frontend's own read-modify-write)."""
    grain, whole = action.grain, grain_bytes(action.data, action.grain, grain_size)
    if not action.parts:
        return whole
    size = part_size(grain_size)
    start, end = action.part * size, (action.part + action.parts) * size

    def read_grains(first: int, count: int) -> bytes:
        return b"".join(map(read, range(first, first + count)))

    first, data, _ = in_whole_grains(grain * grain_size + start, whole[start:end], grain_size,
                                     read_grains)  # fmt: skip
    assert first == grain and len(data) == grain_size
    return data


def host_writes(read: Callable[[int], int], first_part: int, parts: int, seed: int,
                fua: bool) -> list[HostWrite]:  # fmt: skip
    """A host write of `parts` consecutive grain parts from part `first_part` of the volume,
    as the block door hands it to the engine: one write per grain, a grain covered in part
    named by its parts' seeds after the write (`read(grain)`: the host's view before).  A grain
    whose value no parts can name (a seed past what a part holds) is written whole."""
    writes = []
    at, end = first_part, first_part + parts
    while at < end:
        grain, part = divmod(at, GRAIN_PARTS)
        count = min(end - at, GRAIN_PARTS - part)
        at += count
        if count == GRAIN_PARTS:
            writes.append(HostWrite(grain, seed, fua))
            continue
        seeds = list(part_seeds(read(grain)))
        seeds[part : part + count] = [seed] * count
        try:
            writes.append(HostWrite(grain, mixed(seeds), fua, part, count))
        except ValueError:
            writes.append(HostWrite(grain, seed, fua))
    return writes


def host_write_again(write: HostWrite, read: Callable[[int], int]) -> HostWrite:
    """`write` issued again (a host retrying a write a crash left unacknowledged): a write of
    some parts names the grain's value over what the host reads now."""
    if not write.parts:
        return write
    seed = part_seeds(write.data)[write.part]
    start = write.grain * GRAIN_PARTS + write.part
    (again,) = host_writes(read, start, write.parts, seed, write.fua)
    return again
