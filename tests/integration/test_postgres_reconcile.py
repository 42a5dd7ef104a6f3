"""Managed PostgreSQL (``ionos.postgres``) reconciled on the sandbox with the real
``ionoscloud_dbaas_postgres`` SDK: from nothing, a second run without writes, drift corrected,
a disruptive change held for a window."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from resources.ionos import IonosCloudResource
from tests.integration.test_reconcile import (
    failures,
    instance_at,
    make_defs,
    materialized,
    run,
    writes,
)

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("reconcile")]

ROOT = Path(__file__).resolve().parents[2]
POSTGRES = {"name": "apps-db", "version": "16", "instances": 1, "cores": 2, "ram": "4GB",
            "storage_size": "20GB", "lan": "k8s-private", "cidr": "10.7.222.110/24",
            "maintenance_window": {"day": "Sunday", "time": "08:00"}, "database": "apps",
            "username": "apps", "password_env": "POSTGRES_PASSWORD"}


def infra_spec(tmp_path: Path, postgres: list[dict[str, Any]] | None = None,
               calendar: dict[str, Any] | None = None) -> Path:
    """The example's IONOS section with PostgreSQL clusters and nothing in the cluster (the
    components are not what these tests are about)."""
    data = yaml.safe_load((ROOT / "platform" / "platform.yaml").read_text())
    data["ionos"]["postgres"] = postgres if postgres is not None else [POSTGRES]
    data["ionos"].pop("mariadb", None)
    # The network edge fronts the ingress component, which these specs leave out.
    for key in ("ip_blocks", "load_balancers", "dns"):
        data["ionos"].pop(key, None)
    for key in ("platform", "applications", "backups", "remediation"):
        data.pop(key, None)
    data["certificates"] = {"items": []}
    data["change_calendar"] = calendar or {"maintenance_windows": [], "freezes": []}
    path = tmp_path / "platform.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def pg_client(env: dict[str, str]) -> Any:
    import ionoscloud_dbaas_postgres as pg

    return pg.ClustersApi(pg.ApiClient(pg.Configuration(host=env["IONOS_POSTGRES_URL"],
                                                        token=env["IONOS_TOKEN"])))


@pytest.fixture
def fresh(sandbox: Any, sandbox_env: dict[str, str]) -> dict[str, str]:
    sandbox.reset()
    sandbox.reset_counts()
    return sandbox_env


def test_postgres_from_nothing_then_no_writes_then_drift_corrected(
        sandbox: Any, fresh: dict[str, str], tmp_path: Path) -> None:
    defs = make_defs(infra_spec(tmp_path), fresh)
    with instance_at(tmp_path / "home") as instance:
        first = run(defs, instance)
        assert first.success, failures(first)
        meta = materialized(first)["ionos/postgres/apps-db"]
        assert meta["summary"] == "1 to create" and meta["state"] == "AVAILABLE"
        assert meta["version"] == "16" and meta["dns_name"]
        assert writes(sandbox.requests()).get("postgres") == 1
        ionos = IonosCloudResource(token=fresh["IONOS_TOKEN"])
        made = ionos.find_postgres("apps-db")
        assert made is not None
        props = made["properties"]
        assert props["instances"] == {"count": 1, "cores": 2, "ram": 4, "storageSize": 20}
        assert props["connection"]["primaryInstanceAddress"] == "10.7.222.110/24"
        assert props["backup"] == {"location": "de", "retentionDays": 7}
        assert "password" not in props["credentials"]

        sandbox.reset_counts()
        second = run(defs, instance)
        assert second.success, failures(second)
        assert writes(sandbox.requests()) == {}
        assert materialized(second)["ionos/postgres/apps-db"]["summary"] == "no changes"

        # Someone changes the maintenance window and grows the storage by hand: the window is
        # corrected; storage cannot shrink (the API answers 422), so it is reported instead.
        import ionoscloud_dbaas_postgres as pg

        api = pg_client(fresh)
        changed = {k: v for k, v in props.items() if k != "credentials"}
        changed["instances"] = {**props["instances"], "storageSize": 30}
        changed["maintenanceWindow"] = {"dayOfTheWeek": "Monday", "time": "08:00:00"}
        api.clusters_put(made["id"], pg.ClusterEnsure.from_dict(
            {"id": made["id"], "properties": changed}))
        sandbox.reset_counts()
        drift = run(defs, instance, job="detect_drift")
        failed = {"/".join(c.asset_key.path): c for c in drift.get_asset_check_evaluations()
                  if not c.passed}
        assert set(failed) == {"ionos/postgres/apps-db"}
        check = failed["ionos/postgres/apps-db"].metadata
        assert 'maintenanceWindow.dayOfTheWeek: "Monday" -> "Sunday"' in check["plan"].value
        assert "storageSize" not in check["plan"].value
        assert writes(sandbox.requests()) == {}

        fixed = run(defs, instance)
        assert fixed.success, failures(fixed)
        assert writes(sandbox.requests()) == {"postgres": 1}
        notes = materialized(fixed)["ionos/postgres/apps-db"]["notes"]
        assert "30 GB of storage" in notes and "storage cannot shrink" in notes
        now = ionos.find_postgres("apps-db")
        assert now is not None
        assert now["properties"]["maintenanceWindow"]["dayOfTheWeek"] == "Sunday"
        assert now["properties"]["instances"]["storageSize"] == 30


def test_a_disruptive_postgres_change_waits_for_a_window(
        sandbox: Any, fresh: dict[str, str], tmp_path: Path) -> None:
    """A major upgrade restarts the instances: like MariaDB's, it is deferred outside the
    change calendar's windows (the calendar has one that is never open now)."""
    defs = make_defs(infra_spec(tmp_path), fresh)
    with instance_at(tmp_path / "home") as instance:
        assert run(defs, instance).success
        window = {"maintenance_windows": [{"name": "never-now", "day": "Monday",
                                           "start": "03:00", "duration": "1m"}], "freezes": []}
        upgraded = infra_spec(tmp_path, [{**POSTGRES, "version": "17"}], window)
        sandbox.reset_counts()
        result = run(make_defs(upgraded, fresh), instance)
        assert result.success, failures(result)
        plan = materialized(result)["ionos/postgres/apps-db"]["plan"]
        assert "defer" in plan and "version" in plan
        assert writes(sandbox.requests()) == {}


