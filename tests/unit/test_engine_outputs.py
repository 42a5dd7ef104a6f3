"""Infrastructure outputs in the engine (fakes of our interfaces): a PostgreSQL cluster's host
reaches the component's ConfigMap, its password a Secret, and a new host is written when the
cluster changes; a second run writes nothing."""

from __future__ import annotations

import base64
from pathlib import Path

from platform_assets.core.graph import component_key, postgres_key
from platform_assets.engine.reconcile import Engine, Options
from platform_assets.reconcile_assets import reconciled_nodes
from tests.unit.engine_fakes import FakeBuckets, FakeClock, FakeCloud, FakeCluster, make_graph

POSTGRES = """  postgres:
    - {name: apps-db, lan: lan-a, cidr: 10.1.0.10/24, database: apps, username: apps,
       maintenance_window: {day: Sunday, time: "08:00"}}
  buckets:"""
INPUTS = """    prune: true
    inputs:
      infrastructure:
        - {asset: postgres/apps-db, config_map: web-db, keys: {host: DB_HOST, port: DB_PORT}}
        - {asset: postgres/apps-db, secret: web-db-auth, keys: {password: DB_PASSWORD}}"""


def test_postgres_outputs_follow_the_cluster(tmp_path: Path) -> None:
    graph = make_graph(tmp_path, edit=lambda s: s.replace("  buckets:", POSTGRES, 1)
                       .replace("    prune: true", INPUTS, 1))
    web = component_key("platform", "web")
    assert postgres_key("apps-db") in graph.nodes[web].deps
    cloud, k8s = FakeCloud(), FakeCluster()
    assert graph.base_dir is not None
    engine = Engine(graph.spec, graph.base_dir, ionos=cloud, kubernetes=k8s,
                    object_storage=FakeBuckets(), sleep=FakeClock().sleep, clock=FakeClock(),
                    env={"POSTGRES_PASSWORD": "Pw-1@secret"}.get)

    def everything() -> int:
        return sum(engine.reconcile(n, Options()).writes for n in reconciled_nodes(graph))

    assert everything() > 0
    assert cloud.writes["create_postgres"] == 1
    cloud.postgres[0]["metadata"]["dnsName"] = "pg-1.postgresql.de-fra.ionos.com"
    everything()
    cm = k8s.get("v1", "ConfigMap", "web-db", "web")
    assert cm is not None and cm["data"] == {"DB_HOST": "pg-1.postgresql.de-fra.ionos.com",
                                             "DB_PORT": "5432"}
    secret = k8s.get("v1", "Secret", "web-db-auth", "web")
    assert secret is not None and secret["type"] == "Opaque"
    assert base64.b64decode(secret["data"]["DB_PASSWORD"]) == b"Pw-1@secret"
    assert everything() == 0

    cloud.postgres[0]["metadata"]["dnsName"] = "pg-2.postgresql.de-fra.ionos.com"
    assert everything() == 1  # the ConfigMap, nothing else
    cm = k8s.get("v1", "ConfigMap", "web-db", "web")
    assert cm is not None and cm["data"]["DB_HOST"] == "pg-2.postgresql.de-fra.ionos.com"
