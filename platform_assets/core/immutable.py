"""Kubernetes fields the API server refuses to change, and what a change of one needs. Pure.

A real kube-apiserver answers an update that changes an immutable field with 422 Invalid
("field is immutable", or "Forbidden: updates to statefulset spec for fields other than ...
are forbidden"); the only way to such a change is to delete the object and create it anew. This
module holds one table of those fields per ``apiVersion``/``kind`` (``IMMUTABLE``, taken from
the apiserver's validation: k8s.io/kubernetes ``pkg/apis/*/validation``), names the immutable
fields a diff touches (``frozen_fields``), says which replaces are never planned automatically
because they lose data (``never_replaced``), and reads a 422 the table did not foresee
(``refused_fields``: a CRD's CEL ``self == oldSelf`` rule, a kind not in the table).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from platform_assets.core.diff import MISSING, FieldChange, quantity_value, touches
from platform_assets.core.ports import Json, Propagation


@dataclass(frozen=True)
class ImmutableRule:
    """The immutable fields of one kind.

    ``paths``: a change at or under one of them needs a replace, unless it is at or under one of
    ``mutable`` (a StatefulSet's ``spec`` is immutable but for a few fields). ``only_if``: the
    rule holds only while this holds of the observed object (a ConfigMap's ``data`` is frozen
    by ``immutable: true``). ``loses_data``: a replace deletes stored data,
    so it is never planned automatically; the text says why. ``empty_keeps``: an empty desired
    value, or none, keeps the server's (a Service's ``clusterIP: ""`` keeps the allocated
    address), so it is no change.
    """

    paths: tuple[str, ...]
    mutable: tuple[str, ...] = ()
    only_if: Callable[[Json], bool] | None = None
    loses_data: str = ""
    empty_keeps: bool = False


_PVC_MUTABLE = ("spec.resources.requests", "spec.volumeAttributesClassName")
_PVC_DATA = ("deleting a PersistentVolumeClaim deletes its volume and the data on it (reclaim "
             "policy Delete) or strands it (Retain)")
_PV_DATA = ("a PersistentVolume holds data and, while bound, is not deleted before its claim "
            "(kubernetes.io/pv-protection)")
# A PersistentVolume's source is one of these inline fields (core/v1 PersistentVolumeSource).
_PV_SOURCES = tuple(f"spec.{s}" for s in (
    "awsElasticBlockStore", "azureDisk", "azureFile", "cephfs", "cinder", "csi", "fc",
    "flexVolume", "flocker", "gcePersistentDisk", "glusterfs", "hostPath", "iscsi", "local",
    "nfs", "photonPersistentDisk", "portworxVolume", "quobyte", "rbd", "scaleIO", "storageos",
    "vsphereVolume"))

# apps/v1 ValidateStatefulSetUpdate (v1.32): every spec field but these is forbidden to change,
# as the apiserver's message lists them; revisionHistoryLimit is not among them
# (kubernetes/kubernetes#130263).
STATEFULSET_MUTABLE = tuple(f"spec.{f}" for f in (
    "replicas", "ordinals", "template", "updateStrategy",
    "persistentVolumeClaimRetentionPolicy", "minReadySeconds"))

_ONE_SELECTOR = (ImmutableRule(("spec.selector",)),)


def _immutable_set(have: Json) -> bool:
    return have.get("immutable") is True


def _unbound(have: Json) -> bool:
    return (have.get("status") or {}).get("phase") != "Bound"


IMMUTABLE: Mapping[tuple[str, str], tuple[ImmutableRule, ...]] = {
    ("apps/v1", "Deployment"): _ONE_SELECTOR,
    ("apps/v1", "ReplicaSet"): _ONE_SELECTOR,
    ("apps/v1", "DaemonSet"): _ONE_SELECTOR,
    ("apps/v1", "StatefulSet"): (ImmutableRule(("spec",), mutable=STATEFULSET_MUTABLE),),
    ("batch/v1", "Job"): (
        ImmutableRule(("spec.selector", "spec.template", "spec.completionMode")),),
    # The Service registry keeps the allocated address when an update leaves it empty
    # (pkg/registry/core/service/storage: patchAllocatedValues).
    ("v1", "Service"): (ImmutableRule(("spec.clusterIP", "spec.clusterIPs"), empty_keeps=True),),
    # A claim's requests may change only once it is Bound (ValidatePersistentVolumeClaimUpdate).
    ("v1", "PersistentVolumeClaim"): (
        ImmutableRule(("spec",), mutable=_PVC_MUTABLE, loses_data=_PVC_DATA),
        ImmutableRule(_PVC_MUTABLE, only_if=_unbound, loses_data=_PVC_DATA)),
    ("v1", "PersistentVolume"): (
        ImmutableRule((*_PV_SOURCES, "spec.volumeMode"), loses_data=_PV_DATA),),
    # ``immutable: true`` freezes the data, and itself (ValidateConfigMapUpdate,
    # ValidateSecretUpdate); a Secret's type is always frozen.
    ("v1", "ConfigMap"): (
        ImmutableRule(("data", "binaryData", "immutable"), only_if=_immutable_set),),
    ("v1", "Secret"): (ImmutableRule(("type",)),
                       ImmutableRule(("data", "stringData", "immutable"),
                                     only_if=_immutable_set)),
    ("storage.k8s.io/v1", "StorageClass"): (ImmutableRule(
        ("provisioner", "parameters", "reclaimPolicy", "volumeBindingMode")),),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): (ImmutableRule(("roleRef",)),),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): (ImmutableRule(("roleRef",)),),
}

# How a replace deletes (metav1.DeletionPropagation). Foreground keeps the object until the
# garbage collector has deleted its dependents: a Job's Pods must be gone before the new Job's
# start (two runs of a migration at once), and a StatefulSet's Pods before the new one creates
# Pods of the same names on the same claims. Elsewhere Background: the object goes at once, its
# old ReplicaSets and Pods drain while the new ones start, which shortens the outage.
REPLACE_PROPAGATION: Mapping[tuple[str, str], Propagation] = {
    ("batch/v1", "Job"): "Foreground",
    ("apps/v1", "StatefulSet"): "Foreground",
}


def propagation(api_version: str, kind: str) -> Propagation:
    """The propagation policy a replace deletes an object of this kind with."""
    return REPLACE_PROPAGATION.get((api_version, kind), "Background")


def _rules(api_version: str, kind: str, have: Json) -> list[ImmutableRule]:
    return [r for r in IMMUTABLE.get((api_version, kind), ())
            if r.only_if is None or r.only_if(have)]


_SEGMENT = re.compile(r"[^.\[]+")


def _field_name(path: str, rule: ImmutableRule) -> str | None:
    """The immutable field ``path`` changes, as the plan names it, or None if it is mutable.
    Under an "all but" rule the name is the field right below the rule's path
    (``spec.volumeClaimTemplates``), the way the apiserver's message names fields."""
    change = FieldChange(path, None, None)
    if touches([change], rule.mutable):
        return None
    for prefix in rule.paths:
        if touches([change], [prefix]):
            if not rule.mutable:
                return prefix
            below = _SEGMENT.match(path[len(prefix) + 1:])
            return f"{prefix}.{below.group(0)}" if below else prefix
    return None


