"""The admin API: request counts, fault injection and reset for every sandbox service.

    GET    /healthz          {"status": "ok", "services": [...]}
    GET    /requests         {"<service>": {"<METHOD>": count}} for every service, zero-filled
                             (Kubernetes access reviews count as REVIEW: they write nothing)
    DELETE /requests         reset the counts (also POST /requests/reset)
    GET    /faults           the faults in force, per service
    POST   /faults           {"service": "s3", "error_rate": 0.2, "statuses": [429, 503],
                              "retry_after": 1, "latency_ms": 50, "drop_rate": 0.0,
                              "methods": ["GET"], "path_contains": "/k8s", "times": 2}
    DELETE /faults           clear every fault (DELETE /faults/<service>: one service's)
    POST   /reset            clear the state of every service, the counts and the faults
    *      /kubernetes/...   nodes, mutating webhooks and foreign field managers
                             (``sandbox/kubernetes/behaviours.py``)

``AdminClient`` is the small Python client tests and benchmarks use.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from sandbox.http import COUNTER, FAULTS, FaultConfig, Request, Response, Service, json_response

SERVICES = ("ionos", "mariadb", "postgres", "inmemorydb", "registry", "certmanager", "dns", "auth",
            "kubernetes", "s3", "alertmanager", "vault")
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def request_counts() -> dict[str, dict[str, int]]:
    """Counts per service and method; every known service and common method present."""
    snapshot = COUNTER.snapshot()
    out: dict[str, dict[str, int]] = {}
    for service in (*SERVICES, *sorted(set(snapshot) - set(SERVICES) - {"admin"})):
        counts = {m: 0 for m in METHODS}
        counts.update(snapshot.get(service, {}))
        out[service] = counts
    return out


def _error(status: int, message: str) -> Response:
    return json_response(status, {"error": message, "code": status})


class AdminService(Service):
    """The admin API. ``reset_state`` clears every service's state (set by the app)."""

    name = "admin"

    def __init__(self, reset_state: Callable[[], dict[str, Any]] | None = None,
                 kubernetes: Callable[[str, str, Any], tuple[int, Any]] | None = None,
                 clusters: dict[str, Callable[[str, str, Any], tuple[int, Any]]] | None = None):
        self._reset_state = reset_state
        self._kubernetes = kubernetes
        # Existing (non-IONOS) clusters by name: /clusters/<name>/kubernetes/... reaches the
        # same admin endpoints of that cluster; faults aim at service kubernetes-<name>.
        self._clusters = clusters or {}
        self.services = (*SERVICES, *(f"{kind}-{n}" for n in self._clusters
                                      for kind in ("kubernetes", "s3")))

    def handle(self, req: Request) -> Response:
        path = req.path.rstrip("/") or "/"
        exact = self._routes().get((req.method, path))
        if exact is not None:
            return exact(req)
        if req.method == "DELETE" and path.startswith("/faults/"):
            return self._clear_fault(path.removeprefix("/faults/"))
        target, sub = self._cluster_route(path)
        if target is not None:
            return self._cluster_call(target, req, path, sub)
        if path.startswith("/clusters/"):
            return _error(404, f"no cluster in {path}; known: {', '.join(self._clusters)}")
        if path in {p for _, p in self._routes()} or path.startswith("/faults/"):
            return _error(405, f"{req.method} is not allowed on {path}")
        return _error(404, f"no admin endpoint {path}; see GET /healthz, /requests, /faults, "
                           "POST /faults, POST /reset")

    def _routes(self) -> dict[tuple[str, str], Callable[[Request], Response]]:
        return {
            ("GET", "/healthz"): lambda _: json_response(
                200, {"status": "ok", "services": list(self.services)}),
            ("GET", "/requests"): lambda _: json_response(200, request_counts()),
            ("DELETE", "/requests"): self._reset_counts,
            ("POST", "/requests/reset"): self._reset_counts,
            ("GET", "/faults"): lambda _: json_response(200, FAULTS.describe()),
            ("POST", "/faults"): self._set_fault,
            ("DELETE", "/faults"): self._clear_faults,
            ("POST", "/reset"): self._reset,
        }

    @staticmethod
    def _reset_counts(_: Request) -> Response:
        COUNTER.reset()
        return json_response(200, request_counts())

    @staticmethod
    def _clear_faults(_: Request) -> Response:
        FAULTS.clear()
        return json_response(200, {})

    def _clear_fault(self, service: str) -> Response:
        if service not in self.services:
            return _error(404, f"unknown service {service!r}; known: {', '.join(self.services)}")
        FAULTS.set(service, None)
        return json_response(200, FAULTS.describe())

    def _reset(self, _: Request) -> Response:
        FAULTS.clear()
        report = self._reset_state() if self._reset_state else {}
        COUNTER.reset()
        return json_response(200, {"reset": report})

    @staticmethod
    def _cluster_call(target: Callable[[str, str, Any], tuple[int, Any]], req: Request,
                      path: str, sub: str) -> Response:
        try:
            body = req.json() if req.body else None
        except ValueError as exc:
            return _error(400, f"{req.method} {path}: body is not JSON ({exc})")
        status, answer = target(req.method, sub, body)
        return json_response(status, answer)

    def _cluster_route(self, path: str) -> tuple[Callable[[str, str, Any], tuple[int, Any]] | None,
                                                  str]:
        """The Kubernetes admin handler a path reaches, and the path it is handed."""
        if path.startswith("/kubernetes/"):
            return self._kubernetes, path
        name, _, rest = path.removeprefix("/clusters/").partition("/")
        if path.startswith("/clusters/") and rest.startswith("kubernetes/"):
            return self._clusters.get(name), "/" + rest
        return None, path

    def _set_fault(self, req: Request) -> Response:
        try:
            data = req.json()
        except ValueError as exc:
            return _error(400, f"POST /faults: body is not JSON ({exc})")
        if not isinstance(data, dict):
            return _error(400, "POST /faults: body must be a JSON object")
        service = data.pop("service", None)
        if service not in self.services:
            known = ", ".join(self.services)
            return _error(400, f"POST /faults: 'service' must be one of {known}; "
                               f"got {service!r}")
        try:
            cfg = FaultConfig.from_json(data)
        except (TypeError, ValueError) as exc:
            return _error(400, f"POST /faults ({service}): {exc}")
        FAULTS.set(service, cfg)
        return json_response(200, FAULTS.describe())


