"""The asset graph as plain data, derived from the spec. Pure: no Dagster, no SDKs.

Every Dagster factory reads its keys, dependencies, groups, kinds, owners and code versions from
here, so the graph can be tested (and printed by the CLI) without loading Dagster.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, get_args

from platform_assets.spec.models import (
    TOOL_METHODS,
    ApplicationLoadBalancer,
    BackupTarget,
    Bucket,
    Certificate,
    Cluster,
    Component,
    ContainerRegistry,
    Datacenter,
    DnsZone,
    DriftMode,
    InMemoryDB,
    Ionos,
    IpBlock,
    Lan,
    LoadBalancer,
    MariaDB,
    NatGateway,
    NodePool,
    PlatformSpec,
    PostgresCluster,
    TargetGroup,
)

Group = Literal["infrastructure", "platform", "applications", "backups", "certificates"]
GROUPS: tuple[Group, ...] = get_args(Group)
NodeKind = Literal[
    "datacenter", "lan", "cluster", "node_pool", "mariadb", "bucket", "component",
    "backup", "backup_copy", "certificate",
    "postgres", "ip_block", "load_balancer", "dns_zone", "inmemorydb", "nat_gateway",
    "target_group", "application_load_balancer", "registry",
]

KEY_DATACENTER = ("ionos", "datacenter")
KEY_CLUSTER = ("ionos", "cluster")
KEY_MARIADB = ("ionos", "mariadb")


def lan_key(name: str) -> tuple[str, ...]:
    """The asset key of a LAN."""
    return ("ionos", "lan", name)


def node_pool_key(name: str) -> tuple[str, ...]:
    """The asset key of a node pool."""
    return ("ionos", "node_pool", name)


def postgres_key(name: str) -> tuple[str, ...]:
    """The asset key of a managed PostgreSQL cluster."""
    return ("ionos", "postgres", name)


def inmemorydb_key(name: str) -> tuple[str, ...]:
    """The asset key of a managed in-memory database (Redis)."""
    return ("ionos", "inmemorydb", name)


def registry_key(name: str) -> tuple[str, ...]:
    """The asset key of a container registry (with its tokens)."""
    return ("ionos", "registry", name)


def output_asset_key(asset: str) -> tuple[str, ...]:
    """The asset key of an infrastructure asset as ``inputs`` names it (``mariadb``,
    ``postgres/apps-db``)."""
    return ("ionos", *asset.split("/"))


def ip_block_key(name: str) -> tuple[str, ...]:
    """The asset key of an IP block (reserved public addresses)."""
    return ("ionos", "ip_block", name)


def load_balancer_key(name: str) -> tuple[str, ...]:
    """The asset key of a Network Load Balancer."""
    return ("ionos", "load_balancer", name)


def nat_gateway_key(name: str) -> tuple[str, ...]:
    """The asset key of a NAT gateway."""
    return ("ionos", "nat_gateway", name)


def target_group_key(name: str) -> tuple[str, ...]:
    """The asset key of a target group (of Application Load Balancers)."""
    return ("ionos", "target_group", name)


def application_load_balancer_key(name: str) -> tuple[str, ...]:
    """The asset key of an Application Load Balancer."""
    return ("ionos", "application_load_balancer", name)


def dns_zone_key(zone: str) -> tuple[str, ...]:
    """The asset key of a DNS zone (its name, dots included)."""
    return ("ionos", "dns_zone", zone)


def bucket_key(name: str) -> tuple[str, ...]:
    """The asset key of an S3 bucket."""
    return ("s3", "bucket", name)


def component_key(layer: str, name: str) -> tuple[str, ...]:
    """The asset key of a component in its layer."""
    return (layer, name)


def backup_key(target: str) -> tuple[str, ...]:
    """The asset key of a backup target's nightly partitions."""
    return ("backups", target)


def backup_copy_key(target: str) -> tuple[str, ...]:
    """The asset key of a backup target's cross-region copy."""
    return ("backups", "cross_region", target)


def certificate_key(name: str) -> tuple[str, ...]:
    """The asset key of a certificate check."""
    return ("certificates", name)


@dataclass(frozen=True)
class BackupSection:
    """A ``backup`` node's section: its target and the backup settings it shares."""

    target: BackupTarget
    backups: dict[str, Any]


