"""A design change written as a variant file is checked in one run: the shipped unsafe examples
are refuted by the proof, reached by the search with a trace that replays, and compared with
the unchanged design; a variant of option values runs on the engine; a bad file is one clear
error."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pitmirror.harness.check import Budget
from pitmirror.harness.cli.app import app
from pitmirror.harness.replay import MODEL_ONLY, replay
from pitmirror.harness.traces import read_trace
from pitmirror.harness.variant import check_variant
from pitmirror.model import freeze_overlay as B
from pitmirror.model.actions import FreezeGroup, HostWrite, MarkComplete
from pitmirror.model.variants import VariantError, load

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "variants"
WORLDS = 1
"""the first small world only (design B's `single`, 2 s): the others take 12–14 s each"""
UNSAFE = {
    "complete-without-checking-the-copy": ("MarkComplete", "inv_6_unreceived_is_unchanged"),
    "freeze-after-the-first-remote": ("FreezeGroup", "inv_2_remote_phase"),
    "resync-from-the-source": ("ResyncGrain", "inv_6_copied_is_pk_in_i2"),
}
SAFE = {"pipelined-cycles", "stricter-order"}
"""the pipelined order as it was checked before it became the default, and the order before"""


def write(tmp_path: Path, text: str, name: str = "change.py") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_every_shipped_example_is_checked_here() -> None:
    assert {p.stem for p in EXAMPLES.glob("*.py")} == set(UNSAFE) | SAFE


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("OPTIONS = {}", "no DESIGN"),
        ('DESIGN = "freeze-overlay"', "neither OPTIONS nor RULES"),
        ('DESIGN = "freeze-overlay"\nRULES = {"Teleport": 1}', "RULES must be a dict"),
        ("raise RuntimeError('half written')", "RuntimeError: half written"),
    ],
)
def test_a_file_that_is_no_design_change_is_refused_in_words(
    tmp_path: Path, text: str, words: str
) -> None:
    with pytest.raises(VariantError, match=words):
        load(write(tmp_path, text))


@pytest.mark.parametrize(
    ("rules", "words"),
    [
        ('{"Teleport": B_RULES.RULES["HostWrite"]}', "no action Teleport"),
        # a rule over the other design's state is a file error, not a crash inside the proof
        (
            '{"HostWrite": A_RULES.RULES["HostWrite"]}',
            "HostWrite is a rule of design cyclic-flashcopy, not of freeze-overlay",
        ),
    ],
)
def test_a_rule_the_design_cannot_run_is_refused(tmp_path: Path, rules: str, words: str) -> None:
    path = write(tmp_path, "from pitmirror.model import cyclic_flashcopy_rules as A_RULES\n"
                 "from pitmirror.model import freeze_overlay_rules as B_RULES\n"
                 f'DESIGN = "freeze-overlay"\nRULES = {rules}\n')  # fmt: skip
    state = B.initial_state(B.Config(B.topology("single", 1)), B.Options(variant=path))
    with pytest.raises(VariantError, match=words):
        state.why_disabled(HostWrite(0, 1))


def test_the_model_runs_the_changed_rule_and_the_unchanged_ones() -> None:
    """Under the variant MarkComplete no longer waits for the copy; the rest is as it was."""
    path = str(EXAMPLES / "complete-without-checking-the-copy.py")
    config = B.Config(B.topology("single", 2))
    unchanged = B.initial_state(config)
    changed = B.initial_state(config, B.Options(variant=path))
    assert unchanged.why_disabled(MarkComplete("right", 0)) == (
        "the frozen delta is not fully copied to right"
    )
    assert changed.why_disabled(MarkComplete("right", 0)) is None
    assert changed.why_disabled(FreezeGroup(0)) == unchanged.why_disabled(FreezeGroup(0))


@pytest.mark.slow
def test_an_unsafe_example_is_refuted_reached_and_compared(tmp_path: Path) -> None:
    name = "complete-without-checking-the-copy"
    report = check_variant(str(EXAMPLES / f"{name}.py"), ROOT / "traces", "memory", tmp_path,
                           worlds=WORLDS)  # fmt: skip
    assert not report.safe
    assert UNSAFE[name] in report.newly_broken
    assert report.unchanged.proof.proved and not report.changed.proof.proved
    # the counterexample is worded at the grain or remote where the clause fails
    failing = {(q.check, q.conjunct): q for q in report.changed.proof.report.failures}
    assert any("remote" in line or "grain" in line for line in failing[UNSAFE[name]].counterexample)
    # a reachable violation, as a trace that names the variant and replays on the model alone
    saved = report.changed.proof.saved_to
    assert saved is not None and name in saved.name
    trace = read_trace(saved)
    replayed = replay(trace, "memory")
    assert replayed.backend == MODEL_ONLY and replayed.as_expected
    # the small worlds: clean for the unchanged design, broken for the variant
    assert all(not w.violations for w in report.unchanged.worlds)
    assert any(w.violations for w in report.changed.worlds)
    assert report.lockstep is None and "not run" in report.lockstep_note
    assert report.traces and all(t.got for t in report.traces)


