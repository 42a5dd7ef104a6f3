"""Restore drills: a database dump restored into a scratch database, a namespace export into a
scratch namespace, each compared with what was recorded at backup time; the scratch goes after.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass
from typing import Any

from platform_assets.backups.bucket import Where
from platform_assets.backups.errors import cause
from platform_assets.core.backup_manifest import Manifest, compare_tables
from platform_assets.core.restore import drill_content, for_drill
from platform_assets.names import DRILL_ROLE


@dataclass
class DrillResult:
    """How long a drill took, what differed, and figures for the check's metadata."""

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


def grant_drill_access(kube: Any, scratch: str) -> None:
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
        grant_drill_access(kube, scratch)
        created: list[dict[str, Any]] = []
        try:
            for item in filter(_restorable, items):
                body = for_drill(item, scratch)
                meta = body["metadata"]
                try:
                    kube.apply(body)
                except Exception as exc:  # noqa: BLE001 - reported as a drill problem
                    problems.append(f"{ns}: {item['kind']}/{meta.get('name')} could not be "
                                    f"restored: {cause(exc)}")
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
