"""Backups of an existing-cluster environment to its own S3-compatible store (examples/fleet's
staging: a K3s-like cluster and the MinIO-like store beside it, both served by the sandbox):
a volume's files and its namespace's objects go to the store with the store's keys only, with
no IONOS and no AWS_* credentials set, and the restore drills pass; wrong or missing keys fail
the backup, naming the store's variables or S3's refusal. And the dump path: a MariaDB dump into
the store, its copy into an IONOS bucket, each with its own keys."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from platform_assets.definitions import build_definitions
from sandbox.app import Sandbox, start_sandbox
from tests.integration.results import step_errors
from tests.integration.test_sandbox_kubernetes import claim_user

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("fleet")]

ROOT = Path(__file__).resolve().parents[2]
FLEET = ROOT / "examples" / "fleet"
# Every credential but the store's and the staging kubeconfig: none of them may be needed.
SHARED = ("IONOS_TOKEN", "IONOS_USERNAME", "IONOS_PASSWORD", "IONOS_API_URL", "KUBECONFIG",
          "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL_S3")
BUCKET = "fleet-staging-backups"
READS = ("GET", "HEAD", "OPTIONS", "REVIEW")  # an access review writes nothing


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    # --run-jobs: the volume agent's Jobs run, on the existing cluster too.
    sb = start_sandbox(clusters=("staging",), run_jobs=True, timeout=90)
    try:
        sb.admin.add_nodes(pool="k3s", count=3, cluster="staging")
        yield sb
    finally:
        sb.stop()


@pytest.fixture()
def environ(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for key, value in sandbox.env.items():
        monkeypatch.setenv(key, value)
    for name in SHARED:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("PLATFORM_KUBE_CONTEXT", raising=False)
    return dict(sandbox.env)


def store_client(env: dict[str, str]) -> Any:
    import boto3

    return boto3.client("s3", endpoint_url=env["STAGING_S3_ENDPOINT"], region_name="us-east-1",
                        aws_access_key_id=env["STAGING_S3_ACCESS_KEY_ID"],
                        aws_secret_access_key=env["STAGING_S3_SECRET_ACCESS_KEY"])


def run(defs: dg.Definitions, instance: Any, job: str, partition: str | None = None) -> Any:
    return defs.resolve_job_def(job).execute_in_process(
        instance=instance, raise_on_error=False, partition_key=partition)


def checks_of(result: Any) -> dict[str, bool]:
    return {f"{'/'.join(ev.event_specific_data.asset_key.path)}:"
            f"{ev.event_specific_data.check_name}": ev.event_specific_data.passed
            for ev in result.all_events if ev.event_type_value == "ASSET_CHECK_EVALUATION"}


def backup_night(graph: Any, kube: Any, target: str, tmp_path: Path) -> dict[str, bool]:
    """Materialize ``target``'s backup of 2026-11-20 with its checks, against the store and
    ``kube``; the checks' outcomes by name."""
    from platform_assets.backup_assets import build_backup_assets
    from platform_assets.core.graph import backup_key
    from resources import core_resources

    assets, checks = build_backup_assets(graph)
    key = backup_key(target)
    (tmp_path / "dagster").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "dagster")) as instance:
        result = dg.materialize(
            [a for a in assets if tuple(a.key.path) == key]
            + [c for c in checks if tuple(next(iter(c.check_keys)).asset_key.path) == key],
            partition_key="2026-11-20", raise_on_error=False, instance=instance,
            resources={"object_storage": core_resources(graph)["object_storage"],
                       "kubernetes": kube})
    assert result.success, step_errors(result)
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


