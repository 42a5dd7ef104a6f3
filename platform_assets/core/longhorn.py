"""Longhorn's side of a ``method: longhorn`` volume target, pure: the Snapshot, Backup and drill
Volume a partition asks for, what their status says, and what Longhorn leaves in the bucket.

Longhorn's contract: longhorn/longhorn-manager ``k8s/pkg/apis/longhorn/v1beta2``
(``snapshot.go``: ``spec.volume``, ``status.readyToUse``/``error``; ``backup.go``: states
``""``/``Pending``/``InProgress`` then ``Completed``/``Error``/``Unknown``, ``status.url``,
``size`` as a string; ``volume.go``: ``spec.fromBackup``, ``status.restoreRequired``, the
``Restore`` condition, ``spec.dataSource`` ``snap://<volume>/<snapshot>`` and
``status.cloneStatus.state`` ``initiated``/``completed``/``failed`` for a clone),
``types/types.go`` (a Backup names its volume in the ``backup-volume``
label), longhorn/backupstore ``config.go`` and ``backupstore.go`` (``<path>/backupstore/volumes/
<sha512(volume)[0:2]>/<[2:4]>/<volume>/backups/backup_<name>.cfg``, the cfg's JSON with sizes as
strings and an empty ``CreatedTime`` while in progress) and ``deltablock.go`` (blocks under
``blocks/<c[0:2]>/<c[2:4]>/<c>.blk``, ``c`` the sha512 of the block).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from platform_assets.core.velero import backup_name as _partition_name
from platform_assets.names import LABEL_BACKUP_PARTITION, LABEL_BACKUP_TARGET

API_VERSION = "longhorn.io/v1beta2"
CSI_DRIVER = "driver.longhorn.io"
BACKUP_VOLUME_LABEL = "backup-volume"
FINAL_STATES = frozenset({"Completed", "Error", "Unknown"})


def object_name(target: str, partition: str) -> str:
    """The Snapshot and the Backup of one partition (the same name every run, so a rerun
    finds them; Velero's Backups are named the same way)."""
    return _partition_name(target, partition)


def drill_volume_name(target: str) -> str:
    """The drill's Volume (one at a time; the drill deletes it after)."""
    return _partition_name(target, "drill")


def files_volume_name(target: str) -> str:
    """The clone of a night's snapshot whose files are listed for the drill (one at a time;
    deleted after)."""
    return _partition_name(target, "files")


def _labels(target: str, partition: str) -> dict[str, str]:
    return {LABEL_BACKUP_TARGET: target, LABEL_BACKUP_PARTITION: partition}


def snapshot_manifest(name: str, namespace: str, volume: str, target: str,
                      partition: str) -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "kind": "Snapshot",
            "metadata": {"name": name, "namespace": namespace,
                         "labels": _labels(target, partition)},
            "spec": {"volume": volume, "createSnapshot": True}}


def backup_manifest(name: str, namespace: str, volume: str, snapshot: str, target: str,
                    partition: str, backup_target: str) -> dict[str, Any]:
    labels = {**_labels(target, partition), BACKUP_VOLUME_LABEL: volume}
    spec: dict[str, Any] = {"snapshotName": snapshot, "labels": _labels(target, partition)}
    if backup_target != "default":
        spec["backupTargetName"] = backup_target  # Longhorn 1.8+; before, only "default"
    return {"apiVersion": API_VERSION, "kind": "Backup",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": spec}


def restore_volume_manifest(name: str, namespace: str, url: str, size: str,
                            target: str) -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "kind": "Volume",
            "metadata": {"name": name, "namespace": namespace,
                         "labels": {LABEL_BACKUP_TARGET: target}},
            "spec": {"fromBackup": url, "size": size, "numberOfReplicas": 1}}


def clone_volume_manifest(name: str, namespace: str, volume: str, snapshot: str, size: str,
                          target: str) -> dict[str, Any]:
    """A Volume cloned from a snapshot of another (``spec.dataSource: snap://<volume>/
    <snapshot>``, Longhorn's CSI volume cloning)."""
    return {"apiVersion": API_VERSION, "kind": "Volume",
            "metadata": {"name": name, "namespace": namespace,
                         "labels": {LABEL_BACKUP_TARGET: target}},
            "spec": {"dataSource": f"snap://{volume}/{snapshot}", "size": size,
                     "numberOfReplicas": 1}}


