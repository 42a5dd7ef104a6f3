"""S3: a moto server on an internal port, fronted by a counting, fault-injecting proxy.

The proxy forwards the request bytes unchanged (Host header included, so a SigV4 signature
still matches what the client signed) and streams the answer back. Buckets may live in any
region name, IONOS's (``de``, ``eu-central-3``) included: moto takes the region from the
request's credential scope and the ``LocationConstraint``.

moto keeps its state in memory only. With a state directory the service snapshots every
bucket (region, versioning, lifecycle, every object version with its content type and user
metadata) to ``<state_dir>/s3`` shortly after each write and at stop, and replays it into moto at
start. Replayed versions get new version ids.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import http.client
import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
import uuid
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sandbox.http import Request, Response, Service

log = logging.getLogger(__name__)

ACCESS_KEY = "sandbox-access-key"
SECRET_KEY = "sandbox-secret-key"

# Hop-by-hop headers and the ones the sandbox's HTTP server writes itself.
_DROP_REQUEST = {"connection", "keep-alive", "transfer-encoding", "expect", "content-length"}
_DROP_RESPONSE = {"connection", "keep-alive", "transfer-encoding", "date", "server",
                  "content-length"}

_ERROR_CODES = {
    429: ("SlowDown", "Please reduce your request rate."),
    500: ("InternalError", "We encountered an internal error. Please try again."),
    502: ("BadGateway", "The gateway received an invalid response."),
    503: ("SlowDown", "Please reduce your request rate."),
    504: ("GatewayTimeout", "The gateway timed out."),
}

_WRITES = {"PUT", "POST", "DELETE"}

# The moto child: print its port, serve until stdin closes (the sandbox stopped or died).
# moto 5 drops every version of a key when it is written or deleted in a bucket whose
# versioning is Suspended. S3 (User Guide, "Working with objects in a versioning-suspended
# bucket") only replaces or removes the key's "null" version there, adding a delete marker with
# version id null on a delete, and keeps the versions written before: the child patches that in.
_MOTO_CHILD = """
import logging, sys
logging.getLogger("werkzeug").setLevel(logging.ERROR)
from moto.s3.models import FakeDeleteMarker, S3Backend
from moto.server import ThreadedMotoServer

_put, _delete = S3Backend.put_object, S3Backend.delete_object

def _suspended(backend, bucket_name):
    try:
        return backend.get_bucket(bucket_name).versioning_status == "Suspended"
    except Exception:
        return False

def _kept(bucket, key_name):
    return [k for k in bucket.keys.getlist(key_name, []) if str(k.version_id) != "null"]

def put_object(self, bucket_name, key_name, *args, **kwargs):
    if not _suspended(self, bucket_name):
        return _put(self, bucket_name, key_name, *args, **kwargs)
    bucket = self.get_bucket(bucket_name)
    kept = _kept(bucket, key_name)
    # Hide the kept versions from moto, which disposes of every version it replaces.
    dict.__setitem__(bucket.keys, key_name, [k for k in bucket.keys.getlist(key_name, [])
                                             if k not in kept])
    try:
        new = _put(self, bucket_name, key_name, *args, **kwargs)
    finally:
        versions = kept + [k for k in bucket.keys.getlist(key_name, []) if k not in kept]
        if versions:
            dict.__setitem__(bucket.keys, key_name, versions)
        else:
            dict.pop(bucket.keys, key_name, None)
    return new

def delete_object(self, bucket_name, key_name, version_id=None, bypass=False):
    if not _suspended(self, bucket_name):
        return _delete(self, bucket_name, key_name, version_id, bypass)
    bucket = self.get_bucket(bucket_name)
    if version_id is not None:
        bucket.versioning_status = "Enabled"
        try:
            return _delete(self, bucket_name, key_name, version_id, bypass)
        finally:
            bucket.versioning_status = "Suspended"
    versions = bucket.keys.getlist(key_name, [])
    if not versions:
        return _delete(self, bucket_name, key_name, version_id, bypass)
    marker = FakeDeleteMarker(key=versions[-1])
    marker._version_id = "null"
    bucket.keys.setlist(key_name, _kept(bucket, key_name) + [marker])
    return True, {"version-id": "null", "delete-marker": "true"}

