"""The protobuf wire format (https://protobuf.dev/programming-guides/encoding/), the little
of it the sandbox speaks: reading the messages kubectl sends as
``application/vnd.kubernetes.protobuf`` and writing the OpenAPI v2 document it asks for as
protobuf. Hand-rolled rather than generated: the project ships no ``.proto`` files and the
messages involved are few; the callers hold the field numbers, each naming its ``.proto``.
"""

from __future__ import annotations

import struct

VARINT, FIXED64, BYTES, FIXED32 = 0, 1, 2, 5


def read_varint(buf: bytes, at: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if at >= len(buf):
            raise ValueError("truncated varint")
        byte = buf[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, at
        shift += 7


def fields(buf: bytes) -> list[tuple[int, int | bytes]]:
    """The (field number, value) pairs of one message, in wire order: varints as ints, the
    length-delimited as bytes, fixed-width fields as their raw bytes."""
    out: list[tuple[int, int | bytes]] = []
    at = 0
    while at < len(buf):
        key, at = read_varint(buf, at)
        number, wire = key >> 3, key & 7
        if wire == VARINT:
            value, at = read_varint(buf, at)
            out.append((number, value))
            continue
        if wire == BYTES:
            size, at = read_varint(buf, at)
        elif wire in (FIXED64, FIXED32):
            size = 8 if wire == FIXED64 else 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        if at + size > len(buf):
            raise ValueError("truncated field")
        out.append((number, buf[at:at + size]))
        at += size
    return out


def varint(value: int) -> bytes:
    if value < 0:  # int32/int64 negatives are their 64-bit two's complement
        value += 1 << 64
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def key(number: int, wire: int) -> bytes:
    return varint(number << 3 | wire)


def message(number: int, body: bytes) -> bytes:
    """A length-delimited field: a nested message, a string or bytes."""
    return key(number, BYTES) + varint(len(body)) + body


def string(number: int, value: str) -> bytes:
    """A proto3 string: the empty string is the default and is not written."""
    return message(number, value.encode()) if value else b""


def integer(number: int, value: int) -> bytes:
    return key(number, VARINT) + varint(value) if value else b""


def boolean(number: int, value: bool) -> bytes:
    return key(number, VARINT) + b"\x01" if value else b""


def double(number: int, value: float) -> bytes:
    return key(number, FIXED64) + struct.pack("<d", value) if value else b""
