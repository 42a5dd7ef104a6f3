"""The reconcile engine's decisions, against in-memory fakes of its Protocols (no SDKs).

Covers create, no-op, update, a replace the spec does not allow, deferral by the change calendar,
prune, the enforce/warn/observe drift modes, the health timeout (injected clock and sleeper) and
an outside API that keeps failing.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from platform_assets.core import desired
from platform_assets.core.graph import (
    KEY_CLUSTER,
    KEY_DATACENTER,
    Graph,
    bucket_key,
    component_key,
    lan_key,
    node_pool_key,
)
from platform_assets.engine.reconcile import HANDLERS, Engine, Options, ReconcileError
from platform_assets.names import LABEL_COMPONENT, RECONCILED_KINDS
from platform_assets.reconcile_assets import reconciled_nodes
from resources.retry import RetriesExhausted
from tests.unit.engine_fakes import (
    CONFIG,
    DEPLOYMENT,
    FakeBuckets,
    FakeClock,
    FakeCloud,
    FakeCluster,
    make_graph,
)

SUNDAY_WINDOW = datetime(2026, 11, 22, 11, 0, tzinfo=UTC)  # inside the spec's window
WEDNESDAY = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)  # outside it
WEB = component_key("platform", "web")


class World:
    """One graph and the fakes it reconciles against."""

    def __init__(self, graph: Graph, now: datetime = WEDNESDAY, ready: bool = True) -> None:
        self.graph = graph
        self.cloud, self.k8s, self.s3 = FakeCloud(), FakeCluster(ready), FakeBuckets()
        self.clock = FakeClock()
        self.now = now
        self.applied: dict[tuple[str, ...], str] = {}  # code versions last applied

    def engine(self, graph: Graph | None = None) -> Engine:
        g = graph or self.graph
        assert g.base_dir is not None
        return Engine(g.spec, g.base_dir, ionos=self.cloud, kubernetes=self.k8s,
                      object_storage=self.s3, now=lambda: self.now, sleep=self.clock.sleep,
                      clock=self.clock, env={"MARIADB_PASSWORD": "x"}.get)

    def reconcile(self, key: tuple[str, ...], graph: Graph | None = None,
                  **opts: Any) -> Any:
        g = graph or self.graph
        node = g.nodes[key]
        out = self.engine(g).reconcile(node, Options(
            previous_code_version=self.applied.get(key), **opts))
        if not opts.get("dry_run"):
            self.applied[key] = node.code_version
        return out

    def everything(self, graph: Graph | None = None, **opts: Any) -> int:
        """Reconcile every node in order; the writes summed."""
        return sum(self.reconcile(n.key, graph, **opts).writes
                   for n in reconciled_nodes(graph or self.graph))


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(make_graph(tmp_path))


def test_every_reconciled_kind_has_a_handler_and_others_are_refused(world: World) -> None:
    assert set(HANDLERS) == set(RECONCILED_KINDS)
    node = replace(world.graph.nodes[WEB], kind="certificate")
    with pytest.raises(ReconcileError, match="does not handle certificate"):
        world.engine().reconcile(node)


def test_from_empty_everything_is_created_then_a_second_run_writes_nothing(
        world: World) -> None:
    assert world.everything() > 0
    assert world.cloud.writes == {"create_datacenter": 1, "create_lan": 1,
                                  "create_k8s_cluster": 1, "create_node_pool": 1}
    assert world.s3.writes == {"create_bucket": 1, "set_bucket_versioning": 1}
    assert world.k8s.writes["APPLY"] == 4  # namespace, ConfigMap, Deployment, inventory
    before = (dict(world.cloud.writes), dict(world.s3.writes), dict(world.k8s.writes))
    assert world.everything() == 0
    assert (dict(world.cloud.writes), dict(world.s3.writes), dict(world.k8s.writes)) == before
    out = world.reconcile(WEB)
    assert out.plan.summary() == "no changes" and out.healthy
    assert out.metadata["health"] == "Deployment/web=ok"


def test_a_dry_run_before_anything_exists_plans_creates_and_writes_nothing(
        world: World) -> None:
    for node in reconciled_nodes(world.graph):
        if node.kind == "component":
            continue  # observing a component needs a cluster to connect to
        out = world.reconcile(node.key, dry_run=True)
        assert [c.action for c in out.plan.changes] == ["create"], node.path
    assert not world.cloud.writes and not world.s3.writes


def test_a_spec_change_is_an_update(world: World, tmp_path: Path) -> None:
    world.everything()
    edited = make_graph(tmp_path, [DEPLOYMENT, CONFIG | {"data": {"greeting": "bonjour"}}],
                        edit=lambda s: s.replace("description: unit tests", "description: new"))
    dc = world.reconcile(KEY_DATACENTER, edited)
    assert dc.plan.changes[0].action == "update" and dc.writes == 1
    assert world.cloud.datacenters[0]["properties"]["description"] == "new"
    web = world.reconcile(WEB, edited)
    # Only the ConfigMap: the inventory lists the same objects, so it is not rewritten.
    assert web.plan.counts()["update"] == 1 and web.writes == 1
    assert world.k8s.objects[("v1", "ConfigMap", "web", "web-config")]["data"] == \
        {"greeting": "bonjour"}


def test_a_replace_the_spec_does_not_allow_fails_before_writing(world: World,
                                                                  tmp_path: Path) -> None:
    world.everything()
    public_off = make_graph(tmp_path, edit=lambda s: s.replace(
        'time: "10:00"}\n', 'time: "10:00"}\n    public: false\n', 1))
    plan = world.reconcile(KEY_CLUSTER, public_off, dry_run=True).plan
    assert plan.blocked and "allow_replace" in plan.blocked[0].blocked
    writes = dict(world.cloud.writes)
    with pytest.raises(ReconcileError, match="set allow_replace: true"):
        world.reconcile(KEY_CLUSTER, public_off)
    assert dict(world.cloud.writes) == writes


def test_an_allowed_replace_waits_for_the_window_then_deletes_and_creates(
        world: World, tmp_path: Path) -> None:
    world.everything()
    bigger = make_graph(tmp_path, edit=lambda s: s.replace("cores: 2", "cores: 4"))
    out = world.reconcile(node_pool_key("pool-a"), bigger)
    change = out.plan.changes[0]
    assert (change.action, change.intended) == ("deferred", "replace") and out.writes == 0
    assert "outside every maintenance window" in change.reason
    world.now = SUNDAY_WINDOW
    out = world.reconcile(node_pool_key("pool-a"), bigger)
    assert out.plan.changes[0].action == "replace" and out.writes == 2
    assert world.cloud.writes["delete_node_pool"] == 1


def test_a_version_upgrade_is_deferred_by_the_calendar_unless_forced(world: World,
                                                                     tmp_path: Path) -> None:
    world.everything()
    newer = make_graph(tmp_path, edit=lambda s: s.replace("1.32.6", "1.33.1"))
    out = world.reconcile(KEY_CLUSTER, newer)
    assert out.plan.changes[0].action == "deferred" and out.writes == 0
    out = world.reconcile(KEY_CLUSTER, newer, force=True)
    assert out.plan.changes[0].action == "update" and out.writes == 1
    assert world.cloud.clusters[0]["properties"]["k8sVersion"] == "1.33.1"


def test_a_node_pool_upgrade_is_not_waited_for_and_the_locked_pool_is_not_written(
        world: World, tmp_path: Path) -> None:
    """IONOS replaces an upgraded pool's nodes one by one, each drain honouring PDBs for up to
    an hour, and locks the pool meanwhile (docs.ionos.com managed-kubernetes
    how-tos/upgrade-node-pools): the run returns with the pool UPDATING, the next one notes it
    without waiting or writing, and a change to the locked pool fails naming why."""
    world.everything()
    newer = make_graph(tmp_path, edit=lambda s: s.replace("1.32.6", "1.33.1"))
    out = world.reconcile(node_pool_key("pool-a"), newer, force=True)
    assert out.plan.changes[0].action == "update" and out.writes == 1
    assert world.cloud.writes["upgrade_node_pool"] == 1
    assert world.cloud.writes["update_node_pool"] == 0
    assert out.metadata["state"] == "UPDATING" and out.metadata["k8s_version"] == "1.33.1"
    again = world.reconcile(node_pool_key("pool-a"), newer)
    assert again.plan.summary() == "no changes" and again.writes == 0
    assert any("IONOS is replacing its nodes" in n for n in again.plan.notes)
    bigger = make_graph(tmp_path, edit=lambda s: s.replace("1.32.6", "1.33.1").replace(
        "node_count: 2", "node_count: 3"))
    with pytest.raises(ReconcileError, match="IONOS locks it while it replaces its nodes"):
        world.reconcile(node_pool_key("pool-a"), bigger, force=True)
    assert world.cloud.writes["update_node_pool"] == 0


def test_a_newer_version_ionos_applied_is_recorded_not_reverted(world: World) -> None:
    world.everything()
    world.reconcile(KEY_CLUSTER)
    first = world.engine().reconcile(world.graph.nodes[KEY_CLUSTER], Options(
        previous_code_version=world.graph.nodes[KEY_CLUSTER].code_version,
        previous_metadata={"k8s_version": "1.32.6"}))
    assert not first.observations
    world.cloud.clusters[0]["properties"]["k8sVersion"] = "1.32.9"
    out = world.engine().reconcile(world.graph.nodes[KEY_CLUSTER], Options(
        previous_code_version=world.graph.nodes[KEY_CLUSTER].code_version,
        previous_metadata={"k8s_version": "1.32.6"}))
    assert out.plan.summary() == "no changes" and out.writes == 0
    assert "newer than the spec" in out.plan.notes[0]
    assert out.observations[0]["k8s_version"] == "1.32.9"


def test_prune_is_gated_by_the_calendar(world: World, tmp_path: Path) -> None:
    world.everything()
    smaller = make_graph(tmp_path, [DEPLOYMENT])
    out = world.reconcile(WEB, smaller)
    assert out.plan.counts()["deferred"] == 1 and ("v1", "ConfigMap", "web", "web-config") \
        in world.k8s.objects
    world.now = SUNDAY_WINDOW
    out = world.reconcile(WEB, smaller)
    assert out.metadata["pruned"] == 1 and out.plan.counts()["delete"] == 1
    assert ("v1", "ConfigMap", "web", "web-config") not in world.k8s.objects
    assert world.reconcile(WEB, smaller).writes == 0


def _drift_by_hand(world: World) -> None:
    world.k8s.objects[("v1", "ConfigMap", "web", "web-config")]["data"]["greeting"] = "hand"


@pytest.mark.parametrize("mode,corrected", [("enforce", True), ("warn", False),
                                            ("observe", False)])
def test_drift_modes(tmp_path: Path, mode: str, corrected: bool) -> None:
    world = World(make_graph(tmp_path, drift=mode))
    world.everything(make_graph(tmp_path))  # created in enforce mode
    _drift_by_hand(world)
    out = world.reconcile(WEB)
    greeting = world.k8s.objects[("v1", "ConfigMap", "web", "web-config")]["data"]["greeting"]
    assert (greeting == "hello") is corrected
    assert bool(out.drift) and (out.writes > 0) is corrected


def test_observe_mode_creates_nothing(tmp_path: Path) -> None:
    world = World(make_graph(tmp_path, drift="observe"))
    for key in (KEY_DATACENTER, lan_key("lan-a"), KEY_CLUSTER, node_pool_key("pool-a")):
        world.reconcile(key)
    # At once, not after the health timeout: nothing will create them.
    with pytest.raises(ReconcileError, match="2 objects missing; observe mode does not create "
                                             "them: v1 ConfigMap web/web-config"):
        world.reconcile(WEB)
    assert not world.k8s.writes and not world.clock.sleeps


def test_health_times_out_on_the_injected_clock(tmp_path: Path) -> None:
    world = World(make_graph(tmp_path), ready=False)
    for node in reconciled_nodes(world.graph)[:-1]:
        world.reconcile(node.key)
    with pytest.raises(ReconcileError, match=r"web: not healthy after 1m: Deployment/web: "
                                             r"0 of 2 new replicas updated"):
        world.reconcile(WEB)
    assert world.clock.now > 60 and max(world.clock.sleeps) == 5.0  # backs off, bounded
    assert world.clock.sleeps[:3] == [0.2, 0.4, 0.8]


def test_health_waits_until_ready(tmp_path: Path) -> None:
    world = World(make_graph(tmp_path), ready=False)
    for node in reconciled_nodes(world.graph)[:-1]:
        world.reconcile(node.key)

    def become_ready(seconds: float) -> None:
        FakeClock.sleep(world.clock, seconds)
        dep = world.k8s.objects[("apps/v1", "Deployment", "web", "web")]
        dep["status"] = {"availableReplicas": 2, "updatedReplicas": 2}

    world.clock.sleep = become_ready  # type: ignore[method-assign]
    out = world.reconcile(WEB)
    assert out.healthy and world.clock.sleeps == [0.2]


def test_an_api_that_keeps_failing_ends_with_a_named_error(world: World) -> None:
    world.cloud.fail = RetriesExhausted("GET /datacenters: gave up after 6 attempts: HTTP 503")
    with pytest.raises(ReconcileError) as info:
        world.reconcile(KEY_DATACENTER)
    assert str(info.value).startswith("ionos/datacenter: RetriesExhausted: GET /datacenters")
    assert not world.cloud.writes


def test_a_kubernetes_failure_names_the_request(world: World) -> None:
    world.everything()

    def broken(*args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        raise RetriesExhausted("HTTP 503 Service Unavailable")

    world.k8s.list_managed = broken  # type: ignore[method-assign]
    with pytest.raises(ReconcileError, match=r"LIST apps/v1 Deployment in all namespaces "
                                             r"\(app.kubernetes.io/managed-by=platform-ops\): "
                                             "RetriesExhausted"):
        world.reconcile(WEB)


def test_a_bucket_change_writes_only_what_differs(world: World, tmp_path: Path) -> None:
    world.everything()
    off = make_graph(tmp_path, edit=lambda s: s.replace("versioning: true", "versioning: false"))
    out = world.reconcile(bucket_key("bkt-a"), off)
    assert out.writes == 1 and world.s3.writes["set_bucket_versioning"] == 2
    assert world.s3.buckets["bkt-a"]["versioning"] == "Suspended"
    assert world.reconcile(bucket_key("bkt-a"), off).writes == 0


def test_orphans_are_reported_by_the_datacenter_check(world: World) -> None:
    world.everything()
    dc_id = world.cloud.datacenters[0]["id"]
    world.cloud.create_lan(dc_id, {"name": "hand-made", "public": True})
    out = world.engine().check(world.graph.nodes[KEY_DATACENTER])
    assert len(out.orphans) == 1 and out.orphans[0].startswith("ionos/lan/hand-made (id ")


def test_the_inventory_lists_what_was_applied(world: World) -> None:
    world.everything()
    inv = world.k8s.objects[("v1", "ConfigMap", "web", desired.inventory_name("web"))]
    assert sorted(desired.parse_inventory(inv)) == [
        ("apps/v1", "Deployment", "web", "web"), ("v1", "ConfigMap", "web", "web-config")]
    assert copy.deepcopy(inv)["metadata"]["labels"][LABEL_COMPONENT] == "web"


def test_the_plan_names_a_resource_ionos_is_still_busy_with(world: World) -> None:
    world.everything()
    world.cloud.clusters[0]["metadata"]["state"] = "DEPLOYING"
    cluster = next(n for n in reconciled_nodes(world.graph) if n.kind == "cluster")
    out = world.reconcile(cluster.key, dry_run=True)
    name = world.graph.spec.ionos.cluster.name
    assert f"cluster {name} is DEPLOYING: the reconcile waits until it is ACTIVE" in \
        out.plan.notes
    world.cloud.clusters[0]["metadata"]["state"] = "ACTIVE"
    assert world.reconcile(cluster.key, dry_run=True).plan.notes == []
