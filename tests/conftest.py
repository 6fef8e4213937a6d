"""Shared fixtures: the loop-device gate and a leak check over the whole session."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from pitmirror.harness.backends import CREATED_ROOTS
from pitmirror.impl.volumes import loop_available


def _attached() -> dict[str, str]:
    """Attached loop devices backed by a pitmirror file: device -> backing file."""
    try:
        listing = subprocess.run(
            ["losetup", "-O", "NAME,BACK-FILE", "-n", "-l"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
    except FileNotFoundError:
        return {}
    pairs = (line.split(None, 1) for line in listing.splitlines() if "pitmirror-" in line)
    return {p[0]: p[1].strip() for p in pairs if len(p) == 2}


@pytest.fixture(scope="session", autouse=True)
def no_leaked_loop_devices() -> Iterator[None]:
    """Every loop device this session attaches is detached by its end.

    Ours are those under a folder this process made, and any whose backing file is gone
    (a volume set removes its folder on close); a concurrent run's live devices are neither.
    """
    before = _attached()
    yield
    leaked = {
        device: backing
        for device, backing in _attached().items()
        if device not in before
        and (
            any(backing.startswith(str(root)) for root in CREATED_ROOTS)
            or backing.endswith("(deleted)")
            or not Path(backing).exists()
        )
    }
    assert not leaked, f"loop devices left attached: {sorted(leaked.items())}"


@pytest.fixture
def loop_backend() -> str:
    ok, reason = loop_available()
    if not ok:
        pytest.skip(f"loop-device test skipped: {reason}")
    return "loop"


# Property tests in this suite are budgets, not searches: no example database on disk.
settings.register_profile("pitmirror-tests", database=None, deadline=None)
settings.load_profile("pitmirror-tests")
