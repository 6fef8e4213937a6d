"""The harness's cached read-back (harness/seeds.py) and extent actions in design A's model,
engine and traces."""

from __future__ import annotations

from pathlib import Path

import pytest

from pitmirror.harness.cyclic_flashcopy.lockstep import Lockstep
from pitmirror.harness.designs import Subject
from pitmirror.harness.grains import CorruptGrain, grain_bytes
from pitmirror.harness.lockstep import run_actions
from pitmirror.harness.seeds import CachedSeeds, SeedReader
from pitmirror.impl.cyclic_flashcopy.messages import MESSAGES, MirrorRuns
from pitmirror.impl.regions import Region
from pitmirror.impl.site import EngineRefused
from pitmirror.impl.volumes import MemoryVolume
from pitmirror.model import cyclic_flashcopy as A
from pitmirror.model.actions import (
    CommitPoint,
    CopyGrain,
    CrashSite,
    DrainTarget,
    HostWrite,
    LinkDown,
    LinkUp,
    Recover,
    ResyncGrain,
    action_to_json,
    parse_action,
)
from pitmirror.model.extents import run_from, runs, some_run

GRAIN = 512


@pytest.fixture(params=["memory", "file", "loop"])
def kind(request: pytest.FixtureRequest) -> str:
    value = str(request.param)
    if value == "loop":
        request.getfixturevalue("loop_backend")
    return value


def _volume(grains: int = 8) -> MemoryVolume:
    return MemoryVolume("v", grains, GRAIN)


def test_a_cached_read_rereads_only_what_was_written() -> None:
    volume = _volume()
    cached = CachedSeeds([volume])
    assert cached.read(volume) == (0,) * 8
    volume.write_grains(3, grain_bytes(7, 3, GRAIN) + grain_bytes(9, 4, GRAIN))
    assert cached.read(volume) == (0, 0, 0, 7, 9, 0, 0, 0)
    volume.write_listeners.clear()  # a change the cache is not told about...
    volume.write_grains(0, grain_bytes(5, 0, GRAIN))
    assert cached.read(volume)[0] == 0  # ...is not seen until the next full read-back
    cached.refresh()
    assert cached.read(volume)[0] == 5


def test_a_cache_of_zeroed_volumes_reads_only_what_was_written() -> None:
    """Told the volumes were just zeroed, the cache reads the grains written since and
    trusts the rest until the next full read-back, which finds what the zeroing missed."""
    volume = _volume()
    volume.write_grains(1, grain_bytes(5, 1, GRAIN))  # left over: the zeroing missed it
    cached = CachedSeeds([volume], zeroed=True)
    volume.write_grains(0, grain_bytes(4, 0, GRAIN))
    volume.write_grains(7, grain_bytes(6, 7, GRAIN))  # far apart: read as two runs
    assert cached.read(volume) == (4, 0, 0, 0, 0, 0, 0, 6)
    assert cached.read(Region(volume, 6, 2, "object"), grain_of_first=6) == (0, 6)
    cached.refresh()
    assert cached.read(volume) == (4, 5, 0, 0, 0, 0, 0, 6)


def test_a_volume_set_zeroes_what_the_last_run_wrote(kind: str) -> None:
    """`fresh()` zeroes only the extents written since the last one, on every backend (a
    loop device included): every grain reads zero again, overlapping extents too."""
    subject = Subject(A.DESIGN, A.Options(), None, 64)
    with subject.volume_set(kind) as volume_set:
        volumes, _ = volume_set.fresh()
        size = volumes["source"].grain_size
        volumes["source"].write_grains(3, b"\xff" * size)
        volumes["source"].write_grains(2, b"\xee" * 2 * size)  # overlaps the one before
        volumes["source"].write_grains(60, b"\xdd" * 4 * size)  # up to the last grain
        volumes["target"].write_grains(0, b"\xcc" * 40 * size)  # most of it: zeroed whole
        volumes["i1"].zero()
        volumes["i1"].write_grains(9, b"\xbb" * size)
        volumes, _ = volume_set.fresh()
        for volume in volumes.values():
            assert volume.read_grains(0, volume.grain_count) == bytes(volume.size_bytes)


def test_a_region_reads_with_its_own_grain_numbers() -> None:
    volume = _volume()
    region = Region(volume, 4, 4, "object")
    volume.write_grains(5, grain_bytes(2, 11, GRAIN))  # written as grain 11 of its object space
    for reader in (SeedReader(), CachedSeeds([volume])):
        assert reader.read(region, grain_of_first=10) == (0, 2, 0, 0)
        with pytest.raises(CorruptGrain, match="grain 5 holds the data of grain 11"):
            reader.read(volume)


