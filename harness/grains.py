"""Grain content derived from a seed, and back: a trace stays small at any grain size.

Seed 0 is an all-zero grain (a fresh sparse volume).  Any other seed gives a header
(magic, grain index, seed) and a body derived from (seed, grain) by BLAKE2b.  Decoding checks
the header *and* recomputes the body, so a torn, misplaced or corrupted grain is reported,
never silently read as some seed.
"""

from __future__ import annotations

import hashlib
import struct
from functools import lru_cache

_MAGIC = b"PITMGRN1"
_HEADER = struct.Struct("<8sQQ")  # magic, grain, seed


class CorruptGrain(ValueError):
    """A grain whose bytes are neither zeros nor a well-formed seeded pattern."""


@lru_cache(maxsize=4096)
def grain_bytes(seed: int, grain: int, grain_size: int) -> bytes:
    """The bytes grain `grain` holds when written with `seed`."""
    if seed == 0:
        return bytes(grain_size)
    header = _HEADER.pack(_MAGIC, grain, seed)
    block = hashlib.blake2b(header, digest_size=64).digest()
    body_len = grain_size - len(header)
    body = (block * (body_len // len(block) + 1))[:body_len]
    return header + body


ZEROS = -1
"""the grain a zero-filled grain names: none"""


def read_header(data: bytes) -> tuple[int, int]:
    """(the grain `data` was written for, its seed), or (ZEROS, 0) for zeros; CorruptGrain
    (naming the grain as "this grain") when no seed wrote these bytes."""
    if data.count(0) == len(data):  # counted in C; `any(data)` iterates byte by byte
        return ZEROS, 0
    magic, stored_grain, seed = _HEADER.unpack_from(data)
    if magic != _MAGIC:
        raise CorruptGrain("holds bytes that pitmirror did not write")
    if data != grain_bytes(seed, stored_grain, len(data)):
        raise CorruptGrain(f"(seed {seed}) has a damaged body")
    return int(stored_grain), int(seed)


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
