"""Fidelity of the sandbox's Longhorn emulation: CRDs with the chart, the manager acting only once
it runs, Snapshots, Backups to the BackupTarget's bucket in backupstore's layout, a volume
restored ``fromBackup``, and the injected backup error.

Sources: longhorn/longhorn-manager ``k8s/pkg/apis/longhorn/v1beta2`` (``backup.go``: states
``""``/``InProgress``/``Completed``/``Error``, ``status.url``, ``status.size`` a string;
``snapshot.go``: ``readyToUse``, ``creationTime``; ``backuptarget.go``: ``status.available``;
``volume.go``: ``dataSource`` ``snap://``, ``cloneStatus``),
``types/types.go`` (the ``backup-volume`` label), longhorn/backupstore ``config.go`` (keys
``backupstore/volumes/<sha512[0:2]>/<[2:4]>/<volume>/volume.cfg`` and
``backups/backup_<name>.cfg``), ``backupstore.go`` (the cfg JSON, ``EncodeConfigURL``) and
``deltablock.go`` (2 MiB blocks named by their sha512 under ``blocks/``).

A PersistentVolumeClaim stands in for the PV Longhorn's CSI driver provisions: the Longhorn
Volume is named after its PV, as the driver names it, and its files are the device's data.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from resources.kubernetes import KubernetesResource
from tests.integration.longhorn_cluster import CHART_VERSION, install_longhorn
from tests.integration.test_sandbox_kubernetes import claim_user
from tests.integration.velero_cluster import clients, sandbox_with_nodes, wait_for

pytestmark = pytest.mark.integration
API = "longhorn.io/v1beta2"


@pytest.fixture(scope="module")
def app() -> Iterator[Any]:
    yield from sandbox_with_nodes("longhorn-pool")


class Env:
    def __init__(self, app: Any):
        tag = uuid.uuid4().hex[:8]
        self.app, self.ns, self.bucket = app, f"longhorn-{tag}", f"longhorn-{tag}"
        self.kube, self.store = clients(app, self.bucket)

    def volume_with_files(self, files: dict[str, bytes]) -> str:
        """A Longhorn Volume named after a bound PV holding ``files``; its name."""
        app_ns, claim = f"{self.ns}-app", f"data-{uuid.uuid4().hex[:6]}"
        self.kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": app_ns}})
        self.kube.apply({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                         "metadata": {"name": claim, "namespace": app_ns},
                         "spec": {"accessModes": ["ReadWriteOnce"],
                                  "resources": {"requests": {"storage": "1Gi"}}}})
        # The default class binds WaitForFirstConsumer: the application's Pod comes first.
        self.kube.apply({**claim_user(claim), "metadata": {"name": f"{claim}-app",
                                                           "namespace": app_ns}})
        pvc = wait_for(lambda: (c := self.kube.get("v1", "PersistentVolumeClaim", claim,
                                                   app_ns)) and (c.get("spec") or {}).get(
            "volumeName") and c, "the claim to bind")
        self.app.admin.write_volume_files(app_ns, claim, files)
        name = str(pvc["spec"]["volumeName"])
        self.kube.apply({"apiVersion": API, "kind": "Volume",
                         "metadata": {"name": name, "namespace": self.ns},
                         "spec": {"size": str(2**30), "numberOfReplicas": 3}})
        return name

    def snapshot(self, name: str, volume: str) -> dict[str, Any]:
        self.kube.apply({"apiVersion": API, "kind": "Snapshot",
                         "metadata": {"name": name, "namespace": self.ns},
                         "spec": {"volume": volume, "createSnapshot": True}})
        return dict(wait_for(lambda: (s := self.kube.get(API, "Snapshot", name, self.ns))
                             and ((s.get("status") or {}).get("readyToUse")
                                  or (s.get("status") or {}).get("error")) and s,
                             f"snapshot {name}"))

    def backup(self, name: str, snapshot: str, volume: str) -> dict[str, Any]:
        self.kube.apply({"apiVersion": API, "kind": "Backup",
                         "metadata": {"name": name, "namespace": self.ns,
                                      "labels": {"backup-volume": volume}},
                         "spec": {"snapshotName": snapshot, "labels": {"night": "1"}}})
        return dict(wait_for(lambda: (b := self.kube.get(API, "Backup", name, self.ns))
                             and (b.get("status") or {}).get("state") in ("Completed", "Error")
                             and b, f"backup {name}"))

    def key(self, volume: str, rest: str) -> str:
        digest = hashlib.sha512(volume.encode()).hexdigest()
        return f"longhorn/backupstore/volumes/{digest[:2]}/{digest[2:4]}/{volume}/{rest}"

    def keys(self, volume: str) -> list[str]:
        return self.store.list_keys(self.bucket, self.key(volume, ""), "de")


@pytest.fixture(scope="module")
def longhorn(app: Any) -> Env:
    env = Env(app)
    install_longhorn(app, env.kube, env.ns, env.bucket)
    wait_for(lambda: ((env.kube.get(API, "BackupTarget", "default", env.ns) or {})
                      .get("status") or {}).get("available"), "the backup target")
    return env


def test_the_chart_serves_snapshots_and_backups_with_status_subresources(app: Any) -> None:
    """Every longhorn.io v1beta2 kind has a status subresource (+kubebuilder:subresource:status
    in v1beta2/*.go)."""
    kube = KubernetesResource(kubeconfig_path=app.env["KUBECONFIG"])
    app.admin.install_chart("longhorn", CHART_VERSION, {})
    wait_for(lambda: kube.serves(API, "Snapshot") is None, "longhorn kinds served")
    for kind in ("Snapshot", "Backup", "BackupTarget", "BackupVolume", "Volume"):
        assert "status" in (kube.resource(API, kind).subresources or {}), kind


def test_nothing_happens_until_the_manager_runs(app: Any) -> None:
    """Longhorn's controllers run in the manager pods: without them a Backup keeps no state."""
    env = Env(app)
    app.admin.install_chart("longhorn", CHART_VERSION, {})
    wait_for(lambda: env.kube.serves(API, "Backup") is None, "longhorn kinds served")
    env.kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": env.ns}})
    env.kube.apply({"apiVersion": API, "kind": "Backup", "metadata": {
        "name": "b1", "namespace": env.ns, "labels": {"backup-volume": "v1"}},
        "spec": {"snapshotName": "s1"}})
    time.sleep(1.0)
    got = env.kube.get(API, "Backup", "b1", env.ns) or {}
    assert not (got.get("status") or {}).get("state")


def test_a_backup_lands_in_backupstore_layout_and_restores_into_a_new_volume(
        longhorn: Env) -> None:
    """Completed with ``url`` = target + ``?backup=<name>&volume=<volume>`` and ``size`` a
    string; the backup cfg names the snapshot and its blocks, each block's sha512 is its name,
    volume.cfg names the last backup; a Volume ``fromBackup`` gets the files back."""
    files = {"index.html": b"<h1>wiki</h1>", "uploads/a.bin": bytes(range(256)) * 9000}
    volume = longhorn.volume_with_files(files)
    snap = longhorn.snapshot("night-1", volume)
    assert snap["status"]["readyToUse"] and snap["status"]["creationTime"]
    done = longhorn.backup("backup-night-1", "night-1", volume)
    status = done["status"]
    assert status["state"] == "Completed", status
    assert status["url"] == (f"s3://{longhorn.bucket}@de/longhorn?backup=backup-night-1&"
                             f"volume={volume}")
    assert isinstance(status["size"], str) and int(status["size"]) > len(files["uploads/a.bin"])
    assert status["volumeName"] == volume and status["snapshotName"] == "night-1"
    cfg = json.loads(longhorn.store.get_bytes(
        longhorn.bucket, longhorn.key(volume, "backups/backup_backup-night-1.cfg"), "de") or b"")
    assert cfg["SnapshotName"] == "night-1" and cfg["CreatedTime"] and cfg["Size"] == \
        status["size"] and cfg["Labels"] == {"night": "1"}
    assert len(cfg["Blocks"]) == 2  # 2.2 MB of tar in 2 MiB blocks
    for block in cfg["Blocks"]:
        cs = block["BlockChecksum"]
        raw = longhorn.store.get_bytes(longhorn.bucket, longhorn.key(
            volume, f"blocks/{cs[:2]}/{cs[2:4]}/{cs}.blk"), "de")
        assert raw is not None and hashlib.sha512(gzip.decompress(raw)).hexdigest() == cs
    vcfg = json.loads(longhorn.store.get_bytes(longhorn.bucket,
                                               longhorn.key(volume, "volume.cfg"), "de") or b"")
    assert vcfg["LastBackupName"] == "backup-night-1" and vcfg["Name"] == volume
    bv = longhorn.kube.get(API, "BackupVolume", volume, longhorn.ns) or {}
    assert (bv.get("status") or {}).get("lastBackupName") == "backup-night-1"

    longhorn.kube.apply({"apiVersion": API, "kind": "Volume", "metadata": {
        "name": "drill-1", "namespace": longhorn.ns}, "spec": {
        "size": str(2**30), "fromBackup": status["url"]}})
    restored = wait_for(lambda: (v := longhorn.kube.get(API, "Volume", "drill-1", longhorn.ns))
                        and (v.get("status") or {}).get("state") and v, "the restore")
    assert restored["status"]["restoreRequired"] is False, restored["status"]
    assert restored["status"]["conditions"][0]["reason"] == ""
    data = longhorn.app.services["kubernetes"].volume_data.path("drill-1")
    assert {str(p.relative_to(data)): p.read_bytes() for p in data.rglob("*")
            if p.is_file()} == files


def test_a_volume_cloned_from_a_snapshot_holds_the_snapshots_files(longhorn: Env) -> None:
    """``spec.dataSource: snap://<volume>/<snapshot>`` (``volume.go`` ``VolumeCloneStatus``):
    the clone gets the files as the snapshot held them, not as the volume holds them now, and
    ``cloneStatus.state`` ``completed``; an unknown snapshot ends ``failed``."""
    volume = longhorn.volume_with_files({"a.txt": b"then"})
    longhorn.snapshot("k1", volume)
    data = longhorn.app.services["kubernetes"].volume_data
    (data.path(volume) / "a.txt").write_bytes(b"now")
    for name, source in (("clone-k1", f"snap://{volume}/k1"), ("clone-k0", f"snap://{volume}/k0")):
        longhorn.kube.apply({"apiVersion": API, "kind": "Volume", "metadata": {
            "name": name, "namespace": longhorn.ns}, "spec": {"dataSource": source}})
    done = {n: wait_for(lambda n=n: (v := longhorn.kube.get(API, "Volume", n, longhorn.ns))
                        and ((v.get("status") or {}).get("cloneStatus") or {}).get("state")
                        and v["status"]["cloneStatus"], f"the clone {n}")
            for n in ("clone-k1", "clone-k0")}
    assert done["clone-k1"] == {"sourceVolume": volume, "snapshot": "k1", "state": "completed"}
    assert (data.path("clone-k1") / "a.txt").read_bytes() == b"then"
    assert done["clone-k0"]["state"] == "failed"


def test_a_corrupt_block_fails_the_restore(longhorn: Env) -> None:
    """A block whose content no longer matches its checksum leaves the volume's Restore
    condition with reason RestoreFailure (the engine verifies each block it reads)."""
    volume = longhorn.volume_with_files({"a.txt": b"x" * 1000})
    longhorn.snapshot("c1", volume)
    status = longhorn.backup("backup-c1", "c1", volume)["status"]
    blocks = [k for k in longhorn.keys(volume) if k.endswith(".blk")]
    longhorn.store.put_bytes(longhorn.bucket, blocks[0], gzip.compress(b"rotten"), "de")
    longhorn.kube.apply({"apiVersion": API, "kind": "Volume", "metadata": {
        "name": "drill-c1", "namespace": longhorn.ns}, "spec": {"fromBackup": status["url"]}})
    vol = wait_for(lambda: (v := longhorn.kube.get(API, "Volume", "drill-c1", longhorn.ns))
                   and (v.get("status") or {}).get("state") and v, "the restore")
    cond = vol["status"]["conditions"][0]
    assert cond["reason"] == "RestoreFailure" and "checksum mismatch" in cond["message"]
    assert vol["status"]["restoreRequired"] is True


def test_an_injected_fault_ends_the_backup_in_error_with_no_backup_cfg(longhorn: Env) -> None:
    """``Error`` with ``status.error``; the cfg that marks a backup complete is never written,
    and the next backup of the same snapshot completes."""
    volume = longhorn.volume_with_files({"b.txt": b"y" * 5000})
    longhorn.snapshot("f1", volume)
    longhorn.app.admin.longhorn_fault("failed to upload block: connection reset")
    failed = longhorn.backup("backup-f1", "f1", volume)["status"]
    assert failed["state"] == "Error" and "connection reset" in failed["error"]
    assert not [k for k in longhorn.keys(volume) if k.endswith(".cfg")]
    assert longhorn.backup("backup-f1b", "f1", volume)["status"]["state"] == "Completed"


def test_a_backup_of_a_missing_snapshot_or_unavailable_target_errors(longhorn: Env) -> None:
    """The manager names what it could not find; a target on a missing bucket is
    ``available: false`` with an Unavailable condition."""
    got = longhorn.backup("backup-none", "no-such-snap", "no-such-volume")["status"]
    assert got["state"] == "Error" and "no-such-snap" in got["error"]
    from tests.integration.longhorn_cluster import target

    longhorn.kube.apply(target("nowhere", longhorn.ns, "s3://missing-bucket-x@de/lh"))
    bt = wait_for(lambda: (t := longhorn.kube.get(API, "BackupTarget", "nowhere", longhorn.ns))
                  and "available" in (t.get("status") or {}) and t, "target checked")
    assert bt["status"]["available"] is False
    assert bt["status"]["conditions"][0]["type"] == "Unavailable"


def test_deleting_a_backup_removes_it_and_its_unshared_blocks_from_the_store(
        longhorn: Env) -> None:
    """The backup controller's ``longhorn.io`` finalizer: the cfg goes, then the blocks no
    other backup of the volume names (backupstore ``DeleteDeltaBlockBackup``); a block both
    backups share stays."""
    volume = longhorn.volume_with_files({"a.bin": bytes(range(256)) * 9000})
    longhorn.snapshot("d1", volume)
    longhorn.backup("backup-d1", "d1", volume)
    longhorn.app.admin.write_volume_files(*_claim_of(longhorn, volume), {"b.txt": b"new"})
    longhorn.snapshot("d2", volume)
    got = longhorn.backup("backup-d2", "d2", volume)
    assert "longhorn.io" in got["metadata"]["finalizers"]
    before = set(longhorn.keys(volume))
    longhorn.kube.delete(API, "Backup", "backup-d1", longhorn.ns)
    wait_for(lambda: longhorn.kube.get(API, "Backup", "backup-d1", longhorn.ns) is None,
             "the Backup to go")
    after = set(longhorn.keys(volume))
    gone = before - after
    assert longhorn.key(volume, "backups/backup_backup-d1.cfg") in gone
    assert longhorn.key(volume, "backups/backup_backup-d2.cfg") in after
    kept = json.loads(longhorn.store.get_bytes(longhorn.bucket, longhorn.key(
        volume, "backups/backup_backup-d2.cfg"), "de") or b"")["Blocks"]
    for block in kept:
        cs = block["BlockChecksum"]
        assert longhorn.key(volume, f"blocks/{cs[:2]}/{cs[2:4]}/{cs}.blk") in after
    assert any(k.endswith(".blk") for k in gone)  # the first night's own last block


def _claim_of(longhorn: Env, volume: str) -> tuple[str, str]:
    pv = longhorn.kube.get("v1", "PersistentVolume", volume) or {}
    ref = pv["spec"]["claimRef"]
    return str(ref["namespace"]), str(ref["name"])


def test_a_claim_of_longhorns_storage_class_gets_a_longhorn_volume(longhorn: Env) -> None:
    """Longhorn's CSI CreateVolume (longhorn-manager ``csi/controller_server.go``): a claim of a
    StorageClass of provisioner ``driver.longhorn.io`` is bound to a PV of that driver whose
    ``volumeHandle`` is its name, and a Volume of that name appears where the manager runs."""
    kube = longhorn.kube
    kube.apply({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                "metadata": {"name": f"lh-{longhorn.ns}"}, "provisioner": "driver.longhorn.io",
                "parameters": {"numberOfReplicas": "3"}})
    app_ns = f"{longhorn.ns}-sc"
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": app_ns}})
    kube.apply({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                "metadata": {"name": "data", "namespace": app_ns},
                "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": f"lh-{longhorn.ns}",
                         "resources": {"requests": {"storage": "1Gi"}}}})
    pv_name = wait_for(lambda: (kube.get("v1", "PersistentVolumeClaim", "data", app_ns) or {})
                       .get("spec", {}).get("volumeName"), "the claim to bind")
    pv = kube.get("v1", "PersistentVolume", pv_name) or {}
    assert pv["spec"]["csi"]["driver"] == "driver.longhorn.io"
    assert pv["spec"]["csi"]["volumeHandle"] == pv_name
    vol = kube.get(API, "Volume", pv_name, longhorn.ns) or {}
    assert vol["spec"]["size"] == str(2**30)
