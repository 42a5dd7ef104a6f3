"""Readiness of Kubernetes objects by kind. Pure.

Deployments, StatefulSets and DaemonSets are rolled out as ``kubectl rollout status`` decides,
PersistentVolumeClaims bound, or waiting only for their first consumer (``claim_health``), and
any object with a ``Ready`` condition has it ``True`` for its current generation. Other kinds
are healthy once they exist. Some failures are for good (``failed_for_good``): waiting cannot
help.
"""

from __future__ import annotations

from dataclasses import dataclass
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


# PersistentVolumeClaims, as kubernetes/kubernetes' PV controller
# (pkg/controller/volume/persistentvolume/pv_controller.go) and the scheduler's VolumeBinding
# plugin (pkg/scheduler/framework/plugins/volumebinding) move them. A claim of a class that
# binds WaitForFirstConsumer stays Pending, with a WaitForFirstConsumer event "waiting for first
# consumer to be created before binding", until the scheduler places a Pod that uses it and
# writes the node on the claim (SELECTED_NODE); only then does the PV controller name the
# provisioner (STORAGE_PROVISIONER, setClaimProvisioner) and the volume get made. Waiting for
# that Pod is not the claim's business: the workload that mounts it has a health of its own,
# and may be a CronJob, scaled to 0, or another component's (Argo CD reached the same answer,
# argoproj/argo-cd #29201).
WAIT_FOR_FIRST_CONSUMER = "WaitForFirstConsumer"
SELECTED_NODE = "volume.kubernetes.io/selected-node"  # volumebinding: AnnSelectedNode
STORAGE_PROVISIONER = "volume.kubernetes.io/storage-provisioner"  # AnnStorageProvisioner
FIRST_CONSUMER = "waiting for its first consumer"


@dataclass(frozen=True)
class ClaimClass:
    """A Pending claim's StorageClass as the caller read it from the API server."""

    name: str
    binding_mode: str | None  # its volumeBindingMode; None: no StorageClass of that name


def claim_class_name(claim: dict[str, Any]) -> str:
    """The StorageClass a claim names, "" for none. The API server's DefaultStorageClass
    admission plugin writes the default class's name on a claim created without one, so a
    claim read back without a class was created while no class was the default."""
    return str((claim.get("spec") or {}).get("storageClassName") or "")


def needs_class(claim: dict[str, Any] | None) -> str:
    """The StorageClass whose binding mode decides ``claim_health`` for this claim, "" when
    none does (it is Bound or Lost, names no class, or waits for a PersistentVolume it names),
    so the caller reads no class for it."""
    if not claim or claim.get("kind") != "PersistentVolumeClaim":
        return ""
    if (claim.get("status") or {}).get("phase") in ("Bound", "Lost"):
        return ""
    if (claim.get("spec") or {}).get("volumeName"):
        return ""
    return claim_class_name(claim)


def claim_lost(obj: dict[str, Any] | None) -> str | None:
    """Why a claim is lost for good: phase Lost, which the PV controller sets when its bound
    volume is gone or bound to another claim (syncBoundClaim: ClaimLost, ClaimMisbound) and
    never leaves by itself. None otherwise."""
    if not obj or obj.get("kind") != "PersistentVolumeClaim":
        return None
    if (obj.get("status") or {}).get("phase") != "Lost":
        return None
    meta, spec = obj.get("metadata") or {}, obj.get("spec") or {}
    volume = spec.get("volumeName")
    was = f"PersistentVolume {volume}" if volume else "PersistentVolume"
    return (f"claim {meta.get('name', '')!r} is Lost: its {was} is gone or bound to another "
            "claim and the data on it is lost; restore it from a backup, or delete the claim "
            "so the next reconcile creates it anew")


def failed_for_good(obj: dict[str, Any] | None) -> str | None:
    """Why the object has failed in a way no wait mends (a rollout past its progress
    deadline, a lost claim), else None."""
    return rollout_failed(obj) or claim_lost(obj)


def _pending_claim(claim: dict[str, Any], cls: ClaimClass | None) -> Health:
    name = claim_class_name(claim)
    volume = (claim.get("spec") or {}).get("volumeName")
    if volume:
        return False, f"Pending: waiting to bind PersistentVolume {volume}, which it names"
    if not name:
        return False, ("Pending: no StorageClass (none was the default when it was created), so "
                       "only a PersistentVolume made for it binds it: create one, or name a "
                       "class in spec.storageClassName")
    if cls is None or cls.name != name:
        return False, f"Pending (StorageClass {name} not read)"
    if cls.binding_mode is None:
        return False, (f"Pending: its StorageClass {name} does not exist, so nothing provisions "
                       "a volume for it: create the class, or name an existing one")
    ann = (claim.get("metadata") or {}).get("annotations") or {}
    node = ann.get(SELECTED_NODE)
    if cls.binding_mode == WAIT_FOR_FIRST_CONSUMER and not node:
        return True, (f"{FIRST_CONSUMER}: StorageClass {name} binds WaitForFirstConsumer and no "
                      "Pod that uses the claim is scheduled yet")
    by = ann.get(STORAGE_PROVISIONER)
    return False, ("Pending: its volume is being provisioned" + (f" by {by}" if by else "")
                   + (f" for node {node}" if node else "")
                   + f" (StorageClass {name}, {cls.binding_mode})")


def claim_health(claim: dict[str, Any], cls: ClaimClass | None) -> Health:
    """(healthy, why) of a PersistentVolumeClaim. Bound is healthy; Lost is not, for good
    (``claim_lost``). A Pending claim of a class that binds WaitForFirstConsumer, which no
    scheduled Pod has chosen a node for yet, is healthy with the note ``FIRST_CONSUMER``; one
    with a node chosen, or of an Immediate class, is being provisioned: not healthy yet; one of
    a class that does not exist, or of none, waits for something that may never come and says
    what. ``cls``: the class ``needs_class`` names, as read (None: not read)."""
    phase = (claim.get("status") or {}).get("phase") or "Pending"
    if phase == "Bound":
        return True, ""
    lost = claim_lost(claim)
    if lost:
        return False, lost
    if phase != "Pending":
        return False, f"phase {phase}"
    return _pending_claim(claim, cls)


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


BY_KIND = {"Deployment": _deployment, "StatefulSet": _statefulset, "DaemonSet": _daemonset}


def health(obj: dict[str, Any] | None, claim_class: ClaimClass | None = None) -> Health:
    """(healthy, why not) for one object; healthy with a note in ``why`` where the object is
    fine but not done (a claim waiting for its first consumer). ``claim_class``: a Pending
    claim's StorageClass as the caller read it (``claim_health``)."""
    if obj is None:
        return False, "does not exist"
    kind = str(obj.get("kind"))
    status = obj.get("status") or {}
    if kind == "PersistentVolumeClaim":
        return claim_health(obj, claim_class)
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
