"""Validation, pruning, normalization and defaulting of objects, driven by schemas rather than
coded per kind: built-in kinds by ``schemas.json`` (generated from the kubernetes client's model
metadata, see ``gen_schemas.py``), custom resources by their CRD's ``openAPIV3Schema``.

What the real API server does and this module follows:

- Decoding a built-in kind: a value of the wrong JSON type is a 400 BadRequest ("cannot
  unmarshal ..."); unknown fields are dropped, and reported according to ``fieldValidation``
  (Strict: 400 BadRequest naming them all; Warn, the default: a ``Warning`` header; Ignore:
  silence). https://kubernetes.io/docs/reference/using-api/api-concepts/#field-validation
- Quantities are stored in canonical form (``quantity.py``).
- Defaulting per type (``DEFAULTS``, from k8s.io/kubernetes pkg/apis/*/v1/defaults.go).
- Custom resources: pruning of unknown fields (unless ``x-kubernetes-preserve-unknown-fields``)
  and defaulting (``default``) when a request is decoded, and, on the object the write would
  store, 422 Invalid for type, enum, required, pattern, length and range failures
  (https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#validation);
  ``celrules.py`` then evaluates the CRD's CEL rules unless one of those is blocking.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sandbox.kubernetes import quantity

SCHEMAS = Path(__file__).with_name("schemas.json")
_GO_TYPES = {"int": "int32", "str": "string", "bool": "bool", "float": "float64",
             "datetime": "v1.Time", "date": "string", "quantity": "resource.Quantity",
             "intorstr": "intstr.IntOrString"}


class DecodeError(Exception):
    """A body that does not decode into the kind (400 BadRequest)."""


_lock = threading.Lock()
_loaded: dict[str, Any] = {}


def builtin_schemas() -> dict[str, Any]:
    """``{"kinds": {"apps/v1/Deployment": "V1Deployment"}, "models": {...}}``, loaded once."""
    with _lock:
        if not _loaded:
            _loaded.update(json.loads(SCHEMAS.read_text()))
        return _loaded


def model_of(api_version: str, kind: str) -> str | None:
    return builtin_schemas()["kinds"].get(f"{api_version}/{kind}")


def _json_type(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int | float):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    return "object"


class _Walk:
    def __init__(self, models: dict[str, Any], defaults: bool = True):
        self.models = models
        self.defaults = defaults
        self.unknown: list[str] = []

    def value(self, v: Any, typ: str, path: str, owner: str) -> Any:
        if v is None:
            return None
        if typ in self.models:
            if not isinstance(v, dict):
                self._fail(v, path, owner, typ)
            return self.model(v, typ, path)
        if typ.startswith("list["):
            if not isinstance(v, list):
                self._fail(v, path, owner, typ)
            inner = typ[5:-1]
            return [self.value(x, inner, path, owner) for x in v]
        if typ.startswith("dict["):
            if not isinstance(v, dict):
                self._fail(v, path, owner, typ)
            inner = typ[typ.index(",") + 1:-1].strip()
            return {k: self.value(x, inner, f"{path}.{k}", owner) for k, x in v.items()}
        if typ == "quantity":
            if not isinstance(v, str | int | float) or isinstance(v, bool):
                self._fail(v, path, owner, typ)
            try:
                return quantity.canonical(v)
            except quantity.QuantityError as exc:
                raise DecodeError(f"{path}: {exc}") from None
        ok = {"str": isinstance(v, str), "date": isinstance(v, str),
              "datetime": isinstance(v, str),
              "int": isinstance(v, int) and not isinstance(v, bool),
              "float": isinstance(v, int | float) and not isinstance(v, bool),
              "bool": isinstance(v, bool),
              "intorstr": isinstance(v, str) or (isinstance(v, int) and not isinstance(v, bool)),
              }.get(typ, True)
        if not ok:
            self._fail(v, path, owner, typ)
        return v

    def model(self, obj: dict[str, Any], name: str, path: str) -> dict[str, Any]:
        fields = self.models[name]
        out: dict[str, Any] = {}
        for k, v in obj.items():
            sub = f"{path}.{k}" if path else k
            spec = fields.get(k)
            if spec is None:
                self.unknown.append(sub)
                continue
            if v is None:
                continue
            out[k] = self.value(v, spec[0], sub, name)
        default = DEFAULTS.get(name) if self.defaults else None
        if default is not None:
            default(out)
        return out

    def _fail(self, v: Any, path: str, owner: str, typ: str) -> None:
        short = re.sub(r"^(V\d+(alpha\d+|beta\d+)?|CoreV\d+)", "", owner)
        go = _GO_TYPES.get(typ, typ)
        if typ.startswith("list["):
            go = "[]" + _GO_TYPES.get(typ[5:-1], re.sub(r"^V\d+", "v1.", typ[5:-1]))
        elif typ.startswith("dict["):
            go = "map[string]" + _GO_TYPES.get(typ[typ.index(",") + 1:-1].strip(), "string")
        elif typ in self.models:
            go = re.sub(r"^(V\d+(alpha\d+|beta\d+)?|CoreV\d+)", "v1.", typ)
        raise DecodeError(f"json: cannot unmarshal {_json_type(v)} into Go struct field "
                          f"{short}.{path} of type {go}")


def decode_builtin(api_version: str, kind: str, obj: dict[str, Any],
                   ) -> tuple[dict[str, Any], list[str]]:
    """The object as the server decodes it: typed, pruned, quantities canonical, defaulted.

    Returns the object and the paths of the unknown fields it dropped; raises DecodeError.
    Kinds without a schema come back unchanged."""
    name = model_of(api_version, kind)
    if name is None:
        return obj, []
    walk = _Walk(builtin_schemas()["models"])
    out = walk.model(obj, name, "")
    return out, walk.unknown


def prune_builtin(api_version: str, kind: str, obj: dict[str, Any],
                  ) -> tuple[dict[str, Any], list[str]]:
    """Like ``decode_builtin`` without defaulting (for apply configurations, whose defaulted
    fields the applier does not own)."""
    name = model_of(api_version, kind)
    if name is None:
        return obj, []
    walk = _Walk(builtin_schemas()["models"], defaults=False)
    return walk.model(obj, name, ""), walk.unknown


# Defaulting as each type's SetDefaults_* function does it (k8s.io/kubernetes
# pkg/apis/core/v1/defaults.go, pkg/apis/apps/v1/defaults.go, ...).

def _set(obj: dict[str, Any], **values: Any) -> None:
    for k, v in values.items():
        if k not in obj:
            obj[k] = v


def _container(c: dict[str, Any]) -> None:
    image = str(c.get("image") or "")
    tail = image.rsplit("/", 1)[-1]
    latest = "@" not in tail and (":" not in tail or tail.endswith(":latest"))
    _set(c, terminationMessagePath="/dev/termination-log", terminationMessagePolicy="File",
         imagePullPolicy="Always" if latest else "IfNotPresent")


def _pod_spec(s: dict[str, Any]) -> None:
    _set(s, restartPolicy="Always", dnsPolicy="ClusterFirst", schedulerName="default-scheduler",
         securityContext={}, terminationGracePeriodSeconds=30)


def _service_port(p: dict[str, Any]) -> None:
    _set(p, protocol="TCP")
    if "port" in p:
        _set(p, targetPort=p["port"])


def _service_spec(s: dict[str, Any]) -> None:
    _set(s, type="ClusterIP", sessionAffinity="None")
    if s.get("type") != "ExternalName":
        _set(s, internalTrafficPolicy="Cluster", ipFamilyPolicy="SingleStack",
             ipFamilies=["IPv4"])
    if s.get("type") in ("NodePort", "LoadBalancer"):
        _set(s, externalTrafficPolicy="Cluster")
    if s.get("type") == "LoadBalancer":
        _set(s, allocateLoadBalancerNodePorts=True)


def _deployment_spec(s: dict[str, Any]) -> None:
    _set(s, replicas=1, revisionHistoryLimit=10, progressDeadlineSeconds=600,
         strategy={"type": "RollingUpdate"})
    strategy = s["strategy"]
    if isinstance(strategy, dict) and strategy.get("type", "RollingUpdate") == "RollingUpdate":
        _set(strategy, type="RollingUpdate")
        _set(strategy.setdefault("rollingUpdate", {}), maxSurge="25%", maxUnavailable="25%")


def _statefulset_spec(s: dict[str, Any]) -> None:
    _set(s, replicas=1, revisionHistoryLimit=10, podManagementPolicy="OrderedReady",
         updateStrategy={"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
         persistentVolumeClaimRetentionPolicy={"whenDeleted": "Retain", "whenScaled": "Retain"})


def _daemonset_spec(s: dict[str, Any]) -> None:
    _set(s, revisionHistoryLimit=10, updateStrategy={
        "type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}})


def _replication_controller(rc: dict[str, Any]) -> None:
    """SetDefaults_ReplicationController (pkg/apis/core/v1/defaults.go): an empty selector and
    empty object labels become the pod template's labels; ``spec.replicas`` defaults to 1
    (declaratively, ``+default=1`` on ReplicationControllerSpec.Replicas)."""
    spec = rc.get("spec")
    if not isinstance(spec, dict):
        return
    _set(spec, replicas=1)
    template = spec.get("template")
    labels = (template.get("metadata") or {}).get("labels") if isinstance(template, dict) \
        else None
    if not isinstance(labels, dict):
        return
    if not spec.get("selector"):
        spec["selector"] = dict(labels)
    meta = rc.setdefault("metadata", {})
    if isinstance(meta, dict) and not meta.get("labels"):
        meta["labels"] = dict(labels)


def _probe(p: dict[str, Any]) -> None:
    _set(p, timeoutSeconds=1, periodSeconds=10, successThreshold=1, failureThreshold=3)


def _hpa_v2_spec(s: dict[str, Any]) -> None:
    """pkg/apis/autoscaling/v2/defaults.go: minReplicas 1, cpu at 80% when no metric is given,
    and a given behavior's missing rules from the default scale-up and scale-down rules."""
    _set(s, minReplicas=1)
    if not s.get("metrics"):
        s["metrics"] = [{"type": "Resource", "resource": {"name": "cpu", "target": {
            "type": "Utilization", "averageUtilization": 80}}}]
    behavior = s.get("behavior")
    if not isinstance(behavior, dict):
        return
    for key, rules in (("scaleUp", {"stabilizationWindowSeconds": 0, "selectPolicy": "Max",
                                    "policies": [{"type": "Pods", "value": 4,
                                                  "periodSeconds": 15},
                                                 {"type": "Percent", "value": 100,
                                                  "periodSeconds": 15}]}),
                       ("scaleDown", {"selectPolicy": "Max", "policies": [
                           {"type": "Percent", "value": 100, "periodSeconds": 15}]})):
        given = behavior.get(key)
        behavior[key] = {**rules, **(given if isinstance(given, dict) else {})}


