"""Fidelity of the sandbox cluster's workloads: controllers, scheduler, PodSecurity admission.

Each test names the real behaviour's source: the Kubernetes docs, the API conventions, or the
controller/scheduler code in kubernetes/kubernetes that words the messages.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_sandbox_kubernetes import Cluster, _start

pytestmark = pytest.mark.integration

RESTRICTED_POD = {
    "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
    "containers": [{"name": "app", "image": "example/app:1",
                    "securityContext": {"allowPrivilegeEscalation": False,
                                        "capabilities": {"drop": ["ALL"]}}}],
}


@pytest.fixture
def k8s(tmp_path: Path) -> Iterator[Cluster]:
    yield from _start(tmp_path)  # three nodes of 4 cores / 16 GiB (KubernetesService.add_nodes)


def wait(predicate: Callable[[], Any], what: str, timeout: float = 10) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def _ns(k8s: Cluster, name: str, labels: dict[str, str] | None = None) -> None:
    code, body = k8s.http("POST", "/api/v1/namespaces",
                          {"metadata": {"name": name, "labels": labels or {}}})
    assert code == 201, body


def _deployment(name: str, replicas: int, pod: dict[str, Any]) -> dict[str, Any]:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": pod}}}


def _list(k8s: Cluster, path: str) -> list[dict[str, Any]]:
    code, body = k8s.http("GET", path)
    assert code == 200, body
    return list(body["items"])


def _events(k8s: Cluster, ns: str, reason: str) -> list[str]:
    return [e["message"] for e in _list(k8s, f"/api/v1/namespaces/{ns}/events")
            if e["reason"] == reason]


def test_deployment_owns_a_replicaset_whose_pods_run_on_nodes(k8s: Cluster) -> None:
    """A Deployment creates a ReplicaSet ``<name>-<pod-template-hash>`` whose Pods carry the
    ``pod-template-hash`` label and a controller ownerReference; the Deployment's status counts
    the Pods that are ready and available.

    Source: https://kubernetes.io/docs/concepts/workloads/controllers/deployment/ ("The name of
    a ReplicaSet is always formatted as [DEPLOYMENT-NAME]-[HASH]"; "the pod-template-hash label
    is added by the Deployment controller to every ReplicaSet that a Deployment creates").
    """
    _ns(k8s, "web")
    code, made = k8s.http("POST", "/apis/apps/v1/namespaces/web/deployments",
                          _deployment("web", 2, RESTRICTED_POD))
    assert code == 201 and made["status"] == {}

    def settled() -> dict[str, Any] | None:
        dep = k8s.http("GET", "/apis/apps/v1/namespaces/web/deployments/web")[1]
        return dep if dep["status"].get("availableReplicas") == 2 else None

    dep = wait(settled, "2 available replicas")
    (rs,) = _list(k8s, "/apis/apps/v1/namespaces/web/replicasets")
    h = rs["metadata"]["labels"]["pod-template-hash"]
    assert rs["metadata"]["name"] == f"web-{h}"
    assert rs["metadata"]["ownerReferences"][0]["uid"] == dep["metadata"]["uid"]
    assert rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    pods = _list(k8s, "/api/v1/namespaces/web/pods")
    assert len(pods) == 2
    for pod in pods:
        assert pod["metadata"]["name"].startswith(f"web-{h}-")
        assert pod["metadata"]["labels"] == {"app": "web", "pod-template-hash": h}
        assert pod["metadata"]["ownerReferences"][0]["kind"] == "ReplicaSet"
        assert pod["spec"]["nodeName"].startswith("sandbox-pool-")
        assert pod["status"]["phase"] == "Running"
        ready = {c["type"]: c["status"] for c in pod["status"]["conditions"]}
        assert ready["Ready"] == ready["PodScheduled"] == "True"
    status = dep["status"]
    assert status["observedGeneration"] == 1 and status["readyReplicas"] == 2
    conds = {c["type"]: c for c in status["conditions"]}
    assert conds["Available"]["reason"] == "MinimumReplicasAvailable"
    assert conds["Progressing"]["reason"] == "NewReplicaSetAvailable"
    assert conds["Progressing"]["message"] == f'ReplicaSet "web-{h}" has successfully progressed.'


def test_deployment_annotations_and_revisions_reach_its_replicasets(k8s: Cluster) -> None:
    """The deployment controller copies the Deployment's annotations to its new ReplicaSet,
    but for last-applied-configuration and the ``deployment.kubernetes.io/*`` ones it manages
    (revision, revision-history, desired-replicas, max-replicas), keeps them copied on later
    passes, numbers the ReplicaSets' revisions (a rollback raises an old one's, keeping the
    old number in revision-history) and writes the revision on the Deployment with
    UpdateStatus.

    Source: pkg/controller/deployment/util/deployment_util.go (SetNewReplicaSetAnnotations,
    copyDeploymentAnnotationsToReplicaSet, annotationsToSkip, SetDeploymentRevision,
    MaxSurge); pkg/controller/deployment/sync.go (getNewReplicaSet, scaleReplicaSet).
    """
    _ns(k8s, "web")
    dep = _deployment("web", 2, RESTRICTED_POD)
    dep["metadata"]["annotations"] = {
        "team": "a", "kubectl.kubernetes.io/last-applied-configuration": "{}",
        "deployment.kubernetes.io/desired-replicas": "9"}
    path = "/apis/apps/v1/namespaces/web/deployments/web"
    assert k8s.http("POST", "/apis/apps/v1/namespaces/web/deployments", dep)[0] == 201

    def replicasets() -> dict[str, dict[str, str]]:
        return {r["spec"]["template"]["spec"]["containers"][0]["image"]:
                r["metadata"]["annotations"]
                for r in _list(k8s, "/apis/apps/v1/namespaces/web/replicasets")}

    def revision(want: str) -> dict[str, Any] | None:
        got = k8s.http("GET", path)[1]
        return got if got["metadata"]["annotations"].get(
            "deployment.kubernetes.io/revision") == want else None

    got = wait(lambda: revision("1"), "revision 1 on the Deployment")
    assert replicasets() == {"example/app:1": {
        "team": "a", "deployment.kubernetes.io/desired-replicas": "2",
        "deployment.kubernetes.io/max-replicas": "3", "deployment.kubernetes.io/revision": "1"}}
    entry = next(e for e in got["metadata"]["managedFields"]
                 if e["manager"] == "kube-controller-manager")
    assert entry["subresource"] == "status" and entry["operation"] == "Update"
    assert "f:deployment.kubernetes.io/revision" in entry["fieldsV1"]["f:metadata"][
        "f:annotations"]

    merge = "application/merge-patch+json"
    k8s.http("PATCH", path, {"metadata": {"annotations": {"team": "b"}}}, merge)
    wait(lambda: replicasets()["example/app:1"]["team"] == "b", "the annotation copied again")

    def image(tag: str) -> dict[str, Any]:
        return {"spec": {"template": {"spec": {"containers": [
            {"name": "app", "image": f"example/app:{tag}"}]}}}}

    k8s.http("PATCH", path, image("2"), "application/strategic-merge-patch+json")
    wait(lambda: revision("2"), "revision 2")
    assert replicasets()["example/app:2"]["deployment.kubernetes.io/revision"] == "2"
    assert replicasets()["example/app:2"]["team"] == "b"
    k8s.http("PATCH", path, image("1"), "application/strategic-merge-patch+json")
    wait(lambda: revision("3"), "revision 3 (the rollback)")
    back = replicasets()["example/app:1"]
    assert back["deployment.kubernetes.io/revision"] == "3"
    assert back["deployment.kubernetes.io/revision-history"] == "1"


def test_insufficient_cpu_and_anti_affinity_leave_pods_pending_with_the_reasons(
        k8s: Cluster) -> None:
    """A pod no node can hold stays Pending with PodScheduled=False/Unschedulable and a
    FailedScheduling event counting the nodes per reason.

    Source: pkg/scheduler/framework/plugins/noderesources/fit.go ("Insufficient cpu"),
    interpodaffinity/filtering.go ("node(s) didn't match pod anti-affinity rules"),
    and schedule_one.go (the "0/N nodes are available: ..." FitError message).
    """
    _ns(k8s, "big")
    huge = json.loads(json.dumps(RESTRICTED_POD))
    huge["containers"][0]["resources"] = {"requests": {"cpu": "8"}}
    assert k8s.http("POST", "/apis/apps/v1/namespaces/big/deployments",
                    _deployment("huge", 1, huge))[0] == 201
    spread = json.loads(json.dumps(RESTRICTED_POD))
    spread["affinity"] = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "spread"}},
         "topologyKey": "kubernetes.io/hostname"}]}}
    assert k8s.http("POST", "/apis/apps/v1/namespaces/big/deployments",
                    _deployment("spread", 4, spread))[0] == 201

    def reasons() -> list[str]:
        msgs = _events(k8s, "big", "FailedScheduling")
        return msgs if len(msgs) == 2 else []

    msgs = wait(reasons, "two FailedScheduling events")
    assert ("0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: "
            "3 Preemption is not helpful for scheduling.") in msgs
    assert any(m.startswith("0/3 nodes are available: 3 node(s) didn't match pod anti-affinity "
                            "rules.") for m in msgs)
    pods = _list(k8s, "/api/v1/namespaces/big/pods")
    pending = [p for p in pods if p["status"]["phase"] == "Pending"]
    assert len(pending) == 2 and all(not p["spec"].get("nodeName") for p in pending)
    cond = next(c for c in pending[0]["status"]["conditions"] if c["type"] == "PodScheduled")
    assert cond["status"] == "False" and cond["reason"] == "Unschedulable"
    # The Deployment's status follows on the controller's later passes (the three scheduled
    # pods turn Ready on the kubelet's), not with the events.
    def spread_status() -> dict[str, Any] | None:
        dep = k8s.http("GET", "/apis/apps/v1/namespaces/big/deployments/spread")[1]
        status = dep.get("status") or {}
        return status if status.get("availableReplicas") == 3 else None

    assert wait(spread_status, "3 available in the Deployment's status")[
        "unavailableReplicas"] == 1


def test_readwriteonce_volume_on_another_node_is_a_multi_attach_error(k8s: Cluster) -> None:
    """Two pods on different nodes sharing one ReadWriteOnce claim: the scheduler places both
    (RWO does not filter nodes), the second waits in ContainerCreating with the attach/detach
    controller's FailedAttachVolume event.

    Source: https://kubernetes.io/docs/concepts/storage/persistent-volumes/#access-modes
    ("ReadWriteOnce: the volume can be mounted as read-write by a single node") and
    pkg/controller/volume/attachdetach/reconciler/reconciler.go (reportMultiAttachError:
    "Multi-Attach error for volume %q Volume is already used by pod(s) %s").
    """
    _ns(k8s, "rwo")
    assert k8s.http("POST", "/api/v1/namespaces/rwo/persistentvolumeclaims", {
        "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"],
                 "resources": {"requests": {"storage": "1Gi"}}}})[0] == 201
    nodes = [n["metadata"]["name"] for n in _list(k8s, "/api/v1/nodes")]

    def pod(name: str, node: str) -> dict[str, Any]:
        spec = json.loads(json.dumps(RESTRICTED_POD))
        spec["nodeSelector"] = {"kubernetes.io/hostname": node}
        spec["volumes"] = [{"name": "d", "persistentVolumeClaim": {"claimName": "data"}}]
        return {"metadata": {"name": name}, "spec": spec}

    assert k8s.http("POST", "/api/v1/namespaces/rwo/pods", pod("first", nodes[0]))[0] == 201
    wait(lambda: k8s.http("GET", "/api/v1/namespaces/rwo/pods/first")[1]["status"][
        "phase"] == "Running", "the first pod running")
    # The claim's class binds WaitForFirstConsumer: the first pod's scheduling bound it.
    pvc = k8s.http("GET", "/api/v1/namespaces/rwo/persistentvolumeclaims/data")[1]
    assert pvc["status"]["phase"] == "Bound"
    assert k8s.http("POST", "/api/v1/namespaces/rwo/pods", pod("second", nodes[1]))[0] == 201
    msgs = wait(lambda: _events(k8s, "rwo", "FailedAttachVolume"), "FailedAttachVolume")
    assert msgs == [f'Multi-Attach error for volume "{pvc["spec"]["volumeName"]}" Volume is '
                    "already used by pod(s) first"]
    second = k8s.http("GET", "/api/v1/namespaces/rwo/pods/second")[1]
    assert second["spec"]["nodeName"] == nodes[1] and second["status"]["phase"] == "Pending"
    assert second["status"]["containerStatuses"][0]["state"] == {
        "waiting": {"reason": "ContainerCreating"}}


def test_podsecurity_restricted_denies_pods_and_the_workload_shows_replica_failure(
        k8s: Cluster) -> None:
    """``pod-security.kubernetes.io/enforce: restricted`` denies a Pod that misses the
    restricted controls with 403 and the documented message; a Deployment is stored, and its
    ReplicaSet's pod creates are denied: ReplicaFailure/FailedCreate on the ReplicaSet and the
    Deployment.

    Source: https://kubernetes.io/docs/tutorials/security/ns-level-pss/ (the "violates
    PodSecurity" error text), https://kubernetes.io/docs/concepts/security/pod-security-standards/
    (the restricted controls) and pkg/controller/deployment/util/deployment_util.go
    (ReplicaFailure copied from the ReplicaSet's condition).
    """
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    _ns(k8s, "locked", {"pod-security.kubernetes.io/enforce": "restricted"})
    v1 = client.CoreV1Api(k8s.api_client())
    plain = {"metadata": {"name": "nginx"},
             "spec": {"containers": [{"name": "nginx", "image": "nginx"}]}}
    with pytest.raises(ApiException) as exc:
        v1.create_namespaced_pod("locked", plain)
    body = json.loads(exc.value.body)
    assert exc.value.status == 403 and body["reason"] == "Forbidden"
    assert body["message"] == (
        'pods "nginx" is forbidden: violates PodSecurity "restricted:latest": '
        "allowPrivilegeEscalation != false (container \"nginx\" must set "
        "securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container "
        "\"nginx\" must set securityContext.capabilities.drop=[\"ALL\"]), runAsNonRoot != true "
        "(pod or container \"nginx\" must set securityContext.runAsNonRoot=true), seccompProfile "
        "(pod or container \"nginx\" must set securityContext.seccompProfile.type to "
        "\"RuntimeDefault\" or \"Localhost\")")
    host = {"metadata": {"name": "host"}, "spec": {**RESTRICTED_POD, "hostNetwork": True,
            "volumes": [{"name": "h", "hostPath": {"path": "/etc"}}]}}
    with pytest.raises(ApiException) as exc:
        v1.create_namespaced_pod("locked", host)
    message = json.loads(exc.value.body)["message"]
    assert "host namespaces (hostNetwork=true)" in message
    assert 'restricted volume types (volume "h" uses restricted volume type "hostPath")' in message
    assert v1.create_namespaced_pod("locked", {"metadata": {"name": "ok"},
                                               "spec": RESTRICTED_POD}).metadata.name == "ok"

    no_seccomp = json.loads(json.dumps(RESTRICTED_POD))
    del no_seccomp["securityContext"]["seccompProfile"]
    assert k8s.http("POST", "/apis/apps/v1/namespaces/locked/deployments",
                    _deployment("app", 1, no_seccomp))[0] == 201

    def failure() -> dict[str, Any] | None:
        dep = k8s.http("GET", "/apis/apps/v1/namespaces/locked/deployments/app")[1]
        return next((c for c in dep["status"].get("conditions") or []
                     if c["type"] == "ReplicaFailure"), None)

    cond = wait(failure, "ReplicaFailure on the Deployment")
    assert cond["status"] == "True" and cond["reason"] == "FailedCreate"
    assert 'violates PodSecurity "restricted:latest": seccompProfile (pod or container "app" ' \
           "must set securityContext.seccompProfile.type" in cond["message"]
    dep = k8s.http("GET", "/apis/apps/v1/namespaces/locked/deployments/app")[1]
    assert not dep["status"].get("availableReplicas")
    avail = next(c for c in dep["status"]["conditions"] if c["type"] == "Available")
    assert avail["status"] == "False" and avail["reason"] == "MinimumReplicasUnavailable"
    assert any(m.startswith('Error creating: pods "app-') for m in _events(k8s, "locked",
                                                                            "FailedCreate"))


def test_statefulset_pods_are_ordinal_with_their_claims_and_daemonset_runs_per_node(
        k8s: Cluster) -> None:
    """StatefulSet pods are ``<name>-<ordinal>``, each with claims ``<template>-<pod>`` (of the
    default class, as DefaultStorageClass admits the controller's create); a DaemonSet runs one
    pod per eligible node.

    Source: https://kubernetes.io/docs/concepts/workloads/controllers/statefulset/ ("Pod
    Identity", "Stable Storage") and https://kubernetes.io/docs/concepts/workloads/controllers/
    daemonset/ ("ensures that all (or some) Nodes run a copy of a Pod").
    """
    _ns(k8s, "data")
    labels = {"app": "db"}
    assert k8s.http("POST", "/apis/apps/v1/namespaces/data/statefulsets", {
        "metadata": {"name": "db"},
        "spec": {"replicas": 2, "serviceName": "db", "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels}, "spec": RESTRICTED_POD},
                 "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
                     "accessModes": ["ReadWriteOnce"],
                     "resources": {"requests": {"storage": "1Gi"}}}}]}})[0] == 201
    assert k8s.http("POST", "/apis/apps/v1/namespaces/data/daemonsets", {
        "metadata": {"name": "agent"},
        "spec": {"selector": {"matchLabels": {"app": "agent"}},
                 "template": {"metadata": {"labels": {"app": "agent"}},
                              "spec": RESTRICTED_POD}}})[0] == 201
    wait(lambda: k8s.http("GET", "/apis/apps/v1/namespaces/data/statefulsets/db")[1][
        "status"].get("readyReplicas") == 2, "the StatefulSet ready")
    wait(lambda: k8s.http("GET", "/apis/apps/v1/namespaces/data/daemonsets/agent")[1][
        "status"].get("numberReady") == 3, "the DaemonSet on every node")
    pods = {p["metadata"]["name"]: p for p in _list(k8s, "/api/v1/namespaces/data/pods")}
    assert {"db-0", "db-1"} <= set(pods)
    assert pods["db-1"]["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"] == "db-1"
    claims = {c["metadata"]["name"]: c for c in
              _list(k8s, "/api/v1/namespaces/data/persistentvolumeclaims")}
    assert set(claims) == {"data-db-0", "data-db-1"}
    # Created through the API, so DefaultStorageClass gave them the default class; it binds
    # WaitForFirstConsumer, and each was bound on the node its pod was scheduled to.
    for pod in ("db-0", "db-1"):
        claim = claims[f"data-{pod}"]
        assert (claim["spec"]["storageClassName"], claim["status"]["phase"],
                claim["metadata"]["annotations"]["volume.kubernetes.io/selected-node"]) == (
            "ionos-enterprise-hdd", "Bound", pods[pod]["spec"]["nodeName"])
    agent_nodes = {p["spec"]["nodeName"] for n, p in pods.items() if n.startswith("agent-")}
    assert agent_nodes == {n["metadata"]["name"] for n in _list(k8s, "/api/v1/nodes")}


def test_no_nodes_means_no_running_pods(tmp_path: Path) -> None:
    """A cluster without nodes schedules nothing.

    Source: pkg/scheduler/schedule_one.go (ErrNoNodesAvailable: "no nodes available to
    schedule pods").
    """
    from sandbox.http import serve
    from sandbox.kubernetes import KubernetesService
    from sandbox.world import World

    svc = KubernetesService(World())
    server = serve(svc)
    svc.start_controllers()
    try:
        token = svc.world.kubernetes_token
        req = urllib.request.Request(
            f"{server.url}/api/v1/namespaces/default/pods", method="POST",
            data=json.dumps({"metadata": {"name": "p"}, "spec": RESTRICTED_POD}).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert json.loads(resp.read())["status"] == {"phase": "Pending",
                                                         "qosClass": "BestEffort"}

        def unschedulable() -> dict[str, Any] | None:
            pod = svc.store.get(("", "pods"), "default", "p") or {}
            return next((c for c in (pod.get("status") or {}).get("conditions") or []
                         if c["type"] == "PodScheduled"), None)

        cond = wait(unschedulable, "PodScheduled=False")
        assert cond["message"] == "no nodes available to schedule pods"
    finally:
        svc.stop()
        server.stop()


def test_admin_webhook_injects_a_sidecar_and_edits_come_from_another_manager(
        tmp_path: Path) -> None:
    """The admin API's mutating webhook adds a container to matching creates, and an edit made
    through it is recorded under the manager that made it (as ``kubectl scale`` would be).

    Source: https://kubernetes.io/docs/reference/access-authn-authz/extensible-admission-
    controllers/ (mutating webhooks change the object before it is stored) and
    https://kubernetes.io/docs/reference/using-api/server-side-apply/#field-management.
    """
    from sandbox.app import start_sandbox

    app = start_sandbox(timeout=60.0)
    try:
        admin = app.admin
        admin.add_nodes(count=2)
        admin.add_webhook(name="mesh.example", kinds=["Pod"],
                          namespaceSelector={"matchLabels": {"mesh": "on"}},
                          containers=[{"name": "proxy", "image": "example/proxy:1"}],
                          annotations={"mesh.example/injected": "true"})
        k8s = app.services["kubernetes"]
        api, reg = k8s.api, k8s.registry
        api.create(reg.by_gk("", "namespaces"), "",
                   {"metadata": {"name": "m", "labels": {"mesh": "on"}}}, "test")
        api.create(reg.by_gk("", "namespaces"), "", {"metadata": {"name": "plain"}}, "test")
        for ns in ("m", "plain"):
            api.create(reg.by_gk("apps", "deployments"), ns, _deployment("web", 1, RESTRICTED_POD),
                       "test")
        wait(lambda: len(k8s.store.select(("", "pods"), "m")) == 1, "a pod in m")
        wait(lambda: len(k8s.store.select(("", "pods"), "plain")) == 1, "a pod in plain")
        (meshed,) = k8s.store.select(("", "pods"), "m")
        (plain,) = k8s.store.select(("", "pods"), "plain")
        assert [c["name"] for c in meshed["spec"]["containers"]] == ["app", "proxy"]
        assert meshed["metadata"]["annotations"]["mesh.example/injected"] == "true"
        assert [c["name"] for c in plain["spec"]["containers"]] == ["app"]
        dep = k8s.store.get(("apps", "deployments"), "m", "web")
        assert [c["name"] for c in dep["spec"]["template"]["spec"]["containers"]] == ["app"]

        out = admin.edit("kubectl", "apps/v1", "Deployment", "web", {"spec": {"replicas": 3}},
                         namespace="m", subresource="scale")
        assert out["spec"]["replicas"] == 3
        managers = {f["manager"] for f in out["metadata"]["managedFields"]}
        assert "kubectl" in managers
        admin.clear_webhooks()
        assert app.admin._call("GET", "/kubernetes/webhooks") == {"webhooks": []}
    finally:
        app.stop()


def test_a_job_gets_its_generated_selector_and_one_of_another_uid_is_refused(
        k8s: Cluster) -> None:
    """Selector generation for Jobs (pkg/registry/batch/job/strategy.go generateSelector; the
    message from pkg/apis/batch/validation ValidateGeneratedSelector): a Job without a selector
    gets one on its uid, and the labels of its uid and name on its pod template; the same Job
    read back and created again elsewhere carries the old uid's selector and labels and is
    refused with "`selector` not auto-generated", as `kubectl get job -o yaml | kubectl create`
    into another namespace is."""
    _ns(k8s, "jobs-a")
    _ns(k8s, "jobs-b")
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "migrate"},
           "spec": {"suspend": True, "template": {"metadata": {"labels": {"app": "migrate"}},
                                                  "spec": {"restartPolicy": "Never",
                                                           **RESTRICTED_POD}}}}
    code, made = k8s.http("POST", "/apis/batch/v1/namespaces/jobs-a/jobs", job)
    assert code == 201, made
    uid = made["metadata"]["uid"]
    assert made["spec"]["selector"] == {
        "matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    assert made["spec"]["template"]["metadata"]["labels"] == {
        "app": "migrate", "controller-uid": uid, "job-name": "migrate",
        "batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": "migrate"}
    exported = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "migrate"},
                "spec": made["spec"]}
    code, refused = k8s.http("POST", "/apis/batch/v1/namespaces/jobs-b/jobs", exported)
    assert code == 422, refused
    fields = {c["field"]: c["message"] for c in refused["details"]["causes"]}
    assert fields["spec.selector"] == "Invalid value: `selector` not auto-generated"
    stale = fields["spec.template.metadata.labels[controller-uid]"]
    assert stale.startswith(f'Invalid value: "{uid}": must be \'') and stale.count(uid) == 1
    # Without them (as a restore drill sends it) the Job is created with a selector of its own.
    exported["spec"] = {k: v for k, v in made["spec"].items() if k != "selector"}
    exported["spec"]["template"] = {"metadata": {"labels": {"app": "migrate"}},
                                    "spec": made["spec"]["template"]["spec"]}
    code, again = k8s.http("POST", "/apis/batch/v1/namespaces/jobs-b/jobs", exported)
    assert code == 201, again
    assert again["spec"]["selector"]["matchLabels"] == {
        "batch.kubernetes.io/controller-uid": again["metadata"]["uid"]}


def test_a_job_or_cron_job_must_not_restart_its_pods_always(k8s: Cluster) -> None:
    """pkg/apis/batch/validation/validation.go validateJobSpec (v1.31+; a CronJob's through
    ValidateCronJobSpec -> validateJobTemplateSpec): the template's restartPolicy must be
    OnFailure or Never. An omitted one is defaulted to Always by SetDefaults_PodSpec before
    validation, so both are refused with field.Required ("valid values"); any other value with
    field.NotSupported. Asked through the kubernetes SDK, as the product's clients do."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    batch = client.BatchV1Api(k8s.api_client())

    def pod(policy: str | None) -> client.V1PodTemplateSpec:
        return client.V1PodTemplateSpec(spec=client.V1PodSpec(
            restart_policy=policy, containers=[client.V1Container(name="c", image="img")]))

    def job(name: str, policy: str | None) -> client.V1Job:
        return client.V1Job(metadata=client.V1ObjectMeta(name=name),
                            spec=client.V1JobSpec(template=pod(policy), suspend=True))

    def cron_job(name: str, policy: str | None) -> client.V1CronJob:
        return client.V1CronJob(metadata=client.V1ObjectMeta(name=name), spec=client.V1CronJobSpec(
            schedule="0 3 * * *", suspend=True,
            job_template=client.V1JobTemplateSpec(spec=client.V1JobSpec(template=pod(policy)))))

    def refused(call: Callable[[], Any]) -> tuple[str, list[tuple[str, str, str]]]:
        with pytest.raises(ApiException) as exc:
            call()
        assert exc.value.status == 422, exc.value.body
        status = json.loads(exc.value.body)
        assert status["reason"] == "Invalid"
        return status["message"], [(c["reason"], c["field"], c["message"])
                                   for c in status["details"]["causes"]]

    required = 'Required value: valid values: "OnFailure", "Never"'
    path = "spec.template.spec.restartPolicy"
    for name, policy in (("unset", None), ("always", "Always")):
        message, found = refused(lambda n=name, p=policy: batch.create_namespaced_job(
            "default", job(n, p)))
        assert message == f'Job.batch "{name}" is invalid: {path}: {required}'
        assert found == [("FieldValueRequired", path, required)]
    message, found = refused(lambda: batch.create_namespaced_job("default", job("odd", "Odd")))
    assert found == [("FieldValueNotSupported", path,
                      'Unsupported value: "Odd": supported values: "OnFailure", "Never"')]
    cron_path = f"spec.jobTemplate.{path}"
    for name, policy in (("nightly", None), ("hourly", "Always")):
        message, found = refused(lambda n=name, p=policy: batch.create_namespaced_cron_job(
            "default", cron_job(n, p)))
        assert message == f'CronJob.batch "{name}" is invalid: {cron_path}: {required}'
        assert found == [("FieldValueRequired", cron_path, required)]
    for policy in ("OnFailure", "Never"):
        name = policy.lower()
        made = batch.create_namespaced_job("default", job(name, policy))
        assert made.spec.template.spec.restart_policy == policy
        made_cron = batch.create_namespaced_cron_job("default", cron_job(name, policy))
        assert made_cron.spec.job_template.spec.template.spec.restart_policy == policy
    assert sorted(j.metadata.name for j in batch.list_namespaced_job("default").items) == [
        "never", "onfailure"]


def test_a_deleted_job_pod_fails_a_job_without_retries_and_is_replaced_with_them(
        k8s: Cluster) -> None:
    """A pod deleted before it finished (a drain's eviction) counts as failed: ``isPodFailed``
    (pkg/controller/job/job_controller.go, v1.34: "Count deleted Pods as failures to account
    for orphan Pods that never have a chance to reach the Failed phase"; the pods' finalizer
    ``batch.kubernetes.io/job-tracking`` keeps one until it is counted). With ``backoffLimit:
    0`` the Job is Failed (BackoffLimitExceeded) and no pod replaces it; with retries left a
    new pod is created."""
    _ns(k8s, "drained")
    pod_spec = {"restartPolicy": "Never", "nodeSelector": {"kubernetes.io/hostname": "none"},
                **RESTRICTED_POD}

    def job(name: str, retries: int) -> dict[str, Any]:
        return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
                "spec": {"backoffLimit": retries, "template": {"spec": pod_spec}}}

    def pods(name: str) -> list[str]:
        return [p["metadata"]["name"] for p in _list(k8s, "/api/v1/namespaces/drained/pods")
                if p["metadata"]["labels"].get("job-name") == name]

    for name, retries in (("once", 0), ("again", 1)):
        assert k8s.http("POST", "/apis/batch/v1/namespaces/drained/jobs",
                        job(name, retries))[0] == 201
        first = wait(lambda n=name: pods(n), f"the pod of Job {name}")[0]  # type: ignore[misc]
        code, body = k8s.http("DELETE", f"/api/v1/namespaces/drained/pods/{first}")
        assert code == 200, body
    failed = wait(lambda: next((c for c in (k8s.http(
        "GET", "/apis/batch/v1/namespaces/drained/jobs/once")[1].get("status") or {}).get(
        "conditions") or [] if c["type"] == "Failed"), None), "Job once to fail")
    assert failed["status"] == "True" and failed["reason"] == "BackoffLimitExceeded"
    assert pods("once") == []
    replaced = wait(lambda: pods("again"), "a new pod of Job again")
    assert len(replaced) == 1 and replaced[0] != first
    assert not any(c["type"] == "Failed" for c in (k8s.http(
        "GET", "/apis/batch/v1/namespaces/drained/jobs/again")[1].get("status") or {}).get(
        "conditions") or [])


def test_a_replication_controller_is_defaulted_validated_and_keeps_its_pods(
        k8s: Cluster) -> None:
    """A ReplicationController without selector or labels takes its template's labels for both
    and 1 replica (pkg/apis/core/v1/defaults.go SetDefaults_ReplicationController; replicas
    ``+default=1``); a selector that does not match the template, a restartPolicy other than
    Always and a negative count are refused with pkg/apis/core/validation's causes
    (ValidateReplicationControllerSpec, ValidatePodTemplateSpecForRC); the replication manager,
    which is the ReplicaSet controller over this kind (pkg/controller/replication), keeps
    ``replicas`` pods with a controller ownerReference and counts them in the status."""
    _ns(k8s, "legacy")
    path = "/api/v1/namespaces/legacy/replicationcontrollers"
    template = {"metadata": {"labels": {"app": "legacy"}}, "spec": RESTRICTED_POD}
    code, made = k8s.http("POST", path, {"apiVersion": "v1", "kind": "ReplicationController",
                                         "metadata": {"name": "legacy"},
                                         "spec": {"template": template}})
    assert code == 201, made
    assert made["spec"]["selector"] == {"app": "legacy"} and made["spec"]["replicas"] == 1
    assert made["metadata"]["labels"] == {"app": "legacy"}
    bad = {"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": "bad"},
           "spec": {"replicas": -1, "selector": {"app": "other"},
                    "template": {**template, "spec": {**RESTRICTED_POD,
                                                      "restartPolicy": "OnFailure"}}}}
    code, refused = k8s.http("POST", path, bad)
    assert code == 422, refused
    causes = {c["field"]: c["message"] for c in refused["details"]["causes"]}
    assert causes == {
        "spec.replicas": "Invalid value: -1: must be greater than or equal to 0",
        "spec.template.metadata.labels": 'Invalid value: map[string]string{"app":"legacy"}: '
                                         "`selector` does not match template `labels`",
        "spec.template.spec.restartPolicy": 'Unsupported value: "OnFailure": supported '
                                            'values: "Always"'}
    no_template = {"apiVersion": "v1", "kind": "ReplicationController",
                   "metadata": {"name": "empty"}, "spec": {"selector": {"app": "x"}}}
    code, refused = k8s.http("POST", path, no_template)
    assert code == 422 and refused["details"]["causes"] == [
        {"reason": "FieldValueRequired", "message": "Required value", "field": "spec.template"}]

    def counted() -> dict[str, Any] | None:
        rc = k8s.http("GET", f"{path}/legacy")[1]
        return rc if rc["status"].get("readyReplicas") == 1 else None

    rc = wait(counted, "1 ready replica")
    assert rc["status"]["replicas"] == 1 and rc["status"]["observedGeneration"] == 1
    (pod,) = _list(k8s, "/api/v1/namespaces/legacy/pods")
    assert pod["metadata"]["name"].startswith("legacy-")
    ref = pod["metadata"]["ownerReferences"][0]
    assert (ref["apiVersion"], ref["kind"], ref["uid"], ref["controller"]) == (
        "v1", "ReplicationController", made["metadata"]["uid"], True)
    code, scaled = k8s.http("PATCH", f"{path}/legacy", {"spec": {"replicas": 0}},
                            "application/merge-patch+json")
    assert code == 200, scaled
    wait(lambda: not _list(k8s, "/api/v1/namespaces/legacy/pods"), "the pod to go")


DISRUPTION_RULE = {"action": "FailJob",
                   "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}


def _job_status(k8s: Cluster, ns: str, name: str) -> dict[str, Any]:
    return dict(k8s.http("GET", f"/apis/batch/v1/namespaces/{ns}/jobs/{name}")[1].get(
        "status") or {})


def _conditions(k8s: Cluster, ns: str, name: str) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in _job_status(k8s, ns, name).get("conditions") or []}


def test_pod_failure_policy_fails_the_job_on_an_eviction_ignores_or_counts_as_told(
        k8s: Cluster) -> None:
    """The Job controller with a podFailurePolicy (kubernetes pkg/controller/job
    pod_failure_policy.go matchPodFailurePolicy, job_controller.go syncJob and
    trackJobStatusAndRemoveFinalizers, v1.31): its pods carry the ``batch.kubernetes.io/
    job-tracking`` finalizer, so an evicted pod (the Eviction API sets DisruptionTarget,
    eviction.go addConditionAndDeletePod) is still there, Failed (PodGC
    gcUnscheduledTerminating marks an unscheduled one), when the controller counts it; a
    FailJob rule fails the Job with FailureTarget then Failed, reason PodFailurePolicy, message
    "Pod NS/NAME has condition DisruptionTarget matching FailJob rule at index 0", and a Warning
    event of that reason; an Ignore rule does not count the failure and the pod is replaced;
    without a matching rule a plain delete counts towards backoffLimit; an exit code rule
    names the container and its code."""
    _ns(k8s, "policy")
    pending = {"restartPolicy": "Never", "nodeSelector": {"kubernetes.io/hostname": "none"},
               **RESTRICTED_POD}

    def job(name: str, rules: list[dict[str, Any]], pod: dict[str, Any],
            annotations: dict[str, str] | None = None) -> None:
        body = {"apiVersion": "batch/v1", "kind": "Job",
                "metadata": {"name": name, "annotations": annotations or {}},
                "spec": {"backoffLimit": 0, "podFailurePolicy": {"rules": rules},
                         "template": {"spec": pod}}}
        code, made = k8s.http("POST", "/apis/batch/v1/namespaces/policy/jobs", body)
        assert code == 201, made

    def pods(name: str) -> list[dict[str, Any]]:
        return [p for p in _list(k8s, "/api/v1/namespaces/policy/pods")
                if p["metadata"]["labels"].get("job-name") == name]

    def evict(pod: str) -> None:
        code, out = k8s.http("POST", f"/api/v1/namespaces/policy/pods/{pod}/eviction",
                             {"apiVersion": "policy/v1", "kind": "Eviction",
                              "metadata": {"name": pod, "namespace": "policy"}})
        assert code == 201, out

    job("evicted", [DISRUPTION_RULE], pending)
    job("ignored", [{**DISRUPTION_RULE, "action": "Ignore"}], pending)
    job("deleted", [DISRUPTION_RULE], pending)
    job("exits", [DISRUPTION_RULE, {"action": "FailJob", "onExitCodes": {
        "containerName": "app", "operator": "In", "values": [3, 42]}}],
        {**RESTRICTED_POD, "restartPolicy": "Never"},
        {"sandbox.platform-ops/exit-code": "3"})
    first = {n: wait(lambda n=n: pods(n), f"the pod of Job {n}")[0]  # type: ignore[misc]
             for n in ("evicted", "ignored", "deleted")}
    assert all(p["metadata"]["finalizers"] == ["batch.kubernetes.io/job-tracking"]
               for p in first.values())
    evict(first["evicted"]["metadata"]["name"])
    evict(first["ignored"]["metadata"]["name"])
    assert k8s.http("DELETE", "/api/v1/namespaces/policy/pods/"
                    f"{first['deleted']['metadata']['name']}")[0] == 200

    failed = wait(lambda: _conditions(k8s, "policy", "evicted").get("Failed"),
                  "Job evicted to fail")
    target = _conditions(k8s, "policy", "evicted")["FailureTarget"]
    said = (f"Pod policy/{first['evicted']['metadata']['name']} has condition "
            "DisruptionTarget matching FailJob rule at index 0")
    for cond in (target, failed):
        assert (cond["status"], cond["reason"], cond["message"]) == (
            "True", "PodFailurePolicy", said)
    assert _job_status(k8s, "policy", "evicted")["failed"] == 1 and pods("evicted") == []
    assert said in _events(k8s, "policy", "PodFailurePolicy")

    replaced = wait(lambda: [p for p in pods("ignored") if p["metadata"]["uid"]
                             != first["ignored"]["metadata"]["uid"]], "a new pod of ignored")
    assert len(replaced) == 1
    assert _job_status(k8s, "policy", "ignored").get("failed", 0) == 0
    assert "Failed" not in _conditions(k8s, "policy", "ignored")

    deleted = wait(lambda: _conditions(k8s, "policy", "deleted").get("Failed"),
                   "Job deleted to fail")
    assert deleted["reason"] == "BackoffLimitExceeded"

    exits = wait(lambda: _conditions(k8s, "policy", "exits").get("Failed"), "Job exits to fail")
    pod = wait(lambda: pods("exits"), "the failed pod of exits")[0]
    assert exits["reason"] == "PodFailurePolicy" and exits["message"] == (
        f"Container app for pod policy/{pod['metadata']['name']} failed with exit code 3 "
        "matching FailJob rule at index 1")
    # Counted, the finished pod loses the finalizer and stays, Failed.
    assert pod["status"]["phase"] == "Failed" and not pod["metadata"].get("finalizers")


def test_pod_failure_policy_is_validated_and_defaulted_on_create_and_update(
        k8s: Cluster) -> None:
    """pkg/apis/batch/validation/validation.go (v1.31) validatePodFailurePolicy and its rule,
    onExitCodes and onPodConditions checks, the restartPolicy check of validateJobSpec and
    validatePodReplacementPolicy, answered as a 422 with each field's path; defaulting from
    pkg/apis/batch/v1/defaults.go SetDefaults_Job (a pattern's status True,
    podReplacementPolicy Failed with a policy)."""
    _ns(k8s, "rules")
    pod = {"restartPolicy": "Never", **RESTRICTED_POD}

    def post(rules: Any, template: dict[str, Any] = pod,
             **spec: Any) -> tuple[int, dict[str, Any]]:
        return k8s.http("POST", "/apis/batch/v1/namespaces/rules/jobs", {
            "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"},
            "spec": {"suspend": True, "podFailurePolicy": {"rules": rules},
                     "template": {"spec": template}, **spec}})

    def causes(out: dict[str, Any]) -> dict[str, str]:
        return {c["field"]: c["message"] for c in out["details"]["causes"]}

    code, out = post([
        {"action": "Retry", "onPodConditions": [{"type": "Disruption Target"}]},
        {"onExitCodes": {"operator": "Within", "values": []}},
        {"action": "FailJob", "onExitCodes": {"containerName": "sidecar", "operator": "In",
                                              "values": [0, 5, 5, 1]}},
        {"action": "FailIndex", "onExitCodes": {"operator": "NotIn", "values": [1]},
         "onPodConditions": [{"type": "DisruptionTarget", "status": "Maybe"}]},
        {"action": "Count"}])
    assert code == 422, out
    base = "spec.podFailurePolicy.rules"
    assert causes(out) == {
        f"{base}[0].action": 'Unsupported value: "Retry": supported values: "Count", '
                            '"FailIndex", "FailJob", "Ignore"',
        f"{base}[0].onPodConditions[0].type": 'Invalid value: "Disruption Target": name part '
        "must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
        "with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex "
        "used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
        f"{base}[1].action": 'Required value: valid values: ["Count" "FailIndex" "FailJob" '
                             '"Ignore"]',
        f"{base}[1].onExitCodes.operator": 'Unsupported value: "Within": supported values: '
                                           '"In", "NotIn"',
        f"{base}[1].onExitCodes.values": "Invalid value: []int32{}: at least one value is "
                                         "required",
        f"{base}[2].onExitCodes.containerName": 'Invalid value: "sidecar": must be one of the '
        "container or initContainer names in the pod template",
        f"{base}[2].onExitCodes.values[0]": "Invalid value: 0: must not be 0 for the In "
                                            "operator",
        f"{base}[2].onExitCodes.values[2]": "Duplicate value: 5",
        f"{base}[2].onExitCodes.values": "Invalid value: []int32{0, 5, 5, 1}: must be ordered",
        f"{base}[3].action": 'Invalid value: "FailIndex": requires the backoffLimitPerIndex to '
                             "be set",
        f"{base}[3].onPodConditions[0].status": 'Unsupported value: "Maybe": supported '
                                                'values: "False", "True", "Unknown"',
        f"{base}[3]": "Invalid value: specifying both OnExitCodes and OnPodConditions is not "
                      "supported",
        f"{base}[4]": "Invalid value: specifying one of OnExitCodes and OnPodConditions is "
                      "required"}
    assert out["message"].startswith('Job.batch "j" is invalid: [')
    code, out = post([DISRUPTION_RULE] * 21)
    assert code == 422 and causes(out) == {base: "Too many: 21: must have at most 20 items"}
    code, out = post([DISRUPTION_RULE], {**pod, "restartPolicy": "OnFailure"})
    assert code == 422 and causes(out) == {"spec.template.spec.restartPolicy": 'Invalid value: '
                                           '"OnFailure": only "Never" is supported when '
                                           "podFailurePolicy is specified"}
    code, out = post([DISRUPTION_RULE], RESTRICTED_POD)  # restartPolicy defaults to Always
    assert code == 422 and causes(out) == {"spec.template.spec.restartPolicy": 'Required '
                                           'value: valid values: "OnFailure", "Never"'}
    code, out = post([DISRUPTION_RULE], pod, podReplacementPolicy="TerminatingOrFailed")
    assert code == 422 and causes(out) == {"spec.podReplacementPolicy": 'Unsupported value: '
                                           '"TerminatingOrFailed": supported values: "Failed"'}

    code, made = post([{"action": "FailJob", "onPodConditions": [{"type": "DisruptionTarget"}]}])
    assert code == 201, made
    assert made["spec"]["podFailurePolicy"] == {"rules": [DISRUPTION_RULE]}
    assert made["spec"]["podReplacementPolicy"] == "Failed"
    # An update is validated too: podReplacementPolicy may change, but not to this.
    made["spec"]["podReplacementPolicy"] = "TerminatingOrFailed"
    code, out = k8s.http("PUT", "/apis/batch/v1/namespaces/rules/jobs/j", made)
    assert code == 422 and causes(out) == {"spec.podReplacementPolicy": 'Unsupported value: '
                                           '"TerminatingOrFailed": supported values: "Failed"'}
