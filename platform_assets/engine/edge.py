"""The network edge and DNS as rows of the IONOS handler table: IP blocks, Network Load Balancers
(with their forwarding rules) and DNS zones (with the records the spec owns).

Each row observes the resource into the ``IonosState`` shape ``IonosHandler`` diffs: a balancer's
forwarding rules and a zone's records are folded into its observed properties (``rules`` by
name, ``records`` by ``"<name> <type>"``), so one plan line says which rule or record changes and
the change calendar gates what disrupts traffic (listener addresses and ports, a removed rule, a
record pointed elsewhere). Records of a zone that the spec does not own are never written: the
zone's drift check reports them as orphans.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from typing import Any

from platform_assets.core import edge
from platform_assets.core.graph import Node, NodeKind
from platform_assets.core.ports import CloudApi, Json
from platform_assets.engine.handler import (
    Options,
    ReconcileError,
    Runtime,
    guarded,
    section_as,
)
from platform_assets.engine.ionos import IonosKind, IonosState, datacenter_ids, require
from platform_assets.spec.models import Component, DnsZone, IpBlock, LoadBalancer

NLB_DISRUPTIVE = ("ips", "listenerLan", "targetLan", "lbPrivateIps", "ruleNames")
RULE_DISRUPTIVE = ("listenerIp", "listenerPort", "protocol")


def _observe_ip_block(rt: Runtime, node: Node, opts: Options) -> IonosState:
    block = section_as(node, IpBlock)
    want = edge.ip_block_props(block, rt.spec.ionos_infra.datacenter.location)
    api = rt.cloud()
    obs, notes = api.find_ip_block(block.name), []
    known = opts.previous_metadata.get("ip_block_id")
    if obs is None and known:
        # Renamed outside the spec: the block (and its addresses) is still ours; reserving a
        # new one would move every address that points at it.
        obs = next((b for b in api.list_ip_blocks() if str(b["id"]) == str(known)), None)
        if obs is not None:
            notes.append(f"IP block {known} was renamed to "
                         f"{(obs.get('properties') or {}).get('name')!r} outside the spec")
    return IonosState(node, f"ionos/ip_block/{block.name}", f"IP block {block.name}", want,
                      obs, notes=notes)


def _replace_ip_block(api: CloudApi, st: IonosState, rt: Runtime) -> Json:
    rt.log(f"releasing IP block {st.node.name} to reserve a new one ({st.change.reason}); "
           "its addresses change")
    api.delete_ip_block(st.obs_id, log=rt.log)
    return api.create_ip_block(st.want, log=rt.log)


def _ip_block_metadata(st: IonosState, obs: Json) -> dict[str, Any]:
    props = obs.get("properties") or {}
    return {"ip_block_id": str(obs["id"]), "ips": ", ".join(props.get("ips") or []),
            "location": str(props.get("location")),
            "state": str((obs.get("metadata") or {}).get("state"))}


def _addresses(rt: Runtime, names: list[str]) -> dict[str, str | None]:
    """IP block name -> its first address (None while it is not reserved)."""
    return {n: edge.first_address(guarded(f"GET IP block {n}",
                                          partial(rt.cloud().find_ip_block, n))) for n in names}


def pool_ips(rt: Runtime, what: str, names: Iterable[str],
             opts: Options) -> dict[str, list[str]]:
    """Node pool name -> its nodes' private addresses, for the pools ``what`` (a balancer, a
    target group) targets."""
    api = rt.cloud()
    name = rt.spec.ionos_infra.cluster.name
    cluster = require(f"cluster {name}", api.find_k8s_cluster(name), opts)
    if cluster is None:
        return {}
    pools = {p["properties"].get("name"): str(p["id"]) for p in api.list_node_pools(cluster["id"])}
    out: dict[str, list[str]] = {}
    for name in sorted(set(names)):
        pool_id = pools.get(name)
        if pool_id is None and not opts.dry_run:
            raise ReconcileError(f"{what}: node pool {name} does not exist: reconcile it first")
        out[name] = api.node_ips(str(cluster["id"]), pool_id) if pool_id else []
    return out


def _nlb_observed(obs: Json | None) -> tuple[Json | None, dict[str, str]]:
    """The balancer with its rules folded into its properties, and the rules' ids by name."""
    if obs is None:
        return None, {}
    items = (((obs.get("entities") or {}).get("forwardingrules") or {}).get("items")) or []
    rules = {str(r["properties"]["name"]): dict(r["properties"]) for r in items
             if r.get("properties")}
    ids = {str(r["properties"]["name"]): str(r["id"]) for r in items if r.get("properties")}
    props = {**(obs.get("properties") or {}), "rules": rules, "ruleNames": sorted(rules)}
    return {**obs, "properties": props}, ids


