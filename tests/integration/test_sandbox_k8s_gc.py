"""Deletion in the sandbox Kubernetes API: finalizers, propagation policies and the garbage
collector that handles dependents after the API server has answered.

The cluster here runs no controller thread: each test ticks the garbage collector itself
(``GarbageCollector.reconcile``), so what a client sees between the delete and the collector's
pass is deterministic. Each test names its source in kubernetes/kubernetes or the docs.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from sandbox.http import RunningServer, serve
from sandbox.kubernetes import KubernetesService
from sandbox.kubernetes.gc import GarbageCollector
from sandbox.world import World
from tests.integration.test_sandbox_kubernetes import Cluster

pytestmark = pytest.mark.integration

CMS = "/api/v1/namespaces/default/configmaps"


@dataclass
class Gc:
    k8s: Cluster
    collector: GarbageCollector

    def tick(self, passes: int = 1) -> None:
        for _ in range(passes):
            self.collector.reconcile()

    def http(self, method: str, path: str, body: Any = None,
             content_type: str = "application/json") -> tuple[int, Any]:
        return self.k8s.http(method, path, body, content_type)

    def cm(self, name: str, *owners: dict[str, Any], **meta: Any) -> dict[str, Any]:
        code, obj = self.http("POST", CMS, {"metadata": {
            "name": name, **({"ownerReferences": list(owners)} if owners else {}), **meta}})
        assert code == 201, obj
        return dict(obj)

    def get(self, name: str) -> dict[str, Any] | None:
        code, obj = self.http("GET", f"{CMS}/{name}")
        return dict(obj) if code == 200 else None


def ref(owner: dict[str, Any], block: bool = False) -> dict[str, Any]:
    out = {"apiVersion": owner.get("apiVersion", "v1"), "kind": owner.get("kind", "ConfigMap"),
           "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"]}
    return {**out, "blockOwnerDeletion": True} if block else out


@pytest.fixture
def gc(tmp_path: Any) -> Iterator[Gc]:
    svc = KubernetesService(World())
    server: RunningServer = serve(svc)
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(svc.kubeconfig(server.url))
    try:
        yield Gc(Cluster(svc, server, kubeconfig, tmp_path), GarbageCollector(svc.api))
    finally:
        svc.stop()
        server.stop()


def test_background_deletion_removes_the_owner_and_leaves_dependents_to_the_collector(
        gc: Gc) -> None:
    """Background: the owner goes at once; the collector deletes its dependents afterwards,
    one level per pass here (each deletion is an event its graph reacts to).

    Source: https://kubernetes.io/docs/concepts/architecture/garbage-collection/#background-deletion;
    store.go Delete (no finalizer to add: deleted now); garbagecollector.go attemptToDeleteItem
    (no solid owner left: deleted with the dependent's own policy, Background by default).
    """
    owner = gc.cm("owner")
    child = gc.cm("child", ref(owner))
    gc.cm("grandchild", ref(child))
    code, body = gc.http("DELETE", f"{CMS}/owner", {"propagationPolicy": "Background"})
    assert code == 200 and body["status"] == "Success"
    assert gc.get("owner") is None
    assert gc.get("child") is not None and gc.get("grandchild") is not None
    gc.tick()
    assert gc.get("child") is None and gc.get("grandchild") is not None
    gc.tick()
    assert gc.get("grandchild") is None


def test_foreground_deletion_keeps_the_owner_until_blocking_dependents_are_gone(gc: Gc) -> None:
    """Foreground: the owner stays, readable, with deletionTimestamp and the
    ``foregroundDeletion`` finalizer; the collector deletes every dependent and drops the
    finalizer once none with ``blockOwnerDeletion: true`` is left (one held by its own
    finalizer keeps the owner, a non-blocking one does not).

    Source: https://kubernetes.io/docs/concepts/architecture/garbage-collection/#foreground-cascading-deletion;
    store.go deletionFinalizersForGarbageCollection/markAsDeleting; garbagecollector.go
    processDeletingDependentsItem.
    """
    owner = gc.cm("owner")
    gc.cm("loose", ref(owner), finalizers=["example.com/keep"])
    gc.cm("strict", ref(owner, block=True), finalizers=["example.com/keep"])
    gc.cm("plain", ref(owner, block=True))
    code, held = gc.http("DELETE", f"{CMS}/owner", {"propagationPolicy": "Foreground"})
    assert code == 200 and held["metadata"]["finalizers"] == ["foregroundDeletion"]
    assert held["metadata"]["deletionTimestamp"]
    assert held["metadata"]["deletionGracePeriodSeconds"] == 0
    assert gc.get("plain") is not None  # nothing happened to the dependents yet
    gc.tick()
    assert gc.get("plain") is None
    for name in ("loose", "strict"):
        assert (gc.get(name) or {})["metadata"]["deletionTimestamp"]
    gc.tick(3)
    assert (gc.get("owner") or {})["metadata"]["finalizers"] == ["foregroundDeletion"]
    gc.http("PATCH", f"{CMS}/strict", {"metadata": {"finalizers": None}},
            "application/merge-patch+json")
    assert gc.get("owner") is not None
    gc.tick()
    assert gc.get("owner") is None
    assert gc.get("loose") is not None  # still held by its own finalizer


def test_foreground_deletion_without_dependents_is_finished_by_the_collector(gc: Gc) -> None:
    """The API server adds ``foregroundDeletion`` whatever the dependents; an owner without
    any is removed by the collector's pass, not by the request. markAsDeleting bumps a
    generation it marks.

    Source: store.go deletionFinalizersForGarbageCollection (options only) and markAsDeleting.
    """
    code, dep = gc.http("POST", "/apis/apps/v1/namespaces/default/deployments", {
        "metadata": {"name": "web"}, "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                         "spec": {"containers": [{"name": "w", "image": "nginx"}]}}}})
    assert code == 201 and dep["metadata"]["generation"] == 1
    path = "/apis/apps/v1/namespaces/default/deployments/web"
    code, held = gc.http("DELETE", path, {"propagationPolicy": "Foreground"})
    assert code == 200 and held["metadata"]["finalizers"] == ["foregroundDeletion"]
    assert held["metadata"]["generation"] == 2
    assert gc.http("GET", path)[0] == 200
    gc.tick()
    assert gc.http("GET", path)[0] == 404


def test_orphan_deletion_removes_owner_references_then_the_owner(gc: Gc) -> None:
    """Orphan: the owner stays with the ``orphan`` finalizer until the collector has removed
    its ownerReferences from the dependents; the dependents stay. batch/v1 Jobs orphan when no
    policy is given.

    Source: https://kubernetes.io/docs/tasks/administer-cluster/use-cascading-deletion/#set-orphan-deletion-policy;
    store.go shouldOrphanDependents; garbagecollector.go attemptToOrphanWorker;
    pkg/registry/batch/job/strategy.go DefaultGarbageCollectionPolicy (OrphanDependents for
    batch/v1).
    """
    owner = gc.cm("owner")
    other = gc.cm("other")
    gc.cm("child", ref(owner), ref(other))
    code, held = gc.http("DELETE", f"{CMS}/owner", {"propagationPolicy": "Orphan"})
    assert code == 200 and held["metadata"]["finalizers"] == ["orphan"]
    assert len((gc.get("child") or {})["metadata"]["ownerReferences"]) == 2
    gc.tick()
    assert gc.get("owner") is None
    assert (gc.get("child") or {})["metadata"]["ownerReferences"] == [ref(other)]
    code, job = gc.http("POST", "/apis/batch/v1/namespaces/default/jobs", {
        "metadata": {"name": "j"}, "spec": {"template": {"spec": {
            "restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}})
    assert code == 201
    gc.cm("job-child", ref({**job, "apiVersion": "batch/v1", "kind": "Job"}))
    code, held = gc.http("DELETE", "/apis/batch/v1/namespaces/default/jobs/j")
    assert code == 200 and held["metadata"]["finalizers"] == ["orphan"]
    gc.tick()
    assert gc.http("GET", "/apis/batch/v1/namespaces/default/jobs/j")[0] == 404
    assert "ownerReferences" not in (gc.get("job-child") or {})["metadata"]


def test_a_second_delete_may_change_the_collectors_finalizer(gc: Gc) -> None:
    """A delete of an object already being deleted still sets the collector's finalizers
    from its options (the storage update skips the no-new-finalizers validation), while a
    client's update may only remove finalizers then.

    Source: store.go Delete and updateForGracefulDeletionAndFinalizers (pendingFinalizers);
    apimachinery pkg/api/validation/objectmeta.go ValidateNoNewFinalizers.
    """
    gc.cm("held", finalizers=["example.com/keep"])
    code, obj = gc.http("DELETE", f"{CMS}/held", {"propagationPolicy": "Orphan"})
    assert code == 200 and obj["metadata"]["finalizers"] == ["example.com/keep", "orphan"]
    stamp = obj["metadata"]["deletionTimestamp"]
    code, obj = gc.http("DELETE", f"{CMS}/held", {"propagationPolicy": "Foreground"})
    assert obj["metadata"]["finalizers"] == ["example.com/keep", "foregroundDeletion"]
    assert obj["metadata"]["deletionTimestamp"] == stamp
    code, body = gc.http("PATCH", f"{CMS}/held", {"metadata": {"finalizers": [
        "example.com/keep", "foregroundDeletion", "example.com/new"]}},
        "application/merge-patch+json")
    assert code == 422 and body["details"]["causes"][0]["message"] == (
        "Forbidden: no new finalizers can be added if the object is being deleted, found new "
        'finalizers []string{"example.com/new"}')
    gc.tick()
    assert (gc.get("held") or {})["metadata"]["finalizers"] == ["example.com/keep"]
    gc.http("PATCH", f"{CMS}/held", {"metadata": {"finalizers": None}},
            "application/merge-patch+json")
    assert gc.get("held") is None


def test_orphan_and_foreground_finalizers_cannot_be_both_set(gc: Gc) -> None:
    """An object may not carry both of the garbage collector's finalizers.

    Source: apimachinery pkg/api/validation/objectmeta.go ValidateFinalizers.
    """
    code, body = gc.http("POST", CMS, {"metadata": {
        "name": "both", "finalizers": ["orphan", "foregroundDeletion"]}})
    assert code == 422
    assert body["message"] == (
        'ConfigMap "both" is invalid: metadata.finalizers: Invalid value: '
        '[]string{"orphan", "foregroundDeletion"}: finalizer orphan and foregroundDeletion '
        "cannot be both set")


def test_dangling_and_solid_owner_references(gc: Gc) -> None:
    """A dependent with a solid owner left only loses its references to absent owners; one
    whose every owner is absent (a uid no object has, or an owner in another namespace) is
    deleted.

    Source: garbagecollector.go attemptToDeleteItem and classifyReferences (solid, dangling,
    waitingForDependentsDeletion); https://kubernetes.io/docs/concepts/architecture/garbage-collection/#owners-dependents
    ("namespaced dependents can only specify owners in the same namespace").
    """
    keep = gc.cm("keep")
    ghost = {"apiVersion": "v1", "kind": "ConfigMap", "name": "ghost",
             "uid": "00000000-0000-0000-0000-000000000000"}
    gc.cm("mixed", ref(keep), ghost)
    gc.cm("orphaned", ghost)
    gc.http("POST", "/api/v1/namespaces", {"metadata": {"name": "elsewhere"}})
    code, far = gc.http("POST", "/api/v1/namespaces/elsewhere/configmaps",
                        {"metadata": {"name": "far"}})
    assert code == 201
    gc.cm("cross", ref(far))
    gc.tick()
    assert (gc.get("mixed") or {})["metadata"]["ownerReferences"] == [ref(keep)]
    assert gc.get("orphaned") is None and gc.get("cross") is None
