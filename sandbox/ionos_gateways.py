"""NAT gateways, Application Load Balancers and target groups of the Cloud API emulator
(``NATGatewaysApi``, ``ApplicationLoadBalancersApi`` and ``TargetGroupsApi`` of ``ionoscloud``
6.1.13, their models' documentation and docs.ionos.com's NAT Gateway pages); each class says
what it enforces. Every write follows ``IonosCloudService``'s 202/request pattern and states.

NAT gateways:

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


ALB_PROTOCOLS = ("HTTP",)
HTTP_RULE_TYPES = ("FORWARD", "STATIC", "REDIRECT")
REDIRECT_CODES = (301, 302, 303, 307, 308)
CONDITION_TYPES = ("HEADER", "PATH", "QUERY", "METHOD", "HOST", "COOKIE", "SOURCE_IP")
CONDITIONS = ("EXISTS", "CONTAINS", "EQUALS", "MATCHES", "STARTS_WITH", "ENDS_WITH")
KEYED = ("HEADER", "QUERY", "COOKIE")
TG_ALGORITHMS = ("ROUND_ROBIN", "LEAST_CONNECTION", "RANDOM", "SOURCE_IP")
TG_VERSIONS = ("HTTP1", "HTTP2")
HC_METHODS = ("HEAD", "PUT", "POST", "GET", "TRACE", "PATCH", "OPTIONS")
HC_MATCH = ("STATUS_CODE", "RESPONSE_BODY")
PROXY_PROTOCOLS = ("none", "v1", "v2", "v2ssl")


def _where(path: str) -> str:
    return f"[(root).properties.{path}]"


class ApplicationLoadBalancers:
    """``/datacenters/{dc}/applicationloadbalancers[/{id}[/forwardingrules[/{id}]]]``
    (``ApplicationLoadBalancersApi`` and its models' documentation): the balancer's properties
    follow the Network Load Balancer's rules (``ApplicationLoadBalancerProperties`` documents the
    same fields); forwarding rules are HTTP only, on a listener IP of the balancer and a port no
    other rule of that IP uses, with HTTP rules of unique names: FORWARD to an existing target
    group, REDIRECT to a location (301/302/303/307/308, default 301), STATIC with a message
    (200-599, default 503); conditions as ``ApplicationLoadBalancerHttpRuleCondition`` states
    (``condition`` null only for SOURCE_IP, ``key`` only for HEADER/QUERY/COOKIE, ``value`` null
    only for EXISTS, a CIDR for SOURCE_IP)."""

    def __init__(self, svc: IonosCloudService) -> None:
        self.svc = svc

    def routes(self, dc: str) -> Routes:
        alb = dc + r"/applicationloadbalancers/(?P<alb>[^/]+)"
        return [
            (dc + "/applicationloadbalancers", {"GET": self._list, "POST": self._create}),
            (alb, {"GET": self._get, "PUT": self._put, "PATCH": self._patch,
                   "DELETE": self._delete}),
            (alb + "/forwardingrules", {"GET": self._list_rules, "POST": self._create_rule}),
            (alb + r"/forwardingrules/(?P<rule>[^/]+)", {
                "GET": self._get_rule, "PUT": self._put_rule, "PATCH": self._patch_rule,
                "DELETE": self._delete_rule}),
        ]

    def _alb(self, dc: str, alb: str) -> dict[str, Any]:
        return self.svc._get(f"{self.svc._dc(dc)['path']}/applicationloadbalancers/{alb}",
                             "application load balancer")

    def _list(self, req: Request, dc: str) -> Response:
        return self.svc._list(req, self.svc._dc(dc)["path"], "applicationloadbalancers")

    def _create(self, req: Request, dc: str) -> Response:
        parent = self.svc._dc(dc)
        body = json_body(req)
        props = self.svc._nlb_props(parent, self.svc._properties(body), None, None)
        alb_id = str(uuid.uuid4())
        pseudo = {"id": alb_id, "path": "", "props": props}
        rules: list[dict[str, Any]] = []
        for item in (body.get("entities") or {}).get("forwardingrules", {}).get("items") or []:
            rules.append(self._rule_props(pseudo, self.svc._properties(item), None, rules))
        obj = self.svc._new_obj("applicationloadbalancer", parent["path"],
                                "applicationloadbalancers", alb_id, props, "BUSY")
        for rule in rules:
            self._new_rule(obj, rule)
        return self.svc._accept_write(req, obj, "BUSY", "AVAILABLE")

    def _get(self, req: Request, dc: str, alb: str) -> Response:
        return self.svc._one(req, self._alb(dc, alb))

    def _update(self, req: Request, dc: str, alb: str, partial: bool) -> Response:
        obj = self._alb(dc, alb)
        self.svc._check_if_match(req, obj)
        p = self.svc._patch_properties(req) if partial else self.svc._properties(json_body(req))
        merged = {**obj["props"], **p} if partial else p
        obj["props"] = self.svc._nlb_props(self.svc._dc(dc), merged, obj["id"], obj["props"])
        return self.svc._accept_write(req, obj, "BUSY", "AVAILABLE")

    def _put(self, req: Request, dc: str, alb: str) -> Response:
        return self._update(req, dc, alb, partial=False)

    def _patch(self, req: Request, dc: str, alb: str) -> Response:
        return self._update(req, dc, alb, partial=True)

    def _delete(self, req: Request, dc: str, alb: str) -> Response:
        return self.svc._accept_delete(req, self._alb(dc, alb), "BUSY")

    def _condition(self, where: str, c: Any) -> dict[str, Any]:
        if not isinstance(c, dict):
            raise ApiError(422, f"{_where(where)} must be an object")
        ctype = c.get("type")
        if ctype not in CONDITION_TYPES:
            raise ApiError(422, f"{_where(where + '.type')} {ctype!r} is not one of "
                                f"{list(CONDITION_TYPES)}")
        cond = c.get("condition")
        if ctype == "SOURCE_IP" and cond is not None:
            raise ApiError(422, f"{_where(where + '.condition')} must be null for SOURCE_IP")
        if ctype != "SOURCE_IP" and cond not in CONDITIONS:
            raise ApiError(422, f"{_where(where + '.condition')} {cond!r} is not one of "
                                f"{list(CONDITIONS)}")
        if (c.get("key") is not None) != (ctype in KEYED):
            raise ApiError(422, f"{_where(where + '.key')} is set only, and required, for "
                                f"{'/'.join(KEYED)} conditions")
        value = c.get("value")
        if (value is None) != (cond == "EXISTS"):
            raise ApiError(422, f"{_where(where + '.value')} is required unless the condition "
                                "is EXISTS, which takes none")
        if ctype == "SOURCE_IP":
            NatGateways._subnet({"value": value}, f"{where}.value")
        out = {"type": ctype, "condition": cond, "negate": bool(c.get("negate", False))}
        return {**out, **{k: c[k] for k in ("key", "value") if c.get(k) is not None}}

    def _http_rule(self, where: str, h: Any) -> dict[str, Any]:
        if not isinstance(h, dict):
            raise ApiError(422, f"{_where(where)} must be an object")
        for required in ("name", "type"):
            if h.get(required) is None:
                raise ApiError(422, f"{_where(f'{where}.{required}')} Attribute is required")
        htype = h["type"]
        if htype not in HTTP_RULE_TYPES:
            raise ApiError(422, f"{_where(where + '.type')} {htype!r} is not one of "
                                f"{list(HTTP_RULE_TYPES)}")
        by_type = {"FORWARD": self._forward_rule, "REDIRECT": self._redirect_rule,
                   "STATIC": self._static_rule}
        out: dict[str, Any] = {"name": str(h["name"]), "type": htype,
                               **by_type[htype](where, h)}
        conditions = h.get("conditions") or []
        if not isinstance(conditions, list):
            raise ApiError(422, f"{_where(where + '.conditions')} must be a list")
        out["conditions"] = [self._condition(f"{where}.conditions[{i}]", c)
                             for i, c in enumerate(conditions)]
        return out

    def _forward_rule(self, where: str, h: dict[str, Any]) -> dict[str, Any]:
        tg = h.get("targetGroup")
        if not isinstance(tg, str) or f"/targetgroups/{tg}" not in self.svc._objs:
            raise ApiError(422, f"{_where(where + '.targetGroup')} target group {tg!r} does "
                                "not exist; a FORWARD rule needs an existing target group")
        return {"targetGroup": tg}

    @staticmethod
    def _redirect_rule(where: str, h: dict[str, Any]) -> dict[str, Any]:
        if not h.get("location"):
            raise ApiError(422, f"{_where(where + '.location')} is required for REDIRECT")
        code = h.get("statusCode", 301)
        if code not in REDIRECT_CODES:
            raise ApiError(422, f"{_where(where + '.statusCode')} {code!r} is not one of "
                                f"{list(REDIRECT_CODES)}")
        return {"location": h["location"], "statusCode": code,
                "dropQuery": bool(h.get("dropQuery", False))}

    @staticmethod
    def _static_rule(where: str, h: dict[str, Any]) -> dict[str, Any]:
        if not h.get("responseMessage"):
            raise ApiError(422, f"{_where(where + '.responseMessage')} is required for STATIC")
        code = h.get("statusCode", 503)
        if not isinstance(code, int) or not 200 <= code <= 599:
            raise ApiError(422, f"{_where(where + '.statusCode')} {code!r} must be 200-599")
        out = {"statusCode": code, "responseMessage": h["responseMessage"]}
        if h.get("contentType") is not None:
            out["contentType"] = h["contentType"]
        return out

    def _rule_props(self, alb: dict[str, Any], p: dict[str, Any], own: str | None,
                    pending: list[dict[str, Any]]) -> dict[str, Any]:
        self.svc._require(p, "name", "protocol", "listenerIp", "listenerPort")
        protocol = self.svc._str(p, "protocol", ALB_PROTOCOLS)
        listener_ip = self.svc._str(p, "listenerIp")
        own_ips = list(alb["props"]["ips"]) + [c.split("/")[0]
                                               for c in alb["props"]["lbPrivateIps"] or []]
        if listener_ip not in own_ips:
            raise ApiError(422, f"{_where('listenerIp')} {listener_ip} is not an IP of "
                                f"application load balancer {alb['id']} ({', '.join(own_ips)})")
        port = self.svc._int(p, "listenerPort", 1, 65535)
        others = [o["props"] for o in self.svc._children(alb["path"], "forwardingrules")
                  if o["id"] != own] if alb["path"] else []
        if any((o["listenerIp"], o["listenerPort"]) == (listener_ip, port)
               for o in others + pending):
            raise ApiError(422, f"{_where('listenerPort')} {listener_ip}:{port} is already "
                                "used by another forwarding rule")
        timeout = self.svc._int(p, "clientTimeout", 0, 10**8) \
            if p.get("clientTimeout") is not None else 50000
        rules = p.get("httpRules") or []
        if not isinstance(rules, list):
            raise ApiError(422, f"{_where('httpRules')} must be a list")
        http = [self._http_rule(f"httpRules[{i}]", h) for i, h in enumerate(rules)]
        names = [h["name"] for h in http]
        if len(set(names)) != len(names):
            raise ApiError(422, f"{_where('httpRules')} names must be unique, got {names}")
        certs = p.get("serverCertificates") or []
        if not isinstance(certs, list) or not all(isinstance(c, str) for c in certs):
            raise ApiError(422, f"{_where('serverCertificates')} must be a list of ids")
        return {"name": self.svc._str(p, "name"), "protocol": protocol,
                "listenerIp": listener_ip, "listenerPort": port, "clientTimeout": timeout,
                "serverCertificates": certs, "httpRules": http}

    def _new_rule(self, alb: dict[str, Any], props: dict[str, Any]) -> dict[str, Any]:
        rule = self.svc._new_obj("forwarding-rule", alb["path"], "forwardingrules",
                                 str(uuid.uuid4()), props, "BUSY")
        self.svc._transition(rule, "BUSY", "AVAILABLE")
        return rule

    def _rule(self, dc: str, alb: str, rule: str) -> dict[str, Any]:
        return self.svc._get(f"{self._alb(dc, alb)['path']}/forwardingrules/{rule}",
                             "forwarding rule")

    def _list_rules(self, req: Request, dc: str, alb: str) -> Response:
        return self.svc._list(req, self._alb(dc, alb)["path"], "forwardingrules")

    def _create_rule(self, req: Request, dc: str, alb: str) -> Response:
        parent = self._alb(dc, alb)
        rule = self._new_rule(parent, self._rule_props(
            parent, self.svc._properties(json_body(req)), None, []))
        self.svc._transition(parent, "BUSY", "AVAILABLE")
        return self.svc._accept_write(req, rule, "BUSY", "AVAILABLE")

    def _get_rule(self, req: Request, dc: str, alb: str, rule: str) -> Response:
        return self.svc._one(req, self._rule(dc, alb, rule))

    def _update_rule(self, req: Request, dc: str, alb: str, rule: str,
                     partial: bool) -> Response:
        parent, obj = self._alb(dc, alb), self._rule(dc, alb, rule)
        self.svc._check_if_match(req, obj)
        p = self.svc._patch_properties(req) if partial else self.svc._properties(json_body(req))
        obj["props"] = self._rule_props(parent, {**obj["props"], **p} if partial else p,
                                        obj["id"], [])
        self.svc._transition(parent, "BUSY", "AVAILABLE")
        return self.svc._accept_write(req, obj, "BUSY", "AVAILABLE")

    def _put_rule(self, req: Request, dc: str, alb: str, rule: str) -> Response:
        return self._update_rule(req, dc, alb, rule, partial=False)

    def _patch_rule(self, req: Request, dc: str, alb: str, rule: str) -> Response:
        return self._update_rule(req, dc, alb, rule, partial=True)

    def _delete_rule(self, req: Request, dc: str, alb: str, rule: str) -> Response:
        self.svc._transition(self._alb(dc, alb), "BUSY", "AVAILABLE")
        return self.svc._accept_delete(req, self._rule(dc, alb, rule), "BUSY")


class TargetGroups:
    """``/targetgroups[/{id}]`` (``TargetGroupsApi`` and ``TargetGroupProperties``): ``name``,
    ``algorithm`` and ``protocol`` (HTTP only) required; targets with ``ip``, ``port`` and
    ``weight`` (0-256), ``proxyProtocol`` from the SDK's values, health checks enabled and
    maintenance off by default; ``healthCheck`` defaults (interval 2000 ms, 3 retries);
    ``httpHealthCheck`` needs ``matchType`` and ``response``. A group an Application Load
    Balancer's rule forwards to is not deleted (422)."""

    def __init__(self, svc: IonosCloudService) -> None:
        self.svc = svc

    def routes(self) -> Routes:
        return [
            ("/targetgroups", {"GET": self._list, "POST": self._create}),
            (r"/targetgroups/(?P<tg>[^/]+)", {
                "GET": self._get, "PUT": self._put, "PATCH": self._patch,
                "DELETE": self._delete}),
        ]

    def _tg(self, tg: str) -> dict[str, Any]:
        return self.svc._get(f"/targetgroups/{tg}", "target group")

    def _target(self, i: int, t: Any) -> dict[str, Any]:
        where = f"targets[{i}]"
        if not isinstance(t, dict):
            raise ApiError(422, f"{_where(where)} must be an object")
        for required in ("ip", "port", "weight"):
            if t.get(required) is None:
                raise ApiError(422, f"{_where(f'{where}.{required}')} Attribute is required")
        try:
            ipaddress.ip_address(t["ip"])
        except (TypeError, ValueError):
            raise ApiError(422, f"{_where(where + '.ip')} {t['ip']!r} is not an IP "
                                "address") from None
        proxy = t.get("proxyProtocol") or "none"
        if proxy not in PROXY_PROTOCOLS:
            raise ApiError(422, f"{_where(where + '.proxyProtocol')} {proxy!r} is not one of "
                                f"{list(PROXY_PROTOCOLS)}")
        return {"ip": t["ip"], "port": self.svc._int(t, "port", 1, 65535),
                "weight": self.svc._int(t, "weight", 0, 256), "proxyProtocol": proxy,
                "healthCheckEnabled": bool(t.get("healthCheckEnabled", True)),
                "maintenanceEnabled": bool(t.get("maintenanceEnabled", False))}

    def _health(self, value: Any) -> dict[str, int]:
        out = {"checkTimeout": 5000, "checkInterval": 2000, "retries": 3}
        if value is None:
            return out
        if not isinstance(value, dict):
            raise ApiError(422, f"{_where('healthCheck')} must be an object")
        bounds = {"checkTimeout": 10**7, "checkInterval": 10**7, "retries": 65535}
        for key, hi in bounds.items():
            if value.get(key) is not None:
                out[key] = self.svc._int(value, key, 0, hi)
        return out

    def _http_health(self, value: Any) -> dict[str, Any] | None:
        if value is None:
            return None
        if not isinstance(value, dict):
            raise ApiError(422, f"{_where('httpHealthCheck')} must be an object")
        for required in ("matchType", "response"):
            if value.get(required) is None:
                raise ApiError(422, f"{_where('httpHealthCheck.' + required)} Attribute is "
                                    "required")
        if value["matchType"] not in HC_MATCH:
            raise ApiError(422, f"{_where('httpHealthCheck.matchType')} "
                                f"{value['matchType']!r} is not one of {list(HC_MATCH)}")
        method = value.get("method") or "GET"
        if method not in HC_METHODS:
            raise ApiError(422, f"{_where('httpHealthCheck.method')} {method!r} is not one of "
                                f"{list(HC_METHODS)}")
        return {"path": value.get("path") or "/", "method": method,
                "matchType": value["matchType"], "response": str(value["response"]),
                "regex": bool(value.get("regex", False)),
                "negate": bool(value.get("negate", False))}

    def _props(self, p: dict[str, Any]) -> dict[str, Any]:
        self.svc._require(p, "name", "algorithm", "protocol")
        targets = p.get("targets") or []
        if not isinstance(targets, list):
            raise ApiError(422, f"{_where('targets')} must be a list")
        out: dict[str, Any] = {
            "name": self.svc._str(p, "name"),
            "algorithm": self.svc._str(p, "algorithm", TG_ALGORITHMS),
            "protocol": self.svc._str(p, "protocol", ALB_PROTOCOLS),
            "targets": [self._target(i, t) for i, t in enumerate(targets)],
            "healthCheck": self._health(p.get("healthCheck"))}
        if p.get("protocolVersion") is not None:
            out["protocolVersion"] = self.svc._str(p, "protocolVersion", TG_VERSIONS)
        http = self._http_health(p.get("httpHealthCheck"))
        if http is not None:
            out["httpHealthCheck"] = http
        return out

    def _list(self, req: Request) -> Response:
        return self.svc._list(req, "", "targetgroups")

    def _create(self, req: Request) -> Response:
        props = self._props(self.svc._properties(json_body(req)))
        obj = self.svc._new_obj("target-group", "", "targetgroups", str(uuid.uuid4()), props,
                                "BUSY")
        return self.svc._accept_write(req, obj, "BUSY", "AVAILABLE")

    def _get(self, req: Request, tg: str) -> Response:
        return self.svc._one(req, self._tg(tg))

    def _update(self, req: Request, tg: str, partial: bool) -> Response:
        obj = self._tg(tg)
        self.svc._check_if_match(req, obj)
        p = self.svc._patch_properties(req) if partial else self.svc._properties(json_body(req))
        obj["props"] = self._props({**obj["props"], **p} if partial else p)
        return self.svc._accept_write(req, obj, "BUSY", "AVAILABLE")

    def _put(self, req: Request, tg: str) -> Response:
        return self._update(req, tg, partial=False)

    def _patch(self, req: Request, tg: str) -> Response:
        return self._update(req, tg, partial=True)

    def _delete(self, req: Request, tg: str) -> Response:
        obj = self._tg(tg)
        for rule in self.svc._all("forwarding-rule"):
            if any(h.get("targetGroup") == tg for h in rule["props"].get("httpRules") or []):
                raise ApiError(422, f"target group {tg} is used by forwarding rule {rule['id']} "
                                    "of an application load balancer; change the rule first")
        return self.svc._accept_delete(req, obj, "BUSY")
