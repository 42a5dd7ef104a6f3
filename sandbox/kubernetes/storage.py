"""Which StorageClass a claim gets and how its volume comes: the cluster's own classes, the
DefaultStorageClass admission plugin and the PV controller's provisioning decision.

- A managed IONOS cluster ships ``ionos-enterprise-hdd`` (the default) and
  ``ionos-enterprise-ssd``, both of provisioner ``cloud.ionos.com``, ``reclaimPolicy: Delete``,
  ``volumeBindingMode: WaitForFirstConsumer`` and ``allowVolumeExpansion: true``, parameters
  ``type`` (``HDD``/``SSD``) and ``fstype: ext4`` (``kubectl get sc`` and ``kubectl get sc
  ionos-enterprise-hdd -o yaml`` on an IONOS Managed Kubernetes cluster, as quoted in a public
  course's slides: the classes come from IONOS's ``csi-ionoscloud`` Helm chart;
  ionos-cloud/ionoscloud-blockstorage-csi-driver ``charts/.../templates/storageclass.yaml``
  sets the same for its own classes). The SSD class's ``type: SSD`` is inferred from the HDD
  class's ``type: HDD``.
- ``PersistentVolumeClaimResize`` (plugin/pkg/admission/storage/persistentvolume/resize):
  growing a claim's storage request needs it Bound and its class to allow expansion, else 403.
  The volume grows afterwards, in the controller loop (``resize.py``: the external-resizer,
  then the kubelet of a node a Pod using the claim runs on).
- An existing K3s cluster (the sandbox's unmanaged one) ships K3s's ``local-path`` class
  (k3s ``manifests/local-storage.yaml``: default, provisioner ``rancher.io/local-path``,
  ``Delete``, ``WaitForFirstConsumer``); its PVs are tied to the selected node (nodeAffinity on
  ``kubernetes.io/hostname``, as local-path-provisioner writes them).
- ``WaitForFirstConsumer`` (both IONOS classes and ``local-path``): the PV controller neither
  provisions nor binds the claim until the scheduler has chosen a node for a Pod that uses it
  (annotation ``volume.kubernetes.io/selected-node``); meanwhile a Normal
  ``WaitForFirstConsumer`` event "waiting for first consumer to be created before binding", or
  ``WaitForPodScheduled`` naming the unscheduled Pods that use it (pv_controller.go
  emitEventForUnboundDelayBindingClaim). The scheduler's side is in ``scheduler.py``.
- ``DefaultStorageClass`` (kube-apiserver
  ``plugin/pkg/admission/storage/storageclass/setdefault/admission.go``): a claim created
  without ``spec.storageClassName`` gets the default class; of several defaults the newest
  (``pkg/volume/util/storageclass.go`` GetDefaultClass: newest creationTimestamp, then name).
  ``""`` is a class choice ("none") and is left alone.
- ``decide`` is ``pkg/controller/volume/persistentvolume/pv_controller.go``
  syncUnboundClaim: a claim first binds to a fitting unbound PV of its own class
  (``findBestMatchForClaim``); else an unset class takes the default retroactively
  (RetroactiveDefaultStorageClass, GA in 1.28); else a class provisions (a class that does not
  exist: Warning ``ProvisioningFailed`` with the lister's NotFound message); else (``""`` or
  unset with no default) Normal ``FailedBinding``. The claim stays Pending in every waiting case.
  Before a volume is provisioned the controller names the class's provisioner on the claim
  (``volume.kubernetes.io/storage-provisioner`` and its beta twin, setClaimProvisioner) and
  records Normal ``ExternalProvisioning`` (provisionClaimOperationExternal): with
  ``WaitForFirstConsumer`` only once the scheduler has written ``selected-node``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from sandbox.kubernetes import govalue
from sandbox.kubernetes.quantity import QuantityError, parse
from sandbox.kubernetes.store import Store

if TYPE_CHECKING:
    from sandbox.kubernetes.api import AdmissionRequest

Json = dict[str, Any]

IONOS_PROVISIONER = "cloud.ionos.com"
LOCAL_PATH_PROVISIONER = "rancher.io/local-path"
IONOS_DEFAULT_CLASS = "ionos-enterprise-hdd"
IONOS_CLASSES = (IONOS_DEFAULT_CLASS, "ionos-enterprise-ssd")
DEFAULT_CLASS_ANNOTATIONS = ("storageclass.kubernetes.io/is-default-class",
                             "storageclass.beta.kubernetes.io/is-default-class")
NO_CLASS_MESSAGE = "no persistent volumes available for this claim and no storage class is set"
CLASSES_GK = ("storage.k8s.io", "storageclasses")
SELECTED_NODE = "volume.kubernetes.io/selected-node"
# k8s.io/component-helpers/storage/volume AnnStorageProvisioner, AnnBetaStorageProvisioner.
STORAGE_PROVISIONER = "volume.kubernetes.io/storage-provisioner"
BETA_STORAGE_PROVISIONER = "volume.beta.kubernetes.io/storage-provisioner"
WAIT_FOR_FIRST_CONSUMER = "WaitForFirstConsumer"


RECLAIM_POLICIES = ("Delete", "Retain")
BINDING_MODES = ("Immediate", "WaitForFirstConsumer")
_NAME_PART = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_NAME_PART_MSG = ("must consist of alphanumeric characters, '-', '_' or '.', and must start and "
                  "end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or "
                  "'123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?"
                  "[A-Za-z0-9]')")
_SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                  "characters, '-' or '.', and must start and end with an alphanumeric character "
                  "(e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*"
                  "[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
MAX_PARAMETERS, MAX_PARAMETERS_SIZE = 512, 256 * 1024


def _qualified_name(value: str) -> list[str]:
    """k8s.io/apimachinery/pkg/util/validation IsQualifiedName's messages."""
    parts = value.split("/")
    if len(parts) > 2:
        return ["a qualified name " + _NAME_PART_MSG + " with an optional DNS subdomain prefix "
                "and '/' (e.g. 'example.com/MyName')"]
    out = []
    name = parts[-1]
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix:
            out.append("prefix part must be non-empty")
        elif len(prefix) > 253:
            out.append("prefix part must be no more than 253 characters")
        elif not _DNS_SUBDOMAIN.match(prefix):
            out.append("prefix part " + _SUBDOMAIN_MSG)
    if not name:
        out.append("name part must be non-empty")
    elif len(name) > 63:
        out.append("name part must be no more than 63 characters")
    if name and not _NAME_PART.match(name):
        out.append("name part " + _NAME_PART_MSG)
    return out


