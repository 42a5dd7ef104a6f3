"""JSON patch, merge patch and the strategic merge subset of the sandbox Kubernetes API."""

from __future__ import annotations

import pytest

from sandbox.kubernetes.patch import PatchError, json_patch, merge_patch, strategic_merge


def test_merge_patch_merges_maps_deletes_nulls_and_replaces_lists() -> None:
    doc = {"a": {"b": 1, "c": 2}, "l": [1, 2], "x": "keep"}
    out = merge_patch(doc, {"a": {"b": None, "d": 3}, "l": [3]})
    assert out == {"a": {"c": 2, "d": 3}, "l": [3], "x": "keep"}
    assert doc == {"a": {"b": 1, "c": 2}, "l": [1, 2], "x": "keep"}


def test_json_patch_operations_in_order() -> None:
    doc = {"data": {"a": "1"}, "items": [1, 2]}
    out = json_patch(doc, [
        {"op": "add", "path": "/data/b", "value": "2"},
        {"op": "replace", "path": "/data/a", "value": "9"},
        {"op": "add", "path": "/items/-", "value": 3},
        {"op": "move", "from": "/data/b", "path": "/data/c"},
        {"op": "copy", "from": "/data/a", "path": "/data/d"},
        {"op": "remove", "path": "/items/0"},
        {"op": "test", "path": "/data/d", "value": "9"},
        {"op": "add", "path": "/metadata~1x", "value": {}},
    ])
    assert out == {"data": {"a": "9", "c": "2", "d": "9"}, "items": [2, 3], "metadata/x": {}}


@pytest.mark.parametrize("ops", [
    [{"op": "remove", "path": "/missing"}],
    [{"op": "test", "path": "/a", "value": 2}],
    [{"op": "replace", "path": "/a"}],
    [{"op": "add", "path": "/l/9", "value": 1}],
    [{"op": "frobnicate", "path": "/a"}],
    {"op": "add"},
])
def test_json_patch_failures(ops: object) -> None:
    with pytest.raises(PatchError):
        json_patch({"a": 1, "l": []}, ops)


def test_strategic_merge_keyed_lists() -> None:
    pod = {"spec": {"containers": [
        {"name": "web", "image": "a", "env": [{"name": "X", "value": "1"}],
         "ports": [{"containerPort": 80}]},
        {"name": "side", "image": "s"}],
        "args": ["a", "b"]}}
    out = strategic_merge(pod, {"spec": {
        "$setElementOrder/containers": [{"name": "web"}, {"name": "side"}],
        "containers": [{"name": "web", "image": "b", "env": [{"name": "Y", "value": "2"}],
                        "ports": [{"containerPort": 443}]},
                       {"name": "side", "$patch": "delete"},
                       {"name": "new", "image": "n"}],
        "args": ["c"]}})
    assert out["spec"]["containers"] == [
        {"name": "web", "image": "b", "env": [{"name": "X", "value": "1"},
                                              {"name": "Y", "value": "2"}],
         "ports": [{"containerPort": 80}, {"containerPort": 443}]},
        {"name": "new", "image": "n"}]
    assert out["spec"]["args"] == ["c"]


def test_strategic_merge_conditions_by_type_and_map_delete() -> None:
    obj = {"status": {"conditions": [{"type": "Ready", "status": "False"}]},
           "spec": {"sub": {"a": 1}}}
    out = strategic_merge(obj, {"status": {"conditions": [{"type": "Ready", "status": "True"},
                                                          {"type": "Synced", "status": "True"}]},
                                "spec": {"sub": {"$patch": "delete"}}})
    assert out["status"]["conditions"] == [{"type": "Ready", "status": "True"},
                                           {"type": "Synced", "status": "True"}]
    assert out["spec"] == {}


def test_strategic_merge_rejects_unsupported_directives() -> None:
    with pytest.raises(PatchError, match=r"\$retainKeys"):
        strategic_merge({}, {"spec": {"$retainKeys": ["a"]}})
