"""The sandbox's S3 checks Signature Version 4 as S3 does, with the real boto3: its own keys
pass (paths and queries that need encoding, multipart uploads, presigned URLs, trailing
checksums); another store's keys, a wrong secret, an anonymous request or a body other than
the one signed are refused with S3's error codes (Amazon S3 API Reference, "Error responses";
AWS General Reference, "Create a signed AWS API request")."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from sandbox.http import serve
from sandbox.s3 import S3Service

pytestmark = pytest.mark.integration

KEYS = {"store-a-key": "store-a-secret"}


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    svc = S3Service(keys=KEYS, name="s3-auth-test")
    svc.start()
    server = serve(svc)
    try:
        yield server.url
    finally:
        server.stop()
        svc.stop()


def client(url: str, key_id: str = "store-a-key", secret: str = "store-a-secret",
           **config: Any) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client("s3", endpoint_url=url, region_name="us-east-1",
                        aws_access_key_id=key_id, aws_secret_access_key=secret,
                        config=Config(retries={"max_attempts": 1},
                                      s3={"addressing_style": "path"}, **config))


def error_of(call: Any) -> tuple[int, str]:
    with pytest.raises(ClientError) as err:
        call()
    resp = err.value.response
    return resp["ResponseMetadata"]["HTTPStatusCode"], resp["Error"]["Code"]


def test_its_own_keys_pass_for_every_kind_of_request(url: str) -> None:
    s3 = client(url)
    s3.create_bucket(Bucket="signed")
    key = "backups/a target/2026-11-25/ü+&=.json"  # encoded in the path, not normalized
    s3.put_object(Bucket="signed", Key=key, Body=b"x" * 1000)
    listed = s3.list_objects_v2(Bucket="signed", Prefix="backups/a target/", Delimiter="/")
    assert [p["Prefix"] for p in listed["CommonPrefixes"]] == ["backups/a target/2026-11-25/"]
    assert s3.get_object(Bucket="signed", Key=key)["Body"].read() == b"x" * 1000

    upload = s3.create_multipart_upload(Bucket="signed", Key="big")["UploadId"]
    part = s3.upload_part(Bucket="signed", Key="big", UploadId=upload, PartNumber=1,
                          Body=b"y" * 5 * 1024 * 1024)
    s3.complete_multipart_upload(Bucket="signed", Key="big", UploadId=upload, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    assert s3.head_object(Bucket="signed", Key="big")["ContentLength"] == 5 * 1024 * 1024

    trailing = client(url, request_checksum_calculation="when_supported")
    trailing.put_object(Bucket="signed", Key="crc", Body=b"z" * 70000, ChecksumAlgorithm="CRC32")

    v4 = client(url, signature_version="s3v4")
    presigned = v4.generate_presigned_url("get_object", Params={"Bucket": "signed", "Key": key})
    with urllib.request.urlopen(presigned, timeout=10) as resp:
        assert resp.read() == b"x" * 1000
    v2 = s3.generate_presigned_url("get_object", Params={"Bucket": "signed", "Key": key})
    assert "AWSAccessKeyId=" in v2  # boto3's default for presigning: Signature Version 2
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(v2, timeout=10)
    assert err.value.code == 400 and b"Please use AWS4-HMAC-SHA256" in err.value.read()


def test_another_stores_keys_a_wrong_secret_and_anonymous_requests_are_refused(url: str) -> None:
    client(url).create_bucket(Bucket="private")
    assert error_of(lambda: client(url, key_id="sandbox-access-key").list_objects_v2(
        Bucket="private")) == (403, "InvalidAccessKeyId")
    assert error_of(lambda: client(url, secret="not-the-secret").list_objects_v2(
        Bucket="private")) == (403, "SignatureDoesNotMatch")
    assert error_of(lambda: client(url, secret="not-the-secret").put_object(
        Bucket="private", Key="k", Body=b"data")) == (403, "SignatureDoesNotMatch")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"{url}/private?list-type=2", timeout=10)
    assert err.value.code == 403 and b"<Code>AccessDenied</Code>" in err.value.read()
    forged = client(url, secret="not-the-secret", signature_version="s3v4")
    presigned = forged.generate_presigned_url("get_object",
                                              Params={"Bucket": "private", "Key": "k"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(presigned, timeout=10)
    assert err.value.code == 403 and b"<Code>SignatureDoesNotMatch</Code>" in err.value.read()
    assert client(url).list_objects_v2(Bucket="private").get("KeyCount") == 0, \
        "nothing refused was written"


def test_a_body_other_than_the_signed_one_is_refused(url: str) -> None:
    """S3 compares the body with the signed ``x-amz-content-sha256``: 400
    XAmzContentSHA256Mismatch (a proxy that altered the payload, a truncated upload)."""
    s3 = client(url)
    s3.create_bucket(Bucket="payload")

    def swap_body(request: Any, **_: Any) -> None:
        request.body = b"signed bytez"  # the same length: only the bytes differ

    s3.meta.events.register("before-send.s3.PutObject", swap_body)
    assert error_of(lambda: s3.put_object(Bucket="payload", Key="k", Body=b"signed bytes")) == (
        400, "XAmzContentSHA256Mismatch")
    assert error_of(lambda: s3.head_object(Bucket="payload", Key="k"))[0] == 404
