"""The byte forms of the link between two daemons: the banner, the frame, the peer's proof.

A connection opens with a banner each way (`PITMIRROR`, the protocol versions spoken, the
design), then frames.  A frame is

    magic "PMF1" | type u16 | flags u16 | length u32 | epoch u64 | seq u64 | crc32c u32 | payload

with the CRC-32C over the header before it and the payload, so a flipped bit anywhere is
caught.  DATA frames carry one site message (impl/wire.py, which has its own checksum);
control frames carry msgpack maps.  Reading checks the magic, the type, the length bound and
the checksum before the payload is used: bad bytes are one `FrameError` and nothing of them is
applied.  The peer proves it holds the mirror's secret with an HMAC-SHA256 over both sides'
nonces and banners, labelled by its side of the connection so a proof cannot be reflected back.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import crc32c
import msgpack

from pitmirror.impl.wire import HEADER_BYTES, MAX_PAYLOAD_BYTES

PROTOCOL_MIN = 1
PROTOCOL_MAX = 1
BANNER = struct.Struct("<9sHHcxH")
BANNER_MAGIC = b"PITMIRROR"
FRAME = struct.Struct("<4sHHIQQ")
FRAME_MAGIC = b"PMF1"
CRC = struct.Struct("<I")
FRAME_HEADER_BYTES = FRAME.size + CRC.size
MAX_FRAME_PAYLOAD = HEADER_BYTES + MAX_PAYLOAD_BYTES
"""the largest data frame accepted: one site message of the largest size"""
MAX_CONTROL_PAYLOAD = 64 * 1024
NONCE_BYTES = 32


class FrameType(IntEnum):
    HELLO = 1  # the state exchange: who, which mirror, epoch, committed point, geometry
    PROOF = 2  # a nonce, then the HMAC proof of the secret
    DATA = 3  # one site message
    ACK = 4  # every DATA frame up to `seq` is applied (cumulative)
    REFUSED = 5  # DATA frame `seq` reached the peer, which refused it (nothing written)
    HEARTBEAT = 6
    CLOSE = 7  # the sender stops: a clean shutdown, or the reason it refuses the connection
    REPORT = 8  # the listener's site tells the connector's what changed without a message of its


CONTROL_TYPES = frozenset(FrameType) - {FrameType.DATA}


class FrameError(ValueError):
    """Bytes on the link that are no well-formed frame or banner: the connection is closed."""


@dataclass(frozen=True)
class Banner:
    protocol_min: int
    protocol_max: int
    design: str
    """the design's one-letter code (impl/wire.py Vocabulary.design)"""

    def encode(self) -> bytes:
        return BANNER.pack(BANNER_MAGIC, self.protocol_min, self.protocol_max,
                           self.design.encode(), 0)  # fmt: skip

    @staticmethod
    def decode(data: bytes) -> Banner:
        magic, low, high, design, _flags = BANNER.unpack(data)
        if magic != BANNER_MAGIC:
            raise FrameError("not a pitmirror peer (bad banner)")
        try:
            letter = design.decode("ascii")
        except UnicodeDecodeError:
            raise FrameError("the banner names no design") from None
        return Banner(low, high, letter)

    def agreed(self, peer: Banner) -> int:
        """The protocol version both speak (the newest), or FrameError naming the mismatch."""
        if peer.design != self.design:
            raise FrameError(f"the peer runs design {peer.design}, this site design {self.design}")
        high, low = min(self.protocol_max, peer.protocol_max), max(self.protocol_min,
                                                                   peer.protocol_min)  # fmt: skip
        if high < low:
            raise FrameError(f"the peer speaks protocol {peer.protocol_min}..{peer.protocol_max}, "
                             f"this site {self.protocol_min}..{self.protocol_max}")  # fmt: skip
        return high


