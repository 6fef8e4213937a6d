"""Fixed-size block volumes made of equal grains, with three interchangeable backends.

A volume is ``grain_count`` grains of ``grain_size`` bytes each.  ``MemoryVolume`` keeps
the grains in a bytearray, ``FileVolume`` in a sparse regular file, and ``LoopVolume`` on
a real block device (a loop device over a sparse file, opened with ``O_DIRECT``).  All
three share the ``Volume`` API: extent reads and writes in whole grains (one system call
per extent in the normal case), a durability barrier (``flush``), a durable reset to zeros
(``zero``) and an idempotent ``close`` that releases what the volume acquired.

What it does not do: no caching, no thread safety (one user per volume), no resizing, no
partial-grain I/O, and no cleanup of loop devices leaked by other processes or by a
crash of this one.  Every failure reaches callers as a ``VolumeError`` with a one-line
message; the underlying ``OSError`` is kept as ``__cause__``.

Choices: a volume only ever deletes a backing file it created itself (creation is
exclusive, so an existing file is never clobbered); ``LoopVolume.close`` waits up to
``_DETACH_WAIT_S`` for a detach that another opener deferred; loop ``zero`` uses
BLKZEROOUT so the backing file stays sparse.
"""

from __future__ import annotations

import abc
import contextlib
import errno
import fcntl
import mmap
import operator
import os
import shutil
import signal
import stat
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType, TracebackType
from typing import Final, Self, SupportsIndex, cast

from pitmirror.impl.taps import IoTap

__all__ = [
    "FileVolume",
    "LoopVolume",
    "MemoryVolume",
    "Volume",
    "VolumeError",
    "create_volume",
    "loop_available",
    "detach_loops_under",
]

SECTOR_SIZE: Final = 512
KINDS: Final = ("loop", "file", "memory")

# Kept as a module attribute so tests can point it at a stub that fails on purpose.
_LOSETUP = "losetup"
_LOSETUP_TIMEOUT_S: Final = 30.0
_LOOP_CONTROL: Final = "/dev/loop-control"
_DETACH_WAIT_S: Final = 2.0
# _IO(0x12, 127): the device zeroes the range (the loop driver allocates it in the backing
# file: measured, a 64 MiB sparse file holds 64 MiB of blocks after it).
_BLKZEROOUT: Final = 0x127F
# _IO(0x12, 119): on a loop device the driver punches the range out of the backing file, which
# then reads back as zeros and stays sparse; on other devices a discard need not zero.
_BLKDISCARD: Final = 0x1277
# Bounds the memory the fallback zeroing path needs on a large volume.
_ZERO_CHUNK: Final = 1 << 20


class VolumeError(Exception):
    """One clear, human-readable message (no traceback needed by callers)."""


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _as_int(value: object, what: str) -> int:
    if isinstance(value, bool):
        raise VolumeError(f"{what} must be an integer, got {value!r}")
    try:
        return operator.index(cast(SupportsIndex, value))
    except TypeError:
        raise VolumeError(f"{what} must be an integer, got {value!r}") from None


