"""Backups through the installed Velero (``method: velero``): a ``Backup`` per partition, waited
for, verified in the bucket; the drill restores it with a ``Restore`` into the drill namespace
and compares what came back with the backup's contents.

Velero writes into its BackupStorageLocation's bucket, which must be the backup bucket
(``backups.bucket``, or ``backups.store``'s): the partition's manifest lists Velero's objects there
(size and sha256 read back), so the cross-region copy, ``manifest_checksums`` and the drill's trust
in the Dagster record work as for every other target. A Backup that ended ``PartiallyFailed`` or
``Failed`` is left for inspection (``velero backup logs``) and fails the run; the next run deletes
it with a ``DeleteBackupRequest`` (as ``velero backup delete`` does) and takes it again under the
same name.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from platform_assets.backups.bucket import Where
from platform_assets.backups.errors import BackupError, required
from platform_assets.backups.tools import poll, tool_namespace, wait_gone
from platform_assets.core import velero as v
from platform_assets.core.backup_manifest import BackupRecord, Manifest, ManifestObject
from platform_assets.core.ports import BackupCluster, BackupStore, ClusterWriter
from platform_assets.core.restore import drill_content
from platform_assets.spec.models import BackupTarget, PlatformSpec, VeleroSettings, parse_duration

if TYPE_CHECKING:
    from platform_assets.backups.drills import DrillResult
    from platform_assets.backups.sources import BackupJob

Log = Callable[[str], Any]
POLL_SECONDS = 1.0


@dataclass(frozen=True)
class Site:
    """Where the target's Velero runs and how the target asks it."""

    namespace: str
    settings: VeleroSettings
    timeout: float

    def describe(self, kind: str, name: str) -> str:
        return f"Velero {kind} {self.namespace}/{name}"


def site_of(spec: PlatformSpec, target: BackupTarget) -> Site:
    settings = target.velero_settings
    return Site(tool_namespace(spec, target), settings,
                parse_duration(settings.timeout).total_seconds())


@dataclass
class Waiter:
    """Polls an object until Velero has finished with it, within the site's timeout."""

    kube: ClusterWriter
    site: Site
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic

    def finished(self, kind: str, name: str, log: Log) -> dict[str, Any]:
        what = self.site.describe(kind, name)
        last: list[str | None] = [None]

        def seen(obj: dict[str, Any] | None) -> None:
            phase = v.Status.of(obj).phase
            if phase != last[0]:
                log(f"{what}: {phase or 'waiting for Velero'}")
                last[0] = phase

        def timed_out(obj: dict[str, Any] | None) -> BackupError:
            return BackupError(
                f"{what} is still {v.Status.of(obj).phase or 'without a phase'} after "
                f"{self.site.settings.timeout}: is the Velero server running in "
                f"{self.site.namespace} (its Deployment available, the storage location "
                "Available)?")

        obj = poll(lambda: self.kube.get(v.API_VERSION, kind, name, self.site.namespace),
                   lambda o: o is not None and v.Status.of(o).finished, self.site.timeout,
                   timed_out, self.sleep, self.clock, seen, POLL_SECONDS)
        assert obj is not None
        return obj

    def gone(self, kind: str, name: str) -> None:
        wait_gone(lambda: self.kube.get(v.API_VERSION, kind, name, self.site.namespace),
                  self.site.describe(kind, name), self.site.timeout,
                  str(self.site.settings.timeout), self.sleep, self.clock, POLL_SECONDS)


