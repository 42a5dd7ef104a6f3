"""Streaming S3 transfers for backups: multipart upload from an iterator of chunks, hashed on the
fly, never holding more than ``part_size x (concurrency + 1)`` bytes in memory.

Used by ``ObjectStorageResource.upload_stream``; kept apart so the resource stays small.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

MIN_PART = 5 * 1024 * 1024


@dataclass(frozen=True)
class UploadResult:
    """What was written: the key, its size, sha256 of the bytes, parts and seconds taken."""

    bucket: str
    key: str
    size: int
    sha256: str
    parts: int
    seconds: float


class UploadFailed(RuntimeError):
    """An upload did not complete; the partial upload was aborted, no object was created."""


def _parts(chunks: Iterable[bytes], part_size: int) -> Iterator[bytes]:
    """Re-cut ``chunks`` into parts of exactly ``part_size`` bytes (the last may be shorter),
    copying each byte about once."""
    pending: list[bytes] = []
    size = 0
    for chunk in chunks:
        pending.append(chunk)
        size += len(chunk)
        if size >= part_size:
            data = b"".join(pending)
            while len(data) >= part_size:
                yield data[:part_size]
                data = data[part_size:]
            pending = [data] if data else []
            size = len(data)
    if size:
        yield b"".join(pending)


def multipart_upload(
    call: Callable[[str, Callable[[], Any]], Any],
    client: Any,
    bucket: str,
    key: str,
    chunks: Iterable[bytes],
    part_size: int = 8 * 1024 * 1024,
    concurrency: int = 6,
    content_type: str = "application/octet-stream",
    metadata: dict[str, str] | None = None,
) -> UploadResult:
    """Upload the bytes of ``chunks`` to ``bucket/key``.

    A payload smaller than one part goes up with one PUT; anything larger as a multipart upload
    with up to ``concurrency`` parts in flight. Any failure (of the source iterator too) aborts
    the multipart upload, so no object appears under ``key``; the error names the key.
    """
    part_size = max(part_size, MIN_PART)
    started = time.monotonic()
    digest = hashlib.sha256()
    size = 0
    extra: dict[str, Any] = {"ContentType": content_type, "Metadata": metadata or {}}
    where = f"s3://{bucket}/{key}"
    parts = _parts(chunks, part_size)
    try:
        first = next(parts, b"")
        second = next(parts, None) if len(first) == part_size else None
    except Exception as exc:
        raise UploadFailed(f"{where}: the source failed before anything was written: "
                           f"{exc}") from exc
    if second is None:
        digest.update(first)
        call(f"PUT {where}", lambda: client.put_object(Bucket=bucket, Key=key, Body=first,
                                                        **extra))
        return UploadResult(bucket, key, len(first), digest.hexdigest(), 1,
                            time.monotonic() - started)

    upload = call(f"CreateMultipartUpload {where}",
                  lambda: client.create_multipart_upload(Bucket=bucket, Key=key, **extra))
    upload_id = upload["UploadId"]
    slots = threading.Semaphore(concurrency)
    futures: list[Future[dict[str, Any]]] = []

    def send(number: int, body: bytes) -> dict[str, Any]:
        try:
            out = call(f"UploadPart {number} of {where}",
                       lambda: client.upload_part(Bucket=bucket, Key=key, UploadId=upload_id,
                                                  PartNumber=number, Body=body))
            return {"PartNumber": number, "ETag": out["ETag"]}
        finally:
            slots.release()

    def all_parts() -> Iterator[bytes]:
        yield first
        yield second
        yield from parts

    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="s3-part")
    try:
        for number, body in enumerate(all_parts(), start=1):
            digest.update(body)
            size += len(body)
            slots.acquire()
            for f in futures:
                if f.done() and f.exception():
                    raise f.exception()  # type: ignore[misc]
            futures.append(pool.submit(send, number, body))
        done = [f.result() for f in futures]
        call(f"CompleteMultipartUpload {where}",
             lambda: client.complete_multipart_upload(
                 Bucket=bucket, Key=key, UploadId=upload_id,
                 MultipartUpload={"Parts": done}))
    except BaseException as exc:
        for f in futures:
            f.cancel()
        pool.shutdown(wait=True, cancel_futures=True)
        try:
            client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        except Exception:  # noqa: BLE001 - the original error is the one to report
            pass
        if isinstance(exc, Exception):
            raise UploadFailed(f"{where}: upload aborted after {size} bytes: "
                               f"{type(exc).__name__}: {exc}") from exc
        raise
    pool.shutdown(wait=True)
    return UploadResult(bucket, key, size, digest.hexdigest(), len(futures),
                        time.monotonic() - started)


def read_chunks(body: Any, chunk_size: int = 1024 * 1024) -> Iterator[bytes]:
    """Iterate over a botocore ``StreamingBody`` in chunks, closing it at the end."""
    try:
        while True:
            chunk = body.read(chunk_size)
            if not chunk:
                return
            yield chunk
    finally:
        body.close()
