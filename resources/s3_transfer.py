"""Streaming S3 transfers for backups: multipart upload from an iterator of chunks, hashed on the
fly, never holding more than ``part_size x (concurrency + 1)`` bytes in memory.

Used by ``ObjectStorageResource.upload_stream``; kept apart so the resource stays small.
"""

from __future__ import annotations

import hashlib
import itertools
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


class TransferProgress:
    """Logs a long transfer's MiB and MiB/s at least every ``every`` seconds and once at the end:
    a multi-GB dump takes minutes, and a run that logs nothing looks hung."""

    def __init__(self, where: str, log: Callable[[str], Any] | None,
                 clock: Callable[[], float] = time.monotonic, every: float = 30.0) -> None:
        self.where, self.log, self.clock, self.every = where, log, clock, every
        self.start = self.last = clock() if log is not None else 0.0
        self.size = 0

    def add(self, size: int) -> None:
        """Count ``size`` more bytes; log when ``every`` seconds passed since the last line."""
        self.size += size
        if self.log is not None and self.clock() - self.last >= self.every:
            self._report("so far")

    def done(self) -> None:
        """Log the total (only for a transfer that logged along the way: small ones stay quiet)."""
        if self.log is not None and self.last != self.start:
            self._report("in all")

    def _report(self, when: str) -> None:
        assert self.log is not None
        now = self.clock()
        took = max(now - self.start, 1e-9)
        mib = self.size / (1024 * 1024)
        self.log(f"{self.where}: {mib:.1f} MiB {when} in {took:.0f}s ({mib / took:.1f} MiB/s)")
        self.last = now


class UploadFailed(RuntimeError):
    """An upload did not complete; the partial upload was aborted, no object was created."""


