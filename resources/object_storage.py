"""ObjectStorageResource: IONOS S3 object storage through boto3, one client per region.

IONOS serves each region from its own endpoint (``s3.<region>.ionoscloud.com``, and the legacy
``de`` region from ``s3.eu-central-1.ionoscloud.com``); ``endpoint_url`` overrides them all (the
sandbox serves both regions from one endpoint). Path-style addressing and checksums only when
required, which third-party S3 implementations accept.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import PrivateAttr

from resources.config import ObjectStorageConfig, S3StoreConfig

if TYPE_CHECKING:
    from resources.s3_transfer import UploadResult

T = TypeVar("T")
Log = Callable[[str], Any] | None

LEGACY_ENDPOINTS = {
    "de": "https://s3.eu-central-1.ionoscloud.com",
    "eu-central-2": "https://s3.eu-central-2.ionoscloud.com",
    "eu-south-2": "https://s3.eu-south-2.ionoscloud.com",
}


class ObjectStorageResource(ObjectStorageConfig):
    """S3 credentials and endpoint; the buckets of ``stores`` use their store's own."""

    _clients: dict[str, Any] = PrivateAttr(default_factory=dict)

    def open(self) -> ObjectStorageResource:
        """This resource (its config's ``open()``, already open)."""
        return self

    def _store(self, bucket: str | None) -> S3StoreConfig | None:
        return next((s for s in self.stores if s.bucket == bucket), None) if bucket else None

    def endpoint_for(self, region: str, bucket: str | None = None) -> str:
        """The S3 endpoint of ``bucket``'s store, else of ``region``: the override when set,
        else IONOS's regional endpoint."""
        store = self._store(bucket)
        if store is not None:
            return _store_endpoint(store)
        if self.endpoint_url:
            return self.endpoint_url
        if self.endpoint_url_env:
            import os

            # Optional override read when a client is built (the sandbox sets it; production
            # leaves it unset so that each region gets its own IONOS endpoint).
            override = os.environ.get(self.endpoint_url_env)
            if override:
                return override
        return LEGACY_ENDPOINTS.get(region, f"https://s3.{region}.ionoscloud.com")

    def _explicit_keys(self, bucket: str | None = None) -> dict[str, str]:
        """The keys of ``bucket``'s store; else the keys given to this resource, else those of
        the environment (or ``*_FILE``, mounted Secrets); empty when neither is set: boto3's
        chain decides."""
        from resources.credentials import s3_keys, store_keys

        store = self._store(bucket)
        keys = (store_keys(store.bucket, store.access_key_id_env, store.secret_access_key_env)
                if store is not None else
                (self.access_key_id, self.secret_access_key)
                if self.access_key_id and self.secret_access_key else s3_keys())
        return {"aws_access_key_id": keys[0], "aws_secret_access_key": keys[1]} if keys else {}

    def agent_credentials(self, bucket: str | None = None) -> dict[str, str]:
        """The S3 keys of ``bucket`` as the environment variables of a Job that uses it (for
        the volume agent's Secret); empty when boto3's chain decides (no explicit keys)."""
        keys = self._explicit_keys(bucket)
        if not keys:
            return {}
        return {"AWS_ACCESS_KEY_ID": keys["aws_access_key_id"],
                "AWS_SECRET_ACCESS_KEY": keys["aws_secret_access_key"]}

    def client(self, region: str | None = None, bucket: str | None = None) -> Any:
        """A boto3 S3 client for ``bucket``'s store, else for ``region`` (built on first use,
        cached)."""
        store = self._store(bucket)
        region = store.region if store else region or self.default_region
        cache = f"store:{store.bucket}" if store else region
        if cache not in self._clients:
            import boto3
            from botocore.config import Config

            # A session of its own: AWS_PROFILE and the credential files are read now, not when
            # boto3 was first imported.
            self._clients[cache] = boto3.session.Session().client(
                "s3",
                endpoint_url=self.endpoint_for(region, bucket),
                region_name=region,
                **self._explicit_keys(bucket),
                config=Config(
                    s3={"addressing_style": "path"},
                    retries={"max_attempts": 1, "mode": "standard"},
                    request_checksum_calculation="when_required",
                    response_checksum_validation="when_required",
                    max_pool_connections=self.max_pool_connections,
                ),
            )
        return self._clients[cache]

    def call(self, describe: str, fn: Callable[[], T], log: Log = None) -> T:
        """One S3 call with bounded retries of transient errors (429/5xx honour Retry-After)."""
        from resources.retry import RetryPolicy, call_with_retry

        policy = RetryPolicy(attempts=self.retry_attempts, base_delay=0.5,
                             max_delay=self.retry_max_wait_seconds)
        return call_with_retry(fn, describe, policy, on_retry=log)

    def upload_stream(self, bucket: str, key: str, chunks: Iterable[bytes],
                      region: str | None = None, content_type: str = "application/octet-stream",
                      part_size: int = 8 * 1024 * 1024, concurrency: int = 6,
                      log: Log = None) -> UploadResult:
        """Stream ``chunks`` (an iterable of bytes) into ``bucket/key`` as a multipart upload.

        Memory stays bounded by ``part_size x (concurrency + 1)``; the sha256 is computed on the
        fly; ``log`` gets the MiB and MiB/s every 30 seconds of a long upload. On any failure
        the multipart upload is aborted, so no object appears under ``key``.

        Returns:
            ``resources.s3_transfer.UploadResult`` (size, sha256, parts, seconds).
        """
        from resources.s3_transfer import TransferProgress, multipart_upload

        client = self.client(region, bucket)
        progress = TransferProgress(f"upload to s3://{bucket}/{key}", log)
        return multipart_upload(lambda d, fn: self.call(d, fn, log), client, bucket, key, chunks,
                                part_size=part_size, concurrency=concurrency,
                                content_type=content_type, progress=progress)

    def put_bytes(self, bucket: str, key: str, data: bytes, region: str | None = None,
                  content_type: str = "application/octet-stream") -> str:
        """Write a small object in one PUT (a manifest, a chunk); returns its ETag."""
        client = self.client(region, bucket)
        out = self.call(f"PUT s3://{bucket}/{key}",
                        lambda: client.put_object(Bucket=bucket, Key=key, Body=data,
                                                  ContentType=content_type))
        return str((out or {}).get("ETag", "")).strip('"')

    def get_bytes(self, bucket: str, key: str, region: str | None = None) -> bytes | None:
        """A small object's bytes, or None when it does not exist."""
        from platform_assets.core.small_objects import read_small

        client = self.client(region, bucket)

        def get() -> bytes | None:
            try:
                out = client.get_object(Bucket=bucket, Key=key)
            except client.exceptions.NoSuchKey:
                return None
            return read_small(out, f"s3://{bucket}/{key}")

        return self.call(f"GET s3://{bucket}/{key}", get)

    def open_stream(self, bucket: str, key: str, region: str | None = None,
                    chunk_size: int = 1024 * 1024) -> Iterator[bytes]:
        """An iterator over an object's bytes in chunks (raises when it does not exist)."""
        from resources.s3_transfer import read_chunks

        client = self.client(region, bucket)
        out = self.call(f"GET s3://{bucket}/{key}",
                        lambda: client.get_object(Bucket=bucket, Key=key))
        return read_chunks(out["Body"], chunk_size)

    def sha256_of(self, bucket: str, key: str,
                  region: str | None = None) -> tuple[int, str] | None:
        """Re-read an object and return (size, sha256), or None when it does not exist."""
        import hashlib

        client = self.client(region, bucket)
        try:
            chunks = self.open_stream(bucket, key, region)
        except client.exceptions.NoSuchKey:
            return None
        digest, size = hashlib.sha256(), 0
        for chunk in chunks:
            digest.update(chunk)
            size += len(chunk)
        return size, digest.hexdigest()

    def list_keys(self, bucket: str, prefix: str, region: str | None = None) -> list[str]:
        """Every key under ``prefix`` (all pages)."""
        return [o["Key"] for o in self._listed(bucket, prefix, region)]

    def list_objects(self, bucket: str, prefix: str,
                     region: str | None = None) -> dict[str, tuple[int, str]]:
        """Every object under ``prefix`` (all pages): key → (size, ETag without quotes)."""
        return {o["Key"]: (int(o["Size"]), str(o.get("ETag", "")).strip('"'))
                for o in self._listed(bucket, prefix, region)}

    def list_modified(self, bucket: str, prefix: str,
                      region: str | None = None) -> dict[str, datetime]:
        """Every object under ``prefix`` (all pages): key → when it was last written."""
        return {o["Key"]: o["LastModified"] for o in self._listed(bucket, prefix, region)}

    def _listed(self, bucket: str, prefix: str, region: str | None) -> Iterator[dict[str, Any]]:
        """The ListObjectsV2 entries under ``prefix``, page after page (each page one retried
        call, so a transient error repeats that page only, never the listing)."""
        client = self.client(region, bucket)
        kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
        while True:
            page = self.call(f"LIST s3://{bucket}/{prefix}",
                             partial(client.list_objects_v2, **kwargs))
            yield from page.get("Contents", [])
            if not page.get("IsTruncated"):
                return
            kwargs["ContinuationToken"] = page.get("NextContinuationToken")

    def delete_keys(self, bucket: str, keys: list[str], region: str | None = None) -> int:
        """Delete ``keys`` (1,000 per request); return how many were deleted."""
        client = self.client(region, bucket)
        deleted = 0
        for i in range(0, len(keys), 1000):
            batch = [{"Key": k} for k in keys[i:i + 1000]]
            out = self.call(f"DELETE {len(batch)} keys in s3://{bucket}",
                            partial(client.delete_objects, Bucket=bucket,
                                    Delete={"Objects": batch, "Quiet": False}))
            if out.get("Errors"):
                first = out["Errors"][0]
                raise RuntimeError(f"deleting from s3://{bucket} failed for {first.get('Key')}: "
                                   f"{first.get('Code')} {first.get('Message')}")
            deleted += len(out.get("Deleted", []))
        return deleted

    def copy_across(self, src_bucket: str, key: str, dst_bucket: str, dst_key: str | None = None,
                    src_region: str | None = None, dst_region: str | None = None,
                    log: Log = None) -> UploadResult:
        """Copy one object to another bucket, possibly in another region (another endpoint), by
        streaming it through; returns the ``UploadResult`` of the destination (size, sha256)."""
        chunks = self.open_stream(src_bucket, key, src_region, chunk_size=8 * 1024 * 1024)
        return self.upload_stream(dst_bucket, dst_key or key, chunks, region=dst_region, log=log)

    def bucket_state(self, bucket: str, region: str) -> dict[str, Any] | None:
        """A bucket's region, versioning status and lifecycle rules; None when it does not exist.

        The shapes match ``platform_assets.core.desired.bucket_state`` so they can be diffed.
        """
        from botocore.exceptions import ClientError

        client = self.client(region, bucket)
        try:
            loc = self.call(f"GET s3://{bucket}?location",
                            lambda: client.get_bucket_location(Bucket=bucket))
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in ("NoSuchBucket", "404", "NotFound"):
                return None
            raise
        ver = self.call(f"GET s3://{bucket}?versioning",
                        lambda: client.get_bucket_versioning(Bucket=bucket))
        try:
            lc = self.call(f"GET s3://{bucket}?lifecycle",
                           lambda: client.get_bucket_lifecycle_configuration(Bucket=bucket))
            rules = lc.get("Rules", [])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "NoSuchLifecycleConfiguration":
                raise
            rules = []
        return {
            "region": loc.get("LocationConstraint") or "us-east-1",
            "versioning": ver.get("Status"),
            "lifecycle": rules,
        }

    def create_bucket(self, bucket: str, region: str) -> None:
        """Create a bucket in ``region`` (an existing bucket we own counts as success)."""
        client = self.client(region, bucket)

        def create() -> None:
            try:
                client.create_bucket(Bucket=bucket,
                                     CreateBucketConfiguration={"LocationConstraint": region})
            except client.exceptions.BucketAlreadyOwnedByYou:
                return

        self.call(f"PUT s3://{bucket} (create in {region})", create)

    def set_bucket_versioning(self, bucket: str, region: str, enabled: bool) -> None:
        """Enable or suspend versioning (suspending keeps the versions already written)."""
        client = self.client(region, bucket)
        status = "Enabled" if enabled else "Suspended"
        self.call(f"PUT s3://{bucket}?versioning ({status})",
                  lambda: client.put_bucket_versioning(
                      Bucket=bucket, VersioningConfiguration={"Status": status}))

    def set_bucket_lifecycle(self, bucket: str, region: str, rules: list[dict[str, Any]]) -> None:
        """Replace the bucket's lifecycle rules (an empty list deletes the configuration)."""
        client = self.client(region, bucket)
        if not rules:
            self.call(f"DELETE s3://{bucket}?lifecycle",
                      lambda: client.delete_bucket_lifecycle(Bucket=bucket))
            return
        self.call(f"PUT s3://{bucket}?lifecycle",
                  lambda: client.put_bucket_lifecycle_configuration(
                      Bucket=bucket, LifecycleConfiguration={"Rules": rules}))


def _store_endpoint(store: S3StoreConfig) -> str:
    """A store's endpoint: as configured, or read from its variable when a client is built."""
    if store.endpoint_url:
        return store.endpoint_url
    import os

    from resources.credentials import CredentialError

    url = os.environ.get(store.endpoint_env or "")
    if not url:
        raise CredentialError(f"the object store of bucket {store.bucket}: set "
                              f"{store.endpoint_env} to its endpoint URL")
    return url