def test_staging_backs_up_to_its_own_store_and_drills_without_ionos_or_aws_credentials(
        sandbox: Sandbox, environ: dict[str, str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(FLEET, tmp_path / "fleet")
    defs = build_definitions(tmp_path / "fleet" / "platform.yaml")
    # The store's bucket is made by its operator (`mc mb`), as MinIO's are.
    store_client(environ).create_bucket(Bucket=BUCKET)
    partition = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%d")
    (tmp_path / "dagster").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "dagster")) as instance:
        reconciled = run(defs, instance, "reconcile_platform_staging")
        assert reconciled.success, step_errors(reconciled)
        files = {f"site/page-{i}.html": f"<p>page {i}</p>".encode() * 500 for i in range(5)}
        sandbox.admin.write_volume_files("hello", "hello-content", files, cluster="staging")

        sandbox.admin.reset_counts()
        snapshot = run(defs, instance, "snapshot_platform_staging", partition)
        assert snapshot.success, step_errors(snapshot)
        checks = checks_of(snapshot)
        for target in ("hello-content", "hello-resources"):
            assert checks[f"staging/backups/{target}:restore_drill"] is True, checks
            assert checks[f"staging/backups/{target}:manifest_checksums"] is True, checks

        requests = sandbox.admin.requests()
        assert sum(requests["ionos"].values()) == 0
        assert sum(requests["s3"].values()) == 0, "nothing reached the IONOS S3"
        assert sum(n for m, n in requests["s3-staging"].items() if m not in READS) > 0
        keys = [o["Key"] for o in store_client(environ).list_objects_v2(
            Bucket=BUCKET, Prefix="backups/")["Contents"]]
        for target in ("hello-content", "hello-resources"):
            assert f"backups/{target}/{partition}/manifest.json" in keys

        # The store checks its keys as S3 does: a wrong secret is refused, and the run says so.
        monkeypatch.setenv("STAGING_S3_SECRET_ACCESS_KEY", "not-the-secret")
        refused = run(defs, instance, "snapshot_platform_staging", "2026-11-20")
        assert not refused.success and "SignatureDoesNotMatch" in step_errors(refused)
        monkeypatch.delenv("STAGING_S3_SECRET_ACCESS_KEY")
        missing = run(defs, instance, "snapshot_platform_staging", "2026-11-20")
        assert not missing.success
        assert "set STAGING_S3_SECRET_ACCESS_KEY" in step_errors(missing)
        assert "not-the-secret" not in step_errors(refused)


