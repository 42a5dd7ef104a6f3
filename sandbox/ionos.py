"""A local IONOS Cloud API v6: datacenters, LANs, managed Kubernetes, volumes, snapshots, IP
blocks, Network Load Balancers, requests.

Served under ``/cloudapi/v6`` so the ``ionoscloud`` SDK works with
``Configuration(host="http://127.0.0.1:PORT/cloudapi/v6", token=...)`` or with username and
password (Basic auth).

Behaviour, as the real API:

- every POST, PUT, PATCH and DELETE answers **202** with an absolute
  ``Location: <base>/cloudapi/v6/requests/<uuid>/status``; the request goes QUEUED, RUNNING, then
  DONE (or FAILED) after ``delay`` seconds, and is DONE on the first poll when ``delay`` is 0;
- data-center resources go BUSY → AVAILABLE; Kubernetes clusters and node pools DEPLOYING →
  ACTIVE (UPDATING → ACTIVE after a PUT, DESTROYING then 404 after a DELETE); nodes PROVISIONING →
  READY. Transitions are applied lazily on the next request and by a timer, so side effects
  (``world.set_pool_nodes``) happen even when nobody polls;
- ``depth`` is honoured: at depth 0 a collection's items are bare references (id, type, href);
  ``offset``/``limit``/``_links`` appear on the lists the real API paginates (datacenters, LANs,
  volumes, servers, requests), not on the k8s, node pool, node and snapshot lists;
- every list takes ``filter.<property>`` (case-insensitive "contains" on a property or a
  metadata field; repeated values are alternatives, several filters must all match),
  ``orderBy=<property>`` (ascending) and ``maxResults``; ``/requests`` keeps its own
  ``filter.status``/``method``/``url``/``body``/``createdAfter``/``createdBefore``;
- Kubernetes versions: a cluster moves only to a version in its ``availableUpgradeVersions``
  (newer, at most one minor up); a node pool only to a version in its cluster's
  ``viableNodePoolVersions`` (never newer than the cluster, at most one minor older) and one
  minor at a time; cluster and node pool names follow the SDK's stated rule (63 characters,
  alphanumerics at both ends, ``-``, ``_``, ``.`` between);
- a node pool upgrade (a new ``k8sVersion``) and a node's ``/replace`` replace nodes one by one,
  oldest first, as IONOS documents it (managed-kubernetes how-tos/upgrade-node-pools and
  maintenance): a new node (new id, name and addresses) is provisioned; once READY and
  registered, the old one (REBUILDING meanwhile) is cordoned and drained through the world's
  ``drain_node`` (pods/eviction, so PodDisruptionBudgets hold it) for up to ``DRAIN_LIMIT``
  (an hour of this module's ``now``), after which the remaining pods are deleted; then it goes
  TERMINATING and is deleted. An upgrade keeps the pool UPDATING until its last node is
  replaced, and a PUT meanwhile is a 422 (the pool is locked); a replace leaves it ACTIVE;
- the kubeconfig is YAML unless ``Accept`` asks for ``application/json`` first (the SDK does);
- an ``ETag`` header only on a GET without ``depth`` (the SDK's metadata docs), ``If-Match``;
- labels on datacenters, volumes and snapshots (``.../labels[/{key}]``, ``/labels``,
  ``/labels/{urn}``) and ``/contracts`` with resource limits and what the state provisions;
- errors are ``{"httpStatus": N, "messages": [{"errorCode", "message"}]}``: 400 malformed JSON,
  401 bad or missing credentials, 404 unknown ids, 405, 412 on an ``If-Match`` mismatch, 415 wrong
  content type, 422 missing or invalid fields.

``world.set_pool_nodes(pool_name, nodes)`` is called whenever a pool's registered nodes change,
with one dict per node that is READY (or REBUILDING: being replaced, it keeps its Node
object), as a kubelet registers only once the server is up:
``{"name", "id", "poolName", "poolId", "clusterId", "k8sVersion", "privateIP", "publicIP",
"state", "ready", "unschedulable" (cordoned for its replacement), "labels", "annotations",
"cores", "ramMB", "storageGB", "availabilityZone"}``.

NAT gateways, Application Load Balancers and target groups: ``sandbox/ionos_gateways.py``.

IP blocks and Network Load Balancers (``IPBlocksApi``, ``NetworkLoadBalancersApi`` of
``ionoscloud`` 6.1.13 and their models' documentation):

- ``/ipblocks``: ``location`` and ``size`` are required and fixed once reserved (only ``name``
  changes), ``ips`` are assigned, ``ipConsumers`` lists the balancers using an address; a block
  in use is not released (422); reserving beyond the contract's ``reservableIps`` is a 422;
- ``/datacenters/{dc}/networkloadbalancers[/{id}[/forwardingrules[/{id}]]]``: ``listenerLan``
  and ``targetLan`` must exist and differ; listener ``ips`` must be addresses of IP blocks
  reserved in the datacenter's location ("an IP block can only be used in its own location"),
  not used by another balancer, on a public listener LAN; ``lbPrivateIps`` need a prefix and are
  generated (a /24) when absent; rules need a listener IP of their balancer, a port not used by
  another rule, an algorithm and protocol from the SDK's allowed values and targets with ip and
  port (weight 0-256, default 1); ``entities.forwardingrules`` in the POST creates rules with
  the balancer; the contract's ``nlbLimitTotal`` is enforced.

``fail_next(resource_type)`` makes the next create or update of that type (``datacenter``,
``lan``, ``volume``, ``snapshot``, ``k8s``, ``nodepool``, ``ipblock``, ``networkloadbalancer``,
``natgateway``, ``applicationloadbalancer``, ``target-group``)
end FAILED, request included.
"""

from __future__ import annotations

import ipaddress
import re
import threading
import uuid
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote

import yaml

from sandbox.http import Request, Response, json_response
from sandbox.ionos_common import (
    ApiError,
    IonosServiceBase,
    ListQuery,
    StateFile,
    check_basic_or_bearer,
    error_response,
    etag_of,
    iso,
    json_body,
    now,
    page_links,
    parse_iso,
    query_int,
)
from sandbox.ionos_gateways import NAT_LIMIT, ApplicationLoadBalancers, NatGateways, TargetGroups
from sandbox.world import World, kubeconfig_cluster

PREFIX = "/cloudapi/v6"
CONTRACT_NUMBER = 31415926
K8S_VERSIONS = ["1.31.9", "1.32.6", "1.33.2"]
K8S_DEFAULT_VERSION = "1.32.6"
LOCATIONS = {
    "de/fra": "frankfurt", "de/fkb": "karlsruhe", "de/txl": "berlin", "gb/lhr": "london",
    "gb/bhx": "worcester", "fr/par": "paris", "es/vit": "logrono", "us/las": "lasvegas",
    "us/ewr": "newark", "us/mci": "kansascity",
}
DC_ENTITIES = ["servers", "volumes", "lans", "loadbalancers", "networkloadbalancers",
               "natgateways", "securitygroups"]
# Tuples, not sets: membership of an unhashable JSON value (a list, an object) must be False.
VOLUME_TYPES = ("HDD", "SSD", "SSD Standard", "SSD Premium", "DAS", "ISO")
LICENCE_TYPES = ("UNKNOWN", "WINDOWS", "WINDOWS2016", "WINDOWS2019", "WINDOWS2022",
                 "WINDOWS2025", "RHEL", "LINUX", "OTHER")
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
PAGINATED = {"datacenters", "lans", "volumes", "servers", "ipblocks", "networkloadbalancers",
             "forwardingrules", "applicationloadbalancers", "targetgroups"}
# Node replacement (docs.ionos.com managed-kubernetes how-tos/upgrade-node-pools and
# maintenance): PodDisruptionBudgets are honoured for up to an hour of draining, then the
# remaining pods are deleted; a refused eviction is retried as kubectl drain does (every 5 s).
DRAIN_LIMIT = 3600.0
DRAIN_RETRY = 5.0
FAILABLE = {"datacenter", "lan", "volume", "snapshot", "k8s", "nodepool", "ipblock",
            "networkloadbalancer", "natgateway", "applicationloadbalancer", "target-group"}
# Who can use a reserved address, and the property that lists the addresses it uses.
IP_USERS = {"networkloadbalancer": "ips", "natgateway": "publicIps",
            "applicationloadbalancer": "ips"}
IP_USER_NAMES = {"networkloadbalancer": "network load balancer", "natgateway": "NAT gateway",
                 "applicationloadbalancer": "application load balancer"}
# The contract's resource limits (GET /contracts): reservableIps and nlbLimitTotal.
RESERVABLE_IPS = 50
NLB_LIMIT = 10
NLB_ALGORITHMS = ("ROUND_ROBIN", "LEAST_CONNECTION", "RANDOM", "SOURCE_IP")
NLB_PROTOCOLS = ("HTTP", "TCP")
PROXY_PROTOCOLS = ("none", "v1", "v2", "v2ssl")
# NetworkLoadBalancerForwardingRuleHealthCheck's documented defaults (ms, and retries).
RULE_HEALTH_DEFAULTS = {"clientTimeout": 50000, "connectTimeout": 5000, "targetTimeout": 50000,
                        "retries": 3}
# KubernetesClusterProperties.name / KubernetesNodePoolProperties.name (SDK model docs): "63
# characters or less and must be empty or begin and end with an alphanumeric character
# ([a-z0-9A-Z]) with dashes (-), underscores (_), dots (.), and alphanumerics between".
_K8S_NAME_RE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
_K8S_NAME_RULE = ("must be 63 characters or less and be empty or begin and end with an "
                  "alphanumeric ([a-z0-9A-Z]) with dashes (-), underscores (_), dots (.) and "
                  "alphanumerics between")
_TIME_RE = re.compile(r'^([01]\d|2[0-3]):[0-5]\d:[0-5]\d("?Z"?)?$')
_MAX_REQUESTS = 5000
# A finished drain starts the next replacement in the same flush; bounded so one flush ends.
_FLUSH_ROUNDS = 8
# The /requests filters with meanings of their own (the SDK's requests_get parameters).
_OWN_REQUEST_FILTERS = frozenset({"filter.status", "filter.method", "filter.url", "filter.body",
                                  "filter.createdAfter", "filter.createdBefore"})


def _version_key(v: str) -> tuple[int, ...]:
    return tuple(int(p) for p in v.split(".") if p.isdigit())


def _wants_json(accept: str) -> bool:
    """The kubeconfig "format (YAML or JSON) ... in the Accept header. By default,
    'application/yaml'" (the SDK's k8s_kubeconfig_get docs): JSON only when asked for before
    any YAML type."""
    for part in accept.split(","):
        media = part.split(";")[0].strip().lower()
        if media in ("application/yaml", "application/x-yaml"):
            return False
        if media == "application/json":
            return True
    return False


def cluster_upgrades(version: str) -> list[str]:
    """A cluster's ``availableUpgradeVersions``: newer patches of its minor and the next minor
    (Kubernetes control planes upgrade one minor version at a time)."""
    current = _version_key(version)
    return [v for v in K8S_VERSIONS if _version_key(v) > current
            and _version_key(v)[:2] <= (current[0], current[1] + 1)]


def node_pool_versions(cluster_version: str) -> list[str]:
    """A cluster's ``viableNodePoolVersions``: never newer than the cluster, at most one minor
    version older."""
    current = _version_key(cluster_version)
    return [v for v in K8S_VERSIONS if _version_key(v) <= current
            and _version_key(v)[:2] >= (current[0], current[1] - 1)]


def pool_upgrades(version: str, cluster_version: str) -> list[str]:
    """A node pool's ``availableUpgradeVersions``: one minor at a time, up to its cluster's."""
    return [v for v in cluster_upgrades(version) if v in node_pool_versions(cluster_version)]


