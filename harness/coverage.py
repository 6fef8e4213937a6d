"""How much of the engine the property runs execute, measured with coverage.py.

The property runs (model and engine in lockstep, the runners under lockstep, the mutant
searches) run under coverage.py's tracer; unit tests take no part.  They run in a child
process that starts the tracer before it imports the engine, so that the lines run at import
count as they do for any program.  What the runs cannot reach by design is left out by
pattern, each with the reason and the test that covers it instead (`LEFT_OUT`); every other
line of `impl/` counts.  The check passes when the runs execute at least `LINE_THRESHOLD`
percent of the lines that count and every line and branch of the runners.

Nothing here imports the engine at module level: `python -m pitmirror.harness.coverage` must
start the tracer first.
"""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import coverage

import pitmirror.impl  # an empty package: nothing of the engine runs here

IMPL = Path(pitmirror.impl.__file__).parent
LINE_THRESHOLD = 95.0


def runner_paths() -> frozenset[str]:
    """Every registered design's runner module, as a path under impl/."""
    from pitmirror.harness.designs import DESIGNS

    prefix = "pitmirror.impl."
    modules = (design.runner.module for design in DESIGNS.values())
    return frozenset(m.removeprefix(prefix).replace(".", "/") + ".py" for m in modules)


@dataclass(frozen=True)
class LeftOut:
    pattern: str
    """a regular expression over source lines; a line that opens a block leaves out the block"""
    reason: str


LEFT_OUT = (
    LeftOut(r"raise (VolumeError|JournalError|CorruptGrain|OSError)\b|return VolumeError\(|"
            r"except (CorruptGrain|OSError|BaseException|FileNotFoundError|FileExistsError|"
            r"VolumeError|TypeError)\b|def (_one_line|_os_error_message)\b",
            "an error of the volume or journal layer (bad input, a full disk, a damaged grain, "
            "an OS error) and the clean-up after it: the property runs use healthy volumes; "
            "tests/test_volumes.py and tests/test_bitmap_journal_grains.py cause them"),
    LeftOut(r"raise (EngineRefused|EngineInvariantBroken|SiteDown|LinkUnavailable|ValueError)"
            r"\b|except .* as refused:",
            "the engine refusing an action (bad input, a site or link that is down, a phase "
            "that does not allow it) or finding its own invariant broken: the property runs "
            "send only what the model enables, to an engine that keeps its invariants; tests "
            "send refused actions and break invariants on purpose "
            "(tests/test_engine_self_checks.py)"),
    LeftOut(r"raise (MessageError|TypeError)\b",
            "a malformed message (garbage, truncated, oversized, damaged, of another design or "
            "version) or a message class that cannot be encoded: the property runs' link carries "
            "only well-formed messages; tests/test_messages.py sends the others"),
    LeftOut(r"class BlockVolume\b|def open_volume\b",
            "opening a user's own regular file or block device as a volume: the product's "
            "config (node/) does it; tests/test_volumes.py and tests/test_product_install.py "
            "run it"),
    LeftOut(r"class (MemoryVolume|FileVolume)\b|return MemoryVolume\(",
            "the memory and file backends: the property runs use loop devices; "
            "tests/test_volumes.py and every memory-backed test run them"),
    LeftOut(r'return False, f"loop devices need|def (detach_loops_under|_wait_detached)\b',
            "loop-device housekeeping: no root or no losetup (the runs need both), leftovers "
            "of a killed run (`pitmirror cleanup`), a detach that waits for another opener; "
            "tests/test_volumes.py and tests/test_cli.py run them"),
    LeftOut(r"if threading.current_thread\(\) is not|def (hold|_deliver)\b|if pending:",
            "a signal that arrives while a loop device is attached or released (it waits for "
            "the end of the block): tests/test_volumes.py sends one"),
    LeftOut(r"while (done|offset) < ",
            "the kernel splitting a device request (the rest is retried): loop devices here "
            "answer whole"),
    LeftOut(r"# a torn or damaged record|# torn tail",
            "a torn or damaged journal record: a crash falls between whole records in today's "
            "fault model (torn appends are issue 10's); tests/test_bitmap_journal_grains.py "
            "tears and damages records"),
    LeftOut(r"class (Roles|RoleRecord|DirtyLog)\b|def next_epoch\b",
            "a site's role record and a promoted site's dirty log (failover): the property runs "
            "mirror one way; tests/test_roles_engine.py runs the records in lockstep with the "
            "roles model, tests/test_daemons.py promotes"),
    LeftOut(r"def (__repr__|__enter__|__exit__|closed|_zero_by_writing)\b",
            "debugging and test aids: reprs, `with` and `closed` for volumes; zeroing a "
            "device without BLKZEROOUT (loop devices here have it)"),
)  # fmt: skip
STUBS = "protocol and abstract method stubs (`...`): coverage.py leaves them out itself"


