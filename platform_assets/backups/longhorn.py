"""Backups through the installed Longhorn (``method: longhorn``): per partition a ``Snapshot``
of the target's volume and a ``Backup`` of it to Longhorn's S3 backup target, waited for and
verified in the bucket; the drill has Longhorn restore a new Volume ``fromBackup``.

Longhorn writes into its BackupTarget's bucket, which must be the backup bucket
(``backups.bucket``, or ``backups.store``'s): the partition's manifest lists the backup's cfg and
every block it names (size and sha256 read back), so the cross-region copy, ``manifest_checksums``
and the drill's trust in the Dagster record work as for every other target. A Backup that ended
``Error`` fails the run with Longhorn's cause; the next run deletes it and takes it again under the
same name. Longhorn's Volumes live in its own namespace, so the drill's Volume is created there
(not in the drill namespace), read back by Longhorn from the bucket (each block checked against its
sha512), and deleted after.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from platform_assets.backups.bucket import Where
from platform_assets.backups.errors import BackupError, cause, required
from platform_assets.backups.tools import poll, tool_namespace, wait_gone
from platform_assets.core import longhorn as lh
from platform_assets.core.backup_manifest import (
    BackupRecord,
    Manifest,
    ManifestObject,
    object_key,
)
from platform_assets.core.ports import BackupCluster, BackupStore, ClusterWriter
from platform_assets.core.volume_index import FILE_LIST_NAME
from platform_assets.spec.models import BackupTarget, PlatformSpec, parse_duration

if TYPE_CHECKING:
    from platform_assets.backups.drills import DrillResult
    from platform_assets.backups.sources import BackupJob

Log = Callable[[str], Any]
POLL_SECONDS = 1.0
ROLE_FILE_LIST = "file-list"


@dataclass(frozen=True)
class Site:
    """Where the target's Longhorn runs, its backup target, and how long to wait."""

    namespace: str
    backup_target: str
    timeout: float
    timeout_text: str

    def describe(self, kind: str, name: str) -> str:
        return f"Longhorn {kind} {self.namespace}/{name}"


def site_of(spec: PlatformSpec, target: BackupTarget) -> Site:
    s = target.longhorn_settings
    return Site(tool_namespace(spec, target), s.backup_target,
                parse_duration(s.timeout).total_seconds(), str(s.timeout))


@dataclass
class Waiter:
    """Polls a Longhorn object until ``done`` says so, within the site's timeout."""

    kube: ClusterWriter
    site: Site
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic

    def until(self, kind: str, name: str, done: Callable[[dict[str, Any] | None], bool],
              waiting_for: str) -> dict[str, Any]:
        obj = poll(lambda: self.kube.get(lh.API_VERSION, kind, name, self.site.namespace),
                   lambda o: o is not None and done(o), self.site.timeout,
                   lambda _o: BackupError(
                       f"{self.site.describe(kind, name)}: no {waiting_for} after "
                       f"{self.site.timeout_text}: is longhorn-manager running in "
                       f"{self.site.namespace} (its DaemonSet available)?"),
                   self.sleep, self.clock, every=POLL_SECONDS)
        assert obj is not None
        return obj

    def core_gone(self, kind: str, name: str, namespace: str | None) -> None:
        """A v1 object (a scratch claim, its PersistentVolume) gone, within the site's
        timeout."""
        where = f"{namespace}/{name}" if namespace else name
        wait_gone(lambda: self.kube.get("v1", kind, name, namespace), f"{kind} {where}",
                  self.site.timeout, self.site.timeout_text, self.sleep, self.clock,
                  POLL_SECONDS)

    def gone(self, kind: str, name: str) -> None:
        wait_gone(lambda: self.kube.get(lh.API_VERSION, kind, name, self.site.namespace),
                  self.site.describe(kind, name), self.site.timeout, self.site.timeout_text,
                  self.sleep, self.clock, POLL_SECONDS)


