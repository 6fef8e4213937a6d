"""Tests for pitmirror.impl.volumes: the same grain/extent contract on every backend.

Loop-device tests need root; elsewhere they skip with loop_available()'s reason.  Every
test also checks that no loop device is left backed by a file under its tmp_path.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from pitmirror.impl import volumes
from pitmirror.impl.volumes import (
    FileVolume,
    LoopVolume,
    MemoryVolume,
    Volume,
    VolumeError,
    create_volume,
    loop_available,
    open_volume,
    signals_deferred,
)

KINDS = ["memory", "file", pytest.param("loop", marks=pytest.mark.loop)]
GRAIN_SIZE_BYTES = 4096
GRAIN_COUNT = 8


def pattern(grain: int, salt: str = "") -> bytes:
    """A grain's worth of bytes unique to (grain, salt), so misplaced data cannot pass."""
    digest = hashlib.sha256(f"{salt}:{grain}".encode()).digest()
    return digest * (GRAIN_SIZE_BYTES // len(digest))


def extent(first: int, count: int, salt: str = "") -> bytes:
    return b"".join(pattern(g, salt) for g in range(first, first + count))


def loop_devices_under(root: Path) -> dict[str, str]:
    """Attached loop devices whose backing file lies under ``root`` (device -> file)."""
    proc = subprocess.run(["losetup", "-J", "-l"], capture_output=True, text=True, check=True)
    if not proc.stdout.strip():
        return {}
    found: dict[str, str] = {}
    for dev in json.loads(proc.stdout).get("loopdevices", []):
        # A backing file removed while still attached is listed with this suffix.
        back = str(dev.get("back-file") or "").removesuffix(" (deleted)")
        if back and Path(back).is_relative_to(root):
            found[str(dev["name"])] = back
    return found


@pytest.fixture(scope="module", autouse=True)
def no_loop_devices_left_by_module(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    base = tmp_path_factory.getbasetemp()
    before = loop_devices_under(base) if loop_available()[0] else {}
    yield
    if loop_available()[0]:
        assert loop_devices_under(base) == before


@pytest.fixture(autouse=True)
def no_loop_devices_left_by_test(tmp_path: Path) -> Iterator[None]:
    yield
    if loop_available()[0]:
        assert loop_devices_under(tmp_path) == {}


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    value = str(request.param)
    if value == "loop":
        request.getfixturevalue("loop_backend")
    return value


@pytest.fixture
def volume(kind: str, tmp_path: Path) -> Iterator[Volume]:
    with create_volume(kind, tmp_path, "vol", GRAIN_COUNT, GRAIN_SIZE_BYTES) as vol:
        yield vol


# -- the shared contract ------------------------------------------------------------------


def test_properties(volume: Volume, kind: str, tmp_path: Path) -> None:
    assert volume.kind == kind
    assert volume.name == "vol"
    assert volume.grain_count == GRAIN_COUNT
    assert volume.grain_size == GRAIN_SIZE_BYTES
    assert volume.size_bytes == GRAIN_COUNT * GRAIN_SIZE_BYTES
    if kind == "memory":
        assert volume.device == "memory:vol"
    elif kind == "file":
        assert volume.device == str(tmp_path / "vol.img")
    else:
        assert volume.device.startswith("/dev/loop")
    assert not volume.closed


def test_new_volume_reads_zeros(volume: Volume) -> None:
    assert volume.read_grains(0, GRAIN_COUNT) == bytes(volume.size_bytes)


def test_single_grain_round_trip(volume: Volume) -> None:
    for g in range(GRAIN_COUNT):
        volume.write_grains(g, pattern(g))
    volume.flush()
    for g in range(GRAIN_COUNT):
        assert volume.read_grains(g) == pattern(g), f"grain {g}"
    assert volume.read_grains(0, GRAIN_COUNT) == extent(0, GRAIN_COUNT)


def test_multi_grain_extent_round_trip(volume: Volume) -> None:
    volume.write_grains(2, extent(2, 4, "a"))
    got = volume.read_grains(1, 6)
    assert got[:GRAIN_SIZE_BYTES] == bytes(GRAIN_SIZE_BYTES)
    assert got[GRAIN_SIZE_BYTES : 5 * GRAIN_SIZE_BYTES] == extent(2, 4, "a")
    assert got[5 * GRAIN_SIZE_BYTES :] == bytes(GRAIN_SIZE_BYTES)
    for g in range(2, 6):
        assert volume.read_grains(g) == pattern(g, "a"), f"grain {g}"


def test_overwrite_inside_extent(volume: Volume) -> None:
    volume.write_grains(0, extent(0, GRAIN_COUNT, "old"))
    volume.write_grains(3, extent(3, 2, "new"))
    expected = extent(0, 3, "old") + extent(3, 2, "new") + extent(5, GRAIN_COUNT - 5, "old")
    assert volume.read_grains(0, GRAIN_COUNT) == expected


def test_zero_resets_every_grain(volume: Volume) -> None:
    volume.write_grains(0, extent(0, GRAIN_COUNT))
    volume.flush()
    volume.zero()
    assert volume.read_grains(0, GRAIN_COUNT) == bytes(volume.size_bytes)
    volume.write_grains(7, pattern(7, "after"))
    assert volume.read_grains(7) == pattern(7, "after")
    assert volume.read_grains(0, 7) == bytes(7 * GRAIN_SIZE_BYTES)


def test_zeroing_a_loop_volume_leaves_its_backing_file_sparse(
    loop_backend: str, tmp_path: Path
) -> None:
    """A killed run leaves its folder behind: zeroed volumes must take no disk (BLKZEROOUT
    made the loop driver allocate every block; a discard punches them out)."""
    with create_volume("loop", tmp_path, "vol", 256, GRAIN_SIZE_BYTES) as vol:
        assert isinstance(vol, LoopVolume)
        vol.write_grains(0, extent(0, 256))
        vol.flush()
        assert vol.path.stat().st_blocks * 512 >= vol.size_bytes
        vol.zero()
        assert vol.path.stat().st_blocks * 512 < vol.size_bytes // 16
        assert vol.read_grains(0, 256) == bytes(vol.size_bytes)


@pytest.mark.parametrize(
    ("start", "count", "bad_range"),
    [(-1, 1, "[-1, 0)"), (GRAIN_COUNT, 1, "[8, 9)"), (GRAIN_COUNT - 1, 2, "[7, 9)")],
)
def test_read_out_of_range(volume: Volume, start: int, count: int, bad_range: str) -> None:
    with pytest.raises(VolumeError, match="'vol'") as info:
        volume.read_grains(start, count)
    assert bad_range in str(info.value)


def test_read_of_no_grains(volume: Volume) -> None:
    with pytest.raises(VolumeError, match="count must be positive"):
        volume.read_grains(0, 0)


@pytest.mark.parametrize(
    ("start", "grains", "bad_range"),
    [(-2, 1, "[-2, -1)"), (GRAIN_COUNT, 1, "[8, 9)"), (GRAIN_COUNT - 1, 2, "[7, 9)")],
)
def test_write_out_of_range(volume: Volume, start: int, grains: int, bad_range: str) -> None:
    with pytest.raises(VolumeError, match="'vol'") as info:
        volume.write_grains(start, extent(0, grains))
    assert bad_range in str(info.value)
    assert volume.read_grains(0, GRAIN_COUNT) == bytes(volume.size_bytes)


@pytest.mark.parametrize("length", [0, 1, GRAIN_SIZE_BYTES - 512, GRAIN_SIZE_BYTES + 512])
def test_write_of_partial_grains(volume: Volume, length: int) -> None:
    with pytest.raises(VolumeError, match=f"'vol'.*{length} bytes.*grain size 4096"):
        volume.write_grains(0, b"\xff" * length)


@pytest.mark.parametrize("grain_size", [0, -512, 100, 513, 1000])
def test_bad_grain_size(kind: str, tmp_path: Path, grain_size: int) -> None:
    with pytest.raises(
        VolumeError, match=f"grain_size must be a positive multiple of 512.*{grain_size}"
    ):
        create_volume(kind, tmp_path, "bad", GRAIN_COUNT, grain_size)
    assert list(tmp_path.iterdir()) == []


def test_bad_grain_count(kind: str, tmp_path: Path) -> None:
    with pytest.raises(VolumeError, match="grain_count must be positive"):
        create_volume(kind, tmp_path, "bad", 0, GRAIN_SIZE_BYTES)
    assert list(tmp_path.iterdir()) == []


def test_close_is_idempotent(kind: str, tmp_path: Path) -> None:
    vol = create_volume(kind, tmp_path, "vol", GRAIN_COUNT, GRAIN_SIZE_BYTES)
    vol.write_grains(0, pattern(0))
    vol.close()
    vol.close()
    assert vol.closed
    assert list(tmp_path.iterdir()) == [], "a created backing file outlived close()"
    with pytest.raises(VolumeError, match="closed"):
        vol.read_grains(0)
    with pytest.raises(VolumeError, match="closed"):
        vol.write_grains(0, pattern(0))
    with pytest.raises(VolumeError, match="closed"):
        vol.flush()
    with pytest.raises(VolumeError, match="closed"):
        vol.zero()


def test_exit_closes_on_exception(kind: str, tmp_path: Path) -> None:
    with (
        pytest.raises(RuntimeError, match="boom"),
        create_volume(kind, tmp_path, "vol", GRAIN_COUNT, GRAIN_SIZE_BYTES) as vol,
    ):
        raise RuntimeError("boom")
    assert vol.closed
    assert list(tmp_path.iterdir()) == []


# -- factory and availability -------------------------------------------------------------


def test_unknown_kind(tmp_path: Path) -> None:
    with pytest.raises(VolumeError, match="unknown volume kind 'tape'"):
        create_volume("tape", tmp_path, "vol", GRAIN_COUNT, GRAIN_SIZE_BYTES)


def test_loop_unavailable_without_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert loop_available() == (False, "loop devices need root (running as uid 1000)")
    with pytest.raises(VolumeError, match=r"need root \(running as uid 1000\)"):
        create_volume("loop", tmp_path, "vol", GRAIN_COUNT, GRAIN_SIZE_BYTES)
    assert list(tmp_path.iterdir()) == []


def test_loop_unavailable_without_losetup(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(volumes, "_LOSETUP", "no-such-losetup-binary")
    ok, reason = loop_available()
    assert not ok
    assert "no-such-losetup-binary" in reason


def test_memory_volume_direct() -> None:
    with MemoryVolume("m", 2, 512) as vol:
        vol.write_grains(0, b"\x01" * 1024)
        assert vol.read_grains(1) == b"\x01" * 512


# -- file backend ---------------------------------------------------------------------------


def test_file_data_persists_after_close_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "keep.img"
    path.touch()
    os.truncate(path, GRAIN_COUNT * GRAIN_SIZE_BYTES)
    with FileVolume(path, "keep", GRAIN_COUNT, GRAIN_SIZE_BYTES, create=False) as vol:
        vol.write_grains(1, extent(1, 3, "p"))
        vol.flush()
    assert path.exists(), "close() removed a file the volume did not create"
    with FileVolume(path, "keep", GRAIN_COUNT, GRAIN_SIZE_BYTES, create=False) as vol:
        assert vol.read_grains(1, 3) == extent(1, 3, "p")
        assert vol.read_grains(0) == bytes(GRAIN_SIZE_BYTES)


def test_file_created_volume_is_sparse_and_removed(tmp_path: Path) -> None:
    path = tmp_path / "sparse.img"
    with FileVolume(path, "sparse", 1024, GRAIN_SIZE_BYTES) as vol:
        assert path.stat().st_size == vol.size_bytes
        assert path.stat().st_blocks * 512 < vol.size_bytes
    assert not path.exists()


def test_file_create_refuses_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "taken.img"
    path.write_bytes(b"precious")
    with pytest.raises(VolumeError, match="already exists"):
        FileVolume(path, "taken", GRAIN_COUNT, GRAIN_SIZE_BYTES)
    assert path.read_bytes() == b"precious"


def test_file_open_checks_size(tmp_path: Path) -> None:
    path = tmp_path / "short.img"
    path.write_bytes(bytes(GRAIN_SIZE_BYTES))
    with pytest.raises(VolumeError, match="holds 4096 bytes, expected 32768"):
        FileVolume(path, "short", GRAIN_COUNT, GRAIN_SIZE_BYTES, create=False)
    with pytest.raises(VolumeError, match="cannot open"):
        FileVolume(tmp_path / "missing.img", "m", GRAIN_COUNT, GRAIN_SIZE_BYTES, create=False)


def test_file_enospc_becomes_volume_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(fd: int, data: bytes, offset: int) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with FileVolume(tmp_path / "full.img", "full", GRAIN_COUNT, GRAIN_SIZE_BYTES) as vol:
        monkeypatch.setattr(os, "pwrite", full)
        with pytest.raises(VolumeError, match=r"'full'.*\[2, 4\).*no space left on device"):
            vol.write_grains(2, extent(2, 2))
        monkeypatch.undo()


# -- a user's own file or device (the product's volumes) -------------------------------------


def test_open_volume_takes_an_existing_file_and_leaves_it(tmp_path: Path) -> None:
    path = tmp_path / "mine.img"
    path.write_bytes(bytes(3 * GRAIN_SIZE_BYTES))
    with open_volume(path, "mine", GRAIN_SIZE_BYTES) as vol:
        assert (vol.kind, vol.grain_count) == ("file", 3)
        vol.write_grains(2, pattern(2, "mine"))
        vol.flush()
    assert path.read_bytes()[2 * GRAIN_SIZE_BYTES :] == pattern(2, "mine")


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda p: p.write_bytes(bytes(GRAIN_SIZE_BYTES + 512)), "not a whole number of"),
        (lambda p: p.write_bytes(b""), "holds 0 bytes"),
        (lambda p: p.mkdir(), "neither a regular file nor a block device"),
        (lambda p: None, "No such file or directory"),
    ],
)
def test_open_volume_refuses_what_is_no_volume(tmp_path: Path, make: object, words: str) -> None:
    path = tmp_path / "bad.img"
    make(path)  # type: ignore[operator]
    with pytest.raises(VolumeError, match=words):
        open_volume(path, "bad", GRAIN_SIZE_BYTES)


