"""Backups through Longhorn (``method: longhorn``) on a sandbox running Longhorn's emulation: a
Snapshot and a Backup per partition verified in the bucket (the backup cfg and its blocks), a
rerun that converges, the cross-region copy, the restore drill (a Volume ``fromBackup`` mounted
by the volume agent, every file compared with the list taken from a clone of the snapshot), and
a backup in ``Error`` that fails the asset until the next run.

Sources of the emulated contracts: longhorn/longhorn-manager ``k8s/pkg/apis/longhorn/v1beta2``
(Snapshot, Backup, Volume, BackupTarget status; ``volume.go`` ``dataSource`` ``snap://`` and
``cloneStatus`` for the snapshot's clone), longhorn/backupstore (the bucket layout), Longhorn's
docs "Examples" (a static CSI PV of ``driver.longhorn.io`` naming the Volume in
``volumeHandle``, and a claim bound to it by ``volumeName``);
the emulation's own fidelity is tested in ``test_sandbox_longhorn.py``.
"""

from __future__ import annotations

import dataclasses
import gzip
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from platform_assets.backups.volume_job import ensure_agent_secret
from platform_assets.core import longhorn as lh
from platform_assets.core.backup_manifest import manifest_key
from platform_assets.core.graph import backup_copy_key, backup_key
from platform_assets.core.rbac import render_drill_guard, render_rbac
from tests.integration.backup_env import BackupEnv, spec_head
from tests.integration.longhorn_cluster import install_longhorn
from tests.integration.run_account import install, runner_resource
from tests.integration.test_backup_volumes import checks, failure, meta
from tests.integration.test_sandbox_kubernetes import claim_user
from tests.integration.velero_cluster import sandbox_with_nodes, wait_for

pytestmark = pytest.mark.integration

SPEC = spec_head("longhorn") + """platform:
  - name: longhorn
    namespace: {lh_ns}
    source: {{helm_release: {{chart: longhorn, version: 1.7.2, repository: longhorn}}}}
applications:
  - name: wiki
    namespace: {app_ns}
    source: {{manifests: {{path: manifests}}}}
backups:
  start_date: "2026-09-01"
  bucket: {bucket}
  cross_region_copy: {{bucket: {dr_bucket}}}
  targets:
    - name: wiki-data
      kind: volume
      namespace: {app_ns}
      pvc: data
      method: longhorn
      longhorn: {{timeout: 1m}}
"""
OWN_VOLUMES = "platform-ops-runner-own-volumes"
FILES = {"pages/home.md": b"# Wiki\n", "uploads/logo.png": bytes(range(256)) * 12000}


@pytest.fixture(scope="module")
def app() -> Iterator[Any]:
    # Jobs run: the volume agent lists the snapshot's files and checks the drill's restore.
    yield from sandbox_with_nodes("pool", run_jobs=True)


class Site(BackupEnv):
    """One test's spec, buckets, Longhorn and a Longhorn volume with files."""

    def __init__(self, app: Any, tmp: Path):
        tag = uuid.uuid4().hex[:8]
        self.lh_ns, self.app_ns = f"longhorn-{tag}", f"wiki-{tag}"
        super().__init__(app, tmp, SPEC.format(bucket=f"lh-{tag}", dr_bucket=f"lh-dr-{tag}",
                                               lh_ns=self.lh_ns, app_ns=self.app_ns),
                         f"lh-{tag}", f"lh-dr-{tag}", "wiki-data")
        install_longhorn(app, self.kube, self.lh_ns, self.bucket)
        self.kube.apply({"apiVersion": "v1", "kind": "Namespace",
                         "metadata": {"name": self.app_ns}})
        # The claim stands in for one of Longhorn's StorageClass: its Volume is named after
        # the PV, as Longhorn's CSI driver names it.
        self.kube.apply({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                         "metadata": {"name": "data", "namespace": self.app_ns},
                         "spec": {"accessModes": ["ReadWriteOnce"],
                                  "resources": {"requests": {"storage": "1Gi"}}}})
        # The wiki's Pod: the default class binds WaitForFirstConsumer.
        self.kube.apply({**claim_user("data"), "metadata": {"name": "wiki",
                                                            "namespace": self.app_ns}})
        pvc = wait_for(lambda: (c := self.kube.get("v1", "PersistentVolumeClaim", "data",
                                                   self.app_ns))
                       and (c.get("spec") or {}).get("volumeName") and c, "the claim")
        self.volume = str(pvc["spec"]["volumeName"])
        app.admin.write_volume_files(self.app_ns, "data", FILES)
        self.kube.apply({"apiVersion": lh.API_VERSION, "kind": "Volume",
                         "metadata": {"name": self.volume, "namespace": self.lh_ns},
                         "spec": {"size": str(2**30), "numberOfReplicas": 3}})

    def objects(self, kind: str) -> list[str]:
        return [o["metadata"]["name"] for o in self.kube.list(lh.API_VERSION, kind, self.lh_ns)]


