"""A target's restore points (manifests in S3, and for volumes the snapshots themselves) and
retention: what the plan of ``core.retention`` expires is deleted, snapshot and partition."""

from __future__ import annotations

from datetime import UTC, datetime

from platform_assets.backups.bucket import (
    Log,
    backups_of,
    partitions_in_bucket,
    read_manifest,
    remove_partition,
    s3_restore_points,
    where_of,
)
from platform_assets.backups.engine import now_utc
from platform_assets.backups.errors import required
from platform_assets.backups.sources import SNAPSHOT_API
from platform_assets.core.backup_manifest import MANIFEST_NAME, partition_of_snapshot
from platform_assets.core.chunk_gc import (
    GcPlan,
    GcStateError,
    condemned_key,
    grace_period,
    parse_condemned,
    plan_chunk_gc,
)
from platform_assets.core.ports import BackupCluster, BackupStore, SnapshotApi
from platform_assets.core.retention import RestorePoint, RetentionPlan, plan_retention
from platform_assets.core.volume_index import chunks_prefix, is_chunk_key
from platform_assets.names import LABEL_BACKUP_TARGET
from platform_assets.spec.models import BackupTarget, PlatformSpec, parse_duration


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
    if dry_run:
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
    if target.method == "files":
        collect_chunks(spec, target, store, now or now_utc(), log, dr=dr)
    return plan


def collect_chunks(spec: PlatformSpec, target: BackupTarget, store: BackupStore,
                   now: datetime, log: Log = lambda _: None, dr: bool = False) -> GcPlan | None:
    """Delete the chunks of a ``files`` target that no retained night names (``core.chunk_gc``:
    condemned first, deleted a grace period later), in the backup bucket or (``dr``) the
    second region's, whose copy leaves condemned chunks out as the agent does. Nothing is
    deleted when a partition's manifest cannot be read: what it names is unknown."""
    bk = backups_of(spec)
    where = where_of(spec, dr)
    grace = grace_period(parse_duration(bk.volume_agent.timeout))
    referenced: set[str] = set()
    for part, keys in sorted(partitions_in_bucket(store, where, target.name).items()):
        if not any(k.endswith("/" + MANIFEST_NAME) for k in keys):
            continue  # an attempt in progress (or failed): the grace period covers it
        m = read_manifest(store, where, target.name, part)
        if m is None:
            log(f"chunk collection of {target.name} skipped: the manifest of {part} cannot be "
                "read, so which chunks it names is unknown")
            return None
        referenced |= {o.key for o in m.objects
                       if is_chunk_key(where.prefix, target.name, o.key)}
    state_key = condemned_key(where.prefix, target.name)
    raw = store.get_bytes(where.bucket, state_key, where.region)
    try:
        condemned = parse_condemned(raw, f"s3://{where.bucket}/{state_key}") if raw else {}
    except GcStateError as exc:
        log(f"{exc}: every unreferenced chunk is condemned anew")
        condemned = {}
    stored = store.list_modified(where.bucket, chunks_prefix(where.prefix, target.name),
                                 where.region)
    plan = plan_chunk_gc(stored, referenced, condemned, now, grace)
    # The list first: a chunk condemned now must be in it before any agent reads it.
    store.put_bytes(where.bucket, state_key, plan.to_json(), where.region, "application/json")
    if plan.delete:
        store.delete_keys(where.bucket, list(plan.delete), where.region)
    log(f"chunk collection of {target.name}: {len(plan.delete)} deleted, "
        f"{len(plan.condemned)} condemned, {plan.referenced} named by retained nights, "
        f"{plan.young} younger than {grace}")
    return plan
