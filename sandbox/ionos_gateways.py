"""NAT gateways of the Cloud API emulator (``NATGatewaysApi`` of ``ionoscloud`` 6.1.13, its
models' documentation and docs.ionos.com's NAT Gateway pages).

- ``/datacenters/{dc}/natgateways[/{id}[/rules[/{id}]]]``: ``name`` and ``publicIps`` are
  required (``NatGatewayProperties``); public IPs are addresses of IP blocks reserved in the
  datacenter's location and not used by a load balancer or another gateway; ``lans`` are up to
  six private LANs of the datacenter (``id`` required; ``gatewayIps`` need a prefix and are
  generated, a /24, when absent); ``entities.rules`` in the POST creates rules with the gateway;
  the contract's ``natGatewayLimitTotal`` (five by default) is enforced;
- rules (``NatGatewayRuleProperties``): ``name``, ``sourceSubnet`` and ``publicIp`` required,
  ``type`` SNAT, ``protocol`` TCP/UDP/ICMP/ALL (default ALL), ``publicIp`` one of the gateway's,
  subnets in CIDR notation, no ``targetPortRange`` for ICMP, start not above end.
"""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sandbox.http import Request, Response
from sandbox.ionos_common import ApiError, json_body

if TYPE_CHECKING:
    from sandbox.ionos import IonosCloudService

NAT_LIMIT = 5  # docs.ionos.com NAT Gateway overview: "Default resource limit ... five"
NAT_MAX_LANS = 6  # "up to six private networks per NAT gateway"
NAT_PROTOCOLS = ("TCP", "UDP", "ICMP", "ALL")
NAT_RULE_TYPES = ("SNAT",)

Routes = list[tuple[str, dict[str, Callable[..., Response]]]]


