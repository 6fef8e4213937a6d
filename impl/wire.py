"""The byte form of the messages one site sends another: versioned, length-checked, checksummed.

A design's messages are frozen dataclasses whose fields are `int` (unsigned, 64 bits), `str`
(UTF-8) or `bytes`; the design lists them once, in a `Vocabulary`, and a message's type code is
its place in that list (so a list is only ever appended to).  One message is

    magic "PITMMSG" | version u8 | design u8 | type u16 | payload length u32 | crc u32 | payload

and its payload is the fields in declaration order: an int as 8 bytes, a str or bytes as a
4-byte length and the bytes.  Decoding checks every part (magic, version, design, type, length,
checksum, each field's bounds, nothing left over) before it builds the message, so a garbage,
truncated, oversized or corrupted message is one `MessageError` and nothing of it is applied.
The checksum is the CRC-32C of everything before it and the payload (any one flipped bit is
caught; the hardware instruction makes it cheap next to the copies of a 16 MiB extent); a frame
of the network transport carries its own as well.  An extent's bytes are copied once, into the
message.
"""

from __future__ import annotations

import dataclasses
import struct
from dataclasses import dataclass
from typing import Any

import crc32c

MAGIC = b"PITMMSG"
VERSION = 3
"""3: design B's DeltaRuns; 2: the checksum is CRC-32C (1: zlib's CRC-32)"""
HEADER = struct.Struct("<7sBBHI")
_CRC = struct.Struct("<I")
HEADER_BYTES = HEADER.size + _CRC.size
MAX_PAYLOAD_BYTES = 64 * 1024 * 1024
"""the largest payload accepted: an extent of up to 1,024 grains of 64 KiB"""
_INT = struct.Struct("<Q")
_LENGTH = struct.Struct("<I")
_KINDS = ("int", "str", "bytes")


class MessageError(ValueError):
    """Bytes that are no well-formed message of the vocabulary, or a message that cannot be
    encoded."""


@dataclass(frozen=True)
class Vocabulary:
    """One design's messages: `design` is its one-letter name, `types` its message classes in
    type-code order."""

    design: str
    types: tuple[type[Any], ...]

    def __post_init__(self) -> None:
        for cls in self.types:
            for field in dataclasses.fields(cls):
                if _kind(field) not in _KINDS:
                    raise TypeError(f"{cls.__name__}.{field.name}: {field.type} is not encodable")

    @property
    def code(self) -> int:
        return ord(self.design)

    def encode(self, message: object) -> bytes:
        try:
            kind = self.types.index(type(message))
        except ValueError:
            raise MessageError(
                f"{type(message).__name__} is no message of design {self.design}"
            ) from None
        fields = dataclasses.fields(message)  # type: ignore[arg-type]
        parts = [part for field in fields for part in _field_parts(message, field)]
        length = sum(len(part) for part in parts)
        if length > MAX_PAYLOAD_BYTES:
            raise MessageError(f"a {length}-byte {type(message).__name__} is too large")
        header = HEADER.pack(MAGIC, VERSION, self.code, kind, length)
        crc = crc32c.crc32c(header)
        for part in parts:
            crc = crc32c.crc32c(part, crc)
        return b"".join([header, _CRC.pack(crc), *parts])

    def decode(self, data: bytes | bytearray | memoryview) -> Any:
        view = memoryview(data)
        if len(view) < HEADER_BYTES:
            raise MessageError(f"a message of {len(view)} bytes is shorter than its header")
        magic, version, design, kind, length = HEADER.unpack_from(view)
        (crc,) = _CRC.unpack_from(view, HEADER.size)
        if magic != MAGIC:
            raise MessageError("not a pitmirror message (bad magic)")
        if version != VERSION:
            raise MessageError(f"message version {version}; this site speaks version {VERSION}")
        if design != self.code:
            raise MessageError(f"a message of design {chr(design)!r}, not of {self.design}")
        if kind >= len(self.types):
            raise MessageError(f"unknown message type {kind} of design {self.design}")
        if length > MAX_PAYLOAD_BYTES:
            raise MessageError(f"a payload of {length} bytes is larger than any message")
        payload = view[HEADER_BYTES:]
        if len(payload) != length:
            raise MessageError(f"the payload is {len(payload)} bytes; the header says {length}")
        if crc32c.crc32c(payload, crc32c.crc32c(view[: HEADER.size])) != crc:
            raise MessageError("the message's checksum does not match: it is damaged")
        cls = self.types[kind]
        values, at = [], 0
        for field in dataclasses.fields(cls):
            value, at = _read_field(payload, at, _kind(field), f"{cls.__name__}.{field.name}")
            values.append(value)
        if at != len(payload):
            raise MessageError(f"{len(payload) - at} bytes left over after a {cls.__name__}")
        return cls(*values)


def _field_parts(message: object, field: dataclasses.Field[Any]) -> list[bytes | memoryview]:
    """A field's bytes in the payload: an int's 8, or a length and the bytes (not copied)."""
    value = getattr(message, field.name)
    if _kind(field) == "int":
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**64:
            raise MessageError(f"{field.name}={value!r} is not an unsigned 64-bit integer")
        return [_INT.pack(value)]
    raw = value.encode() if _kind(field) == "str" else memoryview(value).cast("B")
    return [_LENGTH.pack(len(raw)), raw]


def _read_field(payload: memoryview, at: int, kind: str, name: str) -> tuple[object, int]:
    if kind == "int":
        if at + _INT.size > len(payload):
            raise MessageError(f"the message ends inside {name}")
        return _INT.unpack_from(payload, at)[0], at + _INT.size
    if at + _LENGTH.size > len(payload):
        raise MessageError(f"the message ends inside {name}'s length")
    (length,) = _LENGTH.unpack_from(payload, at)
    start, end = at + _LENGTH.size, at + _LENGTH.size + length
    if end > len(payload):
        raise MessageError(f"{name} runs {end - len(payload)} bytes past the message's end")
    raw = bytes(payload[start:end])
    if kind == "bytes":
        return raw, end
    try:
        return raw.decode(), end
    except UnicodeDecodeError:
        raise MessageError(f"{name} is not UTF-8") from None


def _kind(field: dataclasses.Field[Any]) -> str:
    """A field's type by name, whether its annotation was evaluated or not."""
    return field.type if isinstance(field.type, str) else getattr(field.type, "__name__", "?")
