"""StorageClasses and dynamic provisioning in the sandbox's Kubernetes, as a real IONOS managed
cluster does them.

Sources (kubernetes/kubernetes): the DefaultStorageClass admission plugin
(``plugin/pkg/admission/storage/storageclass/setdefault/admission.go``; of several defaults the
newest, ``pkg/volume/util/storageclass.go`` GetDefaultClass), the PV controller
(``pkg/controller/volume/persistentvolume/pv_controller.go`` syncUnboundClaim: a fitting unbound
PV of the claim's class first, ``findBestMatchForClaim``; then the retroactive default for an
unset class; then ``provisionClaim``, whose ``findProvisionablePlugin`` fails with the
StorageClass lister's NotFound as a Warning ``ProvisioningFailed``; with no class, a Normal
``FailedBinding`` "no persistent volumes available for this claim and no storage class is
set"; before provisioning, setClaimProvisioner writes ``volume.kubernetes.io/storage-provisioner``
and ``volume.beta.kubernetes.io/storage-provisioner`` and provisionClaimOperationExternal records
Normal ``ExternalProvisioning``). IONOS's classes: ``kubectl get sc`` on an IONOS Managed
Kubernetes cluster lists ``ionos-enterprise-hdd (default)`` and ``ionos-enterprise-ssd``,
provisioner ``cloud.ionos.com``, reclaim ``Delete``, ``VOLUMEBINDINGMODE WaitForFirstConsumer``,
``ALLOWVOLUMEEXPANSION true`` and ``kubectl get sc
ionos-enterprise-hdd -o yaml`` shows ``parameters: {fstype: ext4, type: HDD}`` (a public
course's slides of a managed cluster; ionos-cloud/ionoscloud-blockstorage-csi-driver
``charts/ionoscloud-blockstorage-csi-driver/templates/storageclass.yaml`` sets
``volumeBindingMode: WaitForFirstConsumer`` and ``allowVolumeExpansion: true`` on its classes
too). Resizing: the PersistentVolumeClaimResize
admission plugin (``plugin/pkg/admission/storage/persistentvolume/resize/admission.go``), then
kubernetes-csi/external-resizer (``pkg/controller/controller.go``, ``expand_and_recover.go``,
``resize_status.go``) and the kubelet (``pkg/volume/util/operationexecutor/
operation_generator.go`` nodeExpandVolume, ``pkg/volume/util/resize_util.go``), with the
PersistentVolumeClaimStatus fields of Kubernetes 1.32 (``pkg/apis/core/types.go``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_sandbox_kubernetes import Cluster, _start, wait_for

pytestmark = pytest.mark.integration

DEFAULT = "storageclass.kubernetes.io/is-default-class"
SELECTED = "volume.kubernetes.io/selected-node"
NO_CLASS = "no persistent volumes available for this claim and no storage class is set"
PROVISIONER = "storage-provisioner"  # volume.kubernetes.io/ and volume.beta.kubernetes.io/


def external(provisioner: str) -> str:
    """pv_controller.go provisionClaimOperationExternal's ExternalProvisioning message."""
    return (f"Waiting for a volume to be created either by the external provisioner "
            f"'{provisioner}' or manually by the system administrator. If volume creation is "
            "delayed, please verify that the provisioner is running and correctly registered.")


@pytest.fixture
def k8s(tmp_path: Path) -> Iterator[Cluster]:
    yield from _start(tmp_path)


def _claim(name: str, size: str = "1Gi", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"accessModes": ["ReadWriteOnce"],
                     "resources": {"requests": {"storage": size}}, **spec}}


def _events(core: Any, claim: str) -> list[tuple[str, str, str]]:
    return [(e.type, e.reason, e.message) for e in core.list_namespaced_event("default").items
            if e.involved_object.name == claim and e.involved_object.kind ==
            "PersistentVolumeClaim"]