def test_a_damaged_grain_is_named() -> None:
    volume = _volume()
    damaged = bytearray(grain_bytes(3, 2, GRAIN))
    damaged[-1] ^= 0xFF
    volume.write_grains(2, bytes(damaged))
    with pytest.raises(CorruptGrain, match="grain 2 .*damaged body"):
        CachedSeeds([volume]).read(volume)


def test_the_full_read_back_at_the_end_catches_what_the_cache_skipped(tmp_path: Path) -> None:
    volumes = {name: MemoryVolume(name, 4, GRAIN) for name in ("source", "i1", "i2", "target")}
    lockstep = Lockstep(volumes, tmp_path, A.Options())
    assert run_actions(lockstep, [CopyGrain(0, 4)])[-1].ok
    volumes["target"].write_listeners.clear()
    volumes["target"].write_grains(1, grain_bytes(9, 1, GRAIN))  # behind the engine's back
    outcomes = run_actions(lockstep, [HostWrite(0, 3)])
    assert outcomes[-1].status == "diverged"
    assert "full read-back at the end" in outcomes[-1].detail
    assert "target" in outcomes[-1].detail


# ---- extents ---------------------------------------------------------------------------------


def test_runs_of_grains() -> None:
    assert runs({5, 1, 2, 3, 9}) == [(1, 3), (5, 1), (9, 1)]
    assert run_from(frozenset({1, 2, 3}), 2) == 2 and run_from(frozenset({1}), 0) == 0
    assert run_from(frozenset({1, 2, 3}), 1, most=2) == 2
    assert some_run(frozenset({7, 8, 4})) in {(4, 1), (7, 2)}
    assert some_run(frozenset({9, 8, 7})) == (7, 3)


def test_an_extent_of_one_grain_writes_the_old_trace_line() -> None:
    assert action_to_json(CopyGrain(3)) == {"action": "CopyGrain", "grain": 3}
    assert action_to_json(DrainTarget(2, 5)) == {"action": "DrainTarget", "grain": 2, "count": 5}
    assert parse_action({"action": "ResyncGrain", "grain": 1}) == ResyncGrain(1, 1)


def test_extent_guards_name_the_window_that_holds_no_grain_of_the_map() -> None:
    state = A.initial_state(A.Config(grains=8))
    assert A.why_disabled(state, CopyGrain(0, 8)) is None
    assert A.why_disabled(state, CopyGrain(6, 3)) == "grain 6..8 is outside the volume (0..7)"
    assert A.why_disabled(state, CopyGrain(2, 0)) == "an extent has at least one grain, not 0"
    state = A.step(state, CopyGrain(2, 2))
    assert A.why_disabled(state, CopyGrain(2, 2)) == "grains 2, 3 are not in copy_map"
    assert A.why_disabled(state, DrainTarget(0, 3)) == "grains 0..2 are not in target_map"


def test_a_window_moves_the_grains_of_its_map_and_leaves_the_others() -> None:
    """A sparse set as one action: grains 2 and 3 copied (and then written by the host), the
    window 0..7 copies the rest, as the two runs around them would, and leaves 2 and 3 alone."""
    state = A.initial_state(A.Config(grains=8))
    for action in (CopyGrain(2, 2), HostWrite(2, 7), HostWrite(3, 8)):
        state = A.step(state, action)
    assert A.why_disabled(state, CopyGrain(0, 4)) is None
    window = A.step(state, CopyGrain(0, 8))
    assert window == A.step(A.step(state, CopyGrain(0, 2)), CopyGrain(4, 4))
    assert not window.copy_map and A.step(window, CommitPoint()).committed == 1
    plan = A.write_plan(state, CopyGrain(0, 8))
    assert [getattr(w, "volume", w.site) for w in plan] == ["i1", "remote", "i2", "local"]


def _with_target_map_full(grains: int) -> A.State:
    """Point 3 committed with every grain received in its cycle: all still in I2."""
    state = A.initial_state(A.Config(grains=grains))
    plan = [CopyGrain(0, grains), CommitPoint()]
    plan += [HostWrite(g, 10 + g) for g in range(grains)]
    plan += [CommitPoint(), CopyGrain(0, grains), CommitPoint()]
    for action in plan:
        state = A.step(state, action)
    return state


def test_an_extent_copy_protects_the_target_in_one_write() -> None:
    state = A.step(_with_target_map_full(6), DrainTarget(2, 2))
    assert state.target_map == {0, 1, 4, 5}
    for action in [*(HostWrite(g, 30 + g) for g in range(6)), CommitPoint()]:
        state = A.step(state, action)
    assert state.copy_map == set(range(6)) and state.target_map == {0, 1, 4, 5}
    plan = A.write_plan(state, CopyGrain(0, 6))
    volume_writes = [(w.volume, w.start, len(w.data)) for w in plan if isinstance(w, A.VolumeWrite)]
    assert volume_writes == [("i1", 0, 6), ("target", 0, 6), ("i2", 0, 6)]
    saved = plan[1]
    assert isinstance(saved, A.VolumeWrite)
    assert saved.data == (*state.i2[:2], *state.target[2:4], *state.i2[4:6])


