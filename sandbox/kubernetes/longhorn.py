"""Longhorn's manager, emulated: Snapshots of a volume, Backups of a snapshot to the
BackupTarget's S3 bucket in backupstore's layout, and volumes restored ``fromBackup``.

It acts only where Longhorn runs: in a namespace with an available DaemonSet of the manager
(named ``longhorn-manager`` or labelled ``app: longhorn-manager``, as the chart creates it) and
only once the ``longhorn.io`` kinds are served (``catalogue.py``). Sources:
longhorn/longhorn-manager ``k8s/pkg/apis/longhorn/v1beta2`` (``snapshot.go``: ``spec.volume``,
``status.readyToUse``/``creationTime``/``size``/``error``; ``backup.go``: states ``""``,
``InProgress``, ``Completed``, ``Error``, ``status.url``/``size``/``snapshotName``/
``volumeName``/``backupCreatedAt``/``error``; ``backuptarget.go``: ``spec.backupTargetURL``,
``credentialSecret``, ``status.available``; ``backupvolume.go``), ``types/types.go`` (the
``backup-volume`` label a Backup names its volume by: the backup controller ignores a Backup
without it), longhorn/backupstore ``config.go`` and ``backupstore.go`` (keys under
``<url path>/backupstore/volumes/<sha512(volume)[0:2]>/<[2:4]>/<volume>/``: ``volume.cfg``,
``backups/backup_<name>.cfg`` written last (a backup whose cfg has no ``CreatedTime`` is still
in progress), ``EncodeConfigURL``: ``<target>?backup=<name>&volume=<volume>``; the JSON of
``Volume`` and ``Backup``, sizes as strings), ``deltablock.go`` (2 MiB blocks under
``blocks/<sha512[0:2]>/<[2:4]>/<sha512>.blk``, zero blocks skipped, each compressed, a block
already in the store not uploaded again) and ``s3/s3.go`` (``s3://<bucket>@<region>/<path>``,
credentials from the Secret's ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY`` and
``AWS_ENDPOINTS``).

A Longhorn volume's block device is emulated by the files of the PersistentVolume of the same
name (Longhorn's CSI driver names the volume after the PV): a deterministic tar of them is the
device's bytes, taken when the snapshot becomes ready. Blocks are gzip-compressed
(``compressionMethod: gzip``, one of Longhorn's three). A Volume created with
``spec.fromBackup`` reads the backup's cfg and blocks back, checks each block's checksum, and
unpacks the files into the PV directory named after the new volume; ``status.restoreRequired``
is true until then, and a missing or corrupt block leaves condition ``Restore`` ``False`` with
reason ``RestoreFailure``. A Volume created with ``spec.dataSource: snap://<volume>/<snapshot>``
(CSI volume cloning; ``volume.go`` ``VolumeCloneStatus``, states ``initiated``, ``completed``,
``failed``) gets the snapshot's files in the PV directory named after it, and
``status.cloneStatus`` ``completed`` (``failed`` when the snapshot is not ready or not that
volume's). A claim of a StorageClass of provisioner ``driver.longhorn.io`` gets a PV of that
driver and a Volume of the same name in the manager's namespace (longhorn-manager
``csi/controller_server.go`` CreateVolume), and stays Pending while no manager runs. A PV that
mounts a Longhorn Volume must be named like it (Longhorn's CSI driver
names dynamically provisioned PVs so; a static PV names it in ``csi.volumeHandle``).
A Backup carries the ``longhorn.io`` finalizer; deleting it removes
its cfg and the blocks no other backup of the volume names from the store first
(``DeleteDeltaBlockBackup``). Not emulated: engines, replicas and attachment, incremental
backups against the previous one (every backup lists all its blocks, as a full backup does;
blocks are still deduplicated by checksum), recurring jobs, and the backup target's poll
sync. ``fail_next`` (admin API ``POST /kubernetes/longhorn-faults``)
makes the next backups end ``Error`` after uploading some blocks and no backup cfg.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlparse

from sandbox.kubernetes.api import now_rfc3339
from sandbox.kubernetes.faults import FaultQueue, local_s3
from sandbox.kubernetes.patch import clone
from sandbox.kubernetes.registry import ResourceType

if TYPE_CHECKING:
    from sandbox.kubernetes.controllers import Controllers

GROUP = "longhorn.io"
MANAGER = "longhorn-manager"
BACKUP_VOLUME_LABEL = "backup-volume"
FINALIZER = "longhorn.io"
BLOCK_SIZE = 2 * 1024 * 1024
COMPRESSION = "gzip"
SNAPSHOT_SOURCE = "snap://"
CSI_DRIVER = "driver.longhorn.io"


class LonghornError(Exception):
    """Why the manager cannot back up or restore (its message goes into the status)."""


@dataclass
class Fault:
    message: str
    times: int


def volume_path(volume: str, base: str = "backupstore") -> str:
    """The volume's directory in the store (``config.go`` getVolumePath), with a slash."""
    checksum = hashlib.sha512(volume.encode()).hexdigest()
    return f"{base}/volumes/{checksum[0:2]}/{checksum[2:4]}/{volume}/"


