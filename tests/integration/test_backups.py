"""Backups on the sandbox and the real MariaDB: targets, copies, drills, retention, RPO, faults."""

from __future__ import annotations

import base64
import dataclasses
import os
import time
import uuid
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from platform_assets.backup_assets import build_backup_assets
from platform_assets.backups.streams import Encoding, decode, gzip_blocks, parse_key
from platform_assets.core import restore
from platform_assets.core.backup_manifest import Manifest, manifest_key, snapshot_name
from platform_assets.core.graph import backup_copy_key, backup_key, build_graph
from platform_assets.names import drill_namespace
from platform_assets.spec import load_spec
from resources.database import DatabaseDumpResource, DumpFailed
from resources.ionos import IonosCloudResource
from resources.kubernetes import KubernetesResource
from resources.object_storage import ObjectStorageResource
from tests.conftest import missing_service
from tests.integration.test_sandbox_kubernetes import claim_user

pytestmark = pytest.mark.integration

PARTITION = "2026-11-20"
KEY = base64.b64encode(bytes(range(32))).decode()
SPEC = """
apiVersion: platform-ops/v1
metadata: {{name: backup-test, owners: [team:test]}}
ionos:
  datacenter: {{name: bk-dc, location: de/fra}}
  lans: [{{name: lan1}}]
  cluster:
    name: bk-cluster
    k8s_version: 1.32.6
    maintenance_window: {{day: Sunday, time: "10:00"}}
  node_pools:
    - {{name: pool, node_count: 1, cores: 2, ram: 4GB, storage_size: 20GB}}
  mariadb:
    name: {cluster}
    lan: lan1
    cidr: 10.7.222.100/24
    maintenance_window: {{day: Sunday, time: "09:00"}}
    database: {database}
    username: bkuser
  buckets:
    - {{name: {bucket}, region: de}}
    - {{name: {dr_bucket}, region: eu-central-3}}
platform:
  - name: app
    namespace: {namespace}
    source: {{manifests: {{path: manifests}}}}
backups:
  start_date: "2026-09-01"
  retention_days: 30
  rpo: 24h
  rto: 4h
  bucket: {bucket}
  prefix: backups
  cross_region_copy: {{bucket: {dr_bucket}}}
  compression: {{algorithm: zstd, level: 3, threads: 2}}
  encryption: {{key_env: BK_TEST_KEY}}
  targets:
    - {{name: db, kind: database, databases: [{database}]}}
    - {{name: res, kind: resources, namespaces: [{namespace}], include_secrets: {secrets},
        include_kinds: {include_kinds}}}
    - {{name: vol, kind: volume, protects: app, namespace: {namespace}, pvc: data}}
    - {{name: csi, kind: volume, protects: app, namespace: {namespace}, pvc: data,
        method: csi-snapshot}}
"""


class World:
    """One test's spec, buckets, database, namespace and resources."""

    def __init__(self, env: dict[str, str], tmp: Path, secrets: bool = False,
                 create_buckets: bool = True, include_kinds: str = "[]"):
        tag = uuid.uuid4().hex[:8]
        self.env = env
        self.bucket, self.dr_bucket = f"bk-{tag}", f"bk-dr-{tag}"
        self.database, self.namespace = f"bk_{tag}", f"bk-{tag}"
        self.cluster = f"bk-db-{tag}"
        (tmp / "manifests").mkdir(exist_ok=True)
        self.path = path = tmp / "platform.yaml"
        path.write_text(SPEC.format(bucket=self.bucket, dr_bucket=self.dr_bucket,
                                    database=self.database, namespace=self.namespace,
                                    cluster=self.cluster, secrets=str(secrets).lower(),
                                    include_kinds=include_kinds))
        self.spec = load_spec(path)
        os.environ["BK_TEST_KEY"] = KEY
        # One instance for the World's runs: the drills read what the backup runs recorded.
        self.instance = dg.DagsterInstance.ephemeral()
        self.graph = build_graph(self.spec)
        self.assets, self.checks = build_backup_assets(self.graph)
        self.store = ObjectStorageResource(
            access_key_id=env["AWS_ACCESS_KEY_ID"], secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            endpoint_url=env["AWS_ENDPOINT_URL_S3"], default_region="de",
            retry_attempts=3, retry_max_wait_seconds=0.2)
        if create_buckets:
            for name, region in ((self.bucket, "de"), (self.dr_bucket, "eu-central-3")):
                self.store.client(region).create_bucket(
                    Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})
        self.ionos = IonosCloudResource(api_url=env["IONOS_API_URL"],
                                        mariadb_url=env["IONOS_MARIADB_URL"],
                                        token=env["IONOS_TOKEN"], poll_interval_seconds=0.05,
                                        retry_attempts=3, retry_max_wait_seconds=0.2)
        self.kube = KubernetesResource(kubeconfig_path=env["KUBECONFIG"], retry_attempts=3,
                                       retry_max_wait_seconds=0.2)
        self.db = DatabaseDumpResource(host=env.get("SANDBOX_MARIADB_HOST", ""),
                                       port=int(env.get("SANDBOX_MARIADB_PORT", "3306")),
                                       user=env.get("SANDBOX_MARIADB_USER", "root"),
                                       password=env.get("SANDBOX_MARIADB_PASSWORD", ""))

    def resources(self, **override: Any) -> dict[str, Any]:
        return {"object_storage": self.store, "ionos": self.ionos, "kubernetes": self.kube,
                "database": self.db, **override}

    def asset(self, key: tuple[str, ...]) -> Any:
        return next(a for a in self.assets if a.key == dg.AssetKey(list(key)))

    def checks_of(self, key: tuple[str, ...]) -> list[Any]:
        return [c for c in self.checks
                if next(iter(c.check_keys)).asset_key == dg.AssetKey(list(key))]

    def run(self, keys: list[tuple[str, ...]], partition: str = PARTITION,
            with_checks: bool = True, config: dict[str, Any] | None = None,
            instance: dg.DagsterInstance | None = None,
            **override: Any) -> dg.ExecuteInProcessResult:
        assets = [self.asset(k) for k in keys]
        checks = [c for k in keys for c in self.checks_of(k)] if with_checks else []
        run_config = {"ops": {a.op.name: {"config": config} for a in assets}} if config else None
        return dg.materialize([*assets, *checks], partition_key=partition,
                              resources=self.resources(**override), raise_on_error=False,
                              run_config=run_config, instance=instance or self.instance)

    def keys(self, bucket: str | None = None, region: str = "de") -> list[str]:
        return self.store.list_keys(bucket or self.bucket, "backups/", region)

    def manifest(self, target: str, bucket: str | None = None, region: str = "de",
                 partition: str = PARTITION) -> Manifest | None:
        raw = self.store.get_bytes(bucket or self.bucket, manifest_key("backups", target,
                                                                       partition), region)
        return Manifest.from_json(raw) if raw else None

    def sql(self, *statements: str) -> None:
        with self.db.connect() as conn, conn.cursor() as cur:
            for s in statements:
                cur.execute(s)


def materialization(result: dg.ExecuteInProcessResult, key: tuple[str, ...]) -> dict[str, Any]:
    mats = [e.materialization for e in result.get_asset_materialization_events()
            if e.materialization.asset_key == dg.AssetKey(list(key))]
    assert mats, f"{key} was not materialized"
    return {k: v.value for k, v in mats[-1].metadata.items()}


