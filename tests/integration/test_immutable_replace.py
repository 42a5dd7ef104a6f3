"""A component's Deployment selector changes, against the sandbox's Kubernetes API.

``spec.selector`` of an apps/v1 Deployment is immutable (k8s.io/kubernetes
``pkg/apis/apps/validation.ValidateDeploymentUpdate``: "field is immutable"), so the product
plans a replace from its own table (``core/immutable.py``) and never sends the update: without
``allow_replace`` the component fails before any write; with it (inside the maintenance window)
the Deployment is deleted (propagationPolicy Background) and created anew, and the next
reconcile writes nothing. These assertions are on the product's plan and writes, so they hold
whether or not the server refuses the plain update; ``test_the_server_refuses_the_plain_update``
shows that it does.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from kubernetes.dynamic.exceptions import UnprocessibleEntityError

from platform_assets.core import desired, immutable
from platform_assets.core.calendar import Gate
from platform_assets.core.component_plan import ReplacePolicy, object_change
from platform_assets.core.graph import Graph
from platform_assets.engine.handler import api_status
from platform_assets.engine.reconcile import ReconcileError, ReconcileOutcome
from sandbox.http import COUNTER
from tests.integration.engine_cluster import EngineCluster, k8s_writes, served_cluster
from tests.unit.engine_fakes import make_graph

pytestmark = [pytest.mark.integration]

SUNDAY_WINDOW = datetime(2026, 11, 22, 11, 0, tzinfo=UTC)  # inside the spec's window
WEDNESDAY = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)  # outside it
BEFORE = {"app": "web"}
AFTER = {"app": "web", "tier": "front"}


def deployment(labels: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"replicas": 2, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": {"containers": [
                         {"name": "web", "image": "nginx:1.27"}]}}}}


class Cluster(EngineCluster):
    """A sandbox Kubernetes API of its own and our engine pointed at it."""

    def graph(self, labels: dict[str, str], allow_replace: bool) -> Graph:
        setting = f"    prune: true\n    allow_replace: {str(allow_replace).lower()}\n"
        return make_graph(self.tmp / "spec", [deployment(labels)],
                          edit=lambda s: s.replace("    prune: true\n", setting))

    def reconcile(self, graph: Graph, now: datetime = SUNDAY_WINDOW) -> ReconcileOutcome:
        return self.reconcile_at(graph, now)

    def live(self) -> dict[str, Any]:
        obj = self.client().get("apps/v1", "Deployment", "web", "web")
        assert obj is not None
        return obj


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    with served_cluster(tmp_path) as (kubeconfig, _):
        yield Cluster(tmp_path, kubeconfig)



def test_a_selector_change_is_blocked_then_replaced_then_settled(cluster: Cluster) -> None:
    first = cluster.reconcile(cluster.graph(BEFORE, allow_replace=False))
    assert first.healthy, first.plan.to_text()
    uid = cluster.live()["metadata"]["uid"]

    COUNTER.reset()
    with pytest.raises(ReconcileError, match=r"apps/v1 Deployment web/web: changing "
                                             r"spec.selector needs a replace .* set "
                                             r"allow_replace: true on component web"):
        cluster.reconcile(cluster.graph(AFTER, allow_replace=False))
    assert k8s_writes() == {}
    assert cluster.live()["metadata"]["uid"] == uid

    allowed = cluster.graph(AFTER, allow_replace=True)
    outside = cluster.reconcile(allowed, now=WEDNESDAY)
    assert [(c.action, c.intended, c.reason) for c in outside.plan.changes
            if c.action != "no-op"] == [
        ("deferred", "replace", "immutable: spec.selector; outside every maintenance window; "
                                "next window opens 2026-11-29T10:00:00+00:00")]
    assert k8s_writes() == {} and cluster.live()["metadata"]["uid"] == uid

    replaced = cluster.reconcile(allowed)
    assert [(c.address, c.action) for c in replaced.plan.writes] == [
        ("apps/v1 Deployment web/web", "replace")]
    assert k8s_writes() == {"DELETE": 1, "PATCH": 1} and replaced.writes == 2
    assert replaced.healthy, replaced.unhealthy
    live = cluster.live()
    assert live["metadata"]["uid"] != uid
    assert live["spec"]["selector"]["matchLabels"] == AFTER

    COUNTER.reset()
    settled = cluster.reconcile(allowed)
    assert k8s_writes() == {} and not settled.plan.has_changes, settled.plan.to_text()


def test_the_server_refuses_the_plain_update(cluster: Cluster) -> None:
    """What the replace avoids: the selector changed by an apply (the update the product used
    to send), which kube-apiserver answers with 422 and a ``field is immutable`` cause, as the
    sandbox does (sandbox/kubernetes/immutable.py); nothing changes."""
    cluster.reconcile(cluster.graph(BEFORE, allow_replace=False))
    before = cluster.live()
    body = deployment(AFTER) | {"metadata": {"name": "web", "namespace": "web"}}
    with pytest.raises(UnprocessibleEntityError) as info:
        cluster.client().apply(body)
    status, data = api_status(info.value)
    assert status == 422, info.value
    assert [f for f, _ in immutable.refused_fields(data)] == ["spec.selector"]
    after = cluster.live()
    assert after["spec"]["selector"] == before["spec"]["selector"]
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]


GREETING_POLICY = [
    {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
     "metadata": {"name": "greeting-immutable"},
     "spec": {"failurePolicy": "Fail",
              "matchConstraints": {"resourceRules": [{
                  "apiGroups": [""], "apiVersions": ["v1"], "operations": ["UPDATE"],
                  "resources": ["configmaps"], "resourceNames": ["web-config"]}]},
              "validations": [{"expression": "object.data.greeting == oldObject.data.greeting",
                               "message": "data.greeting is immutable"}]}},
    {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
     "metadata": {"name": "greeting-immutable"},
     "spec": {"policyName": "greeting-immutable", "validationActions": ["Deny"]}},
]


def test_a_refusal_the_table_does_not_know_fails_the_component_with_the_servers_words(
        cluster: Cluster) -> None:
    """A ValidatingAdmissionPolicy (CEL on ``oldObject``, as a CRD's ``self == oldSelf`` rule)
    freezes a field the table lets change: the server's 422 fails the component with the
    object and the server's message, as one line."""
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web-config"},
              "data": {"greeting": "hello"}}

    def graph(greeting: str) -> Graph:
        return make_graph(cluster.tmp / "spec", [config | {"data": {"greeting": greeting}}])

    cluster.reconcile(graph("hello"))
    for obj in GREETING_POLICY:
        cluster.client().apply(obj)
    with pytest.raises(ReconcileError) as info:
        cluster.reconcile(graph("bonjour"))
    assert str(info.value) == (
        "component web: v1 ConfigMap web/web-config: the API server refuses to change an "
        "immutable field (HTTP 422: ValidatingAdmissionPolicy 'greeting-immutable' with "
        "binding 'greeting-immutable' "
        "denied request: data.greeting is immutable). It is immutable, which platform-ops did "
        "not know, so it planned an update that allow_replace cannot turn into a replace: revert "
        "the change, or delete the object so the next reconcile creates it anew")
    live = cluster.client().get("v1", "ConfigMap", "web-config", "web")
    assert live is not None and live["data"]["greeting"] == "hello"


