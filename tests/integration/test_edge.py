"""The network edge and DNS of the example on the sandbox, with the real ``ionoscloud`` and
``ionoscloud_dns`` SDKs: the reserved address, the load balancer in front of the ingress, records
for every host, drift on each kind detected, gated by the calendar and corrected, orphan
records, and DNS with only a login (a token from the Auth API)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from resources.ionos import IonosCloudResource
from tests.integration.test_reconcile import (
    EXAMPLE,
    instance_at,
    kube,
    make_defs,
    materialized,
    must,
    run,
    spec_copy,
    writes,
)

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("reconcile")]

HOSTS = ("@", "*", "alertmanager", "grafana", "www")


@pytest.fixture
def fresh(sandbox: Any, sandbox_env: dict[str, str]) -> dict[str, str]:
    """An empty sandbox cloud."""
    sandbox.reset()
    sandbox.reset_counts()
    return sandbox_env


def cloud(env: dict[str, str]) -> IonosCloudResource:
    return IonosCloudResource(token=env["IONOS_TOKEN"], api_url=env["IONOS_API_URL"])


def records(ionos: IonosCloudResource) -> dict[str, dict[str, Any]]:
    zone = must(ionos.find_zone("samcloud.online"))
    return {f"{r['properties']['name'] or '@'} {r['properties']['type']}": r
            for r in ionos.list_records(zone["id"])}


def edge_state(ionos: IonosCloudResource) -> tuple[str, dict[str, Any], str]:
    """(the reserved address, the load balancer JSON, the datacenter id)."""
    block = must(ionos.find_ip_block("ingress"))
    dc = must(ionos.find_datacenter("k8s-production"))
    return block["properties"]["ips"][0], must(ionos.find_nlb(dc["id"], "ingress")), dc["id"]


def rules_of(nlb: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["properties"]["name"]: r for r in nlb["entities"]["forwardingrules"]["items"]}


def _freeze_now(data: dict[str, Any], _base: Path) -> None:
    data["change_calendar"] = {"maintenance_windows": [], "freezes": [{
        "name": "test-freeze", "start": "2020-01-01T00:00:00Z", "end": "2099-01-01T00:00:00Z",
        "reason": "the test holds disruptive changes"}]}


def failed_checks(result: Any) -> dict[str, Any]:
    return {"/".join(c.asset_key.path): c for c in result.get_asset_check_evaluations()
            if not c.passed}


def test_example_edge_converges_and_drift_on_each_kind_is_corrected(
        sandbox: Any, fresh: dict[str, str], tmp_path: Path) -> None:
    defs = make_defs(EXAMPLE, fresh)
    ionos = cloud(fresh)
    with instance_at(tmp_path / "home") as instance:
        assert run(defs, instance).success
        ip, nlb, dc_id = edge_state(ionos)
        # Every host of the spec, the wildcard and www point at the reserved address.
        recs = records(ionos)
        assert {k: r["properties"]["content"] for k, r in recs.items()} == {
            f"{h} A": ip for h in HOSTS}
        # The load balancer listens there and forwards to every node of the pool.
        assert nlb["properties"]["ips"] == [ip]
        cluster = must(ionos.find_k8s_cluster("ionos-k8s"))
        pool = ionos.list_node_pools(cluster["id"])[0]
        nodes = sorted(ionos.node_ips(cluster["id"], pool["id"]))
        https = rules_of(nlb)["https"]["properties"]
        assert https["listenerIp"] == ip and https["listenerPort"] == 443
        assert sorted(t["ip"] for t in https["targets"]) == nodes and len(nodes) == 3
        assert {t["port"] for t in https["targets"]} == {30443}
        # The ingress Service's load balancer IP is pinned to the same address.
        traefik = must(kube(fresh).get("helm.toolkit.fluxcd.io/v2", "HelmRelease", "ingress",
                                       "kube-system"))
        assert traefik["spec"]["values"]["service"]["spec"]["loadBalancerIP"] == ip

        # Drift on each kind, by hand through the SDKs.
        import ionoscloud
        import ionoscloud_dns as dns

        block = must(ionos.find_ip_block("ingress"))
        ionos.api("IPBlocksApi").ipblocks_patch(block["id"], {"name": "renamed-by-hand"})
        rule = rules_of(nlb)["https"]
        ionoscloud.NetworkLoadBalancersApi(ionos.cloud_client()).\
            datacenters_networkloadbalancers_forwardingrules_patch(
                dc_id, nlb["id"], rule["id"], {"listenerPort": 8443})
        zone = must(ionos.find_zone("samcloud.online"))
        api = dns.RecordsApi(ionos.dns_client())
        api.zones_records_put(zone["id"], recs["grafana A"]["id"], dns.RecordEnsure.from_dict(
            {"properties": {"name": "grafana", "type": "A", "content": "203.0.113.7",
                            "ttl": 3600, "enabled": True}}))
        api.zones_records_delete(zone["id"], recs["* A"]["id"])
        api.zones_records_post(zone["id"], dns.RecordCreate.from_dict(
            {"properties": {"name": "legacy", "type": "A", "content": "203.0.113.8"}}))

        sandbox.reset_counts()
        drift = run(defs, instance, job="detect_drift")
        assert drift.success and writes(sandbox.requests()) == {}
        failed = failed_checks(drift)
        # The ingress reads its pinned address from the block by name: renamed, there is none.
        assert set(failed) == {"ionos/ip_block/ingress", "ionos/load_balancer/ingress",
                               "ionos/dns_zone/samcloud.online", "platform/ingress"}
        assert failed["ionos/ip_block/ingress"].severity == dg.AssetCheckSeverity.ERROR
        assert '"renamed-by-hand" -> "ingress"' in failed["ionos/ip_block/ingress"].metadata[
            "plan"].value
        assert "rules.https.listenerPort: 8443 -> 443" in failed[
            "ionos/load_balancer/ingress"].metadata["plan"].value
        zone_check = failed["ionos/dns_zone/samcloud.online"]
        assert "records.grafana A.content" in zone_check.metadata["plan"].value
        assert zone_check.metadata["orphan_count"].value == 1
        assert "record legacy A -> 203.0.113.8" in zone_check.metadata["orphans"].value

        # In a freeze the rename is corrected; moving a listener port or a record is not.
        frozen = run(make_defs(spec_copy(tmp_path / "frozen", _freeze_now), fresh), instance)
        assert frozen.success
        meta = materialized(frozen)
        assert meta["ionos/ip_block/ingress"]["summary"] == "1 to update"
        assert meta["ionos/load_balancer/ingress"]["summary"] == "1 deferred"
        assert meta["ionos/dns_zone/samcloud.online"]["summary"] == "1 deferred"
        assert "change freeze test-freeze" in meta["ionos/dns_zone/samcloud.online"]["plan"]
        assert must(ionos.find_ip_block("ingress"))["properties"]["ips"] == [ip]

        sandbox.reset_counts()
        fixed = run(defs, instance, run_config={"force": True})
        assert fixed.success
        assert set(writes(sandbox.requests())) == {"ionos", "dns"}
        assert rules_of(edge_state(ionos)[1])["https"]["properties"]["listenerPort"] == 443
        now = records(ionos)
        assert {k: r["properties"]["content"] for k, r in now.items() if k != "legacy A"} == {
            f"{h} A": ip for h in HOSTS}
        assert now["legacy A"]["properties"]["content"] == "203.0.113.8"  # never deleted

        sandbox.reset_counts()
        assert run(defs, instance).success
        assert writes(sandbox.requests()) == {}
        after = failed_checks(run(defs, instance, job="detect_drift"))
        assert set(after) == {"ionos/dns_zone/samcloud.online"}  # only the orphan is left
        assert after["ionos/dns_zone/samcloud.online"].metadata["differences"].value == 0


def test_dns_with_only_a_login_uses_a_token_from_the_auth_api(
        sandbox: Any, fresh: dict[str, str]) -> None:
    """The DNS API takes tokens only; with IONOS_USERNAME/IONOS_PASSWORD the resource asks the
    Auth API for one (GET /auth/v1/tokens/generate, Basic) and sends it as Bearer."""
    login = IonosCloudResource(username=fresh["IONOS_USERNAME"],
                               password=fresh["IONOS_PASSWORD"], api_url=fresh["IONOS_API_URL"])
    made = login.create_zone({"zoneName": "login.example", "description": "", "enabled": True})
    assert made["metadata"]["state"] == "AVAILABLE"
    counts = sandbox.requests()
    assert counts["auth"]["GET"] == 1 and "auth" not in writes(counts)
    assert counts["dns"]["POST"] == 1
    assert must(login.find_zone("login.example"))["id"] == made["id"]
    assert sandbox.requests()["auth"]["GET"] == 1  # one token per client, not per call

    wrong = IonosCloudResource(username=fresh["IONOS_USERNAME"], password="not-it",
                               api_url=fresh["IONOS_API_URL"], retry_attempts=1)
    with pytest.raises(Exception) as exc:
        wrong.find_zone("login.example")
    assert "tokens/generate" in str(exc.value) and "401" in str(exc.value)
    assert "not-it" not in str(exc.value)
