"""The work behind the backup assets and checks, one function per target kind.

Plain Python over the resources (no Dagster decorators), so the asset layer stays thin:
``run_backup`` takes one partition of one target, ``copy_partition`` copies it to the DR bucket,
``apply_retention`` expires old restore points, and the ``drill_*`` / ``verify_objects``
functions are what the restore-drill checks run.

The write protocol (see ``platform_assets.core.backup_manifest``): data objects go under a key
of this attempt, the manifest is written last; a failure removes what the attempt wrote, so no
object that looks complete is left behind.
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from platform_assets.core.backup_manifest import (
    MANIFEST_NAME,
    Manifest,
    ManifestError,
    ManifestObject,
    ObjectCheck,
    compare_object,
    compare_tables,
    manifest_key,
    object_key,
    partition_of_key,
    partition_of_snapshot,
    partition_prefix,
    snapshot_name,
    stale_keys,
    target_prefix,
    utc_iso,
)
from platform_assets.core.restore import drill_content, for_drill
from platform_assets.core.retention import RestorePoint, RetentionPlan, plan_retention
from platform_assets.names import DRILL_ROLE
from platform_assets.spec.models import Backups, BackupTarget, PlatformSpec

Log = Callable[[str], Any]

SNAPSHOT_API = "snapshot.storage.k8s.io/v1"
TARGET_LABEL = "platform-ops.io/backup-target"
# Kinds never exported: events are history, not state.
SKIPPED_KINDS = {"Event"}


class BackupError(RuntimeError):
    """A backup, copy or drill failed; the message names the target, partition and cause."""


@dataclass
class Where:
    """One bucket in one region, and the layout prefix."""

    bucket: str
    region: str | None
    prefix: str


@dataclass
class Outcome:
    manifest: Manifest
    skipped: bool
    seconds: float
    metadata: dict[str, Any] = field(default_factory=dict)


def bucket_region(spec: PlatformSpec, bucket: str) -> str | None:
    return next((b.region for b in spec.ionos.buckets if b.name == bucket), None)


def now_utc() -> datetime:
    return datetime.now(UTC)


def read_manifest(store: Any, where: Where, target: str, partition: str,
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


def partitions_in_bucket(store: Any, where: Where, target: str) -> dict[str, list[str]]:
    """Keys of a target grouped by partition."""
    out: dict[str, list[str]] = {}
    for key in store.list_keys(where.bucket, target_prefix(where.prefix, target), where.region):
        part = partition_of_key(where.prefix, target, key)
        if part:
            out.setdefault(part, []).append(key)
    return out


def s3_restore_points(store: Any, where: Where, target: str) -> list[RestorePoint]:
    """One point per partition with keys; verified when its manifest is complete."""
    points = []
    for part, keys in sorted(partitions_in_bucket(store, where, target).items()):
        m = read_manifest(store, where, target, part) if any(
            k.endswith("/" + MANIFEST_NAME) for k in keys) else None
        created = m.finished if m else datetime.fromisoformat(part).replace(tzinfo=UTC)
        points.append(RestorePoint(part, created, m is not None,
                                   partition_prefix(where.prefix, target, part)))
    return points


def newest_manifest(store: Any, where: Where, target: str) -> Manifest | None:
    good = [p for p in s3_restore_points(store, where, target) if p.verified]
    if not good:
        return None
    newest = max(good, key=lambda p: (p.created_at, p.partition))
    return read_manifest(store, where, target, newest.partition)


def remove_partition(store: Any, where: Where, target: str, partition: str) -> int:
    """Delete a partition: manifest first, so a half-deleted partition never looks complete."""
    keys = store.list_keys(where.bucket, partition_prefix(where.prefix, target, partition),
                           where.region)
    mkey = manifest_key(where.prefix, target, partition)
    n = 0
    if mkey in keys:
        n += store.delete_keys(where.bucket, [mkey], where.region)
    rest = [k for k in keys if k != mkey]
    return n + (store.delete_keys(where.bucket, rest, where.region) if rest else 0)


def run_backup(spec: PlatformSpec, target: BackupTarget, partition: str, *, store: Any,
               ionos: Any = None, kube: Any = None, db: Any = None, run_id: str = "",
               part_size: int = 8 * 1024 * 1024, log: Log = lambda _: None,
               clock: Callable[[], datetime] = now_utc) -> Outcome:
    """Back up one partition of one target; a partition with a manifest is left as it is."""
    bk = _backups(spec)
    where = Where(bk.bucket, bucket_region(spec, bk.bucket), bk.prefix)
    describe = f"backup {target.name} ({target.kind}, {partition})"
    try:
        return _run_backup(spec, target, partition, where, describe, store=store, ionos=ionos,
                           kube=kube, db=db, run_id=run_id, part_size=part_size, log=log,
                           clock=clock)
    except BackupError:
        raise
    except Exception as exc:
        raise BackupError(f"{describe} failed: {_cause(exc)}") from exc


def _run_backup(spec: PlatformSpec, target: BackupTarget, partition: str, where: Where,
                describe: str, *, store: Any, ionos: Any, kube: Any, db: Any, run_id: str,
                part_size: int, log: Log, clock: Callable[[], datetime]) -> Outcome:
    t0 = time.monotonic()
    existing = read_manifest(store, where, target.name, partition, describe)
    if existing is not None:
        log(f"{describe}: already complete ({existing.finished_at}); nothing to do")
        return Outcome(existing, True, time.monotonic() - t0)
    stale = stale_keys(store.list_keys(where.bucket, partition_prefix(
        where.prefix, target.name, partition), where.region), None, where.prefix, target.name,
        partition)
    if stale:
        log(f"{describe}: removing {len(stale)} object(s) of an earlier failed attempt")
        store.delete_keys(where.bucket, stale, where.region)
    attempt = f"{(run_id or uuid.uuid4().hex)[:8]}-{int(time.time())}"
    started = clock()
    written: list[str] = []
    try:
        if target.kind == "volume":
            objects, details, tools = _backup_volume(spec, target, partition, ionos, kube, log)
        elif target.kind == "database":
            objects, details, tools = _backup_database(spec, target, partition, attempt, where,
                                                       store, ionos, db, written, part_size, log)
        else:
            objects, details, tools = _backup_resources(target, partition, attempt, where, store,
                                                        kube, written, log)
        manifest = Manifest(
            target=target.name, kind=target.kind, partition=partition, attempt=attempt,
            bucket=where.bucket, started_at=utc_iso(started), finished_at=utc_iso(clock()),
            objects=tuple(objects), tool_versions=tools, details=details,
        )
        store.put_bytes(where.bucket, manifest_key(where.prefix, target.name, partition),
                        manifest.to_json(), where.region, content_type="application/json")
    except Exception as exc:
        _cleanup(store, where, written, log)
        raise BackupError(f"{describe} failed: {_cause(exc)}") from exc
    return Outcome(manifest, False, time.monotonic() - t0)


def _backups(spec: PlatformSpec) -> Backups:
    if spec.backups is None:
        raise BackupError("the spec has no backups section")
    return spec.backups


def _cleanup(store: Any, where: Where, keys: list[str], log: Log) -> None:
    if not keys:
        return
    try:
        store.delete_keys(where.bucket, keys, where.region)
    except Exception as exc:  # noqa: BLE001 - the backup's own error is the one to raise
        log(f"could not remove {len(keys)} object(s) of the failed attempt ({_cause(exc)}); "
            "they have no manifest, so they are never taken as a backup, and the next run "
            "removes them")


def _cause(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:500] if text else ''}"


def volume_handle(kube: Any, target: BackupTarget) -> tuple[dict[str, Any], str]:
    """(PVC, IONOS volume id) of a volume target: PVC → PV → ``spec.csi.volumeHandle``."""
    ns, name = target.namespace or "", target.pvc or ""
    pvc = kube.get("v1", "PersistentVolumeClaim", name, ns)
    if pvc is None:
        raise BackupError(f"PersistentVolumeClaim {ns}/{name} does not exist")
    pv_name = (pvc.get("spec") or {}).get("volumeName")
    if not pv_name:
        raise BackupError(f"PersistentVolumeClaim {ns}/{name} is not bound to a volume "
                          f"(phase {(pvc.get('status') or {}).get('phase')})")
    pv = kube.get("v1", "PersistentVolume", pv_name)
    if pv is None:
        raise BackupError(f"PersistentVolume {pv_name} of PVC {ns}/{name} does not exist")
    handle = ((pv.get("spec") or {}).get("csi") or {}).get("volumeHandle")
    if not handle:
        raise BackupError(f"PersistentVolume {pv_name} has no spec.csi.volumeHandle")
    # The IONOS CSI driver writes either the bare id or datacenters/<dc>/volumes/<id>.
    return pvc, str(handle).rstrip("/").split("/")[-1]


def _backup_volume(spec: PlatformSpec, target: BackupTarget, partition: str, ionos: Any,
                   kube: Any, log: Log) -> tuple[list[ManifestObject], dict[str, Any],
                                                 dict[str, str]]:
    name = snapshot_name(target.name, partition)
    pvc, volume_id = volume_handle(kube, target)
    if target.method == "csi-snapshot":
        return [], _csi_snapshot(target, name, kube, log), {"csi": SNAPSHOT_API}
    existing = next((s for s in ionos.list_snapshots()
                     if (s.get("properties") or {}).get("name") == name), None)
    if existing:
        log(f"snapshot {name} already exists ({existing.get('id')}); reusing it")
        snap, dc_id = existing, None
    else:
        found = ionos.find_volume(volume_id)
        if found is None:
            raise BackupError(f"IONOS volume {volume_id} behind PVC {target.namespace}/"
                              f"{target.pvc} no longer exists")
        dc_id, _vol = found
        snap = ionos.create_volume_snapshot(
            dc_id, volume_id, name, description=f"platform-ops backup {target.name} {partition}",
            log=log)
    props = snap.get("properties") or {}
    details = {"method": "ionos-snapshot", "snapshot_id": snap.get("id"), "snapshot_name": name,
               "volume_id": volume_id, "datacenter_id": dc_id,
               "size_gb": props.get("size"), "location": props.get("location"),
               "pvc": f"{target.namespace}/{target.pvc}",
               "requested": (pvc.get("spec") or {}).get("resources", {}).get("requests", {})}
    return [], details, {"ionos-cloud-api": "v6"}


def _csi_snapshot(target: BackupTarget, name: str, kube: Any, log: Log,
                  timeout: float = 300.0) -> dict[str, Any]:
    ns = target.namespace or ""
    spec: dict[str, Any] = {"source": {"persistentVolumeClaimName": target.pvc}}
    if target.volume_snapshot_class:
        spec["volumeSnapshotClassName"] = target.volume_snapshot_class
    if kube.get(SNAPSHOT_API, "VolumeSnapshot", name, ns) is None:
        kube.apply({"apiVersion": SNAPSHOT_API, "kind": "VolumeSnapshot",
                    "metadata": {"name": name, "namespace": ns,
                                 "labels": {TARGET_LABEL: target.name}},
                    "spec": spec})
    deadline = time.monotonic() + timeout
    while True:
        obj = kube.get(SNAPSHOT_API, "VolumeSnapshot", name, ns) or {}
        status = obj.get("status") or {}
        if status.get("readyToUse"):
            return {"method": "csi-snapshot", "volume_snapshot": f"{ns}/{name}",
                    "content": status.get("boundVolumeSnapshotContentName"),
                    "restore_size": status.get("restoreSize"),
                    "pvc": f"{ns}/{target.pvc}"}
        if status.get("error"):
            why = status["error"].get("message") if isinstance(status["error"], dict) \
                else status["error"]
            raise BackupError(f"VolumeSnapshot {ns}/{name} failed: {why}")
        if time.monotonic() > deadline:
            raise BackupError(f"VolumeSnapshot {ns}/{name} not ready after {timeout:.0f}s")
        time.sleep(0.5)


def database_host(spec: PlatformSpec, ionos: Any, db: Any) -> tuple[str, dict[str, Any] | None]:
    """The host to dump from (the resource's, else the DBaaS cluster's DNS name) and the
    DBaaS cluster JSON (None when the spec has no managed MariaDB or it is not found)."""
    cluster = None
    if spec.ionos.mariadb is not None and ionos is not None:
        cluster = ionos.mariadb_cluster_by_name(spec.ionos.mariadb.name)
    host = db.host or ((cluster or {}).get("metadata") or {}).get("dnsName") or ""
    if not host:
        raise BackupError("no MariaDB server to dump: set MARIADB_HOST, or create the managed "
                          "MariaDB cluster (it has no DNS name yet)")
    return host, cluster


def _backup_database(spec: PlatformSpec, target: BackupTarget, partition: str, attempt: str,
                     where: Where, store: Any, ionos: Any, db: Any, written: list[str],
                     part_size: int, log: Log
                     ) -> tuple[list[ManifestObject], dict[str, Any], dict[str, str]]:
    host, cluster = database_host(spec, ionos, db)
    dbaas: dict[str, Any] = {"cluster": None, "backups": []}
    if cluster is not None:
        backups = ionos.mariadb_backups(cluster["id"])
        dbaas = {"cluster": cluster["id"], "backups": [
            {"id": b.get("id"), **{k: (b.get("properties") or {}).get(k) for k in (
                "earliestRecoveryTargetTime", "latestRecoveryTargetTime", "location")}}
            for b in backups]}
    names = target.databases or ([spec.ionos.mariadb.database] if spec.ionos.mariadb else [])
    if not names:
        raise BackupError("no database named: set databases on the target")
    server = db.server_version(host)
    tools = {**db.tool_versions(), "server": server}
    objects = []
    for name in names:
        stats = db.table_stats(name, host)
        key = object_key(where.prefix, target.name, partition, attempt, f"{name}.sql.gz")
        written.append(key)
        log(f"dumping {name} ({len(stats)} tables) to s3://{where.bucket}/{key}")
        result = store.upload_stream(where.bucket, key, db.dump(name, host), where.region,
                                     content_type="application/gzip", part_size=part_size,
                                     log=log)
        _confirm_size(store, where, key, result.size)
        objects.append(ManifestObject(
            key=key, size=result.size, sha256=result.sha256,
            source=f"mariadb-dump --single-transaction {name}@{host}:{db.port}",
            content_type="application/gzip",
            details={"database": name, "tables": stats,
                     "upload_seconds": round(result.seconds, 3)}))
    return objects, {"host": host, "dbaas": dbaas}, tools


def _confirm_size(store: Any, where: Where, key: str, size: int) -> None:
    client = store.client(where.region)
    head = store.call(f"HEAD s3://{where.bucket}/{key}",
                      lambda: client.head_object(Bucket=where.bucket, Key=key))
    if int(head["ContentLength"]) != size:
        raise BackupError(f"s3://{where.bucket}/{key} holds {head['ContentLength']} bytes, "
                          f"{size} were sent")


def export_namespace(kube: Any, namespace: str, include_secrets: bool,
                     kinds: tuple[tuple[str, str], ...],
                     forbidden: list[str] | None = None) -> list[dict[str, Any]]:
    """Every object of ``namespace`` (managedFields dropped), kinds as discovery lists them.

    Kinds the account may not list (403: least-privilege RBAC grants a fixed set) are appended
    to ``forbidden`` so the backup reports them, instead of failing the whole export."""
    out = []
    for api_version, kind in kinds:
        if kind in SKIPPED_KINDS or (kind == "Secret" and not include_secrets):
            continue
        try:
            listed = kube.list(api_version, kind, namespace)
        except Exception as exc:
            if getattr(exc, "status", None) != 403 or forbidden is None:
                raise
            forbidden.append(f"{api_version}/{kind}")
            continue
        for obj in listed:
            obj.setdefault("apiVersion", api_version)
            obj.setdefault("kind", kind)
            (obj.get("metadata") or {}).pop("managedFields", None)
            out.append(obj)
    return out


def _backup_resources(target: BackupTarget, partition: str, attempt: str, where: Where,
                      store: Any, kube: Any, written: list[str],
                      log: Log) -> tuple[list[ManifestObject], dict[str, Any], dict[str, str]]:
    import yaml

    kinds = kube.namespaced_kinds()
    objects = []
    for ns in target.namespaces:
        forbidden: list[str] = []
        items = export_namespace(kube, ns, target.include_secrets, kinds, forbidden)
        if forbidden:
            log(f"namespace {ns}: not allowed to list {', '.join(forbidden)}; not exported")
        body = yaml.safe_dump_all(items, sort_keys=True).encode() if items else b""
        key = object_key(where.prefix, target.name, partition, attempt, f"{ns}.yaml")
        written.append(key)
        result = store.upload_stream(where.bucket, key, iter([body]), where.region,
                                     content_type="application/yaml", log=log)
        _confirm_size(store, where, key, result.size)
        counts: dict[str, int] = {}
        for o in items:
            counts[o["kind"]] = counts.get(o["kind"], 0) + 1
        objects.append(ManifestObject(
            key=key, size=result.size, sha256=result.sha256,
            source=f"kubernetes namespace {ns}", content_type="application/yaml",
            details={"namespace": ns, "count": len(items), "kinds": counts,
                     "not_exported_kinds": forbidden}))
        log(f"exported {len(items)} objects of namespace {ns}")
    return objects, {"namespaces": list(target.namespaces),
                     "include_secrets": target.include_secrets,
                     "kinds_discovered": len(kinds)}, {"kubernetes-api": "discovery"}


def copy_partition(spec: PlatformSpec, target: BackupTarget, partition: str, *, store: Any,
                   log: Log = lambda _: None,
                   clock: Callable[[], datetime] = now_utc) -> Outcome:
    """Copy a complete partition to the DR bucket, verify every object by sha256, write the
    DR manifest last."""
    bk = _backups(spec)
    if bk.cross_region_copy is None:
        raise BackupError("the spec has no backups.cross_region_copy")
    src = Where(bk.bucket, bucket_region(spec, bk.bucket), bk.prefix)
    dst = Where(bk.cross_region_copy.bucket, bucket_region(spec, bk.cross_region_copy.bucket),
                bk.prefix)
    describe = f"cross-region copy of {target.name} ({partition}) to {dst.bucket}"
    t0 = time.monotonic()
    source = read_manifest(store, src, target.name, partition, describe)
    if source is None:
        raise BackupError(f"{describe}: the backup of this partition is not complete (no "
                          f"manifest in {src.bucket}); run the backup first")
    existing = read_manifest(store, dst, target.name, partition, describe)
    if existing is not None and existing.attempt == source.attempt:
        return Outcome(existing, True, time.monotonic() - t0)
    stale = store.list_keys(dst.bucket, partition_prefix(dst.prefix, target.name, partition),
                            dst.region)
    if stale:
        remove_partition(store, dst, target.name, partition)
    written: list[str] = []
    started = clock()
    try:
        copied = []
        for obj in source.objects:
            written.append(obj.key)
            result = store.copy_across(src.bucket, obj.key, dst.bucket, obj.key,
                                       src.region, dst.region, log=log)
            check = compare_object(obj, result.size, result.sha256)
            if not check.ok:
                raise BackupError(f"s3://{dst.bucket}/{obj.key}: {check.problem}")
            copied.append(obj)
        manifest = Manifest(
            target=source.target, kind=source.kind, partition=partition,
            attempt=source.attempt, bucket=dst.bucket, started_at=utc_iso(started),
            finished_at=utc_iso(clock()), objects=tuple(copied),
            tool_versions=source.tool_versions,
            details={**source.details, "copied_from": f"s3://{src.bucket}",
                     "source_finished_at": source.finished_at},
        )
        store.put_bytes(dst.bucket, manifest_key(dst.prefix, target.name, partition),
                        manifest.to_json(), dst.region, content_type="application/json")
    except Exception as exc:
        _cleanup(store, dst, written, log)
        raise BackupError(f"{describe} failed: {_cause(exc)}") from exc
    return Outcome(manifest, False, time.monotonic() - t0)


def restore_points(spec: PlatformSpec, target: BackupTarget, store: Any, ionos: Any = None,
                   kube: Any = None, dr: bool = False) -> list[RestorePoint]:
    """The target's restore points: manifests in S3; for volumes, the snapshots themselves
    (verified when the snapshot is AVAILABLE and its partition has a manifest)."""
    bk = _backups(spec)
    bucket = bk.cross_region_copy.bucket if dr and bk.cross_region_copy else bk.bucket
    where = Where(bucket, bucket_region(spec, bucket), bk.prefix)
    points = s3_restore_points(store, where, target.name)
    if target.kind != "volume" or dr:
        return points
    complete = {p.partition for p in points if p.verified}
    created = {p.partition: p.created_at for p in points}
    snaps: list[RestorePoint] = []
    if target.method == "csi-snapshot":
        for vs in kube.list(SNAPSHOT_API, "VolumeSnapshot", target.namespace,
                            label_selector=f"{TARGET_LABEL}={target.name}"):
            name = vs["metadata"]["name"]
            part = partition_of_snapshot(target.name, name)
            if part:
                ready = bool((vs.get("status") or {}).get("readyToUse"))
                snaps.append(RestorePoint(part, created.get(part) or _day(part),
                                          ready and part in complete, f"volumesnapshot:{name}"))
    else:
        for s in ionos.list_snapshots():
            part = partition_of_snapshot(target.name, (s.get("properties") or {}).get("name", ""))
            if part:
                ok = (s.get("metadata") or {}).get("state") == "AVAILABLE"
                snaps.append(RestorePoint(part, created.get(part) or _day(part),
                                          ok and part in complete, f"snapshot:{s['id']}"))
    # Manifests without a snapshot are not restore points of a volume.
    return snaps


def _day(partition: str) -> datetime:
    return datetime.fromisoformat(partition).replace(tzinfo=UTC)


def apply_retention(spec: PlatformSpec, target: BackupTarget, *, store: Any, ionos: Any = None,
                    kube: Any = None, dr: bool = False, dry_run: bool = False,
                    now: datetime | None = None, log: Log = lambda _: None) -> RetentionPlan:
    """Delete what retention expires (nothing when ``dry_run``); return the plan."""
    bk = _backups(spec)
    points = restore_points(spec, target, store, ionos, kube, dr)
    plan = plan_retention(points, now or now_utc(), bk.retention_days)
    if dry_run or not plan.delete:
        return plan
    bucket = bk.cross_region_copy.bucket if dr and bk.cross_region_copy else bk.bucket
    where = Where(bucket, bucket_region(spec, bucket), bk.prefix)
    for p in plan.delete:
        if p.ref.startswith("snapshot:"):
            ionos.delete_snapshot(p.ref.split(":", 1)[1], log=log)
        elif p.ref.startswith("volumesnapshot:"):
            kube.delete(SNAPSHOT_API, "VolumeSnapshot", p.ref.split(":", 1)[1], target.namespace)
        remove_partition(store, where, target.name, p.partition)
        log(f"retention: deleted {target.name} {p.partition} ({p.ref})")
    return plan


def verify_objects(store: Any, where: Where, manifest: Manifest) -> list[ObjectCheck]:
    """Re-read every object of a manifest and compare size and sha256."""
    out = []
    for obj in manifest.objects:
        got = store.sha256_of(where.bucket, obj.key, where.region)
        out.append(compare_object(obj, *(got or (None, None))))
    return out


@dataclass
class DrillResult:
    seconds: float
    problems: list[str]
    metadata: dict[str, Any]


def drill_database(manifest: Manifest, where: Where, store: Any, db: Any,
                   host: str) -> DrillResult:
    """Restore each dump of ``manifest`` into a scratch database and compare table row counts
    and checksums with those recorded at dump time; the scratch database is dropped after."""
    t0 = time.monotonic()
    problems: list[str] = []
    restored_bytes = 0
    tables = 0
    for obj in manifest.objects:
        source_db = obj.details.get("database", "db")
        scratch = f"drill_{hashlib.sha256(obj.key.encode()).hexdigest()[:12]}"
        try:
            restored_bytes += db.restore(scratch, store.open_stream(where.bucket, obj.key,
                                                                    where.region), host)
            stats = db.table_stats(scratch, host)
            tables += len(stats)
            problems += [f"{source_db}.{p}" for p in
                         compare_tables(obj.details.get("tables") or {}, stats)]
        finally:
            db.drop_database(scratch, host)
    return DrillResult(time.monotonic() - t0, problems,
                       {"restored_bytes": restored_bytes, "tables": tables})


def _restorable(obj: dict[str, Any]) -> bool:
    meta = obj.get("metadata") or {}
    if meta.get("ownerReferences"):
        return False  # recreated by its controller, as Velero leaves it
    name = meta.get("name")
    return (obj.get("kind"), name) not in {("ServiceAccount", "default"),
                                            ("ConfigMap", "kube-root-ca.crt")}


def _grant_drill_access(kube: Any, scratch: str) -> None:
    """Bind the restore-drill ClusterRole in the scratch namespace to the run's service account
    (``$PLATFORM_RUN_SERVICE_ACCOUNT`` = ``namespace/name``, set by the Helm values): the
    least-privilege RBAC cannot name drill namespaces in advance. Unset (a kubeconfig with
    broader rights, or the sandbox): nothing to bind."""
    account = os.environ.get("PLATFORM_RUN_SERVICE_ACCOUNT", "")
    sa_namespace, _, sa_name = account.partition("/")
    if not (sa_namespace and sa_name):
        return
    kube.apply({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": DRILL_ROLE, "namespace": scratch},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                    "name": DRILL_ROLE},
        "subjects": [{"kind": "ServiceAccount", "name": sa_name, "namespace": sa_namespace}],
    })


def drill_resources(manifest: Manifest, where: Where, store: Any, kube: Any) -> DrillResult:
    """Apply the exported objects of each namespace into a scratch namespace, read them back and
    compare their content (everything but metadata and status); the scratch namespace goes."""
    import yaml

    t0 = time.monotonic()
    problems: list[str] = []
    restored = 0
    for obj in manifest.objects:
        ns = obj.details.get("namespace", "ns")
        raw = b"".join(store.open_stream(where.bucket, obj.key, where.region))
        items = [d for d in yaml.safe_load_all(raw) if d]
        scratch = f"drill-{hashlib.sha256(obj.key.encode()).hexdigest()[:12]}"
        kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": scratch}})
        _grant_drill_access(kube, scratch)
        created: list[dict[str, Any]] = []
        try:
            for item in filter(_restorable, items):
                body = for_drill(item, scratch)
                meta = body["metadata"]
                try:
                    kube.apply(body)
                except Exception as exc:  # noqa: BLE001 - reported as a drill problem
                    problems.append(f"{ns}: {item['kind']}/{meta.get('name')} could not be "
                                    f"restored: {_cause(exc)}")
                    continue
                created.append(body)
            for body in created:
                back = kube.get(body["apiVersion"], body["kind"], body["metadata"]["name"],
                                scratch)
                if back is None:
                    problems.append(f"{ns}: {body['kind']}/{body['metadata']['name']} missing "
                                    "after restore")
                elif drill_content(back) != drill_content(body):
                    problems.append(f"{ns}: {body['kind']}/{body['metadata']['name']} differs "
                                    "after restore")
            restored += len(created)
        finally:
            for body in reversed(created):
                try:
                    kube.delete(body["apiVersion"], body["kind"], body["metadata"]["name"],
                                scratch)
                except Exception:  # noqa: BLE001,S110 - the namespace delete removes it too
                    pass
            kube.delete("v1", "Namespace", scratch)
    return DrillResult(time.monotonic() - t0, problems, {"restored_objects": restored})