@dataclass
class CoverageResult:
    lines: int
    """lines of impl/ that count (every statement not left out)"""
    executed: int
    runner_branches: int
    runner_branches_taken: int
    missing: dict[str, list[int]] = field(default_factory=dict)
    """per file of impl/ (relative path), the counted lines the runs did not execute"""
    missing_runner_branches: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    left_out: dict[str, int] = field(default_factory=dict)
    """per reason, how many lines it leaves out"""

    @property
    def percent(self) -> float:
        return 100.0 * self.executed / self.lines if self.lines else 100.0

    @property
    def runners_complete(self) -> bool:
        runner_lines = any(self.missing.get(path) for path in runner_paths())
        return not runner_lines and self.runner_branches_taken == self.runner_branches

    @property
    def passed(self) -> bool:
        return self.percent >= LINE_THRESHOLD and self.runners_complete

    def summary(self) -> str:
        branches = f"{self.runner_branches_taken}/{self.runner_branches} runner branches"
        return f"{self.percent:.1f} % of {self.lines} lines of impl/, {branches}"

    def gaps(self) -> list[str]:
        """What the runs did not execute, file by file, for a person."""
        out = [f"impl/{path}: lines {_ranges(lines)}" for path, lines in self.missing.items()]
        out += [f"impl/{path}: branches {', '.join(f'{a}->{b}' for a, b in arcs)}"
                for path, arcs in self.missing_runner_branches.items()]  # fmt: skip
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "percent": round(self.percent, 2),
            "threshold": LINE_THRESHOLD,
            "lines": self.lines,
            "executed": self.executed,
            "runner_branches": self.runner_branches,
            "runner_branches_taken": self.runner_branches_taken,
            "missing": self.missing,
            "missing_runner_branches": self.missing_runner_branches,
            "left_out": [
                {
                    "pattern": item.pattern,
                    "reason": item.reason,
                    "lines": self.left_out.get(item.reason, 0),
                }
                for item in LEFT_OUT
            ]
            + [{"pattern": None, "reason": STUBS, "lines": self.left_out.get(STUBS, 0)}],
            "passed": self.passed,
        }


class CoverageFailed(RuntimeError):
    """The measuring run itself could not run (its message says why)."""


RUNNER_BUDGET = (100, 40)
"""examples and steps of the runners' runs, whatever the budget: every branch must be taken,
and a crash between two extents of one tick is a rare draw (design A's runner took every branch
in 3 runs of 3 at 100 x 40, not at 60 x 20); their examples are cheap"""
RUNNER_SEEDS = 2
"""each runner's run at this many seeds (seed, seed + 1, ...): a tick while a site is down
is a rare draw too, and which seed takes it depends even on how the package is installed
(seed 0 took design A's in a regular install and missed it in an editable one; seeds 1 and 2
took it in both)"""
COVERAGE_BUDGET = (20, 20)
"""examples and steps per property run (`verify`, `pitmirror coverage`): every phase of both
designs is reached well within it"""
MUTANT_SHARE = 4
"""the mutant searches get a quarter of the examples: they run here for the paths only their
options take, not to be caught (verify's own rows do that)"""


PROGRESS = "pitmirror-coverage-progress"
"""how the child's stderr marks a progress line: the mark, runs done, runs in all, the next"""
Progress = Callable[[int, int, str], None]


