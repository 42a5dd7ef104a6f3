"""How a backup object's bytes are encoded: compression (zstd, or gzip for older backups) and
client-side encryption (AES-256-GCM), as streams of chunks with bounded memory both ways.

The encoding of each object is recorded in its manifest entry (``Encoding.details``), so a
restore decodes what was written, whatever the spec says today; an entry without one is an older
backup: gzip for ``application/gzip``, plain bytes otherwise.

Encryption is the STREAM construction of Hoang, Reyhanitabar, Rogaway and Vizár ("Online
authenticated-encryption and its nonce-reuse misuse-resistance", CRYPTO 2015), as Tink's
``AesGcmHkdfStreaming`` uses it: a random salt per object derives the object's key from the
backup key (HKDF-SHA256), and the plaintext is cut into 1 MiB segments, each sealed with
AES-256-GCM under the nonce ``prefix ‖ segment number ‖ last-segment flag`` and the header as
associated data; so reordered, dropped, truncated or appended segments fail authentication,
and no segment is released before it is authenticated.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import itertools
import os
import struct
import zlib
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

GZIP, ZSTD, PLAIN = "gzip", "zstd", "none"
AES_GCM_STREAM = "aes-256-gcm-hkdf-stream"
MAGIC = b"POBKENC1"
SEGMENT = 1024 * 1024
_TAG = 16
_PREFIX = 7
_HEADER = struct.Struct(f">8s16s{_PREFIX}sI")
_HKDF_INFO = b"platform-ops backup object v1"
# Output of one decompression step: a bomb of highly compressible input stays bounded.
_OUT = 4 * 1024 * 1024
_ZSTD_STEP = 512
# zstd's default decoder limit (ZSTD_WINDOWLOG_LIMIT_DEFAULT, 128 MiB), stated.
_MAX_WINDOW = 1 << 27


class StreamError(ValueError):
    """Bytes that do not decode: corrupt, truncated, or sealed with another key."""


class BackupKeyError(ValueError):
    """The backup encryption key is missing or malformed (the message never holds the key)."""


def parse_key(text: str | None, variable: str) -> bytes:
    """A 256-bit key from ``text`` (base64 of 32 bytes, or 64 hex digits)."""
    if not text or not text.strip():
        raise BackupKeyError(f"{variable} is not set: the spec asks for encrypted backups; set "
                             "it to a 256-bit key (openssl rand -base64 32)")
    raw = text.strip()
    key: bytes | None = None
    if len(raw) == 64:
        try:
            key = bytes.fromhex(raw)
        except ValueError:
            key = None
    if key is None:
        try:
            key = base64.b64decode(raw + "=" * (-len(raw) % 4), altchars=b"-_"
                                   if ("-" in raw or "_" in raw) else None, validate=True)
        except (binascii.Error, ValueError):
            key = None
    if key is None or len(key) != 32:
        raise BackupKeyError(f"{variable} is not a 256-bit key: give 32 bytes as base64 "
                             "(openssl rand -base64 32) or as 64 hex digits")
    return key


def key_id(key: bytes) -> str:
    """A short public name of a key (a hash of it), recorded so a restore with another key says
    so before it decrypts anything."""
    return hashlib.sha256(b"platform-ops backup key id\0" + key).hexdigest()[:16]


@dataclass(frozen=True)
class Encoding:
    """How one object's bytes were written."""

    compression: str = ZSTD
    encryption: str | None = None
    key_id: str | None = None

    @property
    def suffix(self) -> str:
        """The object name's ending (``.zst``, ``.gz``, plus ``.enc`` when encrypted)."""
        ext = {ZSTD: ".zst", GZIP: ".gz", PLAIN: ""}[self.compression]
        return ext + (".enc" if self.encryption else "")

    @property
    def content_type(self) -> str:
        if self.encryption:
            return "application/octet-stream"
        return {ZSTD: "application/zstd", GZIP: "application/gzip"}.get(
            self.compression, "application/octet-stream")

    def details(self) -> dict[str, Any]:
        """The manifest entry's fields for this encoding."""
        out: dict[str, Any] = {"compression": self.compression}
        if self.encryption:
            out.update(encryption=self.encryption, key_id=self.key_id)
        return out

    @classmethod
    def of_entry(cls, details: dict[str, Any], content_type: str) -> Encoding:
        """The encoding a manifest entry records; older entries have none (see the module)."""
        compression = details.get("compression") or (
            GZIP if content_type == "application/gzip" else PLAIN)
        if compression not in (GZIP, ZSTD, PLAIN):
            raise StreamError(f"unknown compression {compression!r}")
        encryption = details.get("encryption")
        if encryption not in (None, AES_GCM_STREAM):
            raise StreamError(f"unknown encryption {encryption!r}")
        return cls(compression, encryption, details.get("key_id"))


