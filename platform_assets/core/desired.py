"""What the spec asks for, as the wire shapes the APIs take. Pure: no SDKs, no Dagster.

IONOS bodies use the Cloud API's camelCase property names; Kubernetes objects are plain dicts.
Every Kubernetes object we manage carries the labels ``app.kubernetes.io/managed-by:
platform-ops`` and ``platform-ops/component: <name>`` and an annotation with the hash of what we
applied, so a later run tells a spec change (hash differs: apply) from outside drift (hash equal,
fields differ: corrected only in drift mode ``enforce``) without any write.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from platform_assets.core import outputs
from platform_assets.core.diff import content_hash, copied
from platform_assets.names import (
    ANNOTATION_APPLIED_HASH,
    FIELD_MANAGER,
    FLUX_NAMESPACE,
    LABEL_COMPONENT,
    LABEL_MANAGED_BY,
)
from platform_assets.spec.models import (
    Bucket,
    Cluster,
    Component,
    Datacenter,
    InMemoryDB,
    Lan,
    MariaDB,
    NodePool,
    PostgresCluster,
    parse_duration,
    parse_size,
)

ANNOTATION_REQUESTED_AT = "reconcile.fluxcd.io/requestedAt"
INVENTORY_PREFIX = "platform-ops-inventory-"

# Applied first (others may need them), pruned last.
APPLY_ORDER = {"Namespace": 0, "CustomResourceDefinition": 1, "ServiceAccount": 2, "Secret": 3,
               "ConfigMap": 3, "PersistentVolumeClaim": 4, "ClusterRole": 4, "Role": 4,
               "ClusterRoleBinding": 5, "RoleBinding": 5, "Service": 6}


def datacenter_props(dc: Datacenter) -> dict[str, Any]:
    """The IONOS datacenter properties the spec asks for."""
    return {"name": dc.name, "location": dc.location, "description": dc.description}


DATACENTER_IMMUTABLE = ("location",)


def lan_props(lan: Lan) -> dict[str, Any]:
    """The IONOS LAN properties the spec asks for."""
    return {"name": lan.name, "public": lan.public}


def _window(day: str, time: str) -> dict[str, str]:
    return {"dayOfTheWeek": day, "time": time}


def cluster_props(cluster: Cluster) -> dict[str, Any]:
    """The IONOS managed Kubernetes cluster properties the spec asks for."""
    mw = cluster.maintenance_window
    return {
        "name": cluster.name,
        "k8sVersion": cluster.k8s_version,
        "maintenanceWindow": _window(mw.day, mw.ionos_time()),
        "apiSubnetAllowList": list(cluster.api_subnet_allow_list),
        "public": cluster.public,
    }


CLUSTER_IMMUTABLE = ("public",)
CLUSTER_DISRUPTIVE = ("k8sVersion",)
CLUSTER_PUT_FIELDS = ("name", "k8sVersion", "maintenanceWindow", "apiSubnetAllowList")


def node_pool_props(pool: NodePool, cluster: Cluster, datacenter_id: str,
                    lan_ids: dict[str, str]) -> dict[str, Any]:
    """The node pool's properties; ``lan_ids`` maps LAN names to their (numeric) ids."""
    mw = pool.maintenance_window or cluster.maintenance_window
    props: dict[str, Any] = {
        "name": pool.name,
        "datacenterId": datacenter_id,
        "nodeCount": pool.node_count,
        "cpuFamily": pool.cpu_family,
        "coresCount": pool.cores,
        "ramSize": pool.ram_mb,
        "availabilityZone": pool.availability_zone,
        "storageType": pool.storage_type,
        "storageSize": pool.storage_gb,
        "k8sVersion": pool.k8s_version or cluster.k8s_version,
        "maintenanceWindow": _window(mw.day, mw.ionos_time()),
        "lans": [{"id": int(lan_ids[name]), "dhcp": True, "routes": []} for name in pool.lans],
        "labels": dict(pool.labels),
    }
    if pool.autoscaling:
        props["autoScaling"] = {"minNodeCount": pool.autoscaling.min_node_count,
                                "maxNodeCount": pool.autoscaling.max_node_count}
    return props


