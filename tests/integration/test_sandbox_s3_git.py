"""The sandbox's S3 (moto behind the counting proxy) with boto3, and its seeded Git repository."""

from __future__ import annotations

import hashlib
import subprocess
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest

from sandbox.git import SEED_DATE, seed_repository

pytestmark = pytest.mark.integration

REGIONS = ("de", "eu-central-3")


def s3_client(env: dict[str, str], region: str, **config: Any) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3", endpoint_url=env["AWS_ENDPOINT_URL_S3"], region_name=region,
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"], config=Config(**config),
    )


def make_bucket(client: Any, region: str) -> str:
    name = f"test-{region}-{uuid.uuid4().hex[:10]}"
    client.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})
    return name


def git(*args: str, cwd: Path | None = None) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True,
                          timeout=60).stdout


def test_buckets_in_two_regions_report_their_location(sandbox):
    for region in REGIONS:
        client = s3_client(sandbox.env, region)
        name = make_bucket(client, region)
        assert client.get_bucket_location(Bucket=name)["LocationConstraint"] == region
        assert name in [b["Name"] for b in client.list_buckets()["Buckets"]]


def test_multipart_upload_of_two_parts(sandbox):
    client = s3_client(sandbox.env, "de")
    bucket = make_bucket(client, "de")
    part1, part2 = b"a" * (5 * 1024 * 1024), b"b" * 1234
    upload = client.create_multipart_upload(Bucket=bucket, Key="big/object.bin")
    parts = []
    for number, data in enumerate((part1, part2), start=1):
        done = client.upload_part(Bucket=bucket, Key="big/object.bin", PartNumber=number,
                                  UploadId=upload["UploadId"], Body=data)
        parts.append({"PartNumber": number, "ETag": done["ETag"]})
    client.complete_multipart_upload(Bucket=bucket, Key="big/object.bin",
                                     UploadId=upload["UploadId"],
                                     MultipartUpload={"Parts": parts})
    head = client.head_object(Bucket=bucket, Key="big/object.bin")
    assert head["ContentLength"] == len(part1) + len(part2)
    assert head["ETag"].strip('"').endswith("-2")
    body = client.get_object(Bucket=bucket, Key="big/object.bin")["Body"].read()
    assert body == part1 + part2


def test_streamed_upload_logs_its_progress_in_mib(sandbox):
    """``multipart_upload`` over the real boto3 client: the object arrives whole and the log
    says MiB and MiB/s along the way (issue 19: long dumps are not silent)."""
    from resources.s3_transfer import TransferProgress, multipart_upload

    client = s3_client(sandbox.env, "de")
    bucket = make_bucket(client, "de")
    lines: list[str] = []
    chunks = [bytes([i]) * (1024 * 1024) for i in range(12)]
    result = multipart_upload(lambda _d, fn: fn(), client, bucket, "dump.sql", iter(chunks),
                              part_size=5 * 1024 * 1024, concurrency=2,
                              progress=TransferProgress("upload", lines.append, every=0))
    assert result.size == 12 * 1024 * 1024 and result.parts == 3
    body = client.get_object(Bucket=bucket, Key="dump.sql")["Body"].read()
    assert body == b"".join(chunks) and result.sha256 == hashlib.sha256(body).hexdigest()
    assert [line.split(" in ")[0] for line in lines] == [
        "upload: 5.0 MiB so far", "upload: 10.0 MiB so far", "upload: 12.0 MiB so far",
        "upload: 12.0 MiB"]
    assert all(line.endswith("MiB/s)") for line in lines)


def test_cross_region_copy(sandbox):
    source_client, target_client = (s3_client(sandbox.env, r) for r in REGIONS)
    source, target = make_bucket(source_client, "de"), make_bucket(target_client, "eu-central-3")
    source_client.put_object(Bucket=source, Key="backups/a.tar", Body=b"payload",
                             Metadata={"snapshot": "snap-1"}, ContentType="application/x-tar")
    target_client.copy_object(Bucket=target, Key="backups/a.tar",
                              CopySource={"Bucket": source, "Key": "backups/a.tar"})
    copied = target_client.get_object(Bucket=target, Key="backups/a.tar")
    assert copied["Body"].read() == b"payload"
    assert copied["Metadata"] == {"snapshot": "snap-1"}
    assert target_client.get_bucket_location(Bucket=target)["LocationConstraint"] == "eu-central-3"


