"""``/openapi/v2`` as protobuf: the Swagger 2.0 JSON document encoded as the ``Document`` message
of github.com/google/gnostic-models ``openapiv2/OpenAPIv2.proto`` (package ``openapi.v2``),
what k8s.io/kube-openapi ``pkg/handler/handler.go`` serves (``ToProtoBinary``: gnostic's
``ParseDocument`` of the JSON, then ``proto.Marshal``) and kubectl's client-side schema reads
(k8s.io/client-go ``discovery.OpenAPISchema``).

As gnostic's compiler maps the JSON: ``$ref`` is ``_ref``; ``type`` a ``TypeItem`` list;
``items`` an ``ItemsItem`` list; ``additionalProperties`` a schema or a boolean; maps
(``definitions``, ``properties``, ``paths``, ``responses``) lists of named pairs in key order
(Go's ``json.Marshal`` of the spec sorts map keys); ``enum``, ``default``, ``example`` and every
``x-`` extension an ``Any`` holding the value as YAML text. Proto3: zero values are not written.

Not encoded: ``parameters``/``responses``/``securityDefinitions`` at the document level, body
and header parameters, ``xml`` and ``externalDocs`` (the sandbox's document has none). Keys the
v2 Schema does not define (``anyOf``, ``nullable``...) are skipped; gnostic would reject them,
and the document's CRD schemas are converted to v2 first (``openapi.to_v2``), which drops them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import yaml

from sandbox.kubernetes.protowire import (
    VARINT,
    boolean,
    double,
    integer,
    key,
    message,
    string,
    varint,
)

# The Accept types k8s.io/kube-openapi pkg/handler/handler.go serves the document as, and the
# Content-Type it answers protobuf with (the deprecated ``@`` spelling answers the new one).
JSON = "application/json"
PROTOBUF = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
PROTOBUF_DEPRECATED = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
SERVED = (JSON, PROTOBUF_DEPRECATED, PROTOBUF)

Json = Mapping[str, Any]


def _any(number: int, value: Any) -> bytes:
    """An ``Any`` (field 2: ``yaml``), as gnostic's ``NewAny`` writes it: the value's YAML."""
    text = yaml.safe_dump(value, default_flow_style=False, sort_keys=False)
    return message(number, string(2, text))


def _named(number: int, items: Mapping[str, Any], value: Callable[[int, Any], bytes]) -> bytes:
    """Named pairs (``NamedSchema``, ``NamedPathItem``...: name 1, value 2), sorted by name."""
    return b"".join(message(number, string(1, name) + value(2, items[name]))
                    for name in sorted(items))


def _extensions(number: int, obj: Json) -> bytes:
    """The ``x-`` keys as ``NamedAny`` pairs, in the document's key order."""
    return b"".join(message(number, string(1, k) + _any(2, v))
                    for k, v in obj.items() if k.startswith("x-"))


def _strings(number: int, values: Any) -> bytes:
    if isinstance(values, str):
        values = [values]
    return b"".join(message(number, str(v).encode()) for v in values or [])


def _str(number: int, value: Any) -> bytes:
    return string(number, str(value))


def _double(number: int, value: Any) -> bytes:
    return double(number, float(value))


def _int(number: int, value: Any) -> bytes:
    return integer(number, int(value))


def _bool(number: int, value: Any) -> bytes:
    return boolean(number, bool(value))


def _anys(number: int, values: Any) -> bytes:
    return b"".join(_any(number, v) for v in values or [])


def _additional(number: int, value: Any) -> bytes:
    """An ``AdditionalPropertiesItem``: a oneof of a schema (1) or a boolean (2); a oneof's
    ``false`` is written, unlike a plain field's."""
    if isinstance(value, bool):
        return message(number, key(2, VARINT) + varint(int(value)))
    return message(number, schema(1, value)) if isinstance(value, Mapping) else b""


