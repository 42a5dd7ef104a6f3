"""Backups through Velero (``method: velero``) on a sandbox running Velero's emulation: a Backup per
partition verified in the bucket, a rerun that converges, the cross-region copy, the restore drill
with a mapped Restore, and a PartiallyFailed backup that fails the asset until the next run.

Sources of the emulated contracts: Velero's Backup and Restore phases and status
(vmware-tanzu/velero ``pkg/apis/velero/v1``), its bucket layout (``pkg/persistence/
object_store_layout.go``), ``namespaceMapping`` (``pkg/restore/restore.go``) and
DeleteBackupRequests (``pkg/controller/backup_deletion_controller.go``); the emulation's own
fidelity is tested in ``test_sandbox_velero.py``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from platform_assets.core import velero as v
from platform_assets.core.graph import backup_copy_key, backup_key
from platform_assets.names import drill_namespace
from tests.integration.backup_env import BackupEnv, spec_head
from tests.integration.test_backup_volumes import checks, failure, meta
from tests.integration.velero_cluster import install_velero, sandbox_with_nodes

pytestmark = pytest.mark.integration

SPEC = spec_head("velero") + """platform:
  - name: velero
    namespace: {velero_ns}
    source: {{helm_release: {{chart: velero, version: 8.1.0, repository: vmware-tanzu}}}}
applications:
  - name: todo
    namespace: {app_ns}
    source: {{manifests: {{path: manifests}}}}
backups:
  start_date: "2026-09-01"
  bucket: {bucket}
  cross_region_copy: {{bucket: {dr_bucket}}}
  targets:
    - name: todo
      kind: resources
      namespaces: [{app_ns}]
      method: velero
      velero: {{ttl: 240h, timeout: 1m}}
"""


@pytest.fixture(scope="module")
def app() -> Iterator[Any]:
    yield from sandbox_with_nodes("pool")


class Site(BackupEnv):
    """One test's spec, buckets, Velero and application namespace."""

    def __init__(self, app: Any, tmp: Path):
        tag = uuid.uuid4().hex[:8]
        self.velero_ns, self.app_ns = f"velero-{tag}", f"todo-{tag}"
        super().__init__(app, tmp, SPEC.format(bucket=f"vel-{tag}", dr_bucket=f"vel-dr-{tag}",
                                               velero_ns=self.velero_ns, app_ns=self.app_ns),
                         f"vel-{tag}", f"vel-dr-{tag}", "todo")
        install_velero(app, self.kube, self.velero_ns, self.bucket)
        self.kube.apply({"apiVersion": "v1", "kind": "Namespace",
                         "metadata": {"name": self.app_ns}})
        for name, data in (("settings", {"TODO_TITLE": "Todos"}), ("flags", {"dark": "true"})):
            self.kube.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
                "name": name, "namespace": self.app_ns}, "data": data})
        self.kube.apply({"apiVersion": "v1", "kind": "Service", "metadata": {
            "name": "backend", "namespace": self.app_ns}, "spec": {
            "selector": {"app": "backend"}, "ports": [{"port": 3000}]}})

    def backups(self) -> list[dict[str, Any]]:
        return self.kube.list("velero.io/v1", "Backup", self.velero_ns)


@pytest.fixture
def site(app: Any, tmp_path: Path) -> Site:
    return Site(app, tmp_path)


