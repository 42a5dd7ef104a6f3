"""Restore drills: a database dump restored into a scratch database, a namespace export into a
scratch namespace, each compared with what was recorded at backup time; the scratch goes after.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from platform_assets.backups.bucket import Where
from platform_assets.backups.errors import cause
from platform_assets.backups.streams import Encoding, decode
from platform_assets.core import safeyaml
from platform_assets.core.backup_manifest import (
    BackupRecord,
    Manifest,
    ManifestObject,
    compare_tables,
    manifest_key,
)
from platform_assets.core.ports import BackupCluster, BackupStore, ScratchDatabase
from platform_assets.core.rbac import DRILL_SKIPPED_KINDS, drill_namespace_object
from platform_assets.core.restore import drill_content, for_drill, validated_by_dry_run
from platform_assets.names import drill_namespace


@dataclass
class DrillResult:
    """How long a drill took, what differed, and figures for the check's metadata."""

    seconds: float
    problems: list[str]
    metadata: dict[str, Any]
    # what was proven another way than by restoring it, e.g. validated by a dry run
    notes: list[str] = field(default_factory=list)


def untrusted(manifest: Manifest, where: Where, record: BackupRecord | None) -> list[str]:
    """Why the bucket's ``manifest`` cannot be trusted against what the backup run recorded in
    Dagster (empty: it can). Whoever can write the bucket can write object and manifest alike;
    the record is the run's own, kept outside the bucket."""
    mkey = manifest_key(where.prefix, manifest.target, manifest.partition)
    if record is None:
        return [f"s3://{where.bucket}/{mkey}: no backup run of {manifest.target} "
                f"({manifest.partition}) recorded its objects in Dagster, and the bucket alone "
                "is not trusted: run the backup of this partition (a later run records them)"]
    return record.check_manifest(manifest, f"s3://{where.bucket}/{mkey}")


class _Hashed:
    """Pass chunks through, hashing them: what was restored is what was verified."""

    def __init__(self, chunks: Iterable[bytes]):
        self.chunks = chunks
        self.digest = hashlib.sha256()
        self.size = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.chunks:
            self.digest.update(chunk)
            self.size += len(chunk)
            yield chunk


def drill_database(manifest: Manifest, where: Where, store: BackupStore, db: ScratchDatabase,
                   host: str, record: BackupRecord | None,
                   key: bytes | None = None) -> DrillResult:
    """Restore each dump of ``manifest`` into a scratch database and compare table row counts
    and checksums with those recorded at dump time; the scratch database is dropped after.

    Nothing is restored unless the manifest and each object match ``record`` (the backup run's
    own sizes and sha256); the bytes restored are hashed again on the way, so an object swapped
    between the check and the restore is caught too."""
    t0 = time.monotonic()
    problems = untrusted(manifest, where, record)
    figures = {"restored_bytes": 0, "tables": 0}
    if record is None or problems:
        return DrillResult(time.monotonic() - t0, problems, figures)
    for obj in manifest.objects:
        found = store.sha256_of(where.bucket, obj.key, where.region)
        bad = record.check_object(obj.key, *(found or (None, None)))
        if bad:
            problems += bad
            continue
        problems += _restore_dump(obj, where, store, db, host, record, key, figures)
    return DrillResult(time.monotonic() - t0, problems, figures)


def _restore_dump(obj: ManifestObject, where: Where, store: BackupStore, db: ScratchDatabase,
                  host: str, record: BackupRecord, key: bytes | None,
                  figures: dict[str, int]) -> list[str]:
    source_db = obj.details.get("database", "db")
    scratch = f"drill_{hashlib.sha256(obj.key.encode()).hexdigest()[:12]}"
    stream = _Hashed(store.open_stream(where.bucket, obj.key, where.region))
    try:
        sql = decode(stream, Encoding.of_entry(obj.details, obj.content_type), key)
        figures["restored_bytes"] += db.restore(scratch, sql, host)
        read = record.check_object(obj.key, stream.size, stream.digest.hexdigest(),
                                   "the bucket (changed while the drill read it)")
        if read:
            return read
        stats = db.table_stats(scratch, host)
        figures["tables"] += len(stats)
        return [f"{source_db}.{p}" for p in compare_tables(obj.details.get("tables") or {}, stats)]
    except Exception as exc:  # noqa: BLE001 - a dump that does not restore is the finding
        return [f"{obj.key}: restore into {scratch} failed: {cause(exc)}"]
    finally:
        db.drop_database(scratch, host)


def _restorable(obj: dict[str, Any]) -> bool:
    meta = obj.get("metadata") or {}
    if meta.get("ownerReferences"):
        return False  # recreated by its controller, as Velero leaves it
    name = meta.get("name")
    # Secrets and RBAC objects are not drilled: the drill Role has no rights on them
    # (docs/security.md).
    return obj.get("kind") not in DRILL_SKIPPED_KINDS and (obj.get("kind"), name) not in {
        ("ServiceAccount", "default"), ("ConfigMap", "kube-root-ca.crt")}


def ensure_drill_namespace(kube: BackupCluster, scratch: str) -> str | None:
    """The drill's namespace exists from deploy time (``python -m platform_assets rbac``, with
    its Role and PodSecurity labels); runs may not create namespaces. Where it is missing and
    the credentials allow (a local kubeconfig, the sandbox), it is created the same way."""
    if kube.get("v1", "Namespace", scratch) is not None:
        return None
    try:
        kube.apply(drill_namespace_object(scratch))
    except Exception as exc:  # noqa: BLE001 - reported as the drill's problem
        return (f"restore-drill namespace {scratch} is missing and cannot be created "
                f"({cause(exc)}): apply deploy/manifests/rbac.yaml")
    return None


