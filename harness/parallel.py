"""`verify`'s checks shared by several processes: each takes the next task no process has taken,
and the rows come back in the tasks' order.

The workers are forked (the checks are closures over the run's settings, and every module is
imported already); each one tells the parent, through one queue, where each check begins and
what rows it found.  A task that raises is a failed row, as in one process (`guarded`); a
`VolumeError` (no loop devices, no root) stops the whole run, as in one process; a worker that
dies (killed, out of memory) leaves a failed row for the task it held and the others go on.
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
    """Each task's rows, in the tasks' order, run by `jobs` forked workers; what they say goes
    to `tell` in this process."""
    from pitmirror.harness.verify import Row, Tell, guarded

    context = multiprocessing.get_context("fork")
    # no feeder thread: a message is in the pipe once put, even if its process dies right after
    messages: Any = context.SimpleQueue()
    taken: Any = context.Value("i", 0)

    def said(kind: str) -> Callable[[str], None]:
        return lambda text: messages.put((kind, text, None))

    in_worker = Tell(said("note"), said("detail"))

    def work(worker: int) -> None:
        while True:
            with taken.get_lock():
                index = taken.value
                taken.value += 1
            if index >= len(tasks):
                break
            messages.put(("took", worker, index))
            try:
                rows = guarded(tasks[index][0], partial(tasks[index][1], in_worker))
            except VolumeError as err:
                messages.put(("fatal", worker, str(err)))
                return
            messages.put(("rows", index, rows))
        messages.put(("done", worker, None))

    workers = [context.Process(target=work, args=(n,), daemon=True) for n in range(jobs)]
    for process in workers:
        process.start()
    found: dict[int, list[Row]] = {}
    holding: dict[int, tuple[int, float]] = {}
    finished: set[int] = set()
    try:
        while len(finished) < len(workers):
            if messages.empty():
                time.sleep(POLL_SECONDS)
                if not messages.empty():
                    continue
                for n, process in enumerate(workers):
                    if n not in finished and not process.is_alive():
                        finished.add(n)
                        if n in holding:  # died inside a task: that task is a failed row
                            index, began = holding.pop(n)
                            label = tasks[index][0]
                            found[index] = [Row("?", f"{label} (its process died: exit "
                                                f"{process.exitcode})", "to finish", "stopped",
                                                "-", time.monotonic() - began, False)]  # fmt: skip
                continue
            kind, who, what = messages.get()
            if kind == "note":
                tell.note(who)
            elif kind == "detail":
                tell.detail(who)
            elif kind == "took":
                holding[who] = (what, time.monotonic())
            elif kind == "rows":
                found[who] = what
                holding = {n: h for n, h in holding.items() if h[0] != who}
            elif kind == "fatal":
                raise VolumeError(what)
            else:
                finished.add(who)
    finally:
        for process in workers:
            if process.is_alive():
                process.terminate()
            process.join()
    missing = [i for i in range(len(tasks)) if i not in found]
    for index in missing:  # taken by a worker that died before it said so
        found[index] = [Row("?", f"{tasks[index][0]} (not run: its process died)", "to finish",
                            "stopped", "-", 0.0, False)]  # fmt: skip
    return [found[i] for i in range(len(tasks))]