EXTENT_TRACE = [
    CopyGrain(0, 3),
    CopyGrain(3, 5),
    CommitPoint(),
    *[HostWrite(g, 20 + g) for g in (0, 1, 2, 5, 6)],
    CommitPoint(),  # the written grains are the next copy map
    LinkDown(),
    CopyGrain(0, 3),  # link down: out of sync
    LinkUp(),
    ResyncGrain(0, 2),
    ResyncGrain(2, 1),
    CopyGrain(5, 2),
    CommitPoint(),
    CrashSite("remote", 1),
    DrainTarget(0, 3),  # cut after the target write: the bits stay, the drain is redone
    Recover("remote"),
    DrainTarget(0, 3),
    DrainTarget(5, 2),
]


def _run_extent_trace(backend: str) -> None:
    with Subject(A.DESIGN, A.Options(), None, 8).volume_set(backend) as volume_set:
        volumes, workdir = volume_set.fresh()
        outcomes = run_actions(Lockstep(volumes, workdir, A.Options()), EXTENT_TRACE)
    assert [o.status for o in outcomes] == ["ok"] * (len(EXTENT_TRACE) + 1), outcomes[-1].detail
    assert outcomes[-1].committed == 3


def test_extent_actions_agree_with_the_model_on_memory() -> None:
    _run_extent_trace("memory")


def test_extent_actions_agree_with_the_model_on_loop_devices(loop_backend: str) -> None:
    _run_extent_trace(loop_backend)


def test_the_engine_refuses_a_window_with_no_grain_of_its_map(tmp_path: Path) -> None:
    volumes = {name: MemoryVolume(name, 4, GRAIN) for name in ("source", "i1", "i2", "target")}
    lockstep = Lockstep(volumes, tmp_path, A.Options())
    assert run_actions(lockstep, [CopyGrain(0, 2)])[-1].ok
    with pytest.raises(EngineRefused, match=r"no grain of \[0, 2\) is in the copy map"):
        lockstep.engine.apply(CopyGrain(0, 2))
    with pytest.raises(EngineRefused, match=r"no grain of \[3, 5\) is in the copy map"):
        lockstep.engine.apply(CopyGrain(3, 2))  # past the volume's end
    assert run_actions(lockstep, [CopyGrain(1, 3)])[-1].ok  # grain 1 copied already


def test_the_remote_refuses_runs_out_of_order_touching_or_short_of_data(tmp_path: Path) -> None:
    volumes = {name: MemoryVolume(name, 8, GRAIN) for name in ("source", "i1", "i2", "target")}
    remote = Lockstep(volumes, tmp_path, A.Options()).engine.remote
    one = bytes(GRAIN)
    bad = [([(4, one), (1, one)], None), ([(1, one), (2, one)], None),
           ([(1, one), (7, one + one)], None), ([(1, one), (3, one)], one)]  # fmt: skip
    for writes, data in bad:
        message = MirrorRuns.of(writes, GRAIN)
        if data is not None:
            message = MirrorRuns(message.runs, data)
        with pytest.raises(EngineRefused, match="a mirror write"):
            remote.receive(MESSAGES.encode(message))
    assert not remote.remote_meta().received_map
    remote.receive(MESSAGES.encode(MirrorRuns.of([(1, one), (3, one + one)], GRAIN)))
    assert sorted(remote.remote_meta().received_map) == [1, 3, 4]


@pytest.mark.parametrize("cut", [1, 2, 3])
def test_a_remote_crash_inside_a_protected_extent_copy(cut: int) -> None:
    """The extent copy writes T (two protected runs, one write), a record, then I2: a remote
    crash after each of them leaves the engine where the model says, and the copy is redone."""
    grains = 6
    setup = [CopyGrain(0, grains), CommitPoint(), *(HostWrite(g, 10 + g) for g in range(grains))]
    setup += [CommitPoint(), CopyGrain(0, grains), CommitPoint(), DrainTarget(2, 2)]
    setup += [*(HostWrite(g, 30 + g) for g in range(grains)), CommitPoint()]
    actions = [*setup, CrashSite("remote", cut), CopyGrain(0, grains), Recover("remote")]
    actions += [CopyGrain(0, grains), CommitPoint()]  # the cut copy left its bits: redone
    with Subject(A.DESIGN, A.Options(), None, grains).volume_set("memory") as volume_set:
        volumes, workdir = volume_set.fresh()
        outcomes = run_actions(Lockstep(volumes, workdir, A.Options()), actions)
    assert outcomes[-1].ok and len(outcomes) == len(actions) + 1, outcomes[-1].detail