def drill_resources(manifest: Manifest, where: Where, store: BackupStore, kube: BackupCluster,
                    record: BackupRecord | None, key: bytes | None = None,
                   dry_run_kinds: frozenset[tuple[str, str]] = frozenset()) -> DrillResult:
    """Apply the exported objects of each namespace into a scratch namespace, read them back and
    compare their content (everything but metadata and status); what was restored is deleted
    after, and the scratch namespace stays (the target's, from deploy time). Only objects
    whose bytes match ``record`` (the backup run's sha256) are applied. Objects of
    ``dry_run_kinds`` ((group, kind): ``core.rbac.drill_dry_run_kinds``) and what
    ``core.restore.validated_by_dry_run`` names (bare Pods, Ingresses, LoadBalancer Services...)
    are only sent as a server-side dry run."""
    t0 = time.monotonic()
    problems = untrusted(manifest, where, record)
    restored = 0
    if record is None or problems:
        return DrillResult(time.monotonic() - t0, problems, {"restored_objects": 0})
    scratch = drill_namespace(manifest.target)
    missing = ensure_drill_namespace(kube, scratch)
    if missing:
        return DrillResult(time.monotonic() - t0, [missing], {"restored_objects": 0})
    notes: list[str] = []
    for obj in manifest.objects:
        raw = b"".join(store.open_stream(where.bucket, obj.key, where.region))
        bad = record.check_object(obj.key, len(raw), hashlib.sha256(raw).hexdigest())
        if bad:
            problems += bad
            continue
        plain = b"".join(decode(iter([raw]), Encoding.of_entry(obj.details, obj.content_type),
                                key))
        found, count = _restore_namespace(obj, plain, kube, scratch, notes, dry_run_kinds)
        problems += found
        restored += count
    return DrillResult(time.monotonic() - t0, problems,
                       {"restored_objects": restored, "validated_by_dry_run": len(notes)}, notes)


def _exported_objects(key: str, raw: bytes) -> tuple[list[dict[str, Any]], list[str]]:
    """The Kubernetes objects of one exported namespace, read with the limits of any untrusted
    YAML (the bucket is not trusted: core.safeyaml); a document that is not an object with
    apiVersion, kind and metadata.name is a problem, not a traceback."""
    try:
        docs = safeyaml.load_all(raw, key)
    except safeyaml.YamlError as exc:
        return [], [f"{key}: not restorable: {exc}"]
    items: list[dict[str, Any]] = []
    problems: list[str] = []
    for doc in docs:
        d = doc.data
        if d is None:
            continue
        meta = d.get("metadata") if isinstance(d, dict) else None
        if not (isinstance(d, dict) and isinstance(d.get("apiVersion"), str)
                and isinstance(d.get("kind"), str) and isinstance(meta, dict)
                and isinstance(meta.get("name"), str)):
            problems.append(f"{key}:{doc.line}: not a Kubernetes object (apiVersion, kind and "
                            "metadata.name expected); not restored")
            continue
        items.append(d)
    return items, problems


def _restore_namespace(obj: ManifestObject, raw: bytes, kube: BackupCluster,
                       scratch: str, notes: list[str],
                       dry_run_kinds: frozenset[tuple[str, str]] = frozenset(),
                       ) -> tuple[list[str], int]:
    """Apply one namespace's export into the drill namespace ``scratch``, compare, and delete
    what was restored (the namespace stays: it is the target's, from deploy time);
    (problems, count). What would run once created (a bare Pod) is only sent as a dry run,
    which proves the API server accepts it, and noted in ``notes``."""
    ns = obj.details.get("namespace", "ns")
    items, problems = _exported_objects(obj.key, raw)
    created: list[dict[str, Any]] = []
    try:
        for item in filter(_restorable, items):
            body = for_drill(item, scratch)
            dry_run = validated_by_dry_run(body, dry_run_kinds)
            try:
                kube.apply(body, dry_run=dry_run)
            except Exception as exc:  # noqa: BLE001 - reported as a drill problem
                problems.append(f"{ns}: {item['kind']}/{body['metadata'].get('name')} could not "
                                f"be restored{' (dry run)' if dry_run else ''}: {cause(exc)}")
                continue
            if dry_run:
                notes.append(f"{ns}: {body['kind']}/{body['metadata']['name']} validated by "
                             "dry run, not restored")
                continue
            created.append(body)
        for body in created:
            what = f"{ns}: {body['kind']}/{body['metadata']['name']}"
            back = kube.get(body["apiVersion"], body["kind"], body["metadata"]["name"], scratch)
            if back is None:
                problems.append(f"{what} missing after restore")
            elif drill_content(back) != drill_content(body):
                problems.append(f"{what} differs after restore")
        return problems, len(created)
    finally:
        for body in reversed(created):
            try:
                kube.delete(body["apiVersion"], body["kind"], body["metadata"]["name"], scratch)
            except Exception as exc:  # noqa: BLE001 - left over: say so
                problems.append(f"{ns}: {body['kind']}/{body['metadata']['name']} left in "
                                f"{scratch}: {cause(exc)}")