NODE_POOL_IMMUTABLE = ("datacenterId", "cpuFamily", "coresCount", "ramSize", "availabilityZone",
                       "storageType", "storageSize")
NODE_POOL_DISRUPTIVE = ("k8sVersion",)
NODE_POOL_PUT_FIELDS = ("nodeCount", "k8sVersion", "maintenanceWindow", "autoScaling", "lans",
                        "labels")


def node_count_ok(pool: NodePool, observed_count: int | None) -> bool:
    """With autoscaling, any count the autoscaler chose inside min..max is not drift."""
    if observed_count is None:
        return False
    if pool.autoscaling:
        return pool.autoscaling.min_node_count <= observed_count <= \
            pool.autoscaling.max_node_count
    return observed_count == pool.node_count


def mariadb_props(db: MariaDB, datacenter_id: str, lan_id: str) -> dict[str, Any]:
    """The MariaDB cluster's properties without credentials (those never enter a diff)."""
    mw = db.maintenance_window
    return {
        "name": db.name,
        "description": db.description,
        "version": db.version,
        "instances": {
            "count": db.instances, "cores": db.cores,
            "ram": max(4, round(parse_size(db.ram) / 1000**3)),
            "storageSize": max(10, round(parse_size(db.storage_size) / 1000**3)),
        },
        "connection": {"datacenterId": datacenter_id, "lanId": str(lan_id),
                       "primaryInstanceAddress": db.cidr},
        "maintenanceWindow": _window(mw.day, mw.ionos_time().rstrip("Z")),
        "backup": {"retentionDays": db.backup_retention_days},
    }


MARIADB_IMMUTABLE = ("connection", "name")
MARIADB_DISRUPTIVE = ("version", "instances.count")


def postgres_props(pg: PostgresCluster, datacenter_id: str, lan_id: str,
                   datacenter_location: str) -> dict[str, Any]:
    """The PostgreSQL cluster's properties without credentials (those never enter a diff)."""
    mw = pg.maintenance_window
    return {
        "name": pg.name,
        "description": pg.description,
        "version": pg.version,
        "instances": {
            "count": pg.instances, "cores": pg.cores,
            "ram": round(parse_size(pg.ram) / 1000**3),
            "storageSize": round(parse_size(pg.storage_size) / 1000**3),
        },
        "connection": {"datacenterId": datacenter_id, "lanId": str(lan_id),
                       "primaryInstanceAddress": pg.cidr},
        "maintenanceWindow": _window(mw.day, mw.ionos_time().rstrip("Z")),
        "replicationMode": pg.replication_mode,
        "connectionPooler": pg.connection_pooler,
        "backup": {"location": postgres_backup_location(pg, datacenter_location),
                   "retentionDays": pg.backup_retention_days},
    }


# Where IONOS keeps a PostgreSQL cluster's own backups by the datacenter's location (the API's
# /backup-locations: de is Frankfurt, eu-central-2 Berlin, eu-south-2 Logroño).
POSTGRES_BACKUP_LOCATIONS = {"de/fra": "de", "de/txl": "eu-central-2", "es/vit": "eu-south-2"}


def postgres_backup_location(pg: PostgresCluster, datacenter_location: str) -> str:
    """The spec's backup location, else the one of the datacenter's region."""
    region = "/".join(datacenter_location.split("/")[:2])
    return pg.backup_location or POSTGRES_BACKUP_LOCATIONS.get(region, "de")


# The API keeps the connection and the backup location for the cluster's life (a new LAN or
# location is a new cluster); a new major version or instance count restarts the instances.
POSTGRES_IMMUTABLE = ("connection", "name", "backup.location")
POSTGRES_DISRUPTIVE = ("version", "instances.count", "instances.cores", "instances.ram")


