"""The sandbox's IONOS Cloud DNS emulator against the API's contract, with the real
``ionoscloud_dns`` SDK: auth, async states, validation, conflicts, a taken zone, the quota,
list filters and paging."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from sandbox.dns import DnsService
from sandbox.http import RunningServer, serve
from sandbox.world import World

pytestmark = pytest.mark.integration

TOKEN = "dns-test-token"


def sdk(url: str, token: str = TOKEN) -> Any:
    import ionoscloud_dns as dns

    return dns.ApiClient(dns.Configuration(host=url, token=token))


def raw(method: str, url: str, body: Any = None, token: str | None = TOKEN) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


@pytest.fixture
def dns_server() -> Iterator[tuple[DnsService, str]]:
    service = DnsService(World(), TOKEN, quota={"zones": 3, "records": 4})
    server: RunningServer = serve(service)
    yield service, f"{server.url}/dns"
    server.stop()


def zone_with_record(url: str, zone: str = "example.com") -> tuple[str, int]:
    status, body = raw("POST", f"{url}/zones", {"properties": {"zoneName": zone}})
    assert status == 202, body
    return body["id"], status


def test_every_request_needs_a_bearer_token(dns_server) -> None:
    """The DNS API takes tokens only (terraform-provider-ionoscloud, ionoscloud_dns_zone docs:
    "Only tokens are accepted"); errors have the IONOS body ``{httpStatus, messages}``."""
    import ionoscloud_dns as dns

    _, url = dns_server
    status, body = raw("GET", f"{url}/zones", token=None)
    assert status == 401 and body["httpStatus"] == 401 and body["messages"][0]["message"]
    with pytest.raises(dns.ApiException) as exc:
        dns.ZonesApi(sdk(url, token="wrong")).zones_get()
    assert exc.value.status == 401


def test_zone_and_record_go_provisioning_then_available_with_the_sdk_shapes() -> None:
    """ProvisioningState (ionoscloud_dns models): PROVISIONING while being created or updated,
    then AVAILABLE; POST answers 202 with ZoneRead/RecordRead (the SDK's response maps);
    zones carry nameservers, records fqdn and zoneId (MetadataWithState* models)."""
    import ionoscloud_dns as dns

    service = DnsService(World(), TOKEN, delay=3600)
    server = serve(service)
    try:
        client = sdk(f"{server.url}/dns")
        zone = dns.ZonesApi(client).zones_post(dns.ZoneCreate.from_dict(
            {"properties": {"zoneName": "slow.example", "enabled": True}}))
        assert zone.metadata.state == dns.ProvisioningState.PROVISIONING
        assert zone.metadata.nameservers and zone.properties.zone_name == "slow.example"
        rec = dns.RecordsApi(client).zones_records_post(zone.id, dns.RecordCreate.from_dict(
            {"properties": {"name": "www", "type": "A", "content": "203.0.113.10", "ttl": 300}}))
        assert rec.metadata.state == dns.ProvisioningState.PROVISIONING
        assert rec.metadata.fqdn == "www.slow.example" and rec.metadata.zone_id == zone.id
        listed = dns.RecordsApi(client).records_get(filter_zone_id=zone.id)
        assert [r.id for r in listed.items or []] == [rec.id]
        service.delay = 0
        for item in service._zones.values():
            item["pending"][0] = 0
        assert dns.ZonesApi(client).zones_find_by_id(zone.id).metadata.state == "AVAILABLE"
    finally:
        server.stop()


@pytest.mark.parametrize(("props", "field"), [
    ({"name": "www", "type": "A", "content": "203.0.113.1", "ttl": 59}, "ttl"),
    ({"name": "www", "type": "A", "content": "203.0.113.1", "ttl": 604801}, "ttl"),
    ({"name": "-bad", "type": "A", "content": "203.0.113.1"}, "name"),
    ({"name": "a" * 64, "type": "A", "content": "203.0.113.1"}, "name"),
    ({"name": "www", "type": "A", "content": "2001:db8::1"}, "content"),
    ({"name": "www", "type": "CNAME", "content": "not a host"}, "content"),
    ({"name": "www", "type": "SPF", "content": "x"}, "type"),
])
def test_invalid_records_are_400_naming_the_field(dns_server, props, field) -> None:
    """Record.ttl is bounded 60..604800 in the SDK's model (so these go raw: the SDK refuses to
    send them); labels follow RFC 1035 2.3.1 (at most 63 characters); A/AAAA content is an
    address; ``type`` is a RecordType. The SDK declares 400 (not 422) for the records POST."""
    _, url = dns_server
    zone_id, _ = zone_with_record(url)
    status, body = raw("POST", f"{url}/zones/{zone_id}/records", {"properties": props})
    assert status == 400, body
    assert f"properties.{field}" in body["messages"][0]["message"]


def test_a_cname_cannot_stand_beside_other_data_409(dns_server) -> None:
    """RFC 1034 3.6.2: a CNAME name has no other data; the SDK declares 409 for the records
    POST (ConflictException)."""
    import ionoscloud_dns as dns

    _, url = dns_server
    zone_id, _ = zone_with_record(url)
    api = dns.RecordsApi(sdk(url))
    api.zones_records_post(zone_id, dns.RecordCreate.from_dict(
        {"properties": {"name": "www", "type": "A", "content": "203.0.113.1"}}))
    with pytest.raises(dns.ApiException) as exc:
        api.zones_records_post(zone_id, dns.RecordCreate.from_dict(
            {"properties": {"name": "www", "type": "CNAME", "content": "lb.example.net"}}))
    assert exc.value.status == 409


def test_a_taken_zone_name_and_the_quota(dns_server) -> None:
    """A zone name is hosted once in IONOS Cloud DNS (here: by another account); the SDK's
    zones POST declares 400/403. /quota reports usage and limits (QuotaApi), and a create beyond
    a limit is a 403."""
    import ionoscloud_dns as dns

    service, url = dns_server
    service.add_foreign_zone("taken.example")
    with pytest.raises(dns.ApiException) as exc:
        dns.ZonesApi(sdk(url)).zones_post(dns.ZoneCreate.from_dict(
            {"properties": {"zoneName": "taken.example"}}))
    assert exc.value.status == 400 and "already exists" in str(exc.value.body)
    for name in ("a.example", "b.example", "c.example"):
        zone_with_record(url, name)
    status, body = raw("POST", f"{url}/zones", {"properties": {"zoneName": "d.example"}})
    assert status == 403 and "quota" in body["messages"][0]["message"]
    quota = dns.QuotaApi(sdk(url)).quota_get()
    assert quota.quota_usage.zones == 3 and quota.quota_limits.zones == 3


def test_list_filters_and_paging(dns_server) -> None:
    """zones_get filter.zoneName ("contain the specified zone name") and offset/limit with
    _links (the SDK's Links model: prev/next only where they exist); filter.state takes
    ProvisioningState values."""
    import ionoscloud_dns as dns

    _, url = dns_server
    for name in ("one.example", "two.example", "other.test"):
        zone_with_record(url, name)
    api = dns.ZonesApi(sdk(url))
    assert {z.properties.zone_name for z in api.zones_get(filter_zone_name="example").items} \
        == {"one.example", "two.example"}
    page = api.zones_get(offset=1, limit=1)
    assert len(page.items) == 1 and page.links.prev and page.links.next
    status, body = raw("GET", f"{url}/zones?filter.state=SLEEPING")
    assert status == 400 and body["httpStatus"] == 400