def check_results(result: dg.ExecuteInProcessResult, key: tuple[str, ...]) -> dict[str, Any]:
    out = {}
    for e in result.get_asset_check_evaluations():
        if e.asset_key == dg.AssetKey(list(key)):
            out[e.check_name] = e
    return out


def failure_message(result: dg.ExecuteInProcessResult) -> str:
    return "\n".join(str(e.step_failure_data.error.message)
                     for e in result.get_step_failure_events() if e.step_failure_data.error)


@pytest.fixture
def world(sandbox_env: dict[str, str], tmp_path: Path) -> World:
    return World(sandbox_env, tmp_path)


@pytest.fixture
def mariadb(world: World) -> Any:
    if not world.env.get("SANDBOX_MARIADB_HOST"):
        missing_service("no MariaDB server reachable (the sandbox sets SANDBOX_MARIADB_HOST when "
                        "one answers on 127.0.0.1:3306): apt-get install mariadb-server")
    world.sql(f"CREATE DATABASE `{world.database}`",
              f"CREATE TABLE `{world.database}`.posts (id INT PRIMARY KEY, title VARCHAR(100), "
              "body TEXT)",
              f"CREATE TABLE `{world.database}`.users (id INT PRIMARY KEY, name VARCHAR(50))",
              f"INSERT INTO `{world.database}`.posts VALUES " + ",".join(
                  f"({i}, 'post {i}', REPEAT('x', {i * 7}))" for i in range(1, 201)),
              f"INSERT INTO `{world.database}`.users VALUES (1, 'ada'), (2, 'grace')")
    yield world
    world.sql(f"DROP DATABASE IF EXISTS `{world.database}`")


def create_dbaas_cluster(world: World) -> str:
    """A DBaaS cluster for the spec's MariaDB (the sandbox points it at the real server)."""
    import ionoscloud_dbaas_mariadb as mdb

    dcs = world.ionos.api("DataCentersApi")
    dc = dcs.datacenters_post({"properties": {"name": "bk-dc", "location": "de/fra"}})
    body = mdb.ClusterCreate.from_dict({"properties": {
        "name": world.cluster, "mariadbVersion": "10.11", "version": "10.11",
        "instances": {"count": 1, "ram": 4, "cores": 1, "storageSize": 10},
        "connections": [{"datacenterId": dc.id, "lanId": "1", "cidr": "10.7.222.100/24"}],
        "connection": {"datacenterId": dc.id, "lanId": "1",
                       "primaryInstanceAddress": "10.7.222.100/24"},
        "maintenanceWindow": {"time": "09:00:00", "dayOfTheWeek": "Sunday"},
        "credentials": {"username": "bkuser", "password": "bk-password-123",
                        "database": world.database}}})
    created = mdb.ClustersApi(world.ionos.mariadb_client()).clusters_post(body)
    return str(created.id)


def make_pvc(world: World) -> dict[str, Any]:
    """Namespace, a ConfigMap, a Secret and a bound PVC (the sandbox provisions its volume)."""
    kube = world.kube
    kube.apply({"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": world.namespace}})
    kube.apply({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "settings", "namespace": world.namespace},
                "data": {"mode": "production", "replicas": "2"}})
    kube.apply({"apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": "token", "namespace": world.namespace},
                "stringData": {"token": "s3cr3t"}})
    kube.apply({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                "metadata": {"name": "data", "namespace": world.namespace},
                "spec": {"accessModes": ["ReadWriteOnce"],
                         "resources": {"requests": {"storage": "1Gi"}}}})
    # The application's Deployment, its Pod on a node: the claim's class binds
    # WaitForFirstConsumer.
    if not kube.list("v1", "Node"):
        from sandbox.admin import AdminClient

        AdminClient(world.env["SANDBOX_ADMIN_URL"]).add_nodes()
    labels = {"app": "app"}
    kube.apply({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "app", "namespace": world.namespace},
                "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                         "template": {"metadata": {"labels": labels},
                                      "spec": claim_user("data")["spec"]}}})
    deadline = time.monotonic() + 20
    while True:
        pvc = kube.get("v1", "PersistentVolumeClaim", "data", world.namespace) or {}
        if (pvc.get("spec") or {}).get("volumeName") and \
                (pvc.get("status") or {}).get("phase") == "Bound":
            return pvc
        assert time.monotonic() < deadline, f"PVC not bound: {pvc.get('status')}"
        time.sleep(0.2)


def test_database_dump_manifest_copy_and_restore_drill(mariadb: World) -> None:
    w = mariadb
    cluster_id = create_dbaas_cluster(w)
    before = w.db.table_stats(w.database)
    result = w.run([backup_key("db"), backup_copy_key("db")])
    assert result.success, failure_message(result)

    meta = materialization(result, backup_key("db"))
    assert meta["objects"] == 1 and meta["bytes"] > 100 and meta["skipped"] is False
    assert meta["tables"] == 2
    m = w.manifest("db")
    assert m is not None and m.partition == PARTITION and m.kind == "database"
    obj = m.objects[0]
    assert obj.key.startswith(f"backups/db/{PARTITION}/{m.attempt}/")
    assert obj.details["tables"] == before
    assert "mariadb-dump" in m.tool_versions
    assert m.details["dbaas"]["cluster"] == cluster_id
    assert w.store.sha256_of(w.bucket, obj.key) == (obj.size, obj.sha256)

    # The cross-region copy lives in the other region's bucket, checksums equal.
    dr = w.manifest("db", w.dr_bucket, "eu-central-3")
    assert dr is not None and [o.sha256 for o in dr.objects] == [obj.sha256]
    assert w.store.sha256_of(w.dr_bucket, obj.key, "eu-central-3") == (obj.size, obj.sha256)

    checks = check_results(result, backup_key("db"))
    # The dump was taken just now (a backfilled day holds today's data), so the RPO holds.
    assert {n: c.passed for n, c in checks.items()} == {
        "rpo": True, "retention_compliance": True, "manifest_checksums": True,
        "restore_drill": True}
    drill = checks["restore_drill"].metadata
    assert drill["tables"].value == 2 and drill["restore_seconds"].value > 0
    assert check_results(result, backup_copy_key("db"))["manifest_checksums"].passed

    # Idempotent: a second run of the same day writes nothing new.
    keys = w.keys()
    again = w.run([backup_key("db"), backup_copy_key("db")], with_checks=False)
    assert again.success, failure_message(again)
    assert materialization(again, backup_key("db"))["skipped"] is True
    assert materialization(again, backup_copy_key("db"))["skipped"] is True
    assert w.keys() == keys


