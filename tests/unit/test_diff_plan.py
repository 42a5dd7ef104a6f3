"""The pure reconcile core: field diffs, plan decisions, desired objects and health by kind."""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path
from typing import Any

from platform_assets.core import desired
from platform_assets.core.calendar import Gate
from platform_assets.core.diff import MISSING, copied, diff, touches
from platform_assets.core.health import health, reconcile_handled
from platform_assets.core.plan import Plan, decide, delete_change
from platform_assets.names import ANNOTATION_APPLIED_HASH, LABEL_COMPONENT
from platform_assets.spec import load_spec

OPEN = Gate(True, "inside maintenance window w")
SHUT = Gate(False, "outside every maintenance window")
EXAMPLE = Path(__file__).resolve().parents[2] / "platform" / "platform.yaml"


def test_diff_compares_only_desired_fields() -> None:
    assert diff({"a": 1, "b": {"c": 2}}, {"a": 1, "b": {"c": 2, "d": 3}, "e": 4}) == []
    changes = diff({"a": 1, "b": {"c": 5}}, {"a": 1, "b": {"c": 2}})
    assert [(c.path, c.observed, c.desired) for c in changes] == [("b.c", 2, 5)]


def test_diff_lists_and_missing_fields() -> None:
    d = {"spec": {"ports": [{"port": 80, "name": "http"}], "hosts": ["a", "b"]}}
    o = {"spec": {"ports": [{"port": 80, "name": "http", "protocol": "TCP"}], "hosts": ["a", "c"]}}
    assert [c.path for c in diff(d, o)] == ["spec.hosts"]
    assert [c.path for c in diff({"x": {"y": 1}}, {})] == ["x"]
    assert diff({"x": 1}, {})[0].observed is MISSING
    assert diff({"n": 2}, {"n": 2.0}) == []
    assert [c.path for c in diff({"n": "2"}, {"n": 2})] == ["n"]
    assert diff({"a": 1}, {"a": 2}, ignore=["a"]) == []


def test_touches_matches_paths_and_children() -> None:
    changes = diff({"a": {"b": 1}, "ab": 2, "l": [{"x": 1}]}, {"a": {"b": 0}, "ab": 0, "l": [{}]})
    assert {c.path for c in touches(changes, ["a"])} == {"a.b"}
    assert {c.path for c in touches(changes, ["l"])} == {"l[0].x"}


def test_decide_create_update_noop() -> None:
    assert decide("r", exists=False, fields=[]).action == "create"
    assert decide("r", exists=True, fields=[]).action == "no-op"
    change = decide("r", exists=True, fields=diff({"nodeCount": 3}, {"nodeCount": 4}))
    assert change.action == "update" and change.writes


def test_immutable_change_plans_replace_only_when_allowed() -> None:
    fields = diff({"cpuFamily": "AMD_EPYC"}, {"cpuFamily": "INTEL_SKYLAKE"})
    blocked = decide("ionos/node_pool/p", True, fields, immutable=["cpuFamily"], gate=OPEN,
                     what="node pool p")
    assert blocked.action == "replace" and not blocked.writes
    assert "allow_replace" in blocked.blocked and "cpuFamily" in blocked.blocked
    allowed = decide("ionos/node_pool/p", True, fields, immutable=["cpuFamily"],
                     allow_replace=True, gate=OPEN)
    assert allowed.action == "replace" and allowed.writes
    deferred = decide("ionos/node_pool/p", True, fields, immutable=["cpuFamily"],
                      allow_replace=True, gate=SHUT)
    assert deferred.action == "deferred" and deferred.intended == "replace"
    assert not deferred.writes


def test_disruptive_update_waits_for_window() -> None:
    fields = diff({"k8sVersion": "1.33.1"}, {"k8sVersion": "1.32.6"})
    assert decide("c", True, fields, disruptive=["k8sVersion"], gate=SHUT).action == "deferred"
    assert decide("c", True, fields, disruptive=["k8sVersion"], gate=OPEN).action == "update"
    harmless = diff({"labels": {"a": "b"}}, {"labels": {}})
    assert decide("c", True, harmless, disruptive=["k8sVersion"], gate=SHUT).action == "update"