def test_open_volume_takes_a_block_device_and_leaves_it(tmp_path: Path, loop_backend: str) -> None:
    """A loop device someone else attached: opened with O_DIRECT, sized from the device, and
    still attached after close."""
    with LoopVolume(tmp_path / "theirs.img", "theirs", GRAIN_COUNT, GRAIN_SIZE_BYTES) as theirs:
        with open_volume(theirs.device, "mine", GRAIN_SIZE_BYTES) as vol:
            assert (vol.kind, vol.grain_count, vol.device) == ("block", GRAIN_COUNT, theirs.device)
            vol.write_grains(1, pattern(1, "block"))
            vol.flush()
        assert theirs.read_grains(1) == pattern(1, "block")
        assert loop_devices_under(tmp_path) == {theirs.device: str(tmp_path / "theirs.img")}
        with pytest.raises(VolumeError, match="not a whole number of"):
            open_volume(theirs.device, "odd", 3 * GRAIN_SIZE_BYTES)


# -- loop backend ---------------------------------------------------------------------------


def test_loop_device_comes_from_losetup(tmp_path: Path, loop_backend: str) -> None:
    path = tmp_path / "dev.img"
    with LoopVolume(path, "dev", GRAIN_COUNT, GRAIN_SIZE_BYTES) as vol:
        assert loop_devices_under(tmp_path) == {vol.device: str(path)}
        vol.write_grains(5, pattern(5, "through"))
        vol.flush()
        # The device writes must land in the backing file at the grain's offset.
        with path.open("rb") as backing:
            backing.seek(5 * GRAIN_SIZE_BYTES)
            assert backing.read(GRAIN_SIZE_BYTES) == pattern(5, "through")
    assert loop_devices_under(tmp_path) == {}
    assert not path.exists()