class NatGateways:
    """The NAT gateway endpoints, on the Cloud API service's store and request machinery."""

    def __init__(self, svc: IonosCloudService) -> None:
        self.svc = svc

    def routes(self, dc: str) -> Routes:
        """(path pattern, handlers by method) under ``dc`` (the datacenter's path pattern)."""
        gw = dc + r"/natgateways/(?P<gw>[^/]+)"
        return [
            (dc + "/natgateways", {"GET": self._list, "POST": self._create}),
            (gw, {"GET": self._get, "PUT": self._put, "PATCH": self._patch,
                  "DELETE": self._delete}),
            (gw + "/rules", {"GET": self._list_rules, "POST": self._create_rule}),
            (gw + r"/rules/(?P<rule>[^/]+)", {
                "GET": self._get_rule, "PUT": self._put_rule, "PATCH": self._patch_rule,
                "DELETE": self._delete_rule}),
        ]

    def _gw(self, dc: str, gw: str) -> dict[str, Any]:
        return self.svc._get(f"{self.svc._dc(dc)['path']}/natgateways/{gw}", "NAT gateway")

    def _lans(self, dc: dict[str, Any], value: Any, n: int) -> list[dict[str, Any]]:
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(x, dict) for x in value):
            raise ApiError(422, "[(root).properties.lans] must be a list of objects")
        if len(value) > NAT_MAX_LANS:
            raise ApiError(422, f"[(root).properties.lans] a NAT gateway connects at most "
                                f"{NAT_MAX_LANS} LANs, got {len(value)}")
        out = []
        for i, lan in enumerate(value):
            where = f"lans[{i}]"
            lan_id = self.svc._int(lan, "id", 1, 10**6) if lan.get("id") is not None else None
            if lan_id is None:
                raise ApiError(422, f"[(root).properties.{where}.id] Attribute is required")
            found = self.svc._objs.get(f"{dc['path']}/lans/{lan_id}")
            if found is None:
                raise ApiError(422, f"[(root).properties.{where}.id] LAN {lan_id} does not "
                                    f"exist in datacenter {dc['id']}")
            if found["props"]["public"]:
                raise ApiError(422, f"[(root).properties.{where}.id] LAN {lan_id} is public; a "
                                    "NAT gateway connects private LANs")
            ips = lan.get("gatewayIps") or [f"10.{100 + n % 50}.{lan_id % 250}.1/24"]
            out.append({"id": lan_id, "gatewayIps": self.svc._private_ips(ips, n)})
        return out

    def _props(self, dc: dict[str, Any], p: dict[str, Any], own: str | None) -> dict[str, Any]:
        self.svc._require(p, "name", "publicIps")
        ips = self.svc._nlb_ips(dc, p["publicIps"], own, "publicIps")
        if not ips:
            raise ApiError(422, "[(root).properties.publicIps] at least one reserved public IP "
                                "is required")
        n = len(self.svc._all("natgateway"))
        return {"name": self.svc._str(p, "name"), "publicIps": ips,
                "lans": self._lans(dc, p.get("lans"), n)}

    def _list(self, req: Request, dc: str) -> Response:
        return self.svc._list(req, self.svc._dc(dc)["path"], "natgateways")

    def _create(self, req: Request, dc: str) -> Response:
        parent = self.svc._dc(dc)
        body = json_body(req)
        props = self._props(parent, self.svc._properties(body), None)
        if len(self.svc._all("natgateway")) >= NAT_LIMIT:
            raise ApiError(422, f"the contract's limit of {NAT_LIMIT} NAT gateways "
                                "(resourceLimits.natGatewayLimitTotal) is reached", code="301")
        gw_id = str(uuid.uuid4())
        # Every rule is validated before anything is stored: a refused POST creates nothing.
        rules = [self._rule_props({"id": gw_id, "props": props}, self.svc._properties(item))
                 for item in (body.get("entities") or {}).get("rules", {}).get("items") or []]
        obj = self.svc._new_obj("natgateway", parent["path"], "natgateways", gw_id, props,
                                "BUSY")
        for rule in rules:
            self._new_rule(obj, rule)
        return self.svc._accept_write(req, obj, "BUSY", "AVAILABLE")

    def _get(self, req: Request, dc: str, gw: str) -> Response:
        return self.svc._one(req, self._gw(dc, gw))

    def _update(self, req: Request, dc: str, gw: str, partial: bool) -> Response:
        obj = self._gw(dc, gw)
        self.svc._check_if_match(req, obj)
        p = self.svc._patch_properties(req) if partial else self.svc._properties(json_body(req))
        props = self._props(self.svc._dc(dc), {**obj["props"], **p} if partial else p,
                            obj["id"])
        for rule in self.svc._children(obj["path"], "rules"):
            if rule["props"]["publicIp"] not in props["publicIps"]:
                raise ApiError(422, f"[(root).properties.publicIps] rule {rule['id']} uses "
                                    f"{rule['props']['publicIp']}; change the rule first")
        obj["props"] = props
        return self.svc._accept_write(req, obj, "BUSY", "AVAILABLE")

    def _put(self, req: Request, dc: str, gw: str) -> Response:
        return self._update(req, dc, gw, partial=False)

    def _patch(self, req: Request, dc: str, gw: str) -> Response:
        return self._update(req, dc, gw, partial=True)

    def _delete(self, req: Request, dc: str, gw: str) -> Response:
        return self.svc._accept_delete(req, self._gw(dc, gw), "BUSY")

    @staticmethod
    def _subnet(p: dict[str, Any], field: str) -> str:
        value = p.get(field)
        try:
            ipaddress.ip_network(value if isinstance(value, str) else "")
        except (TypeError, ValueError):
            raise ApiError(422, f"[(root).properties.{field}] {value!r} is not a subnet in CIDR "
                                "notation, e.g. 10.7.222.0/24") from None
        return str(value)

    def _ports(self, p: dict[str, Any], protocol: str) -> dict[str, int] | None:
        ports = p.get("targetPortRange")
        if ports is None:
            return None
        if protocol == "ICMP":
            raise ApiError(422, "[(root).properties.targetPortRange] cannot be set when the "
                                "protocol is ICMP")
        if not isinstance(ports, dict):
            raise ApiError(422, "[(root).properties.targetPortRange] must be an object")
        start = self.svc._int(ports, "start", 1, 65535)
        end = self.svc._int(ports, "end", 1, 65535)
        if end < start:
            raise ApiError(422, f"[(root).properties.targetPortRange] end {end} is below start "
                                f"{start}")
        return {"start": start, "end": end}

    def _rule_props(self, gw: dict[str, Any], p: dict[str, Any]) -> dict[str, Any]:
        self.svc._require(p, "name", "sourceSubnet", "publicIp")
        rtype = self.svc._str(p, "type", NAT_RULE_TYPES) if "type" in p else "SNAT"
        protocol = self.svc._str(p, "protocol", NAT_PROTOCOLS) if p.get("protocol") else "ALL"
        public_ip = self.svc._str(p, "publicIp")
        if public_ip not in gw["props"]["publicIps"]:
            raise ApiError(422, f"[(root).properties.publicIp] {public_ip} is not a public IP of "
                                f"NAT gateway {gw['id']} "
                                f"({', '.join(gw['props']['publicIps'])})")
        out: dict[str, Any] = {"name": self.svc._str(p, "name"), "type": rtype,
                               "protocol": protocol,
                               "sourceSubnet": self._subnet(p, "sourceSubnet"),
                               "publicIp": public_ip}
        if p.get("targetSubnet") is not None:
            out["targetSubnet"] = self._subnet(p, "targetSubnet")
        ports = self._ports(p, protocol)
        if ports is not None:
            out["targetPortRange"] = ports
        return out

    def _new_rule(self, gw: dict[str, Any], props: dict[str, Any]) -> dict[str, Any]:
        rule = self.svc._new_obj("natgateway-rule", gw["path"], "rules", str(uuid.uuid4()),
                                 props, "BUSY")
        self.svc._transition(rule, "BUSY", "AVAILABLE")
        return rule

    def _rule(self, dc: str, gw: str, rule: str) -> dict[str, Any]:
        return self.svc._get(f"{self._gw(dc, gw)['path']}/rules/{rule}", "NAT gateway rule")

    def _list_rules(self, req: Request, dc: str, gw: str) -> Response:
        return self.svc._list(req, self._gw(dc, gw)["path"], "rules")

    def _create_rule(self, req: Request, dc: str, gw: str) -> Response:
        parent = self._gw(dc, gw)
        rule = self._new_rule(parent, self._rule_props(
            parent, self.svc._properties(json_body(req))))
        self.svc._transition(parent, "BUSY", "AVAILABLE")  # reconfigured with the rule
        return self.svc._accept_write(req, rule, "BUSY", "AVAILABLE")

    def _get_rule(self, req: Request, dc: str, gw: str, rule: str) -> Response:
        return self.svc._one(req, self._rule(dc, gw, rule))

    def _update_rule(self, req: Request, dc: str, gw: str, rule: str,
                     partial: bool) -> Response:
        parent, obj = self._gw(dc, gw), self._rule(dc, gw, rule)
        self.svc._check_if_match(req, obj)
        p = self.svc._patch_properties(req) if partial else self.svc._properties(json_body(req))
        obj["props"] = self._rule_props(parent, {**obj["props"], **p} if partial else p)
        self.svc._transition(parent, "BUSY", "AVAILABLE")
        return self.svc._accept_write(req, obj, "BUSY", "AVAILABLE")

    def _put_rule(self, req: Request, dc: str, gw: str, rule: str) -> Response:
        return self._update_rule(req, dc, gw, rule, partial=False)

    def _patch_rule(self, req: Request, dc: str, gw: str, rule: str) -> Response:
        return self._update_rule(req, dc, gw, rule, partial=True)

    def _delete_rule(self, req: Request, dc: str, gw: str, rule: str) -> Response:
        self.svc._transition(self._gw(dc, gw), "BUSY", "AVAILABLE")
        return self.svc._accept_delete(req, self._rule(dc, gw, rule), "BUSY")
