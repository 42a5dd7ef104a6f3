"""Drift decided from field ownership, against the sandbox's Kubernetes API and real kubectl.

A second reconcile writes nothing although the manifests use non-canonical quantities
(``cpu: "0.5"``, ``memory: 1024Mi``) and omit fields the server defaults (the Service's
``protocol``/``type``, the Deployment's ``strategy``); a field another manager adds (a sidecar
container, as an injecting webhook would) or a scale by the HPA's manager through ``/scale``
(kube-controller-manager) is not drift; ``kubectl scale``, ``kubectl patch`` of a field we own
and a deleted object are, reported with the field and the manager that changed it, and the
next reconcile in ``enforce`` mode corrects them. Contract: server-side apply's field management
(https://kubernetes.io/docs/reference/using-api/server-side-apply/#field-management); the
manager is what kubectl sends: ``kubectl-patch`` (its ``--field-manager`` default), and for
``kubectl scale``, which sends none, the User-Agent's product ``kubectl``.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from platform_assets.core.graph import component_key
from platform_assets.engine.reconcile import Engine, Options, ReconcileOutcome
from resources.kubernetes import KubernetesResource
from sandbox.http import COUNTER
from tests.conftest import missing_service
from tests.integration.engine_cluster import served_cluster
from tests.unit.engine_fakes import FakeBuckets, FakeCloud, make_graph

pytestmark = [pytest.mark.integration]

KUBECTL = "/usr/bin/kubectl"
WEB = component_key("platform", "web")
WRITES = ("POST", "PUT", "PATCH", "DELETE")
LABELS = {"app": "web"}
OBJECTS: list[dict[str, Any]] = [
    {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
     "spec": {"replicas": 2, "selector": {"matchLabels": LABELS},
              "template": {"metadata": {"labels": LABELS}, "spec": {"containers": [
                  {"name": "web", "image": "nginx:1.27", "ports": [{"containerPort": 8080}],
                   "resources": {"requests": {"cpu": "0.5", "memory": "1024Mi"},
                                 "limits": {"cpu": 1, "memory": "1.5Gi"}}}]}}}},
    {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
     "spec": {"selector": LABELS, "ports": [{"port": 80, "targetPort": 8080}]}},
    {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web-config"},
     "data": {"greeting": "hello"}},
]


class Cluster:
    """A sandbox Kubernetes API of its own, kubectl and our engine pointed at it."""

    def __init__(self, tmp: Path, kubeconfig: Path, svc: Any = None):
        self.tmp, self.kubeconfig, self.svc = tmp, kubeconfig, svc
        self.graph = make_graph(tmp / "spec", OBJECTS)

    def engine(self) -> Engine:
        assert self.graph.base_dir is not None
        k8s = KubernetesResource(kubeconfig_path=str(self.kubeconfig), retry_attempts=3,
                                 retry_max_wait_seconds=0.2)
        return Engine(self.graph.spec, self.graph.base_dir, ionos=FakeCloud(), kubernetes=k8s,
                      object_storage=FakeBuckets())

    def reconcile(self) -> ReconcileOutcome:
        return self.engine().reconcile(self.graph.nodes[WEB], Options())

    def check(self) -> ReconcileOutcome:
        return self.engine().check(self.graph.nodes[WEB])

    def kubectl(self, *args: str) -> str:
        proc = subprocess.run([KUBECTL, "--kubeconfig", str(self.kubeconfig), "--cache-dir",
                               str(self.tmp / "kcache"), "-n", "web", *args],
                              capture_output=True, text=True, timeout=120, check=False)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    if not os.path.exists(KUBECTL):
        missing_service(f"{KUBECTL} is missing: install kubectl (apt-get install kubectl)")
    with served_cluster(tmp_path) as (kubeconfig, svc):
        yield Cluster(tmp_path, kubeconfig, svc)


def k8s_writes() -> int:
    return sum(n for m, n in COUNTER.snapshot().get("kubernetes", {}).items() if m in WRITES)


def drifted(outcome: ReconcileOutcome) -> dict[str, list[str]]:
    return {c.address: [str(f) for f in c.fields] for c in outcome.drift}


def test_second_reconcile_writes_nothing_and_foreign_fields_are_not_drift(
        cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> None:
    first = cluster.reconcile()
    assert first.writes == 5 and first.healthy, first.plan.to_text()
    COUNTER.reset()
    again = cluster.engine()
    second = again.reconcile(cluster.graph.nodes[WEB], Options())
    assert second.writes == 0 and k8s_writes() == 0, second.plan.to_text()
    # One list per kind (Deployment, Service, ConfigMap) and one of the namespaces.
    assert again.runtime.view().lists == 4
    assert drifted(cluster.check()) == {}
    # Lists follow `continue` pages: one object a page still finds every object.
    monkeypatch.setattr("resources.kubernetes.LIST_PAGE", 1)
    COUNTER.reset()
    assert cluster.reconcile().writes == 0 and k8s_writes() == 0
    monkeypatch.undo()

    # What an injecting webhook adds, and an HPA scaling through /scale: theirs, not drift.
    cluster.kubectl("patch", "deployment", "web", "--type=strategic",
                    "--field-manager=sidecar-injector", "-p",
                    '{"spec":{"template":{"spec":{"containers":[{"name":"proxy",'
                    '"image":"envoy:1.32"}]}}}}')
    cluster.kubectl("patch", "deployment", "web", "--subresource=scale", "--type=merge",
                    "--field-manager=kube-controller-manager", "-p", '{"spec":{"replicas":4}}')
    assert drifted(cluster.check()) == {}
    COUNTER.reset()
    assert cluster.reconcile().writes == 0 and k8s_writes() == 0


def test_a_webhook_that_mutates_our_creates_is_not_drift(cluster: Cluster) -> None:
    """A mutating admission webhook active from the start (a service mesh's injector, a policy
    engine's defaults) adds a sidecar container, a label and an annotation to the Deployment as
    it is created: the fields are the webhook's, not ours, so the second reconcile writes
    nothing and the drift check stays green (MutatingWebhookConfiguration: kubernetes.io/docs/
    reference/access-authn-authz/extensible-admission-controllers/)."""
    status, answer = cluster.svc.behaviours.handle("POST", "/kubernetes/webhooks", {
        "name": "mesh.example", "kinds": ["Deployment"],
        "containers": [{"name": "mesh-proxy", "image": "mesh/proxy:1.0"}],
        "labels": {"mesh.example/injected": "true"},
        "annotations": {"mesh.example/status": "injected"}})
    assert status == 200, answer
    first = cluster.reconcile()
    assert first.healthy and first.writes > 0
    live = cluster.engine().runtime.cluster().get("apps/v1", "Deployment", "web", "web")
    assert live is not None
    template = live["spec"]["template"]
    assert [c["name"] for c in template["spec"]["containers"]] == ["web", "mesh-proxy"]
    assert template["metadata"]["labels"]["mesh.example/injected"] == "true"
    COUNTER.reset()
    second = cluster.reconcile()
    assert second.writes == 0 and k8s_writes() == 0, second.plan.to_text()
    assert drifted(cluster.check()) == {}
    live = cluster.engine().runtime.cluster().get("apps/v1", "Deployment", "web", "web")
    assert live is not None
    assert [c["name"] for c in live["spec"]["template"]["spec"]["containers"]] == [
        "web", "mesh-proxy"]


def test_scale_patch_and_delete_are_drift_with_field_and_manager_then_corrected(
        cluster: Cluster) -> None:
    assert cluster.reconcile().healthy
    cluster.kubectl("scale", "deployment", "web", "--replicas=5")
    cluster.kubectl("patch", "deployment", "web", "--type=strategic", "-p",
                    '{"spec":{"template":{"spec":{"containers":[{"name":"web",'
                    '"image":"nginx:evil"}]}}}}')
    cluster.kubectl("delete", "configmap", "web-config")
    COUNTER.reset()
    found = drifted(cluster.check())
    assert k8s_writes() == 0
    assert found["apps/v1 Deployment web/web"] == [
        "spec.replicas: 5 -> 2 (changed by kubectl)",
        'spec.template.spec.containers[name="web"].image: "nginx:evil" -> "nginx:1.27" '
        "(changed by kubectl-patch)"]
    assert "v1 ConfigMap web/web-config" in found

    fixed = cluster.reconcile()
    assert fixed.writes == 2, fixed.plan.to_text()
    live = cluster.engine().runtime.cluster().get("apps/v1", "Deployment", "web", "web")
    assert live is not None and live["spec"]["replicas"] == 2
    assert live["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"
    assert drifted(cluster.check()) == {}
