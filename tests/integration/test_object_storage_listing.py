"""ObjectStorageResource's listings against the sandbox S3: every page of ListObjectsV2."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from resources.object_storage import ObjectStorageResource
from tests.conftest import SandboxHandle

pytestmark = pytest.mark.integration


def test_list_keys_and_list_objects_follow_every_page(sandbox: SandboxHandle) -> None:
    """S3 returns at most 1,000 keys per ListObjectsV2 page with IsTruncated and a
    NextContinuationToken (AWS S3 API reference, ListObjectsV2): 1,003 keys take two pages,
    and both listings see all of them, the prefix still applied on the second page."""
    env = sandbox.env
    store = ObjectStorageResource(
        access_key_id=env["AWS_ACCESS_KEY_ID"], secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        endpoint_url=env["AWS_ENDPOINT_URL_S3"], default_region="de",
        retry_attempts=2, retry_max_wait_seconds=0.2)
    client = store.client("de")
    bucket = f"listing-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "de"})
    keys = [f"in/{i:04d}" for i in range(1003)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda k: client.put_object(Bucket=bucket, Key=k, Body=k.encode()),
                      [*keys, "out/0000"]))
    first = client.list_objects_v2(Bucket=bucket, Prefix="in/")
    assert first["IsTruncated"] and len(first["Contents"]) == 1000  # two pages, truly

    assert store.list_keys(bucket, "in/") == keys
    objects = store.list_objects(bucket, "in/")
    assert sorted(objects) == keys
    assert objects["in/1002"][0] == len(b"in/1002") and objects["in/1002"][1]
    store.delete_keys(bucket, [*keys, "out/0000"])
    assert store.list_keys(bucket, "") == []
