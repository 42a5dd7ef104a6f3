"""Velero's server, emulated: BackupStorageLocations validated against S3, Backups written into
the bucket in Velero's layout, Restores read back from it.

It acts only where Velero runs: in a namespace with an available Deployment of the Velero server
(named ``velero`` or labelled ``app.kubernetes.io/name: velero``, as ``velero install`` and the
chart create it) and only once the ``velero.io`` CRDs are served (``catalogue.py``). Sources
(vmware-tanzu/velero): ``pkg/apis/velero/v1`` (``backup_types.go``, ``restore_types.go``,
``backupstoragelocation_types.go``: phases and status fields; Backup and Restore have no status
subresource), ``pkg/controller/backup_controller.go`` (validation messages, the
``velero.io/storage-location`` label, ``expiration`` = start + ``ttl``, default 720h),
``pkg/persistence/object_store_layout.go`` and ``object_store.go`` ``PutBackup`` (keys under
``<prefix>/backups/<name>/``: the log first, ``velero-backup.json``, ``<name>.tar.gz``, then
the gzipped JSON side files), ``site/content/docs/main/output-file-format.md`` (the tarball:
``resources/<resource.group>/namespaces/<ns>/<name>.json`` and the same under
``v1-preferredversion/``, ``metadata/version`` ``1.1.0``), ``pkg/restore/restore.go``
(``namespaceMapping``, ``resetMetadata``/``resetStatus``, the ``velero.io/backup-name`` and
``velero.io/restore-name`` labels, "already exists" warnings, priorities and the kinds never
restored). The BSL's ``config`` (``region``, ``s3Url``, ``s3ForcePathStyle``) and credentials
(``spec.credential``, else the server's ``cloud-credentials`` volume's Secret and the file
``AWS_SHARED_CREDENTIALS_FILE`` names in it, an AWS INI profile) are used as the AWS plugin uses
them: the sandbox really talks S3 to ``s3Url`` (only a local one; IONOS S3's endpoints
``https://s3.<region>.ionoscloud.com`` are the sandbox's S3, ``World.s3_url``).

Not emulated: volume snapshots and file-system backups of volume data (``snapshotVolumes`` is
recorded, no data is copied), hooks, plugins and item operations, Schedules, resource filters
other than namespaces, a label selector and a restore's included/excluded resources, garbage
collection at expiration, the backup sync controller. A DeleteBackupRequest removes the
backup's objects, its Restores and the Backup (``backup_deletion_controller.go``).
``fail_next`` (admin API ``POST /kubernetes/velero-faults``) makes the next backups end
``PartiallyFailed`` (one item's error, as a failing item action reports it) or ``Failed``
(``failureReason``, nothing but the log and metadata uploaded).
"""

from __future__ import annotations

import configparser
import datetime as dt
import gzip
import io
import json
import tarfile
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sandbox.kubernetes.api import ApiError, now_rfc3339
from sandbox.kubernetes.faults import FaultQueue, local_s3
from sandbox.kubernetes.patch import clone
from sandbox.kubernetes.registry import ResourceType
from sandbox.kubernetes.workloads import selector_matches

if TYPE_CHECKING:
    from sandbox.kubernetes.controllers import Controllers

GROUP = "velero.io"
MANAGER = "velero-server"
FORMAT_VERSION = "1.1.0"
DEFAULT_TTL = "720h0m0s"
BACKUP_NAME_LABEL = "velero.io/backup-name"
RESTORE_NAME_LABEL = "velero.io/restore-name"
STORAGE_LOCATION_LABEL = "velero.io/storage-location"
# pkg/restore/restore.go nonRestorableResources
NON_RESTORABLE = {"nodes", "events", "events.events.k8s.io", "backups.velero.io",
                  "restores.velero.io", "resticrepositories.velero.io", "csinodes.storage.k8s.io",
                  "volumeattachments.storage.k8s.io", "backuprepositories.velero.io"}