def _use(core: Any, claim: str, pod: str | None = None, **spec: Any) -> str:
    """A Pod that mounts ``claim``: the first consumer a WaitForFirstConsumer claim waits for."""
    name = pod or f"{claim}-user"
    core.create_namespaced_pod("default", {
        "metadata": {"name": name},
        "spec": {"containers": [{"name": "app", "image": "busybox:1.36",
                                 "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
                 "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}],
                 **spec}})
    return name


def _bound(core: Any, name: str) -> Any:
    return wait_for(lambda: (c := core.read_namespaced_persistent_volume_claim(
        name, "default")).status.phase == "Bound" and c, what=f"{name} to bind")


def test_a_managed_cluster_comes_with_ionos_storage_classes(k8s: Cluster) -> None:
    """``ionos-enterprise-hdd`` (default) and ``ionos-enterprise-ssd``, ``cloud.ionos.com``."""
    from kubernetes import client

    classes = {c.metadata.name: c for c in
               client.StorageV1Api(k8s.api_client()).list_storage_class().items}
    assert sorted(classes) == ["ionos-enterprise-hdd", "ionos-enterprise-ssd"]
    for name, sc in classes.items():
        assert (sc.provisioner, sc.reclaim_policy, sc.volume_binding_mode,
                sc.allow_volume_expansion) == ("cloud.ionos.com", "Delete",
                                               "WaitForFirstConsumer", True)
        assert sc.parameters == {"type": "HDD" if name.endswith("hdd") else "SSD",
                                 "fstype": "ext4"}
        assert ((sc.metadata.annotations or {}).get(DEFAULT) == "true") == (
            name == "ionos-enterprise-hdd")
    rows = [line.split()[:3] for line in k8s.kubectl("get", "sc").stdout.splitlines()[1:]]
    assert rows == [["ionos-enterprise-hdd", "(default)", "cloud.ionos.com"],
                    ["ionos-enterprise-ssd", "cloud.ionos.com", "Delete"]]


def test_a_claim_without_class_gets_the_newest_default(k8s: Cluster) -> None:
    """DefaultStorageClass sets an unset class on create (``""`` is a choice and stays); with
    two defaults the newer wins, even over a name that sorts first; the claim is provisioned
    by the CSI driver named by its class's provisioner."""
    from kubernetes import client

    api = k8s.api_client()
    core, storage = client.CoreV1Api(api), client.StorageV1Api(api)
    made = core.create_namespaced_persistent_volume_claim("default", _claim("plain"))
    assert made.spec.storage_class_name == "ionos-enterprise-hdd"
    _use(core, "plain")
    pvc = _bound(core, "plain")
    pv = core.read_persistent_volume(pvc.spec.volume_name)
    assert (pv.spec.storage_class_name, pv.spec.csi.driver,
            pv.spec.persistent_volume_reclaim_policy) == (
        "ionos-enterprise-hdd", "cloud.ionos.com", "Delete")
    # setClaimProvisioner names the provisioner, GA and beta, before it provisions
    # (provisionClaimOperationExternal), with a Normal ExternalProvisioning event.
    assert {k: v for k, v in pvc.metadata.annotations.items() if k.endswith(PROVISIONER)} == {
        f"volume.kubernetes.io/{PROVISIONER}": "cloud.ionos.com",
        f"volume.beta.kubernetes.io/{PROVISIONER}": "cloud.ionos.com"}
    assert ("Normal", "ExternalProvisioning", external("cloud.ionos.com")) in \
        _events(core, "plain")

    hdd = storage.read_storage_class("ionos-enterprise-hdd").metadata.creation_timestamp
    while int(time.time()) <= int(hdd.timestamp()):  # a later second than the hdd class's
        time.sleep(0.1)
    storage.create_storage_class({"metadata": {"name": "zz-newer", "annotations": {
        DEFAULT: "true"}}, "provisioner": "cloud.ionos.com"})
    newer = core.create_namespaced_persistent_volume_claim("default", _claim("later"))
    assert newer.spec.storage_class_name == "zz-newer"
    none = core.create_namespaced_persistent_volume_claim(
        "default", _claim("none", storageClassName=""))
    assert none.spec.storage_class_name == ""


def test_a_claim_of_a_missing_class_stays_pending_until_the_class_exists(k8s: Cluster) -> None:
    """provisionClaim: Warning ProvisioningFailed with the lister's NotFound, no PV, Pending;
    the controller retries, so creating the class provisions the claim."""
    from kubernetes import client

    api = k8s.api_client()
    core = client.CoreV1Api(api)
    core.create_namespaced_persistent_volume_claim(
        "default", _claim("fast-data", storageClassName="fast"))
    wait_for(lambda: _events(core, "fast-data"), what="the controller's event")
    assert _events(core, "fast-data") == [
        ("Warning", "ProvisioningFailed", 'storageclass.storage.k8s.io "fast" not found')]
    pvc = core.read_namespaced_persistent_volume_claim("fast-data", "default")
    assert (pvc.status.phase, pvc.spec.volume_name) == ("Pending", None)
    assert core.list_persistent_volume().items == []
    client.StorageV1Api(api).create_storage_class(
        {"metadata": {"name": "fast"}, "provisioner": "cloud.ionos.com"})
    pvc = _bound(core, "fast-data")
    assert core.read_persistent_volume(pvc.spec.volume_name).spec.storage_class_name == "fast"


def test_an_empty_class_binds_only_an_existing_classless_volume_kubectl(k8s: Cluster) -> None:
    """``storageClassName: ""`` disables provisioning: Normal FailedBinding and Pending until
    an Available PV without class fits (a PV of another class or too small does not); the
    controller binds it both ways (claimRef, volumeName, Bound)."""
    claim = _claim("static", "2Gi", storageClassName="")
    k8s.kubectl("apply", "-f", "-", stdin=json.dumps(claim))
    events = wait_for(lambda: k8s.kubectl(
        "get", "events", "--field-selector", "involvedObject.name=static", "-o",
        "jsonpath={range .items[*]}{.type}/{.reason}/{.message}{end}").stdout,
        what="the controller's event")
    assert events == f"Normal/FailedBinding/{NO_CLASS}"

    def pv(name: str, size: str, cls: str) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name},
                "spec": {"capacity": {"storage": size}, "accessModes": ["ReadWriteOnce"],
                         "storageClassName": cls, "persistentVolumeReclaimPolicy": "Retain",
                         "csi": {"driver": "cloud.ionos.com", "volumeHandle": name}}}

    for body in (pv("ssd-5g", "5Gi", "ionos-enterprise-ssd"), pv("tiny", "1Gi", ""),
                 pv("plain-3g", "3Gi", "")):
        k8s.kubectl("apply", "-f", "-", stdin=json.dumps(body))
    bound = wait_for(lambda: json.loads(k8s.kubectl(
        "get", "pvc", "static", "-o", "json").stdout)["status"].get("phase") == "Bound" and
        json.loads(k8s.kubectl("get", "pvc", "static", "-o", "json").stdout), what="binding")
    assert bound["spec"]["volumeName"] == "plain-3g"
    assert bound["status"]["capacity"] == {"storage": "3Gi"}
    got = json.loads(k8s.kubectl("get", "pv", "plain-3g", "-o", "json").stdout)
    assert got["spec"]["claimRef"]["name"] == "static" and got["status"]["phase"] == "Bound"
    for other in ("ssd-5g", "tiny"):
        assert "claimRef" not in json.loads(
            k8s.kubectl("get", "pv", other, "-o", "json").stdout)["spec"]


