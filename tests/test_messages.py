"""The sites' messages as bytes (impl/wire.py): every message of every design's vocabulary
comes back as itself; garbage, truncated, oversized, damaged or foreign bytes are one clear
MessageError; and a site given bad bytes changes nothing."""

from __future__ import annotations

import dataclasses
import struct
from pathlib import Path

import crc32c
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pitmirror.harness.cyclic_flashcopy.world import FlashCopyWorld
from pitmirror.harness.designs import Subject
from pitmirror.harness.freeze_overlay.world import OverlayWorld
from pitmirror.impl.cyclic_flashcopy.messages import MESSAGES, Commit, MirrorWrite
from pitmirror.impl.freeze_overlay.messages import MESSAGES as B_MESSAGES
from pitmirror.impl.freeze_overlay.messages import DeltaWrite
from pitmirror.impl.freeze_overlay.site import OverlaySite, initial_meta
from pitmirror.impl.journal import Journal
from pitmirror.impl.site import EngineRefused
from pitmirror.impl.wire import HEADER, MAX_PAYLOAD_BYTES, VERSION, MessageError, Vocabulary
from pitmirror.model import cyclic_flashcopy as A
from pitmirror.model import freeze_overlay as B
from pitmirror.model.actions import CopyDelta, CopyGrain, HostWrite

VOCABULARIES = (MESSAGES, B_MESSAGES)
U64 = st.integers(0, 2**64 - 1)


def messages_of(vocabulary: Vocabulary) -> st.SearchStrategy[object]:
    """Any message of the vocabulary, every field drawn over its whole range."""
    by_kind = {"int": U64, "bytes": st.binary(max_size=256), "str": st.text(max_size=32)}
    # MirrorRuns and DeltaRuns: runs of 16 bytes each (their own check refuses anything else)
    by_name = {"runs": st.lists(st.binary(min_size=16, max_size=16), max_size=4).map(b"".join)}

    def of(cls: type[object]) -> st.SearchStrategy[object]:
        fields = {f.name: by_name.get(f.name, by_kind[str(f.type)])
                  for f in dataclasses.fields(cls)}  # type: ignore[arg-type]  # fmt: skip
        return st.builds(cls, **fields)

    return st.one_of([of(cls) for cls in vocabulary.types])


@pytest.mark.parametrize("vocabulary", VOCABULARIES, ids=lambda v: v.design)
@settings(max_examples=200)
@given(data=st.data())
def test_every_message_comes_back_as_itself(vocabulary: Vocabulary, data: st.DataObject) -> None:
    message = data.draw(messages_of(vocabulary))
    assert vocabulary.decode(vocabulary.encode(message)) == message


@pytest.mark.parametrize("vocabulary", VOCABULARIES, ids=lambda v: v.design)
@settings(max_examples=200)
@given(data=st.data())
def test_a_truncated_or_extended_message_is_refused(
    vocabulary: Vocabulary, data: st.DataObject
) -> None:
    encoded = vocabulary.encode(data.draw(messages_of(vocabulary)))
    cut = data.draw(st.integers(0, len(encoded) - 1))
    with pytest.raises(MessageError):
        vocabulary.decode(encoded[:cut])
    with pytest.raises(MessageError):
        vocabulary.decode(encoded + data.draw(st.binary(min_size=1, max_size=8)))