def _os_error_message(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "no space left on device"
    return exc.strerror or str(exc)


class Volume(abc.ABC):
    """``grain_count`` grains of ``grain_size`` bytes, addressed by grain index."""

    kind: str
    name: str
    grain_count: int
    grain_size: int

    def __init__(self, name: str, grain_count: int, grain_size: int) -> None:
        if not isinstance(name, str) or not name:
            raise VolumeError(f"volume name must be a non-empty string, got {name!r}")
        count = _as_int(grain_count, f"volume {name!r}: grain_count")
        size = _as_int(grain_size, f"volume {name!r}: grain_size")
        if count <= 0:
            raise VolumeError(f"volume {name!r}: grain_count must be positive, got {count}")
        if size <= 0 or size % SECTOR_SIZE:
            raise VolumeError(
                f"volume {name!r}: grain_size must be a positive multiple of "
                f"{SECTOR_SIZE} bytes, got {size}"
            )
        self.name = name
        self.grain_count = count
        self.grain_size = size
        self._closed = False
        self.write_listeners: list[Callable[[int, int], None]] = []
        """called with (first grain, count) after every write or zeroing: what a cache of the
        volume's contents (the harness's read-back, harness/seeds.py) must forget"""
        self.io_log: IoTap | None = None
        """where every write (with the bytes it replaced) and flush is recorded, if attached:
        the power-loss explorer's write log (harness/iolog.py)"""

    # -- public API -------------------------------------------------------------------

    @property
    def size_bytes(self) -> int:
        return self.grain_count * self.grain_size

    @property
    @abc.abstractmethod
    def device(self) -> str:
        """Where the grains live: a device node, a file path or ``memory:<name>``."""

    @property
    def closed(self) -> bool:
        return self._closed

    def read_grains(self, start: int, count: int = 1) -> bytes:
        first, n = self._check_extent("read", start, count)
        try:
            return self._read(first * self.grain_size, n * self.grain_size)
        except OSError as exc:
            raise self._io_error("read", first, n, exc) from exc

    def write_grains(self, start: int, data: bytes) -> None:
        length = len(data)
        if length <= 0 or length % self.grain_size:
            raise VolumeError(
                f"{self._label()}: write of {length} bytes is not a positive multiple "
                f"of the grain size {self.grain_size}"
            )
        first, n = self._check_extent("write", start, length // self.grain_size)
        offset = first * self.grain_size
        try:
            before = self._read(offset, length) if self.io_log is not None else b""
            self._write(offset, data)
        except OSError as exc:
            raise self._io_error("write", first, n, exc) from exc
        finally:  # a failed write may have changed some of the grains
            for listener in self.write_listeners:
                listener(first, n)
        if self.io_log is not None:
            self.io_log.wrote(self.name, offset, data, before)

    def flush(self) -> None:
        self._check_open("flush")
        try:
            self._flush()
        except OSError as exc:
            raise VolumeError(f"{self._label()}: flush failed: {_os_error_message(exc)}") from exc
        if self.io_log is not None:
            self.io_log.flushed(self.name)

    def zero(self) -> None:
        self._check_open("zero")
        try:
            self._zero()
        except OSError as exc:
            raise VolumeError(f"{self._label()}: zeroing failed: {_os_error_message(exc)}") from exc
        finally:
            for listener in self.write_listeners:
                listener(0, self.grain_count)

    def close(self) -> None:
        if self._closed:
            return
        # Marked first so a failing release is not retried by a later close() or __exit__.
        self._closed = True
        with signals_deferred():
            self._release()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return (
            f"<{type(self).__name__} {self.name!r} {self.device} "
            f"{self.grain_count}x{self.grain_size} {state}>"
        )

    # -- backend hooks ----------------------------------------------------------------

    @abc.abstractmethod
    def _read(self, offset: int, length: int) -> bytes: ...

    @abc.abstractmethod
    def _write(self, offset: int, data: bytes) -> None: ...

    @abc.abstractmethod
    def _flush(self) -> None: ...

    @abc.abstractmethod
    def _zero(self) -> None: ...

    @abc.abstractmethod
    def _release(self) -> None: ...

    # -- helpers ----------------------------------------------------------------------

    def _label(self) -> str:
        return f"{self.kind} volume {self.name!r} ({self.device})"

    def _check_open(self, op: str) -> None:
        if self._closed:
            raise VolumeError(f"{self._label()}: cannot {op}, the volume is closed")

    def _check_extent(self, op: str, start: object, count: object) -> tuple[int, int]:
        self._check_open(op)
        first = _as_int(start, f"{self._label()}: {op} start grain")
        n = _as_int(count, f"{self._label()}: {op} grain count")
        if n <= 0:
            raise VolumeError(
                f"{self._label()}: {op} of {n} grains at grain {first}: count must be positive"
            )
        if first < 0 or first + n > self.grain_count:
            raise VolumeError(
                f"{self._label()}: {op} of grains [{first}, {first + n}) is outside "
                f"[0, {self.grain_count})"
            )
        return first, n

    def _io_error(self, op: str, first: int, n: int, exc: OSError) -> VolumeError:
        return VolumeError(
            f"{self._label()}: {op} of grains [{first}, {first + n}) failed: "
            f"{_os_error_message(exc)}"
        )


class MemoryVolume(Volume):
    """Grains in process memory; ``flush`` is a no-op and nothing survives ``close``."""

    kind = "memory"

    def __init__(self, name: str, grain_count: int, grain_size: int) -> None:
        super().__init__(name, grain_count, grain_size)
        self._data = bytearray(self.size_bytes)

    @property
    def device(self) -> str:
        return f"memory:{self.name}"

    def _read(self, offset: int, length: int) -> bytes:
        with memoryview(self._data) as view:
            return bytes(view[offset : offset + length])

    def _write(self, offset: int, data: bytes) -> None:
        self._data[offset : offset + len(data)] = data

    def _flush(self) -> None:
        pass

    def _zero(self) -> None:
        self._data = bytearray(self.size_bytes)

    def _release(self) -> None:
        self._data = bytearray()


STOP_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGALRM})
"""What stops a run (SIGALRM: the CLI repeats an interrupt with it until the run unwinds)."""


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Ctrl-C, SIGTERM, SIGHUP and SIGALRM wait until the block is done, then act as they
    would have.

    Attaching a loop device and remembering it, or releasing a set of volumes, must not be cut
    in half: a signal in between leaves a device attached that nobody detaches.  The handlers
    are swapped rather than the signals masked: a process-directed signal reaches any thread
    that leaves it unmasked (numpy's BLAS threads do), and Python then runs its handler in the
    main thread at once.
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers belong to the main thread
        return
    pending: list[signal.Signals] = []

    def hold(signum: int, frame: FrameType | None) -> None:
        pending.append(signal.Signals(signum))

    previous = {signum: signal.signal(signum, hold) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            if handler is not None:
                signal.signal(signum, handler)
        if pending:
            _deliver(pending[0], previous[pending[0]])


def _deliver(signum: int, handler: object) -> None:
    if callable(handler):
        handler(signum, None)
    elif handler == signal.SIG_DFL:
        signal.raise_signal(signum)


def _create_sparse_file(path: Path, size: int, label: str) -> int:
    """Create ``path`` exclusively (never clobber, so close() only ever deletes our own file)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except FileExistsError:
        raise VolumeError(f"{label}: cannot create {path}: the file already exists") from None
    except OSError as exc:
        raise VolumeError(f"{label}: cannot create {path}: {_os_error_message(exc)}") from exc
    try:
        os.ftruncate(fd, size)
    except OSError as exc:
        os.close(fd)
        _unlink_quietly(path)
        raise VolumeError(
            f"{label}: cannot size {path} to {size} bytes: {_os_error_message(exc)}"
        ) from exc
    return fd


def _unlink_quietly(path: Path) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


class FileVolume(Volume):
    """Grains in a sparse regular file, accessed with pread/pwrite on one descriptor."""

    kind = "file"

    def __init__(
        self,
        path: Path | str,
        name: str,
        grain_count: int,
        grain_size: int,
        create: bool = True,
    ) -> None:
        super().__init__(name, grain_count, grain_size)
        self.path = Path(path)
        self._owns_file = create
        if create:
            self._fd = _create_sparse_file(self.path, self.size_bytes, self._label())
            return
        try:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CLOEXEC)
        except OSError as exc:
            raise VolumeError(
                f"{self._label()}: cannot open {self.path}: {_os_error_message(exc)}"
            ) from exc
        try:
            actual = os.fstat(self._fd).st_size
        except OSError as exc:
            os.close(self._fd)
            raise VolumeError(
                f"{self._label()}: cannot stat {self.path}: {_os_error_message(exc)}"
            ) from exc
        if actual != self.size_bytes:
            os.close(self._fd)
            raise VolumeError(
                f"{self._label()}: {self.path} holds {actual} bytes, expected "
                f"{self.size_bytes} ({self.grain_count} grains of {self.grain_size})"
            )

    @property
    def device(self) -> str:
        return str(self.path)

    def _read(self, offset: int, length: int) -> bytes:
        data = os.pread(self._fd, length, offset)
        if len(data) == length:
            return data
        # Short reads only happen if someone shrank the file under us; finish or fail.
        parts = [data]
        done = len(data)
        while done < length:
            chunk = os.pread(self._fd, length - done, offset + done)
            if not chunk:
                raise OSError(errno.EIO, f"file ends {length - done} bytes short of the extent")
            parts.append(chunk)
            done += len(chunk)
        return b"".join(parts)

    def _write(self, offset: int, data: bytes) -> None:
        done = os.pwrite(self._fd, data, offset)
        if done == len(data):
            return
        with memoryview(data) as view:
            while done < len(data):
                n = os.pwrite(self._fd, view[done:], offset + done)
                if n <= 0:
                    raise OSError(errno.EIO, "short write")
                done += n

    def _flush(self) -> None:
        os.fsync(self._fd)

    def _zero(self) -> None:
        # Truncating to 0 and back drops every block, which both zeroes and keeps it sparse.
        os.ftruncate(self._fd, 0)
        os.ftruncate(self._fd, self.size_bytes)
        os.fsync(self._fd)

    def _release(self) -> None:
        try:
            os.close(self._fd)
        except OSError as exc:
            raise VolumeError(f"{self._label()}: close failed: {_os_error_message(exc)}") from exc
        finally:
            self._fd = -1
            if self._owns_file:
                _unlink_quietly(self.path)


def loop_available() -> tuple[bool, str]:
    """(True, "") if loop volumes can be made here, else (False, why not)."""
    uid = os.geteuid()
    if uid != 0:
        return False, f"loop devices need root (running as uid {uid})"
    if shutil.which(_LOSETUP) is None:
        return False, f"loop devices need {_LOSETUP!r} on PATH (not found)"
    if not os.path.exists(_LOOP_CONTROL):
        return False, f"loop devices need {_LOOP_CONTROL} (missing; is the loop module loaded?)"
    return True, ""


def _losetup(args: list[str], label: str) -> str:
    cmd = [_LOSETUP, *args]
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=_LOSETUP_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise VolumeError(f"{label}: {' '.join(cmd)} could not run: {_one_line(str(exc))}") from exc
    if proc.returncode != 0:
        detail = _one_line(proc.stderr) or f"exit status {proc.returncode}"
        raise VolumeError(f"{label}: {' '.join(cmd)} failed: {detail}")
    return proc.stdout.strip()


def _backing_file(device: str) -> str | None:
    """The file ``device`` is bound to now, or None once it is free."""
    sysfs = Path("/sys/block") / Path(device).name / "loop" / "backing_file"
    try:
        return sysfs.read_text().strip().removesuffix(" (deleted)")
    except OSError:
        return None


def detach_loops_under(folder: Path) -> list[str]:
    """Detach every loop device whose backing file lies under `folder` (a dead run's); the
    devices detached, by name."""
    root = os.path.realpath(folder) + os.sep
    detached = []
    for entry in sorted(Path("/sys/block").glob("loop*")):
        device = f"/dev/{entry.name}"
        backing = _backing_file(device)
        if backing is not None and backing.startswith(root):
            _losetup(["-d", device], f"leftover {device}")
            detached.append(device)
    return detached


def _wait_detached(device: str, path: Path) -> None:
    # While anyone else holds the device open (udev, blkid, a concurrent `losetup -l`),
    # the kernel only marks it autoclear and `losetup -d` returns at once; waiting here
    # makes "close() returned" mean "the device is gone" in all but pathological cases.
    # After the bound the kernel still detaches on the last close, so no error is raised.
    deadline = time.monotonic() + _DETACH_WAIT_S
    target = os.path.realpath(path)
    while _backing_file(device) == target and time.monotonic() < deadline:
        time.sleep(0.005)


_LOOP_SET_STATUS64: Final = 0x4C04
_LOOP_GET_STATUS64: Final = 0x4C05
_LO_FLAGS_AUTOCLEAR: Final = 4
_LOOP_INFO64_SIZE: Final = 232  # struct loop_info64 (linux/loop.h)
_LO_FLAGS_AT: Final = 52  # five __u64, then lo_number, lo_encrypt_type, lo_encrypt_key_size


def _set_autoclear(fd: int) -> bool:
    """Ask the kernel to detach the device when its last opener closes it: a run killed
    outright (kill -9) then leaves no loop device behind.  False if the kernel refused."""
    info = bytearray(_LOOP_INFO64_SIZE)
    try:
        fcntl.ioctl(fd, _LOOP_GET_STATUS64, info)
        flags = int.from_bytes(info[_LO_FLAGS_AT : _LO_FLAGS_AT + 4], sys.byteorder)
        info[_LO_FLAGS_AT : _LO_FLAGS_AT + 4] = (flags | _LO_FLAGS_AUTOCLEAR).to_bytes(
            4, sys.byteorder
        )
        fcntl.ioctl(fd, _LOOP_SET_STATUS64, info)
    except OSError:
        return False
    return True


def _open_direct(device: str) -> int:
    # A seam of its own so tests can make the open fail after a successful attach.
    return os.open(device, os.O_RDWR | os.O_DIRECT | os.O_CLOEXEC)


class LoopVolume(Volume):
    """Grains on a loop device over a sparse file it creates; O_DIRECT, so no page cache.

    O_DIRECT rejects unaligned buffers with EINVAL, so every transfer goes through one
    page-aligned anonymous ``mmap`` that grows to the largest extent seen.
    """

    kind = "loop"

    def __init__(self, path: Path | str, name: str, grain_count: int, grain_size: int) -> None:
        super().__init__(name, grain_count, grain_size)
        self.path = Path(path)
        self._device = ""
        self._fd = -1
        self._buf: mmap.mmap | None = None
        self.autoclear = False
        ok, reason = loop_available()
        if not ok:
            raise VolumeError(f"{self._label()}: {reason}")
        os.close(_create_sparse_file(self.path, self.size_bytes, self._label()))
        try:
            # attached and recorded as one step: a signal waits, then unwinds through the
            # release below, which detaches what was recorded and removes the file
            with signals_deferred():
                self._device = _losetup(["-f", "--show", str(self.path)], self._label())
            device = self._device
            if not device.startswith("/dev/"):
                raise VolumeError(f"{self._label()}: losetup printed {device!r}, not a device path")
            try:
                self._fd = _open_direct(device)
            except OSError as exc:
                raise VolumeError(
                    f"{self._label()}: cannot open {device} with O_DIRECT: {_os_error_message(exc)}"
                ) from exc
            self.autoclear = _set_autoclear(self._fd)
            try:
                actual = os.lseek(self._fd, 0, os.SEEK_END)
            except OSError as exc:
                raise VolumeError(
                    f"{self._label()}: cannot size {device}: {_os_error_message(exc)}"
                ) from exc
            if actual != self.size_bytes:
                raise VolumeError(
                    f"{self._label()}: {device} has {actual} bytes, expected {self.size_bytes}"
                )
        except BaseException as exc:
            # Detach before raising so a half-built volume leaves no device behind.
            self._closed = True
            try:
                self._release()
            except VolumeError as cleanup:
                exc.add_note(str(cleanup))
            raise

    @property
    def device(self) -> str:
        return self._device or f"loop:{self.path}"

    def _buffer(self, length: int) -> mmap.mmap:
        if self._buf is None or len(self._buf) < length:
            if self._buf is not None:
                self._buf.close()
                self._buf = None
            self._buf = mmap.mmap(-1, length)
        return self._buf

    def _read(self, offset: int, length: int) -> bytes:
        buf = self._buffer(length)
        with memoryview(buf) as whole, whole[:length] as view:
            done = os.preadv(self._fd, [view], offset)
            # Kernel may split a request; retry the rest (tails stay sector-aligned).
            while done < length:
                n = os.preadv(self._fd, [view[done:]], offset + done)
                if n <= 0:
                    raise OSError(errno.EIO, f"device ends {length - done} bytes short")
                done += n
            return bytes(view)

    def _write(self, offset: int, data: bytes) -> None:
        length = len(data)
        buf = self._buffer(length)
        with memoryview(buf) as whole, whole[:length] as view:
            view[:] = data
            done = os.pwritev(self._fd, [view], offset)
            while done < length:
                n = os.pwritev(self._fd, [view[done:]], offset + done)
                if n <= 0:
                    raise OSError(errno.EIO, "short write")
                done += n

    def _flush(self) -> None:
        os.fsync(self._fd)

    def _zero(self) -> None:
        """Holes punched in our own backing file: zeros that take no disk (a killed run leaves
        a sparse folder behind, not the volumes' full size)."""
        if not self._whole_range(_BLKDISCARD):
            self._zero_out()
        os.fsync(self._fd)

    def _zero_out(self) -> None:
        if not self._whole_range(_BLKZEROOUT):
            self._zero_by_writing()

    def _whole_range(self, request: int) -> bool:
        """The device did `request` over the whole volume; False when it does not support it."""
        try:
            fcntl.ioctl(self._fd, request, struct.pack("=QQ", 0, self.size_bytes))
        except OSError as exc:
            if exc.errno not in (errno.EOPNOTSUPP, errno.ENOTTY, errno.EINVAL):
                raise
            return False
        return True

    def _zero_by_writing(self) -> None:
        chunk = max(self.grain_size, _ZERO_CHUNK // self.grain_size * self.grain_size)
        chunk = min(chunk, self.size_bytes)
        buf = self._buffer(chunk)
        with memoryview(buf) as whole, whole[:chunk] as view:
            view[:] = bytes(chunk)
            offset = 0
            while offset < self.size_bytes:
                n = os.pwritev(self._fd, [view[: min(chunk, self.size_bytes - offset)]], offset)
                if n <= 0:
                    raise OSError(errno.EIO, "short write")
                offset += n

    def _release(self) -> None:
        errors: list[str] = []
        try:
            try:
                if self._fd >= 0:
                    os.close(self._fd)
            except OSError as exc:
                errors.append(f"closing {self._device} failed: {_os_error_message(exc)}")
            finally:
                self._fd = -1
                if self._buf is not None:
                    self._buf.close()
                    self._buf = None
        finally:
            try:
                if self._device:
                    # with autoclear our close detached it (or will, once another opener
                    # closes); only a device still bound to our file is detached by name
                    if self.autoclear:
                        _wait_detached(self._device, self.path)
                    if _backing_file(self._device) == os.path.realpath(self.path):
                        _losetup(["-d", self._device], self._label())
                        _wait_detached(self._device, self.path)
            except VolumeError as exc:
                errors.append(str(exc))
            finally:
                try:
                    os.unlink(self.path)
                except FileNotFoundError:
                    pass
                except OSError as exc:
                    errors.append(f"removing {self.path} failed: {_os_error_message(exc)}")
        if errors:
            raise VolumeError(f"{self._label()}: release incomplete: " + "; ".join(errors))


def create_volume(
    kind: str, directory: Path, name: str, grain_count: int, grain_size: int
) -> Volume:
    """Build a volume of ``kind``; file-backed kinds put ``<name>.img`` in ``directory``."""
    if kind == "memory":
        return MemoryVolume(name, grain_count, grain_size)
    if kind not in KINDS:
        raise VolumeError(f"unknown volume kind {kind!r} (expected one of {', '.join(KINDS)})")
    if not isinstance(name, str) or not name or "/" in name or name in (".", ".."):
        raise VolumeError(f"volume name {name!r} cannot be used as a file name")
    path = Path(directory) / f"{name}.img"
    if kind == "file":
        return FileVolume(path, name, grain_count, grain_size, create=True)
    ok, reason = loop_available()
    if not ok:
        raise VolumeError(f"cannot create loop volume {name!r}: {reason}")
    return LoopVolume(path, name, grain_count, grain_size)


class BlockVolume(LoopVolume):
    """An existing block device (a disk, a partition, a loop device someone attached), opened
    with O_DIRECT; it is the user's: never created, detached or removed here."""

    kind = "block"

    def __init__(self, device: str, name: str, grain_size: int) -> None:
        Volume.__init__(self, name, 1, grain_size)
        self.path, self._device, self._buf, self.autoclear = Path(device), device, None, False
        try:
            self._fd = _open_direct(device)
        except OSError as exc:
            raise VolumeError(
                f"{self._label()}: cannot open {device} with O_DIRECT: {_os_error_message(exc)}"
            ) from exc
        size = os.lseek(self._fd, 0, os.SEEK_END)
        if size == 0 or size % grain_size:
            os.close(self._fd)
            raise VolumeError(
                f"{self._label()}: {device} holds {size} bytes, not a whole number of "
                f"{grain_size}-byte grains"
            )
        self.grain_count = size // grain_size

    def _zero(self) -> None:
        """The user's device: a discard need not zero it, so the device zeroes the range."""
        self._zero_out()
        os.fsync(self._fd)

    def _release(self) -> None:
        try:
            os.close(self._fd)
        except OSError as exc:
            raise VolumeError(f"{self._label()}: close failed: {_os_error_message(exc)}") from exc
        finally:
            self._fd = -1
            if self._buf is not None:
                self._buf.close()
                self._buf = None


def open_volume(path: Path | str, name: str, grain_size: int) -> Volume:
    """An existing regular file or block device as a volume of `grain_size`-byte grains, its
    grain count from its size; VolumeError when it is neither or not a whole number of grains."""
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        raise VolumeError(f"volume {name!r}: {path}: {_os_error_message(exc)}") from exc
    if stat.S_ISBLK(mode):
        return BlockVolume(str(path), name, grain_size)
    if not stat.S_ISREG(mode):
        raise VolumeError(f"volume {name!r}: {path} is neither a regular file nor a block device")
    size = os.stat(path).st_size
    if size == 0 or size % grain_size:
        raise VolumeError(
            f"volume {name!r}: {path} holds {size} bytes, not a whole number of "
            f"{grain_size}-byte grains"
        )
    return FileVolume(path, name, size // grain_size, grain_size, create=False)
