"""The digest of a volume image that status reports: one SHA-256 over the SHA-256 of every grain.

A hash list rather than one hash of the bytes, so the daemon that holds a committed image keeps
it up to date in the work of the grains that change (`ImageDigest`), and anyone can compute the
same value from the image's bytes alone (`digest_of`), as the tests do from the volume files.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable


def grain_digest(data: bytes | memoryview) -> bytes:
    return hashlib.sha256(data).digest()


def digest_of(image: bytes, grain_size: int) -> str:
    """The digest of an image held in memory."""
    view = memoryview(image)
    whole = hashlib.sha256()
    for at in range(0, len(view), grain_size):
        whole.update(grain_digest(view[at : at + grain_size]))
    return whole.hexdigest()


class ImageDigest:
    """The digest of a committed image that changes grain by grain: what a point will commit is
    kept aside (`stage`) until the point commits (`commit`)."""

    def __init__(self, read: Callable[[int, int], bytes], grains: int, grain_size: int,
                 batch: int = 256) -> None:  # fmt: skip
        self.grain_size = grain_size
        self.grains: list[bytes] = []
        for start in range(0, grains, batch):
            data = memoryview(read(start, min(batch, grains - start)))
            self.grains += [grain_digest(data[at : at + grain_size])
                            for at in range(0, len(data), grain_size)]  # fmt: skip
        self.staged: dict[int, bytes] = {}
        self._digest: str | None = None

    def stage(self, start: int, data: bytes) -> None:
        """Grains from `start` that the next commit makes part of the image."""
        view = memoryview(data)
        for i, at in enumerate(range(0, len(view), self.grain_size)):
            self.staged[start + i] = grain_digest(view[at : at + self.grain_size])

    def commit(self) -> None:
        for grain, digest in self.staged.items():
            self.grains[grain] = digest
        self.staged.clear()
        self._digest = None

    @property
    def digest(self) -> str:
        if self._digest is None:
            whole = hashlib.sha256()
            for digest in self.grains:
                whole.update(digest)
            self._digest = whole.hexdigest()
        return self._digest
