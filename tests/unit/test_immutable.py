"""Immutable Kubernetes fields: update vs replace vs blocked vs deferred, per kind (pure core)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from platform_assets.core import desired, immutable
from platform_assets.core.calendar import Gate
from platform_assets.core.component_plan import ReplacePolicy, object_change, plan_component
from platform_assets.core.plan import Change
from platform_assets.spec.models import Component
from tests.unit.engine_fakes import DEPLOYMENT

Json = dict[str, Any]
OPEN = Gate(True, "inside maintenance window sunday")
CLOSED = Gate(False, "outside every maintenance window")
ALLOWED = ReplacePolicy("web", allow_replace=True)
NOT_ALLOWED = ReplacePolicy("web", allow_replace=False)


def stamped(obj: Json) -> Json:
    """The object as the component applies it (labels, applied-hash annotation)."""
    obj = copy.deepcopy(obj)
    obj["metadata"].setdefault("namespace", "web")
    return desired.stamp(obj, "web")


def change_of(before: Json, after: Json, *, policy: ReplacePolicy = NOT_ALLOWED,
              gate: Gate = OPEN, mode: str = "enforce") -> Change:
    """The change planned for ``after`` when the cluster holds ``before`` as applied."""
    return object_change(stamped(after), stamped(before), gate, mode, replacing=policy)


def edited(obj: Json, path: str, value: object) -> Json:
    out = copy.deepcopy(obj)
    *parents, last = path.split(".")
    node = out
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value
    return out


def test_a_deployment_selector_change_is_a_replace_the_component_must_allow() -> None:
    after = edited(DEPLOYMENT, "spec.selector.matchLabels", {"app": "web", "tier": "front"})
    blocked = change_of(DEPLOYMENT, after)
    assert blocked.action == "replace" and blocked.reason == "immutable: spec.selector"
    assert not blocked.writes
    assert blocked.blocked == (
        "apps/v1 Deployment web/web: changing spec.selector needs a replace (delete and "
        "re-create), as the API server refuses to update it; set allow_replace: true on "
        "component web to let a reconcile replace it (inside a maintenance window), or revert "
        "the change")

    allowed = change_of(DEPLOYMENT, after, policy=ALLOWED)
    assert allowed.action == "replace" and allowed.writes and allowed.disruptive
    assert not allowed.blocked

    deferred = change_of(DEPLOYMENT, after, policy=ALLOWED, gate=CLOSED)
    assert (deferred.action, deferred.intended) == ("deferred", "replace")
    assert not deferred.writes and not deferred.blocked
    assert deferred.reason == "immutable: spec.selector; outside every maintenance window"


def test_a_mutable_change_stays_an_update_and_observe_never_replaces() -> None:
    image = copy.deepcopy(DEPLOYMENT)
    image["spec"]["template"]["spec"]["containers"][0]["image"] = "web:2"
    assert change_of(DEPLOYMENT, image).action == "update"
    selector = edited(DEPLOYMENT, "spec.selector.matchLabels", {"app": "other"})
    observed = change_of(DEPLOYMENT, selector, mode="observe")
    assert observed.action == "no-op" and not observed.blocked


STATEFULSET = {
    "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"},
    "spec": {"serviceName": "db", "replicas": 1, "selector": {"matchLabels": {"app": "db"}},
             "template": {"metadata": {"labels": {"app": "db"}},
                          "spec": {"containers": [{"name": "db", "image": "db:1"}]}},
             "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
                 "accessModes": ["ReadWriteOnce"],
                 "resources": {"requests": {"storage": "1Gi"}}}}]},
}


@pytest.mark.parametrize(("path", "value"), [
    ("spec.replicas", 3), ("spec.minReadySeconds", 10),
    ("spec.updateStrategy", {"type": "OnDelete"}), ("spec.ordinals", {"start": 1}),
    ("spec.persistentVolumeClaimRetentionPolicy", {"whenScaled": "Delete"}),
    ("spec.template.metadata.labels", {"app": "db", "v": "2"}),
])
def test_a_statefulset_updates_the_fields_the_apiserver_lets_change(path: str,
                                                                    value: object) -> None:
    assert change_of(STATEFULSET, edited(STATEFULSET, path, value)).action == "update"


def test_every_other_statefulset_field_is_a_replace_named_below_spec() -> None:
    bigger = copy.deepcopy(STATEFULSET)
    bigger["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] = "2Gi"
    change = change_of(STATEFULSET, bigger, policy=ALLOWED)
    assert change.action == "replace" and change.reason == "immutable: spec.volumeClaimTemplates"
    renamed = change_of(STATEFULSET, edited(STATEFULSET, "spec.serviceName", "db-headless"))
    assert renamed.reason == "immutable: spec.serviceName" and renamed.blocked
    # Not in v1.32's list of mutable fields (kubernetes/kubernetes#130263).
    history = change_of(STATEFULSET, edited(STATEFULSET, "spec.revisionHistoryLimit", 3))
    assert history.reason == "immutable: spec.revisionHistoryLimit"


def test_a_statefulset_that_deletes_its_claims_with_it_is_never_replaced() -> None:
    retention = {"whenDeleted": "Delete", "whenScaled": "Retain"}
    before = edited(STATEFULSET, "spec.persistentVolumeClaimRetentionPolicy", retention)
    after = edited(before, "spec.serviceName", "db-headless")
    change = change_of(before, after, policy=ALLOWED)
    assert change.action == "replace" and not change.writes
    assert "deletes its PersistentVolumeClaims too" in change.blocked
    assert "never does on its own" in change.blocked


PVC = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"},
       "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "ssd",
                "resources": {"requests": {"storage": "10Gi"}}}}


BOUND = {"status": {"phase": "Bound", "capacity": {"storage": "10Gi"}}}


def test_a_bound_claim_grows_in_place_and_never_shrinks_below_its_capacity() -> None:
    grown = edited(PVC, "spec.resources.requests", {"storage": "20Gi"})
    assert change_of(PVC | BOUND, grown).action == "update"

    shrunk = change_of(PVC | BOUND, edited(PVC, "spec.resources.requests", {"storage": "5Gi"}),
                       policy=ALLOWED)
    assert shrunk.action == "replace" and not shrunk.writes
    assert shrunk.blocked.startswith(
        "v1 PersistentVolumeClaim web/data: spec.resources.requests.storage cannot shrink")
    assert "deletes its volume and the data on it" in shrunk.blocked

    # An expansion to 20Gi that failed (capacity still 10Gi) may be taken back to 15Gi
    # (RecoverVolumeExpansionFailure): above the capacity, a lower request is no shrink.
    failed = edited(PVC, "spec.resources.requests", {"storage": "20Gi"}) | BOUND
    retried = edited(PVC, "spec.resources.requests", {"storage": "15Gi"})
    assert change_of(failed, retried).action == "update"


def test_a_claim_is_never_replaced_and_its_requests_change_only_once_bound() -> None:
    pending = change_of(PVC, edited(PVC, "spec.resources.requests", {"storage": "20Gi"}),
                        policy=ALLOWED)
    assert pending.action == "replace" and not pending.writes
    assert pending.reason == "immutable: spec.resources.requests"

    moved = change_of(PVC | BOUND, edited(PVC, "spec.storageClassName", "hdd"), policy=ALLOWED,
                      gate=CLOSED)
    assert moved.action == "replace" and moved.intended is None and not moved.writes
    assert moved.reason == "immutable: spec.storageClassName"
    assert "changing spec.storageClassName needs a replace" in moved.blocked


def test_a_secret_type_is_immutable_and_its_data_only_when_immutable_is_set() -> None:
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "tls"},
              "type": "Opaque", "data": {"k": "YQ=="}}
    retyped = change_of(secret, secret | {"type": "kubernetes.io/tls"}, policy=ALLOWED)
    assert retyped.action == "replace" and retyped.reason == "immutable: type"
    new_data = secret | {"data": {"k": "Yg=="}}
    assert change_of(secret, new_data).action == "update"
    frozen = change_of(secret | {"immutable": True}, new_data | {"immutable": True},
                       policy=ALLOWED)
    assert frozen.action == "replace" and frozen.reason == "immutable: data"


def test_an_immutable_configmap_data_change_is_a_replace() -> None:
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
              "data": {"a": "1"}}
    assert change_of(config, config | {"data": {"a": "2"}}).action == "update"
    frozen = config | {"immutable": True}
    change = change_of(frozen, frozen | {"data": {"a": "2"}})
    assert change.action == "replace" and change.reason == "immutable: data" and change.blocked


@pytest.mark.parametrize(("obj", "path", "value", "field"), [
    ({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "migrate"},
      "spec": {"template": {"spec": {"containers": [{"name": "m", "image": "app:1"}],
                                     "restartPolicy": "Never"}}}},
     "spec.template.spec.restartPolicy", "OnFailure", "spec.template"),
    ({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
      "spec": {"clusterIP": "10.0.0.7", "ports": [{"port": 80}]}},
     "spec.clusterIP", "None", "spec.clusterIP"),
    ({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
      "metadata": {"name": "rb"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io",
                                              "kind": "Role", "name": "view"}},
     "roleRef.name", "edit", "roleRef"),
    ({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "ssd"},
      "provisioner": "cloud.ionos.com", "parameters": {"type": "SSD"}},
     "parameters.type", "HDD", "parameters"),
    ({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent"},
      "spec": {"selector": {"matchLabels": {"app": "agent"}}}},
     "spec.selector.matchLabels.app", "agent2", "spec.selector"),
])
def test_each_kind_of_the_table_replaces_its_immutable_fields(obj: Json, path: str,
                                                              value: object,
                                                              field: str) -> None:
    change = change_of(obj, edited(obj, path, value), policy=ALLOWED)
    assert (change.action, change.reason, change.blocked) == (
        "replace", f"immutable: {field}", "")


def test_an_empty_cluster_ip_keeps_the_allocated_one() -> None:
    # Charts often render clusterIP: ""; the apiserver keeps the allocated address then.
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
               "spec": {"clusterIP": "10.0.0.7", "ports": [{"port": 80}]}}
    assert change_of(service, edited(service, "spec.clusterIP", "")).action == "update"


def test_the_component_setting_reaches_the_plan_and_a_replace_applies_the_whole_object() -> None:
    manifests = [copy.deepcopy(DEPLOYMENT) | {"metadata": {"name": "web", "namespace": "web"}}]
    for allow in (False, True):
        comp = Component.model_validate({"name": "web", "namespace": "web", "allow_replace": allow,
                                         "source": {"manifests": {"path": "m"}}})
        before = desired.component_objects(comp, copy.deepcopy(manifests))
        live = {desired.obj_id(o): copy.deepcopy(o) for o in before.all}
        after = copy.deepcopy(manifests)
        after[0]["spec"]["selector"]["matchLabels"] = {"app": "web2"}
        result = plan_component("platform/web", comp, desired.component_objects(comp, after),
                                live, [], OPEN)
        (change,) = [c for c in result.plan.changes if c.action == "replace"]
        assert bool(change.blocked) is not allow and bool(result.plan.writes) is allow


def test_delete_propagation_per_kind() -> None:
    assert immutable.propagation("batch/v1", "Job") == "Foreground"
    assert immutable.propagation("apps/v1", "StatefulSet") == "Foreground"
    assert immutable.propagation("apps/v1", "Deployment") == "Background"
    assert immutable.propagation("v1", "Service") == "Background"


def test_a_422_names_the_immutable_fields_it_refuses() -> None:
    # The Status body kube-apiserver returns for a changed Deployment selector
    # (apimachinery errors.NewInvalid: one cause per field.Error).
    status = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Invalid",
              "code": 422, "message": 'Deployment.apps "web" is invalid: spec.selector: Invalid '
              'value: v1.LabelSelector{...}: field is immutable',
              "details": {"name": "web", "group": "apps", "kind": "Deployment", "causes": [
                  {"reason": "FieldValueInvalid", "field": "spec.selector",
                   "message": "Invalid value: v1.LabelSelector{...}: field is immutable"}]}}
    assert immutable.refused_fields(status) == [
        ("spec.selector", "Invalid value: v1.LabelSelector{...}: field is immutable")]
    cel = {"code": 422, "reason": "Invalid", "message": 'Widget.example.com "w" is invalid',
           "details": {"causes": [{"reason": "FieldValueInvalid", "field": "spec.size",
                                   "message": "Invalid value: \"string\": size is immutable"}]}}
    assert immutable.refused_fields(cel) == [
        ("spec.size", 'Invalid value: "string": size is immutable')]
    # A ValidatingAdmissionPolicy's denial: one cause, its message, no field.
    vap = {"code": 422, "reason": "Invalid", "message": 'configmaps "c" is forbidden: ...',
           "details": {"causes": [{"message": "ValidatingAdmissionPolicy 'p' with binding 'p' "
                                              "denied request: data.a is immutable"}]}}
    assert [f for f, _ in immutable.refused_fields(vap)] == [""]
    cluster_ip = {"code": 422, "reason": "Invalid", "details": {"causes": [
        {"reason": "FieldValueInvalid", "field": "spec.clusterIPs[0]",
         "message": 'Invalid value: []string{"10.0.0.9"}: may not change once set'}]}}
    assert [f for f, _ in immutable.refused_fields(cluster_ip)] == ["spec.clusterIPs[0]"]
    bad_value = {"code": 422, "reason": "Invalid", "message": "x is invalid", "details": {
        "causes": [{"reason": "FieldValueRequired", "field": "spec.template.spec.containers",
                    "message": "Required value"}]}}
    assert immutable.refused_fields(bad_value) == []