def storage_prefix(kube: ClusterWriter, site: Site, bucket: str) -> str:
    """The BackupStorageLocation's prefix; it must exist, be Available and store in
    ``bucket``."""
    name = site.settings.storage_location
    bsl = kube.get(v.API_VERSION, "BackupStorageLocation", name, site.namespace)
    what = f"BackupStorageLocation {site.namespace}/{name}"
    if bsl is None:
        raise BackupError(f"{what} does not exist: create it (the Velero chart's "
                          f"configuration.backupStorageLocation) on bucket {bucket}")
    storage = (bsl.get("spec") or {}).get("objectStorage") or {}
    if storage.get("bucket") != bucket:
        raise BackupError(f"{what} stores in bucket {storage.get('bucket')!r}, not in "
                          f"the backup bucket {bucket!r}: point it there so the copy and the "
                          "checks read what Velero writes")
    status = bsl.get("status") or {}
    if status.get("phase") != "Available":
        raise BackupError(f"{what} is {status.get('phase') or 'not validated yet'}: "
                          f"{status.get('message') or 'Velero has not validated it'}")
    return str(storage.get("prefix") or "")


def request_for(site: Site, target: BackupTarget, partition: str) -> v.BackupRequest:
    s = site.settings
    return v.BackupRequest(
        name=v.backup_name(target.name, partition), namespace=site.namespace,
        target=target.name, partition=partition, included_namespaces=tuple(target.namespaces),
        storage_location=s.storage_location, ttl=parse_duration(s.ttl),
        snapshot_volumes=s.snapshot_volumes, label_selector=dict(s.label_selector))


def delete_backup(kube: ClusterWriter, waiter: Waiter, backup: dict[str, Any], log: Log) -> None:
    """Remove a failed attempt from the bucket and the cluster (``velero backup delete``)."""
    meta = backup["metadata"]
    log(f"{waiter.site.describe('Backup', meta['name'])} ended "
        f"{v.Status.of(backup).phase}; deleting it before taking the partition again")
    kube.apply({"apiVersion": v.API_VERSION, "kind": "DeleteBackupRequest",
                "metadata": {"name": v.delete_request_name(meta["name"]),
                             "namespace": meta["namespace"],
                             "labels": {"velero.io/backup-name": meta["name"],
                                        "velero.io/backup-uid": meta["uid"]}},
                "spec": {"backupName": meta["name"]}})
    waiter.gone("Backup", meta["name"])


def ensure_backup(kube: ClusterWriter, waiter: Waiter, request: v.BackupRequest,
                  log: Log) -> dict[str, Any]:
    """The partition's Backup, finished: the existing one, or a new one when there is none
    or the last attempt did not complete."""
    existing = kube.get(v.API_VERSION, "Backup", request.name, request.namespace)
    status = v.Status.of(existing)
    if existing is not None and status.finished and not status.completed:
        delete_backup(kube, waiter, existing, log)
        existing = None
    if existing is None:
        log(f"creating {waiter.site.describe('Backup', request.name)} of "
            f"{', '.join(request.included_namespaces)}")
        kube.apply(request.manifest())
    return waiter.finished("Backup", request.name, log)


def failure(site: Site, backup: dict[str, Any], store: BackupStore, bucket: str,
            region: str | None,
            prefix: str) -> BackupError:
    """A Backup that finished but did not complete, with Velero's own reasons."""
    name = backup["metadata"]["name"]
    status = v.Status.of(backup)
    keys = v.backup_keys(prefix, name)
    raw = store.get_bytes(bucket, keys["results"], region)
    errors = v.result_messages(raw) if raw else []
    detail = f" ({'; '.join(errors)})" if errors else ""
    return BackupError(f"{site.describe('Backup', name)} ended {status.phase}: "
                       f"{status.cause()}{detail}; its log is s3://{bucket}/{keys['log']} "
                       f"(velero backup logs {name}); the next run deletes it and takes the "
                       "partition again")


