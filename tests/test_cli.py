"""The command line: exit codes, one-line errors, JSON output, the demo's digest check."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pitmirror.harness.backends import clean, leftovers
from pitmirror.harness.cli.verify import row_line
from pitmirror.harness.verify import Row, guarded
from pitmirror.impl.volumes import VolumeError

TRACES = Path(__file__).resolve().parent.parent / "traces"


@pytest.fixture(autouse=True)
def private_tmpdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each command runs with a temp folder of its own: what another run left under /tmp (a
    killed run on the same machine, a concurrent test) must not add a note to the stderr these
    tests read line by line."""
    private = tmp_path / "tmp"
    private.mkdir()
    monkeypatch.setenv("TMPDIR", str(private))


def pitmirror(*args: str, uid: int | None = None) -> subprocess.CompletedProcess[str]:
    """The command in a fresh interpreter; `uid` makes it believe it runs as that user."""
    pretend = f"import os; os.geteuid = lambda: {uid}\n" if uid is not None else ""
    return subprocess.run(
        [sys.executable, "-c", f"{pretend}from pitmirror.node.cli import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_replay_of_a_pass_trace_exits_0(loop_backend: str) -> None:
    run = pitmirror("replay", str(TRACES / "cyclic-flashcopy/261121-link-outage-resync.jsonl"))
    assert run.returncode == 0, run.stderr
    assert "every predicate holds" in run.stdout
    assert "/dev/loop" in run.stdout


def test_replay_of_a_violation_trace_exits_1_naming_the_predicate(loop_backend: str) -> None:
    trace = next((TRACES / "mutants").glob("*no-copy-on-write*.jsonl"))
    run = pitmirror("replay", str(trace), "--json")
    assert run.returncode == 1
    doc = json.loads(run.stdout)
    assert doc["violated"] == "inv_target_is_committed_image" and doc["as_expected"]
    assert doc["steps"][-1]["status"] == "violation"


def test_a_corrupt_trace_gives_one_line_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"trace": 1, "design": "cyclic-flashcopy"}\n')
    run = pitmirror("replay", str(bad))
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1 and "the header lacks" in run.stderr
    assert "Traceback" not in run.stderr


def test_a_missing_trace_file_gives_exit_2(tmp_path: Path) -> None:
    run = pitmirror("replay", str(tmp_path / "nope.jsonl"))
    assert run.returncode == 2 and "cannot read the trace" in run.stderr


def test_an_unknown_option_gives_exit_2() -> None:
    run = pitmirror("check", "--option", "warp-drive", "--examples", "1")
    assert run.returncode == 2 and "unknown option 'warp-drive'" in run.stderr


def test_check_json_reports_the_run(tmp_path: Path) -> None:
    run = pitmirror(
        "check",
        "--examples",
        "5",
        "--steps",
        "10",
        "--backend",
        "memory",
        "--save-dir",
        str(tmp_path),
        "--json",
    )
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    assert doc["passed"] and doc["backend"] == "memory" and doc["examples_run"] >= 5
    # the harness's throughput: actions applied in lockstep, over the run's time
    assert doc["steps_run"] > 0
    rate = doc["steps_run"] / doc["seconds"]
    assert abs(doc["steps_per_second"] - rate) <= 0.01 * rate + 0.1


def test_check_of_a_mutant_exits_1_and_saves_a_replayable_trace(tmp_path: Path) -> None:
    run = pitmirror(
        "check",
        "-o",
        "commit-before-drain",
        "--backend",
        "memory",
        "--save-dir",
        str(tmp_path),
        "--json",
    )
    assert run.returncode == 1
    saved = Path(json.loads(run.stdout)["trace"])
    assert saved.parent == tmp_path
    replayed = pitmirror("replay", str(saved), "--backend", "memory")
    assert replayed.returncode == 1 and "inv_target_is_committed_image" in replayed.stdout


def test_demo_target_equals_the_committed_image_by_digest(loop_backend: str) -> None:
    run = pitmirror("demo", "--seconds", "1", "--grains", "64", "--grain-size", "65536", "--json")
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    assert doc["backend"] == "loop" and doc["consistent"]
    assert doc["target_digest"] == doc["expected_digest"] and doc["commits"] >= 1


def test_loop_backend_without_root_is_one_clear_error() -> None:
    trace = TRACES / "cyclic-flashcopy/261121-plain-cycle.jsonl"
    run = pitmirror("replay", str(trace), "--backend", "loop", uid=1000)
    assert run.returncode == 2
    assert "loop devices need root" in run.stderr and "Traceback" not in run.stderr


def test_auto_backend_without_root_says_it_uses_sparse_files_in_one_line() -> None:
    run = pitmirror("replay", str(TRACES / "cyclic-flashcopy/261121-plain-cycle.jsonl"), uid=1000)
    assert run.returncode == 0, run.stderr
    note = "loop devices need root (running as uid 1000): volumes are sparse files instead"
    assert run.stderr == f"pitmirror: {note}\n"
    assert "volumes: file" in run.stdout


def test_a_trace_that_is_not_a_run_of_the_model_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "mismatched.jsonl"
    bad.write_text(
        '{"trace": 1, "design": "cyclic-flashcopy", "grains": 2, "grain_size": 4096, '
        '"why": "commits before the first copy", "expect": "pass"}\n{"action": "CommitPoint"}\n'
    )
    run = pitmirror("replay", str(bad), "--backend", "memory")
    assert run.returncode == 2
    assert "the copy map is not empty" in run.stdout
    assert run.stderr.count("\n") == 1 and "the model does not allow it" in run.stderr


def test_bad_option_values_and_backends_give_exit_2() -> None:
    run = pitmirror("check", "-o", "map_rule=sideways", "--examples", "1")
    assert run.returncode == 2 and "map_rule must be merge or update" in run.stderr
    run = pitmirror("check", "--hypothesis-backend", "nope", "--backend", "memory")
    assert run.returncode == 2 and "backend='nope' is not available" in run.stderr
    assert "Traceback" not in run.stderr


@pytest.mark.slow
def test_design_b_check_and_demo(tmp_path: Path, loop_backend: str) -> None:
    run = pitmirror("check", "--design", "freeze-overlay", "-o", "merge-before-complete",
                    "--backend", "memory", "--save-dir", str(tmp_path), "--json")  # fmt: skip
    assert run.returncode == 1
    doc = json.loads(run.stdout)
    assert doc["topology"] == "single" and doc["failure"]
    replayed = pitmirror("replay", doc["trace"], "--json")
    assert replayed.returncode == 1 and json.loads(replayed.stdout)["as_expected"]
    demo = pitmirror("demo", "--design", "freeze-overlay", "--topology", "fan-out",
                     "--grains", "32", "--seconds", "1", "--json")  # fmt: skip
    assert demo.returncode == 0, demo.stderr
    result = json.loads(demo.stdout)
    assert result["backend"] == "loop" and result["consistent"]
    assert {c["remote"] for c in result["checks"]} == {"right", "third"}


@pytest.mark.slow
def test_prove_both_designs_and_refute_a_mutant_of_each(tmp_path: Path, loop_backend: str) -> None:
    run = pitmirror("prove", "--json")
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    assert doc["proved"]
    assert {d["design"] for d in doc["designs"]} == {"cyclic-flashcopy", "freeze-overlay"}
    for mutant in ("no-target-protection", "drop-before-every-remote"):
        refuted = pitmirror("prove", "-o", mutant, "-q", "--save-dir", str(tmp_path))
        assert refuted.returncode == 1, refuted.stderr
        assert "fails" in refuted.stdout and "pitmirror replay" in refuted.stdout
        assert "on the engine (loop volumes): step" in refuted.stdout
    assert len(list(tmp_path.glob("*.jsonl"))) == 2


def test_a_usage_error_is_one_line_and_exit_2() -> None:
    run = pitmirror("check", "--no-such-flag")
    assert run.returncode == 2
    assert run.stderr.startswith("pitmirror check: No such option")
    assert "--no-such-flag" in run.stderr and run.stderr.count("\n") == 1
    run = pitmirror("replay")
    assert run.returncode == 2
    assert run.stderr.lower() == "pitmirror replay: missing argument 'trace'.\n"


def test_a_deleted_working_directory_is_one_line_even_for_help(tmp_path: Path) -> None:
    gone = tmp_path / "gone"
    gone.mkdir()
    script = (
        f"import os; os.chdir({str(gone)!r}); os.rmdir({str(gone)!r})\n"
        "from pitmirror.node.cli import main; main()"
    )
    run = subprocess.run([sys.executable, "-c", script, "--help"], capture_output=True,
                         text=True, timeout=60, check=False)  # fmt: skip
    assert run.returncode == 2
    assert run.stderr == "pitmirror: the working directory no longer exists; cd elsewhere\n"


def test_a_device_is_not_read_as_a_trace() -> None:
    run = pitmirror("replay", "/dev/zero")
    assert run.returncode == 2 and run.stderr == "pitmirror: /dev/zero: not a regular file\n"


def test_an_unwritable_save_dir_still_reports_the_found_trace(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    run = pitmirror("check", "-o", "commit-before-drain", "--backend", "memory",
                    "--save-dir", str(blocker / "traces"), "--json")  # fmt: skip
    assert run.returncode == 1
    doc = json.loads(run.stdout)
    assert doc["trace"] is None and "cannot save under" in doc["save_error"]
    assert json.loads(doc["trace_lines"][0])["expect"] == "violation"
    assert run.stderr.count("\n") == 1 and "cannot save under" in run.stderr


def test_a_violation_of_options_outside_the_catalogue_is_saved_as_a_bug(tmp_path: Path) -> None:
    """Two mutants at once are not a catalogued mutant: the trace must fail until fixed."""
    run = pitmirror("check", "-o", "no-copy-on-write", "-o", "commit-before-drain",
                    "--backend", "memory", "--save-dir", str(tmp_path), "--json")  # fmt: skip
    assert run.returncode == 1
    saved = Path(json.loads(run.stdout)["trace"])
    assert json.loads(saved.read_text().splitlines()[0])["expect"] == "pass"
    assert pitmirror("replay", str(saved), "--backend", "memory").returncode == 1


def test_sigterm_releases_the_loop_devices(tmp_path: Path, loop_backend: str) -> None:
    before = pitmirror_loop_devices()
    command = [
        sys.executable,
        "-c",
        "from pitmirror.node.cli import main; main()",
        "check",
        "--examples",
        "100000",
        "--backend",
        "loop",
        "--save-dir",
        str(tmp_path),
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not pitmirror_loop_devices(process.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        attached = pitmirror_loop_devices(process.pid) - before
        assert attached, "the run never attached its loop devices"
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 143, stderr  # 128 + SIGTERM, the shell's convention
    assert stderr.endswith("pitmirror: interrupted; volumes released\n")
    assert not attached & pitmirror_loop_devices()


def test_a_killed_run_leaves_no_loop_device_and_cleanup_removes_its_folder(
    tmp_path: Path, loop_backend: str
) -> None:
    """kill -9 runs no cleanup code: the kernel detaches the devices (autoclear), and
    `pitmirror cleanup` removes the folder of the run that is gone, and only that one."""
    before = pitmirror_loop_devices()
    command = [
        sys.executable,
        "-c",
        "from pitmirror.node.cli import main; main()",
        "check",
        "--examples",
        "100000",
        "--backend",
        "loop",
        "--save-dir",
        str(tmp_path),
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not pitmirror_loop_devices(process.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        attached = pitmirror_loop_devices(process.pid) - before
        assert attached, "the run never attached its loop devices"
    finally:
        process.kill()
        process.wait()
    # the kernel detaches once the last opener is gone (udev's probe may still hold a device):
    # a wait, not a speed goal, and a loaded machine (CI with `verify` beside it took over 10 s)
    deadline = time.monotonic() + 60
    while attached & pitmirror_loop_devices() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not attached & pitmirror_loop_devices()
    folders = {Path(backing).parent for _, backing in attached}
    assert all(f.name.startswith(f"pitmirror-{process.pid}-") for f in folders), folders
    trace = TRACES / "mutants" / "261121-no-copy-on-write.jsonl"
    noted = pitmirror("replay", str(trace), "--backend", "memory").stderr
    assert "left by runs that were killed hold" in noted and "`pitmirror cleanup`" in noted
    listed = pitmirror("cleanup", "--dry-run", "--json")
    assert {Path(r["folder"]) for r in json.loads(listed.stdout)["removed"]} >= folders
    assert all(f.exists() for f in folders)
    assert pitmirror("cleanup").returncode == 0
    assert not any(f.exists() for f in folders)


def test_cleanup_leaves_a_live_run_alone(tmp_path: Path) -> None:
    live = tmp_path / f"pitmirror-{os.getpid()}-live"
    dead = tmp_path / "pitmirror-999999999-dead"  # above any pid_max: never alive
    live.mkdir()
    dead.mkdir()
    assert [left.root for left in leftovers(tmp_path)] == [dead]
    clean(leftovers(tmp_path)[0])
    assert live.exists() and not dead.exists()


def pitmirror_loop_devices(pid: int | None = None) -> set[tuple[str, str]]:
    """(device, backing file) of every loop device backed by a pitmirror volume file; of the
    run of process `pid` alone when given (another run, `verify` beside the tests, has its own
    devices)."""
    listing = subprocess.run(["losetup", "-O", "NAME,BACK-FILE", "-n", "-l"],
                             capture_output=True, text=True, check=False).stdout  # fmt: skip
    mark = "pitmirror-" if pid is None else f"pitmirror-{pid}-"
    pairs = (line.split(None, 1) for line in listing.splitlines() if mark in line)
    return {(pair[0], pair[1].strip()) for pair in pairs if len(pair) == 2}


def test_a_failed_verify_row_says_what_was_expected_in_one_line() -> None:
    row = Row("A", "mutant no-copy-on-write", "caught", "not caught", "loop (4 volumes)", 1.25,
              False)  # fmt: skip
    assert row_line(row) == (
        "[bold red]FAIL[/] A mutant no-copy-on-write: not caught (expected caught) "
        "[loop (4 volumes), 1.2 s]"
    )


@pytest.mark.slow
def test_quick_verify_runs_the_safe_checks_and_every_trace_and_says_what_it_skipped() -> None:
    run = pitmirror("verify", "--quick", "--backend", "memory", "--json")
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    assert doc["quick"] and doc["passed"]
    skipped = [r for r in doc["rows"] if r["skipped"]]
    ran = [r for r in doc["rows"] if not r["skipped"]]
    assert skipped and all(
        r["what"].startswith(
            (
                "mutant",
                "Z3 proof refutes",
                "coverage of impl/",
                "power loss catches mutant",
                "property run over TCP",
                "trace mutants/",
            )
        )
        for r in skipped
    )
    # on memory volumes what runs over TCP is skipped, saying why; nothing else is
    over_tcp = [r for r in skipped if "over TCP" in r["got"]]
    assert {r["what"] for r in over_tcp} >= {
        "property run over TCP, the remote a child process: host writes and reads, extents, "
        "crashes, link faults"
    }
    assert any(r["what"].startswith("trace mutants/") for r in ran)
    assert any(r["what"].startswith("trace power-loss/") for r in ran)
    power_loss = [r for r in ran if r["what"].startswith("power loss at every write")]
    assert sorted(r["design"] for r in power_loss) == ["A", "B"]
    assert all(r["passed"] and "0 violations" in r["got"] for r in power_loss)
    proofs = [(r["design"], r["what"]) for r in ran if r["what"].startswith("Z3 proof, safe")]
    assert ("A", "Z3 proof, safe design") in proofs
    assert ("B", "Z3 proof, safe design, pipelined=False") in proofs
    assert len(proofs) == len(set(proofs)), "a configuration proved twice"


def test_coverage_with_a_bad_backend_is_one_line_and_exit_2() -> None:
    run = pitmirror("coverage", "--backend", "nosuch")
    assert run.returncode == 2
    assert run.stderr.strip().splitlines()[-1] == (
        "pitmirror coverage: Invalid value for '--backend': Value error, 'nosuch' is not one of "
        "'auto', 'loop', 'file', 'memory'."
    )


def test_crash_is_the_hidden_former_name_of_power_loss() -> None:
    listed = [line.split()[0] for line in pitmirror("--help").stdout.splitlines()
              if line.startswith("  ") and line.split()]  # fmt: skip
    assert "power-loss" in listed and "crash" not in listed
    former = pitmirror("crash", "--help")
    assert former.returncode == 0 and "former name of `power-loss`" in former.stdout


def test_power_loss_of_a_safe_trace_exits_0_with_its_counts(loop_backend: str) -> None:
    run = pitmirror(
        "power-loss", str(TRACES / "cyclic-flashcopy/261121-plain-cycle.jsonl"), "--json"
    )
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    assert doc["backend"] == "loop" and doc["clean"] and doc["violations"] == 0
    assert doc["crash_states"] > doc["crash_points"] > 0 and doc["states_per_second"] > 0


def test_power_loss_of_a_mutant_exits_1_and_saves_a_trace_that_replays(tmp_path: Path) -> None:
    trace = str(TRACES / "cyclic-flashcopy/261121-plain-cycle.jsonl")
    run = pitmirror("power-loss", trace, "-o", "ack-before-flush", "--backend", "memory",
                    "--save-dir", str(tmp_path))  # fmt: skip
    assert run.returncode == 1, run.stderr
    assert "First violating crash state (the trace shrunk to 1 of its steps)" in run.stdout
    assert "the write of source grain" in run.stdout and ": lost" in run.stdout
    (saved,) = tmp_path.glob("*-power-loss-ack-before-flush.jsonl")
    again = pitmirror("replay", str(saved), "--backend", "memory", "--json")
    assert again.returncode == 1
    assert json.loads(again.stdout)["first_violation"]["predicate"] == "inv_no_ack_lost"


def test_power_loss_of_a_design_b_mutant_names_the_lost_record(tmp_path: Path) -> None:
    trace = str(TRACES / "freeze-overlay/261121-single-cycles.jsonl")
    run = pitmirror("power-loss", trace, "--backend", "memory", "--json")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["violations"] == 0
    run = pitmirror("power-loss", trace, "-o", "complete-unflushed", "--backend", "memory",
                    "--save-dir", str(tmp_path))  # fmt: skip
    assert run.returncode == 1, run.stderr
    assert "the right journal lost its complete mark of point 1" in run.stdout
    # the trace's own stricter order, and the mutant added to it
    (saved,) = tmp_path.glob("*-power-loss-single-complete-unflushed,pipelined-false.jsonl")
    again = pitmirror("power-loss", str(saved), "--backend", "memory", "--json")
    assert again.returncode == 1 and json.loads(again.stdout)["crash_states"] == 1


def test_power_loss_of_a_bad_pin_is_one_line_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    lines = (TRACES / "cyclic-flashcopy/261121-plain-cycle.jsonl").read_text().splitlines()
    header = json.loads(lines[0]) | {"power_loss": {"step": 1, "site": "local"}}
    bad.write_text("\n".join([json.dumps(header), *lines[1:]]) + "\n")
    run = pitmirror("power-loss", str(bad), "--backend", "memory")
    assert run.returncode == 2 and "power_loss must hold" in run.stderr


def test_a_check_that_crashes_is_a_failed_row_and_the_rest_runs() -> None:
    def crashes() -> list[Row]:
        raise RuntimeError("a defect inside the check")

    rows = guarded("roles", crashes)
    assert len(rows) == 1 and not rows[0].passed
    assert "RuntimeError: a defect inside the check" in rows[0].got
    kept = Row("A", "a check", "ok", "ok", "-", 0.0, True)
    assert guarded("traces", lambda: [kept]) == [kept]

    def no_devices() -> list[Row]:
        raise VolumeError("no loop devices")

    with pytest.raises(VolumeError):  # the whole run cannot go on: one clear error
        guarded("traces", no_devices)