def class_causes(sc: Json) -> list[tuple[str, str]]:
    """pkg/apis/storage/validation ValidateStorageClass on the defaulted class (the name is
    checked with every object's): provisioner required and a qualified name (lower-cased),
    parameters at most 512 keys, none empty, 256 KiB in all, reclaimPolicy ``Delete`` or
    ``Retain`` (an explicit ``""`` passes), volumeBindingMode required and ``Immediate`` or
    ``WaitForFirstConsumer``. allowedTopologies are not checked."""
    causes: list[tuple[str, str]] = []
    provisioner = sc.get("provisioner")
    if not provisioner:
        causes.append(("provisioner", "Required value"))
    else:
        lowered = str(provisioner).lower()
        causes += [("provisioner", f"Invalid value: {govalue.quote(lowered)}: {m}")
                   for m in _qualified_name(lowered)]
    params = sc.get("parameters") or {}
    if isinstance(params, dict):
        if len(params) > MAX_PARAMETERS:
            causes.append(("parameters", f"Too long: may not be more than {MAX_PARAMETERS} "
                           "bytes"))
        else:
            if "" in params:
                causes.append(("parameters", 'Invalid value: "": field can not be empty.'))
            if sum(len(str(k)) + len(str(v)) for k, v in params.items()) > MAX_PARAMETERS_SIZE:
                causes.append(("parameters", f"Too long: may not be more than "
                               f"{MAX_PARAMETERS_SIZE} bytes"))
    policy = sc.get("reclaimPolicy")
    if policy and policy not in RECLAIM_POLICIES:
        causes.append(("reclaimPolicy", f"Unsupported value: {govalue.value(policy)}: "
                       "supported values: " + ", ".join(map(govalue.quote, RECLAIM_POLICIES))))
    mode = sc.get("volumeBindingMode")
    if mode is None:
        causes.append(("volumeBindingMode", "Required value"))
    elif mode not in BINDING_MODES:
        causes.append(("volumeBindingMode", f"Unsupported value: {govalue.value(mode)}: "
                       "supported values: " + ", ".join(map(govalue.quote, BINDING_MODES))))
    return causes


