"""Backup object encodings: zstd and gzip, client-side AES-256-GCM streaming, keys, and what a
corrupt, truncated or wrongly keyed object does (platform_assets/backups/streams.py)."""

from __future__ import annotations

import base64
import os
import zlib

import pytest

from platform_assets.backups.streams import (
    AES_GCM_STREAM,
    GZIP,
    PLAIN,
    ZSTD,
    BackupKeyError,
    Encoding,
    StreamError,
    decode,
    decrypt,
    encode,
    encrypt,
    gunzip_members,
    gzip_blocks,
    key_id,
    parse_key,
    zstd_compress,
    zstd_decompress,
)

KEY = bytes(range(32))
OTHER = bytes(32)


def pieces(data: bytes, size: int) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)] or [b""]


@pytest.mark.parametrize("compression", [ZSTD, GZIP, PLAIN])
@pytest.mark.parametrize("encrypted", [False, True])
@pytest.mark.parametrize("size", [0, 1, 1024 * 1024, 3 * 1024 * 1024 + 17])
def test_round_trip(compression: str, encrypted: bool, size: int) -> None:
    data = (b"INSERT INTO t VALUES (1,'abc');\n" * (size // 30 + 1))[:size]
    enc = Encoding(compression, AES_GCM_STREAM if encrypted else None,
                   key_id(KEY) if encrypted else None)
    sealed = b"".join(encode(iter(pieces(data, 300_000)), enc, KEY, level=3, threads=2))
    if size > 1000 and compression != PLAIN:
        assert len(sealed) < size / 5
    # Re-chunked arbitrarily on the way back, as S3 reads deliver them.
    assert b"".join(decode(iter(pieces(sealed, 77_777)), enc, KEY)) == data


def test_segments_are_authenticated_and_bound_to_their_place() -> None:
    data = os.urandom(3 * 1024 * 1024 + 5)
    sealed = b"".join(encrypt(iter([data]), KEY, segment=1024 * 1024))
    seg = 1024 * 1024 + 16
    head = len(sealed) - (3 * seg + 5 + 16)
    assert b"".join(decrypt(iter([sealed]), KEY)) == data
    flipped = bytearray(sealed)
    flipped[head + seg + 10] ^= 1
    with pytest.raises(StreamError, match="segment 1 does not authenticate"):
        b"".join(decrypt(iter([bytes(flipped)]), KEY))
    # Dropping the tail at a segment boundary: the new last segment was not sealed as last.
    with pytest.raises(StreamError, match="segment 2 does not authenticate"):
        b"".join(decrypt(iter([sealed[:head + 3 * seg]]), KEY))
    swapped = sealed[:head] + sealed[head + seg:head + 2 * seg] + sealed[head:head + seg] + \
        sealed[head + 2 * seg:]
    with pytest.raises(StreamError, match="segment 0"):
        b"".join(decrypt(iter([swapped]), KEY))
    with pytest.raises(StreamError, match="segment 0"):
        b"".join(decrypt(iter([sealed]), OTHER))
    with pytest.raises(StreamError, match="no platform-ops header"):
        b"".join(decrypt(iter([b"-- plain SQL dump\n"]), KEY))
    # The first segment is never released before it authenticates.
    out = decrypt(iter([bytes(flipped)]), KEY)
    assert len(next(out)) == 1024 * 1024
    with pytest.raises(StreamError):
        next(out)


@pytest.mark.parametrize("size", [0, 5, 4096, 4096 * 3, 4096 * 3 + 1])
@pytest.mark.parametrize("piece", [1, 1000, 4096, 10_000])
def test_sealed_as_one_aes_gcm_encrypt_of_each_segment(size: int, piece: int) -> None:
    """The format: header, then each segment sealed whole with the nonce prefix, its number
    and the last flag, the header as associated data; whatever the pieces it arrives in."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    data = os.urandom(size)
    sealed = b"".join(encrypt(iter(pieces(data, piece)), KEY, segment=4096))
    header = sealed[:8 + 16 + 7 + 4]
    assert header[:8] == b"POBKENC1" and int.from_bytes(header[-4:], "big") == 4096
    aead = AESGCM(HKDF(algorithm=hashes.SHA256(), length=32, salt=header[8:24],
                       info=b"platform-ops backup object v1").derive(KEY))
    plain = [data[i:i + 4096] for i in range(0, size, 4096)] or [b""]
    assert sealed == header + b"".join(
        aead.encrypt(header[24:31] + n.to_bytes(4, "big") + bytes([n == len(plain) - 1]),
                     segment, header)
        for n, segment in enumerate(plain))


def test_wrong_or_missing_key_is_named_before_anything_is_decrypted() -> None:
    enc = Encoding(ZSTD, AES_GCM_STREAM, key_id(KEY))
    sealed = b"".join(encode(iter([b"data"]), enc, KEY))
    with pytest.raises(BackupKeyError, match=f"key id {key_id(KEY)}.*has id {key_id(OTHER)}"):
        next(decode(iter([sealed]), enc, OTHER))
    with pytest.raises(BackupKeyError, match="no backup key is configured"):
        next(decode(iter([sealed]), enc, None))


def test_parse_key_accepts_base64_and_hex_and_never_echoes_it() -> None:
    assert parse_key(base64.b64encode(KEY).decode(), "K") == KEY
    assert parse_key(base64.urlsafe_b64encode(KEY).decode().rstrip("="), "K") == KEY
    assert parse_key(KEY.hex() + "\n", "K") == KEY
    for bad in ("c2hvcnQ=", "not base64 at all!", "zz" * 32):
        with pytest.raises(BackupKeyError, match="K is not a 256-bit key") as info:
            parse_key(bad, "K")
        assert bad not in str(info.value)
    with pytest.raises(BackupKeyError, match="K is not set"):
        parse_key("", "K")


def test_older_entries_decode_as_they_were_written() -> None:
    assert Encoding.of_entry({}, "application/gzip") == Encoding(GZIP)
    assert Encoding.of_entry({}, "application/yaml") == Encoding(PLAIN)
    new = Encoding(ZSTD, AES_GCM_STREAM, "abcd")
    assert Encoding.of_entry(new.details(), "application/octet-stream") == new
    assert new.suffix == ".zst.enc" and Encoding(GZIP).suffix == ".gz"
    with pytest.raises(StreamError, match="unknown compression 'lz4'"):
        Encoding.of_entry({"compression": "lz4"}, "x")


def test_parallel_gzip_members_round_trip() -> None:
    blocks = [os.urandom(1000) + b"a" * 50_000 for _ in range(9)]
    for threads in (1, 3):
        gz = b"".join(gzip_blocks(iter(blocks), level=1, threads=threads))
        assert zlib.decompress(gz, 31)  # first member alone is valid gzip
        assert b"".join(gunzip_members(pieces(gz, 4096))) == b"".join(blocks)


def test_decompression_output_is_bounded_and_truncation_is_an_error() -> None:
    zeros = b"\0" * (64 * 1024 * 1024)
    gz = b"".join(gzip_blocks(iter([zeros]), level=9, threads=1))
    zs = b"".join(zstd_compress(iter([zeros]), level=3, threads=0))
    assert len(gz) < 100_000 and len(zs) < 10_000
    assert max(len(o) for o in gunzip_members(iter([gz]))) <= 4 * 1024 * 1024
    # 64 MiB from a few KB: handed on in pieces of at most one step's 16 MiB (+ 4 MiB).
    assert max(len(o) for o in zstd_decompress(iter([zs]))) <= 20 * 1024 * 1024
    with pytest.raises(StreamError, match="zstd"):
        b"".join(zstd_decompress(iter([zs[: len(zs) // 2]])))
    with pytest.raises(StreamError, match="gzip"):
        b"".join(gunzip_members(iter([b"\x1f\x8b\x08\x00garbage"])))


def test_unset_level_is_two_for_streams_and_three_for_volume_chunks() -> None:
    from platform_assets.spec.models import BackupCompression

    default = BackupCompression()
    assert (default.stream_level, default.chunk_level) == (2, 3)
    assert (BackupCompression(algorithm="gzip").stream_level,
            BackupCompression(algorithm="gzip").chunk_level) == (3, 3)
    chosen = BackupCompression(level=7)
    assert (chosen.stream_level, chosen.chunk_level) == (7, 7)
    text = b"".join(b"INSERT INTO posts VALUES (%d,'post %d');\n" % (i, i % 97)
                    for i in range(20000))
    packed = b"".join(zstd_compress(iter([text]), default.stream_level, default.threads))
    assert len(packed) < len(text) // 4
    assert b"".join(zstd_decompress(iter([packed]))) == text
