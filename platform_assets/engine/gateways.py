"""NAT gateways as rows of the IONOS handler table.

A gateway is observed with its rules folded into its properties (``rules`` by name), so one
plan line says which rule changes and the change calendar gates what moves traffic: its public
addresses, its LANs (the next hop of their default route) and every rule change. Updates patch
the gateway only when its own properties differ and write only the rules that differ.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from platform_assets.core import edge, gateways
from platform_assets.core.diff import diff
from platform_assets.core.graph import Node, NodeKind
from platform_assets.core.ports import CloudApi, GatewayKind, Json
from platform_assets.engine.handler import Options, ReconcileError, Runtime, section_as
from platform_assets.engine.ionos import IonosKind, IonosState, Write, datacenter_ids, require
from platform_assets.spec.models import NatGateway

NAT: GatewayKind = "natgateways"
NAT_DISRUPTIVE = ("publicIps", "lans", "ruleNames")
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


def _observe_nat(rt: Runtime, node: Node, opts: Options) -> IonosState:
    gw = section_as(node, NatGateway)
    dc_id, lan_ids = datacenter_ids(rt, opts)
    block = require(f"IP block {gw.ip_block}", rt.cloud().find_ip_block(gw.ip_block), opts)
    ips = list(((block or {}).get("properties") or {}).get("ips") or [edge.NOT_RESERVED])
    missing = [n.lan for n in gw.lans if n.lan not in lan_ids]
    if dc_id and missing and not opts.dry_run:
        raise ReconcileError(f"NAT gateway {gw.name}: LAN(s) {', '.join(missing)} do not "
                             "exist: reconcile them first")
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
        made = api.create_gateway(kind, st.parent, _own(st.want, sub),
                                  list(st.want[sub].values()), log=rt.log)
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
        api.update_gateway(kind, st.parent, st.obs_id, props, subs, st.ids, log=rt.log)
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


GATEWAY_KINDS: dict[NodeKind, IonosKind] = {
    "nat_gateway": IonosKind(
        observe=_observe_nat, create=_create(NAT, "rules"), update=_update(NAT, "rules"),
        metadata=_nat_metadata, ready_state="AVAILABLE", ready=_ready(NAT, "rules")),
}


def gateway_orphans(rt: Runtime, dc_id: str) -> list[str]:
    """NAT gateways in our datacenter that the spec does not name."""
    names = {gw.name for gw in rt.spec.ionos_infra.nat_gateways}
    return [f"ionos/nat_gateway/{(x.get('properties') or {}).get('name')} (id {x['id']})"
            for x in rt.cloud().list_gateways(NAT, dc_id)
            if (x.get("properties") or {}).get("name") not in names]
