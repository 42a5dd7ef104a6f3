"""Readiness of Kubernetes objects by kind. Pure.

Deployments, StatefulSets and DaemonSets are rolled out as ``kubectl rollout status`` decides,
PVCs bound, and any object with a ``Ready`` condition has it ``True`` for its current
generation. Other kinds are healthy once they exist.
"""

from __future__ import annotations

from typing import Any

HEALTH_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "PersistentVolumeClaim"})


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

# Deployments, StatefulSets and DaemonSets are done when `kubectl rollout status` says so: the
# rules of kubernetes/kubectl pkg/polymorphichelpers/rollout_status.go (DeploymentStatusViewer,
# StatefulSetStatusViewer, DaemonSetStatusViewer). Counts the API omits (omitempty) are 0, as
# Go's zero values are there.
PROGRESS_DEADLINE_EXCEEDED = "ProgressDeadlineExceeded"  # deploymentutil.TimedOutReason


def _count(status: dict[str, Any], key: str) -> int:
    return int(status.get(key) or 0)


def _observed(obj: dict[str, Any], status: dict[str, Any]) -> bool:
    return int((obj.get("metadata") or {}).get("generation") or 0) <= _count(
        status, "observedGeneration")


def rollout_failed(obj: dict[str, Any] | None) -> str | None:
    """Why a Deployment's rollout has failed for good (kubectl rollout status exits with an
    error): the controller has seen the current spec and set Progressing's reason to
    ProgressDeadlineExceeded. None when it has not failed; waiting longer cannot help otherwise."""
    if not obj or obj.get("kind") != "Deployment":
        return None
    status = obj.get("status") or {}
    if not _observed(obj, status):
        return None
    for c in status.get("conditions") or []:
        if c.get("type") == "Progressing" and c.get("reason") == PROGRESS_DEADLINE_EXCEEDED:
            name = (obj.get("metadata") or {}).get("name", "")
            return f"deployment {name!r} exceeded its progress deadline: {c.get('message', '')}"
    return None


def _deployment(obj: dict[str, Any], spec: dict[str, Any], status: dict[str, Any]) -> Health:
    if not _observed(obj, status):
        return False, "rollout not observed yet"
    failed = rollout_failed(obj)
    if failed:
        return False, failed
    want, updated = spec.get("replicas"), _count(status, "updatedReplicas")
    available, total = _count(status, "availableReplicas"), _count(status, "replicas")
    if want is not None and updated < want:
        return False, f"{updated} of {want} new replicas updated" + _replica_failure(status)
    if total > updated:
        return False, f"{total - updated} old replicas pending termination"
    if available < updated:
        return False, f"{available} of {updated} updated replicas available" + \
            _replica_failure(status)
    return True, ""


def _replica_failure(status: dict[str, Any]) -> str:
    """Why new pods do not come, in the Deployment controller's words (ReplicaFailure=True,
    e.g. FailedCreate), else nothing. kubectl does not print it; it only explains the wait."""
    for c in status.get("conditions") or []:
        if (c.get("type"), c.get("status")) == ("ReplicaFailure", "True"):
            return f"; {c.get('reason', '')}: {c.get('message', '')}"
    return ""


def _rolling(spec: dict[str, Any]) -> bool:
    # The API server defaults updateStrategy.type to RollingUpdate, so an absent one is that.
    return bool((spec.get("updateStrategy") or {}).get("type", "RollingUpdate") == "RollingUpdate")


def _statefulset(obj: dict[str, Any], spec: dict[str, Any], status: dict[str, Any]) -> Health:
    want, ready = spec.get("replicas"), _count(status, "readyReplicas")
    if _count(status, "observedGeneration") == 0 or not _observed(obj, status):
        return False, "spec update not observed yet"
    if want is not None and ready < want:
        return False, f"{ready}/{want} replicas ready"
    if not _rolling(spec):
        # kubectl has no rollout status for OnDelete (it errors); ready pods are all we know.
        return True, ""
    partition = ((spec.get("updateStrategy") or {}).get("rollingUpdate") or {}).get("partition")
    updated = _count(status, "updatedReplicas")
    if "rollingUpdate" in (spec.get("updateStrategy") or {}):
        if want is not None and partition is not None and updated < want - partition:
            return False, f"{updated} of {want - partition} new pods updated (partitioned)"
        return True, ""
    if status.get("updateRevision") != status.get("currentRevision"):
        return False, f"{updated} pods at revision {status.get('updateRevision')}, " \
                      "rolling update not complete"
    return True, ""


def _daemonset(obj: dict[str, Any], spec: dict[str, Any], status: dict[str, Any]) -> Health:
    want = _count(status, "desiredNumberScheduled")
    if not _observed(obj, status):
        return False, "spec update not observed yet"
    if _rolling(spec) and _count(status, "updatedNumberScheduled") < want:
        return False, f"{_count(status, 'updatedNumberScheduled')} of {want} new pods updated"
    # OnDelete: kubectl has no rollout status (it errors); available pods are all we know.
    if _count(status, "numberAvailable") < want:
        return False, f"{_count(status, 'numberAvailable')} of {want} pods available"
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
