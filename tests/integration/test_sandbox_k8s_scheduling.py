"""The sandbox scheduler's taints/tolerations and topology spread constraints, and the reasons
a Pending pod gives, as kube-scheduler writes them.

Sources: https://kubernetes.io/docs/concepts/scheduling-eviction/taint-and-toleration/
(``NoSchedule``; ``Exists`` and ``Equal`` operators; kubectl taint) with the TaintToleration
plugin's reason ``node(s) had untolerated taint {key: value}``
(pkg/scheduler/framework/plugins/tainttoleration); https://kubernetes.io/docs/concepts/
scheduling-eviction/topology-spread-constraints/ (``maxSkew``, ``whenUnsatisfiable:
DoNotSchedule``, ``nodeTaintsPolicy`` default Ignore: tainted nodes still count as domains) with
plugins/podtopologyspread/filtering.go (``node(s) didn't match pod topology spread constraints``,
``(missing required label)``); the ``0/N nodes are available: ...`` FitError of
schedule_one.go. The sandbox's three nodes: sandbox-pool-0 and -2 in ZONE_1, -1 in ZONE_2.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_sandbox_k8s_workloads import (
    RESTRICTED_POD,
    _deployment,
    _events,
    _list,
    _ns,
    wait,
)
from tests.integration.test_sandbox_kubernetes import Cluster, _start

pytestmark = pytest.mark.integration
ZONE = "topology.kubernetes.io/zone"


@pytest.fixture
def k8s(tmp_path: Path) -> Iterator[Cluster]:
    yield from _start(tmp_path)


def _pod(**spec: Any) -> dict[str, Any]:
    return {**json.loads(json.dumps(RESTRICTED_POD)), **spec}


def _deploy(k8s: Cluster, ns: str, name: str, replicas: int, pod: dict[str, Any]) -> None:
    code, body = k8s.http("POST", f"/apis/apps/v1/namespaces/{ns}/deployments",
                          _deployment(name, replicas, pod))
    assert code == 201, body


def _placed(k8s: Cluster, ns: str, app: str) -> Counter[str]:
    return Counter(p["spec"].get("nodeName") or "<pending>"
                   for p in _list(k8s, f"/api/v1/namespaces/{ns}/pods?labelSelector=app={app}"))


def _zone_of(k8s: Cluster) -> dict[str, str]:
    return {n["metadata"]["name"]: n["metadata"]["labels"][ZONE]
            for n in _list(k8s, "/api/v1/nodes")}


def test_a_noschedule_taint_keeps_pods_off_unless_tolerated(k8s: Cluster) -> None:
    k8s.kubectl("taint", "nodes", "sandbox-pool-0", "sandbox-pool-1", "sandbox-pool-2",
                "dedicated=gpu:NoSchedule")
    _ns(k8s, "t")
    _deploy(k8s, "t", "plain", 1, _pod())
    msg = wait(lambda: _events(k8s, "t", "FailedScheduling"), "FailedScheduling")[0]
    assert msg == ("0/3 nodes are available: 3 node(s) had untolerated taint {dedicated: gpu}. "
                   "preemption: 0/3 nodes are available: 3 Preemption is not helpful for "
                   "scheduling.")
    pending = _list(k8s, "/api/v1/namespaces/t/pods")[0]
    cond = next(c for c in pending["status"]["conditions"] if c["type"] == "PodScheduled")
    assert (cond["status"], cond["reason"], cond["message"]) == ("False", "Unschedulable", msg)

    # Equal with the value, and Exists without one, both tolerate it.
    _deploy(k8s, "t", "equal", 1, _pod(tolerations=[
        {"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}]))
    _deploy(k8s, "t", "exists", 1, _pod(tolerations=[{"key": "dedicated",
                                                        "operator": "Exists"}]))
    _deploy(k8s, "t", "wrong", 1, _pod(tolerations=[
        {"key": "dedicated", "operator": "Equal", "value": "cpu", "effect": "NoSchedule"}]))
    wait(lambda: "<pending>" not in _placed(k8s, "t", "equal") and
         "<pending>" not in _placed(k8s, "t", "exists"), "tolerating pods scheduled")
    wait(lambda: len(_events(k8s, "t", "FailedScheduling")) >= 2, "the wrong value refused")
    assert _placed(k8s, "t", "wrong") == Counter({"<pending>": 1})

    # Untainting one node lets the plain pod run there.
    k8s.kubectl("taint", "nodes", "sandbox-pool-1", "dedicated=gpu:NoSchedule-")
    wait(lambda: _placed(k8s, "t", "plain") == Counter({"sandbox-pool-1": 1}),
         "the plain pod on the untainted node")


def test_topology_spread_over_zones_and_hostnames(k8s: Cluster) -> None:
    zones = _zone_of(k8s)
    _ns(k8s, "s")
    spread = {"maxSkew": 1, "topologyKey": ZONE, "whenUnsatisfiable": "DoNotSchedule",
              "labelSelector": {"matchLabels": {"app": "zoned"}}}
    _deploy(k8s, "s", "zoned", 4, _pod(topologySpreadConstraints=[spread]))
    placed = wait(lambda: (c := _placed(k8s, "s", "zoned")) and "<pending>" not in c and
                  sum(c.values()) == 4 and c, "four zoned pods")
    per_zone = Counter(zones[n] for n in placed.elements())
    assert per_zone == Counter({"ZONE_1": 2, "ZONE_2": 2})

    # Seven pods over three hostnames with maxSkew 1: no node may get ahead by two.
    per_host = {"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                "whenUnsatisfiable": "DoNotSchedule",
                "labelSelector": {"matchLabels": {"app": "hosts"}}}
    _deploy(k8s, "s", "hosts", 7, _pod(topologySpreadConstraints=[per_host]))
    wait(lambda: sum(_placed(k8s, "s", "hosts").values()) == 7, "seven pods")
    hosts = wait(lambda: (c := _placed(k8s, "s", "hosts")) and c["<pending>"] == 0 and c,
                 "the hosts pods placed")
    assert sorted(hosts.values()) == [2, 2, 3]

    # A key no node carries: every node lacks the label.
    _deploy(k8s, "s", "nolabel", 1, _pod(topologySpreadConstraints=[
        {**per_host, "topologyKey": "example.com/rack",
         "labelSelector": {"matchLabels": {"app": "nolabel"}}}]))
    msg = wait(lambda: [m for m in _events(k8s, "s", "FailedScheduling") if "missing" in m],
               "FailedScheduling for the missing label")[0]
    assert msg.startswith("0/3 nodes are available: 3 node(s) didn't match pod topology spread "
                          "constraints (missing required label).")


def test_tainted_nodes_still_count_as_spread_domains(k8s: Cluster) -> None:
    """nodeTaintsPolicy defaults to Ignore: ZONE_2's only node is tainted, it still counts as
    a domain with 0 pods, so ZONE_1 may hold only one pod; the second is Pending with the
    reasons of both filters. With ``nodeTaintsPolicy: Honor`` ZONE_2 is no domain."""
    k8s.kubectl("taint", "nodes", "sandbox-pool-1", "dedicated=gpu:NoSchedule")
    _ns(k8s, "d")
    spread = {"maxSkew": 1, "topologyKey": ZONE, "whenUnsatisfiable": "DoNotSchedule",
              "labelSelector": {"matchLabels": {"app": "ignore"}}}
    _deploy(k8s, "d", "ignore", 2, _pod(topologySpreadConstraints=[spread]))
    msg = wait(lambda: _events(k8s, "d", "FailedScheduling"), "FailedScheduling")[0]
    assert msg.startswith("0/3 nodes are available: 1 node(s) had untolerated taint "
                          "{dedicated: gpu}, 2 node(s) didn't match pod topology spread "
                          "constraints.")
    assert _placed(k8s, "d", "ignore")["<pending>"] == 1

    honor = {**spread, "nodeTaintsPolicy": "Honor",
             "labelSelector": {"matchLabels": {"app": "honor"}}}
    _deploy(k8s, "d", "honor", 2, _pod(topologySpreadConstraints=[honor]))
    wait(lambda: (c := _placed(k8s, "d", "honor")) and sum(c.values()) == 2 and
         "<pending>" not in c, "both honor pods in ZONE_1")


def test_a_noexecute_taint_evicts_running_pods_unless_tolerated(k8s: Cluster) -> None:
    """NoExecute evicts the pods already running that do not tolerate it; a toleration with
    ``tolerationSeconds`` keeps a pod bound that long, one without keeps it for good
    (https://kubernetes.io/docs/concepts/scheduling-eviction/taint-and-toleration/
    #taint-based-evictions; pkg/controller/tainteviction: the TaintManagerEviction event
    "Marking for deletion Pod <ns>/<name>" and the DisruptionTarget condition with reason
    DeletionByTaintManager)."""
    _ns(k8s, "x")
    pin = {"nodeSelector": {"kubernetes.io/hostname": "sandbox-pool-0"}}
    _deploy(k8s, "x", "plain", 1, _pod(**pin))
    _deploy(k8s, "x", "forever", 1, _pod(**pin, tolerations=[
        {"key": "maintenance", "operator": "Exists", "effect": "NoExecute"}]))
    _deploy(k8s, "x", "brief", 1, _pod(**pin, tolerations=[
        {"key": "maintenance", "operator": "Exists", "effect": "NoExecute",
         "tolerationSeconds": 2}]))
    for app in ("plain", "forever", "brief"):
        wait(lambda app=app: _placed(k8s, "x", app) == Counter({"sandbox-pool-0": 1}),
             f"{app} running on sandbox-pool-0")
    first = {p["metadata"]["labels"]["app"]: p["metadata"]["name"]
             for p in _list(k8s, "/api/v1/namespaces/x/pods")}
    k8s.kubectl("taint", "nodes", "sandbox-pool-0", "maintenance=now:NoExecute")

    evictions = wait(lambda: _events(k8s, "x", "TaintManagerEviction"), "an eviction")
    assert f"Marking for deletion Pod x/{first['plain']}" in evictions
    assert first["brief"] in {p["metadata"]["name"]
                              for p in _list(k8s, "/api/v1/namespaces/x/pods")}
    # The replacement cannot go back: its nodeSelector names the tainted node.
    msg = wait(lambda: [m for m in _events(k8s, "x", "FailedScheduling")
                        if "untolerated taint {maintenance: now}" in m], "the replacement")[0]
    assert "1 node(s) had untolerated taint {maintenance: now}" in msg
    assert "2 node(s) didn't match Pod's node affinity/selector" in msg
    names = wait(lambda: (n := {p["metadata"]["name"] for p in
                                _list(k8s, "/api/v1/namespaces/x/pods")})
                 and first["brief"] not in n and n, "brief evicted after its 2 s", timeout=15)
    assert first["forever"] in names and first["plain"] not in names


def _unschedulable_taints(k8s: Cluster, node: str) -> list[dict[str, Any]]:
    code, body = k8s.http("GET", f"/api/v1/nodes/{node}")
    assert code == 200, body
    return [t for t in body["spec"].get("taints") or []
            if t["key"] == "node.kubernetes.io/unschedulable"]


def test_a_cordon_taints_the_node_and_only_tolerating_pods_go_there(k8s: Cluster) -> None:
    """``kubectl cordon`` sets ``spec.unschedulable``; afterwards, not in the request, the node
    lifecycle controller adds ``node.kubernetes.io/unschedulable:NoSchedule`` with
    ``timeAdded``, and removes it after ``kubectl uncordon``. The NodeUnschedulable filter keeps
    pods off a cordoned node unless they tolerate that taint; DaemonSet pods carry the
    toleration, so they run there.

    Source: kubernetes/kubernetes pkg/controller/nodelifecycle/node_lifecycle_controller.go
    (``doNoScheduleTaintingPass``, ``UnschedulableTaintTemplate``) and pkg/controller/util/node
    ``SwapNodeControllerTaint`` (timeAdded); pkg/scheduler/framework/plugins/nodeunschedulable
    (``node(s) were unschedulable`` unless the pod tolerates the taint); pkg/controller/daemon/
    util ``AddOrUpdateDaemonPodTolerations``; kubectl pkg/drain ``cordon``.
    """
    from kubernetes import client

    core = client.CoreV1Api(k8s.api_client())
    nodes = ["sandbox-pool-0", "sandbox-pool-1", "sandbox-pool-2"]
    answered = core.patch_node("sandbox-pool-0", {"spec": {"unschedulable": True}})
    assert answered.spec.unschedulable is True and not answered.spec.taints
    (taint,) = wait(lambda: _unschedulable_taints(k8s, "sandbox-pool-0"), "the cordon taint")
    assert taint["effect"] == "NoSchedule" and taint["timeAdded"]
    k8s.kubectl("cordon", *nodes[1:])
    wait(lambda: all(_unschedulable_taints(k8s, n) for n in nodes), "every node tainted")

    _ns(k8s, "c")
    _deploy(k8s, "c", "plain", 1, _pod())
    tolerating = _pod(tolerations=[{"key": "node.kubernetes.io/unschedulable",
                                    "operator": "Exists", "effect": "NoSchedule"}])
    _deploy(k8s, "c", "tolerant", 1, tolerating)
    ds_pod = {**_pod(), "metadata": {"labels": {"app": "agent"}}}
    apps = client.AppsV1Api(k8s.api_client())
    apps.create_namespaced_daemon_set("c", {
        "metadata": {"name": "agent"},
        "spec": {"selector": {"matchLabels": {"app": "agent"}},
                 "template": {"metadata": ds_pod["metadata"], "spec": _pod()}}})
    msg = wait(lambda: _events(k8s, "c", "FailedScheduling"), "FailedScheduling")[0]
    assert msg == ("0/3 nodes are available: 3 node(s) were unschedulable. preemption: 0/3 "
                   "nodes are available: 3 Preemption is not helpful for scheduling.")
    wait(lambda: "<pending>" not in _placed(k8s, "c", "tolerant"), "the tolerating pod placed")
    agents = wait(lambda: (placed := _placed(k8s, "c", "agent")) and
                  set(placed) == set(nodes) and placed, "a DaemonSet pod on each node")
    assert agents == Counter(dict.fromkeys(nodes, 1))
    ds_tolerations = _list(k8s, "/api/v1/namespaces/c/pods?labelSelector=app=agent")[0][
        "spec"]["tolerations"]
    assert {"key": "node.kubernetes.io/unschedulable", "operator": "Exists",
            "effect": "NoSchedule"} in ds_tolerations
    assert _placed(k8s, "c", "plain") == Counter({"<pending>": 1})

    k8s.kubectl("uncordon", "sandbox-pool-1")
    wait(lambda: not _unschedulable_taints(k8s, "sandbox-pool-1"), "the taint removed")
    wait(lambda: _placed(k8s, "c", "plain") == Counter({"sandbox-pool-1": 1}),
         "the plain pod on the uncordoned node")
    assert all(_unschedulable_taints(k8s, n) for n in ("sandbox-pool-0", "sandbox-pool-2"))
