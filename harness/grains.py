"""Grain content derived from a seed, and back: a trace stays small at any grain size.

Seed 0 is an all-zero grain (a fresh sparse volume).  Any other seed gives each of the grain's
`GRAIN_PARTS` parts a header (magic, grain index, seed) and a body derived from (seed, grain,
part) by BLAKE2b.  Decoding checks the headers *and* recomputes the bodies, so a torn,
misplaced or corrupted grain is reported, never silently read as some seed.

A host write of some parts only (`HostWrite.parts`) leaves a grain whose parts hold different
seeds: its content is named by a *mixed* value, the parts' seeds packed in one number with
`MIXED` set, so the model carries it like a seed and the bytes still say which value they are.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence
from functools import lru_cache

from pitmirror.model.actions import GRAIN_PARTS

_MAGIC = b"PITMGRN1"
_HEADER = struct.Struct("<8sQQ")  # magic, grain, seed

PART_SEED_BITS = 15
MIXED = 1 << (PART_SEED_BITS * GRAIN_PARTS)
"""set in a mixed value (below 2**63: the harness keeps seeds in int64 arrays)"""


class CorruptGrain(ValueError):
    """A grain whose bytes are neither zeros nor a well-formed seeded pattern."""


def mixed(part_seeds: Sequence[int]) -> int:
    """The value naming a grain whose parts hold `part_seeds` (a seed when they agree)."""
    if len(set(part_seeds)) == 1:
        return part_seeds[0]
    if len(part_seeds) != GRAIN_PARTS or not all(0 <= s < 1 << PART_SEED_BITS for s in part_seeds):
        raise ValueError(f"a grain of {GRAIN_PARTS} parts cannot hold seeds {list(part_seeds)}")
    return MIXED | sum(s << (PART_SEED_BITS * i) for i, s in enumerate(part_seeds))


def part_seeds(value: int) -> tuple[int, ...]:
    """The seed of each part of a grain holding `value`."""
    if value >= 0 and value & MIXED:
        mask = (1 << PART_SEED_BITS) - 1
        return tuple((value >> (PART_SEED_BITS * i)) & mask for i in range(GRAIN_PARTS))
    return (value,) * GRAIN_PARTS


def part_size(grain_size: int) -> int:
    return grain_size // GRAIN_PARTS


@lru_cache(maxsize=4096)
def grain_bytes(seed: int, grain: int, grain_size: int) -> bytes:
    """The bytes grain `grain` holds when written with `seed` (or a mixed value)."""
    if seed == 0:
        return bytes(grain_size)
    size = part_size(grain_size)
    if seed > 0 and seed & MIXED:
        return b"".join(grain_bytes(s, grain, grain_size)[i * size : (i + 1) * size]
                        for i, s in enumerate(part_seeds(seed)))  # fmt: skip
    header = _HEADER.pack(_MAGIC, grain, seed)
    body_len = size - len(header)
    parts = []
    for i in range(GRAIN_PARTS):
        block = hashlib.blake2b(header + bytes([i]), digest_size=64).digest()
        parts.append(header + (block * (body_len // len(block) + 1))[:body_len])
    return b"".join(parts)


ZEROS = -1
"""the grain a zero-filled grain names: none"""


def read_header(data: bytes) -> tuple[int, int]:
    """(the grain `data` was written for, its seed), or (ZEROS, 0) for zeros; CorruptGrain
    (naming the grain as "this grain") when no seed wrote these bytes."""
    if data.count(0) == len(data):  # counted in C; `any(data)` iterates byte by byte
        return ZEROS, 0
    size = part_size(len(data))
    first = next(i for i in range(GRAIN_PARTS)
                 if data.count(0, i * size, (i + 1) * size) != size)  # fmt: skip
    magic, stored_grain, seed = _HEADER.unpack_from(data, first * size)
    if magic != _MAGIC:
        raise CorruptGrain("holds bytes that pitmirror did not write")
    if data != grain_bytes(seed, stored_grain, len(data)):
        return int(stored_grain), _mixed_seed(data, int(stored_grain), int(seed))
    return int(stored_grain), int(seed)


def _mixed_seed(data: bytes, grain: int, first_seed: int) -> int:
    """The mixed value of a grain whose parts were written by different seeds; CorruptGrain
    when a part is no seed's part of this grain."""
    size = part_size(len(data))
    seeds = []
    for i in range(GRAIN_PARTS):
        part = data[i * size : (i + 1) * size]
        seed = 0
        if part.count(0) != size:
            magic, stored_grain, seed = _HEADER.unpack_from(part)
            if magic != _MAGIC or stored_grain != grain or seed & MIXED:
                raise CorruptGrain(f"(seed {first_seed}) has a damaged body")
        if part != grain_bytes(seed, grain, len(data))[i * size : (i + 1) * size]:
            raise CorruptGrain(f"(seed {first_seed}) has a damaged body")
        seeds.append(seed)
    try:
        return mixed(seeds)
    except ValueError:
        raise CorruptGrain(f"(seed {first_seed}) has a damaged body") from None


def seed_at(header: tuple[int, int], grain: int) -> int:
    """The seed a grain's header gives, if the header names `grain`; CorruptGrain otherwise."""
    stored_grain, seed = header
    if stored_grain not in (ZEROS, grain):
        raise CorruptGrain(f"grain {grain} holds the data of grain {stored_grain} (seed {seed})")
    return seed


def decode_grain(data: bytes, grain: int) -> int:
    """The seed that produced `data` at `grain`; CorruptGrain when no seed did."""
    try:
        header = read_header(data)
    except CorruptGrain as err:
        raise CorruptGrain(f"grain {grain} {err}") from None
    return seed_at(header, grain)
