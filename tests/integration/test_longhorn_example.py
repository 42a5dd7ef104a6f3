"""examples/longhorn end to end on the sandbox, as ``./dev.sh demo`` runs it: reconcile_platform
installs Flux and Longhorn by its chart (the sandbox's Flux creates the chart's manager
DaemonSet, driver deployer, UI, StorageClass ``longhorn`` and default BackupTarget,
chart_objects.py), the applications' claims get Longhorn Volumes, a second reconcile writes
nothing; after the deploy-time credential Secret, snapshot_platform backs the three volumes up
through Longhorn, copies them and drills each (files compared).

Sources: longhorn/longhorn ``chart/templates`` (chart 1.7.2: ``daemonset-sa.yaml``,
``deployment-driver.yaml``, ``deployment-ui.yaml``, ``storageclass.yaml``); longhorn-manager
``controller/setting_controller.go`` (the default BackupTarget from ``defaultSettings``) and
``csi/controller_server.go`` (CreateVolume: a Volume named after the PV); longhorn/backupstore
``s3/s3.go`` (the credential Secret's ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
``AWS_ENDPOINTS``).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from platform_assets.__main__ import writes_of
from platform_assets.core import longhorn as lh
from platform_assets.definitions import build_definitions
from platform_assets.names import RECONCILE_JOB, SNAPSHOT_JOB
from resources.kubernetes import KubernetesResource
from tests.integration.results import step_errors
from tests.integration.velero_cluster import wait_for

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "longhorn"
VOLUMES = {"bookstack-data": ("bookstack", "bookstack-longhorn"),
           "zammad-data": ("zammad", "zammad-longhorn"),
           "grafana-data": ("monitoring", "grafana-longhorn")}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Any]:
    from sandbox.app import start_sandbox

    app = start_sandbox(timeout=120.0, run_jobs=True)  # the volume agent's Jobs run
    try:
        yield app
    finally:
        app.stop()


def test_the_longhorn_example_reconciles_twice_backs_up_and_drills(
        sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in sandbox.env.items():
        monkeypatch.setenv(key, value)
    shutil.copytree(EXAMPLE, tmp_path / "longhorn")
    defs = build_definitions(tmp_path / "longhorn" / "platform.yaml")
    kube = KubernetesResource(kubeconfig_path=sandbox.env["KUBECONFIG"])
    (tmp_path / "dagster").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "dagster")) as instance:
        first = defs.resolve_job_def(RECONCILE_JOB).execute_in_process(
            instance=instance, raise_on_error=False)
        assert first.success, step_errors(first)
        sandbox.admin.reset_counts()
        second = defs.resolve_job_def(RECONCILE_JOB).execute_in_process(
            instance=instance, raise_on_error=False)
        assert second.success, step_errors(second)
        assert writes_of(sandbox.admin.requests()) == 0

        manager = kube.get("apps/v1", "DaemonSet", "longhorn-manager", "longhorn-system") or {}
        assert int(manager["status"]["numberAvailable"]) > 0
        sc = kube.get("storage.k8s.io/v1", "StorageClass", "longhorn") or {}
        assert sc["provisioner"] == "driver.longhorn.io"
        target = kube.get(lh.API_VERSION, "BackupTarget", "default", "longhorn-system") or {}
        assert target["spec"]["backupTargetURL"] == "s3://vkm-backups@de/longhorn"
        for ns, claim in VOLUMES.values():
            pvc = wait_for(lambda ns=ns, claim=claim: (kube.get(
                "v1", "PersistentVolumeClaim", claim, ns) or {}).get("spec", {}).get(
                "volumeName"), f"{ns}/{claim} to bind")
            assert kube.get(lh.API_VERSION, "Volume", pvc, "longhorn-system") is not None
            sandbox.admin.write_volume_files(ns, claim, {f"{claim}/a.txt": b"hello " * 900})

        # Deploy time: the backup target's credential Secret the chart's settings name.
        kube.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {
            "name": "longhorn-backup-secret", "namespace": "longhorn-system"}, "stringData": {
            "AWS_ACCESS_KEY_ID": sandbox.env["AWS_ACCESS_KEY_ID"],
            "AWS_SECRET_ACCESS_KEY": sandbox.env["AWS_SECRET_ACCESS_KEY"],
            "AWS_ENDPOINTS": sandbox.env["AWS_ENDPOINT_URL_S3"]}})
        wait_for(lambda: ((kube.get(lh.API_VERSION, "BackupTarget", "default",
                                    "longhorn-system") or {}).get("status") or {}).get(
            "available"), "the backup target to be available")
        snapshot = defs.resolve_job_def(SNAPSHOT_JOB).execute_in_process(
            instance=instance, raise_on_error=False, partition_key="2026-11-25")
        assert snapshot.success, step_errors(snapshot)
        drills = {e.asset_key.path[-1]: e for e in snapshot.get_asset_check_evaluations()
                  if e.check_name == "restore_drill"}
        assert set(drills) == set(VOLUMES)
        for name, drill in drills.items():
            assert drill.passed, (name, drill.metadata)
            assert drill.metadata["restored_files"].value == 1
