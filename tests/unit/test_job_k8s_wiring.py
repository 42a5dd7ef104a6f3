"""Jobs carry their dagster-k8s/config tags and get k8s_job_executor with PLATFORM_EXECUTOR=k8s."""

from __future__ import annotations

import json
from typing import Any

import dagster as dg
import pytest

from jobs.executors import K8S_STEP_JOBS, step_config
from jobs.k8s_tags import K8S_JOB_TAGS
from platform_assets.definitions import build_definitions
from platform_assets.names import TAG_K8S_CONFIG
from platform_assets.spec.loader import DEFAULT_SPEC


def _jobs(monkeypatch: pytest.MonkeyPatch, executor: str | None) -> dict[str, dg.JobDefinition]:
    if executor is None:
        monkeypatch.delenv("PLATFORM_EXECUTOR", raising=False)
    else:
        monkeypatch.setenv("PLATFORM_EXECUTOR", executor)
    built = build_definitions(DEFAULT_SPEC)
    return {name: built.resolve_job_def(name) for name in K8S_JOB_TAGS}


def test_every_sized_job_carries_its_k8s_config_tag(monkeypatch: pytest.MonkeyPatch) -> None:
    jobs = _jobs(monkeypatch, None)
    assert "reconcile_platform" in jobs and "snapshot_platform" in jobs
    for name, job in jobs.items():
        assert json.loads(job.tags[TAG_K8S_CONFIG]) == K8S_JOB_TAGS[name][TAG_K8S_CONFIG], name


def test_default_executor_without_platform_executor(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, job in _jobs(monkeypatch, None).items():
        assert not job.executor_def.name.startswith("k8s"), (name, job.executor_def.name)


def test_k8s_executor_for_fan_out_jobs(monkeypatch: pytest.MonkeyPatch) -> None:
    jobs = _jobs(monkeypatch, "k8s")
    # Both branches below are taken: some jobs fan out to step pods, some do not.
    assert set(jobs) & set(K8S_STEP_JOBS) and set(jobs) - set(K8S_STEP_JOBS)
    for name, job in jobs.items():
        if name in K8S_STEP_JOBS:
            assert job.executor_def.name == f"k8s_{name}_executor", name
            schema: Any = job.executor_def.config_schema
            resolved = schema.resolve_config({})
            assert resolved.success, resolved
            config = resolved.value["config"]
            want = step_config(name)
            assert config["service_account_name"] == want["service_account_name"]
            assert config["step_k8s_config"]["container_config"] == (
                want["step_k8s_config"]["container_config"])
        else:
            assert not job.executor_def.name.startswith("k8s"), (name, job.executor_def.name)


def test_each_job_gets_only_its_own_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 15: every credential was in every pod (the launcher's envSecrets). Each job's run
    worker and step pods now get the one Secret names.JOB_SECRETS gives it, as envFrom that
    the Kubernetes client accepts; jobs acting through the service account get only the
    compute-log writer's keys."""
    from dagster_k8s.models import k8s_model_from_dict
    from kubernetes.client import V1Container

    from jobs.k8s_tags import k8s_tags
    from platform_assets.names import JOB_SECRETS, RESTART_ROLLOUT_JOB, SECRET_COMPUTE_LOGS

    jobs = _jobs(monkeypatch, None)
    for name in jobs:
        container = json.loads(k8s_tags(name)[TAG_K8S_CONFIG])["container_config"]
        model = k8s_model_from_dict(V1Container, {"name": "x", **container})
        refs = [e.secret_ref.name for e in model.env_from or []]
        assert refs == [JOB_SECRETS.get(name, SECRET_COMPUTE_LOGS)], name
    for name in K8S_STEP_JOBS:
        step = step_config(name)["step_k8s_config"]["container_config"]
        assert step["env_from"] == [{"secret_ref": {"name": JOB_SECRETS[name]}}]
    assert json.loads(k8s_tags(RESTART_ROLLOUT_JOB)[TAG_K8S_CONFIG]) == {
        "container_config": {"env_from": [{"secret_ref": {"name": SECRET_COMPUTE_LOGS}}]}}
    built = build_definitions(DEFAULT_SPEC)
    for name in ("restart_rollout", "expand_pvc", "renew_certificate"):
        assert json.loads(built.resolve_job_def(name).tags[TAG_K8S_CONFIG]) == json.loads(
            k8s_tags(name)[TAG_K8S_CONFIG]), name
    assert set(JOB_SECRETS) <= set(K8S_JOB_TAGS)
