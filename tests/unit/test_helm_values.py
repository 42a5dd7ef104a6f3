"""The Helm values' `concurrency:` block and S3 compute log manager: only the chart's keys,
rendered the way the chart renders them, a valid Dagster instance (no conflict with the run
coordinator), the per-cluster reconcile pool limited to 1, and the same as deploy/dagster.yaml."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from platform_assets.definitions import build_definitions
from platform_assets.names import RECONCILE_JOB, RECONCILE_OP, cluster_pool
from platform_assets.spec.loader import DEFAULT_SPEC, load_spec
from resources.object_storage import ObjectStorageResource

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"

# dagster-io/dagster helm/dagster/schema/schema/charts/dagster/subschema/concurrency.py
# (pydantic models with extra="forbid") and compute_log_manager.py (S3ComputeLogManager).
CHART_CONCURRENCY = {"enabled", "pools", "runs"}
CHART_POOLS = {"defaultLimit", "granularity", "opGranularityRunBuffer"}
CHART_RUNS = {"maxConcurrentRuns", "tagConcurrencyLimits"}
CHART_TAG_LIMIT = {"key", "value", "limit"}
CHART_S3_LOGS = {"bucket", "localDir", "prefix", "useSsl", "verify", "verifyCertPath",
                 "endpointUrl", "skipEmptyFiles", "uploadInterval", "uploadExtraArgs",
                 "showUrlOnly", "region"}


def values() -> dict[str, Any]:
    return dict(yaml.safe_load((DEPLOY / "helm" / "values.yaml").read_text()))


def render_concurrency(v: dict[str, Any]) -> dict[str, Any]:
    """helm/dagster/templates/helpers/instance/_concurrency.tpl, transcribed: the chart fails
    when the queued run coordinator also sets the run limits, and renders the rest."""
    conc = v["concurrency"]
    pools, runs = conc.get("pools") or {}, conc.get("runs") or {}
    qrc = v["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]
    if runs.get("maxConcurrentRuns") is not None and qrc.get("maxConcurrentRuns") is not None:
        raise ValueError("Cannot set both concurrency.runs.maxConcurrentRuns and "
                         "queuedRunCoordinator.maxConcurrentRuns")
    if runs.get("tagConcurrencyLimits") and qrc.get("tagConcurrencyLimits"):
        raise ValueError("Cannot set both concurrency.runs.tagConcurrencyLimits and "
                         "queuedRunCoordinator.tagConcurrencyLimits")
    out: dict[str, Any] = {}
    names = {"defaultLimit": "default_limit", "granularity": "granularity",
             "opGranularityRunBuffer": "op_granularity_run_buffer"}
    if rendered := {names[k]: val for k, val in pools.items() if val is not None}:
        out["pools"] = rendered
    rendered_runs: dict[str, Any] = {}
    if runs.get("maxConcurrentRuns") is not None:
        rendered_runs["max_concurrent_runs"] = runs["maxConcurrentRuns"]
    if runs.get("tagConcurrencyLimits"):
        rendered_runs["tag_concurrency_limits"] = [
            {"key": t["key"], **({"value": t["value"]} if t.get("value") else {}),
             "limit": t["limit"]} for t in runs["tagConcurrencyLimits"]]
    if rendered_runs:
        out["runs"] = rendered_runs
    return out


def render_instance(v: dict[str, Any]) -> dict[str, Any]:
    """The parts of the chart's dagster.yaml (configmap-instance.yaml) these values decide."""
    qrc = v["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]
    snake = {"dequeueIntervalSeconds": "dequeue_interval_seconds",
             "dequeueUseThreads": "dequeue_use_threads",
             "dequeueNumWorkers": "dequeue_num_workers",
             "maxConcurrentRuns": "max_concurrent_runs",
             "tagConcurrencyLimits": "tag_concurrency_limits"}
    logs = v["computeLogManager"]["config"]["s3ComputeLogManager"]
    log_keys = {"bucket": "bucket", "prefix": "prefix", "region": "region",
                "endpointUrl": "endpoint_url", "skipEmptyFiles": "skip_empty_files",
                "uploadInterval": "upload_interval"}
    return {
        "run_coordinator": {"module": "dagster.core.run_coordinator",
                            "class": "QueuedRunCoordinator",
                            "config": {snake[k]: val for k, val in qrc.items()}},
        "concurrency": render_concurrency(v),
        "compute_logs": {"module": "dagster_aws.s3.compute_log_manager",
                         "class": "S3ComputeLogManager",
                         "config": {log_keys[k]: val for k, val in logs.items()}},
    }


def test_only_chart_keys() -> None:
    v = values()
    conc = v["concurrency"]
    assert set(conc) <= CHART_CONCURRENCY and conc["enabled"] is True
    assert set(conc["pools"]) <= CHART_POOLS
    assert set(conc["runs"]) <= CHART_RUNS
    assert all(set(t) <= CHART_TAG_LIMIT for t in conc["runs"]["tagConcurrencyLimits"])
    assert v["computeLogManager"]["type"] == "S3ComputeLogManager"
    assert set(v["computeLogManager"]["config"]) == {"s3ComputeLogManager"}
    assert set(v["computeLogManager"]["config"]["s3ComputeLogManager"]) <= CHART_S3_LOGS


def test_rendered_instance_is_valid_and_limits_one_reconcile_per_cluster() -> None:
    import dagster as dg
    from dagster._config import Shape, process_config
    from dagster._core.instance.config import (
        dagster_instance_config_schema,
        validate_concurrency_config,
    )

    rendered = render_instance(values())
    result = process_config(Shape(dagster_instance_config_schema()), rendered)
    assert result.success, [e.message for e in result.errors or []]
    validate_concurrency_config(rendered)  # raises on a run-coordinator conflict
    runs = rendered["concurrency"]["runs"]
    assert {"key": "platform-ops/cluster", "value": {"applyLimitPerUniqueValue": True},
            "limit": 1} in runs["tag_concurrency_limits"]
    defs = build_definitions(DEFAULT_SPEC)
    job = defs.resolve_job_def(RECONCILE_JOB)
    pool = cluster_pool(load_spec(DEFAULT_SPEC).ionos.cluster.name)
    assert job.graph.node_named(RECONCILE_OP).definition.pool == pool
    with dg.instance_for_test(overrides={"concurrency": rendered["concurrency"]}) as instance:
        assert instance.get_concurrency_config().pool_config.default_pool_limit == 1
        # How the run worker first claims a slot of the pool: at the instance's default.
        instance.event_log_storage.initialize_concurrency_limit_to_default(pool)
        assert instance.event_log_storage.get_concurrency_info(pool).slot_count == 1


def test_the_chart_refuses_run_limits_in_both_places() -> None:
    v = values()
    qrc = v["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]
    qrc["maxConcurrentRuns"] = 5
    with pytest.raises(ValueError, match="Cannot set both"):
        render_concurrency(v)


def test_compute_logs_go_to_the_ionos_endpoint_of_their_region() -> None:
    from dagster._config import process_config
    from dagster_aws.s3.compute_log_manager import S3ComputeLogManager

    logs = render_instance(values())["compute_logs"]["config"]
    assert logs["endpoint_url"] == ObjectStorageResource().endpoint_for(logs["region"])
    result = process_config(S3ComputeLogManager.config_type(), logs)
    assert result.success, [e.message for e in result.errors or []]


def test_deploy_dagster_yaml_is_the_same_instance() -> None:
    prod = yaml.safe_load((DEPLOY / "dagster.yaml").read_text())
    rendered = render_instance(values())
    assert prod["concurrency"] == rendered["concurrency"]
    assert prod["compute_logs"] == rendered["compute_logs"]


def _release_service(release: str, namespace: str, port: int) -> str:
    """The writable webserver's in-cluster URL: the chart's dagster.webserver.fullname
    (``<release>-webserver`` when the release name contains "dagster", else
    ``<release>-dagster-webserver``) in the release's namespace."""
    fullname = release if "dagster" in release else f"{release}-dagster"
    return f"http://{fullname}-webserver.{namespace}.svc.cluster.local:{port}"


def test_the_code_server_reads_a_checkout_and_reloads_through_the_internal_webserver() -> None:
    from sensors.ticks.git_changes import RELOAD_URL_ENV

    v = values()
    (code,) = v["dagster-user-deployments"]["deployments"]
    env = code["env"]
    spec = load_spec(DEFAULT_SPEC)
    assert env["PLATFORM_SPEC"] == f"{env['PLATFORM_GIT_CHECKOUT']}/{spec.git.spec_path}"
    # The checkout, and the PostgreSQL CA (sslmode verify-full, docs/security.md).
    mounts = {m["name"]: m for m in code["volumeMounts"]}
    assert set(mounts) == {vol["name"] for vol in code["volumes"]} == {"platform-checkout",
                                                                       "postgresql-ca"}
    mount = mounts["platform-checkout"]
    for path in (env["PLATFORM_GIT_CHECKOUT"], env["PLATFORM_GIT_CACHE"]):
        assert path.startswith(mount["mountPath"] + "/")
    assert env[RELOAD_URL_ENV] == _release_service("dagster", "dagster",
                                                   v["dagsterWebserver"]["service"]["port"])

    (init,) = code["initContainers"]
    assert init["image"] == f"{code['image']['repository']}:{code['image']['tag']}"
    assert init["command"][:2] == ["platform-ops", "checkout"]
    init_env = {e["name"]: e["value"] for e in init["env"]}
    assert init_env["PLATFORM_GIT_CHECKOUT"] == env["PLATFORM_GIT_CHECKOUT"]
    assert init["volumeMounts"] == [mount]
    # Runs get the deployment's env, volumes, mounts and init containers through the container
    # context (includeConfigInLaunchedRuns); a second copy in the run launcher's pod spec would
    # give run pods two init containers of one name, which Kubernetes rejects.
    assert code["includeConfigInLaunchedRuns"]["enabled"] is True
    pod = v["runLauncher"]["config"]["k8sRunLauncher"]["runK8sConfig"]["podSpecConfig"]
    assert "initContainers" not in pod


def test_the_network_policy_admits_the_reload() -> None:
    policies = [d for d in yaml.safe_load_all(
        (DEPLOY / "manifests" / "network-policy.yaml").read_text()) if d]
    port = values()["dagsterWebserver"]["service"]["port"]
    webserver, code = {"component": "dagster-webserver"}, {"component": "user-deployments"}
    admitted = [p for p in policies if p["spec"]["podSelector"].get("matchLabels") == webserver
                for rule in p["spec"]["ingress"] for src in rule["from"]
                if src.get("podSelector", {}).get("matchLabels") == code
                and {"protocol": "TCP", "port": port} in rule["ports"]]
    assert len(admitted) == 1
