"""Storage object in-use protection and pod graceful deletion in the sandbox Kubernetes API.

No controller thread runs: each test ticks the controllers itself (``Controllers.reconcile_once``,
or one controller's pass), so what a client sees between its DELETE and the controllers' work is
deterministic. Each test names its source in kubernetes/kubernetes or the docs.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from sandbox.http import RunningServer, serve
from sandbox.kubernetes import KubernetesService
from sandbox.kubernetes.controllers import Controllers
from sandbox.world import World
from tests.integration.test_sandbox_kubernetes import Cluster

pytestmark = pytest.mark.integration

NS = "/api/v1/namespaces/default"
PVC = {"metadata": {"name": "data"},
       "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}


@dataclass
class Kube:
    k8s: Cluster
    ctl: Controllers

    def tick(self, passes: int = 1) -> None:
        for _ in range(passes):
            self.ctl.reconcile_once()

    def http(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        return self.k8s.http(method, path, body)

    def get(self, path: str) -> dict[str, Any] | None:
        code, obj = self.http("GET", path)
        return dict(obj) if code == 200 else None

    def create(self, plural: str, body: dict[str, Any]) -> dict[str, Any]:
        code, obj = self.http("POST", f"{NS}/{plural}", body)
        assert code == 201, obj
        return dict(obj)

    def pod(self, name: str, claim: str | None = None, **spec: Any) -> dict[str, Any]:
        pod_spec: dict[str, Any] = {"containers": [{"name": "c", "image": "busybox"}], **spec}
        if claim:
            pod_spec["volumes"] = [{"name": "v", "persistentVolumeClaim": {"claimName": claim}}]
        return self.create("pods", {"metadata": {"name": name}, "spec": pod_spec})


@pytest.fixture
def kube(tmp_path: Any) -> Iterator[Kube]:
    svc = KubernetesService(World())
    svc.add_nodes(count=1)
    server: RunningServer = serve(svc)
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(svc.kubeconfig(server.url))
    ctl = Controllers(svc)
    try:
        yield Kube(Cluster(svc, server, kubeconfig, tmp_path), ctl)
    finally:
        ctl.forget_processes()
        svc.stop()
        server.stop()


def test_new_claims_and_volumes_carry_their_protection_finalizer(kube: Kube) -> None:
    """plugin/pkg/admission/storage/storageobjectinuseprotection/admission.go: Admit adds
    kubernetes.io/pvc-protection to a created PVC and kubernetes.io/pv-protection to a created
    PV (once, after the client's own finalizers); the provisioned PV has it too."""
    claim = kube.create("persistentvolumeclaims", {**PVC, "metadata": {
        "name": "data", "finalizers": ["example.com/keep"]}})
    assert claim["metadata"]["finalizers"] == ["example.com/keep", "kubernetes.io/pvc-protection"]
    code, pv = kube.http("POST", "/api/v1/persistentvolumes", {
        "metadata": {"name": "static", "finalizers": ["kubernetes.io/pv-protection"]},
        "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                 "hostPath": {"path": "/tmp/x"}}})
    assert code == 201 and pv["metadata"]["finalizers"] == ["kubernetes.io/pv-protection"]
    kube.pod("user", claim="data")  # the default class binds on the first consumer
    kube.tick(3)
    bound = kube.get(f"{NS}/persistentvolumeclaims/data")
    assert bound is not None and bound["status"]["phase"] == "Bound"
    volume = kube.get(f"/api/v1/persistentvolumes/{bound['spec']['volumeName']}")
    assert volume is not None
    assert volume["metadata"]["finalizers"] == ["kubernetes.io/pv-protection"]


def test_a_claim_in_use_stays_terminating_until_no_scheduled_pod_names_it(kube: Kube) -> None:
    """Docs "Storage Object in Use Protection" and pkg/controller/volume/pvcprotection
    (podUsesPVC): a deleted claim a scheduled pod names stays, Terminating, whatever the pod's
    phase; once the pod is gone the finalizer goes, the claim goes, its volume is Released
    (pv_controller) and deleted by reclaim Delete, and pv-protection lets it go as it is no
    longer Bound."""
    kube.create("persistentvolumeclaims", PVC)
    kube.pod("user", claim="data", restartPolicy="Never")
    kube.tick(3)
    pvc = kube.get(f"{NS}/persistentvolumeclaims/data")
    assert pvc is not None
    pv_name = pvc["spec"]["volumeName"]
    code, body = kube.http("DELETE", f"{NS}/persistentvolumeclaims/data")
    assert code == 200 and body["metadata"]["deletionTimestamp"]
    kube.tick(3)  # the pod completes: still in use while it exists
    pod = kube.get(f"{NS}/pods/user")
    assert pod is not None and pod["status"]["phase"] == "Succeeded"
    held = kube.get(f"{NS}/persistentvolumeclaims/data")
    assert held is not None and held["metadata"]["finalizers"] == ["kubernetes.io/pvc-protection"]
    code, _ = kube.http("DELETE", f"{NS}/pods/user")
    assert code == 200 and kube.get(f"{NS}/pods/user") is None  # terminal: removed at once
    kube.tick()
    assert kube.get(f"{NS}/persistentvolumeclaims/data") is None
    kube.tick()
    assert kube.get(f"/api/v1/persistentvolumes/{pv_name}") is None


def test_an_unscheduled_pod_does_not_hold_the_claim(kube: Kube) -> None:
    """pvcprotection podUsesPVC looks only at scheduled pods (spec.nodeName): the kubelet will
    not start a pod whose claim is being deleted, and the scheduler refuses to place it."""
    kube.create("persistentvolumeclaims", PVC)
    kube.pod("waiting", claim="data", nodeSelector={"no-such": "node"})
    kube.http("DELETE", f"{NS}/persistentvolumeclaims/data")
    kube.tick()
    assert kube.get(f"{NS}/persistentvolumeclaims/data") is None


def test_a_bound_volume_deleted_by_hand_stays_until_released(kube: Kube) -> None:
    """pkg/controller/volume/pvprotection: a PV being deleted keeps pv-protection while its
    phase is Bound; once its claim is gone the PV controller releases it (syncVolume runs on
    volumes being deleted too) and it goes."""
    kube.create("persistentvolumeclaims", PVC)
    kube.pod("user", claim="data", restartPolicy="Never")
    kube.tick(3)
    pv_name = (kube.get(f"{NS}/persistentvolumeclaims/data") or {})["spec"]["volumeName"]
    code, _ = kube.http("DELETE", f"/api/v1/persistentvolumes/{pv_name}")
    assert code == 200
    kube.tick(2)
    pv = kube.get(f"/api/v1/persistentvolumes/{pv_name}")
    assert pv is not None and pv["metadata"]["deletionTimestamp"]
    assert pv["status"]["phase"] == "Bound"
    kube.http("DELETE", f"{NS}/pods/user")
    kube.http("DELETE", f"{NS}/persistentvolumeclaims/data")
    kube.tick(3)
    assert kube.get(f"{NS}/persistentvolumeclaims/data") is None
    assert kube.get(f"/api/v1/persistentvolumes/{pv_name}") is None


def test_a_running_pod_is_deleted_gracefully_and_goes_once_the_kubelet_stopped_it(
        kube: Kube) -> None:
    """pkg/registry/core/pod/strategy.go CheckGracefulDelete and rest/delete.go BeforeDelete:
    DELETE of a scheduled, running pod sets deletionTimestamp (now + period) and
    deletionGracePeriodSeconds from the pod's terminationGracePeriodSeconds (defaulted to 30)
    and answers with the pod; the kubelet stops its containers, writes a terminal phase and
    deletes it with grace 0 (status_manager.go canBeDeleted)."""
    kube.pod("web")
    kube.tick(2)
    assert (kube.get(f"{NS}/pods/web") or {})["status"]["phase"] == "Running"
    code, body = kube.http("DELETE", f"{NS}/pods/web")
    assert code == 200 and body["kind"] == "Pod"
    assert body["metadata"]["deletionGracePeriodSeconds"] == 30
    assert body["metadata"]["deletionTimestamp"] > body["metadata"]["creationTimestamp"]
    code, again = kube.http("DELETE", f"{NS}/pods/web?gracePeriodSeconds=60")
    assert code == 200 and again["metadata"]["deletionGracePeriodSeconds"] == 30  # only shorter
    code, shorter = kube.http("DELETE", f"{NS}/pods/web", {"gracePeriodSeconds": 10})
    assert code == 200 and shorter["metadata"]["deletionGracePeriodSeconds"] == 10
    kube.ctl._terminating_pods()
    assert kube.get(f"{NS}/pods/web") is None


def test_grace_zero_unscheduled_and_terminal_pods_go_at_once(kube: Kube) -> None:
    """CheckGracefulDelete: period 0 for a pod not scheduled or terminal; a request's
    gracePeriodSeconds 0 (kubectl --grace-period=0 --force) removes a running pod at once."""
    kube.pod("running")
    kube.pod("unscheduled", nodeSelector={"no-such": "node"})
    kube.tick(2)
    code, body = kube.http("DELETE", f"{NS}/pods/unscheduled")
    assert code == 200 and body["kind"] == "Status"
    code, body = kube.http("DELETE", f"{NS}/pods/running", {"gracePeriodSeconds": 0})
    assert code == 200 and body["kind"] == "Status"
    assert kube.get(f"{NS}/pods/running") is None


def test_a_graceful_pod_with_a_finalizer_stays_after_the_kubelet(kube: Kube) -> None:
    """store.go: after the kubelet's grace-0 delete a pod with finalizers is kept
    (deletionGracePeriodSeconds 0, so pvcprotection's podIsShutDown holds), and removing the
    last finalizer removes it (shouldDeleteDuringUpdate)."""
    kube.create("pods", {"metadata": {"name": "held", "finalizers": ["example.com/f"]},
                         "spec": {"containers": [{"name": "c", "image": "busybox"}]}})
    kube.tick(2)
    kube.http("DELETE", f"{NS}/pods/held")
    kube.ctl._terminating_pods()
    pod = kube.get(f"{NS}/pods/held")
    assert pod is not None and pod["metadata"]["deletionGracePeriodSeconds"] == 0
    assert pod["status"]["phase"] == "Failed"
    pod["metadata"]["finalizers"] = []
    code, _ = kube.http("PUT", f"{NS}/pods/held", pod)
    assert code == 200 and kube.get(f"{NS}/pods/held") is None
