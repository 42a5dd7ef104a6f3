"""Small in-memory fakes of the engine's Protocols (``platform_assets.core.ports``), no SDKs."""

from __future__ import annotations

import base64
import copy
import dataclasses
import itertools
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from platform_assets.core.graph import Graph, build_graph
from platform_assets.core.manifests import CLUSTER_SCOPED_KINDS
from platform_assets.spec import load_spec_text

Json = dict[str, Any]

SPEC = """
apiVersion: platform-ops/v1
metadata: {name: unit}
ionos:
  datacenter: {name: dc, location: de/fra, description: unit tests}
  lans: [{name: lan-a}]
  cluster:
    name: k8s
    k8s_version: 1.32.6
    maintenance_window: {day: Sunday, time: "10:00"}
    allow_replace: {cluster_replace}
  node_pools:
    - {name: pool-a, node_count: 2, cores: 2, ram: 4GB, storage_size: 20GB, lans: [lan-a],
       allow_replace: true}
  buckets: [{name: bkt-a, region: de, versioning: true}]
platform:
  - name: web
    namespace: web
    source: {manifests: {path: manifests/web}}
    health_timeout: 1m
    drift: {drift}
    prune: {prune}
change_calendar:
  maintenance_windows:
    - {name: sunday, day: Sunday, start: "10:00", duration: 4h, timezone: UTC}
"""

DEPLOYMENT = {
    "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
    "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
             "template": {"metadata": {"labels": {"app": "web"}},
                          "spec": {"containers": [{"name": "web", "image": "web:1"}]}}},
}
CONFIG = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web-config"},
          "data": {"greeting": "hello"}}


def make_graph(tmp: Path, objects: list[Json] | None = None, *, drift: str = "enforce",
               prune: bool = True, cluster_replace: bool = False,
               edit: Callable[[str], str] = lambda s: s) -> Graph:
    """The unit spec with ``objects`` as the web component's manifests."""
    (tmp / "manifests" / "web").mkdir(parents=True, exist_ok=True)
    docs = [DEPLOYMENT, CONFIG] if objects is None else objects
    (tmp / "manifests" / "web" / "objects.yaml").write_text(yaml.safe_dump_all(docs))
    text = edit(SPEC.replace("{drift}", drift).replace("{prune}", str(prune).lower())
                .replace("{cluster_replace}", str(cluster_replace).lower()))
    graph = build_graph(load_spec_text(text, str(tmp / "platform.yaml"), base_dir=tmp))
    graph = dataclasses.replace(graph, base_dir=tmp)
    return graph


