"""Pure helpers of the engine: grain encoding, bitmaps and extents, the metadata journal."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pitmirror.impl.bitmap import GrainMap
from pitmirror.impl.grains import CorruptGrain, decode_grain, grain_bytes
from pitmirror.impl.journal import Journal, JournalError


@given(st.lists(st.booleans(), max_size=200), st.integers(1, 8) | st.none())
def test_extents_cover_exactly_the_set_bits(bits: list[bool], max_len: int | None) -> None:
    array = np.array(bits, dtype=np.bool_)
    grain_map = GrainMap(len(bits))
    grain_map.bits[:] = array
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


def test_journal_drops_a_torn_last_record_but_not_a_corrupt_middle(tmp_path: Path) -> None:
    j = _journal(tmp_path)
    j.load()
    j.append({"cycle": 2})
    j.append({"cycle": 3})
    raw = j.log_path.read_bytes()
    j.log_path.write_bytes(raw[:-5])  # the crash hit the second append
    assert _journal(tmp_path).load()["cycle"] == 2
    lines = raw.splitlines(keepends=True)
    j.log_path.write_bytes(lines[0][:10] + b"\n" + lines[1])
    with pytest.raises(JournalError, match="record 1 is corrupt"):
        _journal(tmp_path).load()


def test_journal_compaction_keeps_the_state(tmp_path: Path) -> None:
    j = _journal(tmp_path)
    meta = j.load()
    for g in range(8):
        j.append({"copy_map": {"add": [g]}})
    meta = _journal(tmp_path).load()
    j.compact(meta)
    j.append({"copy_map": {"remove": [0]}})
    assert j.log_path.read_bytes().count(b"\n") == 1
    again = _journal(tmp_path).load()
    assert again["copy_map"] == GrainMap(8, range(1, 8))