@pytest.mark.parametrize("vocabulary", VOCABULARIES, ids=lambda v: v.design)
@settings(max_examples=300)
@given(data=st.data())
def test_any_flipped_bit_is_caught(vocabulary: Vocabulary, data: st.DataObject) -> None:
    encoded = bytearray(vocabulary.encode(data.draw(messages_of(vocabulary))))
    bit = data.draw(st.integers(0, len(encoded) * 8 - 1))
    encoded[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(MessageError):
        vocabulary.decode(bytes(encoded))


@given(st.binary(max_size=64))
def test_garbage_is_refused(garbage: bytes) -> None:
    with pytest.raises(MessageError):
        MESSAGES.decode(garbage)


def _forged(kind: int, payload: bytes, design: int = ord("A"), version: int = VERSION) -> bytes:
    header = HEADER.pack(b"PITMMSG", version, design, kind, len(payload))
    return header + struct.pack("<I", crc32c.crc32c(payload, crc32c.crc32c(header))) + payload


@pytest.mark.parametrize(
    ("forged", "words"),
    [
        (_forged(0, b"", version=1), "message version 1; this site speaks version 3"),
        (_forged(0, b"", design=ord("B")), "of design 'B', not of A"),
        (_forged(7, b""), "unknown message type 7"),
        (_forged(2, struct.pack("<I", 5) + b"12345" + struct.pack("<I", 0)), "no list of runs"),
        (_forged(1, struct.pack("<QQ", 3, 0) + b"x"), "1 bytes left over after a Commit"),
        (_forged(0, struct.pack("<QI", 3, 99) + b"abc"), "MirrorWrite.data runs 96 bytes past"),
        (b"NOTPITM" + bytes(16), "bad magic"),
    ],
)
def test_each_bad_message_is_named(forged: bytes, words: str) -> None:
    with pytest.raises(MessageError, match=words):
        MESSAGES.decode(forged)


def test_an_oversized_message_is_refused_both_ways() -> None:
    with pytest.raises(MessageError, match="too large"):
        MESSAGES.encode(MirrorWrite(0, bytes(MAX_PAYLOAD_BYTES)))
    header = HEADER.pack(b"PITMMSG", VERSION, ord("A"), 0, MAX_PAYLOAD_BYTES + 1)
    with pytest.raises(MessageError, match="larger than any message"):
        MESSAGES.decode(header + bytes(4))


def test_what_cannot_be_encoded_is_refused() -> None:
    with pytest.raises(MessageError, match="not an unsigned 64-bit integer"):
        MESSAGES.encode(Commit(-1))
    with pytest.raises(MessageError, match="HostWrite is no message of design A"):
        MESSAGES.encode(HostWrite(0, 1))
    with pytest.raises(TypeError, match="not encodable"):

        @dataclasses.dataclass(frozen=True)
        class Floaty:
            x: float

        Vocabulary("Z", (Floaty,))


def test_a_site_given_bad_bytes_changes_nothing() -> None:
    """A damaged mirror write reaches the remote: refused before anything is written."""
    with Subject(A.DESIGN, A.Options(), None, 4).volume_set("memory") as volume_set:
        world = FlashCopyWorld(*volume_set.fresh(), A.Options())
        sent: list[bytes] = []
        world.link.tap = sent.append
        world.apply(CopyGrain(0))
        good = sent[0]
        store = world.remote.journal.store

        def remote_state() -> tuple[bytes, bytes | None, bytes, str]:
            meta = world.remote.live_meta()
            maps = ",".join(
                f"{k}={v.to_hex() if hasattr(v, 'to_hex') else v}" for k, v in meta.items()
            )
            return store.read_log(), store.read_snapshot(), world.remote.i2.read_grains(0, 4), maps

        before = remote_state()
        damaged = good[:-1] + bytes([good[-1] ^ 0xFF])
        with pytest.raises(MessageError, match="damaged"):
            world.remote.receive(damaged)
        with pytest.raises(MessageError):
            world.remote.receive(good[:30])
        assert remote_state() == before
        assert MESSAGES.decode(good) == MirrorWrite(0, world.local.source.read_grains(0))


def test_a_design_b_remote_refuses_a_delta_it_has_no_copy_for() -> None:
    """A well-formed message the remote's state does not allow (a member it holds no copy of):
    refused, nothing written."""
    with Subject(B.DESIGN, B.Options(), "single", 2).volume_set("memory") as volume_set:
        world = OverlayWorld(B.topology("single", 2), *volume_set.fresh(), B.Options())
        sent: list[bytes] = []
        link = world.sites["left"].links["right"]
        link.tap = sent.append  # type: ignore[attr-defined]
        world.apply(CopyDelta("right", 0))
        assert B_MESSAGES.decode(sent[0]) == DeltaWrite(0, 0, 0, 1, bytes(4096))
        log = world.sites["right"].journal.store.read_log()
        stranger = B_MESSAGES.encode(DeltaWrite(0, 7, 0, 1, bytes(4096)))
        with pytest.raises(EngineRefused, match="holds no copy of member 7"):
            world.sites["right"].receive(stranger)
        assert world.sites["right"].journal.store.read_log() == log


def test_a_design_b_site_takes_only_its_own_volumes(tmp_path: Path) -> None:
    topology = B.topology("single", 2)
    with Subject(B.DESIGN, B.Options(), "single", 2).volume_set("memory") as volume_set:
        volumes, _ = volume_set.fresh()
        journal = Journal(tmp_path, "left", initial_meta(topology, "left"))
        with pytest.raises(ValueError, match="other sites' volumes"):
            OverlaySite("left", topology, volumes, journal, B.Options(), {})