def test_a_velero_backup_is_verified_converges_copies_and_drills(site: Site) -> None:
    first = site.run(backup_key("todo"), "2026-11-20", with_checks=True)
    assert first.success, failure(first)
    m = meta(first)
    name = v.backup_name("todo", "2026-11-20")
    assert m["velero_backup"] == f"{site.velero_ns}/{name}" and m["velero_phase"] == "Completed"
    assert m["items_backed_up"] >= 4 and m["velero_errors"] == 0  # namespace, 2 CMs, Service
    manifest = site.manifest("2026-11-20")
    assert manifest is not None
    keys = {o.key for o in manifest.objects}
    assert {f"velero/backups/{name}/velero-backup.json", f"velero/backups/{name}/{name}.tar.gz",
            f"velero/backups/{name}/{name}-logs.gz"} <= keys
    got = checks(first)
    assert got["restore_drill"].passed, got["restore_drill"].metadata
    assert got["restore_drill"].metadata["restored_objects"].value >= 3
    assert got["manifest_checksums"].passed
    # The drill leaves nothing behind: no Restore, no restored ConfigMap in its namespace.
    assert site.kube.list("velero.io/v1", "Restore", site.velero_ns) == []
    assert site.kube.get("v1", "ConfigMap", "settings", drill_namespace("todo")) is None

    again = site.run(backup_key("todo"), "2026-11-20")
    assert again.success, failure(again)
    assert meta(again)["skipped"] is True
    assert [b["metadata"]["name"] for b in site.backups()] == [name]

    copy = site.run(backup_copy_key("todo"), "2026-11-20", with_checks=True)
    assert copy.success, failure(copy)
    assert checks(copy)["manifest_checksums"].passed
    assert site.store.get_bytes(site.dr_bucket, f"velero/backups/{name}/{name}.tar.gz",
                                "eu-central-3")


def test_a_partially_failed_backup_fails_the_asset_until_the_next_run(site: Site) -> None:
    site.app.admin.velero_fault("PartiallyFailed", "error executing item action: timed out", 1)
    failed = site.run(backup_key("todo"), "2026-11-21")
    assert not failed.success
    why = failure(failed)
    name = v.backup_name("todo", "2026-11-21")
    assert "todo" in why and "PartiallyFailed" in why and "timed out" in why, why
    assert site.manifest("2026-11-21") is None  # nothing looks complete
    first_uid = site.kube.get("velero.io/v1", "Backup", name, site.velero_ns)["metadata"]["uid"]  # type: ignore[index]

    retry = site.run(backup_key("todo"), "2026-11-21", with_checks=True)
    assert retry.success, failure(retry)
    backup = site.kube.get("velero.io/v1", "Backup", name, site.velero_ns) or {}
    assert backup["metadata"]["uid"] != first_uid and backup["status"]["phase"] == "Completed"
    assert site.manifest("2026-11-21") is not None
    assert checks(retry)["restore_drill"].passed
    assert len(site.backups()) == 1


def test_an_unavailable_storage_location_fails_naming_it(site: Site) -> None:
    site.kube.patch_merge("velero.io/v1", "BackupStorageLocation", "default", site.velero_ns,
                          {"spec": {"objectStorage": {"bucket": site.dr_bucket}}})
    failed = site.run(backup_key("todo"), "2026-11-22")
    assert not failed.success
    assert f"BackupStorageLocation {site.velero_ns}/default stores in bucket" in failure(failed)
    assert site.backups() == []


def test_the_drill_fails_when_what_comes_back_differs(site: Site) -> None:
    """A mutating webhook on the drill namespace (a sidecar injector) changes the restored
    Deployment: the drill compares by content and names it; the restored objects still go.
    Velero restores through the API as a client, so admission applies to its creates
    (Kubernetes docs, "Dynamic Admission Control")."""
    from platform_assets.names import LABEL_DRILL

    site.kube.apply({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {
        "name": "backend", "namespace": site.app_ns}, "spec": {
        "replicas": 0, "selector": {"matchLabels": {"app": "backend"}},
        "template": {"metadata": {"labels": {"app": "backend"}}, "spec": {
            "securityContext": {"runAsNonRoot": True,
                                "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{"name": "api", "image": "example/api:1", "securityContext": {
                "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}}]}}}})
    site.app.admin.add_webhook(name="sidecar.drill.test", kinds=["Deployment"],
                               namespaceSelector={"matchLabels": {LABEL_DRILL: "true"}},
                               containers=[{"name": "proxy", "image": "example/proxy:1"}])
    try:
        result = site.run(backup_key("todo"), "2026-11-23", with_checks=True)
    finally:
        site.app.admin.clear_webhooks()
    assert result.success, failure(result)  # the backup itself is fine
    drill = checks(result)["restore_drill"]
    assert not drill.passed
    assert "Deployment/backend differs after restore" in str(drill.metadata["problems"].value)
    assert site.kube.get("apps/v1", "Deployment", "backend", drill_namespace("todo")) is None
