"""NAT gateways (and the IP block's outputs) with the real ``ionoscloud`` SDK: the sandbox's
contract for each (async requests, states, validation, the IONOS error body, an IP block in
another location, the quota), then the example with an egress gateway reconciled on the sandbox:
created, a second run writes nothing, drift detected, held by a freeze and corrected, orphans
reported."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from resources.ionos import IonosCloudResource
from sandbox.http import PrefixRouter, RunningServer, serve
from sandbox.ionos import IonosCloudService
from sandbox.ionos_gateways import NAT_LIMIT
from sandbox.world import World
from tests.integration.test_reconcile import (
    instance_at,
    kube,
    make_defs,
    materialized,
    must,
    run,
    spec_copy,
    writes,
)
from tests.integration.test_sandbox_network import (
    PASSWORD,
    TOKEN,
    USER,
    cloud,
    datacenter,
    error_of,
    reserve,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def api_url() -> Iterator[tuple[str, IonosCloudService]]:
    """A Cloud API emulator of its own (nothing else shares its state)."""
    ionos = IonosCloudService(World(), TOKEN, USER, PASSWORD)
    server: RunningServer = serve(PrefixRouter({"/cloudapi/v6": ionos}))
    yield server.url, ionos
    server.stop()


def nat_body(ips: list[str], lans: list[dict[str, Any]] | None = None,
             rules: list[dict[str, Any]] | None = None, name: str = "egress") -> dict[str, Any]:
    body: dict[str, Any] = {"properties": {"name": name, "publicIps": ips,
                                           "lans": lans if lans is not None else []}}
    if rules is not None:
        body["entities"] = {"rules": {"items": [{"properties": r} for r in rules]}}
    return body


def snat(public_ip: str, **extra: Any) -> dict[str, Any]:
    return {"name": "nodes", "sourceSubnet": "10.7.222.0/24", "publicIp": public_ip, **extra}


def test_a_nat_gateway_is_created_asynchronously_with_its_rules(api_url) -> None:
    """NATGatewaysApi (ionoscloud 6.1.13) and the Cloud API's 202 pattern: POST answers 202 with
    a Location to /requests and the gateway BUSY, then AVAILABLE; ``entities.rules`` creates its
    rules in the same request (NatGatewayEntities); a rule's ``type`` defaults to SNAT and its
    ``protocol`` to ALL (NatGatewayRuleProperties: "Defaults to ALL"); a LAN without
    ``gatewayIps`` gets a generated /24 address (NatGatewayProperties.lans)."""
    import ionoscloud

    url, _ = api_url
    client = cloud(url)
    dc, _public, private = datacenter(client)
    ip = reserve(client, name="egress").properties.ips[0]
    api = ionoscloud.NATGatewaysApi(client)
    made, status, headers = api.datacenters_natgateways_post_with_http_info(
        dc, nat_body([ip], [{"id": private}], [snat(ip)]))
    assert status == 202 and "/requests/" in headers["Location"]
    assert made.metadata.state == "BUSY" or made.metadata.state == "AVAILABLE"
    got = api.datacenters_natgateways_find_by_nat_gateway_id(dc, made.id, depth=2)
    assert got.metadata.state == "AVAILABLE" and got.type == "natgateway"
    assert got.properties.public_ips == [ip]
    (lan,) = got.properties.lans
    assert lan.id == private and lan.gateway_ips[0].endswith("/24")
    (rule,) = got.entities.rules.items
    assert (rule.properties.type, rule.properties.protocol) == ("SNAT", "ALL")
    listed = api.datacenters_natgateways_rules_get(dc, made.id, depth=1)
    assert [r.properties.name for r in listed.items] == ["nodes"]


def test_nat_gateways_validate_addresses_lans_and_rules(api_url) -> None:
    """NatGatewayProperties: ``name`` and ``publicIps`` are required, "customer reserved IP
    addresses in that location" (an IP block serves only its own location, IONOS docs), not used
    by a load balancer; LANs are private ones of the datacenter (docs.ionos.com NAT Gateway
    overview: "up to six private networks"); NatGatewayRuleProperties: the rule's ``publicIp``
    "should be one of the customer reserved IP address already configured on the NAT Gateway",
    protocol from the SDK's allowed values, no ``targetPortRange`` with ICMP. Each refusal is a
    422 in the Cloud API's error body naming the field."""
    import ionoscloud

    url, _ = api_url
    client = cloud(url)
    dc, public, private = datacenter(client)
    api = ionoscloud.NATGatewaysApi(client)
    ip = reserve(client, name="egress").properties.ips[0]
    elsewhere = reserve(client, location="us/las", name="far").properties.ips[0]
    nlb_ip = reserve(client, name="ingress").properties.ips[0]
    ionoscloud.NetworkLoadBalancersApi(client).datacenters_networkloadbalancers_post(dc, {
        "properties": {"name": "lb", "listenerLan": public, "targetLan": private,
                       "ips": [nlb_ip]}})
    cases = [
        ({"properties": {"name": "egress"}}, "publicIps"),
        (nat_body([elsewhere]), "us/las"),
        (nat_body([nlb_ip]), "network load balancer"),
        (nat_body([ip], [{"id": public}]), "public"),
        (nat_body([ip], [{"id": 99}]), "LAN 99"),
        (nat_body([ip], [{"id": private}] * 7), "at most 6"),
        (nat_body([ip], [], [snat(nlb_ip)]), "publicIp"),
        (nat_body([ip], [], [snat(ip, protocol="GRE")]), "protocol"),
        (nat_body([ip], [], [snat(ip, protocol="ICMP",
                                  targetPortRange={"start": 1, "end": 2})]), "ICMP"),
        (nat_body([ip], [], [snat(ip, sourceSubnet="10.7.222.0/33")]), "sourceSubnet"),
    ]
    for body, word in cases:
        with pytest.raises(ionoscloud.ApiException) as exc:
            api.datacenters_natgateways_post(dc, body)
        status, message = error_of(exc.value)
        assert status == 422 and word in message, (body, message)
    assert api.datacenters_natgateways_get(dc, depth=1).items == []


