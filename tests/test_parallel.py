"""`verify`'s checks shared by forked processes (harness/parallel.py): the rows in the tasks'
order whatever process ran them, a check that raises or a process that dies a failed row."""

from __future__ import annotations

import os

import pytest

from pitmirror.harness.verify import Row, Task, Tell, run_tasks
from pitmirror.impl.volumes import VolumeError

QUIET = Tell(lambda text: None, lambda text: None)


def _row(what: str, passed: bool = True) -> Row:
    return Row("A", what, "ok", "ok", "-", 0.0, passed)


def _task(what: str, rows: int = 1) -> Task:
    def run(tell: Tell) -> list[Row]:
        tell(what)
        tell.detail(f"{what} goes on")
        return [_row(f"{what}.{n}") for n in range(rows)]

    return what, run


def _raises(tell: Tell) -> list[Row]:
    raise RuntimeError("a defect of the check")


def _dies(tell: Tell) -> list[Row]:
    os._exit(3)


@pytest.mark.parametrize("jobs", [1, 2, 3])
def test_the_rows_come_in_the_tasks_order_whoever_ran_them(jobs: int) -> None:
    tasks = [_task(f"t{n}", rows=n % 3) for n in range(9)]
    noted: list[str] = []
    details: list[str] = []
    rows = run_tasks(tasks, Tell(noted.append, details.append), jobs, first=[7])
    assert [r.what for r in rows] == [f"t{n}.{k}" for n in range(9) for k in range(n % 3)]
    assert sorted(noted) == sorted(f"t{n}" for n in range(9))
    assert sorted(details) == sorted(f"t{n} goes on" for n in range(9))


def test_a_check_that_raises_or_a_process_that_dies_is_a_failed_row() -> None:
    tasks = [_task("before"), ("raises", _raises), ("dies", _dies), _task("after")]
    rows = run_tasks(tasks, QUIET, 2)
    assert [r.passed for r in rows] == [True, False, False, True]
    assert "RuntimeError: a defect of the check" in rows[1].got
    assert "its process died" in rows[2].what


def test_no_loop_devices_stops_the_whole_run() -> None:
    def no_devices(tell: Tell) -> list[Row]:
        raise VolumeError("loop devices need root")

    with pytest.raises(VolumeError, match="need root"):
        run_tasks([_task("a"), ("volumes", no_devices), _task("b")], QUIET, 2)
