"""IONOS node pool upgrades and node replaces in the sandbox: new nodes, cordon, PDB-honouring
drain for up to an hour, then the old node deleted; the ionoscloud SDK and the Kubernetes API.

Source: docs.ionos.com/cloud/managed-services/managed-kubernetes/how-tos/upgrade-node-pools
("Rebuilding a node": provision a new node and wait for it to register, exclude the old one
from scheduling, drain it, PodDisruptionBudgets enforced for up to 1 hour, then all remaining
pods deleted, delete the old node; nodes replaced one by one, oldest first; the upgrade locks the
pool) and .../managed-kubernetes/maintenance (the same replacement in the maintenance window);
``KubernetesApi.k8s_nodepools_nodes_replace_post`` (ionoscloud 6.1: a new node from the pool's
template, the pods migrated, the pool ACTIVE with an additional node meanwhile). Cordon:
kubectl pkg/drain (``spec.unschedulable``, evictions through pods/eviction) and
node_lifecycle_controller.go (the ``node.kubernetes.io/unschedulable:NoSchedule`` taint).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from sandbox.app import Sandbox
from sandbox.ionos import DRAIN_LIMIT, IonosCloudService
from sandbox.kubernetes.service import KubernetesService
from tests.integration.test_sandbox_k8s_workloads import wait as wait_for_it

pytestmark = pytest.mark.integration

DELAY = 60.0  # the IONOS transitions' delay, on the test's clock
POOL = "workers"
DRAIN_HOUR = DRAIN_LIMIT + 1


class Clock:
    """``sandbox.ionos.now``: real time plus what the test advanced, so an hour passes at once."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr("sandbox.ionos.now", c)
    return c


def start_box() -> Sandbox:
    """The whole sandbox, its IONOS transitions taking ``DELAY`` seconds of the test's clock."""
    from sandbox.app import start_sandbox

    sb = start_sandbox(timeout=60.0)
    ionos = sb.services["ionos"]
    assert isinstance(ionos, IonosCloudService)
    ionos.delay = DELAY
    return sb


@pytest.fixture
def box(clock: Clock) -> Iterator[Sandbox]:
    sb = start_box()
    try:
        yield sb
    finally:
        sb.stop()


def wait(predicate: Callable[[], Any], what: str, timeout: float = 15) -> Any:
    return wait_for_it(predicate, what, timeout)


