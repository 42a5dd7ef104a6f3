"""IonosCloudResource: the IONOS Cloud API v6, DBaaS MariaDB v2 and Certificate Manager v2.

Clients are built on first use (the SDKs are imported lazily). The SDK's own retry loop is
turned down to a single attempt, because its defaults sleep 100 s between 5xx retries and raise
``KeyError`` on a 429 without Retry-After; retries happen here instead, bounded and explicit
(``resources.retry``), and honour Retry-After.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import PrivateAttr

from resources.config import IonosCloudConfig
from resources.ionos_dbaas import IonosDatabases
from resources.ionos_gateways import IonosGateways
from resources.ionos_registry import IonosRegistries

if TYPE_CHECKING:  # credentials and retries are imported by the first API call, not when loading
    from resources.credentials import IonosCredentials, IonosEndpoints
    from resources.retry import RetryPolicy

T = TypeVar("T")

# Re-entrant: building an API class's client builds the Cloud API client it wraps.
_CLIENTS_LOCK = threading.RLock()

_REQUEST_ID = re.compile(r"/requests/([-A-Fa-f0-9]+)/")


class IonosAuthError(RuntimeError):
    """The Auth API refused to generate a token (``status``, ``body`` and ``headers`` as the
    SDKs' ApiException has them, so retries and messages treat it alike)."""

    def __init__(self, status: int, body: str, headers: dict[str, str],
                 request: str = "GET /auth/v1/tokens/generate") -> None:
        try:
            messages = json.loads(body).get("messages") or []
            said = "; ".join(str(m.get("message")) for m in messages if isinstance(m, dict))
        except (ValueError, AttributeError):
            said = body[:300]
        super().__init__(f"{request}: HTTP {status}: {said or 'no message'} (a token for the "
                         "DNS API, which takes tokens only; check IONOS_USERNAME and "
                         "IONOS_PASSWORD, or set IONOS_TOKEN)")
        self.status, self.body, self.headers = status, body, headers


class IonosRequestFailed(RuntimeError):
    """An asynchronous IONOS request ended FAILED or did not finish in time."""


class WaitProgress:
    """Logs a wait's state when it changes, and at least every ``every`` seconds, with the time
    waited: IONOS waits last up to 30 minutes, and a silent run looks hung."""

    def __init__(self, describe: str, target: str, log: Callable[[str], Any] | None,
                 clock: Callable[[], float], every: float = 60.0) -> None:
        self.describe, self.target, self.log, self.clock, self.every = (
            describe, target, log, clock, every)
        # Without a log the clock is not read at all: the wait's deadline owns it.
        self.start = self.last_logged = clock() if log is not None else 0.0
        self.last_state: str | None = None

    def see(self, state: str | None) -> None:
        """Log a state change, or the same state again after ``every`` seconds, with the time
        waited."""
        if self.log is None:
            return
        now = self.clock()
        state = state or "no state"
        if state == self.last_state and now - self.last_logged < self.every:
            return
        waiting = "" if state == self.target else f" (waiting for {self.target})"
        self.log(f"{self.describe}: {state} after {now - self.start:.0f}s{waiting}")
        self.last_state, self.last_logged = state, now


def _state(obj: Any) -> str:
    """An SDK model's ``metadata.state`` (or ``.status``) as text; enums by their value."""
    meta = getattr(obj, "metadata", None)
    value = getattr(meta, "state", None) or getattr(meta, "status", None)
    return str(getattr(value, "value", value) or "")


def _with_api_path(url: str, path: str) -> str:
    url = url.rstrip("/")
    # The Python SDK uses the host verbatim; the Go SDK and Terraform append /cloudapi/v6 when
    # IONOS_API_URL lacks it, so accept both spellings.
    return url if url.endswith(path) else url + path


class IonosCloudResource(IonosDatabases, IonosGateways, IonosRegistries,
                         IonosCloudConfig):
    """IONOS Cloud credentials and endpoints. Token (Bearer) or username/password (Basic)."""

    _clients: dict[str, Any] = PrivateAttr(default_factory=dict)

    def open(self) -> IonosCloudResource:
        """This resource (its config's ``open()``, already open)."""
        return self

    @property
    def retry_policy(self) -> RetryPolicy:
        """The retries of transient IONOS API errors this resource is configured for."""
        from resources.retry import RetryPolicy

        return RetryPolicy(attempts=self.retry_attempts, base_delay=0.5,
                           max_delay=self.retry_max_wait_seconds)

    def credentials(self) -> IonosCredentials:
        """The explicit token or username/password, else those of the environment.

        Raises:
            CredentialError: none is set (the message names the variables), or one badly.
        """
        from resources.credentials import IonosCredentialNames, IonosCredentials, ionos_credentials

        if self.token or (self.username and self.password):
            return IonosCredentials(token=self.token, username=self.username,
                                    password=self.password)
        if self.token_env or self.username_env:
            return ionos_credentials(names=IonosCredentialNames(
                self.token_env, self.username_env, self.password_env, self.environment))
        return ionos_credentials()

    def endpoints(self) -> IonosEndpoints:
        """The Cloud API, MariaDB and Certificate Manager URLs this resource talks to."""
        from resources.credentials import (
            IONOS_API_URL,
            IONOS_CERTMANAGER_URL,
            IONOS_MARIADB_URL,
            ionos_endpoints,
        )

        explicit = {IONOS_API_URL: self.api_url, IONOS_MARIADB_URL: self.mariadb_url,
                    IONOS_CERTMANAGER_URL: self.certmanager_url}
        return ionos_endpoints(self.location, explicit=explicit.get)

    def _dbaas_client(self, sdk: Any, host: str) -> Any:
        """An ApiClient of a DBaaS-style SDK. Their generated Python code sends only Bearer
        tokens, while the APIs also take Basic auth (their Node SDKs' ``Configuration({username,
        password})``): with a username and password, send the Basic header ourselves."""
        creds = self.credentials()
        cfg = sdk.Configuration(host=host.rstrip("/"), token=creds.token)
        client = sdk.ApiClient(cfg)
        if not creds.token:
            import urllib3

            basic = urllib3.util.make_headers(basic_auth=f"{creds.username}:{creds.password}")
            client.set_default_header("Authorization", basic["authorization"])
        return self._with_timeouts(client)

    def _with_timeouts(self, client: Any) -> Any:
        """Give every request of ``client`` (connect, read) timeouts unless the call sets its own:
        the SDKs default to none, so a stalled connection would hang a run forever."""
        rest = client.rest_client
        send = rest.request
        bound = (10.0, self.http_timeout_seconds)

        def request(*args: Any, _request_timeout: Any = None, **kwargs: Any) -> Any:
            return send(*args, _request_timeout=_request_timeout or bound, **kwargs)

        rest.request = request
        return client

    def _client_once(self, key: str, build: Callable[[], Any]) -> Any:
        """The client cached under ``key``, built by ``build`` on first use. A reconcile's worker
        threads ask for clients at the same time: one lock makes the first build (and the SDK
        import it does) happen once, instead of two threads importing a package midway."""
        with _CLIENTS_LOCK:
            if key not in self._clients:
                self._clients[key] = build()
            return self._clients[key]

    def cloud_client(self) -> Any:
        """The ``ionoscloud.ApiClient`` (Cloud API v6), built on first use."""
        return self._client_once("cloud", self._new_cloud_client)

    def _new_cloud_client(self) -> Any:
        import ionoscloud

        creds = self.credentials()
        cfg = ionoscloud.Configuration(
            host=_with_api_path(self.endpoints().cloud, "/cloudapi/v6"),
            token=creds.token,
            username=None if creds.token else creds.username,
            password=None if creds.token else creds.password,
        )
        # The SDK's own retry loop sleeps 100 s between 5xx retries: retry here instead.
        cfg.max_retries = 1
        cfg.wait_time = 1
        cfg.max_wait_time = int(self.retry_max_wait_seconds)
        return self._with_timeouts(ionoscloud.ApiClient(cfg))

    def mariadb_client(self) -> Any:
        """The ``ionoscloud_dbaas_mariadb.ApiClient`` (MariaDB API v2, the location's region)."""
        def build() -> Any:
            import ionoscloud_dbaas_mariadb as mdb

            return self._dbaas_client(mdb, self.endpoints().mariadb)

        return self._client_once("mariadb", build)

    def certmanager_client(self) -> Any:
        """The ``ionoscloud_cert_manager.ApiClient`` (Certificate Manager API v2)."""
        def build() -> Any:
            import ionoscloud_cert_manager as cm

            return self._dbaas_client(cm, self.endpoints().certmanager)

        return self._client_once("certmanager", build)

    def api(self, name: str) -> Any:
        """An API class of the Cloud SDK by name, e.g. ``api("KubernetesApi")``."""
        import ionoscloud

        return self._client_once(f"api:{name}",
                                 lambda: getattr(ionoscloud, name)(self.cloud_client()))

    def call(self, describe: str, fn: Callable[[], T],
             log: Callable[[str], Any] | None = None) -> T:
        """Run one SDK call with bounded retries of transient errors.

        Args:
            describe: the request in words, e.g. ``"POST /datacenters (k8s-production)"``; the
                error after the last attempt names it. Never include secrets.
            fn: the SDK call.
            log: receives one line per retry.
        """
        from resources.retry import call_with_retry

        return call_with_retry(fn, describe, self.retry_policy, on_retry=log)

    def write(self, describe: str, fn: Callable[[], Any],
              log: Callable[[str], Any] | None = None) -> tuple[Any, str | None]:
        """Run a ``*_with_http_info`` write; return (body, request id from the Location header)."""
        body, _status, headers = self.call(describe, fn, log)
        location = headers.get("Location") if headers else None
        m = _REQUEST_ID.search(location or "")
        return body, (m.group(1) if m else None)

    def wait_for_request(self, request_id: str | None, describe: str,
                         sleep: Callable[[float], Any] = time.sleep,
                         clock: Callable[[], float] = time.monotonic,
                         log: Callable[[str], Any] | None = None) -> None:
        """Poll ``/requests/{id}/status`` until DONE; raise on FAILED or after the timeout.
        ``log`` gets each state change and the time waited."""
        if not request_id:
            return
        deadline = clock() + self.request_timeout_seconds
        delay = self.poll_interval_seconds
        progress = WaitProgress(f"{describe}: request {request_id}", "DONE", log, clock)
        while True:
            status = self.call(
                f"GET /requests/{request_id}/status ({describe})",
                lambda: self.api("RequestsApi").requests_status_get(request_id),
            )
            state = status.metadata.status if status and status.metadata else None
            progress.see(state)
            if state == "DONE":
                return
            if state == "FAILED":
                raise IonosRequestFailed(
                    f"{describe}: IONOS request {request_id} FAILED: {status.metadata.message}")
            if clock() > deadline:
                raise IonosRequestFailed(
                    f"{describe}: IONOS request {request_id} still {state} after "
                    f"{self.request_timeout_seconds:.0f}s")
            sleep(delay)
            delay = min(delay * 2, 10.0)

    def wait_until(self, describe: str, fetch: Callable[[], T], ready: Callable[[T], bool],
                   failed: Callable[[T], str | None] = lambda _: None,
                   sleep: Callable[[float], Any] = time.sleep,
                   clock: Callable[[], float] = time.monotonic,
                   log: Callable[[str], Any] | None = None, target: str = "ready",
                   state: Callable[[T], str] = _state) -> T:
        """Poll ``fetch`` until ``ready`` (k8s clusters and node pools are not tracked by
        ``/requests``: like Terraform, poll the resource until ACTIVE). ``log`` gets each
        ``state`` change and the time waited for ``target``."""
        deadline = clock() + self.request_timeout_seconds
        delay = self.poll_interval_seconds
        progress = WaitProgress(describe, target, log, clock)
        while True:
            obj = self.call(describe, fetch)
            done = ready(obj)
            progress.see(target if done else state(obj))
            if done:
                return obj
            why = failed(obj)
            if why:
                raise IonosRequestFailed(f"{describe}: {why}")
            if clock() > deadline:
                raise IonosRequestFailed(f"{describe}: not ready after "
                                         f"{self.request_timeout_seconds:.0f}s")
            sleep(delay)
            delay = min(delay * 2, 10.0)

    def to_json(self, model: Any) -> Any:
        """An SDK model as the API's JSON (camelCase keys, plain dicts and lists)."""
        if model is None or isinstance(model, dict | list | str | int | float | bool):
            return model
        if hasattr(model, "to_dict") and hasattr(model, "model_dump"):  # pydantic SDKs
            return model.model_dump(by_alias=True, exclude_none=True, mode="json")
        return self.cloud_client().sanitize_for_serialization(model)

    def create_once(self, describe: str, create: Callable[[], T],
                    find: Callable[[], Any], log: Callable[[str], Any] | None = None,
                    sleep: Callable[[float], Any] = time.sleep) -> T | Any:
        """A create that never makes duplicates: after a transient failure (the server may or may
        not have acted), look the resource up before trying again.

        Returns the create's result, or what ``find`` found.
        """
        def recover() -> Any:
            return self.call(f"look-up after failed {describe}", find)

        on_retry = None
        if log is not None:
            def on_retry(message: str) -> None:
                log(f"{message}; checking whether it was created first")
        from resources.retry import call_with_retry

        return call_with_retry(create, describe, self.retry_policy, sleep=sleep,
                               on_retry=on_retry, recover=recover)

    @staticmethod
    def _post_once(fn: Callable[[], Any]) -> tuple[Any, str | None]:
        """One ``*_with_http_info`` POST, not retried here (``create_once`` decides)."""
        body, _status, headers = fn()
        m = _REQUEST_ID.search((headers.get("Location") if headers else None) or "")
        return body, (m.group(1) if m else None)

    def _find_named(self, items: Any, name: str, key: str = "name") -> dict[str, Any] | None:
        found = [i for i in (self.to_json(items) or {}).get("items", [])
                 if (i.get("properties") or {}).get(key) == name]
        if len(found) > 1:
            ids = ", ".join(str(i.get("id")) for i in found)
            raise LookupError(f"{len(found)} IONOS resources are named {name!r} ({ids}); "
                              "remove the duplicates so the spec names exactly one")
        return found[0] if found else None

    def find_datacenter(self, name: str) -> dict[str, Any] | None:
        """The datacenter named ``name`` (JSON, depth 1), or None."""
        dcs = self.api("DataCentersApi")
        return self._find_named(self.call("GET /datacenters", lambda: dcs.datacenters_get(
            depth=1)), name)

    def create_datacenter(self, props: dict[str, Any],
                          log: Callable[[str], Any] | None = None) -> dict[str, Any]:
        """Create a datacenter and wait until it is AVAILABLE."""
        dcs = self.api("DataCentersApi")
        describe = f"POST /datacenters ({props['name']})"

        def create() -> dict[str, Any]:
            body, rid = self._post_once(lambda: dcs.datacenters_post_with_http_info(
                {"properties": props}))
            self.wait_for_request(rid, describe, log=log)
            return dict(self.to_json(body))

        out = self.create_once(describe, create, lambda: self.find_datacenter(props["name"]),
                               log)
        return self.datacenter_ready(out["id"], log)

    def datacenter_ready(self, dc_id: str,
                         log: Callable[[str], Any] | None = None) -> dict[str, Any]:
        """Wait until the data center is AVAILABLE; a FAILED state ends the wait with an error."""
        dcs = self.api("DataCentersApi")
        return dict(self.to_json(self.wait_until(
            f"GET /datacenters/{dc_id}", lambda: dcs.datacenters_find_by_id(dc_id, depth=1),
            lambda d: d.metadata.state == "AVAILABLE",
            lambda d: f"state {d.metadata.state}" if "FAILED" in str(d.metadata.state) else None,
            log=log, target="AVAILABLE")))

    def update_datacenter(self, dc_id: str, props: dict[str, Any],
                          log: Callable[[str], Any] | None = None) -> None:
        """PATCH a datacenter's properties and wait for the request."""
        dcs = self.api("DataCentersApi")
        describe = f"PATCH /datacenters/{dc_id}"
        _, rid = self.write(describe, lambda: dcs.datacenters_patch_with_http_info(dc_id, props),
                            log)
        self.wait_for_request(rid, describe, log=log)

    def list_lans(self, dc_id: str) -> list[dict[str, Any]]:
        """The datacenter's LANs (JSON, depth 1)."""
        lans = self.api("LANsApi")
        out = self.call(f"GET /datacenters/{dc_id}/lans",
                        lambda: lans.datacenters_lans_get(dc_id, depth=1))
        return list((self.to_json(out) or {}).get("items", []))

    def create_lan(self, dc_id: str, props: dict[str, Any],
                   log: Callable[[str], Any] | None = None) -> dict[str, Any]:
        """Create the LAN unless one of that name exists (a retried POST must not create two), and
        wait for it."""
        lans = self.api("LANsApi")
        describe = f"POST /datacenters/{dc_id}/lans ({props['name']})"

        def find() -> dict[str, Any] | None:
            return next((x for x in self.list_lans(dc_id)
                         if x["properties"].get("name") == props["name"]), None)

        def create() -> dict[str, Any]:
            body, rid = self._post_once(lambda: lans.datacenters_lans_post_with_http_info(
                dc_id, {"properties": props}))
            self.wait_for_request(rid, describe, log=log)
            return dict(self.to_json(body))

        return dict(self.create_once(describe, create, find, log))

    def update_lan(self, dc_id: str, lan_id: str, props: dict[str, Any],
                   log: Callable[[str], Any] | None = None) -> None:
        """Patch the LAN and wait for the request to finish."""
        lans = self.api("LANsApi")
        describe = f"PATCH /datacenters/{dc_id}/lans/{lan_id}"
        _, rid = self.write(describe, lambda: lans.datacenters_lans_patch_with_http_info(
            dc_id, lan_id, props), log)
        self.wait_for_request(rid, describe, log=log)

    def list_k8s_clusters(self) -> list[dict[str, Any]]:
        """Every Managed Kubernetes cluster of the contract (JSON)."""
        k8s = self.api("KubernetesApi")
        out = self.call("GET /k8s", lambda: k8s.k8s_get(depth=1))
        return list((self.to_json(out) or {}).get("items", []))

    def find_k8s_cluster(self, name: str) -> dict[str, Any] | None:
        """The managed Kubernetes cluster named ``name`` (JSON), or None."""
        return self._find_named({"items": self.list_k8s_clusters()}, name)

    def _k8s_ready(self, describe: str, fetch: Callable[[], Any],
                   log: Callable[[str], Any] | None = None) -> dict[str, Any]:
        obj = self.wait_until(
            describe, fetch, lambda c: c.metadata.state == "ACTIVE",
            lambda c: f"state {c.metadata.state}" if "FAILED" in str(c.metadata.state) else None,
            log=log, target="ACTIVE")
        return dict(self.to_json(obj))

    def k8s_cluster_ready(self, cluster_id: str,
                          log: Callable[[str], Any] | None = None) -> dict[str, Any]:
        """Poll the cluster until ACTIVE (k8s is not tracked by /requests)."""
        k8s = self.api("KubernetesApi")
        return self._k8s_ready(f"GET /k8s/{cluster_id}",
                               lambda: k8s.k8s_find_by_cluster_id(cluster_id, depth=1), log)

    def create_k8s_cluster(self, props: dict[str, Any],
                           log: Callable[[str], Any] | None = None) -> dict[str, Any]:
        """Create a managed Kubernetes cluster and wait until ACTIVE."""
        k8s = self.api("KubernetesApi")
        describe = f"POST /k8s ({props['name']})"
        out = self.create_once(
            describe,
            lambda: self.to_json(k8s.k8s_post({"properties": props})),
            lambda: self.find_k8s_cluster(props["name"]), log)
        return self.k8s_cluster_ready(out["id"], log)

    def update_k8s_cluster(self, cluster_id: str, props: dict[str, Any],
                           log: Callable[[str], Any] | None = None) -> dict[str, Any]:
        """PUT the cluster's mutable properties and wait until ACTIVE again."""
        k8s = self.api("KubernetesApi")
        self.call(f"PUT /k8s/{cluster_id}", lambda: k8s.k8s_put(cluster_id, {"properties": props}),
                  log)
        return self.k8s_cluster_ready(cluster_id, log)

    def list_node_pools(self, cluster_id: str) -> list[dict[str, Any]]:
        """The node pools of a Managed Kubernetes cluster (JSON)."""
        k8s = self.api("KubernetesApi")
        out = self.call(f"GET /k8s/{cluster_id}/nodepools",
                        lambda: k8s.k8s_nodepools_get(cluster_id, depth=1))
        return list((self.to_json(out) or {}).get("items", []))

    def node_pool_ready(self, cluster_id: str, pool_id: str,
                        log: Callable[[str], Any] | None = None) -> dict[str, Any]:
        """Wait until the node pool is ACTIVE."""
        k8s = self.api("KubernetesApi")
        return self._k8s_ready(f"GET /k8s/{cluster_id}/nodepools/{pool_id}",
                               lambda: k8s.k8s_nodepools_find_by_id(cluster_id, pool_id, depth=1),
                               log)

    def create_node_pool(self, cluster_id: str, props: dict[str, Any],
                         log: Callable[[str], Any] | None = None) -> dict[str, Any]:
        """Create a node pool and wait until ACTIVE."""
        k8s = self.api("KubernetesApi")
        describe = f"POST /k8s/{cluster_id}/nodepools ({props['name']})"
        out = self.create_once(
            describe,
            lambda: self.to_json(k8s.k8s_nodepools_post(cluster_id, {"properties": props})),
            lambda: next((p for p in self.list_node_pools(cluster_id)
                          if p["properties"].get("name") == props["name"]), None), log)
        return self.node_pool_ready(cluster_id, out["id"], log)

    def update_node_pool(self, cluster_id: str, pool_id: str, props: dict[str, Any],
                         log: Callable[[str], Any] | None = None) -> dict[str, Any]:
        """PUT a node pool's mutable properties and wait until ACTIVE again."""
        k8s = self.api("KubernetesApi")
        self.call(f"PUT /k8s/{cluster_id}/nodepools/{pool_id}",
                  lambda: k8s.k8s_nodepools_put(cluster_id, pool_id, {"properties": props}), log)
        return self.node_pool_ready(cluster_id, pool_id, log)

    def upgrade_node_pool(self, cluster_id: str, pool_id: str, props: dict[str, Any],
                          log: Callable[[str], Any] | None = None) -> dict[str, Any]:
        """PUT a node pool's new ``k8sVersion`` (with its other mutable properties) and return
        the pool once IONOS accepted it, without waiting for ACTIVE: IONOS replaces the nodes
        one by one, each drain honouring PodDisruptionBudgets for up to an hour
        (docs.ionos.com managed-kubernetes how-tos/upgrade-node-pools), so the pool stays
        UPDATING for hours."""
        k8s = self.api("KubernetesApi")
        self.call(f"PUT /k8s/{cluster_id}/nodepools/{pool_id}",
                  lambda: k8s.k8s_nodepools_put(cluster_id, pool_id, {"properties": props}), log)
        out = self.call(f"GET /k8s/{cluster_id}/nodepools/{pool_id}",
                        lambda: k8s.k8s_nodepools_find_by_id(cluster_id, pool_id, depth=1))
        return dict(self.to_json(out))

    def delete_node_pool(self, cluster_id: str, pool_id: str,
                         log: Callable[[str], Any] | None = None) -> None:
        """Delete a node pool and wait until it is gone (404)."""
        k8s = self.api("KubernetesApi")
        describe = f"DELETE /k8s/{cluster_id}/nodepools/{pool_id}"
        try:
            self.call(describe, lambda: k8s.k8s_nodepools_delete(cluster_id, pool_id), log)
        except Exception as exc:
            if getattr(exc, "status", None) != 404:
                raise
        self.wait_until(
            describe, lambda: any(p["id"] == pool_id for p in self.list_node_pools(cluster_id)),
            lambda present: not present, log=log, target="gone",
            state=lambda present: "still listed" if present else "gone")

    # The network edge: IP blocks and Network Load Balancers (Cloud API v6).

    def list_ip_blocks(self) -> list[dict[str, Any]]:
        """Every IP block of the contract (JSON, depth 1)."""
        api = self.api("IPBlocksApi")
        out = self.call("GET /ipblocks", lambda: api.ipblocks_get(depth=1))
        return list((self.to_json(out) or {}).get("items", []))

    def find_ip_block(self, name: str) -> dict[str, Any] | None:
        """The IP block named ``name`` (JSON), or None."""
        return self._find_named({"items": self.list_ip_blocks()}, name)

    def ip_block_ready(self, block_id: str,
                       log: Callable[[str], Any] | None = None) -> dict[str, Any]:
        """Poll the IP block until it is AVAILABLE."""
        api = self.api("IPBlocksApi")
        return dict(self.to_json(self.wait_until(
            f"GET /ipblocks/{block_id}", lambda: api.ipblocks_find_by_id(block_id, depth=1),
            lambda b: b.metadata.state == "AVAILABLE",
            lambda b: f"state {b.metadata.state}" if "FAILED" in str(b.metadata.state) else None,
            log=log, target="AVAILABLE")))

    def create_ip_block(self, props: dict[str, Any],
                        log: Callable[[str], Any] | None = None) -> dict[str, Any]:
        """Reserve an IP block and wait until it is AVAILABLE (never twice: after a transient
        failure the name is looked up first)."""
        api = self.api("IPBlocksApi")
        describe = f"POST /ipblocks ({props['name']}, {props['size']} in {props['location']})"

        def create() -> dict[str, Any]:
            body, rid = self._post_once(lambda: api.ipblocks_post_with_http_info(
                {"properties": props}))
            self.wait_for_request(rid, describe, log=log)
            return dict(self.to_json(body))

        out = self.create_once(describe, create, lambda: self.find_ip_block(props["name"]), log)
        return self.ip_block_ready(out["id"], log)

    def update_ip_block(self, block_id: str, props: dict[str, Any],
                        log: Callable[[str], Any] | None = None) -> None:
        """PATCH an IP block's name (the only property that changes) and wait."""
        api = self.api("IPBlocksApi")
        describe = f"PATCH /ipblocks/{block_id}"
        _, rid = self.write(describe, lambda: api.ipblocks_patch_with_http_info(
            block_id, {"name": props["name"]}), log)
        self.wait_for_request(rid, describe, log=log)

    def delete_ip_block(self, block_id: str, log: Callable[[str], Any] | None = None) -> None:
        """Release an IP block and wait (the API refuses while a load balancer uses it)."""
        api = self.api("IPBlocksApi")
        describe = f"DELETE /ipblocks/{block_id}"
        _, rid = self.write(describe, lambda: api.ipblocks_delete_with_http_info(block_id), log)
        self.wait_for_request(rid, describe, log=log)

    def list_nlbs(self, dc_id: str) -> list[dict[str, Any]]:
        """The datacenter's Network Load Balancers with their forwarding rules (depth 3: the
        list, each balancer, its rules collection, the rules' properties)."""
        api = self.api("NetworkLoadBalancersApi")
        out = self.call(f"GET /datacenters/{dc_id}/networkloadbalancers",
                        lambda: api.datacenters_networkloadbalancers_get(dc_id, depth=3))
        return list((self.to_json(out) or {}).get("items", []))

    def find_nlb(self, dc_id: str, name: str) -> dict[str, Any] | None:
        """The datacenter's Network Load Balancer named ``name`` (JSON, rules included)."""
        return self._find_named({"items": self.list_nlbs(dc_id)}, name)

    def nlb_ready(self, dc_id: str, nlb_id: str,
                  log: Callable[[str], Any] | None = None) -> dict[str, Any]:
        """Poll the balancer until it is AVAILABLE; its JSON with the rules (depth 2)."""
        api = self.api("NetworkLoadBalancersApi")
        return dict(self.to_json(self.wait_until(
            f"GET /datacenters/{dc_id}/networkloadbalancers/{nlb_id}",
            lambda: api.datacenters_networkloadbalancers_find_by_network_load_balancer_id(
                dc_id, nlb_id, depth=2),
            lambda b: b.metadata.state == "AVAILABLE",
            lambda b: f"state {b.metadata.state}" if "FAILED" in str(b.metadata.state) else None,
            log=log, target="AVAILABLE")))

    def create_nlb(self, dc_id: str, props: dict[str, Any], rules: list[dict[str, Any]],
                   log: Callable[[str], Any] | None = None) -> dict[str, Any]:
        """Create a Network Load Balancer with its forwarding rules (one request, as
        ``entities.forwardingrules``) and wait until it is AVAILABLE."""
        api = self.api("NetworkLoadBalancersApi")
        describe = f"POST /datacenters/{dc_id}/networkloadbalancers ({props['name']})"
        body = {"properties": props, "entities": {"forwardingrules": {
            "items": [{"properties": r} for r in rules]}}}

        def create() -> dict[str, Any]:
            made, rid = self._post_once(
                lambda: api.datacenters_networkloadbalancers_post_with_http_info(dc_id, body))
            self.wait_for_request(rid, describe, log=log)
            return dict(self.to_json(made))

        out = self.create_once(describe, create, lambda: self.find_nlb(dc_id, props["name"]),
                               log)
        return self.nlb_ready(dc_id, out["id"], log)

    def update_nlb(self, dc_id: str, nlb_id: str, props: dict[str, Any] | None,
                   rules: dict[str, dict[str, Any] | None], rule_ids: dict[str, str],
                   log: Callable[[str], Any] | None = None) -> None:
        """PATCH the balancer's properties (unless None), then write each rule: ``rules`` maps
        a rule name to its properties (PUT, or POST when ``rule_ids`` has no id for it) or to
        None (DELETE); every request is waited for."""
        api = self.api("NetworkLoadBalancersApi")
        base = f"/datacenters/{dc_id}/networkloadbalancers/{nlb_id}"
        pending: list[tuple[str | None, str]] = []
        if props is not None:
            _, rid = self.write(f"PATCH {base}", lambda: api.
                                datacenters_networkloadbalancers_patch_with_http_info(
                                    dc_id, nlb_id, props), log)
            pending.append((rid, f"PATCH {base}"))
        for name, want in sorted(rules.items()):
            rule_id = rule_ids.get(name)
            pending.append(self._write_rule(api, dc_id, nlb_id, name, rule_id, want, log))
        for rid, describe in pending:
            self.wait_for_request(rid, describe, log=log)

    def _write_rule(self, api: Any, dc_id: str, nlb_id: str, name: str, rule_id: str | None,
                    want: dict[str, Any] | None,
                    log: Callable[[str], Any] | None) -> tuple[str | None, str]:
        base = f"/datacenters/{dc_id}/networkloadbalancers/{nlb_id}/forwardingrules"
        if want is None and rule_id:
            describe = f"DELETE {base}/{rule_id} ({name})"
            _, rid = self.write(describe, lambda: api.
                                datacenters_networkloadbalancers_forwardingrules_delete_with_http_info(
                                    dc_id, nlb_id, rule_id), log)
        elif rule_id:
            describe = f"PUT {base}/{rule_id} ({name})"
            _, rid = self.write(describe, lambda: api.
                                datacenters_networkloadbalancers_forwardingrules_put_with_http_info(
                                    dc_id, nlb_id, rule_id, {"properties": want}), log)
        else:
            describe = f"POST {base} ({name})"
            _, rid = self.write(describe, lambda: api.
                                datacenters_networkloadbalancers_forwardingrules_post_with_http_info(
                                    dc_id, nlb_id, {"properties": want}), log)
        return rid, describe

    def node_ips(self, cluster_id: str, pool_id: str) -> list[str]:
        """The private addresses of a node pool's READY nodes: an upgrade or replace adds new
        nodes (PROVISIONING) and removes the old ones (REBUILDING while drained, then
        TERMINATING), each with its own address, so only READY ones are worth targeting."""
        k8s = self.api("KubernetesApi")
        out = self.call(f"GET /k8s/{cluster_id}/nodepools/{pool_id}/nodes",
                        lambda: k8s.k8s_nodepools_nodes_get(cluster_id, pool_id, depth=1))
        items = (self.to_json(out) or {}).get("items", [])
        return [str(n["properties"]["privateIP"]) for n in items
                if (n.get("properties") or {}).get("privateIP")
                and (n.get("metadata") or {}).get("state") == "READY"]

    # Cloud DNS: a token only (a login is exchanged for one at the Auth API first).

    def _generated_token(self) -> str:
        """A token from the Auth API for the configured login (GET /tokens/generate, Basic)."""
        import urllib3

        creds = self.credentials()
        url = self.endpoints().auth.rstrip("/") + "/tokens/generate"
        headers = urllib3.util.make_headers(basic_auth=f"{creds.username}:{creds.password}")
        headers["Accept"] = "application/json"
        timeout = urllib3.Timeout(connect=10.0, read=self.http_timeout_seconds)

        def generate() -> str:
            resp = urllib3.request("GET", url, headers=headers, timeout=timeout, retries=False)
            if resp.status != 200:
                raise IonosAuthError(resp.status, resp.data.decode(errors="replace"),
                                     dict(resp.headers))
            token = (json.loads(resp.data or b"{}") or {}).get("token")
            if not isinstance(token, str) or not token:
                raise IonosAuthError(resp.status, "the Auth API answered without a token", {})
            return token

        return self.call("GET /auth/v1/tokens/generate (a token for IONOS_USERNAME, as the "
                         "DNS API takes tokens only)", generate)

    def dns_client(self) -> Any:
        """The ``ionoscloud_dns.ApiClient`` (Cloud DNS), built on first use."""
        def build() -> Any:
            import ionoscloud_dns as dns

            token = self.credentials().token or self._generated_token()
            cfg = dns.Configuration(host=self.endpoints().dns.rstrip("/"), token=token)
            return self._with_timeouts(dns.ApiClient(cfg))

        return self._client_once("dns", build)

    def find_zone(self, name: str) -> dict[str, Any] | None:
        """The DNS zone named ``name`` (JSON), or None."""
        import ionoscloud_dns as dns

        api = dns.ZonesApi(self.dns_client())
        out = self.call(f"GET /zones?filter.zoneName={name} (DNS)",
                        lambda: api.zones_get(filter_zone_name=name, limit=1000))
        items = (self.to_json(out) or {}).get("items") or []
        return next((dict(z) for z in items
                     if (z.get("properties") or {}).get("zoneName") == name), None)

    def _dns_ready(self, describe: str, fetch: Callable[[], Any],
                   log: Callable[[str], Any] | None) -> dict[str, Any]:
        def state(obj: Any) -> str:
            value = getattr(obj.metadata, "state", None)
            return str(getattr(value, "value", value))

        return dict(self.to_json(self.wait_until(
            describe, fetch, lambda o: state(o) == "AVAILABLE",
            lambda o: "state FAILED" if state(o) == "FAILED" else None, log=log,
            target="AVAILABLE", state=state)))

    def create_zone(self, props: dict[str, Any],
                    log: Callable[[str], Any] | None = None) -> dict[str, Any]:
        """Create a DNS zone and wait until it is AVAILABLE."""
        import ionoscloud_dns as dns

        api = dns.ZonesApi(self.dns_client())
        describe = f"POST /zones ({props['zoneName']}, DNS)"
        out = self.create_once(describe, lambda: self.to_json(api.zones_post(
            dns.ZoneCreate.from_dict({"properties": props}))),
            lambda: self.find_zone(props["zoneName"]), log)
        return self._dns_ready(f"GET /zones/{out['id']} (DNS)",
                               lambda: api.zones_find_by_id(out["id"]), log)

    def update_zone(self, zone_id: str, props: dict[str, Any],
                    log: Callable[[str], Any] | None = None) -> None:
        """PUT (ensure) a zone's description and enabled flag."""
        import ionoscloud_dns as dns

        api = dns.ZonesApi(self.dns_client())
        self.call(f"PUT /zones/{zone_id} (DNS)", lambda: api.zones_put(
            zone_id, dns.ZoneEnsure.from_dict({"properties": props})), log)

    def list_records(self, zone_id: str) -> list[dict[str, Any]]:
        """Every record of a zone (JSON), all pages."""
        import ionoscloud_dns as dns

        api = dns.RecordsApi(self.dns_client())
        out: list[dict[str, Any]] = []
        while True:
            page = self.call(f"GET /records?filter.zoneId={zone_id}&offset={len(out)} (DNS)",
                             lambda o=len(out): api.records_get(  # type: ignore[misc]
                                 filter_zone_id=zone_id, offset=o, limit=1000))
            items = (self.to_json(page) or {}).get("items") or []
            out.extend(dict(r) for r in items)
            if len(items) < 1000:
                return out

    def write_records(self, zone_id: str, records: dict[str, dict[str, Any] | None],
                      record_ids: dict[str, str],
                      log: Callable[[str], Any] | None = None) -> None:
        """Write records of a zone: each key maps to the record (PUT, or POST when
        ``record_ids`` has no id for it) or to None (DELETE). Each write is the API's own
        request; the records are then polled until AVAILABLE."""
        import ionoscloud_dns as dns

        api = dns.RecordsApi(self.dns_client())
        for key, want in sorted(records.items()):
            rid = record_ids.get(key)
            if want is None and rid:
                self.call(f"DELETE /zones/{zone_id}/records/{rid} ({key}, DNS)",
                          lambda r=rid: api.zones_records_delete(zone_id, r), log)  # type: ignore[misc]
            elif want is not None and rid:
                self.call(f"PUT /zones/{zone_id}/records/{rid} ({key}, DNS)",
                          lambda r=rid, w=want: api.zones_records_put(  # type: ignore[misc]
                              zone_id, r, dns.RecordEnsure.from_dict({"properties": w})), log)
            elif want is not None:
                describe = f"POST /zones/{zone_id}/records ({key}, DNS)"
                self.create_once(describe, lambda w=want: api.zones_records_post(  # type: ignore[misc]
                    zone_id, dns.RecordCreate.from_dict({"properties": w})),
                    lambda w=want: next((r for r in self.list_records(zone_id)  # type: ignore[misc]
                                         if (r.get("properties") or {}).get("name") == w["name"]
                                         and r["properties"].get("type") == w["type"]), None),
                    log)
        self.wait_until(f"GET /records?filter.zoneId={zone_id} (DNS)",
                        lambda: self.list_records(zone_id),
                        lambda recs: all((r.get("metadata") or {}).get("state") == "AVAILABLE"
                                         for r in recs),
                        lambda recs: "a record is FAILED" if any(
                            (r.get("metadata") or {}).get("state") == "FAILED" for r in recs)
                        else None, log=log, target="AVAILABLE",
                        state=lambda recs: ", ".join(sorted({str((r.get("metadata") or {})
                                                                 .get("state")) for r in recs})))


    def list_mariadb_clusters(self) -> list[dict[str, Any]]:
        """Every DBaaS MariaDB cluster of the contract (JSON)."""
        import ionoscloud_dbaas_mariadb as mdb

        api = mdb.ClustersApi(self.mariadb_client())
        out = self.call("GET /clusters (MariaDB)", lambda: api.clusters_get())
        return list((self.to_json(out) or {}).get("items") or [])

    def find_mariadb(self, name: str) -> dict[str, Any] | None:
        """The MariaDB cluster named ``name`` (JSON), or None."""
        return self._find_named({"items": self.list_mariadb_clusters()}, name)

    def mariadb_ready(self, cluster_id: str,
                      log: Callable[[str], Any] | None = None) -> dict[str, Any]:
        """Wait until the MariaDB cluster is AVAILABLE."""
        import ionoscloud_dbaas_mariadb as mdb

        api = mdb.ClustersApi(self.mariadb_client())
        def state(c: Any) -> str:
            value = getattr(c.metadata, "state", None)
            return str(getattr(value, "value", value))

        obj = self.wait_until(
            f"GET /clusters/{cluster_id} (MariaDB)", lambda: api.clusters_find_by_id(cluster_id),
            lambda c: state(c) == "AVAILABLE",
            lambda c: f"state FAILED: {getattr(c.metadata, 'status_message', '')}"
            if state(c) == "FAILED" else None, log=log, target="AVAILABLE", state=state)
        return dict(self.to_json(obj))

    def create_mariadb(self, props: dict[str, Any], credentials: dict[str, str],
                       log: Callable[[str], Any] | None = None) -> dict[str, Any]:
        """Create a MariaDB cluster (``credentials`` never leave this call) and wait."""
        import ionoscloud_dbaas_mariadb as mdb

        api = mdb.ClustersApi(self.mariadb_client())
        body = mdb.ClusterCreate.from_dict({"properties": {**props, "credentials": credentials}})
        describe = f"POST /clusters ({props['name']}, MariaDB)"
        out = self.create_once(describe, lambda: self.to_json(api.clusters_post(body)),
                               lambda: self.find_mariadb(props["name"]), log)
        return self.mariadb_ready(out["id"], log)

    def update_mariadb(self, cluster_id: str, props: dict[str, Any],
                       log: Callable[[str], Any] | None = None) -> dict[str, Any]:
        """PUT (ensure) the MariaDB cluster's properties and wait until AVAILABLE."""
        import ionoscloud_dbaas_mariadb as mdb

        api = mdb.ClustersApi(self.mariadb_client())
        body = mdb.ClusterEnsure.from_dict({"id": cluster_id, "properties": props})
        self.call(f"PUT /clusters/{cluster_id} (MariaDB)",
                  lambda: api.clusters_put(cluster_id, body), log)
        return self.mariadb_ready(cluster_id, log)

    def _plain(self, model: Any) -> Any:
        if model is None or isinstance(model, dict | list | str):
            return model
        if hasattr(model, "model_dump"):  # pydantic SDKs (DBaaS)
            return model.model_dump(by_alias=True, exclude_none=True, mode="json")
        return self.cloud_client().sanitize_for_serialization(model)

    def find_volume(self, volume_id: str,
                    datacenter_id: str | None = None) -> tuple[str, dict[str, Any]] | None:
        """(datacenter id, volume JSON) of a volume, looked up in every datacenter unless
        ``datacenter_id`` is given; None when no datacenter holds it."""
        import functools

        import ionoscloud

        vols = self.api("VolumesApi")
        if datacenter_id:
            dc_ids = [datacenter_id]
        else:
            dcs = self.call("GET /datacenters",
                            lambda: self.api("DataCentersApi").datacenters_get(depth=0))
            dc_ids = [d.id for d in dcs.items or []]
        for dc in dc_ids:
            try:
                vol: Any = self.call(
                    f"GET /datacenters/{dc}/volumes/{volume_id}",
                    functools.partial(vols.datacenters_volumes_find_by_id, dc, volume_id,
                                      depth=1))
            except ionoscloud.ApiException as exc:
                if exc.status == 404:
                    continue
                raise
            return dc, dict(self._plain(vol))
        return None

    def list_snapshots(self) -> list[dict[str, Any]]:
        """Every snapshot of the contract (JSON, depth 1)."""
        snaps = self.api("SnapshotsApi")
        out = self.call("GET /snapshots", lambda: snaps.snapshots_get(depth=1))
        return [dict(i) for i in (self._plain(out) or {}).get("items", [])]

    def create_volume_snapshot(self, datacenter_id: str, volume_id: str, name: str,
                               description: str = "",
                               log: Callable[[str], Any] | None = None) -> dict[str, Any]:
        """Snapshot a volume and wait until the request is DONE; never makes a second snapshot
        of the same name (after a transient failure it looks the name up first).

        Returns:
            The snapshot JSON (``id``, ``properties.size``, ``metadata.state``).
        """
        import ionoscloud

        vols = self.api("VolumesApi")
        describe = f"POST /datacenters/{datacenter_id}/volumes/{volume_id}/create-snapshot ({name})"
        body = ionoscloud.CreateSnapshot(properties=ionoscloud.CreateSnapshotProperties(
            name=name, description=description or None))

        def find() -> dict[str, Any] | None:
            return next((s for s in self.list_snapshots()
                         if (s.get("properties") or {}).get("name") == name), None)

        def create() -> dict[str, Any]:
            snap, rid = self.write(describe, lambda: vols.
                                   datacenters_volumes_create_snapshot_post_with_http_info(
                                       datacenter_id, volume_id, snapshot=body), log)
            self.wait_for_request(rid, describe, log=log)
            return dict(self._plain(snap))

        from resources.retry import RetriesExhausted, is_transient

        try:
            return create()
        except Exception as exc:
            if not (is_transient(exc) or isinstance(exc, RetriesExhausted)):
                raise
            found = find()
            if found:
                return found
            raise

    def snapshot(self, snapshot_id: str) -> dict[str, Any] | None:
        """A snapshot's JSON, or None when it does not exist."""
        import ionoscloud

        snaps = self.api("SnapshotsApi")
        try:
            out = self.call(f"GET /snapshots/{snapshot_id}",
                            lambda: snaps.snapshots_find_by_id(snapshot_id, depth=1))
        except ionoscloud.ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return dict(self._plain(out))

    def delete_snapshot(self, snapshot_id: str,
                        log: Callable[[str], Any] | None = None) -> bool:
        """Delete a snapshot and wait; False when it was already gone."""
        import ionoscloud

        snaps = self.api("SnapshotsApi")
        describe = f"DELETE /snapshots/{snapshot_id}"
        try:
            _, rid = self.write(describe,
                                lambda: snaps.snapshots_delete_with_http_info(snapshot_id), log)
        except ionoscloud.ApiException as exc:
            if exc.status == 404:
                return False
            raise
        self.wait_for_request(rid, describe, log=log)
        return True

    def mariadb_cluster_by_name(self, name: str) -> dict[str, Any] | None:
        """The DBaaS MariaDB cluster named ``name`` (JSON), or None."""
        import ionoscloud_dbaas_mariadb as mdb

        api = mdb.ClustersApi(self.mariadb_client())
        out = self.call(f"GET /clusters?filter.name={name} (MariaDB)",
                        lambda: api.clusters_get(filter_name=name))
        items = (self._plain(out) or {}).get("items") or []
        return next((dict(c) for c in items if (c.get("properties") or {}).get("name") == name),
                    None)

    def mariadb_backups(self, cluster_id: str) -> list[dict[str, Any]]:
        """The DBaaS backups IONOS keeps of a MariaDB cluster (JSON)."""
        import ionoscloud_dbaas_mariadb as mdb

        api = mdb.BackupsApi(self.mariadb_client())
        out = self.call(f"GET /backups?filter.clusterId={cluster_id} (MariaDB)",
                        lambda: api.backups_get(filter_cluster_id=cluster_id))
        return [dict(b) for b in (self._plain(out) or {}).get("items") or []]

    def list_certificates(self, page_size: int = 1000) -> list[dict[str, Any]]:
        """Every certificate in IONOS Certificate Manager, as flat dicts.

        Returns:
            ``{"id", "name", "state", "message", "expired", "not_before", "not_after",
            "common_name", "sans", "certificate", "certificate_chain"}`` per certificate
            (PEM strings; the private key is write-only and never returned).
        """
        import ionoscloud_cert_manager as cm

        api = cm.CertificateApi(self.certmanager_client())
        out: list[dict[str, Any]] = []
        offset = 0
        while True:
            page = self.call(
                f"GET /certificates?offset={offset}&limit={page_size} (Certificate Manager)",
                lambda o=offset: api.certificates_get(offset=o, limit=page_size))  # type: ignore[misc]
            items = list(page.items or [])
            for c in items:
                meta = c.metadata
                props = c.properties
                out.append({
                    "id": c.id,
                    "name": props.name if props else None,
                    "state": meta.state if meta else None,
                    "message": meta.message if meta else None,
                    "expired": meta.expired if meta else None,
                    "not_before": meta.not_before if meta else None,
                    "not_after": meta.not_after if meta else None,
                    "common_name": meta.common_name if meta else None,
                    "sans": list(meta.subject_alternative_names or []) if meta else [],
                    "certificate": props.certificate if props else None,
                    "certificate_chain": props.certificate_chain if props else None,
                })
            if len(items) < page_size:
                return out
            offset += len(items)
