"""HorizontalPodAutoscalers served as autoscaling/v1 and autoscaling/v2 views of the same
objects, with the real ``kubectl autoscale`` (which sends autoscaling/v1).

Sources (named again at each test):
- [conversion] kubernetes pkg/apis/autoscaling/v1/conversion.go (v1.32):
  ``targetCPUUtilizationPercentage`` <-> a cpu Resource metric of type Utilization; the other
  metrics, the current metrics, the conditions and the behavior kept in the
  ``autoscaling.alpha.kubernetes.io/metrics``, ``.../current-metrics``, ``.../conditions`` and
  ``.../behavior`` annotations of the v1 object (the behavior marshalled from the internal
  type); no metric at all is cpu at 80% (``DefaultCPUUtilization``).
- [defaults] pkg/apis/autoscaling/v1/defaults.go and v2/defaults.go (minReplicas 1, the cpu
  default, the behavior's default scale-up and scale-down rules).
- [discovery] a v1.32 kube-apiserver serves autoscaling v2 (preferred) and v1
  (pkg/controlplane/apiserver, autoscaling's storage provider); [autoscale] k8s.io/kubectl
  pkg/cmd/autoscale/autoscale.go (an autoscaling/v1 HorizontalPodAutoscaler named after the
  target, ``--min``, ``--max``, ``--cpu-percent``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_sandbox_kubernetes import Cluster, _start

pytestmark = pytest.mark.integration

V1 = "/apis/autoscaling/v1/namespaces/default/horizontalpodautoscalers"
V2 = "/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers"
TARGET = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}


@pytest.fixture
def k8s(tmp_path: Path) -> Iterator[Cluster]:
    yield from _start(tmp_path)


def _get(k8s: Cluster, path: str) -> dict[str, Any]:
    code, body = k8s.http("GET", path)
    assert code == 200, body
    return dict(body)


def test_kubectl_autoscale_creates_through_v1_and_v2_reads_it(k8s: Cluster) -> None:
    """``kubectl autoscale`` posts an autoscaling/v1 HPA; v2 reads the cpu percentage as a
    Utilization metric; discovery lists both versions with v2 preferred.

    Source: [autoscale], [conversion] (Convert_v1_HorizontalPodAutoscalerSpec_To_autoscaling),
    [discovery].
    """
    group = _get(k8s, "/apis/autoscaling")
    assert [v["version"] for v in group["versions"]] == ["v2", "v1"]
    assert group["preferredVersion"] == {"groupVersion": "autoscaling/v2", "version": "v2"}
    names = [r["name"] for r in _get(k8s, "/apis/autoscaling/v1")["resources"]]
    assert names == ["horizontalpodautoscalers", "horizontalpodautoscalers/status"]
    k8s.kubectl("create", "deployment", "web", "--image=example/web:1", "--replicas=2")
    out = k8s.kubectl("autoscale", "deployment", "web", "--min=2", "--max=5",
                      "--cpu-percent=70")
    assert out.stdout.strip() == "horizontalpodautoscaler.autoscaling/web autoscaled"
    v1 = _get(k8s, f"{V1}/web")
    assert v1["apiVersion"] == "autoscaling/v1"
    assert v1["spec"] == {"scaleTargetRef": TARGET, "minReplicas": 2, "maxReplicas": 5,
                          "targetCPUUtilizationPercentage": 70}
    assert "annotations" not in v1["metadata"]
    v2 = _get(k8s, f"{V2}/web")
    assert v2["spec"]["metrics"] == [{"type": "Resource", "resource": {
        "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}]
    listed = json.loads(k8s.kubectl("get", "horizontalpodautoscalers.v1.autoscaling",
                                    "-o", "json").stdout)
    assert [(i["apiVersion"], i["spec"]["targetCPUUtilizationPercentage"])
            for i in listed["items"]] == [("autoscaling/v1", 70)]


def test_v2_only_fields_round_trip_through_v1_annotations(k8s: Cluster) -> None:
    """A v2 HPA with several metrics, a behavior, current metrics and conditions reads in v1
    with the cpu target and current utilization as fields and the rest in the round-trip
    annotations; writing that v1 object back changes nothing in v2.

    Source: [conversion] Convert_autoscaling_HorizontalPodAutoscaler_To_v1 /
    Convert_v1_HorizontalPodAutoscaler_To_autoscaling; [defaults] (the behavior's rules).
    """
    code, made = k8s.http("POST", V2, {
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "annotations": {"team": "a"}},
        "spec": {"scaleTargetRef": TARGET, "maxReplicas": 4, "metrics": [
            {"type": "Resource", "resource": {"name": "memory", "target": {
                "type": "AverageValue", "averageValue": "500Mi"}}},
            {"type": "Resource", "resource": {"name": "cpu", "target": {
                "type": "Utilization", "averageUtilization": 60}}},
            {"type": "Pods", "pods": {"metric": {"name": "qps"}, "target": {
                "type": "AverageValue", "averageValue": "10"}}}],
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": 60}}}})
    assert code == 201, made
    assert made["spec"]["minReplicas"] == 1
    assert made["spec"]["behavior"] == {
        "scaleUp": {"stabilizationWindowSeconds": 0, "selectPolicy": "Max", "policies": [
            {"type": "Pods", "value": 4, "periodSeconds": 15},
            {"type": "Percent", "value": 100, "periodSeconds": 15}]},
        "scaleDown": {"stabilizationWindowSeconds": 60, "selectPolicy": "Max", "policies": [
            {"type": "Percent", "value": 100, "periodSeconds": 15}]}}
    status = {"currentReplicas": 2, "desiredReplicas": 2, "currentMetrics": [
        {"type": "Resource", "resource": {"name": "cpu", "current": {
            "averageValue": "120m", "averageUtilization": 40}}}],
        "conditions": [{"type": "AbleToScale", "status": "True", "reason": "ReadyForNewScale",
                        "lastTransitionTime": "2026-01-01T00:00:00Z"}]}
    code, body = k8s.http("PUT", f"{V2}/web/status", {**made, "status": status})
    assert code == 200, body
    v1 = _get(k8s, f"{V1}/web")
    assert v1["spec"] == {"scaleTargetRef": TARGET, "minReplicas": 1, "maxReplicas": 4,
                          "targetCPUUtilizationPercentage": 60}
    assert v1["status"] == {"currentReplicas": 2, "desiredReplicas": 2,
                            "currentCPUUtilizationPercentage": 40}
    notes = v1["metadata"]["annotations"]
    assert notes["team"] == "a"
    assert notes["autoscaling.alpha.kubernetes.io/metrics"] == (
        '[{"type":"Resource","resource":{"name":"memory","targetAverageValue":"500Mi"}},'
        '{"type":"Pods","pods":{"metricName":"qps","targetAverageValue":"10"}}]')
    assert notes["autoscaling.alpha.kubernetes.io/current-metrics"] == (
        '[{"type":"Resource","resource":{"name":"cpu","currentAverageUtilization":40,'
        '"currentAverageValue":"120m"}}]')
    assert notes["autoscaling.alpha.kubernetes.io/conditions"] == (
        '[{"type":"AbleToScale","status":"True","lastTransitionTime":"2026-01-01T00:00:00Z",'
        '"reason":"ReadyForNewScale"}]')
    assert json.loads(notes["autoscaling.alpha.kubernetes.io/behavior"]) == {
        "ScaleUp": {"StabilizationWindowSeconds": 0, "SelectPolicy": "Max", "Policies": [
            {"Type": "Pods", "Value": 4, "PeriodSeconds": 15},
            {"Type": "Percent", "Value": 100, "PeriodSeconds": 15}]},
        "ScaleDown": {"StabilizationWindowSeconds": 60, "SelectPolicy": "Max", "Policies": [
            {"Type": "Percent", "Value": 100, "PeriodSeconds": 15}]}}
    before = _get(k8s, f"{V2}/web")
    code, body = k8s.http("PUT", f"{V1}/web", v1)
    assert code == 200 and body["apiVersion"] == "autoscaling/v1", body
    after = _get(k8s, f"{V2}/web")
    assert after["metadata"]["annotations"] == {"team": "a"}
    # v1 puts the cpu metric after the annotation's metrics.
    assert after["spec"]["metrics"] == [before["spec"]["metrics"][i] for i in (0, 2, 1)]
    assert after["spec"]["behavior"] == before["spec"]["behavior"]
    code, body = k8s.http("PATCH", f"{V1}/web", {"spec": {"targetCPUUtilizationPercentage": 75}},
                          "application/merge-patch+json")
    assert code == 200 and body["spec"]["targetCPUUtilizationPercentage"] == 75, body
    metrics = _get(k8s, f"{V2}/web")["spec"]["metrics"]
    assert [m["resource"]["name"] if m["type"] == "Resource" else m["type"]
            for m in metrics] == ["memory", "Pods", "cpu"]
    assert metrics[2]["resource"]["target"]["averageUtilization"] == 75


def test_v1_without_a_cpu_target_gets_the_default(k8s: Cluster) -> None:
    """An autoscaling/v1 HPA without targetCPUUtilizationPercentage (and no metrics annotation)
    is stored with cpu at 80%, which v1 then reads back as its target; minReplicas defaults to
    1; an unknown field is refused under fieldValidation=Strict in v1's terms.

    Source: [conversion] (DefaultCPUUtilization), [defaults].
    """
    hpa = {"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
           "metadata": {"name": "web"}, "spec": {"scaleTargetRef": TARGET, "maxReplicas": 3}}
    code, made = k8s.http("POST", V1, hpa)
    assert code == 201, made
    assert made["spec"] == {"scaleTargetRef": TARGET, "minReplicas": 1, "maxReplicas": 3,
                            "targetCPUUtilizationPercentage": 80}
    assert _get(k8s, f"{V2}/web")["spec"]["metrics"][0]["resource"]["target"] == {
        "type": "Utilization", "averageUtilization": 80}
    bad = {**hpa, "metadata": {"name": "bad"},
           "spec": {**hpa["spec"], "metrics": []}}
    code, body = k8s.http("POST", f"{V1}?fieldValidation=Strict", bad)
    assert (code, body["message"]) == (400, 'strict decoding error: unknown field '
                                            '"spec.metrics"'), body