def _string_map(value: Any, key: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise ApiError(422, f"[(root).properties.{key}] must map strings to strings")
    return value


class _Route:
    def __init__(self, pattern: str, handlers: dict[str, Callable[..., Response]]) -> None:
        self.regex = re.compile(f"^{pattern}$")
        self.handlers = handlers


class IonosCloudService(IonosServiceBase):
    """The Cloud API v6 emulator (see the module docstring)."""

    name = "ionos"

    def __init__(self, world: World, token: str, username: str, password: str,
                 delay: float = 0.0, state_dir: Path | None = None) -> None:
        self.world = world
        self.token = token
        self.username = username
        self.password = password
        self.delay = float(delay)
        self._lock = threading.RLock()
        self._file = StateFile(state_dir, "ionos")
        self._objs: dict[str, dict[str, Any]] = {}
        self._requests: dict[str, dict[str, Any]] = {}
        self._fail_next: set[str] = set()
        self._dirty_pools: dict[str, str | None] = {}
        self._effects_lock = threading.Lock()
        self._timer_at: float | None = None
        self._ip_counter = 10
        self._public_ip_counter = 0
        loaded = self._file.load()
        if loaded:
            self._objs = loaded.get("objects", {})
            self._requests = loaded.get("requests", {})
            self._ip_counter = int(loaded.get("ip_counter", 10))
            self._public_ip_counter = int(loaded.get("public_ip_counter", 0))
        world.provision_volume = self.provision_volume
        world.volume_exists = self.volume_exists
        world.resize_volume = self.resize_volume
        self._nat = NatGateways(self)
        self._albs = ApplicationLoadBalancers(self)
        self._target_groups = TargetGroups(self)
        self._routes = self._build_routes()

    def fail_next(self, resource_type: str) -> None:
        """Make the next create or update of ``resource_type`` end in a FAILED state."""
        if resource_type not in FAILABLE:
            raise ValueError(f"fail_next: unknown resource type {resource_type!r}; "
                             f"use one of {sorted(FAILABLE)}")
        with self._lock:
            self._fail_next.add(resource_type)

    def reset(self) -> None:
        """Forget every resource and request."""
        with self._lock:
            self._objs.clear()
            self._requests.clear()
            self._fail_next.clear()
            self._save()

    def provision_volume(self, name: str, size_gb: int) -> str:
        """Create an AVAILABLE volume in the first datacenter (one is made if none exists)."""
        with self._lock:
            dcs = self._children("", "datacenters")
            if dcs:
                dc = dcs[0]
            else:
                dc = self._new_obj("datacenter", "", "datacenters", str(uuid.uuid4()),
                                   self._dc_props({"name": "sandbox-volumes",
                                                   "location": "de/fra"}), "AVAILABLE")
            vol = self._new_obj("volume", dc["path"], "volumes", str(uuid.uuid4()),
                                self._volume_props({"name": name, "size": size_gb,
                                                    "type": "SSD Standard"}), "AVAILABLE")
            self._save()
            return str(vol["id"])

    def resize_volume(self, volume_id: str, size_gb: int) -> None:
        """The IONOS CSI driver's ControllerExpandVolume: the volume's size grows (a PATCH of
        ``properties.size``; the API refuses a smaller one, so a smaller size changes nothing).
        LookupError when no volume has this id."""
        with self._lock:
            self._advance_locked()
            vol = next((o for o in self._objs.values()
                        if o["type"] == "volume" and o["id"] == volume_id), None)
            if vol is None:
                raise LookupError(f"Resource does not exist: volume {volume_id}")
            if size_gb > vol["props"]["size"]:
                vol["props"]["size"] = float(size_gb)
                vol["modified"] = now()
                self._save()

    def volume_exists(self, volume_id: str) -> bool:
        with self._lock:
            self._advance_locked()
            return any(o["type"] == "volume" and o["id"] == volume_id
                       for o in self._objs.values())

    def handle(self, req: Request) -> Response:
        try:
            path = req.path
            if not path.startswith(PREFIX):
                raise ApiError(404, f"Unknown path {path}; the Cloud API lives under {PREFIX}")
            path = path[len(PREFIX):].rstrip("/")
            check_basic_or_bearer(req, self.token, self.username, self.password)
            with self._lock:
                self._advance_locked()
                resp = self._route(req, path)
                if req.method in ("POST", "PUT", "PATCH", "DELETE"):
                    self._save()
        except ApiError as err:
            resp = error_response(err)
        if self._dirty_pools or self._draining():
            self._flush()
        return resp

    def _draining(self) -> bool:
        with self._lock:
            return any((ro := p["extra"].get("rollout")) and ro.get("since") is not None
                       for p in self._all("nodepool"))

    def _route(self, req: Request, path: str) -> Response:
        for route in self._routes:
            m = route.regex.match(path)
            if m is None:
                continue
            handler = route.handlers.get(req.method)
            if handler is None:
                raise ApiError(405, f"Method {req.method} is not allowed on {PREFIX}{path}; "
                                    f"allowed: {', '.join(sorted(route.handlers))}")
            # Path parameters arrive percent-encoded (a label URN's ':' as %3A).
            return handler(req, **{k: unquote(v) for k, v in m.groupdict().items()})
        raise ApiError(404, f"Resource {PREFIX}{path} does not exist")

    def _build_routes(self) -> list[_Route]:
        dc = r"/datacenters/(?P<dc>[^/]+)"
        return [*self._network_routes(dc), *self._compute_routes(dc), *self._k8s_routes()]

    def _network_routes(self, dc: str) -> list[_Route]:
        nlb = dc + r"/networkloadbalancers/(?P<nlb>[^/]+)"
        rule = nlb + r"/forwardingrules/(?P<rule>[^/]+)"
        return [
            _Route("/ipblocks", {"GET": self._list_ipblocks, "POST": self._create_ipblock}),
            _Route(r"/ipblocks/(?P<ipb>[^/]+)", {
                "GET": self._get_ipblock, "PUT": self._put_ipblock,
                "PATCH": self._patch_ipblock, "DELETE": self._delete_ipblock}),
            _Route(dc + "/networkloadbalancers", {"GET": self._list_nlbs,
                                                  "POST": self._create_nlb}),
            _Route(nlb, {"GET": self._get_nlb, "PUT": self._put_nlb, "PATCH": self._patch_nlb,
                         "DELETE": self._delete_nlb}),
            _Route(nlb + "/forwardingrules", {"GET": self._list_rules, "POST": self._create_rule}),
            _Route(rule, {"GET": self._get_rule, "PUT": self._put_rule, "PATCH": self._patch_rule,
                          "DELETE": self._delete_rule}),
            *(_Route(pattern, handlers) for pattern, handlers in [
                *self._nat.routes(dc), *self._albs.routes(dc), *self._target_groups.routes()]),
        ]

    def _compute_routes(self, dc: str) -> list[_Route]:
        vol = dc + r"/volumes/(?P<vid>[^/]+)"
        return [
            _Route("", {"GET": self._api_info}),
            _Route("/datacenters", {"GET": self._list_dcs, "POST": self._create_dc}),
            _Route(dc, {"GET": self._get_dc, "PUT": self._put_dc, "PATCH": self._patch_dc,
                        "DELETE": self._delete_dc}),
            _Route(dc + "/lans", {"GET": self._list_lans, "POST": self._create_lan}),
            _Route(dc + r"/lans/(?P<lan>[^/]+)", {
                "GET": self._get_lan, "PUT": self._put_lan, "PATCH": self._patch_lan,
                "DELETE": self._delete_lan}),
            _Route(dc + "/volumes", {"GET": self._list_volumes, "POST": self._create_volume}),
            _Route(vol, {"GET": self._get_volume, "PUT": self._put_volume,
                         "PATCH": self._patch_volume, "DELETE": self._delete_volume}),
            _Route(vol + "/create-snapshot", {"POST": self._create_snapshot}),
            _Route(vol + "/restore-snapshot", {"POST": self._restore_snapshot}),
            _Route(dc + "/servers", {"GET": self._list_servers}),
            _Route("/snapshots", {"GET": self._list_snapshots}),
            _Route(r"/snapshots/(?P<sid>[^/]+)", {
                "GET": self._get_snapshot, "PUT": self._put_snapshot,
                "PATCH": self._patch_snapshot, "DELETE": self._delete_snapshot}),
            *self._label_routes(dc, "datacenter"),
            *self._label_routes(vol, "volume"),
            *self._label_routes(r"/snapshots/(?P<sid>[^/]+)", "snapshot"),
        ]

    def _k8s_routes(self) -> list[_Route]:
        k8s = r"/k8s/(?P<cid>[^/]+)"
        np_ = k8s + r"/nodepools/(?P<npid>[^/]+)"
        node = np_ + r"/nodes/(?P<nid>[^/]+)"
        return [
            _Route("/k8s", {"GET": self._list_k8s, "POST": self._create_k8s}),
            _Route("/k8s/versions", {"GET": self._k8s_versions}),
            _Route("/k8s/versions/default", {"GET": self._k8s_default_version}),
            _Route(k8s, {"GET": self._get_k8s, "PUT": self._put_k8s,
                         "DELETE": self._delete_k8s}),
            _Route(k8s + "/kubeconfig", {"GET": self._kubeconfig}),
            _Route(k8s + "/nodepools", {"GET": self._list_nodepools,
                                        "POST": self._create_nodepool}),
            _Route(np_, {"GET": self._get_nodepool, "PUT": self._put_nodepool,
                         "DELETE": self._delete_nodepool}),
            _Route(np_ + "/nodes", {"GET": self._list_nodes}),
            _Route(node, {"GET": self._get_node, "DELETE": self._delete_node}),
            _Route(node + "/replace", {"POST": self._replace_node}),
            _Route("/requests", {"GET": self._list_requests}),
            _Route(r"/requests/(?P<rid>[^/]+)", {"GET": self._get_request}),
            _Route(r"/requests/(?P<rid>[^/]+)/status", {"GET": self._get_request_status}),
            _Route("/labels", {"GET": self._list_all_labels}),
            _Route(r"/labels/(?P<urn>[^/]+)", {"GET": self._get_label_by_urn}),
            _Route("/contracts", {"GET": self._contracts}),
            _Route("/locations", {"GET": self._list_locations}),
            _Route(r"/locations/(?P<region>[^/]+)", {"GET": self._list_region}),
            _Route(r"/locations/(?P<region>[^/]+)/(?P<loc>[^/]+)", {"GET": self._get_location}),
        ]

    def _advance_locked(self) -> None:
        """Apply due state transitions; node changes mark their pool for ``_flush``."""
        t = now()
        for path in list(self._objs):
            obj = self._objs.get(path)
            if obj is None:
                continue
            pending = obj.get("pending")
            if pending and pending[0] <= t:
                obj["state"] = pending[1]
                obj["pending"] = None
                obj["modified"] = max(obj["modified"], pending[0])
                if obj["type"] == "node":
                    self._mark_pool(self._objs.get(obj["parent"]))
            delete_at = obj.get("delete_at")
            if delete_at is not None and delete_at <= t:
                for sub in self._subtree(path):
                    self._objs.pop(sub["path"], None)
                    if sub["type"] == "nodepool":
                        self._dirty_pools[sub["props"]["name"]] = None
                    elif sub["type"] == "node":
                        self._mark_pool(self._objs.get(sub["parent"]))
        for pool in self._all("nodepool"):
            if pool["extra"].get("rollout") and pool.get("delete_at") is None:
                self._step_rollout(pool, t)

    def _mark_pool(self, pool: dict[str, Any] | None) -> None:
        if pool is not None:
            self._dirty_pools[pool["props"]["name"]] = pool["path"]

    def _flush(self) -> None:
        """Tell the world about changed node pools, outside the state lock, in order; then
        drain the cordoned nodes being replaced (the world evicts their pods)."""
        setter, drain = self.world.set_pool_nodes, self.world.drain_node
        with self._effects_lock:
            for _ in range(_FLUSH_ROUNDS):
                with self._lock:
                    dirty, self._dirty_pools = self._dirty_pools, {}
                    calls = [(name, self._node_payload(self._objs[path])
                              if path is not None and path in self._objs else [])
                             for name, path in dirty.items()]
                    t = now()
                    drains = [(pool["path"], node, t >= ro["since"] + DRAIN_LIMIT)
                              for pool in self._all("nodepool")
                              if (ro := pool["extra"].get("rollout")) and ro.get("since")
                              is not None and not ro.get("drained")
                              and pool.get("delete_at") is None and (node := self._objs.get(
                                  f'{pool["path"]}/nodes/{ro["old"]}')) is not None]
                if setter is not None:
                    for name, payload in calls:
                        setter(name, payload)
                if not drains:
                    return
                left = {path: drain(node["props"]["name"], force) if drain is not None else []
                        for path, node, force in drains}
                with self._lock:
                    for path, remaining in left.items():
                        pool = self._objs.get(path)
                        ro = pool["extra"].get("rollout") if pool else None
                        if pool is None or not ro:
                            continue
                        if remaining:
                            ro["retry_at"] = now() + DRAIN_RETRY
                            self._schedule(min(ro["retry_at"], ro["since"] + DRAIN_LIMIT))
                        else:
                            ro["drained"] = True
                            self._step_rollout(pool, now())
                    self._save()
                    if not self._dirty_pools:
                        return

    def resync_world(self) -> None:
        """Push every node pool's nodes to the world again (after a restart from state)."""
        with self._lock:
            for pool in self._all("nodepool"):
                self._mark_pool(pool)
        self._flush()

    def _schedule(self, at: float) -> None:
        """Advance the state machine at ``at`` even if nobody polls (one timer at a time)."""
        if self._timer_at is not None and self._timer_at <= at + 0.005:
            return  # an earlier timer fires first and reschedules for what is left
        self._timer_at = at

        def fire() -> None:
            with self._lock:
                if self._timer_at == at:
                    self._timer_at = None
                self._advance_locked()
                due = [o["pending"][0] for o in self._objs.values() if o.get("pending")]
                due += [o["delete_at"] for o in self._objs.values()
                        if o.get("delete_at") is not None]
                due += [ro["retry_at"] for o in self._all("nodepool")
                        if (ro := o["extra"].get("rollout")) and ro.get("retry_at")]
                if due:
                    self._schedule(min(due))
                self._save()
            self._flush()

        timer = threading.Timer(max(0.0, at - now()) + 0.01, fire)
        timer.daemon = True
        timer.start()

    def _transition(self, obj: dict[str, Any], interim: str, final: str) -> None:
        t = now()
        obj["state"] = interim
        obj["pending"] = [t + self.delay, final]
        obj["modified"] = t
        self._schedule(t + self.delay)

    def _take_failure(self, rtype: str) -> bool:
        if rtype in self._fail_next:
            self._fail_next.discard(rtype)
            return True
        return False

    def _save(self) -> None:
        self._file.save({"objects": self._objs, "requests": self._requests,
                         "ip_counter": self._ip_counter,
                         "public_ip_counter": self._public_ip_counter})

    def _new_obj(self, rtype: str, parent: str, kind: str, oid: str,
                 props: dict[str, Any], state: str) -> dict[str, Any]:
        t = now()
        path = f"{parent}/{kind}/{oid}"
        obj = {"id": oid, "type": rtype, "path": path, "parent": parent, "kind": kind,
               "created": t, "modified": t, "state": state, "props": props, "pending": None,
               "delete_at": None, "extra": {}}
        self._objs[path] = obj
        return obj

    def _children(self, parent: str, kind: str) -> list[dict[str, Any]]:
        return [o for o in self._objs.values() if o["parent"] == parent and o["kind"] == kind]

    def _subtree(self, path: str) -> list[dict[str, Any]]:
        prefix = path + "/"
        return [o for p, o in self._objs.items() if p == path or p.startswith(prefix)]

    def _get(self, path: str, what: str) -> dict[str, Any]:
        obj = self._objs.get(path)
        if obj is None:
            raise ApiError(404, f"Resource does not exist: {what} {PREFIX}{path}")
        return obj

    def _dc(self, dc: str) -> dict[str, Any]:
        return self._get(f"/datacenters/{dc}", "datacenter")

    def _cluster(self, cid: str) -> dict[str, Any]:
        return self._get(f"/k8s/{cid}", "k8s cluster")

    def _check_if_match(self, req: Request, obj: dict[str, Any]) -> None:
        wanted = req.headers.get("If-Match")
        if wanted and wanted.strip('"') not in ("*", self._etag(obj)):
            raise ApiError(412, f"Precondition failed: If-Match {wanted} does not match the "
                                f"current etag {self._etag(obj)} of {PREFIX}{obj['path']}")

    @staticmethod
    def _etag(obj: dict[str, Any]) -> str:
        return etag_of([obj["props"], obj["state"], obj["modified"]])

    def _href(self, req: Request, path: str) -> str:
        return f"{req.base_url}{PREFIX}{path}"

    def _depth(self, req: Request, default: int = 0) -> int:
        return query_int(req, "depth", default, 0, 10)

    def _render(self, req: Request, obj: dict[str, Any], depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {"id": obj["id"], "type": obj["type"],
                               "href": self._href(req, obj["path"])}
        meta: dict[str, Any] = {"etag": self._etag(obj), "createdDate": iso(obj["created"])}
        if obj["type"] == "node":
            meta.update({"lastModifiedDate": iso(obj["modified"]), "state": obj["state"],
                         "lastSoftwareUpdatedDate": iso(obj["extra"].get("software",
                                                                         obj["created"]))})
        else:
            meta.update({"createdBy": self.username, "createdByUserId": _USER_ID,
                         "lastModifiedDate": iso(obj["modified"]),
                         "lastModifiedBy": self.username, "lastModifiedByUserId": _USER_ID,
                         "state": obj["state"]})
        out["metadata"] = meta
        out["properties"] = self._computed_props(obj)
        entity_kinds = {"datacenter": DC_ENTITIES, "k8s": ["nodepools"], "lan": ["nics"],
                        "networkloadbalancer": ["forwardingrules"],
                        "natgateway": ["rules"],
                        "applicationloadbalancer": ["forwardingrules"]}.get(obj["type"], [])
        if entity_kinds:
            out["entities"] = {
                kind: self._render_collection(req, self._children(obj["path"], kind),
                                              f"{obj['path']}/{kind}", kind, depth - 1)
                if depth > 0 else {"id": f"{obj['id']}/{kind}", "type": "collection",
                                   "href": self._href(req, f"{obj['path']}/{kind}")}
                for kind in entity_kinds
            }
        return out

    def _render_collection(self, req: Request, items: list[dict[str, Any]], path: str,
                           kind: str, depth: int, paginate: bool = False,
                           query: ListQuery | None = None) -> dict[str, Any]:
        coll_id = path.rsplit("/", 2)[-2] + "/" + kind if path.count("/") > 1 else kind
        out: dict[str, Any] = {"id": coll_id, "type": "collection",
                               "href": self._href(req, path)}
        if query is not None:
            items = query.select(items, lambda o: self._render(req, o, 0))
        if paginate:
            offset = query_int(req, "offset", 0, 0, 10**9)
            limit = query_int(req, "limit", 1000, 1, 10000)
            total = len(items)
            items = items[offset:offset + limit]
        if query is not None:
            items = query.cut(items)
        if depth <= 0:
            out["items"] = [{"id": o["id"], "type": o["type"],
                             "href": self._href(req, o["path"])} for o in items]
        else:
            out["items"] = [self._render(req, o, depth - 1) for o in items]
        if paginate:
            out["offset"] = offset
            out["limit"] = limit
            out["_links"] = page_links(self._href(req, path), offset, limit, total)
        return out

    def _computed_props(self, obj: dict[str, Any]) -> dict[str, Any]:
        props = dict(obj["props"])
        if obj["type"] == "k8s":
            version = props.get("k8sVersion") or K8S_DEFAULT_VERSION
            props["availableUpgradeVersions"] = cluster_upgrades(version)
            props["viableNodePoolVersions"] = node_pool_versions(version)
        elif obj["type"] == "ipblock":
            props["ipConsumers"] = self._ip_consumers(obj)
        elif obj["type"] == "nodepool":
            cluster = self._objs.get(obj["parent"])
            cluster_version = (cluster["props"].get("k8sVersion") if cluster else None) or \
                K8S_DEFAULT_VERSION
            props["availableUpgradeVersions"] = pool_upgrades(
                props.get("k8sVersion") or K8S_DEFAULT_VERSION, cluster_version)
        return props

    def _one(self, req: Request, obj: dict[str, Any], status: int = 200,
             default_depth: int = 0) -> Response:
        body = self._render(req, obj, self._depth(req, default_depth))
        if "depth" in req.query:
            # The SDK's metadata docs: the entity tag "is also added as an 'ETag' response
            # header to requests which don't use 'depth' parameter".
            return json_response(status, body)
        return json_response(status, body, ETag=f'"{body["metadata"]["etag"]}"')

    def _list(self, req: Request, parent: str, kind: str) -> Response:
        items = self._children(parent, kind)
        return json_response(200, self._render_collection(
            req, items, f"{parent}/{kind}", kind, self._depth(req), paginate=kind in PAGINATED,
            query=ListQuery.from_request(req)))

    def _accept(self, req: Request, targets: list[dict[str, Any]], body: Any = None,
                failed: str | None = None) -> Response:
        rid = str(uuid.uuid4())
        t = now()
        headers = {k: v for k, v in req.headers.items()
                   if k.lower() not in ("authorization", "cookie")}
        self._requests[rid] = {
            "id": rid, "created": t, "done_at": t + self.delay, "method": req.method,
            "url": f"{req.base_url}{req.path}", "headers": headers,
            "body": req.body.decode(errors="replace"), "failed": failed,
            "targets": [{"id": o["id"], "type": o["type"], "path": o["path"]} for o in targets],
        }
        if len(self._requests) > _MAX_REQUESTS:
            for old in list(self._requests)[: len(self._requests) - _MAX_REQUESTS]:
                del self._requests[old]
        location = f"{req.base_url}{PREFIX}/requests/{rid}/status"
        return Response(status=202, body=body, headers={"Location": location})

    def _accept_write(self, req: Request, obj: dict[str, Any], interim: str, final: str,
                      failed_state: str = "FAILED") -> Response:
        failed = None
        if self._take_failure(obj["type"]):
            final = failed_state
            failed = f"Failed to provision {obj['type']} {obj['id']} (injected by the sandbox)"
        self._transition(obj, interim, final)
        body = self._render(req, obj, self._depth(req))
        return self._accept(req, [obj], body, failed)

    def _accept_delete(self, req: Request, obj: dict[str, Any], interim: str) -> Response:
        self._check_if_match(req, obj)
        t = now()
        for sub in self._subtree(obj["path"]):
            sub["state"] = "DESTROYING" if sub["type"] in ("k8s", "nodepool") else (
                "TERMINATING" if sub["type"] == "node" else interim)
            sub["pending"] = None
            sub["delete_at"] = t + self.delay
        self._schedule(t + self.delay)
        return self._accept(req, [obj])

    def _request_status(self, r: dict[str, Any]) -> tuple[str, str]:
        t = now()
        if t >= r["done_at"]:
            if r.get("failed"):
                return "FAILED", str(r["failed"])
            return "DONE", "Request has been successfully executed"
        if t >= r["created"] + (r["done_at"] - r["created"]) / 2:
            return "RUNNING", "Request is being executed"
        return "QUEUED", "Request has been queued"

    def _render_status(self, req: Request, r: dict[str, Any]) -> dict[str, Any]:
        status, message = self._request_status(r)
        target_status = "FAILED" if status == "FAILED" else (
            "DONE" if status == "DONE" else "RUNNING")
        return {
            "id": f"{r['id']}/status", "type": "request-status",
            "href": self._href(req, f"/requests/{r['id']}/status"),
            "metadata": {
                "status": status, "message": message, "etag": etag_of([r["id"], status]),
                "targets": [{"target": {"id": tg["id"], "type": tg["type"],
                                        "href": self._href(req, tg["path"])},
                             "status": target_status} for tg in r["targets"]],
            },
        }

    def _render_request(self, req: Request, r: dict[str, Any], depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {"id": r["id"], "type": "request",
                               "href": self._href(req, f"/requests/{r['id']}")}
        status = self._render_status(req, r)
        out["metadata"] = {"createdDate": iso(r["created"]), "createdBy": self.username,
                           "etag": etag_of(r["id"]),
                           "requestStatus": status if depth >= 1 else {
                               "id": status["id"], "type": status["type"],
                               "href": status["href"]}}
        out["properties"] = {"method": r["method"], "headers": r["headers"], "body": r["body"],
                             "url": r["url"]}
        return out

    @staticmethod
    def _properties(body: dict[str, Any]) -> dict[str, Any]:
        props = body.get("properties")
        if not isinstance(props, dict):
            raise ApiError(422, "[(root).properties] Attribute is required and must be an object")
        return props

    @classmethod
    def _patch_properties(cls, req: Request) -> dict[str, Any]:
        """A PATCH body is the properties object itself (a wrapped one is accepted too)."""
        body = json_body(req)
        if set(body) == {"properties"}:
            return cls._properties(body)
        return body

    @staticmethod
    def _require(props: dict[str, Any], *fields: str) -> None:
        for f in fields:
            if props.get(f) is None:
                raise ApiError(422, f"[(root).properties.{f}] Attribute is required")

    @staticmethod
    def _int(props: dict[str, Any], field: str, lo: int, hi: int) -> int:
        value = props.get(field)
        if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
            raise ApiError(422, f"[(root).properties.{field}] must be an integer, got {value!r}")
        if not lo <= int(value) <= hi:
            raise ApiError(422, f"[(root).properties.{field}] must be between {lo} and {hi}, "
                                f"got {value}")
        return int(value)

    @staticmethod
    def _str(props: dict[str, Any], field: str, allowed: Collection[str] | None = None) -> str:
        value = props.get(field)
        if not isinstance(value, str):
            raise ApiError(422, f"[(root).properties.{field}] must be a string, got {value!r}")
        if allowed is not None and value not in allowed:
            raise ApiError(422, f"[(root).properties.{field}] {value!r} is not one of "
                                f"{sorted(allowed)}")
        return value

    @staticmethod
    def _bool(props: dict[str, Any], field: str) -> bool:
        value = props.get(field)
        if not isinstance(value, bool):
            raise ApiError(422, f"[(root).properties.{field}] must be a boolean, got {value!r}")
        return value

    def _maintenance(self, props: dict[str, Any], default_day: str = "Sunday") -> dict[str, str]:
        mw = props.get("maintenanceWindow")
        if mw is None:
            return {"dayOfTheWeek": default_day, "time": "02:00:00Z"}
        if not isinstance(mw, dict):
            raise ApiError(422, "[(root).properties.maintenanceWindow] must be an object")
        day, tm = mw.get("dayOfTheWeek"), mw.get("time")
        if day not in DAYS:
            raise ApiError(422, f"[(root).properties.maintenanceWindow.dayOfTheWeek] {day!r} "
                                f"is not one of {sorted(DAYS)}")
        if not isinstance(tm, str) or not _TIME_RE.match(tm):
            raise ApiError(422, f"[(root).properties.maintenanceWindow.time] {tm!r} must look "
                                "like HH:mm:ss or HH:mm:ssZ")
        return {"dayOfTheWeek": day, "time": tm.replace('"', "")}

    def _k8s_version(self, props: dict[str, Any], default: str) -> str:
        version = props.get("k8sVersion") or default
        if version not in K8S_VERSIONS:
            raise ApiError(422, f"[(root).properties.k8sVersion] {version!r} is not a supported "
                                f"Kubernetes version; GET /k8s/versions lists {K8S_VERSIONS}")
        return str(version)

    def _label_routes(self, base: str, rtype: str) -> list[_Route]:
        """``<resource>/labels[/{key}]`` for a labelled resource type (LabelsApi)."""
        def owner(**ids: str) -> dict[str, Any]:
            if rtype == "datacenter":
                return self._dc(ids["dc"])
            if rtype == "volume":
                return self._volume(ids["dc"], ids["vid"])
            return self._snapshot(ids["sid"])

        def list_(req: Request, **ids: str) -> Response:
            return self._list_labels(req, owner(**ids))

        def create(req: Request, **ids: str) -> Response:
            return self._create_label(req, owner(**ids))

        def one(req: Request, key: str, **ids: str) -> Response:
            obj = owner(**ids)
            return json_response(200, self._render_label(req, obj, self._label_key(obj, key)))

        def put(req: Request, key: str, **ids: str) -> Response:
            return self._put_label(req, owner(**ids), key)

        def delete(req: Request, key: str, **ids: str) -> Response:
            obj = owner(**ids)
            del obj["extra"]["labels"][self._label_key(obj, key)]
            return self._accept(req, [obj])

        return [_Route(base + "/labels", {"GET": list_, "POST": create}),
                _Route(base + r"/labels/(?P<key>[^/]+)",
                       {"GET": one, "PUT": put, "DELETE": delete})]

    @staticmethod
    def _label_key(obj: dict[str, Any], key: str) -> str:
        if key not in obj["extra"].get("labels", {}):
            raise ApiError(404, f"Label {key!r} does not exist on {obj['type']} {obj['id']}")
        return key

    def _render_label(self, req: Request, obj: dict[str, Any], key: str,
                      global_view: bool = False) -> dict[str, Any]:
        value = obj["extra"]["labels"][key]
        meta = {"etag": etag_of([obj["id"], key, value]), "createdDate": iso(obj["created"]),
                "createdBy": self.username, "createdByUserId": _USER_ID,
                "lastModifiedDate": iso(obj["modified"]), "lastModifiedBy": self.username,
                "lastModifiedByUserId": _USER_ID}
        if not global_view:
            return {"id": key, "type": "label", "href": self._href(req, f"{obj['path']}/labels/"
                                                                        f"{key}"),
                    "metadata": meta, "properties": {"key": key, "value": value}}
        urn = f"urn:label:{obj['type']}:{obj['id']}:{key}"
        return {"id": urn, "type": "label", "href": self._href(req, f"/labels/{urn}"),
                "metadata": meta, "properties": {
                    "key": key, "value": value, "resourceId": obj["id"],
                    "resourceType": obj["type"], "resourceHref": self._href(req, obj["path"])}}

    def _label_props(self, req: Request) -> tuple[str, str]:
        p = self._properties(json_body(req))
        self._require(p, "key", "value")
        key, value = self._str(p, "key"), self._str(p, "value")
        if not key:
            raise ApiError(422, "[(root).properties.key] must not be empty")
        return key, value

    def _list_labels(self, req: Request, obj: dict[str, Any]) -> Response:
        keys = list(obj["extra"].get("labels", {}))
        query = ListQuery.from_request(req)
        keys = query.cut(query.select(keys, lambda k: self._render_label(req, obj, k)))
        depth = self._depth(req)
        return json_response(200, {
            "id": f"{obj['id']}/labels", "type": "collection",
            "href": self._href(req, f"{obj['path']}/labels"),
            "items": [self._render_label(req, obj, k) if depth > 0 else
                      {"id": k, "type": "label",
                       "href": self._href(req, f"{obj['path']}/labels/{k}")} for k in keys]})

    def _create_label(self, req: Request, obj: dict[str, Any]) -> Response:
        key, value = self._label_props(req)
        labels = obj["extra"].setdefault("labels", {})
        if key in labels:
            raise ApiError(422, f"[(root).properties.key] label {key!r} already exists on "
                                f"{obj['type']} {obj['id']}; PUT it to change its value")
        labels[key] = value
        return self._accept(req, [obj], self._render_label(req, obj, key))

    def _put_label(self, req: Request, obj: dict[str, Any], key: str) -> Response:
        body_key, value = self._label_props(req)
        if body_key != key:
            raise ApiError(422, f"[(root).properties.key] {body_key!r} does not match the key "
                                f"{key!r} in the path")
        obj["extra"].setdefault("labels", {})[key] = value
        return self._accept(req, [obj], self._render_label(req, obj, key))

    def _labelled(self) -> list[tuple[dict[str, Any], str]]:
        return [(o, k) for o in self._objs.values() for k in o["extra"].get("labels", {})]

    def _list_all_labels(self, req: Request) -> Response:
        query = ListQuery.from_request(req)
        pairs = query.cut(query.select(
            self._labelled(), lambda ok: self._render_label(req, ok[0], ok[1], True)))
        depth = self._depth(req)
        items = [self._render_label(req, o, k, True) for o, k in pairs]
        if depth <= 0:
            items = [{"id": i["id"], "type": "label", "href": i["href"]} for i in items]
        return json_response(200, {"id": "labels", "type": "collection",
                                   "href": self._href(req, "/labels"), "items": items})

    def _get_label_by_urn(self, req: Request, urn: str) -> Response:
        for obj, key in self._labelled():
            if f"urn:label:{obj['type']}:{obj['id']}:{key}" == urn:
                return json_response(200, self._render_label(req, obj, key, True))
        raise ApiError(404, f"Label {urn!r} does not exist; a label URN is "
                            "urn:label:<resource_type>:<resource_uuid>:<key>")

    def _contracts(self, req: Request) -> Response:
        """The account's one contract with its limits, and what the state provisions."""
        pools = self._all("nodepool")
        volumes = self._all("volume")
        ssd = sum(v["props"]["size"] for v in volumes if v["props"]["type"] != "HDD")
        limits = {
            "coresPerServer": 62, "coresPerContract": 400,
            "coresProvisioned": sum(p["props"]["coresCount"] * p["props"]["nodeCount"]
                                    for p in pools),
            "ramPerServer": 230400, "ramPerContract": 1638400,
            "ramProvisioned": sum(p["props"]["ramSize"] * p["props"]["nodeCount"]
                                  for p in pools),
            "hddLimitPerVolume": 4194304, "hddLimitPerContract": 10485760,
            "hddVolumeProvisioned": int(sum(v["props"]["size"] for v in volumes
                                            if v["props"]["type"] == "HDD")),
            "ssdLimitPerVolume": 4194304, "ssdLimitPerContract": 10485760,
            "ssdVolumeProvisioned": int(ssd + sum(p["props"]["storageSize"]
                                                  * p["props"]["nodeCount"] for p in pools)),
            "dasVolumeProvisioned": 0, "reservableIps": RESERVABLE_IPS,
            "reservedIpsOnContract": self._reserved_ips(),
            "reservedIpsInUse": len(self._ips_in_use()), "k8sClusterLimitTotal": 20,
            "k8sClustersProvisioned": len(self._all("k8s")), "nlbLimitTotal": NLB_LIMIT,
            "nlbProvisioned": len(self._all("networkloadbalancer")),
            "natGatewayLimitTotal": NAT_LIMIT,
            "natGatewayProvisioned": len(self._all("natgateway")),
            "securityGroupsPerVdc": 100, "securityGroupsPerResource": 10,
            "rulesPerSecurityGroup": 100,
        }
        contract = {"type": "contract", "properties": {
            "contractNumber": CONTRACT_NUMBER, "owner": self.username, "status": "BILLABLE",
            "regDomain": "ionos.de", "resourceLimits": limits}}
        return json_response(200, {"id": "contracts", "type": "collection",
                                   "href": self._href(req, "/contracts"), "items": [contract]})

    def _api_info(self, req: Request) -> Response:
        return json_response(200, {"name": "CLOUD API", "href": self._href(req, ""),
                                   "version": "6.0"})

    def _location(self, req: Request, loc: str) -> dict[str, Any]:
        return {"id": loc, "type": "location", "href": self._href(req, f"/locations/{loc}"),
                "properties": {"name": LOCATIONS[loc], "features": ["SSD", "SSD_STORAGE_ZONING"],
                               "imageAliases": [], "cpuArchitecture": [{
                                   "cpuFamily": "INTEL_SKYLAKE", "maxCores": 62,
                                   "maxRam": 230400, "vendor": "GenuineIntel"}]}}

    def _list_locations(self, req: Request) -> Response:
        query = ListQuery.from_request(req)
        items = query.select([self._location(req, loc) for loc in LOCATIONS], lambda v: v)
        return json_response(200, {"id": "locations", "type": "collection",
                                   "href": self._href(req, "/locations"),
                                   "items": query.cut(items)})

    def _list_region(self, req: Request, region: str) -> Response:
        items = [self._location(req, loc) for loc in LOCATIONS if loc.startswith(region + "/")]
        if not items:
            raise ApiError(404, f"Region {region!r} does not exist")
        return json_response(200, {"id": region, "type": "collection",
                                   "href": self._href(req, f"/locations/{region}"),
                                   "items": items})

    def _get_location(self, req: Request, region: str, loc: str) -> Response:
        key = f"{region}/{loc}"
        if key not in LOCATIONS:
            raise ApiError(404, f"Location {key!r} does not exist")
        return json_response(200, self._location(req, key))

    def _dc_props(self, p: dict[str, Any]) -> dict[str, Any]:
        self._require(p, "location")
        location = self._str(p, "location", list(LOCATIONS))
        return {"name": p.get("name") or "", "description": p.get("description") or "",
                "location": location, "version": 1,
                "features": ["SSD", "cpu-hotplug", "mem-hotplug", "k8s"],
                "secAuthProtection": bool(p.get("secAuthProtection", False)),
                "cpuArchitecture": [{"cpuFamily": "INTEL_SKYLAKE", "maxCores": 62,
                                     "maxRam": 230400, "vendor": "GenuineIntel"}],
                "ipv6CidrBlock": None}

    def _list_dcs(self, req: Request) -> Response:
        return self._list(req, "", "datacenters")

    def _create_dc(self, req: Request) -> Response:
        props = self._dc_props(self._properties(json_body(req)))
        obj = self._new_obj("datacenter", "", "datacenters", str(uuid.uuid4()), props, "BUSY")
        return self._accept_write(req, obj, "BUSY", "AVAILABLE")

    def _get_dc(self, req: Request, dc: str) -> Response:
        return self._one(req, self._dc(dc))

    def _update_dc(self, req: Request, dc: str, partial: bool) -> Response:
        obj = self._dc(dc)
        self._check_if_match(req, obj)
        p = self._patch_properties(req) if partial else self._properties(json_body(req))
        if "location" in p and p["location"] != obj["props"]["location"]:
            raise ApiError(422, "[(root).properties.location] the location of a datacenter "
                                "cannot be changed")
        merged = {**obj["props"], **p} if partial else {**p, "location": obj["props"]["location"]}
        props = self._dc_props(merged)
        props["version"] = int(obj["props"].get("version", 1)) + 1
        obj["props"] = props
        return self._accept_write(req, obj, "BUSY", "AVAILABLE")

    def _put_dc(self, req: Request, dc: str) -> Response:
        return self._update_dc(req, dc, partial=False)

    def _patch_dc(self, req: Request, dc: str) -> Response:
        return self._update_dc(req, dc, partial=True)

    def _delete_dc(self, req: Request, dc: str) -> Response:
        return self._accept_delete(req, self._dc(dc), "BUSY")

    def _list_servers(self, req: Request, dc: str) -> Response:
        return self._list(req, self._dc(dc)["path"], "servers")

    def _lan_props(self, p: dict[str, Any]) -> dict[str, Any]:
        public = p.get("public", False)
        if not isinstance(public, bool):
            raise ApiError(422, f"[(root).properties.public] must be a boolean, got {public!r}")
        return {"name": p.get("name") or "", "public": public, "ipFailover": p.get("ipFailover")
                or [], "pcc": p.get("pcc"), "ipv6CidrBlock": p.get("ipv6CidrBlock")}

    def _list_lans(self, req: Request, dc: str) -> Response:
        return self._list(req, self._dc(dc)["path"], "lans")

    def _create_lan(self, req: Request, dc: str) -> Response:
        parent = self._dc(dc)
        props = self._lan_props(self._properties(json_body(req)))
        used = [int(o["id"]) for o in self._children(parent["path"], "lans")]
        used += parent["extra"].get("lan_ids_used", [])
        lan_id = str(max(used, default=0) + 1)
        parent["extra"]["lan_ids_used"] = [*parent["extra"].get("lan_ids_used", []), int(lan_id)]
        obj = self._new_obj("lan", parent["path"], "lans", lan_id, props, "BUSY")
        return self._accept_write(req, obj, "BUSY", "AVAILABLE")

    def _lan(self, dc: str, lan: str) -> dict[str, Any]:
        return self._get(f"{self._dc(dc)['path']}/lans/{lan}", "LAN")

    def _get_lan(self, req: Request, dc: str, lan: str) -> Response:
        return self._one(req, self._lan(dc, lan))

    def _update_lan(self, req: Request, dc: str, lan: str, partial: bool) -> Response:
        obj = self._lan(dc, lan)
        self._check_if_match(req, obj)
        p = self._patch_properties(req) if partial else self._properties(json_body(req))
        obj["props"] = self._lan_props({**obj["props"], **p} if partial else p)
        return self._accept_write(req, obj, "BUSY", "AVAILABLE")

    def _put_lan(self, req: Request, dc: str, lan: str) -> Response:
        return self._update_lan(req, dc, lan, partial=False)

    def _patch_lan(self, req: Request, dc: str, lan: str) -> Response:
        return self._update_lan(req, dc, lan, partial=True)

    def _delete_lan(self, req: Request, dc: str, lan: str) -> Response:
        obj = self._lan(dc, lan)
        for pool in self._all("nodepool"):
            if pool["props"]["datacenterId"] == dc and any(
                    str(ln.get("id")) == lan for ln in pool["props"].get("lans") or []):
                raise ApiError(422, f"LAN {lan} is still used by node pool {pool['id']}; "
                                    "remove it from the node pool first")
        return self._accept_delete(req, obj, "BUSY")

    def _all(self, rtype: str) -> list[dict[str, Any]]:
        return [o for o in self._objs.values() if o["type"] == rtype]

    def _volume_props(self, p: dict[str, Any]) -> dict[str, Any]:
        self._require(p, "type")
        vtype = self._str(p, "type", VOLUME_TYPES)
        if p.get("size") is None and not (p.get("image") or p.get("imageAlias")):
            raise ApiError(422, "[(root).properties.size] Attribute is required when no image "
                                "is given")
        size = self._int(p, "size", 1, 65536) if p.get("size") is not None else 10
        licence = p.get("licenceType") or "UNKNOWN"
        if licence not in LICENCE_TYPES:
            raise ApiError(422, f"[(root).properties.licenceType] {licence!r} is not one of "
                                f"{sorted(LICENCE_TYPES)}")
        zone = p.get("availabilityZone") or "AUTO"
        if zone not in ("AUTO", "ZONE_1", "ZONE_2", "ZONE_3"):
            raise ApiError(422, f"[(root).properties.availabilityZone] {zone!r} is not one of "
                                "AUTO, ZONE_1, ZONE_2, ZONE_3")
        return {"name": p.get("name") or "", "type": vtype, "size": float(size),
                "availabilityZone": zone, "image": p.get("image"),
                "imageAlias": p.get("imageAlias"), "imagePassword": None,
                "sshKeys": None, "bus": p.get("bus") or "VIRTIO", "licenceType": licence,
                "cpuHotPlug": False, "ramHotPlug": False, "nicHotPlug": False,
                "nicHotUnplug": False, "discVirtioHotPlug": False, "discVirtioHotUnplug": False,
                "deviceNumber": None, "pciSlot": None, "backupunitId": p.get("backupunitId"),
                "userData": p.get("userData"), "bootServer": None}

    def _list_volumes(self, req: Request, dc: str) -> Response:
        return self._list(req, self._dc(dc)["path"], "volumes")

    def _create_volume(self, req: Request, dc: str) -> Response:
        parent = self._dc(dc)
        props = self._volume_props(self._properties(json_body(req)))
        obj = self._new_obj("volume", parent["path"], "volumes", str(uuid.uuid4()), props,
                            "BUSY")
        return self._accept_write(req, obj, "BUSY", "AVAILABLE")

    def _volume(self, dc: str, vid: str) -> dict[str, Any]:
        return self._get(f"{self._dc(dc)['path']}/volumes/{vid}", "volume")

    def _get_volume(self, req: Request, dc: str, vid: str) -> Response:
        return self._one(req, self._volume(dc, vid))

    def _update_volume(self, req: Request, dc: str, vid: str, partial: bool) -> Response:
        obj = self._volume(dc, vid)
        self._check_if_match(req, obj)
        p = self._patch_properties(req) if partial else self._properties(json_body(req))
        if "size" in p and self._int(p, "size", 1, 65536) < obj["props"]["size"]:
            raise ApiError(422, "[(root).properties.size] a volume cannot shrink "
                                f"(is {obj['props']['size']:g} GB, asked {p['size']} GB)")
        merged = {**obj["props"], **p} if partial else {"type": obj["props"]["type"], **p}
        obj["props"] = self._volume_props(merged)
        return self._accept_write(req, obj, "BUSY", "AVAILABLE")

    def _put_volume(self, req: Request, dc: str, vid: str) -> Response:
        return self._update_volume(req, dc, vid, partial=False)

    def _patch_volume(self, req: Request, dc: str, vid: str) -> Response:
        return self._update_volume(req, dc, vid, partial=True)

    def _delete_volume(self, req: Request, dc: str, vid: str) -> Response:
        return self._accept_delete(req, self._volume(dc, vid), "BUSY")

    @staticmethod
    def _form_or_json(req: Request) -> dict[str, Any]:
        """create-snapshot and restore-snapshot take JSON (6.1.13) or form fields (older)."""
        if req.content_type == "application/x-www-form-urlencoded":
            form = parse_qs(req.body.decode(errors="replace"), keep_blank_values=True)
            fields: dict[str, Any] = {k: v[-1] for k, v in form.items()}
            if "secAuthProtection" in fields:
                fields["secAuthProtection"] = fields["secAuthProtection"].lower() == "true"
            return fields
        body = json_body(req, allow_empty=True)
        props = body.get("properties", {})
        if not isinstance(props, dict):
            raise ApiError(422, "[(root).properties] must be an object")
        return props

    def _create_snapshot(self, req: Request, dc: str, vid: str) -> Response:
        vol = self._volume(dc, vid)
        p = self._form_or_json(req)
        licence = p.get("licenceType") or vol["props"]["licenceType"]
        if licence not in LICENCE_TYPES:
            raise ApiError(422, f"[(root).properties.licenceType] {licence!r} is not one of "
                                f"{sorted(LICENCE_TYPES)}")
        sec = p.get("secAuthProtection", False)
        if not isinstance(sec, bool):
            raise ApiError(422, "[(root).properties.secAuthProtection] must be a boolean")
        location = self._dc(dc)["props"]["location"]
        props = {"name": p.get("name") or f"{vol['props']['name']}-snapshot",
                 "description": p.get("description") or "", "location": location,
                 "size": vol["props"]["size"], "secAuthProtection": sec,
                 "licenceType": licence, "applicationType": p.get("applicationType") or "UNKNOWN",
                 "cpuHotPlug": False, "cpuHotUnplug": False, "ramHotPlug": False,
                 "ramHotUnplug": False, "nicHotPlug": False, "nicHotUnplug": False,
                 "discVirtioHotPlug": False, "discVirtioHotUnplug": False,
                 "discScsiHotPlug": False, "discScsiHotUnplug": False, "exposeSerial": False,
                 "requireLegacyBios": True}
        snap = self._new_obj("snapshot", "", "snapshots", str(uuid.uuid4()), props, "BUSY")
        snap["extra"]["volumeId"] = vol["id"]
        snap["extra"]["datacenterId"] = dc
        self._transition(vol, "BUSY", "AVAILABLE")
        return self._accept_write(req, snap, "BUSY", "AVAILABLE")

    def _restore_snapshot(self, req: Request, dc: str, vid: str) -> Response:
        vol = self._volume(dc, vid)
        p = self._form_or_json(req)
        sid = p.get("snapshotId")
        if not sid:
            raise ApiError(422, "[(root).properties.snapshotId] Attribute is required")
        snap = self._get(f"/snapshots/{sid}", "snapshot")
        if snap["state"] != "AVAILABLE":
            raise ApiError(422, f"snapshot {sid} is {snap['state']}, not AVAILABLE")
        vol["extra"]["restoredFrom"] = sid
        self._transition(vol, "BUSY", "AVAILABLE")
        return self._accept(req, [vol])

    def _list_snapshots(self, req: Request) -> Response:
        return self._list(req, "", "snapshots")

    def _snapshot(self, sid: str) -> dict[str, Any]:
        return self._get(f"/snapshots/{sid}", "snapshot")

    def _get_snapshot(self, req: Request, sid: str) -> Response:
        return self._one(req, self._snapshot(sid))

    def _update_snapshot(self, req: Request, sid: str, partial: bool) -> Response:
        obj = self._snapshot(sid)
        self._check_if_match(req, obj)
        p = self._patch_properties(req) if partial else self._properties(json_body(req))
        for ro in ("size", "location"):
            if ro in p and p[ro] != obj["props"][ro]:
                raise ApiError(422, f"[(root).properties.{ro}] is read-only")
        if "licenceType" in p and p["licenceType"] not in LICENCE_TYPES:
            raise ApiError(422, f"[(root).properties.licenceType] {p['licenceType']!r} is not "
                                f"one of {sorted(LICENCE_TYPES)}")
        obj["props"] = {**obj["props"], **{k: v for k, v in p.items() if v is not None}}
        return self._accept_write(req, obj, "BUSY", "AVAILABLE")

    def _put_snapshot(self, req: Request, sid: str) -> Response:
        return self._update_snapshot(req, sid, partial=False)

    def _patch_snapshot(self, req: Request, sid: str) -> Response:
        return self._update_snapshot(req, sid, partial=True)

    def _delete_snapshot(self, req: Request, sid: str) -> Response:
        return self._accept_delete(req, self._snapshot(sid), "BUSY")

    def _k8s_versions(self, req: Request) -> Response:
        return json_response(200, list(K8S_VERSIONS))

    def _k8s_default_version(self, req: Request) -> Response:
        return json_response(200, K8S_DEFAULT_VERSION)

    def _cluster_props(self, p: dict[str, Any], current: dict[str, Any] | None) -> dict[str, Any]:
        self._require(p, "name")
        name = self._str(p, "name")
        if not _K8S_NAME_RE.match(name):
            raise ApiError(422, f"[(root).properties.name] {name!r} {_K8S_NAME_RULE}")
        default_version = current["k8sVersion"] if current else K8S_DEFAULT_VERSION
        version = self._k8s_version(p, default_version)
        if current and version != current["k8sVersion"]:
            allowed = cluster_upgrades(current["k8sVersion"])
            if version not in allowed:
                raise ApiError(422, f"[(root).properties.k8sVersion] a cluster on "
                                    f"{current['k8sVersion']} can only be upgraded to one of its "
                                    f"availableUpgradeVersions {allowed} (one minor version at "
                                    f"a time, never down), not to {version}")
        allow = p.get("apiSubnetAllowList") or []
        if not isinstance(allow, list) or not all(isinstance(a, str) for a in allow):
            raise ApiError(422, "[(root).properties.apiSubnetAllowList] must be a list of CIDRs")
        buckets = p.get("s3Buckets") or []
        if not isinstance(buckets, list) or not all(
                isinstance(b, dict) and isinstance(b.get("name"), str) for b in buckets):
            raise ApiError(422, "[(root).properties.s3Buckets] must be a list of {name}")
        base = dict(current) if current else {
            "public": p.get("public", True), "location": p.get("location"),
            "natGatewayIp": p.get("natGatewayIp"), "nodeSubnet": p.get("nodeSubnet")}
        if not isinstance(base.get("public"), bool):
            raise ApiError(422, "[(root).properties.public] must be a boolean")
        if base.get("location") is not None and base["location"] not in list(LOCATIONS):
            raise ApiError(422, f"[(root).properties.location] {base['location']!r} is not a "
                                "known location")
        base.update({"name": name, "k8sVersion": version,
                     "maintenanceWindow": self._maintenance(p), "apiSubnetAllowList": allow,
                     "s3Buckets": [{"name": b["name"]} for b in buckets]})
        return base

    def _list_k8s(self, req: Request) -> Response:
        return self._list(req, "", "k8s")

    def _create_k8s(self, req: Request) -> Response:
        props = self._cluster_props(self._properties(json_body(req)), None)
        if any(o["props"]["name"] == props["name"] for o in self._all("k8s")):
            raise ApiError(422, f"[(root).properties.name] a cluster named {props['name']!r} "
                                "already exists")
        obj = self._new_obj("k8s", "", "k8s", str(uuid.uuid4()), props, "DEPLOYING")
        return self._accept_write(req, obj, "DEPLOYING", "ACTIVE")

    def _get_k8s(self, req: Request, cid: str) -> Response:
        return self._one(req, self._cluster(cid))

    def _put_k8s(self, req: Request, cid: str) -> Response:
        obj = self._cluster(cid)
        self._check_if_match(req, obj)
        if obj["state"] not in ("ACTIVE", "FAILED", "FAILED_UPDATING"):
            raise ApiError(422, f"k8s cluster {cid} is {obj['state']}; it can only be updated "
                                "when ACTIVE")
        obj["props"] = self._cluster_props(self._properties(json_body(req)), obj["props"])
        return self._accept_write(req, obj, "UPDATING", "ACTIVE", "FAILED_UPDATING")

    def _delete_k8s(self, req: Request, cid: str) -> Response:
        return self._accept_delete(req, self._cluster(cid), "DESTROYING")

    def _kubeconfig(self, req: Request, cid: str) -> Response:
        cluster = self._cluster(cid)
        name = cluster["props"]["name"]
        server = self.world.kubernetes_url or "https://127.0.0.1:6443"
        cluster_entry: dict[str, Any] = kubeconfig_cluster(server, self.world.kubernetes_ca_pem)
        if "certificate-authority-data" not in cluster_entry and server.startswith("https://"):
            cluster_entry["insecure-skip-tls-verify"] = True
        config = {
            "apiVersion": "v1", "kind": "Config",
            "clusters": [{"name": f"cluster-{name}", "cluster": cluster_entry}],
            "users": [{"name": f"cluster-admin@{name}",
                       "user": {"token": self.world.kubernetes_token}}],
            "contexts": [{"name": f"cluster-admin@{name}",
                          "context": {"cluster": f"cluster-{name}",
                                      "user": f"cluster-admin@{name}"}}],
            "current-context": f"cluster-admin@{name}",
            "preferences": {},
        }
        if _wants_json(req.headers.get("Accept") or ""):
            return json_response(200, config)
        return Response(200, yaml.safe_dump(config, sort_keys=False),
                        content_type="application/yaml")

    def _pool_props(self, p: dict[str, Any], cluster: dict[str, Any],
                    current: dict[str, Any] | None) -> dict[str, Any]:
        props = self._new_pool_props(p) if current is None else self._changed_pool_props(
            p, current)
        props["nodeCount"] = self._int(p, "nodeCount", 1, 100)
        props["k8sVersion"] = self._pool_version(p, cluster["props"]["k8sVersion"], current)
        props["maintenanceWindow"] = self._maintenance(p, "Monday") if (
            current is None or p.get("maintenanceWindow") is not None) else \
            current["maintenanceWindow"]
        auto = p.get("autoScaling")
        if auto is not None:
            props["autoScaling"] = self._pool_autoscaling(auto, props["nodeCount"])
        elif current is None:
            props["autoScaling"] = {"minNodeCount": None, "maxNodeCount": None}
        lans = p.get("lans")
        if lans is not None or current is None:
            props["lans"] = self._pool_lans(lans or [], props["datacenterId"])
        for key in ("labels", "annotations"):
            value = p.get(key)
            if value is not None or current is None:
                props[key] = _string_map(value or {}, key)
        ips = p.get("publicIps")
        if ips is not None or current is None:
            props["publicIps"] = list(ips or [])
        return props

    def _new_pool_props(self, p: dict[str, Any]) -> dict[str, Any]:
        """A POSTed node pool's fixed properties, each checked and defaulted."""
        self._require(p, "name", "datacenterId", "nodeCount", "coresCount", "ramSize",
                      "availabilityZone", "storageType", "storageSize")
        name = self._str(p, "name")
        if not _K8S_NAME_RE.match(name):
            raise ApiError(422, f"[(root).properties.name] {name!r} {_K8S_NAME_RULE}")
        dc_id = self._str(p, "datacenterId")
        self._get(f"/datacenters/{dc_id}", "datacenter")
        ram = self._int(p, "ramSize", 2048, 1024 * 1024)
        if ram % 1024:
            raise ApiError(422, f"[(root).properties.ramSize] {ram} MB must be a multiple "
                                "of 1024")
        return {
            "name": name, "datacenterId": dc_id,
            "cpuFamily": p.get("cpuFamily") or "INTEL_SKYLAKE",
            "serverType": p.get("serverType") or "DedicatedCore",
            "coresCount": self._int(p, "coresCount", 1, 62), "ramSize": ram,
            "availabilityZone": self._str(p, "availabilityZone", ("AUTO", "ZONE_1", "ZONE_2")),
            "storageType": self._str(p, "storageType", ("HDD", "SSD")),
            "storageSize": self._int(p, "storageSize", 10, 4096),
        }

    def _changed_pool_props(self, p: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
        """A PUT's starting point: the pool as it is, its fixed properties unchanged."""
        self._require(p, "nodeCount")
        for ro in ("datacenterId", "cpuFamily", "coresCount", "ramSize", "availabilityZone",
                   "storageType", "storageSize"):
            if ro in p and p[ro] is not None and p[ro] != current.get(ro):
                raise ApiError(422, f"[(root).properties.{ro}] cannot be changed on an "
                                    "existing node pool; create a new node pool")
        if p.get("name") not in (None, current["name"]):
            raise ApiError(422, "[(root).properties.name] a node pool cannot be renamed")
        return dict(current)

    def _pool_version(self, p: dict[str, Any], cluster_version: str,
                      current: dict[str, Any] | None) -> str:
        """The pool's Kubernetes version: viable for the cluster, upgraded one minor at a time."""
        version = self._k8s_version(p, cluster_version if current is None
                                    else current["k8sVersion"])
        viable = node_pool_versions(cluster_version)
        if current is not None and version != current["k8sVersion"] and version not in (
                allowed := pool_upgrades(current["k8sVersion"], cluster_version)):
            raise ApiError(422, f"[(root).properties.k8sVersion] a node pool on "
                                f"{current['k8sVersion']} can only be upgraded to one of its "
                                f"availableUpgradeVersions {allowed} (one minor version at a "
                                f"time, never past the cluster's {cluster_version}), not to "
                                f"{version}")
        if version not in viable and (current is None or version != current["k8sVersion"]):
            raise ApiError(422, f"[(root).properties.k8sVersion] {version} is not one of the "
                                f"cluster's viableNodePoolVersions {viable} (a node pool never "
                                f"runs a newer version than its cluster's {cluster_version})")
        return version

    @staticmethod
    def _pool_autoscaling(auto: Any, node_count: int) -> dict[str, Any]:
        if not isinstance(auto, dict):
            raise ApiError(422, "[(root).properties.autoScaling] must be an object")
        lo, hi = auto.get("minNodeCount"), auto.get("maxNodeCount")
        if lo is not None or hi is not None:
            if not isinstance(lo, int) or not isinstance(hi, int) or not 1 <= lo <= hi:
                raise ApiError(422, "[(root).properties.autoScaling] needs integers "
                                    "1 <= minNodeCount <= maxNodeCount")
            if not lo <= node_count <= hi:
                raise ApiError(422, f"[(root).properties.nodeCount] {node_count} "
                                    f"is outside autoScaling [{lo}, {hi}]")
        return {"minNodeCount": lo, "maxNodeCount": hi}

    def _pool_lans(self, lans: Any, dc_id: str) -> list[dict[str, Any]]:
        if not isinstance(lans, list):
            raise ApiError(422, "[(root).properties.lans] must be a list")
        out = []
        for i, lan in enumerate(lans):
            if not isinstance(lan, dict) or isinstance(lan.get("id"), bool) or not isinstance(
                    lan.get("id"), int):
                raise ApiError(422, f"[(root).properties.lans[{i}].id] must be an integer LAN id")
            if f"/datacenters/{dc_id}/lans/{lan['id']}" not in self._objs:
                raise ApiError(422, f"[(root).properties.lans[{i}].id] LAN {lan['id']} does not "
                                    f"exist in datacenter {dc_id}")
            out.append({"id": lan["id"], "datacenterId": dc_id,
                        "dhcp": bool(lan.get("dhcp", True)), "routes": lan.get("routes") or []})
        return out

    def _list_nodepools(self, req: Request, cid: str) -> Response:
        return self._list(req, self._cluster(cid)["path"], "nodepools")

    def _create_nodepool(self, req: Request, cid: str) -> Response:
        cluster = self._cluster(cid)
        if cluster["state"] != "ACTIVE":
            raise ApiError(422, f"k8s cluster {cid} is {cluster['state']}; node pools can only "
                                "be created when the cluster is ACTIVE")
        props = self._pool_props(self._properties(json_body(req)), cluster, None)
        if any(o["props"]["name"] == props["name"]
               for o in self._children(cluster["path"], "nodepools")):
            raise ApiError(422, f"[(root).properties.name] node pool {props['name']!r} already "
                                f"exists in cluster {cid}")
        obj = self._new_obj("nodepool", cluster["path"], "nodepools", str(uuid.uuid4()), props,
                            "DEPLOYING")
        resp = self._accept_write(req, obj, "DEPLOYING", "ACTIVE", "FAILED")
        self._sync_nodes(obj)
        return resp

    def _pool(self, cid: str, npid: str) -> dict[str, Any]:
        return self._get(f"{self._cluster(cid)['path']}/nodepools/{npid}", "node pool")

    def _get_nodepool(self, req: Request, cid: str, npid: str) -> Response:
        return self._one(req, self._pool(cid, npid))

    def _put_nodepool(self, req: Request, cid: str, npid: str) -> Response:
        pool = self._pool(cid, npid)
        self._check_if_match(req, pool)
        if (pool["extra"].get("rollout") or {}).get("upgrade"):
            # "A node pool upgrade locks the affected node pool and you cannot make any changes
            # until the upgrade is complete" (docs.ionos.com how-tos/upgrade-node-pools).
            raise ApiError(422, f"node pool {npid} is being upgraded (its nodes are replaced one "
                                "by one); it can only be changed once it is ACTIVE again")
        old_version = pool["props"]["k8sVersion"]
        pool["props"] = self._pool_props(self._properties(json_body(req)),
                                         self._cluster(cid), pool["props"])
        resp = self._accept_write(req, pool, "UPDATING", "ACTIVE", "FAILED_UPDATING")
        self._sync_nodes(pool)
        if old_version != pool["props"]["k8sVersion"]:
            # An upgrade replaces every node, oldest first; the pool stays UPDATING meanwhile.
            self._start_rollout(pool, [n["id"] for n in sorted(
                self._members(pool), key=lambda n: n["created"])], upgrade=True)
        return resp

    def _delete_nodepool(self, req: Request, cid: str, npid: str) -> Response:
        return self._accept_delete(req, self._pool(cid, npid), "DESTROYING")

    def _next_ips(self) -> tuple[str, str]:
        self._ip_counter += 1
        n = self._ip_counter
        return f"10.7.{(n // 250) % 250}.{n % 250 + 2}", f"185.48.{(n // 250) % 250}.{n % 250 + 2}"

    def _members(self, pool: dict[str, Any]) -> list[dict[str, Any]]:
        """The nodes that count towards nodeCount: not the one being replaced (its
        replacement counts) and not one being deleted."""
        old = (pool["extra"].get("rollout") or {}).get("old")
        return [n for n in self._children(pool["path"], "nodes")
                if n["id"] != old and n.get("delete_at") is None]

    def _sync_nodes(self, pool: dict[str, Any]) -> None:
        """Make the pool's nodes match nodeCount; new nodes go PROVISIONING → READY."""
        nodes = self._members(pool)
        want = int(pool["props"]["nodeCount"])
        for node in nodes[want:]:
            self._objs.pop(node["path"], None)
        for _ in range(len(nodes), want):
            self._provision_node(pool)
        self._mark_pool(pool)

    def _provision_node(self, pool: dict[str, Any]) -> dict[str, Any]:
        """A new node of the pool's template, PROVISIONING until READY (or FAILED with a pool
        that is going to fail: fail_next)."""
        final = "FAILED" if (pool.get("pending") or [0, ""])[1].startswith("FAILED") else "READY"
        nid = str(uuid.uuid4())
        private_ip, public_ip = self._next_ips()
        node = self._new_obj("node", pool["path"], "nodes", nid, {
            # Pool names may hold capitals and '_'; a node's name is a DNS name.
            "name": f"{pool['props']['name'].lower().replace('_', '-')}-{nid[:5]}",
            "publicIP": public_ip,
            "privateIP": private_ip, "k8sVersion": pool["props"]["k8sVersion"]},
            "PROVISIONING")
        self._transition(node, "PROVISIONING", final)
        return node

    def _start_rollout(self, pool: dict[str, Any], node_ids: list[str], upgrade: bool) -> None:
        """Replace ``node_ids`` one by one (docs.ionos.com managed-kubernetes
        how-tos/upgrade-node-pools, "Rebuilding a node"): provision a new node and wait until
        it registers, cordon the old one, drain it honouring PodDisruptionBudgets for up to
        ``DRAIN_LIMIT`` (then delete what is left), delete it. An upgrade holds the pool
        UPDATING until the last node is replaced; a single node's replace leaves it ACTIVE
        (``k8s_nodepools_nodes_replace_post``)."""
        ro = pool["extra"].setdefault("rollout", {"queue": [], "old": None, "new": None,
                                                  "since": None, "drained": False,
                                                  "retry_at": None, "upgrade": False})
        ro["queue"] += [i for i in node_ids if i not in ro["queue"] and i != ro["old"]]
        ro["upgrade"] = ro["upgrade"] or upgrade
        self._step_rollout(pool, now())

    def _step_rollout(self, pool: dict[str, Any], t: float) -> None:
        """Move a pool's node replacement on as far as its nodes' states allow."""
        ro = pool["extra"]["rollout"]
        nodes = {n["id"]: n for n in self._children(pool["path"], "nodes")}
        if ro["upgrade"] and pool["state"] == "ACTIVE":
            pool["state"] = "UPDATING"
        if ro["old"] is not None and ro["old"] not in nodes:
            ro.update(old=None, new=None, since=None, drained=False, retry_at=None)
        if ro["old"] is None:
            ro["queue"] = [i for i in ro["queue"] if i in nodes]
            if not ro["queue"]:
                del pool["extra"]["rollout"]
                if ro["upgrade"] and pool["state"] == "UPDATING" and not pool.get("pending"):
                    pool["state"], pool["modified"] = "ACTIVE", t
                return
            ro["old"] = ro["queue"].pop(0)
            ro["new"] = self._provision_node(pool)["id"]
            nodes[ro["old"]]["state"] = "REBUILDING"
            self._mark_pool(pool)
            return
        new = nodes.get(ro["new"])
        if new is None or new["state"] != "READY":
            return  # the old node is cordoned only once its replacement has registered
        old = nodes[ro["old"]]
        if ro["since"] is None:
            ro["since"] = t
            old["extra"]["cordoned"] = True
            self._mark_pool(pool)
            self._schedule(t + DRAIN_LIMIT)
        elif ro["drained"]:
            old["state"], old["pending"], old["delete_at"] = "TERMINATING", None, t + self.delay
            self._schedule(t + self.delay)
            ro.update(old=None, new=None, since=None, drained=False, retry_at=None)
            self._mark_pool(pool)
            self._step_rollout(pool, t)

    def _node_payload(self, pool: dict[str, Any]) -> list[dict[str, Any]]:
        """The pool's registered nodes: a node joins Kubernetes once READY, as a kubelet does."""
        p = pool["props"]
        return [{"name": n["props"]["name"], "id": n["id"], "poolName": p["name"],
                 "poolId": pool["id"], "clusterId": pool["parent"].rsplit("/", 1)[-1],
                 "k8sVersion": n["props"]["k8sVersion"], "privateIP": n["props"]["privateIP"],
                 "publicIP": n["props"]["publicIP"], "state": n["state"],
                 "ready": n["state"] in ("READY", "REBUILDING"),
                 "unschedulable": bool(n["extra"].get("cordoned")),
                 "labels": dict(p.get("labels") or {}),
                 "annotations": dict(p.get("annotations") or {}), "cores": p["coresCount"],
                 "ramMB": p["ramSize"], "storageGB": p["storageSize"],
                 "availabilityZone": p["availabilityZone"]}
                for n in self._children(pool["path"], "nodes")
                if n["state"] in ("READY", "REBUILDING")]

    def _list_nodes(self, req: Request, cid: str, npid: str) -> Response:
        return self._list(req, self._pool(cid, npid)["path"], "nodes")

    def _node(self, cid: str, npid: str, nid: str) -> dict[str, Any]:
        return self._get(f"{self._pool(cid, npid)['path']}/nodes/{nid}", "node")

    def _get_node(self, req: Request, cid: str, npid: str, nid: str) -> Response:
        return self._one(req, self._node(cid, npid, nid))

    def _delete_node(self, req: Request, cid: str, npid: str, nid: str) -> Response:
        pool = self._pool(cid, npid)
        node = self._node(cid, npid, nid)
        self._objs.pop(node["path"], None)
        self._sync_nodes(pool)  # the pool keeps nodeCount: a replacement node is provisioned
        return self._accept(req, [node])

    def _replace_node(self, req: Request, cid: str, npid: str, nid: str) -> Response:
        pool = self._pool(cid, npid)
        node = self._node(cid, npid, nid)
        self._start_rollout(pool, [node["id"]], upgrade=False)
        return self._accept(req, [node])

    def _list_requests(self, req: Request) -> Response:
        depth = self._depth(req)
        items = list(self._requests.values())
        status = req.query.get("filter.status")
        method = req.query.get("filter.method")
        url = req.query.get("filter.url")
        body = req.query.get("filter.body")
        after, before = req.query.get("filter.createdAfter"), req.query.get("filter.createdBefore")
        try:
            t_after = parse_iso(after) if after else None
            t_before = parse_iso(before) if before else None
        except ValueError:
            raise ApiError(422, "filter.createdAfter/createdBefore must be ISO 8601 "
                                "date-times") from None
        if status:
            items = [r for r in items if self._request_status(r)[0] == status.upper()]
        if method:
            items = [r for r in items if r["method"] == method.upper()]
        if url:
            items = [r for r in items if url in r["url"]]
        if body:
            items = [r for r in items if body in r["body"]]
        if t_after is not None:
            items = [r for r in items if r["created"] >= t_after]
        if t_before is not None:
            items = [r for r in items if r["created"] <= t_before]
        items.sort(key=lambda r: r["created"], reverse=True)
        query = ListQuery.from_request(req, own=_OWN_REQUEST_FILTERS)
        items = query.select(items, lambda r: self._render_request(req, r, 1))
        offset = query_int(req, "offset", 0, 0, 10**9)
        limit = query_int(req, "limit", 1000, 1, 10000)
        page = query.cut(items[offset:offset + limit])
        href = self._href(req, "/requests")
        return json_response(200, {
            "id": "requests", "type": "collection", "href": href,
            "items": [self._render_request(req, r, depth - 1) if depth > 0 else
                      {"id": r["id"], "type": "request",
                       "href": self._href(req, f"/requests/{r['id']}")} for r in page],
            "offset": offset, "limit": limit, "_links": page_links(href, offset, limit,
                                                                    len(items))})

    def _request(self, rid: str) -> dict[str, Any]:
        r = self._requests.get(rid)
        if r is None:
            raise ApiError(404, f"Request {rid} does not exist")
        return r

    def _get_request(self, req: Request, rid: str) -> Response:
        return json_response(200, self._render_request(req, self._request(rid),
                                                       self._depth(req, 1)))

    def _get_request_status(self, req: Request, rid: str) -> Response:
        return json_response(200, self._render_status(req, self._request(rid)))

    # IP blocks (IPBlocksApi): reserved public addresses of one location, for the whole contract.

    def _reserved_ips(self) -> int:
        return sum(int(b["props"]["size"]) for b in self._all("ipblock")
                   if b.get("delete_at") is None)

    def _ips_in_use(self) -> dict[str, dict[str, Any]]:
        """Each reserved address a load balancer listens on or a NAT gateway translates to ->
        that resource (an address serves one of them)."""
        return {ip: obj for rtype, field in IP_USERS.items() for obj in self._all(rtype)
                for ip in obj["props"].get(field) or []}

    def _ip_consumers(self, block: dict[str, Any]) -> list[dict[str, Any]]:
        used = self._ips_in_use()
        out = []
        for ip in block["props"]["ips"]:
            user = used.get(ip)
            if user is not None:
                dc = self._objs.get(user["parent"])
                out.append({"ip": ip, "datacenterId": dc["id"] if dc else None,
                            "datacenterName": dc["props"]["name"] if dc else None})
        return out

    def _next_public_ips(self, size: int) -> list[str]:
        taken = {ip for b in self._all("ipblock") for ip in b["props"]["ips"]}
        out: list[str] = []
        while len(out) < size:
            self._public_ip_counter += 1
            n = self._public_ip_counter
            ip = f"85.215.{(n // 250) % 250}.{n % 250 + 2}"
            if ip not in taken:
                out.append(ip)
        return out

    def _ipblock(self, ipb: str) -> dict[str, Any]:
        return self._get(f"/ipblocks/{ipb}", "IP block")

    def _list_ipblocks(self, req: Request) -> Response:
        return self._list(req, "", "ipblocks")

    def _create_ipblock(self, req: Request) -> Response:
        p = self._properties(json_body(req))
        self._require(p, "location", "size")
        location = self._str(p, "location", list(LOCATIONS))
        size = self._int(p, "size", 1, RESERVABLE_IPS)
        if self._reserved_ips() + size > RESERVABLE_IPS:
            raise ApiError(422, f"[(root).properties.size] reserving {size} more IP address(es) "
                                f"exceeds the contract's limit of {RESERVABLE_IPS} reservable "
                                f"IPs ({self._reserved_ips()} reserved; GET /contracts shows "
                                "resourceLimits)", code="301")
        name = p.get("name") or ""
        if not isinstance(name, str):
            raise ApiError(422, f"[(root).properties.name] must be a string, got {name!r}")
        props = {"name": name, "location": location, "size": size,
                 "ips": self._next_public_ips(size)}
        obj = self._new_obj("ipblock", "", "ipblocks", str(uuid.uuid4()), props, "BUSY")
        return self._accept_write(req, obj, "BUSY", "AVAILABLE")

    def _get_ipblock(self, req: Request, ipb: str) -> Response:
        return self._one(req, self._ipblock(ipb))

    def _update_ipblock(self, req: Request, ipb: str, partial: bool) -> Response:
        """Only the name of an IP block changes (IpBlockProperties: location and size are set
        when it is reserved)."""
        obj = self._ipblock(ipb)
        self._check_if_match(req, obj)
        p = self._patch_properties(req) if partial else self._properties(json_body(req))
        for fixed in ("location", "size"):
            if fixed in p and p[fixed] != obj["props"][fixed]:
                raise ApiError(422, f"[(root).properties.{fixed}] the {fixed} of an IP block "
                                    "cannot be changed; reserve a new block instead")
        if "ips" in p and p["ips"] != obj["props"]["ips"]:
            raise ApiError(422, "[(root).properties.ips] is read-only")
        name = p.get("name", obj["props"]["name"] if partial else "")
        if not isinstance(name, str):
            raise ApiError(422, f"[(root).properties.name] must be a string, got {name!r}")
        obj["props"] = {**obj["props"], "name": name}
        return self._accept_write(req, obj, "BUSY", "AVAILABLE")

    def _put_ipblock(self, req: Request, ipb: str) -> Response:
        return self._update_ipblock(req, ipb, partial=False)

    def _patch_ipblock(self, req: Request, ipb: str) -> Response:
        return self._update_ipblock(req, ipb, partial=True)

    def _delete_ipblock(self, req: Request, ipb: str) -> Response:
        obj = self._ipblock(ipb)
        used = self._ip_consumers(obj)
        if used:
            user = self._ips_in_use()[used[0]["ip"]]
            raise ApiError(422, f"IP block {ipb} cannot be released: {used[0]['ip']} is used by "
                                f"{IP_USER_NAMES[user['type']]} {user['id']} in datacenter "
                                f"{used[0]['datacenterId']}; remove it there first")
        return self._accept_delete(req, obj, "BUSY")

    # Network Load Balancers (NetworkLoadBalancersApi) and their forwarding rules.

    def _nlb(self, dc: str, nlb: str) -> dict[str, Any]:
        return self._get(f"{self._dc(dc)['path']}/networkloadbalancers/{nlb}",
                         "network load balancer")

    def _lan_id(self, dc: dict[str, Any], p: dict[str, Any], field: str) -> int:
        lan = self._int(p, field, 1, 10**6)
        if f"{dc['path']}/lans/{lan}" not in self._objs:
            raise ApiError(422, f"[(root).properties.{field}] LAN {lan} does not exist in "
                                f"datacenter {dc['id']}")
        return lan

    def _nlb_ips(self, dc: dict[str, Any], ips: Any, own: str | None,
                 field: str = "ips") -> list[str]:
        """Listener IPs of a public balancer (or a NAT gateway's public IPs): addresses of IP
        blocks reserved in the datacenter's location, not used by another resource."""
        if ips is None:
            return []
        if not isinstance(ips, list) or not all(isinstance(i, str) for i in ips):
            raise ApiError(422, f"[(root).properties.{field}] must be a list of IP addresses")
        blocks = {ip: b for b in self._all("ipblock") for ip in b["props"]["ips"]}
        used = self._ips_in_use()
        for ip in ips:
            block = blocks.get(ip)
            if block is None:
                raise ApiError(422, f"[(root).properties.{field}] {ip} is not in an IP block of "
                                    "this contract; reserve it first (POST /ipblocks)")
            if block["props"]["location"] != dc["props"]["location"]:
                raise ApiError(422, f"[(root).properties.{field}] {ip} belongs to IP block "
                                    f"{block['id']} in {block['props']['location']}, but "
                                    f"datacenter {dc['id']} is in {dc['props']['location']}: "
                                    "an IP block can only be used in its own location")
            holder = used.get(ip)
            if holder is not None and holder["id"] != own:
                raise ApiError(422, f"[(root).properties.{field}] {ip} is already used by "
                                    f"{IP_USER_NAMES[holder['type']]} {holder['id']}")
        return list(ips)

    def _private_ips(self, value: Any, n: int) -> list[str]:
        if value is None or value == []:
            # "If no IP is provided, the system will generate an IP with /24 subnet."
            return [f"10.{200 + n % 50}.{n % 250}.2/24"]
        if not isinstance(value, list):
            raise ApiError(422, "[(root).properties.lbPrivateIps] must be a list")
        for item in value:
            try:
                iface = ipaddress.ip_interface(item)
            except (TypeError, ValueError):
                raise ApiError(422, f"[(root).properties.lbPrivateIps] {item!r} is not an IP "
                                    "address with a subnet mask, e.g. 10.7.222.10/24") from None
            if "/" not in str(item) or not iface.ip.is_private:
                raise ApiError(422, f"[(root).properties.lbPrivateIps] {item!r} must be a "
                                    "private IP address with a subnet mask")
        return list(value)

    def _nlb_props(self, dc: dict[str, Any], p: dict[str, Any], own: str | None,
                   current: dict[str, Any] | None) -> dict[str, Any]:
        self._require(p, "name", "listenerLan", "targetLan")
        listener, target = self._lan_id(dc, p, "listenerLan"), self._lan_id(dc, p, "targetLan")
        if listener == target:
            raise ApiError(422, "[(root).properties.targetLan] the target LAN must differ from "
                                "the listener LAN")
        ips = self._nlb_ips(dc, p.get("ips"), own)
        if ips and not self._objs[f"{dc['path']}/lans/{listener}"]["props"]["public"]:
            raise ApiError(422, f"[(root).properties.listenerLan] LAN {listener} is private; "
                                "reserved public IPs need a public listener LAN")
        logging = p.get("centralLogging", False)
        if not isinstance(logging, bool):
            raise ApiError(422, "[(root).properties.centralLogging] must be a boolean")
        n = len(self._all("networkloadbalancer"))
        private = (current or {}).get("lbPrivateIps") if p.get("lbPrivateIps") is None and \
            current else self._private_ips(p.get("lbPrivateIps"), n)
        return {"name": self._str(p, "name"), "listenerLan": listener, "targetLan": target,
                "ips": ips, "lbPrivateIps": private, "centralLogging": logging,
                "loggingFormat": p.get("loggingFormat")}

    def _list_nlbs(self, req: Request, dc: str) -> Response:
        return self._list(req, self._dc(dc)["path"], "networkloadbalancers")

    def _create_nlb(self, req: Request, dc: str) -> Response:
        parent = self._dc(dc)
        body = json_body(req)
        props = self._nlb_props(parent, self._properties(body), None, None)
        if len(self._all("networkloadbalancer")) >= NLB_LIMIT:
            raise ApiError(422, f"the contract's limit of {NLB_LIMIT} network load balancers "
                                "(resourceLimits.nlbLimitTotal) is reached", code="301")
        nlb_id = str(uuid.uuid4())
        # Every rule is validated before anything is stored: a refused POST creates nothing.
        pseudo = {"id": nlb_id, "path": f"{parent['path']}/networkloadbalancers/{nlb_id}",
                  "props": props}
        rules: list[dict[str, Any]] = []
        for item in (body.get("entities") or {}).get("forwardingrules", {}).get("items") or []:
            rule = self._rule_props(pseudo, self._properties(item), None)
            if any((r["listenerIp"], r["listenerPort"]) == (rule["listenerIp"],
                                                            rule["listenerPort"]) for r in rules):
                raise ApiError(422, f"[(root).properties.listenerPort] {rule['listenerIp']}:"
                                    f"{rule['listenerPort']} is already used by another "
                                    "forwarding rule")
            rules.append(rule)
        obj = self._new_obj("networkloadbalancer", parent["path"], "networkloadbalancers",
                            nlb_id, props, "BUSY")
        for rule in rules:
            self._new_rule(obj, rule)
        return self._accept_write(req, obj, "BUSY", "AVAILABLE")

    def _get_nlb(self, req: Request, dc: str, nlb: str) -> Response:
        return self._one(req, self._nlb(dc, nlb))

    def _update_nlb(self, req: Request, dc: str, nlb: str, partial: bool) -> Response:
        obj = self._nlb(dc, nlb)
        self._check_if_match(req, obj)
        p = self._patch_properties(req) if partial else self._properties(json_body(req))
        merged = {**obj["props"], **p} if partial else p
        obj["props"] = self._nlb_props(self._dc(dc), merged, obj["id"], obj["props"])
        return self._accept_write(req, obj, "BUSY", "AVAILABLE")

    def _put_nlb(self, req: Request, dc: str, nlb: str) -> Response:
        return self._update_nlb(req, dc, nlb, partial=False)

    def _patch_nlb(self, req: Request, dc: str, nlb: str) -> Response:
        return self._update_nlb(req, dc, nlb, partial=True)

    def _delete_nlb(self, req: Request, dc: str, nlb: str) -> Response:
        return self._accept_delete(req, self._nlb(dc, nlb), "BUSY")

    def _rule(self, dc: str, nlb: str, rule: str) -> dict[str, Any]:
        return self._get(f"{self._nlb(dc, nlb)['path']}/forwardingrules/{rule}",
                         "forwarding rule")

    def _rule_health(self, value: Any) -> dict[str, int]:
        if value is None:
            return dict(RULE_HEALTH_DEFAULTS)
        if not isinstance(value, dict):
            raise ApiError(422, "[(root).properties.healthCheck] must be an object")
        out = dict(RULE_HEALTH_DEFAULTS)
        for key in out:
            if value.get(key) is not None:
                out[key] = self._int(value, key, 0, 10**7)
        return out

    def _rule_target(self, i: int, t: Any) -> dict[str, Any]:
        where = f"[(root).properties.targets[{i}]"
        if not isinstance(t, dict):
            raise ApiError(422, f"{where}] must be an object")
        for required in ("ip", "port"):
            if t.get(required) is None:
                raise ApiError(422, f"{where}.{required}] Attribute is required")
        try:
            ipaddress.ip_address(t["ip"])
        except (TypeError, ValueError):
            raise ApiError(422, f"{where}.ip] {t['ip']!r} is not an IP address") from None
        port = self._int(t, "port", 1, 65535)
        weight = self._int(t, "weight", 0, 256) if t.get("weight") is not None else 1
        proxy = t.get("proxyProtocol") or "none"
        if proxy not in PROXY_PROTOCOLS:
            raise ApiError(422, f"{where}.proxyProtocol] {proxy!r} is not one of "
                                f"{list(PROXY_PROTOCOLS)}")
        hc = t.get("healthCheck") or {}
        if not isinstance(hc, dict):
            raise ApiError(422, f"{where}.healthCheck] must be an object")
        return {"ip": t["ip"], "port": port, "weight": weight, "proxyProtocol": proxy,
                "healthCheck": {"check": bool(hc.get("check", False)),
                                "checkInterval": int(hc.get("checkInterval") or 2000),
                                "maintenance": bool(hc.get("maintenance", False))}}

    def _rule_props(self, nlb: dict[str, Any], p: dict[str, Any],
                    own: str | None) -> dict[str, Any]:
        self._require(p, "name", "algorithm", "protocol", "listenerIp", "listenerPort",
                      "targets")
        algorithm = self._str(p, "algorithm", NLB_ALGORITHMS)
        protocol = self._str(p, "protocol", NLB_PROTOCOLS)
        listener_ip = self._str(p, "listenerIp")
        own_ips = list(nlb["props"]["ips"]) + [c.split("/")[0]
                                               for c in nlb["props"]["lbPrivateIps"] or []]
        if listener_ip not in own_ips:
            raise ApiError(422, f"[(root).properties.listenerIp] {listener_ip} is not an IP of "
                                f"network load balancer {nlb['id']} ({', '.join(own_ips)})")
        port = self._int(p, "listenerPort", 1, 65535)
        for other in self._children(nlb["path"], "forwardingrules"):
            op = other["props"]
            if other["id"] != own and (op["listenerIp"], op["listenerPort"]) == (listener_ip,
                                                                                   port):
                raise ApiError(422, f"[(root).properties.listenerPort] {listener_ip}:{port} is "
                                    f"already used by forwarding rule {other['id']}")
        targets = p["targets"]
        if not isinstance(targets, list):
            raise ApiError(422, "[(root).properties.targets] must be a list")
        return {"name": self._str(p, "name"), "algorithm": algorithm, "protocol": protocol,
                "listenerIp": listener_ip, "listenerPort": port,
                "healthCheck": self._rule_health(p.get("healthCheck")),
                "targets": [self._rule_target(i, t) for i, t in enumerate(targets)]}

    def _new_rule(self, nlb: dict[str, Any], props: dict[str, Any]) -> dict[str, Any]:
        rule = self._new_obj("forwardingrule", nlb["path"], "forwardingrules",
                             str(uuid.uuid4()), props, "BUSY")
        self._transition(rule, "BUSY", "AVAILABLE")
        return rule

    def _list_rules(self, req: Request, dc: str, nlb: str) -> Response:
        return self._list(req, self._nlb(dc, nlb)["path"], "forwardingrules")

    def _create_rule(self, req: Request, dc: str, nlb: str) -> Response:
        parent = self._nlb(dc, nlb)
        rule = self._new_rule(parent, self._rule_props(parent, self._properties(json_body(req)),
                                                       None))
        # The balancer is reconfigured with the rule.
        self._transition(parent, "BUSY", "AVAILABLE")
        return self._accept_write(req, rule, "BUSY", "AVAILABLE")

    def _get_rule(self, req: Request, dc: str, nlb: str, rule: str) -> Response:
        return self._one(req, self._rule(dc, nlb, rule))

    def _update_rule(self, req: Request, dc: str, nlb: str, rule: str,
                     partial: bool) -> Response:
        parent, obj = self._nlb(dc, nlb), self._rule(dc, nlb, rule)
        self._check_if_match(req, obj)
        p = self._patch_properties(req) if partial else self._properties(json_body(req))
        obj["props"] = self._rule_props(parent, {**obj["props"], **p} if partial else p,
                                        obj["id"])
        self._transition(parent, "BUSY", "AVAILABLE")
        return self._accept_write(req, obj, "BUSY", "AVAILABLE")

    def _put_rule(self, req: Request, dc: str, nlb: str, rule: str) -> Response:
        return self._update_rule(req, dc, nlb, rule, partial=False)

    def _patch_rule(self, req: Request, dc: str, nlb: str, rule: str) -> Response:
        return self._update_rule(req, dc, nlb, rule, partial=True)

    def _delete_rule(self, req: Request, dc: str, nlb: str, rule: str) -> Response:
        return self._accept_delete(req, self._rule(dc, nlb, rule), "BUSY")


_USER_ID = "0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9"
