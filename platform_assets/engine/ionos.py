"""The IONOS handlers: datacenter, LAN, cluster, node pool and the DBaaS databases share one
shape.

Each kind is a row of ``IONOS_KINDS``: how to observe it (the desired properties, the observed
resource and what to ignore), its immutable fields, how to create, update and (where automated)
replace it, the state it reports when ready, and the metadata it records. ``IonosHandler`` runs
the rows' steps the same way for all five.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from platform_assets.core import desired
from platform_assets.core.calendar import Gate
from platform_assets.core.diff import diff
from platform_assets.core.graph import Node, NodeKind, allow_replace, drift_mode
from platform_assets.core.plan import Change, Plan, decide
from platform_assets.core.ports import CloudApi, Json
from platform_assets.engine.handler import (
    Options,
    ReconcileError,
    ReconcileOutcome,
    Runtime,
    section_as,
)
from platform_assets.spec.models import (
    Cluster,
    Datacenter,
    InMemoryDB,
    Lan,
    MariaDB,
    NodePool,
    PostgresCluster,
)


@dataclass
class IonosState:
    """One IONOS resource as observed, with what the spec wants of it."""

    node: Node
    address: str
    what: str
    want: Json
    obs: Json | None
    parent: str = ""  # the id writes go under: the datacenter's (LAN), the cluster's (node pool)
    writable: bool = True  # false while the parent does not exist (only in a dry run)
    ignore: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    disruptive: tuple[str, ...] = ()
    lan_ids: dict[str, str] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)  # sub-resources' ids (rules, records)
    change: Change = Change("", "no-op")

    @property
    def props(self) -> Json:
        return dict((self.obs or {}).get("properties") or {})

    @property
    def obs_id(self) -> str:
        return str((self.obs or {})["id"])


Write = Callable[[CloudApi, IonosState, Runtime], Json | None]


@dataclass(frozen=True)
class IonosKind:
    """How one IONOS resource kind is observed, written and described."""

    observe: Callable[[Runtime, Node, Options], IonosState]
    create: Write
    update: Write  # None when the API returns nothing to re-read
    metadata: Callable[[IonosState, Json], dict[str, Any]]
    immutable: tuple[str, ...] = ()
    replace: Write | None = None  # None: a replace is not automated
    replace_hint: str = ""
    ready_state: str = ""  # "": the API has no state to wait for
    ready: Callable[[CloudApi, IonosState, Runtime], Json] | None = None
    # A state the resource serves in while IONOS works on it for hours (a node pool UPDATING:
    # its nodes replaced one by one, locked meanwhile): not waited for, and not written to.
    working_state: str = ""
    observations: Callable[[IonosState, Json, Options], list[dict[str, Any]]] | None = None


def version_tuple(v: str | None) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in str(v).split("."))
    except ValueError:
        return ()


def _state_of(obj: Json) -> str | None:
    state = (obj.get("metadata") or {}).get("state")
    return None if state is None else str(state)


def require(what: str, found: Json | None, opts: Options) -> Json | None:
    if found is None and not opts.dry_run:
        raise ReconcileError(f"{what} does not exist: reconcile its asset first (the run "
                             "should have stopped before this asset)")
    return found


def datacenter_ids(rt: Runtime, opts: Options) -> tuple[str | None, dict[str, str]]:
    """The datacenter id and LAN ids by name (None / missing when not created yet)."""
    name = rt.spec.ionos_infra.datacenter.name
    dc = require(f"datacenter {name}", rt.cloud().find_datacenter(name), opts)
    if dc is None:
        return None, {}
    lans = {x["properties"].get("name"): str(x["id"]) for x in rt.cloud().list_lans(dc["id"])}
    return dc["id"], lans


def _newer_than_spec(st: IonosState, props: Json, spec_version: str, where: str) -> None:
    """IONOS upgrades patch versions in its maintenance window; never "downgrade"."""
    if st.obs and version_tuple(props.get("k8sVersion")) > version_tuple(spec_version):
        st.ignore.append("k8sVersion")
        st.notes.append(f"IONOS runs {props.get('k8sVersion')}{where}, newer than the spec's "
                        f"{spec_version}" + (": update the spec" if not where else ""))


def _observe_datacenter(rt: Runtime, node: Node, opts: Options) -> IonosState:
    dc = section_as(node, Datacenter)
    want = desired.datacenter_props(dc)
    if not want["description"]:
        want.pop("description")
    return IonosState(node, f"ionos/datacenter/{dc.name}", f"datacenter {dc.name}", want,
                      rt.cloud().find_datacenter(dc.name))


def _observe_lan(rt: Runtime, node: Node, opts: Options) -> IonosState:
    lan = section_as(node, Lan)
    dc_id, _ = datacenter_ids(rt, opts)
    obs = None
    if dc_id:
        obs = next((x for x in rt.cloud().list_lans(dc_id)
                    if x["properties"].get("name") == lan.name), None)
    address = f"ionos/lan/{lan.name}"
    return IonosState(node, address, address, desired.lan_props(lan), obs, parent=dc_id or "",
                      writable=bool(dc_id))


def _observe_cluster(rt: Runtime, node: Node, opts: Options) -> IonosState:
    cl = section_as(node, Cluster)
    st = IonosState(node, f"ionos/cluster/{cl.name}", f"cluster {cl.name}",
                    desired.cluster_props(cl), rt.cloud().find_k8s_cluster(cl.name),
                    disruptive=desired.CLUSTER_DISRUPTIVE)
    _newer_than_spec(st, st.props, cl.k8s_version, "")
    return st


def _observe_node_pool(rt: Runtime, node: Node, opts: Options) -> IonosState:
    pool = section_as(node, NodePool)
    cluster = rt.spec.ionos_infra.cluster
    dc_id, lan_ids = datacenter_ids(rt, opts)
    cl = require(f"cluster {cluster.name}", rt.cloud().find_k8s_cluster(cluster.name), opts)
    missing_lans = [n for n in pool.lans if n not in lan_ids]
    if missing_lans and dc_id and not opts.dry_run:
        raise ReconcileError(f"node pool {pool.name}: LAN(s) {', '.join(missing_lans)} do not "
                             "exist: reconcile them first")
    want = desired.node_pool_props(pool, cluster, dc_id or "(new datacenter)",
                                   {n: lan_ids.get(n, "0") for n in pool.lans})
    obs = None
    if cl:
        obs = next((p for p in rt.cloud().list_node_pools(cl["id"])
                    if p["properties"].get("name") == pool.name), None)
    st = IonosState(node, f"ionos/node_pool/{pool.name}", f"node pool {pool.name}", want, obs,
                    parent=str(cl["id"]) if cl else "", writable=cl is not None,
                    disruptive=desired.NODE_POOL_DISRUPTIVE)
    props = st.props
    if obs and desired.node_count_ok(pool, props.get("nodeCount")):
        st.ignore.append("nodeCount")
    _newer_than_spec(st, props, want["k8sVersion"], f" on {pool.name}")
    if obs and (props.get("nodeCount") or 0) > pool.node_count and "nodeCount" not in st.ignore:
        st.disruptive += ("nodeCount",)  # shrinking drains nodes
    return st


def _observe_mariadb(rt: Runtime, node: Node, opts: Options) -> IonosState:
    db = section_as(node, MariaDB)
    dc_id, lan_ids = datacenter_ids(rt, opts)
    want = desired.mariadb_props(db, dc_id or "(new datacenter)", lan_ids.get(db.lan, "0"))
    if not want["description"]:
        want.pop("description")
    return IonosState(node, f"ionos/mariadb/{db.name}", f"MariaDB cluster {db.name}", want,
                      rt.cloud().find_mariadb(db.name), lan_ids=lan_ids,
                      disruptive=desired.MARIADB_DISRUPTIVE)


def _database_password(st: IonosState, rt: Runtime, lan: str, password_env: str) -> str:
    """A new database cluster's admin password, once its LAN exists; a clear error otherwise."""
    if lan not in st.lan_ids:
        raise ReconcileError(f"{st.what}: LAN {lan} does not exist")
    password = rt.env(password_env)
    if not password:
        raise ReconcileError(
            f"{st.what}: set the environment variable {password_env} (its spec's password_env) "
            "to its admin password before it can be created")
    return password