SIZED_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "sizeds.example.com"},
    "spec": {"group": "example.com", "scope": "Namespaced",
             "names": {"plural": "sizeds", "singular": "sized", "kind": "Sized"},
             "versions": [{"name": "v1", "served": True, "storage": True, "schema": {
                 "openAPIV3Schema": {"type": "object", "properties": {"spec": {
                     "type": "object", "properties": {"size": {
                         "type": "integer", "x-kubernetes-validations": [
                             {"rule": "self == oldSelf", "message": "size is immutable"}]}}}}}}}]}}


def test_a_crd_rule_refusal_fails_the_component_with_the_servers_words(
        cluster: Cluster) -> None:
    """A CRD's transition rule (``self == oldSelf`` in ``x-kubernetes-validations``) freezes a
    field the table does not know: the server's 422 (cause ``spec.size``, ``Invalid value:
    "integer": size is immutable``) fails the component with the field and those words, and
    the object keeps its value.

    Source: Kubernetes docs "Extend the Kubernetes API with CustomResourceDefinitions",
    "Transition rules"; k8s.io/apiextensions-apiserver v1.32 pkg/apiserver/schema/cel/
    validation.go (the field error at the rule's node, the node's type as the value).
    """
    cluster.client().apply(SIZED_CRD)

    def graph(size: int) -> Graph:
        return make_graph(cluster.tmp / "spec", [{"apiVersion": "example.com/v1",
                                                  "kind": "Sized", "metadata": {"name": "s"},
                                                  "spec": {"size": size}}])

    cluster.reconcile(graph(1))
    with pytest.raises(ReconcileError) as info:
        cluster.reconcile(graph(2))
    assert str(info.value) == (
        "component web: example.com/v1 Sized web/s: the API server refuses to change spec.size "
        '(HTTP 422: Invalid value: "integer": size is immutable). It is immutable, which '
        "platform-ops did not know, so it planned an update that allow_replace cannot turn into "
        "a replace: revert the change, or delete the object so the next reconcile creates it "
        "anew")
    live = cluster.client().get("example.com/v1", "Sized", "s", "web")
    assert live is not None and live["spec"]["size"] == 1


