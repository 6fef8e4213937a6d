"""The product installs and runs without the verification machinery: in a fresh venv with
`pip install .` alone (no extras), hypothesis, z3 and coverage are absent, a site is built from
a config, and a verification command says which extra brings it."""

from __future__ import annotations

import subprocess
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LOCAL_CONFIG = """\
design = "cyclic-flashcopy"
site = "local"
state_dir = "state"
grain_size = 65536

[volumes]
source = "source.img"
i1 = "i1.img"
"""


@pytest.fixture(scope="module")
def product_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the locked product dependencies and nothing else."""
    where = tmp_path_factory.mktemp("product") / "venv"
    venv.create(where, with_pip=True)
    install = subprocess.run(
        [where / "bin" / "pip", "install", "-q", "-c", ROOT / "requirements.lock", ROOT],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert install.returncode == 0, install.stdout + install.stderr
    return where


def _run(
    venv_dir: Path, *args: str | Path, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [venv_dir / "bin" / "pitmirror", *map(str, args)],
        capture_output=True, text=True, timeout=120, check=False, cwd=cwd,
    )  # fmt: skip


@pytest.mark.slow
def test_the_verification_libraries_are_not_installed(product_venv: Path) -> None:
    for library in ("hypothesis", "z3", "coverage", "crosshair"):
        probe = subprocess.run(
            [product_venv / "bin" / "python", "-c", f"import {library}"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert probe.returncode != 0, f"{library} is installed without the verify extra"
    probe = subprocess.run(
        [product_venv / "bin" / "python", "-c", "import pitmirror.node.config, pitmirror.impl"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert probe.returncode == 0, probe.stderr


@pytest.mark.slow
def test_the_product_builds_a_site_from_a_config(product_venv: Path, tmp_path: Path) -> None:
    (tmp_path / "local.toml").write_text(LOCAL_CONFIG)
    for name in ("source", "i1"):
        with (tmp_path / f"{name}.img").open("wb") as image:
            image.truncate(16 * 65536)
    run = _run(product_venv, "inspect", "--config", "local.toml", "--json", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert '"phase": "copying"' in run.stdout and '"copy_map": 16' in run.stdout
    assert (tmp_path / "state").is_dir()


@pytest.mark.slow
def test_a_verification_command_names_the_extra(product_venv: Path) -> None:
    run = _run(product_venv, "verify")
    assert run.returncode == 2
    message = run.stderr.strip()
    assert message.startswith("pitmirror: verify is a verification command; it needs ")
    assert message.endswith("which comes with the verify extra: pip install 'pitmirror[verify]'")
    assert _run(product_venv, "--version").stdout.startswith("pitmirror ")