@dataclass(frozen=True)
class BackupCopySection:
    """A ``backup_copy`` node's section: the target it copies and the bucket it copies to."""

    target: str
    bucket: str


# The spec section behind a node, by kind: datacenter Datacenter, lan Lan, cluster Cluster,
# node_pool NodePool, mariadb MariaDB, bucket Bucket, component Component, backup BackupSection,
# backup_copy BackupCopySection, certificate Certificate, ip_block IpBlock, load_balancer
# LoadBalancer, dns_zone DnsZone, nat_gateway NatGateway, target_group TargetGroup,
# application_load_balancer ApplicationLoadBalancer.
Section = (Datacenter | Lan | Cluster | NodePool | MariaDB | Bucket | Component | BackupSection
           | BackupCopySection | Certificate
           | PostgresCluster | IpBlock | LoadBalancer | DnsZone | InMemoryDB | NatGateway
           | TargetGroup | ApplicationLoadBalancer | ContainerRegistry)
DRIFT_SECTIONS = (Cluster, NodePool, MariaDB, Bucket, Component,
                  PostgresCluster, IpBlock, LoadBalancer, DnsZone, InMemoryDB, NatGateway,
                  TargetGroup, ApplicationLoadBalancer, ContainerRegistry)
REPLACEABLE_SECTIONS = (Cluster, NodePool, MariaDB, Component,
                        PostgresCluster, IpBlock, LoadBalancer, InMemoryDB)


def drift_mode(section: Section | None) -> DriftMode:
    """The section's drift mode (kinds without one are enforced)."""
    return section.drift if isinstance(section, DRIFT_SECTIONS) else "enforce"


def allow_replace(section: Section | None) -> bool:
    """Whether the spec allows replacing the section's resource (never, for kinds without the
    setting)."""
    return isinstance(section, REPLACEABLE_SECTIONS) and section.allow_replace


@dataclass(frozen=True)
class Node:
    """One asset of the graph."""

    key: tuple[str, ...]
    kind: NodeKind
    name: str
    group: Group
    deps: tuple[tuple[str, ...], ...]
    kinds: frozenset[str]
    owners: tuple[str, ...]
    description: str
    code_version: str
    section: Section = field(compare=False, repr=False)
    # The environment whose graph holds the node (None: a spec without environments).
    environment: str | None = field(default=None, compare=False)

    @property
    def path(self) -> str:
        """The node's key joined with ``/``."""
        return "/".join(self.key)


def section_hash(section: Section, extra: str = "") -> str:
    """A short, stable hash of a spec section (and of the manifest files it references)."""
    data: Any
    if isinstance(section, BackupSection | BackupCopySection):
        # Field by field (not asdict, which would copy the models): the hash stays as it was
        # when these sections were dicts.
        data = {f.name: getattr(section, f.name) for f in dataclasses.fields(section)}
    else:
        data = section.model_dump(mode="json", by_alias=True)
    blob = json.dumps(data, sort_keys=True, default=str) + extra
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Graph:
    """The assets derived from one spec; frozen, so one loaded graph can be shared by the
    Definitions, sensors and runs without one of them changing it under the others."""

    spec: PlatformSpec
    nodes: Mapping[tuple[str, ...], Node]
    # The spec file's directory: manifest paths are relative to it (None: not loaded from disk).
    base_dir: Path | None = None
    # The environment this graph is (``spec.environments``): every key starts with its name.
    # None: a spec without environments, keys as they always were.
    environment: str | None = None

    def scoped(self, key: tuple[str, ...]) -> tuple[str, ...]:
        """The key of this graph for an environment-relative ``key`` (``("ionos", "cluster")``)."""
        return (self.environment, *key) if self.environment else key

    def relative(self, key: tuple[str, ...]) -> tuple[str, ...]:
        """``key`` without this graph's environment prefix."""
        return key[1:] if self.environment and key[:1] == (self.environment,) else key

    def by_kind(self, kind: NodeKind) -> list[Node]:
        """The nodes of one kind."""
        return [n for n in self.nodes.values() if n.kind == kind]

    def by_group(self, group: Group) -> list[Node]:
        """The nodes of one group."""
        return [n for n in self.nodes.values() if n.group == group]

    def component_node(self, name: str) -> Node:
        """The node of the component named ``name``; StopIteration when the spec has none."""
        return next(n for n in self.by_kind("component") if n.name == name)

    def downstream(self, keys: set[tuple[str, ...]]) -> set[tuple[str, ...]]:
        """``keys`` plus everything that depends on them, transitively."""
        out = set(keys)
        changed = True
        while changed:
            changed = False
            for n in self.nodes.values():
                if n.key not in out and any(d in out for d in n.deps):
                    out.add(n.key)
                    changed = True
        return out

    def topological(self) -> list[Node]:
        """Every node after the nodes it depends on, in the spec's order otherwise (the reconcile
        order)."""
        order: list[Node] = []
        done: set[tuple[str, ...]] = set()

        def visit(n: Node) -> None:
            if n.key in done:
                return
            done.add(n.key)
            for d in n.deps:
                if d in self.nodes:
                    visit(self.nodes[d])
            order.append(n)

        for n in self.nodes.values():
            visit(n)
        return order


