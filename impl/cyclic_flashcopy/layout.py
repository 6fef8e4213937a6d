"""Where design A keeps its images: S and I1 at the local site, I2 and T at the remote, four
volumes of one grain count and grain size."""

from __future__ import annotations

from pitmirror.impl.cyclic_flashcopy.local import LOCAL_VOLUMES
from pitmirror.impl.cyclic_flashcopy.remote import REMOTE_VOLUMES

SITE_VOLUMES: dict[str, tuple[str, ...]] = {"local": LOCAL_VOLUMES, "remote": REMOTE_VOLUMES}
VOLUME_NAMES = (*LOCAL_VOLUMES, *REMOTE_VOLUMES)


def volume_layout(grains: int) -> tuple[dict[str, int], frozenset[str]]:
    """Every volume to create (name: grain count), and those that must be regular files."""
    return dict.fromkeys(VOLUME_NAMES, grains), frozenset()