@pytest.fixture
def site(app: Any, tmp_path: Path) -> Site:
    return Site(app, tmp_path)


def test_a_longhorn_backup_is_verified_converges_copies_and_drills(site: Site) -> None:
    first = site.run(backup_key("wiki-data"), "2026-11-20", with_checks=True)
    assert first.success, failure(first)
    m = meta(first)
    name = lh.object_name("wiki-data", "2026-11-20")
    assert m["longhorn_backup"] == f"{site.lh_ns}/{name}"
    assert m["longhorn_url"] == (f"s3://{site.bucket}@de/longhorn?backup={name}&volume="
                                 f"{site.volume}")
    assert m["volume_bytes"] > len(FILES["uploads/logo.png"]) and m["blocks"] == 2
    manifest = site.manifest("2026-11-20")
    assert manifest is not None
    keys = {o.key for o in manifest.objects}
    assert lh.backup_cfg_key("longhorn/", site.volume, name) in keys
    assert sum(k.endswith(".blk") for k in keys) == 2
    got = checks(first)
    assert got["manifest_checksums"].passed
    assert got["restore_drill"].passed, got["restore_drill"].metadata
    # The drill mounted the restored Volume and compared each file with the list the volume
    # agent made of the snapshot's clone at backup time.
    listed = next(o for o in manifest.objects if o.details.get("role") == "file-list")
    assert listed.details["files"] == len(FILES) == m["files"]
    assert got["restore_drill"].metadata["restored_files"].value == len(FILES)
    assert got["restore_drill"].metadata["restored_bytes"].value == sum(map(len,
                                                                            FILES.values()))
    for scratch in (lh.drill_volume_name("wiki-data"), lh.files_volume_name("wiki-data")):
        assert scratch not in site.objects("Volume")  # cleaned up, with their claims
        # Deleted; they go once pvc-protection and pv-protection let them (the controllers'
        # next passes: no pod uses the claim, the volume is released).
        wait_for(lambda s=scratch: site.kube.get("v1", "PersistentVolume", s) is None
                 and site.kube.get("v1", "PersistentVolumeClaim", s,
                                   site.app_ns) is None, f"the scratch claim {scratch} to go")

    again = site.run(backup_key("wiki-data"), "2026-11-20")
    assert again.success, failure(again)
    assert meta(again)["skipped"] is True
    assert site.objects("Backup") == [name] and site.objects("Snapshot") == [name]

    copy = site.run(backup_copy_key("wiki-data"), "2026-11-20", with_checks=True)
    assert copy.success, failure(copy)
    assert checks(copy)["manifest_checksums"].passed
    assert site.store.get_bytes(site.dr_bucket, lh.backup_cfg_key("longhorn/", site.volume,
                                                                  name), "eu-central-3")


def test_a_backup_in_error_fails_the_asset_until_the_next_run(site: Site) -> None:
    site.app.admin.longhorn_fault("failed to upload block: connection reset by peer")
    failed = site.run(backup_key("wiki-data"), "2026-11-21")
    assert not failed.success
    why = failure(failed)
    name = lh.object_name("wiki-data", "2026-11-21")
    assert "wiki-data" in why and "Error" in why and "connection reset" in why, why
    assert site.manifest("2026-11-21") is None  # nothing looks complete
    uid = (site.kube.get(lh.API_VERSION, "Backup", name, site.lh_ns) or {})["metadata"]["uid"]

    retry = site.run(backup_key("wiki-data"), "2026-11-21", with_checks=True)
    assert retry.success, failure(retry)
    backup = site.kube.get(lh.API_VERSION, "Backup", name, site.lh_ns) or {}
    assert backup["metadata"]["uid"] != uid and backup["status"]["state"] == "Completed"
    assert checks(retry)["restore_drill"].passed
    assert site.objects("Backup") == [name]


def test_a_backup_target_on_another_bucket_fails_naming_it(site: Site) -> None:
    site.kube.patch_merge(lh.API_VERSION, "BackupTarget", "default", site.lh_ns,
                          {"spec": {"backupTargetURL": f"s3://{site.dr_bucket}@de/lh"}})
    failed = site.run(backup_key("wiki-data"), "2026-11-22")
    assert not failed.success
    assert f"BackupTarget {site.lh_ns}/default stores in bucket" in failure(failed)
    assert site.objects("Backup") == []