def inmemorydb_props(mem: InMemoryDB, datacenter_id: str, lan_id: str) -> dict[str, Any]:
    """The in-memory database's properties without credentials (never in a diff)."""
    mw = mem.maintenance_window
    return {
        "name": mem.name,
        "description": mem.description,
        "version": mem.version,
        "instances": {"count": mem.instances, "cores": mem.cores,
                      "ram": round(parse_size(mem.ram) / 1000**3)},
        "connection": {"datacenterId": datacenter_id, "lanId": str(lan_id),
                       "primaryInstanceAddress": mem.cidr},
        "persistenceMode": mem.persistence_mode,
        "evictionPolicy": mem.eviction_policy,
        "maintenanceWindow": _window(mw.day, mw.ionos_time().rstrip("Z")),
    }


def password_hash(password: str) -> dict[str, str]:
    """The In-Memory DB API's ``HashedPassword``: the SHA-256 of the password, lowercase hex
    (the plain password never leaves the process)."""
    import hashlib

    return {"algorithm": "SHA-256", "hash": hashlib.sha256(password.encode()).hexdigest()}


INMEMORYDB_IMMUTABLE = ("connection", "name")
INMEMORYDB_DISRUPTIVE = ("version", "instances.count", "instances.cores", "instances.ram",
                         "persistenceMode")


def bucket_state(bucket: Bucket) -> dict[str, Any]:
    """The bucket's desired versioning and lifecycle, in the shapes S3 returns them."""
    rules = []
    for r in bucket.lifecycle:
        rule: dict[str, Any] = {"ID": r.id, "Status": "Enabled", "Filter": {"Prefix": r.prefix}}
        if r.expiration_days:
            rule["Expiration"] = {"Days": r.expiration_days}
        if r.noncurrent_expiration_days:
            rule["NoncurrentVersionExpiration"] = {"NoncurrentDays": r.noncurrent_expiration_days}
        rules.append(rule)
    return {
        "region": bucket.region,
        "versioning": "Enabled" if bucket.versioning else None,
        "lifecycle": rules,
    }


BUCKET_IMMUTABLE = ("region",)


def obj_id(obj: dict[str, Any]) -> tuple[str, str, str, str]:
    """(apiVersion, kind, namespace, name) of an object."""
    meta = obj.get("metadata") or {}
    return (str(obj["apiVersion"]), str(obj["kind"]), str(meta.get("namespace") or ""),
            str(meta["name"]))


def obj_address(obj: dict[str, Any]) -> str:
    """A Kubernetes object as people write it: ``apps/v1 Deployment ns/name``."""
    api, kind, ns, name = obj_id(obj)
    return f"{api} {kind} {ns + '/' if ns else ''}{name}"


def stamp(obj: dict[str, Any], component: str) -> dict[str, Any]:
    """A copy of ``obj`` with our labels and the hash of its content as an annotation."""
    out: dict[str, Any] = copied(obj)
    meta = out.setdefault("metadata", {})
    meta.setdefault("labels", {})
    meta["labels"] = {**(meta["labels"] or {}), LABEL_MANAGED_BY: FIELD_MANAGER,
                      LABEL_COMPONENT: component}
    annotations = dict(meta.get("annotations") or {})
    annotations.pop(ANNOTATION_APPLIED_HASH, None)
    meta["annotations"] = annotations
    digest = content_hash(out)
    meta["annotations"] = {**annotations, ANNOTATION_APPLIED_HASH: digest}
    return out


def applied_hash(obj: dict[str, Any] | None) -> str | None:
    """The hash of the manifest we last applied, from the object's annotation; None for an object
    we never applied."""
    if not obj:
        return None
    return ((obj.get("metadata") or {}).get("annotations") or {}).get(ANNOTATION_APPLIED_HASH)


def comparable(obj: dict[str, Any]) -> dict[str, Any]:
    """The part of a desired object compared with what is observed (no status, no our hash)."""
    out = {k: v for k, v in obj.items() if k not in ("status",)}
    if out.get("kind") == "Secret" and out.get("stringData"):
        # The API server folds stringData into data (base64) and never returns it.
        import base64

        data = dict(out.get("data") or {})
        for key, value in out.pop("stringData").items():
            data[key] = base64.b64encode(str(value).encode()).decode()
        out["data"] = data
    meta = dict(out.get("metadata") or {})
    ann = {k: v for k, v in (meta.get("annotations") or {}).items()
           if k not in (ANNOTATION_APPLIED_HASH, ANNOTATION_REQUESTED_AT)}
    meta["annotations"] = ann
    if not ann:
        meta.pop("annotations")
    out["metadata"] = meta
    return out


