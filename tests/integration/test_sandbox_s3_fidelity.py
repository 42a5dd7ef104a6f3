"""S3 details of the sandbox against the AWS S3 contract, with boto3: a versioning-suspended
bucket keeps the versions written before, and a wrong ``x-amz-checksum-*`` is rejected."""

from __future__ import annotations

import base64
import hashlib
import zlib
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from sandbox.s3 import ACCESS_KEY, SECRET_KEY, S3Service
from tests.integration.test_sandbox_s3_git import make_bucket, s3_client

pytestmark = pytest.mark.integration


def b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def test_suspending_versioning_keeps_the_versions_already_written(sandbox):
    """S3 User Guide, "Working with objects in a versioning-suspended bucket": suspending
    "does not change the existing objects"; a PUT then writes (or overwrites) the version with
    id ``null`` and a DELETE adds a delete marker with version id ``null``; earlier versions stay
    and are still read by their ids."""
    client = s3_client(sandbox.env, "de")
    bucket = make_bucket(client, "de")
    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    v1 = client.put_object(Bucket=bucket, Key="k", Body=b"one")["VersionId"]
    v2 = client.put_object(Bucket=bucket, Key="k", Body=b"two")["VersionId"]
    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    assert client.get_bucket_versioning(Bucket=bucket)["Status"] == "Suspended"
    assert client.put_object(Bucket=bucket, Key="k", Body=b"three").get("VersionId") in (
        None, "null")
    client.put_object(Bucket=bucket, Key="k", Body=b"four")  # replaces the null version only
    versions = client.list_object_versions(Bucket=bucket)["Versions"]
    assert sorted(v["VersionId"] for v in versions) == sorted([v1, v2, "null"])
    assert client.get_object(Bucket=bucket, Key="k")["Body"].read() == b"four"
    assert client.get_object(Bucket=bucket, Key="k", VersionId=v1)["Body"].read() == b"one"
    assert client.get_object(Bucket=bucket, Key="k", VersionId=v2)["Body"].read() == b"two"

    deleted = client.delete_object(Bucket=bucket, Key="k")
    assert deleted.get("DeleteMarker") is True and deleted.get("VersionId") == "null"
    listing = client.list_object_versions(Bucket=bucket)
    assert sorted(v["VersionId"] for v in listing["Versions"]) == sorted([v1, v2])
    assert [m["VersionId"] for m in listing["DeleteMarkers"]] == ["null"]
    with pytest.raises(ClientError) as err:
        client.get_object(Bucket=bucket, Key="k")
    assert err.value.response["Error"]["Code"] == "NoSuchKey"
    client.delete_object(Bucket=bucket, Key="k", VersionId=v1)  # one version, by its id
    assert [v["VersionId"] for v in client.list_object_versions(Bucket=bucket)["Versions"]] \
        == [v2]


def test_a_wrong_sha256_checksum_is_rejected(sandbox):
    """AWS S3 API reference, PutObject ``x-amz-checksum-sha256`` ("the Base64 encoded, 256-bit
    SHA256 digest of the object") and Error Responses: ``BadDigest`` (400) when it does not
    match what S3 received; a value that is not such a digest is 400 ``InvalidRequest``."""
    client = s3_client(sandbox.env, "eu-central-3")
    bucket = make_bucket(client, "eu-central-3")
    body = b"backup bytes"
    good = client.put_object(Bucket=bucket, Key="ok", Body=body,
                             ChecksumSHA256=b64(hashlib.sha256(body).digest()))
    assert good["ResponseMetadata"]["HTTPStatusCode"] == 200
    with pytest.raises(ClientError) as err:
        client.put_object(Bucket=bucket, Key="bad", Body=body,
                          ChecksumSHA256=b64(hashlib.sha256(b"other bytes").digest()))
    assert err.value.response["Error"]["Code"] == "BadDigest"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(ClientError) as err:
        client.put_object(Bucket=bucket, Key="bad", Body=body, ChecksumSHA256="not-a-digest")
    assert err.value.response["Error"]["Code"] == "InvalidRequest"
    with pytest.raises(ClientError) as err:
        client.put_object(Bucket=bucket, Key="bad", Body=body,
                          ChecksumCRC32=b64(zlib.crc32(b"x").to_bytes(4, "big")))
    assert err.value.response["Error"]["Code"] == "BadDigest"
    with pytest.raises(ClientError) as err:
        client.head_object(Bucket=bucket, Key="bad")
    assert err.value.response["Error"]["Code"] in ("404", "NoSuchKey"), "nothing was stored"