def _observe_nlb(rt: Runtime, node: Node, opts: Options) -> IonosState:
    lb = section_as(node, LoadBalancer)
    dc_id, lan_ids = datacenter_ids(rt, opts)
    block = require(f"IP block {lb.ip_block}", rt.cloud().find_ip_block(lb.ip_block), opts)
    ips = list(((block or {}).get("properties") or {}).get("ips") or [edge.NOT_RESERVED])
    for lan in (lb.listener_lan, lb.target_lan):
        if dc_id and lan not in lan_ids and not opts.dry_run:
            raise ReconcileError(f"load balancer {lb.name}: LAN {lan} does not exist: "
                                 "reconcile it first")
    rules = edge.rule_props(lb, ips[0], pool_ips(rt, f"load balancer {lb.name}",
                                                 (t.node_pool for t in lb.targets), opts))
    want = {**edge.nlb_props(lb, int(lan_ids.get(lb.listener_lan, "0")),
                             int(lan_ids.get(lb.target_lan, "0")), ips),
            "rules": rules, "ruleNames": sorted(rules)}
    raw = rt.cloud().find_nlb(dc_id, lb.name) if dc_id else None
    obs, ids = _nlb_observed(raw)
    st = IonosState(node, f"ionos/load_balancer/{lb.name}", f"load balancer {lb.name}", want,
                    obs, parent=dc_id or "", writable=bool(dc_id), ids=ids,
                    disruptive=NLB_DISRUPTIVE + tuple(
                        f"rules.{name}.{f}" for name in rules for f in RULE_DISRUPTIVE))
    return st


def _nlb_write_props(want: Json) -> Json:
    return {k: v for k, v in want.items() if k not in ("rules", "ruleNames")}


def _create_nlb(api: CloudApi, st: IonosState, rt: Runtime) -> Json:
    rules = list(st.want["rules"].values())
    made = api.create_nlb(st.parent, _nlb_write_props(st.want), rules, log=rt.log)
    return _nlb_observed(made)[0] or made


def _update_nlb(api: CloudApi, st: IonosState, rt: Runtime) -> Json:
    have = st.props
    top = _nlb_write_props(st.want)
    props = top if any(have.get(k) != v for k, v in top.items()) else None
    rules: dict[str, Json | None] = {
        name: rule for name, rule in st.want["rules"].items()
        if name not in have.get("rules", {}) or
        any(have["rules"][name].get(k) != v for k, v in rule.items() if k != "targets")
        or _targets_differ(rule["targets"], have["rules"][name].get("targets") or [])}
    rules.update({name: None for name in have.get("rules", {}) if name not in st.want["rules"]})
    api.update_nlb(st.parent, st.obs_id, props, rules, st.ids, log=rt.log)
    fresh = api.nlb_ready(st.parent, st.obs_id, log=rt.log)
    return _nlb_observed(fresh)[0] or fresh


def _targets_differ(want: list[Json], have: list[Json]) -> bool:
    if len(want) != len(have):
        return True
    return any(any(h.get(k) != v for k, v in w.items() if k != "healthCheck")
               or (h.get("healthCheck") or {}).get("check") != w["healthCheck"]["check"]
               for w, h in zip(want, have, strict=True))


def _nlb_metadata(st: IonosState, obs: Json) -> dict[str, Any]:
    props = obs.get("properties") or {}
    rules = props.get("rules") or {}
    return {"nlb_id": str(obs["id"]), "listener_ips": ", ".join(props.get("ips") or []),
            "forwarding_rules": len(rules),
            "targets": sum(len(r.get("targets") or []) for r in rules.values()),
            "state": str((obs.get("metadata") or {}).get("state"))}


def _zone_observed(api: CloudApi, zone: Json | None,
                   owned: set[str]) -> tuple[Json | None, dict[str, str]]:
    """The zone with the records the spec owns folded into its properties, and their ids."""
    if zone is None:
        return None, {}
    recs = [r for r in api.list_records(str(zone["id"]))
            if edge.observed_key(r.get("properties") or {}) in owned]
    records = {edge.observed_key(r["properties"]): _spec_shape(r["properties"]) for r in recs}
    ids = {edge.observed_key(r["properties"]): str(r["id"]) for r in recs}
    return {**zone, "properties": {**(zone.get("properties") or {}), "records": records}}, ids


def _spec_shape(props: Json) -> Json:
    return {**props, "name": str(props.get("name") or "") or edge.APEX}


def _observe_zone(rt: Runtime, node: Node, opts: Options) -> IonosState:
    zone = section_as(node, DnsZone)
    blocks = ([zone.hosts_to] if zone.hosts_to else []) + [
        r.ip_block for r in zone.records if r.ip_block]
    records = edge.desired_records(rt.spec, zone, _addresses(rt, blocks))
    want = {"zoneName": zone.name, "description": zone.description, "enabled": True,
            "records": records}
    api = rt.cloud()
    obs, ids = _zone_observed(api, api.find_zone(zone.name), set(records))
    have = ((obs or {}).get("properties") or {}).get("records") or {}
    # Pointing an existing name elsewhere moves its traffic: gated by the change calendar.
    repointed = tuple(f"records.{k}.content" for k in records if k in have
                      and have[k].get("content") != records[k]["content"])
    return IonosState(node, f"ionos/dns_zone/{zone.name}", f"DNS zone {zone.name}", want, obs,
                      ids=ids, disruptive=repointed)


