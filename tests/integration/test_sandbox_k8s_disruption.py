"""PodDisruptionBudgets in the sandbox cluster: the disruption controller's status, the
``pods/eviction`` subresource, and the real ``kubectl drain`` against both.

Sources (named again at each test):
- [eviction] kubernetes pkg/registry/core/pod/storage/eviction.go (v1.32): ``canIgnorePDB``,
  the Failure Status of code 500 for several PDBs (written with the HTTP 201 of
  k8s.io/apiserver pkg/endpoints/handlers/create.go, which only fills a Status's missing
  code; client-go's ``Result.Error()`` then sees no error), ``checkAndDecrement`` (429
  TooManyRequests with the ``DisruptionBudget`` cause "The disruption budget NAME needs X
  healthy pods and has Y currently"; "... is still being processed by the server." while the
  PDB's observedGeneration is stale), the unhealthy pod rules (``unhealthyPodEvictionPolicy``), the
  DisruptionTarget condition (``addConditionAndDeletePod``), a 201 Success Status.
- [controller] kubernetes pkg/controller/disruption/disruption.go (``getExpectedPodCount``,
  ``getExpectedScale``, ``countHealthyPods``, ``updatePdbStatus``, ``failSafe``) and
  k8s.io/component-helpers apps/poddisruptionbudget/helpers.go (the DisruptionAllowed
  condition: SufficientPods / InsufficientPods / SyncFailed).
- [drain] k8s.io/kubectl pkg/drain (drain.go ``CheckEvictionSupport`` reads ``pods/eviction``
  from the v1 discovery, ``EvictPod`` posts a policy/v1 Eviction, a 429 is retried every 5 s
  until ``--timeout``; filters.go skips DaemonSet pods with ``--ignore-daemonsets``) and
  https://kubernetes.io/docs/tasks/administer-cluster/safely-drain-node/.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_sandbox_k8s_workloads import wait
from tests.integration.test_sandbox_kubernetes import Cluster, _start

pytestmark = pytest.mark.integration

PDBS = "/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets"
POD = {"containers": [{"name": "app", "image": "example/app:1"}]}


@pytest.fixture
def k8s(tmp_path: Path) -> Iterator[Cluster]:
    yield from _start(tmp_path)




def _ns(k8s: Cluster, name: str) -> None:
    assert k8s.http("POST", "/api/v1/namespaces", {"metadata": {"name": name}})[0] == 201


def _workload(k8s: Cluster, ns: str, kind: str, name: str, replicas: int | None,
              node: str | None = None) -> None:
    labels = {"app": name}
    pod: dict[str, Any] = dict(POD)
    if node:
        pod["nodeSelector"] = {"kubernetes.io/hostname": node}
    spec: dict[str, Any] = {"selector": {"matchLabels": labels},
                            "template": {"metadata": {"labels": labels}, "spec": pod}}
    if replicas is not None:
        spec["replicas"] = replicas
    plural = kind.lower() + "s"
    code, body = k8s.http("POST", f"/apis/apps/v1/namespaces/{ns}/{plural}", {
        "apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name}, "spec": spec})
    assert code == 201, body


def _pdb(k8s: Cluster, ns: str, name: str, app: str, **spec: Any) -> None:
    code, body = k8s.http("POST", PDBS.format(ns=ns), {
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": name},
        "spec": {"selector": {"matchLabels": {"app": app}}, **spec}})
    assert code == 201, body


def _status(k8s: Cluster, ns: str, name: str) -> dict[str, Any]:
    code, body = k8s.http("GET", f"{PDBS.format(ns=ns)}/{name}")
    assert code == 200, body
    return dict(body.get("status") or {})


def _settled(k8s: Cluster, ns: str, name: str, **want: Any) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        status = _status(k8s, ns, name)
        return status if all(status.get(k) == v for k, v in want.items()) else None

    return dict(wait(check, f"PDB {ns}/{name} status {want}"))


def _pods(k8s: Cluster, ns: str, app: str) -> list[dict[str, Any]]:
    code, body = k8s.http("GET", f"/api/v1/namespaces/{ns}/pods?labelSelector=app%3D{app}")
    assert code == 200, body
    return list(body["items"])


def _running(k8s: Cluster, ns: str, app: str, n: int) -> list[dict[str, Any]]:
    def check() -> list[dict[str, Any]] | None:
        pods = [p for p in _pods(k8s, ns, app) if p["status"].get("phase") == "Running"]
        return pods if len(pods) == n else None

    return list(wait(check, f"{n} running pods of {app}"))


def _evict(k8s: Cluster, ns: str, pod: str, query: str = "", **extra: Any) -> tuple[int, Any]:
    return k8s.http("POST", f"/api/v1/namespaces/{ns}/pods/{pod}/eviction{query}", {
        "apiVersion": "policy/v1", "kind": "Eviction",
        "metadata": {"name": pod, "namespace": ns}, **extra})


def test_disruption_controller_counts_budgets_from_the_controllers_scale(k8s: Cluster) -> None:
    """maxUnavailable and percentage minAvailable are scaled (rounded up) against the owning
    controller's replicas, integer minAvailable against the matching pods; disruptionsAllowed
    is currentHealthy - desiredHealthy, with the DisruptionAllowed condition; pods of a
    controller without a scale subresource fail the sync.

    Source: [controller] disruption.go getExpectedPodCount / getExpectedScale (a DaemonSet's
    pods: "daemonsets.apps does not implement the scale subresource") / updatePdbStatus /
    failSafe (SyncFailed); component-helpers UpdateDisruptionAllowedCondition.
    """
    _ns(k8s, "d")
    _workload(k8s, "d", "Deployment", "web", 3)
    _workload(k8s, "d", "DaemonSet", "agent", None)
    _pdb(k8s, "d", "max1", "web", maxUnavailable=1)
    status = _settled(k8s, "d", "max1", currentHealthy=3)
    assert {k: status[k] for k in ("observedGeneration", "expectedPods", "desiredHealthy",
                                   "disruptionsAllowed")} == {
        "observedGeneration": 1, "expectedPods": 3, "desiredHealthy": 2,
        "disruptionsAllowed": 1}
    (cond,) = status["conditions"]
    assert (cond["type"], cond["status"], cond["reason"], cond["message"],
            cond["observedGeneration"]) == ("DisruptionAllowed", "True", "SufficientPods", "", 1)
    # 34% of 3 is 1.02: rounded up, 2 pods must stay; then a spec change is observed.
    code, body = k8s.http("PATCH", f"{PDBS.format(ns='d')}/max1",
                          {"spec": {"maxUnavailable": None, "minAvailable": "34%"}},
                          "application/merge-patch+json")
    assert code == 200 and body["metadata"]["generation"] == 2, body
    status = _settled(k8s, "d", "max1", observedGeneration=2)
    assert (status["desiredHealthy"], status["disruptionsAllowed"]) == (2, 1)
    _pdb(k8s, "d", "all", "web", minAvailable=3)
    status = _settled(k8s, "d", "all", currentHealthy=3)
    assert (status["expectedPods"], status["desiredHealthy"], status["disruptionsAllowed"]) == (
        3, 3, 0)
    assert status["conditions"][0]["reason"] == "InsufficientPods"
    _pdb(k8s, "d", "agents", "agent", maxUnavailable="50%")
    status = _settled(k8s, "d", "agents", disruptionsAllowed=0)
    (cond,) = wait(lambda: _status(k8s, "d", "agents").get("conditions"), "a condition")
    assert (cond["status"], cond["reason"], cond["message"]) == (
        "False", "SyncFailed", "daemonsets.apps does not implement the scale subresource")


def test_eviction_checks_and_decrements_the_budget(k8s: Cluster) -> None:
    """An eviction the budget allows decrements disruptionsAllowed, records the pod in
    disruptedPods, marks the pod DisruptionTarget and deletes it (201 Success); one it does not
    allow is a 429 naming the budget; a dry run changes nothing; several matching PDBs are a
    Failure Status of code 500 in an HTTP 201; a pod no PDB selects is deleted.

    Source: [eviction] Create, checkAndDecrement, getPodDisruptionBudgets,
    addConditionAndDeletePod.
    """
    _ns(k8s, "e")
    _workload(k8s, "e", "Deployment", "web", 3)
    pods = _running(k8s, "e", "web", 3)
    _pdb(k8s, "e", "web", "web", minAvailable=3)
    _settled(k8s, "e", "web", currentHealthy=3, disruptionsAllowed=0)
    victim = pods[0]["metadata"]["name"]
    code, body = _evict(k8s, "e", victim)
    assert code == 429, body
    assert body == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                    "message": "Cannot evict pod as it would violate the pod's disruption "
                               "budget.", "reason": "TooManyRequests", "code": 429,
                    "details": {"causes": [{"reason": "DisruptionBudget", "message":
                                            "The disruption budget web needs 3 healthy pods "
                                            "and has 3 currently"}]}}
    code, body = k8s.http("PATCH", f"{PDBS.format(ns='e')}/web", {"spec": {"minAvailable": 2}},
                          "application/merge-patch+json")
    assert code == 200, body
    _settled(k8s, "e", "web", observedGeneration=2, disruptionsAllowed=1)
    code, body = _evict(k8s, "e", victim, "?dryRun=All")
    assert (code, body["status"]) == (201, "Success"), body
    assert k8s.http("GET", f"/api/v1/namespaces/e/pods/{victim}")[0] == 200
    assert _status(k8s, "e", "web")["disruptionsAllowed"] == 1
    code, body = _evict(k8s, "e", victim)
    assert (code, body) == (201, {"kind": "Status", "apiVersion": "v1", "metadata": {},
                                  "status": "Success", "code": 201}), body
    assert k8s.http("GET", f"/api/v1/namespaces/e/pods/{victim}")[0] == 404
    _pdb(k8s, "e", "web-too", "web", maxUnavailable=1)
    other = pods[1]["metadata"]["name"]
    code, body = _evict(k8s, "e", other)
    assert (code, body) == (201, {"kind": "Status", "apiVersion": "v1", "metadata": {},
                                  "status": "Failure", "code": 500, "message":
                                  "This pod has more than one PodDisruptionBudget, which the "
                                  "eviction subresource does not support."}), body
    assert k8s.http("GET", f"/api/v1/namespaces/e/pods/{other}")[0] == 200
    code, body = _evict(k8s, "e", "web-gone")
    assert (code, body["reason"]) == (404, "NotFound")
    code, body = k8s.http("POST", f"/api/v1/namespaces/e/pods/{other}/eviction", {
        "apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "else"}})
    assert (code, body["message"]) == (400, "name in URL does not match name in Eviction "
                                            "object")
    assert k8s.http("DELETE", f"{PDBS.format(ns='e')}/web-too")[0] == 200
    assert k8s.http("DELETE", f"{PDBS.format(ns='e')}/web")[0] == 200
    code, body = _evict(k8s, "e", other, deleteOptions={"gracePeriodSeconds": 0})
    assert code == 201, body
    assert k8s.http("GET", f"/api/v1/namespaces/e/pods/{other}")[0] == 404


def test_eviction_waits_for_a_stale_budget(tmp_path: Path) -> None:
    """While the disruption controller has not observed a PDB's new generation, an eviction is
    a 429 with ``Retry-After: 10`` saying the budget is still being processed.

    Source: [eviction] checkAndDecrement (ObservedGeneration < Generation,
    createTooManyRequestsError(name) with 10 seconds).
    """
    gen = _start(tmp_path, controller_delay=3)
    k8s = next(gen)
    try:
        _ns(k8s, "s")
        _workload(k8s, "s", "Deployment", "web", 2)
        pods = _running(k8s, "s", "web", 2)
        _pdb(k8s, "s", "web", "web", maxUnavailable=1)
        wait(lambda: _status(k8s, "s", "web").get("observedGeneration") == 1, "observed", 15)
        code, body = _evict(k8s, "s", pods[0]["metadata"]["name"])
        assert code == 201, body
        code, body = k8s.http("PATCH", f"{PDBS.format(ns='s')}/web",
                              {"spec": {"maxUnavailable": 2}}, "application/merge-patch+json")
        assert code == 200, body
        code, body = _evict(k8s, "s", pods[1]["metadata"]["name"])
        assert code == 429, body
        assert body["details"] == {"retryAfterSeconds": 10, "causes": [{
            "reason": "DisruptionBudget",
            "message": "The disruption budget web is still being processed by the server."}]}
    finally:
        next(gen, None)


def test_unready_pods_follow_the_unhealthy_pod_eviction_policy(k8s: Cluster) -> None:
    """An unready pod under a budget that is not met cannot be evicted by default
    (IfHealthyBudget); with ``unhealthyPodEvictionPolicy: AlwaysAllow`` it is deleted without
    using the budget.

    Source: [eviction] Create ("IsPodReady is the current implementation of IsHealthy");
    https://kubernetes.io/docs/tasks/run-application/configure-pdb/#unhealthy-pod-eviction-policy.
    """
    _ns(k8s, "u")
    _workload(k8s, "u", "Deployment", "web", 3)
    pods = _running(k8s, "u", "web", 3)
    sick = pods[0]
    status = dict(sick["status"])
    status["conditions"] = [dict(c, status="False") if c["type"] == "Ready" else c
                            for c in status["conditions"]]
    name = sick["metadata"]["name"]
    code, body = k8s.http("PATCH", f"/api/v1/namespaces/u/pods/{name}/status",
                          {"status": {"conditions": status["conditions"]}},
                          "application/merge-patch+json")
    assert code == 200, body
    _pdb(k8s, "u", "web", "web", minAvailable=3)
    _settled(k8s, "u", "web", currentHealthy=2, desiredHealthy=3)
    code, body = _evict(k8s, "u", name)
    assert code == 429 and body["details"]["causes"][0]["message"] == (
        "The disruption budget web needs 3 healthy pods and has 2 currently"), body
    code, body = k8s.http("PATCH", f"{PDBS.format(ns='u')}/web",
                          {"spec": {"unhealthyPodEvictionPolicy": "AlwaysAllow"}},
                          "application/merge-patch+json")
    assert code == 200, body
    _settled(k8s, "u", "web", observedGeneration=2)
    code, body = _evict(k8s, "u", name)
    assert code == 201, body
    assert _status(k8s, "u", "web").get("disruptedPods") is None


def test_kubectl_drain_evicts_within_the_budget_and_is_held_by_it(k8s: Cluster) -> None:
    """``kubectl drain --ignore-daemonsets`` cordons the node, leaves the DaemonSet's pod and
    evicts the others one budget step at a time (they come back on other nodes); a budget that
    allows nothing holds the drain until its ``--timeout``.

    Source: [drain] (``pods/eviction`` in discovery, Eviction POST, 429 retried every 5 s,
    "global timeout reached"); [eviction]; [controller].
    """
    code, v1 = k8s.http("GET", "/api/v1")
    assert {"name": "pods/eviction", "singularName": "", "namespaced": True,
            "kind": "Eviction", "verbs": ["create"], "group": "policy",
            "version": "v1"} in v1["resources"]
    _ns(k8s, "w")
    node = "sandbox-pool-0"
    _workload(k8s, "w", "Deployment", "web", 2, node=None)
    _workload(k8s, "w", "DaemonSet", "agent", None)
    _running(k8s, "w", "web", 2)
    _running(k8s, "w", "agent", 3)
    _pdb(k8s, "w", "web", "web", maxUnavailable=1)
    _settled(k8s, "w", "web", currentHealthy=2, disruptionsAllowed=1)
    on_node = [p["metadata"]["name"] for p in _pods(k8s, "w", "web")
               if p["spec"]["nodeName"] == node]
    drained = k8s.kubectl("drain", node, "--ignore-daemonsets", "--timeout=60s")
    assert f"node/{node} cordoned" in drained.stdout and f"node/{node} drained" in (
        drained.stdout)
    for pod in on_node:
        assert f"pod/{pod} evicted" in drained.stdout
    assert "Warning: ignoring DaemonSet-managed Pods: w/agent-" in drained.stderr
    assert k8s.http("GET", f"/api/v1/nodes/{node}")[1]["spec"]["unschedulable"] is True
    moved = _running(k8s, "w", "web", 2)
    assert all(p["spec"]["nodeName"] != node for p in moved)
    assert any(p["spec"]["nodeName"] == node for p in _pods(k8s, "w", "agent"))

    other = moved[0]["spec"]["nodeName"]
    assert k8s.http("DELETE", f"{PDBS.format(ns='w')}/web")[0] == 200
    _pdb(k8s, "w", "web-all", "web", minAvailable="100%")
    _settled(k8s, "w", "web-all", currentHealthy=2, disruptionsAllowed=0)
    held = k8s.kubectl("drain", other, "--ignore-daemonsets", "--timeout=3s", check=False)
    assert held.returncode != 0
    assert "Cannot evict pod as it would violate the pod's disruption budget." in held.stderr
    assert "global timeout reached: 3s" in held.stderr
    assert len(_running(k8s, "w", "web", 2)) == 2
    # Two budgets: the eviction's Failure Status comes in a 201, so kubectl takes the pod as
    # evicted and waits for it to go, until its timeout.
    assert k8s.http("DELETE", f"{PDBS.format(ns='w')}/web-all")[0] == 200
    _pdb(k8s, "w", "web-a", "web", maxUnavailable=1)
    _pdb(k8s, "w", "web-b", "web", maxUnavailable=1)
    _settled(k8s, "w", "web-b", disruptionsAllowed=1)
    stuck = k8s.kubectl("drain", other, "--ignore-daemonsets", "--timeout=3s", check=False)
    assert stuck.returncode != 0
    assert "more than one PodDisruptionBudget" not in stuck.stderr
    assert 'in namespace "w" to terminate: context deadline exceeded' in stuck.stderr
    assert len(_running(k8s, "w", "web", 2)) == 2