def test_checksums_boto3_computes_itself_are_accepted(sandbox):
    """boto3 1.36+ adds a CRC checksum to every upload by default ("when_supported"), also as a
    trailer of an aws-chunked body: the sandbox verifies those and they match."""
    client = s3_client(sandbox.env, "de", request_checksum_calculation="when_supported")
    bucket = make_bucket(client, "de")
    for algorithm in ("CRC32", "SHA256", "SHA1"):
        client.put_object(Bucket=bucket, Key=algorithm, Body=b"x" * 70000,
                          ChecksumAlgorithm=algorithm)
        assert client.get_object(Bucket=bucket, Key=algorithm)["Body"].read() == b"x" * 70000


def test_versions_survive_a_restart_with_versioning_suspended(tmp_path: Path):
    """The state directory keeps which versions were written while versioning was suspended."""
    import boto3

    from sandbox.http import serve

    def client_of(server_url: str):
        return boto3.client("s3", endpoint_url=server_url, region_name="de",
                            aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)

    svc = S3Service(state_dir=tmp_path)
    svc.start()
    server = serve(svc)
    try:
        client = client_of(server.url)
        client.create_bucket(Bucket="keep-me",
                             CreateBucketConfiguration={"LocationConstraint": "de"})
        client.put_bucket_versioning(Bucket="keep-me",
                                     VersioningConfiguration={"Status": "Enabled"})
        client.put_object(Bucket="keep-me", Key="k", Body=b"one")
        client.put_bucket_versioning(Bucket="keep-me",
                                     VersioningConfiguration={"Status": "Suspended"})
        client.put_object(Bucket="keep-me", Key="k", Body=b"two")
    finally:
        server.stop()
        svc.stop()
    again = S3Service(state_dir=tmp_path)
    again.start()
    server = serve(again)
    try:
        client = client_of(server.url)
        assert client.get_bucket_versioning(Bucket="keep-me")["Status"] == "Suspended"
        versions = client.list_object_versions(Bucket="keep-me")["Versions"]
        assert len(versions) == 2 and sum(v["VersionId"] == "null" for v in versions) == 1
        assert client.get_object(Bucket="keep-me", Key="k")["Body"].read() == b"two"
    finally:
        server.stop()
        again.stop()


def test_customer_provided_keys_are_refused_over_plain_http(sandbox):
    """Amazon S3 User Guide, "Using server-side encryption with customer-provided keys (SSE-C)":
    "Amazon S3 rejects any requests made over HTTP when using SSE-C" (400 InvalidRequest); the
    sandbox's endpoint is HTTP, so no SSE-C object is written, and a read that sends a key is
    refused the same way instead of being served."""
    import os

    client = s3_client(sandbox.env, "de")
    bucket = make_bucket(client, "de")
    key = os.urandom(32)
    with pytest.raises(ClientError) as put:
        client.put_object(Bucket=bucket, Key="secret", Body=b"x", SSECustomerAlgorithm="AES256",
                          SSECustomerKey=key)
    assert put.value.response["Error"]["Code"] == "InvalidRequest"
    assert "secure connection" in put.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as listed:
        client.head_object(Bucket=bucket, Key="secret")
    assert listed.value.response["Error"]["Code"] in ("404", "NoSuchKey")
    client.put_object(Bucket=bucket, Key="plain", Body=b"y")
    with pytest.raises(ClientError) as read:
        client.get_object(Bucket=bucket, Key="plain", SSECustomerAlgorithm="AES256",
                          SSECustomerKey=key)
    assert read.value.response["Error"]["Code"] == "InvalidRequest"
