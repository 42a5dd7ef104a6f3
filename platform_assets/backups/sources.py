"""What each kind of backup target backs up, one function per kind behind ``SOURCES``:
a volume (an IONOS snapshot or a CSI VolumeSnapshot), a database (a streamed ``mariadb-dump``
plus the DBaaS backups on record) and resources (the namespaces' objects as YAML)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from platform_assets.backups.bucket import Log, Where, confirm_size
from platform_assets.backups.errors import BackupError, required
from platform_assets.backups.postgres import backup_postgres
from platform_assets.backups.streams import AES_GCM_STREAM, Encoding, encode, key_id, parse_key
from platform_assets.core.backup_manifest import ManifestObject, object_key, snapshot_name
from platform_assets.core.ports import (
    BackupCloud,
    BackupCluster,
    BackupStore,
    Database,
    DbaasBackups,
    PostgresDumps,
)
from platform_assets.core.restore import group_of
from platform_assets.names import LABEL_BACKUP_TARGET
from platform_assets.spec.models import BackupTarget, PlatformSpec, split_kind

SNAPSHOT_API = "snapshot.storage.k8s.io/v1"
# Kinds never exported: events are history, not state.
SKIPPED_KINDS = {"Event"}

Produced = tuple[list[ManifestObject], dict[str, Any], dict[str, str]]


@dataclass
class BackupJob:
    """One attempt at one partition of one target, and the resources it may use. ``written``
    collects every key the attempt uploads, so a failure can remove them."""

    spec: PlatformSpec
    target: BackupTarget
    partition: str
    attempt: str
    where: Where
    store: BackupStore
    ionos: BackupCloud | None = None
    kube: BackupCluster | None = None
    db: Database | None = None
    pg: PostgresDumps | None = None
    part_size: int = 8 * 1024 * 1024
    log: Log = lambda _: None
    written: list[str] = field(default_factory=list)
    encoding: Encoding = Encoding()
    key: bytes | None = field(default=None, repr=False)
    level: int = 3
    threads: int = 2

    def encode(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        """``chunks`` compressed (and sealed) as this job's objects are written."""
        return encode(chunks, self.encoding, self.key, self.level, self.threads)


def encoding_of(spec: PlatformSpec) -> tuple[Encoding, bytes | None]:
    """How the spec wants objects written, and the encryption key (from the environment
    variable the spec names, read now; a missing or malformed key is a ``BackupKeyError``)."""
    bk = spec.backups
    if bk is None:
        return Encoding(), None
    key = None
    if bk.encryption is not None:
        key = parse_key(os.environ.get(bk.encryption.key_env), bk.encryption.key_env)
    return Encoding(bk.compression.algorithm, AES_GCM_STREAM if key else None,
                    key_id(key) if key else None), key


def volume_claim(kube: BackupCluster, target: BackupTarget) -> tuple[dict[str, Any], str]:
    """(PVC, name of its PV) of a volume target; a missing or unbound claim is a
    ``BackupError``."""
    ns, name = target.namespace or "", target.pvc or ""
    pvc = kube.get("v1", "PersistentVolumeClaim", name, ns)
    if pvc is None:
        raise BackupError(f"PersistentVolumeClaim {ns}/{name} does not exist")
    if (pvc.get("metadata") or {}).get("deletionTimestamp"):
        # pvc-protection keeps a deleted claim while pods use it: its data is on its way out.
        raise BackupError(f"PersistentVolumeClaim {ns}/{name} is being deleted (finalizers: "
                          f"{', '.join(pvc['metadata'].get('finalizers') or []) or 'none'}); "
                          "back up the claim that replaces it once it is gone")
    pv_name = (pvc.get("spec") or {}).get("volumeName")
    if not pv_name:
        raise BackupError(f"PersistentVolumeClaim {ns}/{name} is not bound to a volume "
                          f"(phase {(pvc.get('status') or {}).get('phase')})")
    if kube.get("v1", "PersistentVolume", pv_name) is None:
        raise BackupError(f"PersistentVolume {pv_name} of PVC {ns}/{name} does not exist")
    return pvc, str(pv_name)


def volume_handle(kube: BackupCluster, target: BackupTarget) -> tuple[dict[str, Any], str]:
    """(PVC, IONOS volume id) of a volume target: PVC → PV → ``spec.csi.volumeHandle``."""
    pvc, pv_name = volume_claim(kube, target)
    pv = kube.get("v1", "PersistentVolume", pv_name) or {}
    handle = ((pv.get("spec") or {}).get("csi") or {}).get("volumeHandle")
    if not handle:
        raise BackupError(f"PersistentVolume {pv_name} has no spec.csi.volumeHandle")
    # The IONOS CSI driver writes either the bare id or datacenters/<dc>/volumes/<id>.
    return pvc, str(handle).rstrip("/").split("/")[-1]


