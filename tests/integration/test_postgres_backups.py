"""PostgreSQL backups on the sandbox and the real PostgreSQL (127.0.0.1:5432): the DBaaS
cluster's database dumped with the real ``pg_dump`` into S3, the DBaaS backups on record, the
restore drill into a scratch database within the RTO, and a tampered object never restored."""

from __future__ import annotations

import base64
import os
import uuid
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from platform_assets.backup_assets import build_backup_assets
from platform_assets.core.backup_manifest import Manifest, manifest_key
from platform_assets.core.graph import backup_key, build_graph
from platform_assets.spec import load_spec
from resources import postgres_resource
from resources.ionos import IonosCloudResource
from resources.object_storage import ObjectStorageResource
from tests.conftest import missing_service

pytestmark = pytest.mark.integration

PARTITION = "2026-11-20"
KEY = base64.b64encode(bytes(range(32))).decode()
SPEC = """
apiVersion: platform-ops/v1
metadata: {{name: pg-backup-test}}
ionos:
  datacenter: {{name: pgbk-dc, location: de/fra}}
  lans: [{{name: lan1}}]
  cluster:
    name: pgbk-cluster
    k8s_version: 1.32.6
    maintenance_window: {{day: Sunday, time: "10:00"}}
  node_pools:
    - {{name: pool, node_count: 1, cores: 2, ram: 4GB, storage_size: 20GB}}
  postgres:
    - name: {cluster}
      lan: lan1
      cidr: 10.7.222.110/24
      maintenance_window: {{day: Sunday, time: "08:00"}}
      database: {database}
      username: {user}
  buckets:
    - {{name: {bucket}, region: de}}
backups:
  start_date: "2026-09-01"
  rto: 4h
  bucket: {bucket}
  encryption: {{key_env: PG_BK_TEST_KEY}}
  targets:
    - {{name: pg, kind: postgres}}
"""


@pytest.fixture
def pg_world(sandbox: Any, sandbox_env: dict[str, str], tmp_path: Path) -> dict[str, Any]:
    """A spec with one PostgreSQL cluster (created through the sandbox API, which makes its user
    and database on the real server), rows in it, and the backup assets."""
    import psycopg2

    if "SANDBOX_POSTGRES_HOST" not in sandbox_env:
        missing_service("no PostgreSQL server on 127.0.0.1:5432 (Debian: apt-get install "
                        "postgresql; user postgres with trust on 127.0.0.1)")
    tag = uuid.uuid4().hex[:8]
    names = {"cluster": f"pgbk-{tag}", "database": f"pgbk_{tag}", "user": f"pgbk_{tag}",
             "bucket": f"pgbk-{tag}"}
    path = tmp_path / "platform.yaml"
    path.write_text(SPEC.format(**names))
    os.environ["PG_BK_TEST_KEY"] = KEY
    spec = load_spec(path)
    env = sandbox_env
    ionos = IonosCloudResource(token=env["IONOS_TOKEN"], api_url=env["IONOS_API_URL"],
                               postgres_url=env["IONOS_POSTGRES_URL"], poll_interval_seconds=0.05)
    pg = spec.ionos.postgres[0]
    ionos.create_postgres(
        {"name": pg.name, "version": "16",
         "instances": {"count": 1, "cores": 2, "ram": 4, "storageSize": 20},
         "connection": {"datacenterId": "dc", "lanId": "1",
                        "primaryInstanceAddress": pg.cidr},
         "maintenanceWindow": {"dayOfTheWeek": "Sunday", "time": "08:00:00"}},
        {"username": pg.username, "password": env["POSTGRES_PASSWORD"],
         "database": pg.database})
    conn = psycopg2.connect(host=env["SANDBOX_POSTGRES_HOST"], user=pg.username,
                            password=env["POSTGRES_PASSWORD"], dbname=pg.database)
    with conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE posts (id serial PRIMARY KEY, title text, body bytea)")
        cur.execute("INSERT INTO posts (title, body) SELECT 'post ' || i, "
                    "decode(md5(i::text), 'hex') FROM generate_series(1, 500) AS i")
        cur.execute("CREATE SCHEMA shop")
        cur.execute("CREATE TABLE shop.orders (id int, total numeric(10, 2))")
        cur.execute("INSERT INTO shop.orders VALUES (1, 9.99), (2, NULL)")
    conn.close()
    store = ObjectStorageResource(
        access_key_id=env["AWS_ACCESS_KEY_ID"], secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        endpoint_url=env["AWS_ENDPOINT_URL_S3"], default_region="de")
    store.client("de").create_bucket(Bucket=names["bucket"],
                                     CreateBucketConfiguration={"LocationConstraint": "de"})
    graph = build_graph(spec)
    assets, checks = build_backup_assets(graph)
    return {"spec": spec, "graph": graph, "assets": assets, "checks": checks, "store": store,
            "ionos": ionos, "names": names, "env": env,
            "instance": dg.DagsterInstance.ephemeral()}


