"""Coverage as a check (harness/coverage.py): the property runs alone execute at least 95 % of
the lines of impl/ that count and every line and branch of the runners; what is left out is
left out by a pattern that still matches, with its reason."""

from __future__ import annotations

import re

import pytest

from pitmirror.harness.cli.coverage import show
from pitmirror.harness.coverage import (
    COVERAGE_BUDGET,
    IMPL,
    LEFT_OUT,
    LINE_THRESHOLD,
    CoverageFailed,
    CoverageResult,
    measure,
    runner_paths,
)
from pitmirror.node.cli import out


@pytest.mark.slow
def test_the_property_runs_cover_the_engine(loop_backend: str) -> None:
    result = measure(*COVERAGE_BUDGET, loop_backend)
    print(result.summary())  # the figure, in the test log
    assert result.percent >= LINE_THRESHOLD, result.gaps()
    assert result.runners_complete, result.gaps()


def test_every_left_out_pattern_still_matches_the_engine() -> None:
    """A pattern that matches nothing any more would leave out nothing, silently."""
    sources = [path.read_text() for path in IMPL.rglob("*.py")]
    for item in LEFT_OUT:
        assert any(re.search(item.pattern, text) for text in sources), item.pattern


def test_the_gate_asks_for_every_registered_runner() -> None:
    """The runners the gate asks every line and branch of come from the registry: a design
    added there is gated without a second list to keep."""
    from pitmirror.harness.designs import DESIGNS

    paths = runner_paths()
    assert len(paths) == len(DESIGNS)
    assert all((IMPL / path).is_file() for path in paths), paths


def test_a_measuring_run_that_cannot_run_says_why() -> None:
    with pytest.raises(CoverageFailed, match="the measuring run failed: .*nosuch"):
        measure(1, 1, "nosuch")


def test_the_report_names_the_gaps_and_what_is_left_out(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(out, "width", 200)  # whatever COLUMNS the run has: one line a row
    result = CoverageResult(
        lines=200, executed=180, runner_branches=10, runner_branches_taken=9,
        missing={"volumes.py": [3, 4, 5, 9], "cyclic_flashcopy/runner.py": [88]},
        missing_runner_branches={"cyclic_flashcopy/runner.py": [(87, 88)]},
        left_out={LEFT_OUT[0].reason: 12},
    )  # fmt: skip
    assert not result.passed and result.percent == 90.0
    assert result.gaps() == [
        "impl/volumes.py: lines 3-5, 9",
        "impl/cyclic_flashcopy/runner.py: lines 88",
        "impl/cyclic_flashcopy/runner.py: branches 87->88",
    ]
    show(result)
    printed = capsys.readouterr().out
    assert "90.0 % of 200 lines of impl/, 9/10 runner branches" in printed and "FAIL" in printed
    assert "impl/volumes.py: lines 3-5, 9" in printed
    assert result.to_json()["left_out"][0]["lines"] == 12


def test_verify_tells_each_run_of_its_coverage_row(monkeypatch: pytest.MonkeyPatch) -> None:
    """The coverage row takes minutes: verify's progress shows which run it is at."""
    from pitmirror.harness import verify

    def fake_measure(examples: int, steps: int, backend: str, seed: int = 0,
                     progress: object = None) -> CoverageResult:  # fmt: skip
        assert callable(progress)
        for done, label in enumerate(("A safe", "B safe")):
            progress(done, 2, label)
        return CoverageResult(lines=10, executed=10, runner_branches=1, runner_branches_taken=1)

    monkeypatch.setattr(verify, "measure", fake_measure)
    noted: list[str] = []
    row = verify._coverage_row("memory", lambda text: None, noted.append)
    assert row.passed
    assert noted == ["coverage: run 1 of 2, A safe", "coverage: run 2 of 2, B safe"]