def _type(number: int, value: Any) -> bytes:
    return message(number, _strings(1, value))


def _items(number: int, value: Any) -> bytes:
    """An ``ItemsItem``: one schema, or a list of them (tuple validation)."""
    items = value if isinstance(value, list) else [value]
    return message(number, b"".join(schema(1, i) for i in items if isinstance(i, Mapping)))


def _all_of(number: int, value: Any) -> bytes:
    return b"".join(schema(number, s) for s in value or [] if isinstance(s, Mapping))


def _properties(number: int, value: Any) -> bytes:
    return message(number, _named(1, value, schema)) if isinstance(value, Mapping) else b""


# OpenAPIv2.proto ``message Schema``: JSON key -> (field number, writer).
_SCHEMA: dict[str, tuple[int, Callable[[int, Any], bytes]]] = {
    "$ref": (1, _str), "format": (2, _str), "title": (3, _str), "description": (4, _str),
    "default": (5, _any), "multipleOf": (6, _double), "maximum": (7, _double),
    "exclusiveMaximum": (8, _bool), "minimum": (9, _double), "exclusiveMinimum": (10, _bool),
    "maxLength": (11, _int), "minLength": (12, _int), "pattern": (13, _str),
    "maxItems": (14, _int), "minItems": (15, _int), "uniqueItems": (16, _bool),
    "maxProperties": (17, _int), "minProperties": (18, _int), "required": (19, _strings),
    "enum": (20, _anys), "additionalProperties": (21, _additional), "type": (22, _type),
    "items": (23, _items), "allOf": (24, _all_of), "properties": (25, _properties),
    "discriminator": (26, _str), "readOnly": (27, _bool), "example": (30, _any),
}


def schema(number: int, s: Json) -> bytes:
    """One ``Schema`` message as field ``number`` of its parent."""
    parts = [(n, write(n, s[name])) for name, (n, write) in _SCHEMA.items() if name in s]
    return message(number, _in_order([*parts, (31, _extensions(31, s))]))


def _in_order(parts: list[tuple[int, bytes]]) -> bytes:
    """Fields in number order, as Go's ``proto.Marshal`` writes them."""
    return b"".join(body for _, body in sorted(parts, key=lambda p: p[0]))


# Query and form parameters (QueryParameterSubSchema, FormDataParameterSubSchema) number their
# fields one past path and header parameters' (they have ``allowEmptyValue`` at 5).
_PARAMETER_FIELDS = {"query": (3, 1), "formData": (2, 1), "path": (4, 0), "header": (1, 0)}


def _parameter(p: Json) -> bytes:
    """A ``ParametersItem``: a ``$ref`` to a shared parameter, a body parameter or a
    non-body one (its sub-schema chosen by ``in``)."""
    if "$ref" in p:
        return message(2, string(1, str(p["$ref"])))
    where = str(p.get("in") or "")
    if where == "body":
        body = _in_order([(1, string(1, str(p.get("description") or ""))),
                          (2, string(2, str(p.get("name") or ""))), (3, string(3, where)),
                          (4, boolean(4, bool(p.get("required"))))]
                         + ([(5, schema(5, p["schema"]))] if "schema" in p else [])
                         + [(6, _extensions(6, p))])
        return message(1, message(1, body))
    choice, shift = _PARAMETER_FIELDS[where]
    sub = _in_order([
        (1, boolean(1, bool(p.get("required")))), (2, string(2, where)),
        (3, string(3, str(p.get("description") or ""))), (4, string(4, str(p.get("name") or ""))),
        (5, boolean(5, bool(p.get("allowEmptyValue"))) if shift else b""),
        (5 + shift, string(5 + shift, str(p.get("type") or ""))),
        (6 + shift, string(6 + shift, str(p.get("format") or ""))),
        (19 + shift, boolean(19 + shift, bool(p.get("uniqueItems")))),
        (22 + shift, _extensions(22 + shift, p))])
    return message(1, message(2, message(choice, sub)))