DEFAULTS: dict[str, Callable[[dict[str, Any]], None]] = {
    "V1Container": _container,
    "V1PodSpec": _pod_spec,
    "V1ContainerPort": lambda p: _set(p, protocol="TCP"),
    "V1ServicePort": _service_port,
    "V1ServiceSpec": _service_spec,
    "V1DeploymentSpec": _deployment_spec,
    "V1StatefulSetSpec": _statefulset_spec,
    "V1DaemonSetSpec": _daemonset_spec,
    "V1ReplicationController": _replication_controller,
    "V1Probe": _probe,
    "V1HTTPGetAction": lambda a: _set(a, scheme="HTTP"),
    "V1ConfigMapVolumeSource": lambda v: _set(v, defaultMode=420),
    "V1SecretVolumeSource": lambda v: _set(v, defaultMode=420),
    "V1PersistentVolumeClaimSpec": lambda s: _set(s, volumeMode="Filesystem"),
    "V1ObjectFieldSelector": lambda s: _set(s, apiVersion="v1"),
    # k8s.io/kubernetes pkg/apis/batch/v1/defaults.go SetDefaults_Job
    "V1JobSpec": lambda s: _set(s, completionMode="NonIndexed", suspend=False,
                                podReplacementPolicy="Failed" if "podFailurePolicy" in s
                                else "TerminatingOrFailed"),
    "V1PodFailurePolicyOnPodConditionsPattern": lambda p: _set(p, status="True"),
    "V1Secret": lambda s: _set(s, type="Opaque"),
    # k8s.io/kubernetes pkg/apis/storage/v1/defaults.go
    "V1StorageClass": lambda s: _set(s, reclaimPolicy="Delete", volumeBindingMode="Immediate"),
    # k8s.io/kubernetes pkg/apis/admissionregistration/v1/defaults.go
    "V1ValidatingAdmissionPolicySpec": lambda s: _set(s, failurePolicy="Fail"),
    "V1MatchResources": lambda m: _set(m, matchPolicy="Equivalent", namespaceSelector={},
                                       objectSelector={}),
    "V1NamedRuleWithOperations": lambda r: _set(r, scope="*"),
    # k8s.io/kubernetes pkg/apis/autoscaling/v1/defaults.go and v2/defaults.go
    "V1HorizontalPodAutoscalerSpec": lambda s: _set(s, minReplicas=1),
    "V2HorizontalPodAutoscalerSpec": _hpa_v2_spec,
}