def backup_volume(job: BackupJob) -> Produced:
    """Snapshot the volume behind the target's PVC (once per partition: the snapshot's name is
    the idempotency key); no objects, the snapshot is the restore point."""
    target, partition, log = job.target, job.partition, job.log
    if target.method == "files":
        from platform_assets.backups.volume_job import backup_files

        return backup_files(job)
    if target.method == "longhorn":
        from platform_assets.backups.longhorn import backup_longhorn

        return backup_longhorn(job)
    name = snapshot_name(target.name, partition)
    kube = required(job.kube, "kubernetes", f"backup {target.name}")
    pvc, volume_id = volume_handle(kube, target)
    if target.method == "csi-snapshot":
        return [], csi_snapshot(target, name, kube, log), {"csi": SNAPSHOT_API}
    ionos = required(job.ionos, "ionos", f"backup {target.name}")
    existing = next((s for s in ionos.list_snapshots()
                     if (s.get("properties") or {}).get("name") == name), None)
    dc_id: str | None = None
    if existing:
        log(f"snapshot {name} already exists ({existing.get('id')}); reusing it")
        snap = existing
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


def csi_snapshot(target: BackupTarget, name: str, kube: BackupCluster, log: Log,
                  timeout: float = 300.0) -> dict[str, Any]:
    """Create the VolumeSnapshot of the target's PVC (if absent) and wait until it is ready."""
    ns = target.namespace or ""
    spec: dict[str, Any] = {"source": {"persistentVolumeClaimName": target.pvc}}
    if target.volume_snapshot_class:
        spec["volumeSnapshotClassName"] = target.volume_snapshot_class
    if kube.get(SNAPSHOT_API, "VolumeSnapshot", name, ns) is None:
        kube.apply({"apiVersion": SNAPSHOT_API, "kind": "VolumeSnapshot",
                    "metadata": {"name": name, "namespace": ns,
                                 "labels": {LABEL_BACKUP_TARGET: target.name}},
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


def database_host(spec: PlatformSpec, ionos: DbaasBackups | None,
                  db: Database) -> tuple[str, dict[str, Any] | None]:
    """The host to dump from (the resource's, else the DBaaS cluster's DNS name) and the
    DBaaS cluster JSON (None when the spec has no managed MariaDB or it is not found)."""
    cluster = None
    if spec.mariadb is not None and ionos is not None:
        cluster = ionos.mariadb_cluster_by_name(spec.mariadb.name)
    host = db.host or ((cluster or {}).get("metadata") or {}).get("dnsName") or ""
    if not host:
        raise BackupError("no MariaDB server to dump: set MARIADB_HOST, or create the managed "
                          "MariaDB cluster (it has no DNS name yet)")
    return host, cluster


def backup_database(job: BackupJob) -> Produced:
    """Dump each database of the target into the bucket, with the table stats the drill compares
    against, and record the DBaaS backups on record."""
    spec, target, partition, attempt, where, store, ionos, written, part_size, log = (
        job.spec, job.target, job.partition, job.attempt, job.where, job.store, job.ionos,
        job.written, job.part_size, job.log)
    db = required(job.db, "database", f"backup {target.name}")
    host, cluster = database_host(spec, ionos, db)
    dbaas: dict[str, Any] = {"cluster": None, "backups": []}
    if cluster is not None and ionos is not None:
        backups = ionos.mariadb_backups(cluster["id"])
        dbaas = {"cluster": cluster["id"], "backups": [
            {"id": b.get("id"), **{k: (b.get("properties") or {}).get(k) for k in (
                "earliestRecoveryTargetTime", "latestRecoveryTargetTime", "location")}}
            for b in backups]}
    names = target.databases or ([spec.mariadb.database] if spec.mariadb else [])
    if not names:
        raise BackupError("no database named: set databases on the target")
    server = db.server_version(host)
    tools = {**db.tool_versions(), "server": server}
    objects = []
    for name in names:
        stats = db.table_stats(name, host)
        key = object_key(where.prefix, target.name, partition, attempt,
                         f"{name}.sql{job.encoding.suffix}")
        written.append(key)
        log(f"dumping {name} ({len(stats)} tables) to s3://{where.bucket}/{key}")
        result = store.upload_stream(where.bucket, key, job.encode(db.dump(name, host)),
                                     where.region, content_type=job.encoding.content_type,
                                     part_size=part_size, log=log)
        confirm_size(store, where, key, result.size)
        objects.append(ManifestObject(
            key=key, size=result.size, sha256=result.sha256,
            source=f"mariadb-dump --single-transaction {name}@{host}:{db.port}",
            content_type=job.encoding.content_type,
            details={"database": name, "tables": stats, **job.encoding.details(),
                     "upload_seconds": round(result.seconds, 3)}))
    return objects, {"host": host, "dbaas": dbaas}, tools


def export_namespace(kube: BackupCluster, namespace: str, include_secrets: bool,
                     kinds: tuple[tuple[str, str], ...],
                     forbidden: list[str] | None = None) -> list[dict[str, Any]]:
    """Every object of ``namespace`` (managedFields dropped), kinds as discovery lists them.

    Kinds the account may not list (403: least-privilege RBAC grants a fixed set) are appended
    to ``forbidden`` so the backup reports them, instead of failing the whole export. A kind
    that answers 404 is no longer served (its CRD was deleted after discovery): it has nothing
    to export."""
    out = []
    for api_version, kind in kinds:
        if kind in SKIPPED_KINDS or (kind == "Secret" and not include_secrets):
            continue
        try:
            listed = kube.list(api_version, kind, namespace)
        except Exception as exc:
            status = getattr(exc, "status", None)
            if status == 404:
                continue
            if status != 403 or forbidden is None:
                raise
            forbidden.append(f"{api_version}/{kind}")
            continue
        for obj in listed:
            obj.setdefault("apiVersion", api_version)
            obj.setdefault("kind", kind)
            (obj.get("metadata") or {}).pop("managedFields", None)
            out.append(obj)
    return out


def backup_resources(job: BackupJob) -> Produced:
    """Export every object of the target's namespaces as one YAML stream per namespace."""
    if job.target.method == "velero":
        from platform_assets.backups.velero import backup_velero

        return backup_velero(job)
    target, partition, attempt, where, store, written, log = (
        job.target, job.partition, job.attempt, job.where, job.store, job.written, job.log)
    kube = required(job.kube, "kubernetes", f"backup {target.name}")
    import yaml

    kinds = kube.namespaced_kinds()
    not_served = not_served_kinds(target.include_kinds, kinds)
    if not_served:
        log(f"include_kinds {', '.join(not_served)} of target {target.name}: not served by "
            "the cluster (discovery lists no such namespaced kind); nothing of it exported")
    objects = []
    for ns in target.namespaces:
        forbidden: list[str] = []
        items = export_namespace(kube, ns, target.include_secrets, kinds, forbidden)
        if forbidden:
            log(f"namespace {ns}: the account may not list {', '.join(forbidden)}, so whatever "
                "the namespace holds of them is not in this backup (a target's include_kinds "
                "adds a kind: docs/backups.md)")
        body = yaml.safe_dump_all(items, sort_keys=True).encode() if items else b""
        key = object_key(where.prefix, target.name, partition, attempt,
                         f"{ns}.yaml{job.encoding.suffix}")
        written.append(key)
        result = store.upload_stream(where.bucket, key, job.encode(iter([body])), where.region,
                                     content_type=job.encoding.content_type, log=log)
        confirm_size(store, where, key, result.size)
        counts: dict[str, int] = {}
        for o in items:
            counts[o["kind"]] = counts.get(o["kind"], 0) + 1
        objects.append(ManifestObject(
            key=key, size=result.size, sha256=result.sha256,
            source=f"kubernetes namespace {ns}", content_type=job.encoding.content_type,
            details={"namespace": ns, "count": len(items), "kinds": counts,
                     "not_exported_kinds": forbidden, **job.encoding.details()}))
        log(f"exported {len(items)} objects of namespace {ns}")
    return objects, {"namespaces": list(target.namespaces),
                     "include_secrets": target.include_secrets,
                     "include_kinds": list(target.include_kinds),
                     "include_kinds_not_served": not_served,
                     "kinds_discovered": len(kinds)}, {"kubernetes-api": "discovery"}


def not_served_kinds(include_kinds: Iterable[str],
                     discovered: Iterable[tuple[str, str]]) -> list[str]:
    """The ``include_kinds`` entries whose group and kind discovery does not list (a CRD not
    installed, a typo); the version may differ: the export lists each kind in its group's
    preferred version."""
    served = {(group_of(api), kind) for api, kind in discovered}
    return [k for k in include_kinds
            if (group_of(split_kind(k)[0]), split_kind(k)[1]) not in served]


SOURCES: dict[str, Callable[[BackupJob], Produced]] = {
    "volume": backup_volume,
    "database": backup_database,
    "resources": backup_resources,
    "postgres": backup_postgres,
}