def namespace_object(name: str) -> dict[str, Any]:
    """The component's namespace (shared by components: it carries no component label)."""
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "labels": {LABEL_MANAGED_BY: FIELD_MANAGER}}}


def flux_object(component: Component) -> dict[str, Any] | None:
    """The HelmRelease or Kustomization of a Flux-managed component (None for manifests)."""
    src = component.source
    if src.helm_release:
        hr = src.helm_release
        spec: dict[str, Any] = {
            "interval": str(hr.interval),
            "releaseName": hr.release_name or component.name,
            "chart": {"spec": {
                "chart": hr.chart, "version": hr.version,
                "sourceRef": {"kind": "HelmRepository", "name": hr.repository,
                              "namespace": FLUX_NAMESPACE},
            }},
        }
        if hr.values:
            spec["values"] = hr.values
        return {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
                "metadata": {"name": component.name, "namespace": component.namespace},
                "spec": spec}
    if src.kustomization:
        ks = src.kustomization
        return {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                "metadata": {"name": component.name, "namespace": FLUX_NAMESPACE},
                "spec": {"interval": str(ks.interval), "path": ks.path, "prune": ks.prune,
                         "targetNamespace": component.namespace,
                         "sourceRef": {"kind": ks.source_kind, "name": ks.source_ref}}}
    return None


ARGOCD_API_VERSION = "argoproj.io/v1alpha1"
ARGOCD_REQUESTED_AT = "requestedAt"  # the operation's ``info`` entry that names our request


def argocd_application(component: Component) -> dict[str, Any] | None:
    """The Argo CD ``Application`` of an ``argocd_application`` component (None otherwise),
    in the namespace Argo CD runs in (it watches only its own namespace by default)."""
    app = component.source.argocd_application
    if app is None:
        return None
    source: dict[str, Any] = {"repoURL": app.repo_url, "targetRevision": app.target_revision}
    if app.chart:
        source["chart"] = app.chart
    else:
        source["path"] = app.path
    if app.values:
        source["helm"] = {"valuesObject": app.values}
    spec: dict[str, Any] = {
        "project": app.project, "source": source,
        "destination": {"server": app.destination_server,
                        "namespace": app.destination_namespace or component.namespace}}
    policy: dict[str, Any] = {}
    if app.sync_policy.automated:
        policy["automated"] = {"prune": app.sync_policy.prune,
                               "selfHeal": app.sync_policy.self_heal}
    if app.sync_policy.sync_options:
        policy["syncOptions"] = list(app.sync_policy.sync_options)
    if policy:
        spec["syncPolicy"] = policy
    return {"apiVersion": ARGOCD_API_VERSION, "kind": "Application",
            "metadata": {"name": component.name, "namespace": app.argocd_namespace},
            "spec": spec}


def argocd_sync_request(app: dict[str, Any], requested_at: str) -> dict[str, Any]:
    """The merge patch that asks Argo CD to sync ``app`` now, as ``argocd app sync`` does
    (argo-cd ``server/application`` ``Sync`` and ``util/argo.SetAppOperation``): an
    ``operation`` with the app's revision and sync options, and the previous
    ``status.operationState`` cleared; ``info`` carries when we asked, so the outcome can be
    told from an older sync's."""
    spec = app.get("spec") or {}
    sync: dict[str, Any] = {"revision": (spec.get("source") or {}).get("targetRevision")
                            or "HEAD",
                            "prune": bool(((spec.get("syncPolicy") or {}).get("automated")
                                           or {}).get("prune"))}
    options = (spec.get("syncPolicy") or {}).get("syncOptions")
    if options:
        sync["syncOptions"] = list(options)
    return {"operation": {"sync": sync, "initiatedBy": {"username": FIELD_MANAGER},
                          "info": [{"name": ARGOCD_REQUESTED_AT, "value": requested_at}]},
            "status": {"operationState": None}}