def test_drill_catches_a_table_that_differs(mariadb: World) -> None:
    w = mariadb
    assert w.run([backup_key("db")], with_checks=False).success
    # The dump restores, but into tables that differ from those recorded at dump time.
    w.sql(f"UPDATE `{w.database}`.users SET name='eve' WHERE id=1")
    m = w.manifest("db")
    assert m is not None
    changed = dataclasses.replace(m.objects[0], details={
        **m.objects[0].details, "tables": w.db.table_stats(w.database)})
    w.store.put_bytes(w.bucket, manifest_key("backups", "db", PARTITION),
                      dataclasses.replace(m, objects=(changed,)).to_json())
    result = dg.materialize([w.asset(backup_key("db")), *w.checks_of(backup_key("db"))],
                            selection=dg.AssetSelection.checks(
                                *[next(iter(c.check_keys)) for c in w.checks_of(
                                    backup_key("db"))]),
                            resources=w.resources(), raise_on_error=False, instance=w.instance)
    checks = check_results(result, backup_key("db"))
    assert checks["restore_drill"].passed is False
    assert "users: checksum" in checks["restore_drill"].metadata["problems"].value
    assert checks["manifest_checksums"].passed  # the bytes are the ones the run wrote


PLANTED = ("CREATE TABLE planted (id INT);\n\\! touch {marker}\n"
           "USE {victim};\nCREATE TABLE pwned (id INT);\n")


def test_a_planted_dump_cannot_run_commands_or_reach_another_database(
        mariadb: World, tmp_path: Path) -> None:
    """Issue 15 finding 2, against the real client and server: the restore runs
    ``mariadb --sandbox`` as a user limited to the scratch database."""
    from resources.database import DumpFailed

    w = mariadb
    marker = tmp_path / "shell-ran"
    attacks = {
        f"CREATE TABLE t (id INT);\n\\! touch {marker}\n": "--sandbox",
        f"CREATE TABLE t (id INT);\nUSE `{w.database}`;\nCREATE TABLE pwned (id INT);\n":
            "outside its scratch database",
        f"CREATE TABLE t (id INT);\nCREATE TABLE `{w.database}`.pwned (id INT);\n":
            "outside its scratch database",
        "CREATE TABLE t (a TEXT);\nLOAD DATA LOCAL INFILE '/etc/hostname' INTO TABLE t;\n":
            "local infile",
    }
    for sql, why in attacks.items():
        with pytest.raises(DumpFailed, match=why):
            w.db.restore("drill_planted", iter([sql.encode()]))
        w.db.drop_database("drill_planted")
    assert not marker.exists()
    assert set(w.db.table_stats(w.database)) == {"posts", "users"}
    with w.db.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM mysql.user WHERE user = 'drill_planted'")
        assert cur.fetchone()[0] == 0  # the drill user went with the restore
    # A dump that stays in its database restores as before.
    assert w.db.restore("drill_planted", iter([b"CREATE TABLE t (id INT);\n"]))
    w.db.drop_database("drill_planted")
    # Where the dumping account may not create users: a drill account limited to drill_%.
    w.sql("CREATE OR REPLACE USER 'bkdrill'@'%' IDENTIFIED BY 'drill-pw-1'",
          "GRANT ALL PRIVILEGES ON `drill\\_%`.* TO 'bkdrill'@'%'")
    try:
        limited = DatabaseDumpResource(
            host=w.db.host, port=w.db.port, user=w.db.user, password=w.db.password,
            drill_user="bkdrill", drill_password="drill-pw-1")
        with pytest.raises(DumpFailed, match="outside its scratch database"):
            limited.restore("drill_planted", iter([
                f"USE `{w.database}`;\nCREATE TABLE pwned (id INT);\n".encode()]))
        assert limited.restore("drill_planted", iter([b"CREATE TABLE t (a INT);"]))
        limited.drop_database("drill_planted")
    finally:
        w.sql("DROP USER IF EXISTS 'bkdrill'@'%'")
    assert set(w.db.table_stats(w.database)) == {"posts", "users"}


def test_a_planted_object_with_a_matching_manifest_fails_the_drill_naming_it(
        mariadb: World, tmp_path: Path) -> None:
    """Whoever can write the bucket can write a dump and a manifest that vouches for it; the
    drill checks both against what the backup run recorded in Dagster and restores nothing."""
    w = mariadb
    assert w.run([backup_key("db")], with_checks=False).success
    m = w.manifest("db")
    assert m is not None
    key = m.objects[0].key
    marker = tmp_path / "shell-ran"
    planted = PLANTED.format(marker=marker, victim=w.database).encode()
    w.store.put_bytes(w.bucket, key, planted)
    size, digest = w.store.sha256_of(w.bucket, key) or (0, "")
    forged = dataclasses.replace(m, objects=(dataclasses.replace(m.objects[0], size=size,
                                                                 sha256=digest),))
    w.store.put_bytes(w.bucket, manifest_key("backups", "db", PARTITION), forged.to_json())
    result = w.run([backup_key("db")])  # skipped (the partition has a manifest), then checks
    checks = check_results(result, backup_key("db"))
    drill = checks["restore_drill"]
    assert drill.passed is False
    problems = drill.metadata["problems"].value
    assert key in problems and "the backup run recorded" in problems
    assert drill.metadata["restored_bytes"].value == 0
    assert checks["manifest_checksums"].passed is False
    assert key in checks["manifest_checksums"].metadata["problems"].value
    assert not marker.exists()
    assert set(w.db.table_stats(w.database)) == {"posts", "users"}

    # A drill of a partition no run recorded (planted whole, or taken elsewhere) fails too.
    result = w.run([backup_key("db")], instance=dg.DagsterInstance.ephemeral())
    problems = check_results(result, backup_key("db"))["restore_drill"].metadata[
        "problems"].value
    assert "recorded its objects in Dagster" in problems