def build_graph(
    spec: PlatformSpec, manifest_digest: Callable[[str], str] | None = None,
    environment: str | None = None,
) -> Graph:
    """Derive every asset from the spec.

    Args:
        spec: the validated spec (one environment's, resolved, when there are environments).
        manifest_digest: returns a digest of a manifest directory's files, so editing a manifest
            changes its component's code version. Omitted: the path alone is hashed.
        environment: the environment's name: each key is prefixed with it, so one Definitions
            holds every environment and the UI shows each asset per environment.
    """
    b = _Builder(tuple(spec.metadata.owners))
    if spec.ionos is not None:
        _add_infrastructure(b, spec.ionos)
        _add_edge(b, spec)
    _add_components(b, spec, manifest_digest)
    _add_backups(b, spec)
    _add_certificates(b, spec)
    nodes = b.nodes if environment is None else _prefixed(b.nodes, environment)
    return Graph(spec=spec, nodes=MappingProxyType(nodes), environment=environment)


def _prefixed(nodes: dict[tuple[str, ...], Node], env: str) -> dict[tuple[str, ...], Node]:
    return {(env, *key): dataclasses.replace(
        n, key=(env, *key), deps=tuple((env, *d) for d in n.deps),
        description=f"[{env}] {n.description}", environment=env) for key, n in nodes.items()}


@dataclass
class _Builder:
    default_owners: tuple[str, ...]
    nodes: dict[tuple[str, ...], Node] = field(default_factory=dict)

    def add(self, key: tuple[str, ...], kind: NodeKind, name: str, group: Group,
            deps: list[tuple[str, ...]], kinds: set[str], owners: list[str] | tuple[str, ...],
            description: str, section: Section, extra: str = "") -> None:
        self.nodes[key] = Node(
            key=key, kind=kind, name=name, group=group, deps=tuple(dict.fromkeys(deps)),
            kinds=frozenset(kinds), owners=tuple(owners) or self.default_owners,
            description=description, code_version=section_hash(section, extra), section=section,
        )