def ionos_storage_classes() -> list[Json]:
    """The StorageClasses a new IONOS Managed Kubernetes cluster comes with."""
    out = []
    for name, volume_type in zip(IONOS_CLASSES, ("HDD", "SSD"), strict=True):
        meta: Json = {"name": name}
        if name == IONOS_DEFAULT_CLASS:
            meta["annotations"] = {DEFAULT_CLASS_ANNOTATIONS[0]: "true"}
        out.append({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                    "metadata": meta, "provisioner": IONOS_PROVISIONER,
                    "parameters": {"type": volume_type, "fstype": "ext4"},
                    "reclaimPolicy": "Delete",
                    "volumeBindingMode": WAIT_FOR_FIRST_CONSUMER, "allowVolumeExpansion": True})
    return out


def k3s_storage_classes() -> list[Json]:
    """The StorageClass a K3s cluster comes with (its bundled local-path-provisioner)."""
    return [{"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
             "metadata": {"name": "local-path",
                          "annotations": {DEFAULT_CLASS_ANNOTATIONS[0]: "true"}},
             "provisioner": LOCAL_PATH_PROVISIONER, "reclaimPolicy": "Delete",
             "volumeBindingMode": WAIT_FOR_FIRST_CONSUMER}]


def is_default(sc: Json) -> bool:
    """storageutil.IsDefaultAnnotation: either annotation, exactly ``"true"``."""
    ann = (sc.get("metadata") or {}).get("annotations") or {}
    return any(ann.get(a) == "true" for a in DEFAULT_CLASS_ANNOTATIONS)


def default_class(classes: Iterable[Json]) -> str | None:
    """GetDefaultClass: the newest default class (creationTimestamp, RFC 3339 seconds as the
    API stores it), ties broken by the smaller name; None when no class is default."""
    defaults = [c["metadata"] for c in classes if is_default(c)]
    if not defaults:
        return None
    newest = max(str(m.get("creationTimestamp") or "") for m in defaults)
    return min(str(m["name"]) for m in defaults
               if str(m.get("creationTimestamp") or "") == newest)


class DefaultStorageClass:
    """The mutating admission plugin: a claim created without a class gets the default."""

    def __init__(self, store: Store):
        self.store = store

    def __call__(self, req: AdmissionRequest) -> None:
        if req.operation != "CREATE" or req.subresource or req.obj is None \
                or req.rt.gk != ("", "persistentvolumeclaims"):
            return
        spec = req.obj.setdefault("spec", {})
        if spec.get("storageClassName") is not None:
            return
        name = default_class(self.store.select(CLASSES_GK))
        if name is not None:
            spec["storageClassName"] = name


def _request(pvc: Json | None) -> Fraction | None:
    storage = (((pvc or {}).get("spec") or {}).get("resources") or {}).get(
        "requests", {}).get("storage")
    try:
        return parse(str(storage))[0] if storage is not None else None
    except QuantityError:
        return None


RESIZE_UNBOUND = "Only bound persistent volume claims can be expanded"
RESIZE_UNSUPPORTED = ("only dynamically provisioned pvc can be resized and the storageclass "
                      "that provisions the pvc must support resize")