def test_flipped_bytes_in_an_object_are_caught(mariadb: World) -> None:
    w = mariadb
    assert w.run([backup_key("db"), backup_copy_key("db")], with_checks=False).success
    m = w.manifest("db")
    assert m is not None
    key = m.objects[0].key
    data = bytearray(b"".join(w.store.open_stream(w.bucket, key)))
    data[len(data) // 2] ^= 0xFF
    w.store.put_bytes(w.bucket, key, bytes(data))
    result = w.run([backup_key("db")])
    checks = check_results(result, backup_key("db"))
    assert checks["manifest_checksums"].passed is False
    assert "sha256" in checks["manifest_checksums"].metadata["problems"].value
    assert checks["restore_drill"].passed is False
    assert f"{key}: the bucket has" in checks["restore_drill"].metadata["problems"].value
    # The DR copy is intact and still verifies.
    result = w.run([backup_copy_key("db")])
    assert check_results(result, backup_copy_key("db"))["manifest_checksums"].passed


def test_unreachable_database_and_wrong_credentials_fail_clearly_others_still_run(
        mariadb: World) -> None:
    w = mariadb
    make_pvc(w)
    unreachable = DatabaseDumpResource(host="127.0.0.1", port=1)
    result = w.run([backup_key("db"), backup_key("res")], with_checks=False,
                   database=unreachable)
    assert not result.success
    msg = failure_message(result)
    assert "backup db (database, 2026-11-20) failed" in msg and "server unreachable" in msg
    assert materialization(result, backup_key("res"))["objects"] == 1
    assert w.keys() == [k for k in w.keys() if "/db/" not in k]

    wrong = DatabaseDumpResource(host=w.db.host, port=w.db.port, user="root",
                                 password="definitely-wrong")
    result = w.run([backup_key("db")], with_checks=False, database=wrong)
    assert "wrong credentials" in failure_message(result)
    assert "definitely-wrong" not in failure_message(result)
    assert w.manifest("db") is None

    result = w.run([backup_key("db")], with_checks=False)
    assert result.success, failure_message(result)


_FAULT_AFTER: dict[str, Any] = {}


class FaultAfterBytes(DatabaseDumpResource):
    """The real dump, but S3 (in the sandbox) starts failing after some bytes went by."""

    def dump(self, database: str, host: str | None = None) -> Any:
        sent = 0
        for chunk in super().dump(database, host):
            sent += len(chunk)
            if sent >= _FAULT_AFTER["bytes"] and "sandbox" in _FAULT_AFTER:
                _FAULT_AFTER.pop("sandbox").set_fault("s3", error_rate=1.0, statuses=[500],
                                                      methods=["PUT"])
            yield chunk


def test_s3_failing_mid_upload_leaves_nothing_and_the_next_run_succeeds(
        sandbox: Any, mariadb: World) -> None:
    w = mariadb
    # ~12 MB of random bytes: the gzip dump spans three 5 MB parts.
    w.sql(f"CREATE TABLE `{w.database}`.blobs (id INT PRIMARY KEY, b LONGBLOB)")
    with w.db.connect(database=w.database) as conn, conn.cursor() as cur:
        for i in range(12):
            cur.execute("INSERT INTO blobs VALUES (%s, %s)", (i, os.urandom(1024 * 1024)))
    # S3 starts failing once the first part is on its way (the dump side triggers the fault).
    _FAULT_AFTER.update(sandbox=sandbox, bytes=6 * 1024 * 1024)
    faulty = FaultAfterBytes(host=w.db.host, port=w.db.port, user=w.db.user,
                             password=w.db.password)
    try:
        result = w.run([backup_key("db")], with_checks=False, config={"part_size_mb": 5},
                       database=faulty)
    finally:
        sandbox.clear_faults()
    assert not result.success
    msg = failure_message(result)
    assert "backup db (database, 2026-11-20) failed" in msg and "UploadPart" in msg
    assert w.keys() == []  # no object, no manifest
    client = w.store.client("de")
    assert not client.list_multipart_uploads(Bucket=w.bucket).get("Uploads")

    result = w.run([backup_key("db")], with_checks=False, config={"part_size_mb": 5})
    assert result.success, failure_message(result)
    m = w.manifest("db")
    assert m is not None and m.objects[0].size > 10 * 1024 * 1024


def test_missing_bucket_fails_naming_target_and_bucket(sandbox_env: dict[str, str],
                                                       tmp_path: Path) -> None:
    w = World(sandbox_env, tmp_path, create_buckets=False)
    make_pvc(w)
    result = w.run([backup_key("res")], with_checks=False)
    assert not result.success
    msg = failure_message(result)
    assert "backup res (resources, 2026-11-20) failed" in msg and "NoSuchBucket" in msg


@pytest.mark.parametrize("secrets", [False, True])
def test_resources_export_and_restore_drill(sandbox_env: dict[str, str], tmp_path: Path,
                                            secrets: bool) -> None:
    import yaml

    w = World(sandbox_env, tmp_path, secrets=secrets)
    make_pvc(w)
    # A Service holds a clusterIP the server allocated: a drill that re-sent it into the scratch
    # namespace would get the 422 "provided IP is already allocated" of a real server.
    w.kube.apply({"apiVersion": "v1", "kind": "Service",
                  "metadata": {"name": "web", "namespace": w.namespace},
                  "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}})
    w.kube.apply({"apiVersion": "apps/v1", "kind": "Deployment",
                  "metadata": {"name": "web", "namespace": w.namespace},
                  "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                           "template": {"metadata": {"labels": {"app": "web"}},
                                        "spec": {"containers": [{"name": "web",
                                                                 "image": "nginx:1.27"}]}}}})
    # A bare Pod (no owner) would run wherever it is created: the drill only dry-runs it,
    # which the restricted drill namespace's PodSecurity admission still judges.
    w.kube.apply({"apiVersion": "v1", "kind": "Pod",
                  "metadata": {"name": "runner", "namespace": w.namespace},
                  "spec": {"securityContext": {"runAsNonRoot": True, "runAsUser": 1000,
                                               "seccompProfile": {"type": "RuntimeDefault"}},
                           "containers": [{"name": "run", "image": "busybox:1.36",
                                           "securityContext": {
                                               "allowPrivilegeEscalation": False,
                                               "capabilities": {"drop": ["ALL"]}}}]}})
    assert (w.kube.get("v1", "Service", "web", w.namespace) or {})["spec"].get("clusterIP")
    result = w.run([backup_key("res"), backup_copy_key("res")])
    assert result.success, failure_message(result)
    m = w.manifest("res")
    assert m is not None
    obj = m.objects[0]
    raw = b"".join(w.store.open_stream(w.bucket, obj.key))
    assert obj.key.endswith(".yaml.zst.enc") and b"settings" not in raw
    docs = list(yaml.safe_load_all(b"".join(decode(
        iter([raw]), Encoding.of_entry(obj.details, obj.content_type), parse_key(KEY, "k")))))
    kinds = {(d["kind"], d["metadata"]["name"]) for d in docs}
    assert ("ConfigMap", "settings") in kinds
    assert ("PersistentVolumeClaim", "data") in kinds
    assert ("Service", "web") in kinds and ("Deployment", "web") in kinds
    assert ("Pod", "runner") in kinds
    assert (("Secret", "token") in kinds) is secrets
    checks = check_results(result, backup_key("res"))
    assert checks["restore_drill"].passed, checks["restore_drill"].metadata.get("problems")
    assert checks["restore_drill"].metadata["restored_objects"].value >= 4
    assert checks["restore_drill"].metadata["validated_by_dry_run"].value == 1
    assert "Pod/runner validated by dry run, not restored" in \
        checks["restore_drill"].metadata["not_restored"].value
    assert checks["manifest_checksums"].passed
    scratch = [n["metadata"]["name"] for n in w.kube.list("v1", "Namespace")
               if n["metadata"]["name"].startswith("drill-")]
    assert all(w.kube.get("v1", "ConfigMap", "settings", s) is None for s in scratch)
    assert scratch and all(w.kube.get("v1", "Pod", "runner", s) is None for s in scratch)


class _Recording:
    """The drill's cluster (our BackupCluster port) passing every call to the run account's
    client, recording what the drill applies and whether as a dry run."""

    def __init__(self, kube: KubernetesResource):
        self.kube = kube
        self.applied: list[tuple[dict[str, Any], bool]] = []

    def apply(self, obj: dict[str, Any], dry_run: bool = False) -> dict[str, Any]:
        self.applied.append((obj, dry_run))
        return dict(self.kube.apply(obj, dry_run=dry_run))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.kube, name)