def _create_mariadb(api: CloudApi, st: IonosState, rt: Runtime) -> Json:
    db = section_as(st.node, MariaDB)
    password = _database_password(st, rt, db.lan, db.password_env)
    return api.create_mariadb(st.want, {"username": db.username, "password": password,
                                        "database": db.database}, log=rt.log)


def _observe_postgres(rt: Runtime, node: Node, opts: Options) -> IonosState:
    pg = section_as(node, PostgresCluster)
    dc_id, lan_ids = datacenter_ids(rt, opts)
    want = desired.postgres_props(pg, dc_id or "(new datacenter)", lan_ids.get(pg.lan, "0"),
                                  rt.spec.ionos_infra.datacenter.location)
    st = IonosState(node, f"ionos/postgres/{pg.name}", f"PostgreSQL cluster {pg.name}", want,
                    rt.cloud().find_postgres(pg.name), lan_ids=lan_ids,
                    disruptive=desired.POSTGRES_DISRUPTIVE)
    # The API never shrinks storage: a larger volume (grown by hand) is reported, not drift.
    have = (st.props.get("instances") or {}).get("storageSize")
    if isinstance(have, int) and have > want["instances"]["storageSize"]:
        st.ignore.append("instances.storageSize")
        st.notes.append(f"{st.what} has {have} GB of storage, more than the spec's "
                        f"{want['instances']['storageSize']} GB; storage cannot shrink: raise "
                        "storage_size in the spec")
        want["instances"]["storageSize"] = have  # an update must not ask for a shrink
    return st


