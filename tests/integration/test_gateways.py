"""NAT gateways (and the IP block's outputs) with the real ``ionoscloud`` SDK: the sandbox's
contract for each (async requests, states, validation, the IONOS error body, an IP block in
another location, the quota), then the example with an egress gateway reconciled on the sandbox:
created, a second run writes nothing, drift detected, held by a freeze and corrected, orphans
reported."""

from __future__ import annotations

import json
import time
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


def target_group(client: Any, **extra: Any) -> Any:
    import ionoscloud

    props = {"name": "web", "algorithm": "ROUND_ROBIN", "protocol": "HTTP",
             "targets": [{"ip": "10.7.222.21", "port": 30080, "weight": 1}], **extra}
    api = ionoscloud.TargetGroupsApi(client)
    made, status, headers = api.targetgroups_post_with_http_info({"properties": props})
    assert status == 202 and "/requests/" in headers["Location"]
    return api.targetgroups_find_by_target_group_id(made.id, depth=1)


def forward(tg_id: str, name: str = "app", **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": "FORWARD", "targetGroup": tg_id, "conditions": [
        {"type": "HOST", "condition": "EQUALS", "value": "www.example.com"},
        {"type": "PATH", "condition": "STARTS_WITH", "value": "/app"}], **extra}


def alb_body(dc_ids: tuple[int, int], ips: list[str], http_rules: list[dict[str, Any]],
             name: str = "web", protocol: str = "HTTP") -> dict[str, Any]:
    public, private = dc_ids
    rule = {"name": "http", "protocol": protocol, "listenerIp": ips[0] if ips else "10.7.222.11",
            "listenerPort": 80, "httpRules": http_rules}
    return {"properties": {"name": name, "listenerLan": public, "targetLan": private,
                           "ips": ips, "lbPrivateIps": ["10.7.222.11/24"]},
            "entities": {"forwardingrules": {"items": [{"properties": rule}]}}}


def test_an_application_load_balancer_routes_by_host_and_path_to_a_target_group(
        api_url) -> None:
    """TargetGroupsApi and ApplicationLoadBalancersApi (ionoscloud 6.1.13) with the Cloud API's
    202 pattern: a target group and a balancer whose HTTP rule forwards by host and path go
    BUSY then AVAILABLE; documented defaults are filled in: a target's health check enabled and
    maintenance off (TargetGroupTarget), ``healthCheck`` interval 2000 ms and 3 retries
    (TargetGroupHealthCheck), ``clientTimeout`` 50000 ms
    (ApplicationLoadBalancerForwardingRuleProperties), ``negate`` false
    (ApplicationLoadBalancerHttpRuleCondition), a REDIRECT's status 301
    (ApplicationLoadBalancerHttpRule)."""
    import ionoscloud

    url, _ = api_url
    client = cloud(url)
    dc, public, private = datacenter(client)
    tg = target_group(client)
    assert tg.metadata.state == "AVAILABLE" and tg.type == "target-group"
    (target,) = tg.properties.targets
    assert target.health_check_enabled is True and target.maintenance_enabled is False
    assert (tg.properties.health_check.check_interval, tg.properties.health_check.retries) == (
        2000, 3)
    ip = reserve(client, name="web").properties.ips[0]
    api = ionoscloud.ApplicationLoadBalancersApi(client)
    redirect = {"name": "old", "type": "REDIRECT", "location": "https://www.example.com",
                "conditions": [{"type": "HOST", "condition": "EQUALS",
                                "value": "old.example.com"}]}
    made, status, headers = api.datacenters_applicationloadbalancers_post_with_http_info(
        dc, alb_body((public, private), [ip], [forward(tg.id), redirect]))
    assert status == 202 and "/requests/" in headers["Location"]
    got = api.datacenters_applicationloadbalancers_find_by_application_load_balancer_id(
        dc, made.id, depth=2)
    assert got.metadata.state == "AVAILABLE" and got.properties.ips == [ip]
    (rule,) = got.entities.forwardingrules.items
    assert rule.properties.client_timeout == 50000 and rule.properties.listener_ip == ip
    app, old = rule.properties.http_rules
    assert app.target_group == tg.id and app.conditions[0].negate is False
    assert old.status_code == 301 and old.location == "https://www.example.com"
    listed = api.datacenters_applicationloadbalancers_get(dc, depth=1)
    assert [b.id for b in listed.items] == [made.id] and listed.limit == 1000