def _add_infrastructure(b: _Builder, ionos: Ionos) -> None:
    dc = ionos.datacenter
    b.add(KEY_DATACENTER, "datacenter", dc.name, "infrastructure", [], {"ionos"}, (),
          dc.description or f"IONOS datacenter {dc.name} in {dc.location}.", dc)
    for lan in ionos.lans:
        b.add(lan_key(lan.name), "lan", lan.name, "infrastructure", [KEY_DATACENTER], {"ionos"},
              (), f"{'Public' if lan.public else 'Private'} LAN {lan.name} in {dc.name}.", lan)
    cl = ionos.cluster
    b.add(KEY_CLUSTER, "cluster", cl.name, "infrastructure",
          [KEY_DATACENTER, *(lan_key(lan.name) for lan in ionos.lans)], {"ionos", "kubernetes"},
          cl.owners, cl.description or f"Managed Kubernetes cluster {cl.name} v{cl.k8s_version}.",
          cl)
    for pool in ionos.node_pools:
        b.add(node_pool_key(pool.name), "node_pool", pool.name, "infrastructure",
              [KEY_CLUSTER, KEY_DATACENTER, *(lan_key(n) for n in pool.lans)],
              {"ionos", "kubernetes"}, pool.owners,
              pool.description or f"Node pool {pool.name}: {pool.node_count} nodes.", pool)
    if ionos.mariadb:
        db = ionos.mariadb
        b.add(KEY_MARIADB, "mariadb", db.name, "infrastructure",
              [KEY_DATACENTER, lan_key(db.lan)], {"ionos", "mariadb"}, db.owners,
              db.description or f"Managed MariaDB cluster {db.name}.", db)
    for pg in ionos.postgres:
        b.add(postgres_key(pg.name), "postgres", pg.name, "infrastructure",
              [KEY_DATACENTER, lan_key(pg.lan)], {"ionos", "postgres"}, pg.owners,
              pg.description or f"Managed PostgreSQL cluster {pg.name} v{pg.version}.", pg)
    for mem in ionos.inmemorydb:
        b.add(inmemorydb_key(mem.name), "inmemorydb", mem.name, "infrastructure",
              [KEY_DATACENTER, lan_key(mem.lan)], {"ionos", "redis"}, mem.owners,
              mem.description or f"Managed in-memory database (Redis) {mem.name}.", mem)
    for reg in ionos.registries:
        # Its tokens' credentials go into the pull Secrets of the components that wire them,
        # in the cluster, the moment IONOS returns them.
        b.add(registry_key(reg.name), "registry", reg.name, "infrastructure",
              [KEY_CLUSTER] if reg.tokens else [], {"ionos", "registry"}, reg.owners,
              reg.description or f"Container registry {reg.name} and its tokens.", reg)
    for bucket in ionos.buckets:
        b.add(bucket_key(bucket.name), "bucket", bucket.name, "infrastructure", [],
              {"s3", "ionos"}, bucket.owners,
              bucket.description or f"S3 bucket {bucket.name} in {bucket.region}.", bucket)


def _add_edge(b: _Builder, spec: PlatformSpec) -> None:
    from platform_assets.core.edge import zone_hosts

    ionos = spec.ionos_infra
    for block in ionos.ip_blocks:
        b.add(ip_block_key(block.name), "ip_block", block.name, "infrastructure", [],
              {"ionos"}, block.owners, block.description or
              f"{block.size} reserved public IPv4 address(es) "
              f"in {block.location or ionos.datacenter.location}.", block)
    for lb in ionos.load_balancers:
        b.add(load_balancer_key(lb.name), "load_balancer", lb.name, "infrastructure",
              [KEY_DATACENTER, lan_key(lb.listener_lan), lan_key(lb.target_lan),
               ip_block_key(lb.ip_block), *(node_pool_key(t.node_pool) for t in lb.targets)],
              {"ionos"}, lb.owners, lb.description or
              f"Network Load Balancer {lb.name} on IP block {lb.ip_block}.", lb)
    for gw in ionos.nat_gateways:
        b.add(nat_gateway_key(gw.name), "nat_gateway", gw.name, "infrastructure",
              [KEY_DATACENTER, *(lan_key(n.lan) for n in gw.lans), ip_block_key(gw.ip_block)],
              {"ionos"}, gw.owners, gw.description or
              f"NAT gateway {gw.name}: egress of {', '.join(n.lan for n in gw.lans)} from IP "
              f"block {gw.ip_block}.", gw)
    for tg in ionos.target_groups:
        b.add(target_group_key(tg.name), "target_group", tg.name, "infrastructure",
              [node_pool_key(t.node_pool) for t in tg.targets], {"ionos"}, tg.owners,
              tg.description or f"Target group {tg.name} of Application Load Balancers.", tg)
    for alb in ionos.application_load_balancers:
        groups = [h.target_group for r in alb.rules for h in r.http_rules if h.target_group]
        b.add(application_load_balancer_key(alb.name), "application_load_balancer", alb.name,
              "infrastructure",
              [KEY_DATACENTER, lan_key(alb.listener_lan), lan_key(alb.target_lan),
               ip_block_key(alb.ip_block), *(target_group_key(g) for g in groups)],
              {"ionos"}, alb.owners, alb.description or
              f"Application Load Balancer {alb.name} on IP block {alb.ip_block}.", alb)
    for zone in ionos.dns.zones:
        blocks = [zone.hosts_to] if zone.hosts_to else []
        blocks += [r.ip_block for r in zone.records if r.ip_block]
        hosts = zone_hosts(spec, zone) if zone.hosts_to else []
        b.add(dns_zone_key(zone.name), "dns_zone", zone.name, "infrastructure",
              [ip_block_key(n) for n in blocks], {"ionos", "dns"}, zone.owners,
              zone.description or f"DNS zone {zone.name} in IONOS Cloud DNS.", zone,
              extra=",".join(hosts))  # the hosts it derives records for are part of its spec


