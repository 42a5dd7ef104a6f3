"""Velero's side of a ``method: velero`` backup target, pure: the Backup and Restore objects a
partition asks for, what their status says, and what Velero leaves in the bucket.

Velero's contract (vmware-tanzu/velero): ``pkg/apis/velero/v1`` (``BackupSpec``,
``RestoreSpec``, the phases and status fields), ``pkg/persistence/object_store_layout.go``
(``<prefix>/backups/<name>/velero-backup.json``, ``<name>.tar.gz``, ``<name>-logs.gz``,
``<name>-results.gz``, ...) and the output file format (a gzipped tar of
``resources/<resource>/<version>-preferredversion/namespaces/<ns>/<name>.json``).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from platform_assets.names import LABEL_BACKUP_PARTITION, LABEL_BACKUP_TARGET

API_VERSION = "velero.io/v1"
# Phases Velero has not finished in (a Backup or a Restore); the rest are final.
PENDING_PHASES = frozenset({"", "New", "Queued", "ReadyToStart", "InProgress",
                            "WaitingForPluginOperations",
                            "WaitingForPluginOperationsPartiallyFailed", "Finalizing",
                            "FinalizingPartiallyFailed"})
# What a drill's Restore leaves out: pods and ReplicaSets come back from their Deployments,
# Secrets and RBAC are not drilled (the drill Role has no rights on them, docs/security.md),
# events and endpoints are the cluster's own record.
DRILL_EXCLUDED_RESOURCES = ("pods", "replicasets.apps", "secrets",
                            "roles.rbac.authorization.k8s.io",
                            "rolebindings.rbac.authorization.k8s.io", "events",
                            "events.events.k8s.io", "endpoints",
                            "endpointslices.discovery.k8s.io")
# Bounds for reading a tarball from the bucket (which is not trusted).
MAX_ITEMS = 100_000
MAX_ITEM_BYTES = 8 * 1024 * 1024


def _label(text: str) -> str:
    """``text`` if it is a valid label/name (<= 63), else a prefix and a hash of it."""
    if len(text) <= 63:
        return text
    return f"{text[:46]}-{hashlib.sha256(text.encode()).hexdigest()[:16]}"


def backup_name(target: str, partition: str) -> str:
    """The Backup of one partition: the same name every run, so a rerun finds it."""
    return _label(f"platform-ops-{target}-{partition}")


def restore_name(backup: str) -> str:
    """The drill's Restore of a backup (one at a time; the drill deletes it after)."""
    return _label(f"{backup}-drill")


def delete_request_name(backup: str) -> str:
    """The DeleteBackupRequest that removes a failed attempt."""
    return _label(f"{backup}-delete")


def go_duration(delta: timedelta) -> str:
    """A Go ``time.Duration`` string (``720h0m0s``), as Velero writes ``ttl``."""
    seconds = int(delta.total_seconds())
    return f"{seconds // 3600}h{seconds % 3600 // 60}m{seconds % 60}s"


@dataclass(frozen=True)
class BackupRequest:
    """What one partition asks Velero for."""

    name: str
    namespace: str
    target: str
    partition: str
    included_namespaces: tuple[str, ...]
    storage_location: str
    ttl: timedelta
    snapshot_volumes: bool
    label_selector: Mapping[str, str] = field(default_factory=dict)

    def manifest(self) -> dict[str, Any]:
        spec: dict[str, Any] = {"includedNamespaces": list(self.included_namespaces),
                                "storageLocation": self.storage_location,
                                "ttl": go_duration(self.ttl),
                                "snapshotVolumes": self.snapshot_volumes}
        if self.label_selector:
            spec["labelSelector"] = {"matchLabels": dict(self.label_selector)}
        return {"apiVersion": API_VERSION, "kind": "Backup",
                "metadata": {"name": self.name, "namespace": self.namespace,
                             "labels": {LABEL_BACKUP_TARGET: self.target,
                                        LABEL_BACKUP_PARTITION: self.partition}},
                "spec": spec}


def restore_manifest(name: str, namespace: str, backup: str, target: str,
                     mapping: Mapping[str, str]) -> dict[str, Any]:
    """A drill's Restore: the backup's namespaces mapped into the drill namespace."""
    return {"apiVersion": API_VERSION, "kind": "Restore",
            "metadata": {"name": name, "namespace": namespace,
                         "labels": {LABEL_BACKUP_TARGET: target}},
            "spec": {"backupName": backup, "includedNamespaces": sorted(mapping),
                     "namespaceMapping": dict(mapping),
                     "excludedResources": list(DRILL_EXCLUDED_RESOURCES),
                     "restorePVs": False}}


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


@dataclass(frozen=True)
class Status:
    """A Backup's or Restore's status as Velero writes it."""

    phase: str
    warnings: int = 0
    errors: int = 0
    total_items: int = 0
    items_done: int = 0
    failure_reason: str = ""
    validation_errors: tuple[str, ...] = ()
    expiration: str = ""

    @classmethod
    def of(cls, obj: Mapping[str, Any] | None) -> Status:
        """The status of ``obj``; fields of the wrong type count as absent (the object may come
        from the bucket, which anyone with write access to it can plant)."""
        status = _mapping((obj or {}).get("status"))
        progress = _mapping(status.get("progress"))
        errors = status.get("validationErrors")
        return cls(phase=_text(status.get("phase")),
                   warnings=_count(status.get("warnings")),
                   errors=_count(status.get("errors")),
                   total_items=_count(progress.get("totalItems")),
                   items_done=_count(progress.get("itemsBackedUp"))
                   or _count(progress.get("itemsRestored")),
                   failure_reason=_text(status.get("failureReason")),
                   validation_errors=tuple(str(e) for e in errors)
                   if isinstance(errors, list) else (),
                   expiration=_text(status.get("expiration")))

    @property
    def finished(self) -> bool:
        return self.phase not in PENDING_PHASES

    @property
    def completed(self) -> bool:
        return self.phase == "Completed"

    def cause(self) -> str:
        """Why a finished Backup or Restore is not Completed, in Velero's words."""
        if self.validation_errors:
            return "; ".join(self.validation_errors)
        if self.failure_reason:
            return self.failure_reason
        return f"{self.errors} error(s), {self.warnings} warning(s)"


