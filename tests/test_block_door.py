"""The block door: byte ranges of any offset and length over the engine's whole-grain host door,
on a real design-A local site (file volumes, no peer), against a bytearray shadow."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest
from daemons import GRAIN, Pair

from pitmirror.node.block_door import BlockDoor, OutsideVolume
from pitmirror.node.config import built_site, load_config
from pitmirror.node.designs import DESIGNS
from pitmirror.node.served import Cycle

GRAINS = 8


def test_writes_of_any_offset_and_length_read_back_and_reach_the_source(tmp_path: Path) -> None:
    pair = Pair(tmp_path, grains=GRAINS, port=1, source_random=True)
    shadow = bytearray((tmp_path / "source.img").read_bytes())
    config = load_config(pair.config("local"))
    rng = random.Random(7)
    with built_site(config) as running:
        served = DESIGNS[config.design].serve(running, time.time, Cycle())
        door = BlockDoor(served)
        assert set(door.volumes) == {"source"} and door.volumes["source"].size == len(shadow)
        cases = [
            (4096, 4096),  # inside one grain
            (GRAIN - 512, 1024),  # across a grain boundary, partial at both ends
            (GRAIN * 2, GRAIN * 3),  # whole grains only
            (GRAIN * 5 + 100, GRAIN * 2),  # partial head and tail, one whole grain between
            (0, 1),
            (len(shadow) - 1, 1),
        ]
        cases += [(rng.randrange(len(shadow)), rng.randrange(1, 3 * GRAIN)) for _ in range(20)]
        for offset, length in cases:
            length = min(length, len(shadow) - offset)
            data = rng.randbytes(length)
            assert door.write("source", offset, data) == length
            shadow[offset : offset + length] = data
            assert door.read("source", offset, length) == data
        assert door.read("source", 0, len(shadow)) == bytes(shadow)
        assert door.counts.partial_grains > 0 and door.counts.writes == len(cases)
        for offset, length in ((len(shadow), 1), (-1, 2), (len(shadow) - 10, 11)):
            with pytest.raises(OutsideVolume):
                door.write("source", offset, bytes(length))
            with pytest.raises(OutsideVolume):
                door.read("source", offset, length)
        assert door.read("source", 10, 0) == b"" and door.write("source", 10, b"") == 0
        # design A's local site caches: the writes are in its memory until the host's flush
        assert served.cached_grains() > 0
        assert (tmp_path / "source.img").read_bytes() != bytes(shadow)
        door.flush()
        assert served.cached_grains() == 0 and door.counts.flushes == 1
    # every write went through the engine to the source volume, durable
    assert (tmp_path / "source.img").read_bytes() == bytes(shadow)


def test_a_site_that_holds_copies_only_has_no_host_volumes(tmp_path: Path) -> None:
    pair = Pair(tmp_path, grains=GRAINS, port=1, source_random=False)
    config = load_config(pair.config("remote"))
    with built_site(config) as running:
        served = DESIGNS[config.design].serve(running, time.time, Cycle())
        assert served.host_volumes() == {}
        assert BlockDoor(served).volumes == {}
        assert [v.name for v in served.committed_volumes()] == ["source"]


def test_a_full_cache_is_written_back_without_a_flush(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("pitmirror.node.block_door.MAX_CACHED_GRAINS", 3)
    pair = Pair(tmp_path, grains=GRAINS, port=1, source_random=False)
    config = load_config(pair.config("local"))
    with built_site(config) as running:
        served = DESIGNS[config.design].serve(running, time.time, Cycle())
        door = BlockDoor(served)
        for grain in range(GRAINS):
            door.write("source", grain * GRAIN, bytes([grain + 1]) * GRAIN)
            assert served.cached_grains() < 3
        assert door.counts.writebacks == GRAINS // 3 and door.counts.flushes == 0
        written = (tmp_path / "source.img").read_bytes()
    assert written[: 6 * GRAIN] == b"".join(bytes([g + 1]) * GRAIN for g in range(6))