def test_a_database_dump_goes_to_a_store_and_its_copy_to_an_ionos_bucket(
        sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The dump path to a store: an IONOS environment's MariaDB dumped into the store beside
    the staging cluster (its own keys), copied to an IONOS bucket (the IONOS S3's keys), both
    drilled; each S3 refuses the other's keys, so each object went with the right ones."""
    from platform_assets.backup_assets import build_backup_assets
    from platform_assets.core.graph import backup_copy_key, backup_key, build_graph
    from platform_assets.spec import load_spec
    from resources import core_resources
    from tests.integration.test_backups import SPEC, World, create_dbaas_cluster

    if not sandbox.env.get("SANDBOX_MARIADB_HOST"):
        from tests.conftest import missing_service

        missing_service("no MariaDB server reachable on 127.0.0.1:3306: apt-get install "
                        "mariadb-server")
    for key, value in sandbox.env.items():
        monkeypatch.setenv(key, value)
    w = World(dict(sandbox.env), tmp_path)
    store = ("object_stores:\n  - name: dumps\n    endpoint_env: STAGING_S3_ENDPOINT\n"
             "    bucket: {bucket}-store\n    credentials: {{access_key_id_env: "
             "STAGING_S3_ACCESS_KEY_ID, secret_access_key_env: STAGING_S3_SECRET_ACCESS_KEY}}\n")
    text = (store + SPEC).replace("  bucket: {bucket}\n  prefix", "  store: dumps\n  prefix")
    (tmp_path / "platform.yaml").write_text(text.format(
        bucket=w.bucket, dr_bucket=w.dr_bucket, database=w.database, namespace=w.namespace,
        cluster=w.cluster, secrets="false", include_kinds="[]"))
    graph = build_graph(load_spec(tmp_path / "platform.yaml"))
    assets, checks = build_backup_assets(graph)
    store_client(sandbox.env).create_bucket(Bucket=f"{w.bucket}-store")
    w.sql(f"CREATE DATABASE `{w.database}`",
          f"CREATE TABLE `{w.database}`.posts (id INT PRIMARY KEY, title VARCHAR(100))",
          f"INSERT INTO `{w.database}`.posts VALUES (1, 'one'), (2, 'two')")
    try:
        create_dbaas_cluster(w)
        keys = {backup_key("db"), backup_copy_key("db")}
        chosen = [a for a in assets if tuple(a.key.path) in keys]
        result = dg.materialize(
            [*chosen, *(c for c in checks if tuple(next(iter(c.check_keys)).asset_key.path)
                        in keys)],
            partition_key="2026-11-20", raise_on_error=False, instance=w.instance,
            resources={"object_storage": core_resources(graph)["object_storage"],
                       "ionos": w.ionos, "database": w.db})
        assert result.success, step_errors(result)
        passed = {(tuple(e.asset_key.path), e.check_name): e.passed
                  for e in result.get_asset_check_evaluations()}
        assert passed[(backup_key("db"), "restore_drill")] is True, passed
        assert passed[(backup_copy_key("db"), "manifest_checksums")] is True, passed
        listed = store_client(sandbox.env).list_objects_v2(Bucket=f"{w.bucket}-store")
        assert "backups/db/2026-11-20/manifest.json" in [o["Key"] for o in listed["Contents"]]
        assert w.manifest("db", w.dr_bucket, "eu-central-3", "2026-11-20") is not None
    finally:
        w.sql(f"DROP DATABASE IF EXISTS `{w.database}`")


VELERO_SPEC = """
apiVersion: platform-ops/v1
metadata: {name: k3s-velero}
cluster: {name: k3s-staging, kubeconfig_env: STAGING_KUBECONFIG}
object_stores:
  - name: minio
    endpoint_env: STAGING_S3_ENDPOINT
    bucket: velero-store
    credentials: {access_key_id_env: STAGING_S3_ACCESS_KEY_ID,
                  secret_access_key_env: STAGING_S3_SECRET_ACCESS_KEY}
platform:
  - name: velero
    namespace: velero
    source: {helm_release: {chart: velero, version: 8.1.0, repository: vmware-tanzu}}
applications:
  - name: todo
    namespace: todo
    source: {manifests: {path: manifests}}
backups:
  start_date: "2026-09-01"
  store: minio
  targets:
    - {name: todo, kind: resources, namespaces: [todo], method: velero,
       velero: {ttl: 240h, timeout: 1m}}
"""


def test_velero_on_the_existing_cluster_writes_to_its_store_and_is_drilled(
        sandbox: Sandbox, environ: dict[str, str], tmp_path: Path) -> None:
    """Velero on the K3s-like cluster stores into the MinIO-like store beside it (its location
    names the store's bucket and endpoint); platform-ops checks and drills it there with the
    store's keys, no IONOS or AWS_* variable set."""
    from platform_assets.core.graph import build_graph
    from platform_assets.spec import load_spec
    from resources.kubernetes import KubernetesResource
    from tests.integration.velero_cluster import install_velero

    (tmp_path / "manifests").mkdir()
    (tmp_path / "platform.yaml").write_text(VELERO_SPEC)
    graph = build_graph(load_spec(tmp_path / "platform.yaml"))
    store_client(environ).create_bucket(Bucket="velero-store")
    kube = KubernetesResource(kubeconfig_path=environ["STAGING_KUBECONFIG"])
    install_velero(sandbox, kube, "velero", "velero-store", region="us-east-1",
                   cluster="staging", store=(environ["STAGING_S3_ENDPOINT"],
                                             environ["STAGING_S3_ACCESS_KEY_ID"],
                                             environ["STAGING_S3_SECRET_ACCESS_KEY"]))
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "todo"}})
    kube.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
        "name": "settings", "namespace": "todo"}, "data": {"TODO_TITLE": "Todos"}})
    passed = backup_night(graph, kube, "todo", tmp_path)
    assert passed["restore_drill"] and passed["manifest_checksums"], passed
    listed = store_client(environ).list_objects_v2(Bucket="velero-store")
    assert "backups/todo/2026-11-20/manifest.json" in [o["Key"] for o in listed["Contents"]]