def resize_refusal(old: Json, new: Json, classes: Mapping[str, Json]) -> str | None:
    """PersistentVolumeClaimResize's reason to refuse an update that grows the storage request:
    the stored claim is not Bound, or its class (the same before and after, not ``""``) does
    not exist or lacks ``allowVolumeExpansion: true``. None when it admits the update."""
    before, after = _request(old), _request(new)
    if after is None or after <= (before or Fraction(0)):
        return None
    if (old.get("status") or {}).get("phase") != "Bound":
        return RESIZE_UNBOUND
    cls = (new.get("spec") or {}).get("storageClassName") or ""
    if not cls or cls != ((old.get("spec") or {}).get("storageClassName") or ""):
        return RESIZE_UNSUPPORTED
    if (classes.get(cls) or {}).get("allowVolumeExpansion") is not True:
        return RESIZE_UNSUPPORTED
    return None


class PersistentVolumeClaimResize:
    """The validating admission plugin
    (plugin/pkg/admission/storage/persistentvolume/resize/admission.go): a claim's storage
    request grows only when ``resize_refusal`` finds nothing, else 403 Forbidden."""

    def __init__(self, store: Store):
        self.store = store

    def __call__(self, req: AdmissionRequest) -> None:
        from sandbox.kubernetes.api import ApiError

        if req.operation != "UPDATE" or req.subresource or req.obj is None or req.old is None \
                or req.rt.gk != ("", "persistentvolumeclaims"):
            return
        classes = {c["metadata"]["name"]: c for c in self.store.select(CLASSES_GK)}
        why = resize_refusal(req.old, req.obj, classes)
        if why is not None:
            raise ApiError(403, "Forbidden",
                           f'persistentvolumeclaims "{req.name}" is forbidden: {why}',
                           {"name": req.name, "kind": "persistentvolumeclaims"})


@dataclass(frozen=True)
class BindTo:
    """Bind the claim to this existing PV."""

    pv: str


@dataclass(frozen=True)
class Provision:
    """Provision a new PV with this class's provisioner."""

    provisioner: str


@dataclass(frozen=True)
class AssignClass:
    """Set the claim's unset class to the default (the retroactive assignment)."""

    name: str


@dataclass(frozen=True)
class Wait:
    """Stay Pending; record ``event`` (type, reason, message) when there is one."""

    event: tuple[str, str, str] | None = None


Decision = BindTo | Provision | AssignClass | Wait


def delays_binding(claim: Json, classes: Mapping[str, Json]) -> bool:
    """pkg/controller/volume/persistentvolume/util IsDelayBindingMode: the claim's class exists
    and binds ``WaitForFirstConsumer`` (no class, ``""`` or a missing one: no delay)."""
    cls = (claim.get("spec") or {}).get("storageClassName") or ""
    sc = classes.get(cls) if cls else None
    return sc is not None and sc.get("volumeBindingMode") == WAIT_FOR_FIRST_CONSUMER


def selected_node(claim: Json) -> str | None:
    """The node the scheduler chose for a delayed claim (IsDelayBindingProvisioning)."""
    return ((claim.get("metadata") or {}).get("annotations") or {}).get(SELECTED_NODE)


def _bound_to(pv: Json, claim: Json) -> bool:
    ref = (pv.get("spec") or {}).get("claimRef") or {}
    meta = claim["metadata"]
    return bool(ref) and (ref.get("namespace"), ref.get("name")) == (
        meta["namespace"], meta["name"]) and ref.get("uid") in (None, "", meta.get("uid"))


def static_volume(claim: Json, request: int, pvs: Iterable[Json]) -> str | None:
    """findBestMatchForClaim: the smallest PV of the claim's class that fits it, unbound or
    pre-bound to it; None when there is none."""
    cls = (claim.get("spec") or {}).get("storageClassName") or ""
    fitting = [p for p in pvs if _fits(p, claim, cls, request)]
    return min(fitting, key=_capacity)["metadata"]["name"] if fitting else None


