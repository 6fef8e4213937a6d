"""Digests of volume images, so that a demo compares what a site recovers with a point's image
without holding either in memory twice."""

from __future__ import annotations

import hashlib

import numpy as np
import numpy.typing as npt

from pitmirror.harness.grains import grain_bytes


def image_digest(chunks: list[bytes]) -> str:
    h = hashlib.blake2b(digest_size=16)
    for chunk in chunks:
        h.update(chunk)
    return h.hexdigest()


def seeds_digest(seeds: npt.NDArray[np.int64], grain_size: int) -> str:
    return image_digest([grain_bytes(int(s), g, grain_size) for g, s in enumerate(seeds)])