def frozen_fields(want: Json, have: Json, fields: Iterable[FieldChange]) -> list[str]:
    """The immutable fields (sorted, each once) that the differences ``fields`` between the
    desired ``want`` and the observed ``have`` change; empty when an update may carry them."""
    rules = _rules(str(want.get("apiVersion")), str(want.get("kind")), have)
    names = {name for f in fields for r in rules
             if not (r.empty_keeps and (f.desired is MISSING or f.desired in ("", None, [])))
             and (name := _field_name(f.path, r)) is not None}
    return sorted(names)


def never_replaced(want: Json) -> str:
    """Why an object of this kind is never replaced automatically ('' when it may be)."""
    rules = IMMUTABLE.get((str(want.get("apiVersion")), str(want.get("kind"))), ())
    return next((r.loses_data for r in rules if r.loses_data), "")


def replaceable(want: Json) -> bool:
    """Whether a reconcile may ever replace an object of this kind: it has immutable fields
    and its replace loses no data."""
    key = (str(want.get("apiVersion")), str(want.get("kind")))
    return key in IMMUTABLE and not never_replaced(want)


def shrunk_requests(want: Json, have: Json, fields: Iterable[FieldChange]) -> list[str]:
    """The storage requests of a PersistentVolumeClaim that ``fields`` lower below what its
    volume has: the apiserver refuses a claim to shrink below ``status.capacity`` ("field can
    not be less than status.capacity"; above it, lowering a request recovers from a failed
    expansion, and is allowed)."""
    if (want.get("apiVersion"), want.get("kind")) != ("v1", "PersistentVolumeClaim"):
        return []
    capacity = ((have.get("status") or {}).get("capacity") or {})
    out = []
    for f in touches(fields, ["spec.resources.requests"]):
        old, new = quantity_value(f.observed), quantity_value(f.desired)
        floor = quantity_value(capacity.get(f.path.rpartition(".")[2])) or old
        if old is not None and new is not None and floor is not None and new < min(old, floor):
            out.append(f.path)
    return out


def claims_deleted_with(have: Json) -> bool:
    """Whether deleting this StatefulSet deletes its PersistentVolumeClaims too
    (``persistentVolumeClaimRetentionPolicy.whenDeleted: Delete``): a replace would lose them."""
    policy = ((have.get("spec") or {}).get("persistentVolumeClaimRetentionPolicy") or {})
    return have.get("kind") == "StatefulSet" and policy.get("whenDeleted") == "Delete"


# The apiserver's wordings of such a refusal: "field is immutable" (ValidateImmutableField,
# and CRDs' CEL rules by convention), "cannot change roleRef", a Service's clusterIP "may not
# change once set", "updates to statefulset spec for fields other than ... are forbidden",
# a claim's "field can not be less than ...", a Pod's toleration "can not be modified".
_REFUSAL = re.compile(r"immutable|cannot change|may not change|can not be less than|"
                      r"can not be modified|are forbidden", re.IGNORECASE)


def refused_fields(status: Json) -> list[tuple[str, str]]:
    """The (field, message) pairs of an apiserver 422 Status that refuse a change of an
    immutable field (field '' when the cause names none, as a ValidatingAdmissionPolicy's
    denial); empty when the 422 is about something else (a bad value)."""
    details = status.get("details") or {}
    causes = details.get("causes") if isinstance(details, dict) else None
    out = []
    for cause in causes if isinstance(causes, list) else []:
        if isinstance(cause, dict) and _REFUSAL.search(str(cause.get("message") or "")):
            out.append((str(cause.get("field") or ""), str(cause["message"])))
    if not out and _REFUSAL.search(str(status.get("message") or "")):
        out.append(("", str(status["message"])))
    return out
