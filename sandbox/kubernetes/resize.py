"""Volume expansion after PersistentVolumeClaimResize admitted a larger storage request: the
CSI driver's external-resizer grows the volume and its PV, the kubelet grows the filesystem.

Kubernetes 1.32 (``service.VERSION``), where RecoverVolumeExpansionFailure is beta and on, so
both sides keep ``status.allocatedResources`` and ``status.allocatedResourceStatuses``
(pkg/apis/core/types.go PersistentVolumeClaimStatus; the ClaimResourceStatus values
``ControllerResizeInProgress``, ``NodeResizePending``, ``NodeResizeInProgress``).

- kubernetes-csi/external-resizer ``pkg/controller/controller.go`` syncPVC: a claim needs a
  resize when it is Bound to a volume and its request exceeds ``status.capacity``
  (pvcNeedResize); the PV must be its driver's (``spec.csi.driver``) and bound to the claim by
  uid; a PV already as large as the request whose claim has ``FileSystemResizePending`` is
  left to the kubelet (pvNeedResize).
- ``expand_and_recover.go`` expandAndRecover picks the size: the request, except that a resize
  already under way (``allocatedResources``) finishes first: while the node's part is pending
  or in progress nothing new starts, and a controller resize in progress resumes at its size.
  ``resize_status.go`` markControllerResizeInProgress writes condition ``Resizing``,
  ``ControllerResizeInProgress`` and the size in ``allocatedResources``; then (a later pass
  here: the CSI call and IONOS's volume update take time) Normal ``Resizing`` "External resizer
  is resizing volume <pv>", ControllerExpandVolume (IONOS: the volume's size, in whole GB,
  through ``World.resize_volume``), the PV's ``spec.capacity`` (updatePVCapacity), and, since
  IONOS's driver needs NodeExpandVolume for its ext4 filesystem, markForPendingNodeExpansion:
  condition ``FileSystemResizePending`` (message "Waiting for user to (re-)start a pod to
  finish file system resize of volume on node."), ``NodeResizePending``, Normal
  ``FileSystemResizeRequired``. ``status.capacity`` does not move yet. A failed CSI call:
  Warning ``VolumeResizeFailed``, retried on a later pass.
- The kubelet (pkg/kubelet/volumemanager: the populator's checkVolumeFSResize and the
  reconciler's ExpandInUseVolume; pkg/volume/util/operationexecutor/operation_generator.go
  nodeExpandVolume) grows the filesystem only of a volume mounted for a Pod running on a node:
  MarkNodeExpansionInProgress (``NodeResizeInProgress``), then NodeExpandVolume and
  (pkg/volume/util/resize_util.go) MarkNodeExpansionFinishedWithRecovery: ``status.capacity``
  becomes the PV's capacity, the storage entry of ``allocatedResourceStatuses`` and the resize
  conditions go; Normal ``FileSystemResizeSuccessful`` "MountVolume.NodeExpandVolume succeeded
  for volume "<pv>" <node>" on the Pod and the claim. With no such Pod the claim stays
  ``FileSystemResizePending`` until one starts.

Only IONOS's driver has a resizer here: a claim of another driver (Longhorn, local-path) keeps
its request above ``status.capacity`` and nothing grows. Resize failures that need recovery
(``ControllerResizeInfeasible``, ``NodeResizeInfeasible``, shrinking a request back) are not
emulated. Run by ``Controllers.reconcile_once`` after the PV controller.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from sandbox.kubernetes import storage
from sandbox.kubernetes.api import now_rfc3339
from sandbox.kubernetes.patch import clone
from sandbox.kubernetes.protection import claim_users
from sandbox.kubernetes.quantity import QuantityError, parse

if TYPE_CHECKING:
    from sandbox.kubernetes.controllers import Controllers
    from sandbox.kubernetes.registry import ResourceType

Json = dict[str, Any]

CLAIMS = ("", "persistentvolumeclaims")
VOLUMES = ("", "persistentvolumes")
RESIZING = "Resizing"
FS_RESIZE_PENDING = "FileSystemResizePending"
# util.MergeResizeConditionsOfPVC replaces these and keeps any other condition.
RESIZE_CONDITIONS = (RESIZING, FS_RESIZE_PENDING, "ControllerResizeError", "NodeResizeError")
CONTROLLER_IN_PROGRESS = "ControllerResizeInProgress"
NODE_PENDING = "NodeResizePending"
NODE_IN_PROGRESS = "NodeResizeInProgress"
FS_PENDING_MESSAGE = ("Waiting for user to (re-)start a pod to finish file system resize of "
                      "volume on node.")
# The drivers that run an external-resizer here. Each one's ControllerExpandVolume answers
# NodeExpansionRequired (IONOS's block volumes carry an ext4 filesystem the node must grow).
RESIZERS = frozenset({storage.IONOS_PROVISIONER})
GIB = 2**30


def quantity(text: Any) -> Fraction | None:
    """A quantity's value; None when missing or malformed."""
    try:
        return parse(str(text))[0] if text is not None else None
    except QuantityError:
        return None