def _response(number: int, r: Json) -> bytes:
    """A ``ResponseValue`` holding a ``Response`` (description, a ``SchemaItem`` schema)."""
    body = string(1, str(r.get("description") or ""))
    if "schema" in r:
        body += message(2, schema(1, r["schema"]))
    return message(number, message(1, body + _extensions(5, r)))


def _operation(number: int, op: Json) -> bytes:
    parts = [(1, _strings(1, op.get("tags"))), (2, string(2, str(op.get("summary") or ""))),
             (3, string(3, str(op.get("description") or ""))),
             (5, string(5, str(op.get("operationId") or ""))),
             (6, _strings(6, op.get("produces"))), (7, _strings(7, op.get("consumes"))),
             (8, b"".join(message(8, _parameter(p)) for p in op.get("parameters") or [])),
             (10, _strings(10, op.get("schemes"))),
             (11, boolean(11, bool(op.get("deprecated")))), (13, _extensions(13, op))]
    if "responses" in op:
        parts.append((9, message(9, _named(1, op["responses"], _response))))
    return message(number, _in_order(parts))


_VERBS = {"get": 2, "put": 3, "post": 4, "delete": 5, "options": 6, "head": 7, "patch": 8}


def _path_item(number: int, item: Json) -> bytes:
    parts = [(n, _operation(n, item[verb])) for verb, n in _VERBS.items() if verb in item]
    parts += [(9, b"".join(message(9, _parameter(p)) for p in item.get("parameters") or [])),
              (10, _extensions(10, item))]
    return message(number, _in_order(parts))


def document(doc: Json) -> bytes:
    """The serialized ``Document`` of a Swagger 2.0 JSON document."""
    info = doc.get("info") or {}
    parts = [(1, string(1, str(doc.get("swagger") or ""))),
             (2, message(2, string(1, str(info.get("title") or ""))
                         + string(2, str(info.get("version") or ""))
                         + string(3, str(info.get("description") or ""))
                         + _extensions(7, info))),
             (3, string(3, str(doc.get("host") or ""))),
             (4, string(4, str(doc.get("basePath") or ""))),
             (5, _strings(5, doc.get("schemes"))), (6, _strings(6, doc.get("consumes"))),
             (7, _strings(7, doc.get("produces"))), (16, _extensions(16, doc))]
    if "paths" in doc:
        paths = doc["paths"]
        parts.append((8, message(8, _extensions(1, paths) + _named(
            2, {k: v for k, v in paths.items() if not k.startswith("x-")}, _path_item))))
    if "definitions" in doc:
        parts.append((9, message(9, _named(1, doc["definitions"], schema))))
    return _in_order(parts)


def negotiate(accept: str) -> str | None:
    """The type ``/openapi/v2`` answers an Accept header with, None for a 406: the first
    served type matching a clause, clauses ordered as github.com/munnerz/goautoneg
    ``ParseAccept`` sorts them (by ``q``, then concrete before wildcard), as kube-openapi's
    handler does. An empty header is ``*/*``; a ``q=0`` clause still matches there."""
    clauses: list[tuple[float, bool, bool, str, str]] = []
    for part in (accept or "*/*").split(","):
        media, *params = part.strip().split(";")
        kind, _, sub = media.strip().partition("/")
        if not sub and kind != "*":
            continue
        q = 1.0
        for param in params:
            name, _, value = param.strip().partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        sub = sub.strip() or "*"
        clauses.append((-q, kind == "*", sub == "*", kind, sub))
    for *_, kind, sub in sorted(clauses, key=lambda c: c[:3]):
        for served in SERVED:
            s_kind, _, s_sub = served.partition("/")
            if kind in (s_kind, "*") and sub in (s_sub, "*"):
                return PROTOBUF if served == PROTOBUF_DEPRECATED else served
    return None
