"""CrossHair checks the contracts of the engine's pure helpers within a bounded budget, and
finds the bug in each known-buggy variant."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
MODULES = (
    "pitmirror.model.extents",  # runs: the engine's I/O extents and the model's enabled ones
    "pitmirror.model.freeze_overlay",  # overlay read resolution
    "pitmirror.model.algebra",  # delta lookups the rules read through
    "pitmirror.model.cyclic_flashcopy",  # the copy-map merge of claims 5/6, used by the engine
    "pitmirror.model.actions",  # trace parsing
)
BUGGY = (
    "runs_too_long",
    "overlay_oldest_wins",
    "next_copy_map_always_update",
    "parse_field_accepts_negative",
)
# A budget, not a timeout: stop after this many iterations that find nothing new.
BUDGET = ["--analysis_kind=PEP316", "--max_uninteresting_iterations=30"]


def crosshair(target: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "crosshair", "check", *BUDGET, target],
        capture_output=True, text=True, timeout=600, check=False, cwd=HERE,
    )  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("module", MODULES)
def test_contracts_of_the_pure_helpers_hold(module: str) -> None:
    run = crosshair(module)
    assert run.returncode == 0, run.stdout + run.stderr


def test_every_buggy_variant_is_caught() -> None:
    run = crosshair(str(HERE / "crosshair_buggy.py"))
    assert run.returncode == 1, run.stdout + run.stderr
    errors = [line for line in run.stdout.splitlines() if ": error:" in line]
    for name in BUGGY:
        assert any(name in line for line in errors) or _names_line(run.stdout, name), (
            f"CrossHair did not catch {name}:\n{run.stdout}"
        )


def _names_line(output: str, name: str) -> bool:
    """CrossHair names the failing line, not always the function: map lines to functions."""
    source = (HERE / "crosshair_buggy.py").read_text().splitlines()
    for line in output.splitlines():
        if ": error:" not in line:
            continue
        number = int(line.split(":")[1])
        owner = next((s for s in reversed(source[:number]) if s.startswith("def ")), "")
        if owner.startswith(f"def {name}("):
            return True
    return False