def _zone_props(want: Json) -> Json:
    return {k: want[k] for k in ("zoneName", "description", "enabled")}


def _record_writes(st: IonosState) -> dict[str, Json | None]:
    have = st.props.get("records") or {}
    return {k: edge.api_record(rec) for k, rec in st.want["records"].items()
            if k not in have or any(have[k].get(f) != v for f, v in rec.items())}


def _create_zone(api: CloudApi, st: IonosState, rt: Runtime) -> Json:
    zone = api.create_zone(_zone_props(st.want), log=rt.log)
    api.write_records(str(zone["id"]), _record_writes(st), {}, log=rt.log)
    return _zone_observed(api, zone, set(st.want["records"]))[0] or zone


def _update_zone(api: CloudApi, st: IonosState, rt: Runtime) -> Json:
    have = st.props
    props = _zone_props(st.want)
    if any(have.get(k) != v for k, v in props.items()):
        api.update_zone(st.obs_id, props, log=rt.log)
    api.write_records(st.obs_id, _record_writes(st), st.ids, log=rt.log)
    return _zone_observed(api, api.find_zone(st.want["zoneName"]),
                          set(st.want["records"]))[0] or {}


def _zone_metadata(st: IonosState, obs: Json) -> dict[str, Any]:
    meta = obs.get("metadata") or {}
    records = (obs.get("properties") or {}).get("records") or {}
    return {"zone_id": str(obs["id"]), "nameservers": ", ".join(meta.get("nameservers") or []),
            "records": len(records), "state": str(meta.get("state"))}


EDGE_KINDS: dict[NodeKind, IonosKind] = {
    "ip_block": IonosKind(
        observe=_observe_ip_block,
        create=lambda api, st, rt: api.create_ip_block(st.want, log=rt.log),
        update=lambda api, st, rt: api.update_ip_block(st.obs_id, st.want, log=rt.log),
        metadata=_ip_block_metadata, immutable=("location", "size"),
        replace=_replace_ip_block, ready_state="AVAILABLE",
        ready=lambda api, st, rt: api.ip_block_ready(st.obs_id, rt.log)),
    "load_balancer": IonosKind(
        observe=_observe_nlb, create=_create_nlb, update=_update_nlb, metadata=_nlb_metadata,
        ready_state="AVAILABLE",
        ready=lambda api, st, rt: _nlb_observed(api.nlb_ready(st.parent, st.obs_id,
                                                              rt.log))[0] or {}),
    "dns_zone": IonosKind(
        observe=_observe_zone, create=_create_zone, update=_update_zone,
        metadata=_zone_metadata, immutable=("zoneName",),
        replace_hint="a zone's name cannot change ({reason}); create a new zone instead"),
}


def pinned_component(rt: Runtime, comp: Component, opts: Options) -> Component:
    """``comp`` with the reserved address of every load balancer that fronts it written into
    its chart values (``fronts.values_path``): the Service's load balancer IP is pinned to the
    address the DNS records point at."""
    balancers = rt.spec.ionos.load_balancers if rt.spec.ionos else []
    fronting = [lb for lb in balancers if lb.fronts and lb.fronts.component == comp.name]
    hr = comp.source.helm_release
    if not fronting or hr is None:
        return comp
    values = dict(hr.values)
    for lb in fronting:
        assert lb.fronts is not None
        block = guarded(f"GET IP block {lb.ip_block}",
                        partial(rt.cloud().find_ip_block, lb.ip_block))
        address = edge.first_address(block)
        if address is None and not opts.dry_run:
            raise ReconcileError(f"component {comp.name}: load balancer {lb.name} pins its "
                                 f"Service to IP block {lb.ip_block}, which is not reserved: "
                                 "reconcile it first")
        values = edge.set_path(values, lb.fronts.values_path, address or edge.NOT_RESERVED)
    source = comp.source.model_copy(update={"helm_release": hr.model_copy(
        update={"values": values})})
    return comp.model_copy(update={"source": source})


def zone_orphans(rt: Runtime, zone: DnsZone) -> list[str]:
    """Records of the zone that no asset owns (reported, never deleted)."""
    api = rt.cloud()
    found = api.find_zone(zone.name)
    if found is None:
        return []
    owned = set(edge.desired_records(rt.spec, zone, {}))
    out = []
    for r in api.list_records(str(found["id"])):
        props = r.get("properties") or {}
        key = edge.observed_key(props)
        if key not in owned:
            out.append(f"ionos/dns_zone/{zone.name}: record {key} -> {props.get('content')} "
                       f"(id {r['id']})")
    return out


def nlb_orphans(rt: Runtime, dc_id: str) -> list[str]:
    """Network Load Balancers in our datacenter that the spec does not name."""
    names = {lb.name for lb in rt.spec.ionos_infra.load_balancers}
    return [f"ionos/load_balancer/{(x.get('properties') or {}).get('name')} (id {x['id']})"
            for x in rt.cloud().list_nlbs(dc_id)
            if (x.get("properties") or {}).get("name") not in names]