def test_an_unset_class_with_no_default_waits_then_takes_a_default_retroactively(
        k8s: Cluster) -> None:
    """With no default class nothing sets the class on create and the claim waits like
    ``""`` (FailedBinding); once a class is made default the PV controller assigns it
    (RetroactiveDefaultStorageClass, GA in 1.28) and the claim is provisioned."""
    from kubernetes import client

    api = k8s.api_client()
    core, storage = client.CoreV1Api(api), client.StorageV1Api(api)
    storage.patch_storage_class("ionos-enterprise-hdd",
                                {"metadata": {"annotations": {DEFAULT: "false"}}})
    made = core.create_namespaced_persistent_volume_claim("default", _claim("unset"))
    assert made.spec.storage_class_name is None
    wait_for(lambda: _events(core, "unset"), what="the controller's event")
    assert _events(core, "unset") == [("Normal", "FailedBinding", NO_CLASS)]
    assert core.read_namespaced_persistent_volume_claim("unset", "default").status.phase == \
        "Pending"
    storage.patch_storage_class("ionos-enterprise-ssd",
                                {"metadata": {"annotations": {DEFAULT: "true"}}})
    _use(core, "unset")
    pvc = _bound(core, "unset")
    assert pvc.spec.storage_class_name == "ionos-enterprise-ssd"


