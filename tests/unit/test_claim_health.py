"""PersistentVolumeClaim health: Bound, Lost, and Pending by its StorageClass's binding mode.

Sources (kubernetes/kubernetes): ``pkg/controller/volume/persistentvolume/pv_controller.go``
(syncUnboundClaim leaves a claim of a ``WaitForFirstConsumer`` class Pending with the event
"waiting for first consumer to be created before binding" until it carries
``volume.kubernetes.io/selected-node``; setClaimProvisioner then writes
``volume.kubernetes.io/storage-provisioner``; syncBoundClaim sets the terminal phase Lost),
``pkg/scheduler/framework/plugins/volumebinding`` (the scheduler writes selected-node when it
places a Pod that uses the claim), and ``plugin/pkg/admission/storage/storageclass/setdefault``
(a claim created without a class gets the default's name). The engine side (one GET per class
per run, the note in the plan, a Lost claim ending the wait) runs against the engine's fakes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from platform_assets.core.health import (
    FIRST_CONSUMER,
    SELECTED_NODE,
    STORAGE_PROVISIONER,
    ClaimClass,
    claim_health,
    failed_for_good,
    health,
    needs_class,
)
from platform_assets.engine.reconcile import ReconcileError
from platform_assets.reconcile_assets import reconciled_nodes
from tests.unit.engine_fakes import make_graph
from tests.unit.test_engine import WEB, World

WFFC = ClaimClass("ionos-enterprise-hdd", "WaitForFirstConsumer")
IMMEDIATE = ClaimClass("fast", "Immediate")


def claim(phase: str | None = "Pending", cls: str | None = "ionos-enterprise-hdd",
          annotations: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"accessModes": ["ReadWriteOnce"], **spec}
    if cls is not None:
        body["storageClassName"] = cls
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": "data", "namespace": "web",
                         "annotations": dict(annotations or {})},
            "spec": body, "status": {"phase": phase} if phase else {}}


def test_a_bound_claim_is_healthy_whatever_its_class() -> None:
    assert claim_health(claim("Bound"), None) == (True, "")
    assert needs_class(claim("Bound")) == ""  # nothing to read for it


def test_a_lost_claim_fails_for_good_naming_its_volume() -> None:
    lost = claim("Lost", volumeName="pvc-1")
    ok, why = claim_health(lost, WFFC)
    assert not ok and why.startswith("claim 'data' is Lost: its PersistentVolume pvc-1 is gone")
    assert failed_for_good(lost) == why and needs_class(lost) == ""
    assert failed_for_good(claim("Pending")) is None


def test_a_first_consumer_claim_no_pod_has_chosen_a_node_for_is_healthy_with_a_note() -> None:
    ok, why = claim_health(claim(), WFFC)
    assert ok and why.startswith(FIRST_CONSUMER)
    assert "StorageClass ionos-enterprise-hdd binds WaitForFirstConsumer" in why
    # A status not written yet is Pending too (the PV controller writes it on its first pass).
    assert claim_health(claim(phase=None), WFFC) == (ok, why)
    assert health(claim(), WFFC) == (ok, why)


def test_once_the_scheduler_chose_a_node_the_claim_is_being_provisioned() -> None:
    placed = claim(annotations={SELECTED_NODE: "node-1"})
    assert claim_health(placed, WFFC) == (
        False, "Pending: its volume is being provisioned for node node-1 "
               "(StorageClass ionos-enterprise-hdd, WaitForFirstConsumer)")
    placed["metadata"]["annotations"][STORAGE_PROVISIONER] = "cloud.ionos.com"
    assert claim_health(placed, WFFC)[1].startswith(
        "Pending: its volume is being provisioned by cloud.ionos.com for node node-1")


def test_a_claim_of_an_immediate_class_waits_for_its_volume() -> None:
    pending = claim(cls="fast")
    assert claim_health(pending, IMMEDIATE) == (
        False, "Pending: its volume is being provisioned (StorageClass fast, Immediate)")


def test_a_claim_of_a_missing_class_is_a_problem_it_names() -> None:
    assert needs_class(claim(cls="gone")) == "gone"
    ok, why = claim_health(claim(cls="gone"), ClaimClass("gone", None))
    assert not ok and why.startswith("Pending: its StorageClass gone does not exist")


def test_a_claim_without_class_binds_only_a_volume_made_for_it() -> None:
    """The DefaultStorageClass admission plugin writes the default's name on create, so a
    claim read back without one had no default to take; ``""`` is "no class" by choice."""
    for cls in (None, ""):
        assert needs_class(claim(cls=cls)) == ""
        ok, why = claim_health(claim(cls=cls), None)
        assert not ok and why.startswith("Pending: no StorageClass")


def test_a_claim_naming_its_volume_waits_for_that_volume_whatever_its_class() -> None:
    """syncUnboundClaim binds a claim with spec.volumeName to that PV, delayed binding or not."""
    named = claim(volumeName="static-1")
    assert needs_class(named) == ""
    assert claim_health(named, None) == (
        False, "Pending: waiting to bind PersistentVolume static-1, which it names")


def test_a_class_not_read_is_not_guessed() -> None:
    assert claim_health(claim(), None) == (
        False, "Pending (StorageClass ionos-enterprise-hdd not read)")
    assert claim_health(claim(), IMMEDIATE)[0] is False  # another class's answer


def two_claims() -> list[dict[str, Any]]:
    out = []
    for name in ("data", "cache"):
        c = claim(phase=None)
        c["metadata"] = {"name": name}
        c["spec"]["resources"] = {"requests": {"storage": "1Gi"}}
        out.append(c)
    return out


def test_the_reconcile_reads_each_class_once_and_notes_the_wait(tmp_path: Path) -> None:
    world = World(make_graph(tmp_path, two_claims()))
    world.k8s.objects[("storage.k8s.io/v1", "StorageClass", "", "ionos-enterprise-hdd")] = {
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": {"name": "ionos-enterprise-hdd"}, "provisioner": "cloud.ionos.com",
        "volumeBindingMode": "WaitForFirstConsumer"}
    reads: list[str] = []
    get = world.k8s.get

    def counting(api: str, kind: str, name: str, namespace: str | None = None) -> Any:
        reads.append(kind)
        return get(api, kind, name, namespace)

    world.k8s.get = counting  # type: ignore[method-assign]
    for node in reconciled_nodes(world.graph)[:-1]:
        world.reconcile(node.key)
    out = world.reconcile(WEB)
    assert out.healthy and reads.count("StorageClass") == 1
    assert [n.split(": ", 1)[0] for n in out.plan.notes] == [
        "PersistentVolumeClaim/cache", "PersistentVolumeClaim/data"]
    assert all(FIRST_CONSUMER in n for n in out.plan.notes)
    assert out.metadata["health"].startswith(f"PersistentVolumeClaim/cache=ok ({FIRST_CONSUMER}")


def test_a_lost_claim_ends_the_wait_before_the_health_timeout(tmp_path: Path) -> None:
    world = World(make_graph(tmp_path, two_claims()[:1]))
    for node in reconciled_nodes(world.graph)[:-1]:
        world.reconcile(node.key)

    def lose(seconds: float) -> None:
        world.clock.now += seconds
        pvc = world.k8s.objects[("v1", "PersistentVolumeClaim", "web", "data")]
        pvc["spec"]["volumeName"] = "pvc-1"
        pvc["status"] = {"phase": "Lost"}

    world.clock.sleep = lose  # type: ignore[method-assign]
    with pytest.raises(ReconcileError, match=r"web: a claim was lost: PersistentVolumeClaim/"
                                             r"data: claim 'data' is Lost: its "
                                             r"PersistentVolume pvc-1 is gone"):
        world.reconcile(WEB)
    assert world.clock.now < 60  # the health timeout is 1m: it did not wait it out


def test_a_noted_claim_is_looked_at_again_while_its_workload_is_awaited(tmp_path: Path) -> None:
    """The Deployment's Pod is what binds the claim: the note holds nothing back, and the
    report says what the last look found (Bound: no note)."""
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
                     "containers": [{"name": "web", "image": "web:1"}],
                     "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "data"}}]}}}}
    world = World(make_graph(tmp_path, [*two_claims()[:1], deployment]), ready=False)
    world.k8s.objects[("storage.k8s.io/v1", "StorageClass", "", "ionos-enterprise-hdd")] = {
        "kind": "StorageClass", "metadata": {"name": "ionos-enterprise-hdd"},
        "volumeBindingMode": "WaitForFirstConsumer"}
    for node in reconciled_nodes(world.graph)[:-1]:
        world.reconcile(node.key)

    def schedule(seconds: float) -> None:
        world.clock.now += seconds
        pvc = world.k8s.objects[("v1", "PersistentVolumeClaim", "web", "data")]
        pvc["status"] = {"phase": "Bound"}
        dep = world.k8s.objects[("apps/v1", "Deployment", "web", "web")]
        dep["status"] = {"replicas": 1, "updatedReplicas": 1, "availableReplicas": 1}

    world.clock.sleep = schedule  # type: ignore[method-assign]
    out = world.reconcile(WEB)
    assert out.healthy and out.plan.notes == []
    assert out.metadata["health"] == "Deployment/web=ok, PersistentVolumeClaim/data=ok"
