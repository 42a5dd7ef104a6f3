"""The workloads of a chart that hold volumes, for the charts the example runs.

The sandbox renders no chart (``flux.py``): a HelmRelease brings its CRDs, not its workloads.
Volumes are the exception, so that their data can be backed up: once a release is installed,
its StatefulSets with their ``volumeClaimTemplates`` (so the claims
``<template>-<statefulset>-0`` and the Pods ``<statefulset>-0`` come from the StatefulSet
controller, owned as on a real cluster) and its Deployments with their PVC appear, named as the
charts name them, when the values turn persistence on. Their Pods only mount the volume (a
restricted-profile container of no image the sandbox pulls): they are the first consumer the
claims' ``WaitForFirstConsumer`` classes wait for. Sources: prometheus-operator
``pkg/prometheus/statefulset.go`` and ``pkg/alertmanager/statefulset.go`` (StatefulSet
``prometheus-<name>``/``alertmanager-<name>``, template ``<kind>-<name>-db`` unless the
volumeClaimTemplate names one); kube-prometheus-stack ``templates/prometheus/prometheus.yaml``
and ``templates/alertmanager/alertmanager.yaml`` (the resources are named
``<fullname>-prometheus``/``<fullname>-alertmanager``, fullname the release name when it
contains the chart name); grafana ``templates/pvc.yaml`` (``<release>-grafana``,
``persistence.size`` default 10Gi); loki 6.x ``templates/single-binary/statefulset.yaml``
(StatefulSet ``<fullname>``, template ``storage``, ``singleBinary.persistence.size`` default
10Gi, enabled by default).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# (claim template or claim name, size, storageClassName, StatefulSet or Deployment name, kind)
Claim = tuple[str, str, str | None, str, str]


def _get(values: Any, *path: str) -> Any:
    for p in path:
        if not isinstance(values, dict):
            return None
        values = values.get(p)
    return values


def _operator_claim(kind: str, cr: str, template: Any) -> Claim | None:
    if not isinstance(template, dict):
        return None
    spec = template.get("spec") or {}
    name = _get(template, "metadata", "name") or f"{kind}-{cr}-db"
    size = _get(spec, "resources", "requests", "storage") or "1Gi"
    return name, str(size), spec.get("storageClassName"), f"{kind}-{cr}", "StatefulSet"


def kube_prometheus_stack(release: str, values: dict[str, Any]) -> list[Claim]:
    """Prometheus's and Alertmanager's volumeClaimTemplates and Grafana's PVC."""
    full = release if "kube-prometheus-stack" in release else f"{release}-kube-prometheus-stack"
    out = [_operator_claim("prometheus", f"{full}-prometheus", _get(
               values, "prometheus", "prometheusSpec", "storageSpec", "volumeClaimTemplate")),
           _operator_claim("alertmanager", f"{full}-alertmanager", _get(
               values, "alertmanager", "alertmanagerSpec", "storage", "volumeClaimTemplate"))]
    grafana = _get(values, "grafana", "persistence") or {}
    if grafana.get("enabled"):
        out.append((f"{release}-grafana", str(grafana.get("size") or "10Gi"),
                    grafana.get("storageClassName"), f"{release}-grafana", "Deployment"))
    return [c for c in out if c is not None]


def loki(release: str, values: dict[str, Any]) -> list[Claim]:
    """The single binary's ``storage`` claim."""
    if (_get(values, "deploymentMode") or "SimpleScalable") != "SingleBinary":
        return []
    if int(_get(values, "singleBinary", "replicas") or 0) < 1:
        return []
    persistence = _get(values, "singleBinary", "persistence") or {}
    if persistence.get("enabled", True) is False:
        return []
    return [("storage", str(persistence.get("size") or "10Gi"),
             persistence.get("storageClass"), release, "StatefulSet")]


CHART_CLAIMS: dict[str, Callable[[str, dict[str, Any]], list[Claim]]] = {
    "kube-prometheus-stack": kube_prometheus_stack,
    "loki": loki,
}


# A container the restricted Pod Security profile admits (the charts' own are, or are made so).
_RESTRICTED = {"runAsNonRoot": True, "runAsUser": 65534,
               "seccompProfile": {"type": "RuntimeDefault"}}
_CONTAINER_SECURITY = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


def claims(chart: str, release: str, namespace: str,
           values: dict[str, Any]) -> list[dict[str, Any]]:
    """The objects with volumes a release of ``chart`` leads to: a StatefulSet with its
    volumeClaimTemplate, or a PVC and the Deployment that mounts it (none for charts not in
    the table)."""
    make = CHART_CLAIMS.get(chart)
    out: list[dict[str, Any]] = []
    for name, size, storage_class, workload, kind in make(release, values) if make else []:
        spec: dict[str, Any] = {"accessModes": ["ReadWriteOnce"],
                                "resources": {"requests": {"storage": size}}}
        if storage_class:
            spec["storageClassName"] = storage_class
        labels = {"app.kubernetes.io/instance": release, "app.kubernetes.io/name": workload}
        pod = {"securityContext": _RESTRICTED, "containers": [{
            "name": chart, "image": f"{chart}:sandbox", "securityContext": _CONTAINER_SECURITY,
            "volumeMounts": [{"name": name, "mountPath": "/data"}]}]}
        meta = {"name": workload, "namespace": namespace, "labels": labels}
        workload_spec: dict[str, Any] = {
            "replicas": 1, "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": pod}}
        if kind == "StatefulSet":
            workload_spec["serviceName"] = workload
            workload_spec["volumeClaimTemplates"] = [{"metadata": {"name": name},
                                                      "spec": spec}]
        else:
            out.append({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                        "metadata": {"name": name, "namespace": namespace, "labels": labels},
                        "spec": spec})
            pod["volumes"] = [{"name": name, "persistentVolumeClaim": {"claimName": name}}]
        out.append({"apiVersion": "apps/v1", "kind": kind, "metadata": meta,
                    "spec": workload_spec})
    return out
