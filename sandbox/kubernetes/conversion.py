"""Kinds served in more than one version of the same stored objects, and the conversions
between the served version and the stored one.

autoscaling/v1 and autoscaling/v2 HorizontalPodAutoscalers are the same objects (stored as v2),
converted as kubernetes pkg/apis/autoscaling/v1/conversion.go (v1.32) does:

- v2 to v1: ``targetCPUUtilizationPercentage`` is the first cpu Resource metric's
  ``averageUtilization``; every other metric (in v1's ``MetricSpec`` shape) goes to the
  ``autoscaling.alpha.kubernetes.io/metrics`` annotation, ``status.currentMetrics`` to
  ``.../current-metrics`` (``currentCPUUtilizationPercentage`` from the cpu one), the status
  conditions to ``.../conditions`` and ``spec.behavior`` to ``.../behavior`` (marshalled from the
  internal type, so with Go's field names: the conversion's own TODO); round-trip annotations the
  object carried are dropped first (``DropRoundTripHorizontalPodAutoscalerAnnotations``).
- v1 to v2: the cpu percentage becomes a cpu Resource Utilization metric, placed after the
  annotation's metrics; no metric at all is the v1 implicit default, cpu at 80%; the
  annotations come back as metrics, behavior, current metrics and conditions, and are dropped.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sandbox.kubernetes.patch import clone

Json = dict[str, Any]

METRICS = "autoscaling.alpha.kubernetes.io/metrics"
CURRENT_METRICS = "autoscaling.alpha.kubernetes.io/current-metrics"
CONDITIONS = "autoscaling.alpha.kubernetes.io/conditions"
BEHAVIOR = "autoscaling.alpha.kubernetes.io/behavior"
ROUND_TRIP = (METRICS, BEHAVIOR, CURRENT_METRICS, CONDITIONS)
# pkg/apis/autoscaling DefaultCPUUtilization.
DEFAULT_CPU_UTILIZATION = 80


class ConversionError(ValueError):
    """A v1 object whose round-trip annotation is not the JSON the conversion expects."""


@dataclass(frozen=True)
class Conversion:
    """How one served version maps onto the storage version of the same resource."""

    storage_version: str
    to_storage: Callable[[Json], Json]
    from_storage: Callable[[Json], Json]


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _drop(d: Json, *keys: str) -> Json:
    return {k: v for k, v in d.items() if v is not None and k not in keys}


def _is_cpu_utilization(metric: Json) -> bool:
    res = metric.get("resource") or {}
    return metric.get("type") == "Resource" and res.get("name") == "cpu" and (
        res.get("target") or {}).get("averageUtilization") is not None


def _ref(obj: Json | None) -> Json:
    obj = obj or {}
    return _drop({"kind": obj.get("kind", ""), "name": obj.get("name", ""),
                  "apiVersion": obj.get("apiVersion")})


def _metric_v1(m: Json) -> Json:
    """autoscaling/v2 MetricSpec as autoscaling/v1 MetricSpec (its field order)."""
    out: Json = {"type": m.get("type", "")}
    if m.get("object") is not None:
        o = m["object"]
        target, metric = o.get("target") or {}, o.get("metric") or {}
        out["object"] = _drop({"target": _ref(o.get("describedObject")),
                               "metricName": metric.get("name", ""),
                               "targetValue": target.get("value") or "0",
                               "selector": metric.get("selector"),
                               "averageValue": target.get("averageValue")})
    if m.get("pods") is not None:
        p = m["pods"]
        metric = p.get("metric") or {}
        out["pods"] = _drop({"metricName": metric.get("name", ""),
                             "targetAverageValue": (p.get("target") or {}).get(
                                 "averageValue") or "0",
                             "selector": metric.get("selector")})
    if m.get("resource") is not None:
        r = m["resource"]
        target = r.get("target") or {}
        out["resource"] = _drop({"name": r.get("name", ""),
                                 "targetAverageUtilization": target.get("averageUtilization"),
                                 "targetAverageValue": target.get("averageValue")})
    if m.get("containerResource") is not None:
        r = m["containerResource"]
        target = r.get("target") or {}
        out["containerResource"] = _drop({
            "name": r.get("name", ""), "targetAverageUtilization": target.get(
                "averageUtilization"), "targetAverageValue": target.get("averageValue"),
            "container": r.get("container", "")})
    if m.get("external") is not None:
        e = m["external"]
        target, metric = e.get("target") or {}, e.get("metric") or {}
        out["external"] = _drop({"metricName": metric.get("name", ""),
                                 "metricSelector": metric.get("selector"),
                                 "targetValue": target.get("value"),
                                 "targetAverageValue": target.get("averageValue")})
    return out


def _metric_v2(m: Json) -> Json:
    """autoscaling/v1 MetricSpec (from the annotation) as autoscaling/v2 MetricSpec."""
    out: Json = {"type": m.get("type", "")}
    if m.get("object") is not None:
        o = m["object"]
        avg = o.get("averageValue")
        out["object"] = {"describedObject": _ref(o.get("target")),
                         "metric": _drop({"name": o.get("metricName", ""),
                                          "selector": o.get("selector")}),
                         "target": _drop({"type": "Value" if avg is None else "AverageValue",
                                          "value": o.get("targetValue", "0"),
                                          "averageValue": avg})}
    if m.get("pods") is not None:
        p = m["pods"]
        out["pods"] = {"metric": _drop({"name": p.get("metricName", ""),
                                        "selector": p.get("selector")}),
                       "target": {"type": "AverageValue",
                                  "averageValue": p.get("targetAverageValue", "0")}}
    for key in ("resource", "containerResource"):
        if m.get(key) is not None:
            r = m[key]
            util = r.get("targetAverageUtilization")
            out[key] = _drop({"name": r.get("name", ""), "container": r.get("container"),
                              "target": _drop({
                                  "type": "AverageValue" if util is None else "Utilization",
                                  "averageUtilization": util,
                                  "averageValue": r.get("targetAverageValue")})})
    if m.get("external") is not None:
        e = m["external"]
        value = e.get("targetValue")
        out["external"] = {"metric": _drop({"name": e.get("metricName", ""),
                                            "selector": e.get("metricSelector")}),
                           "target": _drop({"type": "AverageValue" if value is None
                                            else "Value", "value": value,
                                            "averageValue": e.get("targetAverageValue")})}
    return out


def _status_metric_v1(m: Json) -> Json:
    out: Json = {"type": m.get("type", "")}
    if m.get("object") is not None:
        o = m["object"]
        cur, metric = o.get("current") or {}, o.get("metric") or {}
        out["object"] = _drop({"target": _ref(o.get("describedObject")),
                               "metricName": metric.get("name", ""),
                               "currentValue": cur.get("value") or "0",
                               "selector": metric.get("selector"),
                               "averageValue": cur.get("averageValue")})
    if m.get("pods") is not None:
        p = m["pods"]
        metric = p.get("metric") or {}
        out["pods"] = _drop({"metricName": metric.get("name", ""),
                             "currentAverageValue": (p.get("current") or {}).get(
                                 "averageValue") or "0",
                             "selector": metric.get("selector")})
    for key in ("resource", "containerResource"):
        if m.get(key) is not None:
            r = m[key]
            cur = r.get("current") or {}
            out[key] = _drop({"name": r.get("name", ""),
                              "currentAverageUtilization": cur.get("averageUtilization"),
                              "currentAverageValue": cur.get("averageValue") or "0",
                              "container": r.get("container")})
    if m.get("external") is not None:
        e = m["external"]
        cur, metric = e.get("current") or {}, e.get("metric") or {}
        out["external"] = _drop({"metricName": metric.get("name", ""),
                                 "metricSelector": metric.get("selector"),
                                 "currentValue": cur.get("value") or "0",
                                 "currentAverageValue": cur.get("averageValue")})
    return out


def _status_metric_v2(m: Json) -> Json:
    out: Json = {"type": m.get("type", "")}
    if m.get("object") is not None:
        o = m["object"]
        out["object"] = {"describedObject": _ref(o.get("target")),
                         "metric": _drop({"name": o.get("metricName", ""),
                                          "selector": o.get("selector")}),
                         "current": _drop({"value": o.get("currentValue", "0"),
                                           "averageValue": o.get("averageValue")})}
    if m.get("pods") is not None:
        p = m["pods"]
        out["pods"] = {"metric": _drop({"name": p.get("metricName", ""),
                                        "selector": p.get("selector")}),
                       "current": {"averageValue": p.get("currentAverageValue", "0")}}
    for key in ("resource", "containerResource"):
        if m.get(key) is not None:
            r = m[key]
            out[key] = _drop({"name": r.get("name", ""), "container": r.get("container"),
                              "current": _drop({
                                  "averageValue": r.get("currentAverageValue", "0"),
                                  "averageUtilization": r.get("currentAverageUtilization")})})
    if m.get("external") is not None:
        e = m["external"]
        out["external"] = {"metric": _drop({"name": e.get("metricName", ""),
                                            "selector": e.get("metricSelector")}),
                           "current": _drop({"value": e.get("currentValue", "0"),
                                             "averageValue": e.get("currentAverageValue")})}
    return out


# The internal HPAScalingRules' Go field names (no json tags), in declaration order.
_RULES_GO = (("StabilizationWindowSeconds", "stabilizationWindowSeconds"),
             ("SelectPolicy", "selectPolicy"), ("Policies", "policies"))
_POLICY_GO = (("Type", "type"), ("Value", "value"), ("PeriodSeconds", "periodSeconds"))


def _behavior_internal(behavior: Json) -> Json:
    def rules(r: Json | None) -> Json | None:
        if r is None:
            return None
        out: Json = {}
        for go, js in _RULES_GO:
            if js == "policies":
                out[go] = None if r.get(js) is None else [
                    {g: p.get(j) for g, j in _POLICY_GO} for p in r[js]]
            else:
                out[go] = r.get(js)
        return out

    return {"ScaleUp": rules(behavior.get("scaleUp")),
            "ScaleDown": rules(behavior.get("scaleDown"))}


def _behavior_v2(internal: Json) -> Json:
    def rules(r: Json | None) -> Json | None:
        if not isinstance(r, dict):
            return None
        out: Json = {}
        for go, js in _RULES_GO:
            if r.get(go) is None:
                continue
            out[js] = [{j: p.get(g) for g, j in _POLICY_GO} for p in r[go]] \
                if js == "policies" else r[go]
        return out

    return _drop({"scaleUp": rules(internal.get("ScaleUp")),
                  "scaleDown": rules(internal.get("ScaleDown"))})


def _annotation(annotations: Json, key: str) -> Any:
    try:
        return json.loads(annotations[key])
    except (TypeError, ValueError) as exc:
        raise ConversionError(f"metadata.annotations[{key}]: {exc}") from None


def hpa_v2_to_v1(obj: Json) -> Json:
    """A stored (autoscaling/v2) HorizontalPodAutoscaler as autoscaling/v1 serves it."""
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    meta = clone(obj.get("metadata") or {})
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items()
                   if k not in ROUND_TRIP}
    metrics = spec.get("metrics") or []
    other = [_metric_v1(m) for m in metrics if not _is_cpu_utilization(m)]
    if other:
        annotations[METRICS] = _compact(other)
    if status.get("currentMetrics"):
        annotations[CURRENT_METRICS] = _compact(
            [_status_metric_v1(m) for m in status["currentMetrics"]])
    if status.get("conditions"):
        annotations[CONDITIONS] = _compact([_drop({
            "type": c.get("type"), "status": c.get("status"),
            "lastTransitionTime": c.get("lastTransitionTime"), "reason": c.get("reason"),
            "message": c.get("message")}) for c in status["conditions"]])
    if spec.get("behavior") is not None:
        annotations[BEHAVIOR] = _compact(_behavior_internal(spec["behavior"]))
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)
    out_spec: Json = _drop({"scaleTargetRef": spec.get("scaleTargetRef"),
                            "minReplicas": spec.get("minReplicas"),
                            "maxReplicas": spec.get("maxReplicas")})
    cpu = next((m for m in metrics if m.get("type") == "Resource"
                and (m.get("resource") or {}).get("name") == "cpu"), None)
    if cpu is not None:
        util = ((cpu.get("resource") or {}).get("target") or {}).get("averageUtilization")
        if util is not None:
            out_spec["targetCPUUtilizationPercentage"] = util
    out_status = _drop({"observedGeneration": status.get("observedGeneration"),
                        "lastScaleTime": status.get("lastScaleTime"),
                        "currentReplicas": status.get("currentReplicas", 0),
                        "desiredReplicas": status.get("desiredReplicas", 0)})
    for m in status.get("currentMetrics") or []:
        res = m.get("resource") or {}
        if m.get("type") == "Resource" and res.get("name") == "cpu":
            util = (res.get("current") or {}).get("averageUtilization")
            if util is not None:
                out_status["currentCPUUtilizationPercentage"] = util
    out: Json = {"apiVersion": "autoscaling/v1", "kind": obj.get("kind",
                                                                 "HorizontalPodAutoscaler"),
                 "metadata": meta, "spec": out_spec}
    if "status" in obj:
        out["status"] = out_status
    return out


def hpa_v1_to_v2(obj: Json) -> Json:
    """An autoscaling/v1 HorizontalPodAutoscaler as it is stored (autoscaling/v2); raises
    ConversionError for a round-trip annotation that is not valid JSON."""
    spec, status = obj.get("spec") or {}, obj.get("status")
    meta = clone(obj.get("metadata") or {})
    annotations = dict(meta.get("annotations") or {})
    out_spec: Json = _drop({"scaleTargetRef": spec.get("scaleTargetRef"),
                            "minReplicas": spec.get("minReplicas"),
                            "maxReplicas": spec.get("maxReplicas")})
    metrics: list[Json] = []
    if METRICS in annotations:
        metrics = [_metric_v2(m) for m in _annotation(annotations, METRICS) or []]
    if spec.get("targetCPUUtilizationPercentage") is not None:
        metrics.append({"type": "Resource", "resource": {"name": "cpu", "target": {
            "type": "Utilization",
            "averageUtilization": spec["targetCPUUtilizationPercentage"]}}})
    if not metrics:
        metrics = [{"type": "Resource", "resource": {"name": "cpu", "target": {
            "type": "Utilization", "averageUtilization": DEFAULT_CPU_UTILIZATION}}}]
    out_spec["metrics"] = metrics
    if BEHAVIOR in annotations:
        out_spec["behavior"] = _behavior_v2(_annotation(annotations, BEHAVIOR) or {})
    out: Json = {"apiVersion": "autoscaling/v2",
                 "kind": obj.get("kind", "HorizontalPodAutoscaler"), "spec": out_spec}
    if isinstance(status, dict):
        out_status = _drop({"observedGeneration": status.get("observedGeneration"),
                            "lastScaleTime": status.get("lastScaleTime"),
                            "currentReplicas": status.get("currentReplicas", 0),
                            "desiredReplicas": status.get("desiredReplicas", 0)})
        if CURRENT_METRICS in annotations:
            out_status["currentMetrics"] = [
                _status_metric_v2(m) for m in _annotation(annotations, CURRENT_METRICS) or []]
        elif status.get("currentCPUUtilizationPercentage") is not None:
            out_status["currentMetrics"] = [{"type": "Resource", "resource": {
                "name": "cpu", "current": {
                    "averageUtilization": status["currentCPUUtilizationPercentage"]}}}]
        if CONDITIONS in annotations:
            out_status["conditions"] = _annotation(annotations, CONDITIONS) or []
        out["status"] = out_status
    for key in ROUND_TRIP:
        annotations.pop(key, None)
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)
    out["metadata"] = meta
    return {k: out[k] for k in ("apiVersion", "kind", "metadata", "spec", "status") if k in out}


# (group, served version, plural) -> its conversion from and to the storage version.
CONVERSIONS: dict[tuple[str, str, str], Conversion] = {
    ("autoscaling", "v1", "horizontalpodautoscalers"): Conversion("v2", hpa_v1_to_v2,
                                                                   hpa_v2_to_v1),
}


def of(group: str, version: str, plural: str) -> Conversion | None:
    return CONVERSIONS.get((group, version, plural))
