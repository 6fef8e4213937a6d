"""`verify`'s checks shared by several processes: each takes the next task no process has taken,
and the rows come back in the tasks' order.

Each task runs in a process forked for it alone (the checks are closures over the run's
settings, and every module is imported already): no task inherits another's heap or solver
history — a Z3 refutation that took 34 s in a fresh process took 330 s in a worker that had run
a dozen checks before it.  Each tells the parent, through one queue, where its checks begin and
what rows it found.  A task that raises is a failed row, as in one process (`guarded`); a
`VolumeError` (no loop devices, no root) stops the whole run, as in one process; a task whose
process dies (killed, out of memory) is a failed row and the others go on.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from pitmirror.impl.volumes import VolumeError

if TYPE_CHECKING:
    from pitmirror.harness.verify import Row, Task, Tell
POLL_SECONDS = 0.05


def parallel_rows(tasks: list[Task], tell: Tell, jobs: int) -> list[list[Row]]:
    """Each task's rows, in the tasks' order, each task in a process of its own forked for it,
    at most `jobs` at a time; what they say goes to `tell` in this process."""
    from pitmirror.harness.verify import Tell, guarded

    context = multiprocessing.get_context("fork")
    # no feeder thread: a message is in the pipe once put, even if its process dies right after
    messages: Any = context.SimpleQueue()

    def said(kind: str) -> Callable[[str], None]:
        return lambda text: messages.put((kind, text, None))

    in_worker = Tell(said("note"), said("detail"))

    def work(index: int) -> None:
        try:
            rows = guarded(tasks[index][0], partial(tasks[index][1], in_worker))
        except VolumeError as err:
            messages.put(("fatal", index, str(err)))
            return
        messages.put(("rows", index, rows))

    found: dict[int, list[Row]] = {}
    running: dict[int, tuple[Any, float]] = {}
    started = 0
    try:
        while started < len(tasks) or running:
            while started < len(tasks) and len(running) < jobs:
                process = context.Process(target=work, args=(started,), daemon=True)
                process.start()
                running[started] = (process, time.monotonic())
                started += 1
            if messages.empty():
                time.sleep(POLL_SECONDS)
                ended = [i for i, (process, _) in running.items() if not process.is_alive()]
                # a process puts its rows before it ends: seen ended with the pipe empty, it
                # ended without them
                if ended and messages.empty():
                    _failed(ended, running, found, tasks)
                continue
            kind, who, what = messages.get()
            if kind == "note":
                tell.note(who)
            elif kind == "detail":
                tell.detail(who)
            elif kind == "rows":
                found[who] = what
                process, _ = running.pop(who)
                process.join()
            else:
                raise VolumeError(what)
    finally:
        for process, _ in running.values():
            if process.is_alive():
                process.terminate()
            process.join()
    return [found[i] for i in range(len(tasks))]


def _failed(ended: list[int], running: dict[int, tuple[Any, float]],
            found: dict[int, list[Row]], tasks: list[Task]) -> None:  # fmt: skip
    """Tasks whose process ended without their rows (killed, out of memory): failed rows."""
    from pitmirror.harness.verify import Row

    for index in ended:
        process, began = running.pop(index)
        process.join()
        found[index] = [Row("?", f"{tasks[index][0]} (its process died: exit "
                            f"{process.exitcode})", "to finish", "stopped", "-",
                            time.monotonic() - began, False)]  # fmt: skip
