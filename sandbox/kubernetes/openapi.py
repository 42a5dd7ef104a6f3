"""The OpenAPI documents: ``/openapi/v3`` (a root naming one document per group-version, each with
a PATCH operation per kind that accepts ``fieldValidation``, so ``kubectl apply`` sends Strict,
and the kinds' schemas in ``components.schemas`` with ``x-kubernetes-group-version-kind``, so
``kubectl explain`` works) and ``/openapi/v2`` (one Swagger 2.0 document of the same paths and
schemas, custom resources' converted as the v2 publisher does; served as JSON or, what
kubectl's client-side validation asks for, gnostic protobuf: ``openapi_v2pb.py``). The schemas
are built-in kinds' ``schemas.json`` and custom resources' CRD schemas."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sandbox.kubernetes import schema
from sandbox.kubernetes.registry import Registry, ResourceType

_SCALARS: dict[str, dict[str, Any]] = {
    "str": {"type": "string"}, "date": {"type": "string", "format": "date"},
    "datetime": {"type": "string", "format": "date-time"},
    "int": {"type": "integer", "format": "int32"}, "float": {"type": "number",
                                                            "format": "double"},
    "bool": {"type": "boolean"}, "object": {"type": "object"},
    "quantity": {"type": "string", "format": "quantity"},
    "intorstr": {"type": "string", "format": "int-or-string", "x-kubernetes-int-or-string": True},
}
CrdSchemas = dict[tuple[str, str, str], dict[str, Any]]


def _type_schema(typ: str, ref: str, seen: set[str]) -> dict[str, Any]:
    if typ.startswith("list["):
        return {"type": "array", "items": _type_schema(typ[5:-1], ref, seen)}
    if typ.startswith("dict["):
        inner = typ[typ.index(",") + 1:-1].strip()
        return {"type": "object", "additionalProperties": _type_schema(inner, ref, seen)}
    if typ in _SCALARS:
        return dict(_SCALARS[typ])
    seen.add(typ)
    return {"$ref": ref + typ}


def model_schemas(names: list[str], ref: str, gvks: dict[str, dict[str, str]],
                  ) -> dict[str, Any]:
    """OpenAPI schemas of ``names`` and every model they reference, keyed by model name."""
    models = schema.builtin_schemas()["models"]
    out: dict[str, Any] = {}
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in out or name not in models:
            continue
        seen: set[str] = set()
        props = {}
        for field, (typ, doc) in models[name].items():
            prop = _type_schema(typ, ref, seen)
            if "$ref" in prop and ref.startswith("#/components"):
                prop = {"allOf": [prop]}
            if doc:
                prop["description"] = doc
            props[field] = prop
        entry: dict[str, Any] = {"type": "object", "properties": props}
        if name in gvks:
            entry["x-kubernetes-group-version-kind"] = [gvks[name]]
        out[name] = entry
        todo.extend(seen)
    return out


def _kind_schemas(types: list[ResourceType], crds: CrdSchemas, ref: str) -> dict[str, Any]:
    gvks: dict[str, dict[str, str]] = {}
    out: dict[str, Any] = {}
    for rt in types:
        gvk = {"group": rt.group, "version": rt.version, "kind": rt.kind}
        if rt.custom:
            body = crds.get((rt.group, rt.version, rt.plural))
            if body is not None:
                name = f"{'.'.join(reversed(rt.group.split('.')))}.{rt.version}.{rt.kind}"
                out[name] = {**body, "x-kubernetes-group-version-kind": [gvk]}
            continue
        model = schema.model_of(rt.api_version, rt.kind)
        if model is not None:
            gvks[model] = gvk
    out.update(model_schemas(sorted(gvks), ref, gvks))
    return out


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _item_path(rt: ResourceType) -> str:
    if rt.namespaced:
        return f"{rt.prefix}/namespaces/{{namespace}}/{rt.plural}/{{name}}"
    return f"{rt.prefix}/{rt.plural}/{{name}}"


_QUERY = (("fieldValidation", "string"), ("fieldManager", "string"), ("dryRun", "string"),
          ("force", "boolean"))


def _operations(rt: ResourceType, swagger: bool) -> dict[str, Any]:
    """An item path's GET and PATCH, the PATCH with the query parameters kubectl looks for
    (``fieldValidation``: k8s.io/cli-runtime ``pkg/resource/query_param_verifier*.go``).
    Swagger 2.0 types a parameter itself, OpenAPI 3 through a schema."""
    gvk = {"group": rt.group, "version": rt.version, "kind": rt.kind}
    params = [{"name": name, "in": "query", "type": typ, "uniqueItems": True} if swagger
              else {"name": name, "in": "query", "schema": {"type": typ}}
              for name, typ in _QUERY]
    patch = {"x-kubernetes-group-version-kind": gvk, "x-kubernetes-action": "patch",
             "operationId": f"patch{rt.kind}", "parameters": params,
             "responses": {"200": {"description": "OK"}, "201": {"description": "Created"}}}
    get = {"x-kubernetes-group-version-kind": gvk, "x-kubernetes-action": "get",
           "operationId": f"read{rt.kind}", "responses": {"200": {"description": "OK"}}}
    return {"get": get, "patch": patch}


def group_version_doc(registry: Registry, group: str, version: str,
                      crds: CrdSchemas | None = None) -> dict[str, Any]:
    types = registry.in_group_version(group, version)
    paths = {_item_path(rt): _operations(rt, swagger=False) for rt in types}
    return {"openapi": "3.0.0",
            "info": {"title": "Kubernetes (platform-ops sandbox)", "version": "v1.32.4"},
            "paths": paths, "components": {
                "schemas": _kind_schemas(types, crds or {}, "#/components/schemas/")}}


def swagger_doc(registry: Registry, crds: CrdSchemas | None = None) -> dict[str, Any]:
    """``/openapi/v2``: every served kind's item path and definition (Swagger 2.0), custom
    resources' schemas converted to what v2 can say (``to_v2``)."""
    types = registry.all()
    v2_crds = {k: to_v2(v) for k, v in (crds or {}).items()}
    return {"swagger": "2.0",
            "info": {"title": "Kubernetes (platform-ops sandbox)", "version": "v1.32.4"},
            "paths": {_item_path(rt): _operations(rt, swagger=True) for rt in types},
            "definitions": _kind_schemas(types, v2_crds, "#/definitions/")}


