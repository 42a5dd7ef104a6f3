"""The HTTP face of the Kubernetes emulator: routing, discovery, lists and watches, subresources,
kubeconfig, node pools from the IONOS sandbox, and persistence."""

from __future__ import annotations

import base64
import json
import ssl
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from sandbox.http import Request, Response, Service, json_response
from sandbox.kubernetes import (
    catalogue,
    openapi,
    openapi_v2pb,
    protobuf_bodies,
    rbac,
    reviews,
    tables,
)
from sandbox.kubernetes.api import (
    APPLY,
    JSON_PATCH,
    MERGE,
    PATCH_TYPES,
    STRATEGIC,
    ApiError,
    ApiServer,
    FieldValidation,
    UserInfo,
    bad_request,
    now_rfc3339,
    parse_body,
)
from sandbox.kubernetes.auth import Authenticator
from sandbox.kubernetes.disruption import Evictions
from sandbox.kubernetes.patch import PatchError, clone, json_patch, merge_patch, strategic_merge
from sandbox.kubernetes.protection import storage_object_in_use_protection
from sandbox.kubernetes.rbac import Authorizer
from sandbox.kubernetes.registry import Registry, ResourceType
from sandbox.kubernetes.selectors import SelectorError, field_matcher, label_matcher
from sandbox.kubernetes.storage import (
    DefaultStorageClass,
    PersistentVolumeClaimResize,
    ionos_storage_classes,
    k3s_storage_classes,
)
from sandbox.kubernetes.store import Expired, Store
from sandbox.kubernetes.vap import ValidatingAdmissionPolicies
from sandbox.world import World, kubeconfig_cluster

VERSION = {"major": "1", "minor": "32", "gitVersion": "v1.32.4",
           "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
           "buildDate": "2025-01-01T00:00:00Z", "goVersion": "go1.23", "compiler": "gc",
           "platform": "linux/amd64"}
POOL_LABEL = "enterprise.cloud.ionos.com/node-pool"
# Who cordons and drains a node IONOS replaces (its maintenance process; the name is ours).
NODE_DRAINER = "ionos-node-drainer"

STATE_FILE = "kubernetes.json"
DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
_TRUE = {"1", "t", "T", "true", "TRUE", "True"}
_FALSE = {"0", "f", "F", "false", "FALSE", "False", ""}
# What kube-apiserver answers when authentication fails (anonymous auth off).
UNAUTHORIZED = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": "Unauthorized", "reason": "Unauthorized", "code": 401}
# The request being served and who sent it, so its token is verified once.
_AUTHENTICATED: ContextVar[tuple[Request, UserInfo] | None] = ContextVar(
    "sandbox_k8s_user", default=None)
_REASONS = {429: "TooManyRequests", 500: "InternalError", 502: "InternalError",
            503: "ServiceUnavailable", 504: "Timeout"}


def serving_tls() -> tuple[ssl.SSLContext, str]:
    """A server context with a certificate for 127.0.0.1 and localhost from a CA of its own,
    and that CA's PEM."""
    from sandbox.tls import Authority

    ca = Authority("platform-ops sandbox kubernetes CA")
    leaf = ca.issue(["127.0.0.1", "localhost"], days_left=3650, lifetime_days=3651)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory(prefix="sandbox-k8s-tls-") as tmp:
        cert, key = Path(tmp) / "tls.crt", Path(tmp) / "tls.key"
        cert.write_bytes(leaf.cert_pem)
        key.write_bytes(leaf.key_pem)
        context.load_cert_chain(str(cert), str(key))
    return context, ca.pem.decode()


def parse_bool(value: str | None, name: str) -> bool | None:
    if value is None:
        return None
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise bad_request(f"invalid boolean for query parameter {name}: {value!r}")