def backup_target_prefix(kube: ClusterWriter, site: Site, bucket: str) -> tuple[str, str]:
    """(target URL, key prefix) of the site's BackupTarget; it must exist, be available and
    store in ``bucket``."""
    bt = kube.get(lh.API_VERSION, "BackupTarget", site.backup_target, site.namespace)
    what = f"Longhorn BackupTarget {site.namespace}/{site.backup_target}"
    if bt is None:
        raise BackupError(f"{what} does not exist: set the chart's defaultSettings.backupTarget "
                          f"to s3://{bucket}@<region>/<path>")
    url = str((bt.get("spec") or {}).get("backupTargetURL") or "")
    try:
        found, _region, prefix = lh.parse_target_url(url)
    except ValueError as exc:
        raise BackupError(f"{what}: {exc}") from None
    if found != bucket:
        raise BackupError(f"{what} stores in bucket {found!r}, not in the backup bucket "
                          f"{bucket!r}: point it there so the copy and the checks read what "
                          "Longhorn writes")
    status = bt.get("status") or {}
    if not status.get("available"):
        why = "; ".join(str(c.get("message")) for c in status.get("conditions") or []
                        if isinstance(c, dict) and c.get("message"))
        raise BackupError(f"{what} is not available: {why or 'Longhorn has not checked it'}")
    return url, prefix


def longhorn_volume(kube: BackupCluster, site: Site, target: BackupTarget) -> str:
    """The Longhorn Volume behind the target's PVC (Longhorn's CSI driver names it after the
    PV)."""
    from platform_assets.backups.sources import volume_claim

    _pvc, pv = volume_claim(kube, target)
    if kube.get(lh.API_VERSION, "Volume", pv, site.namespace) is None:
        raise BackupError(f"PersistentVolumeClaim {target.namespace}/{target.pvc} is bound to "
                          f"{pv}, which is not a Longhorn Volume in {site.namespace}: method "
                          "longhorn needs a claim of a Longhorn StorageClass")
    return pv


def ensure_snapshot(kube: ClusterWriter, waiter: Waiter, name: str, volume: str,
                    target: str, partition: str, log: Log) -> dict[str, Any]:
    site = waiter.site
    if kube.get(lh.API_VERSION, "Snapshot", name, site.namespace) is None:
        log(f"creating {site.describe('Snapshot', name)} of volume {volume}")
        kube.apply(lh.snapshot_manifest(name, site.namespace, volume, target, partition))
    snap = waiter.until("Snapshot", name, lambda o: bool(
        ((o or {}).get("status") or {}).get("readyToUse")
        or ((o or {}).get("status") or {}).get("error")), "ready snapshot")
    error = (snap.get("status") or {}).get("error")
    if error:
        raise BackupError(f"{site.describe('Snapshot', name)} failed: {error}; delete it and "
                          "run again")
    return snap


def ensure_backup(kube: ClusterWriter, waiter: Waiter, request: dict[str, Any],
                  log: Log) -> dict[str, Any]:
    """The partition's Backup, finished: the existing one, or a new one when there is none or
    the last attempt did not complete (deleted first)."""
    site, name = waiter.site, request["metadata"]["name"]
    existing = kube.get(lh.API_VERSION, "Backup", name, site.namespace)
    state = lh.BackupState.of(existing)
    if existing is not None and state.finished and not state.completed:
        log(f"{site.describe('Backup', name)} ended {state.state} ({state.error}); deleting "
            "it before taking the partition again")
        kube.delete(lh.API_VERSION, "Backup", name, site.namespace)
        waiter.gone("Backup", name)
        existing = None
    if existing is None:
        log(f"creating {site.describe('Backup', name)} of snapshot "
            f"{request['spec']['snapshotName']}")
        kube.apply(request)
    return waiter.until("Backup", name, lambda o: lh.BackupState.of(o).finished,
                        "final state (Completed or Error)")