def measure(
    examples: int, steps: int, backend: str, seed: int = 0, progress: Progress | None = None
) -> CoverageResult:
    """Every property run and mutant search of `verify` at this budget (the runners' at
    RUNNER_BUDGET and RUNNER_SEEDS seeds, the mutants' at a MUTANT_SHARE of it), traced in a
    child process; `progress(done, total, label)` is told before each run."""
    with tempfile.TemporaryDirectory(prefix="pitmirror-coverage-") as folder:
        out = Path(folder) / "result.json"
        request = {"examples": examples, "steps": steps, "backend": backend, "seed": seed,
                   "out": str(out)}  # fmt: skip
        other: list[str] = []
        with subprocess.Popen(
            [sys.executable, "-m", "pitmirror.harness.coverage", json.dumps(request)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        ) as child:
            assert child.stderr is not None
            for line in child.stderr:
                mark, _, rest = line.rstrip("\n").partition(" ")
                if mark != PROGRESS:
                    other.append(line.rstrip("\n"))
                elif progress is not None:
                    done, total, label = rest.split(" ", 2)
                    progress(int(done), int(total), label)
        if child.returncode != 0 or not out.exists():
            lines = [line for line in other if line.strip()] or ["no output"]
            raise CoverageFailed(f"the measuring run failed: {lines[-1]}")
        data = json.loads(out.read_text())
    data["missing_runner_branches"] = {
        path: [tuple(arc) for arc in arcs] for path, arcs in data["missing_runner_branches"].items()
    }
    return CoverageResult(**data)


def describe_budget(examples: int, steps: int) -> str:
    runner = f"{RUNNER_BUDGET[0]} x {RUNNER_BUDGET[1]} at {RUNNER_SEEDS} seeds"
    return f"{examples} x {steps} per run, the runners {runner}"


def _child(request: dict[str, Any]) -> None:
    """The measuring run: the tracer first, then the engine and the runs."""
    cov = coverage.Coverage(data_file=None, branch=True, source=[str(IMPL)], config_file=False)
    for item in LEFT_OUT:
        cov.exclude(item.pattern)
    cov.start()
    try:
        from pitmirror.impl.volumes import VolumeError

        try:
            _run_all(request["examples"], request["steps"], request["backend"], request["seed"])
        except (VolumeError, ValueError) as err:  # bad input: one line for the parent to show
            sys.stderr.write(f"{' '.join(str(err).split())}\n")
            raise SystemExit(2) from None
    finally:
        cov.stop()
    result = _result(cov)
    Path(request["out"]).write_text(json.dumps(dataclasses.asdict(result)))


def _run_all(examples: int, steps: int, backend: str, seed: int) -> None:
    from pitmirror.harness.check import Budget, run_check
    from pitmirror.harness.verify import mutant_runs, property_runs

    # the run over TCP drives the same engine code as the one in-process (its remote site runs
    # in a child process, out of this measurement): left out, for the time it takes
    runs = [run for run in property_runs() if run[2].transport is None]
    mutants = mutant_runs()
    total = sum(RUNNER_SEEDS if run.runner else 1 for _, run, _ in runs) + len(mutants)
    done = 0

    def tell(label: str) -> None:
        nonlocal done
        sys.stderr.write(f"{PROGRESS} {done} {total} {label}\n")
        sys.stderr.flush()
        done += 1

    for label, run, subject in runs:
        if run.runner:
            for extra in range(RUNNER_SEEDS):
                tell(f"{subject.design.short}: {label}, seed {seed + extra}")
                run_check(subject, backend, Budget(*RUNNER_BUDGET, seed + extra), runner=True)
            continue
        tell(f"{subject.design.short}: {label}")
        tried = Budget(min(examples, run.examples or examples), steps, seed)
        run_check(subject, backend, tried)
    for name, subject in mutants:
        tell(f"{subject.design.short}: mutant {name}")
        run_check(subject, backend, Budget(max(1, examples // MUTANT_SHARE), steps, seed))


def _result(cov: coverage.Coverage) -> CoverageResult:
    with tempfile.TemporaryDirectory(prefix="pitmirror-coverage-") as folder:
        report = Path(folder) / "coverage.json"
        cov.json_report(outfile=str(report))
        data = json.loads(report.read_text())
    result, runners = CoverageResult(0, 0, 0, 0), runner_paths()
    for filename, entry in sorted(data["files"].items()):
        path = Path(filename).resolve().relative_to(IMPL.resolve()).as_posix()
        summary = entry["summary"]
        result.lines += summary["num_statements"]
        result.executed += summary["covered_lines"]
        if entry["missing_lines"]:
            result.missing[path] = entry["missing_lines"]
        if path in runners:
            result.runner_branches += summary["num_branches"]
            result.runner_branches_taken += summary["covered_branches"]
            if entry["missing_branches"]:
                result.missing_runner_branches[path] = [tuple(a) for a in entry["missing_branches"]]
        _count_left_out(Path(filename), entry["excluded_lines"], result.left_out)
    return result


def _count_left_out(source: Path, excluded: list[int], counts: dict[str, int]) -> None:
    """Attribute each excluded line to the reason whose pattern matched it or the block it is
    in (the nearest matching line above it)."""
    lines = source.read_text().splitlines()
    reason = None
    for number in sorted(excluded):
        # coverage.py may name the line after a stub that ends the file
        text = lines[number - 1] if number <= len(lines) else ": ..."
        matched = next((i.reason for i in LEFT_OUT if re.search(i.pattern, text)), None)
        reason = STUBS if text.rstrip().endswith(": ...") else matched or reason or STUBS
        counts[reason] = counts.get(reason, 0) + 1


def _ranges(numbers: list[int]) -> str:
    """`3, 7-9, 12` for [3, 7, 8, 9, 12]."""
    spans: list[list[int]] = []
    for n in numbers:
        if spans and n == spans[-1][1] + 1:
            spans[-1][1] = n
        else:
            spans.append([n, n])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in spans)


if __name__ == "__main__":
    _child(json.loads(sys.argv[1]))