S3Backend.put_object, S3Backend.delete_object = put_object, delete_object
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
print(server.get_host_and_port()[1], flush=True)
sys.stdin.read()
"""


class S3Service(Service):
    """The proxy in front of moto; ``start`` brings moto up, ``stop`` snapshots and stops it."""

    name = "s3"

    def __init__(self, state_dir: Path | None = None, snapshot_interval: float = 1.0,
                 keys: dict[str, str] | None = None, name: str = "s3"):
        # Who may call it (access key id -> secret key), checked as S3 does (sandbox.s3_auth);
        # ``name`` counts and faults it apart from another store's.
        self.keys = dict(keys) if keys is not None else {ACCESS_KEY: SECRET_KEY}
        self.name = name
        self._state_dir = state_dir / "s3" if state_dir is not None else None
        self._snapshot_interval = snapshot_interval
        self._moto: Any = None
        self._moto_port = 0
        self._dirty = threading.Event()
        self._stopping = threading.Event()
        self._snapshot_lock = threading.Lock()
        self._snapshotter: threading.Thread | None = None

    @property
    def moto_url(self) -> str:
        return f"http://127.0.0.1:{self._moto_port}"

    def start(self) -> None:
        """Start moto on a free internal port and restore the snapshot, if there is one.

        moto runs in a child process: its state is then this sandbox's alone (moto keeps
        module-global backends, which ``mock_aws`` in the same process would reset), and its
        import runs on another core. The child exits when its stdin closes, so it never
        outlives the sandbox.
        """
        errors = tempfile.TemporaryFile(mode="w+")
        self._moto = subprocess.Popen(
            [sys.executable, "-c", _MOTO_CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=errors, text=True,
        )
        assert self._moto.stdout is not None
        line = self._moto.stdout.readline().strip()
        if not line.isdigit():
            self._moto.kill()
            self._moto.wait()
            self._moto = None
            errors.seek(0)
            raise RuntimeError("the sandbox's moto S3 server did not start: "
                               f"{line} {errors.read()[-2000:]}")
        errors.close()
        self._moto_port = int(line)
        if self._state_dir is not None:
            try:
                self._restore()
            except BaseException:
                self.stop()
                raise
            self._snapshotter = threading.Thread(
                target=self._snapshot_loop, name="sandbox-s3-snapshot", daemon=True
            )
            self._snapshotter.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._snapshotter is not None:
            self._snapshotter.join(timeout=5)
        if self._state_dir is not None and self._dirty.is_set() and self._moto is not None:
            self._snapshot()
        if self._moto is not None:
            moto, self._moto = self._moto, None
            try:
                moto.communicate(input="", timeout=3)
            except (subprocess.TimeoutExpired, OSError, ValueError):
                moto.kill()
                moto.wait()

    def reset(self) -> None:
        """Forget every bucket (moto's reset clears all its in-memory backends)."""
        conn = http.client.HTTPConnection("127.0.0.1", self._moto_port, timeout=30)
        try:
            conn.request("POST", "/moto-api/reset")
            conn.getresponse().read()
        finally:
            conn.close()
        self._dirty.set()

    def handle(self, req: Request) -> Response:
        from sandbox.s3_auth import check

        denied = check(req.method, req.target or req.path,
                       {k.lower(): v for k, v in req.headers.items()}, req.body, self.keys)
        if denied is not None:
            return s3_error(denied.status, denied.code, denied.message)
        refused = sse_c_over_http(req)
        if refused is not None:
            return refused
        if req.method == "PUT":
            rejected = checksum_error(req)
            if rejected is not None:
                return rejected
        conn = http.client.HTTPConnection("127.0.0.1", self._moto_port, timeout=60)
        conn.putrequest(req.method, req.target or req.path, skip_host=True,
                        skip_accept_encoding=True)
        for key, value in req.headers.items():
            if key.lower() not in _DROP_REQUEST:
                conn.putheader(key, value)
        if req.body or req.method in ("PUT", "POST"):
            conn.putheader("Content-Length", str(len(req.body)))
        conn.endheaders(req.body or None)
        upstream = conn.getresponse()
        if req.method in _WRITES and upstream.status < 300:
            self._dirty.set()
        headers = {k: v for k, v in upstream.getheaders() if k.lower() not in _DROP_RESPONSE}
        length = upstream.getheader("Content-Length")
        if req.method == "HEAD":
            upstream.read()
            conn.close()
            if length is not None:
                headers["Content-Length"] = length
            return Response(upstream.status, b"", headers, content_type="")
        if length is None:
            body = upstream.read()
            conn.close()
            return Response(upstream.status, body, headers, content_type="")
        headers["Content-Length"] = length
        return Response(upstream.status, _stream(upstream, conn), headers, content_type="")

    def fault_response(self, status: int, retry_after: int) -> Response:
        code, message = _ERROR_CODES.get(status, ("InternalError", "Injected fault."))
        resp = s3_error(status, code, message)
        resp.headers["Retry-After"] = str(retry_after)
        return resp

    def _client(self) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3", endpoint_url=self.moto_url, region_name="us-east-1",
            aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
            config=Config(retries={"max_attempts": 1}),
        )

    def _snapshot_loop(self) -> None:
        while not self._stopping.wait(self._snapshot_interval):
            if self._dirty.is_set():
                try:
                    self._snapshot()
                except Exception:  # keep snapshotting; the next write retries
                    log.exception("sandbox s3: snapshot failed")

    def _snapshot(self) -> None:
        from botocore.exceptions import ClientError

        assert self._state_dir is not None
        with self._snapshot_lock:
            self._dirty.clear()
            client = self._client()
            blobs = self._state_dir / "blobs"
            blobs.mkdir(parents=True, exist_ok=True)
            buckets: list[dict[str, Any]] = []
            for bucket in client.list_buckets().get("Buckets", []):
                name = bucket["Name"]
                region = client.get_bucket_location(Bucket=name).get("LocationConstraint")
                versioning = client.get_bucket_versioning(Bucket=name).get("Status")
                try:
                    rules = client.get_bucket_lifecycle_configuration(Bucket=name)["Rules"]
                except ClientError:
                    rules = None
                buckets.append({
                    "name": name, "region": region or "us-east-1", "versioning": versioning,
                    "lifecycle": rules, "objects": self._snapshot_objects(client, name, blobs),
                })
            manifest = self._state_dir / "snapshot.json"
            tmp = manifest.with_suffix(".tmp")
            tmp.write_text(json.dumps({"buckets": buckets}, indent=1, default=str))
            os.replace(tmp, manifest)

    def _snapshot_objects(self, client: Any, bucket: str, blobs: Path) -> list[dict[str, Any]]:
        # (key, last modified, is latest, -listing position, entry): S3 lists each key's
        # versions newest first, and timestamps tie within a second.
        entries: list[tuple[str, Any, bool, int, dict[str, Any]]] = []
        paginator = client.get_paginator("list_object_versions")
        position = 0
        for page in paginator.paginate(Bucket=bucket):
            for version in page.get("Versions", []):
                position += 1
                got = client.get_object(Bucket=bucket, Key=version["Key"],
                                        VersionId=version["VersionId"])
                data = got["Body"].read()
                digest = hashlib.sha256(data).hexdigest()
                blob = blobs / digest
                if not blob.exists():
                    blob.write_bytes(data)
                entries.append((version["Key"], version["LastModified"], version["IsLatest"],
                                -position, {
                                    "key": version["Key"], "blob": digest,
                                    "content_type": got.get("ContentType"),
                                    "metadata": got.get("Metadata", {}),
                                    "null": version["VersionId"] == "null",
                                }))
            for marker in page.get("DeleteMarkers", []):
                position += 1
                entries.append((marker["Key"], marker["LastModified"], marker["IsLatest"],
                                -position, {"key": marker["Key"], "deleted": True,
                                            "null": marker["VersionId"] == "null"}))
        entries.sort(key=lambda e: e[:4])
        return [e[4] for e in entries]

    def _restore(self) -> None:
        assert self._state_dir is not None
        manifest = self._state_dir / "snapshot.json"
        if not manifest.exists():
            return
        try:
            data = json.loads(manifest.read_text())
        except ValueError as exc:
            raise ValueError(f"{manifest}: not a valid S3 snapshot ({exc}); delete it to start "
                             "with no buckets") from None
        client = self._client()
        for bucket in data.get("buckets", []):
            name, region = bucket["name"], bucket["region"]
            if region == "us-east-1":
                client.create_bucket(Bucket=name)
            else:
                client.create_bucket(Bucket=name,
                                     CreateBucketConfiguration={"LocationConstraint": region})
            if bucket.get("lifecycle"):
                client.put_bucket_lifecycle_configuration(
                    Bucket=name, LifecycleConfiguration={"Rules": bucket["lifecycle"]})
            status = None
            for obj in bucket.get("objects", []):
                if bucket.get("versioning"):
                    # Each version as it was written: a "null" one while Suspended.
                    wanted = "Suspended" if obj.get("null") else "Enabled"
                    if wanted != status:
                        client.put_bucket_versioning(Bucket=name, VersioningConfiguration={
                            "Status": wanted})
                        status = wanted
                if obj.get("deleted"):
                    client.delete_object(Bucket=name, Key=obj["key"])
                    continue
                extra: dict[str, Any] = {"Metadata": obj.get("metadata") or {}}
                if obj.get("content_type"):
                    extra["ContentType"] = obj["content_type"]
                client.put_object(Bucket=name, Key=obj["key"],
                                  Body=(self._state_dir / "blobs" / obj["blob"]).read_bytes(),
                                  **extra)
            if bucket.get("versioning") and bucket["versioning"] != status:
                client.put_bucket_versioning(Bucket=name, VersioningConfiguration={
                    "Status": bucket["versioning"]})


