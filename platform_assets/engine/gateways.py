"""NAT gateways, Application Load Balancers and target groups as rows of the IONOS handler
table.

A gateway or balancer is observed with its rules folded into its properties (``rules`` or
``forwardingrules`` by name), so one plan line says which rule changes and the change calendar
gates what moves traffic: public addresses, LANs (a NAT gateway is the next hop of their default
route), listener addresses and ports, routing and every NAT rule. Updates patch the resource only
when its own properties differ and write only the rules that differ. A target group's targets
are its pools' nodes, read on every reconcile like a Network Load Balancer's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from platform_assets.core import edge, gateways
from platform_assets.core.diff import diff
from platform_assets.core.graph import Node, NodeKind
from platform_assets.core.ports import CloudApi, GatewayKind, Json
from platform_assets.engine.edge import pool_ips
from platform_assets.engine.handler import (
    Options,
    ReconcileError,
    Runtime,
    guarded,
    section_as,
)
from platform_assets.engine.ionos import IonosKind, IonosState, Write, datacenter_ids, require
from platform_assets.spec.models import ApplicationLoadBalancer, NatGateway, TargetGroup

NAT: GatewayKind = "natgateways"
ALB: GatewayKind = "applicationloadbalancers"
ALB_DISRUPTIVE = ("ips", "listenerLan", "targetLan", "lbPrivateIps", "forwardingrulesNames")
ALB_RULE_DISRUPTIVE = ("listenerIp", "listenerPort", "protocol", "httpRules")
NAT_DISRUPTIVE = ("publicIps", "lans", "rulesNames")
NAT_RULE_DISRUPTIVE = ("protocol", "sourceSubnet", "publicIp", "targetSubnet", "targetPortRange")


def folded(obs: Json | None, sub: str) -> tuple[Json | None, dict[str, str]]:
    """The resource with its sub-resources folded into its properties (``sub`` by name, and
    ``<sub>Names``), and the sub-resources' ids by name."""
    if obs is None:
        return None, {}
    items = (((obs.get("entities") or {}).get(sub) or {}).get("items")) or []
    named = [i for i in items if i.get("properties")]
    subs = {str(i["properties"]["name"]): dict(i["properties"]) for i in named}
    ids = {str(i["properties"]["name"]): str(i["id"]) for i in named}
    props = {**(obs.get("properties") or {}), sub: subs, f"{sub}Names": sorted(subs)}
    return {**obs, "properties": props}, ids


def _own(want: Json, sub: str) -> Json:
    return {k: v for k, v in want.items() if k not in (sub, f"{sub}Names")}


def _addresses(rt: Runtime, block: str, opts: Options) -> list[str]:
    """The reserved addresses of an IP block (a placeholder while it is not reserved)."""
    found = require(f"IP block {block}", rt.cloud().find_ip_block(block), opts)
    return list(((found or {}).get("properties") or {}).get("ips") or [edge.NOT_RESERVED])


def _lans_exist(what: str, dc_id: str | None, names: list[str], lan_ids: dict[str, str],
                opts: Options) -> None:
    missing = [n for n in names if n not in lan_ids]
    if dc_id and missing and not opts.dry_run:
        raise ReconcileError(f"{what}: LAN(s) {', '.join(missing)} do not exist: reconcile "
                             "them first")


def _observe_nat(rt: Runtime, node: Node, opts: Options) -> IonosState:
    gw = section_as(node, NatGateway)
    dc_id, lan_ids = datacenter_ids(rt, opts)
    ips = _addresses(rt, gw.ip_block, opts)
    _lans_exist(f"NAT gateway {gw.name}", dc_id, [n.lan for n in gw.lans], lan_ids, opts)
    rules = gateways.nat_rule_props(gw, ips[0])
    want = {**gateways.nat_props(gw, ips, {n: int(i) for n, i in lan_ids.items()}),
            "rules": rules, "rulesNames": sorted(rules)}
    raw = rt.cloud().find_gateway(NAT, dc_id, gw.name) if dc_id else None
    obs, ids = folded(raw, "rules")
    return IonosState(node, f"ionos/nat_gateway/{gw.name}", f"NAT gateway {gw.name}", want, obs,
                      parent=dc_id or "", writable=bool(dc_id), ids=ids,
                      disruptive=NAT_DISRUPTIVE + tuple(
                          f"rules.{name}.{f}" for name in rules for f in NAT_RULE_DISRUPTIVE))


