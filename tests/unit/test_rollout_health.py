"""Deployment, StatefulSet and DaemonSet health as `kubectl rollout status` decides it.

Source: kubernetes/kubectl pkg/polymorphichelpers/rollout_status.go (DeploymentStatusViewer,
StatefulSetStatusViewer, DaemonSetStatusViewer), commit dee3483a3d6a; one test per branch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from platform_assets.core.health import health, rollout_failed
from platform_assets.engine.reconcile import ReconcileError
from platform_assets.reconcile_assets import reconciled_nodes
from tests.unit.engine_fakes import make_graph
from tests.unit.test_engine import WEB, World

TIMED_OUT = {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
             "message": 'ReplicaSet "web-1" has timed out progressing.'}


def deployment(generation: int = 2, replicas: int | None = 2, **status: Any) -> dict[str, Any]:
    spec = {} if replicas is None else {"replicas": replicas}
    return {"kind": "Deployment", "metadata": {"name": "web", "generation": generation},
            "spec": spec, "status": {"observedGeneration": 2, **status}}


def test_a_deployment_waits_until_its_spec_is_observed() -> None:
    dep = deployment(generation=3, replicas=2, updatedReplicas=2, availableReplicas=2)
    assert health(dep) == (False, "rollout not observed yet")
    # observedGeneration absent is 0: a spec the controller never looked at (Go's zero value).
    del dep["status"]["observedGeneration"]
    dep["metadata"]["generation"] = 1
    assert health(dep) == (False, "rollout not observed yet")


def test_a_deployment_waits_for_new_replicas_to_be_updated() -> None:
    dep = deployment(replicas=3, updatedReplicas=1, availableReplicas=3)
    assert health(dep) == (False, "1 of 3 new replicas updated")
    dep["status"]["conditions"] = [{"type": "ReplicaFailure", "status": "True",
                                    "reason": "FailedCreate", "message": "quota exceeded"}]
    assert health(dep) == (False, "1 of 3 new replicas updated; FailedCreate: quota exceeded")


def test_old_replicas_pending_termination_are_not_done() -> None:
    """All new replicas updated and available, but an old ReplicaSet still has a pod:
    kubectl waits ("old replicas are pending termination"), so do we."""
    dep = deployment(replicas=2, updatedReplicas=2, availableReplicas=2)
    dep["status"]["replicas"] = 3
    assert health(dep) == (False, "1 old replicas pending termination")
    dep["status"]["replicas"] = 2
    assert health(dep) == (True, "")


def test_a_deployment_waits_until_updated_replicas_are_available() -> None:
    dep = deployment(replicas=2, updatedReplicas=2, availableReplicas=1)
    dep["status"]["replicas"] = 2
    assert health(dep) == (False, "1 of 2 updated replicas available")


def test_without_spec_replicas_kubectl_skips_the_updated_count() -> None:
    dep = deployment(replicas=None, updatedReplicas=0)
    assert health(dep) == (True, "")


def test_a_progress_deadline_exceeded_is_a_failed_rollout() -> None:
    dep = deployment(replicas=2, updatedReplicas=1, availableReplicas=1, conditions=[TIMED_OUT])
    why = "deployment 'web' exceeded its progress deadline: " \
          'ReplicaSet "web-1" has timed out progressing.'
    assert health(dep) == (False, why) and rollout_failed(dep) == why
    # kubectl reads the condition only once the controller has seen the current spec.
    dep["metadata"]["generation"] = 3
    assert rollout_failed(dep) is None and health(dep) == (False, "rollout not observed yet")
    assert rollout_failed({"kind": "StatefulSet", "status": {"conditions": [TIMED_OUT]}}) is None


def test_a_failed_rollout_ends_the_wait_before_the_health_timeout(tmp_path: Path) -> None:
    world = World(make_graph(tmp_path), ready=False)
    for node in reconciled_nodes(world.graph)[:-1]:
        world.reconcile(node.key)

    def time_out(seconds: float) -> None:
        world.clock.now += seconds
        dep = world.k8s.objects[("apps/v1", "Deployment", "web", "web")]
        dep["status"] = {"replicas": 2, "updatedReplicas": 1, "conditions": [TIMED_OUT]}

    world.clock.sleep = time_out  # type: ignore[method-assign]
    with pytest.raises(ReconcileError, match=r"web: a rollout failed: Deployment/web: "
                                             r"deployment 'web' exceeded its progress"):
        world.reconcile(WEB)
    assert world.clock.now < 60  # the health timeout is 1m: it did not wait it out


def statefulset(**spec: Any) -> dict[str, Any]:
    return {"kind": "StatefulSet", "metadata": {"generation": 2}, "spec": {"replicas": 3, **spec},
            "status": {"observedGeneration": 2, "readyReplicas": 3, "updatedReplicas": 3,
                       "currentRevision": "db-1", "updateRevision": "db-1"}}


def test_a_statefulset_waits_for_observation_and_ready_pods() -> None:
    sts = statefulset()
    assert health(sts) == (True, "")
    sts["status"]["observedGeneration"] = 0  # kubectl: ObservedGeneration == 0 is waiting
    sts["metadata"]["generation"] = 0
    assert health(sts) == (False, "spec update not observed yet")
    sts["status"]["observedGeneration"], sts["metadata"]["generation"] = 2, 3
    assert health(sts) == (False, "spec update not observed yet")
    sts["metadata"]["generation"] = 2
    sts["status"]["readyReplicas"] = 2
    assert health(sts) == (False, "2/3 replicas ready")


def test_a_statefulset_rolling_update_waits_for_the_update_revision() -> None:
    sts = statefulset(updateStrategy={"type": "RollingUpdate"})
    sts["status"].update(updateRevision="db-2", updatedReplicas=1)
    assert health(sts) == (False, "1 pods at revision db-2, rolling update not complete")
    sts["status"]["currentRevision"] = "db-2"
    assert health(sts) == (True, "")


def test_a_partitioned_statefulset_is_done_when_the_pods_above_the_partition_are_updated() -> None:
    sts = statefulset(updateStrategy={"type": "RollingUpdate", "rollingUpdate": {"partition": 1}})
    sts["status"].update(updateRevision="db-2", updatedReplicas=1)
    assert health(sts) == (False, "1 of 2 new pods updated (partitioned)")
    sts["status"]["updatedReplicas"] = 2  # pod 0 stays at db-1: the partition keeps it
    assert health(sts) == (True, "")


def test_an_on_delete_statefulset_is_healthy_when_its_pods_are_ready() -> None:
    sts = statefulset(updateStrategy={"type": "OnDelete"})
    sts["status"]["updateRevision"] = "db-2"
    assert health(sts) == (True, "")
    sts["status"]["readyReplicas"] = 1
    assert health(sts) == (False, "1/3 replicas ready")


def daemonset(**status: Any) -> dict[str, Any]:
    return {"kind": "DaemonSet", "metadata": {"generation": 1}, "spec": {},
            "status": {"observedGeneration": 1, **status}}


def test_a_daemonset_follows_the_daemonset_status_viewer() -> None:
    ds = daemonset(desiredNumberScheduled=4, updatedNumberScheduled=3, numberAvailable=4)
    assert health(ds) == (False, "3 of 4 new pods updated")
    ds["status"]["updatedNumberScheduled"] = 4
    ds["status"]["numberAvailable"] = 3
    assert health(ds) == (False, "3 of 4 pods available")
    ds["status"]["numberAvailable"] = 4
    assert health(ds) == (True, "")
    ds["metadata"]["generation"] = 2
    assert health(ds) == (False, "spec update not observed yet")
    # A DaemonSet on no node (desired 0) is rolled out.
    assert health(daemonset()) == (True, "")


def test_an_on_delete_daemonset_counts_available_pods_only() -> None:
    ds = daemonset(desiredNumberScheduled=2, updatedNumberScheduled=0, numberAvailable=2)
    ds["spec"] = {"updateStrategy": {"type": "OnDelete"}}
    assert health(ds) == (True, "")
    ds["status"]["numberAvailable"] = 1
    assert health(ds) == (False, "1 of 2 pods available")
