"""KubernetesResource: the platform's cluster, through the official ``kubernetes`` client.

Where the credentials come from is decided in one place for the CLI and Dagster
(``resources.kubeconfig``): in-cluster when configured, ``$KUBECONFIG`` or a named context of
``~/.kube/config``, the managed IONOS cluster (``from_ionos_cluster``: its kubeconfig is fetched
from the IONOS API on first use and loaded from memory, so on an empty cloud the chain cluster →
kubeconfig → components works in one run), a mounted service account, or ``~/.kube/config``.
All objects are handled as plain dicts through the dynamic client; server-side apply uses one
field manager.
"""

from __future__ import annotations

import builtins
import threading
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from pydantic import PrivateAttr

from resources.config import KubernetesConfig

if TYPE_CHECKING:  # credentials and retries are imported by the first API call, not when loading
    from platform_assets.core.ports import Propagation
    from resources.kubeconfig import KubeSource
    from resources.retry import RetryPolicy

LIST_PAGE = 500  # kubectl's page size
_SDK_LOCK = threading.Lock()
CONNECTIONS = 64  # kept open to the API server (see api_client)
# What ``kubectl auth can-i`` asks (authorization.k8s.io/v1); every authenticated user may.
SELF_SUBJECT_ACCESS_REVIEWS = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"


class ApiNotServed(LookupError):
    """The API server does not serve a kind in the version asked for; the message names the
    kind, the version and the versions the server does serve of its group."""

    def __init__(self, api_version: str, kind: str, served: list[str]):
        group = api_version.rpartition("/")[0] or "core"
        where = (f"the server serves {group} in {', '.join(served)}" if served
                 else f"the server serves no version of the API group {group}")
        super().__init__(f"{kind} {api_version} is not served ({where}); is its "
                         "CustomResourceDefinition installed, in that version?")
        self.api_version, self.kind, self.served = api_version, kind, served


def _import_sdk() -> None:
    """Import the ``kubernetes`` package whole (its client, config and dynamic modules) before
    a submodule is imported on its own: a reconcile's threads reach the SDK at once, and a
    thread importing a submodule (``kubernetes.dynamic.exceptions``) takes that module's lock
    before its parents', so one importing the package meanwhile deadlocks with it
    (``_DeadlockError``). Under one lock, the first import is one thread's; later calls find
    it in ``sys.modules``."""
    with _SDK_LOCK:
        import kubernetes  # noqa: F401


def kubeconfig_dict(body: bytes, source: str) -> dict[str, Any]:
    """The kubeconfig the IONOS API answered (YAML or JSON), as a mapping.

    Raises ValueError naming ``source`` when the body is not a kubeconfig mapping."""
    import yaml

    try:
        text = body.decode()
        config = yaml.safe_load(text)
    except (UnicodeDecodeError, yaml.YAMLError):
        # Not the parser's message: it quotes the body, and the body holds a credential.
        raise ValueError(f"{source}: the answer is neither YAML nor JSON") from None
    if not isinstance(config, dict) or "clusters" not in config:
        raise ValueError(f"{source}: the answer is not a kubeconfig (no 'clusters' mapping)")
    return config