def test_the_contract_limits_nat_gateways_and_a_used_block_stays_reserved(api_url) -> None:
    """``natGatewayLimitTotal`` of the contract (GET /contracts resourceLimits; five by default,
    docs.ionos.com NAT Gateway overview): one more is refused with the quota's error code; an
    IP block whose address a NAT gateway uses lists it in ``ipConsumers`` and cannot be released
    (IpBlockProperties.ipConsumers)."""
    import ionoscloud

    url, service = api_url
    client = cloud(url)
    dc, _public, _private = datacenter(client)
    api = ionoscloud.NATGatewaysApi(client)
    block = reserve(client, name="egress", size=NAT_LIMIT + 1)
    ips = block.properties.ips
    for i in range(NAT_LIMIT):
        api.datacenters_natgateways_post(dc, nat_body([ips[i]], name=f"gw{i}"))
    with pytest.raises(ionoscloud.ApiException) as exc:
        api.datacenters_natgateways_post(dc, nat_body([ips[-1]], name="one-too-many"))
    status, message = error_of(exc.value)
    assert status == 422 and "natGatewayLimitTotal" in message
    assert json.loads(exc.value.body)["messages"][0]["errorCode"] == "301"
    limits = ionoscloud.ContractResourcesApi(client).contracts_get().items[0]
    assert limits.properties.resource_limits.nat_gateway_provisioned == NAT_LIMIT
    blocks = ionoscloud.IPBlocksApi(client)
    got = blocks.ipblocks_find_by_id(block.id, depth=1)
    assert [c.ip for c in got.properties.ip_consumers] == ips[:NAT_LIMIT]
    with pytest.raises(ionoscloud.ApiException) as exc:
        blocks.ipblocks_delete(block.id)
    status, message = error_of(exc.value)
    assert status == 422 and "NAT gateway" in message
    # A change that IONOS fails ends FAILED, request included (fail_next).
    service.fail_next("natgateway")
    gw = api.datacenters_natgateways_get(dc, depth=1).items[0]
    _, _, headers = api.datacenters_natgateways_patch_with_http_info(
        dc, gw.id, {"name": "renamed"})
    rid = headers["Location"].split("/requests/")[1].split("/")[0]
    status_of = ionoscloud.RequestsApi(client).requests_status_get(rid)
    assert status_of.metadata.status == "FAILED"
    assert api.datacenters_natgateways_find_by_nat_gateway_id(
        dc, gw.id).metadata.state == "FAILED"


def _with_egress(data: dict[str, Any], _base: Path) -> None:
    """The example with a NAT gateway for the private LAN (its own reserved address) and
    WordPress reading the ingress address from the IP block's outputs."""
    ionos = data["ionos"]
    ionos["ip_blocks"].append({"name": "egress", "size": 1})
    ionos["nat_gateways"] = [{
        "name": "egress", "ip_block": "egress",
        "lans": [{"lan": "k8s-private", "gateway_ip": "10.7.222.1/24"}],
        "rules": [{"name": "nodes", "source_subnet": "10.7.222.0/25"},
                  {"name": "dns", "source_subnet": "10.7.222.128/25", "protocol": "UDP",
                   "target_ports": {"start": 53, "end": 53}}]}]
    wordpress = next(c for c in data["applications"] if c["name"] == "wordpress")
    wordpress["inputs"]["infrastructure"].append({
        "asset": "ip_block/ingress", "config_map": "edge-addresses",
        "keys": {"ip": "INGRESS_IP", "ips": "INGRESS_IPS"}})


def _freeze_now(data: dict[str, Any], base: Path) -> None:
    _with_egress(data, base)
    data["change_calendar"] = {"maintenance_windows": [], "freezes": [{
        "name": "test-freeze", "start": "2020-01-01T00:00:00Z", "end": "2099-01-01T00:00:00Z",
        "reason": "the test holds disruptive changes"}]}