def test_an_existing_k3s_cluster_comes_with_local_path(tmp_path: Path) -> None:
    """The unmanaged cluster is K3s: its bundled ``local-path`` class (k3s
    ``manifests/local-storage.yaml``: default, ``rancher.io/local-path``, Delete,
    WaitForFirstConsumer) and no IONOS class; a claim without class is provisioned by it."""
    from kubernetes import client

    for k8s in _start(tmp_path, managed=False):
        api = k8s.api_client()
        classes = client.StorageV1Api(api).list_storage_class().items
        assert [(c.metadata.name, c.provisioner, c.reclaim_policy, c.volume_binding_mode,
                 c.metadata.annotations[DEFAULT]) for c in classes] == [
            ("local-path", "rancher.io/local-path", "Delete", "WaitForFirstConsumer", "true")]
        core = client.CoreV1Api(api)
        core.create_namespaced_persistent_volume_claim("default", _claim("k3s-data"))
        pod = _use(core, "k3s-data")
        pvc = _bound(core, "k3s-data")
        assert pvc.spec.storage_class_name == "local-path"
        node = pvc.metadata.annotations[SELECTED]
        pv = core.read_persistent_volume(pvc.spec.volume_name)
        assert pv.spec.csi.driver == "rancher.io/local-path"
        # local-path-provisioner's PV lives on the selected node, and the pod runs there.
        (term,) = pv.spec.node_affinity.required.node_selector_terms
        assert [(e.key, e.operator, e.values) for e in term.match_expressions] == [
            ("kubernetes.io/hostname", "In", [node])]
        assert wait_for(lambda core=core, pod=pod: core.read_namespaced_pod(
            pod, "default").spec.node_name, what="the pod's node") == node