# x-amz-checksum-<algorithm>: the base64 digest of the payload (AWS S3 API reference,
# PutObject and UploadPart). CRC32C and CRC64NVME are passed through unchecked.
_CHECKSUMS: dict[str, tuple[str, Callable[[bytes], bytes]]] = {
    "x-amz-checksum-sha256": ("SHA256", lambda b: hashlib.sha256(b).digest()),
    "x-amz-checksum-sha1": ("SHA1", lambda b: hashlib.sha1(b).digest()),
    "x-amz-checksum-crc32": ("CRC32", lambda b: zlib.crc32(b).to_bytes(4, "big")),
}


def checksum_error(req: Request) -> Response | None:
    """The S3 error for a PUT whose ``x-amz-checksum-*`` header or trailer does not match its
    payload, as AWS answers it: 400 ``InvalidRequest`` for a value that is not a digest, 400
    ``BadDigest`` for a digest of other bytes; None when it matches or none is sent."""
    payload, trailers = _payload(req)
    for header, (algorithm, digest) in _CHECKSUMS.items():
        sent = req.headers.get(header) or trailers.get(header)
        if sent is None:
            continue
        want = digest(b"")
        try:
            got = base64.b64decode(sent.strip(), validate=True)
        except (binascii.Error, ValueError):
            got = b""
        if len(got) != len(want):
            return s3_error(400, "InvalidRequest", f"Value for {header} header is invalid.")
        if got != digest(payload):
            return s3_error(400, "BadDigest", f"The {algorithm} you specified did not match the "
                                              "calculated checksum.")
    return None


