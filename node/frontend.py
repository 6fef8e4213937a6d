"""The host's block devices: each volume the host writes at this site as a file served by FUSE
(pyfuse3), attached to a loop device with direct I/O.

Why this shape (../shared/NEXT.md §1): this kernel has no NBD, ublk or device-mapper; a FUSE
file on a loop device carries ext4 and SQLite, and every flush the host issues arrives as a
FUSE fsync.  The loop device advertises a write-back cache without FUA, so the block layer turns
FUA into a flush too.  No fallocate handler: discard and write-zeroes fail with EOPNOTSUPP and
never bypass `write`.

Every request goes to the engine thread through the block door (node/block_door.py), one at a
time with the cycle's work.  Teardown goes loop device, then FUSE mount; a daemon killed before
it leaves both behind, and the next start takes them away — unless the host still has the old
device mounted, which only the operator may undo.
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import os
import stat
import subprocess
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyfuse3
import pyfuse3.asyncio

from pitmirror.impl.site import EngineRefused
from pitmirror.node.block_door import BlockDoor, FrontendError, HostVolume, OutsideVolume

log = logging.getLogger("pitmirror")
OnEngine = Callable[..., Awaitable[Any]]


def mounts() -> list[tuple[str, str, str]]:
    """(source, mount point, file system type) of every mount this process sees."""
    found = []
    with open("/proc/self/mountinfo") as info:
        for line in info:
            fields = line.split()
            dash = fields.index("-")
            point = fields[4].encode().decode("unicode_escape")
            found.append((fields[dash + 2], point, fields[dash + 1]))
    return found


def _run(*command: str) -> str:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise FrontendError(f"{' '.join(command)}: {done.stderr.strip() or done.returncode}")
    return done.stdout


def loop_devices() -> dict[str, str]:
    """Every attached loop device: its backing file, as losetup names it."""
    listed = json.loads(_run("losetup", "--list", "--json", "-O", "NAME,BACK-FILE") or "{}")
    return {d["name"]: str(d.get("back-file") or "") for d in listed.get("loopdevices", [])}


def clean_leftovers(mount: Path) -> list[str]:
    """Take away what a daemon killed over `mount` left: its loop devices, then its FUSE mount.
    FrontendError when the host still has one of those devices mounted (the operator unmounts
    it: it lost its disk when the daemon died).  Returns what was done, in words."""
    done: list[str] = []
    prefix = f"{mount}/"
    held = {source: point for source, point, _ in mounts()}
    for device, backing in sorted(loop_devices().items()):
        if not backing.startswith(prefix):
            continue
        if device in held:
            raise FrontendError(f"{device}, the frontend of an earlier run over {mount}, is still "
                                f"mounted at {held[device]}: unmount it first")  # fmt: skip
        _run("losetup", "-d", device)
        done.append(f"detached {device} (left over {backing})")
    if any(point == str(mount) for _, point, kind in mounts() if kind.startswith("fuse")):
        _run("umount", "-l", str(mount))
        done.append(f"unmounted the FUSE mount left at {mount}")
    return done


@dataclass
class Exposed:
    """One host volume as the host sees it."""

    volume: HostVolume
    inode: int
    file: Path
    device: str | None = None


class VolumeFiles(pyfuse3.Operations):
    """A directory of one file per host volume, each of its volume's size, read and written
    through the block door on the engine thread."""

    def __init__(self, door: BlockDoor, on_engine: OnEngine, exposed: dict[int, Exposed]) -> None:
        super().__init__()
        self.door, self.on_engine, self.exposed = door, on_engine, exposed
        self.by_name = {e.volume.name.encode(): e for e in exposed.values()}

    def _attributes(self, inode: int) -> pyfuse3.EntryAttributes:
        attributes = pyfuse3.EntryAttributes()
        attributes.st_ino = pyfuse3.InodeT(inode)
        attributes.entry_timeout = attributes.attr_timeout = 300
        attributes.st_uid, attributes.st_gid = os.getuid(), os.getgid()
        if inode == pyfuse3.ROOT_INODE:
            attributes.st_mode = stat.S_IFDIR | 0o755
            attributes.st_nlink = 2
            return attributes
        exposed = self.exposed.get(inode)
        if exposed is None:
            raise pyfuse3.FUSEError(errno.ENOENT)
        attributes.st_mode = stat.S_IFREG | 0o600
        attributes.st_nlink = 1
        attributes.st_size = exposed.volume.size
        attributes.st_blksize = exposed.volume.grain_size
        attributes.st_blocks = exposed.volume.size // 512
        return attributes

    async def getattr(self, inode: pyfuse3.InodeT, ctx: pyfuse3.RequestContext
                      ) -> pyfuse3.EntryAttributes:  # fmt: skip
        return self._attributes(inode)

    async def lookup(self, parent_inode: pyfuse3.InodeT, name: pyfuse3.FileNameT,
                     ctx: pyfuse3.RequestContext) -> pyfuse3.EntryAttributes:  # fmt: skip
        exposed = self.by_name.get(name) if parent_inode == pyfuse3.ROOT_INODE else None
        if exposed is None:
            raise pyfuse3.FUSEError(errno.ENOENT)
        return self._attributes(exposed.inode)

    async def setattr(self, inode: pyfuse3.InodeT, attr: pyfuse3.EntryAttributes,
                      fields: pyfuse3.SetattrFields, fh: pyfuse3.FileHandleT | None,
                      ctx: pyfuse3.RequestContext) -> pyfuse3.EntryAttributes:  # fmt: skip
        exposed = self.exposed.get(inode)
        if fields.update_size and exposed and attr.st_size != exposed.volume.size:
            raise pyfuse3.FUSEError(errno.EPERM)  # a volume's size is the mirror's
        return self._attributes(inode)

    async def opendir(self, inode: pyfuse3.InodeT, ctx: pyfuse3.RequestContext
                      ) -> pyfuse3.FileHandleT:  # fmt: skip
        if inode != pyfuse3.ROOT_INODE:
            raise pyfuse3.FUSEError(errno.ENOTDIR)
        return pyfuse3.FileHandleT(inode)

    async def readdir(self, fh: pyfuse3.FileHandleT, start_id: int,
                      token: pyfuse3.ReaddirToken) -> None:  # fmt: skip
        for exposed in sorted(self.exposed.values(), key=lambda e: e.inode):
            if exposed.inode <= start_id:
                continue
            name = exposed.volume.name.encode()
            if not pyfuse3.readdir_reply(
                token, pyfuse3.FileNameT(name), self._attributes(exposed.inode), exposed.inode
            ):
                break

    async def open(self, inode: pyfuse3.InodeT, flags: pyfuse3.FlagT,
                   ctx: pyfuse3.RequestContext) -> pyfuse3.FileInfo:  # fmt: skip
        if inode not in self.exposed:
            raise pyfuse3.FUSEError(errno.EISDIR if inode == pyfuse3.ROOT_INODE else errno.ENOENT)
        # no page cache of the kernel between the host and the door: every write reaches it
        return pyfuse3.FileInfo(fh=pyfuse3.FileHandleT(inode), direct_io=True)

    async def read(self, fh: pyfuse3.FileHandleT, off: int, size: int) -> bytes:
        volume = self.exposed[fh].volume
        length = max(0, min(size, volume.size - off))
        return bytes(await self._door(self.door.read, volume.name, off, length))

    async def write(self, fh: pyfuse3.FileHandleT, off: int, buf: bytes) -> int:
        volume = self.exposed[fh].volume
        if off + len(buf) > volume.size:
            raise pyfuse3.FUSEError(errno.ENOSPC)
        return int(await self._door(self.door.write, volume.name, off, bytes(buf)))

    async def fsync(self, fh: pyfuse3.FileHandleT, datasync: bool) -> None:
        await self._door(self.door.flush)

    async def statfs(self, ctx: pyfuse3.RequestContext) -> pyfuse3.StatvfsData:
        data = pyfuse3.StatvfsData()
        data.f_bsize = data.f_frsize = 4096
        data.f_blocks = sum(e.volume.size for e in self.exposed.values()) // 4096
        data.f_files = len(self.exposed)
        data.f_namemax = 255
        return data

    async def _door(self, call: Callable[..., Any], *args: Any) -> Any:
        try:
            return await self.on_engine(call, *args)
        except OutsideVolume:
            raise pyfuse3.FUSEError(errno.EINVAL) from None
        except EngineRefused as refused:  # the site is down, or the door refused: a disk error
            log.warning("frontend: %s", refused)
            raise pyfuse3.FUSEError(errno.EIO) from None


class Frontend:
    """The host's devices of one site, for as long as the context runs (asyncio only: pyfuse3
    keeps one FUSE session per process)."""

    def __init__(self, door: BlockDoor, on_engine: OnEngine, mount: Path,
                 fsname: str = "pitmirror") -> None:  # fmt: skip
        self.door, self.mount, self.fsname = door, mount, fsname
        first = pyfuse3.ROOT_INODE + 1
        self.exposed = {first + i: Exposed(volume, first + i, mount / volume.name)
                        for i, volume in enumerate(door.volumes.values())}  # fmt: skip
        self.files = VolumeFiles(door, on_engine, self.exposed)
        self._main: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Frontend:
        for words in await asyncio.to_thread(clean_leftovers, self.mount):
            log.info("frontend: %s", words)
        self.mount.mkdir(parents=True, exist_ok=True)
        pyfuse3.asyncio.enable()
        options = set(pyfuse3.default_options) | {f"fsname={self.fsname}", "subtype=pitmirror"}
        try:
            pyfuse3.init(self.files, str(self.mount), options)
        except RuntimeError as err:
            raise FrontendError(f"cannot mount the frontend at {self.mount}: {err} (it needs "
                                "root and /dev/fuse)") from None  # fmt: skip
        self._main = asyncio.create_task(pyfuse3.main())
        try:
            for exposed in self.exposed.values():
                exposed.device = await self._attach(exposed.file)
                log.info("frontend: volume %s is %s (%d bytes, file %s)", exposed.volume.name,
                         exposed.device, exposed.volume.size, exposed.file)  # fmt: skip
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _attach(self, file: Path) -> str:
        # losetup opens the file through this very mount: the loop must keep serving meanwhile
        process = await asyncio.create_subprocess_exec(
            "losetup", "--find", "--show", "--direct-io=on", str(file),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await process.communicate()
        if process.returncode != 0:
            raise FrontendError(f"losetup {file}: {err.decode().strip()}")
        return out.decode().strip()

    async def close(self) -> None:
        """Detach the loop devices, then unmount (a device the host still has mounted loses
        its disk: said in the log)."""
        held = {source: point for source, point, _ in mounts()}
        for exposed in self.exposed.values():
            device, exposed.device = exposed.device, None
            if device is None:
                continue
            if device in held:
                log.warning(
                    "frontend: %s is still mounted at %s; it loses its disk now (the "
                    "writes acknowledged before are durable)",
                    device,
                    held[device],
                )
            process = await asyncio.create_subprocess_exec(
                "losetup", "-d", device, stderr=asyncio.subprocess.PIPE
            )
            _, err = await process.communicate()
            if process.returncode != 0:
                log.warning("frontend: losetup -d %s: %s", device, err.decode().strip())
        if self._main is not None:
            await _terminate()
            try:
                await self._main
            finally:
                self._main = None
                pyfuse3.close(unmount=True)

    def status(self) -> dict[str, Any]:
        counts = self.door.counts
        return {
            "mount": str(self.mount),
            "volumes": [
                {
                    "name": e.volume.name,
                    "device": e.device,
                    "file": str(e.file),
                    "bytes": e.volume.size,
                }
                for e in self.exposed.values()
            ],  # fmt: skip
            "reads": counts.reads,
            "writes": counts.writes,
            "read_bytes": counts.read_bytes,
            "written_bytes": counts.written_bytes,
            "partial_grains": counts.partial_grains,
            "flushes": counts.flushes,
            "writebacks": counts.writebacks,
            "cached_grains": self.door.served.cached_grains(),
        }


async def _terminate() -> None:
    """`pyfuse3.terminate()`, called again while it raises: its asyncio shim fails every pending
    read with an exception and raises InvalidStateError on a read the device woke already (its
    worker has not run yet to drop it), leaving the reads after it waiting.  Ending the session
    is idempotent, and a woken worker drops its read once it runs."""
    for _ in range(200):
        try:
            pyfuse3.terminate()
            return
        except asyncio.InvalidStateError:
            await asyncio.sleep(0.01)
    pyfuse3.terminate()