def verify_in_bucket(store: BackupStore, where: Where, prefix: str, backup: dict[str, Any],
                     volume: str, snapshot: str) -> tuple[list[ManifestObject], lh.BackupCfg]:
    """The backup's cfg and every block it names, each read back (size, sha256); a missing
    or foreign cfg or a missing block is a ``BackupError``."""
    name, state = backup["metadata"]["name"], lh.BackupState.of(backup)
    key = lh.backup_cfg_key(prefix, volume, name)
    raw = store.get_bytes(where.bucket, key, where.region)
    if raw is None:
        raise BackupError(f"Longhorn reported Completed but s3://{where.bucket}/{key} is missing")
    cfg, problems = lh.check_backup_cfg(raw, name, volume, snapshot, state.size)
    if cfg is None:
        raise BackupError(f"s3://{where.bucket}/{key}: {'; '.join(problems)}; Longhorn's "
                          "backup there cannot be trusted: delete the Backup and run again")
    source = f"longhorn backup {backup['metadata']['namespace']}/{name}"
    digest = hashlib.sha256(raw).hexdigest()
    objects = [ManifestObject(key=key, size=len(raw), sha256=digest, source=source,
                              content_type="application/json",
                              details={"longhorn_object": "backup.cfg"})]
    for checksum in sorted(set(cfg.blocks)):
        bkey = lh.block_key(prefix, volume, checksum)
        got = store.sha256_of(where.bucket, bkey, where.region)
        if got is None:
            raise BackupError(f"s3://{where.bucket}/{bkey}: block {checksum[:16]}… of "
                              f"{name} is missing; delete the Backup and run again")
        objects.append(ManifestObject(key=bkey, size=got[0], sha256=got[1], source=source,
                                      content_type="application/octet-stream",
                                      details={"longhorn_object": "block"}))
    return objects, cfg


@contextmanager
def mounted(waiter: Waiter, volume: str, namespace: str, size: str, target: str,
            log: Log) -> Iterator[str]:
    """A claim in ``namespace`` on the Longhorn Volume ``volume`` (a static PV of Longhorn's
    CSI driver), deleted with its PV after; yields the claim's name. Those of the last run
    (or a crashed one) are waited for first: pvc-protection keeps the claim until its pods
    are gone, pv-protection the PV until it is released, and a claim being deleted mounts
    nowhere."""
    kube = waiter.kube
    pv, pvc = lh.static_claim(volume, namespace, size, target)
    _remove_claim(kube, volume, namespace, log)
    waiter.core_gone("PersistentVolumeClaim", volume, namespace)
    waiter.core_gone("PersistentVolume", volume, None)
    kube.apply(pv)
    kube.apply(pvc)
    try:
        yield volume
    finally:
        _remove_claim(kube, volume, namespace, log)


def _remove_claim(kube: ClusterWriter, volume: str, namespace: str, log: Log) -> None:
    try:
        kube.delete("v1", "PersistentVolumeClaim", volume, namespace)
        kube.delete("v1", "PersistentVolume", volume)
    except Exception as exc:  # noqa: BLE001 - the outcome is the run's, not the cleanup's
        log(f"claim and PersistentVolume {volume} left behind: {cause(exc)}")


def _replace_volume(kube: ClusterWriter, waiter: Waiter, manifest: dict[str, Any]) -> str:
    name = manifest["metadata"]["name"]
    if kube.get(lh.API_VERSION, "Volume", name, waiter.site.namespace) is not None:
        kube.delete(lh.API_VERSION, "Volume", name, waiter.site.namespace)
        waiter.gone("Volume", name)
    kube.apply(manifest)
    return str(name)