def encode(chunks: Iterable[bytes], encoding: Encoding, key: bytes | None = None,
           level: int = 3, threads: int = 2) -> Iterator[bytes]:
    """Compress, then encrypt when ``encoding.encryption`` is set (with ``key``)."""
    if encoding.compression == ZSTD:
        out = zstd_compress(chunks, level, threads)
    elif encoding.compression == GZIP:
        out = gzip_blocks(chunks, min(level, 9), threads)
    else:
        out = iter(chunks)
    if encoding.encryption:
        if key is None:
            raise BackupKeyError("encryption asked for without a key")
        return encrypt(out, key)
    return out


def decode(chunks: Iterable[bytes], encoding: Encoding, key: bytes | None = None
           ) -> Iterator[bytes]:
    """The original bytes of an object written with ``encoding``."""
    data: Iterable[bytes] = chunks
    if encoding.encryption:
        if key is None:
            raise BackupKeyError("the object is encrypted (key id "
                            f"{encoding.key_id}) and no backup key is configured")
        if encoding.key_id and key_id(key) != encoding.key_id:
            raise BackupKeyError(f"the object was encrypted with key id {encoding.key_id}, the "
                            f"configured backup key has id {key_id(key)}: wrong key")
        data = decrypt(data, key)
    if encoding.compression == ZSTD:
        return zstd_decompress(data)
    if encoding.compression == GZIP:
        return gunzip_members(data)
    return iter(data)


def zstd_compress(chunks: Iterable[bytes], level: int = 3, threads: int = 2
                  ) -> Iterator[bytes]:
    """One zstd frame of ``chunks``, compressed on ``threads`` worker threads of libzstd (0: in
    the caller's thread)."""
    import zstandard

    comp = zstandard.ZstdCompressor(level=level, threads=threads).compressobj()
    for chunk in chunks:
        out = comp.compress(chunk)
        if out:
            yield out
    yield comp.flush()


def zstd_decompress(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Decompress zstd frames; a truncated frame is an error.

    Input goes to libzstd ``_ZSTD_STEP`` bytes at a time: a zstd block expands at most 32768
    times (a 4-byte RLE block is 128 KiB), so one step never yields more than 16 MiB, whatever
    the input; output is handed on in pieces of about ``_OUT``."""
    import zstandard

    dctx = zstandard.ZstdDecompressor(max_window_size=_MAX_WINDOW)
    dec, in_frame, out = dctx.decompressobj(), False, bytearray()
    try:
        for chunk in chunks:
            for i in range(0, len(chunk), _ZSTD_STEP):
                piece = chunk[i:i + _ZSTD_STEP]
                while piece:
                    out += dec.decompress(piece)
                    in_frame, piece = True, b""
                    if dec.eof:
                        piece, dec, in_frame = dec.unused_data, dctx.decompressobj(), False
                if len(out) >= _OUT:
                    yield bytes(out)
                    out.clear()
    except zstandard.ZstdError as exc:
        raise StreamError(f"zstd: {exc}") from None
    if in_frame:
        raise StreamError("zstd: the stream ends inside a frame (truncated)")
    if out:
        yield bytes(out)


def gzip_blocks(chunks: Iterable[bytes], level: int = 1, threads: int = 2) -> Iterator[bytes]:
    """Gzip ``chunks`` as one gzip member per chunk, compressed on ``threads`` threads (zlib
    releases the GIL), in order. Concatenated members are a valid gzip file (RFC 1952), as
    ``pigz`` writes them; at most ``2 x threads`` chunks are in memory."""

    def one(block: bytes) -> bytes:
        gz = zlib.compressobj(level, zlib.DEFLATED, 31)
        return gz.compress(block) + gz.flush()

    if threads <= 1:
        yield from map(one, chunks)
        return
    pending: deque[Future[bytes]] = deque()
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="gzip") as pool:
        for chunk in chunks:
            pending.append(pool.submit(one, chunk))
            if len(pending) >= 2 * threads:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def gunzip_members(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Decompress a gzip stream of one or more members (``gzip_blocks`` writes several), at most
    ``_OUT`` bytes at a time; a truncated member is an error."""
    gunzip, in_member = zlib.decompressobj(31), False
    try:
        for chunk in chunks:
            while chunk:
                out = gunzip.decompress(chunk, _OUT)
                in_member = True
                if out:
                    yield out
                if gunzip.eof:
                    chunk, gunzip, in_member = gunzip.unused_data, zlib.decompressobj(31), False
                else:
                    chunk = gunzip.unconsumed_tail
        # Output zlib still holds when the last input was consumed under the max_length.
        tail = gunzip.flush() if in_member else b""
    except zlib.error as exc:
        raise StreamError(f"gzip: {exc}") from None
    if tail:
        yield tail
    if in_member and not gunzip.eof:
        raise StreamError("gzip: the stream ends inside a member (truncated)")


def _derived_key(key: bytes, salt: bytes) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=_HKDF_INFO).derive(key)


