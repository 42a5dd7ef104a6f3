"""Deployment rollouts step by step, and writes through ``/scale`` recorded as the subresource.

Sources: https://kubernetes.io/docs/concepts/workloads/controllers/deployment/
#rolling-update-deployment ("Max Unavailable", "Max Surge": "ensures that at least 75% of the
desired number of Pods are up ... at most 125%"), kubernetes pkg/controller/deployment/
rolling.go (NewRSNewReplicas, reconcileOldReplicaSets) and recreate.go ("Recreate": all
existing Pods are killed before new ones are created); for ``/scale``:
https://kubernetes.io/docs/reference/using-api/server-side-apply/#field-management
(managedFields ``subresource``) and the apiserver's scale handler, which records a write to
``/scale`` under ``subresource: scale`` with the parent's ``spec.replicas``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_sandbox_k8s_workloads import RESTRICTED_POD, _deployment, wait
from tests.integration.test_sandbox_kubernetes import Cluster, _start

pytestmark = pytest.mark.integration
DEPLOYMENTS = "/apis/apps/v1/namespaces/default/deployments"


@pytest.fixture
def k8s(tmp_path: Path) -> Iterator[Cluster]:
    yield from _start(tmp_path)


def _available(k8s: Cluster, name: str, want: int) -> bool:
    status = k8s.http("GET", f"{DEPLOYMENTS}/{name}")[1].get("status") or {}
    return status.get("availableReplicas") == want and status.get("updatedReplicas") == want \
        and status.get("replicas") == want


def _rollout_states(k8s: Cluster, name: str, strategy: dict[str, Any],
                    want: int) -> list[dict[str, dict[str, int]]]:
    """Create the Deployment, wait until it is available, change its image, and return every
    state of its ReplicaSets the watch saw: {rs name: {spec, status, available}}."""
    from kubernetes import client, watch

    body = _deployment(name, want, json.loads(json.dumps(RESTRICTED_POD)))
    body["spec"]["strategy"] = strategy
    assert k8s.http("POST", DEPLOYMENTS, body)[0] == 201
    wait(lambda: _available(k8s, name, want), "the first rollout")
    apps = client.AppsV1Api(k8s.api_client())
    listed = apps.list_namespaced_replica_set("default")
    ours = f"{name}-"
    state = {r.metadata.name: {"spec": r.spec.replicas, "status": r.status.replicas or 0,
                               "available": r.status.available_replicas or 0}
             for r in listed.items if r.metadata.name.startswith(ours)}
    states = [json.loads(json.dumps(state))]
    done = threading.Event()

    def follow() -> None:
        for ev in watch.Watch().stream(apps.list_namespaced_replica_set, "default",
                                       resource_version=listed.metadata.resource_version,
                                       timeout_seconds=20):
            r = ev["object"]
            if not r.metadata.name.startswith(ours):
                continue
            state[r.metadata.name] = {"spec": r.spec.replicas, "status": r.status.replicas or 0,
                                      "available": r.status.available_replicas or 0}
            states.append(json.loads(json.dumps(state)))
            if done.is_set():
                return

    thread = threading.Thread(target=follow, daemon=True)
    thread.start()
    code, _ = k8s.http("PATCH", f"{DEPLOYMENTS}/{name}", {"spec": {"template": {"spec": {
        "containers": [{"name": "app", "image": "example/app:2"}]}}}},
        content_type="application/strategic-merge-patch+json")
    assert code == 200
    wait(lambda: len(states) > 1 and _available(k8s, name, want) and
         sum(1 for s in states[-1].values() if s["spec"]) == 1, "the second rollout",
         timeout=20)
    done.set()
    # An event on one of ours wakes the watch up to end it. An annotation on the Deployment did
    # not: the sandbox's deployment controller does not copy Deployment annotations to the
    # ReplicaSet (kube's SetNewReplicaSetAnnotations does), so the watch ran out its 20 s.
    code, _ = k8s.http("PATCH", f"/apis/apps/v1/namespaces/default/replicasets/"
                       f"{next(iter(states[-1]))}", {"metadata": {"annotations": {"x": "y"}}},
                       content_type="application/merge-patch+json")
    assert code == 200
    thread.join(timeout=25)
    assert not thread.is_alive()
    return states


def test_rolling_update_keeps_within_max_surge_and_max_unavailable(k8s: Cluster) -> None:
    states = _rollout_states(k8s, "surge", {"type": "RollingUpdate", "rollingUpdate": {
        "maxSurge": 1, "maxUnavailable": 0}}, 3)
    new = next(n for n in states[-1] if n not in states[0])
    assert all(sum(r["spec"] for r in s.values()) <= 4 for s in states)  # replicas + maxSurge
    assert all(sum(r["available"] for r in s.values()) >= 3 for s in states)  # - maxUnavailable
    steps = [s[new]["spec"] for s in states if new in s]
    assert sorted(set(steps)) == [1, 2, 3] and steps == sorted(steps)
    old = next(iter(states[0]))
    assert [v for i, v in enumerate(s[old]["spec"] for s in states)
            if i == 0 or v != states[i - 1][old]["spec"]] == [3, 2, 1, 0]


def test_max_unavailable_without_surge_and_recreate(k8s: Cluster) -> None:
    states = _rollout_states(k8s, "nosurge", {"type": "RollingUpdate", "rollingUpdate": {
        "maxSurge": 0, "maxUnavailable": 1}}, 3)
    assert all(sum(r["spec"] for r in s.values()) <= 3 for s in states)
    assert all(sum(r["available"] for r in s.values()) >= 2 for s in states)
    new = next(n for n in states[-1] if n not in states[0])
    assert next(s[new]["spec"] for s in states if new in s) == 0  # created at 0: no room

    states = _rollout_states(k8s, "recreate", {"type": "Recreate"}, 2)
    old_names = list(states[0])
    first_new = next(s for s in states if any(n not in old_names for n in s))
    assert all(first_new[o]["spec"] == 0 and first_new[o]["status"] == 0 for o in old_names)


def test_scale_subresource_writes_are_recorded_as_the_subresource(k8s: Cluster) -> None:
    assert k8s.http("POST", DEPLOYMENTS, _deployment(
        "scaled", 1, json.loads(json.dumps(RESTRICTED_POD))))[0] == 201
    k8s.kubectl("scale", "deployment", "scaled", "--replicas=2")
    dep = k8s.http("GET", f"{DEPLOYMENTS}/scaled")[1]
    entry = next(m for m in dep["metadata"]["managedFields"] if m.get("subresource") == "scale")
    assert entry["operation"] == "Update"
    assert entry["fieldsV1"] == {"f:spec": {"f:replicas": {}}}
    assert dep["spec"]["replicas"] == 2

    apply = {"apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": {"name": "scaled"},
             "spec": {"replicas": 3}}
    code, conflict = k8s.http("PATCH", f"{DEPLOYMENTS}/scaled/scale?fieldManager=autoscaler",
                              apply, content_type="application/apply-patch+yaml")
    assert code == 409 and conflict["reason"] == "Conflict"  # kubectl's Update owns replicas
    code, scale = k8s.http("PATCH",
                           f"{DEPLOYMENTS}/scaled/scale?fieldManager=autoscaler&force=true",
                           apply, content_type="application/apply-patch+yaml")
    assert code == 200 and scale["kind"] == "Scale" and scale["spec"]["replicas"] == 3
    dep = k8s.http("GET", f"{DEPLOYMENTS}/scaled")[1]
    applied = next(m for m in dep["metadata"]["managedFields"]
                   if m["manager"] == "autoscaler")
    assert (applied["operation"], applied["subresource"]) == ("Apply", "scale")
    assert applied["fieldsV1"] == {"f:spec": {"f:replicas": {}}}
    # The forced apply took the field from the Update.
    assert not any(m.get("subresource") == "scale" and m["operation"] == "Update"
                   for m in dep["metadata"]["managedFields"])


def test_a_stuck_rollout_exceeds_its_progress_deadline(k8s: Cluster) -> None:
    """A rollout whose new pods cannot be scheduled stops moving; after
    ``progressDeadlineSeconds`` the Progressing condition is False with reason
    ProgressDeadlineExceeded and 'ReplicaSet "<name>" has timed out progressing.'
    (https://kubernetes.io/docs/concepts/workloads/controllers/deployment/
    #failed-deployment; deployment/util ``TimedOutReason``)."""
    body = _deployment("stuck", 1, json.loads(json.dumps(RESTRICTED_POD)))
    body["spec"]["progressDeadlineSeconds"] = 2
    assert k8s.http("POST", DEPLOYMENTS, body)[0] == 201
    wait(lambda: _available(k8s, "stuck", 1), "the first rollout")
    code, _ = k8s.http("PATCH", f"{DEPLOYMENTS}/stuck", {"spec": {"template": {"spec": {
        "nodeSelector": {"example.com/none": "x"}}}}},
        content_type="application/strategic-merge-patch+json")
    assert code == 200

    def progressing() -> dict[str, Any]:
        conds = k8s.http("GET", f"{DEPLOYMENTS}/stuck")[1]["status"]["conditions"]
        return next(c for c in conds if c["type"] == "Progressing")

    cond = wait(lambda: (c := progressing())["status"] == "False" and c, "the deadline",
                timeout=15)
    rs = next(r for r in k8s.http("GET", "/apis/apps/v1/namespaces/default/replicasets")[1][
        "items"] if r["spec"]["template"]["spec"].get("nodeSelector"))
    assert cond["reason"] == "ProgressDeadlineExceeded"
    assert cond["message"] == f'ReplicaSet "{rs["metadata"]["name"]}" has timed out progressing.'
    assert _available(k8s, "stuck", 1) is False  # the old pod still serves; the rollout failed