def _cr_type_ok(v: Any, s: dict[str, Any]) -> bool:
    if s.get("x-kubernetes-int-or-string"):
        return isinstance(v, str) or (isinstance(v, int) and not isinstance(v, bool))
    typ = s.get("type")
    return {"object": isinstance(v, dict), "array": isinstance(v, list),
            "string": isinstance(v, str), "boolean": isinstance(v, bool),
            "integer": isinstance(v, int) and not isinstance(v, bool),
            "number": isinstance(v, int | float) and not isinstance(v, bool),
            }.get(str(typ), True)


def _render(v: Any) -> str:
    return json.dumps(v) if isinstance(v, str) else json.dumps(v, separators=(",", ":"))


class _CrWalk:
    def __init__(self, defaults: bool = False) -> None:
        self.defaults = defaults
        self.unknown: list[str] = []
        self.causes: list[tuple[str, str]] = []
        # A type, enum, required, too long or too many failure: the errors after which the
        # CRD's CEL rules are not evaluated (apiextensions-apiserver pkg/registry/
        # customresource/strategy.go ``hasBlockingErr``).
        self.blocking = False

    def _block(self, path: str, message: str) -> None:
        self.blocking = True
        self.causes.append((path, message))

    def value(self, v: Any, s: dict[str, Any], path: str) -> Any:
        if not isinstance(s, dict):
            return v
        if not _cr_type_ok(v, s):
            shown = "null" if v is None else _json_type(v).replace("bool", "boolean")
            self._block(path, f'Invalid value: "{shown}": {path} in body must be of '
                        f'type {s.get("type")}: {_render(v)}')
            return v
        if "enum" in s and v not in s["enum"]:
            allowed = ", ".join(_render(e) for e in s["enum"])
            self._block(path, f"Unsupported value: {_render(v)}: supported values: {allowed}")
        if isinstance(v, str):
            self._string(v, s, path)
        if isinstance(v, int | float) and not isinstance(v, bool):
            self._number(v, s, path)
        if isinstance(v, list):
            return self._array(v, s, path)
        if isinstance(v, dict):
            return self.object(v, s, path)
        return v

    def _string(self, v: str, s: dict[str, Any], path: str) -> None:
        if "maxLength" in s and len(v) > s["maxLength"]:
            self._block(path, f"Too long: may not be more than {s['maxLength']} bytes")
        if "minLength" in s and len(v) < s["minLength"]:
            self.causes.append((path, f"Invalid value: {_render(v)}: {path} in body should "
                                f"be at least {s['minLength']} chars long"))
        if "pattern" in s and isinstance(s["pattern"], str):
            try:
                matched = re.search(s["pattern"], v) is not None
            except re.error:
                matched = True  # a pattern Python cannot compile is not held against the value
            if not matched:
                self.causes.append((path, f"Invalid value: {_render(v)}: {path} in body"
                                    f" should match '{s['pattern']}'"))

    def _number(self, v: float, s: dict[str, Any], path: str) -> None:
        if "minimum" in s and v < s["minimum"]:
            self.causes.append((path, f"Invalid value: {v}: {path} in body should be "
                                f"greater than or equal to {s['minimum']}"))
        if "maximum" in s and v > s["maximum"]:
            self.causes.append((path, f"Invalid value: {v}: {path} in body should be "
                                f"less than or equal to {s['maximum']}"))

    def _array(self, v: list[Any], s: dict[str, Any], path: str) -> list[Any]:
        items = s.get("items")
        if "maxItems" in s and len(v) > s["maxItems"]:
            self._block(path, f"Too many: {len(v)}: must have at most {s['maxItems']} items")
        if "minItems" in s and len(v) < s["minItems"]:
            self.causes.append((path, f"Invalid value: {len(v)}: {path} in body should have "
                                f"at least {s['minItems']} items"))
        return [self.value(x, items, f"{path}[{i}]") if isinstance(items, dict) else x
                for i, x in enumerate(v)]

    def object(self, v: dict[str, Any], s: dict[str, Any], path: str,
               top: bool = False) -> dict[str, Any]:
        props = s.get("properties") or {}
        extra = s.get("additionalProperties")
        keep = bool(s.get("x-kubernetes-preserve-unknown-fields"))
        out: dict[str, Any] = {}
        for k, x in v.items():
            sub = f"{path}.{k}" if path else k
            if top and k in ("apiVersion", "kind", "metadata"):
                out[k] = x
            elif k in props:
                if x is None and not props[k].get("nullable"):
                    continue
                out[k] = self.value(x, props[k], sub)
            elif isinstance(extra, dict):
                out[k] = self.value(x, extra, sub)
            elif extra is True or keep:
                out[k] = x
            else:
                self.unknown.append(sub)
        if self.defaults:
            # apiextensions-apiserver pkg/apiserver/schema/defaulting/algorithm.go ``Default``:
            # an absent (or null, not nullable) property takes its schema's default.
            for k, p in props.items():
                if k not in out and isinstance(p, dict) and "default" in p and not (
                        k in v and p.get("nullable")):
                    out[k] = self.value(copy.deepcopy(p["default"]), p,
                                        f"{path}.{k}" if path else k)
        for req in s.get("required") or []:
            if req not in out:
                self._block(f"{path}.{req}" if path else req, "Required value")
        return out


def prune_custom(obj: dict[str, Any], open_api: dict[str, Any] | None, defaults: bool = True,
                 ) -> tuple[dict[str, Any], list[str]]:
    """A custom resource pruned (and unless ``defaults`` is false, defaulted) by its version's
    ``openAPIV3Schema``, as a request body is decoded. Returns the object and the unknown
    fields' paths."""
    if not isinstance(open_api, dict):
        return obj, []
    walk = _CrWalk(defaults)
    return walk.object(obj, open_api, "", top=True), walk.unknown


def custom_causes(obj: dict[str, Any], open_api: dict[str, Any] | None,
                  ) -> tuple[list[tuple[str, str]], bool]:
    """What a custom resource's ``openAPIV3Schema`` refuses in it, as (field, message), and
    whether one of them is blocking (the CEL rules are then not evaluated)."""
    if not isinstance(open_api, dict):
        return [], False
    walk = _CrWalk()
    walk.object(obj, open_api, "", top=True)
    return walk.causes, walk.blocking