def _legacy_namespace(w: World) -> None:
    """A namespace of the older workload kinds: a ReplicationController whose pods its
    controller creates, a PodTemplate, and a selectorless Service with hand-made Endpoints
    (what include_kinds adds)."""
    ns = w.namespace
    w.kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    template = {"metadata": {"labels": {"app": "legacy"}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}
    # No selector and no labels: the server defaults both from the template's labels.
    w.kube.apply({"apiVersion": "v1", "kind": "ReplicationController",
                  "metadata": {"name": "legacy", "namespace": ns},
                  "spec": {"replicas": 2, "template": template}})
    w.kube.apply({"apiVersion": "v1", "kind": "PodTemplate",
                  "metadata": {"name": "legacy-tpl", "namespace": ns}, "template": template})
    w.kube.apply({"apiVersion": "v1", "kind": "Service",
                  "metadata": {"name": "legacy-db", "namespace": ns},
                  "spec": {"ports": [{"port": 3306}]}})
    w.kube.apply({"apiVersion": "v1", "kind": "Endpoints",
                  "metadata": {"name": "legacy-db", "namespace": ns},
                  "subsets": [{"addresses": [{"ip": "10.7.222.10"}],
                               "ports": [{"port": 3306}]}]})
    deadline = time.monotonic() + 20
    while len(w.kube.list("v1", "Pod", ns)) < 2:
        assert time.monotonic() < deadline, "the ReplicationController made no pods"
        time.sleep(0.2)


@dataclasses.dataclass
class _RunAccountBackup:
    """A resources backup the run account made with only its derived RBAC and drill guard."""

    result: dg.ExecuteInProcessResult
    manifest: Manifest
    docs: list[dict[str, Any]]
    runner: KubernetesResource

    def drill_again(self, w: World) -> tuple[list[str], dict[tuple[str, str],
                                                         tuple[dict[str, Any], bool]]]:
        """The drill of the backup once more, as the run account: its problems, and each
        body it sent by (kind, name) with whether as a dry run."""
        from platform_assets.backups.bucket import where_of
        from platform_assets.backups.drills import drill_resources
        from platform_assets.core.backup_manifest import BackupRecord
        from platform_assets.core.rbac import drill_dry_run_kinds

        recording = _Recording(self.runner)
        out = drill_resources(self.manifest, where_of(w.spec), w.store, recording,
                              BackupRecord.of(self.manifest), parse_key(KEY, "k"),
                              drill_dry_run_kinds(w.spec))
        return out.problems, {(b["kind"], b["metadata"]["name"]): (b, dry)
                              for b, dry in recording.applied}


def _backed_up_by_the_run_account(w: World, env: dict[str, str],
                                  tmp_path: Path) -> _RunAccountBackup:
    """Install the RBAC and guard ``render_rbac`` derives from the spec, then back up target
    ``res`` (and drill it, as its checks do) as the run account."""
    from platform_assets.core.rbac import render_rbac
    from tests.integration.run_account import install, runner_resource

    install(w.kube, render_rbac(w.path))
    runner = runner_resource(env["KUBECONFIG"], tmp_path / "runner")
    result = w.run([backup_key("res")], kubernetes=runner)
    assert result.success, failure_message(result)
    m = w.manifest("res")
    assert m is not None and len(m.objects) == 1
    raw = b"".join(w.store.open_stream(w.bucket, m.objects[0].key))
    return _RunAccountBackup(result, m, [d for d in yaml_docs(m.objects[0], raw) if d], runner)


def test_a_replication_controller_is_backed_up_and_drilled_inert_by_the_run_account(
        sandbox_env: dict[str, str], tmp_path: Path) -> None:
    """As the run account with only the RBAC and drill guard derived from the spec: the export
    lists the ReplicationController, its pods and the PodTemplate, and the Endpoints the
    target's include_kinds adds; the drill restores the ReplicationController with 0 replicas
    (the guard denies any other count), leaves its pods to it, restores the PodTemplate and
    only dry-runs the Endpoints; kinds the account may not list are named in the metadata."""
    w = World(sandbox_env, tmp_path, include_kinds="[v1/Endpoints]")
    _legacy_namespace(w)
    backup = _backed_up_by_the_run_account(w, sandbox_env, tmp_path)
    meta = materialization(backup.result, backup_key("res"))
    (obj,) = backup.manifest.objects
    docs = backup.docs
    kinds = sorted(d["kind"] for d in docs)
    assert kinds.count("Pod") == 2 and {"ReplicationController", "PodTemplate", "Endpoints",
                                         "Service"} <= set(kinds), kinds
    rc = next(d for d in docs if d["kind"] == "ReplicationController")
    assert rc["spec"]["replicas"] == 2 and rc["spec"]["selector"] == {"app": "legacy"}
    assert "v1/ReplicationController" not in obj.details["not_exported_kinds"]
    assert "discovery.k8s.io/v1/EndpointSlice" in meta["not_exported_kinds"]
    assert meta["include_kinds_not_served"] == "none"
    drill = check_results(backup.result, backup_key("res"))["restore_drill"]
    assert drill.passed, drill.metadata.get("problems")
    assert "Endpoints/legacy-db validated by dry run, not restored" in \
        drill.metadata["not_restored"].value

    problems, sent = backup.drill_again(w)
    assert problems == []
    body, dry = sent[("ReplicationController", "legacy")]
    assert body["spec"]["replicas"] == 0 and not dry
    assert not sent[("PodTemplate", "legacy-tpl")][1] and sent[("Endpoints", "legacy-db")][1]
    assert not [k for k in sent if k[0] == "Pod"]  # the controller's, left to it
    scratch = drill_namespace("res")
    assert w.kube.list("v1", "Pod", scratch) == []
    assert w.kube.get("v1", "ReplicationController", "legacy", scratch) is None
    held = {**body, "spec": {**body["spec"], "replicas": 1}}
    with pytest.raises(Exception, match="workloads restored by a drill must have 0 replicas"):
        backup.runner.apply(held)


def _flux_namespace(w: World) -> None:
    """A namespace of Flux objects that point elsewhere (a HelmRelease into kube-system through
    another account, a Kustomization of a source in flux-system, pruning) and of cert-manager
    objects (an ACME Issuer for Let's Encrypt and a Certificate of it)."""
    ns = w.namespace
    w.kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    for obj in (
        {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository",
         "metadata": {"name": "charts"},
         "spec": {"interval": "1h", "url": "https://charts.example.com"}},
        {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
         "metadata": {"name": "shop"},
         "spec": {"interval": "10m", "targetNamespace": "kube-system",
                  "serviceAccountName": "admin", "chart": {"spec": {
                      "chart": "shop", "version": "1.2.3",
                      "sourceRef": {"kind": "HelmRepository", "name": "charts"}}}}},
        {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
         "metadata": {"name": "fleet"},
         "spec": {"interval": "1m", "url": "https://git.example.com/fleet",
                  "ref": {"branch": "main"}}},
        {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
         "metadata": {"name": "apps"},
         "spec": {"interval": "5m", "path": "./clusters/prod", "prune": True,
                  "suspend": False, "targetNamespace": "kube-system",
                  "sourceRef": {"kind": "GitRepository", "name": "flux-system",
                                "namespace": "flux-system"}}},
        {"apiVersion": "cert-manager.io/v1", "kind": "Issuer", "metadata": {"name": "acme"},
         "spec": {"acme": {"server": "https://acme-v02.api.letsencrypt.org/directory",
                           "privateKeySecretRef": {"name": "acme-account"},
                           "solvers": [{"http01": {"ingress": {"ingressClassName": "nginx"}}}]}}},
        {"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": "shop"},
         "spec": {"secretName": "shop-tls", "dnsNames": ["shop.example.com"],
                  "issuerRef": {"name": "acme", "kind": "Issuer"}}},
    ):
        w.kube.apply({**obj, "metadata": {**obj["metadata"], "namespace": ns}})


