"""The component engine's replace of an object whose immutable fields changed, and a 422 the
table of immutable fields did not foresee, against the engine's in-memory fakes (no SDKs)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from platform_assets.core.graph import Graph, component_key
from platform_assets.engine.reconcile import Engine, Options, ReconcileError, ReconcileOutcome
from tests.unit.engine_fakes import CONFIG, DEPLOYMENT, FakeClock, FakeCluster, make_graph

SUNDAY_WINDOW = datetime(2026, 11, 22, 11, 0, tzinfo=UTC)  # inside the spec's window
WEDNESDAY = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)  # outside it
WEB = component_key("platform", "web")
DEPLOYMENT_ID = ("apps/v1", "Deployment", "web", "web")
JOB = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "migrate"},
       "spec": {"template": {"spec": {"containers": [{"name": "m", "image": "app:1"}],
                                      "restartPolicy": "Never"}}}}
JOB_ID = ("batch/v1", "Job", "web", "migrate")


class ApiError(Exception):
    """What the Kubernetes client raises for an error answer: the status and the JSON body."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(f"({status})")
        self.status = status
        self.body = json.dumps(body)


def graph(tmp: Path, objects: list[dict[str, Any]], allow_replace: bool = False) -> Graph:
    return make_graph(tmp, objects, edit=lambda s: s.replace(
        "    prune: true\n", f"    prune: true\n    allow_replace: {str(allow_replace).lower()}\n"))


def reconcile(g: Graph, k8s: FakeCluster, clock: FakeClock, now: datetime = SUNDAY_WINDOW,
              **opts: Any) -> ReconcileOutcome:
    assert g.base_dir is not None
    engine = Engine(g.spec, g.base_dir, kubernetes=k8s, now=lambda: now, sleep=clock.sleep,
                    clock=clock)
    return engine.reconcile(g.nodes[WEB], Options(**opts))


def reselected() -> dict[str, Any]:
    out = copy.deepcopy(DEPLOYMENT)
    out["spec"]["selector"]["matchLabels"] = {"app": "web", "tier": "front"}
    out["spec"]["template"]["metadata"]["labels"] = {"app": "web", "tier": "front"}
    return out


@pytest.fixture
def k8s() -> FakeCluster:
    return FakeCluster()


def test_a_selector_change_without_allow_replace_fails_before_any_write(
        tmp_path: Path, k8s: FakeCluster) -> None:
    clock = FakeClock()
    reconcile(graph(tmp_path, [DEPLOYMENT, CONFIG]), k8s, clock)
    k8s.writes.clear()
    with pytest.raises(ReconcileError, match="apps/v1 Deployment web/web: changing spec.selector "
                                             "needs a replace .* set allow_replace: true on "
                                             "component web"):
        reconcile(graph(tmp_path, [reselected(), CONFIG]), k8s, clock)
    assert not k8s.writes
    dry = reconcile(graph(tmp_path, [reselected(), CONFIG]), k8s, clock, dry_run=True)
    assert [c.action for c in dry.plan.blocked] == ["replace"] and not k8s.writes


def test_an_allowed_replace_deletes_in_the_background_then_creates_and_settles(
        tmp_path: Path, k8s: FakeCluster) -> None:
    clock = FakeClock()
    reconcile(graph(tmp_path, [DEPLOYMENT, CONFIG], allow_replace=True), k8s, clock)
    k8s.writes.clear()
    changed = graph(tmp_path, [reselected(), CONFIG], allow_replace=True)

    outside = reconcile(changed, k8s, clock, now=WEDNESDAY)
    assert [(c.action, c.intended) for c in outside.plan.changes if c.action != "no-op"] == [
        ("deferred", "replace")]
    assert not k8s.writes and not outside.writes

    out = reconcile(changed, k8s, clock)
    assert k8s.deletions == [(DEPLOYMENT_ID, "Background")]
    assert k8s.writes == {"DELETE": 1, "APPLY": 1}  # the inventory lists the same objects
    assert out.writes == 2
    assert k8s.objects[DEPLOYMENT_ID]["spec"]["selector"]["matchLabels"]["tier"] == "front"
    k8s.writes.clear()
    again = reconcile(changed, k8s, clock)
    assert not k8s.writes and not again.plan.has_changes


def test_a_job_is_deleted_in_the_foreground_and_awaited_on_the_injected_clock(
        tmp_path: Path, k8s: FakeCluster) -> None:
    clock = FakeClock()
    reconcile(graph(tmp_path, [JOB], allow_replace=True), k8s, clock)
    newer = copy.deepcopy(JOB)
    newer["spec"]["template"]["spec"]["containers"][0]["image"] = "app:2"
    k8s.linger = 3  # its Pods take three looks to go
    reconcile(graph(tmp_path, [newer], allow_replace=True), k8s, clock)
    assert k8s.deletions == [(JOB_ID, "Foreground")]
    assert clock.sleeps[:3] == [0.2, 0.4, 0.8]
    assert k8s.objects[JOB_ID]["spec"]["template"]["spec"]["containers"][0]["image"] == "app:2"