def failed_checks(result: Any) -> dict[str, Any]:
    return {"/".join(c.asset_key.path): c for c in result.get_asset_check_evaluations()
            if not c.passed}


def gateway_state(ionos: IonosCloudResource) -> tuple[str, dict[str, Any], str]:
    """(the egress address, the NAT gateway JSON with its rules, the datacenter id)."""
    dc = must(ionos.find_datacenter("k8s-production"))
    block = must(ionos.find_ip_block("egress"))
    return (block["properties"]["ips"][0], must(ionos.find_gateway("natgateways", dc["id"],
                                                                   "egress")), dc["id"])


def rules_of(gw: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["properties"]["name"]: r for r in gw["entities"]["rules"]["items"]}


@pytest.mark.xdist_group("reconcile")
def test_the_example_with_an_egress_gateway_converges_and_drift_is_corrected(
        sandbox: Any, sandbox_env: dict[str, str], tmp_path: Path) -> None:
    sandbox.reset()
    sandbox.reset_counts()
    defs = make_defs(spec_copy(tmp_path / "egress", _with_egress), sandbox_env)
    ionos = IonosCloudResource(token=sandbox_env["IONOS_TOKEN"],
                               api_url=sandbox_env["IONOS_API_URL"])
    with instance_at(tmp_path / "home") as instance:
        first = run(defs, instance)
        assert first.success
        assert materialized(first)["ionos/nat_gateway/egress"]["summary"] == "1 to create"
        ip, gw, dc_id = gateway_state(ionos)
        lan_id = next(int(x["id"]) for x in ionos.list_lans(dc_id)
                      if x["properties"]["name"] == "k8s-private")
        assert gw["properties"]["publicIps"] == [ip]
        assert gw["properties"]["lans"] == [{"id": lan_id, "gatewayIps": ["10.7.222.1/24"]}]
        rules = {n: r["properties"] for n, r in rules_of(gw).items()}
        assert rules["nodes"] == {"name": "nodes", "type": "SNAT", "protocol": "ALL",
                                  "sourceSubnet": "10.7.222.0/25", "publicIp": ip}
        assert rules["dns"]["targetPortRange"] == {"start": 53, "end": 53}
        # The ingress block's address reaches WordPress through the IP block's outputs.
        ingress_ip = must(ionos.find_ip_block("ingress"))["properties"]["ips"][0]
        cm = must(kube(sandbox_env).get("v1", "ConfigMap", "edge-addresses", "services"))
        assert cm["data"] == {"INGRESS_IP": ingress_ip, "INGRESS_IPS": ingress_ip}

        sandbox.reset_counts()
        assert run(defs, instance).success
        assert writes(sandbox.requests()) == {}

        # Drift by hand: a rule's source subnet, and a gateway no asset owns.
        import ionoscloud

        api = ionoscloud.NATGatewaysApi(ionos.cloud_client())
        api.datacenters_natgateways_rules_patch(dc_id, gw["id"], rules_of(gw)["nodes"]["id"],
                                                {"sourceSubnet": "10.7.222.0/24"})
        spare = ionos.create_ip_block({"name": "by-hand", "location": "de/fra", "size": 1})
        api.datacenters_natgateways_post(dc_id, nat_body(spare["properties"]["ips"],
                                                          name="by-hand"))
        sandbox.reset_counts()
        drift = run(defs, instance, job="detect_drift")
        assert drift.success and writes(sandbox.requests()) == {}
        failed = failed_checks(drift)
        assert {"ionos/nat_gateway/egress", "ionos/datacenter"} <= set(failed), set(failed)
        assert 'rules.nodes.sourceSubnet: "10.7.222.0/24" -> "10.7.222.0/25"' in failed[
            "ionos/nat_gateway/egress"].metadata["plan"].value
        assert "ionos/nat_gateway/by-hand" in failed["ionos/datacenter"].metadata[
            "orphans"].value

        # A rule change moves traffic: a freeze holds it; forcing applies it.
        frozen = run(make_defs(spec_copy(tmp_path / "frozen", _freeze_now), sandbox_env),
                     instance)
        assert frozen.success
        held = materialized(frozen)["ionos/nat_gateway/egress"]
        assert held["summary"] == "1 deferred" and "change freeze test-freeze" in held["plan"]
        sandbox.reset_counts()
        assert run(defs, instance, run_config={"force": True}).success
        assert set(writes(sandbox.requests())) == {"ionos"}
        assert rules_of(gateway_state(ionos)[1])["nodes"]["properties"][
            "sourceSubnet"] == "10.7.222.0/25"
        sandbox.reset_counts()
        assert run(defs, instance).success
        assert writes(sandbox.requests()) == {}
        after = failed_checks(run(defs, instance, job="detect_drift"))
        assert "ionos/nat_gateway/egress" not in after
        # The orphan is reported, never deleted.
        assert ionos.find_gateway("natgateways", dc_id, "by-hand") is not None