def _create_postgres(api: CloudApi, st: IonosState, rt: Runtime) -> Json:
    pg = section_as(st.node, PostgresCluster)
    password = _database_password(st, rt, pg.lan, pg.password_env)
    return api.create_postgres(st.want, {"username": pg.username, "password": password,
                                         "database": pg.database}, log=rt.log)


def _postgres_metadata(st: IonosState, obs: Json) -> dict[str, Any]:
    meta = obs.get("metadata") or {}
    return {"postgres_id": obs["id"], "version": (obs.get("properties") or {}).get("version"),
            "state": str(meta.get("state")), "dns_name": str(meta.get("dnsName") or "")}


def _observe_inmemorydb(rt: Runtime, node: Node, opts: Options) -> IonosState:
    mem = section_as(node, InMemoryDB)
    dc_id, lan_ids = datacenter_ids(rt, opts)
    want = desired.inmemorydb_props(mem, dc_id or "(new datacenter)", lan_ids.get(mem.lan, "0"))
    return IonosState(node, f"ionos/inmemorydb/{mem.name}", f"in-memory database {mem.name}",
                      want, rt.cloud().find_inmemorydb(mem.name), lan_ids=lan_ids,
                      disruptive=desired.INMEMORYDB_DISRUPTIVE)


def _create_inmemorydb(api: CloudApi, st: IonosState, rt: Runtime) -> Json:
    mem = section_as(st.node, InMemoryDB)
    password = _database_password(st, rt, mem.lan, mem.password_env)
    return api.create_inmemorydb(st.want, {"username": mem.username,
                                           "password": desired.password_hash(password)},
                                 log=rt.log)


def _inmemorydb_metadata(st: IonosState, obs: Json) -> dict[str, Any]:
    meta = obs.get("metadata") or {}
    return {"inmemorydb_id": obs["id"], "version": (obs.get("properties") or {}).get("version"),
            "state": str(meta.get("state")), "dns_name": str(meta.get("dnsName") or "")}


def _update_node_pool(api: CloudApi, st: IonosState, rt: Runtime) -> Json:
    """A new ``k8sVersion`` starts IONOS's node replacement, which takes hours: the run does
    not wait for it (the next reconcile sees the new nodes); other changes are waited for."""
    props = _subset(st.want, desired.NODE_POOL_PUT_FIELDS)
    if any(f.path == "k8sVersion" for f in st.change.fields):
        rt.log(f"{st.what}: upgrading to {st.want.get('k8sVersion')}; IONOS replaces its nodes "
               "one by one (each drain honours PodDisruptionBudgets for up to an hour)")
        return api.upgrade_node_pool(st.parent, st.obs_id, props, log=rt.log)
    return api.update_node_pool(st.parent, st.obs_id, props, log=rt.log)


def _replace_node_pool(api: CloudApi, st: IonosState, rt: Runtime) -> Json:
    rt.log(f"replacing node pool {st.node.name} ({st.change.reason})")
    api.delete_node_pool(st.parent, st.obs_id, log=rt.log)
    return api.create_node_pool(st.parent, st.want, log=rt.log)


def _subset(want: Json, keys: tuple[str, ...]) -> Json:
    return {k: want[k] for k in keys if k in want}


def _datacenter_metadata(st: IonosState, obs: Json) -> dict[str, Any]:
    dc = section_as(st.node, Datacenter)
    return {"datacenter_id": obs["id"], "location": dc.location, "state": str(_state_of(obs))}