def migration(image: str) -> dict[str, Any]:
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "migrate"},
            "spec": {"backoffLimit": 0, "template": {"spec": {
                "restartPolicy": "Never", "containers": [{"name": "migrate", "image": image}]}}}}


def test_a_migration_jobs_new_image_replaces_it_after_its_pods_are_gone(
        cluster: Cluster) -> None:
    """``spec.template`` of a Job is immutable: with ``allow_replace`` the Job is deleted with
    propagationPolicy Foreground (a real server keeps it, with the ``foregroundDeletion``
    finalizer, until its Pods are deleted) and created anew once it is gone; no Pod of the old
    run is left. The sandbox's garbage collector, like the real one, deletes the Pods after
    the delete has been answered (tests/integration/test_sandbox_k8s_gc.py), so without the
    Foreground delete and the wait an old Pod could outlive the replace."""
    setting = "    prune: true\n    allow_replace: true\n"

    def graph(image: str) -> Graph:
        return make_graph(cluster.tmp / "spec", [migration(image)],
                          edit=lambda s: s.replace("    prune: true\n", setting))

    cluster.reconcile(graph("app:1"))
    client = cluster.client()
    old = client.get("batch/v1", "Job", "migrate", "web")
    assert old is not None
    old_uid = old["metadata"]["uid"]
    assert client.list("v1", "Pod", "web", label_selector=f"controller-uid={old_uid}")

    COUNTER.reset()
    out = cluster.reconcile(graph("app:2"))
    assert [(c.address, c.action, c.reason) for c in out.plan.writes] == [
        ("batch/v1 Job web/migrate", "replace", "immutable: spec.template")]
    assert k8s_writes() == {"DELETE": 1, "PATCH": 1}
    new = client.get("batch/v1", "Job", "migrate", "web")
    assert new is not None and new["metadata"]["uid"] != old_uid
    assert new["spec"]["template"]["spec"]["containers"][0]["image"] == "app:2"
    assert client.list("v1", "Pod", "web", label_selector=f"controller-uid={old_uid}") == []


def _obj(api: str, kind: str, name: str, **body: Any) -> dict[str, Any]:
    return {"apiVersion": api, "kind": kind, "metadata": {"name": name, "namespace": "web"},
            **body}


def _workload(kind: str, name: str, labels: dict[str, str], image: str,
              **spec: Any) -> dict[str, Any]:
    return _obj("apps/v1", kind, name, spec={
        "selector": {"matchLabels": labels}, **spec,
        "template": {"metadata": {"labels": labels},
                     "spec": {"containers": [{"name": "c", "image": image}]}}})


