"""The example's Redis cache (``ionos.inmemorydb``) reconciled on the sandbox with the real
``ionoscloud_dbaas_inmemorydb`` SDK: created with only its password's SHA-256 sent, a second run
without writes, drift detected and corrected, the user logging in to the real Redis."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from resources.ionos import IonosCloudResource
from tests.integration.test_postgres_reconcile import infra_spec
from tests.integration.test_reconcile import failures, instance_at, make_defs, materialized, run
from tests.integration.test_reconcile import writes as write_counts

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("reconcile")]


@pytest.fixture
def fresh(sandbox: Any, sandbox_env: dict[str, str]) -> dict[str, str]:
    sandbox.reset()
    sandbox.reset_counts()
    return sandbox_env


def test_the_cache_from_nothing_then_no_writes_then_drift_corrected(
        sandbox: Any, fresh: dict[str, str], tmp_path: Path) -> None:
    import ionoscloud_dbaas_inmemorydb as im

    defs = make_defs(infra_spec(tmp_path, postgres=[]), fresh)
    with instance_at(tmp_path / "home") as instance:
        first = run(defs, instance)
        assert first.success, failures(first)
        meta = materialized(first)["ionos/inmemorydb/wordpress-cache"]
        assert meta["summary"] == "1 to create" and meta["state"] == "AVAILABLE"
        assert write_counts(sandbox.requests()).get("inmemorydb") == 1
        made = IonosCloudResource(token=fresh["IONOS_TOKEN"]).find_inmemorydb("wordpress-cache")
        assert made is not None
        props = made["properties"]
        assert props["instances"] == {"count": 3, "cores": 1, "ram": 4}
        assert (props["persistenceMode"], props["evictionPolicy"]) == ("RDB", "allkeys-lru")
        assert props["credentials"] == {"username": "wordpress"}  # the hash is write-only
        if "SANDBOX_REDIS_HOST" in fresh:
            with socket.create_connection((made["metadata"]["dnsName"], 6379), timeout=3) as s:
                pw = fresh["INMEMORYDB_PASSWORD"]
                s.sendall(f"*3\r\n$4\r\nAUTH\r\n$9\r\nwordpress\r\n${len(pw)}\r\n{pw}\r\n"
                          .encode())
                assert s.recv(64).startswith(b"+OK")

        sandbox.reset_counts()
        second = run(defs, instance)
        assert second.success, failures(second)
        assert write_counts(sandbox.requests()) == {}

        api = im.ClustersApi(im.ApiClient(im.Configuration(
            host=fresh["IONOS_INMEMORYDB_URL"], token=fresh["IONOS_TOKEN"])))
        changed = {k: v for k, v in props.items() if k != "credentials"}
        changed["evictionPolicy"] = "noeviction"
        api.clusters_put(made["id"], im.ClusterEnsure.from_dict(
            {"id": made["id"], "properties": changed}))
        sandbox.reset_counts()
        drift = run(defs, instance, job="detect_drift")
        failed = {"/".join(c.asset_key.path): c for c in drift.get_asset_check_evaluations()
                  if not c.passed}
        assert set(failed) == {"ionos/inmemorydb/wordpress-cache"}
        assert 'evictionPolicy: "noeviction" -> "allkeys-lru"' in failed[
            "ionos/inmemorydb/wordpress-cache"].metadata["plan"].value
        assert write_counts(sandbox.requests()) == {}
        fixed = run(defs, instance)
        assert fixed.success, failures(fixed)
        assert write_counts(sandbox.requests()) == {"inmemorydb": 1}