class Pool:
    """One cluster with one node pool of two nodes on 1.31.9, through the SDK."""

    def __init__(self, box: Sandbox, clock: Clock) -> None:
        import ionoscloud

        self.box, self.clock = box, clock
        k8s = box.services["kubernetes"]
        assert isinstance(k8s, KubernetesService)
        self.k8s = k8s
        client = ionoscloud.ApiClient(ionoscloud.Configuration(
            host=box.env["IONOS_API_URL"], token=box.env["IONOS_TOKEN"]))
        self.api = ionoscloud.KubernetesApi(client)
        dc = ionoscloud.DataCentersApi(client).datacenters_post(ionoscloud.DatacenterPost(
            properties=ionoscloud.DatacenterPropertiesPost(name="dc", location="de/fra")))
        self.cluster = self.api.k8s_post(ionoscloud.KubernetesClusterForPost(
            properties=ionoscloud.KubernetesClusterPropertiesForPost(name="c",
                                                                     k8s_version="1.32.6")))
        self.tick()
        props = ionoscloud.KubernetesNodePoolPropertiesForPost(
            name=POOL, datacenter_id=dc.id, node_count=2, cores_count=2, ram_size=4096,
            availability_zone="AUTO", storage_type="SSD", storage_size=20, k8s_version="1.31.9")
        self.pool = self.api.k8s_nodepools_post(
            self.cluster.id, ionoscloud.KubernetesNodePoolForPost(properties=props))
        self.tick()
        assert self.state() == "ACTIVE"

    def tick(self, seconds: float = DELAY + 1) -> None:
        # An evicted pod terminates gracefully: it goes on the kubelet's next pass (the sandbox's
        # controller thread, in real time), which a real drain's retries leave time for.
        wait(lambda: not any(p["metadata"].get("deletionTimestamp")
                             for p in self.k8s.store.select(("", "pods"))),
             "evicted pods to terminate")
        self.clock.advance(seconds)
        self.api.k8s_find_by_cluster_id(self.cluster.id)  # any request moves the state on

    def state(self) -> str:
        return str(self.api.k8s_nodepools_find_by_id(self.cluster.id, self.pool.id)
                   .metadata.state)

    def nodes(self) -> dict[str, tuple[str, str]]:
        """IONOS's view: node name -> (state, k8sVersion)."""
        items = self.api.k8s_nodepools_nodes_get(self.cluster.id, self.pool.id, depth=1).items
        return {n.properties.name: (n.metadata.state, n.properties.k8s_version) for n in items}

    def node(self, name: str) -> dict[str, Any] | None:
        return self.k8s.store.get(("", "nodes"), "", name)

    def k8s_nodes(self) -> set[str]:
        return {n["metadata"]["name"] for n in self.k8s.store.select(("", "nodes"))
                if (n["metadata"].get("labels") or {}).get(
                    "enterprise.cloud.ionos.com/node-pool") == POOL}

    def create(self, group: str, plural: str, body: dict[str, Any]) -> None:
        k8s = self.k8s
        k8s.api.create(k8s.registry.by_gk(group, plural), "default", body, "test")

    def pods(self, app: str) -> dict[str, str]:
        """Live pods of ``app``: name -> node."""
        return {p["metadata"]["name"]: (p.get("spec") or {}).get("nodeName") or ""
                for p in self.k8s.store.select(("", "pods"), "default")
                if (p["metadata"].get("labels") or {}).get("app") == app}

    def ready_pods(self, app: str) -> dict[str, str]:
        return {p["metadata"]["name"]: p["spec"]["nodeName"]
                for p in self.k8s.store.select(("", "pods"), "default")
                if (p["metadata"].get("labels") or {}).get("app") == app
                and any(c.get("type") == "Ready" and c.get("status") == "True"
                        for c in (p.get("status") or {}).get("conditions") or [])}

    def pdb_allows(self, name: str) -> int | None:
        pdb = self.k8s.store.get(("policy", "poddisruptionbudgets"), "default", name)
        status = (pdb or {}).get("status") or {}
        return None if "disruptionsAllowed" not in status else int(status["disruptionsAllowed"])


def _deployment(name: str, replicas: int) -> dict[str, Any]:
    labels = {"app": name}
    # One pod per node, so each drain meets one pod of it.
    anti = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": labels}, "topologyKey": "kubernetes.io/hostname"}]}}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": {
                         "affinity": anti,
                         "containers": [{"name": "app", "image": "example/app:1"}]}}}}


def _pdb(name: str, min_available: int) -> dict[str, Any]:
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {"name": name},
            "spec": {"minAvailable": min_available,
                     "selector": {"matchLabels": {"app": name}}}}


def _cordoned(node: dict[str, Any] | None) -> bool:
    """Cordoned, and tainted by the node lifecycle controller (which adds ``timeAdded``)."""
    spec = (node or {}).get("spec") or {}
    return bool(spec.get("unschedulable")) and any(
        (t.get("key"), t.get("effect")) == ("node.kubernetes.io/unschedulable", "NoSchedule")
        for t in spec.get("taints") or [])