def _create(kind: GatewayKind, sub: str) -> Write:
    def create(api: CloudApi, st: IonosState, rt: Runtime) -> Json:
        # A refusal (a quota, an address in use) names the asset and the request.
        made = guarded(f"{st.address}: POST /datacenters/{st.parent}/{kind} "
                       f"({st.want['name']})", lambda: api.create_gateway(
                           kind, st.parent, _own(st.want, sub), list(st.want[sub].values()),
                           log=rt.log))
        return folded(made, sub)[0] or made
    return create


def _update(kind: GatewayKind, sub: str) -> Write:
    def update(api: CloudApi, st: IonosState, rt: Runtime) -> Json:
        have = st.props
        top = _own(st.want, sub)
        props = top if diff(top, _own(have, sub)) else None
        had = have.get(sub) or {}
        subs: dict[str, Json | None] = {
            name: want for name, want in st.want[sub].items()
            if name not in had or diff(want, had[name])}
        subs.update({name: None for name in had if name not in st.want[sub]})
        guarded(f"{st.address}: PATCH /datacenters/{st.parent}/{kind}/{st.obs_id} and its "
                f"{sub}", lambda: api.update_gateway(kind, st.parent, st.obs_id, props, subs,
                                                     st.ids, log=rt.log))
        fresh = api.gateway_ready(kind, st.parent, st.obs_id, log=rt.log)
        return folded(fresh, sub)[0] or fresh
    return update


def _ready(kind: GatewayKind, sub: str) -> Callable[[CloudApi, IonosState, Runtime], Json]:
    def ready(api: CloudApi, st: IonosState, rt: Runtime) -> Json:
        fresh = api.gateway_ready(kind, st.parent, st.obs_id, log=rt.log)
        return folded(fresh, sub)[0] or fresh
    return ready


def _nat_metadata(st: IonosState, obs: Json) -> dict[str, Any]:
    props = obs.get("properties") or {}
    return {"nat_gateway_id": str(obs["id"]), "public_ips": ", ".join(props.get("publicIps") or []),
            "lans": len(props.get("lans") or []), "rules": len(props.get("rules") or {}),
            "state": str((obs.get("metadata") or {}).get("state"))}


def _observe_target_group(rt: Runtime, node: Node, opts: Options) -> IonosState:
    tg = section_as(node, TargetGroup)
    ips = pool_ips(rt, f"target group {tg.name}", (t.node_pool for t in tg.targets), opts)
    return IonosState(node, f"ionos/target_group/{tg.name}", f"target group {tg.name}",
                      gateways.target_group_props(tg, ips),
                      rt.cloud().find_target_group(tg.name))


def _target_group_metadata(st: IonosState, obs: Json) -> dict[str, Any]:
    props = obs.get("properties") or {}
    return {"target_group_id": str(obs["id"]), "targets": len(props.get("targets") or []),
            "state": str((obs.get("metadata") or {}).get("state"))}


def _group_ids(rt: Runtime, alb: ApplicationLoadBalancer, opts: Options) -> dict[str, str]:
    """Target group name -> id, for the groups the balancer's rules forward to."""
    names = sorted({h.target_group for r in alb.rules for h in r.http_rules if h.target_group})
    out: dict[str, str] = {}
    for name in names:
        found = rt.cloud().find_target_group(name)
        if found is None and not opts.dry_run:
            raise ReconcileError(f"application load balancer {alb.name}: target group {name} "
                                 "does not exist: reconcile it first")
        if found is not None:
            out[name] = str(found["id"])
    return out


