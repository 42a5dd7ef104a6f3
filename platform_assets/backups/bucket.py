"""What lies in a backup bucket: where a target's partitions are, their manifests, restore
points in S3, removing a partition, re-reading objects. Over the object store resource."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from platform_assets.backups.errors import BackupError, cause
from platform_assets.core.backup_manifest import (
    MANIFEST_NAME,
    Manifest,
    ManifestError,
    ObjectCheck,
    compare_object,
    manifest_key,
    partition_of_key,
    partition_prefix,
    target_prefix,
)
from platform_assets.core.ports import BackupStore
from platform_assets.core.retention import RestorePoint
from platform_assets.spec.models import Backups, PlatformSpec

Log = Callable[[str], Any]


@dataclass
class Where:
    """One bucket in one region, and the layout prefix."""

    bucket: str
    region: str | None
    prefix: str



def backups_of(spec: PlatformSpec) -> Backups:
    """The spec's backups section (a ``BackupError`` when it has none)."""
    if spec.backups is None:
        raise BackupError("the spec has no backups section")
    return spec.backups



def where_of(spec: PlatformSpec, dr: bool = False) -> Where:
    """The backup bucket (an ionos.buckets bucket or an object store's), or with ``dr`` the
    cross-region copy's bucket (the backup bucket when the spec has no copy)."""
    bk = backups_of(spec)
    return Where(*spec.backup_bucket(dr), bk.prefix)



def read_manifest(store: BackupStore, where: Where, target: str, partition: str,
                  describe: str | None = None) -> Manifest | None:
    """The partition's manifest, or None. An unreadable one is no restore point (None); with
    ``describe`` (a backup about to write this partition) it is an error instead, and kept."""
    key = manifest_key(where.prefix, target, partition)
    raw = store.get_bytes(where.bucket, key, where.region)
    if raw is None:
        return None
    try:
        return Manifest.from_json(raw, where=f"s3://{where.bucket}/{key}")
    except ManifestError as exc:
        if describe is None:
            return None
        raise BackupError(f"{describe}: the existing manifest is unreadable ({exc}); it is not "
                          "overwritten: inspect and remove it, then run again") from None



def partitions_in_bucket(store: BackupStore, where: Where, target: str) -> dict[str, list[str]]:
    """Keys of a target grouped by partition."""
    out: dict[str, list[str]] = {}
    for key in store.list_keys(where.bucket, target_prefix(where.prefix, target), where.region):
        part = partition_of_key(where.prefix, target, key)
        if part:
            out.setdefault(part, []).append(key)
    return out



def s3_restore_points(store: BackupStore, where: Where, target: str) -> list[RestorePoint]:
    """One point per partition with keys; verified when its manifest is complete."""
    points = []
    for part, keys in sorted(partitions_in_bucket(store, where, target).items()):
        m = read_manifest(store, where, target, part) if any(
            k.endswith("/" + MANIFEST_NAME) for k in keys) else None
        created = m.finished if m else datetime.fromisoformat(part).replace(tzinfo=UTC)
        points.append(RestorePoint(part, created, m is not None,
                                   partition_prefix(where.prefix, target, part)))
    return points



def newest_manifest(store: BackupStore, where: Where, target: str) -> Manifest | None:
    """The manifest of the newest verified restore point in S3, or None."""
    good = [p for p in s3_restore_points(store, where, target) if p.verified]
    if not good:
        return None
    newest = max(good, key=lambda p: (p.created_at, p.partition))
    return read_manifest(store, where, target, newest.partition)



def remove_partition(store: BackupStore, where: Where, target: str, partition: str) -> int:
    """Delete a partition: manifest first, so a half-deleted partition never looks complete."""
    keys = store.list_keys(where.bucket, partition_prefix(where.prefix, target, partition),
                           where.region)
    mkey = manifest_key(where.prefix, target, partition)
    n = 0
    if mkey in keys:
        n += store.delete_keys(where.bucket, [mkey], where.region)
    rest = [k for k in keys if k != mkey]
    return n + (store.delete_keys(where.bucket, rest, where.region) if rest else 0)



def verify_objects(store: BackupStore, where: Where, manifest: Manifest) -> list[ObjectCheck]:
    """Re-read every object of a manifest and compare size and sha256."""
    out = []
    for obj in manifest.objects:
        got = store.sha256_of(where.bucket, obj.key, where.region)
        out.append(compare_object(obj, *(got or (None, None))))
    return out



def confirm_size(store: BackupStore, where: Where, key: str, size: int) -> None:
    """Raise when the stored object does not hold the ``size`` bytes that were sent."""
    client = store.client(where.region, where.bucket)
    head = store.call(f"HEAD s3://{where.bucket}/{key}",
                      lambda: client.head_object(Bucket=where.bucket, Key=key))
    if int(head["ContentLength"]) != size:
        raise BackupError(f"s3://{where.bucket}/{key} holds {head['ContentLength']} bytes, "
                          f"{size} were sent")



def cleanup(store: BackupStore, where: Where, keys: list[str], log: Log) -> None:
    """Remove the objects a failed attempt wrote; a failure to do so is only logged."""
    if not keys:
        return
    try:
        store.delete_keys(where.bucket, keys, where.region)
    except Exception as exc:  # noqa: BLE001 - the backup's own error is the one to raise
        log(f"could not remove {len(keys)} object(s) of the failed attempt ({cause(exc)}); "
            "they have no manifest, so they are never taken as a backup, and the next run "
            "removes them")