class KubernetesService(Service):
    """A Kubernetes API server emulator with simulated controllers (see the package docstring)."""

    name = "kubernetes"

    def __init__(self, world: World, state_dir: Path | None = None,
                 controller_delay: float = 0.0, run_jobs: bool = False,
                 preinstall_crds: bool = False, managed: bool = True,
                 name: str = "kubernetes"):
        # ``managed``: an IONOS managed cluster, which comes with IONOS's snapshot CRDs; an
        # existing cluster (K3s, another provider; ``python -m sandbox up --cluster``) has none.
        # ``name``: how requests are counted and faults aimed (``kubernetes-<cluster>``).
        self.name = name
        self.managed = managed
        if run_jobs and not world.kubernetes_token:
            # A Pod POST runs a command on this host: never without a token to check.
            raise ValueError("run_jobs needs authentication: set World.kubernetes_token")
        self.world = world
        # kubectl sends a kubeconfig's token only over TLS, so the port speaks TLS too.
        self.tls_context, world.kubernetes_ca_pem = serving_tls()
        self.state_dir = Path(state_dir) if state_dir else None
        from sandbox.kubernetes.volumes import VolumeData

        # Each PersistentVolume's filesystem is a directory (sandbox/kubernetes/volumes.py).
        self.volume_data = VolumeData(self.state_dir / "volumes" if self.state_dir else None)
        self.registry = Registry()
        self.store = Store()
        self.api = ApiServer(self.registry, self.store)
        self.evictions = Evictions(self.api)
        # After PodSecurity, as kube-apiserver orders its default plugins
        # (pkg/kubeapiserver/options/plugins.go AllOrderedPlugins).
        self.api.validating_admission += [PersistentVolumeClaimResize(self.store),
                                          ValidatingAdmissionPolicies(self.store)]
        # kube-apiserver's default mutating plugins that the sandbox emulates.
        self.api.mutating_admission += [DefaultStorageClass(self.store),
                                        storage_object_in_use_protection]
        self.auth = Authenticator(self.store, lambda: self.world.kubernetes_token)
        self.authorizer = Authorizer(self.store)
        self.api.storage_guards += [self.authorizer.create_on_apply_guard,
                                    self.authorizer.escalation_guard]
        self.controller_delay = controller_delay
        self.run_jobs = run_jobs
        # The earlier fixed set of CRDs (Flux, cert-manager, external-secrets) at start, and
        # Flux's controllers taken as installed: for scripts that relied on it.
        self.preinstall_crds = preinstall_crds
        self._stopped = threading.Event()
        self._controllers: Any = None
        self._cluster_ca: str | None = None
        self._openapi_cache: dict[str, tuple[Any, dict[str, Any]]] = {}
        self._swagger_pb: tuple[dict[str, Any], bytes] | None = None
        if not self.restore():
            self._bootstrap()
        world.set_pool_nodes = self.set_pool_nodes
        world.drain_node = self.drain_node
        from sandbox.kubernetes.behaviours import Behaviours

        self.behaviours = Behaviours(self)

    def _bootstrap(self) -> None:
        nrt = self._rt("", "namespaces")
        for ns in DEFAULT_NAMESPACES:
            self.api.create(nrt, "", {"metadata": {"name": ns}}, "sandbox")
        if self.managed:
            self.install_crds(catalogue.managed_cluster_crds(), "ionos-managed-kubernetes")
        scrt = self._rt("storage.k8s.io", "storageclasses")
        for sc in ionos_storage_classes() if self.managed else k3s_storage_classes():
            self.api.create(scrt, "", sc, "ionos-managed-kubernetes" if self.managed else "k3s")
        if self.preinstall_crds:
            for chart, version in catalogue.PREINSTALLED:
                self.install_chart(chart, version, {"crds": {"enabled": True}})
        for ns in DEFAULT_NAMESPACES:
            self._namespace_created(ns)

    def _rt(self, group: str, plural: str) -> ResourceType:
        rt = self.registry.by_gk(group, plural)
        assert rt is not None, (group, plural)
        return rt

    def install_chart(self, chart: str, version: str, values: dict[str, Any] | None = None,
                      manager: str = "helm-controller") -> list[str]:
        """Install the CRDs ``chart`` at ``version`` brings (what a Helm install of it does);
        ValueError for a chart the catalogue does not know. Returns the CRD names."""
        crds = catalogue.chart_crds(chart, version, values)
        if crds is None:
            raise ValueError(f"the sandbox's catalogue has no chart {chart!r} at {version!r}; "
                             f"known: {', '.join(sorted({c.chart for c in catalogue.CATALOGUE}))}")
        return self.install_crds(crds, manager)

    def install_crds(self, crds: list[dict[str, Any]], manager: str) -> list[str]:
        """Create or replace CRDs as a controller would, registering their kinds at once."""
        crt = self._rt("apiextensions.k8s.io", "customresourcedefinitions")
        names = []
        with self.store.lock:
            for crd in crds:
                name = crd["metadata"]["name"]
                old = self.store.get(crt.gk, "", name)
                if old is not None and old.get("spec") == {**(old.get("spec") or {}),
                                                           **crd["spec"]}:
                    names.append(name)
                    continue
                if old is None:
                    obj = self.api.write_object(crt, None, crd, manager)
                else:
                    new = clone(old)
                    new["spec"] = crd["spec"]
                    obj = self.api.write_object(crt, old, new, manager)
                self._crd_written(obj)
                names.append(name)
        return names

    def _crd_written(self, obj: dict[str, Any]) -> None:
        """Register a CRD's types and mark it Established (as the apiextensions server does)."""
        self.registry.set_crd(obj["metadata"]["name"], obj)
        status = obj.get("status") or {}
        if any(c.get("type") == "Established" for c in status.get("conditions") or []):
            return
        names = (obj.get("spec") or {}).get("names") or {}
        ts = now_rfc3339()
        new_status = {
            "acceptedNames": names,
            "storedVersions": [v["name"] for v in (obj.get("spec") or {}).get("versions") or []
                               if isinstance(v, dict) and v.get("storage")],
            "conditions": [
                {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
                 "message": "no conflicts found", "lastTransitionTime": ts},
                {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
                 "message": "the initial names have been accepted", "lastTransitionTime": ts},
            ],
        }
        crt = self._rt("apiextensions.k8s.io", "customresourcedefinitions")
        self.api.write_status(crt, obj, new_status, "apiextensions-apiserver")

    def start_controllers(self) -> None:
        """Start the background thread that runs the simulated controllers and persistence."""
        from sandbox.kubernetes.controllers import Controllers

        if self._controllers is None:
            self._controllers = Controllers(self, self.controller_delay, self.run_jobs)
            self._controllers.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._controllers is not None:
            self._controllers.stop()
            self._controllers = None
        self.snapshot()

    def reset(self) -> None:
        """Forget every object (the admin API's ``POST /reset``): a fresh cluster again.

        The resourceVersion counter keeps counting, so open watches end with 410 Expired."""
        if self._controllers is not None:
            self._controllers.forget_processes()
        self.behaviours.webhooks = []
        self.volume_data.reset()
        with self.store.lock:
            self.store.load({"resourceVersion": self.store.rv, "objects": [], "logs": []})
            self.registry.clear_crds()
            self._bootstrap()
        self.snapshot()

    def snapshot(self) -> dict[str, Any]:
        """The state as JSON-able data; also written to ``state_dir`` when one is set."""
        data = self.store.dump()
        if self.state_dir is not None:
            self.store.save(self.state_dir / STATE_FILE)
        return data

    def restore(self, data: dict[str, Any] | None = None) -> bool:
        """Load ``data`` or the state file in ``state_dir``; False when there is none."""
        if data is None:
            if self.state_dir is None or not (self.state_dir / STATE_FILE).exists():
                return False
            path = self.state_dir / STATE_FILE
            try:
                data = json.loads(path.read_text())
                self.store.load(data)
            except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
                raise ValueError(f"sandbox state file {path} is unreadable: {exc}; "
                                 "delete it to start from an empty state") from None
        else:
            self.store.load(data)
        for crd in self.store.select(("apiextensions.k8s.io", "customresourcedefinitions")):
            self.registry.set_crd(crd["metadata"]["name"], crd)
        return True

    def save_if_dirty(self) -> None:
        if self.state_dir is not None and self.store.dirty:
            self.store.save(self.state_dir / STATE_FILE)

    def claim_path(self, namespace: str, claim: str) -> Path:
        """The directory holding the data of the PV a claim is bound to (ValueError when the
        claim is missing or unbound)."""
        pvc = self.store.get(("", "persistentvolumeclaims"), namespace, claim)
        pv = ((pvc or {}).get("spec") or {}).get("volumeName")
        if not pv:
            raise ValueError(f"PersistentVolumeClaim {namespace}/{claim} is missing or unbound")
        return self.volume_data.path(str(pv))

    def evict(self, namespace: str, name: str, message: str) -> dict[str, Any]:
        """Node-pressure eviction of one pod (sandbox/kubernetes/volumes.py)."""
        if self._controllers is None:
            raise ValueError("the controllers are not running")
        return dict(self._controllers.evict(namespace, name, message))

    def velero_fault(self, phase: str, message: str, times: int) -> dict[str, Any]:
        """The next ``times`` Velero backups end ``phase`` with ``message``
        (``sandbox/kubernetes/velero.py``)."""
        if self._controllers is None:
            raise ValueError("the controllers are not running")
        return dict(self._controllers.velero.fail_next(phase, message, times))

    def longhorn_fault(self, message: str, times: int) -> dict[str, Any]:
        """The next ``times`` Longhorn backups end ``Error`` with ``message``
        (``sandbox/kubernetes/longhorn.py``)."""
        if self._controllers is None:
            raise ValueError("the controllers are not running")
        return dict(self._controllers.longhorn.fail_next(message, times))

    def kubeconfig(self, server_url: str) -> str:
        """A kubeconfig (YAML) for the server at ``server_url``: HTTPS with the sandbox CA and
        the bearer token (plain HTTP on the same port answers too, for raw requests)."""
        import yaml

        return yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "preferences": {},
            "clusters": [{"name": "sandbox", "cluster": kubeconfig_cluster(
                server_url, self.world.kubernetes_ca_pem)}],
            "users": [{"name": "sandbox", "user": {"token": self.world.kubernetes_token}}],
            "contexts": [{"name": "sandbox",
                          "context": {"cluster": "sandbox", "user": "sandbox",
                                      "namespace": "default"}}],
            "current-context": "sandbox",
        }, sort_keys=False)

    def set_pool_nodes(self, pool_name: str, nodes: list[dict[str, Any]]) -> None:
        """Replace the Node objects labelled with ``pool_name`` (called by the IONOS sandbox).

        A node's capacity is its pool's cores and RAM; allocatable keeps back what IONOS's
        kubelet reserves for the system (200m CPU and a tenth of the memory, in the sandbox)."""
        rt = self._rt("", "nodes")
        wanted = {n["name"]: n for n in nodes}
        with self.store.lock:
            for obj in self.store.select(rt.gk):
                labels = obj["metadata"].get("labels") or {}
                if labels.get(POOL_LABEL) == pool_name and obj["metadata"]["name"] not in wanted:
                    self.api.delete(rt, "", obj["metadata"]["name"], {})
            for i, (name, node) in enumerate(sorted(wanted.items())):
                version = str(node.get("k8sVersion") or "1.32.4").lstrip("v")
                zone = str(node.get("availabilityZone") or "AUTO")
                if zone == "AUTO":
                    zone = f"ZONE_{i % 2 + 1}"
                labels = {**(node.get("labels") or {}), POOL_LABEL: pool_name,
                          "kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                          "kubernetes.io/arch": "amd64",
                          "topology.kubernetes.io/region": "de-fra",
                          "topology.kubernetes.io/zone": zone}
                spec: dict[str, Any] = {"providerID": f"ionos://{name}"}
                if node.get("unschedulable"):
                    # IONOS cordons a node it replaces; the node lifecycle controller then
                    # taints it (nodelifecycle.py).
                    spec["unschedulable"] = True
                body = {"apiVersion": "v1", "kind": "Node",
                        "metadata": {"name": name, "labels": labels}, "spec": spec}
                old = self.store.get(rt.gk, "", name)
                obj = self.api.apply(rt, "", name, body, "ionos-cloud-controller",
                                     force=True)[0]
                status = _node_status(name, version, int(node.get("cores") or 4),
                                      int(node.get("ramMB") or 16384),
                                      str(node.get("privateIP") or f"10.7.222.{10 + i}"))
                if old is None or (obj.get("status") or {}).get("nodeInfo") != status[
                        "nodeInfo"] or (obj.get("status") or {}).get("allocatable") != status[
                        "allocatable"]:
                    self.api.write_status(rt, obj, status, "kubelet")

    def drain_node(self, name: str, force: bool) -> list[str]:
        """Drain Node ``name`` for IONOS's node replacement (``Evictions.drain``)."""
        return self.evictions.drain(name, force, NODE_DRAINER)

    def add_nodes(self, pool: str = "sandbox-pool", count: int = 3, cores: int = 4,
                  ram_mb: int = 16384) -> list[str]:
        """Give the cluster ``count`` Ready nodes without an IONOS node pool (a cluster used on
        its own, as in tests); a real cluster runs no pod without nodes, and neither does this
        one. Returns the node names."""
        names = [f"{pool}-{i}" for i in range(count)]
        self.set_pool_nodes(pool, [{"name": n, "cores": cores, "ramMB": ram_mb,
                                    "privateIP": f"10.7.223.{10 + i}"}
                                   for i, n in enumerate(names)])
        return names

    def user(self, req: Request) -> UserInfo | None:
        """Who the request's bearer token authenticates: the admin (the kubeconfig's token) or
        a ServiceAccount (a token from its TokenRequest); None for anyone else."""
        current = _AUTHENTICATED.get()
        if current is not None and current[0] is req:
            return current[1]
        return self.auth.user(req.headers.get("Authorization") or "")

    def counted_as(self, method: str, path: str) -> str:
        """Access reviews are counted as ``REVIEW``, not ``POST``: a question that writes
        nothing, which "writes of a run" must not count."""
        if method == "POST" and path.rstrip("/") in reviews.PATHS:
            return reviews.COUNTED_AS
        return method

    def fault_response(self, status: int, retry_after: int) -> Response:
        reason = _REASONS.get(status, "InternalError")
        body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": f"the sandbox injected a fault ({status}); retry after "
                           f"{retry_after}s", "reason": reason,
                "details": {"retryAfterSeconds": retry_after}, "code": status}
        return json_response(status, body, **{"Retry-After": str(retry_after)})

    def handle(self, req: Request) -> Response:
        user = self.user(req)
        if user is None:
            # kube-apiserver with anonymous auth off: no valid bearer token, no answer at all.
            return json_response(401, UNAUTHORIZED)
        # Authenticated once per request (a ServiceAccount token's signature is checked once).
        authenticated = _AUTHENTICATED.set((req, user))
        attributes = None
        try:
            if any(k.lower().startswith("impersonate-") for k in req.headers.keys()):
                user = self.authorizer.impersonate(user, req.headers.items())
                _AUTHENTICATED.set((req, user))
            if not rbac.privileged(user):
                # As kube-apiserver's filter chain: authorization before routing, admission or
                # any 404, for every path (discovery, subresources, watches, dry runs).
                attributes = rbac.request_attributes(user, req.method, req.path, req.query)
                self.authorizer.check(attributes)
            current = rbac.CURRENT.set(attributes)
            try:
                return self._route(req)
            finally:
                rbac.CURRENT.reset(current)
        except ApiError as exc:
            return json_response(exc.code, exc.status(), **exc.headers)
        except (SelectorError, PatchError) as exc:
            return json_response(400, bad_request(str(exc)).status())
        except Exception as exc:  # noqa: BLE001 - a sandbox bug answers a Status, not a traceback
            err = ApiError(500, "InternalError",
                           f"sandbox kubernetes failed on {req.method} {req.path}: {exc!r}")
            return json_response(500, err.status())
        finally:
            _AUTHENTICATED.reset(authenticated)

    def _route(self, req: Request) -> Response:
        path = req.path.rstrip("/") or "/"
        if path == "/version":
            return json_response(200, VERSION)
        if path in ("/healthz", "/readyz", "/livez"):
            return Response(200, "ok", content_type="text/plain")
        if path.startswith("/openapi/"):
            return self._openapi(path, req.headers.get("Accept") or "")
        parts = path.strip("/").split("/")
        if parts[0] == "api":
            if len(parts) == 1:
                return json_response(200, {"kind": "APIVersions", "versions": ["v1"],
                                           "serverAddressByClientCIDRs": [{
                                               "clientCIDR": "0.0.0.0/0",
                                               "serverAddress": req.base_url.split("//")[-1]}]})
            group, version, rest = "", parts[1], parts[2:]
            if version != "v1":
                raise _unknown_path()
        elif parts[0] == "apis":
            if len(parts) == 1:
                return json_response(200, self._group_list())
            if len(parts) == 2:
                return json_response(200, self._group(parts[1]))
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise _unknown_path()
        if not rest:
            return json_response(200, self._resource_list(group, version))
        return self._resource(req, group, version, rest)

    def _group_entry(self, group: str, versions: list[str]) -> dict[str, Any]:
        vs = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
        return {"name": group, "versions": vs, "preferredVersion": vs[0]}

    def _group_list(self) -> dict[str, Any]:
        groups = [self._group_entry(g, vs) for g, vs in self.registry.group_versions().items()
                  if g]
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}

    def _group(self, group: str) -> dict[str, Any]:
        versions = self.registry.group_versions().get(group)
        if not versions or not group:
            raise _unknown_path()
        return {"kind": "APIGroup", "apiVersion": "v1", **self._group_entry(group, versions)}

    def _resource_list(self, group: str, version: str) -> dict[str, Any]:
        types = self.registry.in_group_version(group, version)
        if not types:
            raise _unknown_path()
        resources = [r for rt in types for r in rt.discovery()]
        return {"kind": "APIResourceList", "apiVersion": "v1",
                "groupVersion": f"{group}/{version}" if group else version,
                "resources": resources}

    def _crd_schemas(self) -> openapi.CrdSchemas:
        out: openapi.CrdSchemas = {}
        for crd in self.store.select(("apiextensions.k8s.io", "customresourcedefinitions")):
            spec = crd.get("spec") or {}
            plural = (spec.get("names") or {}).get("plural")
            for v in spec.get("versions") or []:
                body = ((v or {}).get("schema") or {}).get("openAPIV3Schema")
                if isinstance(body, dict) and plural:
                    out[(str(spec.get("group")), str(v.get("name")), str(plural))] = body
        return out

    def _openapi_cached(self, key: str, build: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """OpenAPI documents are rebuilt only when the served kinds or a CRD changed."""
        crds = self.store.select(("apiextensions.k8s.io", "customresourcedefinitions"))
        state = (tuple(sorted((rt.group, rt.version, rt.plural) for rt in self.registry.all())),
                 tuple(sorted(c["metadata"]["resourceVersion"] for c in crds)))
        hit = self._openapi_cache.get(key)
        if hit is not None and hit[0] == state:
            return hit[1]
        doc = build()
        self._openapi_cache[key] = (state, doc)
        return doc

    def _openapi(self, path: str, accept: str) -> Response:
        if path == "/openapi/v2":
            return self._swagger(accept)
        if path == "/openapi/v3":
            return json_response(200, self._openapi_cached("v3", lambda: openapi.root_doc(
                self.registry, self._crd_schemas())))
        if path.startswith("/openapi/v3/"):
            parts = path[len("/openapi/v3/"):].split("/")
            if parts[0] == "api" and len(parts) == 2:
                group, version = "", parts[1]
            elif parts[0] == "apis" and len(parts) == 3:
                group, version = parts[1], parts[2]
            else:
                raise _unknown_path()
            if not self.registry.in_group_version(group, version):
                raise _unknown_path()
            return json_response(200, self._openapi_cached(
                f"v3/{group}/{version}", lambda: openapi.group_version_doc(
                    self.registry, group, version, self._crd_schemas())))
        raise _unknown_path()

    def _swagger(self, accept: str) -> Response:
        """``/openapi/v2`` as JSON or gnostic protobuf, whichever the Accept header prefers; a
        406 with no body for anything else (k8s.io/kube-openapi ``pkg/handler/handler.go``)."""
        served = openapi_v2pb.negotiate(accept)
        if served is None:
            return Response(406, b"", headers={"Vary": "Accept"}, content_type="")
        doc = self._openapi_cached("v2", lambda: openapi.swagger_doc(
            self.registry, self._crd_schemas()))
        if served == openapi_v2pb.JSON:
            return json_response(200, doc, Vary="Accept")
        hit = self._swagger_pb
        if hit is None or hit[0] is not doc:
            hit = self._swagger_pb = (doc, openapi_v2pb.document(doc))
        return Response(200, hit[1], headers={"Vary": "Accept"}, content_type=served)

    def _resource(self, req: Request, group: str, version: str, rest: list[str]) -> Response:
        rt, ns, name, sub = self._locate(group, version, rest)
        if rt.gk in reviews.KINDS:
            if name is not None:
                raise _unknown_path()
            return self._review(req, rt)
        dry_run = self._dry_run(req)
        table = tables.table_version(req.headers.get("Accept") or "") \
            if req.method == "GET" else None
        if name is None:
            return self._collection(req, rt, ns, dry_run, table)
        ns = ns or ""
        handler = {"scale": self._scale, "token": self._token, "log": self._log,
                   "eviction": self._eviction}.get(sub)
        if handler is not None:
            return handler(req, rt, ns, name, dry_run)
        if req.method == "GET":
            return json_response(200, self._table(
                rt, self.api.output(rt, self.api.get(rt, ns, name)), table, req.query))
        write = {"PUT": self._put, "PATCH": self._patch, "DELETE": self._delete}.get(req.method)
        if write is None:
            raise _not_allowed(req)
        return write(req, rt, ns, name, sub, dry_run)

    def _locate(self, group: str, version: str, rest: list[str]
                ) -> tuple[ResourceType, str | None, str | None, str]:
        """The resource type, namespace, name and subresource a path names (a 404 unless the
        type serves them: a namespace only for namespaced types, a known subresource)."""
        ns: str | None = None
        if rest[0] == "namespaces" and len(rest) >= 3 and not (
                len(rest) == 3 and rest[2] in ("status", "finalize")):
            ns, rest = rest[1], rest[2:]
        if len(rest) > 3:
            raise _unknown_path()
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else ""
        rt = self.registry.get(group, version, rest[0])
        if rt is None or (ns is not None and not rt.namespaced):
            raise _unknown_path()
        if name is not None and rt.namespaced and ns is None:
            raise _unknown_path()
        if sub and sub not in rt.subresources:
            raise _unknown_path()
        return rt, ns, name, sub

    def _put(self, req: Request, rt: ResourceType, ns: str, name: str, sub: str,
             dry_run: bool) -> Response:
        body = self._body(req, ("application/json", "application/yaml"), (rt.api_version, rt.kind))
        fv = self._field_validation(req)
        obj = self.api.update(rt, ns, name, body, self._manager(req), sub, dry_run, fv,
                              self.user(req))
        if not dry_run:
            self._after_write(rt, obj)
        return json_response(200, self.api.output(rt, obj), **_warnings(fv))

    def _patch(self, req: Request, rt: ResourceType, ns: str, name: str, sub: str,
               dry_run: bool) -> Response:
        ptype = req.content_type
        body = self._body(req, PATCH_TYPES)
        force = parse_bool(req.query.get("force"), "force")
        manager = req.query.get("fieldManager", "") if ptype == APPLY else self._manager(req)
        fv = self._field_validation(req)
        obj, created = self.api.patch(rt, ns, name, ptype, body, manager, sub, dry_run, force,
                                      fv, self.user(req))
        if not dry_run:
            self._after_write(rt, obj)
        return json_response(201 if created else 200, self.api.output(rt, obj),
                             **_warnings(fv))

    def _delete(self, req: Request, rt: ResourceType, ns: str, name: str, sub: str,
                dry_run: bool) -> Response:
        if sub:
            raise _not_allowed(req)
        options = self._delete_options(req)
        dry_run = dry_run or options.get("dryRun") == ["All"]
        fv = FieldValidation()
        return json_response(200, self.api.delete(rt, ns, name, options, dry_run,
                                                  self._manager(req), self.user(req),
                                                  fv.warnings), **_warnings(fv))

    def _collection(self, req: Request, rt: ResourceType, ns: str | None, dry_run: bool,
                    table: str | None) -> Response:
        """A request to a collection: list or watch, create, delete the collection."""
        q = req.query
        if req.method == "GET":
            if parse_bool(q.get("watch"), "watch"):
                return self._watch(req, rt, ns)
            return json_response(200, self._table(rt, self._list(rt, ns, q), table, q))
        if req.method == "POST":
            if rt.namespaced and ns is None:
                raise ApiError(405, "MethodNotAllowed",
                               f"POST on {rt.resource} needs a namespace in the path")
            body = self._body(req, ("application/json", "application/yaml"),
                              (rt.api_version, rt.kind))
            fv = self._field_validation(req)
            obj = self.api.create(rt, ns or "", body, self._manager(req), dry_run, fv,
                                  self.user(req))
            if not dry_run:
                self._after_write(rt, obj)
            return json_response(201, self.api.output(rt, obj), **_warnings(fv))
        if req.method == "DELETE":
            return json_response(200, self._delete_collection(req, rt, ns, dry_run))
        raise _not_allowed(req)

    def _review(self, req: Request, rt: ResourceType) -> Response:
        """An access review (``reviews.py``): create-only, answered, never stored."""
        if req.method != "POST":
            raise _not_allowed(req)
        body = self._body(req, ("application/json", "application/yaml"), (rt.api_version, rt.kind))
        if not isinstance(body, dict):
            raise bad_request(f"the body of a create must be a JSON object, got "
                              f"{type(body).__name__}")
        self.api.check_kind(rt, body)
        body = self.api.decode(rt, {**body, "apiVersion": rt.api_version, "kind": rt.kind},
                               self._field_validation(req))
        user = self.user(req)
        assert user is not None, "handle() answers 401 before routing"
        answer = reviews.review(rt, body, user, self.authorizer.authorize)
        return json_response(201, answer)

    def _table(self, rt: ResourceType, body: dict[str, Any], version: str | None,
               q: dict[str, str]) -> dict[str, Any]:
        """``body`` as the Table the client asked for (``tables.py``), or as it is."""
        if version is None:
            return body
        printer = tables.PRINTERS.get(rt.gk)
        if printer is None and rt.custom:
            crd = self.store.get(("apiextensions.k8s.io", "customresourcedefinitions"), "",
                                 f"{rt.plural}.{rt.group}") or {}
            served = next((v for v in (crd.get("spec") or {}).get("versions") or []
                           if isinstance(v, dict) and v.get("name") == rt.version), {})
            printer = tables.crd_printer(served.get("additionalPrinterColumns"))
        return tables.to_table(rt, body, printer or tables.DEFAULT, version,
                               q.get("includeObject"))

    def _after_write(self, rt: ResourceType, obj: dict[str, Any]) -> None:
        if rt.gk == ("apiextensions.k8s.io", "customresourcedefinitions"):
            self._crd_written(obj)
        elif rt.gk == ("", "namespaces") and obj["metadata"]["resourceVersion"] and \
                not obj["metadata"].get("deletionTimestamp"):
            self._namespace_created(obj["metadata"]["name"])

    def _namespace_created(self, ns: str) -> None:
        """What kube-controller-manager adds to every namespace: the ``default``
        ServiceAccount (serviceaccount controller) and the ``kube-root-ca.crt`` ConfigMap with
        the cluster CA (root-ca-cert-publisher)."""
        sa = self._rt("", "serviceaccounts")
        cm = self._rt("", "configmaps")
        with self.store.lock:
            if self.store.get(sa.gk, ns, "default") is None:
                self.api.create(sa, ns, {"metadata": {"name": "default"}},
                                "kube-controller-manager")
            if self.store.get(cm.gk, ns, "kube-root-ca.crt") is None:
                self.api.create(cm, ns, {
                    "metadata": {"name": "kube-root-ca.crt", "annotations": {
                        "kubernetes.io/description": "Contains a CA bundle that can be used to "
                        "verify the kube-apiserver when using internal endpoints such as the "
                        "internal service IP or kubernetes.default.svc. No other usage is "
                        "guaranteed across distributions of Kubernetes clusters."}},
                    "data": {"ca.crt": self.cluster_ca()}}, "kube-controller-manager")

    def cluster_ca(self) -> str:
        """The cluster's CA certificate (PEM), made once per service (EC, so it is quick)."""
        if self._cluster_ca is None:
            self._cluster_ca = _make_cluster_ca()
        return self._cluster_ca

    def _body(self, req: Request, accepted: tuple[str, ...],
              kind: tuple[str, str] | None = None) -> Any:
        """The request body in one of the ``accepted`` types, or as protobuf for a ``kind``
        (apiVersion, kind) that ``protobuf_bodies`` reads; else a 415 naming what is accepted
        (k8s.io/apiserver ``pkg/endpoints/handlers/negotiation`` NewUnsupportedMediaTypeError).
        """
        ctype = req.content_type or "application/json"
        if kind is not None and protobuf_bodies.decodable(*kind):
            accepted = (*accepted, protobuf_bodies.CONTENT_TYPE)
            if ctype == protobuf_bodies.CONTENT_TYPE:
                try:
                    return protobuf_bodies.decode(req.body)
                except protobuf_bodies.DecodeError as exc:
                    raise bad_request(str(exc)) from None
        if ctype not in accepted:
            raise ApiError(415, "UnsupportedMediaType",
                           f"the body of the request was in an unknown format - accepted media "
                           f"types include: {', '.join(accepted)}")
        if ctype == "application/yaml":
            import yaml

            try:
                return yaml.safe_load(req.body.decode())
            except yaml.YAMLError as exc:
                raise bad_request(f"error decoding YAML: {exc}") from exc
        return parse_body(req.body, ctype)

    def _field_validation(self, req: Request) -> FieldValidation:
        mode = req.query.get("fieldValidation") or "Warn"
        if mode not in ("Strict", "Warn", "Ignore"):
            raise bad_request(f'fieldValidation: Unsupported value: "{mode}": supported values: '
                              '"Ignore", "Strict", "Warn"')
        return FieldValidation(mode)

    def _manager(self, req: Request) -> str:
        if req.query.get("fieldManager"):
            return req.query["fieldManager"]
        agent = req.headers.get("User-Agent") or "unknown"
        return agent.split("/")[0][:128]

    def _dry_run(self, req: Request) -> bool:
        values = req.raw_query.get("dryRun", [])
        for v in values:
            if v != "All":
                raise bad_request(f'dryRun: Unsupported value: "{v}": supported values: "All"')
        return bool(values)

    def _delete_options(self, req: Request) -> dict[str, Any]:
        opts: dict[str, Any] = {}
        if req.query.get("propagationPolicy"):
            opts["propagationPolicy"] = req.query["propagationPolicy"]
        if req.query.get("gracePeriodSeconds"):
            try:
                opts["gracePeriodSeconds"] = int(req.query["gracePeriodSeconds"])
            except ValueError:
                raise bad_request("gracePeriodSeconds: invalid value "
                                  f'"{req.query["gracePeriodSeconds"]}": not an integer') from None
        if req.body.strip():
            body = parse_body(req.body, "application/json")
            if isinstance(body, dict) and body:
                opts = {**opts, **{k: v for k, v in body.items() if v is not None}}
                if "dryRun" in body and body["dryRun"] not in (None, [], ["All"]):
                    raise bad_request('dryRun: Unsupported value: supported values: "All"')
        return opts

    def _matchers(self, rt: ResourceType, q: dict[str, str]) -> Callable[[dict[str, Any]], bool]:
        lsel = label_matcher(q.get("labelSelector", ""))
        fsel = field_matcher(q.get("fieldSelector", ""), rt.field_labels)
        return lambda o: lsel(o) and fsel(o)

    def _list(self, rt: ResourceType, ns: str | None, q: dict[str, str]) -> dict[str, Any]:
        """A list, paged by ``limit``/``continue`` as the apiserver does for etcd reads.

        The continue token carries the list's resourceVersion and the last key returned; later
        pages keep that resourceVersion in their metadata (the real server serves them from the
        same snapshot; the sandbox serves current objects after the key, a simplification) and
        a token older than the watch history is 410 Expired, as etcd compaction makes it.
        """
        match = self._matchers(rt, q)
        limit = _limit(q.get("limit"))
        after: tuple[str, str] | None = None
        with self.store.lock:
            rv = self.store.rv
            if q.get("continue"):
                rv, after = _parse_continue(q["continue"], self.store.compacted_rv)
            objs = self.store.select(rt.gk, ns)
        keyed = sorted(((o["metadata"].get("namespace") or "", o["metadata"]["name"]), o)
                       for o in objs if match(o))
        if after is not None:
            keyed = [(k, o) for k, o in keyed if k > after]
        meta: dict[str, Any] = {"resourceVersion": str(rv)}
        if limit and len(keyed) > limit:
            meta["continue"] = _continue_token(rv, keyed[limit - 1][0])
            meta["remainingItemCount"] = len(keyed) - limit
            keyed = keyed[:limit]
        items = [self.api.output(rt, o) for _, o in keyed]
        return {"kind": f"{rt.kind}List", "apiVersion": rt.api_version,
                "metadata": meta, "items": items}

    def _delete_collection(self, req: Request, rt: ResourceType, ns: str | None,
                           dry_run: bool) -> dict[str, Any]:
        listed = self._list(rt, ns, {k: v for k, v in req.query.items()
                                     if k not in ("limit", "continue")})
        options = self._delete_options(req)
        dry_run = dry_run or options.get("dryRun") == ["All"]
        for obj in listed["items"]:
            try:
                self.api.delete(rt, obj["metadata"].get("namespace") or "",
                                obj["metadata"]["name"], options, dry_run, self._manager(req),
                                self.user(req))
            except ApiError as exc:
                if exc.code != 404:
                    raise
        return listed

    def _watch(self, req: Request, rt: ResourceType, ns: str | None) -> Response:
        q = req.query
        match = self._matchers(rt, q)
        try:
            timeout = float(q.get("timeoutSeconds") or 1800)
        except ValueError as exc:
            raise bad_request(f"timeoutSeconds must be a number: {exc}") from exc
        deadline = time.monotonic() + timeout
        rv_text = q.get("resourceVersion", "")
        initial: list[dict[str, Any]] = []
        with self.store.lock:
            if rv_text in ("", "0"):
                start = self.store.rv
                initial = [o for o in self.store.select(rt.gk, ns) if match(o)]
            else:
                try:
                    start = int(rv_text)
                except ValueError as exc:
                    raise bad_request(f"invalid resourceVersion {rv_text!r}") from exc
                try:
                    self.store.events_since(start)
                except Expired as exc:
                    status = {"kind": "Status", "apiVersion": "v1", "metadata": {},
                              "status": "Failure", "reason": "Expired", "code": 410,
                              "message": str(exc)}
                    return Response(200, _lines([{"type": "ERROR", "object": status}]))

        def events() -> Iterator[bytes]:
            for obj in initial:
                yield _line({"type": "ADDED", "object": self.api.output(rt, obj)})
            try:
                for ev in self.store.follow(start, deadline, self._stopped.is_set):
                    if ev.gk != rt.gk:
                        continue
                    if ns is not None and ev.obj["metadata"].get("namespace") != ns:
                        continue
                    etype = _selected_event(ev.type, match(ev.obj),
                                            ev.prev is not None and match(ev.prev))
                    if etype:
                        yield _line({"type": etype, "object": self.api.output(rt, ev.obj)})
            except Expired as exc:
                yield _line({"type": "ERROR", "object": {
                    "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                    "reason": "Expired", "code": 410, "message": str(exc)}})

        return Response(200, events())

    def _scale(self, req: Request, rt: ResourceType, ns: str, name: str,
               dry_run: bool) -> Response:
        obj = self.api.get(rt, ns, name)
        if req.method == "GET":
            return json_response(200, _scale_of(obj))
        if req.method not in ("PUT", "PATCH"):
            raise _not_allowed(req)
        ptype = req.content_type or "application/json"
        body = self._body(req, ("application/json",) + PATCH_TYPES)
        current = _scale_of(obj)
        if req.method == "PUT":
            new_scale = body
        elif ptype == JSON_PATCH:
            new_scale = json_patch(current, body)
        elif ptype in (MERGE, STRATEGIC, APPLY) and isinstance(body, dict):
            new_scale = (merge_patch if ptype != STRATEGIC else strategic_merge)(current, body)
        else:
            raise bad_request("a scale patch must be a JSON object")
        if not isinstance(new_scale, dict):
            raise bad_request("a Scale must be a JSON object")
        want_rv = (new_scale.get("metadata") or {}).get("resourceVersion")
        replicas = (new_scale.get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or replicas < 0:
            raise ApiError(422, "Invalid", f'Scale.autoscaling "{name}" is invalid: '
                           "spec.replicas: Invalid value: must be a non-negative integer")
        # The write is recorded against the scale subresource (managedFields ``subresource:
        # scale``, the Scale's spec.replicas mapped to the parent's), as kube-apiserver's
        # ScaleHandler records it; an apply patch is an Apply by its fieldManager.
        if req.method == "PATCH" and ptype == APPLY:
            result, _ = self.api.apply(
                rt, ns, name, {"apiVersion": rt.api_version, "kind": rt.kind,
                               "metadata": {"name": name}, "spec": {"replicas": replicas}},
                req.query.get("fieldManager", ""), "scale", dry_run,
                bool(parse_bool(req.query.get("force"), "force")), None, self.user(req))
            return json_response(200, _scale_of(result))
        updated = clone(obj)
        updated.setdefault("spec", {})["replicas"] = replicas
        if want_rv:
            updated["metadata"]["resourceVersion"] = want_rv
        result = self.api.update(rt, ns, name, updated, self._manager(req), "scale", dry_run,
                                 user=self.user(req))
        return json_response(200, _scale_of(result))

    def _token(self, req: Request, rt: ResourceType, ns: str, name: str,
               dry_run: bool) -> Response:
        if req.method != "POST":
            raise _not_allowed(req)
        body = self._body(req, ("application/json", "application/yaml"),
                          ("authentication.k8s.io/v1", "TokenRequest"))
        return json_response(201, self.auth.token_request(rt, ns, name, body))

    def _eviction(self, req: Request, rt: ResourceType, ns: str, name: str,
                  dry_run: bool) -> Response:
        """``POST pods/NAME/eviction`` (``disruption.py``)."""
        if req.method != "POST":
            raise _not_allowed(req)
        body = self._body(req, ("application/json", "application/yaml"),
                          ("policy/v1", "Eviction"))
        code, answer = self.evictions.evict(ns, name, body, dry_run, self._manager(req),
                                            self.user(req))
        return json_response(code, answer)

    def _log(self, req: Request, rt: ResourceType, ns: str, name: str,
             dry_run: bool) -> Response:
        if req.method != "GET":
            raise _not_allowed(req)
        pod = self.api.get(rt, ns, name)
        containers = [c.get("name") for c in (pod.get("spec") or {}).get("containers") or []]
        container = req.query.get("container")
        if container and container not in containers:
            raise bad_request(f"container {container} is not valid for pod {name}")
        if not container and len(containers) > 1:
            raise bad_request(f"a container name must be specified for pod {name}, choose one "
                              f"of: [{' '.join(str(c) for c in containers)}]")
        text = self.store.logs.get((ns, name), "")
        lines = text.splitlines()
        tail = req.query.get("tailLines")
        if tail:
            try:
                n = int(tail)
            except ValueError as exc:
                raise bad_request(f"tailLines must be an integer: {tail!r}") from exc
            lines = lines[-n:] if n > 0 else []
        if parse_bool(req.query.get("timestamps"), "timestamps"):
            started = (pod.get("status") or {}).get("startTime") or now_rfc3339()
            lines = [f"{started} {line}" for line in lines]
        out = "\n".join(lines) + ("\n" if lines else "")
        return Response(200, out, content_type="text/plain")


def _scale_of(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj["metadata"]
    spec = obj.get("spec") or {}
    labels = ((spec.get("selector") or {}).get("matchLabels") or {})
    return {"kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion",
                                              "creationTimestamp") if k in meta},
            "spec": {"replicas": spec.get("replicas", 1)},
            "status": {"replicas": (obj.get("status") or {}).get("replicas", 0),
                       "selector": ",".join(f"{k}={v}" for k, v in labels.items())}}


def _node_status(name: str, version: str, cores: int = 4, ram_mb: int = 16384,
                 ip: str = "10.7.222.10") -> dict[str, Any]:
    ts = now_rfc3339()
    return {
        "capacity": {"cpu": str(cores), "memory": f"{ram_mb}Mi", "pods": "110",
                     "ephemeral-storage": "100Gi"},
        "allocatable": {"cpu": f"{cores * 1000 - 200}m", "memory": f"{ram_mb * 9 // 10}Mi",
                        "pods": "110", "ephemeral-storage": "90Gi"},
        "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                        "message": "kubelet is posting ready status",
                        "lastHeartbeatTime": ts, "lastTransitionTime": ts}],
        "addresses": [{"type": "InternalIP", "address": ip},
                      {"type": "Hostname", "address": name}],
        "nodeInfo": {"kubeletVersion": f"v{version}", "kubeProxyVersion": f"v{version}",
                     "containerRuntimeVersion": "containerd://1.7.0",
                     "operatingSystem": "linux", "architecture": "amd64",
                     "osImage": "Ubuntu 22.04 LTS", "kernelVersion": "5.15.0",
                     "machineID": "", "systemUUID": "", "bootID": ""},
    }


def _unknown_path() -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource",
                    {})


def _not_allowed(req: Request) -> ApiError:
    return ApiError(405, "MethodNotAllowed",
                    f"the server does not allow this method on the requested resource "
                    f"({req.method} {req.path})")


def _warnings(fv: FieldValidation) -> dict[str, str]:
    """The ``Warning`` header (RFC 7234 code 299, as kube-apiserver sends it)."""
    if not fv.warnings:
        return {}
    return {"Warning": ", ".join('299 - "' + w.replace('"', '\\"') + '"'
                                 for w in fv.warnings)}


def _make_cluster_ca() -> str:
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubernetes")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _limit(text: str | None) -> int:
    if not text:
        return 0
    try:
        value = int(text)
    except ValueError as exc:
        raise bad_request(f"limit must be an integer: {text!r}") from exc
    return max(value, 0)


def _continue_token(rv: int, key: tuple[str, str]) -> str:
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": list(key)})
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _parse_continue(token: str, compacted: int) -> tuple[int, tuple[str, str]]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        rv, start = int(data["rv"]), data["start"]
        key = (str(start[0]), str(start[1]))
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise bad_request("continue key is not valid: " + str(exc)) from None
    if rv < compacted:
        raise ApiError(410, "Expired", "The provided continue parameter is too old to display a "
                       "consistent list result. You can start a new list without the continue "
                       "parameter, or use the continue token in this response to retrieve the "
                       "remainder of the results.")
    return rv, key


def _selected_event(etype: str, now: bool, before: bool) -> str:
    """The event a selector-filtered watch sends: an object that enters the selection is ADDED,
    one that leaves it is DELETED (with its new state), as the apiserver's watch cache does."""
    if etype != "MODIFIED":
        return etype if now else ""
    if now:
        return "MODIFIED" if before else "ADDED"
    return "DELETED" if before else ""


def _line(event: dict[str, Any]) -> bytes:
    return (json.dumps(event, separators=(",", ":")) + "\n").encode()


def _lines(events: list[dict[str, Any]]) -> Iterator[bytes]:
    for e in events:
        yield _line(e)