@dataclass(frozen=True)
class Frame:
    type: FrameType
    seq: int = 0
    epoch: int = 0
    payload: bytes = b""
    flags: int = 0

    def encode(self) -> bytes:
        header = FRAME.pack(FRAME_MAGIC, self.type, self.flags, len(self.payload), self.epoch,
                            self.seq)  # fmt: skip
        return header + CRC.pack(crc32c.crc32c(self.payload, crc32c.crc32c(header))) + self.payload

    def control(self) -> dict[str, Any]:
        """A control frame's fields (FrameError when its payload is no msgpack map)."""
        try:
            fields = msgpack.unpackb(self.payload, raw=False, strict_map_key=True)
        except (ValueError, TypeError, msgpack.UnpackException) as err:
            raise FrameError(f"a {self.type.name} frame whose payload is no msgpack: {err}"
                             ) from None  # fmt: skip
        if not isinstance(fields, dict):
            raise FrameError(f"a {self.type.name} frame whose payload is no map")
        return fields


def control(kind: FrameType, fields: dict[str, Any], epoch: int = 0, seq: int = 0) -> Frame:
    return Frame(kind, seq, epoch, msgpack.packb(fields, use_bin_type=True))


def check_header(header: bytes) -> tuple[FrameType, int, int, int, int, int]:
    """A frame header's fields (type, flags, length, epoch, seq, crc), checked before its payload
    is read: a stranger's bytes or an oversized length never make the reader wait for more."""
    magic, kind, flags, length, epoch, seq = FRAME.unpack_from(header)
    (crc,) = CRC.unpack_from(header, FRAME.size)
    if magic != FRAME_MAGIC:
        raise FrameError("not a pitmirror frame (bad magic)")
    try:
        frame_type = FrameType(kind)
    except ValueError:
        raise FrameError(f"unknown frame type {kind}") from None
    limit = MAX_FRAME_PAYLOAD if frame_type is FrameType.DATA else MAX_CONTROL_PAYLOAD
    if length > limit:
        raise FrameError(f"a {frame_type.name} frame of {length} bytes is larger than any")
    return frame_type, flags, length, epoch, seq, crc


def decode(data: bytes) -> Frame:
    """One whole frame from bytes (the tests' and the fault proxy's way in)."""
    if len(data) < FRAME_HEADER_BYTES:
        raise FrameError(f"a frame of {len(data)} bytes is shorter than its header")
    kind, flags, length, epoch, seq, crc = check_header(data[:FRAME_HEADER_BYTES])
    payload = data[FRAME_HEADER_BYTES:]
    if len(payload) != length:
        raise FrameError(f"the payload is {len(payload)} bytes; the header says {length}")
    return _checked(data[: FRAME.size], Frame(kind, seq, epoch, bytes(payload), flags), crc)


def _checked(header: bytes, frame: Frame, crc: int) -> Frame:
    if crc32c.crc32c(frame.payload, crc32c.crc32c(header)) != crc:
        raise FrameError(f"a {frame.type.name} frame whose checksum does not match: it is damaged")
    return frame


async def read_frame(reader: asyncio.StreamReader) -> Frame:
    """The next frame; FrameError for bad bytes, IncompleteReadError when the stream ends inside
    one."""
    header = await reader.readexactly(FRAME_HEADER_BYTES)
    kind, flags, length, epoch, seq, crc = check_header(header)
    payload = await reader.readexactly(length)
    return _checked(header[: FRAME.size], Frame(kind, seq, epoch, payload, flags), crc)


def proof(secret: bytes, side: str, nonces: tuple[bytes, bytes], banners: tuple[bytes, bytes]
          ) -> bytes:  # fmt: skip
    """What `side` ("connector" or "listener") sends to prove it holds the secret: an HMAC over
    its own nonce first, then the peer's, and both banners in the connector's order."""
    message = b"pitmirror-proof|" + side.encode() + b"|" + b"".join(nonces) + b"".join(banners)
    return hmac.new(secret, message, hashlib.sha256).digest()


def proves(secret: bytes, side: str, nonces: tuple[bytes, bytes], banners: tuple[bytes, bytes],
           given: bytes) -> bool:  # fmt: skip
    return hmac.compare_digest(proof(secret, side, nonces, banners), given)