def with_consumer(tmp_path: Path) -> Path:
    """``infra_spec`` plus one component whose ConfigMap and Secret carry the PostgreSQL
    cluster's outputs."""
    path = infra_spec(tmp_path)
    data = yaml.safe_load(path.read_text())
    manifests = tmp_path / "manifests" / "apps"
    manifests.mkdir(parents=True)
    (manifests / "account.yaml").write_text(yaml.safe_dump(
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "apps"}}))
    data["applications"] = [{
        "name": "apps", "namespace": "apps", "source": {"manifests": {"path": "manifests/apps"}},
        "inputs": {"infrastructure": [
            {"asset": "postgres/apps-db", "config_map": "apps-database",
             "keys": {"host": "DB_HOST", "port": "DB_PORT", "database": "DB_NAME",
                      "user": "DB_USER"}},
            {"asset": "postgres/apps-db", "secret": "apps-database-auth",
             "keys": {"password": "DB_PASSWORD"}}]}}]
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_postgres_outputs_reach_the_component_and_follow_a_new_cluster(
        sandbox: Any, fresh: dict[str, str], tmp_path: Path) -> None:
    """The component's ConfigMap gets host, port, database and user, its Secret the password
    (never shown: the plan redacts a Secret's fields); when the cluster is replaced the same run
    writes the new cluster's host, because the component runs after it."""
    import base64

    import ionoscloud_dbaas_postgres as pg

    from tests.integration.test_reconcile import kube

    defs = make_defs(with_consumer(tmp_path), fresh)
    ionos = IonosCloudResource(token=fresh["IONOS_TOKEN"])
    k = kube(fresh)
    with instance_at(tmp_path / "home") as instance:
        first = run(defs, instance)
        assert first.success, failures(first)
        cluster = ionos.find_postgres("apps-db")
        assert cluster is not None
        cm = k.get("v1", "ConfigMap", "apps-database", "apps")
        assert cm is not None and cm["data"] == {
            "DB_HOST": cluster["metadata"]["dnsName"], "DB_PORT": "5432", "DB_NAME": "apps",
            "DB_USER": "apps"}
        secret = k.get("v1", "Secret", "apps-database-auth", "apps")
        assert secret is not None
        assert base64.b64decode(secret["data"]["DB_PASSWORD"]).decode() == \
            fresh["POSTGRES_PASSWORD"]
        plan = materialized(first)["applications/apps"]["plan"]
        assert "Secret apps/apps-database-auth" in plan
        assert fresh["POSTGRES_PASSWORD"] not in plan

        sandbox.reset_counts()
        assert run(defs, instance).success
        assert writes(sandbox.requests()) == {}

        pg_client(fresh).clusters_delete(cluster["id"])
        sandbox.reset_counts()
        again = run(defs, instance)
        assert again.success, failures(again)
        new = ionos.find_postgres("apps-db")
        assert new is not None and new["id"] != cluster["id"]
        cm = k.get("v1", "ConfigMap", "apps-database", "apps")
        assert cm is not None and cm["data"]["DB_HOST"] == new["metadata"]["dnsName"]
        # With the real PostgreSQL wired in, every cluster's host is that server's address and
        # the ConfigMap stays; with the emulator's own names it is rewritten in this run
        # (tests/unit/test_engine_outputs.py pins that case down).
        moved = new["metadata"]["dnsName"] != cluster["metadata"]["dnsName"]
        assert moved == ("SANDBOX_POSTGRES_HOST" not in fresh)
        assert writes(sandbox.requests()) == {"postgres": 1, **({"kubernetes": 1} if moved
                                                                else {})}
        assert pg.PostgresClusterStates.AVAILABLE == new["metadata"]["state"]
