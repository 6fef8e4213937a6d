"""Pure helpers of the engine: grain encoding, bitmaps and extents, the metadata journal."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pitmirror.harness.grains import CorruptGrain, decode_grain, grain_bytes
from pitmirror.impl.bitmap import GrainMap
from pitmirror.impl.cyclic_flashcopy.metadata import LocalMeta, RemoteMeta
from pitmirror.impl.journal import (
    FileStore,
    Journal,
    JournalError,
    MemoryStore,
    apply_changes,
    record_line,
)


@given(st.lists(st.booleans(), max_size=200), st.integers(1, 8) | st.none())
def test_extents_cover_exactly_the_set_bits(bits: list[bool], max_len: int | None) -> None:
    array = np.array(bits, dtype=np.bool_)
    grain_map = GrainMap(len(bits), np.flatnonzero(array).tolist())
    extents = grain_map.extents(max_len)
    covered = np.zeros(len(bits), dtype=np.bool_)
    for start, length in extents:
        assert length >= 1 and (max_len is None or length <= max_len)
        assert not covered[start : start + length].any()
        covered[start : start + length] = True
    assert np.array_equal(covered, array)
    if max_len is None:  # coalesced: no two extents touch
        assert all(a + n < b for (a, n), (b, _) in zip(extents, extents[1:], strict=False))


@given(st.integers(1, 100).flatmap(lambda n: st.tuples(st.just(n), st.sets(st.integers(0, n - 1)))))
def test_hex_round_trip(case: tuple[int, set[int]]) -> None:
    n, grains = case
    m = GrainMap(n, grains)
    assert GrainMap.from_hex(n, m.to_hex()) == m
    assert m.grains() == frozenset(grains)


sizes_and_sets = st.integers(1, 300).flatmap(
    lambda n: st.tuples(st.just(n), st.sets(st.integers(0, n - 1)), st.sets(st.integers(0, n - 1)))
)


@given(sizes_and_sets, st.integers(0, 299), st.integers(1, 300))
def test_a_map_answers_as_the_set_of_its_grains_does(
    case: tuple[int, set[int], set[int]], start: int, count: int
) -> None:
    n, mine, other = case
    a, b = GrainMap(n, mine), GrainMap(n, other)
    assert a.union(b).grains() == mine | other
    assert a.difference(b).grains() == mine - other
    assert a.intersection(b).grains() == mine & other
    assert list(a) == sorted(mine) and len(a) == len(mine) and bool(a) == bool(mine)
    window = set(range(start, start + count))
    assert a.within(start, count) == sorted(mine & window)
    assert a.count_within(start, count) == len(mine & window)
    assert (a == b) == (mine == other)
    assert GrainMap.full(n).grains() == set(range(n))
    assert GrainMap.from_packed(n, a.packed()) == a


@pytest.mark.parametrize("grain", [-1, 8, 2**32])
def test_a_grain_outside_the_volume_is_refused_not_kept(grain: int) -> None:
    m = GrainMap(8)
    with pytest.raises((IndexError, OverflowError)):
        m.add(grain)
    with pytest.raises((IndexError, OverflowError)):
        m.update([3, grain])
    assert not m, "a refused update leaves the map as it was"


def test_a_map_costs_memory_by_its_grains_not_by_the_volume() -> None:
    big, small = 1 << 24, 1 << 16
    for grains in (1 << 24, 1 << 16):
        assert GrainMap(grains).memory_bytes() == 0
    assert GrainMap.full(big).memory_bytes() < 4096, "a full map is a run per container"
    rng = np.random.default_rng(7)
    sparse = rng.choice(big, big // 100, replace=False).tolist()
    assert GrainMap(big, sparse).memory_bytes() * 8 / big < 0.25, "1 %: 16-bit arrays"
    assert GrainMap(small, range(0, small, 2)).memory_bytes() * 8 / small <= 1.01, "dense: bits"


def test_grain_encoding_pairs_write_and_read_back() -> None:
    data = grain_bytes(17, 3, 4096)
    assert len(data) == 4096 and decode_grain(data, 3) == 17
    assert decode_grain(bytes(4096), 3) == 0
    with pytest.raises(CorruptGrain, match="holds the data of grain 3"):
        decode_grain(data, 4)
    damaged = data[:-1] + bytes([data[-1] ^ 1])
    with pytest.raises(CorruptGrain, match="damaged body"):
        decode_grain(damaged, 3)
    with pytest.raises(CorruptGrain, match="did not write"):
        decode_grain(b"x" * 4096, 3)


def _journal(tmp_path: Path) -> Journal:
    return Journal(tmp_path, "local", {"cycle": 1, "copy_map": GrainMap(8)})


def test_journal_replays_records_in_order(tmp_path: Path) -> None:
    j = _journal(tmp_path)
    j.load()
    j.append({"copy_map": {"add": [1, 2, 3]}})
    j.append({"copy_map": {"remove": [2]}, "cycle": 2})
    meta = _journal(tmp_path).load()
    assert meta["cycle"] == 2 and meta["copy_map"] == GrainMap(8, [1, 3])


def _log(j: Journal) -> Path:
    assert isinstance(j.store, FileStore)
    return j.store.log_path


def _two_records(tmp_path: Path) -> tuple[Journal, list[bytes]]:
    j = _journal(tmp_path)
    j.load()
    for cycle in (2, 3):
        j.append({"cycle": cycle})
        j.sync()
    return j, _log(j).read_bytes().splitlines(keepends=True)


@pytest.mark.parametrize("kept", [0, 1, 5, 30, -1])
def test_a_torn_tail_is_cut_off_and_the_next_append_survives(tmp_path: Path, kept: int) -> None:
    j, lines = _two_records(tmp_path)
    torn = lines[1][: kept if kept >= 0 else len(lines[1]) - 1]  # the power loss hit append 2
    _log(j).write_bytes(lines[0] + torn)
    again = _journal(tmp_path)
    replayed = again.replay()
    assert replayed.meta["cycle"] == 2 and replayed.torn_tail == torn
    assert _log(j).read_bytes() == lines[0] + torn  # replay alone changes nothing
    assert again.load()["cycle"] == 2
    assert _log(j).read_bytes() == lines[0]  # recovery cut the tail off
    again.append({"cycle": 4})
    again.sync()
    assert _journal(tmp_path).load()["cycle"] == 4


def test_a_tail_of_zeros_from_a_torn_sector_is_cut_off(tmp_path: Path) -> None:
    j, lines = _two_records(tmp_path)
    _log(j).write_bytes(lines[0] + bytes(len(lines[1]) - 1) + b"\n")
    assert _journal(tmp_path).load()["cycle"] == 2
    assert _log(j).read_bytes() == lines[0]


def test_a_kept_torn_tail_loses_the_next_append(tmp_path: Path) -> None:
    """The journal-keeps-torn-tail mutant: what cutting the tail off prevents (the append
    behind the garbage was made when the torn record was not durable: it is cut as a tail)."""
    j, lines = _two_records(tmp_path)
    _log(j).write_bytes(lines[0] + lines[1][:7])
    again = _journal(tmp_path)
    again.cut_torn_tail = False
    again.load()
    again.append({"cycle": 4})
    again.sync()
    assert _journal(tmp_path).replay().meta["cycle"] == 2


def test_a_lost_tail_replays_the_records_before_it(tmp_path: Path) -> None:
    j, lines = _two_records(tmp_path)
    _log(j).write_bytes(lines[0])
    assert _journal(tmp_path).load()["cycle"] == 2
    _log(j).write_bytes(b"")
    assert _journal(tmp_path).load()["cycle"] == 1


def test_a_corrupt_middle_record_names_what_is_lost(tmp_path: Path) -> None:
    j, lines = _two_records(tmp_path)
    j.append({"cycle": 4})
    j.sync()
    lines = _log(j).read_bytes().splitlines(keepends=True)
    _log(j).write_bytes(lines[0] + lines[1][:10] + b"\n" + lines[2])
    with pytest.raises(JournalError, match=r"after record 1 is corrupt .* records 2\.\.3 cannot"):
        _journal(tmp_path).load()
    _log(j).write_bytes(lines[0][:10] + b"\n" + lines[1])
    with pytest.raises(JournalError, match=r"after record 0 is corrupt .* records 1\.\.2 cannot"):
        _journal(tmp_path).load()


DAMAGES = {
    "bit flip": lambda byte: byte ^ 0xFF,
    "line end": lambda byte: ord("\n"),
    "zero": lambda byte: 0,
}


@pytest.mark.parametrize("damage", DAMAGES)
def test_damage_to_any_byte_of_a_synced_record_is_an_error(tmp_path: Path, damage: str) -> None:
    """Whatever byte of a durable record is hit (its line end too, which glues it to the next
    one), valid records behind it make it damage a power loss cannot cause: an error naming
    them, never a torn tail cut off with synced records in it.  A hit in the last record is a
    torn tail: the site recovers the record before it."""
    j = _journal(tmp_path)
    j.load()
    for cycle in (2, 3, 4, 5):
        j.append({"cycle": cycle, "copy_map": {"add": [cycle]}})
        j.sync()
    log = _log(j).read_bytes()
    last = log.rstrip(b"\n").rfind(b"\n") + 1
    first_line_end = log.find(b"\n")
    for at in range(len(log)):
        damaged = bytearray(log)
        damaged[at] = DAMAGES[damage](log[at])
        if damaged == log:
            continue
        _log(j).write_bytes(damaged)
        if at >= last:
            assert _journal(tmp_path).replay().meta["cycle"] == 4, at
            continue
        hit = 1 if at <= first_line_end else 1 + log[:at].count(b"\n")
        with pytest.raises(JournalError, match=rf"after record {hit - 1} is corrupt .*"
                                               r"records \d\.\.4 cannot be trusted"):  # fmt: skip
            _journal(tmp_path).replay()


def test_unsynced_appends_may_survive_a_torn_one_before_them(tmp_path: Path) -> None:
    """Two appends with no barrier between: a power loss may tear the first and keep the
    second, so both are a tail to cut, not damage."""
    j = _journal(tmp_path)
    j.load()
    j.append({"cycle": 2})
    j.sync()
    j.append({"cycle": 3})
    j.append({"cycle": 4})
    lines = _log(j).read_bytes().splitlines(keepends=True)
    _log(j).write_bytes(lines[0] + lines[1][:12] + lines[2])
    again = _journal(tmp_path)
    assert again.load()["cycle"] == 2
    assert _log(j).read_bytes() == lines[0]


def test_records_written_before_they_said_what_was_synced_replay(tmp_path: Path) -> None:
    import json
    import zlib

    def old_record(seq: int, changes: dict[str, int]) -> bytes:
        crc = zlib.crc32(json.dumps({"seq": seq, "changes": changes}, sort_keys=True).encode())
        line = json.dumps({"seq": seq, "changes": changes, "crc": crc}, sort_keys=True)
        return line.encode() + b"\n"

    j = _journal(tmp_path)
    _log(j).write_bytes(old_record(1, {"cycle": 2}) + old_record(2, {"cycle": 3}))
    assert _journal(tmp_path).load()["cycle"] == 3
    _log(j).write_bytes(old_record(1, {"cycle": 2})[:-1] + b"x" + old_record(2, {"cycle": 3}))
    with pytest.raises(JournalError, match=r"records 1\.\.2 cannot be trusted"):
        _journal(tmp_path).load()


def test_a_gap_in_the_sequence_names_the_missing_records(tmp_path: Path) -> None:
    j, lines = _two_records(tmp_path)
    j.append({"cycle": 4})
    j.append({"cycle": 5})
    j.sync()
    lines = _log(j).read_bytes().splitlines(keepends=True)
    _log(j).write_bytes(lines[0] + lines[3])
    with pytest.raises(JournalError, match=r"records 2\.\.3 lost: missing \(record 4 follows"):
        _journal(tmp_path).load()


def test_a_log_that_lost_records_after_the_snapshot_is_an_error(tmp_path: Path) -> None:
    j, _ = _two_records(tmp_path)
    j.compact(_journal(tmp_path).load())  # snapshot at record 2
    for cycle in (4, 5):
        j.append({"cycle": cycle})
    j.sync()
    lines = _log(j).read_bytes().splitlines(keepends=True)
    _log(j).write_bytes(lines[1])
    with pytest.raises(JournalError, match=r"record 3 lost: missing \(record 4 follows record 2\)"):
        _journal(tmp_path).load()


def test_a_memory_store_replays_like_files(tmp_path: Path) -> None:
    store = MemoryStore("local")
    j = Journal(store, "local", {"cycle": 1, "copy_map": GrainMap(8)})
    j.load()
    j.append({"copy_map": {"add": [1, 2]}, "cycle": 7})
    j.sync()
    again = Journal(
        MemoryStore("local", store.read_log()), "local", {"cycle": 1, "copy_map": GrainMap(8)}
    )
    meta = again.load()
    assert meta["cycle"] == 7 and meta["copy_map"] == GrainMap(8, [1, 2])


def test_journal_compaction_keeps_the_state(tmp_path: Path) -> None:
    j = _journal(tmp_path)
    meta = j.load()
    for g in range(8):
        j.append({"copy_map": {"add": [g]}})
    meta = _journal(tmp_path).load()
    j.compact(meta)
    j.append({"copy_map": {"remove": [0]}})
    assert _log(j).read_bytes().count(b"\n") == 1
    again = _journal(tmp_path).load()
    assert again["copy_map"] == GrainMap(8, range(1, 8))


def test_a_record_that_assigns_a_map_then_adds_changes_the_assigned_map() -> None:
    meta: dict[str, int | GrainMap] = {"copy_map": GrainMap(8, [0, 1])}
    apply_changes(meta, {"copy_map": {"assign": GrainMap(8, [5]).to_hex(), "add": [6],
                                      "remove": [5]}})  # fmt: skip
    copy_map = meta["copy_map"]
    assert isinstance(copy_map, GrainMap) and sorted(copy_map) == [6]


def test_a_record_that_clears_a_map_then_adds_names_only_the_grains_it_holds() -> None:
    meta: dict[str, int | GrainMap] = {"copy_map": GrainMap(8, [0, 1]), "future_map": GrainMap(8)}
    apply_changes(meta, {"copy_map": {"clear": True, "add": [3]}, "future_map": {"clear": True}})
    assert meta == {"copy_map": GrainMap(8, [3]), "future_map": GrainMap(8)}


def test_a_commit_record_grows_with_the_grains_changed_not_with_the_volume() -> None:
    def commit_bytes(grains: int, changed: int) -> int:
        copy = GrainMap(grains, range(0, 2 * changed, 2))
        records = [LocalMeta.next_cycle(3, copy, 0, 0), RemoteMeta.committed_point(2, copy, 0)]
        return sum(len(record_line(9, changes)) for changes in records)

    assert commit_bytes(1 << 20, 10) == commit_bytes(1 << 10, 10) < 1000
    assert commit_bytes(1 << 20, 1000) > 10 * commit_bytes(1 << 20, 10)


def test_windows_hold_at_most_so_many_grains_of_the_map() -> None:
    grains = GrainMap(100, [3, 4, 9, 40, 41, 42, 99])
    assert grains.windows(3) == [(3, 7), (40, 3), (99, 1)]
    assert grains.windows(100) == [(3, 97)]
    assert GrainMap(8).windows(4) == []
    assert grains.within(4, 37) == [4, 9, 40]