@pytest.mark.slow
def test_a_change_to_design_a_is_refuted_with_a_bmc_trace(tmp_path: Path) -> None:
    """Design A's actions are written over the algebra too: a changed write plan is proved,
    searched by bounded model checking and replayed on the model, as design B's changes are
    (no small world here: design A's takes about a minute for both sides)."""
    name = "resync-from-the-source"
    report = check_variant(str(EXAMPLES / f"{name}.py"), ROOT / "traces", "memory", tmp_path,
                           worlds=0)  # fmt: skip
    assert not report.safe and report.design.short == "A"
    assert report.newly_broken == [UNSAFE[name]]
    assert report.unchanged.proof.proved and not report.changed.proof.proved
    failing = {(q.check, q.conjunct): q for q in report.changed.proof.report.failures}
    assert any("breaks" in line and "out of sync: yes -> no" in line
               for line in failing[UNSAFE[name]].counterexample)  # fmt: skip
    saved = report.changed.proof.saved_to
    assert saved is not None and name in saved.name
    trace = read_trace(saved)
    assert HostWrite in {type(a) for a in trace.actions}  # the write that moved S past P_k
    replayed = replay(trace, "memory")
    assert replayed.backend == MODEL_ONLY and replayed.as_expected
    assert replayed.violated == "inv_target_is_committed_image"
    assert report.lockstep is None and "ResyncGrain" in report.lockstep_note
    # the curated trace of a link outage shows it too: its resync commits a later value
    differ = {t.path.stem: t.got for t in report.traces if t.expected != t.got}
    assert differ == {"261121-link-outage-resync": "violation inv_target_is_committed_image"}


@pytest.mark.slow
def test_a_variant_of_option_values_runs_in_lockstep_on_the_engine(tmp_path: Path) -> None:
    path = write(tmp_path, 'DESIGN = "freeze-overlay"\nOPTIONS = {"flush_every_write": True}\n')
    report = check_variant(path, ROOT / "traces", "memory", tmp_path, budget=Budget(3, 10),
                           worlds=WORLDS)  # fmt: skip
    assert report.changed.proof.proved and report.safe
    assert report.lockstep and all(ok for _, ok, _ in report.lockstep)
    assert all(t.same for t in report.traces)
    lags = [(a.lag, b.lag) for a, b in zip(report.unchanged.worlds, report.changed.worlds,
                                           strict=True)]  # fmt: skip
    assert all(a == b for a, b in lags)


@pytest.mark.slow
def test_the_stricter_order_is_safe_and_runs_on_the_engine(tmp_path: Path) -> None:
    """The shipped safe example: proved, every small world clean, the engine in lockstep; the
    curated traces of the pipelined default are not all its behaviour (it merges in place)."""
    report = check_variant(str(EXAMPLES / "stricter-order.py"), ROOT / "traces", "memory",
                           tmp_path, budget=Budget(3, 10), worlds=WORLDS)  # fmt: skip
    assert report.safe and report.changed.proof.proved and not report.newly_broken
    assert all(not w.violations for w in report.changed.worlds)
    assert report.lockstep and all(ok for _, ok, _ in report.lockstep)
    pipelined = [t for t in report.traces if "pipelined" in t.path.name]
    assert pipelined and not any(t.same for t in pipelined)
    # what the pipelined default buys: the newest point in fewer actions (8 against 10 in
    # `single`), at the same lag bound
    (overlapped,), (stricter,) = report.unchanged.worlds, report.changed.worlds
    assert overlapped.newest == stricter.newest == 3 and overlapped.lag == stricter.lag
    assert overlapped.fastest < stricter.fastest


def pitmirror(*args: str, tmp: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`pitmirror` in a child process; with `tmp`, that is its temporary folder (its own: what
    killed runs left under /tmp is not this test's to see)."""
    command = [sys.executable, "-c", "from pitmirror.node.cli import main; main()", *args]
    env = None if tmp is None else {**os.environ, "TMPDIR": str(tmp)}
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900,
                          check=False, env=env)  # fmt: skip


def test_verify_names_a_missing_variant_file_in_one_line(tmp_path: Path) -> None:
    run = pitmirror("verify", "--variant", "examples/variants/no-such-change.py", tmp=tmp_path)
    assert run.returncode == 2
    assert run.stderr.strip() == "pitmirror: no variant file 'examples/variants/no-such-change.py'"


@pytest.mark.slow
def test_verify_variant_refutes_the_other_unsafe_example_as_json(tmp_path: Path) -> None:
    """In this process (typer's runner), so the unchanged design's side is computed once."""
    name = "freeze-after-the-first-remote"
    for command in ("prove", "replay", "verify"):  # a lone command would be the whole app
        importlib.import_module(f"pitmirror.harness.cli.{command}")

    run = CliRunner().invoke(app, ["verify", "--variant", str(EXAMPLES / f"{name}.py"),
                                   "--save-dir", str(tmp_path), "--worlds", str(WORLDS),
                                   "--json"])  # fmt: skip
    assert run.exit_code == 1, run.output
    doc = json.loads(run.stdout)
    assert doc["safe"] is False and doc["variant"]["rules"] == ["FreezeGroup"]
    assert list(UNSAFE[name]) in doc["newly_broken"]
    assert doc["unchanged"]["proof"]["proved"] and not doc["changed"]["proof"]["proved"]
    # one remote is every remote: the first world (`single`) is the same for both designs
    assert not any(w["violations"] for w in doc["unchanged"]["worlds"] + doc["changed"]["worlds"])
    assert doc["lockstep"] is None and "not run" in doc["lockstep_note"]
    replayed = replay(read_trace(Path(doc["trace"])), "memory")
    assert replayed.backend == MODEL_ONLY and replayed.as_expected