LONGHORN_SPEC = """
apiVersion: platform-ops/v1
metadata: {name: k3s-longhorn}
cluster: {name: k3s-staging, kubeconfig_env: STAGING_KUBECONFIG}
object_stores:
  - name: minio
    endpoint_env: STAGING_S3_ENDPOINT
    bucket: longhorn-store
    credentials: {access_key_id_env: STAGING_S3_ACCESS_KEY_ID,
                  secret_access_key_env: STAGING_S3_SECRET_ACCESS_KEY}
platform:
  - name: longhorn
    namespace: longhorn-system
    source: {helm_release: {chart: longhorn, version: 1.7.2, repository: longhorn}}
applications:
  - name: wiki
    namespace: wiki
    source: {manifests: {path: manifests}}
backups:
  start_date: "2026-09-01"
  store: minio
  targets:
    - {name: wiki-data, kind: volume, namespace: wiki, pvc: data, method: longhorn,
       longhorn: {timeout: 1m}}
"""


def test_longhorn_on_the_existing_cluster_writes_to_its_store_and_is_drilled(
        sandbox: Sandbox, environ: dict[str, str], tmp_path: Path) -> None:
    """Longhorn on the K3s-like cluster backs a volume up into the MinIO-like store beside it
    (its BackupTarget on the store's bucket, the store's keys and endpoint in its Secret);
    platform-ops checks the blocks there and drills the restore with the volume agent, whose
    Job gets the store's keys and endpoint."""
    from platform_assets.core import longhorn as lh
    from platform_assets.core.graph import build_graph
    from platform_assets.spec import load_spec
    from resources.kubernetes import KubernetesResource
    from tests.integration.longhorn_cluster import install_longhorn
    from tests.integration.velero_cluster import wait_for

    (tmp_path / "manifests").mkdir()
    (tmp_path / "platform.yaml").write_text(LONGHORN_SPEC)
    graph = build_graph(load_spec(tmp_path / "platform.yaml"))
    store_client(environ).create_bucket(Bucket="longhorn-store")
    kube = KubernetesResource(kubeconfig_path=environ["STAGING_KUBECONFIG"])
    install_longhorn(sandbox, kube, "longhorn-system", "longhorn-store", region="us-east-1",
                     cluster="staging", store=(environ["STAGING_S3_ENDPOINT"],
                                               environ["STAGING_S3_ACCESS_KEY_ID"],
                                               environ["STAGING_S3_SECRET_ACCESS_KEY"]))
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "wiki"}})
    kube.apply({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                "metadata": {"name": "data", "namespace": "wiki"},
                "spec": {"accessModes": ["ReadWriteOnce"],
                         "resources": {"requests": {"storage": "1Gi"}}}})
    # The wiki's Pod: K3s's local-path class binds WaitForFirstConsumer.
    kube.apply({**claim_user("data"), "metadata": {"name": "wiki", "namespace": "wiki"}})
    pvc = wait_for(lambda: (c := kube.get("v1", "PersistentVolumeClaim", "data", "wiki"))
                   and (c.get("spec") or {}).get("volumeName") and c, "the claim")
    sandbox.admin.write_volume_files("wiki", "data", {"pages/home.md": b"# Wiki\n" * 100},
                                     cluster="staging")
    kube.apply({"apiVersion": lh.API_VERSION, "kind": "Volume",
                "metadata": {"name": pvc["spec"]["volumeName"], "namespace": "longhorn-system"},
                "spec": {"size": str(2**30), "numberOfReplicas": 3}})
    passed = backup_night(graph, kube, "wiki-data", tmp_path)
    assert passed["restore_drill"] and passed["manifest_checksums"], passed
    listed = store_client(environ).list_objects_v2(Bucket="longhorn-store")
    assert "backups/wiki-data/2026-11-20/manifest.json" in [o["Key"] for o in listed["Contents"]]
