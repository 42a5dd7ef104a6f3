"""The sandbox's network edge (IP blocks, Network Load Balancers and their forwarding rules) and
Auth API against their contracts, with the real ``ionoscloud`` and ``ionoscloud_dns`` SDKs."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from sandbox.auth import AuthService
from sandbox.dns import DnsService
from sandbox.http import PrefixRouter, RunningServer, serve
from sandbox.ionos import NLB_LIMIT, RESERVABLE_IPS, IonosCloudService
from sandbox.world import World

pytestmark = pytest.mark.integration

TOKEN = "edge-test-token"
USER, PASSWORD = "edge@example.com", "edge-password"


@pytest.fixture
def edge() -> Iterator[tuple[str, IonosCloudService]]:
    world = World()
    ionos = IonosCloudService(world, TOKEN, USER, PASSWORD)
    auth = AuthService(TOKEN, USER, PASSWORD)
    dns = DnsService(world, TOKEN, accepts=auth.accepts)
    server: RunningServer = serve(PrefixRouter({"/cloudapi/v6": ionos, "/auth/v1": auth,
                                                "/dns": dns}))
    yield server.url, ionos
    server.stop()


def cloud(url: str) -> Any:
    import ionoscloud

    cfg = ionoscloud.Configuration(host=url + "/cloudapi/v6", token=TOKEN)
    cfg.max_retries = 1
    return ionoscloud.ApiClient(cfg)


def raw(method: str, url: str, headers: dict[str, str]) -> tuple[int, Any]:
    req = urllib.request.Request(url, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


def error_of(exc: Any) -> tuple[int, str]:
    body = json.loads(exc.body)
    assert body["httpStatus"] == exc.status and body["messages"][0]["errorCode"]
    return exc.status, body["messages"][0]["message"]


def datacenter(client: Any, location: str = "de/fra") -> tuple[str, int, int]:
    """A datacenter with a public listener LAN and a private target LAN."""
    import ionoscloud

    dcs = ionoscloud.DataCentersApi(client)
    dc = dcs.datacenters_post({"properties": {"name": "edge", "location": location}})
    lans = ionoscloud.LANsApi(client)
    public = lans.datacenters_lans_post(dc.id, {"properties": {"name": "in", "public": True}})
    private = lans.datacenters_lans_post(dc.id, {"properties": {"name": "out",
                                                                 "public": False}})
    return dc.id, int(public.id), int(private.id)


def reserve(client: Any, location: str = "de/fra", size: int = 1, name: str = "ingress") -> Any:
    import ionoscloud

    api = ionoscloud.IPBlocksApi(client)
    block, status, headers = api.ipblocks_post_with_http_info(ionoscloud.IpBlock(
        properties=ionoscloud.IpBlockProperties(location=location, size=size, name=name)))
    assert status == 202 and "/requests/" in headers["Location"]
    return api.ipblocks_find_by_id(block.id, depth=1)


def test_an_ip_block_is_reserved_asynchronously_and_only_its_name_changes(edge) -> None:
    """IPBlocksApi (ionoscloud 6.1.13): POST answers 202 with a Location to /requests, the block
    is BUSY then AVAILABLE with ``size`` addresses in ``ips``; PATCH may rename it, while
    location and size are fixed (IpBlockProperties; a 422 in the Cloud API's error body)."""
    import ionoscloud

    url, _ = edge
    client = cloud(url)
    block = reserve(client, size=2)
    assert block.metadata.state == "AVAILABLE" and len(block.properties.ips) == 2
    assert block.properties.location == "de/fra" and block.type == "ipblock"
    api = ionoscloud.IPBlocksApi(client)
    api.ipblocks_patch(block.id, ionoscloud.IpBlockProperties(name="renamed"))
    assert api.ipblocks_find_by_id(block.id).properties.name == "renamed"
    with pytest.raises(ionoscloud.ApiException) as exc:
        api.ipblocks_patch(block.id, ionoscloud.IpBlockProperties(size=3))
    status, message = error_of(exc.value)
    assert status == 422 and "size" in message
    listed = api.ipblocks_get(depth=1)
    assert [b.id for b in listed.items] == [block.id] and listed.limit == 1000


def test_reserving_beyond_the_contract_limit_is_refused(edge) -> None:
    """The contract's ``reservableIps`` (GET /contracts resourceLimits) bounds what can be
    reserved; beyond it the API refuses the request (422) and reserves nothing."""
    import ionoscloud

    url, _ = edge
    client = cloud(url)
    reserve(client, size=RESERVABLE_IPS - 1)
    with pytest.raises(ionoscloud.ApiException) as exc:
        reserve(client, size=2)
    status, message = error_of(exc.value)
    assert status == 422 and "limit" in message
    limits = ionoscloud.ContractResourcesApi(client).contracts_get().items[0]
    assert limits.properties.resource_limits.reserved_ips_on_contract == RESERVABLE_IPS - 1


def test_a_network_load_balancer_listens_on_reserved_ips_of_its_location(edge) -> None:
    """NetworkLoadBalancerProperties: listener IPs "must be customer-reserved IPs for public Load
    Balancers"; an IP block serves only its own location (IONOS docs, "IP blocks ... can only be
    used in the data center location where they were reserved"): an address of a block in
    another location, or one another balancer uses, is a 422 naming it."""
    import ionoscloud

    url, _ = edge
    client = cloud(url)
    dc, public, private = datacenter(client)
    elsewhere = reserve(client, location="us/las").properties.ips[0]
    api = ionoscloud.NetworkLoadBalancersApi(client)

    def nlb(ips: list[str], name: str = "edge") -> Any:
        return api.datacenters_networkloadbalancers_post(dc, ionoscloud.NetworkLoadBalancer(
            properties=ionoscloud.NetworkLoadBalancerProperties(
                name=name, listener_lan=public, target_lan=private, ips=ips,
                lb_private_ips=["10.7.222.10/24"])))

    with pytest.raises(ionoscloud.ApiException) as exc:
        nlb([elsewhere])
    status, message = error_of(exc.value)
    assert status == 422 and "us/las" in message and elsewhere in message
    ip = reserve(client).properties.ips[0]
    made = nlb([ip])
    assert made.metadata.state == "BUSY" or made.metadata.state == "AVAILABLE"
    got = api.datacenters_networkloadbalancers_find_by_network_load_balancer_id(dc, made.id,
                                                                                depth=2)
    assert got.metadata.state == "AVAILABLE" and got.properties.ips == [ip]
    assert got.properties.lb_private_ips == ["10.7.222.10/24"]
    with pytest.raises(ionoscloud.ApiException) as exc:
        nlb([ip], name="second")
    assert error_of(exc.value)[0] == 422
    block = next(b for b in ionoscloud.IPBlocksApi(client).ipblocks_get(depth=1).items
                 if ip in b.properties.ips)
    assert [c.ip for c in block.properties.ip_consumers] == [ip]
    with pytest.raises(ionoscloud.ApiException) as exc:
        ionoscloud.IPBlocksApi(client).ipblocks_delete(block.id)
    assert error_of(exc.value)[0] == 422


def test_forwarding_rules_validate_listener_and_targets(edge) -> None:
    """NetworkLoadBalancerForwardingRuleProperties: algorithm and protocol from the SDK's
    allowed values, the listener IP one of the balancer's, one rule per listener IP and port,
    targets with ip and port (weight 0-256, default 1); health-check defaults as documented."""
    import ionoscloud

    url, _ = edge
    client = cloud(url)
    dc, public, private = datacenter(client)
    ip = reserve(client).properties.ips[0]
    api = ionoscloud.NetworkLoadBalancersApi(client)
    nlb = api.datacenters_networkloadbalancers_post(dc, ionoscloud.NetworkLoadBalancer(
        properties=ionoscloud.NetworkLoadBalancerProperties(
            name="edge", listener_lan=public, target_lan=private, ips=[ip])))

    def rule(listener_ip: str, port: int = 443, algorithm: str = "ROUND_ROBIN") -> Any:
        return api.datacenters_networkloadbalancers_forwardingrules_post(
            dc, nlb.id, {"properties": {
                "name": "https", "algorithm": algorithm, "protocol": "TCP",
                "listenerIp": listener_ip, "listenerPort": port,
                "targets": [{"ip": "10.7.0.12", "port": 30443}]}})

    made = rule(ip)
    got = api.datacenters_networkloadbalancers_forwardingrules_find_by_forwarding_rule_id(
        dc, nlb.id, made.id)
    assert got.properties.targets[0].weight == 1
    assert got.properties.health_check.retries == 3
    for bad, word in ((lambda: rule("203.0.113.9", 80), "203.0.113.9"),
                      (lambda: rule(ip), "already used"),
                      (lambda: rule(ip, 80, "FASTEST"), "algorithm")):
        with pytest.raises(ionoscloud.ApiException) as exc:
            bad()
        status, message = error_of(exc.value)
        assert status == 422 and word in message
    rules = api.datacenters_networkloadbalancers_forwardingrules_get(dc, nlb.id, depth=1)
    assert [r.properties.name for r in rules.items] == ["https"]


def test_the_contract_limits_network_load_balancers(edge) -> None:
    """``nlbLimitTotal`` of the contract's resource limits: one more is refused."""
    import ionoscloud

    url, _ = edge
    client = cloud(url)
    dc, public, private = datacenter(client)
    api = ionoscloud.NetworkLoadBalancersApi(client)
    for i in range(NLB_LIMIT):
        api.datacenters_networkloadbalancers_post(dc, {"properties": {
            "name": f"lb{i}", "listenerLan": public, "targetLan": private}})
    with pytest.raises(ionoscloud.ApiException) as exc:
        api.datacenters_networkloadbalancers_post(dc, {"properties": {
            "name": "one-too-many", "listenerLan": public, "targetLan": private}})
    status, message = error_of(exc.value)
    assert status == 422 and "nlbLimitTotal" in message


def test_a_login_gets_a_token_from_the_auth_api_that_the_dns_api_takes(edge) -> None:
    """The Auth API (ionos-cloud/sdk-go-auth api/openapi.yaml, createToken): GET
    /tokens/generate with Basic auth answers 200 {"token": JWT}; the DNS API takes only Bearer
    tokens (terraform-provider-ionoscloud dns docs) and accepts that one; a wrong login is a 401
    in the IONOS error body, and POST is not the method."""
    import ionoscloud_dns as dns

    url, _ = edge
    basic = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    status, body = raw("GET", f"{url}/auth/v1/tokens/generate", {"Authorization": basic})
    assert status == 200 and body["token"].count(".") == 2
    client = dns.ApiClient(dns.Configuration(host=f"{url}/dns", token=body["token"]))
    assert dns.ZonesApi(client).zones_get().items == []
    wrong = "Basic " + base64.b64encode(f"{USER}:nope".encode()).decode()
    status, err = raw("GET", f"{url}/auth/v1/tokens/generate", {"Authorization": wrong})
    assert status == 401 and err["httpStatus"] == 401
    status, err = raw("POST", f"{url}/auth/v1/tokens/generate", {"Authorization": basic})
    assert status == 405
    # A login is not a token: the DNS API refuses Basic credentials outright.
    status, err = raw("GET", f"{url}/dns/zones", {"Authorization": basic})
    assert status == 401


def test_a_refused_balancer_with_its_rules_creates_nothing(edge) -> None:
    """A POST the API refuses (422) leaves nothing behind (the Cloud API's requests are
    all-or-nothing: a refused request is not accepted, so no resource exists for it), also when
    only one of the forwarding rules sent with the balancer is invalid or two use one port."""
    import ionoscloud

    url, _ = edge
    client = cloud(url)
    dc, public, private = datacenter(client)
    ip = reserve(client).properties.ips[0]
    api = ionoscloud.NetworkLoadBalancersApi(client)

    def rule(port: int, algorithm: str = "ROUND_ROBIN") -> dict[str, Any]:
        return {"properties": {"name": f"r{port}", "algorithm": algorithm, "protocol": "TCP",
                               "listenerIp": ip, "listenerPort": port,
                               "targets": [{"ip": "10.7.0.12", "port": 30443}]}}

    for rules, word in (([rule(443), rule(80, "FASTEST")], "algorithm"),
                        ([rule(443), rule(443)], "already used")):
        with pytest.raises(ionoscloud.ApiException) as exc:
            api.datacenters_networkloadbalancers_post(dc, {
                "properties": {"name": "edge", "listenerLan": public, "targetLan": private,
                               "ips": [ip]},
                "entities": {"forwardingrules": {"items": rules}}})
        status, message = error_of(exc.value)
        assert status == 422 and word in message
        assert api.datacenters_networkloadbalancers_get(dc, depth=1).items == []
