"""Streamed uploads cut their source into parts of exactly the part size, each copied once into a
buffer that is used again once its part is sent (resources/s3_transfer.py)."""

from __future__ import annotations

import os

from resources.s3_transfer import _Buffers, _parts


def test_parts_are_the_part_size_whatever_the_chunks_and_the_last_is_the_rest() -> None:
    data = os.urandom(5 * 1000 + 123)
    chunks = [data[:1], data[1:2500], data[2500:2500], data[2500:]]
    parts = [bytes(p) for p in _parts(chunks, _Buffers(1000))]
    assert [len(p) for p in parts] == [1000] * 5 + [123]
    assert b"".join(parts) == data


def test_parts_are_bytearrays_and_a_given_back_buffer_takes_a_later_part() -> None:
    buffers = _Buffers(4)
    parts = _parts([b"abcdefghij"], buffers)
    first = next(parts)
    assert isinstance(first, bytearray) and first == b"abcd"
    second = next(parts)
    assert second == b"efgh" and second is not first
    buffers.give(first)  # its upload is done
    assert next(parts) is first and first == b"ij"  # the pool's buffer, cut to the rest
    buffers.give(first)  # a short buffer is not kept: it cannot hold a whole part
    assert buffers.take() is not first


def test_no_bytes_no_part() -> None:
    assert list(_parts([b"", b""], _Buffers(8))) == []
    assert list(_parts([b"12345678"], _Buffers(8))) == [bytearray(b"12345678")]