FLUX_KINDS = ("HelmRelease", "Kustomization", "GitRepository", "HelmRepository")


def test_flux_objects_are_drilled_suspended_and_cert_manager_only_dry_run(
        sandbox: Any, sandbox_env: dict[str, str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Flux's controllers run with cluster-admin: a restored HelmRelease or Kustomization they
    reconciled would install into kube-system from a bucket. As the run account with only its
    derived RBAC and drill guard, the drill restores every Flux object suspended (the one that
    said ``suspend: false`` too) and otherwise as exported, and only dry-runs cert-manager's
    Issuer and Certificate (an ACME order for the real domain); the guard denies an unsuspended
    HelmRelease in the drill namespace, and the API's message reaches the drill's problems.

    Sources: helm-controller api/v2, kustomize-controller api/v1, source-controller api/v1
    ``spec.suspend`` (fluxcd.io/flux/components); Kubernetes docs, "Validating Admission
    Policy" (a denial is a 422 whose Status message carries the validation's message)."""
    sandbox.admin.install_chart("flux", "2.6.4")
    sandbox.admin.install_chart("cert-manager", "v1.16.2", {"crds": {"enabled": True}})
    w = World(sandbox_env, tmp_path)
    _flux_namespace(w)
    backup = _backed_up_by_the_run_account(w, sandbox_env, tmp_path)
    exported = {d["kind"]: d for d in backup.docs}
    assert set(FLUX_KINDS) | {"Issuer", "Certificate"} <= set(exported), sorted(exported)
    assert not any(exported[k]["spec"].get("suspend") for k in FLUX_KINDS)
    drill = check_results(backup.result, backup_key("res"))["restore_drill"]
    assert drill.passed, drill.metadata.get("problems")
    assert drill.metadata["validated_by_dry_run"].value == 2

    problems, sent = backup.drill_again(w)
    assert problems == []
    for kind in FLUX_KINDS:
        body, dry = next(v for k, v in sent.items() if k[0] == kind)
        assert body["spec"]["suspend"] is True and not dry, kind
        assert {k: v for k, v in body["spec"].items() if k != "suspend"} == \
            {k: v for k, v in exported[kind]["spec"].items() if k != "suspend"}, kind
    assert sent[("Issuer", "acme")][1] and sent[("Certificate", "shop")][1]
    scratch = drill_namespace("res")
    assert w.kube.get("cert-manager.io/v1", "Certificate", "shop", scratch) is None
    assert w.kube.get("helm.toolkit.fluxcd.io/v2", "HelmRelease", "shop", scratch) is None

    release, _ = sent[("HelmRelease", "shop")]
    with pytest.raises(Exception, match="Flux objects restored by a drill must be suspended"):
        backup.runner.apply({**release, "spec": {**release["spec"], "suspend": False}})
    assert w.kube.get("helm.toolkit.fluxcd.io/v2", "HelmRelease", "shop", scratch) is None
    # Were for_drill wrong (a Flux object left as exported), the guard still refuses it, and
    # the drill's problem quotes the API's message, not only the status code.
    from platform_assets.backups import drills

    def unsuspended(obj: dict[str, Any], namespace: str) -> dict[str, Any]:
        body = restore.for_drill(obj, namespace)
        if body["kind"] == "HelmRelease":
            body["spec"]["suspend"] = False
        return body

    monkeypatch.setattr(drills, "for_drill", unsuspended)
    problems, _ = backup.drill_again(w)
    (found,) = problems
    assert found.startswith(f"{w.namespace}: HelmRelease/shop could not be restored: "
                            "UnprocessibleEntityError: 422 "), found
    assert "Flux objects restored by a drill must be suspended (spec.suspend: true)" in found


def _exposed_namespace(w: World) -> None:
    """A namespace that serves production's host from outside: an Ingress for it that
    cert-manager's ingress-shim would order a certificate for, a LoadBalancer Service asking
    for a public IP, and the ClusterIP Service behind them."""
    ns = w.namespace
    w.kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    ports = [{"name": "http", "port": 80, "targetPort": 8080}]
    for obj in (
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "shop"},
         "spec": {"selector": {"app": "shop"}, "ports": ports}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "shop-public"},
         "spec": {"type": "LoadBalancer", "loadBalancerIP": "203.0.113.7",
                  "selector": {"app": "shop"}, "ports": ports}},
        {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
         "metadata": {"name": "shop",
                      "annotations": {"cert-manager.io/cluster-issuer": "letsencrypt"}},
         "spec": {"ingressClassName": "nginx",
                  "tls": [{"hosts": ["shop.example.com"], "secretName": "shop-tls"}],
                  "rules": [{"host": "shop.example.com", "http": {"paths": [
                      {"path": "/", "pathType": "Prefix", "backend": {
                          "service": {"name": "shop", "port": {"number": 80}}}}]}}]}},
    ):
        w.kube.apply({**obj, "metadata": {**obj["metadata"], "namespace": ns}})


def test_ingresses_and_load_balancers_are_drilled_only_as_dry_runs(
        sandbox_env: dict[str, str], tmp_path: Path) -> None:
    """A drill must not reach the network: the ingress controller would serve an Ingress's
    production host from the drill namespace (and cert-manager's ingress-shim order its
    certificate), the cloud controller create a public load balancer for a LoadBalancer
    Service. As the run account with only its derived RBAC and drill guard, the drill passes,
    sends the Ingress and the LoadBalancer Service only as dry runs (as exported: type, IP and
    annotation kept) and restores the ClusterIP Service; an Ingress or a LoadBalancer Service
    created for real in the drill namespace is denied with the policy's message.

    Sources: Kubernetes docs, "Validating Admission Policy" (dry runs are admitted with
    ``request.dryRun``; validation sees the defaulted object: ``type`` ClusterIP when absent,
    pkg/apis/core/v1 SetDefaults_Service)."""
    w = World(sandbox_env, tmp_path)
    _exposed_namespace(w)
    backup = _backed_up_by_the_run_account(w, sandbox_env, tmp_path)
    exported = {(d["kind"], d["metadata"]["name"]): d for d in backup.docs}
    assert {("Ingress", "shop"), ("Service", "shop"), ("Service", "shop-public")} <= \
        set(exported), sorted(exported)
    drill = check_results(backup.result, backup_key("res"))["restore_drill"]
    assert drill.passed, drill.metadata.get("problems")
    assert drill.metadata["validated_by_dry_run"].value == 2
    not_restored = drill.metadata["not_restored"].value
    assert "Ingress/shop validated by dry run" in not_restored
    assert "Service/shop-public validated by dry run" in not_restored

    problems, sent = backup.drill_again(w)
    assert problems == []
    ingress, dry = sent[("Ingress", "shop")]
    assert dry and ingress["spec"] == exported[("Ingress", "shop")]["spec"]
    assert ingress["metadata"]["annotations"] == {"cert-manager.io/cluster-issuer": "letsencrypt"}
    public, dry = sent[("Service", "shop-public")]
    assert dry and public["spec"]["type"] == "LoadBalancer"
    assert public["spec"]["loadBalancerIP"] == "203.0.113.7"
    assert not sent[("Service", "shop")][1]
    scratch = drill_namespace("res")
    for api, kind, name in (("networking.k8s.io/v1", "Ingress", "shop"),
                            ("v1", "Service", "shop-public"), ("v1", "Service", "shop")):
        assert w.kube.get(api, kind, name, scratch) is None, (kind, name)

    with pytest.raises(Exception, match="Ingresses and Gateway API objects are never created "
                                        "by a drill, only validated by dry run"):
        backup.runner.apply(ingress)
    with pytest.raises(Exception, match="Services of type LoadBalancer or NodePort, or with "
                                        "externalIPs, are never created by a drill"):
        backup.runner.apply(public)
    # Sent without its type, a Service is a ClusterIP one by the time admission sees it.
    untyped = {**public, "metadata": {**public["metadata"], "name": "untyped"},
               "spec": {k: v for k, v in public["spec"].items()
                        if k not in ("type", "loadBalancerIP")}}
    backup.runner.apply(untyped)
    assert w.kube.get("v1", "Service", "untyped", scratch)["spec"]["type"] == "ClusterIP"
    w.kube.delete("v1", "Service", "untyped", scratch)
    assert w.kube.get("networking.k8s.io/v1", "Ingress", "shop", scratch) is None
    assert w.kube.get("v1", "Service", "shop-public", scratch) is None