def unscheduled_consumers(claim: Json, pods: Iterable[Json]) -> list[str]:
    """findNonScheduledPodsByPVC: the claim's namespace's pods that use it and have no node."""
    meta = claim["metadata"]
    return sorted(p["metadata"]["name"] for p in pods
                  if p["metadata"].get("namespace") == meta["namespace"]
                  and not (p.get("spec") or {}).get("nodeName")
                  and any(((v or {}).get("persistentVolumeClaim") or {}).get("claimName")
                          == meta["name"] for v in (p.get("spec") or {}).get("volumes") or []))


def _delay_event(waiting: list[str]) -> tuple[str, str, str]:
    """emitEventForUnboundDelayBindingClaim."""
    if not waiting:
        return ("Normal", "WaitForFirstConsumer",
                "waiting for first consumer to be created before binding")
    many = len(waiting) > 1
    return ("Normal", "WaitForPodScheduled",
            f"waiting for pod{'s' if many else ''} {','.join(waiting)} to be scheduled")


def _fits(pv: Json, claim: Json, cls: str, request: int) -> bool:
    """checkVolumeSatisfyClaim / FindMatchingVolume: unbound (or pre-bound to this claim),
    same class and volumeMode, the claim's access modes, enough capacity."""
    spec, cspec = pv.get("spec") or {}, claim.get("spec") or {}
    ref = spec.get("claimRef")
    meta = claim["metadata"]
    if pv["metadata"].get("deletionTimestamp"):
        return False
    if ref and (ref.get("namespace"), ref.get("name")) != (meta["namespace"], meta["name"]):
        return False
    if ref and ref.get("uid") and ref.get("uid") != meta.get("uid"):
        return False
    if (spec.get("storageClassName") or "") != cls:
        return False
    if (spec.get("volumeMode") or "Filesystem") != (cspec.get("volumeMode") or "Filesystem"):
        return False
    if not set(cspec.get("accessModes") or []) <= set(spec.get("accessModes") or []):
        return False
    return _capacity(pv) >= request


def _capacity(pv: Json) -> Fraction:
    """The PV's ``spec.capacity.storage`` (0 when missing or malformed)."""
    try:
        return parse(str(((pv.get("spec") or {}).get("capacity") or {}).get("storage") or "0"))[0]
    except QuantityError:
        return Fraction(0)


def decide(claim: Json, request: int, classes: Mapping[str, Json],
           pvs: Iterable[Json], pods: Iterable[Json] = ()) -> Decision:
    """What the PV controller does next for an unbound claim (see the module docstring)."""
    spec = claim.get("spec") or {}
    wanted = spec.get("volumeName")
    pvs = list(pvs)
    if wanted:
        # syncUnboundClaim with volumeName: the PV must exist; it is never provisioned.
        exists = any(p["metadata"]["name"] == wanted for p in pvs)
        return BindTo(wanted) if exists else Wait()
    cls = spec.get("storageClassName")
    delay = delays_binding(claim, classes)
    # FindMatchingVolume: with delayed binding the controller binds only a PV pre-bound to the
    # claim; the scheduler picks unbound ones (it pre-binds them).
    best = static_volume(claim, request, [p for p in pvs if not delay or _bound_to(p, claim)])
    if best is not None:
        return BindTo(best)
    if cls is None:
        default = default_class(classes.values())
        if default is not None:
            return AssignClass(default)
    if delay and selected_node(claim) is None:
        return Wait(_delay_event(unscheduled_consumers(claim, pods)))
    if not cls:
        return Wait(("Normal", "FailedBinding", NO_CLASS_MESSAGE))
    sc = classes.get(cls)
    if sc is None:
        return Wait(("Warning", "ProvisioningFailed",
                     f'storageclass.storage.k8s.io "{cls}" not found'))
    return Provision(str(sc.get("provisioner") or ""))