def test_the_drill_catches_a_corrupted_block(site: Site) -> None:
    """A block rewritten in the bucket after the backup: the drill's re-read finds its sha256
    is not the recorded one and restores nothing."""
    first = site.run(backup_key("wiki-data"), "2026-11-23")
    assert first.success, failure(first)
    manifest = site.manifest("2026-11-23")
    assert manifest is not None
    block = next(o.key for o in manifest.objects if o.key.endswith(".blk"))
    site.store.put_bytes(site.bucket, block, gzip.compress(b"rotten"), "de")
    result = site.run(backup_key("wiki-data"), "2026-11-23", with_checks=True)
    drill = checks(result)["restore_drill"]
    assert not drill.passed
    assert block in str(drill.metadata["problems"].value)


def test_retention_deletes_an_expired_nights_backup_and_snapshot_through_longhorn(
        site: Site) -> None:
    """Past the retention (30 days by default) a partition's manifest goes, and so do its
    Longhorn Backup (Longhorn removes its cfg from the store) and Snapshot; the newer stay."""
    old, new = "2026-10-01", "2026-11-24"
    assert site.run(backup_key("wiki-data"), old).success
    # Age is when a backup was taken: make this one look taken on its own day.
    m = site.manifest(old)
    assert m is not None
    site.store.put_bytes(site.bucket, manifest_key("backups", "wiki-data", old),
                         dataclasses.replace(m, finished_at=f"{old}T02:05:00Z").to_json(), "de")
    old_name, new_name = lh.object_name("wiki-data", old), lh.object_name("wiki-data", new)
    old_cfg = lh.backup_cfg_key("longhorn/", site.volume, old_name)
    assert site.store.get_bytes(site.bucket, old_cfg, "de") is not None
    result = site.run(backup_key("wiki-data"), new)
    assert result.success, failure(result)
    assert site.manifest(old) is None and site.manifest(new) is not None
    wait_for(lambda: old_name not in site.objects("Backup"), "the expired Backup to go")
    assert site.objects("Backup") == [new_name] and site.objects("Snapshot") == [new_name]
    assert site.store.get_bytes(site.bucket, old_cfg, "de") is None


def test_the_run_account_backs_up_and_drills_under_the_shipped_policies(
        app: Any, tmp_path: Path) -> None:
    """The backup, its snapshot's clone and the drill's restore as the run's ServiceAccount (a
    TokenRequest token), with the spec's admission policies installed by the admin
    (``render_drill_guard``: platform-ops-runner-own-volumes holds the PersistentVolumes the run
    creates): the night passes, and a PV of another Volume is still denied."""
    site = Site(app, tmp_path)
    admin = site.kube
    # The RBAC derived from the spec, as deploy time applies it: the run account holds nothing
    # else (the sandbox authorizes as kube-apiserver's RBAC does).
    install(admin, render_rbac(tmp_path / "platform.yaml", include_admission_policy=False))
    policies = install(admin, render_drill_guard(tmp_path / "platform.yaml"))
    assert [p["metadata"]["name"] for p in policies] == [OWN_VOLUMES, OWN_VOLUMES]
    # Also deploy time (docs/backups.md): the volume agent's Secret, which the run only reads.
    ensure_agent_secret(admin, site.app_ns, site.store, site.spec, None, site.bucket)
    site.kube = runner_resource(app.env["KUBECONFIG"], tmp_path / "runner")
    try:
        result = site.run(backup_key("wiki-data"), "2026-11-25", with_checks=True)
        assert result.success, failure(result)
        assert checks(result)["restore_drill"].passed, checks(result)["restore_drill"].metadata
        foreign = {"apiVersion": "v1", "kind": "PersistentVolume",
                   "metadata": {"name": site.volume},
                   "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                            "csi": {"driver": lh.CSI_DRIVER, "volumeHandle": site.volume}}}
        # RBAC refuses to apply (PATCH) a PV of a name not the run's; a create, which RBAC
        # cannot limit by name, meets the policy.
        copy = {**foreign, "metadata": {"name": f"{site.volume}-copy"}}
        with pytest.raises(Exception, match="cannot patch resource"):
            site.kube.apply(copy)
        with pytest.raises(Exception, match=f"ValidatingAdmissionPolicy '{OWN_VOLUMES}'"):
            site.kube.resource("v1", "PersistentVolume").create(body=copy)
    finally:
        for obj in reversed(policies):
            admin.delete(obj["apiVersion"], obj["kind"], obj["metadata"]["name"])
