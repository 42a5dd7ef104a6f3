"""Secret-looking values never reach plans, materialization metadata or the CLI's plan output."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from platform_assets.core.diff import MISSING, FieldChange
from platform_assets.core.graph import component_key
from platform_assets.core.plan_report import PlanReport, render
from platform_assets.core.redact import REDACTED, looks_secret, redact_change, redact_value
from platform_assets.engine.reconcile import Engine, Options, ReconcileError
from platform_assets.runs.reconcile import _metadata, drift_result
from tests.unit.engine_fakes import (
    CONFIG,
    DEPLOYMENT,
    FakeBuckets,
    FakeClock,
    FakeCloud,
    FakeCluster,
    make_graph,
)

WEB = component_key("platform", "web")
HELM = component_key("platform", "chart")
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

HELM_COMPONENT = """
  - name: chart
    namespace: chart
    source:
      helm_release:
        chart: app
        version: 1.0.0
        repository: charts
        values: {auth: {password: CANARY_HELM_1}, db: {apiKey: CANARY_HELM_KEY_1}, replicas: 2}
"""


def _objects(n: int) -> list[dict[str, Any]]:
    deployment = copy.deepcopy(DEPLOYMENT)
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["env"] = [{"name": "LOG_LEVEL", "value": f"debug{n}"},
                        {"name": "API_TOKEN", "value": f"CANARY_ENV_{n}"}]
    config = CONFIG | {"data": {"greeting": f"hello{n}", "db-password": f"CANARY_CM_{n}",
                                "smtpSecret": f"CANARY_CM2_{n}"}}
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "web-secret"},
              "stringData": {"anything": f"CANARY_SECRET_{n}"}}
    return [deployment, config, secret]


def _graph(tmp_path: Path, n: int) -> Any:
    helm = HELM_COMPONENT.replace("_1", f"_{n}")
    return make_graph(tmp_path, _objects(n),
                      edit=lambda s: s.replace("    prune: true\n", "    prune: true\n" + helm, 1))


def _engine(graph: Any, k8s: FakeCluster) -> Engine:
    clock = FakeClock()
    return Engine(graph.spec, graph.base_dir, ionos=FakeCloud(), kubernetes=k8s,
                  object_storage=FakeBuckets(), now=lambda: NOW, sleep=clock.sleep, clock=clock,
                  env={"MARIADB_PASSWORD": "x"}.get)


def test_canary_values_never_reach_plans_metadata_or_the_plan_output(tmp_path: Path) -> None:
    k8s = FakeCluster(True)
    first = _graph(tmp_path, 1)
    assert HELM in first.nodes
    _engine(first, k8s).reconcile(first.nodes[WEB], Options())
    # No Flux in the fake makes the HelmRelease Ready; it is applied before the health wait.
    with pytest.raises(ReconcileError, match="not healthy"):
        _engine(first, k8s).reconcile(first.nodes[HELM], Options())
    applied = json.dumps(list(k8s.objects.values()), default=str)
    assert "CANARY_CM_1" in applied and "CANARY_HELM_1" in applied  # they were applied

    second = _graph(tmp_path, 2)
    outcomes = {key: _engine(second, k8s).reconcile(second.nodes[key], Options(dry_run=True))
                for key in (WEB, HELM)}
    shown = []
    for key, out in outcomes.items():
        node = second.nodes[key]
        assert out.plan.counts()["update"] >= 1, out.plan.to_text(verbose=True)
        shown.append(out.plan.to_text(verbose=True))
        for meta in (_metadata(out, node, True, None), drift_result(node, out, None).metadata):
            shown += [f"{k}={getattr(v, 'value', v)}" for k, v in meta.items()]
    report = PlanReport("unit", [o.plan for o in outcomes.values()])
    shown += [render(report, fmt, verbose=True) for fmt in ("text", "json", "markdown")]
    text = "\n".join(shown)
    # Changes that are not secret still show their values, so the plan stays useful.
    assert "hello2" in text and "debug2" in text
    assert REDACTED in text
    for canary in ("CANARY_CM_", "CANARY_CM2_", "CANARY_ENV_", "CANARY_HELM_", "CANARY_SECRET_"):
        assert canary not in text, f"{canary} leaked:\n{text}"


@pytest.mark.parametrize(("key", "secret"), [
    ("password", True), ("db-password", True), ("DB_PASSWORD", True), ("passwd", True),
    ("apiKey", True), ("api_key", True), ("APIKEY", True), ("clientSecret", True),
    ("token", True), ("aws_secret_access_key", True), ("privateKey", True),
    ("credentials", True), ("key", True), ("auth", True),
    ("secretName", False), ("passwordSecretRef", False), ("tokenFile", False),
    ("greeting", False), ("keycloakUrl", False), ("monkey", False), ("replicas", False),
    ("passthrough", False), (3, False),
])
def test_which_keys_look_secret(key: object, secret: bool) -> None:
    assert looks_secret(key) is secret


def test_whole_values_are_redacted_inside() -> None:
    value = {"env": [{"name": "DB_PASSWORD", "value": "s3cret"}, {"name": "MODE", "value": "x"}],
             "auth": {"user": "u"}, "plain": "p"}
    assert redact_value(value) == {
        "env": [{"name": "DB_PASSWORD", "value": REDACTED}, {"name": "MODE", "value": "x"}],
        "auth": REDACTED, "plain": "p"}


def test_paths_through_secret_items_are_redacted_both_forms() -> None:
    want = {"spec": {"containers": [{"name": "web", "env": [{"name": "TOKEN", "value": "t"}]}]}}
    by_index = FieldChange("spec.containers[0].env[0].value", "old", "new")
    by_name = FieldChange('spec.containers[name="web"].env[name="TOKEN"].value', MISSING, "new")
    assert redact_change(by_index, want) == FieldChange(by_index.path, REDACTED, REDACTED)
    assert redact_change(by_name) == FieldChange(by_name.path, MISSING, REDACTED)
    plain = FieldChange("spec.replicas", 1, 2)
    assert redact_change(plain, want) is plain
