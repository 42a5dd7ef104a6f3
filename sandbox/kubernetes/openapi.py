"""The OpenAPI documents: ``/openapi/v3`` (a root naming one document per group-version, each with
a PATCH operation per kind that accepts ``fieldValidation``, so ``kubectl apply`` sends Strict,
and the kinds' schemas in ``components.schemas`` with ``x-kubernetes-group-version-kind``, so
``kubectl explain`` works) and ``/openapi/v2`` (one Swagger 2.0 document of the same schemas, as
JSON). The schemas are built-in kinds' ``schemas.json`` and custom resources' CRD schemas.
"""

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


def group_version_doc(registry: Registry, group: str, version: str,
                      crds: CrdSchemas | None = None) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    types = registry.in_group_version(group, version)
    for rt in types:
        gvk = {"group": rt.group, "version": rt.version, "kind": rt.kind}
        op = {
            "x-kubernetes-group-version-kind": gvk,
            "x-kubernetes-action": "patch",
            "operationId": f"patch{rt.kind}",
            "parameters": [
                {"name": "fieldValidation", "in": "query", "schema": {"type": "string"}},
                {"name": "fieldManager", "in": "query", "schema": {"type": "string"}},
                {"name": "dryRun", "in": "query", "schema": {"type": "string"}},
                {"name": "force", "in": "query", "schema": {"type": "boolean"}},
            ],
            "responses": {"200": {"description": "OK"}, "201": {"description": "Created"}},
        }
        get = {"x-kubernetes-group-version-kind": gvk, "x-kubernetes-action": "get",
               "operationId": f"read{rt.kind}",
               "responses": {"200": {"description": "OK"}}}
        paths[_item_path(rt)] = {"get": get, "patch": op}
    return {"openapi": "3.0.0",
            "info": {"title": "Kubernetes (platform-ops sandbox)", "version": "v1.32.4"},
            "paths": paths, "components": {
                "schemas": _kind_schemas(types, crds or {}, "#/components/schemas/")}}


def swagger_doc(registry: Registry, crds: CrdSchemas | None = None) -> dict[str, Any]:
    """``/openapi/v2``: the definitions of every served kind (Swagger 2.0, JSON)."""
    return {"swagger": "2.0",
            "info": {"title": "Kubernetes (platform-ops sandbox)", "version": "v1.32.4"},
            "paths": {}, "definitions": _kind_schemas(registry.all(), crds or {},
                                                      "#/definitions/")}


def root_doc(registry: Registry, crds: CrdSchemas | None = None) -> dict[str, Any]:
    paths = {}
    for group, versions in sorted(registry.group_versions().items()):
        for version in versions:
            doc = group_version_doc(registry, group, version, crds)
            digest = hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:16]
            key = _gv_path(group, version)
            paths[key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash={digest.upper()}"}
    return {"paths": paths}