class AdminError(RuntimeError):
    pass


class AdminClient:
    """A client of the admin API (tests, benchmarks and scripts use it)."""

    def __init__(self, url: str, timeout: float = 30.0):
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")
            raise AdminError(f"{method} {path} -> {exc.code}: {detail}") from exc

    def requests(self) -> dict[str, dict[str, int]]:
        """Request counts per service and method."""
        return dict(self._call("GET", "/requests"))

    def reset_counts(self) -> None:
        self._call("DELETE", "/requests")

    def set_fault(self, service: str, **cfg: Any) -> dict[str, Any]:
        """Inject a fault into ``service`` (fields of ``sandbox.http.FaultConfig``)."""
        return dict(self._call("POST", "/faults", {"service": service, **cfg}))

    def faults(self) -> dict[str, Any]:
        return dict(self._call("GET", "/faults"))

    def clear_faults(self) -> None:
        self._call("DELETE", "/faults")

    def reset(self) -> dict[str, Any]:
        """Clear every service's state, the counts and the faults."""
        return dict(self._call("POST", "/reset"))

    def add_nodes(self, pool: str = "sandbox-pool", count: int = 3, cores: int = 4,
                  ram_mb: int = 16384, cluster: str | None = None) -> list[str]:
        """Ready Kubernetes nodes without an IONOS node pool (pods run only on nodes); in the
        existing cluster ``cluster`` (``python -m sandbox up --cluster``) when given."""
        body = {"pool": pool, "count": count, "cores": cores, "ramMB": ram_mb}
        where = f"/clusters/{cluster}" if cluster else ""
        return list(self._call("POST", f"{where}/kubernetes/nodes", body)["nodes"])

    def install_chart(self, chart: str, version: str, values: dict[str, Any] | None = None,
                      cluster: str | None = None) -> list[str]:
        """The CRDs a chart version brings (see sandbox/kubernetes/catalogue.py); in the
        existing cluster ``cluster`` when given."""
        body = {"chart": chart, "version": version, "values": values or {}}
        where = f"/clusters/{cluster}" if cluster else ""
        return list(self._call("POST", f"{where}/kubernetes/charts", body)[
            "customResourceDefinitions"])

    def add_webhook(self, **hook: Any) -> dict[str, Any]:
        """A mutating webhook (see sandbox/kubernetes/behaviours.py for the fields)."""
        return dict(self._call("POST", "/kubernetes/webhooks", hook))

    def clear_webhooks(self) -> None:
        self._call("DELETE", "/kubernetes/webhooks")

    def edit(self, manager: str, api_version: str, kind: str, name: str, patch: Any,
             namespace: str = "", patch_type: str = "merge",
             subresource: str = "") -> dict[str, Any]:
        """Change an object as another field manager (``kubectl edit``/``scale``, an HPA)."""
        return dict(self._call("POST", "/kubernetes/edit", {
            "manager": manager, "apiVersion": api_version, "kind": kind, "name": name,
            "namespace": namespace, "patch": patch, "type": patch_type,
            "subresource": subresource}))

    def evict(self, namespace: str, name: str, message: str = "") -> dict[str, Any]:
        """Node-pressure eviction of one pod (sandbox/kubernetes/volumes.py)."""
        return dict(self._call("POST", "/kubernetes/evict",
                               {"namespace": namespace, "name": name, "message": message}))

    def write_volume_files(self, namespace: str, claim: str, files: dict[str, bytes],
                           cluster: str | None = None) -> dict[str, Any]:
        """Write files into the PV a claim is bound to, as the application would (in the
        existing cluster ``cluster`` when given)."""
        import base64

        body = {"namespace": namespace, "claim": claim,
                "files": {k: base64.b64encode(v).decode() for k, v in files.items()}}
        where = f"/clusters/{cluster}" if cluster else ""
        return dict(self._call("POST", f"{where}/kubernetes/volume-files", body))

    def velero_fault(self, phase: str, message: str = "", times: int = 1) -> dict[str, Any]:
        """The next ``times`` Velero backups end ``phase`` (sandbox/kubernetes/velero.py)."""
        return dict(self._call("POST", "/kubernetes/velero-faults",
                               {"phase": phase, "message": message, "times": times}))

    def longhorn_fault(self, message: str = "", times: int = 1) -> dict[str, Any]:
        """The next ``times`` Longhorn backups end ``Error`` (sandbox/kubernetes/longhorn.py)."""
        return dict(self._call("POST", "/kubernetes/longhorn-faults",
                               {"message": message, "times": times}))

    def healthz(self) -> dict[str, Any]:
        return dict(self._call("GET", "/healthz"))