# pkg/cmd/server/config defaultRestorePriorities (high priorities; the rest follow by name)
RESTORE_PRIORITIES = ("customresourcedefinitions", "namespaces", "storageclasses",
                      "volumesnapshotclass.snapshot.storage.k8s.io",
                      "volumesnapshotcontents.snapshot.storage.k8s.io",
                      "volumesnapshots.snapshot.storage.k8s.io", "datauploads.velero.io",
                      "persistentvolumes", "persistentvolumeclaims", "serviceaccounts", "secrets",
                      "configmaps", "limitranges", "pods", "replicasets.apps", "endpoints",
                      "services")
VALIDATE_EVERY = {"Available": 30.0, "Unavailable": 2.0}


class VeleroError(Exception):
    """Why the server cannot use a storage location (its message goes into the status)."""


@dataclass
class Fault:
    phase: str  # PartiallyFailed or Failed
    message: str
    times: int


def _gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def _json(value: Any) -> bytes:
    return json.dumps(value, indent=2, sort_keys=True).encode()


def _ttl_seconds(text: str) -> float:
    from sandbox.kubernetes.controllers import parse_duration

    return parse_duration(text)


def _rfc3339(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def layout(prefix: str, backup: str) -> dict[str, str]:
    """The keys of one backup (``object_store_layout.go``)."""
    base = f"{prefix.strip('/')}/backups/{backup}/" if prefix.strip("/") else f"backups/{backup}/"
    return {"log": f"{base}{backup}-logs.gz", "metadata": f"{base}velero-backup.json",
            "contents": f"{base}{backup}.tar.gz",
            "podvolumebackups": f"{base}{backup}-podvolumebackups.json.gz",
            "volumesnapshots": f"{base}{backup}-volumesnapshots.json.gz",
            "itemoperations": f"{base}{backup}-itemoperations.json.gz",
            "resource_list": f"{base}{backup}-resource-list.json.gz",
            "results": f"{base}{backup}-results.gz",
            "volumeinfo": f"{base}{backup}-volumeinfo.json.gz"}


def restore_layout(prefix: str, restore: str) -> dict[str, str]:
    base = f"{prefix.strip('/')}/restores/{restore}/" if prefix.strip("/") else \
        f"restores/{restore}/"
    return {"log": f"{base}restore-{restore}-logs.gz",
            "results": f"{base}restore-{restore}-results.gz",
            "resource_list": f"{base}restore-{restore}-resource-list.json.gz"}


def resource_name(rt: ResourceType) -> str:
    """``plural.group`` (just ``plural`` for the core group), as Velero names directories."""
    return rt.resource


def tarball(items: list[tuple[ResourceType, dict[str, Any]]]) -> bytes:
    """The backup's contents in file format 1.1.0."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        def add(path: str, data: bytes) -> None:
            info = tarfile.TarInfo(path)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))

        add("metadata/version", FORMAT_VERSION.encode())
        for rt, obj in items:
            name, ns = obj["metadata"]["name"], obj["metadata"].get("namespace")
            where = f"namespaces/{ns}" if ns else "cluster"
            body = json.dumps(obj, sort_keys=True).encode()
            add(f"resources/{resource_name(rt)}/{where}/{name}.json", body)
            add(f"resources/{resource_name(rt)}/{rt.version}-preferredversion/{where}/"
                f"{name}.json", body)
    return buf.getvalue()


def read_tarball(data: bytes) -> list[tuple[str, dict[str, Any]]]:
    """(resource, object) of every item of a backup's contents (the preferred versions)."""
    out = []
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for member in tar.getmembers():
            parts = member.name.split("/")
            if not member.isfile() or parts[0] != "resources" or len(parts) < 5 or \
                    not parts[2].endswith("-preferredversion"):
                continue
            f = tar.extractfile(member)
            if f is not None:
                out.append((parts[1], json.loads(f.read())))
    return out


def _priority(resource: str) -> tuple[int, str]:
    if resource in RESTORE_PRIORITIES:
        return RESTORE_PRIORITIES.index(resource), resource
    return len(RESTORE_PRIORITIES), resource


class Velero:
    """The Velero server of every namespace it runs in; one per controller thread."""

    def __init__(self, ctl: Controllers):
        self.ctl = ctl
        self.api = ctl.api
        self.store = ctl.store
        self.faults: FaultQueue[Fault] = FaultQueue()
        self._validated: dict[tuple[str, str], tuple[str, float]] = {}
        self._lock = threading.Lock()

    def fail_next(self, phase: str, message: str, times: int = 1) -> dict[str, Any]:
        if phase not in ("PartiallyFailed", "Failed"):
            raise ValueError("phase must be PartiallyFailed or Failed")
        return self.faults.add(Fault(phase, message, times))

    def reset(self) -> None:
        self.faults.clear()
        with self._lock:
            self._validated.clear()

    def server_available(self, namespace: str) -> bool:
        for dep in self.store.select(("apps", "deployments"), namespace):
            meta = dep["metadata"]
            if meta["name"] == "velero" or (meta.get("labels") or {}).get(
                    "app.kubernetes.io/name") == "velero":
                if int((dep.get("status") or {}).get("availableReplicas") or 0) > 0:
                    return True
        return False

    def reconcile(self) -> None:
        if self.api.registry.by_gk(GROUP, "backups") is None:
            return
        for rt, bsl in self.ctl._each(GROUP, "backupstoragelocations"):
            if self.server_available(bsl["metadata"]["namespace"]):
                self._validate(rt, bsl)
        for rt, backup in self.ctl._each(GROUP, "backups"):
            if self.server_available(backup["metadata"]["namespace"]):
                self._backup(rt, backup)
        for rt, restore in self.ctl._each(GROUP, "restores"):
            if self.server_available(restore["metadata"]["namespace"]):
                self._restore(rt, restore)
        for rt, dbr in self.ctl._each(GROUP, "deletebackuprequests"):
            if self.server_available(dbr["metadata"]["namespace"]) and \
                    (dbr.get("status") or {}).get("phase") != "Processed":
                self._delete_backup(rt, dbr)

    def _credentials(self, bsl: dict[str, Any]) -> tuple[str, str]:
        """(access key, secret key) of the location, as the AWS plugin reads them."""
        import base64

        ns = bsl["metadata"]["namespace"]
        ref = (bsl.get("spec") or {}).get("credential") or self._server_credential(ns)
        if not ref:
            raise VeleroError("no credentials: the BackupStorageLocation has no "
                              "spec.credential and the Velero server mounts no "
                              "cloud-credentials Secret")
        secret = self.store.get(("", "secrets"), ns, str(ref.get("name") or ""))
        raw = ((secret or {}).get("data") or {}).get(str(ref.get("key") or ""))
        if raw is None:
            raise VeleroError(f'unable to get credentials: secret "{ref.get("name")}" key '
                              f'"{ref.get("key")}" not found in namespace {ns}')
        ini = configparser.ConfigParser()
        try:
            ini.read_string(base64.b64decode(raw).decode())
            profile = ini[(bsl.get("spec") or {}).get("config", {}).get("profile", "default")]
            return profile["aws_access_key_id"], profile["aws_secret_access_key"]
        except (KeyError, ValueError, configparser.Error) as exc:
            raise VeleroError(f"unable to read the credentials file: {exc}") from None

    def _server_credential(self, namespace: str) -> dict[str, str] | None:
        """The Secret and key of the server's ``cloud-credentials`` volume."""
        for dep in self.store.select(("apps", "deployments"), namespace):
            pod = ((dep.get("spec") or {}).get("template") or {}).get("spec") or {}
            secret = next((v.get("secret", {}).get("secretName") for v in pod.get("volumes") or []
                           if v.get("name") == "cloud-credentials" and v.get("secret")), None)
            if not secret:
                continue
            key = "cloud"
            for c in pod.get("containers") or []:
                for e in c.get("env") or []:
                    if e.get("name") == "AWS_SHARED_CREDENTIALS_FILE" and e.get("value"):
                        key = str(e["value"]).rsplit("/", 1)[-1]
            return {"name": str(secret), "key": key}
        return None

    def client(self, bsl: dict[str, Any]) -> tuple[Any, str, str]:
        """(S3 client, bucket, prefix) of a location; VeleroError when it cannot be used."""
        import boto3
        from botocore.config import Config

        spec = bsl.get("spec") or {}
        storage = spec.get("objectStorage") or {}
        config = spec.get("config") or {}
        if spec.get("provider") not in ("aws", "velero.io/aws"):
            raise VeleroError(f"unable to locate ObjectStore plugin named velero.io/"
                              f"{spec.get('provider')}")
        try:
            url = local_s3(str(config.get("s3Url") or ""), self.ctl.svc.world.s3_url, "s3Url")
        except ValueError as exc:
            raise VeleroError(str(exc)) from None
        key_id, secret = self._credentials(bsl)
        path_style = str(config.get("s3ForcePathStyle", "false")).lower() == "true"
        s3 = boto3.client("s3", endpoint_url=url, region_name=str(config.get("region") or
                                                                   "us-east-1"),
                          aws_access_key_id=key_id, aws_secret_access_key=secret,
                          config=Config(retries={"max_attempts": 2}, s3={
                              "addressing_style": "path" if path_style else "auto"}))
        return s3, str(storage.get("bucket") or ""), str(storage.get("prefix") or "")

    def _validate(self, rt: ResourceType, bsl: dict[str, Any]) -> None:
        meta = bsl["metadata"]
        phase = (bsl.get("status") or {}).get("phase")
        seen = self._validated.get((meta["namespace"], meta["name"]))
        version = meta["resourceVersion"]
        if seen is not None and phase and seen[0] == version and \
                time.monotonic() - seen[1] < VALIDATE_EVERY.get(str(phase), 2.0):
            return
        try:
            s3, bucket, _prefix = self.client(bsl)
            s3.head_bucket(Bucket=bucket)
            status: dict[str, Any] = {"phase": "Available"}
        except Exception as exc:  # noqa: BLE001 - any failure makes the location Unavailable
            status = {"phase": "Unavailable",
                      "message": f'BackupStorageLocation "{meta["name"]}" is unavailable: '
                                 f"{_short(exc)}"}
        status["lastValidationTime"] = now_rfc3339()  # every validation, as the controller
        written = self.ctl._status(rt, bsl, status, MANAGER)
        version = (written or bsl)["metadata"]["resourceVersion"]
        self._validated[(meta["namespace"], meta["name"])] = (version, time.monotonic())

    def _location(self, ns: str, name: str | None) -> dict[str, Any] | None:
        bsls = self.store.select((GROUP, "backupstoragelocations"), ns)
        if name:
            return next((b for b in bsls if b["metadata"]["name"] == name), None)
        return next((b for b in bsls if (b.get("spec") or {}).get("default")), None) or next(
            (b for b in bsls if b["metadata"]["name"] == "default"), None)

    def _backup(self, rt: ResourceType, backup: dict[str, Any]) -> None:
        phase = (backup.get("status") or {}).get("phase") or "New"
        if phase == "New":
            self._start_backup(rt, backup)
        elif phase == "InProgress":
            self._run_backup(rt, backup)

    def _start_backup(self, rt: ResourceType, backup: dict[str, Any]) -> None:
        meta, spec = backup["metadata"], clone(backup.get("spec") or {})
        ns = meta["namespace"]
        errors = []
        location = self._location(ns, spec.get("storageLocation"))
        name = spec.get("storageLocation") or "default"
        if location is None:
            errors.append(f"an existing backup storage location was not specified at backup "
                          f"creation time and the default {name} was not found. Please address "
                          "this issue (see `velero backup-location -h` for options) and create a "
                          f'new backup. Error: backupstoragelocations.velero.io "{name}" not found')
        else:
            name = location["metadata"]["name"]
            if (location.get("spec") or {}).get("accessMode") == "ReadOnly":
                errors.append(f"backup can't be created because backup storage location {name} "
                              "is currently in read-only mode")
            if (location.get("status") or {}).get("phase") != "Available":
                errors.append(f"backup can't be created because BackupStorageLocation {name} is "
                              "in Unavailable status.")
        try:
            ttl = _ttl_seconds(spec.get("ttl") or DEFAULT_TTL)
        except ValueError as exc:
            errors.append(f"invalid ttl: {exc}")
            ttl = 0.0
        new = clone(backup)
        new["metadata"].setdefault("labels", {})[STORAGE_LOCATION_LABEL] = name
        new["spec"] = {**spec, "storageLocation": name, "ttl": spec.get("ttl") or DEFAULT_TTL}
        start = dt.datetime.now(dt.UTC)
        if errors:
            new["status"] = {"phase": "FailedValidation", "validationErrors": errors,
                             "version": 1, "formatVersion": FORMAT_VERSION}
        else:
            new["status"] = {"phase": "InProgress", "version": 1,
                             "formatVersion": FORMAT_VERSION, "startTimestamp": _rfc3339(start),
                             "expiration": _rfc3339(start + dt.timedelta(seconds=ttl))}
        self.api.write_object(rt, backup, new, MANAGER)

    def _items(self, backup: dict[str, Any]) -> list[tuple[ResourceType, dict[str, Any]]]:
        """What the backup includes: the included namespaces (and their Namespace objects),
        every kind discovery serves, filtered by the label selector."""
        spec = backup.get("spec") or {}
        included = spec.get("includedNamespaces") or ["*"]
        excluded = set(spec.get("excludedNamespaces") or [])
        selector = spec.get("labelSelector")
        all_ns = [n["metadata"]["name"] for n in self.store.select(("", "namespaces"))]
        names = [n for n in (all_ns if "*" in included else included)
                 if n in all_ns and n not in excluded]
        seen: set[tuple[str, str]] = set()
        out: list[tuple[ResourceType, dict[str, Any]]] = []
        for rt in sorted(self.api.registry.all(), key=lambda r: (r.group, r.plural)):
            if rt.gk in seen or "/" in rt.plural:
                continue
            seen.add(rt.gk)
            pool = ([self.store.get(rt.gk, "", n) for n in names] if rt.gk == ("", "namespaces")
                    else [o for n in names for o in self.store.select(rt.gk, n)]
                    if rt.namespaced else [])
            for obj in pool:
                if obj is None or not selector_matches(selector, obj["metadata"].get("labels")
                                                       or {}):
                    continue
                item = clone(obj)
                item["apiVersion"], item["kind"] = rt.api_version, rt.kind
                out.append((rt, item))
        return out

    def _run_backup(self, rt: ResourceType, backup: dict[str, Any]) -> None:
        meta, spec = backup["metadata"], backup.get("spec") or {}
        status = clone(backup.get("status") or {})
        location = self._location(meta["namespace"], spec.get("storageLocation"))
        fault = self.faults.take()
        log = [f'level=info msg="Setting up backup log" backup={meta["namespace"]}/'
               f'{meta["name"]}']
        items = self._items(backup)
        try:
            if location is None:
                raise VeleroError(f"backup storage location {spec.get('storageLocation')} "
                                  "no longer exists")
            s3, bucket, prefix = self.client(location)
            if fault is not None and fault.phase == "Failed":
                raise VeleroError(fault.message)
            errors = self._write_backup(s3, bucket, prefix, backup, status, items, fault, log)
        except Exception as exc:  # noqa: BLE001 - Velero marks the backup Failed with the reason
            status.update(phase="Failed", failureReason=_short(exc),
                          completionTimestamp=now_rfc3339())
            log.append(f'level=error msg="backup failed" error="{_short(exc)}"')
            self._put_failed(location, backup, status, log)
        else:
            status.update(phase="PartiallyFailed" if errors else "Completed")
        new = clone(backup)
        new["status"] = status
        self.api.write_object(rt, backup, new, MANAGER)

    def _write_backup(self, s3: Any, bucket: str, prefix: str, backup: dict[str, Any],
                      status: dict[str, Any], items: list[tuple[ResourceType, dict[str, Any]]],
                      fault: Fault | None, log: list[str]) -> int:
        """Upload the backup as ``PutBackup`` does; the number of item errors."""
        name = backup["metadata"]["name"]
        errors: dict[str, Any] = {}
        if fault is not None and items:
            rt, obj = items[0]
            ns = obj["metadata"].get("namespace") or ""
            errors = {"namespaces": {ns: [f"{fault.message} (groupResource="
                                         f"{resource_name(rt)}, namespace={ns}, "
                                         f"name={obj['metadata']['name']})"]}}
            items = items[1:]
            log.append(f'level=error msg="Error backing up item" error="{fault.message}"')
        for rt, obj in items:
            log.append(f'level=info msg="Backed up item" resource={resource_name(rt)} '
                       f'namespace={obj["metadata"].get("namespace", "")} '
                       f'name={obj["metadata"]["name"]}')
        count = 1 if errors else 0
        total = len(items) + count
        status.update(progress={"totalItems": total, "itemsBackedUp": len(items)},
                      completionTimestamp=now_rfc3339(), errors=count,
                      phase="PartiallyFailed" if count else "Completed")
        if not count:
            status.pop("errors")
        resources: dict[str, list[str]] = {}
        for rt, obj in items:
            key = f"{rt.api_version}/{rt.kind}"
            where = obj["metadata"].get("namespace")
            resources.setdefault(key, []).append(
                f"{where}/{obj['metadata']['name']}" if where else obj["metadata"]["name"])
        keys = layout(prefix, name)
        put = lambda k, body: s3.put_object(Bucket=bucket, Key=keys[k], Body=body)  # noqa: E731
        put("log", _gz("\n".join(log).encode() + b"\n"))
        put("metadata", _json({**backup, "status": status}))
        put("contents", tarball(items))
        for side, value in (("podvolumebackups", []), ("volumesnapshots", []),
                            ("itemoperations", []), ("resource_list", resources),
                            ("results", {"errors": errors, "warnings": {}}),
                            ("volumeinfo", [])):
            put(side, _gz(_json(value)))
        return count

    def _put_failed(self, location: dict[str, Any] | None, backup: dict[str, Any],
                    status: dict[str, Any], log: list[str]) -> None:
        """A Failed backup still leaves its log and metadata in the bucket, no contents."""
        if location is None:
            return
        try:
            s3, bucket, prefix = self.client(location)
            keys = layout(prefix, backup["metadata"]["name"])
            s3.put_object(Bucket=bucket, Key=keys["log"],
                          Body=_gz("\n".join(log).encode() + b"\n"))
            s3.put_object(Bucket=bucket, Key=keys["metadata"],
                          Body=_json({**backup, "status": status}))
        except Exception:  # noqa: BLE001, S110 - best effort, as PutBackup's log upload
            pass

    def _delete_backup(self, rt: ResourceType, dbr: dict[str, Any]) -> None:
        """``backup_deletion_controller.go``: the backup's objects leave the bucket, its
        Restores and the Backup go, the request is Processed (with its errors) and, when all
        went well, the requests labelled with the backup's name and uid are removed."""
        ns, name = dbr["metadata"]["namespace"], str((dbr.get("spec") or {}).get("backupName")
                                                     or "")
        backup = self.store.get((GROUP, "backups"), ns, name) if name else None
        location = self._location(ns, (backup.get("spec") or {}).get("storageLocation")) \
            if backup else None
        error = _deletion_refused(name, backup, location)
        if error is None:
            assert backup is not None and location is not None
            try:
                self._remove_backup(backup, location)
            except Exception as exc:  # noqa: BLE001 - reported in the request's errors
                error = f"error deleting backup {ns}/{name}: {_short(exc)}"
        self.ctl._status(rt, dbr, {"phase": "Processed", "errors": [error] if error else []},
                         MANAGER)
        if error is None and backup is not None:
            want = {BACKUP_NAME_LABEL: name, "velero.io/backup-uid": backup["metadata"]["uid"]}
            for other in self.store.select(rt.gk, ns):
                labels = other["metadata"].get("labels") or {}
                if all(labels.get(k) == v for k, v in want.items()):
                    self.api.delete(rt, ns, other["metadata"]["name"], {})

    def _remove_backup(self, backup: dict[str, Any], location: dict[str, Any]) -> None:
        ns, name = backup["metadata"]["namespace"], backup["metadata"]["name"]
        s3, bucket, prefix = self.client(location)
        base = layout(prefix, name)["metadata"].rsplit("/", 1)[0] + "/"
        keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=base) for o in page.get("Contents") or []]
        for key in keys:
            s3.delete_object(Bucket=bucket, Key=key)
        rrt = self.api.registry.by_gk(GROUP, "restores")
        for restore in self.store.select((GROUP, "restores"), ns):
            if rrt is not None and (restore.get("spec") or {}).get("backupName") == name:
                self.api.delete(rrt, ns, restore["metadata"]["name"], {})
        brt = self.api.registry.by_gk(GROUP, "backups")
        if brt is not None:
            self.api.delete(brt, ns, name, {})

    def _restore(self, rt: ResourceType, restore: dict[str, Any]) -> None:
        phase = (restore.get("status") or {}).get("phase") or "New"
        if phase == "New":
            self._start_restore(rt, restore)
        elif phase == "InProgress":
            self._run_restore(rt, restore)

    def _start_restore(self, rt: ResourceType, restore: dict[str, Any]) -> None:
        meta, spec = restore["metadata"], restore.get("spec") or {}
        errors = []
        backup_name = spec.get("backupName")
        backup = self.store.get((GROUP, "backups"), meta["namespace"], str(backup_name or ""))
        if not backup_name and not spec.get("scheduleName"):
            errors.append("Either a backup or schedule must be specified as a source for the "
                          "restore, but not both")
        elif backup is None:
            errors.append(f'Error retrieving backup: backups.velero.io "{backup_name}" not found')
        elif (backup.get("status") or {}).get("phase") not in ("Completed", "PartiallyFailed"):
            errors.append("Backup is not in a phase that can be restored from: "
                          f"{(backup.get('status') or {}).get('phase') or 'New'}")
        new = clone(restore)
        if errors:
            new["status"] = {"phase": "FailedValidation", "validationErrors": errors}
        else:
            new["status"] = {"phase": "InProgress", "startTimestamp": now_rfc3339()}
        self.api.write_object(rt, restore, new, MANAGER)

    def _run_restore(self, rt: ResourceType, restore: dict[str, Any]) -> None:
        meta, spec = restore["metadata"], restore.get("spec") or {}
        status = clone(restore.get("status") or {})
        backup = self.store.get((GROUP, "backups"), meta["namespace"],
                                str(spec.get("backupName") or "")) or {}
        location = self._location(meta["namespace"],
                                  (backup.get("spec") or {}).get("storageLocation"))
        try:
            if location is None:
                raise VeleroError("the backup's storage location no longer exists")
            s3, bucket, prefix = self.client(location)
            raw = s3.get_object(Bucket=bucket, Key=layout(prefix, str(
                spec.get("backupName")))["contents"])["Body"].read()
            warnings, errors, done, total = self._apply_items(restore, read_tarball(raw))
            self._put_restore_results(s3, bucket, prefix, meta["name"], warnings, errors)
        except Exception as exc:  # noqa: BLE001 - the restore fails with the reason
            status.update(phase="Failed", failureReason=_short(exc),
                          completionTimestamp=now_rfc3339())
        else:
            count = lambda d: sum(len(v) for v in d.values())  # noqa: E731
            status.update(phase="PartiallyFailed" if errors else "Completed",
                          completionTimestamp=now_rfc3339(),
                          progress={"totalItems": total, "itemsRestored": done})
            if count(warnings):
                status["warnings"] = count(warnings)
            if count(errors):
                status["errors"] = count(errors)
        new = clone(restore)
        new["status"] = status
        self.api.write_object(rt, restore, new, MANAGER)

    def _apply_items(self, restore: dict[str, Any], items: list[tuple[str, dict[str, Any]]]
                     ) -> tuple[dict[str, list[str]], dict[str, list[str]], int, int]:
        """Create the backup's items in their mapped namespaces, in Velero's priority order."""
        spec = restore.get("spec") or {}
        mapping = spec.get("namespaceMapping") or {}
        included = spec.get("includedNamespaces") or ["*"]
        warnings: dict[str, list[str]] = {}
        errors: dict[str, list[str]] = {}
        chosen = [(res, obj) for res, obj in items if res not in NON_RESTORABLE
                  and _resource_included(res, spec) and (
            "*" in included or (obj["metadata"].get("namespace")
                                or (obj["metadata"]["name"] if res == "namespaces" else None))
            in included)]
        done = 0
        for res, obj in sorted(chosen, key=lambda p: _priority(p[0])):
            body = self._restorable(res, obj, mapping, restore)
            ns = body["metadata"].get("namespace") or ""
            try:
                self._create(body)
                done += 1
            except ApiError as exc:
                if exc.code == 409 and res == "namespaces":
                    done += 1  # an existing target namespace is used as it is
                elif exc.code == 409:
                    warnings.setdefault(ns, []).append(
                        f"could not restore, {body['kind']} \"{body['metadata']['name']}\" "
                        "already exists. Warning: the in-cluster version is different than "
                        "the backed-up version")
                    done += 1
                else:
                    errors.setdefault(ns, []).append(
                        f"error restoring {res}/{ns}/{body['metadata']['name']}: {exc.message}")
        return warnings, errors, done, len(chosen)

    def _restorable(self, resource: str, obj: dict[str, Any], mapping: dict[str, str],
                    restore: dict[str, Any]) -> dict[str, Any]:
        body = clone(obj)
        meta = body["metadata"]
        for k in ("generateName", "selfLink", "uid", "resourceVersion", "generation",
                  "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
                  "ownerReferences", "managedFields"):
            meta.pop(k, None)
        body.pop("status", None)
        if resource == "namespaces":
            meta["name"] = mapping.get(meta["name"], meta["name"])
        elif meta.get("namespace"):
            meta["namespace"] = mapping.get(meta["namespace"], meta["namespace"])
        meta.setdefault("labels", {}).update({
            BACKUP_NAME_LABEL: str((restore.get("spec") or {}).get("backupName")),
            RESTORE_NAME_LABEL: restore["metadata"]["name"]})
        spec = body.get("spec") or {}
        if resource == "services" and spec.get("clusterIP") != "None":
            # The service action: addresses are allocated again.
            spec.pop("clusterIP", None)
            spec.pop("clusterIPs", None)
            if not (restore.get("spec") or {}).get("preserveNodePorts"):
                for port in spec.get("ports") or []:
                    port.pop("nodePort", None)
        if resource == "pods":
            spec.pop("nodeName", None)
        if resource == "persistentvolumeclaims":
            spec.pop("volumeName", None)  # no PV restored: the claim binds anew
            for a in ("pv.kubernetes.io/bind-completed", "pv.kubernetes.io/bound-by-controller"):
                (meta.get("annotations") or {}).pop(a, None)
        return body

    def _create(self, body: dict[str, Any]) -> None:
        rt = self.api.registry.by_kind(str(body.get("apiVersion")), str(body.get("kind")))
        if rt is None:
            raise ApiError(404, "NotFound", f"the server could not find the requested resource "
                                            f"({body.get('apiVersion')} {body.get('kind')})")
        self.api.write_object(rt, None, body, MANAGER)

    def _put_restore_results(self, s3: Any, bucket: str, prefix: str, name: str,
                             warnings: dict[str, list[str]], errors: dict[str, list[str]]) -> None:
        keys = restore_layout(prefix, name)
        s3.put_object(Bucket=bucket, Key=keys["results"], Body=_gz(_json(
            {"warnings": {"namespaces": warnings}, "errors": {"namespaces": errors}})))
        s3.put_object(Bucket=bucket, Key=keys["log"],
                      Body=_gz(f'level=info msg="restore completed" restore={name}\n'.encode()))