def yaml_docs(obj: Any, raw: bytes) -> list[dict[str, Any]]:
    import yaml

    return list(yaml.safe_load_all(b"".join(decode(
        iter([raw]), Encoding.of_entry(obj.details, obj.content_type), parse_key(KEY, "k")))))


def test_volume_snapshot_is_idempotent_and_a_gone_volume_fails(world: World) -> None:
    import ionoscloud

    w = world
    make_pvc(w)
    result = w.run([backup_key("vol"), backup_copy_key("vol")])
    assert result.success, failure_message(result)
    meta = materialization(result, backup_key("vol"))
    name = snapshot_name("vol", PARTITION)
    assert meta["snapshot_name"] == name
    snaps = [s for s in w.ionos.list_snapshots() if s["properties"]["name"] == name]
    assert len(snaps) == 1 and meta["snapshot_id"] == snaps[0]["id"]
    assert check_results(result, backup_key("vol"))["snapshot_available"].passed

    # Again: the same snapshot, no second one.
    assert w.run([backup_key("vol")], with_checks=False).success
    assert len([s for s in w.ionos.list_snapshots() if s["properties"]["name"] == name]) == 1

    # The volume behind the PVC disappears: the next day's backup fails and says so.
    volume_id = meta["volume_id"]
    dc, _ = w.ionos.find_volume(volume_id) or (None, None)
    assert dc
    ionoscloud.VolumesApi(w.ionos.cloud_client()).datacenters_volumes_delete(dc, volume_id)
    deadline = time.monotonic() + 10
    while w.ionos.find_volume(volume_id) and time.monotonic() < deadline:
        time.sleep(0.1)
    result = w.run([backup_key("vol")], partition="2026-11-21", with_checks=False)
    assert not result.success
    msg = failure_message(result)
    assert "backup vol (volume, 2026-11-21) failed" in msg and volume_id in msg
    assert "no longer exists" in msg
    assert w.manifest("vol", partition="2026-11-21") is None


def test_csi_volume_snapshot(world: World) -> None:
    w = world
    make_pvc(w)
    result = w.run([backup_key("csi")])
    assert result.success, failure_message(result)
    name = snapshot_name("csi", PARTITION)
    vs = w.kube.get("snapshot.storage.k8s.io/v1", "VolumeSnapshot", name, w.namespace)
    assert vs and vs["status"]["readyToUse"] is True
    assert check_results(result, backup_key("csi"))["snapshot_available"].passed


def test_retention_dry_run_then_delete_keeps_the_newest(world: World) -> None:
    w = world
    make_pvc(w)
    old = ["2026-10-01", "2026-10-05"]
    for part in old:
        assert w.run([backup_key("res")], partition=part, with_checks=False,
                     config={"skip_retention": True}).success
        # Age is when a backup was taken: make these look taken on their own day.
        m = w.manifest("res", partition=part)
        assert m is not None
        w.store.put_bytes(w.bucket, manifest_key("backups", "res", part), dataclasses.replace(
            m, finished_at=f"{part}T02:05:00Z").to_json())
    # A fixed day, not "yesterday": the run's clock only stamps when the backup finished (now),
    # which is what makes both October points older than 30 days on any date after them.
    fresh = "2026-11-20"
    dry = w.run([backup_key("res")], partition=fresh, with_checks=False,
                config={"retention_dry_run": True})
    assert dry.success, failure_message(dry)
    meta = materialization(dry, backup_key("res"))
    assert meta["retention_would_delete"] == 2 and "| delete |" in meta["retention_plan"]
    assert all(w.manifest("res", partition=p) for p in old)

    real = w.run([backup_key("res")], partition=fresh)
    meta = materialization(real, backup_key("res"))
    assert meta["retention_deleted"] == 2
    assert all(w.manifest("res", partition=p) is None for p in old)
    assert w.manifest("res", partition=fresh) is not None
    checks = check_results(real, backup_key("res"))
    assert checks["rpo"].passed and checks["retention_compliance"].passed


def test_rpo_check_fails_when_the_newest_backup_is_too_old(world: World) -> None:
    w = world
    make_pvc(w)
    assert w.run([backup_key("res")], partition="2026-11-02", with_checks=False,
                 config={"skip_retention": True}).success
    # A missed night (or several): the newest backup was finished three days ago.
    m = w.manifest("res", partition="2026-11-02")
    assert m is not None
    stale = dataclasses.replace(m, finished_at="2026-11-19T02:05:00Z")
    w.store.put_bytes(w.bucket, manifest_key("backups", "res", "2026-11-02"), stale.to_json())
    rpo = [c for c in w.checks_of(backup_key("res"))
           if next(iter(c.check_keys)).name == "rpo"]
    result = dg.materialize([w.asset(backup_key("res")), *rpo],
                            selection=dg.AssetSelection.checks(next(iter(rpo[0].check_keys))),
                            resources=w.resources(), raise_on_error=False, instance=w.instance)
    check = check_results(result, backup_key("res"))["rpo"]
    assert check.passed is False
    assert "older than the RPO of 24h" in check.metadata["message"].value


def test_no_credentials_in_metadata(mariadb: World) -> None:
    w = mariadb
    secret = "sup3r-secret-pw"
    w.sql(f"CREATE USER IF NOT EXISTS 'bkpw'@'%' IDENTIFIED BY '{secret}'",
          "GRANT ALL PRIVILEGES ON *.* TO 'bkpw'@'%'")
    try:
        db = DatabaseDumpResource(host=w.db.host, port=w.db.port, user="bkpw", password=secret)
        result = w.run([backup_key("db")], database=db)
        assert result.success, failure_message(result)
        text = repr([e.event_specific_data for e in result.all_events])
        assert secret not in text
        raw = w.store.get_bytes(w.bucket, manifest_key("backups", "db", PARTITION))
        assert raw and secret.encode() not in raw
        assert os.environ.get("MYSQL_PWD") is None
    finally:
        w.sql("DROP USER IF EXISTS 'bkpw'@'%'")


