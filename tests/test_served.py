"""Design A's sites as the daemons serve them, in one process: every figure of a report is held
against what the site's journal and volumes say, step by step."""

from __future__ import annotations

import os

from pitmirror.harness.backends import VolumeSet
from pitmirror.harness.cyclic_flashcopy.world import FlashCopyWorld
from pitmirror.impl.cyclic_flashcopy.layout import volume_layout
from pitmirror.impl.cyclic_flashcopy.messages import MESSAGES, Commit, MirrorWrite
from pitmirror.model.cyclic_flashcopy import Options
from pitmirror.node.cyclic_flashcopy_served import LocalServed, RemoteServed
from pitmirror.node.digest import digest_of
from pitmirror.node.served import Cycle

GRAINS, SIZE = 16, 4096


def test_reports_say_what_the_journals_and_volumes_hold() -> None:
    with VolumeSet("memory", GRAINS, SIZE, *volume_layout(GRAINS)) as volume_set:
        volumes, workdir = volume_set.fresh()
        volumes["source"].write_grains(0, os.urandom(GRAINS * SIZE))  # point 1: not zeros
        world = FlashCopyWorld(volumes, workdir, Options())
        local = LocalServed(world.local, lambda: 1000.0, Cycle(extents_per_tick=1,
                                                                 max_extent_grains=2))  # fmt: skip
        remote = RemoteServed(world.remote, Cycle(extents_per_tick=1, max_extent_grains=4))
        world.local.link = _Wire(remote, local)  # as the daemons' link: served to served
        report = local.report()
        assert report["cycle"] == {"number": 1, "phase": "copying", "bytes_done": 0,
                                   "bytes_total": GRAINS * SIZE}  # fmt: skip
        for _ in range(4 * GRAINS):
            busy = local.tick()
            meta = world.local.local_meta()
            report = local.report()
            remaining = len(meta.copy_map.union(meta.out_of_sync))
            assert report["cycle"]["bytes_done"] == (GRAINS - remaining) * SIZE or (
                report["cycle"]["number"] > 1
            )
            behind = meta.copy_map.union(meta.future_map).union(meta.out_of_sync)
            assert report["out_of_sync"] == {"grains": len(behind), "bytes": len(behind) * SIZE}
            remote_meta = world.remote.remote_meta()
            waiting = remote_meta.target_map.union(remote_meta.received_map)
            assert remote.report()["out_of_sync"]["grains"] == len(waiting)
            if world.remote.remote_meta().committed >= 1:
                break
            assert busy  # work is waiting until the point commits
        point = remote.report()["committed_point"]
        assert point["number"] == world.remote.remote_meta().committed == 1
        assert point["digest"] == digest_of(world.remote.recoverable_image(), SIZE)
        assert point["source_time"] is None  # the mirror's first point: the daemon says when
        assert local.report()["committed_point"]["number"] == 1
        assert local.report()["committed_point"]["digest"] == point["digest"]
        # a restart computes the digest from the volumes, I2 where the target map says so
        assert world.remote.remote_meta().target_map
        again = RemoteServed(world.remote, Cycle())
        assert again.report()["committed_point"]["digest"] == point["digest"]
        (volume,) = again.committed_volumes()  # read in pieces (a failover's) as it is whole
        pieces = [volume.read(g, min(3, GRAINS - g)) for g in range(0, GRAINS, 3)]
        assert b"".join(pieces) == world.remote.recoverable_image()
        while remote.tick():  # drains; the image, and so its digest, stays the point's
            assert remote.report()["committed_point"]["digest"] == point["digest"]
        assert remote.report()["out_of_sync"]["grains"] == 0


class _Wire:
    """The daemons' link without the network: each message's bytes to the served remote, its
    reply (with the acknowledgement) to the served local."""

    up = reaches = True

    def __init__(self, remote: RemoteServed, local: LocalServed) -> None:
        self.remote, self.local = remote, local

    def send(self, message: object) -> None:
        assert isinstance(message, MirrorWrite | Commit)
        reply = self.remote.receive(MESSAGES.encode(message))
        if reply is not None:
            self.local.replied("remote", reply)
