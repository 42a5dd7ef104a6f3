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


def health(obj: dict[str, Any] | None) -> tuple[bool, str]:
    """(healthy, why not) for one object."""
    if obj is None:
        return False, "does not exist"
    kind = obj.get("kind")
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    if kind == "Deployment":
        want = spec.get("replicas", 1)
        have = status.get("availableReplicas") or 0
        if not _generation_seen(obj):
            return False, "rollout not observed yet"
        if have < want or (status.get("updatedReplicas") or 0) < want:
            return False, f"{have}/{want} replicas available"
        return True, ""
    if kind == "StatefulSet":
        want = spec.get("replicas", 1)
        have = status.get("readyReplicas") or 0
        if not _generation_seen(obj) or have < want:
            return False, f"{have}/{want} replicas ready"
        return True, ""
    if kind == "DaemonSet":
        want = status.get("desiredNumberScheduled")
        have = status.get("numberReady") or 0
        if not _generation_seen(obj) or want is None or have < want:
            return False, f"{have}/{want if want is not None else '?'} pods ready"
        return True, ""
    if kind == "PersistentVolumeClaim":
        phase = status.get("phase") or "Pending"
        return (phase == "Bound"), ("" if phase == "Bound" else f"phase {phase}")
    cond = _ready_condition(obj)
    if cond is not None or kind in ("HelmRelease", "Kustomization"):
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
    return True, ""


def reconcile_handled(obj: dict[str, Any] | None, requested_at: str | None) -> bool:
    """Whether Flux handled the reconcile requested at ``requested_at`` (None: nothing asked)."""
    if requested_at is None:
        return True
    if not obj:
        return False
    return bool((obj.get("status") or {}).get("lastHandledReconcileAt") == requested_at)
