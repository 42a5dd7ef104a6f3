"""Fidelity of the sandbox's Velero emulation: CRDs with the chart, the server acting only once it
runs, BackupStorageLocation availability, Backup phases and the bucket layout, Restores with
``namespaceMapping``, and the injected PartiallyFailed fault.

Sources (vmware-tanzu/velero): ``pkg/apis/velero/v1/backup_types.go`` and ``restore_types.go``
(phases, ``progress``, ``errors``/``warnings``, ``validationErrors``, ``failureReason``),
``config/crd/v1/bases`` (Backup and Restore without a status subresource),
``pkg/controller/backup_controller.go`` (the validation messages, ``expiration`` = start +
``ttl``), ``pkg/persistence/object_store_layout.go`` (the keys), ``site/content/docs/main/
output-file-format.md`` (the tarball), ``pkg/restore/restore.go`` (``resetMetadata``, the
restore labels, "already exists" warnings).
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import json
import tarfile
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from resources.kubernetes import KubernetesResource
from tests.integration.velero_cluster import (
    clients,
    install_velero,
    location,
    sandbox_with_nodes,
    wait_for,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def app() -> Iterator[Any]:
    yield from sandbox_with_nodes("velero-pool")


class Env:
    def __init__(self, app: Any):
        tag = uuid.uuid4().hex[:8]
        self.app, self.ns, self.bucket = app, f"velero-{tag}", f"velero-{tag}"
        self.kube, self.store = clients(app, self.bucket)

    def app_namespace(self, name: str, configmaps: dict[str, dict[str, str]]) -> None:
        self.kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        for cm, data in configmaps.items():
            self.kube.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
                "name": cm, "namespace": name, "labels": {"app": "todo"}}, "data": data})

    def backup(self, name: str, namespaces: list[str], **spec: Any) -> dict[str, Any]:
        self.kube.apply({"apiVersion": "velero.io/v1", "kind": "Backup",
                         "metadata": {"name": name, "namespace": self.ns},
                         "spec": {"includedNamespaces": namespaces, **spec}})
        return self.settled("Backup", name)

    def settled(self, kind: str, name: str) -> dict[str, Any]:
        done = {"Completed", "PartiallyFailed", "Failed", "FailedValidation"}
        return dict(wait_for(lambda: (obj := self.kube.get("velero.io/v1", kind, name, self.ns))
                             and (obj.get("status") or {}).get("phase") in done and obj,
                             f"{kind} {name} to finish"))

    def object(self, key: str) -> bytes:
        raw = self.store.get_bytes(self.bucket, key, "de")
        assert raw is not None, f"s3://{self.bucket}/{key} missing"
        return raw


@pytest.fixture(scope="module")
def velero(app: Any) -> Env:
    env = Env(app)
    install_velero(app, env.kube, env.ns, env.bucket)
    return env


def test_velero_kinds_arrive_with_the_chart_and_backups_have_no_status_subresource(
        app: Any) -> None:
    """The chart installs the velero.io CRDs; Backup and Restore are served without a status
    subresource, BackupStorageLocation with one (config/crd/v1/bases)."""
    kube = KubernetesResource(kubeconfig_path=app.env["KUBECONFIG"])
    app.admin.install_chart("velero", "8.1.0", {"upgradeCRDs": True})
    wait_for(lambda: kube.serves("velero.io/v1", "Backup") is None, "velero kinds served")
    subs = {r.name: r.subresources for r in [kube.resource("velero.io/v1", k) for k in (
        "Backup", "Restore", "BackupStorageLocation")]}
    assert "status" not in (subs["backups"] or {})
    assert "status" not in (subs["restores"] or {})
    assert "status" in (subs["backupstoragelocations"] or {})
    assert kube.serves("velero.io/v2alpha1", "DataUpload") is None  # Velero 1.12+


def test_nothing_happens_until_the_server_runs(app: Any) -> None:
    """Velero's controllers run in its server pod: a Backup in a namespace without a running
    server keeps no phase."""
    env = Env(app)
    app.admin.install_chart("velero", "8.1.0", {"upgradeCRDs": True})
    wait_for(lambda: env.kube.serves("velero.io/v1", "Backup") is None, "velero kinds served")
    env.kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": env.ns}})
    env.kube.apply({"apiVersion": "velero.io/v1", "kind": "Backup",
                    "metadata": {"name": "b1", "namespace": env.ns}, "spec": {}})
    import time

    time.sleep(1.0)
    got = env.kube.get("velero.io/v1", "Backup", "b1", env.ns) or {}
    assert not (got.get("status") or {}).get("phase")


def test_a_location_on_a_missing_bucket_is_unavailable_and_its_backups_fail_validation(
        velero: Env) -> None:
    """BSL status.phase Unavailable with a message; a Backup to it is FailedValidation with
    "backup can't be created because BackupStorageLocation <name> is in Unavailable status."
    (backup_controller.go prepareBackupRequest)."""
    velero.kube.apply(location("nowhere", velero.ns, "no-such-bucket-" + uuid.uuid4().hex[:6],
                               velero.app.env["AWS_ENDPOINT_URL_S3"]))
    bsl = wait_for(lambda: (o := velero.kube.get("velero.io/v1", "BackupStorageLocation",
                                                 "nowhere", velero.ns))
                   and (o.get("status") or {}).get("phase") and o, "the BSL validated")
    assert bsl["status"]["phase"] == "Unavailable"
    assert "nowhere" in bsl["status"]["message"] and bsl["status"]["lastValidationTime"]
    got = velero.backup("to-nowhere", ["default"], storageLocation="nowhere")
    assert got["status"]["phase"] == "FailedValidation"
    assert got["status"]["validationErrors"] == [
        "backup can't be created because BackupStorageLocation nowhere is in Unavailable "
        "status."]
    missing = velero.backup("to-missing", ["default"], storageLocation="gone")
    assert missing["status"]["phase"] == "FailedValidation"
    assert "the default gone was not found" in missing["status"]["validationErrors"][0]


def test_a_backup_completes_into_velero_layout(velero: Env) -> None:
    """Completed with progress, version/formatVersion, expiration = start + ttl; the bucket holds
    velero-backup.json, the tarball (format 1.1.0, preferred-version directories), the log and
    the gzipped side files under <prefix>/backups/<name>/."""
    app_ns = f"todo-{uuid.uuid4().hex[:6]}"
    velero.app_namespace(app_ns, {"settings": {"a": "1"}, "flags": {"b": "2"}})
    got = velero.backup("nightly-1", [app_ns], ttl="48h0m0s")
    status = got["status"]
    assert status["phase"] == "Completed", status
    assert status["version"] == 1 and status["formatVersion"] == "1.1.0"
    start = dt.datetime.fromisoformat(status["startTimestamp"].replace("Z", "+00:00"))
    expiry = dt.datetime.fromisoformat(status["expiration"].replace("Z", "+00:00"))
    assert expiry - start == dt.timedelta(hours=48)
    assert got["metadata"]["labels"]["velero.io/storage-location"] == "default"
    # Namespace + 2 ConfigMaps + kube-root-ca.crt + the default ServiceAccount
    assert status["progress"]["itemsBackedUp"] == status["progress"]["totalItems"] >= 3
    base = "velero/backups/nightly-1/"
    meta = json.loads(velero.object(base + "velero-backup.json"))
    assert meta["kind"] == "Backup" and meta["status"]["phase"] == "Completed"
    with tarfile.open(fileobj=io.BytesIO(velero.object(base + "nightly-1.tar.gz"))) as tar:
        names = set(tar.getnames())
        version = tar.extractfile("metadata/version").read()  # type: ignore[union-attr]
        cm = json.loads(tar.extractfile(  # type: ignore[union-attr]
            f"resources/configmaps/namespaces/{app_ns}/settings.json").read())
    assert version == b"1.1.0" and cm["data"] == {"a": "1"}
    assert f"resources/configmaps/v1-preferredversion/namespaces/{app_ns}/flags.json" in names
    assert f"resources/namespaces/cluster/{app_ns}.json" in names
    for side in ("logs.gz", "resource-list.json.gz", "results.gz", "volumesnapshots.json.gz",
                 "podvolumebackups.json.gz"):
        gzip.decompress(velero.object(f"{base}nightly-1-{side}"))
    listed = json.loads(gzip.decompress(velero.object(base + "nightly-1-resource-list.json.gz")))
    assert f"{app_ns}/settings" in listed["v1/ConfigMap"]


def test_a_label_selector_limits_the_backup(velero: Env) -> None:
    """spec.labelSelector: only matching items are backed up."""
    app_ns = f"sel-{uuid.uuid4().hex[:6]}"
    velero.app_namespace(app_ns, {"picked": {"a": "1"}})
    velero.kube.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
        "name": "other", "namespace": app_ns}, "data": {"x": "y"}})
    got = velero.backup("selected", [app_ns], labelSelector={"matchLabels": {"app": "todo"}})
    assert got["status"]["progress"]["itemsBackedUp"] == 1
    listed = json.loads(gzip.decompress(velero.object(
        "velero/backups/selected/selected-resource-list.json.gz")))
    assert listed == {"v1/ConfigMap": [f"{app_ns}/picked"]}


def test_a_restore_maps_namespaces_and_reports_existing_objects(velero: Env) -> None:
    """A Restore reads the tarball from the bucket, creates the items in the mapped namespace
    with the velero.io/backup-name and restore-name labels and without uid/ownerReferences;
    a second restore into the same namespace warns that they already exist."""
    app_ns, drill = f"src-{uuid.uuid4().hex[:6]}", f"drill-{uuid.uuid4().hex[:6]}"
    velero.app_namespace(app_ns, {"settings": {"a": "1"}})
    assert velero.backup("to-restore", [app_ns])["status"]["phase"] == "Completed"
    for name in ("r1", "r2"):
        velero.kube.apply({"apiVersion": "velero.io/v1", "kind": "Restore",
                           "metadata": {"name": name, "namespace": velero.ns},
                           "spec": {"backupName": "to-restore",
                                    "namespaceMapping": {app_ns: drill}}})
        got = velero.settled("Restore", name)
        assert got["status"]["phase"] == "Completed", got["status"]
    cm = velero.kube.get("v1", "ConfigMap", "settings", drill) or {}
    assert cm.get("data") == {"a": "1"}
    assert cm["metadata"]["labels"]["velero.io/restore-name"] == "r1"
    assert cm["metadata"]["labels"]["velero.io/backup-name"] == "to-restore"
    second = velero.kube.get("velero.io/v1", "Restore", "r2", velero.ns) or {}
    assert second["status"]["warnings"] >= 1
    results = json.loads(gzip.decompress(velero.object(
        "velero/restores/r2/restore-r2-results.gz")))
    assert any("already exists" in w for w in results["warnings"]["namespaces"][drill])
    missing = velero.kube.apply({"apiVersion": "velero.io/v1", "kind": "Restore",
                                 "metadata": {"name": "r3", "namespace": velero.ns},
                                 "spec": {"backupName": "never-taken"}})
    assert missing
    got = velero.settled("Restore", "r3")
    assert got["status"]["phase"] == "FailedValidation"
    assert got["status"]["validationErrors"] == [
        'Error retrieving backup: backups.velero.io "never-taken" not found']


def test_an_injected_fault_makes_one_backup_partially_failed(velero: Env) -> None:
    """PartiallyFailed: errors counted, the item's error in <name>-results.gz, the backup still
    uploaded; the fault is used up, so the next backup Completes."""
    app_ns = f"pf-{uuid.uuid4().hex[:6]}"
    velero.app_namespace(app_ns, {"settings": {"a": "1"}})
    velero.app.admin.velero_fault("PartiallyFailed", "volume snapshot failed", 1)
    got = velero.backup("partial", [app_ns])
    assert got["status"]["phase"] == "PartiallyFailed" and got["status"]["errors"] == 1
    results = json.loads(gzip.decompress(velero.object(
        "velero/backups/partial/partial-results.gz")))
    assert "volume snapshot failed" in json.dumps(results["errors"])
    assert velero.backup("after", [app_ns])["status"]["phase"] == "Completed"
    velero.app.admin.velero_fault("Failed", "rpc error: plugin crashed", 1)
    failed = velero.backup("failed", [app_ns])
    assert failed["status"]["phase"] == "Failed"
    assert failed["status"]["failureReason"] == "rpc error: plugin crashed"
    assert velero.store.get_bytes(velero.bucket, "velero/backups/failed/failed.tar.gz",
                                  "de") is None


def test_a_delete_backup_request_removes_the_backup_from_bucket_and_cluster(
        velero: Env) -> None:
    """DeleteBackupRequest: the objects under backups/<name>/ go, the Backup goes, the request
    labelled with the backup's name and uid is removed once Processed; for a missing backup it
    is Processed with "backup not found" (backup_deletion_controller.go)."""
    app_ns = f"del-{uuid.uuid4().hex[:6]}"
    velero.app_namespace(app_ns, {"settings": {"a": "1"}})
    made = velero.backup("doomed", [app_ns])
    assert velero.store.list_keys(velero.bucket, "velero/backups/doomed/", "de")
    velero.kube.apply({"apiVersion": "velero.io/v1", "kind": "DeleteBackupRequest",
                       "metadata": {"name": "doomed-del", "namespace": velero.ns, "labels": {
                           "velero.io/backup-name": "doomed",
                           "velero.io/backup-uid": made["metadata"]["uid"]}},
                       "spec": {"backupName": "doomed"}})
    wait_for(lambda: velero.kube.get("velero.io/v1", "Backup", "doomed", velero.ns) is None
             and velero.kube.get("velero.io/v1", "DeleteBackupRequest", "doomed-del",
                                 velero.ns) is None, "the backup deleted")
    assert velero.store.list_keys(velero.bucket, "velero/backups/doomed/", "de") == []
    velero.kube.apply({"apiVersion": "velero.io/v1", "kind": "DeleteBackupRequest",
                       "metadata": {"name": "nothing-del", "namespace": velero.ns},
                       "spec": {"backupName": "never-was"}})
    got = wait_for(lambda: (o := velero.kube.get("velero.io/v1", "DeleteBackupRequest",
                                                 "nothing-del", velero.ns))
                   and (o.get("status") or {}).get("phase") == "Processed" and o,
                   "the request processed")
    assert got["status"]["errors"] == ["backup not found"]