def _lan_metadata(st: IonosState, obs: Json) -> dict[str, Any]:
    return {"lan_id": str(obs["id"]), "public": section_as(st.node, Lan).public}


def _cluster_metadata(st: IonosState, obs: Json) -> dict[str, Any]:
    props = obs.get("properties") or {}
    return {"cluster_id": obs["id"], "k8s_version": props.get("k8sVersion"),
            "state": str(_state_of(obs)),
            "available_upgrades": ", ".join(props.get("availableUpgradeVersions") or [])}


def _cluster_observations(st: IonosState, obs: Json, opts: Options) -> list[dict[str, Any]]:
    """A version IONOS changed in its maintenance window is recorded, not reverted."""
    before = opts.previous_metadata.get("k8s_version")
    version = (obs.get("properties") or {}).get("k8sVersion")
    if not (before and version and before != version and st.change.action == "no-op"):
        return []
    mw = section_as(st.node, Cluster).maintenance_window
    return [{"description": f"IONOS changed the cluster's Kubernetes version from {before} to "
                            f"{version} (maintenance window {mw.day} {mw.time})",
             "k8s_version_before": before, "k8s_version": version, "changed_by": "ionos"}]


def _node_pool_metadata(st: IonosState, obs: Json) -> dict[str, Any]:
    p = obs.get("properties") or {}
    return {"node_pool_id": obs["id"], "node_count": p.get("nodeCount"),
            "k8s_version": p.get("k8sVersion"), "state": str(_state_of(obs))}


def _mariadb_metadata(st: IonosState, obs: Json) -> dict[str, Any]:
    meta = obs.get("metadata") or {}
    return {"mariadb_id": obs["id"], "version": (obs.get("properties") or {}).get("version"),
            "state": str(meta.get("state")), "dns_name": str(meta.get("dnsName") or "")}


IONOS_KINDS: dict[NodeKind, IonosKind] = {
    "datacenter": IonosKind(
        observe=_observe_datacenter,
        create=lambda api, st, rt: api.create_datacenter(st.want, log=rt.log),
        update=lambda api, st, rt: api.update_datacenter(
            st.obs_id, _subset(st.want, ("name", "description")), log=rt.log),
        metadata=_datacenter_metadata, immutable=desired.DATACENTER_IMMUTABLE,
        ready_state="AVAILABLE", ready=lambda api, st, rt: api.datacenter_ready(st.obs_id, rt.log)),
    "lan": IonosKind(
        observe=_observe_lan,
        create=lambda api, st, rt: api.create_lan(st.parent, st.want, log=rt.log),
        update=lambda api, st, rt: api.update_lan(st.parent, st.obs_id, st.want, log=rt.log),
        metadata=_lan_metadata),
    "cluster": IonosKind(
        observe=_observe_cluster,
        create=lambda api, st, rt: api.create_k8s_cluster(st.want, log=rt.log),
        update=lambda api, st, rt: api.update_k8s_cluster(
            st.obs_id, _subset(st.want, desired.CLUSTER_PUT_FIELDS), log=rt.log),
        metadata=_cluster_metadata, immutable=desired.CLUSTER_IMMUTABLE,
        replace_hint="replacing a managed cluster ({reason}) is not automated; do it by hand",
        ready_state="ACTIVE", ready=lambda api, st, rt: api.k8s_cluster_ready(st.obs_id, rt.log),
        observations=_cluster_observations),
    "node_pool": IonosKind(
        observe=_observe_node_pool,
        create=lambda api, st, rt: api.create_node_pool(st.parent, st.want, log=rt.log),
        update=_update_node_pool,
        metadata=_node_pool_metadata, immutable=desired.NODE_POOL_IMMUTABLE,
        replace=_replace_node_pool, ready_state="ACTIVE", working_state="UPDATING",
        ready=lambda api, st, rt: api.node_pool_ready(st.parent, st.obs_id, rt.log)),
    "mariadb": IonosKind(
        observe=_observe_mariadb, create=_create_mariadb,
        update=lambda api, st, rt: api.update_mariadb(st.obs_id, st.want, log=rt.log),
        metadata=_mariadb_metadata, immutable=desired.MARIADB_IMMUTABLE,
        replace_hint="replacing it ({reason}) is not automated; restore from a backup by hand",
        ready_state="AVAILABLE", ready=lambda api, st, rt: api.mariadb_ready(st.obs_id, rt.log)),
    "postgres": IonosKind(
        observe=_observe_postgres, create=_create_postgres,
        update=lambda api, st, rt: api.update_postgres(st.obs_id, st.want, log=rt.log),
        metadata=_postgres_metadata, immutable=desired.POSTGRES_IMMUTABLE,
        replace_hint="replacing it ({reason}) is not automated; restore from a backup by hand",
        ready_state="AVAILABLE", ready=lambda api, st, rt: api.postgres_ready(st.obs_id, rt.log)),
    "inmemorydb": IonosKind(
        observe=_observe_inmemorydb, create=_create_inmemorydb,
        update=lambda api, st, rt: api.update_inmemorydb(st.obs_id, st.want, log=rt.log),
        metadata=_inmemorydb_metadata, immutable=desired.INMEMORYDB_IMMUTABLE,
        replace_hint="replacing it ({reason}) is not automated; create a new one by hand",
        ready_state="AVAILABLE",
        ready=lambda api, st, rt: api.inmemorydb_ready(st.obs_id, rt.log)),
}