def test_versioning_keeps_old_versions(sandbox):
    client = s3_client(sandbox.env, "de")
    bucket = make_bucket(client, "de")
    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    assert client.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    first = client.put_object(Bucket=bucket, Key="k", Body=b"one")["VersionId"]
    client.put_object(Bucket=bucket, Key="k", Body=b"two")
    versions = client.list_object_versions(Bucket=bucket)["Versions"]
    assert len(versions) == 2
    assert client.get_object(Bucket=bucket, Key="k")["Body"].read() == b"two"
    assert client.get_object(Bucket=bucket, Key="k", VersionId=first)["Body"].read() == b"one"


def test_lifecycle_configuration_round_trip(sandbox):
    client = s3_client(sandbox.env, "eu-central-3")
    bucket = make_bucket(client, "eu-central-3")
    rule = {"ID": "expire-old-backups", "Filter": {"Prefix": "backups/"}, "Status": "Enabled",
            "Expiration": {"Days": 35}, "NoncurrentVersionExpiration": {"NoncurrentDays": 7}}
    client.put_bucket_lifecycle_configuration(Bucket=bucket,
                                              LifecycleConfiguration={"Rules": [rule]})
    rules = client.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert len(rules) == 1
    assert rules[0]["ID"] == "expire-old-backups"
    assert rules[0]["Expiration"] == {"Days": 35}
    assert rules[0]["NoncurrentVersionExpiration"]["NoncurrentDays"] == 7


def test_injected_503_is_retried_by_boto3_and_counted(sandbox):
    client = s3_client(sandbox.env, "de", retries={"mode": "standard", "max_attempts": 4})
    bucket = make_bucket(client, "de")
    client.put_object(Bucket=bucket, Key="k", Body=b"still here")
    sandbox.reset_counts()
    sandbox.set_fault("s3", error_rate=1.0, statuses=[503], retry_after=0, times=2,
                      methods=["GET"])
    try:
        got = client.get_object(Bucket=bucket, Key="k")
    finally:
        sandbox.clear_faults()
    assert got["Body"].read() == b"still here"
    assert got["ResponseMetadata"]["RetryAttempts"] == 2
    assert sandbox.requests()["s3"]["GET"] == 3


def test_injected_fault_answers_with_an_s3_error_and_retry_after(sandbox):
    sandbox.set_fault("s3", error_rate=1.0, statuses=[503], retry_after=3, times=1)
    try:
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(sandbox.env["AWS_ENDPOINT_URL_S3"] + "/", timeout=10)
    finally:
        sandbox.clear_faults()
    assert err.value.code == 503
    assert err.value.headers["Retry-After"] == "3"
    body = err.value.read().decode()
    assert "<Code>SlowDown</Code>" in body


def test_git_repository_is_seeded_with_the_example_spec(sandbox, tmp_path):
    env = sandbox.env
    assert env["PLATFORM_GIT_URL"].startswith("file:///")
    heads = git("ls-remote", env["PLATFORM_GIT_URL"], "refs/heads/main")
    assert heads.strip().endswith("refs/heads/main")
    clone = tmp_path / "clone"
    git("clone", "--quiet", "--branch", "main", env["PLATFORM_GIT_URL"], str(clone))
    example = Path(__file__).resolve().parents[2] / "platform"
    assert (clone / "platform.yaml").read_text() == (example / "platform.yaml").read_text()
    for manifest in (example / "manifests").rglob("*.yaml"):
        relative = manifest.relative_to(example)
        assert (clone / relative).read_text() == manifest.read_text(), relative
    spec = Path(env["PLATFORM_SPEC"])
    assert spec.name == "platform.yaml"
    assert spec.read_text() == (clone / "platform.yaml").read_text()
    assert git("log", "-1", "--format=%an <%ae> %aI", cwd=clone).strip().startswith(
        "Platform Sandbox <")


def test_seed_commit_is_reproducible_and_a_push_moves_main(tmp_path):
    first = seed_repository(tmp_path / "one")
    second = seed_repository(tmp_path / "two")
    assert first.head() == second.head()
    assert git("log", "-1", "--format=%aI", cwd=first.clone).strip() == SEED_DATE
    spec = first.spec_path
    spec.write_text(spec.read_text() + "\n# changed\n")
    git("commit", "--quiet", "-am", "change the spec", cwd=first.clone)
    git("push", "--quiet", "origin", "main", cwd=first.clone)
    assert first.head() != second.head()
    again = seed_repository(tmp_path / "one")  # an existing repository is kept
    assert again.head() == first.head()
