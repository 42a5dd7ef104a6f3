"""Drift from field ownership (core/ownership.py, core/fieldpath.py) and the object decision
(core/component_plan.object_change). managedFields are built two ways: by the sandbox's
server-side apply (sandbox/kubernetes/ssa.py, our ground truth) and by hand in the exact
fieldsV1 shape a real API server writes (https://kubernetes.io/docs/reference/using-api/
server-side-apply/#field-management), e.g. a container port keyed by containerPort *and* the
defaulted protocol."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from platform_assets.core import desired, ownership
from platform_assets.core.calendar import Gate
from platform_assets.core.component_plan import apply_body, object_change
from platform_assets.core.fieldpath import (
    FieldPathError,
    parse_jq_path,
    parse_json_pointer,
)
from platform_assets.core.ownership import IgnoreRule
from platform_assets.names import FIELD_MANAGER
from sandbox.kubernetes import ssa

OPEN = Gate(True, "")
WANT = desired.stamp({
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "web", "labels": {"app": "web"}},
    "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
             "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [
                 {"name": "web", "image": "web:1", "ports": [{"containerPort": 80}],
                  "resources": {"requests": {"cpu": 0.5, "memory": "1G"}}}]}}},
}, "web")


def applied(obj: dict[str, Any], manager: str = FIELD_MANAGER) -> dict[str, Any]:
    """``obj`` as the sandbox stores it after our apply: owned by ``manager``, with what the
    server defaults and normalizes."""
    live = ssa.apply({"apiVersion": obj["apiVersion"], "kind": obj["kind"],
                      "metadata": {"name": obj["metadata"]["name"]}}, obj,
                     ssa.WriteContext(manager, obj["apiVersion"], "2026-11-25T00:00:00Z"))
    container = live["spec"]["template"]["spec"]["containers"][0]
    container["resources"]["requests"] = {"cpu": "500m", "memory": "1G"}
    container["ports"][0]["protocol"] = "TCP"
    container["terminationMessagePath"] = "/dev/termination-log"
    live["spec"]["strategy"] = {"type": "RollingUpdate"}
    live["status"] = {"availableReplicas": 2}
    return live


def update(live: dict[str, Any], new: dict[str, Any], manager: str) -> dict[str, Any]:
    ssa.record_update(live, new, ssa.WriteContext(manager, "apps/v1", "2026-11-25T01:00:00Z"))
    return new


def test_normalized_values_defaults_and_an_injected_sidecar_are_not_drift() -> None:
    live = applied(WANT)
    injected = copy.deepcopy(live)
    injected["spec"]["template"]["spec"]["containers"].append(
        {"name": "istio-proxy", "image": "proxyv2:1.24"})
    injected["metadata"].setdefault("annotations", {})["sidecar.istio.io/status"] = "{}"
    live = update(live, injected, "istio-sidecar-injector")
    assert ownership.lost_fields(WANT, live, FIELD_MANAGER) == []
    assert object_change(WANT, live, OPEN, "enforce").action == "no-op"


def test_a_scale_by_another_manager_is_drift_with_the_field_and_the_manager() -> None:
    live = applied(WANT)
    scaled = copy.deepcopy(live)
    scaled["spec"]["replicas"] = 5
    live = update(live, scaled, "kubectl-scale")
    lost = ownership.lost_fields(WANT, live, FIELD_MANAGER)
    assert lost is not None and [(f.text, f.observed, f.changed_by) for f in lost] == [
        ("spec.replicas", 5, "kubectl-scale")]
    change = object_change(WANT, live, OPEN, "enforce")
    assert change.action == "update" and change.drift
    assert [str(f) for f in change.fields] == ["spec.replicas: 5 -> 2 (changed by kubectl-scale)"]
    assert object_change(WANT, live, OPEN, "warn").action == "no-op"


def test_a_patched_image_and_a_removed_label_are_drift() -> None:
    live = applied(WANT)
    patched = copy.deepcopy(live)
    patched["spec"]["template"]["spec"]["containers"][0]["image"] = "web:evil"
    del patched["metadata"]["labels"]["app"]
    live = update(live, patched, "kubectl-patch")
    lost = {f.text: f.changed_by for f in ownership.lost_fields(WANT, live, FIELD_MANAGER) or []}
    assert lost == {'spec.template.spec.containers[name="web"].image': "kubectl-patch",
                    "metadata.labels.app": "removed"}


def test_our_fields_in_two_apply_entries_are_merged_and_a_status_apply_is_not_ours() -> None:
    live = applied(WANT)
    entry = live["metadata"]["managedFields"][0]
    assert entry["manager"] == FIELD_MANAGER and entry["operation"] == "Apply"
    # The server keeps one Apply entry per API version a manager applied with: split ours in
    # two (the spec under another version) and nothing is lost; the live entries stay as
    # they were (the owned tree is read, never written into).
    fields = entry["fieldsV1"]
    spec_entry = {**entry, "apiVersion": "apps/v1beta2", "fieldsV1": {"f:spec": fields["f:spec"]}}
    entry["fieldsV1"] = {k: v for k, v in fields.items() if k != "f:spec"}
    live["metadata"]["managedFields"].append(spec_entry)
    before = copy.deepcopy(live["metadata"]["managedFields"])
    assert ownership.lost_fields(WANT, live, FIELD_MANAGER) == []
    assert live["metadata"]["managedFields"] == before
    # The spec's ownership only in an Apply to the status subresource: not ours to count.
    spec_entry["subresource"] = "status"
    lost = ownership.lost_fields(WANT, live, FIELD_MANAGER) or []
    assert [f.text for f in lost] == ["spec"]
    single = applied(WANT)
    tree = ownership.owned_tree(single, FIELD_MANAGER)
    assert ownership.lost_fields(WANT, single, FIELD_MANAGER) == []
    assert tree == single["metadata"]["managedFields"][0]["fieldsV1"]


def test_an_hpa_owning_replicas_is_not_drift_and_our_apply_leaves_replicas_out() -> None:
    live = applied(WANT)
    scaled = copy.deepcopy(live)
    scaled["spec"]["replicas"] = 7
    live = update(live, scaled, ownership.HPA_MANAGER)
    assert ownership.lost_fields(WANT, live, FIELD_MANAGER) == []
    assert object_change(WANT, live, OPEN, "enforce").action == "no-op"
    # A spec change applies everything but the HPA's field.
    changed = desired.stamp({**WANT, "metadata": {**WANT["metadata"], "labels": {
        "app": "web", "tier": "front"}}}, "web")
    change = object_change(changed, live, OPEN, "enforce")
    assert change.action == "update" and not change.drift
    assert not [f for f in change.fields if f.path == "spec.replicas"]
    body = apply_body(changed, live)
    assert "replicas" not in body["spec"] and body["spec"]["template"] == changed["spec"][
        "template"]


def test_a_real_servers_fields_v1_with_a_defaulted_list_key() -> None:
    """A real API server keys container ports by containerPort and protocol, and records the
    defaulted protocol in the key even though the manifest left it out."""
    live = copy.deepcopy(WANT)
    live["metadata"]["managedFields"] = [{
        "manager": FIELD_MANAGER, "operation": "Apply", "apiVersion": "apps/v1",
        "fieldsType": "FieldsV1", "fieldsV1": {
            "f:metadata": {"f:annotations": {"f:platform-ops/applied-hash": {}},
                           "f:labels": {"f:app": {}, "f:app.kubernetes.io/managed-by": {},
                                        "f:platform-ops/component": {}}},
            "f:spec": {"f:replicas": {}, "f:selector": {"f:matchLabels": {"f:app": {}}},
                       "f:template": {
                "f:metadata": {"f:labels": {"f:app": {}}},
                "f:spec": {"f:containers": {'k:{"name":"web"}': {
                    ".": {}, "f:image": {}, "f:name": {},
                    "f:ports": {'k:{"containerPort":80,"protocol":"TCP"}': {
                        ".": {}, "f:containerPort": {}}},
                    "f:resources": {"f:requests": {"f:cpu": {}, "f:memory": {}}}}}}}}}}]
    assert ownership.lost_fields(WANT, live, FIELD_MANAGER) == []
    del live["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"]["f:template"]["f:spec"]
    live["metadata"]["managedFields"].append({
        "manager": "kubectl-edit", "operation": "Update", "apiVersion": "apps/v1",
        "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:template": {"f:spec": {
            "f:containers": {'k:{"name":"web"}': {"f:image": {}}}}}}}})
    lost = ownership.lost_fields(WANT, live, FIELD_MANAGER) or []
    # The pod spec left our set (reported once, at its top); kubectl-edit owns part of it now.
    assert [(f.text, f.owner) for f in lost] == [("spec.template.spec", "kubectl-edit")]


def test_ignore_rules_by_jq_path_pointer_and_manager() -> None:
    live = applied(WANT)
    patched = copy.deepcopy(live)
    patched["spec"]["template"]["spec"]["containers"][0]["image"] = "web:2"
    patched["spec"]["replicas"] = 3
    live = update(live, patched, "argo-rollouts")
    jq = IgnoreRule(kind="Deployment", patterns=(parse_jq_path(
        '.spec.template.spec.containers[] | select(.name == "web") | .image'),))
    other = IgnoreRule(kind="Deployment", patterns=(parse_jq_path(
        '.spec.template.spec.containers[] | select(.name == "db") | .image'),))
    pointer = IgnoreRule(kind="Deployment", patterns=(parse_json_pointer("/spec/replicas"),))
    by_manager = IgnoreRule(kind="*", managers=("argo-rollouts",))
    wrong_name = IgnoreRule(kind="Deployment", name="api", managers=("argo-rollouts",))

    def lost(*rules: IgnoreRule) -> list[str]:
        return [f.text for f in ownership.lost_fields(WANT, live, FIELD_MANAGER, rules) or []]

    both = ['spec.template.spec.containers[name="web"].image', "spec.replicas"]
    assert sorted(lost()) == sorted(both)
    assert lost(jq) == ["spec.replicas"]
    assert sorted(lost(other)) == sorted(both)
    assert lost(jq, pointer) == [] and lost(by_manager) == []
    assert sorted(lost(wrong_name)) == sorted(both)


def test_a_spec_change_shows_values_and_fields_the_spec_dropped() -> None:
    live = applied(WANT)
    spec = copy.deepcopy(WANT)
    del spec["metadata"]["labels"]["app"]
    spec["spec"]["replicas"] = 3
    changed = desired.stamp(spec, "web")
    change = object_change(changed, live, OPEN, "enforce")
    assert change.action == "update" and not change.drift
    shown = {f.path: (f.observed, f.desired) for f in change.fields}
    assert shown["spec.replicas"] == (2, 3)
    assert shown["metadata.labels.app"][0] == "web"


def test_an_object_without_managed_fields_is_compared_by_value() -> None:
    live = copy.deepcopy(WANT)
    assert ownership.lost_fields(WANT, live, FIELD_MANAGER) is None
    assert object_change(WANT, live, OPEN, "enforce").action == "no-op"
    live["spec"]["replicas"] = 4
    change = object_change(WANT, live, OPEN, "enforce")
    assert change.action == "update" and change.drift


def test_a_secret_drift_names_the_field_and_manager_but_never_the_value() -> None:
    want = desired.stamp({"apiVersion": "v1", "kind": "Secret",
                          "metadata": {"name": "s", "namespace": "web"},
                          "stringData": {"password": "hunter2"}}, "web")
    live = ssa.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}}, want,
                     ssa.WriteContext(FIELD_MANAGER, "v1", "2026-11-25T00:00:00Z"))
    assert ownership.lost_fields(want, live, FIELD_MANAGER) == []
    edited = copy.deepcopy(live)
    edited["stringData"] = {"password": "changed"}
    ssa.record_update(live, edited, ssa.WriteContext("kubectl-edit", "v1", "t"))
    change = object_change(want, edited, OPEN, "enforce")
    assert [str(f) for f in change.fields] == [
        'stringData: "(secret value)" -> "(secret value)" (changed by kubectl-edit)']


@pytest.mark.parametrize("text", ["spec/replicas", "/a/~2", ".spec.[x", "spec.replicas",
                                  '.a | select(.b = "c")'])
def test_bad_field_paths_are_rejected_with_a_reason(text: str) -> None:
    parse = parse_json_pointer if "/" in text and "select" not in text else parse_jq_path
    with pytest.raises(FieldPathError, match="cannot read|starts with|must be followed"):
        parse(text)
