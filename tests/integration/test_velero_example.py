"""examples/velero end to end on the sandbox: reconcile_platform installs Velero by its chart (the
sandbox's Flux creates the chart's server Deployment and storage location, chart_objects.py),
the credentials Secret is created at deploy time, and snapshot_platform backs the todo
application up through Velero on IONOS S3 (the sandbox's S3), copies it and drills it.

Sources: the Velero chart's templates (vmware-tanzu/helm-charts ``charts/velero/templates``:
``deployment.yaml``, ``backupstoragelocation.yaml``, ``_helpers.tpl``); IONOS S3's regional
endpoint for ``de`` is ``s3.eu-central-1.ionoscloud.com`` (shared/reference/ionos-cloud-api.md).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from platform_assets.core import velero as v
from platform_assets.definitions import build_definitions
from platform_assets.names import RECONCILE_JOB, SNAPSHOT_JOB
from resources.kubernetes import KubernetesResource
from tests.integration.results import step_errors
from tests.integration.velero_cluster import wait_for

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "velero"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Any]:
    from sandbox.app import start_sandbox

    app = start_sandbox(timeout=120.0)
    try:
        yield app
    finally:
        app.stop()


def _reconciled(sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                instance: Any) -> tuple[dg.Definitions, KubernetesResource]:
    """The example reconciled as the admin, with its deploy-time credentials Secret and the
    chart's storage location Available."""
    for key, value in sandbox.env.items():
        monkeypatch.setenv(key, value)
    shutil.copytree(EXAMPLE, tmp_path / "velero")
    defs = build_definitions(tmp_path / "velero" / "platform.yaml")
    kube = KubernetesResource(kubeconfig_path=sandbox.env["KUBECONFIG"])
    reconcile = defs.resolve_job_def(RECONCILE_JOB).execute_in_process(
        instance=instance, raise_on_error=False)
    assert reconcile.success, step_errors(reconcile)
    server = kube.get("apps/v1", "Deployment", "velero", "velero") or {}
    volumes = server["spec"]["template"]["spec"]["volumes"]
    assert {x["name"]: x.get("secret", {}).get("secretName") for x in volumes} == {
        "cloud-credentials": "velero-credentials"}
    # Deploy time: the S3 key Velero's chart expects in its existing Secret.
    cloud = (f"[default]\naws_access_key_id={sandbox.env['AWS_ACCESS_KEY_ID']}\n"
             f"aws_secret_access_key={sandbox.env['AWS_SECRET_ACCESS_KEY']}\n")
    kube.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {
        "name": "velero-credentials", "namespace": "velero"}, "stringData": {"cloud": cloud}})
    wait_for(lambda: ((kube.get("velero.io/v1", "BackupStorageLocation", "default",
                                "velero") or {}).get("status") or {}).get("phase")
             == "Available", "the chart's storage location to be Available")
    return defs, kube


def test_the_velero_example_reconciles_backs_up_and_drills(
        sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "dagster").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "dagster")) as instance:
        defs, kube = _reconciled(sandbox, tmp_path, monkeypatch, instance)
        snapshot = defs.resolve_job_def(SNAPSHOT_JOB).execute_in_process(
            instance=instance, raise_on_error=False, partition_key="2026-11-25")
        assert snapshot.success, step_errors(snapshot)
        checks = {e.check_name: e for e in snapshot.get_asset_check_evaluations()
                  if e.asset_key == dg.AssetKey(["backups", "todoapp"])}
        assert checks["restore_drill"].passed, checks["restore_drill"].metadata
        backup = kube.get("velero.io/v1", "Backup", v.backup_name("todoapp", "2026-11-25"),
                          "velero") or {}
        assert backup["status"]["phase"] == "Completed"
        assert backup["status"]["progress"]["itemsBackedUp"] >= 8  # the app's objects


def test_the_run_account_backs_up_and_drills_through_velero_with_its_derived_rbac(
        sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Velero backup, its copy and restore drill as the run's ServiceAccount holding only
    the RBAC derived from the example (render_rbac, applied by the admin at deploy time), on
    the sandbox that authorizes as kube-apiserver's RBAC does."""
    from platform_assets.backup_assets import build_backup_assets
    from platform_assets.core.graph import build_graph
    from platform_assets.core.rbac import render_rbac
    from platform_assets.spec import load_spec
    from resources.object_storage import ObjectStorageResource
    from tests.integration.run_account import install, runner_resource

    (tmp_path / "dagster").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "dagster")) as instance:
        _defs, kube = _reconciled(sandbox, tmp_path, monkeypatch, instance)
    spec_path = tmp_path / "velero" / "platform.yaml"
    install(kube, render_rbac(spec_path))
    runner = runner_resource(sandbox.env["KUBECONFIG"], tmp_path / "runner")
    store = ObjectStorageResource(
        access_key_id=sandbox.env["AWS_ACCESS_KEY_ID"],
        secret_access_key=sandbox.env["AWS_SECRET_ACCESS_KEY"],
        endpoint_url=sandbox.env["AWS_ENDPOINT_URL_S3"], default_region="de")
    assets, checks = build_backup_assets(build_graph(load_spec(spec_path)))
    key = dg.AssetKey(["backups", "todoapp"])
    result = dg.materialize(
        [next(a for a in assets if a.key == key),
         *(c for c in checks if next(iter(c.check_keys)).asset_key == key)],
        partition_key="2026-11-24", raise_on_error=False,
        resources={"object_storage": store, "kubernetes": runner})
    assert result.success, step_errors(result)
    got = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert got["restore_drill"].passed, got["restore_drill"].metadata
