"""Sets of volumes for runs: created once, reset between examples, always released.

Attaching loop devices costs milliseconds each, so a property run attaches its four volumes
once and `fresh()` zeroes them (and gives a new metadata directory) for every example.  It
zeroes only the grains written since the last `fresh()`: an example writes a few dozen grains
of a volume of thousands, and the set's volumes are private, written only through
`write_grains` (which tells its listeners).  The full read-back at the end of every example
compares every grain with the model, so a grain the zeroing missed does not go unnoticed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from pitmirror.impl.volumes import (
    Volume,
    VolumeError,
    create_volume,
    detach_loops_under,
    loop_available,
    signals_deferred,
)
from pitmirror.model.extents import runs

BACKENDS = ("auto", "loop", "file", "memory")
ROOT_PREFIX = "pitmirror-"
"""a volume set's private folder is `pitmirror-<pid>-<random>` in the temp directory: the pid
tells `pitmirror cleanup` whether the run that made it is still alive"""
CREATED_ROOTS: set[Path] = set()
"""Every private folder this process made: a leak check can tell its own devices apart."""


def resolve_backend(name: str) -> str:
    """`auto` is a loop device where this process may attach one, else a sparse file."""
    if name not in BACKENDS:
        raise VolumeError(f"unknown backend {name!r} (choose from {', '.join(BACKENDS)})")
    if name == "auto":
        return "loop" if loop_available()[0] else "file"
    if name == "loop":
        ok, reason = loop_available()
        if not ok:
            raise VolumeError(reason)
    return name


def _recorder(written: list[tuple[int, int]]) -> Callable[[int, int], None]:
    def record(first: int, count: int) -> None:
        written.append((first, count))

    return record


def _zero_written(volume: Volume, written: list[tuple[int, int]]) -> None:
    """Zero every grain of the extents `written` (first grain, count), one write per run."""
    grains = {g for first, count in written for g in range(first, first + count)}
    if len(grains) * 2 > volume.grain_count:
        volume.zero()  # one call beats many writes once the extents cover much of it
        return
    for first, count in runs(grains):
        volume.write_grains(first, bytes(count * volume.grain_size))


TENANTS: list[Callable[[], None]] = []
"""how to stop whatever runs on a volume set's volumes outside this process (the two-process
lockstep's child daemon, its link and proxy): each set stops them before it hands its volumes
out again and before it releases them"""


def evict_tenants() -> None:
    while TENANTS:
        TENANTS.pop()()


class VolumeSet:
    """Named volumes of one backend in a private temporary directory: `layout` names them
    (name: grain count, as a design's `volume_layout` gives it), and the names in `files` are
    always regular files (design B's file objects)."""

    def __init__(
        self,
        backend: str,
        grains: int,
        grain_size: int,
        layout: dict[str, int],
        files: frozenset[str] = frozenset(),
    ) -> None:
        self.kind = resolve_backend(backend)
        self.grains, self.grain_size = grains, grain_size
        self.root = Path(tempfile.mkdtemp(prefix=f"{ROOT_PREFIX}{os.getpid()}-"))
        CREATED_ROOTS.add(self.root)
        self.volumes: dict[str, Volume] = {}
        self._written: dict[str, list[tuple[int, int]]] = {}
        """per volume, the extents written since it was last zeroed"""
        self._runs = 0
        try:
            # every volume made is recorded before a signal may unwind through close() below
            with signals_deferred():
                for name, count in layout.items():
                    kind = "file" if name in files else self.kind
                    self.volumes[name] = create_volume(kind, self.root, name, count, grain_size)
        except BaseException:
            self.close()
            raise

    def fresh(self) -> tuple[dict[str, Volume], Path]:
        """All volumes zeroed and an empty metadata directory."""
        evict_tenants()
        for name, volume in self.volumes.items():
            volume.write_listeners.clear()  # the previous run's read-back caches stop listening
            written = self._written.setdefault(name, [])
            if self._runs == 0:
                volume.zero()  # once: nothing has been recorded before the first run
            else:
                _zero_written(volume, written)
            written.clear()
            volume.write_listeners.append(_recorder(written))
        self._runs += 1
        workdir = self.root / f"meta-{self._runs}"
        workdir.mkdir()
        return self.volumes, workdir

    def devices(self) -> list[str]:
        return [v.device for v in self.volumes.values()]

    def close(self) -> None:
        errors: list[str] = []
        with signals_deferred():  # every volume is released, even if a signal comes meanwhile
            evict_tenants()
            for volume in self.volumes.values():
                try:
                    volume.close()
                except VolumeError as err:
                    errors.append(str(err))
            self.volumes.clear()
            shutil.rmtree(self.root, ignore_errors=True)
        if errors:
            raise VolumeError("; ".join(errors))

    def __enter__(self) -> VolumeSet:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with contextlib.suppress(VolumeError) if exc is not None else contextlib.nullcontext():
            self.close()


@dataclass(frozen=True)
class Leftover:
    """A private folder (and loop devices) of a run that died without releasing them."""

    root: Path
    pid: int
    devices: tuple[str, ...] = ()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def leftovers(temp: Path | None = None) -> list[Leftover]:
    """Folders of runs whose process is gone (a kill -9, a power cut), oldest pid first."""
    found = []
    for path in sorted(Path(temp or tempfile.gettempdir()).glob(f"{ROOT_PREFIX}*-*")):
        pid_text = path.name.removeprefix(ROOT_PREFIX).split("-", 1)[0]
        if path.is_dir() and pid_text.isdigit() and not _alive(int(pid_text)):
            found.append(Leftover(path, int(pid_text)))
    return found


def disk_bytes(folder: Path) -> int:
    """The disk space the files under `folder` take (their blocks, not their sizes: sparse
    files count what they hold)."""
    total = 0
    for path in folder.rglob("*"):
        with contextlib.suppress(OSError):
            total += path.lstat().st_blocks * 512
    return total


def clean(leftover: Leftover) -> Leftover:
    """Detach what is still attached under the folder (loop devices are set to autoclear, so
    usually nothing), then remove it."""
    devices = detach_loops_under(leftover.root) if loop_available()[0] else []
    shutil.rmtree(leftover.root, ignore_errors=True)
    return Leftover(leftover.root, leftover.pid, tuple(devices))
