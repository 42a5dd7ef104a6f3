"""The reconcile engine: observe → diff → plan → apply → verify, one graph node at a time.

Dagster-free: it takes the resources (anything with their domain methods) and returns an
``Outcome`` the Dagster layer turns into metadata, observations and check results. The pure
decisions live in ``platform_assets.core``; this module only sequences reads and writes.

Zero writes on a no-op run is a hard rule: every write is preceded by a diff, and an unchanged
object is never re-applied (a server-side apply of an unchanged object still counts as a PATCH).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from platform_assets.core import desired
from platform_assets.core.calendar import Gate, disruption_gate
from platform_assets.core.diff import FieldChange, diff
from platform_assets.core.graph import Node
from platform_assets.core.health import has_health, health, reconcile_handled
from platform_assets.core.manifests import CLUSTER_SCOPED_KINDS, load_directory, manifest_files
from platform_assets.core.plan import Change, Plan, decide, delete_change
from platform_assets.spec.models import Component, PlatformSpec

RECONCILED_KINDS = ("datacenter", "lan", "cluster", "node_pool", "mariadb", "bucket", "component")

ObjId = tuple[str, str, str, str]
REDACTED = "(secret value)"


class ReconcileError(RuntimeError):
    """Reconciling one asset failed; the message names the asset, the resource and the cause."""


@dataclass
class Options:
    dry_run: bool = False
    force: bool = False
    previous_code_version: str | None = None  # of the last applied materialization
    previous_metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class Outcome:
    """What one asset's reconcile found and did."""

    plan: Plan
    metadata: dict[str, Any] = field(default_factory=dict)
    orphans: list[str] = field(default_factory=list)
    observations: list[dict[str, Any]] = field(default_factory=list)
    writes: int = 0
    healthy: bool = True
    unhealthy: list[str] = field(default_factory=list)

    @property
    def drift(self) -> list[Change]:
        return [c for c in self.plan.changes if c.action != "no-op" or c.drift]


def _fast_manifests(directory: Path) -> list[dict[str, Any]] | None:
    """Every object under ``directory`` read with libyaml; None when anything looks wrong (the
    caller then reads it again with ``load_directory``, whose errors carry file and line)."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", None)
    if loader is None or not directory.is_dir():
        return None
    out: list[dict[str, Any]] = []
    try:
        for path in manifest_files(directory):
            for doc in yaml.load_all(path.read_text(), Loader=loader):
                if doc is None:
                    continue
                if not isinstance(doc, dict):
                    return None
                items = doc.get("items") if str(doc.get("kind", "")).endswith("List") else [doc]
                for item in items or []:
                    meta = item.get("metadata") if isinstance(item, dict) else None
                    if not (item.get("apiVersion") and item.get("kind") and
                            isinstance(meta, dict) and meta.get("name")):
                        return None
                    out.append(item)
    except (yaml.YAMLError, OSError, AttributeError):
        return None
    return out


def short_error(exc: BaseException) -> str:
    """One line for an API error: status and the server's message, never a traceback."""
    status = getattr(exc, "status", None)
    body = getattr(exc, "body", None)
    message = None
    if isinstance(body, bytes | str) and body:
        try:
            import json

            data = json.loads(body)
            message = data.get("message") or "; ".join(
                m.get("message", "") for m in data.get("messages", []) if isinstance(m, dict))
        except (ValueError, AttributeError):
            message = str(body)[:300]
    if message is None:
        lines = str(exc).strip().splitlines()
        message = lines[0][:300] if lines else type(exc).__name__
    return f"HTTP {status}: {message}" if status else f"{type(exc).__name__}: {message}"


def _version_tuple(v: str | None) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in str(v).split("."))
    except ValueError:
        return ()