MARIADB_PORT = outputs.MARIADB_PORT
NOT_YET = outputs.not_yet("MariaDB cluster")


def mariadb_outputs(component: Component, db: MariaDB, cluster: dict[str, Any] | None,
                    ) -> dict[str, Any] | None:
    """The ConfigMap carrying the MariaDB outputs ``component.inputs.mariadb`` asks for (None
    when it asks for none). ``cluster`` is the DBaaS cluster as the API returns it; before it
    exists (a dry run) the host reads ``NOT_YET``."""
    wiring = next((w for w in component.inputs.wirings if w.asset == "mariadb"), None)
    if wiring is None:
        return None
    return outputs.output_object(component, wiring, outputs.mariadb_values(db, cluster))


def inventory_name(component: str) -> str:
    """The name of the ConfigMap that lists a component's applied objects."""
    return f"{INVENTORY_PREFIX}{component}"


def inventory_object(component: Component, objects: list[dict[str, Any]]) -> dict[str, Any]:
    """The ConfigMap listing every object the component applied (what a later run may prune)."""
    entries = sorted("/".join(obj_id(o)) for o in objects)
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": inventory_name(component.name),
                         "namespace": component.namespace},
            "data": {"objects": json.dumps(entries, indent=0)}}


def parse_inventory(cm: dict[str, Any] | None) -> list[tuple[str, str, str, str]]:
    """The (apiVersion, kind, namespace, name) of every object the component's inventory ConfigMap
    lists; [] for a missing or unreadable inventory, so nothing is pruned on a guess."""
    if not cm:
        return []
    data = cm.get("data")
    try:
        entries = json.loads(data.get("objects") or "[]") if isinstance(data, dict) else []
    except (ValueError, TypeError):
        return []
    if not isinstance(entries, list):  # anyone who may write ConfigMaps there may plant one
        return []
    out = []
    for e in entries:
        parts = str(e).split("/")
        if len(parts) == 5:  # group/version/kind/namespace/name
            out.append(("/".join(parts[:2]), parts[2], parts[3], parts[4]))
        elif len(parts) == 4:
            out.append((parts[0], parts[1], parts[2], parts[3]))
    return out


@dataclass(frozen=True)
class ComponentObjects:
    """Everything a component applies, stamped and in apply order (the inventory last)."""

    namespace: dict[str, Any] | None
    objects: list[dict[str, Any]]
    inventory: dict[str, Any]
    flux: dict[str, Any] | None
    argocd: dict[str, Any] | None = None  # the Argo CD Application, for its sync and health

    @property
    def all(self) -> list[dict[str, Any]]:
        """Every object to apply, the inventory last (it records what was applied)."""
        return [*self.objects, self.inventory]


def component_objects(component: Component,
                      manifests: list[dict[str, Any]]) -> ComponentObjects:
    """The objects to apply for ``component`` (manifests already loaded and namespaced); an
    absent one applies none: only its (empty) inventory names where its last one is."""
    if component.absent:
        return ComponentObjects(namespace=None, objects=[], flux=None, inventory=stamp(
            inventory_object(component, []), component.name))
    raw = list(manifests)
    flux = flux_object(component)
    if flux:
        raw.append(flux)
    app = argocd_application(component)
    if app:
        raw.append(app)
    ns_in_manifests = any(o["kind"] == "Namespace" and o["metadata"]["name"] ==
                          component.namespace for o in raw)
    stamped = [stamp(o, component.name) for o in raw]
    stamped.sort(key=lambda o: APPLY_ORDER.get(o["kind"], 10))
    ns = None if ns_in_manifests else namespace_object(component.namespace)
    inv = stamp(inventory_object(component, stamped), component.name)
    stamped_flux = next((o for o in stamped if flux and obj_id(o) == obj_id(flux)), None)
    stamped_app = next((o for o in stamped if app and obj_id(o) == obj_id(app)), None)
    return ComponentObjects(namespace=ns, objects=stamped, inventory=inv, flux=stamped_flux,
                            argocd=stamped_app)


def health_timeout_seconds(component: Component) -> float:
    """How long the component's objects may take to become healthy."""
    return parse_duration(component.health_timeout).total_seconds()
