"""Alert remediation in a fleet, on the sandbox: one Alertmanager, two clusters (staging an
existing one, production the IONOS one, from examples/fleet). An alert naming staging's cluster
restarts staging's Deployment through staging's own job and Kubernetes resource, and never
production's; an alert naming no environment of the spec is skipped; after the restart the
sensor asks for the checks of staging's asset."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from platform_assets.definitions import build_definitions
from platform_assets.names import ANNOTATION_RESTARTED_AT, TAG_ENVIRONMENT
from resources.alertmanager import AlertmanagerResource
from resources.kubernetes import KubernetesResource
from sandbox.app import Sandbox, start_sandbox

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("fleet")]

ROOT = Path(__file__).resolve().parents[2]
FLEET = ROOT / "examples" / "fleet" / "platform.yaml"
IONOS_VARS = ("IONOS_TOKEN", "IONOS_USERNAME", "IONOS_PASSWORD")


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    sb = start_sandbox(clusters=("staging",), timeout=90)
    try:
        yield sb
    finally:
        sb.stop()


def hello_deployment() -> dict[str, Any]:
    labels = {"app": "hello"}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "hello", "namespace": "hello"},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "hello",
                                                           "image": "nginx:1.27"}]}}}}


def restarted_at(kube: KubernetesResource) -> str | None:
    live = kube.get("apps/v1", "Deployment", "hello", "hello") or {}
    template = (live.get("spec") or {}).get("template") or {}
    return ((template.get("metadata") or {}).get("annotations") or {}).get(
        ANNOTATION_RESTARTED_AT)


def tick(defs: dg.Definitions, instance: Any, am: AlertmanagerResource,
         cursor: str | None) -> Any:
    sensor = defs.resolve_sensor_def("alertmanager_alerts")
    ctx = dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs,
                                  resources={"alertmanager": am})
    return sensor.evaluate_tick(ctx)


def test_an_alert_for_staging_remediates_only_staging(
        sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in sandbox.env.items():
        monkeypatch.setenv(key, value)
    for name in IONOS_VARS:  # staging's remediation needs no IONOS credentials
        monkeypatch.delenv(name, raising=False)
    clusters = {"staging": KubernetesResource(kubeconfig_path=sandbox.env["STAGING_KUBECONFIG"],
                                              field_manager="fleet-test"),
                "production": KubernetesResource(kubeconfig_path=sandbox.env["KUBECONFIG"],
                                                 field_manager="fleet-test")}
    for kube in clusters.values():  # the same Deployment in both clusters
        kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "hello"}})
        kube.apply(hello_deployment())
    am = AlertmanagerResource(url=sandbox.env["ALERTMANAGER_URL"], timeout_seconds=5)
    starts = datetime.now(UTC).isoformat()
    common = {"alertname": "KubeDeploymentReplicasMismatch", "namespace": "hello",
              "deployment": "hello"}
    am.post_alerts([{"labels": {**common, "cluster": "k3s-staging"}, "startsAt": starts},
                    {"labels": {**common, "cluster": "k3s-elsewhere"}, "startsAt": starts}])
    defs = build_definitions(FLEET)
    with dg.instance_for_test() as instance:
        first = tick(defs, instance, am, None)
        (req,) = first.run_requests
        assert req.job_name == "restart_rollout_staging"
        assert req.tags[TAG_ENVIRONMENT] == "staging"
        result = defs.resolve_job_def(req.job_name).execute_in_process(
            run_config=req.run_config, instance=instance, tags=req.tags)
        assert result.success
        assert restarted_at(clusters["staging"]) is not None
        assert restarted_at(clusters["production"]) is None

        # The restart succeeded: the next tick asks for the checks of staging's hello, in
        # staging's reconcile job; the same alert is not acted on again, nor is the other one.
        second = tick(defs, instance, am, first.cursor)
        (verify,) = second.run_requests
        assert verify.job_name == "reconcile_platform_staging"
        assert verify.asset_check_keys
        assert {tuple(ck.asset_key.path) for ck in verify.asset_check_keys} == {
            ("staging", "applications", "hello")}
        third = tick(defs, instance, am, second.cursor)
        assert not third.run_requests
        assert "1 of no single environment" in (third.skip_message or "")
        assert restarted_at(clusters["production"]) is None