def materialize(w: dict[str, Any]) -> dg.ExecuteInProcessResult:
    key = dg.AssetKey(list(backup_key("pg")))
    asset = next(a for a in w["assets"] if a.key == key)
    checks = [c for c in w["checks"] if next(iter(c.check_keys)).asset_key == key]
    return dg.materialize([asset, *checks], partition_key=PARTITION, raise_on_error=False,
                          instance=w["instance"],
                          resources={"object_storage": w["store"], "ionos": w["ionos"],
                                     "postgres_database": postgres_resource(w["graph"])})


def checks_of(result: dg.ExecuteInProcessResult) -> dict[str, Any]:
    return {c.check_name: c for c in result.get_asset_check_evaluations()}


def test_pg_dump_to_s3_and_the_restore_drill_pass_on_the_real_postgres(
        pg_world: dict[str, Any]) -> None:
    import psycopg2

    result = materialize(pg_world)
    assert result.success
    (mat,) = result.asset_materializations_for_node(
        next(a for a in pg_world["assets"] if a.key == dg.AssetKey(["backups", "pg"])).op.name)
    assert mat.metadata["tables"].value == 2
    assert mat.metadata["dbaas_backups"].value == 1  # IONOS's own backup, on record
    checks = checks_of(result)
    drill = checks["restore_drill"]
    assert drill.passed, drill.metadata
    assert drill.metadata["tables"].value == 2 and drill.metadata["restored_bytes"].value > 0
    assert 0 < drill.metadata["restore_seconds"].value < drill.metadata["rto_seconds"].value
    assert checks["manifest_checksums"].passed

    names, store = pg_world["names"], pg_world["store"]
    manifest = Manifest.from_json(b"".join(store.open_stream(
        names["bucket"], manifest_key("backups", "pg", PARTITION), "de")))
    (obj,) = manifest.objects
    assert obj.source.startswith(f"pg_dump --format=custom {names['database']}@")
    assert obj.details["tables"]["shop.orders"]["rows"] == 2
    assert obj.details["tables"]["public.posts"]["rows"] == 500
    assert manifest.details["dbaas"]["backups"][0]["location"] == "de"
    assert "pg_dump" in manifest.tool_versions
    # The drill's scratch database and role are gone; the source is untouched.
    conn = psycopg2.connect(host=pg_world["env"]["SANDBOX_POSTGRES_HOST"], user="postgres",
                            dbname="postgres")
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_database WHERE datname LIKE 'drill\\_%'")
        assert cur.fetchone()[0] == 0
        cur.execute("SELECT count(*) FROM pg_roles WHERE rolname LIKE 'drill\\_%'")
        assert cur.fetchone()[0] == 0
    conn.close()


def test_a_planted_dump_with_a_matching_manifest_is_never_restored(
        pg_world: dict[str, Any]) -> None:
    """Whoever can write the bucket can write a dump and a manifest that vouches for it: the
    drill checks both against what the backup run recorded in Dagster and restores nothing."""
    import dataclasses

    assert materialize(pg_world).success
    names, store = pg_world["names"], pg_world["store"]
    mkey = manifest_key("backups", "pg", PARTITION)
    manifest = Manifest.from_json(b"".join(store.open_stream(names["bucket"], mkey, "de")))
    key = manifest.objects[0].key
    store.put_bytes(names["bucket"], key, b"PGDMP planted")
    size, digest = store.sha256_of(names["bucket"], key, "de") or (0, "")
    forged = dataclasses.replace(manifest, objects=(dataclasses.replace(
        manifest.objects[0], size=size, sha256=digest),))
    store.put_bytes(names["bucket"], mkey, forged.to_json())
    checks = checks_of(materialize(pg_world))  # the backup is skipped; the checks run
    drill = checks["restore_drill"]
    assert drill.passed is False
    problems = drill.metadata["problems"].value
    assert key in problems and "the backup run recorded" in problems
    assert drill.metadata["restored_bytes"].value == 0
    assert checks["manifest_checksums"].passed is False
