"""NAT gateways, Application Load Balancers and target groups as the Cloud API wants them.
Pure: no SDKs, no Dagster.

Sub-resources (a gateway's rules, a balancer's forwarding rules) are keyed by name, the shape
in which the handlers diff what they want against what the API holds.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from platform_assets.spec.models import (
    AlbCondition,
    AlbHttpRule,
    ApplicationLoadBalancer,
    NatGateway,
    NatRule,
    TargetGroup,
)

NOT_CREATED = "(known after the target group is created)"


def nat_props(gw: NatGateway, public_ips: list[str], lan_ids: dict[str, int]) -> dict[str, Any]:
    """``NatGatewayProperties``: every address of its block, and each LAN with its gateway
    address.

    Args:
        gw: the gateway.
        public_ips: the addresses of its IP block.
        lan_ids: LAN name -> the LAN's id in the datacenter.
    """
    return {"name": gw.name, "publicIps": list(public_ips),
            "lans": [{"id": lan_ids.get(n.lan, 0), "gatewayIps": [n.gateway_ip]}
                     for n in gw.lans]}


def nat_rule_props(gw: NatGateway, public_ip: str) -> dict[str, dict[str, Any]]:
    """``NatGatewayRuleProperties`` of each rule, by rule name; every rule translates to
    ``public_ip`` (the block's first address)."""
    return {r.name: _nat_rule(r, public_ip) for r in gw.rules}


def _nat_rule(r: NatRule, public_ip: str) -> dict[str, Any]:
    out: dict[str, Any] = {"name": r.name, "type": "SNAT", "protocol": r.protocol,
                           "sourceSubnet": r.source_subnet, "publicIp": public_ip}
    if r.target_subnet is not None:
        out["targetSubnet"] = r.target_subnet
    if r.target_ports is not None:
        out["targetPortRange"] = {"start": r.target_ports.start, "end": r.target_ports.end}
    return out


def target_group_props(tg: TargetGroup, node_ips: dict[str, list[str]]) -> dict[str, Any]:
    """``TargetGroupProperties``: every node of each target's pool, sorted by address.

    Args:
        tg: the target group.
        node_ips: node pool name -> its nodes' addresses in the target LAN.
    """
    targets = [{"ip": ip, "port": t.port, "weight": t.weight, "proxyProtocol": t.proxy_protocol,
                "healthCheckEnabled": t.health_check, "maintenanceEnabled": t.maintenance}
               for t in tg.targets for ip in node_ips.get(t.node_pool, [])]
    out: dict[str, Any] = {
        "name": tg.name, "algorithm": tg.algorithm, "protocol": "HTTP",
        "protocolVersion": tg.protocol_version,
        "targets": sorted(targets, key=lambda t: (ipaddress.ip_address(t["ip"]), t["port"])),
        "healthCheck": {"checkInterval": tg.health_check.interval_ms,
                        "checkTimeout": tg.health_check.timeout_ms,
                        "retries": tg.health_check.retries}}
    if tg.http_health_check is not None:
        h = tg.http_health_check
        out["httpHealthCheck"] = {"path": h.path, "method": h.method, "matchType": h.match_type,
                                  "response": h.response, "regex": h.regex, "negate": h.negate}
    return out


def alb_props(alb: ApplicationLoadBalancer, listener_lan: int, target_lan: int,
              ips: list[str]) -> dict[str, Any]:
    """``ApplicationLoadBalancerProperties`` of a balancer."""
    return {"name": alb.name, "listenerLan": listener_lan, "targetLan": target_lan,
            "ips": list(ips), "lbPrivateIps": [alb.private_ip]}


def alb_rule_props(alb: ApplicationLoadBalancer, listener_ip: str,
                   group_ids: dict[str, str]) -> dict[str, dict[str, Any]]:
    """``ApplicationLoadBalancerForwardingRuleProperties`` of each rule, by rule name.

    Args:
        alb: the balancer.
        listener_ip: the address its rules listen on.
        group_ids: target group name -> its id (a FORWARD rule names the group by id).
    """
    return {r.name: {"name": r.name, "protocol": "HTTP", "listenerIp": listener_ip,
                     "listenerPort": r.listener_port, "clientTimeout": r.client_timeout_ms,
                     "httpRules": [_http_rule(h, group_ids) for h in r.http_rules]}
            for r in alb.rules}


def _http_rule(h: AlbHttpRule, group_ids: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {"name": h.name, "type": h.type,
                           "conditions": [_condition(c) for c in h.conditions]}
    if h.type == "FORWARD":
        out["targetGroup"] = group_ids.get(str(h.target_group)) or NOT_CREATED
    elif h.type == "REDIRECT":
        out.update({"location": h.location, "statusCode": h.status_code or 301,
                    "dropQuery": h.drop_query})
    else:
        out.update({"statusCode": h.status_code or 503, "responseMessage": h.response_message})
        if h.content_type is not None:
            out["contentType"] = h.content_type
    return out


def _condition(c: AlbCondition) -> dict[str, Any]:
    out: dict[str, Any] = {"type": c.type, "negate": c.negate}
    for field, value in (("condition", c.condition), ("key", c.key), ("value", c.value)):
        if value is not None:
            out[field] = value
    return out