def test_application_load_balancers_and_target_groups_validate_their_rules(api_url) -> None:
    """What the SDK's models document, refused with a 422 in the Cloud API's error body naming
    the field: a FORWARD rule needs an existing target group ("this parameter is mandatory");
    forwarding rules are HTTP only; a SOURCE_IP condition takes no ``condition`` ("It must be
    'null' if the type is 'SOURCE_IP'"), a HEADER condition needs its key, EXISTS takes no
    value; targets need ``weight`` (required in TargetGroupTarget); the algorithm comes from the
    allowed values; an address serves one balancer or gateway and an IP block only its own
    location; a target group a rule forwards to is not deleted. A refused POST creates
    nothing."""
    import ionoscloud

    url, _ = api_url
    client = cloud(url)
    dc, public, private = datacenter(client)
    lans = (public, private)
    tg = target_group(client)
    api = ionoscloud.ApplicationLoadBalancersApi(client)
    ip = reserve(client, name="web").properties.ips[0]
    far = reserve(client, location="us/las", name="far").properties.ips[0]
    nat_ip = reserve(client, name="egress").properties.ips[0]
    ionoscloud.NATGatewaysApi(client).datacenters_natgateways_post(dc, nat_body([nat_ip]))
    cases = [
        (alb_body(lans, [ip], [forward("no-such-group")]), "no-such-group"),
        (alb_body(lans, [ip], [forward(tg.id)], protocol="TCP"), "protocol"),
        (alb_body(lans, [ip], [forward(tg.id, conditions=[
            {"type": "SOURCE_IP", "condition": "EQUALS", "value": "10.0.0.0/8"}])]), "SOURCE_IP"),
        (alb_body(lans, [ip], [forward(tg.id, conditions=[
            {"type": "HEADER", "condition": "EQUALS", "value": "x"}])]), "key"),
        (alb_body(lans, [ip], [forward(tg.id, conditions=[
            {"type": "PATH", "condition": "EXISTS", "value": "/x"}])]), "EXISTS"),
        (alb_body(lans, [ip], [forward(tg.id), forward(tg.id)]), "unique"),
        (alb_body(lans, [far], [forward(tg.id)]), "us/las"),
        (alb_body(lans, [nat_ip], [forward(tg.id)]), "NAT gateway"),
    ]
    for body, word in cases:
        with pytest.raises(ionoscloud.ApiException) as exc:
            api.datacenters_applicationloadbalancers_post(dc, body)
        status, message = error_of(exc.value)
        assert status == 422 and word in message, (body, message)
    assert api.datacenters_applicationloadbalancers_get(dc, depth=1).items == []
    groups = ionoscloud.TargetGroupsApi(client)
    for props, word in (
            ({"targets": [{"ip": "10.7.222.21", "port": 30080}]}, "weight"),
            ({"algorithm": "FASTEST"}, "algorithm")):
        body = {"name": "bad", "algorithm": "ROUND_ROBIN", "protocol": "HTTP", **props}
        with pytest.raises(ionoscloud.ApiException) as exc:
            groups.targetgroups_post({"properties": body})
        status, message = error_of(exc.value)
        assert status == 422 and word in message, message
    api.datacenters_applicationloadbalancers_post(dc, alb_body(lans, [ip], [forward(tg.id)]))
    with pytest.raises(ionoscloud.ApiException) as exc:
        groups.target_groups_delete(tg.id)
    status, message = error_of(exc.value)
    assert status == 422 and "forwarding rule" in message