def test_a_storage_class_is_defaulted_and_validated(k8s: Cluster) -> None:
    """pkg/apis/storage/v1/defaults.go SetDefaults_StorageClass: reclaimPolicy ``Delete`` and
    volumeBindingMode ``Immediate`` when unset, so a read-back and ``kubectl diff
    --server-side`` of the applied class show no difference; pkg/apis/storage/validation
    ValidateStorageClass: provisioner required and a qualified name, parameter keys not empty,
    reclaimPolicy ``Delete``/``Retain``, volumeBindingMode ``Immediate``/``WaitForFirstConsumer``
    (422 Invalid with the field errors)."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    storage = client.StorageV1Api(k8s.api_client())
    made = storage.create_storage_class({"metadata": {"name": "plain"},
                                         "provisioner": "example.com/csi"})
    assert (made.reclaim_policy, made.volume_binding_mode, made.allow_volume_expansion) == (
        "Delete", "Immediate", None)
    applied = {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
               "metadata": {"name": "applied"}, "provisioner": "example.com/csi",
               "parameters": {"type": "SSD"}}
    k8s.kubectl("apply", "--server-side", "-f", "-", stdin=json.dumps(applied))
    diff = k8s.kubectl("diff", "--server-side", "-f", "-", stdin=json.dumps(applied),
                       check=False)
    assert (diff.returncode, diff.stdout) == (0, ""), diff.stderr

    def refused(body: dict[str, Any]) -> list[tuple[str, str]]:
        with pytest.raises(ApiException) as err:
            storage.create_storage_class({"metadata": {"name": "bad"}, **body})
        assert err.value.status == 422
        return [(c["field"], c["message"]) for c in json.loads(err.value.body)["details"][
            "causes"]]

    assert refused({"provisioner": "example.com/csi", "reclaimPolicy": "Recycle"}) == [
        ("reclaimPolicy", 'Unsupported value: "Recycle": supported values: "Delete", '
                          '"Retain"')]
    assert refused({"provisioner": "example.com/csi", "volumeBindingMode": "Later"}) == [
        ("volumeBindingMode", 'Unsupported value: "Later": supported values: "Immediate", '
                              '"WaitForFirstConsumer"')]
    assert refused({"provisioner": ""}) == [("provisioner", "Required value")]
    assert refused({"provisioner": "a/b/c"})[0][1].startswith(
        'Invalid value: "a/b/c": a qualified name must consist of alphanumeric characters')
    assert refused({"provisioner": "example.com/csi", "parameters": {"": "x"}}) == [
        ("parameters", 'Invalid value: "": field can not be empty.')]


def test_a_claim_grows_only_bound_and_of_a_class_that_allows_expansion(k8s: Cluster) -> None:
    """PersistentVolumeClaimResize: a larger request of a Pending claim is refused (after the
    update validation, which refuses any spec change of an unbound claim with 422), of a Bound
    claim of a class without ``allowVolumeExpansion`` 403 "only dynamically provisioned pvc can
    be resized ..."; a Bound claim of an IONOS class grows, and a smaller or equal request
    never reaches the plugin's check."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    api = k8s.api_client()
    core, storage = client.CoreV1Api(api), client.StorageV1Api(api)
    storage.create_storage_class({"metadata": {"name": "fixed"},
                                  "provisioner": "cloud.ionos.com"})
    for name, cls in (("grows", "ionos-enterprise-ssd"), ("fixed", "fixed")):
        core.create_namespaced_persistent_volume_claim(
            "default", _claim(name, storageClassName=cls))
        _use(core, name)
        _bound(core, name)
    bigger = {"spec": {"resources": {"requests": {"storage": "2Gi"}}}}
    with pytest.raises(ApiException) as err:
        core.patch_namespaced_persistent_volume_claim("fixed", "default", bigger)
    assert (err.value.status, json.loads(err.value.body)["message"]) == (
        403, 'persistentvolumeclaims "fixed" is forbidden: only dynamically provisioned pvc '
             "can be resized and the storageclass that provisions the pvc must support resize")
    grown = core.patch_namespaced_persistent_volume_claim("grows", "default", bigger)
    assert grown.spec.resources.requests["storage"] == "2Gi"
    core.create_namespaced_persistent_volume_claim(
        "default", _claim("waiting", storageClassName="absent"))
    with pytest.raises(ApiException) as err:
        core.patch_namespaced_persistent_volume_claim("waiting", "default", bigger)
    assert err.value.status == 422


