"""The network edge and DNS as the APIs want them: IP blocks, Network Load Balancers with their
forwarding rules, DNS records. Pure: no SDKs, no Dagster.

Hosts come from the spec: every certificate's ``hostname`` and endpoint ``host`` that lies in a
zone with ``hosts_to`` gets an A record to that IP block's address, beside the zone's explicit
records. Records are keyed ``"<name> <type>"`` (``@`` is the zone itself), the shape in which the
DNS handler diffs what it wants against what the zone holds.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from platform_assets.spec.models import (
    DnsZone,
    IpBlock,
    LoadBalancer,
    LoadBalancerTarget,
    PlatformSpec,
)

NOT_RESERVED = "(known after the IP block is reserved)"
APEX = "@"


def in_zone(host: str, zone: str) -> bool:
    """Whether ``host`` is the zone's own name or a name under it."""
    host = host.lower().rstrip(".")
    return host == zone or host.endswith("." + zone)


def zone_of(spec: PlatformSpec, host: str) -> DnsZone | None:
    """The most specific zone of the spec that holds ``host`` (None: no zone does)."""
    candidates = spec.ionos.dns.zones if spec.ionos else []
    zones = [z for z in candidates if in_zone(host, z.name)]
    return max(zones, key=lambda z: len(z.name)) if zones else None


def relative_name(host: str, zone: str) -> str:
    """``www.example.com`` in ``example.com`` -> ``www``; the zone itself -> ``@``."""
    host = host.lower().rstrip(".")
    return APEX if host == zone else host[: -len(zone) - 1]


def spec_hosts(spec: PlatformSpec) -> list[str]:
    """Every host name the spec names: certificate hostnames and endpoint hosts, in order."""
    hosts: list[str] = []
    for cert in spec.certificates.items:
        for host in (cert.hostname, cert.endpoint.host if cert.endpoint else None):
            if host and host.lower() not in hosts:
                hosts.append(host.lower())
    return hosts


def zone_hosts(spec: PlatformSpec, zone: DnsZone) -> list[str]:
    """The spec's hosts whose most specific zone is ``zone``."""
    return [h for h in spec_hosts(spec) if (z := zone_of(spec, h)) is not None
            and z.name == zone.name]


def record_key(name: str, rtype: str) -> str:
    """The key of a DNS record within its zone: name and type."""
    return f"{name} {rtype}"


def desired_records(spec: PlatformSpec, zone: DnsZone,
                    addresses: dict[str, str | None]) -> dict[str, dict[str, Any]]:
    """The records the platform owns in ``zone``, keyed ``"<name> <type>"``.

    Args:
        spec: the whole spec (its hosts).
        zone: the zone.
        addresses: IP block name -> its first address (None while it is not reserved).
    """
    out: dict[str, dict[str, Any]] = {}
    if zone.hosts_to:
        for host in zone_hosts(spec, zone):
            name = relative_name(host, zone.name)
            out[record_key(name, "A")] = _record(
                name, "A", addresses.get(zone.hosts_to) or NOT_RESERVED, zone.ttl)
    for rec in zone.records:
        content = addresses.get(rec.ip_block) or NOT_RESERVED if rec.ip_block else rec.content
        out[record_key(rec.name, rec.type)] = _record(rec.name, rec.type, str(content), rec.ttl)
    return dict(sorted(out.items()))


def _record(name: str, rtype: str, content: str, ttl: int) -> dict[str, Any]:
    return {"name": name, "type": rtype, "content": content, "ttl": ttl, "enabled": True}


def api_record(rec: dict[str, Any]) -> dict[str, Any]:
    """A desired record as the DNS API's ``Record`` (the zone itself is the empty name)."""
    return {**rec, "name": "" if rec["name"] == APEX else rec["name"]}


def observed_key(props: dict[str, Any]) -> str:
    """The key of a record the API returned."""
    return record_key(str(props.get("name") or "") or APEX, str(props.get("type")))


def ip_block_props(block: IpBlock, default_location: str) -> dict[str, Any]:
    """``IpBlockProperties`` of a block."""
    return {"name": block.name, "location": block.location or default_location,
            "size": block.size}


def first_address(block: dict[str, Any] | None) -> str | None:
    """The first reserved address of an IP block as the API returns it."""
    ips = ((block or {}).get("properties") or {}).get("ips") or []
    return str(ips[0]) if ips else None


def nlb_props(lb: LoadBalancer, listener_lan: int, target_lan: int,
              ips: list[str]) -> dict[str, Any]:
    """``NetworkLoadBalancerProperties`` of a load balancer."""
    return {"name": lb.name, "listenerLan": listener_lan, "targetLan": target_lan,
            "ips": list(ips), "lbPrivateIps": [lb.private_ip]}


def rule_props(lb: LoadBalancer, listener_ip: str,
               node_ips: dict[str, list[str]]) -> dict[str, dict[str, Any]]:
    """``NetworkLoadBalancerForwardingRuleProperties`` of each rule, by rule name.

    Args:
        lb: the load balancer.
        listener_ip: the address its rules listen on.
        node_ips: node pool name -> its nodes' addresses in the target LAN.
    """
    targets = {t.name: t for t in lb.targets}
    return {r.name: {"name": r.name, "algorithm": r.algorithm, "protocol": r.protocol,
                     "listenerIp": listener_ip, "listenerPort": r.listener_port,
                     "targets": _targets(targets[r.target], node_ips.get(
                         targets[r.target].node_pool, []))}
            for r in lb.rules}


def _targets(t: LoadBalancerTarget, ips: list[str]) -> list[dict[str, Any]]:
    return [{"ip": ip, "port": t.port, "weight": t.weight, "proxyProtocol": t.proxy_protocol,
             "healthCheck": {"check": t.health_check}}
            for ip in sorted(ips, key=ipaddress.ip_address)]


def set_path(values: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    """A copy of ``values`` with ``value`` at the dotted path (``a.b.c``)."""
    out = dict(values)
    head, _, rest = dotted.partition(".")
    if not rest:
        out[head] = value
        return out
    inner = out.get(head)
    out[head] = set_path(inner if isinstance(inner, dict) else {}, rest, value)
    return out