def _with_egress(data: dict[str, Any], _base: Path) -> None:
    """The example with a NAT gateway for the private LAN and an Application Load Balancer
    routing by host to a target group of the pool's nodes (each on its own reserved address),
    and WordPress reading the ingress address from the IP block's outputs."""
    ionos = data["ionos"]
    ionos["ip_blocks"].append({"name": "egress", "size": 1})
    ionos["nat_gateways"] = [{
        "name": "egress", "ip_block": "egress",
        "lans": [{"lan": "k8s-private", "gateway_ip": "10.7.222.1/24"}],
        "rules": [{"name": "nodes", "source_subnet": "10.7.222.0/25"},
                  {"name": "dns", "source_subnet": "10.7.222.128/25", "protocol": "UDP",
                   "target_ports": {"start": 53, "end": 53}}]}]
    ionos["ip_blocks"].append({"name": "web", "size": 1})
    ionos["target_groups"] = [{
        "name": "web", "targets": [{"node_pool": "application-pool", "port": 30080}],
        "http_health_check": {"path": "/healthz", "response": "200"}}]
    ionos["application_load_balancers"] = [{
        "name": "web", "ip_block": "web", "listener_lan": "edge-public",
        "target_lan": "k8s-private", "private_ip": "10.7.222.11/24",
        "rules": [{"name": "http", "listener_port": 80, "http_rules": [
            {"name": "old-host", "type": "REDIRECT", "location": "https://www.samcloud.online",
             "conditions": [{"type": "HOST", "condition": "EQUALS",
                             "value": "old.samcloud.online"}]},
            {"name": "site", "target_group": "web",
             "conditions": [{"type": "HOST", "condition": "ENDS_WITH",
                             "value": "samcloud.online"},
                            {"type": "PATH", "condition": "STARTS_WITH", "value": "/"}]}]}]}]
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


def _pool_ips(ionos: IonosCloudResource) -> list[str]:
    cluster = must(ionos.find_k8s_cluster("ionos-k8s"))
    pool = ionos.list_node_pools(cluster["id"])[0]
    return sorted(ionos.node_ips(cluster["id"], pool["id"]))


def _replace_a_node(ionos: IonosCloudResource, k8s: Any, before: list[str]) -> list[str]:
    """Replace the pool's first node through the API and wait until IONOS is done; returns
    the pool's addresses after, one of them new."""
    cluster = must(ionos.find_k8s_cluster("ionos-k8s"))
    pool = ionos.list_node_pools(cluster["id"])[0]
    old = k8s.k8s_nodepools_nodes_get(cluster["id"], pool["id"], depth=1).items[0]
    k8s.k8s_nodepools_nodes_replace_post(cluster["id"], pool["id"], old.id)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        items = k8s.k8s_nodepools_nodes_get(cluster["id"], pool["id"], depth=1).items
        if old.id not in {n.id for n in items} and all(
                n.metadata.state == "READY" for n in items):
            break
        time.sleep(0.1)
    after = _pool_ips(ionos)
    assert old.properties.private_ip not in after and len(after) == len(before), after
    return after


def rules_of(gw: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["properties"]["name"]: r for r in gw["entities"]["rules"]["items"]}