def list_files(job: BackupJob, kube: BackupCluster, waiter: Waiter, volume: str,
               snapshot: str, size: str) -> ManifestObject:
    """The snapshot's files, listed with their sha256 into the bucket by the volume agent
    from a clone of the snapshot (the application keeps writing the volume itself): what the
    drill compares its restore with. The clone and its claim are deleted after."""
    from platform_assets.backups.volume_job import (
        SOURCE_MOUNT,
        AgentRun,
        ensure_agent_secret,
        job_name,
        location_args,
        run_agent,
    )

    target, where, site = job.target, job.where, waiter.site
    key = object_key(where.prefix, target.name, job.partition, job.attempt,
                     f"{FILE_LIST_NAME}{job.encoding.suffix}")
    job.written.append(key)
    clone = _replace_volume(kube, waiter, lh.clone_volume_manifest(
        lh.files_volume_name(target.name), site.namespace, volume, snapshot, size, target.name))
    describe = f"backup {target.name} (files of Longhorn snapshot {snapshot})"
    try:
        failure = lh.clone_outcome(waiter.until("Volume", clone,
                                                lambda o: lh.clone_outcome(o)[0],
                                                "finished clone"))[1]
        if failure:
            raise BackupError(f"{describe}: {site.describe('Volume', clone)}: {failure}")
        ensure_agent_secret(kube, target.namespace or "", job.store, job.spec, job.key,
                            where.bucket)
        with mounted(waiter, clone, target.namespace or "", size, target.name,
                     job.log) as claim:
            args = ["list", "--root", SOURCE_MOUNT, "--list-key", key, "--source",
                    f"longhorn snapshot {site.namespace}/{snapshot}",
                    *location_args(where, target.name, job.store.endpoint_for(
                        where.region or job.store.default_region, where.bucket), job.spec)]
            result = run_agent(kube, job.spec, AgentRun(
                job_name("files", target.name, job.partition, job.attempt),
                target.namespace or "", claim, SOURCE_MOUNT, True, args, describe), job.log)
    finally:
        kube.delete(lh.API_VERSION, "Volume", clone, site.namespace)
    found = job.store.sha256_of(where.bucket, key, where.region)
    if found is None or found != (result.get("list_size"), result.get("list_sha256")):
        raise BackupError(f"{describe}: the file list s3://{where.bucket}/{key} is not what "
                          "the agent reported writing")
    return ManifestObject(key=key, size=found[0], sha256=found[1],
                          source=f"volume agent, {describe}",
                          content_type=job.encoding.content_type,
                          details={"role": ROLE_FILE_LIST, "files": int(result["files"]),
                                   "bytes": int(result["bytes"]), **job.encoding.details()})


def backup_longhorn(job: BackupJob, sleep: Callable[[float], None] = time.sleep
                    ) -> tuple[list[ManifestObject], dict[str, Any], dict[str, str]]:
    """One partition of a ``method: longhorn`` target: (objects, details, tool versions)."""
    site = site_of(job.spec, job.target)
    where, target = job.where, job.target
    kube = required(job.kube, "kubernetes", f"backup {target.name}")
    url, prefix = backup_target_prefix(kube, site, where.bucket)
    volume = longhorn_volume(kube, site, target)
    name = lh.object_name(target.name, job.partition)
    waiter = Waiter(kube, site, sleep)
    ensure_snapshot(kube, waiter, name, volume, target.name, job.partition, job.log)
    backup = ensure_backup(kube, waiter, lh.backup_manifest(
        name, site.namespace, volume, name, target.name, job.partition, site.backup_target),
        job.log)
    state = lh.BackupState.of(backup)
    if not state.completed:
        raise BackupError(f"{site.describe('Backup', name)} of volume {volume} (PVC "
                          f"{target.namespace}/{target.pvc}) ended {state.state}: "
                          f"{state.error or 'no error given'}; the next run deletes it and "
                          "takes the partition again")
    objects, cfg = verify_in_bucket(job.store, where, prefix, backup, volume, name)
    listed = list_files(job, kube, waiter, volume, name, str(cfg.size))
    objects.append(listed)
    job.log(f"{site.describe('Backup', name)}: Completed, {cfg.size} bytes in "
            f"{len(set(cfg.blocks))} block(s), verified in s3://{where.bucket}")
    details = {"method": "longhorn", "longhorn_backup": f"{site.namespace}/{name}",
               "longhorn_url": state.url, "volume": volume, "snapshot": name,
               "pvc": f"{target.namespace}/{target.pvc}", "bytes": cfg.size,
               "blocks": len(cfg.blocks), "backup_target": url,
               "files": listed.details["files"]}
    return objects, details, {}


def forget_partition(spec: PlatformSpec, target: BackupTarget, kube: ClusterWriter,
                     partition: str, log: Log) -> None:
    """Retention of a partition: its Backup (Longhorn removes it and the blocks no other backup
    names from the store) and its Snapshot (space on the volume's replicas)."""
    site = site_of(spec, target)
    name = lh.object_name(target.name, partition)
    for kind in ("Backup", "Snapshot"):
        if kube.delete(lh.API_VERSION, kind, name, site.namespace):
            log(f"retention: deleted {site.describe(kind, name)}")