class _Buffers:
    """Part buffers used again once their upload is done: a fresh 8 MiB buffer costs 2,048 page
    faults to fill, more than the copy into it. The pool grows to as many as are in use at once
    (``concurrency + 1`` in a multipart upload), so memory stays as bounded as before."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._free: list[bytearray] = []
        self._lock = threading.Lock()

    def take(self) -> bytearray:
        with self._lock:
            if self._free:
                return self._free.pop()
        return bytearray(self.size)

    def give(self, buf: bytearray) -> None:
        if len(buf) == self.size:
            with self._lock:
                self._free.append(buf)


def _parts(chunks: Iterable[bytes], buffers: _Buffers) -> Iterator[bytearray]:
    """Re-cut ``chunks`` into parts of exactly ``buffers.size`` bytes (the last may be shorter),
    each copied once into a buffer of ``buffers``.

    Parts are ``bytearray``: botocore sends one as it is, in one ``sendall``, and hashes it for
    SigV4 in one call, where it wraps ``bytes`` in a ``BytesIO`` that it reads again in 1 MiB
    copies to hash and that urllib3 sends in 16 KiB reads (and with ``Expect: 100-continue``)."""
    size = buffers.size
    buf, held = buffers.take(), 0
    for chunk in chunks:
        view = memoryview(chunk)
        while len(view):
            n = min(len(view), size - held)
            # Through a memoryview: a bytearray's own slice assignment copies a value that is
            # not a bytearray into a temporary one first.
            with memoryview(buf) as into:
                into[held:held + n] = view[:n]
            held += n
            view = view[n:]
            if held == size:
                yield buf
                buf, held = buffers.take(), 0
    if held:
        del buf[held:]
        yield buf


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
    progress: TransferProgress | None = None,
) -> UploadResult:
    """Upload the bytes of ``chunks`` to ``bucket/key``.

    A payload smaller than one part goes up with one PUT; anything larger as a multipart upload
    with up to ``concurrency`` parts in flight. Any failure (of the source iterator too) aborts
    the multipart upload, so no object appears under ``key``; the error names the key.
    ``progress`` hears of every part handed over (MiB and MiB/s in the run's log).
    """
    part_size = max(part_size, MIN_PART)
    started = time.monotonic()
    extra: dict[str, Any] = {"ContentType": content_type, "Metadata": metadata or {}}
    where = f"s3://{bucket}/{key}"
    buffers = _Buffers(part_size)
    parts = _parts(chunks, buffers)
    try:
        first = next(parts, bytearray())
        second = next(parts, None) if len(first) == part_size else None
    except Exception as exc:
        raise UploadFailed(f"{where}: the source failed before anything was written: "
                           f"{exc}") from exc
    if second is None:
        call(f"PUT {where}", lambda: client.put_object(Bucket=bucket, Key=key, Body=first,
                                                        **extra))
        return UploadResult(bucket, key, len(first), hashlib.sha256(first).hexdigest(), 1,
                            time.monotonic() - started)
    upload = _Multipart(call, client, bucket, key, concurrency, progress, buffers.give)
    upload.start(extra)
    try:
        upload.send_all(itertools.chain((first, second), parts))
    except BaseException as exc:
        upload.abort()
        if isinstance(exc, Exception):
            raise UploadFailed(f"{where}: upload aborted after {upload.size} bytes: "
                               f"{type(exc).__name__}: {exc}") from exc
        raise
    if progress is not None:
        progress.done()
    return UploadResult(bucket, key, upload.size, upload.digest.hexdigest(), upload.count,
                        time.monotonic() - started)


class _Multipart:
    """One multipart upload: parts sent on a thread pool, at most ``concurrency`` in flight (so
    memory holds at most ``concurrency + 1`` parts), hashed in order as they are handed over."""

    def __init__(self, call: Callable[[str, Callable[[], Any]], Any], client: Any, bucket: str,
                 key: str, concurrency: int, progress: TransferProgress | None = None,
                 done: Callable[[bytearray], None] = lambda _: None):
        self.call, self.client, self.bucket, self.key = call, client, bucket, key
        self.done = done
        self.progress = progress
        self.where = f"s3://{bucket}/{key}"
        self.concurrency = concurrency
        self.digest = hashlib.sha256()
        self.size = 0
        self.count = 0
        self.upload_id = ""
        self._slots = threading.Semaphore(concurrency)
        self._futures: list[Future[dict[str, Any]]] = []

    def start(self, extra: dict[str, Any]) -> None:
        out = self.call(f"CreateMultipartUpload {self.where}",
                        lambda: self.client.create_multipart_upload(
                            Bucket=self.bucket, Key=self.key, **extra))
        self.upload_id = out["UploadId"]

    def _send(self, number: int, body: bytearray) -> dict[str, Any]:
        try:
            out = self.call(f"UploadPart {number} of {self.where}",
                            lambda: self.client.upload_part(
                                Bucket=self.bucket, Key=self.key, UploadId=self.upload_id,
                                PartNumber=number, Body=body))
            # Sent (retries included): its buffer can take another part.
            self.done(body)
            return {"PartNumber": number, "ETag": out["ETag"]}
        finally:
            self._slots.release()

    def _raise_failed(self) -> None:
        for f in self._futures:
            if f.done() and f.exception() is not None:
                raise f.exception()  # type: ignore[misc]

    def send_all(self, parts: Iterable[bytearray]) -> None:
        """Send every part, then complete the upload (raises the first failure)."""
        with ThreadPoolExecutor(max_workers=self.concurrency,
                                thread_name_prefix="s3-part") as pool:
            try:
                for body in parts:
                    self.digest.update(body)
                    self.size += len(body)
                    self.count += 1
                    self._slots.acquire()
                    self._raise_failed()
                    self._futures.append(pool.submit(self._send, self.count, body))
                    if self.progress is not None:
                        self.progress.add(len(body))
                done = [f.result() for f in self._futures]
            except BaseException:
                for f in self._futures:
                    f.cancel()
                raise
        self.call(f"CompleteMultipartUpload {self.where}",
                  lambda: self.client.complete_multipart_upload(
                      Bucket=self.bucket, Key=self.key, UploadId=self.upload_id,
                      MultipartUpload={"Parts": done}))

    def abort(self) -> None:
        try:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=self.key,
                                               UploadId=self.upload_id)
        except Exception:  # noqa: BLE001 - the original error is the one to report
            pass


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