def _deletion_refused(name: str, backup: dict[str, Any] | None,
                      location: dict[str, Any] | None) -> str | None:
    """Why a DeleteBackupRequest cannot proceed, in the deletion controller's words."""
    if not name:
        return "spec.backupName is required"
    if backup is None:
        return "backup not found"
    if (backup.get("status") or {}).get("phase") in ("", "New", "InProgress", None):
        return "backup is still in progress"
    if location is None:
        return (f"backup storage location {(backup.get('spec') or {}).get('storageLocation')} "
                "not found")
    if (location.get("spec") or {}).get("accessMode") == "ReadOnly":
        return (f"cannot delete backup because backup storage location "
                f"{location['metadata']['name']} is currently in read-only mode")
    if (location.get("status") or {}).get("phase") != "Available":
        return (f"cannot delete backup because backup storage location "
                f"{location['metadata']['name']} is currently in Unavailable state")
    return None


def _resource_included(resource: str, spec: dict[str, Any]) -> bool:
    """``includedResources``/``excludedResources``, written as Velero names resources
    (``plural`` for the core group, else ``plural.group``); namespaces are always restored
    when their items are."""
    if resource == "namespaces":
        return True
    included = spec.get("includedResources") or ["*"]
    return resource not in (spec.get("excludedResources") or []) and (
        "*" in included or resource in included)


def _short(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