def test_a_wait_for_first_consumer_claim_binds_once_a_pod_using_it_is_scheduled(
        k8s: Cluster) -> None:
    """IONOS's classes bind ``WaitForFirstConsumer``: the PV controller leaves the claim
    Pending with Normal ``WaitForFirstConsumer`` "waiting for first consumer to be created
    before binding" (``WaitForPodScheduled`` while a Pod using it cannot be scheduled) and
    binds no PV, not even a fitting one of its class (pv_controller.go syncUnboundClaim,
    emitEventForUnboundDelayBindingClaim; FindMatchingVolume skips unbound PVs under delayed
    binding); the scheduler's VolumeBinding plugin (pkg/scheduler/framework/plugins/
    volumebinding/binder.go) then pre-binds a fitting PV, or writes the chosen node as
    ``volume.kubernetes.io/selected-node`` for the provisioner, and binds the Pod only once the
    claim is Bound. A claim of an ``Immediate`` class still unbound keeps its Pod unschedulable
    ("pod has unbound immediate PersistentVolumeClaims")."""
    from kubernetes import client

    api = k8s.api_client()
    core, storage = client.CoreV1Api(api), client.StorageV1Api(api)
    core.create_namespaced_persistent_volume_claim("default", _claim("lazy"))
    wait_for(lambda: _events(core, "lazy"), what="the controller's event")
    assert _events(core, "lazy") == [
        ("Normal", "WaitForFirstConsumer",
         "waiting for first consumer to be created before binding")]
    time.sleep(0.5)  # a few controller passes: still nothing provisioned
    pvc = core.read_namespaced_persistent_volume_claim("lazy", "default")
    assert (pvc.status.phase, pvc.spec.volume_name, core.list_persistent_volume().items) == (
        "Pending", None, [])
    # No node chosen, so no provisioner named yet (syncUnboundClaim stops before
    # provisionClaim while IsDelayBindingProvisioning is false).
    assert not [k for k in pvc.metadata.annotations or {} if k.endswith(PROVISIONER)]

    # A Pod that cannot be scheduled is named in the event; the claim stays unprovisioned.
    _use(core, "lazy", "stuck", nodeSelector={"disk": "none"})
    wait_for(lambda: ("Normal", "WaitForPodScheduled", "waiting for pod stuck to be scheduled")
             in _events(core, "lazy"), what="WaitForPodScheduled")
    assert core.read_namespaced_persistent_volume_claim("lazy", "default").status.phase == \
        "Pending"
    core.delete_namespaced_pod("stuck", "default")

    pod = _use(core, "lazy")
    pvc = _bound(core, "lazy")
    node = pvc.metadata.annotations[SELECTED]
    assert wait_for(lambda: core.read_namespaced_pod(pod, "default").spec.node_name,
                    what="the pod's node") == node
    assert core.read_persistent_volume(pvc.spec.volume_name).spec.csi.driver == \
        "cloud.ionos.com"

    # A fitting Available PV of the class: not bound by the controller alone, pre-bound by
    # the scheduler once a Pod uses the claim.
    core.create_persistent_volume({
        "metadata": {"name": "static-hdd"},
        "spec": {"capacity": {"storage": "5Gi"}, "accessModes": ["ReadWriteOnce"],
                 "storageClassName": "ionos-enterprise-hdd",
                 "persistentVolumeReclaimPolicy": "Retain",
                 "csi": {"driver": "cloud.ionos.com", "volumeHandle": "static-hdd"}}})
    core.create_namespaced_persistent_volume_claim("default", _claim("static"))
    wait_for(lambda: _events(core, "static"), what="the controller's event")
    assert core.read_namespaced_persistent_volume_claim("static", "default").status.phase == \
        "Pending"
    _use(core, "static")
    assert _bound(core, "static").spec.volume_name == "static-hdd"

    storage.create_storage_class({"metadata": {"name": "now"}, "provisioner": "example.com/x"})
    core.create_namespaced_persistent_volume_claim(
        "default", _claim("never", storageClassName="now"))
    pod = _use(core, "never")
    message = wait_for(lambda: next((e.message for e in core.list_namespaced_event(
        "default").items if e.involved_object.name == pod and e.reason == "FailedScheduling"),
        None), what="FailedScheduling")
    assert "pod has unbound immediate PersistentVolumeClaims" in message
    # An Immediate class is handed to its provisioner at once, Pod or not; none runs for it.
    never = core.read_namespaced_persistent_volume_claim("never", "default")
    assert (never.status.phase, never.metadata.annotations[f"volume.kubernetes.io/{PROVISIONER}"],
            never.metadata.annotations[f"volume.beta.kubernetes.io/{PROVISIONER}"]) == (
        "Pending", "example.com/x", "example.com/x")
    assert _events(core, "never") == [("Normal", "ExternalProvisioning",
                                       external("example.com/x"))]