def backup_keys(prefix: str, name: str) -> dict[str, str]:
    """The keys Velero writes for a backup (``object_store_layout.go``)."""
    base = "/".join(p for p in (prefix.strip("/"), "backups", name) if p)
    return {"metadata": f"{base}/velero-backup.json", "contents": f"{base}/{name}.tar.gz",
            "log": f"{base}/{name}-logs.gz", "results": f"{base}/{name}-results.gz",
            "resource_list": f"{base}/{name}-resource-list.json.gz"}


REQUIRED_KEYS = ("metadata", "contents", "log")


def check_metadata(raw: bytes, name: str, uid: str) -> list[str]:
    """Problems with ``velero-backup.json``: it must be this very Backup (name and uid, so a
    backup of the same name from another cluster or an earlier attempt is not taken for it) and
    record it ``Completed``."""
    try:
        meta = json.loads(raw)
    except ValueError as exc:
        return [f"velero-backup.json is not JSON: {exc}"]
    if not isinstance(meta, dict):
        return ["velero-backup.json is not a Backup object"]
    problems = []
    got = _mapping(meta.get("metadata"))
    if meta.get("kind") != "Backup" or got.get("name") != name:
        problems.append(f"velero-backup.json describes {meta.get('kind')} {got.get('name')!r}, "
                        f"not Backup {name!r}")
    elif uid and got.get("uid") != uid:
        problems.append(f"velero-backup.json is of another Backup {name!r} (uid "
                        f"{got.get('uid')}, the cluster's is {uid})")
    phase = Status.of(meta).phase
    if phase != "Completed":
        problems.append(f"velero-backup.json records phase {phase or 'none'}, not Completed")
    return problems


@dataclass(frozen=True)
class Item:
    """One object of a backup's contents."""

    resource: str
    namespace: str | None
    name: str
    obj: dict[str, Any]


def tarball_items(raw: bytes) -> tuple[list[Item], str]:
    """The items of a backup's contents (the preferred versions) and its format version;
    ValueError when it is not a Velero tarball or exceeds the bounds."""
    items: list[Item] = []
    version = ""
    try:
        with tarfile.open(fileobj=io.BytesIO(raw), mode="r:gz") as tar:
            for member in tar:
                if len(items) >= MAX_ITEMS or member.size > MAX_ITEM_BYTES:
                    raise ValueError(f"{member.name}: over the drill's bounds ({MAX_ITEMS} "
                                     f"items, {MAX_ITEM_BYTES} bytes each)")
                if member.name == "metadata/version" and member.isfile():
                    version = _read(tar, member).decode(errors="replace").strip()
                item = _item(tar, member)
                if item is not None:
                    items.append(item)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ValueError(f"not a gzipped tar: {exc}") from None
    if not version:
        raise ValueError("no metadata/version: not a Velero backup")
    return items, version


def _read(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    f = tar.extractfile(member)
    return f.read() if f is not None else b""


def _item(tar: tarfile.TarFile, member: tarfile.TarInfo) -> Item | None:
    parts = member.name.split("/")
    if not member.isfile() or parts[0] != "resources" or len(parts) < 5 or \
            not parts[2].endswith("-preferredversion") or not parts[-1].endswith(".json"):
        return None
    namespace = parts[4] if parts[3] == "namespaces" and len(parts) == 6 else None
    try:
        obj = json.loads(_read(tar, member))
    except ValueError as exc:
        raise ValueError(f"{member.name}: not JSON ({exc})") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("metadata"), dict):
        raise ValueError(f"{member.name}: not a Kubernetes object")
    return Item(parts[1], namespace, parts[-1][:-len(".json")], obj)


# Objects a namespace has from the start, and kinds the drill does not restore.
_PRESENT = {("serviceaccounts", "default"), ("configmaps", "kube-root-ca.crt")}


def drilled(item: Item) -> bool:
    """Whether the drill expects ``item`` back in its namespace: not the Namespace itself, not
    what a controller recreates (owned objects), nor what the drill's Restore excludes or the
    namespace already has."""
    meta = item.obj.get("metadata") or {}
    return (item.namespace is not None and item.resource not in DRILL_EXCLUDED_RESOURCES
            and not meta.get("ownerReferences") and (item.resource, item.name) not in _PRESENT)


def result_messages(raw: bytes, limit: int = 3) -> list[str]:
    """The first errors of a ``<name>-results.gz`` (``{"errors": {"namespaces": {ns: [..]},
    "velero": [..], "cluster": [..]}}``), each with where it happened."""
    try:
        results = json.loads(gzip.decompress(raw))
    except (OSError, ValueError, EOFError):
        return []
    errors = (results or {}).get("errors") or {} if isinstance(results, dict) else {}
    out: list[str] = []
    for where, found in (("velero", errors.get("velero")), ("cluster", errors.get("cluster"))):
        out += [f"{where}: {m}" for m in found or []]
    for ns, found in sorted((errors.get("namespaces") or {}).items()):
        out += [f"namespace {ns}: {m}" for m in found or []]
    return out[:limit]
