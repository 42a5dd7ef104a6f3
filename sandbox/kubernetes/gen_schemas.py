"""Generate ``schemas.json``, the sandbox's description of the built-in kinds, from the model
metadata of the kubernetes Python client (``openapi_types``, ``attribute_map`` and the property
docstrings, which the client generates from the API server's OpenAPI document).

Run after changing the served kinds or the kubernetes client version:
``.venv/bin/python -m sandbox.kubernetes.gen_schemas``. Not imported at run time.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from sandbox.kubernetes.registry import BUILTINS

OUT = Path(__file__).with_name("schemas.json")

# Fields whose OpenAPI type is resource.Quantity (the Python client types them as plain
# strings): k8s.io/api's types.go, e.g. ResourceList = map[ResourceName]resource.Quantity.
QUANTITIES = {
    "V1ResourceRequirements": ("limits", "requests"),
    "V1VolumeResourceRequirements": ("limits", "requests"),
    "V1PersistentVolumeClaimStatus": ("capacity", "allocatedResources"),
    "V1PersistentVolumeSpec": ("capacity",),
    "V1NodeStatus": ("capacity", "allocatable"),
    "V1LimitRangeItem": ("default", "defaultRequest", "max", "min", "maxLimitRequestRatio"),
    "V1ResourceQuotaSpec": ("hard",),
    "V1ResourceQuotaStatus": ("hard", "used"),
    "V1EmptyDirVolumeSource": ("sizeLimit",),
    "V1PodSpec": ("overhead",),
    "V1ContainerStatus": ("allocatedResources",),
    "V1ResourceFieldSelector": ("divisor",),
}
# IntOrString fields (typed ``object`` by the client).
INT_OR_STRING = {
    "V1ServicePort": ("targetPort",),
    "V1RollingUpdateDeployment": ("maxSurge", "maxUnavailable"),
    "V1RollingUpdateDaemonSet": ("maxSurge", "maxUnavailable"),
    "V1RollingUpdateStatefulSetStrategy": ("maxUnavailable",),
    "V1HTTPGetAction": ("port",),
    "V1TCPSocketAction": ("port",),
    "V1PodDisruptionBudgetSpec": ("maxUnavailable", "minAvailable"),
    "V1NetworkPolicyPort": ("port",),
}
_DOC_RE = re.compile(r"#\s*noqa: E501\s*\n\s*\n(.*?)#\s*noqa: E501", re.S)


def _description(cls: Any, attr: str) -> str:
    prop = getattr(cls, attr, None)
    doc = getattr(getattr(prop, "fget", None), "__doc__", "") or ""
    m = _DOC_RE.search(doc)
    return " ".join(m.group(1).split()) if m else ""


def model_name(api_version: str, kind: str) -> str:
    version = api_version.rpartition("/")[2]
    return version[0].upper() + version[1:] + kind


def generate() -> dict[str, Any]:
    from kubernetes.client import models

    out_models: dict[str, dict[str, list[str]]] = {}
    kinds: dict[str, str] = {}

    def visit(name: str) -> None:
        if name in out_models:
            return
        cls = getattr(models, name, None)
        if cls is None:
            return
        fields: dict[str, list[str]] = {}
        out_models[name] = fields
        for attr, typ in cls.openapi_types.items():
            json_name = cls.attribute_map[attr]
            if json_name in QUANTITIES.get(name, ()):
                typ = "dict[str, quantity]" if typ.startswith("dict") else "quantity"
            elif json_name in INT_OR_STRING.get(name, ()):
                typ = "intorstr"
            fields[json_name] = [typ, _description(cls, attr)]
            for ref in re.findall(r"[A-Z]\w+", typ):
                visit(ref)

    for rt in BUILTINS:
        name = model_name(rt.api_version, rt.kind)
        if getattr(models, name, None) is None:  # the client prefixes clashing core names
            name = "Core" + name
        if getattr(models, name, None) is None:
            raise SystemExit(f"no model {name} in the kubernetes client for {rt.kind}")
        kinds[f"{rt.api_version}/{rt.kind}"] = name
        visit(name)
    from kubernetes import __version__

    return {"source": f"kubernetes Python client {__version__} model metadata",
            "kinds": kinds, "models": dict(sorted(out_models.items()))}


if __name__ == "__main__":
    OUT.write_text(json.dumps(generate(), separators=(",", ":"), sort_keys=True) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")  # noqa: T201 - a CLI