def _claim_status(core: Any, name: str) -> dict[str, Any]:
    """The claim's status as the API serves it (JSON, not the SDK's model)."""
    return json.loads(core.read_namespaced_persistent_volume_claim(
        name, "default", _preload_content=False).data)["status"]


def _pv_capacity(core: Any, claim: str) -> str:
    pvc = core.read_namespaced_persistent_volume_claim(claim, "default")
    return str(core.read_persistent_volume(pvc.spec.volume_name).spec.capacity["storage"])


def test_a_grown_claim_is_resized_by_the_external_resizer_then_the_running_pods_kubelet(
        k8s: Cluster) -> None:
    """kubernetes-csi/external-resizer (controller.go syncPVC, expand_and_recover.go,
    resize_status.go) grows the volume (IONOS's, in whole GB) and the PV's capacity and marks
    the claim ``FileSystemResizePending``/``NodeResizePending``; the kubelet of the node the
    Pod using it runs on (operation_generator.go nodeExpandVolume, resize_util.go
    MarkNodeExpansionFinishedWithRecovery) grows the filesystem: ``status.capacity`` becomes the
    new size, the resize conditions and ``allocatedResourceStatuses`` go, ``allocatedResources``
    stays. The events are the resizer's and the kubelet's."""
    from kubernetes import client

    grown: list[tuple[str, int]] = []
    k8s.svc.world.resize_volume = lambda handle, gb: grown.append((handle, gb))
    core = client.CoreV1Api(k8s.api_client())
    core.create_namespaced_persistent_volume_claim(
        "default", _claim("data", "1Gi", storageClassName="ionos-enterprise-ssd"))
    pod = _use(core, "data")
    _bound(core, "data")
    wait_for(lambda: core.read_namespaced_pod(pod, "default").status.phase == "Running",
             what="the pod to run")
    patched = core.patch_namespaced_persistent_volume_claim(
        "data", "default", {"spec": {"resources": {"requests": {"storage": "2500Mi"}}}})
    assert patched.status.capacity == {"storage": "1Gi"}  # the resize comes after the request
    status = wait_for(lambda: (s := _claim_status(core, "data"))["capacity"]["storage"]
                      == "2500Mi" and s, what="the filesystem resize")
    assert _pv_capacity(core, "data") == "2500Mi"
    assert (status.get("conditions"), status.get("allocatedResourceStatuses"),
            status["allocatedResources"]) == (None, None, {"storage": "2500Mi"})
    handle = core.read_persistent_volume(
        core.read_namespaced_persistent_volume_claim("data", "default").spec.volume_name
    ).spec.csi.volume_handle
    assert grown == [(handle, 3)]  # 2500 MiB: IONOS sizes are whole GB, rounded up
    volume = core.read_namespaced_persistent_volume_claim("data", "default").spec.volume_name
    kubelet = f'MountVolume.NodeExpandVolume succeeded for volume "{volume}" ' + \
        core.read_namespaced_pod(pod, "default").spec.node_name
    assert sorted(e for e in _events(core, "data")
                  if not e[1].startswith("WaitFor") and e[1] != "ExternalProvisioning") == [
        ("Normal", "FileSystemResizeRequired", "Require file system resize of volume on node"),
        ("Normal", "FileSystemResizeSuccessful", kubelet),
        ("Normal", "Resizing", f"External resizer is resizing volume {volume}")]
    assert [(e.reason, e.message) for e in core.list_namespaced_event("default").items
            if e.involved_object.name == pod and e.reason.startswith("FileSystem")] == [
        ("FileSystemResizeSuccessful", kubelet)]