def _object_key(key: bytes, salt: bytes) -> Any:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return AESGCM(_derived_key(key, salt))


def _nonce(prefix: bytes, number: int, last: bool) -> bytes:
    return prefix + struct.pack(">I?", number, last)


def _cut(chunks: Iterable[bytes], size: int) -> Iterator[tuple[bytes | memoryview, bool]]:
    """Re-cut ``chunks`` into ``size``-byte pieces, each with whether it is the last (only the
    last may be shorter; an empty input is one empty last piece).

    Pieces are read-only views of the joined input where they can be (AES-GCM reads them
    through the buffer protocol), so each byte is copied once here, by the join."""
    pending: list[bytes | memoryview] = []
    held = 0
    for chunk in chunks:
        pending.append(chunk)
        held += len(chunk)
        if held <= size:
            continue
        view = memoryview(pending[0] if len(pending) == 1 else b"".join(pending))
        whole = (held - 1) // size  # pieces that certainly have bytes after them
        for i in range(whole):
            yield view[i * size:(i + 1) * size], False
        pending, held = [view[whole * size:]], held - whole * size
    yield (pending[0] if len(pending) == 1 else b"".join(pending)), True


def _segments(chunks: Iterable[bytes], size: int) -> Iterator[tuple[list[memoryview], bool]]:
    """Group ``chunks`` into ``size``-byte segments, each as views of the chunks it spans (no
    copy), with whether it is the last: a segment is handed on once a byte after it is known,
    so only the last may be shorter, and an empty input is one empty last segment."""
    held: list[memoryview] = []
    count = 0
    for chunk in chunks:
        view = memoryview(chunk)
        while count + len(view) > size:
            cut = size - count
            held.append(view[:cut])
            yield held, False
            held, count, view = [], 0, view[cut:]
        if len(view):
            held.append(view)
            count += len(view)
    yield held, True


def encrypt(chunks: Iterable[bytes], key: bytes, segment: int = SEGMENT) -> Iterator[bytes]:
    """Seal ``chunks`` with ``key`` (see the module); the header first.

    Each segment is sealed piece by piece as the views of the chunks it spans (AES-GCM
    incrementally, the tag after its last piece): the same bytes as one ``AESGCM.encrypt`` of
    the joined segment, without the join's copy into a fresh buffer."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    header = _HEADER.pack(MAGIC, os.urandom(16), os.urandom(_PREFIX), segment)
    _, salt, prefix, _ = _HEADER.unpack(header)
    aes = algorithms.AES(_derived_key(key, salt))
    yield header
    for number, (views, last) in enumerate(_segments(chunks, segment)):
        sealer = Cipher(aes, modes.GCM(_nonce(prefix, number, last))).encryptor()
        sealer.authenticate_additional_data(header)
        for view in views:
            if len(view):
                yield sealer.update(view)
        sealer.finalize()
        yield sealer.tag


def decrypt(chunks: Iterable[bytes], key: bytes) -> Iterator[bytes]:
    """Open what ``encrypt`` sealed; any change, truncation or another key is a
    ``StreamError`` naming the segment, raised before that segment's bytes are released."""
    from cryptography.exceptions import InvalidTag

    it = iter(chunks)
    buf = bytearray()
    for chunk in it:
        buf += chunk
        if len(buf) >= _HEADER.size:
            break
    if len(buf) < _HEADER.size or bytes(buf[:8]) != MAGIC:
        raise StreamError("not an encrypted backup object (no platform-ops header)")
    header = bytes(buf[:_HEADER.size])
    del buf[:_HEADER.size]
    _, salt, prefix, segment = _HEADER.unpack(header)
    if not 1024 <= segment <= 16 * SEGMENT:
        raise StreamError(f"segment size {segment} in the header is out of range")
    aead = _object_key(key, salt)
    for number, (data, last) in enumerate(_cut(itertools.chain([bytes(buf)], it),
                                               segment + _TAG)):
        try:
            yield bytes(aead.decrypt(_nonce(prefix, number, last), data, header))
        except InvalidTag:
            raise StreamError(f"segment {number} does not authenticate: wrong key, or the "
                              "object was changed or truncated") from None
