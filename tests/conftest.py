"""Shared fixtures: the loop-device gate and a leak check over the whole session."""

from __future__ import annotations

import platform
import subprocess
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest
from hypothesis import settings

from pitmirror.harness.backends import CREATED_ROOTS
from pitmirror.impl.volumes import loop_available

KEY_PACKAGES = (
    "hypothesis",
    "z3-solver",
    "python-statemachine",
    "crosshair-tool",
    "numpy",
    "coverage",
    "mypy",
    "ruff",
)


def pytest_report_header() -> list[str]:
    """What the run used: versions as installed (tests/test_lock.py holds them to the lock)
    and whether the volumes are loop devices."""
    versions = " ".join(f"{name}=={metadata.version(name)}" for name in KEY_PACKAGES)
    ok, reason = loop_available()
    loop = "loop devices: available" if ok else f"loop devices: not used, {reason}"
    return [f"pitmirror: python {platform.python_version()} {versions}", loop]


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


LONGEST_FIRST = (
    "test_coverage.py",
    "test_cli.py",
    "test_daemons.py",
    "test_power_loss.py",
    "test_proofs_cyclic_flashcopy.py",
    "test_model_freeze_overlay.py",
    "test_model_cyclic_flashcopy.py",
    "test_proofs_freeze_overlay.py",
    "test_roles_processes.py",
    "test_variants.py",
)
"""the files that took 1.5 to 3.5 minutes each in CI (at `8a20c78`), longest first: the two
workers take files in collection order, and one of these started last is the run's tail"""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that asks for loop devices is marked `loop`, so `-m loop` selects them all; the
    longest files go first (LONGEST_FIRST), the rest in their own order."""
    for item in items:
        if "loop_backend" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.loop)
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


@pytest.fixture
def loop_backend() -> str:
    ok, reason = loop_available()
    if not ok:
        pytest.skip(f"loop-device test skipped: {reason}")
    return "loop"


# Property tests in this suite are budgets, not searches: no example database on disk.
settings.register_profile("pitmirror-tests", database=None, deadline=None)
settings.load_profile("pitmirror-tests")
