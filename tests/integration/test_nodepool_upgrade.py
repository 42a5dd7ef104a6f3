"""IonosCloudResource over a node pool upgrade in the sandbox: the PUT returns with the pool
UPDATING (IONOS replaces the nodes for hours), and only READY nodes are targets.

Source: docs.ionos.com/cloud/managed-services/managed-kubernetes/how-tos/upgrade-node-pools
(nodes replaced one by one, a drain honouring PodDisruptionBudgets for up to an hour, "the
upgrade can take several hours"); KubernetesNodeMetadata.state (ionoscloud 6.1: PROVISIONING,
READY, REBUILDING, TERMINATING...).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from resources.ionos import IonosCloudResource
from tests.integration.test_sandbox_nodepool_replace import (
    DRAIN_HOUR,
    Clock,
    Pool,
    _deployment,
    _pdb,
    start_box,
    wait,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def pool(monkeypatch: pytest.MonkeyPatch) -> Iterator[Pool]:
    clock = Clock()
    monkeypatch.setattr("sandbox.ionos.now", clock)
    box = start_box()
    try:
        yield Pool(box, clock)
    finally:
        box.stop()


def _ready_ips(p: Pool) -> list[str]:
    items = p.api.k8s_nodepools_nodes_get(p.cluster.id, p.pool.id, depth=1).items
    return sorted(n.properties.private_ip for n in items if n.metadata.state == "READY")


def test_an_upgrade_returns_updating_and_only_ready_nodes_are_targets(pool: Pool) -> None:
    p, box = pool, pool.box
    assert wait(lambda: len(p.k8s_nodes()) == 2, "the pool's Nodes")
    p.create("apps", "deployments", _deployment("guarded", 2))
    p.create("policy", "poddisruptionbudgets", _pdb("guarded", 2))  # holds each drain an hour
    wait(lambda: len(p.ready_pods("guarded")) == 2, "two Ready pods")
    wait(lambda: p.pdb_allows("guarded") == 0, "the budget's status")
    ionos = IonosCloudResource(token=box.env["IONOS_TOKEN"], api_url=box.env["IONOS_API_URL"],
                               request_timeout_seconds=5.0)
    before = ionos.node_ips(p.cluster.id, p.pool.id)

    # A wait for ACTIVE would time out (5 s here, hours on IONOS): the upgrade is not waited for.
    pool = ionos.upgrade_node_pool(p.cluster.id, p.pool.id,
                                   {"nodeCount": 2, "k8sVersion": "1.32.6"})
    assert pool["metadata"]["state"] == "UPDATING"
    # The new node is PROVISIONING, the old one being replaced REBUILDING: neither is a target.
    assert len(p.nodes()) == 3
    targets = ionos.node_ips(p.cluster.id, p.pool.id)
    assert len(targets) == 1 and set(targets) < set(before)
    p.tick()
    assert ionos.node_ips(p.cluster.id, p.pool.id) == _ready_ips(p) and len(_ready_ips(p)) == 2
    for _ in range(2):
        p.tick(DRAIN_HOUR)
        p.tick()
    assert p.state() == "ACTIVE"
    after = ionos.node_ips(p.cluster.id, p.pool.id)
    assert len(after) == 2 and not set(after) & set(before)