def test_transient_s3_errors_are_retried_and_the_backup_verifies(sandbox: Any,
                                                                 mariadb: World) -> None:
    w = mariadb
    patient = ObjectStorageResource(
        access_key_id=w.env["AWS_ACCESS_KEY_ID"], secret_access_key=w.env["AWS_SECRET_ACCESS_KEY"],
        endpoint_url=w.env["AWS_ENDPOINT_URL_S3"], default_region="de", retry_attempts=10,
        retry_max_wait_seconds=0.05)
    # The next 6 S3 requests fail (503/500), whichever they are; then S3 recovers.
    sandbox.set_fault("s3", error_rate=1.0, statuses=[503, 500], retry_after=0, times=6)
    try:
        result = w.run([backup_key("db"), backup_copy_key("db")], with_checks=False,
                       object_storage=patient)
        injected_all = "s3" not in sandbox.admin.faults()
    finally:
        sandbox.clear_faults()
    assert injected_all, "all six errors should have been served (and retried)"
    assert result.success, failure_message(result)
    for bucket, region in ((w.bucket, "de"), (w.dr_bucket, "eu-central-3")):
        m = w.manifest("db", bucket, region)
        assert m is not None
        assert all(w.store.sha256_of(bucket, o.key, region) == (o.size, o.sha256)
                   for o in m.objects)


def test_drill_uses_its_deploy_time_namespace_and_never_restores_secrets(
        sandbox_env: dict[str, str], tmp_path: Path) -> None:
    """Issue 15: the drill created a namespace per run and bound a ClusterRole with Secrets
    access in it. Now it restores into the target's deploy-time namespace (PodSecurity
    restricted, created as ``python -m platform_assets rbac`` renders it where missing), keeps
    that namespace, and skips Secrets."""

    w = World(sandbox_env, tmp_path, secrets=True)
    make_pvc(w)

    def drill_namespaces() -> set[str]:
        return {n["metadata"]["name"] for n in w.kube.list("v1", "Namespace")
                if n["metadata"]["name"].startswith("drill-")}

    # The sandbox is the session's: other tests' drills (drill-cluster-resources...) may be there.
    before = drill_namespaces()
    result = w.run([backup_key("res"), backup_copy_key("res")])
    assert result.success, failure_message(result)
    checks = check_results(result, backup_key("res"))
    assert checks["restore_drill"].passed, checks["restore_drill"].metadata.get("problems")
    scratch = drill_namespace("res")
    ns = w.kube.get("v1", "Namespace", scratch)
    assert ns is not None
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert w.kube.get("v1", "Secret", "token", scratch) is None
    assert w.kube.get("v1", "ConfigMap", "settings", scratch) is None  # cleaned up
    assert drill_namespaces() - before <= {scratch}  # no namespace per run


def test_backups_are_encrypted_and_the_drill_proves_the_key(
        mariadb: World, monkeypatch: pytest.MonkeyPatch) -> None:
    w = mariadb
    result = w.run([backup_key("db")])
    assert result.success, failure_message(result)
    assert check_results(result, backup_key("db"))["restore_drill"].passed
    m = w.manifest("db")
    assert m is not None
    obj = m.objects[0]
    assert obj.key.endswith(".sql.zst.enc")
    assert obj.details["compression"] == "zstd" and obj.details["encryption"]
    raw = b"".join(w.store.open_stream(w.bucket, obj.key))
    assert b"CREATE TABLE" not in raw and b"post 17" not in raw
    assert KEY not in repr([e.event_specific_data for e in result.all_events])
    assert KEY.encode() not in (w.store.get_bytes(
        w.bucket, manifest_key("backups", "db", PARTITION)) or b"")

    # Another key: the drill fails and says the key is the wrong one.
    monkeypatch.setenv("BK_TEST_KEY", base64.b64encode(bytes(32)).decode())
    drill = check_results(w.run([backup_key("db")]), backup_key("db"))["restore_drill"]
    assert drill.passed is False and "wrong key" in drill.metadata["problems"].value
    # No key: the backup of the next day fails before it writes anything.
    monkeypatch.delenv("BK_TEST_KEY")
    result = w.run([backup_key("db")], partition="2026-11-21", with_checks=False)
    assert not result.success
    assert "BK_TEST_KEY is not set" in failure_message(result)
    assert [k for k in w.keys() if "2026-11-21" in k] == []
    monkeypatch.setenv("BK_TEST_KEY", "too-short")
    result = w.run([backup_key("db")], partition="2026-11-21", with_checks=False)
    assert "BK_TEST_KEY is not a 256-bit key" in failure_message(result)
    assert "too-short" not in failure_message(result)


def test_an_older_gzip_backup_still_restores(mariadb: World) -> None:
    """Backups written before zstd and encryption (gzip, no encoding in the manifest entry)."""
    from platform_assets.backups.bucket import where_of
    from platform_assets.backups.drills import drill_database
    from platform_assets.core.backup_manifest import BackupRecord

    w = mariadb
    assert w.run([backup_key("db")], with_checks=False).success
    m = w.manifest("db")
    assert m is not None
    obj = m.objects[0]
    sql = b"".join(decode(w.store.open_stream(w.bucket, obj.key),
                          Encoding.of_entry(obj.details, obj.content_type), parse_key(KEY, "k")))
    old_key = obj.key.replace(".sql.zst.enc", ".sql.gz")
    result = w.store.upload_stream(w.bucket, old_key, gzip_blocks(iter([sql]), 1, 2))
    details = {k: v for k, v in obj.details.items()
               if k not in ("compression", "encryption", "key_id")}
    old = dataclasses.replace(m, objects=(dataclasses.replace(
        obj, key=old_key, size=result.size, sha256=result.sha256,
        content_type="application/gzip", details=details),))
    out = drill_database(old, where_of(w.spec), w.store, w.db, w.db.host, BackupRecord.of(old),
                         key=None)
    assert out.problems == [] and out.metadata["tables"] == 2


def test_tls_with_a_ca_file_refuses_a_server_that_offers_none(mariadb: World) -> None:
    """The sandbox's MariaDB (the real server on 127.0.0.1) offers no TLS: with ``ssl_ca`` set
    the backup fails, naming TLS, instead of falling back to plaintext; without it, it runs."""
    w = mariadb
    with w.db.connect() as conn, conn.cursor() as cur:
        cur.execute("SHOW VARIABLES LIKE 'have_ssl'")
        row = cur.fetchone()
    if row and row[1] == "YES":
        pytest.skip("this MariaDB offers TLS; the test needs one that does not")
    strict = DatabaseDumpResource(host=w.db.host, port=w.db.port, user=w.db.user,
                                  password=w.db.password,
                                  ssl_ca="/etc/ssl/certs/ca-certificates.crt")
    result = w.run([backup_key("db")], with_checks=False, database=strict)
    assert not result.success
    assert "TLS with /etc/ssl/certs/ca-certificates.crt failed" in failure_message(result)
    assert w.manifest("db") is None
    with pytest.raises(DumpFailed, match="TLS failed"):
        b"".join(strict.dump(w.database))