def _status(pvc: Json) -> Json:
    return pvc.get("status") or {}


def resize_status(pvc: Json) -> str:
    """``status.allocatedResourceStatuses.storage`` ("" when none)."""
    return str((_status(pvc).get("allocatedResourceStatuses") or {}).get("storage") or "")


def has_condition(pvc: Json, ctype: str) -> bool:
    return any(c.get("type") == ctype and c.get("status") == "True"
               for c in _status(pvc).get("conditions") or [])


def _request_text(pvc: Json) -> Any:
    return (((pvc.get("spec") or {}).get("resources") or {}).get("requests") or {}).get("storage")


def _allocated_text(pvc: Json) -> Any:
    return (_status(pvc).get("allocatedResources") or {}).get("storage")


def _pv_size(pv: Json) -> Fraction:
    return quantity(((pv.get("spec") or {}).get("capacity") or {}).get("storage")) or Fraction(0)


def needs_resize(pvc: Json, pv: Json | None) -> bool:
    """pvcNeedResize and pvNeedResize: Bound, request above ``status.capacity``, the PV one of
    a driver with a resizer and bound to this claim (by uid), not waiting for the node."""
    status, meta = _status(pvc), pvc["metadata"]
    request = quantity(_request_text(pvc))
    capacity = quantity((status.get("capacity") or {}).get("storage")) or Fraction(0)
    if status.get("phase") != "Bound" or request is None or request <= capacity or pv is None:
        return False
    spec = pv.get("spec") or {}
    ref = spec.get("claimRef") or {}
    if ((spec.get("csi") or {}).get("driver") not in RESIZERS
            or (ref.get("namespace"), ref.get("uid")) != (meta.get("namespace"), meta.get("uid"))):
        return False
    return not (_pv_size(pv) >= request and has_condition(pvc, FS_RESIZE_PENDING))


def target_size(pvc: Json, pv: Json) -> str | None:
    """expandAndRecover's size for a claim ``needs_resize`` holds (as the quantity was
    written), or None while an earlier resize must finish on the node first."""
    rs, allocated = resize_status(pvc), _allocated_text(pvc)
    request = _request_text(pvc)
    size = _pv_size(pv)
    if rs in (NODE_PENDING, NODE_IN_PROGRESS):
        if size >= (quantity(allocated) or quantity(request) or Fraction(0)):
            return None
        return str(allocated or request)
    if size < (quantity(request) or Fraction(0)) and rs != CONTROLLER_IN_PROGRESS:
        return str(request)
    return str(allocated or request)


def merge_resize_conditions(conditions: list[Json], new: list[Json]) -> list[Json]:
    """util.MergeResizeConditionsOfPVC: other conditions stay, resize ones are ``new``'s (an
    unchanged one keeps its lastTransitionTime)."""
    old = {c.get("type"): c for c in conditions}
    kept = [c for c in conditions if c.get("type") not in RESIZE_CONDITIONS]
    out = []
    for cond in new:
        prev = old.get(cond["type"])
        out.append(prev if prev is not None and prev.get("status") == cond["status"]
                   and prev.get("message", "") == cond.get("message", "") else cond)
    return kept + out


def _condition(ctype: str, message: str = "") -> Json:
    cond = {"type": ctype, "status": "True", "lastProbeTime": None,
            "lastTransitionTime": now_rfc3339()}
    return cond | ({"message": message} if message else {})


def with_resize(pvc: Json, state: str | None, conditions: list[Json],
                allocated: str | None = None, capacity: str | None = None) -> Json:
    """The claim's status with the storage resize ``state`` (None: the entry removed, and
    ``allocatedResourceStatuses`` dropped once empty), its resize conditions replaced."""
    status = clone(_status(pvc))
    states = dict(status.get("allocatedResourceStatuses") or {})
    if state is None:
        states.pop("storage", None)
    else:
        states["storage"] = state
    if states:
        status["allocatedResourceStatuses"] = states
    else:
        status.pop("allocatedResourceStatuses", None)
    if allocated is not None:
        status["allocatedResources"] = {**(status.get("allocatedResources") or {}),
                                        "storage": allocated}
    if capacity is not None:
        status["capacity"] = {**(status.get("capacity") or {}), "storage": capacity}
    merged = merge_resize_conditions(status.get("conditions") or [], conditions)
    if merged:
        status["conditions"] = merged
    else:
        status.pop("conditions", None)
    return status