def test_an_upgrade_replaces_each_node_and_holds_a_blocking_budget_for_an_hour(
        box: Sandbox, clock: Clock) -> None:
    import ionoscloud

    p = Pool(box, clock)
    old = sorted(p.nodes())
    assert wait(lambda: p.k8s_nodes() == set(old), "the pool's Nodes")
    p.create("apps", "deployments", _deployment("guarded", 2))
    p.create("policy", "poddisruptionbudgets", _pdb("guarded", 2))  # never allows an eviction
    wait(lambda: len(p.ready_pods("guarded")) == 2, "two Ready pods, one per node")
    wait(lambda: p.pdb_allows("guarded") == 0, "the budget's status")

    put = ionoscloud.KubernetesNodePoolForPut(
        properties=ionoscloud.KubernetesNodePoolPropertiesForPut(node_count=2,
                                                                 k8s_version="1.32.6"))
    assert p.api.k8s_nodepools_put(p.cluster.id, p.pool.id, put).metadata.state == "UPDATING"
    # The oldest node first: a new node is provisioned beside it, nothing is cordoned yet.
    nodes = p.nodes()
    (first_new,) = set(nodes) - set(old)
    first_old = next(n for n in old if nodes[n][0] == "REBUILDING")
    assert nodes[first_new] == ("PROVISIONING", "1.32.6") and len(nodes) == 3
    assert not _cordoned(p.node(first_old))
    # The upgrade locks the pool: no change until it is ACTIVE again.
    with pytest.raises(ionoscloud.ApiException) as err:
        p.api.k8s_nodepools_put(p.cluster.id, p.pool.id, ionoscloud.KubernetesNodePoolForPut(
            properties=ionoscloud.KubernetesNodePoolPropertiesForPut(node_count=3,
                                                                     k8s_version="1.32.6")))
    assert err.value.status == 422 and "being upgraded" in str(err.value.body)

    p.tick()  # the new node is READY and registers; the old one is cordoned and drained
    assert p.state() == "UPDATING"
    assert wait(lambda: first_new in p.k8s_nodes(), "the new Node")
    # The taint follows the cordon asynchronously, from the node lifecycle controller.
    assert wait(lambda: _cordoned(p.node(first_old)), "the cordoned, tainted old Node")
    # The budget refuses the eviction: the pod stays for up to an hour.
    (blocked,) = [name for name, node in p.pods("guarded").items() if node == first_old]
    p.tick(30 * 60)
    assert blocked in p.pods("guarded") and p.nodes()[first_old][0] == "REBUILDING"

    p.tick(DRAIN_HOUR - 30 * 60)  # past the hour: the remaining pods are deleted, then the node
    assert blocked not in p.pods("guarded")
    assert p.nodes()[first_old][0] == "TERMINATING"
    # The ReplicaSet replaces the pod; the scheduler puts it on the new node, not the cordoned.
    wait(lambda: sorted(p.ready_pods("guarded").values()) == sorted(
        [first_new, next(n for n in old if n != first_old)]), "the pod on the new node")

    p.tick()  # the first old node is gone; the second replacement registers and drains
    assert first_old not in p.nodes() and wait(lambda: first_old not in p.k8s_nodes(),
                                               "the old Node deleted")
    p.tick(DRAIN_HOUR)
    p.tick()
    nodes = p.nodes()
    assert len(nodes) == 2 and not set(nodes) & set(old)
    assert set(nodes.values()) == {("READY", "1.32.6")}
    assert p.state() == "ACTIVE"
    assert wait(lambda: p.k8s_nodes() == set(nodes), "the new Nodes only")
    assert wait(lambda: sorted(p.ready_pods("guarded").values()) == sorted(nodes),
                "the pods on the new nodes")


def test_a_budget_that_allows_it_lets_the_drain_finish_at_once_and_a_replace_keeps_the_pool_active(
        box: Sandbox, clock: Clock) -> None:
    p = Pool(box, clock)
    old = sorted(p.nodes())
    assert wait(lambda: p.k8s_nodes() == set(old), "the pool's Nodes")
    p.create("apps", "deployments", _deployment("web", 2))
    p.create("policy", "poddisruptionbudgets", _pdb("web", 1))
    wait(lambda: len(p.ready_pods("web")) == 2, "two Ready pods")
    wait(lambda: p.pdb_allows("web") == 1, "the budget allowing one eviction")
    target = old[0]
    (evicted,) = [name for name, node in p.pods("web").items() if node == target]

    p.api.k8s_nodepools_nodes_replace_post(p.cluster.id, p.pool.id, next(
        n.id for n in p.api.k8s_nodepools_nodes_get(p.cluster.id, p.pool.id, depth=1).items
        if n.properties.name == target))
    assert p.state() == "ACTIVE"  # a replace leaves the pool ACTIVE, with one node more
    assert len(p.nodes()) == 3
    p.tick()  # the new node registers; the eviction is allowed, and the pod terminates
    # Gracefully: it goes on the kubelet's next pass, in real time, not within the tick.
    assert wait(lambda: evicted not in p.pods("web"), "the evicted pod gone")
    p.tick()  # once it has gone (graceful deletion), the drain's retry finds the node empty
    assert p.nodes()[target][0] == "TERMINATING"
    p.tick()
    nodes = p.nodes()
    assert target not in nodes and len(nodes) == 2 and p.state() == "ACTIVE"
    assert wait(lambda: p.k8s_nodes() == set(nodes), "the Nodes")
    assert wait(lambda: sorted(p.ready_pods("web").values()) == sorted(nodes),
                "a pod on each node")