@dataclass(frozen=True)
class IonosHandler:
    """Reconciles one IONOS kind from its row of ``IONOS_KINDS``."""

    kind: IonosKind

    def observe(self, rt: Runtime, node: Node, opts: Options) -> IonosState:
        return self.kind.observe(rt, node, opts)

    def plan(self, rt: Runtime, st: IonosState, opts: Options, gate: Gate) -> ReconcileOutcome:
        section = st.node.section
        fields = diff(st.want, st.props, ignore=st.ignore) if st.obs else []
        plan = Plan(st.node.path, notes=list(st.notes) + self._waits_for(st))
        st.change = plan.add(decide(
            st.address, st.obs is not None, fields, immutable=self.kind.immutable,
            disruptive=st.disruptive, allow_replace=allow_replace(section), gate=gate,
            mode=drift_mode(section), drift=not opts.spec_changed(st.node), what=st.what))
        return ReconcileOutcome(plan)

    def _waits_for(self, st: IonosState) -> list[str]:
        """What an apply would wait for: a resource IONOS is still busy with (a cluster
        DEPLOYING, a database UPDATING) is polled until it is ready, for up to 30 minutes."""
        state = _state_of(st.obs) if st.obs else None
        if not (self.kind.ready_state and state and state != self.kind.ready_state):
            return []
        if state == self.kind.working_state:
            return [f"{st.what} is {state}: IONOS is replacing its nodes (an upgrade or its "
                    "maintenance, which can take hours); the reconcile does not wait for it"]
        return [f"{st.what} is {state}: the reconcile waits until it is {self.kind.ready_state}"]

    def apply(self, rt: Runtime, st: IonosState, out: ReconcileOutcome) -> None:
        if not st.writable:
            return
        api, action = rt.cloud(), st.change.action
        state = _state_of(st.obs) if st.obs else None
        working = bool(self.kind.working_state) and state == self.kind.working_state
        if working and action in ("update", "replace"):
            raise ReconcileError(
                f"{st.what} is {state}: IONOS locks it while it replaces its nodes "
                f"(docs.ionos.com managed-kubernetes how-tos/upgrade-node-pools), so the "
                f"{action} ({st.change.reason or 'changed fields'}) cannot be written now: "
                "reconcile again once it is ACTIVE")
        fresh: Json | None = None
        if action == "create":
            fresh = self.kind.create(api, st, rt)
        elif action == "update" and st.obs:
            fresh = self.kind.update(api, st, rt)
        elif action == "replace":
            if self.kind.replace is None:
                hint = self.kind.replace_hint.format(reason=st.change.reason)
                raise ReconcileError(f"{st.what}: {hint}")
            fresh = self.kind.replace(api, st, rt)
            out.writes += 1  # the delete before the create
        if action in ("create", "update", "replace"):
            out.writes += 1
        st.obs = fresh or st.obs
        if fresh is None and st.obs and self.kind.ready and not working and \
                _state_of(st.obs) != self.kind.ready_state:
            st.obs = self.kind.ready(api, st, rt)

    def verify(self, rt: Runtime, st: IonosState, out: ReconcileOutcome, opts: Options) -> None:
        if st.obs:
            out.metadata.update(self.kind.metadata(st, st.obs))
            if self.kind.observations:
                out.observations.extend(self.kind.observations(st, st.obs, opts))