def _observe_alb(rt: Runtime, node: Node, opts: Options) -> IonosState:
    alb = section_as(node, ApplicationLoadBalancer)
    dc_id, lan_ids = datacenter_ids(rt, opts)
    ips = _addresses(rt, alb.ip_block, opts)
    _lans_exist(f"application load balancer {alb.name}", dc_id,
                [alb.listener_lan, alb.target_lan], lan_ids, opts)
    rules = gateways.alb_rule_props(alb, ips[0], _group_ids(rt, alb, opts))
    want = {**gateways.alb_props(alb, int(lan_ids.get(alb.listener_lan, "0")),
                                 int(lan_ids.get(alb.target_lan, "0")), ips),
            "forwardingrules": rules, "forwardingrulesNames": sorted(rules)}
    raw = rt.cloud().find_gateway(ALB, dc_id, alb.name) if dc_id else None
    obs, ids = folded(raw, "forwardingrules")
    return IonosState(node, f"ionos/application_load_balancer/{alb.name}",
                      f"application load balancer {alb.name}", want, obs, parent=dc_id or "",
                      writable=bool(dc_id), ids=ids, disruptive=ALB_DISRUPTIVE + tuple(
                          f"forwardingrules.{name}.{f}" for name in rules
                          for f in ALB_RULE_DISRUPTIVE))


def _alb_metadata(st: IonosState, obs: Json) -> dict[str, Any]:
    props = obs.get("properties") or {}
    rules = props.get("forwardingrules") or {}
    return {"alb_id": str(obs["id"]), "listener_ips": ", ".join(props.get("ips") or []),
            "forwarding_rules": len(rules),
            "http_rules": sum(len(r.get("httpRules") or []) for r in rules.values()),
            "state": str((obs.get("metadata") or {}).get("state"))}


GATEWAY_KINDS: dict[NodeKind, IonosKind] = {
    "nat_gateway": IonosKind(
        observe=_observe_nat, create=_create(NAT, "rules"), update=_update(NAT, "rules"),
        metadata=_nat_metadata, ready_state="AVAILABLE", ready=_ready(NAT, "rules")),
    "target_group": IonosKind(
        observe=_observe_target_group,
        create=lambda api, st, rt: guarded(
            f"{st.address}: POST /targetgroups ({st.want['name']})",
            lambda: api.create_target_group(st.want, log=rt.log)),
        update=lambda api, st, rt: guarded(
            f"{st.address}: PUT /targetgroups/{st.obs_id}",
            lambda: api.update_target_group(st.obs_id, st.want, log=rt.log)),
        metadata=_target_group_metadata, ready_state="AVAILABLE",
        ready=lambda api, st, rt: api.target_group_ready(st.obs_id, log=rt.log)),
    "application_load_balancer": IonosKind(
        observe=_observe_alb, create=_create(ALB, "forwardingrules"),
        update=_update(ALB, "forwardingrules"), metadata=_alb_metadata,
        ready_state="AVAILABLE", ready=_ready(ALB, "forwardingrules")),
}


def gateway_orphans(rt: Runtime, dc_id: str) -> list[str]:
    """NAT gateways and Application Load Balancers in our datacenter that the spec does not
    name."""
    ionos = rt.spec.ionos_infra
    out = []
    for kind, asset, names in (
            (NAT, "nat_gateway", {gw.name for gw in ionos.nat_gateways}),
            (ALB, "application_load_balancer", {a.name for a in ionos.application_load_balancers})):
        out += [f"ionos/{asset}/{(x.get('properties') or {}).get('name')} (id {x['id']})"
                for x in rt.cloud().list_gateways(kind, dc_id)
                if (x.get("properties") or {}).get("name") not in names]
    return out