def test_with_no_running_pod_the_filesystem_resize_waits_and_a_second_grow_queues_behind_it(
        k8s: Cluster) -> None:
    """With no Pod using the claim the kubelet has nothing mounted to grow: the PV has the new
    size, ``status.capacity`` the old, the claim ``FileSystemResizePending`` ("Waiting for user
    to (re-)start a pod ...") and ``NodeResizePending`` (resize_status.go
    markForPendingNodeExpansion). A larger request meanwhile does not start a new controller
    resize (expand_and_recover.go: a pending node expansion finishes first); once a Pod runs,
    the kubelet finishes the first and the resizer then grows to the second."""
    from kubernetes import client

    core = client.CoreV1Api(k8s.api_client())
    core.create_namespaced_persistent_volume_claim(
        "default", _claim("idle", "1Gi", storageClassName="ionos-enterprise-hdd"))
    _use(core, "idle", "first")
    _bound(core, "idle")
    core.delete_namespaced_pod("first", "default", grace_period_seconds=0)
    wait_for(lambda: not core.list_namespaced_pod("default").items, what="the pod to go")
    core.patch_namespaced_persistent_volume_claim(
        "idle", "default", {"spec": {"resources": {"requests": {"storage": "2Gi"}}}})
    status = wait_for(lambda: (s := _claim_status(core, "idle")).get(
        "allocatedResourceStatuses") == {"storage": "NodeResizePending"} and s,
        what="the node expansion to be pending")
    assert [(c["type"], c["status"], c.get("message")) for c in status["conditions"]] == [
        ("FileSystemResizePending", "True", "Waiting for user to (re-)start a pod to finish "
                                            "file system resize of volume on node.")]
    assert (status["capacity"], status["allocatedResources"], _pv_capacity(core, "idle")) == (
        {"storage": "1Gi"}, {"storage": "2Gi"}, "2Gi")

    core.patch_namespaced_persistent_volume_claim(
        "idle", "default", {"spec": {"resources": {"requests": {"storage": "3Gi"}}}})
    time.sleep(0.75)  # several controller passes: the resizer waits for the node
    status = _claim_status(core, "idle")
    assert (status["capacity"], status["allocatedResources"], _pv_capacity(core, "idle"),
            status["allocatedResourceStatuses"]) == (
        {"storage": "1Gi"}, {"storage": "2Gi"}, "2Gi", {"storage": "NodeResizePending"})

    _use(core, "idle", "second")
    status = wait_for(lambda: (s := _claim_status(core, "idle"))["capacity"]["storage"]
                      == "3Gi" and s, what="both resizes")
    assert (status.get("conditions"), status.get("allocatedResourceStatuses"),
            status["allocatedResources"], _pv_capacity(core, "idle")) == (
        None, None, {"storage": "3Gi"}, "3Gi")


def test_a_claim_of_a_driver_without_a_resizer_keeps_its_capacity(k8s: Cluster) -> None:
    """Only IONOS's driver runs an external-resizer in the sandbox: a claim bound to a PV of
    another driver grows its request (admission allows it) and nothing else changes."""
    from kubernetes import client

    core = client.CoreV1Api(k8s.api_client())
    storage = client.StorageV1Api(k8s.api_client())
    storage.create_storage_class({"metadata": {"name": "other"}, "provisioner": "other.csi",
                                  "allowVolumeExpansion": True,
                                  "volumeBindingMode": "Immediate"})
    core.create_persistent_volume({
        "metadata": {"name": "static"},
        "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                 "storageClassName": "other", "persistentVolumeReclaimPolicy": "Retain",
                 "csi": {"driver": "other.csi", "volumeHandle": "v-1"}}})
    core.create_namespaced_persistent_volume_claim("default", _claim("other", "1Gi",
                                                                     storageClassName="other"))
    _bound(core, "other")
    _use(core, "other")
    core.patch_namespaced_persistent_volume_claim(
        "other", "default", {"spec": {"resources": {"requests": {"storage": "2Gi"}}}})
    time.sleep(0.75)
    status = _claim_status(core, "other")
    assert (status["capacity"], status.get("conditions"), _pv_capacity(core, "other")) == (
        {"storage": "1Gi"}, None, "1Gi")