def _edge_deps(spec: PlatformSpec, c: Component) -> list[tuple[str, ...]]:
    """The IP blocks whose address a component's chart values carry (it runs after them)."""
    balancers = spec.ionos.load_balancers if spec.ionos else []
    return [ip_block_key(lb.ip_block) for lb in balancers
            if lb.fronts and lb.fronts.component == c.name]


def _dns_deps(spec: PlatformSpec, cert: Certificate) -> list[tuple[str, ...]]:
    """The zones holding the records a certificate's hosts resolve through."""
    from platform_assets.core.edge import zone_of

    hosts = [cert.hostname, cert.endpoint.host if cert.endpoint else None]
    zones = [zone_of(spec, h) for h in hosts if h]
    return [dns_zone_key(z.name) for z in zones if z is not None]


def _add_components(b: _Builder, spec: PlatformSpec,
                    manifest_digest: Callable[[str], str] | None) -> None:
    pools = [node_pool_key(p.name) for p in spec.ionos.node_pools] if spec.ionos else []
    layers: list[tuple[Group, list[Component]]] = [
        ("platform", spec.platform), ("applications", spec.applications)
    ]
    for layer, comps in layers:
        for c in comps:
            deps = [*pools, *(component_key(spec.layer_of(d), d) for d in c.depends_on),
                    *_edge_deps(spec, c)]
            # It reads the assets' outputs: it runs after them, and again when they change.
            deps += [key for w in c.inputs.wirings
                     if (key := output_asset_key(w.asset)) in b.nodes]
            extra = ""
            if c.source.manifests and manifest_digest:
                extra = manifest_digest(c.source.manifests.path)
            kinds = {"kubernetes", {"manifests": "manifests", "argocd": "argocd"}.get(
                c.source.kind, "flux")}
            if c.source.kind == "helm" or (c.source.argocd_application and
                                           c.source.argocd_application.chart):
                kinds.add("helm")
            about = c.description or f"{c.name} in namespace {c.namespace}."
            if c.absent:  # the UI says why its materializations delete
                about = f"Absent (absent: true): its reconcile deletes what it applied. {about}"
            b.add(component_key(layer, c.name), "component", c.name, layer, deps, kinds,
                  c.owners, about, c, extra)


def _protected(spec: PlatformSpec, t: BackupTarget) -> list[tuple[str, ...]]:
    """The assets a backup target protects (it runs after them)."""
    if t.protects == "mariadb" or (t.protects is None and t.kind == "database"):
        return [KEY_MARIADB] if spec.mariadb else []
    if t.kind == "postgres":
        name = postgres_cluster_of(spec, t)
        return [postgres_key(name)] if name else []
    tool = tool_component_of(spec, t)
    extra = [component_key(spec.layer_of(tool), tool)] if tool else []
    if t.protects:
        return [component_key(spec.layer_of(t.protects), t.protects), *extra]
    return [component_key(spec.layer_of(c.name), c.name)
            for c in spec.components if c.namespace in t.namespaces and c.name != tool] + extra


def tool_component_of(spec: PlatformSpec, t: BackupTarget) -> str | None:
    """The component that installs the tool a ``method: velero`` or ``method: longhorn``
    target drives: the one its settings' ``component`` names, else the spec's only
    helm_release of the chart named like the method; None for other methods."""
    if t.method not in TOOL_METHODS:
        return None
    settings = getattr(t, t.method)
    named = settings.component if settings else None
    if named:
        return named if any(c.name == named for c in spec.components) else None
    found = [c.name for c in spec.components
             if c.source.helm_release and c.source.helm_release.chart == t.method]
    return found[0] if len(found) == 1 else None