def backup_cfg_key(prefix: str, volume: str, backup: str) -> str:
    return f"{prefix}{volume_path(volume)}backups/backup_{backup}.cfg"


def volume_cfg_key(prefix: str, volume: str) -> str:
    return f"{prefix}{volume_path(volume)}volume.cfg"


def block_key(prefix: str, volume: str, checksum: str) -> str:
    return f"{prefix}{volume_path(volume)}blocks/{checksum[0:2]}/{checksum[2:4]}/{checksum}.blk"


def parse_target(url: str) -> tuple[str, str, str]:
    """(bucket, region, key prefix) of ``s3://bucket@region/path``; LonghornError otherwise."""
    parsed = urlparse(url)
    if parsed.scheme != "s3" or "@" not in parsed.netloc:
        raise LonghornError(f"invalid backup target URL {url!r}: want s3://bucket@region/path")
    bucket, _, region = parsed.netloc.partition("@")
    path = parsed.path.strip("/")
    return bucket, region, f"{path}/" if path else ""


def device_image(directory: Path | None) -> bytes:
    """The emulated block device: the volume's files as a tar with fixed metadata."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        root = directory or Path()
        files = sorted(p for p in root.rglob("*") if p.is_file()) if directory else []
        for path in files:
            info = tarfile.TarInfo(str(path.relative_to(root)))
            data = path.read_bytes()
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def unpack_image(image: bytes, directory: Path) -> int:
    """Write the files of a device image into ``directory``; how many."""
    count = 0
    with tarfile.open(fileobj=io.BytesIO(image), mode="r") as tar:
        for member in tar.getmembers():
            target = (directory / member.name).resolve()
            f = tar.extractfile(member)
            if f is None or not str(target).startswith(str(directory.resolve()) + "/"):
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(f.read())
            count += 1
    return count


def _cfg(value: dict[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


class Longhorn:
    """The Longhorn manager of every namespace it runs in; one per controller thread."""

    def __init__(self, ctl: Controllers):
        self.ctl = ctl
        self.api = ctl.api
        self.store = ctl.store
        self.faults: FaultQueue[Fault] = FaultQueue()
        self._images: dict[str, bytes] = {}  # snapshot uid -> the device at snapshot time
        self._lock = threading.Lock()

    def fail_next(self, message: str, times: int = 1) -> dict[str, Any]:
        return self.faults.add(Fault(message, times))

    def reset(self) -> None:
        self.faults.clear()
        with self._lock:
            self._images.clear()

    def manager_available(self, namespace: str) -> bool:
        for ds in self.store.select(("apps", "daemonsets"), namespace):
            meta = ds["metadata"]
            if meta["name"] == MANAGER or (meta.get("labels") or {}).get("app") == MANAGER:
                if int((ds.get("status") or {}).get("numberAvailable") or 0) > 0:
                    return True
        return False

    def provision(self, pv: str, size: int) -> bool:
        """Longhorn's CSI CreateVolume: a Volume named after the PV in the namespace where the
        manager runs (csi/controller_server.go); False when no manager runs."""
        rt = self.ctl._rt(GROUP, "volumes")
        namespace = next((ds["metadata"]["namespace"]
                          for ds in self.store.select(("apps", "daemonsets"))
                          if self.manager_available(ds["metadata"]["namespace"])), None)
        if rt is None or namespace is None:
            return False
        if self.store.get(rt.gk, namespace, pv) is None:
            self.api.write_object(rt, None, {
                "apiVersion": rt.api_version, "kind": rt.kind,
                "metadata": {"name": pv, "namespace": namespace},
                "spec": {"size": str(size), "numberOfReplicas": 3, "frontend": "blockdev"}},
                "longhorn-csi-plugin")
        return True

    def reconcile(self) -> None:
        if self.api.registry.by_gk(GROUP, "backups") is None or \
                self.api.registry.by_gk(GROUP, "snapshots") is None:
            return
        steps = (("backuptargets", self._target), ("snapshots", self._snapshot),
                 ("backups", self._backup), ("volumes", self._volume))
        for plural, step in steps:
            for rt, obj in self.ctl._each(GROUP, plural):
                if self.manager_available(obj["metadata"]["namespace"]):
                    step(rt, obj)
        backups = self.ctl._rt(GROUP, "backups")
        for backup in self.store.select((GROUP, "backups")) if backups else []:
            meta = backup["metadata"]
            if backups and meta.get("deletionTimestamp") and FINALIZER in (
                    meta.get("finalizers") or []) and self.manager_available(meta["namespace"]):
                self._delete_backup(backups, backup)

    def client(self, ns: str, target: dict[str, Any]) -> tuple[Any, str, str]:
        """(S3 client, bucket, key prefix) of a backup target; LonghornError when unusable."""
        import base64

        import boto3
        from botocore.config import Config

        spec = target.get("spec") or {}
        bucket, region, prefix = parse_target(str(spec.get("backupTargetURL") or ""))
        secret_name = str(spec.get("credentialSecret") or "")
        secret = self.store.get(("", "secrets"), ns, secret_name) if secret_name else None
        data = {k: base64.b64decode(v).decode() for k, v in ((secret or {}).get("data")
                                                               or {}).items()}
        if secret is None or not data.get("AWS_ACCESS_KEY_ID") or \
                not data.get("AWS_SECRET_ACCESS_KEY"):
            raise LonghornError(f"cannot find AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in "
                                f"the credential secret {ns}/{secret_name!r}")
        try:
            url = local_s3(data.get("AWS_ENDPOINTS") or f"https://s3.{region}.amazonaws.com",
                           self.ctl.svc.world.s3_url, "AWS_ENDPOINTS")
        except ValueError as exc:
            raise LonghornError(str(exc)) from None
        s3 = boto3.client("s3", endpoint_url=url, region_name=region or "us-east-1",
                          aws_access_key_id=data["AWS_ACCESS_KEY_ID"],
                          aws_secret_access_key=data["AWS_SECRET_ACCESS_KEY"],
                          config=Config(retries={"max_attempts": 2},
                                        s3={"addressing_style": "path"}))
        return s3, bucket, prefix

    def _target(self, rt: ResourceType, target: dict[str, Any]) -> None:
        ns = target["metadata"]["namespace"]
        try:
            s3, bucket, _prefix = self.client(ns, target)
            s3.head_bucket(Bucket=bucket)
            status: dict[str, Any] = {"available": True, "conditions": []}
        except Exception as exc:  # noqa: BLE001 - any failure makes the target unavailable
            status = {"available": False, "conditions": [{
                "type": "Unavailable", "status": "True", "reason": "Unavailable",
                "message": _short(exc)}]}
        old = target.get("status") or {}
        if {k: old.get(k) for k in status} != status:
            self.ctl._status(rt, target, {**old, **status, "ownerID": "sandbox-node",
                                          "lastSyncedAt": now_rfc3339()}, MANAGER)

    def _snapshot(self, rt: ResourceType, snap: dict[str, Any]) -> None:
        status = snap.get("status") or {}
        if status.get("readyToUse") or status.get("error"):
            return
        meta, spec = snap["metadata"], snap.get("spec") or {}
        volume = str(spec.get("volume") or "")
        if self.store.get((GROUP, "volumes"), meta["namespace"], volume) is None:
            self.ctl._status(rt, snap, {**status, "readyToUse": False,
                                        "error": f"volume {volume!r} not found"}, MANAGER)
            return
        directory = self.ctl.svc.volume_data.root / volume
        image = device_image(directory if directory.is_dir() else None)
        with self._lock:
            self._images[meta["uid"]] = image
        self.ctl._status(rt, snap, {
            "readyToUse": True, "userCreated": True, "creationTime": now_rfc3339(),
            "size": len(image), "restoreSize": len(image), "ownerID": "sandbox-node",
            "labels": spec.get("labels") or {}}, MANAGER)

    def _default_target(self, ns: str, backup: dict[str, Any]) -> dict[str, Any] | None:
        name = (backup.get("spec") or {}).get("backupTargetName") or "default"
        return self.store.get((GROUP, "backuptargets"), ns, str(name))

    def _backup(self, rt: ResourceType, backup: dict[str, Any]) -> None:
        state = (backup.get("status") or {}).get("state") or ""
        volume = (backup["metadata"].get("labels") or {}).get(BACKUP_VOLUME_LABEL)
        if not volume:
            return  # the backup controller skips a Backup without its volume label
        if state == "":
            if FINALIZER not in (backup["metadata"].get("finalizers") or []):
                tagged = clone(backup)
                tagged["metadata"]["finalizers"] = [
                    *(backup["metadata"].get("finalizers") or []), FINALIZER]
                backup = self.api.write_object(rt, backup, tagged, MANAGER)
            new = dict(backup.get("status") or {})
            new.update(state="InProgress", ownerID="sandbox-node", progress=0,
                       volumeName=volume,
                       snapshotName=str((backup.get("spec") or {}).get("snapshotName") or ""))
            self.ctl._status(rt, backup, new, MANAGER)
        elif state == "InProgress":
            self._run_backup(rt, backup, str(volume))

    def _run_backup(self, rt: ResourceType, backup: dict[str, Any], volume: str) -> None:
        meta, spec = backup["metadata"], backup.get("spec") or {}
        status = dict(backup.get("status") or {})
        try:
            snap, image = self._snapshot_of(meta["namespace"], str(spec.get("snapshotName")
                                                                    or ""), volume)
            target = self._default_target(meta["namespace"], backup)
            if target is None or not (target.get("status") or {}).get("available"):
                raise LonghornError("backup target is unavailable")
            s3, bucket, prefix = self.client(meta["namespace"], target)
            done = self._upload(s3, bucket, prefix, meta["name"], volume, snap, image,
                                spec.get("labels") or {})
        except Exception as exc:  # noqa: BLE001 - the manager records the error on the Backup
            status.update(state="Error", error=_short(exc))
        else:
            query = urlencode({"backup": meta["name"], "volume": volume})
            target_url = str((target.get("spec") or {}).get("backupTargetURL"))
            status.update(state="Completed", progress=100, error="", size=str(len(image)),
                          url=f"{target_url}?{query}",
                          snapshotCreatedAt=(snap.get("status") or {}).get("creationTime", ""),
                          backupCreatedAt=done, volumeSize=str(len(image)),
                          labels=spec.get("labels") or {}, compressionMethod=COMPRESSION,
                          lastSyncedAt=done)
            self._backup_volume(meta["namespace"], volume, meta["name"], done, len(image))
        self.ctl._status(rt, backup, status, MANAGER)

    def _snapshot_of(self, ns: str, name: str, volume: str) -> tuple[dict[str, Any], bytes]:
        snap = self.store.get((GROUP, "snapshots"), ns, name) if name else None
        if snap is None or (snap.get("spec") or {}).get("volume") != volume:
            raise LonghornError(f"snapshot {name!r} of volume {volume!r} not found")
        with self._lock:
            image = self._images.get(snap["metadata"]["uid"])
        if not (snap.get("status") or {}).get("readyToUse") or image is None:
            raise LonghornError(f"snapshot {name!r} is not ready to use")
        return snap, image

    def _upload(self, s3: Any, bucket: str, prefix: str, name: str, volume: str,
                snap: dict[str, Any], image: bytes, labels: dict[str, str]) -> str:
        """Blocks, volume.cfg, then the backup cfg (last: until then the backup is not
        complete); the backup's CreatedTime."""
        fault = self.faults.take()
        blocks = []
        for offset in range(0, len(image), BLOCK_SIZE):
            block = image[offset:offset + BLOCK_SIZE]
            if not block.strip(b"\0"):
                continue  # a zero block is a hole, not stored
            checksum = hashlib.sha512(block).hexdigest()
            key = block_key(prefix, volume, checksum)
            if not _exists(s3, bucket, key):
                s3.put_object(Bucket=bucket, Key=key, Body=gzip.compress(block, mtime=0))
            blocks.append({"Offset": offset, "BlockChecksum": checksum})
            if fault is not None:
                raise LonghornError(fault.message)
        if fault is not None:
            raise LonghornError(fault.message)
        created = now_rfc3339()
        s3.put_object(Bucket=bucket, Key=volume_cfg_key(prefix, volume), Body=_cfg({
            "Name": volume, "Size": str(len(image)), "Labels": {}, "CreatedTime": created,
            "LastBackupName": name, "LastBackupAt": created, "BlockCount": str(len(blocks)),
            "BackingImageName": "", "BackingImageChecksum": "",
            "CompressionMethod": COMPRESSION}))
        s3.put_object(Bucket=bucket, Key=backup_cfg_key(prefix, volume, name), Body=_cfg({
            "Name": name, "VolumeName": volume,
            "SnapshotName": snap["metadata"]["name"],
            "SnapshotCreatedAt": (snap.get("status") or {}).get("creationTime", ""),
            "CreatedTime": created, "Size": str(len(image)), "Labels": labels,
            "IsIncremental": False, "CompressionMethod": COMPRESSION, "Blocks": blocks}))
        return created

    def _delete_backup(self, rt: ResourceType, backup: dict[str, Any]) -> None:
        """The backup controller's finalizer: the backup leaves the backupstore (its cfg, then
        the blocks no other backup of the volume names) before the object goes. An
        unreachable target keeps the finalizer, to be tried again."""
        meta = backup["metadata"]
        volume = str((meta.get("labels") or {}).get(BACKUP_VOLUME_LABEL) or "")
        target = self._default_target(meta["namespace"], backup)
        if volume and target is not None:
            try:
                s3, bucket, prefix = self.client(meta["namespace"], target)
                remove_backup(s3, bucket, prefix, volume, meta["name"])
            except Exception:  # noqa: BLE001 - retried on the next pass, as the controller does
                return
        new = clone(backup)
        new["metadata"]["finalizers"] = [f for f in meta.get("finalizers") or []
                                         if f != FINALIZER]
        self.api.write_object(rt, backup, new, MANAGER)

    def _backup_volume(self, ns: str, volume: str, backup: str, at: str, size: int) -> None:
        rt = self.ctl._rt(GROUP, "backupvolumes")
        if rt is None:
            return
        old = self.store.get(rt.gk, ns, volume)
        if old is None:
            old = self.api.write_object(rt, None, {
                "apiVersion": rt.api_version, "kind": rt.kind,
                "metadata": {"name": volume, "namespace": ns}, "spec": {}}, MANAGER)
        self.ctl._status(rt, old, {**(old.get("status") or {}), "lastBackupName": backup,
                                   "lastBackupAt": at, "size": str(size),
                                   "lastSyncedAt": at}, MANAGER)

    def _volume(self, rt: ResourceType, vol: dict[str, Any]) -> None:
        spec, status = vol.get("spec") or {}, vol.get("status") or {}
        source = str(spec.get("fromBackup") or "")
        if status.get("state"):
            return
        clone_of = str(spec.get("dataSource") or "")
        if clone_of.startswith(SNAPSHOT_SOURCE):
            self.ctl._status(rt, vol, {**status, "state": "detached", "robustness": "unknown",
                                       "restoreRequired": False,
                                       "cloneStatus": self._clone(vol, clone_of)}, MANAGER)
            return
        if not source:
            self.ctl._status(rt, vol, {**status, "state": "detached", "robustness": "unknown",
                                       "restoreRequired": False}, MANAGER)
            return
        try:
            count = self._restore(vol, source)
            condition = {"type": "Restore", "status": "False", "reason": "",
                         "message": f"restored {count} files"}
        except Exception as exc:  # noqa: BLE001 - the restore's failure is the volume's condition
            condition = {"type": "Restore", "status": "False", "reason": "RestoreFailure",
                         "message": _short(exc)}
        self.ctl._status(rt, vol, {**status, "state": "detached", "robustness": "unknown",
                                   "restoreRequired": condition["reason"] != "",
                                   "conditions": [condition]}, MANAGER)

    def _clone(self, vol: dict[str, Any], source: str) -> dict[str, str]:
        """The snapshot's device copied into the new volume; its ``cloneStatus``."""
        volume, _, snapshot = source[len(SNAPSHOT_SOURCE):].partition("/")
        ns = vol["metadata"]["namespace"]
        status = {"sourceVolume": volume, "snapshot": snapshot, "state": "failed"}
        try:
            _snap, image = self._snapshot_of(ns, snapshot, volume)
        except LonghornError:
            return status
        unpack_image(image, self.ctl.svc.volume_data.path(vol["metadata"]["name"]))
        return {**status, "state": "completed"}

    def _restore(self, vol: dict[str, Any], source: str) -> int:
        from urllib.parse import parse_qs

        ns = vol["metadata"]["namespace"]
        parsed = urlparse(source)
        query = {k: v[0] for k, v in parse_qs(parsed.query).items()}
        target_url = source.split("?", 1)[0]
        target = next((t for t in self.store.select((GROUP, "backuptargets"), ns)
                       if str((t.get("spec") or {}).get("backupTargetURL")).rstrip("/")
                       == target_url.rstrip("/")), None)
        if target is None or "backup" not in query or "volume" not in query:
            raise LonghornError(f"fromBackup {source!r}: no backup target with that URL, or "
                                "no backup and volume in its query")
        s3, bucket, prefix = self.client(ns, target)
        key = backup_cfg_key(prefix, query["volume"], query["backup"])
        try:
            cfg = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        except Exception as exc:  # noqa: BLE001 - a missing cfg is backupstore's message
            raise LonghornError(f"cannot find {key} in backupstore") from exc
        image = bytearray(int(cfg["Size"]))
        for block in cfg.get("Blocks") or []:
            data = self._block(s3, bucket, block_key(prefix, query["volume"],
                                                     block["BlockChecksum"]))
            if hashlib.sha512(data).hexdigest() != block["BlockChecksum"]:
                raise LonghornError(f"block {block['BlockChecksum']} at offset "
                                    f"{block['Offset']}: checksum mismatch")
            image[block["Offset"]:block["Offset"] + len(data)] = data
        return unpack_image(bytes(image), self.ctl.svc.volume_data.path(vol["metadata"]["name"]))

    @staticmethod
    def _block(s3: Any, bucket: str, key: str) -> bytes:
        try:
            return gzip.decompress(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        except Exception as exc:  # noqa: BLE001 - missing or not gzip: the block is unusable
            raise LonghornError(f"block {key}: {_short(exc)}") from exc


def remove_backup(s3: Any, bucket: str, prefix: str, volume: str, name: str) -> None:
    """backupstore's DeleteDeltaBlockBackup: the cfg, then every block no remaining backup
    of the volume names."""
    base = f"{prefix}{volume_path(volume)}"
    s3.delete_object(Bucket=bucket, Key=backup_cfg_key(prefix, volume, name))
    keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=base) for o in page.get("Contents") or []]
    used: set[str] = set()
    for key in keys:
        if key.startswith(f"{base}backups/") and key.endswith(".cfg"):
            cfg = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
            used |= {str(b.get("BlockChecksum")) for b in cfg.get("Blocks") or []}
    for key in keys:
        if key.startswith(f"{base}blocks/") and key.rsplit("/", 1)[-1][:-4] not in used:
            s3.delete_object(Bucket=bucket, Key=key)


def _exists(s3: Any, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
        return True
    except Exception:  # noqa: BLE001 - any failure: upload it
        return False


def _short(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__

