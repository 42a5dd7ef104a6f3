"""A component's PersistentVolumeClaim health through the product's reconcile, against the
sandbox's Kubernetes API (real kubernetes SDK).

IONOS's StorageClasses bind ``WaitForFirstConsumer`` (``kubectl get sc`` on a managed cluster;
``sandbox/kubernetes/storage.py``): the PV controller leaves such a claim Pending, with a
``WaitForFirstConsumer`` event, until the scheduler has placed a Pod that uses it and written
``volume.kubernetes.io/selected-node`` (kubernetes/kubernetes
``pkg/controller/volume/persistentvolume/pv_controller.go`` syncUnboundClaim,
``pkg/scheduler/framework/plugins/volumebinding``). A claim only a suspended CronJob uses is
therefore never Bound by the reconcile, and nothing is wrong: the reconcile succeeds with the
note "waiting for its first consumer", and the next reconcile writes nothing. A claim of an
``Immediate`` class whose provisioner never comes still fails at the health timeout, naming the
claim and the provisioner the PV controller handed it to (setClaimProvisioner's
``volume.kubernetes.io/storage-provisioner``).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from platform_assets.core.graph import Graph
from platform_assets.core.health import FIRST_CONSUMER
from platform_assets.engine.reconcile import ReconcileError, ReconcileOutcome
from sandbox.http import COUNTER
from tests.integration.engine_cluster import EngineCluster, k8s_writes, served_cluster
from tests.unit.engine_fakes import make_graph

pytestmark = [pytest.mark.integration]

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def claim(cls: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"accessModes": ["ReadWriteOnce"],
                            "resources": {"requests": {"storage": "1Gi"}}}
    if cls is not None:
        spec["storageClassName"] = cls
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"},
            "spec": spec}


# The claim's only consumer: a nightly export, suspended, so no Pod is ever created.
CRONJOB = {
    "apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "export"},
    "spec": {"schedule": "0 3 * * *", "suspend": True, "jobTemplate": {"spec": {"template": {
        "spec": {"restartPolicy": "OnFailure",
                 "containers": [{"name": "export", "image": "busybox:1.36",
                                 "command": ["sh", "-c", "tar cf /data/export.tar /etc"],
                                 "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
                 "volumes": [{"name": "data",
                              "persistentVolumeClaim": {"claimName": "data"}}]}}}}}}


class Cluster(EngineCluster):
    """A sandbox Kubernetes API of its own (a managed IONOS cluster's classes, nodes, the PV
    controller and the scheduler) and our engine pointed at it."""

    def graph(self, objects: list[dict[str, Any]], timeout: str = "1m") -> Graph:
        return make_graph(self.tmp / "spec", objects, edit=lambda s: s.replace(
            "health_timeout: 1m", f"health_timeout: {timeout}"))

    def reconcile(self, graph: Graph, now: datetime = NOW) -> ReconcileOutcome:
        return self.reconcile_at(graph, now)

    def claim(self) -> dict[str, Any]:
        found = self.client().get("v1", "PersistentVolumeClaim", "data", "web")
        assert found is not None
        return found


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    with served_cluster(tmp_path) as (kubeconfig, _):
        yield Cluster(tmp_path, kubeconfig)



def test_a_claim_only_a_suspended_cronjob_uses_is_healthy_waiting_for_its_first_consumer(
        cluster: Cluster) -> None:
    graph = cluster.graph([claim(), CRONJOB])
    first = cluster.reconcile(graph)
    assert first.healthy and first.writes > 0, first.unhealthy
    # The DefaultStorageClass admission plugin gave it IONOS's default class, which binds
    # WaitForFirstConsumer; the PV controller leaves it Pending and says why.
    live = cluster.claim()
    assert (live["spec"]["storageClassName"], live["status"]["phase"]) == (
        "ionos-enterprise-hdd", "Pending")
    assert "volume.kubernetes.io/selected-node" not in (live["metadata"].get("annotations") or {})
    notes = [n for n in first.plan.notes if n.startswith("PersistentVolumeClaim/data: ")]
    assert len(notes) == 1 and FIRST_CONSUMER in notes[0], first.plan.notes
    assert "StorageClass ionos-enterprise-hdd binds WaitForFirstConsumer" in notes[0]
    assert first.metadata["health"].startswith(f"PersistentVolumeClaim/data=ok ({FIRST_CONSUMER}")

    COUNTER.reset()
    again = cluster.reconcile(graph)
    assert again.healthy and again.writes == 0 and k8s_writes() == {}, again.plan.to_text()
    assert not again.plan.has_changes
    assert any(FIRST_CONSUMER in n for n in again.plan.notes)
    assert cluster.claim()["status"]["phase"] == "Pending"


def test_a_claim_of_an_immediate_class_that_never_binds_fails_at_the_health_timeout(
        cluster: Cluster) -> None:
    """No driver runs for ``example.com/none``: the PV controller hands the claim to it
    (storage-provisioner annotation, ExternalProvisioning event) and it stays Pending."""
    cluster.client().apply({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                            "metadata": {"name": "slow"}, "provisioner": "example.com/none",
                            "volumeBindingMode": "Immediate"})
    with pytest.raises(ReconcileError) as err:
        cluster.reconcile(cluster.graph([claim("slow")], timeout="3s"))
    assert str(err.value) == (
        "component web: not healthy after 3s: PersistentVolumeClaim/data: Pending: its volume "
        "is being provisioned by example.com/none (StorageClass slow, Immediate)")
    assert cluster.claim()["status"]["phase"] == "Pending"
