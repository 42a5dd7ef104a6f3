"""The product's shipped ValidatingAdmissionPolicies, installed into the sandbox Kubernetes API
(which enforces them as kube-apiserver does: test_sandbox_k8s_admission_policy.py), hold the run's
ServiceAccount and let the product's own restore drill through.

- ``deploy/manifests/drill-guard.yaml`` (platform-ops-runner-inert-drills): in a drill namespace
  the run account may create workloads only inert, so a restore that would start a production
  copy is denied with the policy's message, whatever the bucket held; the drill's own restore
  (``for_drill``: 0 replicas, suspended, no node) passes. The admin is not the run account: the
  policy's matchCondition leaves it alone, as on a real cluster.
- platform-ops-runner-own-volumes (``render_drill_guard`` of a spec with a ``method: longhorn``
  target, examples/longhorn/platform.yaml): the run account may create only PersistentVolumes of
  driver.longhorn.io named like its own clone and drill Volumes, pointing at them.

Denials are kube-apiserver's: ``ValidatingAdmissionPolicy '<policy>' with binding '<binding>'
denied request: <message>`` (k8s.io/apiserver policy/validating/dispatcher.go).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from platform_assets.backups.drills import _restore_namespace
from platform_assets.core import longhorn as lh
from platform_assets.core.backup_manifest import ManifestObject
from platform_assets.core.rbac import render_drill_guard, render_rbac
from resources.kubernetes import KubernetesResource
from sandbox.http import RunningServer, serve
from sandbox.kubernetes import KubernetesService
from sandbox.world import World
from tests.integration.run_account import RUNNER, install, runner_resource

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DRILL_NS = "drill-cluster-resources"  # a drill namespace of deploy/manifests/rbac.yaml
INERT = "platform-ops-runner-inert-drills"
OWN_VOLUMES = "platform-ops-runner-own-volumes"


@dataclass
class Cluster:
    svc: KubernetesService
    server: RunningServer
    admin: KubernetesResource
    runner: KubernetesResource


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    svc = KubernetesService(World())
    server = serve(svc)
    tmp = Path(tmp_path_factory.mktemp("run-account"))
    (tmp / "admin").write_text(svc.kubeconfig(server.url))
    admin = KubernetesResource(kubeconfig_path=str(tmp / "admin"), retry_attempts=1)
    install(admin, (ROOT / "deploy/manifests/rbac.yaml").read_text())
    install(admin, (ROOT / "deploy/manifests/drill-guard.yaml").read_text())
    install(admin, render_drill_guard(ROOT / "examples/longhorn/platform.yaml"))
    try:
        yield Cluster(svc, server, admin, runner_resource(tmp / "admin", tmp / "runner"))
    finally:
        server.stop()


def denial(call: Any) -> str:
    with pytest.raises(Exception) as info:
        call()
    return str(info.value)


def workload(kind: str, name: str, **spec: Any) -> dict[str, Any]:
    group = {"Job": "batch/v1", "CronJob": "batch/v1", "ReplicationController": "v1"}.get(
        kind, "apps/v1")
    pod = {"metadata": {"labels": {"app": name}},
           "spec": {"restartPolicy": "Never" if group == "batch/v1" else "Always",
                    "containers": [{"name": "app", "image": "registry.example/app:1"}]}}
    if kind == "CronJob":
        body = {"schedule": "0 3 * * *", "jobTemplate": {"spec": {"template": pod}}}
    elif kind == "Job":
        body = {"template": pod}
    elif kind == "ReplicationController":
        body = {"selector": {"app": name}, "template": pod}  # a plain map, not a LabelSelector
    else:
        body = {"selector": {"matchLabels": {"app": name}}, "template": pod}
    return {"apiVersion": group, "kind": kind,
            "metadata": {"name": name, "namespace": DRILL_NS}, "spec": {**body, **spec}}


def bare_pod(name: str) -> dict[str, Any]:
    """A Pod with no owner, restricted-profile: PodSecurity admission (which runs before the
    policies) admits it in a drill namespace."""
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"securityContext": {"runAsNonRoot": True, "runAsUser": 1000,
                                         "seccompProfile": {"type": "RuntimeDefault"}},
                     "containers": [{"name": "run", "image": "registry.example/app:1",
                                     "securityContext": {"allowPrivilegeEscalation": False,
                                                         "capabilities": {"drop": ["ALL"]}}}]}}


def test_a_restore_that_would_start_a_production_copy_is_denied(cluster: Cluster) -> None:
    """The run account cannot create running copies in a drill namespace: each workload kind
    is denied with its validation's message; the admin's identical request is admitted."""
    cases = [(workload("Deployment", "shop", replicas=2),
              "workloads restored by a drill must have 0 replicas"),
             (workload("ReplicationController", "legacy", replicas=2),
              "workloads restored by a drill must have 0 replicas"),
             # No replicas given: the server defaults them to 1 before admission sees it.
             (workload("ReplicationController", "legacy-default"),
              "workloads restored by a drill must have 0 replicas"),
             (workload("Job", "migrate"),
              "Jobs and CronJobs restored by a drill must be suspended"),
             (workload("CronJob", "nightly"),
              "Jobs and CronJobs restored by a drill must be suspended"),
             (workload("DaemonSet", "agent"),
              "DaemonSets restored by a drill must select no node")]
    for obj, message in cases:
        text = denial(lambda o=obj: cluster.runner.apply(o))
        assert (f"ValidatingAdmissionPolicy '{INERT}' with binding '{INERT}' denied request: "
                f"{message}") in text, text
        assert cluster.runner.get(obj["apiVersion"], obj["kind"], obj["metadata"]["name"],
                                  DRILL_NS) is None
    # Scaling a restored copy up afterwards is an UPDATE: denied as well.
    cluster.runner.apply(workload("Deployment", "held", replicas=0))
    assert "must have 0 replicas" in denial(
        lambda: cluster.runner.apply(workload("Deployment", "held", replicas=1)))
    # A Pod has nothing that holds it: the run account may only dry-run one.
    pod = {**bare_pod("bare"), "metadata": {"name": "bare", "namespace": DRILL_NS}}
    text = denial(lambda: cluster.runner.apply(pod))
    assert (f"ValidatingAdmissionPolicy '{INERT}' with binding '{INERT}' denied request: "
            "Pods are never created by a drill, only validated by dry run") in text, text
    assert cluster.admin.get("v1", "Pod", "bare", DRILL_NS) is None
    # Outside drill namespaces, and for other users, the policy does not apply.
    admitted = workload("Deployment", "by-admin", replicas=2)
    cluster.admin.apply(admitted)
    cluster.admin.delete("apps/v1", "Deployment", "by-admin", DRILL_NS)
    cluster.runner.delete("apps/v1", "Deployment", "held", DRILL_NS)


def test_the_product_drill_restore_passes_the_policy(cluster: Cluster) -> None:
    """The drill's own restore path (drills._restore_namespace: for_drill, apply, read back,
    compare, delete), as the run account, restores the running workloads of a production
    namespace's export (read from the server, as a backup exports them) inert, and a bare Pod
    as a dry run only (the policy sees it: ``request.dryRun``)."""
    cluster.admin.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})
    running = [workload(k, f"prod-{k.lower()}", **extra) for k, extra in (
        ("Deployment", {"replicas": 3}), ("StatefulSet", {"replicas": 2, "serviceName": "x"}),
        ("DaemonSet", {}), ("CronJob", {}), ("Job", {}),
        # The older workload kinds the export lists too; a bare ReplicaSet (one a Deployment
        # owns is left to it), a ReplicationController.
        ("ReplicaSet", {"replicas": 2}), ("ReplicationController", {"replicas": 3}))]
    running.append({"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "tpl"},
                    "template": running[0]["spec"]["template"]})
    running.append({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": "settings"}, "data": {"a": "1"}})
    # A bare Pod (no owner), restricted-profile as the drill namespace enforces: only dry-run.
    running.append(bare_pod("runner"))
    export = []
    for obj in running:
        obj["metadata"]["namespace"] = "shop"
        cluster.admin.apply(obj)
        export.append(cluster.admin.get(obj["apiVersion"], obj["kind"],
                                        obj["metadata"]["name"], "shop"))
    raw = yaml.safe_dump_all(export).encode()
    entry = ManifestObject(key="backups/cluster-resources/shop.yaml", size=len(raw),
                           sha256="", source="namespace shop", details={"namespace": "shop"})
    notes: list[str] = []
    problems, restored = _restore_namespace(entry, raw, cluster.runner, DRILL_NS, notes)
    assert problems == [] and restored == len(export) - 1
    assert notes == ["shop: Pod/runner validated by dry run, not restored"]
    assert cluster.admin.get("v1", "Pod", "runner", DRILL_NS) is None


def pv(name: str, source: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name},
            "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                     "persistentVolumeReclaimPolicy": "Delete", **source}}


def test_the_run_account_creates_only_its_own_longhorn_volumes(cluster: Cluster) -> None:
    """own-volumes: another driver's PV, another Volume's name, or a PV of our name pointing at
    another Volume are denied with the policy's messages; our clone's PV passes."""
    own = lh.files_volume_name("bookstack-data")  # the example's first longhorn target
    assert f"'{own}'" in render_drill_guard(ROOT / "examples/longhorn/platform.yaml")
    # The example's own RBAC (its ClusterRole replaces the platform's: this test runs last), so
    # RBAC lets the PV applies through to the policy, as it does on a cluster running it.
    install(cluster.admin, render_rbac(ROOT / "examples/longhorn/platform.yaml",
                                       include_admission_policy=False))
    csi = {"csi": {"driver": lh.CSI_DRIVER, "volumeHandle": own, "fsType": "ext4"}}
    prefix = f"ValidatingAdmissionPolicy '{OWN_VOLUMES}' with binding '{OWN_VOLUMES}' denied"
    text = denial(lambda: cluster.runner.apply(pv(own, {"hostPath": {"path": "/var/lib"}})))
    assert f"{prefix} request: the run may create only PersistentVolumes of Longhorn's CSI " \
           "driver" in text, text
    # RBAC already refuses to patch (apply) a PV of another name (kube-apiserver's 403,
    # responsewriters.Forbidden); a create, which RBAC cannot limit by name, meets the policy.
    text = denial(lambda: cluster.runner.apply(pv("pvc-production-data", csi)))
    assert (f'persistentvolumes \\"pvc-production-data\\" is forbidden: User \\"{RUNNER}\\" '
            'cannot patch resource \\"persistentvolumes\\" in API group \\"\\" at the '
            "cluster scope") in text, text
    text = denial(lambda: cluster.runner.resource("v1", "PersistentVolume").create(
        body=pv("pvc-production-data", csi)))
    assert f"{prefix} request: the run may mount only its own Longhorn Volumes" in text, text
    other = {"csi": {**csi["csi"], "volumeHandle": "pvc-production-data"}}
    assert "only its own Longhorn Volumes" in denial(
        lambda: cluster.runner.apply(pv(own, other)))
    cluster.runner.apply(pv(own, csi))
    cluster.runner.delete("v1", "PersistentVolume", own)
    # The admin (Longhorn's CSI provisioner on a real cluster) is not held by the policy.
    cluster.admin.apply(pv("pvc-production-data", {"hostPath": {"path": "/var/lib"}}))