class FakeCloud:
    """The IONOS Cloud API in memory: resources are created ready; writes are counted."""

    token: str | None = None

    def __init__(self) -> None:
        self.ids = (str(i) for i in itertools.count(1))  # LAN ids are numbers
        self.datacenters: list[Json] = []
        self.lans: dict[str, list[Json]] = {}
        self.clusters: list[Json] = []
        self.pools: dict[str, list[Json]] = {}
        self.mariadbs: list[Json] = []
        self.postgres: list[Json] = []
        self.ip_blocks: list[Json] = []
        self.nlbs: dict[str, list[Json]] = {}
        self.gateways: dict[tuple[str, str], list[Json]] = {}  # (kind, datacenter) -> them
        self.target_groups: list[Json] = []
        self.zones: list[Json] = []
        self.records: dict[str, list[Json]] = {}
        self.inmemorydbs: list[Json] = []
        self.writes: Counter[str] = Counter()
        self.fail: Exception | None = None  # raised by every read

    def _new(self, props: Json, state: str) -> Json:
        return {"id": next(self.ids), "properties": copy.deepcopy(props),
                "metadata": {"state": state}}

    def _read(self) -> None:
        if self.fail is not None:
            raise self.fail

    def find_datacenter(self, name: str) -> Json | None:
        self._read()
        return next((d for d in self.datacenters if d["properties"]["name"] == name), None)

    def create_datacenter(self, props: Json, log: Any = None) -> Json:
        self.writes["create_datacenter"] += 1
        self.datacenters.append(self._new(props, "AVAILABLE"))
        self.lans[self.datacenters[-1]["id"]] = []
        return self.datacenters[-1]

    def update_datacenter(self, dc_id: str, props: Json, log: Any = None) -> None:
        self.writes["update_datacenter"] += 1
        next(d for d in self.datacenters if d["id"] == dc_id)["properties"].update(props)

    def datacenter_ready(self, dc_id: str, log: Any = None) -> Json:
        return next(d for d in self.datacenters if d["id"] == dc_id)

    def list_lans(self, dc_id: str) -> list[Json]:
        self._read()
        return self.lans.get(dc_id, [])

    def create_lan(self, dc_id: str, props: Json, log: Any = None) -> Json:
        self.writes["create_lan"] += 1
        self.lans[dc_id].append(self._new(props, "AVAILABLE"))
        return self.lans[dc_id][-1]

    def update_lan(self, dc_id: str, lan_id: str, props: Json, log: Any = None) -> None:
        self.writes["update_lan"] += 1

    def list_k8s_clusters(self) -> list[Json]:
        return self.clusters

    def find_k8s_cluster(self, name: str) -> Json | None:
        self._read()
        return next((c for c in self.clusters if c["properties"]["name"] == name), None)

    def create_k8s_cluster(self, props: Json, log: Any = None) -> Json:
        self.writes["create_k8s_cluster"] += 1
        self.clusters.append(self._new(props, "ACTIVE"))
        self.pools[self.clusters[-1]["id"]] = []
        return self.clusters[-1]

    def update_k8s_cluster(self, cluster_id: str, props: Json, log: Any = None) -> Json:
        self.writes["update_k8s_cluster"] += 1
        cl = next(c for c in self.clusters if c["id"] == cluster_id)
        cl["properties"].update(props)
        return cl

    def k8s_cluster_ready(self, cluster_id: str, log: Any = None) -> Json:
        return next(c for c in self.clusters if c["id"] == cluster_id)

    def list_node_pools(self, cluster_id: str) -> list[Json]:
        return self.pools.get(cluster_id, [])

    def create_node_pool(self, cluster_id: str, props: Json, log: Any = None) -> Json:
        self.writes["create_node_pool"] += 1
        self.pools[cluster_id].append(self._new(props, "ACTIVE"))
        return self.pools[cluster_id][-1]

    def update_node_pool(self, cluster_id: str, pool_id: str, props: Json,
                         log: Any = None) -> Json:
        self.writes["update_node_pool"] += 1
        pool = next(p for p in self.pools[cluster_id] if p["id"] == pool_id)
        pool["properties"].update(props)
        return pool

    def upgrade_node_pool(self, cluster_id: str, pool_id: str, props: Json,
                          log: Any = None) -> Json:
        self.writes["upgrade_node_pool"] += 1
        pool = next(p for p in self.pools[cluster_id] if p["id"] == pool_id)
        pool["properties"].update(props)
        pool["metadata"]["state"] = "UPDATING"  # IONOS replaces the nodes for hours
        return pool

    def delete_node_pool(self, cluster_id: str, pool_id: str, log: Any = None) -> None:
        self.writes["delete_node_pool"] += 1
        self.pools[cluster_id] = [p for p in self.pools[cluster_id] if p["id"] != pool_id]

    def node_pool_ready(self, cluster_id: str, pool_id: str, log: Any = None) -> Json:
        return next(p for p in self.pools[cluster_id] if p["id"] == pool_id)

    def list_mariadb_clusters(self) -> list[Json]:
        return self.mariadbs

    def find_mariadb(self, name: str) -> Json | None:
        return next((m for m in self.mariadbs if m["properties"]["name"] == name), None)

    def create_mariadb(self, props: Json, credentials: dict[str, str],
                       log: Any = None) -> Json:
        self.writes["create_mariadb"] += 1
        self.mariadbs.append(self._new(props, "AVAILABLE"))
        return self.mariadbs[-1]

    def update_mariadb(self, cluster_id: str, props: Json, log: Any = None) -> Json:
        self.writes["update_mariadb"] += 1
        return next(m for m in self.mariadbs if m["id"] == cluster_id)

    def mariadb_ready(self, cluster_id: str, log: Any = None) -> Json:
        return next(m for m in self.mariadbs if m["id"] == cluster_id)

    def list_postgres_clusters(self) -> list[Json]:
        return self.postgres

    def find_postgres(self, name: str) -> Json | None:
        return next((m for m in self.postgres if m["properties"]["name"] == name), None)

    def create_postgres(self, props: Json, credentials: dict[str, str],
                        log: Any = None) -> Json:
        self.writes["create_postgres"] += 1
        self.postgres.append(self._new(props, "AVAILABLE"))
        return self.postgres[-1]

    def update_postgres(self, cluster_id: str, props: Json, log: Any = None) -> Json:
        self.writes["update_postgres"] += 1
        found = next(m for m in self.postgres if m["id"] == cluster_id)
        found["properties"] = dict(props)
        return found

    def postgres_ready(self, cluster_id: str, log: Any = None) -> Json:
        return next(m for m in self.postgres if m["id"] == cluster_id)

    def list_ip_blocks(self) -> list[Json]:
        self._read()
        return self.ip_blocks

    def find_ip_block(self, name: str) -> Json | None:
        return next((b for b in self.list_ip_blocks() if b["properties"]["name"] == name), None)

    def create_ip_block(self, props: Json, log: Any = None) -> Json:
        self.writes["create_ip_block"] += 1
        n = len(self.ip_blocks) + 1
        block = self._new({**props, "ips": [f"203.0.113.{n * 10 + i}"
                                            for i in range(props["size"])]}, "AVAILABLE")
        self.ip_blocks.append(block)
        return block

    def update_ip_block(self, block_id: str, props: Json, log: Any = None) -> None:
        self.writes["update_ip_block"] += 1
        self.ip_block_ready(block_id)["properties"]["name"] = props["name"]

    def ip_block_ready(self, block_id: str, log: Any = None) -> Json:
        return next(b for b in self.ip_blocks if b["id"] == block_id)

    def delete_ip_block(self, block_id: str, log: Any = None) -> None:
        self.writes["delete_ip_block"] += 1
        self.ip_blocks = [b for b in self.ip_blocks if b["id"] != block_id]

    def list_nlbs(self, dc_id: str) -> list[Json]:
        self._read()
        return self.nlbs.get(dc_id, [])

    def find_nlb(self, dc_id: str, name: str) -> Json | None:
        return next((b for b in self.list_nlbs(dc_id) if b["properties"]["name"] == name), None)

    def create_nlb(self, dc_id: str, props: Json, rules: list[Json], log: Any = None) -> Json:
        self.writes["create_nlb"] += 1
        nlb = self._new(props, "AVAILABLE")
        nlb["entities"] = {"forwardingrules": {"items": [self._new(r, "AVAILABLE")
                                                         for r in rules]}}
        self.nlbs.setdefault(dc_id, []).append(nlb)
        return nlb

    def update_nlb(self, dc_id: str, nlb_id: str, props: Json | None,
                   rules: dict[str, Json | None], rule_ids: dict[str, str],
                   log: Any = None) -> None:
        self.writes["update_nlb"] += 1
        nlb = self.nlb_ready(dc_id, nlb_id)
        if props is not None:
            nlb["properties"].update(copy.deepcopy(props))
        items = nlb["entities"]["forwardingrules"]["items"]
        keep = [r for r in items if r["properties"]["name"] not in rules]
        nlb["entities"]["forwardingrules"]["items"] = keep + [
            self._new(r, "AVAILABLE") for r in rules.values() if r is not None]

    def nlb_ready(self, dc_id: str, nlb_id: str, log: Any = None) -> Json:
        return next(b for b in self.nlbs[dc_id] if b["id"] == nlb_id)

    def list_gateways(self, kind: str, dc_id: str) -> list[Json]:
        self._read()
        return self.gateways.get((kind, dc_id), [])

    def find_gateway(self, kind: str, dc_id: str, name: str) -> Json | None:
        return next((g for g in self.list_gateways(kind, dc_id)
                     if g["properties"]["name"] == name), None)

    def gateway_ready(self, kind: str, dc_id: str, gw_id: str, log: Any = None) -> Json:
        return next(g for g in self.gateways[(kind, dc_id)] if g["id"] == gw_id)

    def create_gateway(self, kind: str, dc_id: str, props: Json, subs: list[Json],
                       log: Any = None) -> Json:
        self.writes[f"create_{kind}"] += 1
        sub = "rules" if kind == "natgateways" else "forwardingrules"
        gw = self._new(props, "AVAILABLE")
        gw["entities"] = {sub: {"items": [self._new(s, "AVAILABLE") for s in subs]}}
        self.gateways.setdefault((kind, dc_id), []).append(gw)
        return gw

    def update_gateway(self, kind: str, dc_id: str, gw_id: str, props: Json | None,
                       subs: dict[str, Json | None], sub_ids: dict[str, str],
                       log: Any = None) -> None:
        self.writes[f"update_{kind}"] += 1
        gw = self.gateway_ready(kind, dc_id, gw_id)
        if props is not None:
            gw["properties"].update(copy.deepcopy(props))
        (items,) = [e["items"] for e in gw["entities"].values()]
        items[:] = [i for i in items if i["properties"]["name"] not in subs] + [
            self._new(s, "AVAILABLE") for s in subs.values() if s is not None]

    def list_target_groups(self) -> list[Json]:
        self._read()
        return self.target_groups

    def find_target_group(self, name: str) -> Json | None:
        return next((g for g in self.list_target_groups() if g["properties"]["name"] == name),
                    None)

    def create_target_group(self, props: Json, log: Any = None) -> Json:
        self.writes["create_target_group"] += 1
        tg = self._new(props, "AVAILABLE")
        self.target_groups.append(tg)
        return tg

    def update_target_group(self, tg_id: str, props: Json, log: Any = None) -> Json:
        self.writes["update_target_group"] += 1
        tg = self.target_group_ready(tg_id)
        tg["properties"] = copy.deepcopy(props)
        return tg

    def target_group_ready(self, tg_id: str, log: Any = None) -> Json:
        return next(g for g in self.target_groups if g["id"] == tg_id)

    def node_ips(self, cluster_id: str, pool_id: str) -> list[str]:
        pool = next(p for p in self.pools[cluster_id] if p["id"] == pool_id)
        return [f"10.7.0.{i + 10}" for i in range(int(pool["properties"]["nodeCount"]))]

    def find_zone(self, name: str) -> Json | None:
        self._read()
        return next((z for z in self.zones if z["properties"]["zoneName"] == name), None)

    def create_zone(self, props: Json, log: Any = None) -> Json:
        self.writes["create_zone"] += 1
        self.zones.append(self._new(props, "AVAILABLE"))
        return self.zones[-1]

    def update_zone(self, zone_id: str, props: Json, log: Any = None) -> None:
        self.writes["update_zone"] += 1
        next(z for z in self.zones if z["id"] == zone_id)["properties"].update(props)

    def list_records(self, zone_id: str) -> list[Json]:
        return self.records.get(zone_id, [])

    def write_records(self, zone_id: str, records: dict[str, Json | None],
                      record_ids: dict[str, str], log: Any = None) -> None:
        for key, want in records.items():
            self.writes["write_record"] += 1
            current = [r for r in self.list_records(zone_id) if r["id"] != record_ids.get(key)]
            self.records[zone_id] = current + ([self._new(want, "AVAILABLE")] if want else [])

    def list_inmemorydb_clusters(self) -> list[Json]:
        return self.inmemorydbs

    def find_inmemorydb(self, name: str) -> Json | None:
        return next((m for m in self.inmemorydbs if m["properties"]["name"] == name), None)

    def create_inmemorydb(self, props: Json, credentials: Json, log: Any = None) -> Json:
        self.writes["create_inmemorydb"] += 1
        self.inmemorydbs.append(self._new(props, "AVAILABLE"))
        return self.inmemorydbs[-1]

    def update_inmemorydb(self, cluster_id: str, props: Json, log: Any = None) -> Json:
        self.writes["update_inmemorydb"] += 1
        found = next(m for m in self.inmemorydbs if m["id"] == cluster_id)
        found["properties"] = dict(props)
        return found

    def inmemorydb_ready(self, cluster_id: str, log: Any = None) -> Json:
        return next(m for m in self.inmemorydbs if m["id"] == cluster_id)