def test_loop_whole_volume_extent_after_small_ones(tmp_path: Path, loop_backend: str) -> None:
    # Grows the aligned transfer buffer from one grain to the whole volume and back.
    with LoopVolume(tmp_path / "grow.img", "grow", GRAIN_COUNT, GRAIN_SIZE_BYTES) as vol:
        vol.write_grains(0, pattern(0, "s"))
        vol.write_grains(0, extent(0, GRAIN_COUNT, "w"))
        vol.write_grains(6, pattern(6, "s"))
        assert vol.read_grains(0, GRAIN_COUNT) == extent(0, 6, "w") + pattern(6, "s") + pattern(
            7, "w"
        )


def test_loop_exit_on_exception_detaches(tmp_path: Path, loop_backend: str) -> None:
    path = tmp_path / "boom.img"
    device = ""
    with (
        pytest.raises(RuntimeError, match="boom"),
        LoopVolume(path, "boom", GRAIN_COUNT, GRAIN_SIZE_BYTES) as vol,
    ):
        device = vol.device
        assert device in loop_devices_under(tmp_path)
        raise RuntimeError("boom")
    assert device.startswith("/dev/loop")
    assert loop_devices_under(tmp_path) == {}
    assert not path.exists()


def test_loop_open_failure_detaches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, loop_backend: str
) -> None:
    attached: list[str] = []

    def refuse(device: str) -> int:
        attached.append(device)
        assert device in loop_devices_under(tmp_path)
        raise OSError(errno.EACCES, os.strerror(errno.EACCES))

    monkeypatch.setattr(volumes, "_open_direct", refuse)
    with pytest.raises(VolumeError, match="cannot open /dev/loop.* with O_DIRECT"):
        LoopVolume(tmp_path / "half.img", "half", GRAIN_COUNT, GRAIN_SIZE_BYTES)
    assert len(attached) == 1
    assert loop_devices_under(tmp_path) == {}
    assert list(tmp_path.iterdir()) == []