def running_users(pvc: Json, pods: list[Json]) -> list[Json]:
    """The Pods that have the claim's volume mounted: scheduled, Running, not being deleted."""
    return [p for p in claim_users(pvc, pods)
            if _status(p).get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")]


@dataclass
class _Claim:
    rt: ResourceType
    pvc: Json
    pv: Json | None


class VolumeResizer:
    """The external-resizer of each driver in ``RESIZERS`` and the kubelets' part."""

    def __init__(self, ctrl: Controllers):
        self.ctrl = ctrl
        self.api = ctrl.api
        self.store = ctrl.store

    def reconcile(self) -> None:
        """One pass: each claim advances at most one step (each step is one status write)."""
        pvrt = self.api.rt_for(VOLUMES)
        assert pvrt is not None
        pods = self.store.select(("", "pods"))
        for rt, pvc in self.ctrl._each(*CLAIMS):
            name = (pvc.get("spec") or {}).get("volumeName") or ""
            claim = _Claim(rt, pvc, self.store.get(pvrt.gk, "", name) if name else None)
            if resize_status(claim.pvc) in (NODE_PENDING, NODE_IN_PROGRESS) \
                    and claim.pv is not None and _pv_size(claim.pv) >= (
                        quantity(_allocated_text(pvc)) or Fraction(0)):
                self._node(claim, running_users(pvc, pods))
            elif needs_resize(pvc, claim.pv):
                self._controller(claim, pvrt)

    def _controller(self, claim: _Claim, pvrt: ResourceType) -> None:
        pvc, pv = claim.pvc, claim.pv
        assert pv is not None
        size = target_size(pvc, pv)
        if size is None:
            return
        if resize_status(pvc) != CONTROLLER_IN_PROGRESS or \
                quantity(_allocated_text(pvc)) != quantity(size):
            self.api.write_status(claim.rt, pvc, with_resize(
                pvc, CONTROLLER_IN_PROGRESS, [_condition(RESIZING)], allocated=size),
                "external-resizer")
            return
        driver = str(((pv.get("spec") or {}).get("csi") or {}).get("driver"))
        source = f"external-resizer {driver}"
        pv_name = pv["metadata"]["name"]
        self.ctrl.workloads.event(pvc, "Normal", "Resizing",
                                  f"External resizer is resizing volume {pv_name}", source)
        try:
            self._expand_volume(pv, size)
        except Exception as exc:  # noqa: BLE001 - the driver's error, retried next pass
            self.ctrl.workloads.event(pvc, "Warning", "VolumeResizeFailed",
                                      f'resize volume "{pv_name}" by resizer "{driver}" '
                                      f"failed: {exc}", source)
            return
        if _pv_size(pv) != quantity(size):
            new_pv = clone(pv)
            new_pv["spec"]["capacity"] = {**(pv["spec"].get("capacity") or {}), "storage": size}
            self.api.write_object(pvrt, pv, new_pv, "external-resizer")
        self.api.write_status(claim.rt, pvc, with_resize(
            pvc, NODE_PENDING, [_condition(FS_RESIZE_PENDING, FS_PENDING_MESSAGE)]),
            "external-resizer")
        self.ctrl.workloads.event(pvc, "Normal", "FileSystemResizeRequired",
                                  "Require file system resize of volume on node", source)

    def _expand_volume(self, pv: Json, size: str) -> None:
        """ControllerExpandVolume: IONOS's volume grows to the size in whole GB."""
        hook = self.ctrl.svc.world.resize_volume
        handle = str(((pv.get("spec") or {}).get("csi") or {}).get("volumeHandle") or "")
        if hook is not None:
            hook(handle, max(1, -(-int(quantity(size) or 0) // GIB)))

    def _node(self, claim: _Claim, users: list[Json]) -> None:
        """The kubelet of the node a running Pod that mounts the claim is on."""
        if not users:
            return
        pvc, pv = claim.pvc, claim.pv
        assert pv is not None
        if resize_status(pvc) == NODE_PENDING:
            status = clone(_status(pvc))
            status["allocatedResourceStatuses"] = {
                **(status.get("allocatedResourceStatuses") or {}), "storage": NODE_IN_PROGRESS}
            self.api.write_status(claim.rt, pvc, status, "kubelet")
            return
        capacity = str(pv["spec"]["capacity"]["storage"])
        if self.api.write_status(claim.rt, pvc, with_resize(pvc, None, [], capacity=capacity),
                                 "kubelet") is None:
            return
        pod = users[0]
        message = (f'MountVolume.NodeExpandVolume succeeded for volume "{pv["metadata"]["name"]}"'
                   f' {pod["spec"]["nodeName"]}')
        for obj in (pod, pvc):
            self.ctrl.workloads.event(obj, "Normal", "FileSystemResizeSuccessful", message,
                                      "kubelet")