def to_v2(s: dict[str, Any]) -> dict[str, Any]:
    """A CRD's OpenAPI v3 schema as the v2 document publishes it (k8s.io/apiextensions-apiserver
    ``pkg/controller/openapi/v2/conversion.go`` ToStructuralOpenAPIV2): no junctors; a
    nullable value untyped, without items or properties; a value keeping unknown fields
    without items or properties, and untyped if it was an object; an array without items
    untyped; a nullable property not required."""
    out = {k: v for k, v in s.items() if k not in ("allOf", "oneOf", "anyOf", "not")}
    if out.pop("nullable", False):
        for k in ("type", "items", "properties"):
            out.pop(k, None)
    if out.get("x-kubernetes-preserve-unknown-fields"):
        out.pop("items", None)
        out.pop("properties", None)
    if out.get("type") == "array" and "items" not in out:
        out.pop("type")
    if out.get("x-kubernetes-preserve-unknown-fields") and out.get("type") == "object":
        out.pop("type")
    props = out.get("properties")
    extra = out.get("additionalProperties")
    if isinstance(props, dict):
        nullable = {k for k, v in props.items() if isinstance(v, dict) and v.get("nullable")}
        if nullable and isinstance(out.get("required"), list):
            out["required"] = [r for r in out["required"] if r not in nullable] or None
        out["properties"] = {k: to_v2(v) if isinstance(v, dict) else v
                             for k, v in props.items()}
    if isinstance(extra, dict):
        if extra.get("nullable"):
            out["required"] = None
        out["additionalProperties"] = to_v2(extra)
    if isinstance(out.get("items"), dict):
        out["items"] = to_v2(out["items"])
    if out.get("required") is None:
        out.pop("required", None)
    return out


def root_doc(registry: Registry, crds: CrdSchemas | None = None) -> dict[str, Any]:
    paths = {}
    for group, versions in sorted(registry.group_versions().items()):
        for version in versions:
            doc = group_version_doc(registry, group, version, crds)
            digest = hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:16]
            key = _gv_path(group, version)
            paths[key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash={digest.upper()}"}
    return {"paths": paths}