def test_losetup_failure_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, loop_backend: str
) -> None:
    stub_dir = tmp_path / "bin"
    stub_dir.mkdir()
    stub = stub_dir / "losetup"
    stub.write_text(
        "#!/bin/sh\necho 'losetup: cannot find an unused loop device' >&2\necho 'x' >&2\nexit 1\n"
    )
    stub.chmod(0o755)
    monkeypatch.setattr(volumes, "_LOSETUP", str(stub))
    with pytest.raises(VolumeError) as info:
        LoopVolume(tmp_path / "nofree.img", "nofree", GRAIN_COUNT, GRAIN_SIZE_BYTES)
    message = str(info.value)
    assert "\n" not in message
    assert "cannot find an unused loop device x" in message
    assert not (tmp_path / "nofree.img").exists()


def test_loop_enospc_becomes_volume_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, loop_backend: str
) -> None:

    def full(fd: int, buffers: object, offset: int) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with LoopVolume(tmp_path / "full.img", "full", GRAIN_COUNT, GRAIN_SIZE_BYTES) as vol:
        monkeypatch.setattr(os, "pwritev", full)
        with pytest.raises(VolumeError, match=r"'full'.*\[0, 1\).*no space left on device"):
            vol.write_grains(0, pattern(0))
        monkeypatch.undo()


def test_loop_close_waits_for_other_openers(tmp_path: Path, loop_backend: str) -> None:
    vol = LoopVolume(tmp_path / "held.img", "held", GRAIN_COUNT, GRAIN_SIZE_BYTES)
    # Another opener turns `losetup -d` into a deferred (autoclear) detach.
    other = os.open(vol.device, os.O_RDONLY)
    timer = threading.Timer(0.1, os.close, args=(other,))
    timer.start()
    try:
        vol.close()
        assert loop_devices_under(tmp_path) == {}
    finally:
        timer.join()


def test_a_signal_waits_for_the_end_of_a_deferred_block() -> None:
    """Attaching and recording a device is one step: Ctrl-C arrives after it, not inside."""
    # Python's own handler, whatever an earlier test in this worker left (an event loop's)
    ambient = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        reached_the_end = False
        with pytest.raises(KeyboardInterrupt), signals_deferred():
            signal.raise_signal(signal.SIGINT)
            reached_the_end = True
        assert reached_the_end
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, ambient)