def verify_in_bucket(store: BackupStore, bucket: str, region: str | None, prefix: str,
                     backup: dict[str, Any]) -> tuple[list[ManifestObject], dict[str, Any]]:
    """Velero's objects of the backup, each read back (size, sha256), and what its contents
    hold; a missing object, another backup's metadata or contents that disagree with the
    status are a ``BackupError``."""
    meta, status = backup["metadata"], v.Status.of(backup)
    keys = v.backup_keys(prefix, meta["name"])
    where = f"s3://{bucket}/{keys['metadata'].rsplit('/', 1)[0]}/"
    listed = store.list_objects(bucket, keys["metadata"].rsplit("/", 1)[0] + "/", region)
    missing = [keys[k] for k in v.REQUIRED_KEYS if keys[k] not in listed]
    if missing:
        raise BackupError(f"Velero reported Completed but {where} lacks "
                          f"{', '.join(k.rsplit('/', 1)[-1] for k in missing)}")
    problems = v.check_metadata(store.get_bytes(bucket, keys["metadata"], region) or b"",
                                meta["name"], str(meta.get("uid") or ""))
    contents = store.get_bytes(bucket, keys["contents"], region) or b""
    try:
        items, version = v.tarball_items(contents)
    except ValueError as exc:
        raise BackupError(f"{where}{keys['contents'].rsplit('/', 1)[-1]}: {exc}") from None
    if len(items) != status.items_done:
        problems.append(f"the contents hold {len(items)} item(s), Velero reported "
                        f"{status.items_done} backed up")
    if problems:
        raise BackupError(f"{where}: {'; '.join(problems)}; Velero's backup there cannot be "
                          f"trusted: delete it (velero backup delete {meta['name']}) and run "
                          "again")
    objects = []
    for key in sorted(listed):
        size, digest = (len(contents), hashlib.sha256(contents).hexdigest()) \
            if key == keys["contents"] else (store.sha256_of(bucket, key, region) or (0, ""))
        objects.append(ManifestObject(
            key=key, size=size, sha256=digest,
            source=f"velero backup {meta['namespace']}/{meta['name']}",
            content_type="application/gzip" if key.endswith(".gz") else "application/json",
            details={"velero_object": key.rsplit("/", 1)[-1]}))
    return objects, {"format_version": version, "items": len(items)}


def backup_velero(job: BackupJob, sleep: Callable[[float], None] = time.sleep
                  ) -> tuple[list[ManifestObject], dict[str, Any], dict[str, str]]:
    """One partition of a ``method: velero`` target: (objects, details, tool versions)."""
    site = site_of(job.spec, job.target)
    where = job.where
    kube = required(job.kube, "kubernetes", f"backup {job.target.name}")
    prefix = storage_prefix(kube, site, where.bucket)
    request = request_for(site, job.target, job.partition)
    backup = ensure_backup(kube, Waiter(kube, site, sleep), request, job.log)
    status = v.Status.of(backup)
    if not status.completed:
        raise failure(site, backup, job.store, where.bucket, where.region, prefix)
    objects, found = verify_in_bucket(job.store, where.bucket, where.region, prefix, backup)
    job.log(f"{site.describe('Backup', request.name)}: Completed, {status.items_done} item(s), "
            f"{status.warnings} warning(s); {len(objects)} object(s) verified in "
            f"s3://{where.bucket}")
    details = {"method": "velero", "velero_backup": f"{site.namespace}/{request.name}",
               "velero_uid": backup["metadata"].get("uid"), "phase": status.phase,
               "items_backed_up": status.items_done, "total_items": status.total_items,
               "warnings": status.warnings, "errors": status.errors,
               "expiration": status.expiration, "storage_location": request.storage_location,
               "storage_prefix": prefix, "namespaces": list(request.included_namespaces),
               "snapshot_volumes": request.snapshot_volumes}
    return objects, details, {"velero-backup-format": found["format_version"]}