def postgres_cluster_of(spec: PlatformSpec, t: BackupTarget) -> str | None:
    """The ``ionos.postgres`` cluster a postgres target backs up: ``protects: postgres/<name>``,
    else the spec's only one (None when that names none)."""
    pgs = spec.ionos.postgres if spec.ionos else []
    if t.protects and t.protects.startswith("postgres/"):
        name = t.protects.split("/", 1)[1]
        return name if any(pg.name == name for pg in pgs) else None
    return pgs[0].name if len(pgs) == 1 else None


def _add_backups(b: _Builder, spec: PlatformSpec) -> None:
    if not spec.backups:
        return
    bk = spec.backups
    copy_bucket = spec.backup_bucket(dr=True)[0] if bk.cross_region_copy else None
    # An ionos.buckets bucket is an asset the backups follow; an object store's is not ours.
    in_bucket = [bucket_key(bk.bucket)] if bk.bucket else []
    copy_deps = [bucket_key(bk.cross_region_copy.bucket)] if (
        bk.cross_region_copy and bk.cross_region_copy.bucket) else []
    for t in bk.targets:
        # A tool-driven volume backup (Longhorn) talks to the tool, not to IONOS.
        ionos = t.kind in ("database", "postgres") or (
            t.kind == "volume" and t.method not in TOOL_METHODS and spec.ionos is not None)
        kinds = {"s3"} | ({"ionos"} if ionos else set())
        kinds |= {"kubernetes"} if t.kind in ("volume", "resources") else set()
        kinds |= {t.method} if t.method in TOOL_METHODS else set()
        b.add(backup_key(t.name), "backup", t.name, "backups",
              [*_protected(spec, t), *in_bucket], kinds, (),
              f"{t.kind.capitalize()} backup {t.name} (tier {bk.tier_of(t).name}, RPO "
              f"{bk.tier_of(t).rpo}, retention {bk.tier_of(t).retention_days} days).",
              BackupSection(t, bk.model_dump(exclude={"targets"})))
        if copy_bucket:
            b.add(backup_copy_key(t.name), "backup_copy", t.name, "backups",
                  [backup_key(t.name), *copy_deps], {"s3"}, (),
                  f"Cross-region copy of backup {t.name} in {copy_bucket}.",
                  BackupCopySection(t.name, copy_bucket))


def _add_certificates(b: _Builder, spec: PlatformSpec) -> None:
    for cert in spec.certificates.items:
        deps = [component_key(spec.layer_of(cert.component), cert.component)] \
            if cert.component else []
        deps += _dns_deps(spec, cert)
        kinds = {"tls"} | ({"kubernetes"} if cert.cert_manager else set()) | (
            {"ionos"} if cert.ionos else set())
        b.add(certificate_key(cert.name), "certificate", cert.name, "certificates", deps, kinds,
              (), f"TLS certificate {cert.name}"
              + (f" served at {cert.endpoint.host}:{cert.endpoint.port}." if cert.endpoint
                 else "."), cert)


def to_mermaid(graph: Graph) -> str:
    """The graph as a Mermaid flowchart, one subgraph per group (for the README and the CLI)."""
    ids = {key: "n" + "_".join(key).replace("-", "_").replace(".", "_") for key in graph.nodes}
    lines = ["flowchart LR"]
    for group in GROUPS:
        nodes = graph.by_group(group)
        if not nodes:
            continue
        lines.append(f"  subgraph {group}")
        for n in nodes:
            label = "/".join(graph.relative(n.key)[1:]) if n.kind != "component" else n.name
            lines.append(f'    {ids[n.key]}["{label}"]')
        lines.append("  end")
    def ancestors(key: tuple[str, ...]) -> set[tuple[str, ...]]:
        out: set[tuple[str, ...]] = set()
        todo = list(graph.nodes[key].deps)
        while todo:
            k = todo.pop()
            if k in graph.nodes and k not in out:
                out.add(k)
                todo.extend(graph.nodes[k].deps)
        return out

    for n in graph.nodes.values():
        # Transitive reduction keeps the picture readable: skip an edge another path implies.
        implied = set().union(*(ancestors(d) for d in n.deps if d in graph.nodes))
        for d in n.deps:
            if d in ids and d not in implied:
                lines.append(f"  {ids[d]} --> {ids[n.key]}")
    return "\n".join(lines)
