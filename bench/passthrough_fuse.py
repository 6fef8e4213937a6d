"""A minimal FUSE passthrough for bench/frontend.py's setting (b): one file in the mount, the size
of a backing file, served with pread/pwrite on that file and an fsync of it at every FUSE fsync
(honest: the host's flush is durable, as the frontend's is).

The FUSE options are node/frontend.py's (pyfuse3 in asyncio mode, the default options, every
open `direct_io`, a 64 KiB `st_blksize`), the backing file is opened as the daemons open a file
volume (O_RDWR, buffered, fsync), and nothing else happens: no engine thread, no grains, no
mirror.  What is left is the frontend's own limit — the kernel's loop device and FUSE, and one
Python process answering them.

Runs until SIGTERM or SIGINT, then unmounts; prints one line `ready` on stdout once mounted.

    python bench/passthrough_fuse.py BACKING_FILE MOUNT_DIR [--name volume]
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import os
import signal
import stat
import sys

import pyfuse3
import pyfuse3.asyncio

BLKSIZE = 65536
INODE = pyfuse3.ROOT_INODE + 1


class Passthrough(pyfuse3.Operations):
    def __init__(self, fd: int, size: int, name: str) -> None:
        super().__init__()
        self.fd, self.size, self.name = fd, size, name.encode()

    def _attributes(self, inode: int) -> pyfuse3.EntryAttributes:
        attributes = pyfuse3.EntryAttributes()
        attributes.st_ino = pyfuse3.InodeT(inode)
        attributes.entry_timeout = attributes.attr_timeout = 300
        attributes.st_uid, attributes.st_gid = os.getuid(), os.getgid()
        if inode == pyfuse3.ROOT_INODE:
            attributes.st_mode = stat.S_IFDIR | 0o755
            attributes.st_nlink = 2
            return attributes
        if inode != INODE:
            raise pyfuse3.FUSEError(errno.ENOENT)
        attributes.st_mode = stat.S_IFREG | 0o600
        attributes.st_nlink = 1
        attributes.st_size = self.size
        attributes.st_blksize = BLKSIZE
        attributes.st_blocks = self.size // 512
        return attributes

    async def getattr(self, inode: pyfuse3.InodeT, ctx: pyfuse3.RequestContext
                      ) -> pyfuse3.EntryAttributes:  # fmt: skip
        return self._attributes(inode)

    async def lookup(self, parent_inode: pyfuse3.InodeT, name: pyfuse3.FileNameT,
                     ctx: pyfuse3.RequestContext) -> pyfuse3.EntryAttributes:  # fmt: skip
        if parent_inode != pyfuse3.ROOT_INODE or name != self.name:
            raise pyfuse3.FUSEError(errno.ENOENT)
        return self._attributes(INODE)

    async def setattr(self, inode: pyfuse3.InodeT, attr: pyfuse3.EntryAttributes,
                      fields: pyfuse3.SetattrFields, fh: pyfuse3.FileHandleT | None,
                      ctx: pyfuse3.RequestContext) -> pyfuse3.EntryAttributes:  # fmt: skip
        if fields.update_size and inode == INODE and attr.st_size != self.size:
            raise pyfuse3.FUSEError(errno.EPERM)
        return self._attributes(inode)

    async def opendir(self, inode: pyfuse3.InodeT, ctx: pyfuse3.RequestContext
                      ) -> pyfuse3.FileHandleT:  # fmt: skip
        if inode != pyfuse3.ROOT_INODE:
            raise pyfuse3.FUSEError(errno.ENOTDIR)
        return pyfuse3.FileHandleT(inode)

    async def readdir(self, fh: pyfuse3.FileHandleT, start_id: int,
                      token: pyfuse3.ReaddirToken) -> None:  # fmt: skip
        if start_id < INODE:
            pyfuse3.readdir_reply(token, pyfuse3.FileNameT(self.name), self._attributes(INODE),
                                  INODE)  # fmt: skip

    async def open(self, inode: pyfuse3.InodeT, flags: pyfuse3.FlagT,
                   ctx: pyfuse3.RequestContext) -> pyfuse3.FileInfo:  # fmt: skip
        if inode != INODE:
            raise pyfuse3.FUSEError(errno.EISDIR if inode == pyfuse3.ROOT_INODE else errno.ENOENT)
        return pyfuse3.FileInfo(fh=pyfuse3.FileHandleT(inode), direct_io=True)

    async def read(self, fh: pyfuse3.FileHandleT, off: int, size: int) -> bytes:
        return os.pread(self.fd, max(0, min(size, self.size - off)), off)

    async def write(self, fh: pyfuse3.FileHandleT, off: int, buf: bytes) -> int:
        if off + len(buf) > self.size:
            raise pyfuse3.FUSEError(errno.ENOSPC)
        return os.pwrite(self.fd, buf, off)

    async def fsync(self, fh: pyfuse3.FileHandleT, datasync: bool) -> None:
        os.fsync(self.fd)

    async def statfs(self, ctx: pyfuse3.RequestContext) -> pyfuse3.StatvfsData:
        data = pyfuse3.StatvfsData()
        data.f_bsize = data.f_frsize = 4096
        data.f_blocks = self.size // 4096
        data.f_files = 1
        data.f_namemax = 255
        return data


async def serve(backing: str, mount: str, name: str) -> None:
    fd = os.open(backing, os.O_RDWR | os.O_CLOEXEC)
    try:
        files = Passthrough(fd, os.fstat(fd).st_size, name)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.add_signal_handler(signum, stop.set)
        pyfuse3.asyncio.enable()
        options = set(pyfuse3.default_options) | {"fsname=bench-passthrough", "subtype=bench"}
        pyfuse3.init(files, mount, options)
        main = asyncio.create_task(pyfuse3.main())
        try:
            print("ready", flush=True)
            await asyncio.wait([main, asyncio.create_task(stop.wait())],
                               return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
        finally:
            pyfuse3.terminate()
            try:
                await main
            finally:
                pyfuse3.close(unmount=True)
    finally:
        os.close(fd)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("backing")
    parser.add_argument("mount")
    parser.add_argument("--name", default="volume")
    args = parser.parse_args()
    try:
        asyncio.run(serve(args.backing, args.mount, args.name))
    except (OSError, RuntimeError) as err:
        print(f"passthrough_fuse: {err}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