def _payload(req: Request) -> tuple[bytes, dict[str, str]]:
    """The object bytes of a PUT and its trailing headers (``aws-chunked`` bodies decoded)."""
    encoding = (req.headers.get("Content-Encoding") or "").lower()
    streaming = (req.headers.get("x-amz-content-sha256") or "").startswith("STREAMING-")
    if "aws-chunked" not in encoding and not streaming:
        return req.body, {}
    data, pos, chunks = req.body, 0, []
    while True:
        end = data.find(b"\r\n", pos)
        if end < 0:
            return req.body, {}  # not aws-chunked after all: moto answers for it
        size_text = data[pos:end].split(b";", 1)[0]
        try:
            size = int(size_text, 16)
        except ValueError:
            return req.body, {}
        pos = end + 2
        if size == 0:
            break
        chunks.append(data[pos:pos + size])
        pos += size + 2
    trailers = {}
    for line in data[pos:].decode(errors="replace").splitlines():
        name, sep, value = line.partition(":")
        if sep:
            trailers[name.strip().lower()] = value.strip()
    return b"".join(chunks), trailers


_SSE_C_HEADERS = ("x-amz-server-side-encryption-customer-algorithm",
                  "x-amz-server-side-encryption-customer-key",
                  "x-amz-copy-source-server-side-encryption-customer-algorithm",
                  "x-amz-copy-source-server-side-encryption-customer-key")


def sse_c_over_http(req: Request) -> Response | None:
    """S3 refuses every request that carries a customer-provided key (SSE-C) over plain HTTP,
    before it reads or writes anything (Amazon S3 User Guide, "Using server-side encryption with
    customer-provided keys": "Amazon S3 rejects any requests made over HTTP when using SSE-C";
    IONOS Object Storage documents the same for its SSE-C). The sandbox's S3 endpoint is plain
    HTTP, so an SSE-C object can never be written here, nor read back without its key; moto,
    which ignores the SSE-C headers, is never asked."""
    if not any(req.headers.get(h) for h in _SSE_C_HEADERS):
        return None
    return s3_error(400, "InvalidRequest", "Requests specifying Server Side Encryption with "
                    "Customer provided keys must be made over a secure connection.")


def s3_error(status: int, code: str, message: str) -> Response:
    body = ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{code}</Code><Message>{message}</Message>"
            f"<RequestId>{uuid.uuid4().hex[:16].upper()}</RequestId></Error>")
    return Response(status, body, {}, content_type="application/xml")


def _stream(upstream: http.client.HTTPResponse,
            conn: http.client.HTTPConnection) -> Iterator[bytes]:
    try:
        while chunk := upstream.read(65536):
            yield chunk
    finally:
        conn.close()
