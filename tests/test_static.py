"""The code stays typed and lint-clean: mypy --strict on the five packages, ruff on all."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("model", "impl", "proofs", "node", "harness")


def test_ruff_is_clean() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", str(ROOT)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_mypy_is_clean_on_the_packages(tmp_path: Path) -> None:
    """mypy sees the checkout as the `pitmirror` package through a tree of links, so the
    result does not depend on how (or whether) the project was installed."""
    if shutil.which("mypy") is None and not _has_module("mypy"):
        pytest.fail("mypy is part of the test extra: pip install '.[verify,test]'")
    package = tmp_path / "pitmirror"
    package.mkdir()
    (package / "__init__.py").write_text((ROOT / "pitmirror_pkg" / "__init__.py").read_text())
    (package / "py.typed").write_text("")
    for name in PACKAGES:
        (package / name).symlink_to(ROOT / name)
    args = [f"-p=pitmirror.{name}" for name in PACKAGES]
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--cache-dir",
            str(tmp_path / "cache"),
            *args,
        ],
        capture_output=True,
        text=True,
        check=False,
        env={"MYPYPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert run.returncode == 0, run.stdout + run.stderr


def _has_module(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None
