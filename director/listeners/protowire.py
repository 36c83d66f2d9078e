"""Protocol Buffers wire format, by field number: enough to read and write platform frames.

Douyin and Kuaishou push protobuf messages whose schemas are not published; their field numbers
are known from public protocol notes (see ../shared/REFERENCE.md). Rather than ship generated code
for guessed `.proto` files, listeners read messages as {field number: [values]} and pick the fields
they need, skipping the rest, which is also what keeps them working when a platform adds fields.
Writing (for acks, heartbeats and the tests' fake servers) uses the same representation.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

VARINT, FIXED64, BYTES, FIXED32 = 0, 1, 2, 5


class ProtoError(ValueError):
    """Bytes that are not a valid protobuf message."""


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise ProtoError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ProtoError("varint too long")


def parse(data: bytes) -> dict[int, list[Any]]:
    """Fields of one message: number -> values (int for varint/fixed, bytes for the rest)."""
    fields: dict[int, list[Any]] = {}
    pos = 0
    end = len(data)
    while pos < end:
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise ProtoError("field number 0")
        value: Any
        if wire == VARINT:
            value, pos = _varint(data, pos)
        elif wire == BYTES:
            length, pos = _varint(data, pos)
            if pos + length > end:
                raise ProtoError(f"field {number} runs past the end of the message")
            value = bytes(data[pos:pos + length])
            pos += length
        elif wire == FIXED64:
            if pos + 8 > end:
                raise ProtoError("truncated fixed64")
            value = int.from_bytes(data[pos:pos + 8], "little")
            pos += 8
        elif wire == FIXED32:
            if pos + 4 > end:
                raise ProtoError("truncated fixed32")
            value = int.from_bytes(data[pos:pos + 4], "little")
            pos += 4
        else:
            raise ProtoError(f"unsupported wire type {wire}")
        fields.setdefault(number, []).append(value)
    return fields


class Message:
    """Read access to a parsed message with defaults, like generated code would give."""

    __slots__ = ("fields",)

    def __init__(self, data: bytes | dict[int, list[Any]]) -> None:
        self.fields = parse(bytes(data)) if isinstance(data, (bytes, bytearray)) else data

    def uint(self, number: int, default: int = 0) -> int:
        """A varint or fixed field (the last value if repeated)."""
        values = self.fields.get(number)
        if not values or not isinstance(values[-1], int):
            return default
        return int(values[-1])

    def flag(self, number: int) -> bool:
        return bool(self.uint(number))

    def raw(self, number: int) -> bytes:
        values = self.fields.get(number)
        if not values or not isinstance(values[-1], bytes):
            return b""
        value: bytes = values[-1]
        return value

    def text(self, number: int) -> str:
        return self.raw(number).decode("utf-8", errors="replace")

    def sub(self, number: int) -> Message:
        """An embedded message (empty if absent)."""
        return Message(self.raw(number))

    def subs(self, number: int) -> list[Message]:
        return [Message(v) for v in self.fields.get(number, []) if isinstance(v, bytes)]

    def texts(self, number: int) -> list[str]:
        return [v.decode("utf-8", errors="replace") for v in self.fields.get(number, [])
                if isinstance(v, bytes)]


def _put_varint(out: bytearray, value: int) -> None:
    if value < 0:
        value &= (1 << 64) - 1
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return


def encode(fields: dict[int, Any] | Iterable[tuple[int, Any]]) -> bytes:
    """Encode {number: value}: int → varint, bool → varint, str/bytes → bytes, dict → message,
    list → repeated field.
    """
    out = bytearray()
    items = fields.items() if isinstance(fields, dict) else fields
    for number, value in items:
        values = value if isinstance(value, list) else [value]
        for v in values:
            if v is None:
                continue
            if isinstance(v, int):  # bool too
                _put_varint(out, number << 3 | VARINT)
                _put_varint(out, int(v))
                continue
            if isinstance(v, dict):
                v = encode(v)
            elif isinstance(v, str):
                v = v.encode("utf-8")
            if not isinstance(v, (bytes, bytearray)):
                raise TypeError(f"cannot encode field {number}: {type(v).__name__}")
            _put_varint(out, number << 3 | BYTES)
            _put_varint(out, len(v))
            out += v
    return bytes(out)