@pytest.mark.xdist_group("reconcile")
def test_the_example_with_gateways_and_an_alb_converges_and_drift_is_corrected(
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

        # The balancer forwards to the target group of every node, by host and path.
        alb = must(ionos.find_gateway("applicationloadbalancers", dc_id, "web"))
        tg = must(ionos.find_target_group("web"))
        nodes = _pool_ips(ionos)
        assert sorted(t["ip"] for t in tg["properties"]["targets"]) == nodes
        assert tg["properties"]["httpHealthCheck"]["path"] == "/healthz"
        (http,) = alb["entities"]["forwardingrules"]["items"]
        web_ip = must(ionos.find_ip_block("web"))["properties"]["ips"][0]
        assert http["properties"]["listenerIp"] == web_ip
        old_host, site = http["properties"]["httpRules"]
        assert (old_host["type"], old_host["statusCode"]) == ("REDIRECT", 301)
        assert site["targetGroup"] == tg["id"]

        sandbox.reset_counts()
        assert run(defs, instance).success
        assert writes(sandbox.requests()) == {}

        # IONOS replaces a node (maintenance, an upgrade, a replace: docs.ionos.com
        # managed-kubernetes how-tos/upgrade-node-pools): the new node has a new address, so
        # the next run retargets the group and the one after writes nothing.
        import ionoscloud

        nodes = _replace_a_node(ionos, ionoscloud.KubernetesApi(ionos.cloud_client()), nodes)
        assert run(defs, instance).success
        tg = must(ionos.find_target_group("web"))
        assert sorted(t["ip"] for t in tg["properties"]["targets"]) == nodes
        sandbox.reset_counts()
        assert run(defs, instance).success
        assert writes(sandbox.requests()) == {}

        # Drift by hand: a NAT rule's source subnet, a node taken out of the target group, the
        # balancer's site rule routing elsewhere, and a gateway no asset owns.
        api = ionoscloud.NATGatewaysApi(ionos.cloud_client())
        api.datacenters_natgateways_rules_patch(dc_id, gw["id"], rules_of(gw)["nodes"]["id"],
                                                {"sourceSubnet": "10.7.222.0/24"})
        groups = ionoscloud.TargetGroupsApi(ionos.cloud_client())
        groups.targetgroups_patch(tg["id"], {"targets": tg["properties"]["targets"][:1]})
        albs = ionoscloud.ApplicationLoadBalancersApi(ionos.cloud_client())
        moved = {**site, "conditions": [{"type": "PATH", "condition": "STARTS_WITH",
                                         "value": "/elsewhere"}]}
        albs.datacenters_applicationloadbalancers_forwardingrules_patch(
            dc_id, alb["id"], http["id"], {"httpRules": [old_host, moved]})
        spare = ionos.create_ip_block({"name": "by-hand", "location": "de/fra", "size": 1})
        api.datacenters_natgateways_post(dc_id, nat_body(spare["properties"]["ips"],
                                                          name="by-hand"))
        sandbox.reset_counts()
        drift = run(defs, instance, job="detect_drift")
        assert drift.success and writes(sandbox.requests()) == {}
        failed = failed_checks(drift)
        assert {"ionos/nat_gateway/egress", "ionos/datacenter", "ionos/target_group/web",
                "ionos/application_load_balancer/web"} <= set(failed), set(failed)
        assert "targets" in failed["ionos/target_group/web"].metadata["plan"].value
        assert "forwardingrules.http.httpRules" in failed[
            "ionos/application_load_balancer/web"].metadata["plan"].value
        assert 'rules.nodes.sourceSubnet: "10.7.222.0/24" -> "10.7.222.0/25"' in failed[
            "ionos/nat_gateway/egress"].metadata["plan"].value
        assert "ionos/nat_gateway/by-hand" in failed["ionos/datacenter"].metadata[
            "orphans"].value

        # A rule change moves traffic: a freeze holds it; forcing applies it.
        frozen = run(make_defs(spec_copy(tmp_path / "frozen", _freeze_now), sandbox_env),
                     instance)
        assert frozen.success
        held = materialized(frozen)
        for asset in ("ionos/nat_gateway/egress", "ionos/application_load_balancer/web"):
            assert held[asset]["summary"] == "1 deferred", held[asset]
            assert "change freeze test-freeze" in held[asset]["plan"]
        # A node back in its target group moves no traffic away: applied in the freeze.
        assert held["ionos/target_group/web"]["summary"] == "1 to update"
        assert len(must(ionos.find_target_group("web"))["properties"]["targets"]) == len(nodes)
        sandbox.reset_counts()
        assert run(defs, instance, run_config={"force": True}).success
        assert set(writes(sandbox.requests())) == {"ionos"}
        assert rules_of(gateway_state(ionos)[1])["nodes"]["properties"][
            "sourceSubnet"] == "10.7.222.0/25"
        fixed = must(ionos.find_gateway("applicationloadbalancers", dc_id, "web"))
        assert fixed["entities"]["forwardingrules"]["items"][0]["properties"]["httpRules"][1][
            "conditions"][1]["value"] == "/"
        sandbox.reset_counts()
        assert run(defs, instance).success
        assert writes(sandbox.requests()) == {}
        after = failed_checks(run(defs, instance, job="detect_drift"))
        assert not {"ionos/nat_gateway/egress", "ionos/target_group/web",
                    "ionos/application_load_balancer/web"} & set(after)
        # The orphan is reported, never deleted.
        assert ionos.find_gateway("natgateways", dc_id, "by-hand") is not None

        # The contract's NAT gateway quota: the run fails naming the asset, the request and
        # IONOS's reason, and writes no half-made gateway.
        more = ionos.create_ip_block({"name": "fill", "location": "de/fra", "size": 3})
        for n, fill_ip in enumerate(more["properties"]["ips"]):
            api.datacenters_natgateways_post(dc_id, nat_body([fill_ip], name=f"fill-{n}"))
        over = run(make_defs(spec_copy(tmp_path / "over", _one_gateway_more), sandbox_env),
                   instance)
        assert not over.success
        text = failure_text(over)
        assert (f"ionos/nat_gateway/egress-2: POST /datacenters/{dc_id}/natgateways "
                "(egress-2): HTTP 422: the contract's limit of 5 NAT gateways "
                "(resourceLimits.natGatewayLimitTotal) is reached") in text, text
        assert ionos.find_gateway("natgateways", dc_id, "egress-2") is None
    sandbox.reset()  # the next test of the group starts from an empty cloud, as this one did


def _one_gateway_more(data: dict[str, Any], base: Path) -> None:
    _with_egress(data, base)
    data["ionos"]["ip_blocks"].append({"name": "egress-2", "size": 1})
    data["ionos"]["nat_gateways"].append({
        "name": "egress-2", "ip_block": "egress-2",
        "lans": [{"lan": "k8s-private", "gateway_ip": "10.7.222.2/24"}],
        "rules": [{"name": "nodes", "source_subnet": "10.7.222.0/24"}]})


def failure_text(result: Any) -> str:
    return "\n".join(str(e.step_failure_data.error.message)
                     for e in result.get_step_failure_events() if e.step_failure_data.error)



@pytest.mark.xdist_group("reconcile")
def test_gateway_requests_are_counted_and_faulted_under_ionos(
        sandbox: Any, sandbox_env: dict[str, str]) -> None:
    """The sandbox's admin API (docs/sandbox.md): NAT gateway, Application Load Balancer and
    target group requests are Cloud API requests, counted under ``ionos``, and a fault injected
    there hits them: a 429 with an integer Retry-After (the ``ionoscloud`` SDK raises KeyError
    without one, ionos-cloud-api.md 2), which the resource waits out and retries."""
    sandbox.reset()
    ionos = IonosCloudResource(token=sandbox_env["IONOS_TOKEN"],
                               api_url=sandbox_env["IONOS_API_URL"], retry_attempts=3,
                               retry_max_wait_seconds=1.0)
    dc = ionos.create_datacenter({"name": "faults", "location": "de/fra"})
    sandbox.reset_counts()
    sandbox.set_fault("ionos", error_rate=1.0, statuses=[429], retry_after=1, times=1)
    assert ionos.list_gateways("natgateways", dc["id"]) == []  # after one 429
    assert sandbox.admin.faults() == {}, "times=1: the fault was spent on the first GET"
    assert ionos.list_gateways("applicationloadbalancers", dc["id"]) == []
    assert ionos.list_target_groups() == []
    counts = sandbox.requests()
    assert counts["ionos"]["GET"] == 4, counts  # the refused GET, its retry, and two more
    assert writes(counts) == {}
    sandbox.reset()