def static_claim(volume: str, namespace: str, size: str,
                 target: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(PV, PVC) that mount an existing Longhorn Volume (Longhorn's docs, "Examples": a CSI
    PersistentVolume of ``driver.longhorn.io`` whose ``volumeHandle`` is the Volume's name,
    and a claim bound to it by ``volumeName``). Both named after the Volume, with no
    StorageClass so no provisioner acts, and ``Retain``: the Volume is deleted on its own."""
    labels = {LABEL_BACKUP_TARGET: target}
    pv = {"apiVersion": "v1", "kind": "PersistentVolume",
          "metadata": {"name": volume, "labels": labels},
          "spec": {"capacity": {"storage": size}, "volumeMode": "Filesystem",
                   "accessModes": ["ReadWriteOnce"], "storageClassName": "",
                   "persistentVolumeReclaimPolicy": "Retain",
                   "csi": {"driver": CSI_DRIVER, "fsType": "ext4", "volumeHandle": volume}}}
    pvc = {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
           "metadata": {"name": volume, "namespace": namespace, "labels": labels},
           "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "",
                    "volumeName": volume, "resources": {"requests": {"storage": size}}}}
    return pv, pvc


def clone_outcome(volume: dict[str, Any] | None) -> tuple[bool, str]:
    """(finished, failure) of a Volume cloned from a snapshot: ``status.cloneStatus.state``
    ends ``completed`` or ``failed``."""
    clone = ((volume or {}).get("status") or {}).get("cloneStatus") or {}
    state = str(clone.get("state") or "")
    if state == "failed":
        return True, (f"cloning snapshot {clone.get('snapshot')!r} of volume "
                      f"{clone.get('sourceVolume')!r} failed")
    return state == "completed", ""


@dataclass(frozen=True)
class BackupState:
    """What a Longhorn Backup's status says."""

    state: str
    error: str
    url: str
    size: str

    @classmethod
    def of(cls, obj: dict[str, Any] | None) -> BackupState:
        status = (obj or {}).get("status") or {}
        return cls(str(status.get("state") or ""), str(status.get("error") or ""),
                   str(status.get("url") or ""), str(status.get("size") or ""))

    @property
    def finished(self) -> bool:
        return self.state in FINAL_STATES

    @property
    def completed(self) -> bool:
        return self.state == "Completed"


def parse_target_url(url: str) -> tuple[str, str, str]:
    """(bucket, region, key prefix with a trailing slash or empty) of ``s3://bucket@region/
    path``; ValueError for any other URL (NFS, CIFS and Azure targets are not supported)."""
    parsed = urlparse(url)
    if parsed.scheme != "s3" or "@" not in parsed.netloc:
        raise ValueError(f"backup target URL {url!r} is not s3://<bucket>@<region>/<path>")
    bucket, _, region = parsed.netloc.partition("@")
    path = parsed.path.strip("/")
    return bucket, region, f"{path}/" if path else ""


def volume_dir(prefix: str, volume: str) -> str:
    checksum = hashlib.sha512(volume.encode()).hexdigest()
    return f"{prefix}backupstore/volumes/{checksum[0:2]}/{checksum[2:4]}/{volume}/"


def backup_cfg_key(prefix: str, volume: str, backup: str) -> str:
    return f"{volume_dir(prefix, volume)}backups/backup_{backup}.cfg"


def block_key(prefix: str, volume: str, checksum: str) -> str:
    return f"{volume_dir(prefix, volume)}blocks/{checksum[0:2]}/{checksum[2:4]}/{checksum}.blk"


@dataclass(frozen=True)
class BackupCfg:
    """A backup's cfg as read back from the bucket: its blocks' checksums and its size."""

    blocks: tuple[str, ...]
    size: int
    created: str


def _expect(cfg: dict[str, Any], field: str, want: str) -> list[str]:
    got = str(cfg.get(field) or "")
    return [] if got == want else [f"{field} is {got!r}, not {want!r}"]


def check_backup_cfg(raw: bytes, name: str, volume: str, snapshot: str,
                     size: str) -> tuple[BackupCfg | None, list[str]]:
    """The cfg of backup ``name`` if it is this backup, complete, and agrees with the status
    Longhorn reported; else the problems."""
    try:
        cfg = json.loads(raw)
        if not isinstance(cfg, dict):
            raise ValueError("not a JSON object")
        blocks = tuple(str(b["BlockChecksum"]) for b in cfg.get("Blocks") or [])
    except (ValueError, KeyError, TypeError) as exc:
        return None, [f"not a backupstore backup cfg ({exc})"]
    problems = (_expect(cfg, "Name", name) + _expect(cfg, "VolumeName", volume)
                + _expect(cfg, "SnapshotName", snapshot) + _expect(cfg, "Size", size))
    if not cfg.get("CreatedTime"):
        problems.append("CreatedTime is empty: backupstore still has the backup in progress")
    bad = [b for b in blocks if len(b) != 128 or any(c not in "0123456789abcdef" for c in b)]
    if bad:
        problems.append(f"{len(bad)} block checksum(s) are not sha512 hex")
    if problems:
        return None, problems
    return BackupCfg(blocks, int(str(cfg.get("Size") or "0")), str(cfg["CreatedTime"])), []


def restore_outcome(volume: dict[str, Any] | None) -> tuple[bool, str]:
    """(finished, failure) of a Volume restored ``fromBackup``: finished once Longhorn no
    longer requires the restore or reports a ``RestoreFailure``."""
    status = (volume or {}).get("status") or {}
    cond = next((c for c in status.get("conditions") or []
                 if isinstance(c, dict) and c.get("type") == "Restore"), {})
    if cond.get("reason") == "RestoreFailure":
        return True, str(cond.get("message") or "RestoreFailure")
    return bool(status.get("state")) and status.get("restoreRequired") is False, ""