def test_an_object_that_outlives_the_timeout_fails_and_a_rerun_creates_it(
        tmp_path: Path, k8s: FakeCluster) -> None:
    clock = FakeClock()
    reconcile(graph(tmp_path, [JOB], allow_replace=True), k8s, clock)
    newer = copy.deepcopy(JOB)
    newer["spec"]["template"]["spec"]["containers"][0]["image"] = "app:2"
    g = graph(tmp_path, [newer], allow_replace=True)
    k8s.linger = 1000
    with pytest.raises(ReconcileError, match="v1 Job web/migrate was deleted to be replaced but "
                                             r"is still there after 1m \(finalizers: none\)"):
        reconcile(g, k8s, clock)
    assert clock.now <= 60 + 5  # bounded by the health timeout, the last sleep included
    assert JOB_ID not in k8s.objects

    # A run killed (or failed) between the delete and the create: the next one creates it.
    k8s.terminating.clear()
    k8s.writes.clear()
    out = reconcile(g, k8s, clock)
    assert [c.action for c in out.plan.changes if c.address.endswith("migrate")] == ["create"]
    assert k8s.writes["DELETE"] == 0 and JOB_ID in k8s.objects
    k8s.writes.clear()
    reconcile(g, k8s, clock)
    assert not k8s.writes


def test_a_422_for_an_immutable_field_the_table_lacks_names_object_field_and_message(
        tmp_path: Path, k8s: FakeCluster) -> None:
    clock = FakeClock()
    reconcile(graph(tmp_path, [DEPLOYMENT, CONFIG]), k8s, clock)
    # As kube-apiserver answers a change a CRD's CEL rule (self == oldSelf) refuses; here on a
    # ConfigMap, which the table lets change, as an admission policy might refuse it.
    k8s.refusals[("v1", "ConfigMap", "web", "web-config")] = ApiError(422, {
        "kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Invalid",
        "code": 422, "message": 'ConfigMap "web-config" is invalid: data.greeting: Invalid',
        "details": {"name": "web-config", "kind": "ConfigMap", "causes": [{
            "reason": "FieldValueInvalid", "field": "data.greeting",
            "message": 'Invalid value: "string": greeting is immutable'}]}})
    with pytest.raises(ReconcileError) as info:
        reconcile(graph(tmp_path, [DEPLOYMENT, CONFIG | {"data": {"greeting": "bonjour"}}]),
                  k8s, clock)
    assert str(info.value) == (
        "component web: v1 ConfigMap web/web-config: the API server refuses to change "
        "data.greeting (HTTP 422: Invalid value: \"string\": greeting is immutable). It is "
        "immutable, which platform-ops did not know, so it planned an update that "
        "allow_replace cannot turn into a replace: revert the change, or delete the object so "
        "the next reconcile creates it anew")


def test_another_422_stays_the_servers_error(tmp_path: Path, k8s: FakeCluster) -> None:
    clock = FakeClock()
    reconcile(graph(tmp_path, [DEPLOYMENT, CONFIG]), k8s, clock)
    k8s.refusals[("v1", "ConfigMap", "web", "web-config")] = ApiError(422, {
        "kind": "Status", "code": 422, "reason": "Invalid",
        "message": 'ConfigMap "web-config" is invalid: data: Too long', "details": {
            "causes": [{"reason": "FieldValueTooLong", "field": "data", "message": "Too long"}]}})
    with pytest.raises(ReconcileError, match=r"^APPLY v1 ConfigMap web/web-config: HTTP 422: "
                                             "ConfigMap \"web-config\" is invalid: data: Too"):
        reconcile(graph(tmp_path, [DEPLOYMENT, CONFIG | {"data": {"greeting": "bonjour"}}]),
                  k8s, clock)


class Finalizing(FakeCluster):
    """Lists show the objects a delete left terminating, as a real API server does."""

    def list_managed(self, api_version: str, kind: str, namespace: str | None,
                     label_selector: str) -> list[dict[str, Any]]:
        found = super().list_managed(api_version, kind, namespace, label_selector)
        return found + [copy.deepcopy(o) for (a, k, ns, _), (o, _) in self.terminating.items()
                        if (a, k) == (api_version, kind) and namespace in (None, ns)]


def test_a_desired_object_being_deleted_is_waited_for_and_created_again(tmp_path: Path) -> None:
    """Someone deleted the ConfigMap the spec still has and a finalizer holds it: the run plans
    a create, polls until it is gone (injected clock), creates it, and a second run writes
    nothing (Flux's kustomize-controller recreates what it finds terminating the same way)."""
    k8s, clock = Finalizing(), FakeClock()
    g = graph(tmp_path, [DEPLOYMENT, CONFIG])
    reconcile(g, k8s, clock)
    cid = ("v1", "ConfigMap", "web", "web-config")
    held = k8s.objects.pop(cid)
    held["metadata"] |= {"deletionTimestamp": "2026-11-22T10:00:00Z", "uid": "old",
                         "finalizers": ["example.com/hold"]}
    k8s.terminating[cid] = (held, 3)
    k8s.writes.clear()
    out = reconcile(g, k8s, clock)
    [change] = [c for c in out.plan.changes if c.address.endswith("web-config")]
    assert change.action == "create" and "example.com/hold" in change.reason
    assert cid in k8s.objects and "deletionTimestamp" not in k8s.objects[cid]["metadata"]
    assert k8s.writes["APPLY"] == 1 and not k8s.writes["DELETE"] and clock.now > 0
    k8s.writes.clear()
    reconcile(g, k8s, clock)
    assert not k8s.writes
