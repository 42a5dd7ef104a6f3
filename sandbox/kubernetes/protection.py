"""Storage object in-use protection (Kubernetes docs, "Persistent Volumes: Storage Object in Use
Protection"): a claim a pod uses, and a volume bound to a claim, are not removed while in use.

- Admission (plugin/pkg/admission/storage/storageobjectinuseprotection): every new
  PersistentVolumeClaim gets ``kubernetes.io/pvc-protection``, every new PersistentVolume
  ``kubernetes.io/pv-protection``, so a DELETE only marks them (deletionTimestamp).
- pkg/controller/volume/pvcprotection: a claim being deleted loses its finalizer once no
  scheduled pod names it in ``spec.volumes[].persistentVolumeClaim`` (whatever the pod's phase:
  podUsesPVC looks only at ``spec.nodeName``) and no scheduled pod that is not shut down
  (podIsShutDown: deletionTimestamp with deletionGracePeriodSeconds 0) owns it as its generic
  ephemeral volume (``<pod>-<volume>``, controlled by the pod). A claim not being deleted
  without the finalizer gets it.
- pkg/controller/volume/pvprotection: a volume being deleted loses its finalizer once its
  phase is not Bound; one not being deleted without the finalizer gets it.

Run by ``Controllers.reconcile_once`` after the garbage collector.
"""

from __future__ import annotations

from typing import Any

from sandbox.kubernetes.api import AdmissionRequest, ApiError, ApiServer
from sandbox.kubernetes.patch import clone
from sandbox.kubernetes.registry import ResourceType

PVC_PROTECTION = "kubernetes.io/pvc-protection"  # volumeutil.PVCProtectionFinalizer
PV_PROTECTION = "kubernetes.io/pv-protection"  # volumeutil.PVProtectionFinalizer
CLAIMS = ("", "persistentvolumeclaims")
VOLUMES = ("", "persistentvolumes")
FINALIZERS = {CLAIMS: PVC_PROTECTION, VOLUMES: PV_PROTECTION}
MANAGER = "kube-controller-manager"


def storage_object_in_use_protection(req: AdmissionRequest) -> None:
    """The mutating admission plugin (admission.go Admit): a created claim or volume gets its
    kind's finalizer, once; updates and subresources are left alone."""
    finalizer = FINALIZERS.get(req.rt.gk)
    if finalizer is None or req.operation != "CREATE" or req.subresource or req.obj is None:
        return
    meta = req.obj.get("metadata")
    if not isinstance(meta, dict):
        return
    current = meta.get("finalizers")
    if current is None:
        meta["finalizers"] = [finalizer]
    elif isinstance(current, list) and finalizer not in current:
        meta["finalizers"] = [*current, finalizer]


def claim_users(claim: dict[str, Any], pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The pods of the claim's namespace that keep it in use (pvc_protection_controller.go
    podUsesPVC)."""
    meta = claim["metadata"]
    controller = next((str(r.get("uid")) for r in meta.get("ownerReferences") or []
                       if r.get("controller")), None)
    return [pod for pod in pods if pod["metadata"].get("namespace") == meta.get("namespace")
            and (pod.get("spec") or {}).get("nodeName")
            and any(_uses(pod, v, meta["name"], controller)
                    for v in pod["spec"].get("volumes") or [] if isinstance(v, dict))]


def _uses(pod: dict[str, Any], volume: dict[str, Any], claim: str,
          controller: str | None) -> bool:
    pvc = volume.get("persistentVolumeClaim")
    if isinstance(pvc, dict) and pvc.get("claimName") == claim:
        return True
    # A generic ephemeral volume's claim (ephemeral.VolumeClaimName, VolumeIsForPod).
    meta = pod["metadata"]
    return (volume.get("ephemeral") is not None and not _shut_down(pod)
            and f'{meta["name"]}-{volume.get("name")}' == claim and controller == meta["uid"])


def _shut_down(pod: dict[str, Any]) -> bool:
    """podIsShutDown: the kubelet is done with the pod, or it was force-deleted."""
    meta = pod["metadata"]
    return bool(meta.get("deletionTimestamp")) and meta.get("deletionGracePeriodSeconds") == 0


class StorageProtection:
    """The pvc-protection and pv-protection controllers."""

    def __init__(self, api: ApiServer):
        self.api = api
        self.store = api.store
        self._seen = -1

    def reconcile(self) -> None:
        """One pass over claims and volumes; nothing when the store has not changed."""
        with self.store.lock:
            if self.store.rv == self._seen:
                return
            self._seen = self.store.rv
            claims = self.store.select(CLAIMS)
            volumes = self.store.select(VOLUMES)
            pods = self.store.select(("", "pods"))
        crt, vrt = self.api.rt_for(CLAIMS), self.api.rt_for(VOLUMES)
        assert crt is not None and vrt is not None
        for claim in claims:
            self._sync(crt, claim, PVC_PROTECTION, in_use=bool(claim_users(claim, pods)))
        for volume in volumes:
            bound = (volume.get("status") or {}).get("phase") == "Bound"
            self._sync(vrt, volume, PV_PROTECTION, in_use=bound)

    def _sync(self, rt: ResourceType, obj: dict[str, Any], finalizer: str,
              in_use: bool) -> None:
        meta = obj["metadata"]
        fins = meta.get("finalizers") or []
        try:
            if meta.get("deletionTimestamp"):
                if finalizer in fins and not in_use:
                    self.api.remove_finalizer(rt, obj, finalizer, MANAGER)
            elif finalizer not in fins:
                new = clone(obj)
                new["metadata"]["finalizers"] = [*fins, finalizer]
                self.api.write_object(rt, obj, new, MANAGER)
        except ApiError:
            pass  # changed meanwhile: the next pass sees the new state