def test_drift_modes() -> None:
    fields = diff({"a": 1}, {"a": 2})
    assert decide("x", True, fields, drift=True, mode="enforce").action == "update"
    warn = decide("x", True, fields, drift=True, mode="warn")
    assert warn.action == "no-op" and warn.drift and warn.fields
    # warn still applies what the spec changed, and creates what is missing
    assert decide("x", True, fields, drift=False, mode="warn").action == "update"
    assert decide("x", False, [], mode="warn").action == "create"
    observe = decide("x", False, [], mode="observe")
    assert observe.action == "no-op" and "never writes" in observe.reason
    assert delete_change("x", OPEN, mode="observe").action == "no-op"
    assert delete_change("x", SHUT).action == "deferred"
    assert delete_change("x", OPEN).action == "delete"


def test_plan_rendering_and_counts() -> None:
    plan = Plan("platform/app")
    plan.add(decide("apps/v1 Deployment ns/web", True, diff({"spec": {"replicas": 2}},
                                                             {"spec": {"replicas": 1}})))
    plan.add(decide("v1 Service ns/web", False, []))
    plan.add(decide("v1 ConfigMap ns/c", True, []))
    assert plan.counts()["update"] == 1 and plan.counts()["create"] == 1
    assert plan.has_changes and plan.summary() == "1 to create, 1 to update"
    md = plan.to_markdown()
    assert md.splitlines()[0] == "| action | resource | changes | note |"
    assert "spec.replicas: 1 -> 2" in md
    text = plan.to_text()
    assert "  ~ apps/v1 Deployment ns/web" in text and "+ v1 Service ns/web" in text
    assert "ConfigMap" not in text
    assert not Plan("empty", [decide("a", True, [])]).has_changes


def test_desired_objects_of_example() -> None:
    spec = load_spec(EXAMPLE)
    pool = spec.ionos.node_pools[0]
    props = desired.node_pool_props(pool, spec.ionos.cluster, "dc-1",
                                    {"k8s-private": "1"})
    assert props["ramSize"] == 20 * 1024 and props["storageSize"] == 100
    assert props["lans"] == [{"id": 1, "dhcp": True, "routes": []}]
    assert props["maintenanceWindow"] == {"dayOfTheWeek": "Sunday", "time": "10:00:00Z"}
    assert desired.node_count_ok(pool, 4) and not desired.node_count_ok(pool, 6)
    helm = next(c for c in spec.platform if c.source.helm_release)
    objs = desired.component_objects(helm, [])
    assert objs.flux is not None and objs.flux["kind"] == "HelmRelease"
    assert objs.flux["metadata"]["namespace"] == helm.namespace
    ref = objs.flux["spec"]["chart"]["spec"]["sourceRef"]
    assert ref["namespace"] == "flux-system" and ref["kind"] == "HelmRepository"
    labels = objs.flux["metadata"]["labels"]
    assert labels[LABEL_COMPONENT] == helm.name
    assert objs.namespace == desired.namespace_object(helm.namespace)
    inv = desired.parse_inventory(objs.inventory)
    assert inv == [desired.obj_id(objs.flux)]


def test_an_inventory_of_the_wrong_shape_lists_nothing() -> None:
    # The inventory ConfigMap is read from the cluster, where others may write: an unreadable one
    # lists no kind (nothing pruned on a guess) instead of failing the reconcile.
    for data in ("not a map", {"objects": "7"}, {"objects": '{"a": 1}'}, {"objects": 7},
                 {"objects": "[1"}):
        assert desired.parse_inventory({"data": data}) == []
    ok = {"data": {"objects": '["apps/v1/Deployment/ns/web"]'}}
    assert desired.parse_inventory(ok) == [("apps/v1", "Deployment", "ns", "web")]


def test_stamp_hash_tracks_content_only() -> None:
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "n"},
           "data": {"a": "1"}}
    a = desired.stamp(obj, "comp")
    assert desired.applied_hash(a) == desired.applied_hash(desired.stamp(a, "comp"))
    changed = desired.stamp({**obj, "data": {"a": "2"}}, "comp")
    assert desired.applied_hash(changed) != desired.applied_hash(a)
    assert ANNOTATION_APPLIED_HASH not in str(desired.comparable(a))


