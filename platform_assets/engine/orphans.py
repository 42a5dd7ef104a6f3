"""IONOS resources in our datacenter (or cluster) that no asset owns: reported, never deleted."""

from __future__ import annotations

from platform_assets.core.graph import Node
from platform_assets.core.ports import CloudApi, Json
from platform_assets.engine.edge import nlb_orphans, zone_orphans
from platform_assets.engine.gateways import gateway_orphans
from platform_assets.engine.handler import Runtime, section_as
from platform_assets.engine.registry import token_orphans
from platform_assets.spec.models import ContainerRegistry, DnsZone, Ionos


def _name(x: Json) -> object:
    return (x.get("properties") or {}).get("name")


def _lans(api: CloudApi, spec: Ionos, dc_id: str) -> list[str]:
    names = {lan.name for lan in spec.lans}
    return [f"ionos/lan/{_name(x)} (id {x['id']})" for x in api.list_lans(dc_id)
            if _name(x) not in names]


def _clusters(api: CloudApi, spec: Ionos, dc_id: str) -> list[str]:
    out = []
    for c in api.list_k8s_clusters():
        if _name(c) == spec.cluster.name:
            continue
        pools = api.list_node_pools(c["id"])
        if any(p["properties"].get("datacenterId") == dc_id for p in pools):
            out.append(f"ionos/cluster/{_name(c)} (id {c['id']}) has node pools in our "
                       "datacenter")
    return out


def _mariadbs(api: CloudApi, spec: Ionos, dc_id: str) -> list[str]:
    want = spec.mariadb.name if spec.mariadb else None
    out = []
    for db in api.list_mariadb_clusters():
        conn = (db.get("properties") or {}).get("connection") or {}
        if conn.get("datacenterId") == dc_id and _name(db) != want:
            out.append(f"ionos/mariadb/{_name(db)} (id {db['id']})")
    return out


def _postgres(api: CloudApi, spec: Ionos, dc_id: str) -> list[str]:
    want = {pg.name for pg in spec.postgres}
    return [f"ionos/postgres/{_name(db)} (id {db['id']})" for db in api.list_postgres_clusters()
            if ((db.get("properties") or {}).get("connection") or {}).get("datacenterId") == dc_id
            and _name(db) not in want]


def _inmemorydbs(api: CloudApi, spec: Ionos, dc_id: str) -> list[str]:
    want = {mem.name for mem in spec.inmemorydb}
    return [f"ionos/inmemorydb/{_name(db)} (id {db['id']})"
            for db in api.list_inmemorydb_clusters()
            if ((db.get("properties") or {}).get("connection") or {}).get("datacenterId") == dc_id
            and _name(db) not in want]


def _node_pools(api: CloudApi, spec: Ionos, cluster_id: str) -> list[str]:
    names = {p.name for p in spec.node_pools}
    return [f"ionos/node_pool/{_name(p)} (id {p['id']})" for p in api.list_node_pools(cluster_id)
            if _name(p) not in names]


def orphans(rt: Runtime, node: Node) -> list[str]:
    """What the datacenter's, the cluster's, a DNS zone's or a registry's drift check reports as
    owned by no asset."""
    if node.kind == "dns_zone":
        return zone_orphans(rt, section_as(node, DnsZone))
    if node.kind == "registry":
        return token_orphans(rt, section_as(node, ContainerRegistry))
    if node.kind not in ("datacenter", "cluster"):
        return []
    spec = rt.spec.ionos_infra  # only IONOS environments have these nodes
    if node.kind == "datacenter":
        api = rt.cloud()
        dc = api.find_datacenter(spec.datacenter.name)
        if not dc:
            return []
        return [*_lans(api, spec, dc["id"]), *_clusters(api, spec, dc["id"]),
                *_mariadbs(api, spec, dc["id"]), *_postgres(api, spec, dc["id"]),
                *nlb_orphans(rt, str(dc["id"])), *gateway_orphans(rt, str(dc["id"])),
                *_inmemorydbs(api, spec, dc["id"])]
    if node.kind == "cluster":
        api = rt.cloud()
        cl = api.find_k8s_cluster(spec.cluster.name)
        return _node_pools(api, spec, cl["id"]) if cl else []
    return []