def drill_longhorn(spec: PlatformSpec, target: BackupTarget, manifest: Manifest, where: Where,
                   store: BackupStore, kube: BackupCluster, record: BackupRecord | None,
                   log: Log, sleep: Callable[[float], None] = time.sleep) -> DrillResult:
    """The restore drill of a ``method: longhorn`` target, timed: nothing is restored unless
    the manifest matches what the backup run recorded in Dagster and every object still has
    its recorded sha256; then Longhorn restores a Volume ``fromBackup`` (it must finish
    without a ``RestoreFailure``), the volume agent mounts it and compares every file's
    sha256 with the snapshot's file list; the Volume and its claim are deleted after."""
    from platform_assets.backups.bucket import verify_objects
    from platform_assets.backups.drills import DrillResult, untrusted

    t0 = time.monotonic()
    figures = {"restored_bytes": 0, "restored_files": 0}
    problems = untrusted(manifest, where, record)
    listed = next((o for o in manifest.objects if o.details.get("role") == ROLE_FILE_LIST),
                  None)
    if listed is None:
        problems.append(f"{manifest.partition}: the manifest lists no file list of the "
                        "snapshot, so the restored files cannot be compared: take the "
                        "partition again")
    if not problems:
        problems = [f"s3://{where.bucket}/{c.key}: {c.problem}"
                    for c in verify_objects(store, where, manifest) if not c.ok]
    if problems or listed is None or record is None:
        return DrillResult(time.monotonic() - t0, problems, figures)
    site = site_of(spec, target)
    waiter = Waiter(kube, site, sleep)
    url = str(manifest.details.get("longhorn_url") or "")
    size = str(manifest.details.get("bytes") or 0)
    name = _replace_volume(kube, waiter, lh.restore_volume_manifest(
        lh.drill_volume_name(target.name), site.namespace, url, size, target.name))
    log(f"restoring {site.describe('Volume', name)} from {url}")
    try:
        vol = waiter.until("Volume", name, lambda o: lh.restore_outcome(o)[0],
                           "finished restore")
        failure = lh.restore_outcome(vol)[1]
        if failure:
            problems = [f"{site.describe('Volume', name)} from {url}: {failure}"]
        else:
            problems, figures = _compare_files(spec, target, manifest, where, store, kube,
                                               waiter, (name, size, listed, record), log)
    finally:
        kube.delete(lh.API_VERSION, "Volume", name, site.namespace)
    return DrillResult(time.monotonic() - t0, problems, figures)


def _compare_files(spec: PlatformSpec, target: BackupTarget, manifest: Manifest, where: Where,
                   store: BackupStore, kube: BackupCluster, waiter: Waiter,
                   restored: tuple[str, str, ManifestObject, BackupRecord],
                   log: Log) -> tuple[list[str], dict[str, int]]:
    """The volume agent on the restored Volume: every file against the file list."""
    from platform_assets.backups.sources import encoding_of
    from platform_assets.backups.volume_job import (
        RESTORE_MOUNT,
        AgentRun,
        ensure_agent_secret,
        job_name,
        location_args,
        run_agent,
    )

    volume, size, listed, record = restored
    ns = target.namespace or ""
    ensure_agent_secret(kube, ns, store, spec, encoding_of(spec)[1], where.bucket)
    describe = f"restore drill of {target.name} ({manifest.partition})"
    with mounted(waiter, volume, ns, size, target.name, log) as claim:
        args = ["verify", "--root", RESTORE_MOUNT, "--list-key", listed.key,
                "--list-sha256", record.objects[listed.key][1],
                *location_args(where, target.name, store.endpoint_for(
                    where.region or store.default_region, where.bucket), spec)]
        try:
            result = run_agent(kube, spec, AgentRun(
                job_name("drill", target.name, manifest.partition, manifest.attempt),
                ns, claim, RESTORE_MOUNT, True, args, describe), log)
        except BackupError as exc:
            return [str(exc)], {"restored_bytes": 0, "restored_files": 0}
    return ([str(p) for p in result.get("problems") or []],
            {"restored_bytes": int(result.get("restored_bytes", 0)),
             "restored_files": int(result.get("files", 0))})
