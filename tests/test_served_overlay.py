"""Design B's sites as the daemons serve them, in one process, their messages and replies carried
as the link carries them: what a home knows of its remote's copies — from the remote's HELLO, the
acknowledgements and its reports — is what the remote's journal holds, and every figure of a
report is held against the journals and volumes, step by step."""

from __future__ import annotations

import os
import random

import pytest

from pitmirror.harness.backends import VolumeSet
from pitmirror.harness.freeze_overlay.world import OverlayWorld
from pitmirror.impl.freeze_overlay.layout import volume_layout
from pitmirror.impl.freeze_overlay.messages import MESSAGES, Complete, DeltaWrite
from pitmirror.impl.freeze_overlay.metadata import committed_point
from pitmirror.impl.link import LinkUnavailable
from pitmirror.impl.site import EngineRefused
from pitmirror.model import freeze_overlay as B
from pitmirror.model.actions import CopyDelta, MarkComplete
from pitmirror.node.digest import digest_of
from pitmirror.node.freeze_overlay_served import OverlayServed, image_grains, recoverable_image
from pitmirror.node.served import Cycle

GRAINS, SIZE = 16, 4096


class _Wire:
    """The daemons' link without the network: each message's bytes to the served remote, its
    reply (with the acknowledgement) to the served home."""

    up = reaches = True

    def __init__(self, remote: OverlayServed, home: OverlayServed) -> None:
        self.remote, self.home = remote, home

    def send(self, message: object) -> None:
        assert isinstance(message, DeltaWrite | Complete)
        reply = self.remote.receive(MESSAGES.encode(message))
        if reply is not None:
            self.home.replied("right", reply)


def test_a_home_knows_what_its_remote_holds_and_reports_say_it() -> None:
    topology = B.topology("single", GRAINS)
    layout, files = volume_layout(topology)
    with VolumeSet("memory", GRAINS, SIZE, layout, files) as volume_set:
        volumes, workdir = volume_set.fresh()
        volumes["vol.base"].write_grains(0, os.urandom(GRAINS * SIZE))  # point 1: not zeros
        world = OverlayWorld(topology, volumes, workdir, B.Options())
        left, right = world.sites["left"], world.sites["right"]
        now = [1000.0]
        cycle = Cycle(extents_per_tick=1, max_extent_grains=2)
        home = OverlayServed(left, lambda: now[0], cycle)
        remote = OverlayServed(right, lambda: now[0], cycle)
        assert home.judge(remote.hello() | {"site": "right"}) is None
        assert remote.judge(home.hello() | {"site": "left"}) is None
        wire = _Wire(remote, home)
        left.links["right"] = wire  # type: ignore[index]
        rng = random.Random(7)
        points = set()
        for step in range(400):
            if step % 37 == 5:
                grain = rng.randrange(GRAINS)
                home.host_write(grain, os.urandom(SIZE))
            now[0] += 0.3
            remote.tick()
            for site, fields in remote.reports().items():
                assert site == "left"
                home.replied("right", fields)
            home.tick()
            _check(home, remote, world)
            points.add(home.report()["groups"][0]["committed"]["right"]["number"])
        assert len(points) >= 5  # points were taken, copied and committed all along


def _check(home: OverlayServed, remote: OverlayServed, world: OverlayWorld) -> None:
    left, right = world.sites["left"], world.sites["right"]
    held = right.copy_meta(0)
    known = home.views["right"][0]
    for field in ("base_point", "delta_point", "complete", "merging_point", "committed_at"):
        assert getattr(known, field) == getattr(held, field), field
    group, meta = left.group_meta(0), left.object_meta(0)
    if held.delta_point == group.point:  # what the home would send again is what is missing
        assert known.delta == held.delta
    number = committed_point(held)
    whole = recoverable_image(right, 0)
    grains = len(whole) // SIZE  # read in pieces (a failover's, a restart's digest) as whole
    assert b"".join(image_grains(right, 0, g, min(3, grains - g))
                    for g in range(0, grains, 3)) == whole  # fmt: skip
    image = digest_of(whole, SIZE)
    there = remote.report()
    assert there["committed_point"]["number"] == number
    assert there["committed_point"]["digest"] == image
    receiving = held.delta_point is not None and not held.complete
    assert there["out_of_sync"]["grains"] == (len(held.delta) if receiving else 0)
    here = home.report()
    entry = here["groups"][0]
    assert entry["committed"]["right"]["number"] == number
    assert entry["committed"]["right"]["digest"] in (image, None)
    everywhere = group.completed_at == {"right"}
    behind = meta.active if everywhere else meta.active.union(meta.frozen)
    assert entry["out_of_sync"]["grains"] == len(behind)
    assert entry["cycle"]["number"] == group.point
    assert entry["cycle"]["bytes_total"] == len(meta.frozen) * SIZE
    if everywhere:
        done = len(meta.frozen)
    elif held.delta_point == group.point:
        done = len(meta.frozen.intersection(held.delta))
    else:
        done = 0
    assert entry["cycle"]["bytes_done"] == done * SIZE


def test_a_complete_mark_the_home_did_not_hear_of_is_taken_again() -> None:
    """The connection dies after the remote marked the point and before the home heard it: the
    home marks again, the remote changes nothing, and the home records it (else it would wait
    for ever)."""
    topology = B.topology("single", GRAINS)
    layout, files = volume_layout(topology)
    with VolumeSet("memory", GRAINS, SIZE, layout, files) as volume_set:
        volumes, workdir = volume_set.fresh()
        world = OverlayWorld(topology, volumes, workdir, B.Options())
        left, right = world.sites["left"], world.sites["right"]
        for offset, count in left.object_meta(0).frozen.extents(4):
            world.apply(CopyDelta("right", offset, count))
        lost = _Lost(left.links["right"])
        left.links["right"] = lost  # type: ignore[index]
        with pytest.raises(EngineRefused):
            world.apply(MarkComplete("right", 0))
        assert right.copy_meta(0).complete and not left.group_meta(0).completed_at
        before = right.journal.replay().meta
        left.links["right"] = lost.link  # type: ignore[index]
        world.apply(MarkComplete("right", 0))
        assert left.group_meta(0).completed_at == {"right"}
        assert right.journal.replay().meta == before


class _Lost:
    """A link whose message arrives but whose acknowledgement is lost."""

    up = reaches = True

    def __init__(self, link: object) -> None:
        self.link = link

    def send(self, message: object) -> None:
        self.link.send(message)  # type: ignore[attr-defined]
        raise LinkUnavailable("the acknowledgement was lost with the connection")
