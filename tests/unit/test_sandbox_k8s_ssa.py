"""Server-side apply field ownership of the sandbox Kubernetes API (managedFields, conflicts)."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.kubernetes.ssa import (
    ApplyConflict,
    WriteContext,
    apply,
    decode,
    flatten,
    from_fields,
    record_update,
    to_fields,
)


def ctx(manager: str, force: bool = False, keyed: bool = True) -> WriteContext:
    return WriteContext(manager=manager, api_version="v1", now="2026-01-01T00:00:00Z",
                        keyed=keyed, force=force)


def cm(**data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "namespace": "d"}, "data": data}


def owners(obj: dict[str, Any]) -> dict[str, Any]:
    return {m["manager"]: m["fieldsV1"] for m in obj["metadata"]["managedFields"]}


def test_fields_v1_round_trip_with_keyed_items() -> None:
    obj = {"spec": {"containers": [{"name": "web", "image": "a"}], "replicas": 2}}
    paths = set(flatten(obj))
    tree = to_fields(paths)
    assert tree == {"f:spec": {"f:replicas": {}, "f:containers": {
        'k:{"name":"web"}': {".": {}, "f:image": {}, "f:name": {}}}}}
    assert from_fields(tree) == paths


def test_apply_creates_ownership_and_is_idempotent() -> None:
    live = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "d"}}
    first = apply(live, cm(a="1"), ctx("kubectl"))
    assert first["data"] == {"a": "1"}
    assert owners(first) == {"kubectl": {"f:data": {"f:a": {}}}}
    assert first["metadata"]["managedFields"][0]["operation"] == "Apply"
    second = apply(first, cm(a="1"), ctx("kubectl"))
    assert second == first


def test_conflict_force_and_shared_ownership() -> None:
    live = apply({"metadata": {"name": "c", "namespace": "d"}}, cm(a="1", b="1"), ctx("one"))
    with pytest.raises(ApplyConflict) as exc:
        apply(live, cm(a="2"), ctx("two"))
    status = exc.value.status()
    assert status["code"] == 409
    assert status["message"] == 'Apply failed with 1 conflict: conflict with "one": .data.a'
    shared = apply(live, cm(b="1"), ctx("two"))
    assert owners(shared)["two"] == {"f:data": {"f:b": {}}}
    assert owners(shared)["one"] == {"f:data": {"f:a": {}, "f:b": {}}}
    forced = apply(shared, cm(a="2", b="1"), ctx("two", force=True))
    assert forced["data"] == {"a": "2", "b": "1"}
    assert owners(forced)["one"] == {"f:data": {"f:b": {}}}


def test_omitted_fields_are_removed_unless_owned_elsewhere() -> None:
    live = apply({"metadata": {"name": "c", "namespace": "d"}}, cm(a="1", b="1"), ctx("one"))
    live = apply(live, cm(b="1"), ctx("two"))
    after = apply(live, cm(), ctx("one"))
    assert after["data"] == {"b": "1"}


def test_update_takes_ownership_of_changed_fields() -> None:
    live = apply({"metadata": {"name": "c", "namespace": "d"}}, cm(a="1"), ctx("one"))
    new = {**live, "data": {"a": "2"}}
    record_update(live, new, ctx("editor"))
    entries = {e.manager: e for e in decode(new["metadata"]["managedFields"])}
    assert set(entries) == {"editor"}
    assert entries["editor"].operation == "Update"
    with pytest.raises(ApplyConflict) as exc:
        apply(new, cm(a="3"), ctx("one"))
    assert '"editor" using v1' in exc.value.status()["message"]


def test_keyed_container_merge() -> None:
    def dep(*containers: dict[str, str]) -> dict[str, Any]:
        return {"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "w", "namespace": "d"},
                "spec": {"template": {"spec": {"containers": list(containers)}}}}

    live = apply({"metadata": {"name": "w", "namespace": "d"}},
                 dep({"name": "web", "image": "a"}), ctx("one"))
    live = apply(live, dep({"name": "side", "image": "s"}), ctx("two"))
    names = [c["name"] for c in live["spec"]["template"]["spec"]["containers"]]
    assert names == ["web", "side"]
    live = apply(live, dep(), ctx("one"))
    assert live["spec"]["template"]["spec"]["containers"] == [{"name": "side", "image": "s"}]


def test_custom_resource_lists_are_atomic() -> None:
    body = {"apiVersion": "x/v1", "kind": "X", "metadata": {"name": "a"},
            "spec": {"conditions": [{"type": "A"}]}}
    out = apply({"metadata": {"name": "a"}}, body, ctx("m", keyed=False))
    assert owners(out) == {"m": {"f:spec": {"f:conditions": {}}}}
