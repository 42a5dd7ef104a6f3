"""A target's restore points (manifests in S3, and for volumes the snapshots themselves) and
retention: what the plan of ``core.retention`` expires is deleted, snapshot and partition."""

from __future__ import annotations

from datetime import UTC, datetime

from platform_assets.backups.bucket import (
    Log,
    backups_of,
    remove_partition,
    s3_restore_points,
    where_of,
)
from platform_assets.backups.engine import now_utc
from platform_assets.backups.errors import required
from platform_assets.backups.sources import SNAPSHOT_API
from platform_assets.core.backup_manifest import partition_of_snapshot
from platform_assets.core.ports import BackupCluster, BackupStore, SnapshotApi
from platform_assets.core.retention import RestorePoint, RetentionPlan, plan_retention
from platform_assets.names import LABEL_BACKUP_TARGET
from platform_assets.spec.models import BackupTarget, PlatformSpec


def restore_points(spec: PlatformSpec, target: BackupTarget, store: BackupStore,
                   ionos: SnapshotApi | None = None, kube: BackupCluster | None = None,
                   dr: bool = False) -> list[RestorePoint]:
    """The target's restore points: manifests in S3; for volumes, the snapshots themselves
    (verified when the snapshot is AVAILABLE and its partition has a manifest)."""
    where = where_of(spec, dr)
    points = s3_restore_points(store, where, target.name)
    if target.in_bucket or dr:
        return points
    complete = {p.partition for p in points if p.verified}
    created = {p.partition: p.created_at for p in points}
    snaps: list[RestorePoint] = []
    describe = f"the restore points of {target.name}"
    if target.method == "csi-snapshot":
        cluster = required(kube, "kubernetes", describe)
        for vs in cluster.list(SNAPSHOT_API, "VolumeSnapshot", target.namespace,
                               label_selector=f"{LABEL_BACKUP_TARGET}={target.name}"):
            name = vs["metadata"]["name"]
            part = partition_of_snapshot(target.name, name)
            if part:
                ready = bool((vs.get("status") or {}).get("readyToUse"))
                snaps.append(RestorePoint(part, created.get(part) or _day(part),
                                          ready and part in complete, f"volumesnapshot:{name}"))
    else:
        for s in required(ionos, "ionos", describe).list_snapshots():
            part = partition_of_snapshot(target.name, (s.get("properties") or {}).get("name", ""))
            if part:
                ok = (s.get("metadata") or {}).get("state") == "AVAILABLE"
                snaps.append(RestorePoint(part, created.get(part) or _day(part),
                                          ok and part in complete, f"snapshot:{s['id']}"))
    # Manifests without a snapshot are not restore points of a volume.
    return snaps


def _day(partition: str) -> datetime:
    return datetime.fromisoformat(partition).replace(tzinfo=UTC)


def _forget_longhorn(spec: PlatformSpec, target: BackupTarget, kube: BackupCluster,
                     partition: str, log: Log) -> None:
    from platform_assets.backups.longhorn import forget_partition

    forget_partition(spec, target, kube, partition, log)


def apply_retention(spec: PlatformSpec, target: BackupTarget, *, store: BackupStore,
                    ionos: SnapshotApi | None = None, kube: BackupCluster | None = None,
                    dr: bool = False, dry_run: bool = False,
                    now: datetime | None = None, log: Log = lambda _: None) -> RetentionPlan:
    """Delete what retention expires (nothing when ``dry_run``); return the plan."""
    bk = backups_of(spec)
    points = restore_points(spec, target, store, ionos, kube, dr)
    plan = plan_retention(points, now or now_utc(), bk.tier_of(target).retention_days)
    if dry_run or not plan.delete:
        return plan
    where = where_of(spec, dr)
    describe = f"retention of {target.name}"
    for p in plan.delete:
        if p.ref.startswith("snapshot:"):
            required(ionos, "ionos", describe).delete_snapshot(p.ref.split(":", 1)[1], log=log)
        elif p.ref.startswith("volumesnapshot:"):
            required(kube, "kubernetes", describe).delete(
                SNAPSHOT_API, "VolumeSnapshot", p.ref.split(":", 1)[1], target.namespace)
        remove_partition(store, where, target.name, p.partition)
        if target.method == "longhorn" and not dr:
            _forget_longhorn(spec, target, required(kube, "kubernetes", describe), p.partition,
                             log)
        log(f"retention: deleted {target.name} {p.partition} ({p.ref})")
    return plan