class KubernetesResource(KubernetesConfig):
    """Access to the platform's Kubernetes API."""

    _api_client: Any = PrivateAttr(default=None)
    _dynamic: Any = PrivateAttr(default=None)
    _resources: dict[tuple[str, str], Any] = PrivateAttr(default_factory=dict)
    # What access reviews answered this identity, by (verb, apiVersion, kind, namespace): its
    # RBAC is the deployment's, so a run asks each question once (a stale "no" only costs
    # GETs by name; a stale "yes" meets the 403 the callers handle).
    _may: dict[tuple[str, str, str, str], bool | None] = PrivateAttr(default_factory=dict)

    def open(self) -> KubernetesResource:
        """This resource (its config's ``open()``, already open)."""
        return self

    @property
    def retry_policy(self) -> RetryPolicy:
        """The retries of transient Kubernetes API errors this resource is configured for."""
        from resources.retry import RetryPolicy

        return RetryPolicy(attempts=self.retry_attempts, base_delay=0.5,
                           max_delay=self.retry_max_wait_seconds)

    def source(self) -> KubeSource:
        """Where the credentials come from (``resources.kubeconfig`` gives the order)."""
        from resources import kubeconfig

        return kubeconfig.choose(kubeconfig_path=self.kubeconfig_path, context=self.context,
                                 in_cluster=self.in_cluster,
                                 from_ionos_cluster=self.from_ionos_cluster,
                                 token_mounted=kubeconfig.IN_CLUSTER_TOKEN.exists)

    def _kubeconfig_from_ionos(self) -> dict[str, Any]:
        if not (self.ionos and self.cluster_name):
            raise ValueError("from_ionos_cluster needs the ionos resource and cluster_name")
        ionos = self.ionos.open()
        k8s = ionos.api("KubernetesApi")
        clusters = ionos.call("GET /k8s", lambda: k8s.k8s_get(depth=1))
        match = [c for c in clusters.items or [] if c.properties.name == self.cluster_name]
        if not match:
            raise LookupError(f"IONOS Kubernetes cluster {self.cluster_name!r} does not exist "
                              "(yet): reconcile the cluster asset first")
        cid = match[0].id
        # The SDK asks for application/json, so the API answers the kubeconfig as a JSON object,
        # which the SDK would turn into a Python repr: read the raw body instead.
        raw = ionos.call(f"GET /k8s/{cid}/kubeconfig",
                         lambda: k8s.k8s_kubeconfig_get(cid, _preload_content=False))
        # The kubeconfig holds a credential: it stays in memory, never in a file or metadata.
        return kubeconfig_dict(raw.data, f"GET /k8s/{cid}/kubeconfig")

    def api_client(self) -> Any:
        """A ``kubernetes.client.ApiClient``, built on first use."""
        if self._api_client is None:
            from kubernetes import client

            from resources import kubeconfig

            cfg = client.Configuration()
            kubeconfig.load(self.source(), cfg, self._kubeconfig_from_ionos)
            cfg.retries = False
            # A reconcile has its components' requests, a list per kind and up to 32 GETs by
            # name in flight (engine/cluster_view.py): beyond the pool's default (cpu_count * 5)
            # urllib3 would open a connection (a TLS handshake) per request and drop it after.
            cfg.connection_pool_maxsize = max(cfg.connection_pool_maxsize, CONNECTIONS)
            self._api_client = client.ApiClient(cfg)
        return self._api_client

    def dynamic(self) -> Any:
        """The ``DynamicClient`` (discovery is cached per process)."""
        if self._dynamic is None:
            _import_sdk()
            from kubernetes.dynamic import DynamicClient

            self._dynamic = self.call("discovery", lambda: DynamicClient(self.api_client()))
        return self._dynamic

    def resource(self, api_version: str, kind: str) -> Any:
        """The dynamic client's resource of a kind; raises ApiNotServed when discovery does
        not find it (the client's own errors say only ``No matches`` or ``KeyError``)."""
        _import_sdk()
        from kubernetes.dynamic.exceptions import ResourceNotFoundError

        key = (api_version, kind)
        if key not in self._resources:
            dyn = self.dynamic()
            for fresh in (False, True):
                try:
                    if fresh:
                        # Discovery was cached before a CRD this run installed (Flux's, a
                        # chart's) was established: look again once before calling it missing.
                        dyn.resources.invalidate_cache()
                    self._resources[key] = self.call(
                        f"discover {api_version} {kind}",
                        lambda: dyn.resources.get(api_version=api_version, kind=kind),
                    )
                    break
                except (ResourceNotFoundError, KeyError):
                    if fresh:
                        raise ApiNotServed(api_version, kind,
                                           self.served_versions(api_version)) from None
        return self._resources[key]

    def served_versions(self, api_version: str) -> list[str]:
        """The versions the server serves of ``api_version``'s group (``GET /apis``)."""
        import json

        group = api_version.rpartition("/")[0]
        if not group:
            return ["v1"]
        client = self.api_client()

        def fetch() -> Any:
            resp = client.call_api("/apis", "GET", header_params={"Accept": "application/json"},
                                   auth_settings=["BearerToken"], _preload_content=False,
                                   _return_http_data_only=True)
            return json.loads(resp.data)

        body = self.call("GET /apis", fetch)
        for g in body.get("groups") or []:
            if g.get("name") == group:
                return [str(v.get("groupVersion")) for v in g.get("versions") or []]
        return []

    def serves(self, api_version: str, kind: str) -> str | None:
        """None when the server serves the kind in that version, else why not."""
        try:
            self.resource(api_version, kind)
        except ApiNotServed as exc:
            return str(exc)
        return None

    def call(self, describe: str, fn: Callable[[], Any],
             log: Callable[[str], Any] | None = None) -> Any:
        """Run one API call with retries on transient errors (honouring Retry-After)."""
        from resources.retry import call_with_retry

        return call_with_retry(fn, describe, self.retry_policy, on_retry=log)

    @staticmethod
    def _describe(verb: str, api_version: str, kind: str, name: str | None,
                  namespace: str | None) -> str:
        where = f"{namespace}/" if namespace else ""
        return f"{verb} {api_version} {kind} {where}{name or ''}".rstrip()

    def get(self, api_version: str, kind: str, name: str,
            namespace: str | None = None) -> dict[str, Any] | None:
        """The object as a dict, or None when it does not exist."""
        _import_sdk()
        from kubernetes.dynamic.exceptions import NotFoundError

        res = self.resource(api_version, kind)
        try:
            obj = self.call(self._describe("GET", api_version, kind, name, namespace),
                            lambda: res.get(name=name, namespace=namespace))
        except NotFoundError:
            return None
        return dict(obj.to_dict())

    def list(self, api_version: str, kind: str, namespace: str | None = None,
             label_selector: str | None = None,
             field_selector: str | None = None) -> list[dict[str, Any]]:
        """Objects of a kind (in a namespace, or all namespaces when ``namespace`` is None)."""
        res = self.resource(api_version, kind)
        kwargs: dict[str, Any] = {}
        if namespace and res.namespaced:
            kwargs["namespace"] = namespace
        if label_selector:
            kwargs["label_selector"] = label_selector
        if field_selector:
            kwargs["field_selector"] = field_selector
        out = self.call(self._describe("LIST", api_version, kind, None, namespace),
                        lambda: res.get(**kwargs))
        return [dict(i) for i in out.to_dict().get("items", [])]

    def apply(self, obj: dict[str, Any], force: bool = True, dry_run: bool = False,
              subresource: str | None = None) -> dict[str, Any]:
        """Server-side apply ``obj`` under this resource's field manager."""
        res = self.resource(obj["apiVersion"], obj["kind"])
        if subresource:
            res = getattr(res, subresource)
        meta = obj.get("metadata", {})
        kwargs: dict[str, Any] = {"field_manager": self.field_manager, "force_conflicts": force}
        if dry_run:
            kwargs["dry_run"] = "All"
        if meta.get("namespace") and res.namespaced:
            kwargs["namespace"] = meta["namespace"]
        out = self.call(
            self._describe("APPLY", obj["apiVersion"], obj["kind"], meta.get("name"),
                           meta.get("namespace")),
            lambda: res.server_side_apply(body=obj, name=meta.get("name"), **kwargs),
        )
        return dict(out.to_dict())

    def patch_merge(self, api_version: str, kind: str, name: str, namespace: str | None,
                    patch: dict[str, Any], subresource: str | None = None,
                    field_manager: str | None = None) -> dict[str, Any]:
        """A JSON merge patch (works on built-ins and custom resources alike); recorded under
        ``field_manager`` when given, else the client's default."""
        res = self.resource(api_version, kind)
        if subresource:
            res = getattr(res, subresource)
        extra: dict[str, Any] = {"field_manager": field_manager} if field_manager else {}
        out = self.call(
            self._describe("PATCH", api_version, kind, name, namespace),
            lambda: res.patch(body=patch, name=name, namespace=namespace,
                              content_type="application/merge-patch+json", **extra),
        )
        return dict(out.to_dict())

    def delete(self, api_version: str, kind: str, name: str,
               namespace: str | None = None, propagation: Propagation = "Background") -> bool:
        """Delete an object with ``propagation`` (Background: it goes once its finalizers, and
        a running pod's grace period, let it, its dependents after; Foreground: it also stays
        until its dependents are gone); False when it was already gone."""
        _import_sdk()
        from kubernetes.dynamic.exceptions import NotFoundError

        res = self.resource(api_version, kind)
        try:
            self.call(self._describe("DELETE", api_version, kind, name, namespace),
                      lambda: res.delete(name=name, namespace=namespace,
                                         body={"propagationPolicy": propagation}))
        except NotFoundError:
            return False
        return True

    def pod_log(self, name: str, namespace: str, tail_lines: int = 20) -> str:
        """The last ``tail_lines`` lines of a pod's (only) container's log."""
        from kubernetes import client

        api = client.CoreV1Api(self.api_client())
        # Unparsed: the client would turn the text/plain body into the repr of bytes.
        out = self.call(f"GET v1 Pod {namespace}/{name}/log",
                        lambda: api.read_namespaced_pod_log(name, namespace,
                                                            tail_lines=tail_lines,
                                                            _preload_content=False))
        return bytes(out.data).decode("utf-8", errors="replace")

    def namespaced(self, api_version: str, kind: str) -> bool:
        """Whether objects of this kind live in a namespace (from discovery)."""
        return bool(self.resource(api_version, kind).namespaced)

    def list_managed(self, api_version: str, kind: str, namespace: str | None,
                     label_selector: str) -> builtins.list[dict[str, Any]]:
        """Objects of a kind carrying ``label_selector``, in ``namespace`` or (None) across
        all namespaces, page by page (``limit``/``continue``); [] when the API lacks the
        kind."""
        try:
            res = self.resource(api_version, kind)
        except ApiNotServed:
            return []
        ns = namespace if res.namespaced else None
        path = res.path(namespace=ns) if ns else res.path()
        items: builtins.list[dict[str, Any]] = []
        token: str | None = None
        while True:
            query = [("labelSelector", label_selector), ("limit", str(LIST_PAGE))]
            if token:
                query.append(("continue", token))
            body = self.call(self._describe("LIST", api_version, kind, None, ns),
                             partial(self._get_json, path, query))
            items += body.get("items") or []  # dicts already: json.loads made them
            token = (body.get("metadata") or {}).get("continue")
            if not token:
                return items

    def may(self, verb: str, api_version: str, kind: str,
            namespace: str | None = None) -> bool | None:
        """Whether this identity may ``verb`` objects of a kind in ``namespace`` (None: across
        all namespaces), as a SelfSubjectAccessReview answers it (``kubectl auth can-i``): a
        question, not an attempt, so a "no" is no refused request in the audit log. None when
        the server cannot say (no review API, or reviews refused to this identity). Each
        question is asked once per resource (its identity)."""
        key = (verb, api_version, kind, namespace or "")
        if key not in self._may:
            self._may[key] = self._review(verb, api_version, kind, namespace)
        return self._may[key]

    def _review(self, verb: str, api_version: str, kind: str,
                namespace: str | None) -> bool | None:
        _import_sdk()
        from kubernetes.client.exceptions import ApiException

        res = self.resource(api_version, kind)
        body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                "spec": {"resourceAttributes": {
                    "verb": verb, "group": res.group or "", "resource": res.name,
                    "namespace": namespace or ""}}}
        where = namespace or "all namespaces"
        try:
            answer = self.call(f"REVIEW {verb} {api_version} {kind} in {where}",
                               partial(self._post_json, SELF_SUBJECT_ACCESS_REVIEWS, body))
        except ApiException as exc:
            if exc.status in (403, 404, 405):
                return None
            raise
        return bool((answer.get("status") or {}).get("allowed"))

    def _post_json(self, path: str, body: dict[str, Any]) -> Any:
        import json

        resp = self.api_client().call_api(
            path, "POST", body=body, header_params={"Accept": "application/json",
                                                    "Content-Type": "application/json"},
            auth_settings=["BearerToken"], _preload_content=False, _return_http_data_only=True)
        return json.loads(resp.data)

    def _get_json(self, path: str, query: builtins.list[tuple[str, str]]) -> Any:
        import json

        # Raw JSON: the dynamic client's object wrappers cost more than the request.
        resp = self.api_client().call_api(
            path, "GET", query_params=query, header_params={"Accept": "application/json"},
            auth_settings=["BearerToken"], _preload_content=False, _return_http_data_only=True)
        return json.loads(resp.data)

    def namespaced_kinds(self) -> tuple[tuple[str, str], ...]:
        """(apiVersion, kind) of every namespaced kind that can be listed, from discovery, in
        each group's preferred version (subresources excluded). Discovery is asked afresh: a
        cached one would miss CRDs installed since, and list kinds since removed."""
        dyn = self.dynamic()
        self.call("discovery", dyn.resources.invalidate_cache)
        self._resources.clear()
        found: dict[tuple[str, str], tuple[bool, str]] = {}
        for r in self.call("discovery search", lambda: dyn.resources.search()):
            if type(r).__name__ != "Resource" or not r.namespaced or "/" in (r.name or ""):
                continue
            if "list" not in (r.verbs or []):
                continue
            key = (r.group or "", r.kind)
            if key not in found or (r.preferred and not found[key][0]):
                found[key] = (bool(r.preferred), r.group_version)
        return tuple(sorted((gv, kind) for (_, kind), (_, gv) in found.items()))

    def replace_status(self, obj: dict[str, Any]) -> dict[str, Any]:
        """PUT the object's status subresource (``UpdateStatus``); 409 when ``obj``'s
        resourceVersion is stale, as the API server answers."""
        res = self.resource(obj["apiVersion"], obj["kind"]).status
        meta = obj.get("metadata", {})
        out = self.call(
            self._describe("PUT status", obj["apiVersion"], obj["kind"], meta.get("name"),
                           meta.get("namespace")),
            lambda: res.replace(body=obj, name=meta.get("name"), namespace=meta.get("namespace")),
        )
        return dict(out.to_dict())