def test_health_by_kind() -> None:
    assert health({"kind": "PersistentVolumeClaim", "status": {"phase": "Pending"}})[1] \
        .startswith("Pending: no StorageClass")
    assert health({"kind": "PersistentVolumeClaim", "status": {"phase": "Bound"}})[0]
    hr: dict[str, Any] = {"kind": "HelmRelease", "metadata": {"generation": 1}, "status": {}}
    assert not health(hr)[0]
    hr["status"] = {"conditions": [{"type": "Ready", "status": "True", "observedGeneration": 1}],
                    "lastHandledReconcileAt": "t1"}
    assert health(hr)[0] and reconcile_handled(hr, "t1") and not reconcile_handled(hr, "t2")
    assert health({"kind": "ConfigMap"})[0] and health(None) == (False, "does not exist")


def test_a_plan_of_only_deferred_changes_has_changes_but_writes_nothing() -> None:
    fields = diff({"k8sVersion": "1.33.1"}, {"k8sVersion": "1.32.6"})
    plan = Plan("ionos/cluster")
    plan.add(decide("cluster/k8s", True, fields, disruptive=["k8sVersion"], gate=SHUT))
    plan.add(delete_change("lan/old", SHUT))
    assert [c.action for c in plan.changes] == ["deferred", "deferred"]
    assert [c.intended for c in plan.changes] == ["update", "delete"]
    assert plan.has_changes and plan.writes == [] and plan.blocked == []
    assert plan.summary() == "2 deferred"
    text = plan.to_text()
    assert "(deferred update: disruptive: k8sVersion; outside every maintenance window)" in text
    assert "(deferred delete: no longer in the spec; outside every maintenance window)" in text


def test_quantities_compare_by_value_where_kubernetes_normalizes_them() -> None:
    """The API server returns resource quantities in canonical form (``0.5`` -> ``500m``,
    ``1024Mi`` -> ``1Gi``): not drift. Elsewhere the same strings still differ."""
    want = {"spec": {"containers": [{"resources": {"requests": {"cpu": 0.5, "memory": "1024Mi"},
                                                   "limits": {"cpu": "1000m"}}}],
                     "volumes": [{"emptyDir": {"sizeLimit": "1000M"}}]},
            "data": {"size": "1000m"}}
    got = {"spec": {"containers": [{"resources": {"requests": {"cpu": "500m", "memory": "1Gi"},
                                                  "limits": {"cpu": "1"}}}],
                    "volumes": [{"emptyDir": {"sizeLimit": "1G"}}]},
           "data": {"size": "1"}}
    assert [c.path for c in diff(want, got)] == ["data.size"]
    got["spec"]["containers"][0]["resources"]["requests"]["cpu"] = "250m"
    assert [c.path for c in diff(want, got)] == [
        "spec.containers[0].resources.requests.cpu", "data.size"]


def test_copied_is_a_deep_copy_of_json_shaped_data_and_of_what_yaml_adds() -> None:
    shared = {"k": "v"}
    obj: dict[str, Any] = {
        "metadata": {"name": "a", "labels": shared, "annotations": shared},
        "spec": {"ports": [{"port": 80}, {"port": 443}], "replicas": 2, "ratio": 0.5,
                 "on": True, "none": None, "when": dt.date(2026, 11, 26), "raw": b"\x00",
                 "pair": ({"a": 1},)},
    }
    out = copied(obj)
    assert out == obj == copy.deepcopy(obj)
    out["metadata"]["labels"]["k"] = "changed"
    out["spec"]["ports"][0]["port"] = 8080
    out["spec"]["pair"][0]["a"] = 2
    assert shared == {"k": "v"} and obj["spec"]["ports"][0] == {"port": 80}
    assert obj["spec"]["pair"][0] == {"a": 1}  # a tuple goes through copy.deepcopy
    assert out["metadata"]["annotations"] == {"k": "v"}  # a shared part is copied twice