class Engine:
    """Reconciles the nodes of one spec against the outside world."""

    def __init__(self, spec: PlatformSpec, base_dir: Path, ionos: Any = None,
                 kubernetes: Any = None, object_storage: Any = None,
                 log: Callable[[str], Any] = lambda _m: None,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC),
                 sleep: Callable[[float], Any] = time.sleep,
                 clock: Callable[[], float] = time.monotonic,
                 env: Callable[[str], str | None] = os.environ.get):
        self.spec = spec
        self.base_dir = base_dir
        self.ionos = ionos
        self.k8s = kubernetes
        self.s3 = object_storage
        self.log = log
        self.now = now
        self.sleep = sleep
        self.clock = clock
        self.env = env
        self._k8s_lock = threading.Lock()

    # ------------------------------------------------------------------ entry points

    def reconcile(self, node: Node, opts: Options | None = None) -> Outcome:
        """Observe, plan and (unless ``opts.dry_run``) apply and verify one node."""
        opts = opts or Options()
        handler = getattr(self, f"_{node.kind}", None)
        if node.kind not in RECONCILED_KINDS or handler is None:
            raise ReconcileError(f"{node.path}: the reconcile engine does not handle {node.kind}")
        gate = disruption_gate(self.spec, self.now(), opts.force)
        try:
            outcome: Outcome = handler(node, opts, gate)
        except ReconcileError:
            raise
        except Exception as exc:
            raise ReconcileError(f"{node.path}: {short_error(exc)}") from exc
        outcome.metadata.setdefault("summary", outcome.plan.summary())
        return outcome

    def check(self, node: Node) -> Outcome:
        """Observe only (a dry run) and add the orphans this node can see."""
        outcome = self.reconcile(node, Options(dry_run=True, force=True))
        try:
            outcome.orphans.extend(self.orphans(node))
        except Exception as exc:
            raise ReconcileError(f"{node.path}: looking for orphans: {exc}") from exc
        return outcome

    def orphans(self, node: Node) -> list[str]:
        """IONOS resources in our datacenter (or cluster) that no asset owns."""
        ionos = self.spec.ionos
        out: list[str] = []
        if node.kind == "datacenter":
            dc = self.ionos.find_datacenter(ionos.datacenter.name)
            if dc:
                names = {lan.name for lan in ionos.lans}
                out += [f"ionos/lan/{x['properties'].get('name')} (id {x['id']})"
                        for x in self.ionos.list_lans(dc["id"])
                        if x["properties"].get("name") not in names]
                ours = {ionos.cluster.name}
                for c in self.ionos.list_k8s_clusters():
                    if c["properties"].get("name") in ours:
                        continue
                    pools = self.ionos.list_node_pools(c["id"])
                    if any(p["properties"].get("datacenterId") == dc["id"] for p in pools):
                        out.append(f"ionos/cluster/{c['properties'].get('name')} (id {c['id']}) "
                                   "has node pools in our datacenter")
                if ionos.mariadb or self.ionos.token:
                    want = ionos.mariadb.name if ionos.mariadb else None
                    for db in self.ionos.list_mariadb_clusters():
                        conn = (db.get("properties") or {}).get("connection") or {}
                        if conn.get("datacenterId") == dc["id"] and \
                                db["properties"].get("name") != want:
                            out.append(f"ionos/mariadb/{db['properties'].get('name')} "
                                       f"(id {db['id']})")
        elif node.kind == "cluster":
            cl = self.ionos.find_k8s_cluster(ionos.cluster.name)
            if cl:
                names = {p.name for p in ionos.node_pools}
                out += [f"ionos/node_pool/{p['properties'].get('name')} (id {p['id']})"
                        for p in self.ionos.list_node_pools(cl["id"])
                        if p["properties"].get("name") not in names]
        return out

    # ------------------------------------------------------------------ helpers

    def _spec_changed(self, node: Node, opts: Options) -> bool:
        return opts.previous_code_version != node.code_version

    @staticmethod
    def _fail_blocked(plan: Plan, opts: Options) -> None:
        if plan.blocked and not opts.dry_run:
            raise ReconcileError("; ".join(c.blocked for c in plan.blocked))

    def _require(self, what: str, found: Any, opts: Options) -> Any:
        if found is None and not opts.dry_run:
            raise ReconcileError(f"{what} does not exist: reconcile its asset first (the run "
                                 "should have stopped before this asset)")
        return found

    def _ids(self, opts: Options) -> tuple[str | None, dict[str, str]]:
        """The datacenter id and LAN ids by name (None / missing when not created yet)."""
        dc = self._require(f"datacenter {self.spec.ionos.datacenter.name}",
                           self.ionos.find_datacenter(self.spec.ionos.datacenter.name), opts)
        if dc is None:
            return None, {}
        lans = {x["properties"].get("name"): str(x["id"]) for x in self.ionos.list_lans(dc["id"])}
        return dc["id"], lans

    # ------------------------------------------------------------------ IONOS

    def _datacenter(self, node: Node, opts: Options, gate: Gate) -> Outcome:
        dc = self.spec.ionos.datacenter
        want = desired.datacenter_props(dc)
        if not want["description"]:
            want.pop("description")
        obs = self.ionos.find_datacenter(dc.name)
        plan = Plan(node.path)
        fields = diff(want, obs["properties"]) if obs else []
        change = plan.add(decide(f"ionos/datacenter/{dc.name}", obs is not None, fields,
                                 immutable=desired.DATACENTER_IMMUTABLE, gate=gate,
                                 drift=not self._spec_changed(node, opts),
                                 what=f"datacenter {dc.name}"))
        self._fail_blocked(plan, opts)
        out = Outcome(plan)
        if not opts.dry_run:
            if change.action == "create":
                obs = self.ionos.create_datacenter(want, log=self.log)
                out.writes += 1
            elif change.action == "update" and obs:
                self.ionos.update_datacenter(obs["id"], {k: want[k] for k in ("name",
                                             "description") if k in want}, log=self.log)
                out.writes += 1
            if obs and (obs.get("metadata") or {}).get("state") != "AVAILABLE":
                obs = self.ionos.datacenter_ready(obs["id"])
        if obs:
            out.metadata.update({"datacenter_id": obs["id"], "location": dc.location,
                                 "state": str((obs.get("metadata") or {}).get("state"))})
        return out

    def _lan(self, node: Node, opts: Options, gate: Gate) -> Outcome:
        lan = next(x for x in self.spec.ionos.lans if x.name == node.name)
        want = desired.lan_props(lan)
        plan = Plan(node.path)
        dc_id, _ = self._ids(opts)
        obs = None
        if dc_id:
            obs = next((x for x in self.ionos.list_lans(dc_id)
                        if x["properties"].get("name") == lan.name), None)
        fields = diff(want, obs["properties"]) if obs else []
        change = plan.add(decide(f"ionos/lan/{lan.name}", obs is not None, fields,
                                 gate=gate, drift=not self._spec_changed(node, opts)))
        out = Outcome(plan)
        if not opts.dry_run and dc_id:
            if change.action == "create":
                obs = self.ionos.create_lan(dc_id, want, log=self.log)
                out.writes += 1
            elif change.action == "update" and obs:
                self.ionos.update_lan(dc_id, obs["id"], want, log=self.log)
                out.writes += 1
        if obs:
            out.metadata.update({"lan_id": str(obs["id"]), "public": lan.public})
        return out

    def _cluster(self, node: Node, opts: Options, gate: Gate) -> Outcome:
        cl = self.spec.ionos.cluster
        want = desired.cluster_props(cl)
        obs = self.ionos.find_k8s_cluster(cl.name)
        plan = Plan(node.path)
        out = Outcome(plan)
        props = (obs or {}).get("properties") or {}
        ignore: list[str] = []
        observed_version = props.get("k8sVersion")
        if obs and _version_tuple(observed_version) > _version_tuple(cl.k8s_version):
            # IONOS upgrades patch versions in its maintenance window; never "downgrade".
            ignore.append("k8sVersion")
            plan.notes.append(f"IONOS runs {observed_version}, newer than the spec's "
                              f"{cl.k8s_version}: update the spec")
        fields = diff(want, props, ignore=ignore) if obs else []
        change = plan.add(decide(
            f"ionos/cluster/{cl.name}", obs is not None, fields,
            immutable=desired.CLUSTER_IMMUTABLE, disruptive=desired.CLUSTER_DISRUPTIVE,
            allow_replace=cl.allow_replace, gate=gate, mode=cl.drift,
            drift=not self._spec_changed(node, opts), what=f"cluster {cl.name}"))
        self._fail_blocked(plan, opts)
        if not opts.dry_run:
            if change.action == "create":
                obs = self.ionos.create_k8s_cluster(want, log=self.log)
                out.writes += 1
            elif change.action == "update" and obs:
                put = {k: want[k] for k in desired.CLUSTER_PUT_FIELDS}
                obs = self.ionos.update_k8s_cluster(obs["id"], put, log=self.log)
                out.writes += 1
            elif change.action == "replace":
                raise ReconcileError(f"cluster {cl.name}: replacing a managed cluster "
                                     f"({change.reason}) is not automated; do it by hand")
            elif obs and (obs.get("metadata") or {}).get("state") != "ACTIVE":
                obs = self.ionos.k8s_cluster_ready(obs["id"])
        if obs:
            props = obs.get("properties") or {}
            version = props.get("k8sVersion")
            out.metadata.update({
                "cluster_id": obs["id"], "k8s_version": version,
                "state": str((obs.get("metadata") or {}).get("state")),
                "available_upgrades": ", ".join(props.get("availableUpgradeVersions") or []),
            })
            before = opts.previous_metadata.get("k8s_version")
            if before and version and before != version and change.action == "no-op":
                out.observations.append({
                    "description": f"IONOS changed the cluster's Kubernetes version from "
                                   f"{before} to {version} (maintenance window "
                                   f"{cl.maintenance_window.day} {cl.maintenance_window.time})",
                    "k8s_version_before": before, "k8s_version": version,
                    "changed_by": "ionos"})
        return out

    def _node_pool(self, node: Node, opts: Options, gate: Gate) -> Outcome:
        spec = self.spec
        pool = next(p for p in spec.ionos.node_pools if p.name == node.name)
        plan = Plan(node.path)
        out = Outcome(plan)
        dc_id, lan_ids = self._ids(opts)
        cl = self._require(f"cluster {spec.ionos.cluster.name}",
                           self.ionos.find_k8s_cluster(spec.ionos.cluster.name), opts)
        missing_lans = [n for n in pool.lans if n not in lan_ids]
        if missing_lans and dc_id and not opts.dry_run:
            raise ReconcileError(f"node pool {pool.name}: LAN(s) {', '.join(missing_lans)} do not "
                                 "exist: reconcile them first")
        want = desired.node_pool_props(pool, spec.ionos.cluster, dc_id or "(new datacenter)",
                                       {n: lan_ids.get(n, "0") for n in pool.lans})
        obs = None
        if cl:
            obs = next((p for p in self.ionos.list_node_pools(cl["id"])
                        if p["properties"].get("name") == pool.name), None)
        props = (obs or {}).get("properties") or {}
        ignore = []
        if obs and desired.node_count_ok(pool, props.get("nodeCount")):
            ignore.append("nodeCount")
        if obs and _version_tuple(props.get("k8sVersion")) > _version_tuple(want["k8sVersion"]):
            ignore.append("k8sVersion")
            plan.notes.append(f"IONOS runs {props.get('k8sVersion')} on {pool.name}, newer than "
                              f"the spec's {want['k8sVersion']}")
        fields = diff(want, props, ignore=ignore) if obs else []
        disruptive = list(desired.NODE_POOL_DISRUPTIVE)
        if obs and (props.get("nodeCount") or 0) > pool.node_count and "nodeCount" not in ignore:
            disruptive.append("nodeCount")  # shrinking drains nodes
        change = plan.add(decide(
            f"ionos/node_pool/{pool.name}", obs is not None, fields,
            immutable=desired.NODE_POOL_IMMUTABLE, disruptive=disruptive,
            allow_replace=pool.allow_replace, gate=gate, mode=pool.drift,
            drift=not self._spec_changed(node, opts), what=f"node pool {pool.name}"))
        self._fail_blocked(plan, opts)
        if not opts.dry_run and cl:
            if change.action == "create":
                obs = self.ionos.create_node_pool(cl["id"], want, log=self.log)
                out.writes += 1
            elif change.action == "update" and obs:
                put = {k: want[k] for k in desired.NODE_POOL_PUT_FIELDS if k in want}
                obs = self.ionos.update_node_pool(cl["id"], obs["id"], put, log=self.log)
                out.writes += 1
            elif change.action == "replace" and obs:
                self.log(f"replacing node pool {pool.name} ({change.reason})")
                self.ionos.delete_node_pool(cl["id"], obs["id"], log=self.log)
                obs = self.ionos.create_node_pool(cl["id"], want, log=self.log)
                out.writes += 2
            elif obs and (obs.get("metadata") or {}).get("state") != "ACTIVE":
                obs = self.ionos.node_pool_ready(cl["id"], obs["id"])
        if obs:
            p = obs.get("properties") or {}
            out.metadata.update({"node_pool_id": obs["id"], "node_count": p.get("nodeCount"),
                                 "k8s_version": p.get("k8sVersion"),
                                 "state": str((obs.get("metadata") or {}).get("state"))})
        return out

    def _mariadb(self, node: Node, opts: Options, gate: Gate) -> Outcome:
        db = self.spec.ionos.mariadb
        assert db is not None
        plan = Plan(node.path)
        out = Outcome(plan)
        dc_id, lan_ids = self._ids(opts)
        want = desired.mariadb_props(db, dc_id or "(new datacenter)", lan_ids.get(db.lan, "0"))
        if not want["description"]:
            want.pop("description")
        obs = self.ionos.find_mariadb(db.name)
        fields = diff(want, obs.get("properties") or {}) if obs else []
        change = plan.add(decide(
            f"ionos/mariadb/{db.name}", obs is not None, fields,
            immutable=desired.MARIADB_IMMUTABLE, disruptive=desired.MARIADB_DISRUPTIVE,
            allow_replace=False if not db.allow_replace else True, gate=gate, mode=db.drift,
            drift=not self._spec_changed(node, opts), what=f"MariaDB cluster {db.name}"))
        self._fail_blocked(plan, opts)
        if not opts.dry_run:
            if change.action == "create":
                if db.lan not in lan_ids:
                    raise ReconcileError(f"MariaDB cluster {db.name}: LAN {db.lan} does not exist")
                password = self.env(db.password_env)
                if not password:
                    raise ReconcileError(
                        f"MariaDB cluster {db.name}: set the environment variable "
                        f"{db.password_env} (spec ionos.mariadb.password_env) to its admin "
                        "password before the cluster can be created")
                obs = self.ionos.create_mariadb(
                    want, {"username": db.username, "password": password,
                           "database": db.database}, log=self.log)
                out.writes += 1
            elif change.action == "update" and obs:
                obs = self.ionos.update_mariadb(obs["id"], want, log=self.log)
                out.writes += 1
            elif change.action == "replace":
                raise ReconcileError(f"MariaDB cluster {db.name}: replacing it ({change.reason}) "
                                     "is not automated; restore from a backup by hand")
            elif obs and (obs.get("metadata") or {}).get("state") != "AVAILABLE":
                obs = self.ionos.mariadb_ready(obs["id"])
        if obs:
            meta = obs.get("metadata") or {}
            out.metadata.update({"mariadb_id": obs["id"], "version": (obs.get("properties") or {})
                                 .get("version"), "state": str(meta.get("state")),
                                 "dns_name": str(meta.get("dnsName") or "")})
        return out

    def _bucket(self, node: Node, opts: Options, gate: Gate) -> Outcome:
        b = next(x for x in self.spec.ionos.buckets if x.name == node.name)
        want = desired.bucket_state(b)
        obs = self.s3.bucket_state(b.name, b.region)
        if obs and want["versioning"] is None and obs.get("versioning"):
            want["versioning"] = "Suspended"  # versioning cannot be switched off, only suspended
        plan = Plan(node.path)
        fields = diff(want, obs) if obs else []
        change = plan.add(decide(f"s3/bucket/{b.name}", obs is not None, fields,
                                 immutable=desired.BUCKET_IMMUTABLE, gate=gate, mode=b.drift,
                                 drift=not self._spec_changed(node, opts),
                                 what=f"bucket {b.name}"))
        self._fail_blocked(plan, opts)
        out = Outcome(plan)
        if not opts.dry_run and change.action in ("create", "update"):
            changed = {f.path.split(".")[0].split("[")[0] for f in change.fields}
            if change.action == "create":
                self.s3.create_bucket(b.name, b.region)
                out.writes += 1
            if (change.action == "create" and want["versioning"]) or "versioning" in changed:
                self.s3.set_bucket_versioning(b.name, b.region, want["versioning"] == "Enabled")
                out.writes += 1
            if (change.action == "create" and want["lifecycle"]) or "lifecycle" in changed:
                self.s3.set_bucket_lifecycle(b.name, b.region, want["lifecycle"])
                out.writes += 1
        out.metadata.update({"bucket": b.name, "region": b.region,
                             "versioning": str(want["versioning"] or "off"),
                             "lifecycle_rules": len(want["lifecycle"])})
        return out

    # ------------------------------------------------------------------ Kubernetes

    def component_manifests(self, comp: Component) -> list[dict[str, Any]]:
        """The objects of a manifests component, namespaced (CLUSTER_SCOPED_KINDS excepted)."""
        if not comp.source.manifests:
            return []
        path = self.base_dir / comp.source.manifests.path
        fast = _fast_manifests(path)
        if fast is None:  # something is wrong: the careful reader names the file and line
            return [m.obj for m in load_directory(path, default_namespace=comp.namespace)]
        for obj in fast:
            if obj["kind"] not in CLUSTER_SCOPED_KINDS and not obj["metadata"].get("namespace"):
                obj["metadata"]["namespace"] = comp.namespace
        return fast

    def _component(self, node: Node, opts: Options, gate: Gate) -> Outcome:
        comp = self.spec.component(node.name)
        objs = desired.component_objects(comp, self.component_manifests(comp))
        selector = f"{desired.LABEL_COMPONENT}={comp.name}"
        plan = Plan(node.path)
        out = Outcome(plan)
        k8s = self.k8s

        # Observe: the namespaces, then one list per kind and namespace we apply or applied.
        in_manifests = {o["metadata"]["name"] for o in objs.objects if o["kind"] == "Namespace"}
        namespaces = sorted(({comp.namespace} | {o["metadata"].get("namespace") or ""
                                                 for o in objs.objects}) - in_manifests - {""})
        want_ids = {desired.obj_id(o): o for o in objs.all}
        observed: dict[ObjId, dict[str, Any]] = {}
        no_cluster = False
        missing_ns: list[str] = []
        try:
            self._k8s("connect to the Kubernetes API", self._connect_k8s)
            self._list_into(observed, {(a, k, ns) for a, k, ns, _ in want_ids}, selector)
            # A namespace holding objects of ours exists; only the others need a read.
            seen = {oid[2] for oid in observed}
            missing_ns = [ns for ns in namespaces if ns not in seen
                          and self._k8s(f"GET v1 Namespace {ns}",
                                        partial(k8s.get, "v1", "Namespace", ns)) is None]
        except ReconcileError as exc:
            # A dry run before the cluster exists plans everything as new.
            if not (opts.dry_run and isinstance(exc.__cause__, LookupError)):
                raise
            no_cluster, missing_ns = True, list(namespaces)
            plan.notes.append(f"no cluster to observe yet: {exc.__cause__}")
        # The inventory ConfigMap came back in the ConfigMap list of its namespace; kinds it
        # lists that the spec no longer has are listed too, so their objects can be pruned.
        inv_obs = observed.get(desired.obj_id(objs.inventory))
        inventory = desired.parse_inventory(inv_obs)
        self._list_into(observed, {(a, k, ns) for a, k, ns, _ in inventory}
                        - {(a, k, ns) for a, k, ns, _ in want_ids}, selector)

        # Plan.
        for ns in namespaces:
            plan.add(decide(f"v1 Namespace {ns}", ns not in missing_ns, [], gate=gate,
                            mode=comp.drift))
        changes: dict[ObjId, Change] = {}
        for oid, want in want_ids.items():
            have = observed.get(oid)
            fields: list[FieldChange] = []
            spec_changed = True
            if have is not None:
                spec_changed = desired.applied_hash(have) != desired.applied_hash(want)
                fields = diff(desired.comparable(want), have)
                if spec_changed and not fields:
                    fields = diff({"metadata": {"annotations": {
                        desired.ANNOTATION_HASH: desired.applied_hash(want)}}}, have)
            if oid[1] == "Secret":
                fields = [FieldChange(f.path, REDACTED, REDACTED) for f in fields]
            changes[oid] = plan.add(decide(desired.obj_address(want), have is not None, fields,
                                           gate=gate, drift=not spec_changed, mode=comp.drift))
        leftovers = [oid for oid in observed if oid not in want_ids]
        prunes: list[tuple[ObjId, Change]] = []
        for oid in sorted(leftovers, key=lambda i: -desired.APPLY_ORDER.get(i[1], 10)):
            address = desired.obj_address(observed[oid] | {"apiVersion": oid[0], "kind": oid[1]})
            if not comp.prune or oid[1] == "Namespace":
                plan.add(Change(address, "no-op", reason="no longer in the spec; "
                                + ("pruning is off" if comp.prune else "namespaces are never "
                                   "pruned")))
                out.orphans.append(address)
                continue
            prunes.append((oid, plan.add(delete_change(address, gate, mode=comp.drift))))

        # The inventory lists what we applied plus what still waits to be pruned.
        kept = [observed[oid] | {"apiVersion": oid[0], "kind": oid[1]}
                for oid, ch in prunes if ch.action != "delete"]
        inv_want = desired.stamp(desired.inventory_object(comp, [*objs.objects, *kept]),
                                 comp.name)
        inv_fields = diff(desired.comparable(inv_want), inv_obs) if inv_obs else []
        inv_change = Change(desired.obj_address(inv_want),
                            "create" if inv_obs is None else "update" if inv_fields else "no-op",
                            tuple(inv_fields), reason="inventory")
        if comp.drift == "observe" and inv_change.action != "no-op":
            inv_change = Change(inv_change.address, "no-op", inv_change.fields,
                                reason="drift mode observe: never writes")
        plan.changes = [c for c in plan.changes
                        if c.address != desired.obj_address(objs.inventory)]
        plan.add(inv_change)

        # Apply.
        requested_at: str | None = None
        if not opts.dry_run:
            for ns in missing_ns if comp.drift != "observe" else []:
                self._k8s(f"APPLY v1 Namespace {ns}",
                          partial(k8s.apply, desired.namespace_object(ns)))
                out.writes += 1
            for oid, want in want_ids.items():
                if oid == desired.obj_id(objs.inventory) or not changes[oid].writes:
                    continue
                body = want
                if objs.flux is not None and oid == desired.obj_id(objs.flux):
                    requested_at = self.now().strftime("%Y-%m-%dT%H:%M:%S.%fZ")
                    body = {**want, "metadata": {**want["metadata"], "annotations": {
                        **want["metadata"].get("annotations", {}),
                        desired.ANNOTATION_REQUESTED_AT: requested_at}}}
                observed[oid] = self._k8s(f"APPLY {changes[oid].address}",
                                          partial(k8s.apply, body))
                out.writes += 1
            for oid, ch in prunes:
                if ch.writes:
                    self._k8s(f"DELETE {ch.address}",
                              partial(k8s.delete, oid[0], oid[1], oid[3], oid[2] or None))
                    out.writes += 1
            if inv_change.writes:
                self._k8s(f"APPLY {inv_change.address}", lambda: k8s.apply(inv_want))
                out.writes += 1

        # Verify.
        targets = self._health_targets(comp, objs)
        status: dict[str, str] = {}
        deadline = self.clock() + desired.health_timeout_seconds(comp)
        delay = 0.2
        pending = dict(targets)
        first = True
        while not no_cluster:
            for key, (api, kind, ns, name) in list(pending.items()):
                obj = observed.get((api, kind, ns, name)) if first else None
                if obj is None or not first:
                    obj = k8s.get(api, kind, name, ns or None)
                ok, why = health(obj)
                if ok and objs.flux is not None and (api, kind, ns, name) == \
                        desired.obj_id(objs.flux):
                    ok = reconcile_handled(obj, requested_at)
                    why = why or ("" if ok else "Flux has not handled the reconcile request yet")
                status[key] = "ok" if ok else why
                if ok:
                    pending.pop(key)
            first = False
            if not pending or opts.dry_run or self.clock() > deadline:
                break
            self.sleep(delay)
            delay = min(delay * 2, 5.0)
        out.unhealthy = [f"{k}: {status.get(k, 'not observed')}" for k in pending]
        out.healthy = not pending
        if pending and not opts.dry_run:
            raise ReconcileError(
                f"component {comp.name}: not healthy after {comp.health_timeout}: "
                + "; ".join(out.unhealthy))
        flux_obs = observed.get(desired.obj_id(objs.flux)) if objs.flux else None
        out.metadata.update({
            "namespace": comp.namespace, "objects": len(objs.objects),
            "inventory": desired.inventory_name(comp.name),
            "applied": sum(1 for c in plan.changes if c.writes and c.action != "delete"),
            "pruned": sum(1 for _, c in prunes if c.writes),
            "health": ", ".join(f"{k}={v}" for k, v in sorted(status.items())) or "n/a",
        })
        if flux_obs:
            st = flux_obs.get("status") or {}
            out.metadata["flux_revision"] = str(st.get("lastAppliedRevision") or "")
            if requested_at:
                out.metadata["reconcile_requested_at"] = requested_at
        return out

    def _connect_k8s(self) -> None:
        # Discovery is built once; components reconciled in parallel threads share it.
        with self._k8s_lock:
            if hasattr(self.k8s, "dynamic"):
                self.k8s.dynamic()

    def _list_into(self, observed: dict[ObjId, dict[str, Any]],
                   groups: set[tuple[str, str, str]], selector: str) -> None:
        for api, kind, ns in sorted(groups):
            items = self._k8s(f"LIST {api} {kind} in {ns or 'the cluster'} ({selector})",
                              partial(self.k8s.list_managed, api, kind, ns or None, selector))
            for item in items:
                observed[desired.obj_id({**item, "apiVersion": api, "kind": kind})] = item

    @staticmethod
    def _k8s(describe: str, fn: Callable[[], Any]) -> Any:
        """One Kubernetes call; a failure becomes one line naming the request and the cause."""
        try:
            return fn()
        except ReconcileError:
            raise
        except Exception as exc:
            raise ReconcileError(f"{describe}: {short_error(exc)}") from exc

    def _health_targets(self, comp: Component,
                        objs: desired.ComponentObjects) -> dict[str, ObjId]:
        targets: dict[str, ObjId] = {}
        by_kind = {o["kind"]: o["apiVersion"] for o in objs.objects}
        defaults = {"Deployment": "apps/v1", "StatefulSet": "apps/v1", "DaemonSet": "apps/v1",
                    "PersistentVolumeClaim": "v1",
                    "HelmRelease": "helm.toolkit.fluxcd.io/v2",
                    "Kustomization": "kustomize.toolkit.fluxcd.io/v1"}
        for h in comp.health:
            api = h.api_version or by_kind.get(h.kind) or defaults.get(h.kind)
            if not api:
                raise ReconcileError(f"component {comp.name}: health check {h.kind}/{h.name} "
                                     "needs api_version (the kind is not among its objects)")
            ns = h.namespace or (comp.namespace if h.kind not in ("ClusterIssuer",) else "")
            targets[f"{h.kind}/{h.name}"] = (api, h.kind, ns, h.name)
        if not comp.health:
            for o in objs.objects:
                if has_health(o):
                    oid = desired.obj_id(o)
                    targets[f"{oid[1]}/{oid[3]}"] = oid
        if objs.flux is not None:
            oid = desired.obj_id(objs.flux)
            targets[f"{oid[1]}/{oid[3]}"] = oid
        return targets
