"""A minimal OpenAPI v3 surface: enough for ``kubectl apply`` (default ``--validate=strict``) to
find, per served kind, a PATCH operation that accepts ``fieldValidation``. No schemas are served,
so kubectl does no client-side validation and the sandbox does no strict field validation.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sandbox.kubernetes.registry import Registry, ResourceType


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _item_path(rt: ResourceType) -> str:
    if rt.namespaced:
        return f"{rt.prefix}/namespaces/{{namespace}}/{rt.plural}/{{name}}"
    return f"{rt.prefix}/{rt.plural}/{{name}}"


def group_version_doc(registry: Registry, group: str, version: str) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for rt in registry.in_group_version(group, version):
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
            "paths": paths, "components": {"schemas": {}}}


def root_doc(registry: Registry) -> dict[str, Any]:
    paths = {}
    for group, versions in sorted(registry.group_versions().items()):
        for version in versions:
            doc = group_version_doc(registry, group, version)
            digest = hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:16]
            key = _gv_path(group, version)
            paths[key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash={digest.upper()}"}
    return {"paths": paths}
