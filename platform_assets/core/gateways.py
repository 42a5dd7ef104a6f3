"""NAT gateways and Application Load Balancers as the Cloud API wants them. Pure: no SDKs, no
Dagster.

Sub-resources (a gateway's rules, a balancer's forwarding rules) are keyed by name, the shape
in which the handlers diff what they want against what the API holds.
"""

from __future__ import annotations

from typing import Any

from platform_assets.spec.models import NatGateway, NatRule


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
