"""Injectable cluster behaviours for the admin API: nodes, mutating webhooks and other field
managers.

- ``POST /kubernetes/nodes`` ``{"pool": "p", "count": 3, "cores": 4, "ramMB": 16384}`` gives
  the cluster Ready nodes without an IONOS node pool.
- ``POST /kubernetes/charts`` ``{"chart": "cert-manager", "version": "v1.16.2", "values":
  {"crds": {"enabled": true}}}`` installs the CRDs that chart version brings (what ``helm
  install`` of it would), from ``catalogue.py``.
- ``POST /kubernetes/webhooks`` ``{"name": "sidecar.example", "kinds": ["Pod"],
  "namespaceSelector": {"matchLabels": {...}}, "containers": [...], "labels": {...},
  "annotations": {...}}`` registers a mutating webhook, as a ``MutatingWebhookConfiguration``
  does: every client CREATE of a matching kind (Pods, or a workload's pod template for
  Deployment/StatefulSet/DaemonSet/ReplicaSet/Job) gets the containers appended (unless one of
  that name is there), the labels and annotations merged; the change is recorded in
  ``managedFields`` under the webhook's name, as an admission mutation appears on a real server
  (under the manager of the request). ``GET`` lists them, ``DELETE`` removes them all.
- ``POST /kubernetes/evict`` ``{"namespace": "ns", "name": "pod", "message": "..."}``: the
  kubelet's node-pressure eviction of a pod (``sandbox/kubernetes/volumes.py``).
- ``POST /kubernetes/volume-files`` ``{"namespace": "ns", "claim": "pvc", "files": {"a/b":
  "<base64>"}}`` writes files into the PV a claim is bound to, as the application would.
- ``POST /kubernetes/velero-faults`` ``{"phase": "PartiallyFailed", "message": "...",
  "times": 1}``: the next backups of the Velero server end ``PartiallyFailed`` (one item's
  error) or ``Failed`` (``sandbox/kubernetes/velero.py``).
- ``POST /kubernetes/longhorn-faults`` ``{"message": "...", "times": 1}``: the next backups of
  the Longhorn manager end ``Error`` with no backup cfg (``sandbox/kubernetes/longhorn.py``).
- ``POST /kubernetes/edit`` ``{"manager": "kubectl-edit", "apiVersion": "apps/v1",
  "kind": "Deployment", "namespace": "services", "name": "wordpress", "type": "merge",
  "patch": {...}, "subresource": ""}`` makes a change as another field manager (``kubectl
  scale`` is ``subresource: "scale"`` with manager ``kubectl``; HPA writes as
  ``horizontal-pod-autoscaler``). ``type`` is ``merge``, ``json``, ``strategic`` or ``apply``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sandbox.kubernetes.api import APPLY, JSON_PATCH, MERGE, STRATEGIC, AdmissionRequest, ApiError
from sandbox.kubernetes.patch import clone
from sandbox.kubernetes.workloads import selector_matches

if TYPE_CHECKING:
    from sandbox.kubernetes.service import KubernetesService

_TEMPLATE_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}
_PATCH_TYPES = {"merge": MERGE, "json": JSON_PATCH, "strategic": STRATEGIC, "apply": APPLY}


class BehaviourError(ValueError):
    pass


@dataclass
class SidecarWebhook:
    name: str
    kinds: list[str]
    namespace_selector: dict[str, Any]
    containers: list[dict[str, Any]] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Any) -> SidecarWebhook:
        if not isinstance(data, dict):
            raise BehaviourError("body must be a JSON object")
        name = data.get("name")
        if not isinstance(name, str) or not name:
            raise BehaviourError("'name' must be a non-empty string")
        kinds = data.get("kinds", ["Pod"])
        if not isinstance(kinds, list) or not all(isinstance(k, str) for k in kinds):
            raise BehaviourError("'kinds' must be a list of kind names")
        sel = data.get("namespaceSelector") or {}
        containers = data.get("containers") or []
        if not isinstance(sel, dict):
            raise BehaviourError("'namespaceSelector' must be a label selector object")
        if not isinstance(containers, list) or not all(
                isinstance(c, dict) and isinstance(c.get("name"), str) for c in containers):
            raise BehaviourError("'containers' must be a list of containers with names")
        for key in ("labels", "annotations"):
            value = data.get(key) or {}
            if not isinstance(value, dict) or not all(
                    isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
                raise BehaviourError(f"'{key}' must map strings to strings")
        return cls(name, kinds, sel, containers, dict(data.get("labels") or {}),
                   dict(data.get("annotations") or {}))

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "kinds": self.kinds,
                "namespaceSelector": self.namespace_selector, "containers": self.containers,
                "labels": self.labels, "annotations": self.annotations}


class Behaviours:
    """The admin API's Kubernetes routes, and the webhooks it registered."""

    def __init__(self, svc: KubernetesService):
        self.svc = svc
        self.webhooks: list[SidecarWebhook] = []
        svc.api.mutating_admission.append(self._mutate)

    def _mutate(self, req: AdmissionRequest) -> None:
        if req.operation != "CREATE" or req.obj is None or req.subresource:
            return
        ns_obj = self.svc.store.get(("", "namespaces"), "", req.namespace) or {}
        ns_labels = ns_obj.get("metadata", {}).get("labels") or {}
        for hook in self.webhooks:
            if req.rt.kind not in hook.kinds or not req.rt.namespaced or \
                    not selector_matches(hook.namespace_selector, ns_labels):
                continue
            target = req.obj
            if req.rt.kind in _TEMPLATE_KINDS:
                target = req.obj.setdefault("spec", {}).setdefault("template", {})
            meta = target.setdefault("metadata", {})
            if hook.labels:
                meta["labels"] = {**(meta.get("labels") or {}), **hook.labels}
            if hook.annotations:
                meta["annotations"] = {**(meta.get("annotations") or {}), **hook.annotations}
            spec = target.setdefault("spec", {})
            have = {c.get("name") for c in spec.get("containers") or []}
            spec["containers"] = list(spec.get("containers") or []) + [
                clone(c) for c in hook.containers if c["name"] not in have]

    def handle(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        routes = {("POST", "/kubernetes/nodes"): self._nodes,
                  ("POST", "/kubernetes/charts"): self._chart,
                  ("GET", "/kubernetes/webhooks"): self._list_webhooks,
                  ("POST", "/kubernetes/webhooks"): self._add_webhook,
                  ("DELETE", "/kubernetes/webhooks"): self._clear_webhooks,
                  ("POST", "/kubernetes/edit"): self._edit,
                  ("POST", "/kubernetes/evict"): self._evict,
                  ("POST", "/kubernetes/volume-files"): self._volume_files,
                  ("POST", "/kubernetes/velero-faults"): self._velero_fault,
                  ("POST", "/kubernetes/longhorn-faults"): self._longhorn_fault}
        handler = routes.get((method, path))
        if handler is None:
            known = ", ".join(f"{m} {p}" for m, p in routes)
            return 404, {"error": f"no admin endpoint {method} {path}; known: {known}",
                         "code": 404}
        try:
            return 200, handler(body)
        except BehaviourError as exc:
            return 400, {"error": f"{method} {path}: {exc}", "code": 400}
        except ApiError as exc:
            return exc.code, exc.status()

    def _nodes(self, body: Any) -> Any:
        body = body if isinstance(body, dict) else {}
        try:
            count, cores, ram = (int(body.get("count", 3)), int(body.get("cores", 4)),
                                 int(body.get("ramMB", 16384)))
        except (TypeError, ValueError) as exc:
            raise BehaviourError(f"count, cores and ramMB must be integers ({exc})") from None
        if not 0 <= count <= 100 or cores < 1 or ram < 1024:
            raise BehaviourError("count must be 0-100, cores >= 1, ramMB >= 1024")
        pool = str(body.get("pool") or "sandbox-pool")
        return {"nodes": self.svc.add_nodes(pool, count, cores, ram)}

    def _chart(self, body: Any) -> Any:
        if not isinstance(body, dict) or not body.get("chart") or not body.get("version"):
            raise BehaviourError('body is {"chart": "cert-manager", "version": "v1.16.2", '
                                 '"values": {...}}')
        values = body.get("values") or {}
        if not isinstance(values, dict):
            raise BehaviourError("'values' must be an object")
        try:
            names = self.svc.install_chart(str(body["chart"]), str(body["version"]), values,
                                           "helm")
        except ValueError as exc:
            raise BehaviourError(str(exc)) from None
        return {"customResourceDefinitions": names}

    def _list_webhooks(self, _body: Any) -> Any:
        return {"webhooks": [h.describe() for h in self.webhooks]}

    def _add_webhook(self, body: Any) -> Any:
        hook = SidecarWebhook.from_json(body)
        self.webhooks = [h for h in self.webhooks if h.name != hook.name] + [hook]
        return self._list_webhooks(None)

    def _clear_webhooks(self, _body: Any) -> Any:
        self.webhooks = []
        return self._list_webhooks(None)

    def _edit(self, body: Any) -> Any:
        if not isinstance(body, dict):
            raise BehaviourError("body must be a JSON object")
        missing = [k for k in ("manager", "apiVersion", "kind", "name", "patch")
                   if not body.get(k)]
        if missing:
            raise BehaviourError(f"missing {', '.join(missing)}")
        ptype = _PATCH_TYPES.get(str(body.get("type", "merge")))
        if ptype is None:
            raise BehaviourError(f"'type' must be one of {', '.join(_PATCH_TYPES)}")
        rt = self.svc.registry.by_kind(str(body["apiVersion"]), str(body["kind"]))
        if rt is None:
            raise BehaviourError(f"the cluster serves no {body['apiVersion']} {body['kind']}")
        sub = str(body.get("subresource") or "")
        if sub and sub not in rt.subresources:
            raise BehaviourError(f"{rt.kind} has no {sub!r} subresource")
        if sub == "scale":
            return self._scale(rt, body)
        obj, _ = self.svc.api.patch(rt, str(body.get("namespace") or ""), str(body["name"]),
                                    ptype, body["patch"], str(body["manager"]), sub,
                                    force=True if ptype == APPLY else None)
        return self.svc.api.output(rt, obj)

    def _evict(self, body: Any) -> Any:
        if not isinstance(body, dict) or not body.get("namespace") or not body.get("name"):
            raise BehaviourError('body is {"namespace": "ns", "name": "pod", "message": "..."}')
        message = str(body.get("message") or "The node was low on resource: memory. ")
        try:
            return self.svc.evict(str(body["namespace"]), str(body["name"]), message)
        except ValueError as exc:
            raise BehaviourError(str(exc)) from None

    def _velero_fault(self, body: Any) -> Any:
        if not isinstance(body, dict) or not body.get("phase"):
            raise BehaviourError('body is {"phase": "PartiallyFailed" or "Failed", "message": '
                                 '"...", "times": 1}')
        try:
            return self.svc.velero_fault(str(body["phase"]), str(
                body.get("message") or "rpc error: code = Unknown desc = item action failed"),
                int(body.get("times", 1)))
        except (TypeError, ValueError) as exc:
            raise BehaviourError(str(exc)) from None

    def _longhorn_fault(self, body: Any) -> Any:
        if not isinstance(body, dict):
            raise BehaviourError('body is {"message": "...", "times": 1}')
        try:
            return self.svc.longhorn_fault(str(body.get("message") or
                                               "failed to upload block: connection reset"),
                                           int(body.get("times", 1)))
        except (TypeError, ValueError) as exc:
            raise BehaviourError(str(exc)) from None

    def _volume_files(self, body: Any) -> Any:
        from sandbox.kubernetes.volumes import write_files

        if not isinstance(body, dict) or not isinstance(body.get("files"), dict):
            raise BehaviourError('body is {"namespace": "ns", "claim": "pvc", "files": '
                                 '{"relative/path": "<base64>"}}')
        try:
            path = self.svc.claim_path(str(body.get("namespace") or ""),
                                       str(body.get("claim") or ""))
            pv = path.name
            return {"written": write_files(self.svc.volume_data, pv, body["files"])}
        except (ValueError, OSError) as exc:
            raise BehaviourError(str(exc)) from None

    def _scale(self, rt: Any, body: Any) -> Any:
        """``kubectl scale``: the scale subresource's update of ``spec.replicas`` under the
        caller's manager (as the API's own ``/scale`` endpoint records it)."""
        replicas = (body.get("patch") or {}).get("spec", {}).get("replicas")
        if not isinstance(replicas, int) or replicas < 0:
            raise BehaviourError('a scale patch is {"spec": {"replicas": N}}')
        ns, name = str(body.get("namespace") or ""), str(body["name"])
        # The read and the write are one step under the store's (re-entrant) lock, as the API
        # server's own /scale handler reads and writes under one guaranteed update: otherwise a
        # controller's status write between them makes this update's resourceVersion stale
        # and the admin call fails with a 409 that no client could have caused.
        with self.svc.store.lock:
            updated = clone(self.svc.api.get(rt, ns, name))
            updated.setdefault("spec", {})["replicas"] = replicas
            obj = self.svc.api.update(rt, ns, name, updated, str(body["manager"]), "", False)
        return self.svc.api.output(rt, obj)