APP, APP2 = {"app": "a"}, {"app": "a", "v": "2"}
# (what, before, after): the product's table against the server's refusals.
CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("Deployment image", _workload("Deployment", "d", APP, "i:1"),
     _workload("Deployment", "d", APP, "i:2")),
    ("Deployment selector", _workload("Deployment", "d2", APP, "i:1"),
     _workload("Deployment", "d2", APP2, "i:1")),
    ("DaemonSet selector", _workload("DaemonSet", "ds", APP, "i:1"),
     _workload("DaemonSet", "ds", APP2, "i:1")),
    ("StatefulSet replicas", _workload("StatefulSet", "s", APP, "i:1", serviceName="s"),
     _workload("StatefulSet", "s", APP, "i:1", serviceName="s", replicas=3)),
    ("StatefulSet minReadySeconds",
     _workload("StatefulSet", "s2", APP, "i:1", serviceName="s2"),
     _workload("StatefulSet", "s2", APP, "i:1", serviceName="s2", minReadySeconds=5)),
    ("StatefulSet revisionHistoryLimit",
     _workload("StatefulSet", "s4", APP, "i:1", serviceName="s4"),
     _workload("StatefulSet", "s4", APP, "i:1", serviceName="s4", revisionHistoryLimit=2)),
    ("StatefulSet serviceName", _workload("StatefulSet", "s3", APP, "i:1", serviceName="s3"),
     _workload("StatefulSet", "s3", APP, "i:1", serviceName="other")),
    ("Job template", _obj("batch/v1", "Job", "j", spec={"template": {"spec": {
        "restartPolicy": "Never", "containers": [{"name": "c", "image": "i:1"}]}}}),
     _obj("batch/v1", "Job", "j", spec={"template": {"spec": {
         "restartPolicy": "Never", "containers": [{"name": "c", "image": "i:2"}]}}})),
    ("Service ports", _obj("v1", "Service", "svc", spec={"ports": [{"port": 80}]}),
     _obj("v1", "Service", "svc", spec={"ports": [{"port": 8080}]})),
    ("Service headless", _obj("v1", "Service", "svc2", spec={"ports": [{"port": 80}]}),
     _obj("v1", "Service", "svc2", spec={"clusterIP": "None", "ports": [{"port": 80}]})),
    ("Secret type", _obj("v1", "Secret", "sec", type="Opaque", data={"k": "YQ=="}),
     _obj("v1", "Secret", "sec", type="example.com/other", data={"k": "YQ=="})),
    ("ConfigMap data", _obj("v1", "ConfigMap", "cm", data={"a": "1"}),
     _obj("v1", "ConfigMap", "cm", data={"a": "2"})),
    ("immutable ConfigMap data", _obj("v1", "ConfigMap", "cm2", immutable=True, data={"a": "1"}),
     _obj("v1", "ConfigMap", "cm2", immutable=True, data={"a": "2"})),
    ("RoleBinding roleRef", _obj(
        "rbac.authorization.k8s.io/v1", "RoleBinding", "rb",
        roleRef={"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        subjects=[{"kind": "ServiceAccount", "name": "default", "namespace": "web"}]),
     _obj("rbac.authorization.k8s.io/v1", "RoleBinding", "rb",
          roleRef={"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                   "name": "edit"},
          subjects=[{"kind": "ServiceAccount", "name": "default", "namespace": "web"}])),
    ("StorageClass parameters", {
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "sc"},
        "provisioner": "example.com/csi", "parameters": {"type": "ssd"}},
     {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "sc"},
      "provisioner": "example.com/csi", "parameters": {"type": "hdd"}}),
    # The server defaults reclaimPolicy Delete and volumeBindingMode Immediate
    # (pkg/apis/storage/v1/defaults.go): a class that never named them may still grow
    # allowVolumeExpansion, and naming another policy is a change of the defaulted one.
    ("StorageClass allowVolumeExpansion", {
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "sc2"},
        "provisioner": "example.com/csi"},
     {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "sc2"},
      "provisioner": "example.com/csi", "allowVolumeExpansion": True}),
    ("StorageClass reclaimPolicy", {
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "sc3"},
        "provisioner": "example.com/csi"},
     {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "sc3"},
      "provisioner": "example.com/csi", "reclaimPolicy": "Retain"}),
    ("StorageClass volumeBindingMode", {
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "sc4"},
        "provisioner": "example.com/csi"},
     {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "sc4"},
      "provisioner": "example.com/csi", "volumeBindingMode": "WaitForFirstConsumer"}),
]


def test_the_plan_replaces_exactly_what_the_server_refuses_to_update(cluster: Cluster) -> None:
    """For each case the product's plan (update or replace) against the server's answer to the
    update (a server-side apply, dry run): a replace exactly where the update is refused."""
    client = cluster.client()
    client.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "web"}})
    disagree = []
    for what, before, after in CASES:
        have = client.apply(desired.stamp(before, "web"))
        want = desired.stamp(after, "web")
        change = object_change(want, have, Gate(True, ""), "enforce",
                               replacing=ReplacePolicy("web", allow_replace=True))
        try:
            client.apply(want, dry_run=True)
            refused = ""
        except UnprocessibleEntityError as exc:
            refused = "; ".join(m for _, m in immutable.refused_fields(api_status(exc)[1]))
        if (change.action == "replace") != bool(refused):
            disagree.append(f"{what}: plan {change.action} ({change.reason}), server "
                            f"{refused or 'accepts'}")
    assert disagree == []


def test_a_storage_class_read_back_with_the_servers_defaults_shows_no_drift(
        cluster: Cluster) -> None:
    """The API server fills reclaimPolicy and volumeBindingMode of a class that omits them
    (pkg/apis/storage/v1/defaults.go); the next plan of the same class writes nothing."""
    client = cluster.client()
    want = desired.stamp({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                          "metadata": {"name": "fast"}, "provisioner": "cloud.ionos.com",
                          "parameters": {"type": "SSD"}, "allowVolumeExpansion": True}, "web")
    have = client.apply(want)
    assert (have["reclaimPolicy"], have["volumeBindingMode"]) == ("Delete", "Immediate")
    change = object_change(want, have, Gate(True, ""), "enforce",
                           replacing=ReplacePolicy("web"))
    assert (change.action, change.fields) == ("no-op", ()), change