def _oid(obj: Json) -> tuple[str, str, str, str]:
    meta = obj["metadata"]
    return obj["apiVersion"], obj["kind"], meta.get("namespace") or "", meta["name"]


class FakeCluster:
    """A Kubernetes API in memory: apply stores the object; workloads become available at once
    unless ``ready`` is false. Every write and every read is counted."""

    def __init__(self, ready: bool = True) -> None:
        self.objects: dict[tuple[str, str, str, str], Json] = {}
        self.ready = ready
        self.not_served: set[tuple[str, str]] = set()
        self.cluster_kinds: set[str] = set()
        self.writes: Counter[str] = Counter()
        self.reads: Counter[str] = Counter()
        # Each delete's object id and propagation policy, in order.
        self.deletions: list[tuple[tuple[str, str, str, str], str]] = []
        # How many GETs a deleted object still answers, terminating (a deletionTimestamp), as a
        # Foreground delete keeps it until the garbage collector has removed its dependents.
        self.linger = 0
        self.terminating: dict[tuple[str, str, str, str], tuple[Json, int]] = {}
        # Apply refusals by object id: the error the API client raises (status, JSON body).
        self.refusals: dict[tuple[str, str, str, str], Exception] = {}

    def dynamic(self) -> object:
        return self

    def serves(self, api_version: str, kind: str) -> str | None:
        if (api_version, kind) in self.not_served:
            return f"{kind} {api_version} is not served (the server serves no version)"
        return None

    def namespaced(self, api_version: str, kind: str) -> bool:
        """Discovery's answer, from the static table plus ``cluster_kinds`` a test adds."""
        return kind not in CLUSTER_SCOPED_KINDS | self.cluster_kinds

    def get(self, api_version: str, kind: str, name: str,
            namespace: str | None = None) -> Json | None:
        self.reads["GET"] += 1
        key = (api_version, kind, namespace or "", name)
        if key in self.terminating:
            obj, left = self.terminating.pop(key)
            if left > 1:
                self.terminating[key] = (obj, left - 1)
            return copy.deepcopy(obj)
        found = self.objects.get(key)
        return copy.deepcopy(found) if found else None

    def may(self, verb: str, api_version: str, kind: str,
            namespace: str | None = None) -> bool | None:
        """An access review: an admin's cluster, allowed everything."""
        self.reads["REVIEW"] += 1
        return True

    def list_managed(self, api_version: str, kind: str, namespace: str | None,
                     label_selector: str) -> list[Json]:
        self.reads["LIST"] += 1
        key, _, value = label_selector.partition("=")
        return [copy.deepcopy(o) for (a, k, ns, _), o in sorted(self.objects.items())
                if (a, k) == (api_version, kind) and (namespace is None or ns == namespace)
                and (not label_selector
                     or (o["metadata"].get("labels") or {}).get(key) == value)]

    def apply(self, obj: Json, force: bool = True, dry_run: bool = False,
              subresource: str | None = None) -> Json:
        self.writes["APPLY"] += 1
        refusal = self.refusals.get(_oid(obj))
        if refusal is not None:
            raise refusal
        stored = copy.deepcopy(obj)
        if stored["kind"] == "Secret" and "stringData" in stored:
            # As the API server stores a Secret: stringData folded into data, base64.
            stored["data"] = {**(stored.get("data") or {}), **{
                k: base64.b64encode(v.encode()).decode()
                for k, v in stored.pop("stringData").items()}}
        if stored["kind"] == "Deployment" and self.ready:
            replicas = stored["spec"].get("replicas", 1)
            stored["status"] = {"replicas": replicas, "availableReplicas": replicas,
                                "updatedReplicas": replicas}
        self.objects[_oid(stored)] = stored
        return copy.deepcopy(stored)

    def patch_merge(self, api_version: str, kind: str, name: str, namespace: str | None,
                    patch: Json, subresource: str | None = None,
                    field_manager: str | None = None) -> Json:
        """RFC 7386: maps merge, null deletes, anything else replaces."""
        self.writes["PATCH"] += 1
        key = (api_version, kind, namespace or "", name)

        def merge(target: Any, change: Any) -> Any:
            if not isinstance(change, dict):
                return copy.deepcopy(change)
            out = dict(target) if isinstance(target, dict) else {}
            for k, v in change.items():
                if v is None:
                    out.pop(k, None)
                else:
                    out[k] = merge(out.get(k), v)
            return out

        self.objects[key] = merge(self.objects[key], patch)
        return copy.deepcopy(self.objects[key])

    def delete(self, api_version: str, kind: str, name: str,
               namespace: str | None = None, propagation: str = "Background") -> bool:
        self.writes["DELETE"] += 1
        key = (api_version, kind, namespace or "", name)
        self.deletions.append((key, propagation))
        found = self.objects.pop(key, None)
        if found is not None and self.linger:
            found["metadata"]["deletionTimestamp"] = "2026-11-26T14:00:00Z"
            self.terminating[key] = (found, self.linger)
        return found is not None


class FakeBuckets:
    """S3 bucket settings in memory."""

    def __init__(self) -> None:
        self.buckets: dict[str, Json] = {}
        self.writes: Counter[str] = Counter()

    def bucket_state(self, bucket: str, region: str) -> Json | None:
        return copy.deepcopy(self.buckets.get(bucket))

    def create_bucket(self, bucket: str, region: str) -> None:
        self.writes["create_bucket"] += 1
        self.buckets[bucket] = {"region": region, "versioning": None, "lifecycle": []}

    def set_bucket_versioning(self, bucket: str, region: str, enabled: bool) -> None:
        self.writes["set_bucket_versioning"] += 1
        self.buckets[bucket]["versioning"] = "Enabled" if enabled else "Suspended"

    def set_bucket_lifecycle(self, bucket: str, region: str, rules: list[Json]) -> None:
        self.writes["set_bucket_lifecycle"] += 1
        self.buckets[bucket]["lifecycle"] = copy.deepcopy(rules)


class FakeClock:
    """A monotonic clock that only the sleeper advances."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
