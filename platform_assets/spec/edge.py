"""Cross-references of the network edge and DNS sections, checked after the models (they span
sections): IP blocks, LANs, node pools and targets a load balancer names, the component it
fronts, the LANs and rules of NAT gateways, addresses on one LAN, and the records of each zone.
Pure.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from platform_assets.core import edge
from platform_assets.spec.models import (
    ApplicationLoadBalancer,
    DnsZone,
    LoadBalancer,
    NatGateway,
    PlatformSpec,
)

Loc = tuple[str | int, ...]
Problems = list[tuple[Loc, str]]


def _unknown(what: str, name: str, known: Iterable[str]) -> str:
    return f"unknown {what} {name!r}; expected one of {sorted(known)}"


def _dupes(names: list[str], loc: Loc, what: str, field: str = "name") -> Problems:
    seen: set[str] = set()
    out: Problems = []
    for i, name in enumerate(names):
        if name in seen:
            out.append(((*loc, i, field), f"duplicate {what} {name!r}"))
        seen.add(name)
    return out


def check_edge(spec: PlatformSpec) -> Problems:
    """Every problem of ``ionos.ip_blocks``, the load balancers, NAT gateways, target groups
    and ``ionos.dns``."""
    ionos = spec.ionos
    if ionos is None:
        return []
    out = (_dupes([b.name for b in ionos.ip_blocks], ("ionos", "ip_blocks"), "IP block name")
           + _dupes([lb.name for lb in ionos.load_balancers], ("ionos", "load_balancers"),
                    "load balancer name")
           + _dupes([z.name for z in ionos.dns.zones], ("ionos", "dns", "zones"), "zone")
           + _dupes([g.name for g in ionos.nat_gateways], ("ionos", "nat_gateways"),
                    "NAT gateway name")
           + _dupes([g.name for g in ionos.target_groups], ("ionos", "target_groups"),
                    "target group name")
           + _dupes([a.name for a in ionos.application_load_balancers],
                    ("ionos", "application_load_balancers"), "application load balancer name"))
    for i, lb in enumerate(ionos.load_balancers):
        out += _check_load_balancer(spec, ("ionos", "load_balancers", i), lb)
    for i, gw in enumerate(ionos.nat_gateways):
        out += _check_nat_gateway(spec, ("ionos", "nat_gateways", i), gw)
    for i, tg in enumerate(ionos.target_groups):
        pools = {p.name for p in ionos.node_pools}
        out += [(("ionos", "target_groups", i, "targets", j, "node_pool"),
                 _unknown("node pool", t.node_pool, pools))
                for j, t in enumerate(tg.targets) if t.node_pool not in pools]
    for i, alb in enumerate(ionos.application_load_balancers):
        out += _check_alb(spec, ("ionos", "application_load_balancers", i), alb)
    out += _check_addresses(spec)
    for i, zone in enumerate(ionos.dns.zones):
        out += _check_zone(spec, ("ionos", "dns", "zones", i), zone)
    return out


def _check_load_balancer(spec: PlatformSpec, loc: Loc, lb: LoadBalancer) -> Problems:
    ionos = spec.ionos_infra
    out: Problems = []
    out += _check_block(spec, (*loc, "ip_block"), lb.ip_block, "a load balancer can only "
                        "listen on addresses reserved in its own location")
    out += _check_listener_lans(spec, loc, lb.listener_lan, lb.target_lan)
    pools = {p.name: p for p in ionos.node_pools}
    out += _dupes([t.name for t in lb.targets], (*loc, "targets"), "target name")
    for j, t in enumerate(lb.targets):
        if t.node_pool not in pools:
            out.append(((*loc, "targets", j, "node_pool"), _unknown("node pool", t.node_pool,
                                                                     pools)))
        elif lb.target_lan not in pools[t.node_pool].lans:
            out.append(((*loc, "targets", j, "node_pool"), f"node pool {t.node_pool!r} is not "
                        f"in the target LAN {lb.target_lan!r}; add it to the pool's lans"))
    targets = {t.name for t in lb.targets}
    out += _dupes([r.name for r in lb.rules], (*loc, "rules"), "rule name")
    out += _dupes([str(r.listener_port) for r in lb.rules], (*loc, "rules"), "listener port",
                  "listener_port")
    out += [((*loc, "rules", j, "target"), _unknown("target", r.target, targets))
            for j, r in enumerate(lb.rules) if r.target not in targets]
    if lb.fronts is not None:
        out += _check_fronts(spec, (*loc, "fronts", "component"), lb.fronts.component)
    return out


def _check_listener_lans(spec: PlatformSpec, loc: Loc, listener: str, target: str) -> Problems:
    """A balancer listens in a public LAN and forwards in a private one."""
    lans = {lan.name: lan for lan in spec.ionos_infra.lans}
    out: Problems = []
    for field, name, public in (("listener_lan", listener, True), ("target_lan", target, False)):
        if name not in lans:
            out.append(((*loc, field), _unknown("LAN", name, lans)))
        elif lans[name].public != public:
            want, have = ("public", "private") if public else ("private", "public")
            out.append(((*loc, field), f"LAN {name!r} is {have}; the "
                        f"{field.replace('_', ' ')} must be {want}"))
    return out


def _check_alb(spec: PlatformSpec, loc: Loc, alb: ApplicationLoadBalancer) -> Problems:
    out = _check_block(spec, (*loc, "ip_block"), alb.ip_block, "a load balancer can only "
                       "listen on addresses reserved in its own location")
    out += _check_exclusive(spec, (*loc, "ip_block"), alb.ip_block,
                            f"application load balancer {alb.name!r}")
    out += _check_listener_lans(spec, loc, alb.listener_lan, alb.target_lan)
    out += _dupes([r.name for r in alb.rules], (*loc, "rules"), "rule name")
    out += _dupes([str(r.listener_port) for r in alb.rules], (*loc, "rules"), "listener port",
                  "listener_port")
    groups = {tg.name: tg for tg in spec.ionos_infra.target_groups}
    pools = {p.name: p for p in spec.ionos_infra.node_pools}
    for j, rule in enumerate(alb.rules):
        out += _dupes([h.name for h in rule.http_rules], (*loc, "rules", j, "http_rules"),
                      "HTTP rule name")
        for k, http in enumerate(rule.http_rules):
            where = (*loc, "rules", j, "http_rules", k, "target_group")
            if http.target_group is None:
                continue
            tg = groups.get(http.target_group)
            if tg is None:
                out.append((where, _unknown("target group", http.target_group, groups)))
                continue
            out += [(where, f"target group {tg.name!r} targets node pool {t.node_pool!r}, "
                            f"which is not in the target LAN {alb.target_lan!r}")
                    for t in tg.targets if t.node_pool in pools
                    and alb.target_lan not in pools[t.node_pool].lans]
    return out


def _check_exclusive(spec: PlatformSpec, loc: Loc, block: str, me: str) -> Problems:
    """An address serves one load balancer or NAT gateway: the first user of a block keeps it."""
    users = _block_users(spec)
    earlier = [who for name, who in users[:users.index((block, me))] if name == block]
    if not earlier:
        return []
    return [(loc, f"IP block {block!r} is used by {earlier[0]} already: an address serves one "
                  "load balancer or NAT gateway; reserve another block")]


def _check_block(spec: PlatformSpec, loc: Loc, name: str, why: str) -> Problems:
    ionos = spec.ionos_infra
    block = next((b for b in ionos.ip_blocks if b.name == name), None)
    if block is None:
        return [(loc, _unknown("IP block", name, [b.name for b in ionos.ip_blocks]))]
    if (block.location or ionos.datacenter.location) != ionos.datacenter.location:
        return [(loc, f"IP block {block.name!r} is in {block.location}, the datacenter in "
                      f"{ionos.datacenter.location}: {why}")]
    return []


def _block_users(spec: PlatformSpec) -> list[tuple[str, str]]:
    """(IP block, who uses its addresses) for every load balancer and NAT gateway, in order."""
    ionos = spec.ionos_infra
    return ([(lb.ip_block, f"load balancer {lb.name!r}") for lb in ionos.load_balancers]
            + [(gw.ip_block, f"NAT gateway {gw.name!r}") for gw in ionos.nat_gateways]
            + [(a.ip_block, f"application load balancer {a.name!r}")
               for a in ionos.application_load_balancers])


def _check_nat_gateway(spec: PlatformSpec, loc: Loc, gw: NatGateway) -> Problems:
    out = _check_block(spec, (*loc, "ip_block"), gw.ip_block, "a NAT gateway can only use "
                       "addresses reserved in its own location")
    out += _check_exclusive(spec, (*loc, "ip_block"), gw.ip_block, f"NAT gateway {gw.name!r}")
    lans = {lan.name: lan for lan in spec.ionos_infra.lans}
    out += _dupes([n.lan for n in gw.lans], (*loc, "lans"), "LAN", "lan")
    for j, n in enumerate(gw.lans):
        if n.lan not in lans:
            out.append(((*loc, "lans", j, "lan"), _unknown("LAN", n.lan, lans)))
        elif lans[n.lan].public:
            out.append(((*loc, "lans", j, "lan"), f"LAN {n.lan!r} is public; a NAT gateway "
                        "connects private LANs"))
    out += _dupes([r.name for r in gw.rules], (*loc, "rules"), "rule name")
    return out + _check_nat_rules(loc, gw)


def _check_nat_rules(loc: Loc, gw: NatGateway) -> Problems:
    """Each rule's source subnet lies in a LAN of the gateway, and no two rules overlap (a
    packet would match both)."""
    out: Problems = []
    subnets = [ipaddress.ip_interface(n.gateway_ip).network for n in gw.lans]
    for j, rule in enumerate(gw.rules):
        src = ipaddress.ip_network(rule.source_subnet)
        if not any(src.network_address in net and src.broadcast_address in net
                   for net in subnets):
            out.append(((*loc, "rules", j, "source_subnet"), f"{src} is in no LAN of the "
                        f"gateway ({', '.join(map(str, subnets))}): the rule would never match"))
        for k, other in enumerate(gw.rules[:j]):
            if ipaddress.ip_network(other.source_subnet).overlaps(src) and _same_traffic(
                    rule.target_subnet, other.target_subnet):
                out.append(((*loc, "rules", j, "source_subnet"), f"{src} overlaps "
                            f"{other.source_subnet} of rules[{k}] ({other.name}) for the same "
                            "destinations: a packet would match both"))
    return out


def _same_traffic(a: str | None, b: str | None) -> bool:
    if a is None or b is None:
        return True
    return ipaddress.ip_network(a).overlaps(ipaddress.ip_network(b))


def _check_fronts(spec: PlatformSpec, loc: Loc, name: str) -> Problems:
    comps = {c.name: c for c in spec.components}
    if name not in comps:
        return [(loc, _unknown("component", name, comps))]
    if comps[name].source.helm_release is None:
        return [(loc, f"component {name!r} is not a helm_release: the reserved address is "
                 "written into its chart values")]
    return []


def _check_addresses(spec: PlatformSpec) -> Problems:
    """Addresses with prefixes on one LAN share one subnet: a LAN is one layer-2 segment, so a
    prefix that overlaps another one without being it (10.7.0.0/16 beside 10.7.222.0/24) routes
    part of the LAN elsewhere, and an address used twice answers twice."""
    ionos = spec.ionos_infra
    seen: list[tuple[str, Any, Loc]] = []
    if ionos.mariadb:
        seen.append((ionos.mariadb.lan, ipaddress.ip_interface(ionos.mariadb.cidr),
                     ("ionos", "mariadb", "cidr")))
    for i, lb in enumerate(ionos.load_balancers):
        seen.append((lb.target_lan, ipaddress.ip_interface(lb.private_ip),
                     ("ionos", "load_balancers", i, "private_ip")))
    for i, alb in enumerate(ionos.application_load_balancers):
        seen.append((alb.target_lan, ipaddress.ip_interface(alb.private_ip),
                     ("ionos", "application_load_balancers", i, "private_ip")))
    for i, gw in enumerate(ionos.nat_gateways):
        seen += [(n.lan, ipaddress.ip_interface(n.gateway_ip),
                  ("ionos", "nat_gateways", i, "lans", j, "gateway_ip"))
                 for j, n in enumerate(gw.lans)]
    out: Problems = []
    for k, (lan, iface, loc) in enumerate(seen):
        for other_lan, other, other_loc in seen[:k]:
            if lan != other_lan:
                continue
            where = ".".join(str(p) if isinstance(p, str) else f"[{p}]" for p in other_loc)
            where = where.replace(".[", "[")
            if iface.ip == other.ip:
                out.append((loc, f"{iface.ip} is already used on LAN {lan!r} by {where}"))
            elif iface.network != other.network and iface.network.overlaps(other.network):
                out.append((loc, f"{iface.network} overlaps {other.network} ({where}) on LAN "
                            f"{lan!r}: addresses of one LAN need one subnet"))
    return out


def _check_zone(spec: PlatformSpec, loc: Loc, zone: DnsZone) -> Problems:
    blocks = {b.name for b in spec.ionos_infra.ip_blocks}
    out: Problems = []
    if zone.hosts_to and zone.hosts_to not in blocks:
        out.append(((*loc, "hosts_to"), _unknown("IP block", zone.hosts_to, blocks)))
    keys = [edge.record_key(r.name, r.type) for r in zone.records]
    out += _dupes(keys, (*loc, "records"), "record (name and type)")
    for j, rec in enumerate(zone.records):
        if rec.ip_block and rec.ip_block not in blocks:
            out.append(((*loc, "records", j, "ip_block"), _unknown("IP block", rec.ip_block,
                                                                    blocks)))
        if rec.name.lower() == zone.name or rec.name.lower().endswith("." + zone.name):
            short = edge.relative_name(rec.name, zone.name)
            out.append(((*loc, "records", j, "name"), f"{rec.name!r} repeats the zone: names "
                        f"are relative to {zone.name}, write {short!r}"))
    derived = {edge.relative_name(h, zone.name) for h in edge.zone_hosts(spec, zone)} \
        if zone.hosts_to else set()
    for j, rec in enumerate(zone.records):
        others = [r for r in zone.records if r is not rec and r.name == rec.name]
        clash = others or (rec.name in derived and rec.type != "A")
        if rec.type == "CNAME" and clash:
            out.append(((*loc, "records", j, "type"), f"a CNAME record cannot coexist with "
                        f"other records of {rec.name!r} (RFC 1034 3.6.2)"))
    return out
