"""The sandbox's protobuf: objects read from ``application/vnd.kubernetes.protobuf`` bodies and
the OpenAPI v2 document written as gnostic protobuf, on hand-built messages.

Sources: k8s.io/apimachinery pkg/runtime/serializer/protobuf/protobuf.go (the ``k8s\\x00``
prefix and ``runtime.Unknown``), k8s.io/api apps/v1 and core/v1 types.go (field numbers, json
tags, pointers), k8s.io/apimachinery pkg/util/intstr (IntOrString: type 1, intVal 2, strVal 3),
github.com/google/gnostic-models openapiv2/OpenAPIv2.proto (Schema: ``_ref`` 1, ``type`` 22,
``items`` 23, ``properties`` 25, ``additionalProperties`` 21 a oneof of schema 1 / boolean 2).
"""

from __future__ import annotations

import pytest

from sandbox.kubernetes import openapi_v2pb, protobuf_bodies, protowire
from sandbox.kubernetes.protowire import message, string


def _unknown(api_version: str, kind: str, raw: bytes) -> bytes:
    return b"k8s\x00" + message(1, string(1, api_version) + string(2, kind)) + message(2, raw)


def _varint_field(number: int, value: int) -> bytes:
    """A varint written even when zero, as gogo writes set pointers and non-pointer scalars."""
    return protowire.key(number, protowire.VARINT) + protowire.varint(value)


def test_every_message_the_table_names_is_in_it() -> None:
    kinds, messages = protobuf_bodies._table()
    named = set(kinds.values()) | {f[2] for fields in messages.values() for f in fields
                                   if "/" in f[2]}
    assert named <= set(messages)


def test_a_deployment_keeps_a_pointer_zero_and_drops_omitempty_zeros() -> None:
    container = string(1, "web") + string(2, "nginx") + _varint_field(16, 0)  # stdin false
    pod_spec = message(2, container)
    template = message(1, message(11, string(1, "web"))) + message(2, pod_spec)
    surge = message(2, _varint_field(1, 1) + string(3, "25%"))  # RollingUpdate maxSurge
    strategy = string(1, "RollingUpdate") + message(2, surge)
    spec = (_varint_field(1, 0) + message(3, template) + message(4, strategy)
            + _varint_field(5, 0))  # replicas *0, minReadySeconds 0
    meta = message(1, string(1, "d") + message(8, b""))  # creationTimestamp zero
    obj = protobuf_bodies.decode(_unknown("apps/v1", "Deployment", meta + message(2, spec)))
    assert obj == {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
                   "spec": {"replicas": 0, "template": {
                       "metadata": {"labels": {"web": ""}},
                       "spec": {"containers": [{"name": "web", "image": "nginx"}]}},
                       "strategy": {"type": "RollingUpdate",
                                    "rollingUpdate": {"maxSurge": "25%"}}}}


def test_a_pod_reads_packed_and_unpacked_repeated_ints_and_negative_ints() -> None:
    packed = message(4, protowire.varint(1000) + protowire.varint(2000))
    unpacked = _varint_field(4, 3000)
    security = packed + unpacked + _varint_field(2, 0)  # runAsUser *0
    spec = message(14, security) + _varint_field(4, (1 << 64) - 5)  # grace -5
    obj = protobuf_bodies.decode(_unknown("v1", "Pod", message(2, spec)))
    assert obj["spec"] == {"terminationGracePeriodSeconds": -5, "securityContext": {
        "runAsUser": 0, "supplementalGroups": [1000, 2000, 3000]}}


def test_what_is_not_a_known_protobuf_object_is_a_decode_error() -> None:
    with pytest.raises(protobuf_bodies.DecodeError, match="prefix"):
        protobuf_bodies.decode(b"{}")
    with pytest.raises(protobuf_bodies.DecodeError, match="Widget"):
        protobuf_bodies.decode(_unknown("example.com/v1", "Widget", b""))
    with pytest.raises(protobuf_bodies.DecodeError, match="truncated"):
        protobuf_bodies.decode(_unknown("v1", "ConfigMap", b"\x0a\x05ab"))
    assert not protobuf_bodies.decodable("storage.k8s.io/v1", "StorageClass")


def test_a_v2_schema_is_written_in_field_order_with_its_oneofs() -> None:
    body = openapi_v2pb.schema(1, {
        "type": "object", "description": "d", "x-kubernetes-map-type": "atomic",
        "properties": {"b": {"$ref": "#/definitions/B"}, "a": {"type": "array", "items": {
            "type": "string"}}},
        "additionalProperties": False})
    ((number, schema),) = protowire.fields(body)
    fields = protowire.fields(schema)
    assert number == 1 and [n for n, _ in fields] == [4, 21, 22, 25, 31]
    values = dict(fields)
    assert values[21] == b"\x10\x00"  # boolean false, written: it is set in a oneof
    assert values[22] == string(1, "object")
    props = [dict(protowire.fields(p)) for _, p in protowire.fields(values[25])]
    assert [p[1] for p in props] == [b"a", b"b"]  # sorted as Go's json.Marshal sorts maps
    assert props[1][2] == string(1, "#/definitions/B")
    assert openapi_v2pb.negotiate("text/html") is None
    assert openapi_v2pb.negotiate("") == "application/json"
