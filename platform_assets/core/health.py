"""Readiness of Kubernetes objects by kind. Pure.

Deployments are available, StatefulSets and DaemonSets ready, PVCs bound, and any object with a
``Ready`` condition has it ``True`` for its current generation. Other kinds are healthy once they
exist.
"""

from __future__ import annotations

from typing import Any

HEALTH_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "PersistentVolumeClaim"})


def _generation_seen(obj: dict[str, Any]) -> bool:
    gen = (obj.get("metadata") or {}).get("generation")
    seen = (obj.get("status") or {}).get("observedGeneration")
    return gen is None or seen is None or seen >= gen


def _ready_condition(obj: dict[str, Any]) -> dict[str, Any] | None:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == "Ready":
            return dict(c)
    return None


def has_health(obj: dict[str, Any]) -> bool:
    """Whether the object's kind has a readiness we wait for when the spec lists no checks."""
    return obj.get("kind") in HEALTH_KINDS or obj.get("kind") in (
        "HelmRelease", "Kustomization", "Certificate", "ClusterIssuer", "ExternalSecret")


Health = tuple[bool, str]


def _deployment(obj: dict[str, Any], spec: dict[str, Any], status: dict[str, Any]) -> Health:
    want = spec.get("replicas", 1)
    have = status.get("availableReplicas") or 0
    if not _generation_seen(obj):
        return False, "rollout not observed yet"
    if have < want or (status.get("updatedReplicas") or 0) < want:
        return False, f"{have}/{want} replicas available" + _rollout_trouble(status)
    return True, ""


def _rollout_trouble(status: dict[str, Any]) -> str:
    """Why a rollout is stuck, in the Deployment controller's words: Progressing=False
    (ProgressDeadlineExceeded) or ReplicaFailure=True (FailedCreate), else nothing."""
    for c in status.get("conditions") or []:
        if (c.get("type"), c.get("status")) in (("Progressing", "False"),
                                                ("ReplicaFailure", "True")):
            return f"; {c.get('reason', '')}: {c.get('message', '')}"
    return ""


def _statefulset(obj: dict[str, Any], spec: dict[str, Any], status: dict[str, Any]) -> Health:
    want = spec.get("replicas", 1)
    have = status.get("readyReplicas") or 0
    if not _generation_seen(obj) or have < want:
        return False, f"{have}/{want} replicas ready"
    return True, ""


def _daemonset(obj: dict[str, Any], spec: dict[str, Any], status: dict[str, Any]) -> Health:
    want = status.get("desiredNumberScheduled")
    have = status.get("numberReady") or 0
    if not _generation_seen(obj) or want is None or have < want:
        return False, f"{have}/{want if want is not None else '?'} pods ready"
    return True, ""


def _pvc(obj: dict[str, Any], spec: dict[str, Any], status: dict[str, Any]) -> Health:
    phase = status.get("phase") or "Pending"
    return (phase == "Bound"), ("" if phase == "Bound" else f"phase {phase}")


def _ready(obj: dict[str, Any], cond: dict[str, Any] | None, status: dict[str, Any]) -> Health:
    if cond is None:
        return False, "no Ready condition yet"
    gen = (obj.get("metadata") or {}).get("generation")
    seen = cond.get("observedGeneration", status.get("observedGeneration"))
    if gen is not None and seen is not None and seen < gen:
        return False, "Ready condition is for an older generation"
    if cond.get("status") != "True":
        return False, f"Ready={cond.get('status')}: {cond.get('reason', '')} " \
                      f"{cond.get('message', '')}".strip()
    return True, ""


BY_KIND = {"Deployment": _deployment, "StatefulSet": _statefulset, "DaemonSet": _daemonset,
           "PersistentVolumeClaim": _pvc}


def health(obj: dict[str, Any] | None) -> Health:
    """(healthy, why not) for one object."""
    if obj is None:
        return False, "does not exist"
    kind = str(obj.get("kind"))
    status = obj.get("status") or {}
    if kind in BY_KIND:
        return BY_KIND[kind](obj, obj.get("spec") or {}, status)
    cond = _ready_condition(obj)
    if cond is not None or kind in ("HelmRelease", "Kustomization"):
        return _ready(obj, cond, status)
    return True, ""


def reconcile_handled(obj: dict[str, Any] | None, requested_at: str | None) -> bool:
    """Whether Flux handled the reconcile requested at ``requested_at`` (None: nothing asked)."""
    if requested_at is None:
        return True
    if not obj:
        return False
    return bool((obj.get("status") or {}).get("lastHandledReconcileAt") == requested_at)


def argocd_health(obj: dict[str, Any] | None, requested_at: str | None) -> Health:
    """(healthy, why not) of an Argo CD Application: ``status.sync.status`` Synced against the
    current spec (``comparedTo``), ``status.health.status`` Healthy, and the sync we requested
    at ``requested_at`` (None: nothing asked) completed with phase Succeeded. Argo CD's
    Application has no status subresource and no ``observedGeneration``: ``comparedTo`` is how
    the controller says which source and destination its status is about."""
    if obj is None:
        return False, "does not exist"
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    for cond in status.get("conditions") or []:
        if str(cond.get("type", "")).endswith("Error"):
            return False, f"{cond.get('type')}: {cond.get('message', '')}"
    op = status.get("operationState") or {}
    if requested_at is not None:
        info = {i.get("name"): i.get("value") for i in (op.get("operation") or {}).get("info")
                or []}
        if info.get("requestedAt") != requested_at:
            return False, "Argo CD has not started the requested sync yet"
    phase = op.get("phase")
    if phase in ("Running", "Terminating"):
        return False, f"sync {phase}: {op.get('message', '')}".strip()
    if requested_at is not None and phase != "Succeeded":
        return False, f"sync {phase}: {op.get('message', '')}".strip()
    sync = status.get("sync") or {}
    compared = sync.get("comparedTo") or {}
    if compared.get("source") != spec.get("source") or \
            compared.get("destination") != spec.get("destination"):
        return False, "Argo CD has not compared the current spec yet"
    if sync.get("status") != "Synced":
        return False, f"sync status {sync.get('status') or 'unknown'}"
    state = (status.get("health") or {}).get("status")
    if state != "Healthy":
        message = (status.get("health") or {}).get("message")
        return False, f"health {state or 'unknown'}" + (f": {message}" if message else "")
    return True, ""
