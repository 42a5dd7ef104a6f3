"""Where the volume agent runs while a node is drained, and how its pod's trouble is read:
core.agent_pod's decisions and volume_job.claim_node's bounded wait for the claim's pod."""

from __future__ import annotations

from typing import Any

import pytest

from platform_assets import names
from platform_assets.backups.errors import BackupError
from platform_assets.backups.volume_job import AgentRun, _evicted, _Watch, claim_node
from platform_assets.core.agent_pod import (
    PolicyFailure,
    claim_users,
    disrupted,
    disruption_rule,
    node_unavailable,
    placement,
    policy_failure,
    unschedulable,
)

GONE = "2026-11-26T00:00:00Z"


def pod(name: str, node: str = "", claim: str = "data", phase: str = "Running",
        deleting: bool = False, labels: dict[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": labels or {}}
    if deleting:
        meta["deletionTimestamp"] = GONE
    spec: dict[str, Any] = {"volumes": [{"name": "v", "persistentVolumeClaim": {
        "claimName": claim}}]}
    if node:
        spec["nodeName"] = node
    return {"metadata": meta, "spec": spec, "status": {"phase": phase}}


def node(name: str, cordoned: bool = False, taint: bool = False,
         deleting: bool = False) -> dict[str, Any]:
    spec: dict[str, Any] = {"unschedulable": True} if cordoned else {}
    if taint:
        spec["taints"] = [{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}]
    meta: dict[str, Any] = {"name": name}
    if deleting:
        meta["deletionTimestamp"] = GONE
    return {"metadata": meta, "spec": spec}


def test_finished_pods_and_other_claims_do_not_hold_the_volume() -> None:
    pods = [pod("a", "n1", phase="Succeeded"), pod("b", "n1", phase="Failed"),
            pod("c", "n1", claim="other"), pod("d", "n2", phase="Pending")]
    assert [p["metadata"]["name"] for p in claim_users(pods, "data")] == ["d"]


@pytest.mark.parametrize(("n", "why"), [
    (node("n1"), ""),
    (node("n1", cordoned=True), "cordoned (being drained)"),
    (node("n1", taint=True), "cordoned (being drained)"),
    (node("n1", deleting=True), "being deleted"),
    (None, "gone"),
])
def test_a_node_takes_no_new_pods_when_cordoned_tainted_deleted_or_gone(
        n: dict[str, Any] | None, why: str) -> None:
    assert node_unavailable(n) == why


def test_the_agent_goes_where_a_live_user_runs_on_a_node_that_takes_pods() -> None:
    users = [pod("old", "n1", deleting=True), pod("new", "n2")]
    assert placement(users, {"n1": node("n1", cordoned=True), "n2": node("n2")}).node == "n2"
    assert placement([], {}).node is None and placement([], {}).moving == ""


@pytest.mark.parametrize(("users", "nodes", "said"), [
    ([pod("app", "n1")], {"n1": node("n1", cordoned=True)},
     "node n1, where pod app uses it, is cordoned (being drained)"),
    ([pod("app", "n1", deleting=True)], {"n1": node("n1")},
     "pod app that uses it is terminating on node n1"),
    ([pod("app", phase="Pending")], {}, "pod app that uses it is not scheduled yet"),
    ([pod("app", "n9")], {"n9": None}, "node n9, where pod app uses it, is gone"),
])
def test_a_claim_whose_pod_is_moving_is_not_pinned(users: list[dict[str, Any]],
                                                   nodes: dict[str, Any], said: str) -> None:
    where = placement(users, nodes)
    assert where.node is None and where.moving == said


def test_the_schedulers_message_is_read_from_the_podscheduled_condition() -> None:
    message = ("0/3 nodes are available: 1 node(s) were unschedulable, 2 node(s) didn't match "
               "Pod's node affinity/selector.")
    stuck = {"status": {"phase": "Pending", "conditions": [
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
         "message": message}]}}
    assert unschedulable(stuck) == message
    gated = {"status": {"conditions": [{"type": "PodScheduled", "status": "False",
                                        "reason": "SchedulingGated"}]}}
    assert unschedulable(gated) is None
    assert unschedulable({"status": {"conditions": [{"type": "PodScheduled",
                                                     "status": "True"}]}}) is None


def test_an_eviction_is_read_from_the_disruption_condition_or_the_kubelets_reason() -> None:
    by_api = {"status": {"phase": "Running", "conditions": [
        {"type": "DisruptionTarget", "status": "True", "reason": "EvictionByEvictionAPI",
         "message": "Eviction API: evicting"}]}}
    assert disrupted(by_api) == "EvictionByEvictionAPI: Eviction API: evicting"
    pressure = {"status": {"phase": "Failed", "reason": "Evicted",
                           "message": "The node was low on resource: memory."}}
    assert disrupted(pressure) == "Evicted: The node was low on resource: memory."
    assert disrupted({"status": {"phase": "Running", "conditions": [
        {"type": "DisruptionTarget", "status": "False"}]}}) is None
    assert disrupted({"status": {"phase": "Failed", "reason": "Error"}}) is None


class Cluster:
    """Pods and nodes that change on the n-th list (the claim's pod moving during a drain)."""

    def __init__(self, steps: list[tuple[list[dict[str, Any]], dict[str, Any]]]) -> None:
        self.steps, self.lists = steps, 0

    def _now(self) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        return self.steps[min(self.lists, len(self.steps) - 1)]

    def list(self, api_version: str, kind: str, namespace: str | None = None,
             **_: Any) -> list[dict[str, Any]]:
        pods = self._now()[0]
        self.lists += 1
        return pods

    def get(self, api_version: str, kind: str, name: str,
            namespace: str | None = None) -> dict[str, Any] | None:
        return self.steps[min(self.lists - 1, len(self.steps) - 1)][1].get(name)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def sleep(self, seconds: float) -> None:
        self.now += seconds


RUN = AgentRun("job", "ns", "data", "/src", True, [], "backup files (files of PVC ns/data)")
NODES = {"n1": node("n1", cordoned=True), "n2": node("n2")}


def test_the_agent_waits_for_the_claims_pod_to_move_and_pins_its_new_node() -> None:
    kube = Cluster([([pod("app", "n1")], NODES), ([pod("app", "n1", deleting=True)], NODES),
                    ([pod("app-2", "n2")], NODES)])
    clock, said = Clock(), []
    assert claim_node(kube, RUN, 30, said.append, 1.0, lambda: clock.now,  # type: ignore[arg-type]
                      clock.sleep) == "n2"
    assert clock.now == 2.0 and len(said) == 2 and "cordoned" in said[0]


def test_a_pod_that_does_not_move_fails_early_naming_the_node_and_the_next_run() -> None:
    kube, clock = Cluster([([pod("app", "n1")], NODES)]), Clock()
    with pytest.raises(BackupError) as err:
        claim_node(kube, RUN, 30, lambda _: None, 1.0, lambda: clock.now,  # type: ignore[arg-type]
                   clock.sleep)
    text = str(err.value)
    assert text.startswith("backup files (files of PVC ns/data): ") and clock.now == 30
    assert "node n1, where pod app uses it, is cordoned (being drained)" in text
    assert "within 30s" in text and "next run retries and succeeds" in text


def test_the_agents_own_leftover_pod_is_not_the_claims_user() -> None:
    leftover = pod("job-x", "n1", phase="Pending",
                   labels={names.LABEL_VOLUME_JOB: "job"})
    kube, clock = Cluster([([leftover], NODES)]), Clock()
    assert claim_node(kube, RUN, 30, lambda _: None, 1.0, lambda: clock.now,  # type: ignore[arg-type]
                      clock.sleep) is None


class Forbidden(Cluster):
    def get(self, api_version: str, kind: str, name: str,
            namespace: str | None = None) -> dict[str, Any] | None:
        raise PermissionError('nodes "n1" is forbidden')


def test_a_run_account_that_cannot_read_nodes_pins_the_pods_node_and_says_why() -> None:
    kube, clock, said = Forbidden([([pod("app", "n1")], NODES)]), Clock(), []
    assert claim_node(kube, RUN, 30, said.append, 1.0, lambda: clock.now,  # type: ignore[arg-type]
                      clock.sleep) == "n1"
    assert clock.now == 0 and "cannot read Node n1 (PermissionError" in said[0]
    assert "re-render the run account's RBAC" in said[0]


def _job(ctype: str, reason: str, message: str, status: str = "True") -> dict[str, Any]:
    return {"status": {"conditions": [{"type": ctype, "status": status, "reason": reason,
                                       "message": message}]}}


# The FailJob messages of kubernetes pkg/controller/job/pod_failure_policy.go
# matchPodFailurePolicy.
BY_CONDITION = "Pod ns/agent-x1 has condition DisruptionTarget matching FailJob rule at index 0"
BY_EXIT = "Container agent for pod ns/agent-x1 failed with exit code 3 matching FailJob rule at " \
    "index 1"


def test_a_job_failed_by_its_pod_failure_policy_names_the_pod_and_condition() -> None:
    """The interim FailureTarget (and the Failed that follows) carry reason PodFailurePolicy
    (job_controller.go syncJob); other reasons, or a condition not True, are not evictions."""
    for ctype in ("FailureTarget", "Failed"):
        assert policy_failure(_job(ctype, "PodFailurePolicy", BY_CONDITION)) == PolicyFailure(
            "agent-x1", "DisruptionTarget", BY_CONDITION)
    assert policy_failure(_job("Failed", "PodFailurePolicy", BY_EXIT)) == PolicyFailure(
        "agent-x1", "", BY_EXIT)
    assert policy_failure(_job("Failed", "PodFailurePolicy", "reworded")) == PolicyFailure(
        "", "", "reworded")
    assert policy_failure(_job("Failed", "BackoffLimitExceeded", "Job has reached the "
                               "specified backoff limit")) is None
    assert policy_failure(_job("FailureTarget", "PodFailurePolicy", BY_CONDITION,
                               "False")) is None
    assert policy_failure({"status": {}}) is None


def test_the_agent_job_fails_on_any_disruption_and_never_ignores_it() -> None:
    assert disruption_rule() == {"rules": [{"action": "FailJob", "onPodConditions": [
        {"type": "DisruptionTarget", "status": "True"}]}]}


def test_an_eviction_reads_node_and_reason_from_the_pod_or_the_pin_when_it_is_gone() -> None:
    failure = PolicyFailure("agent-x1", "DisruptionTarget", BY_CONDITION)
    evicted = {"metadata": {"name": "agent-x1"}, "spec": {"nodeName": "n2"}, "status": {
        "phase": "Failed", "conditions": [{"type": "DisruptionTarget", "status": "True",
                                           "reason": "EvictionByEvictionAPI",
                                           "message": "Eviction API: evicting"}]}}
    told = str(_evicted(RUN, _Watch("uid", "n1"), [evicted], failure))
    assert told.startswith("backup files (files of PVC ns/data): pod agent-x1 of Job ns/job "
                           "was evicted (DisruptionTarget: EvictionByEvictionAPI: Eviction "
                           "API: evicting) on node n2; the Job failed (PodFailurePolicy: "
                           f"{BY_CONDITION}); nothing of this attempt is kept"), told
    gone = str(_evicted(RUN, _Watch("uid", "n1"), [], failure))
    assert "pod agent-x1 of Job ns/job was evicted (DisruptionTarget) on node n1; " in gone
    other = str(_evicted(RUN, _Watch("uid", None), [], PolicyFailure("", "", "reworded")))
    assert "Job ns/job failed (PodFailurePolicy: reworded); nothing" in other

