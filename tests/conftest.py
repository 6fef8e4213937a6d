"""Shared fixtures: the loop-device gate and a leak check over the whole session."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest
from hypothesis import settings

from pitmirror.impl.volumes import loop_available


def _attached() -> set[str]:
    try:
        listing = subprocess.run(
            ["losetup", "-a"], capture_output=True, text=True, check=False
        ).stdout
    except FileNotFoundError:
        return set()
    return {line for line in listing.splitlines() if "pitmirror-" in line}


@pytest.fixture(scope="session", autouse=True)
def no_leaked_loop_devices() -> Iterator[None]:
    """Every loop device a test attaches is detached by the end of the session."""
    before = _attached()
    yield
    leaked = _attached() - before
    assert not leaked, f"loop devices left attached: {sorted(leaked)}"


@pytest.fixture
def loop_backend() -> str:
    ok, reason = loop_available()
    if not ok:
        pytest.skip(f"loop-device test skipped: {reason}")
    return "loop"


# Property tests in this suite are budgets, not searches: no example database on disk.
settings.register_profile("pitmirror-tests", database=None, deadline=None)
settings.load_profile("pitmirror-tests")