def drill_velero(spec: PlatformSpec, target: BackupTarget, manifest: Manifest, where: Where,
                 store: BackupStore, kube: BackupCluster, record: BackupRecord | None, log: Log,
                 sleep: Callable[[float], None] = time.sleep) -> DrillResult:
    """The restore drill of a ``method: velero`` target, timed: nothing is restored unless the
    manifest and the contents match what the backup run recorded in Dagster."""
    from platform_assets.backups.drills import DrillResult, ensure_drill_namespace, untrusted
    from platform_assets.names import drill_namespace

    t0 = time.monotonic()
    problems = untrusted(manifest, where, record)
    scratch = drill_namespace(target.name)
    missing = None if problems else ensure_drill_namespace(kube, scratch)
    if problems or missing:
        return DrillResult(time.monotonic() - t0, problems or [str(missing)],
                           {"restored_objects": 0})
    problems, restored = restore_and_compare(spec, target, manifest, where, store, kube,
                                             scratch, log, sleep)
    return DrillResult(time.monotonic() - t0, problems, {"restored_objects": restored})


def restore_and_compare(spec: PlatformSpec, target: BackupTarget, manifest: Manifest,
                        where: Where, store: BackupStore, kube: ClusterWriter, scratch: str,
                        log: Log,
                        sleep: Callable[[float], None]) -> tuple[list[str], int]:
    """Restore the manifest's Velero backup into ``scratch`` (every backed-up namespace mapped
    there), wait for Completed, and compare each restored object with the backup's contents;
    what was restored and the Restore are deleted after. (problems, objects compared)"""
    site = site_of(spec, target)
    name = str(manifest.details.get("velero_backup", "/")).split("/", 1)[1]
    contents = next((o for o in manifest.objects if o.key.endswith(f"/{name}.tar.gz")), None)
    if contents is None:
        return [f"the manifest of {manifest.partition} lists no {name}.tar.gz"], 0
    raw = b"".join(store.open_stream(where.bucket, contents.key, where.region))
    if hashlib.sha256(raw).hexdigest() != contents.sha256:
        return [f"s3://{where.bucket}/{contents.key}: its sha256 is not the one the backup "
                "run recorded; not restored"], 0
    items, _ = v.tarball_items(raw)
    waiter = Waiter(kube, site, sleep)
    rname = v.restore_name(name)
    if kube.get(v.API_VERSION, "Restore", rname, site.namespace) is not None:
        kube.delete(v.API_VERSION, "Restore", rname, site.namespace)
        waiter.gone("Restore", rname)
    mapping = {ns: scratch for ns in manifest.details.get("namespaces") or target.namespaces}
    expected = [i for i in items if i.namespace in mapping and v.drilled(i)]
    kube.apply(v.restore_manifest(rname, site.namespace, name, target.name, mapping))
    try:
        status = v.Status.of(waiter.finished("Restore", rname, log))
        if not status.completed:
            return [f"{site.describe('Restore', rname)} ended {status.phase}: "
                    f"{status.cause()}"], 0
        return compare_restored(kube, expected, scratch), len(expected)
    finally:
        cleanup_restored(kube, expected, scratch, log)
        kube.delete(v.API_VERSION, "Restore", rname, site.namespace)


def compare_restored(kube: ClusterWriter, expected: list[v.Item], scratch: str) -> list[str]:
    problems = []
    for item in expected:
        what = f"{item.namespace}: {item.obj.get('kind')}/{item.name}"
        back = kube.get(str(item.obj.get("apiVersion")), str(item.obj.get("kind")), item.name,
                        scratch)
        if back is None:
            problems.append(f"{what} missing after restore")
        elif drill_content(back) != drill_content(item.obj):
            problems.append(f"{what} differs after restore")
    return problems


def cleanup_restored(kube: ClusterWriter, expected: list[v.Item], scratch: str, log: Log) -> None:
    for item in expected:
        try:
            kube.delete(str(item.obj.get("apiVersion")), str(item.obj.get("kind")), item.name,
                        scratch)
        except Exception as exc:  # noqa: BLE001 - left over: say so
            log(f"{item.obj.get('kind')}/{item.name} left in {scratch}: {exc}")
